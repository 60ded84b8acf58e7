// A ts-mls CryptoProvider built on synchronous node:crypto, for MLS ciphersuites 1, 2, 3 and 7.
// ts-mls's default provider goes through WebCrypto and @hpke/core, whose per-call thread hops dominate
// handshake time; the same work done synchronously is several times faster.
// HPKE is RFC 9180 base mode, single-shot, which is all MLS uses.
// Only types come from ts-mls: lib/mls-session.ts owns the value import and passes any fallback in.

import {
  createCipheriv,
  createDecipheriv,
  createECDH,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  ECDH,
  randomFillSync,
  sign as nodeSign,
  timingSafeEqual,
  verify as nodeVerify,
  type CipherChaCha20Poly1305,
  type CipherGCM,
  type DecipherChaCha20Poly1305,
  type DecipherGCM,
  type KeyObject,
} from "node:crypto";
// Types only (erased at build): lib/mls-session.ts is the one module that imports ts-mls code.
import type { AeadAlgorithm, Ciphersuite, CiphersuiteImpl, CryptoProvider, Hash, HashAlgorithm, Hpke, Kdf, KdfAlgorithm, KemAlgorithm, PrivateKey, PublicKey, Rng, Signature, SignatureAlgorithm } from "ts-mls";

// ---------------------------------------------------------------------------------------------
// Bytes

const EMPTY = new Uint8Array(0);

/**
 * A plain Uint8Array with its own ArrayBuffer. ts-mls zeroes some outputs in place, and node hands out
 * Buffers that may share a pool, so nothing we return may alias anything else.
 */
function fresh(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function i2osp2(n: number): Uint8Array {
  return Uint8Array.of((n >>> 8) & 0xff, n & 0xff);
}

function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function b64u(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

function fromB64u(s: string | undefined): Uint8Array {
  if (s === undefined) throw new Error("node:crypto exported a JWK without the expected member");
  return new Uint8Array(Buffer.from(s, "base64url"));
}

function hasPrefix(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

/** Big-endian fixed-width encoding; node's ECDH drops leading zero bytes of private scalars. */
function leftPad(bytes: Uint8Array, length: number): Uint8Array {
  if (bytes.length > length) throw new RangeError("value longer than its fixed width");
  const out = new Uint8Array(length);
  out.set(bytes, length - bytes.length);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Hash, HMAC, HKDF (RFC 5869)

interface HashParams {
  readonly name: "sha256" | "sha384" | "sha512";
  readonly length: number;
  /** The HPKE KDF identifier of HKDF with this hash (RFC 9180 §7.2). */
  readonly hpkeKdfId: number;
}

const SHA256: HashParams = { name: "sha256", length: 32, hpkeKdfId: 0x0001 };
const SHA384: HashParams = { name: "sha384", length: 48, hpkeKdfId: 0x0002 };
const SHA512: HashParams = { name: "sha512", length: 64, hpkeKdfId: 0x0003 };

const HASHES: Record<HashAlgorithm, HashParams> = { "SHA-256": SHA256, "SHA-384": SHA384, "SHA-512": SHA512 };
const KDFS: Record<KdfAlgorithm, HashParams> = {
  "HKDF-SHA256": SHA256,
  "HKDF-SHA384": SHA384,
  "HKDF-SHA512": SHA512,
};

function hmac(h: HashParams, key: Uint8Array, data: Uint8Array): Buffer {
  return createHmac(h.name, key).update(data).digest();
}

function hkdfExpand(h: HashParams, prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > 255 * h.length) {
    throw new RangeError(`HKDF-Expand length ${length} out of range for ${h.name}`);
  }
  const out = new Uint8Array(length);
  let block: Uint8Array = EMPTY;
  for (let i = 1, offset = 0; offset < length; i++) {
    block = createHmac(h.name, prk).update(block).update(info).update(Uint8Array.of(i)).digest();
    out.set(block.subarray(0, Math.min(block.length, length - offset)), offset);
    offset += block.length;
  }
  return out;
}

function makeHash(h: HashParams): Hash {
  return {
    async digest(data) {
      return fresh(createHash(h.name).update(data).digest());
    },
    async mac(key, data) {
      return fresh(hmac(h, key, data));
    },
    async verifyMac(key, mac, data) {
      const expected = hmac(h, key, data);
      return mac.length === expected.length && timingSafeEqual(mac, expected);
    },
  };
}

function makeKdf(h: HashParams): Kdf {
  return {
    async extract(salt, ikm) {
      // An empty salt is HMAC with an empty key, which equals RFC 5869's HashLen zero bytes.
      return fresh(hmac(h, salt, ikm));
    },
    async expand(prk, info, length) {
      return hkdfExpand(h, prk, info, length);
    },
    size: h.length,
  };
}

const rng: Rng = {
  randomBytes(n) {
    return randomFillSync(new Uint8Array(n));
  },
};

// ---------------------------------------------------------------------------------------------
// Key import. JWK is the fast path: PKCS#8/SPKI DER import costs about 10x more in node 20.

type OkpCurve = "Ed25519" | "X25519";

/** RFC 8410 PKCS#8 header for a 32-byte OKP private key; the seed follows it. */
const PKCS8_PREFIX: Record<OkpCurve, Uint8Array> = {
  Ed25519: Uint8Array.from(Buffer.from("302e020100300506032b657004220420", "hex")),
  X25519: Uint8Array.from(Buffer.from("302e020100300506032b656e04220420", "hex")),
};

function okpPrivateKey(crv: OkpCurve, seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new RangeError(`${crv} private key must be 32 bytes`);
  try {
    // node builds an OKP private key from `d` alone but insists `x` is a string; the public half
    // is what we are about to derive, so an empty one is passed.
    return createPrivateKey({ key: { kty: "OKP", crv, d: b64u(seed), x: "" }, format: "jwk" });
  } catch {
    // Should a node release start checking `x`, stay correct on the slow path.
    return createPrivateKey({ key: Buffer.from(concat(PKCS8_PREFIX[crv], seed)), format: "der", type: "pkcs8" });
  }
}

function okpPublicKey(crv: OkpCurve, pub: Uint8Array): KeyObject {
  if (pub.length !== 32) throw new RangeError(`${crv} public key must be 32 bytes`);
  return createPublicKey({ key: { kty: "OKP", crv, x: b64u(pub) }, format: "jwk" });
}

function okpPublicBytes(privateKey: KeyObject): Uint8Array {
  return fromB64u(createPublicKey(privateKey).export({ format: "jwk" }).x);
}

interface EcCurve {
  readonly ecdhName: "prime256v1" | "secp384r1";
  readonly jwkCrv: "P-256" | "P-384";
  /** Field and scalar size in bytes. */
  readonly size: number;
  /** Group order, big-endian, for RFC 9180 DeriveKeyPair's rejection sampling. */
  readonly order: Uint8Array;
}

const P256: EcCurve = {
  ecdhName: "prime256v1",
  jwkCrv: "P-256",
  size: 32,
  order: Uint8Array.from(Buffer.from("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", "hex")),
};
const P384: EcCurve = {
  ecdhName: "secp384r1",
  jwkCrv: "P-384",
  size: 48,
  order: Uint8Array.from(
    Buffer.from(
      "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973",
      "hex",
    ),
  ),
};

/** An ECDH handle holding `d`; setPrivateKey rejects 0 and values >= the group order. */
function ecdhFor(curve: EcCurve, d: Uint8Array): ECDH {
  if (d.length !== curve.size) throw new RangeError(`${curve.jwkCrv} private key must be ${curve.size} bytes`);
  const ecdh = createECDH(curve.ecdhName);
  ecdh.setPrivateKey(d);
  return ecdh;
}

/** Uncompressed SEC1 point; compressed input is accepted because ts-mls's providers (noble) emit it. */
function ecUncompressed(curve: EcCurve, point: Uint8Array): Uint8Array {
  if (point.length === 1 + 2 * curve.size && point[0] === 0x04) return point;
  if (point.length === 1 + curve.size && (point[0] === 0x02 || point[0] === 0x03)) {
    return ECDH.convertKey(point, curve.ecdhName, undefined, undefined, "uncompressed") as Buffer;
  }
  throw new RangeError(`not a ${curve.jwkCrv} SEC1 point`);
}

function ecJwkCoordinates(curve: EcCurve, uncompressed: Uint8Array): { x: string; y: string } {
  return {
    x: b64u(uncompressed.subarray(1, 1 + curve.size)),
    y: b64u(uncompressed.subarray(1 + curve.size)),
  };
}

function ecPrivateKey(curve: EcCurve, d: Uint8Array): KeyObject {
  const pub = ecdhFor(curve, d).getPublicKey();
  return createPrivateKey({
    key: { kty: "EC", crv: curve.jwkCrv, d: b64u(d), ...ecJwkCoordinates(curve, pub) },
    format: "jwk",
  });
}

function ecPublicKey(curve: EcCurve, point: Uint8Array): KeyObject {
  return createPublicKey({
    key: { kty: "EC", crv: curve.jwkCrv, ...ecJwkCoordinates(curve, ecUncompressed(curve, point)) },
    format: "jwk",
  });
}

function ecGenerate(curve: EcCurve): { d: Uint8Array; pub: Uint8Array; ecdh: ECDH } {
  const ecdh = createECDH(curve.ecdhName);
  ecdh.generateKeys();
  return { d: leftPad(ecdh.getPrivateKey(), curve.size), pub: fresh(ecdh.getPublicKey()), ecdh };
}

// ---------------------------------------------------------------------------------------------
// Signatures. Encodings follow ts-mls's default provider: Ed25519 raw; ECDSA DER over the suite's
// hash, high S allowed; private keys are the raw seed or scalar. ECDSA public keys we generate are
// uncompressed as RFC 9420 §5.1.1 requires; ts-mls's providers emit compressed ones, which we accept.

// ts-mls checks some signatures twice in one handshake (a KeyPackage's when it is inspected and again when it is
// added), and a verification costs ~0.1 ms, so recent successes are remembered, keyed by everything the result
// depends on. Public data only; failures are not kept.
const VERIFIED_MAX = 256;
const verified = new Map<string, true>();

/** `check` (a signature verification) through the cache of recent successes. */
function verifyOnce(
  alg: string,
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
  check: () => boolean,
): boolean {
  const id = `${alg} ${b64u(publicKey)} ${b64u(signature)} ${createHash("sha256").update(message).digest("base64url")}`;
  if (verified.has(id)) return true;
  const ok = check();
  if (ok) {
    if (verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value!);
    verified.set(id, true);
  }
  return ok;
}

/** ts-mls's providers keep Ed25519 keys as 48-byte PKCS#8 where WebCrypto exists, else as 32-byte seeds. */
function ed25519Seed(signKey: Uint8Array): Uint8Array {
  if (signKey.length === 32) return signKey;
  if (signKey.length === 48 && hasPrefix(signKey, PKCS8_PREFIX.Ed25519)) return signKey.subarray(16);
  throw new RangeError("Ed25519 signing key must be a 32-byte seed or a 48-byte PKCS#8 key");
}

const ed25519: Signature = {
  async sign(signKey, message) {
    return fresh(nodeSign(null, message, okpPrivateKey("Ed25519", ed25519Seed(signKey))));
  },
  async verify(publicKey, message, signature) {
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    try {
      return verifyOnce("Ed25519", publicKey, message, signature, () =>
        nodeVerify(null, message, okpPublicKey("Ed25519", publicKey), signature),
      );
    } catch {
      return false;
    }
  },
  async keygen() {
    // A seed rather than PKCS#8: both ts-mls providers can sign with a seed.
    const signKey = rng.randomBytes(32);
    return { signKey, publicKey: okpPublicBytes(okpPrivateKey("Ed25519", signKey)) };
  },
};

function ecdsa(curve: EcCurve, hash: HashParams): Signature {
  return {
    async sign(signKey, message) {
      return fresh(nodeSign(hash.name, message, { key: ecPrivateKey(curve, signKey), dsaEncoding: "der" }));
    },
    async verify(publicKey, message, signature) {
      try {
        return verifyOnce(curve.jwkCrv, publicKey, message, signature, () =>
          nodeVerify(hash.name, message, { key: ecPublicKey(curve, publicKey), dsaEncoding: "der" }, signature),
        );
      } catch {
        return false;
      }
    },
    async keygen() {
      const { d, pub } = ecGenerate(curve);
      return { signKey: d, publicKey: pub };
    },
  };
}

const SIGNATURES: Partial<Record<SignatureAlgorithm, Signature>> = {
  Ed25519: ed25519,
  P256: ecdsa(P256, SHA256),
  P384: ecdsa(P384, SHA384),
};

// ---------------------------------------------------------------------------------------------
// AEAD

interface AeadParams {
  readonly name: "aes-128-gcm" | "aes-256-gcm" | "chacha20-poly1305";
  /** RFC 9180 §7.3 identifier. */
  readonly id: number;
  readonly keyLength: number;
}

const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;

const AEADS: Record<AeadAlgorithm, AeadParams> = {
  AES128GCM: { name: "aes-128-gcm", id: 0x0001, keyLength: 16 },
  AES256GCM: { name: "aes-256-gcm", id: 0x0002, keyLength: 32 },
  CHACHA20POLY1305: { name: "chacha20-poly1305", id: 0x0003, keyLength: 32 },
};

function checkAeadInputs(a: AeadParams, key: Uint8Array, nonce: Uint8Array): void {
  // node would accept other GCM IV and key sizes and silently compute something else.
  if (key.length !== a.keyLength) throw new RangeError(`${a.name} key must be ${a.keyLength} bytes`);
  if (nonce.length !== NONCE_LENGTH) throw new RangeError(`${a.name} nonce must be ${NONCE_LENGTH} bytes`);
}

function aeadSeal(a: AeadParams, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array) {
  checkAeadInputs(a, key, nonce);
  const name = a.name;
  const cipher: CipherGCM | CipherChaCha20Poly1305 =
    name === "chacha20-poly1305"
      ? createCipheriv(name, key, nonce, { authTagLength: TAG_LENGTH })
      : createCipheriv(name, key, nonce, { authTagLength: TAG_LENGTH });
  // plaintextLength only matters to CCM; @types/node demands it for ChaCha20-Poly1305.
  if (aad.length > 0) cipher.setAAD(aad, { plaintextLength: plaintext.length });
  const body = cipher.update(plaintext);
  const rest = cipher.final();
  return concat(body, rest, cipher.getAuthTag());
}

function aeadOpen(a: AeadParams, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array) {
  checkAeadInputs(a, key, nonce);
  if (ciphertext.length < TAG_LENGTH) throw new Error(`${a.name}: ciphertext shorter than the tag`);
  const name = a.name;
  const decipher: DecipherGCM | DecipherChaCha20Poly1305 =
    name === "chacha20-poly1305"
      ? createDecipheriv(name, key, nonce, { authTagLength: TAG_LENGTH })
      : createDecipheriv(name, key, nonce, { authTagLength: TAG_LENGTH });
  const split = ciphertext.length - TAG_LENGTH;
  decipher.setAuthTag(ciphertext.subarray(split));
  if (aad.length > 0) decipher.setAAD(aad, { plaintextLength: split });
  const body = decipher.update(ciphertext.subarray(0, split));
  let rest: Buffer;
  try {
    rest = decipher.final();
  } catch {
    throw new Error(`${a.name}: authentication failed`);
  }
  return concat(body, rest);
}

// ---------------------------------------------------------------------------------------------
// HPKE (RFC 9180): DHKEM, base-mode key schedule, single-shot seal/open and export.

const HPKE_V1 = utf8("HPKE-v1");

function labeledExtract(h: HashParams, suiteId: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array) {
  return createHmac(h.name, salt).update(HPKE_V1).update(suiteId).update(label).update(ikm).digest();
}

function labeledExpand(
  h: HashParams,
  suiteId: Uint8Array,
  prk: Uint8Array,
  label: string,
  info: Uint8Array,
  length: number,
): Uint8Array {
  if (length > 0xffff) throw new RangeError("HPKE LabeledExpand length does not fit two bytes");
  return hkdfExpand(h, prk, concat(i2osp2(length), HPKE_V1, suiteId, utf8(label), info), length);
}

/**
 * ts-mls treats HPKE keys as opaque and only hands them back to the Hpke that made them, so they
 * are plain objects here despite the CryptoKey in ts-mls's type.
 */
class NodeHpkePrivateKey {
  constructor(
    readonly kemId: number,
    /** SerializePrivateKey output (RFC 9180 §7.1.2). */
    readonly sk: Uint8Array,
    /** SerializePublicKey of the matching public key, needed by Decap. */
    readonly pk: Uint8Array,
    /** DH(sk, peer public key bytes); the handle inside is bound once at import. */
    readonly dh: (peer: Uint8Array) => Uint8Array,
  ) {}
}

class NodeHpkePublicKey {
  constructor(
    readonly kemId: number,
    readonly pk: Uint8Array,
  ) {}
}

interface DhKem {
  readonly id: number;
  readonly hash: HashParams;
  /** Nsecret. */
  readonly secretLength: number;
  /** Npk = Nenc. */
  readonly publicLength: number;
  generate(): NodeHpkePrivateKey;
  /** DeriveKeyPair after the common dkp_prk extraction. */
  derive(dkpPrk: Uint8Array): NodeHpkePrivateKey;
  importPrivate(sk: Uint8Array): NodeHpkePrivateKey;
  checkPublic(pk: Uint8Array): void;
}

function x25519Kem(): DhKem {
  const id = 0x0020;
  const suiteId = concat(utf8("KEM"), i2osp2(id));
  const importPrivate = (sk: Uint8Array): NodeHpkePrivateKey => {
    const key = okpPrivateKey("X25519", sk);
    return new NodeHpkePrivateKey(id, fresh(sk), okpPublicBytes(key), (peer) => {
      const shared = diffieHellman({ privateKey: key, publicKey: okpPublicKey("X25519", peer) });
      // RFC 9180 §7.1.4: an all-zero X25519 output (small-order peer key) must abort.
      if (shared.every((b) => b === 0)) throw new Error("X25519 produced the all-zero shared secret");
      return shared;
    });
  };
  return {
    id,
    hash: SHA256,
    secretLength: 32,
    publicLength: 32,
    // Every 32-byte string is an X25519 private key.
    generate: () => importPrivate(rng.randomBytes(32)),
    derive: (dkpPrk) => importPrivate(labeledExpand(SHA256, suiteId, dkpPrk, "sk", EMPTY, 32)),
    importPrivate,
    checkPublic(pk) {
      if (pk.length !== 32) throw new RangeError("X25519 public key must be 32 bytes");
    },
  };
}

function nistKem(id: number, curve: EcCurve, hash: HashParams): DhKem {
  const suiteId = concat(utf8("KEM"), i2osp2(id));
  const wrap = (d: Uint8Array, ecdh: ECDH): NodeHpkePrivateKey =>
    // computeSecret rejects points off the curve and returns the x-coordinate at full field width.
    new NodeHpkePrivateKey(id, d, fresh(ecdh.getPublicKey()), (peer) => ecdh.computeSecret(peer));
  const belowOrder = (candidate: Uint8Array): boolean => {
    for (let i = 0; i < candidate.length; i++) {
      if (candidate[i] !== curve.order[i]) return candidate[i] < curve.order[i];
    }
    return false;
  };
  return {
    id,
    hash,
    secretLength: hash.length,
    publicLength: 1 + 2 * curve.size,
    generate() {
      const { d, ecdh } = ecGenerate(curve);
      return wrap(d, ecdh);
    },
    derive(dkpPrk) {
      // RFC 9180 §7.1.3 rejection sampling; the bitmask is 0xff for P-256 and P-384.
      for (let counter = 0; counter < 256; counter++) {
        const candidate = labeledExpand(hash, suiteId, dkpPrk, "candidate", Uint8Array.of(counter), curve.size);
        if (candidate.some((b) => b !== 0) && belowOrder(candidate)) return wrap(candidate, ecdhFor(curve, candidate));
      }
      throw new Error(`${curve.jwkCrv} DeriveKeyPair found no valid scalar`);
    },
    importPrivate(sk) {
      const d = fresh(sk);
      return wrap(d, ecdhFor(curve, d));
    },
    checkPublic(pk) {
      if (pk.length !== 1 + 2 * curve.size || pk[0] !== 0x04) {
        throw new RangeError(`${curve.jwkCrv} HPKE public key must be an uncompressed point`);
      }
      // Throws for points off the curve, as WebCrypto's import does in the default provider.
      ECDH.convertKey(pk, curve.ecdhName, undefined, undefined, "uncompressed");
    },
  };
}

const KEMS: Partial<Record<KemAlgorithm, DhKem>> = {
  "DHKEM-X25519-HKDF-SHA256": x25519Kem(),
  "DHKEM-P256-HKDF-SHA256": nistKem(0x0010, P256, SHA256),
  "DHKEM-P384-HKDF-SHA384": nistKem(0x0011, P384, SHA384),
};

function makeHpke(kem: DhKem, kdf: HashParams, aead: AeadParams): Hpke {
  const kemSuiteId = concat(utf8("KEM"), i2osp2(kem.id));
  const suiteId = concat(utf8("HPKE"), i2osp2(kem.id), i2osp2(kdf.hpkeKdfId), i2osp2(aead.id));
  // Base mode: psk and psk_id are empty, so psk_id_hash is a per-suite constant.
  const pskIdHash = labeledExtract(kdf, suiteId, EMPTY, "psk_id_hash", EMPTY);

  const ownPrivate = (k: PrivateKey): NodeHpkePrivateKey => {
    const key: unknown = k;
    if (!(key instanceof NodeHpkePrivateKey) || key.kemId !== kem.id) {
      throw new TypeError("HPKE private key was not made by this provider for this KEM");
    }
    return key;
  };
  const ownPublic = (k: PublicKey): NodeHpkePublicKey => {
    const key: unknown = k;
    if (!(key instanceof NodeHpkePublicKey) || key.kemId !== kem.id) {
      throw new TypeError("HPKE public key was not made by this provider for this KEM");
    }
    return key;
  };
  const asPrivateKey = (k: NodeHpkePrivateKey) => k as unknown as PrivateKey;
  const asPublicKey = (k: NodeHpkePublicKey) => k as unknown as PublicKey;
  const keyPair = (k: NodeHpkePrivateKey) => ({
    privateKey: asPrivateKey(k),
    publicKey: asPublicKey(new NodeHpkePublicKey(kem.id, k.pk)),
  });

  const extractAndExpand = (dh: Uint8Array, kemContext: Uint8Array): Uint8Array => {
    const eaePrk = labeledExtract(kem.hash, kemSuiteId, EMPTY, "eae_prk", dh);
    return labeledExpand(kem.hash, kemSuiteId, eaePrk, "shared_secret", kemContext, kem.secretLength);
  };
  const encap = (pkR: Uint8Array) => {
    const ephemeral = kem.generate();
    const enc = ephemeral.pk;
    return { enc: fresh(enc), sharedSecret: extractAndExpand(ephemeral.dh(pkR), concat(enc, pkR)) };
  };
  const decap = (enc: Uint8Array, skR: NodeHpkePrivateKey): Uint8Array => {
    if (enc.length !== kem.publicLength) throw new RangeError("HPKE enc has the wrong length for this KEM");
    return extractAndExpand(skR.dh(enc), concat(enc, skR.pk));
  };
  const schedule = (sharedSecret: Uint8Array, info: Uint8Array) => {
    const infoHash = labeledExtract(kdf, suiteId, EMPTY, "info_hash", info);
    const context = concat(Uint8Array.of(0x00), pskIdHash, infoHash);
    const secret = labeledExtract(kdf, suiteId, sharedSecret, "secret", EMPTY);
    return {
      // Single-shot use: sequence number 0, so the nonce is base_nonce itself.
      aead: () => ({
        key: labeledExpand(kdf, suiteId, secret, "key", context, aead.keyLength),
        nonce: labeledExpand(kdf, suiteId, secret, "base_nonce", context, NONCE_LENGTH),
      }),
      export: (exporterContext: Uint8Array, length: number) => {
        if (length > 255 * kdf.length) throw new RangeError("HPKE export length too large");
        const exporterSecret = labeledExpand(kdf, suiteId, secret, "exp", context, kdf.length);
        return labeledExpand(kdf, suiteId, exporterSecret, "sec", exporterContext, length);
      },
    };
  };

  return {
    async seal(publicKey, plaintext, info, aad) {
      const { enc, sharedSecret } = encap(ownPublic(publicKey).pk);
      const { key, nonce } = schedule(sharedSecret, info).aead();
      return { ct: aeadSeal(aead, key, nonce, aad ?? EMPTY, plaintext), enc };
    },
    async open(privateKey, kemOutput, ciphertext, info, aad) {
      const sharedSecret = decap(kemOutput, ownPrivate(privateKey));
      const { key, nonce } = schedule(sharedSecret, info).aead();
      return aeadOpen(aead, key, nonce, aad ?? EMPTY, ciphertext);
    },
    async exportSecret(publicKey, exporterContext, length, info) {
      const { enc, sharedSecret } = encap(ownPublic(publicKey).pk);
      return { enc, secret: schedule(sharedSecret, info).export(exporterContext, length) };
    },
    async importSecret(privateKey, exporterContext, kemOutput, length, info) {
      const sharedSecret = decap(kemOutput, ownPrivate(privateKey));
      return schedule(sharedSecret, info).export(exporterContext, length);
    },
    async importPrivateKey(k) {
      return asPrivateKey(kem.importPrivate(k));
    },
    async importPublicKey(k) {
      kem.checkPublic(k);
      return asPublicKey(new NodeHpkePublicKey(kem.id, fresh(k)));
    },
    async exportPublicKey(k) {
      return fresh(ownPublic(k).pk);
    },
    async exportPrivateKey(k) {
      return fresh(ownPrivate(k).sk);
    },
    async encryptAead(key, nonce, aad, plaintext) {
      return aeadSeal(aead, key, nonce, aad ?? EMPTY, plaintext);
    },
    async decryptAead(key, nonce, aad, ciphertext) {
      return aeadOpen(aead, key, nonce, aad ?? EMPTY, ciphertext);
    },
    async deriveKeyPair(ikm) {
      return keyPair(kem.derive(labeledExtract(kem.hash, kemSuiteId, EMPTY, "dkp_prk", ikm)));
    },
    async generateKeyPair() {
      return keyPair(kem.generate());
    },
    keyLength: aead.keyLength,
    nonceLength: NONCE_LENGTH,
  };
}

// ---------------------------------------------------------------------------------------------
// Provider

/** Whether the node:crypto provider implements this ciphersuite itself (MLS suites 1, 2, 3 and 7). */
export function nodeCryptoSupports(cs: Ciphersuite): boolean {
  return KEMS[cs.hpke.kem] !== undefined && SIGNATURES[cs.signature] !== undefined;
}

function makeImpl(cs: Ciphersuite): CiphersuiteImpl | undefined {
  const kem = KEMS[cs.hpke.kem];
  const signature = SIGNATURES[cs.signature];
  if (kem === undefined || signature === undefined) return undefined;
  const kdf = KDFS[cs.hpke.kdf];
  return {
    hash: makeHash(HASHES[cs.hash]),
    hpke: makeHpke(kem, kdf, AEADS[cs.hpke.aead]),
    signature,
    kdf: makeKdf(kdf),
    rng,
    name: cs.name,
  };
}

/**
 * A ts-mls CryptoProvider on synchronous node:crypto for MLS ciphersuites 1, 2, 3 and 7. Other suites
 * go to `fallback` (pass ts-mls's defaultCryptoProvider); without one they are rejected.
 * Its calls block the event loop while they run: tens of microseconds each, a few milliseconds for P-384.
 */
export function createNodeCryptoProvider(fallback?: CryptoProvider): CryptoProvider {
  return {
    async getCiphersuiteImpl(cs) {
      const impl = makeImpl(cs);
      if (impl !== undefined) return impl;
      if (fallback !== undefined) return fallback.getCiphersuiteImpl(cs);
      throw new Error(
        `the node:crypto MLS provider does not implement ciphersuite ${cs.name} (it covers suites 1, 2, 3 and 7); ` +
          "pass ts-mls's defaultCryptoProvider to createNodeCryptoProvider() as a fallback",
      );
    },
  };
}

/** The node:crypto provider without a fallback: unsupported suites are rejected with an Error. */
export const nodeCryptoProvider: CryptoProvider = createNodeCryptoProvider();
