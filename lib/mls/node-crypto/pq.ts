// The post-quantum MLS suites (79-88) on the node:crypto provider: X-Wing (draft-connolly-cfrg-xwing-kem), ML-KEM
// (FIPS 203) and ML-DSA-87 (FIPS 204) signatures. Only the lattice parts come from @noble/post-quantum (through
// lib/mls/pq.ts); X25519, SHA3-256/SHAKE256, HKDF and the AEADs are node's native ones.
//
// HPKE with these KEMs is RFC 9180 base mode with the KEM's shared secret used as is (no DH ExtractAndExpand).
// Key formats follow @hpke/ml-kem and @hpke/hybridkem-x-wing, which ts-mls's default provider uses, so that
// states and wire messages of both providers mix: an ML-KEM private key is its 64-byte seed d ‖ z, and
// DeriveKeyPair(ikm) uses the 64-byte ikm as that seed; an X-Wing private key is its 32-byte seed, and
// DeriveKeyPair(ikm) = SHAKE256(ikm, 32).

import { createHash, diffieHellman } from "node:crypto";
import type { Ciphersuite, CiphersuiteImpl, Hpke, PrivateKey, PublicKey, Rng, Signature } from "ts-mls";
import { concat } from "../../util/bytes.js";
import { okpPrivateKey, okpPublicBytes, okpPublicKey } from "../keys.js";
import { mldsaSign, mldsaVerify, mldsaGenerate, pqModules, type NobleKem } from "../pq.js";
import { AEADS, aeadOpen, aeadSeal, hpkeAeadMethods, type AeadParams } from "./aead.js";
import { fresh, HASHES, KDFS, makeHash, makeKdf, type HashParams } from "./hash.js";
import { hpkeKeySchedule } from "./hpke.js";
import { verifyOnce, type RandomBytes } from "./signature.js";

const EMPTY = new Uint8Array(0);
/** X-Wing's combiner label, the six ASCII bytes \.//^\ (draft-connolly-cfrg-xwing-kem). */
const XWING_LABEL = Uint8Array.of(0x5c, 0x2e, 0x2f, 0x2f, 0x5e, 0x5c);

export type PqKemName = "ML-KEM-768" | "ML-KEM-1024" | "X-Wing";

/** Whether the node:crypto provider runs this suite through this file. */
export function isPqSuite(cs: Ciphersuite): boolean {
  return (cs.hpke.kem === "ML-KEM-768" || cs.hpke.kem === "ML-KEM-1024" || cs.hpke.kem === "X-Wing") &&
    (cs.signature === "Ed25519" || cs.signature === "ML-DSA-87");
}

/** A KEM private key of this provider: the serialized seed and what decapsulation needs, expanded once. */
export class PqPrivateKey {
  constructor(
    readonly kemId: number,
    readonly seed: Uint8Array,
    readonly pk: Uint8Array,
    readonly decap: (enc: Uint8Array) => Uint8Array,
  ) {}
}
export class PqPublicKey {
  constructor(
    readonly kemId: number,
    readonly pk: Uint8Array,
  ) {}
}

export interface PqKem {
  /** HPKE KEM identifier: 0x0041 ML-KEM-768, 0x0042 ML-KEM-1024, 0x647a X-Wing. */
  readonly id: number;
  readonly publicLength: number;
  readonly encLength: number;
  readonly seedLength: number;
  fromSeed(seed: Uint8Array): PqPrivateKey;
  derive(ikm: Uint8Array): PqPrivateKey;
  encap(pk: Uint8Array): { enc: Uint8Array; sharedSecret: Uint8Array };
}

function mlKem(id: number, prim: NobleKem, publicLength: number, encLength: number, randomBytes: RandomBytes): PqKem {
  const fromSeed = (seed: Uint8Array): PqPrivateKey => {
    if (seed.length !== 64) throw new RangeError("ML-KEM private key (seed d || z) must be 64 bytes");
    const { publicKey, secretKey } = prim.keygen(seed);
    return new PqPrivateKey(id, fresh(seed), fresh(publicKey), (enc) => {
      if (enc.length !== encLength) throw new RangeError("ML-KEM ciphertext has the wrong length");
      return prim.decapsulate(enc, secretKey);
    });
  };
  return {
    id,
    publicLength,
    encLength,
    seedLength: 64,
    fromSeed,
    derive: fromSeed,
    encap(pk) {
      if (pk.length !== publicLength) throw new RangeError("ML-KEM public key has the wrong length");
      const { cipherText, sharedSecret } = prim.encapsulate(pk, randomBytes(32));
      return { enc: fresh(cipherText), sharedSecret: fresh(sharedSecret) };
    },
  };
}

function shake256(data: Uint8Array, length: number): Uint8Array {
  return new Uint8Array(createHash("shake256", { outputLength: length }).update(data).digest());
}

function xwingCombine(ssM: Uint8Array, ssX: Uint8Array, ctX: Uint8Array, pkX: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha3-256").update(ssM).update(ssX).update(ctX).update(pkX).update(XWING_LABEL).digest());
}

function xWing(prim: NobleKem, randomBytes: RandomBytes): PqKem {
  const fromSeed = (seed: Uint8Array): PqPrivateKey => {
    if (seed.length !== 32) throw new RangeError("X-Wing private key must be 32 bytes");
    const expanded = shake256(seed, 96);
    const { publicKey: pkM, secretKey: skM } = prim.keygen(expanded.subarray(0, 64));
    const skX = okpPrivateKey("X25519", expanded.subarray(64, 96));
    expanded.fill(0);
    const pkX = okpPublicBytes(skX);
    return new PqPrivateKey(0x647a, fresh(seed), concat(pkM, pkX), (enc) => {
      if (enc.length !== 1120) throw new RangeError("X-Wing ciphertext must be 1120 bytes");
      const ctX = enc.subarray(1088);
      const ssM = prim.decapsulate(enc.subarray(0, 1088), skM);
      const ssX = diffieHellman({ privateKey: skX, publicKey: okpPublicKey("X25519", ctX) });
      return xwingCombine(ssM, ssX, ctX, pkX);
    });
  };
  return {
    id: 0x647a,
    publicLength: 1216,
    encLength: 1120,
    seedLength: 32,
    fromSeed,
    derive: (ikm) => fromSeed(shake256(ikm, 32)),
    encap(pk) {
      if (pk.length !== 1216) throw new RangeError("X-Wing public key must be 1216 bytes");
      const pkX = pk.subarray(1184);
      const ek = okpPrivateKey("X25519", randomBytes(32));
      const ctX = okpPublicBytes(ek);
      const ssX = diffieHellman({ privateKey: ek, publicKey: okpPublicKey("X25519", pkX) });
      const { cipherText: ctM, sharedSecret: ssM } = prim.encapsulate(pk.subarray(0, 1184), randomBytes(32));
      return { enc: concat(ctM, ctX), sharedSecret: xwingCombine(ssM, ssX, ctX, pkX) };
    },
  };
}

export function makePqKem(name: PqKemName, randomBytes: RandomBytes): PqKem {
  const m = pqModules();
  switch (name) {
    case "ML-KEM-768":
      return mlKem(0x0041, m.ml_kem768, 1184, 1088, randomBytes);
    case "ML-KEM-1024":
      return mlKem(0x0042, m.ml_kem1024, 1568, 1568, randomBytes);
    case "X-Wing":
      return xWing(m.ml_kem768, randomBytes);
  }
}

function i2osp2(n: number): Uint8Array {
  return Uint8Array.of((n >>> 8) & 0xff, n & 0xff);
}

/** RFC 9180 base-mode HPKE over a KEM whose shared secret goes into the key schedule directly. */
export function makeKemHpke(kem: PqKem, kdf: HashParams, aead: AeadParams, randomBytes: RandomBytes): Hpke {
  const suiteId = concat(new TextEncoder().encode("HPKE"), i2osp2(kem.id), i2osp2(kdf.hpkeKdfId), i2osp2(aead.id));
  const ownPrivate = (k: PrivateKey): PqPrivateKey => {
    const key: unknown = k;
    if (!(key instanceof PqPrivateKey) || key.kemId !== kem.id) throw new TypeError("HPKE private key was not made by this provider for this KEM");
    return key;
  };
  const ownPublic = (k: PublicKey): PqPublicKey => {
    const key: unknown = k;
    if (!(key instanceof PqPublicKey) || key.kemId !== kem.id) throw new TypeError("HPKE public key was not made by this provider for this KEM");
    return key;
  };
  const keyPair = (k: PqPrivateKey) => ({
    privateKey: k as unknown as PrivateKey,
    publicKey: new PqPublicKey(kem.id, k.pk) as unknown as PublicKey,
  });
  const schedule = (sharedSecret: Uint8Array, info: Uint8Array) => hpkeKeySchedule(kdf, suiteId, aead, sharedSecret, info);

  return {
    async seal(publicKey, plaintext, info, aad) {
      const { enc, sharedSecret } = kem.encap(ownPublic(publicKey).pk);
      const s = schedule(sharedSecret, info);
      return { ct: aeadSeal(aead, s.key(), s.nonce(), aad ?? EMPTY, plaintext), enc };
    },
    async open(privateKey, kemOutput, ciphertext, info, aad) {
      const s = schedule(ownPrivate(privateKey).decap(kemOutput), info);
      return aeadOpen(aead, s.key(), s.nonce(), aad ?? EMPTY, ciphertext);
    },
    async exportSecret(publicKey, exporterContext, length, info) {
      const { enc, sharedSecret } = kem.encap(ownPublic(publicKey).pk);
      return { enc, secret: schedule(sharedSecret, info).export(exporterContext, length) };
    },
    async importSecret(privateKey, exporterContext, kemOutput, length, info) {
      return schedule(ownPrivate(privateKey).decap(kemOutput), info).export(exporterContext, length);
    },
    async importPrivateKey(k) {
      return kem.fromSeed(k) as unknown as PrivateKey;
    },
    async importPublicKey(k) {
      if (k.length !== kem.publicLength) throw new RangeError("HPKE public key has the wrong length for this KEM");
      return new PqPublicKey(kem.id, fresh(k)) as unknown as PublicKey;
    },
    async exportPublicKey(k) {
      return fresh(ownPublic(k).pk);
    },
    async exportPrivateKey(k) {
      return fresh(ownPrivate(k).seed);
    },
    async deriveKeyPair(ikm) {
      return keyPair(kem.derive(ikm));
    },
    async generateKeyPair() {
      return keyPair(kem.fromSeed(randomBytes(kem.seedLength)));
    },
    ...hpkeAeadMethods(aead),
  };
}

/** ML-DSA-87 in ts-mls's Signature shape; verifications go through the provider's cache of recent successes. */
export function mldsa87Signature(randomBytes: RandomBytes, injected: boolean): Signature {
  return {
    async sign(signKey, message) {
      return mldsaSign(signKey, message, injected ? randomBytes : undefined);
    },
    async verify(publicKey, message, signature) {
      return verifyOnce("ML-DSA-87", publicKey, message, signature, () => mldsaVerify(publicKey, message, signature));
    },
    async keygen() {
      const { publicKey, privateKey } = mldsaGenerate(injected ? randomBytes : undefined);
      return { publicKey, signKey: privateKey };
    },
  };
}

/**
 * The CiphersuiteImpl of a post-quantum suite. `ed25519` is the provider's own Ed25519. Throws
 * ERR_MLSTLS_PQ_UNAVAILABLE (from lib/mls/pq.ts) when @noble/post-quantum is missing.
 */
export function makePqImpl(cs: Ciphersuite, randomBytes: RandomBytes, injected: boolean, ed25519: Signature): CiphersuiteImpl {
  const kdf = KDFS[cs.hpke.kdf];
  const rng: Rng = { randomBytes };
  return {
    hash: makeHash(HASHES[cs.hash]),
    hpke: makeKemHpke(makePqKem(cs.hpke.kem as PqKemName, randomBytes), kdf, AEADS[cs.hpke.aead], randomBytes),
    signature: cs.signature === "ML-DSA-87" ? mldsa87Signature(randomBytes, injected) : ed25519,
    kdf: makeKdf(kdf),
    rng,
    name: cs.name,
  };
}
