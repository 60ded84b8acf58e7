// Hash, HMAC and HKDF (RFC 5869) on node:crypto, in ts-mls's Hash and Kdf shapes.

import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { Hash, HashAlgorithm, Kdf, KdfAlgorithm } from "ts-mls";
import { copyBytes } from "../../util/bytes.js";

const EMPTY = new Uint8Array(0);

/**
 * A plain Uint8Array with its own ArrayBuffer. ts-mls zeroes some outputs in place, and node hands out
 * Buffers that may share a pool, so nothing we return may alias anything else.
 */
export const fresh = copyBytes;

export interface HashParams {
  readonly name: "sha256" | "sha384" | "sha512";
  readonly length: number;
  /** The HPKE KDF identifier of HKDF with this hash (RFC 9180 §7.2). */
  readonly hpkeKdfId: number;
}

export const SHA256: HashParams = { name: "sha256", length: 32, hpkeKdfId: 0x0001 };
export const SHA384: HashParams = { name: "sha384", length: 48, hpkeKdfId: 0x0002 };
export const SHA512: HashParams = { name: "sha512", length: 64, hpkeKdfId: 0x0003 };

export const HASHES: Record<HashAlgorithm, HashParams> = { "SHA-256": SHA256, "SHA-384": SHA384, "SHA-512": SHA512 };
export const KDFS: Record<KdfAlgorithm, HashParams> = {
  "HKDF-SHA256": SHA256,
  "HKDF-SHA384": SHA384,
  "HKDF-SHA512": SHA512,
};

export function hmac(h: HashParams, key: Uint8Array, data: Uint8Array): Buffer {
  return createHmac(h.name, key).update(data).digest();
}

export function hkdfExpand(h: HashParams, prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
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

export function makeHash(h: HashParams): Hash {
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

export function makeKdf(h: HashParams): Kdf {
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

