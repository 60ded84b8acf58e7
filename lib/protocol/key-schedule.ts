// The TLS 1.3 key schedule pieces the record layer needs (RFC 8446 §7.1-§7.3), run with the MLS suite's hash
// (PROTOCOL.md, "The MLS suite sets the record protection"). The per-epoch master secret comes from the MLS exporter;
// everything below it is plain TLS 1.3.

import { createHash, createHmac } from "node:crypto";
import type { HashName, SuiteParams } from "../suites.js";
import { AEAD_NONCE_LEN } from "./records/aead.js";

/** MLS exporter label for the per-epoch master secret (RFC 9420 §8.5 MLS-Exporter). */
export const EXPORTER_MASTER_LABEL = "mlstls master";

/** RFC 8446 §7.1: every HkdfLabel.label starts with this. */
const LABEL_PREFIX = "tls13 ";

/** Domain tag of connectionContext(); versioned so a format change can never collide with the old one. */
const CONNECTION_CONTEXT_TAG = "mlstls connection v2";
const CONNECTION_RANDOM_LEN = 32;

const HASH_LEN: Readonly<Record<HashName, number>> = { sha256: 32, sha384: 48, sha512: 64 };
const EMPTY = new Uint8Array(0);
const ascii = new TextEncoder();

export function hashLength(hash: HashName): number {
  const n = HASH_LEN[hash];
  if (n === undefined) throw new TypeError(`unknown hash: ${String(hash)}`);
  return n;
}

function toU8(b: Buffer): Uint8Array {
  // A view, not a copy: Buffer is already a Uint8Array; normalising the type keeps callers' deep-equals simple.
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** HKDF-Extract (RFC 5869 §2.2). An empty salt means Nh zero bytes, as RFC 5869 specifies. */
export function hkdfExtract(hash: HashName, salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  const key = salt.length === 0 ? new Uint8Array(hashLength(hash)) : salt;
  return toU8(createHmac(hash, key).update(ikm).digest());
}

/** HKDF-Expand (RFC 5869 §2.3). */
export function hkdfExpand(hash: HashName, prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const nh = hashLength(hash);
  if (!Number.isInteger(length) || length < 0 || length > 255 * nh) {
    throw new RangeError(`HKDF-Expand length must be 0..${255 * nh}, got ${length}`);
  }
  const out = new Uint8Array(length);
  let prev: Uint8Array = EMPTY;
  const counter = new Uint8Array(1);
  for (let pos = 0, i = 1; pos < length; i++) {
    counter[0] = i;
    const block = createHmac(hash, prk).update(prev).update(info).update(counter).digest();
    const take = Math.min(nh, length - pos);
    out.set(take === nh ? block : block.subarray(0, take), pos);
    pos += take;
    if (prev !== EMPTY) prev.fill(0);
    prev = block;
  }
  if (prev !== EMPTY) prev.fill(0);
  return out;
}

/**
 * The HkdfLabel structure of RFC 8446 §7.1:
 * `struct { uint16 length; opaque label<7..255> = "tls13 " + Label; opaque context<0..255>; }`.
 */
export function encodeHkdfLabel(label: string, context: Uint8Array, length: number): Uint8Array {
  const fullLabel = ascii.encode(LABEL_PREFIX + label);
  if (fullLabel.length > 255) throw new RangeError(`HKDF label too long: "${label}"`);
  if (context.length > 255) throw new RangeError(`HKDF label context too long: ${context.length} bytes`);
  if (!Number.isInteger(length) || length < 0 || length > 0xffff) {
    throw new RangeError(`HKDF label length must be a uint16, got ${length}`);
  }
  const out = new Uint8Array(2 + 1 + fullLabel.length + 1 + context.length);
  out[0] = length >>> 8;
  out[1] = length & 0xff;
  out[2] = fullLabel.length;
  out.set(fullLabel, 3);
  out[3 + fullLabel.length] = context.length;
  out.set(context, 4 + fullLabel.length);
  return out;
}

/** HKDF-Expand-Label (RFC 8446 §7.1), with the "tls13 " prefix. */
export function hkdfExpandLabel(
  hash: HashName,
  secret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
): Uint8Array {
  return hkdfExpand(hash, secret, encodeHkdfLabel(label, context, length), length);
}

/** Derive-Secret (RFC 8446 §7.1): context = Transcript-Hash(messages). */
export function deriveSecret(hash: HashName, secret: Uint8Array, label: string, messages: Uint8Array): Uint8Array {
  const transcriptHash = createHash(hash).update(messages).digest();
  return hkdfExpandLabel(hash, secret, label, transcriptHash, hashLength(hash));
}

/** RFC 8446 §7.3: the record key and IV of one traffic secret. */
export function trafficKeys(suite: SuiteParams, trafficSecret: Uint8Array): { key: Uint8Array; iv: Uint8Array } {
  return {
    key: hkdfExpandLabel(suite.hash, trafficSecret, "key", EMPTY, suite.keyLen),
    iv: hkdfExpandLabel(suite.hash, trafficSecret, "iv", EMPTY, AEAD_NONCE_LEN),
  };
}

/** RFC 8446 §7.2: application_traffic_secret_N+1, used by KeyUpdate. */
export function nextTrafficSecret(suite: SuiteParams, secret: Uint8Array): Uint8Array {
  return hkdfExpandLabel(suite.hash, secret, "traffic upd", EMPTY, suite.hashLen);
}

/**
 * The two directional application traffic secrets of one epoch (PROTOCOL.md, "The MLS suite sets the record
 * protection").
 * There is no TLS transcript: the MLS epoch (through the exporter) already binds the handshake, so the
 * context is Nh zero bytes. This is the convention of the independent implementation's vectors.
 */
export function applicationTrafficSecrets(
  suite: SuiteParams,
  masterSecret: Uint8Array,
): { client: Uint8Array; server: Uint8Array } {
  const context = new Uint8Array(suite.hashLen);
  return {
    client: hkdfExpandLabel(suite.hash, masterSecret, "c ap traffic", context, suite.hashLen),
    server: hkdfExpandLabel(suite.hash, masterSecret, "s ap traffic", context, suite.hashLen),
  };
}

/**
 * The MLS-Exporter context that binds both endpoints' fresh randomness and the opening handshake into every
 * epoch's master secret (PROTOCOL.md, "Fresh randoms in every key" and "Suite negotiation"), so no two connections
 * ever share a key even when they share an MLS epoch, and an altered offer or a forged RetryRequest makes the two
 * ends derive different keys:
 *
 *   struct {
 *     opaque tag<1..255> = "mlstls connection v2";
 *     opaque client_random<32..32>;   // initiator's random
 *     opaque server_random<32..32>;   // responder's random
 *     opaque transcript_hash<1..255>; // Hash(ClientHello [, RetryRequest, ClientHello]) or Hash(Resumption)
 *   } ConnectionContext;              // every length prefix is one byte
 *
 * master_secret = MLS-Exporter(EXPORTER_MASTER_LABEL, ConnectionContext, Nh).
 * Length prefixes make the encoding injective; the tag separates it from any other use of the exporter.
 */
export function connectionContext(clientRandom: Uint8Array, serverRandom: Uint8Array, transcriptHash: Uint8Array): Uint8Array {
  if (clientRandom.length !== CONNECTION_RANDOM_LEN || serverRandom.length !== CONNECTION_RANDOM_LEN) {
    throw new TypeError(`connection randoms must be ${CONNECTION_RANDOM_LEN} bytes each`);
  }
  if (transcriptHash.length === 0 || transcriptHash.length > 255) throw new TypeError("transcript hash must be 1 to 255 bytes");
  const tag = ascii.encode(CONNECTION_CONTEXT_TAG);
  const out = new Uint8Array(1 + tag.length + 2 * (1 + CONNECTION_RANDOM_LEN) + 1 + transcriptHash.length);
  let off = 0;
  out[off++] = tag.length;
  out.set(tag, off);
  off += tag.length;
  out[off++] = CONNECTION_RANDOM_LEN;
  out.set(clientRandom, off);
  off += CONNECTION_RANDOM_LEN;
  out[off++] = CONNECTION_RANDOM_LEN;
  out.set(serverRandom, off);
  off += CONNECTION_RANDOM_LEN;
  out[off++] = transcriptHash.length;
  out.set(transcriptHash, off);
  return out;
}

/** Overwrites secrets that are no longer needed. Best effort: JS cannot reach copies the engine made. */
export function zeroize(...bufs: (Uint8Array | undefined)[]): void {
  for (const b of bufs) b?.fill(0);
}
