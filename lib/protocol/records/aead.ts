// AEAD backends for the record layer: node:crypto (OpenSSL, the fast default) and @noble/ciphers
// (pure JS, an independent implementation the tests cross-check against).

import { createCipheriv, createDecipheriv } from "node:crypto";
import { gcm } from "@noble/ciphers/aes.js";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import type { AeadName } from "../../suites.js";

export type AeadBackend = "node" | "noble";

export const AEAD_TAG_LEN = 16;
export const AEAD_NONCE_LEN = 12;

export interface Aead {
  readonly name: AeadName;
  /** Returns ciphertext ‖ tag in a new buffer. */
  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /**
   * Writes ciphertext ‖ tag into `out` at `offset` and returns the number of bytes written
   * (plaintext.length + AEAD_TAG_LEN). `plaintext` may be the very bytes `out[offset..]` (in-place),
   * which lets a record be built in one allocation; any other overlap is not allowed.
   */
  sealInto(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Uint8Array, offset: number): number;
  /** Returns the plaintext, or null if authentication fails or the input is too short. Never throws for bad input. */
  open(nonce: Uint8Array, aad: Uint8Array, ciphertextAndTag: Uint8Array): Uint8Array | null;
  /** Zeroes this object's copy of the key; any later use throws. */
  dispose(): void;
}

const KEY_LEN: Readonly<Record<AeadName, number>> = {
  "aes-128-gcm": 16,
  "aes-256-gcm": 32,
  "chacha20-poly1305": 32,
};

export function aeadKeyLength(name: AeadName): number {
  const n = KEY_LEN[name];
  if (n === undefined) throw new TypeError(`unknown AEAD: ${String(name)}`);
  return n;
}

/**
 * Creates an AEAD keyed with a private copy of `key` (the caller may zero its own).
 * Throws TypeError for an unknown name, a wrong key length, or an unknown backend.
 */
export function createAead(name: AeadName, key: Uint8Array, backend: AeadBackend = "node"): Aead {
  const keyLen = aeadKeyLength(name);
  if (key.length !== keyLen) throw new TypeError(`${name} needs a ${keyLen}-byte key, got ${key.length}`);
  switch (backend) {
    case "node":
      return new NodeAead(name, key);
    case "noble":
      return new NobleAead(name, key);
    default:
      throw new TypeError(`unknown AEAD backend: ${String(backend)}`);
  }
}

// Nonce and AAD are built locally by the record layer, so a wrong nonce is a programming error, not bad input.
function checkNonce(nonce: Uint8Array): void {
  if (nonce.length !== AEAD_NONCE_LEN) throw new TypeError(`AEAD nonce must be ${AEAD_NONCE_LEN} bytes`);
}

function checkOut(out: Uint8Array, offset: number, len: number): void {
  if (!Number.isInteger(offset) || offset < 0 || offset + len > out.length) {
    throw new RangeError(`sealInto: ${len} bytes do not fit at offset ${offset} of a ${out.length}-byte buffer`);
  }
}

abstract class BaseAead implements Aead {
  constructor(readonly name: AeadName) {}

  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    const out = new Uint8Array(plaintext.length + AEAD_TAG_LEN);
    this.sealInto(nonce, aad, plaintext, out, 0);
    return out;
  }

  abstract sealInto(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Uint8Array, offset: number): number;
  abstract open(nonce: Uint8Array, aad: Uint8Array, ciphertextAndTag: Uint8Array): Uint8Array | null;
  abstract dispose(): void;
}

function usedAfterDispose(): never {
  throw new Error("AEAD used after dispose()");
}

class NodeAead extends BaseAead {
  // The raw key in a buffer of our own, so that dispose() can really zero it (a KeyObject cannot be wiped on
  // demand). Each record's cipher context copies it into OpenSSL, which cleanses that copy when the context is
  // freed. Passing bytes instead of a KeyObject measured the same per record (within noise).
  private key: Buffer | undefined;

  constructor(name: AeadName, key: Uint8Array) {
    super(name);
    this.key = Buffer.from(key);
  }

  private liveKey(): Buffer {
    return this.key ?? usedAfterDispose();
  }

  sealInto(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Uint8Array, offset: number): number {
    const key = this.liveKey();
    checkNonce(nonce);
    const n = plaintext.length;
    checkOut(out, offset, n + AEAD_TAG_LEN);
    // The two overloads (GCM, ChaCha20-Poly1305) differ only in their name literal types.
    const cipher = createCipheriv(this.name as "aes-128-gcm", key, nonce, { authTagLength: AEAD_TAG_LEN });
    cipher.setAAD(aad);
    // update() reads all of its input before we write, so in-place sealing is safe.
    const body = cipher.update(plaintext);
    const tail = cipher.final();
    out.set(body, offset);
    if (tail.length > 0) out.set(tail, offset + body.length);
    out.set(cipher.getAuthTag(), offset + n);
    return n + AEAD_TAG_LEN;
  }

  open(nonce: Uint8Array, aad: Uint8Array, ciphertextAndTag: Uint8Array): Uint8Array | null {
    const key = this.liveKey();
    checkNonce(nonce);
    if (ciphertextAndTag.length < AEAD_TAG_LEN) return null;
    const ctLen = ciphertextAndTag.length - AEAD_TAG_LEN;
    const decipher = createDecipheriv(this.name as "aes-128-gcm", key, nonce, { authTagLength: AEAD_TAG_LEN });
    decipher.setAAD(aad);
    decipher.setAuthTag(ciphertextAndTag.subarray(ctLen));
    const body = decipher.update(ciphertextAndTag.subarray(0, ctLen));
    try {
      decipher.final();
    } catch {
      // Unauthenticated plaintext must never leave this function.
      body.fill(0);
      return null;
    }
    // Same type from both backends (a view, no copy), so callers and deep-equal tests see plain Uint8Arrays.
    return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  }

  dispose(): void {
    this.key?.fill(0);
    this.key = undefined;
  }
}

class NobleAead extends BaseAead {
  private key: Uint8Array | undefined;

  constructor(name: AeadName, key: Uint8Array) {
    super(name);
    this.key = Uint8Array.from(key);
  }

  private liveKey(): Uint8Array {
    return this.key ?? usedAfterDispose();
  }

  sealInto(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Uint8Array, offset: number): number {
    const key = this.liveKey();
    checkNonce(nonce);
    const total = plaintext.length + AEAD_TAG_LEN;
    checkOut(out, offset, total);
    if (this.name === "chacha20-poly1305") {
      // noble's ChaCha writes straight into the output and supports exact in-place operation.
      chacha20poly1305(key, nonce, aad).encrypt(plaintext, out.subarray(offset, offset + total));
    } else {
      out.set(gcm(key, nonce, aad).encrypt(plaintext), offset);
    }
    return total;
  }

  open(nonce: Uint8Array, aad: Uint8Array, ciphertextAndTag: Uint8Array): Uint8Array | null {
    const key = this.liveKey();
    checkNonce(nonce);
    if (ciphertextAndTag.length < AEAD_TAG_LEN) return null;
    try {
      const cipher = this.name === "chacha20-poly1305" ? chacha20poly1305(key, nonce, aad) : gcm(key, nonce, aad);
      return cipher.decrypt(ciphertextAndTag);
    } catch {
      return null;
    }
  }

  dispose(): void {
    this.key?.fill(0);
    this.key = undefined;
  }
}
