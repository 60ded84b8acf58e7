// The AEADs of the MLS suites (AES-GCM, ChaCha20-Poly1305) on node:crypto, single-shot, for HPKE.

import {
  createCipheriv,
  createDecipheriv,
  type CipherChaCha20Poly1305,
  type CipherGCM,
  type DecipherChaCha20Poly1305,
  type DecipherGCM,
} from "node:crypto";
import type { AeadAlgorithm } from "ts-mls";
import { concat } from "../../util/bytes.js";

export interface AeadParams {
  readonly name: "aes-128-gcm" | "aes-256-gcm" | "chacha20-poly1305";
  /** RFC 9180 §7.3 identifier. */
  readonly id: number;
  readonly keyLength: number;
}

export const NONCE_LENGTH = 12;
export const TAG_LENGTH = 16;

export const AEADS: Record<AeadAlgorithm, AeadParams> = {
  AES128GCM: { name: "aes-128-gcm", id: 0x0001, keyLength: 16 },
  AES256GCM: { name: "aes-256-gcm", id: 0x0002, keyLength: 32 },
  CHACHA20POLY1305: { name: "chacha20-poly1305", id: 0x0003, keyLength: 32 },
};

export function checkAeadInputs(a: AeadParams, key: Uint8Array, nonce: Uint8Array): void {
  // node would accept other GCM IV and key sizes and silently compute something else.
  if (key.length !== a.keyLength) throw new RangeError(`${a.name} key must be ${a.keyLength} bytes`);
  if (nonce.length !== NONCE_LENGTH) throw new RangeError(`${a.name} nonce must be ${NONCE_LENGTH} bytes`);
}

export function aeadSeal(a: AeadParams, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array) {
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

export function aeadOpen(a: AeadParams, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array) {
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

/** The AEAD half of ts-mls's Hpke shape, the same for every KEM. */
export function hpkeAeadMethods(aead: AeadParams): {
  encryptAead(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array | undefined, plaintext: Uint8Array): Promise<Uint8Array>;
  decryptAead(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array | undefined, ciphertext: Uint8Array): Promise<Uint8Array>;
  keyLength: number;
  nonceLength: number;
} {
  const empty = new Uint8Array(0);
  return {
    async encryptAead(key, nonce, aad, plaintext) {
      return aeadSeal(aead, key, nonce, aad ?? empty, plaintext);
    },
    async decryptAead(key, nonce, aad, ciphertext) {
      return aeadOpen(aead, key, nonce, aad ?? empty, ciphertext);
    },
    keyLength: aead.keyLength,
    nonceLength: NONCE_LENGTH,
  };
}
