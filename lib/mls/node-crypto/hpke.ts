// HPKE (RFC 9180) on node:crypto: DHKEM, the base-mode key schedule, single-shot seal/open and export, which
// is all MLS uses.

import { createHmac, diffieHellman, ECDH } from "node:crypto";
import type { Hpke, KemAlgorithm, PrivateKey, PublicKey } from "ts-mls";
import { concat } from "../../util/bytes.js";
import { ecdhFor, ecGenerate, isValidScalar, okpPrivateKey, okpPublicBytes, okpPublicKey, P256, P384, type EcCurve } from "../keys.js";
import { aeadOpen, aeadSeal, hpkeAeadMethods, NONCE_LENGTH, type AeadParams } from "./aead.js";
import type { RandomBytes } from "./signature.js";
import { fresh, hkdfExpand, SHA256, SHA384, type HashParams } from "./hash.js";

const EMPTY = new Uint8Array(0);

function i2osp2(n: number): Uint8Array {
  return Uint8Array.of((n >>> 8) & 0xff, n & 0xff);
}

function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

export const HPKE_V1 = utf8("HPKE-v1");

export function labeledExtract(h: HashParams, suiteId: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array) {
  return createHmac(h.name, salt).update(HPKE_V1).update(suiteId).update(label).update(ikm).digest();
}

export function labeledExpand(
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
export class NodeHpkePrivateKey {
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

export class NodeHpkePublicKey {
  constructor(
    readonly kemId: number,
    readonly pk: Uint8Array,
  ) {}
}

export interface DhKem {
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

function x25519Kem(randomBytes: RandomBytes): DhKem {
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
    generate: () => importPrivate(randomBytes(32)),
    derive: (dkpPrk) => importPrivate(labeledExpand(SHA256, suiteId, dkpPrk, "sk", EMPTY, 32)),
    importPrivate,
    checkPublic(pk) {
      if (pk.length !== 32) throw new RangeError("X25519 public key must be 32 bytes");
    },
  };
}

function nistKem(id: number, curve: EcCurve, hash: HashParams, randomBytes: RandomBytes): DhKem {
  const suiteId = concat(utf8("KEM"), i2osp2(id));
  const wrap = (d: Uint8Array, ecdh: ECDH): NodeHpkePrivateKey =>
    // computeSecret rejects points off the curve and returns the x-coordinate at full field width.
    new NodeHpkePrivateKey(id, d, fresh(ecdh.getPublicKey()), (peer) => ecdh.computeSecret(peer));
  return {
    id,
    hash,
    secretLength: hash.length,
    publicLength: 1 + 2 * curve.size,
    generate() {
      const { d, ecdh } = ecGenerate(curve, randomBytes);
      return wrap(d, ecdh);
    },
    derive(dkpPrk) {
      // RFC 9180 §7.1.3 rejection sampling; the bitmask is 0xff for P-256 and P-384.
      for (let counter = 0; counter < 256; counter++) {
        const candidate = labeledExpand(hash, suiteId, dkpPrk, "candidate", Uint8Array.of(counter), curve.size);
        if (isValidScalar(curve, candidate)) return wrap(candidate, ecdhFor(curve, candidate));
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

/** The KEMs this provider implements, with key generation drawing on `randomBytes`. */
export function makeKems(randomBytes: RandomBytes): Partial<Record<KemAlgorithm, DhKem>> {
  return {
    "DHKEM-X25519-HKDF-SHA256": x25519Kem(randomBytes),
    "DHKEM-P256-HKDF-SHA256": nistKem(0x0010, P256, SHA256, randomBytes),
    "DHKEM-P384-HKDF-SHA384": nistKem(0x0011, P384, SHA384, randomBytes),
  };
}

/** Whether this provider implements the KEM. */
export function kemSupported(kem: KemAlgorithm): boolean {
  return kem === "DHKEM-X25519-HKDF-SHA256" || kem === "DHKEM-P256-HKDF-SHA256" || kem === "DHKEM-P384-HKDF-SHA384";
}

export function makeHpke(kem: DhKem, kdf: HashParams, aead: AeadParams): Hpke {
  const kemSuiteId = concat(utf8("KEM"), i2osp2(kem.id));
  const suiteId = concat(utf8("HPKE"), i2osp2(kem.id), i2osp2(kdf.hpkeKdfId), i2osp2(aead.id));
  // Base mode: psk and psk_id are empty, so psk_id_hash is a per-suite constant.

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
    const ks = hpkeKeySchedule(kdf, suiteId, aead, sharedSecret, info);
    // Single-shot use: sequence number 0, so the nonce is base_nonce itself.
    return { aead: () => ({ key: ks.key(), nonce: ks.nonce() }), export: ks.export };
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
    async deriveKeyPair(ikm) {
      return keyPair(kem.derive(labeledExtract(kem.hash, kemSuiteId, EMPTY, "dkp_prk", ikm)));
    },
    async generateKeyPair() {
      return keyPair(kem.generate());
    },
    ...hpkeAeadMethods(aead),
  };
}

/**
 * RFC 9180 §5.1 KeyScheduleS/R in base mode: the AEAD key and base nonce, and the exporter, from a KEM shared secret.
 * Shared by the Diffie-Hellman KEMs above and the post-quantum ones (node-crypto/pq.ts).
 */
export function hpkeKeySchedule(kdf: HashParams, suiteId: Uint8Array, aead: AeadParams, sharedSecret: Uint8Array, info: Uint8Array) {
  const pskIdHash = labeledExtract(kdf, suiteId, EMPTY, "psk_id_hash", EMPTY);
  const infoHash = labeledExtract(kdf, suiteId, EMPTY, "info_hash", info);
  const context = concat(Uint8Array.of(0x00), pskIdHash, infoHash);
  const secret = labeledExtract(kdf, suiteId, sharedSecret, "secret", EMPTY);
  return {
    key: () => labeledExpand(kdf, suiteId, secret, "key", context, aead.keyLength),
    nonce: () => labeledExpand(kdf, suiteId, secret, "base_nonce", context, NONCE_LENGTH),
    export: (exporterContext: Uint8Array, length: number) => {
      if (length > 255 * kdf.length) throw new RangeError("HPKE export length too large");
      const exporterSecret = labeledExpand(kdf, suiteId, secret, "exp", context, kdf.length);
      return labeledExpand(kdf, suiteId, exporterSecret, "sec", exporterContext, length);
    },
  };
}
