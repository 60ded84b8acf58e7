import { expect } from "chai";
import type { AeadName } from "../../lib/suites.js";
import { AEAD_NONCE_LEN, AEAD_TAG_LEN, aeadKeyLength, createAead, type AeadBackend } from "../../lib/protocol/records/aead.js";
import { Prng } from "../helpers/prng.js";

const h = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/[\s:]/g, ""), "hex"));
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

const BACKENDS: AeadBackend[] = ["node", "noble"];
const AEADS: AeadName[] = ["aes-128-gcm", "aes-256-gcm", "chacha20-poly1305"];

interface Kat {
  source: string;
  name: AeadName;
  key: string;
  nonce: string;
  aad: string;
  plaintext: Uint8Array;
  ciphertext: string;
  tag: string;
}

// The 60-byte plaintext and 20-byte AAD shared by GCM test cases 4 and 16 of McGrew & Viega,
// "The Galois/Counter Mode of Operation (GCM)" (the NIST submission), Appendix B.
const GCM_P = h(`d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
  1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39`);
const GCM_A = "feedfacedeadbeeffeedfacedeadbeefabaddad2";

const KATS: Kat[] = [
  {
    source: "GCM spec test case 4",
    name: "aes-128-gcm",
    key: "feffe9928665731c6d6a8f9467308308",
    nonce: "cafebabefacedbaddecaf888",
    aad: GCM_A,
    plaintext: GCM_P,
    ciphertext: `42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e
      21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091`,
    tag: "5bc94fbc3221a5db94fae95ae7121a47",
  },
  {
    source: "GCM spec test case 16",
    name: "aes-256-gcm",
    key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
    nonce: "cafebabefacedbaddecaf888",
    aad: GCM_A,
    plaintext: GCM_P,
    ciphertext: `522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa
      8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662`,
    tag: "76fc6ece0f4e1768cddf8853bb2d551b",
  },
  {
    source: "RFC 8439 §2.8.2",
    name: "chacha20-poly1305",
    key: "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
    nonce: "070000004041424344454647",
    aad: "50515253c0c1c2c3c4c5c6c7",
    plaintext: new TextEncoder().encode(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
    ),
    ciphertext: `d3 1a 8d 34 64 8e 60 db 7b 86 af bc 53 ef 7e c2 a4 ad ed 51 29 6e 08 fe a9 e2 b5 a7 36 ee 62 d6
      3d be a4 5e 8c a9 67 12 82 fa fb 69 da 92 72 8b 1a 71 de 0a 9e 06 0b 29 05 d6 a5 b6 7e cd 3b 36
      92 dd bd 7f 2d 77 8b 8c 98 03 ae e3 28 09 1b 58 fa b3 24 e4 fa d6 75 94 55 85 80 8b 48 31 d7 bc
      3f f4 de f0 8e 4b 7a 9d e5 76 d2 65 86 ce c6 4b 61 16`,
    tag: "1a:e1:0b:59:4f:09:e2:6a:7e:90:2e:cb:d0:60:06:91",
  },
];

describe("aead", () => {
  describe("known answers", () => {
    for (const kat of KATS) {
      for (const backend of BACKENDS) {
        it(`${kat.source} (${kat.name}, ${backend})`, () => {
          const aead = createAead(kat.name, h(kat.key), backend);
          const expected = hex(h(kat.ciphertext)) + hex(h(kat.tag));
          expect(hex(aead.seal(h(kat.nonce), h(kat.aad), kat.plaintext))).to.equal(expected);
          const opened = aead.open(h(kat.nonce), h(kat.aad), h(expected));
          expect(opened).to.not.equal(null);
          expect(hex(opened!)).to.equal(hex(kat.plaintext));
        });
      }
    }
  });

  describe("open never throws for bad input", () => {
    for (const name of AEADS) {
      for (const backend of BACKENDS) {
        it(`${name} (${backend}) returns null for tampering, truncation and a wrong AAD`, () => {
          const rng = new Prng(0xa11ce);
          const aead = createAead(name, rng.bytes(aeadKeyLength(name)), backend);
          const nonce = rng.bytes(AEAD_NONCE_LEN);
          const aad = rng.bytes(5);
          const sealed = aead.seal(nonce, aad, rng.bytes(33));
          for (let i = 0; i < sealed.length; i++) {
            const bad = Uint8Array.from(sealed);
            bad[i] = bad[i]! ^ (1 << (i % 8));
            expect(aead.open(nonce, aad, bad)).to.equal(null);
          }
          for (const len of [0, 1, AEAD_TAG_LEN - 1, AEAD_TAG_LEN, sealed.length - 1]) {
            expect(aead.open(nonce, aad, sealed.subarray(0, len))).to.equal(null);
          }
          expect(aead.open(nonce, rng.bytes(5), sealed)).to.equal(null);
          // A tag over the empty plaintext opens to the empty plaintext.
          const empty = aead.seal(nonce, aad, new Uint8Array(0));
          expect(empty.length).to.equal(AEAD_TAG_LEN);
          expect(aead.open(nonce, aad, empty)!.length).to.equal(0);
        });
      }
    }
  });

  describe("sealInto", () => {
    for (const name of AEADS) {
      for (const backend of BACKENDS) {
        it(`${name} (${backend}) writes at an offset and works in place`, () => {
          const rng = new Prng(0xb0b);
          const aead = createAead(name, rng.bytes(aeadKeyLength(name)), backend);
          const nonce = rng.bytes(AEAD_NONCE_LEN);
          const aad = rng.bytes(5);
          const pt = rng.bytes(1000);
          const reference = hex(aead.seal(nonce, aad, pt));

          const out = new Uint8Array(7 + pt.length + AEAD_TAG_LEN + 3).fill(0xee);
          expect(aead.sealInto(nonce, aad, pt, out, 7)).to.equal(pt.length + AEAD_TAG_LEN);
          expect(hex(out.subarray(7, 7 + pt.length + AEAD_TAG_LEN))).to.equal(reference);
          expect(Array.from(out.subarray(0, 7)).every((b) => b === 0xee)).to.equal(true);
          expect(Array.from(out.subarray(-3)).every((b) => b === 0xee)).to.equal(true);

          const inPlace = new Uint8Array(5 + pt.length + AEAD_TAG_LEN);
          inPlace.set(pt, 5);
          aead.sealInto(nonce, aad, inPlace.subarray(5, 5 + pt.length), inPlace, 5);
          expect(hex(inPlace.subarray(5))).to.equal(reference);

          expect(() => aead.sealInto(nonce, aad, pt, new Uint8Array(pt.length + AEAD_TAG_LEN - 1), 0)).to.throw(
            RangeError,
          );
        });
      }
    }
  });

  describe("backends agree", () => {
    it("on random keys, nonces, AAD and plaintexts, and open each other's output", () => {
      const rng = new Prng(0xc0ffee);
      for (let i = 0; i < 90; i++) {
        const name = AEADS[i % AEADS.length]!;
        const key = rng.bytes(aeadKeyLength(name));
        const node = createAead(name, key, "node");
        const noble = createAead(name, key, "noble");
        const nonce = rng.bytes(AEAD_NONCE_LEN);
        const aad = rng.bytes(rng.int(40));
        const pt = rng.bytes(rng.pick([0, 1, 15, 16, 17, 63, 64, 65, rng.int(5000)]));
        const a = node.seal(nonce, aad, pt);
        const b = noble.seal(nonce, aad, pt);
        expect(hex(a)).to.equal(hex(b));
        expect(hex(noble.open(nonce, aad, a)!)).to.equal(hex(pt));
        expect(hex(node.open(nonce, aad, b)!)).to.equal(hex(pt));
      }
    });
  });

  describe("keys and lifecycle", () => {
    it("rejects wrong key lengths, nonce lengths and unknown names/backends", () => {
      expect(() => createAead("aes-128-gcm", new Uint8Array(32))).to.throw(TypeError);
      expect(() => createAead("aes-256-gcm", new Uint8Array(16))).to.throw(TypeError);
      expect(() => createAead("chacha20-poly1305", new Uint8Array(16), "noble")).to.throw(TypeError);
      expect(() => createAead("des" as AeadName, new Uint8Array(8))).to.throw(TypeError);
      expect(() => createAead("aes-128-gcm", new Uint8Array(16), "wasm" as AeadBackend)).to.throw(TypeError);
      const aead = createAead("aes-128-gcm", new Uint8Array(16));
      expect(() => aead.seal(new Uint8Array(8), new Uint8Array(0), new Uint8Array(1))).to.throw(TypeError);
    });

    for (const backend of BACKENDS) {
      it(`keeps its own key copy and is unusable after dispose() (${backend})`, () => {
        const key = new Prng(3).bytes(32);
        const nonce = new Uint8Array(AEAD_NONCE_LEN);
        const aead = createAead("chacha20-poly1305", key, backend);
        const before = hex(aead.seal(nonce, new Uint8Array(0), Uint8Array.of(1, 2, 3)));
        key.fill(0); // the caller zeroes its copy: the AEAD must not notice
        expect(hex(aead.seal(nonce, new Uint8Array(0), Uint8Array.of(1, 2, 3)))).to.equal(before);
        aead.dispose();
        expect(() => aead.seal(nonce, new Uint8Array(0), Uint8Array.of(1))).to.throw(/dispose/);
        expect(() => aead.open(nonce, new Uint8Array(0), new Uint8Array(20))).to.throw(/dispose/);
        aead.dispose(); // idempotent
      });
    }
  });
});
