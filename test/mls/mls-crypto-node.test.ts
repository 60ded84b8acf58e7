// The node:crypto provider against ts-mls's own providers (default: WebCrypto + @hpke/core + noble;
// noble: the same with noble hashes and AEAD), RFC 9180 test vectors, and full ts-mls handshakes
// with one side on each provider.

import { expect } from "chai";
import {
  acceptAll,
  createApplicationMessage,
  createCommit,
  createGroup,
  decodeMlsMessage,
  defaultCapabilities,
  defaultCryptoProvider,
  defaultLifetime,
  emptyPskIndex,
  encodeMlsMessage,
  generateKeyPackage,
  getCiphersuiteFromName,
  joinGroup,
  mlsExporter,
  nobleCryptoProvider,
  processMessage,
  type CiphersuiteImpl,
  type CiphersuiteName,
  type ClientState,
  type CryptoProvider,
  type MLSMessage,
  type MlsPrivateMessage,
  type MlsPublicMessage,
  type Welcome,
} from "ts-mls";
import { createNodeCryptoProvider, nodeCryptoProvider, nodeCryptoSupports } from "../../lib/mls/crypto-node.js";

const SUITES: readonly { id: number; name: CiphersuiteName }[] = [
  { id: 1, name: "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519" },
  { id: 2, name: "MLS_128_DHKEMP256_AES128GCM_SHA256_P256" },
  { id: 3, name: "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519" },
  { id: 7, name: "MLS_256_DHKEMP384_AES256GCM_SHA384_P384" },
];

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const bytes = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

function impl(provider: CryptoProvider, name: CiphersuiteName): Promise<CiphersuiteImpl> {
  return provider.getCiphersuiteImpl(getCiphersuiteFromName(name));
}

/** Resolves to the rejection's Error, or fails if the promise fulfils. */
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a rejection");
}

function expectOwnPlainBytes(b: Uint8Array): void {
  expect(b.constructor).to.equal(Uint8Array);
  expect(b.byteOffset).to.equal(0);
  expect(b.buffer.byteLength).to.equal(b.length);
}

for (const { id, name } of SUITES) {
  describe(`mls-crypto-node: suite ${id} primitives (${name})`, function () {
    let node: CiphersuiteImpl;
    let dflt: CiphersuiteImpl;
    let noble: CiphersuiteImpl;
    const others = (): [string, CiphersuiteImpl][] => [
      ["default", dflt],
      ["noble", noble],
    ];

    before(async function () {
      node = await impl(nodeCryptoProvider, name);
      dflt = await impl(defaultCryptoProvider, name);
      noble = await impl(nobleCryptoProvider, name);
    });

    it("reports the suite name and is supported", function () {
      expect(node.name).to.equal(name);
      expect(nodeCryptoSupports(getCiphersuiteFromName(name))).to.equal(true);
    });

    it("hash digest and HMAC equal the other providers", async function () {
      // Keys: short, one block of SHA-512, and longer than a block (hashed first by HMAC).
      const keys = [7, 32, 128, 200].map((n) => bytes(n, n));
      const messages = [0, 1, 55, 64, 1000].map((n) => bytes(n, n + 1));
      for (const m of messages) {
        const d = await node.hash.digest(m);
        expectOwnPlainBytes(d);
        for (const [, other] of others()) expect(toHex(d)).to.equal(toHex(await other.hash.digest(m)));
        for (const k of keys) {
          const mac = await node.hash.mac(k, m);
          for (const [, other] of others()) {
            expect(toHex(mac)).to.equal(toHex(await other.hash.mac(k, m)));
            expect(await other.hash.verifyMac(k, mac, m)).to.equal(true);
          }
          expect(await node.hash.verifyMac(k, mac, m)).to.equal(true);
        }
        // WebCrypto refuses empty HMAC keys; noble's HMAC takes them.
        expect(toHex(await node.hash.mac(new Uint8Array(0), m))).to.equal(toHex(await noble.hash.mac(new Uint8Array(0), m)));
      }
      const k = bytes(32, 9);
      const m = bytes(40, 3);
      const mac = await dflt.hash.mac(k, m);
      expect(await node.hash.verifyMac(k, mac, m)).to.equal(true);
      const tampered = Uint8Array.from(mac);
      tampered[0] ^= 1;
      expect(await node.hash.verifyMac(k, tampered, m)).to.equal(false);
      expect(await node.hash.verifyMac(k, mac.subarray(1), m)).to.equal(false);
    });

    it("HKDF extract and expand equal the other providers", async function () {
      expect(node.kdf.size).to.equal(dflt.kdf.size);
      const ikm = bytes(42, 3);
      // @hpke/core's extract (both ts-mls providers) takes only empty or hash-length salts, which is
      // all MLS and HPKE use; other lengths are checked against HMAC(salt, ikm) from noble.
      for (const salt of [new Uint8Array(0), bytes(node.kdf.size, 1)]) {
        const prk = await node.kdf.extract(salt, ikm);
        expectOwnPlainBytes(prk);
        for (const [, other] of others()) expect(toHex(prk)).to.equal(toHex(await other.kdf.extract(salt, ikm)));
        for (const len of [1, 16, node.kdf.size, node.kdf.size + 1, 3 * node.kdf.size + 5, 255 * node.kdf.size]) {
          const okm = await node.kdf.expand(prk, utf8("info"), len);
          expectOwnPlainBytes(okm);
          expect(okm.length).to.equal(len);
          expect(toHex(okm)).to.equal(toHex(await dflt.kdf.expand(prk, utf8("info"), len)));
        }
      }
      for (const salt of [bytes(7, 4), bytes(200, 2)]) {
        expect(toHex(await node.kdf.extract(salt, ikm))).to.equal(toHex(await noble.hash.mac(salt, ikm)));
      }
      await rejection(node.kdf.expand(bytes(node.kdf.size, 1), new Uint8Array(0), 255 * node.kdf.size + 1));
    });

    it("signatures made by each provider verify with the others", async function () {
      const msg = utf8("MLS 1.0 signed content");
      const signers: [string, CiphersuiteImpl][] = [["node", node], ...others()];
      for (const [signerName, signer] of signers) {
        const { signKey, publicKey } = await signer.signature.keygen();
        const sig = await signer.signature.sign(signKey, msg);
        for (const [verifierName, verifier] of signers) {
          expect(await verifier.signature.verify(publicKey, msg, sig), `${signerName} -> ${verifierName}`).to.equal(true);
          expect(await verifier.signature.verify(publicKey, utf8("other"), sig)).to.equal(false);
        }
        // The same key signed by another provider: private key formats must carry across.
        for (const [verifierName, other] of signers) {
          const sig2 = await other.signature.sign(signKey, msg);
          expect(await signer.signature.verify(publicKey, msg, sig2), `${verifierName} signs ${signerName}'s key`).to.equal(
            true,
          );
        }
      }
    });

    it("rejects malformed signatures and public keys without throwing", async function () {
      const msg = utf8("m");
      const { signKey, publicKey } = await node.signature.keygen();
      const sig = await node.signature.sign(signKey, msg);
      const flipped = Uint8Array.from(sig);
      flipped[flipped.length - 1] ^= 1;
      expect(await node.signature.verify(publicKey, msg, flipped)).to.equal(false);
      expect(await node.signature.verify(publicKey, msg, sig.subarray(1))).to.equal(false);
      expect(await node.signature.verify(publicKey.subarray(1), msg, sig)).to.equal(false);
      expect(await node.signature.verify(new Uint8Array(publicKey.length), msg, sig)).to.equal(false);
    });

    it("generates keys in the expected encodings", async function () {
      const { signKey, publicKey } = await node.signature.keygen();
      expectOwnPlainBytes(signKey);
      expectOwnPlainBytes(publicKey);
      const sig = await node.signature.sign(signKey, utf8("x"));
      expectOwnPlainBytes(sig);
      if (id === 1 || id === 3) {
        expect([signKey.length, publicKey.length, sig.length]).to.deep.equal([32, 32, 64]);
      } else {
        // ECDSA: raw scalar, uncompressed SEC1 point (RFC 9420 §5.1.1), DER signature.
        const size = id === 2 ? 32 : 48;
        expect(signKey.length).to.equal(size);
        expect(publicKey.length).to.equal(1 + 2 * size);
        expect(publicKey[0]).to.equal(0x04);
        expect(sig[0]).to.equal(0x30);
      }
    });

    if (id === 1 || id === 3) {
      it("Ed25519 accepts 32-byte seeds and 48-byte PKCS#8 keys alike", async function () {
        const msg = utf8("deterministic");
        const { signKey: pkcs8, publicKey } = await dflt.signature.keygen();
        expect(pkcs8.length).to.equal(48);
        const seed = pkcs8.subarray(16);
        // Ed25519 is deterministic, so all three must produce the same bytes.
        const expected = toHex(await dflt.signature.sign(pkcs8, msg));
        expect(toHex(await node.signature.sign(pkcs8, msg))).to.equal(expected);
        expect(toHex(await node.signature.sign(seed, msg))).to.equal(expected);
        expect(await node.signature.verify(publicKey, msg, hex(expected))).to.equal(true);
        const bad = Uint8Array.from(pkcs8);
        bad[0] ^= 1;
        await rejection(node.signature.sign(bad, msg));
      });
    }

    it("AEAD output equals the other providers and rejects tampering", async function () {
      const key = bytes(node.hpke.keyLength, 5);
      const nonce = bytes(node.hpke.nonceLength, 6);
      expect([node.hpke.keyLength, node.hpke.nonceLength]).to.deep.equal([dflt.hpke.keyLength, dflt.hpke.nonceLength]);
      for (const aad of [undefined, new Uint8Array(0), bytes(13, 7)]) {
        for (const pt of [new Uint8Array(0), bytes(1, 1), bytes(100, 2)]) {
          const ct = await node.hpke.encryptAead(key, nonce, aad, pt);
          expectOwnPlainBytes(ct);
          for (const [, other] of others()) {
            expect(toHex(ct)).to.equal(toHex(await other.hpke.encryptAead(key, nonce, aad, pt)));
            expect(toHex(await other.hpke.decryptAead(key, nonce, aad, ct))).to.equal(toHex(pt));
          }
          expect(toHex(await node.hpke.decryptAead(key, nonce, aad, ct))).to.equal(toHex(pt));
          const tampered = Uint8Array.from(ct);
          tampered[tampered.length - 1] ^= 1;
          await rejection(node.hpke.decryptAead(key, nonce, aad, tampered));
        }
      }
      const ct = await node.hpke.encryptAead(key, nonce, bytes(3, 1), bytes(10, 1));
      await rejection(node.hpke.decryptAead(key, nonce, bytes(3, 2), ct));
      await rejection(node.hpke.decryptAead(key, nonce, undefined, ct.subarray(0, 15)));
      await rejection(node.hpke.encryptAead(key.subarray(1), nonce, undefined, bytes(1, 1)));
      await rejection(node.hpke.encryptAead(key, nonce.subarray(1), undefined, bytes(1, 1)));
    });

    it("HPKE seal/open works across providers both ways", async function () {
      const info = utf8("MLS 1.0 info");
      const pt = bytes(77, 9);
      for (const [, other] of others()) {
        for (const aad of [undefined, bytes(9, 4)]) {
          // node seals to a key pair made by the other provider
          const theirs = await other.hpke.generateKeyPair();
          const theirPub = await node.hpke.importPublicKey(await other.hpke.exportPublicKey(theirs.publicKey));
          const sealed = await node.hpke.seal(theirPub, pt, info, aad);
          expectOwnPlainBytes(sealed.ct);
          expectOwnPlainBytes(sealed.enc);
          expect(toHex(await other.hpke.open(theirs.privateKey, sealed.enc, sealed.ct, info, aad))).to.equal(toHex(pt));
          // the other provider seals to a node key pair
          const ours = await node.hpke.generateKeyPair();
          const ourPub = await other.hpke.importPublicKey(await node.hpke.exportPublicKey(ours.publicKey));
          const sealed2 = await other.hpke.seal(ourPub, pt, info, aad);
          expect(toHex(await node.hpke.open(ours.privateKey, sealed2.enc, sealed2.ct, info, aad))).to.equal(toHex(pt));
          await rejection(node.hpke.open(ours.privateKey, sealed2.enc, sealed2.ct, utf8("wrong info"), aad));
        }
      }
    });

    it("HPKE key agreement: exportSecret/importSecret agree across providers both ways", async function () {
      const info = new Uint8Array(0);
      const ctx = utf8("MLS 1.0 external init secret");
      for (const [, other] of others()) {
        const theirs = await other.hpke.generateKeyPair();
        const theirPub = await node.hpke.importPublicKey(await other.hpke.exportPublicKey(theirs.publicKey));
        const a = await node.hpke.exportSecret(theirPub, ctx, node.kdf.size, info);
        expect(toHex(await other.hpke.importSecret(theirs.privateKey, ctx, a.enc, node.kdf.size, info))).to.equal(
          toHex(a.secret),
        );

        const ours = await node.hpke.generateKeyPair();
        const ourPub = await other.hpke.importPublicKey(await node.hpke.exportPublicKey(ours.publicKey));
        const b = await other.hpke.exportSecret(ourPub, ctx, 45, info);
        expect(toHex(await node.hpke.importSecret(ours.privateKey, ctx, b.enc, 45, info))).to.equal(toHex(b.secret));
      }
    });

    it("HPKE key derivation and private key import/export match the default provider", async function () {
      for (const ikm of [bytes(node.kdf.size, 1), bytes(node.kdf.size, 2), bytes(5, 3)]) {
        const n = await node.hpke.deriveKeyPair(ikm);
        const d = await dflt.hpke.deriveKeyPair(ikm);
        const nSk = await node.hpke.exportPrivateKey(n.privateKey);
        expectOwnPlainBytes(nSk);
        expect(toHex(nSk)).to.equal(toHex(await dflt.hpke.exportPrivateKey(d.privateKey)));
        expect(toHex(await node.hpke.exportPublicKey(n.publicKey))).to.equal(
          toHex(await dflt.hpke.exportPublicKey(d.publicKey)),
        );
      }
      // A private key serialized by the default provider (as ts-mls stores it) opens for node.
      const theirs = await dflt.hpke.generateKeyPair();
      const imported = await node.hpke.importPrivateKey(await dflt.hpke.exportPrivateKey(theirs.privateKey));
      const sealed = await dflt.hpke.seal(theirs.publicKey, utf8("hi"), utf8("i"));
      expect(toHex(await node.hpke.open(imported, sealed.enc, sealed.ct, utf8("i")))).to.equal(toHex(utf8("hi")));
    });

    it("returns copies that callers may zero", async function () {
      const kp = await node.hpke.deriveKeyPair(bytes(32, 8));
      const first = await node.hpke.exportPrivateKey(kp.privateKey);
      const pub = await node.hpke.exportPublicKey(kp.publicKey);
      const expectedSk = toHex(first);
      const expectedPk = toHex(pub);
      first.fill(0);
      pub.fill(0);
      expect(toHex(await node.hpke.exportPrivateKey(kp.privateKey))).to.equal(expectedSk);
      expect(toHex(await node.hpke.exportPublicKey(kp.publicKey))).to.equal(expectedPk);
      // Imported bytes are copied too: ts-mls zeroes secrets it passed in.
      const raw = Uint8Array.from(hex(expectedSk));
      const imported = await node.hpke.importPrivateKey(raw);
      raw.fill(0);
      expect(toHex(await node.hpke.exportPrivateKey(imported))).to.equal(expectedSk);
    });

    it("rejects malformed HPKE inputs and foreign key objects", async function () {
      const kp = await node.hpke.generateKeyPair();
      const pub = await node.hpke.exportPublicKey(kp.publicKey);
      await rejection(node.hpke.importPublicKey(pub.subarray(1)));
      await rejection(node.hpke.importPrivateKey(new Uint8Array(3)));
      const sealed = await node.hpke.seal(kp.publicKey, utf8("x"), new Uint8Array(0));
      await rejection(node.hpke.open(kp.privateKey, sealed.enc.subarray(1), sealed.ct, new Uint8Array(0)));
      const foreign = await dflt.hpke.generateKeyPair();
      const err = await rejection(node.hpke.exportPrivateKey(foreign.privateKey));
      expect(err.message).to.match(/not made by this provider/);
      if (id === 2 || id === 7) {
        // A point that is not on the curve.
        const offCurve = Uint8Array.from(pub);
        offCurve[offCurve.length - 1] ^= 1;
        await rejection(node.hpke.importPublicKey(offCurve));
        await rejection(node.hpke.importPrivateKey(new Uint8Array(id === 2 ? 32 : 48)));
      }
    });

    it("RNG returns fresh plain bytes", function () {
      const a = node.rng.randomBytes(32);
      const b = node.rng.randomBytes(32);
      expectOwnPlainBytes(a);
      expect(a.length).to.equal(32);
      expect(toHex(a)).to.not.equal(toHex(b));
      expect(node.rng.randomBytes(0).length).to.equal(0);
    });
  });
}

// RFC 9180 Appendix A test vectors, base mode, sequence number 0 and the exported values.
// Hex copied from the RFC's source, github.com/cfrg/draft-irtf-cfrg-hpke, draft-irtf-cfrg-hpke.md at
// commit b1f7cb0cdeab6906c61b3d6574e8bdfdbe1cd3fb (sections "Base Setup Information", "Encryptions",
// "Exported Values"), which is the text of https://www.rfc-editor.org/rfc/rfc9180#appendix-A.
// Our API draws the sender's ephemeral key itself, so the vectors are checked on the recipient side:
// DeriveKeyPair(ikmR) and DeriveKeyPair(ikmE), Decap + key schedule + AEAD open, and Export.
interface HpkeVector {
  section: string;
  suite: CiphersuiteName;
  info: string;
  ikmE: string;
  pkEm: string;
  ikmR: string;
  skRm: string;
  pkRm: string;
  enc: string;
  pt: string;
  aad: string;
  ct: string;
  exports: [context: string, value: string][];
}

const RFC9180_VECTORS: HpkeVector[] = [
  {
    // A.1.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM (MLS suite 1's HPKE)
    section: "A.1.1",
    suite: "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519",
    info: "4f6465206f6e2061204772656369616e2055726e",
    ikmE: "7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234",
    pkEm: "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431",
    ikmR: "6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037",
    skRm: "4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8",
    pkRm: "3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d",
    enc: "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431",
    pt: "4265617574792069732074727574682c20747275746820626561757479",
    aad: "436f756e742d30",
    ct: "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a",
    exports: [
      ["", "3853fe2b4035195a573ffc53856e77058e15d9ea064de3e59f4961d0095250ee"],
      ["00", "2e8f0b54673c7029649d4eb9d5e33bf1872cf76d623ff164ac185da9e88c21a5"],
      ["54657374436f6e74657874", "e9e43065102c3836401bed8c3c3c75ae46be1639869391d62c61f1ec7af54931"],
    ],
  },
  {
    // A.2.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305 (MLS suite 3's HPKE)
    section: "A.2.1",
    suite: "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519",
    info: "4f6465206f6e2061204772656369616e2055726e",
    ikmE: "909a9b35d3dc4713a5e72a4da274b55d3d3821a37e5d099e74a647db583a904b",
    pkEm: "1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a",
    ikmR: "1ac01f181fdf9f352797655161c58b75c656a6cc2716dcb66372da835542e1df",
    skRm: "8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb",
    pkRm: "4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a",
    enc: "1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a",
    pt: "4265617574792069732074727574682c20747275746820626561757479",
    aad: "436f756e742d30",
    ct: "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28",
    exports: [
      ["", "4bbd6243b8bb54cec311fac9df81841b6fd61f56538a775e7c80a9f40160606e"],
      ["00", "8c1df14732580e5501b00f82b10a1647b40713191b7c1240ac80e2b68808ba69"],
      ["54657374436f6e74657874", "5acb09211139c43b3090489a9da433e8a30ee7188ba8b0a9a1ccf0c229283e53"],
    ],
  },
  {
    // A.3.1: DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM (MLS suite 2's HPKE)
    section: "A.3.1",
    suite: "MLS_128_DHKEMP256_AES128GCM_SHA256_P256",
    info: "4f6465206f6e2061204772656369616e2055726e",
    ikmE: "4270e54ffd08d79d5928020af4686d8f6b7d35dbe470265f1f5aa22816ce860e",
    pkEm:
      "04a92719c6195d5085104f469a8b9814d5838ff72b60501e2c4466e5e67b325ac98536d7b61a1af4b78e5b7f951c0900be863c403ce65c9bfcb9382657222d18c4",
    ikmR: "668b37171f1072f3cf12ea8a236a45df23fc13b82af3609ad1e354f6ef817550",
    skRm: "f3ce7fdae57e1a310d87f1ebbde6f328be0a99cdbcadf4d6589cf29de4b8ffd2",
    pkRm:
      "04fe8c19ce0905191ebc298a9245792531f26f0cece2460639e8bc39cb7f706a826a779b4cf969b8a0e539c7f62fb3d30ad6aa8f80e30f1d128aafd68a2ce72ea0",
    enc: "04a92719c6195d5085104f469a8b9814d5838ff72b60501e2c4466e5e67b325ac98536d7b61a1af4b78e5b7f951c0900be863c403ce65c9bfcb9382657222d18c4",
    pt: "4265617574792069732074727574682c20747275746820626561757479",
    aad: "436f756e742d30",
    ct: "5ad590bb8baa577f8619db35a36311226a896e7342a6d836d8b7bcd2f20b6c7f9076ac232e3ab2523f39513434",
    exports: [
      ["", "5e9bc3d236e1911d95e65b576a8a86d478fb827e8bdfe77b741b289890490d4d"],
      ["00", "6cff87658931bda83dc857e6353efe4987a201b849658d9b047aab4cf216e796"],
      ["54657374436f6e74657874", "d8f1ea7942adbba7412c6d431c62d01371ea476b823eb697e1f6e6cae1dab85a"],
    ],
  },
];

describe("mls-crypto-node: RFC 9180 test vectors", function () {
  for (const v of RFC9180_VECTORS) {
    it(`Appendix ${v.section} (base mode)`, async function () {
      const { hpke } = await impl(nodeCryptoProvider, v.suite);
      const recipient = await hpke.deriveKeyPair(hex(v.ikmR));
      expect(toHex(await hpke.exportPrivateKey(recipient.privateKey))).to.equal(v.skRm);
      expect(toHex(await hpke.exportPublicKey(recipient.publicKey))).to.equal(v.pkRm);
      const ephemeral = await hpke.deriveKeyPair(hex(v.ikmE));
      expect(toHex(await hpke.exportPublicKey(ephemeral.publicKey))).to.equal(v.pkEm);

      const skR = await hpke.importPrivateKey(hex(v.skRm));
      const pt = await hpke.open(skR, hex(v.enc), hex(v.ct), hex(v.info), hex(v.aad));
      expect(toHex(pt)).to.equal(v.pt);
      for (const [context, value] of v.exports) {
        expect(toHex(await hpke.importSecret(skR, hex(context), hex(v.enc), 32, hex(v.info)))).to.equal(value);
      }
    });
  }
});

describe("mls-crypto-node: provider and fallback", function () {
  it("rejects suites it does not implement when there is no fallback", async function () {
    for (const name of [
      "MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448",
      "MLS_256_DHKEMP521_AES256GCM_SHA512_P521",
      // ML-KEM-512 (77): mlstls does not run it (PROTOCOL.md, "Post-quantum suites"); 79-88 are implemented.
      "MLS_128_MLKEM512_AES128GCM_SHA256_Ed25519",
    ] as const) {
      expect(nodeCryptoSupports(getCiphersuiteFromName(name))).to.equal(false);
      const err = await rejection(impl(nodeCryptoProvider, name));
      expect(err.message).to.include(name).and.to.include("fallback");
    }
  });

  it("delegates unsupported suites to the fallback and keeps its own for supported ones", async function () {
    const calls: string[] = [];
    const fallback: CryptoProvider = {
      getCiphersuiteImpl(cs) {
        calls.push(cs.name);
        return defaultCryptoProvider.getCiphersuiteImpl(cs);
      },
    };
    const provider = createNodeCryptoProvider(fallback);
    const p521 = await impl(provider, "MLS_256_DHKEMP521_AES256GCM_SHA512_P521");
    expect(p521.name).to.equal("MLS_256_DHKEMP521_AES256GCM_SHA512_P521");
    expect((await p521.hash.digest(new Uint8Array(0))).length).to.equal(64);
    await impl(provider, "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519");
    expect(calls).to.deep.equal(["MLS_256_DHKEMP521_AES256GCM_SHA512_P521"]);
  });
});

// ---------------------------------------------------------------------------------------------
// Full ts-mls flows with one member on each provider.

/** Encode and decode, as a peer would receive it. */
function overTheWire(m: MLSMessage): MLSMessage {
  const decoded = decodeMlsMessage(encodeMlsMessage(m), 0);
  if (decoded === undefined) throw new Error("could not decode an MLS message");
  return decoded[0];
}

function asHandshake(m: MLSMessage): MlsPrivateMessage | MlsPublicMessage {
  const received = overTheWire(m);
  if (received.wireformat !== "mls_private_message" && received.wireformat !== "mls_public_message") {
    throw new Error(`unexpected wire format ${received.wireformat}`);
  }
  return received;
}

function welcomeOverTheWire(welcome: Welcome): Welcome {
  const received = overTheWire({ version: "mls10", wireformat: "mls_welcome", welcome });
  if (received.wireformat !== "mls_welcome") throw new Error("expected a Welcome");
  return received.welcome;
}

async function commitAndProcess(
  sender: ClientState,
  senderImpl: CiphersuiteImpl,
  receiver: ClientState,
  receiverImpl: CiphersuiteImpl,
): Promise<[ClientState, ClientState]> {
  const r = await createCommit({ state: sender, cipherSuite: senderImpl });
  const p = await processMessage(asHandshake(r.commit), receiver, emptyPskIndex, acceptAll, receiverImpl);
  expect(p.kind).to.equal("newState");
  return [r.newState, p.newState];
}

async function expectSameExporter(
  a: ClientState,
  aImpl: CiphersuiteImpl,
  b: ClientState,
  bImpl: CiphersuiteImpl,
): Promise<void> {
  expect(a.groupContext.epoch).to.equal(b.groupContext.epoch);
  const ctx = utf8("context");
  const ea = await mlsExporter(a.keySchedule.exporterSecret, "mlstls test", ctx, 32, aImpl);
  const eb = await mlsExporter(b.keySchedule.exporterSecret, "mlstls test", ctx, 32, bImpl);
  expect(toHex(ea)).to.equal(toHex(eb));
}

describe("mls-crypto-node: ts-mls handshakes with one member on each provider", function () {
  for (const { id, name } of SUITES) {
    for (const creatorIsNode of [true, false]) {
      const label = creatorIsNode ? "node creates, default joins" : "default creates, node joins";
      it(`suite ${id}: handshake and updates (${label})`, async function () {
        const nodeImpl = await impl(nodeCryptoProvider, name);
        const defaultImpl = await impl(defaultCryptoProvider, name);
        const aImpl = creatorIsNode ? nodeImpl : defaultImpl;
        const bImpl = creatorIsNode ? defaultImpl : nodeImpl;

        const bob = await generateKeyPackage(
          { credentialType: "basic", identity: utf8("bob") },
          defaultCapabilities(),
          defaultLifetime,
          [],
          bImpl,
        );
        const keyPackage = overTheWire({ version: "mls10", wireformat: "mls_key_package", keyPackage: bob.publicPackage });
        if (keyPackage.wireformat !== "mls_key_package") throw new Error("expected a KeyPackage");
        const alice = await generateKeyPackage(
          { credentialType: "basic", identity: utf8("alice") },
          defaultCapabilities(),
          defaultLifetime,
          [],
          aImpl,
        );
        let a = await createGroup(utf8("group"), alice.publicPackage, alice.privatePackage, [], aImpl);
        const add = await createCommit(
          { state: a, cipherSuite: aImpl },
          { extraProposals: [{ proposalType: "add", add: { keyPackage: keyPackage.keyPackage } }], ratchetTreeExtension: true },
        );
        a = add.newState;
        if (add.welcome === undefined) throw new Error("the add produced no Welcome");
        let b = await joinGroup(
          welcomeOverTheWire(add.welcome),
          bob.publicPackage,
          bob.privatePackage,
          emptyPskIndex,
          bImpl,
        );
        await expectSameExporter(a, aImpl, b, bImpl);

        // Self-updates both ways: each carries an UpdatePath, so HPKE, signatures and the key schedule run.
        [a, b] = await commitAndProcess(a, aImpl, b, bImpl);
        await expectSameExporter(a, aImpl, b, bImpl);
        [b, a] = await commitAndProcess(b, bImpl, a, aImpl);
        await expectSameExporter(a, aImpl, b, bImpl);

        // Application data both ways.
        const toB = await createApplicationMessage(a, utf8("hello bob"), aImpl);
        a = toB.newState;
        const atB = await processMessage(
          asHandshake({ version: "mls10", wireformat: "mls_private_message", privateMessage: toB.privateMessage }),
          b,
          emptyPskIndex,
          acceptAll,
          bImpl,
        );
        expect(atB.kind).to.equal("applicationMessage");
        if (atB.kind === "applicationMessage") expect(new TextDecoder().decode(atB.message)).to.equal("hello bob");
        b = atB.newState;

        // Swap providers on the same states: key material stored by one provider must work with the other
        // (the default provider keeps Ed25519 keys as PKCS#8, ours as seeds).
        [a, b] = await commitAndProcess(a, bImpl, b, aImpl);
        await expectSameExporter(a, bImpl, b, aImpl);
        [b, a] = await commitAndProcess(b, aImpl, a, bImpl);
        await expectSameExporter(a, aImpl, b, bImpl);
      });
    }
  }
});
