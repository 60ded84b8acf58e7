// The TLS 1.3 record layer, RFC 8446 §5, unchanged (PROTOCOL.md, "Record layer unchanged"): framing of the byte
// stream into records,
// the unprotected opening flight (TLSPlaintext), and per-direction record protection (TLSCiphertext).

import { AEAD_NONCE_LEN, AEAD_TAG_LEN, createAead, type Aead, type AeadBackend } from "./aead.js";
import type { SuiteParams } from "../../suites.js";
import { MlsTlsError, type LocalErrorCode, mlsTlsError } from "../../errors.js";
import { nextTrafficSecret, trafficKeys, zeroize } from "../key-schedule.js";

export const ContentType = {
  change_cipher_spec: 20,
  alert: 21,
  handshake: 22,
  application_data: 23,
} as const;
export type ContentTypeName = keyof typeof ContentType;

/** Largest TLSPlaintext fragment and largest TLSInnerPlaintext content (RFC 8446 §5.1). */
export const MAX_PLAINTEXT = 16384;
/** Largest TLSCiphertext fragment (RFC 8446 §5.2). */
export const MAX_CIPHERTEXT = 16384 + 256;
export const RECORD_HEADER_LEN = 5;

/** legacy_record_version of every record we send and, after the first record, of every record we accept. */
export const RECORD_VERSION = 0x0303;
/** A peer's first record may carry 0x0301, as ClientHellos do for old middleboxes (RFC 8446 §5.1). */
export const LEGACY_RECORD_VERSION = 0x0301;

/** Records are 20..23; anything else in the type byte is not TLS 1.3. */
function isKnownType(type: number): boolean {
  return type >= ContentType.change_cipher_spec && type <= ContentType.application_data;
}

/** One framed record. `header` is the 5 header bytes (the AAD of a protected record). */
export interface TlsRecord {
  readonly type: number;
  readonly version: number;
  readonly fragment: Uint8Array;
  readonly header: Uint8Array;
}

const EMPTY = new Uint8Array(0);
/** Compact the chunk list once this many consumed slots have piled up at its front. */
const COMPACT_AFTER = 1024;

function hex16(v: number): string {
  return `0x${v.toString(16).padStart(4, "0")}`;
}

/**
 * Splits a byte stream into records, incrementally.
 *
 * Each header is checked as soon as its 5 bytes are present, before the body is waited for, so a peer cannot
 * make us buffer more than one maximal record plus whatever the transport hands over at once.
 * push() keeps references to the chunks it is given (records are returned as views into them where
 * possible), so a chunk must not be modified after it is pushed. Bytes from the peer never cause anything
 * but an MlsTlsError, and the first error is sticky.
 */
export class RecordDeframer {
  /** Accept legacy_record_version 0x0301 as well as 0x0303. The engine clears this after the first record. */
  acceptLegacyVersion = true;

  // Queue of unconsumed chunks: chunks[head] is the oldest, `offset` bytes of it already consumed.
  private chunks: Uint8Array[] = [];
  private head = 0;
  private offset = 0;
  private total = 0;
  /** Validated header of the record at the front of the queue. */
  private pending: { type: number; version: number; length: number } | undefined;
  private seenRecord = false;
  private error: MlsTlsError | undefined;
  // A record that straddles chunks is copied into a buffer of its own; once the caller has decrypted it
  // (recycle()), that buffer serves the next such record instead of a fresh allocation.
  private copied: Uint8Array | undefined;
  private spare: ArrayBuffer | undefined;

  /** Bytes pushed and not yet returned as records. */
  get buffered(): number {
    return this.total;
  }

  push(chunk: Uint8Array): void {
    if (this.error !== undefined) throw this.error;
    if (!(chunk instanceof Uint8Array)) throw new TypeError("RecordDeframer.push expects a Uint8Array");
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
    this.guard(() => this.parseHeader());
  }

  /** The next complete record, or null if more bytes are needed. */
  next(): TlsRecord | null {
    if (this.error !== undefined) throw this.error;
    // Inline rather than through guard(): this runs once per record, and a closure per call shows in profiles.
    try {
      const h = this.parseHeader();
      if (h === undefined || this.total < RECORD_HEADER_LEN + h.length) return null;
      this.pending = undefined;
      this.seenRecord = true;
      const bytes = this.take(RECORD_HEADER_LEN + h.length);
      return {
        type: h.type,
        version: h.version,
        header: bytes.subarray(0, RECORD_HEADER_LEN),
        fragment: bytes.subarray(RECORD_HEADER_LEN),
      };
    } catch (e) {
      throw this.setError(e);
    }
  }

  /**
   * The caller is done with `rec` and holds no reference into it (e.g. it was decrypted into new buffers): if the
   * deframer had to copy it, the copy's buffer may be reused. Optional; records it did not copy are ignored.
   */
  recycle(rec: TlsRecord): void {
    const c = this.copied;
    if (c === undefined || rec.fragment.buffer !== c.buffer) return;
    this.copied = undefined;
    this.spare = c.buffer as ArrayBuffer;
  }

  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw this.setError(e);
    }
  }

  private setError(e: unknown): MlsTlsError {
    // Anything else would be a bug here; it still surfaces as an MlsTlsError (internal_error).
    this.error = e instanceof MlsTlsError ? e : mlsTlsError("ERR_MLSTLS_INTERNAL", "record deframer failed", { cause: e });
    return this.error;
  }

  private parseHeader(): { type: number; version: number; length: number } | undefined {
    if (this.pending !== undefined) return this.pending;
    if (this.total < RECORD_HEADER_LEN) return undefined;
    const type = this.peek(0);
    const version = (this.peek(1) << 8) | this.peek(2);
    const length = (this.peek(3) << 8) | this.peek(4);

    // As OpenSSL: a first record whose version is not 3.x is another protocol (no alert); after that, or with an
    // unknown type but a TLS version, it is a TLS peer breaking the rules. (An SSL 2.0 hello sets the top bit.)
    if (!this.seenRecord && (version >> 8 !== 3 || (type & 0x80) !== 0)) this.rejectForeignProtocol(type, version & 0xff);
    if (!isKnownType(type)) {
      throw mlsTlsError("ERR_MLSTLS_UNEXPECTED_RECORD", `record of unknown content type ${type}`);
    }
    if (version !== RECORD_VERSION && !(this.acceptLegacyVersion && version === LEGACY_RECORD_VERSION)) {
      throw mlsTlsError(
        "ERR_MLSTLS_DECODE_ERROR",
        `record with legacy_record_version ${hex16(version)}; expected ${hex16(RECORD_VERSION)}`,
      );
    }
    // Outer types 20-22 are never protected in TLS 1.3, so they are TLSPlaintext with its smaller limit.
    const limit = type === ContentType.application_data ? MAX_CIPHERTEXT : MAX_PLAINTEXT;
    if (length > limit) {
      throw mlsTlsError("ERR_MLSTLS_RECORD_OVERFLOW", `record of ${length} bytes exceeds the limit of ${limit}`);
    }
    if (length === 0 && type === ContentType.handshake) throw mlsTlsError("ERR_MLSTLS_DECODE_ERROR", "zero-length handshake record");
    // As tlsfuzzer and BoGo expect: an empty alert record is unexpected_message, not decode_error.
    if (length === 0 && type === ContentType.alert) throw mlsTlsError("ERR_MLSTLS_UNEXPECTED_MESSAGE", "zero-length alert record");
    this.pending = { type, version, length };
    return this.pending;
  }

  /** Gives a clear diagnosis when the very first bytes are not TLS at all. */
  private rejectForeignProtocol(b0: number, b2: number): never {
    // SSL 2.0 header: 2-byte length with the top bit set, then msg_type 1 = CLIENT-HELLO.
    if ((b0 & 0x80) !== 0 && b2 === 0x01) {
      throw mlsTlsError(
        "ERR_MLSTLS_PROTOCOL_VERSION",
        "peer sent an SSL 2.0 ClientHello; this endpoint accepts only TLS 1.3 records",
      );
    }
    let text = "";
    for (let i = 0; i < RECORD_HEADER_LEN; i++) {
      const c = this.peek(i);
      if (c < 0x20 || c > 0x7e) break;
      text += String.fromCharCode(c);
    }
    const hint =
      text.length === RECORD_HEADER_LEN
        ? `plain text "${text}" (a plaintext protocol such as HTTP on the TLS port?)`
        : `bytes ${Array.from({ length: RECORD_HEADER_LEN }, (_, i) => this.peek(i).toString(16).padStart(2, "0")).join(" ")}`;
    throw mlsTlsError("ERR_MLSTLS_NOT_TLS", `first record does not look like TLS: it starts with ${hint}`);
  }

  /** Byte i of the buffered stream (i < total). Only used for the 5 header bytes. */
  private peek(i: number): number {
    let idx = this.head;
    let pos = this.offset + i;
    for (;;) {
      const c = this.chunks[idx]!;
      if (pos < c.length) return c[pos]!;
      pos -= c.length;
      idx++;
    }
  }

  /** Removes n buffered bytes: a view when they lie in one chunk, else one copy. */
  private take(n: number): Uint8Array {
    const first = this.chunks[this.head]!;
    let out: Uint8Array;
    if (first.length - this.offset >= n) {
      out = first.subarray(this.offset, this.offset + n);
      this.offset += n;
      if (this.offset === first.length) this.dropHead();
    } else {
      // Every byte is overwritten below, so no zero-fill; full size, so that recycle() can reuse it for any record.
      const ab = this.spare ?? (Buffer.allocUnsafeSlow(RECORD_HEADER_LEN + MAX_CIPHERTEXT).buffer as ArrayBuffer);
      this.spare = undefined;
      out = new Uint8Array(ab, 0, n);
      this.copied = out;
      let filled = 0;
      while (filled < n) {
        const c = this.chunks[this.head]!;
        const k = Math.min(c.length - this.offset, n - filled);
        out.set(c.subarray(this.offset, this.offset + k), filled);
        filled += k;
        this.offset += k;
        if (this.offset === c.length) this.dropHead();
      }
    }
    this.total -= n;
    return out;
  }

  private dropHead(): void {
    this.chunks[this.head] = EMPTY; // release the chunk for GC
    this.head++;
    this.offset = 0;
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    } else if (this.head >= COMPACT_AFTER && this.head * 2 >= this.chunks.length) {
      // Amortised O(1) per chunk: avoids shift() on long queues of tiny chunks.
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }
}

function checkRecordType(type: number): void {
  if (!Number.isInteger(type) || !isKnownType(type)) throw new TypeError(`not a TLS 1.3 content type: ${type}`);
}

function writeHeader(out: Uint8Array, offset: number, type: number, length: number): void {
  out[offset] = type;
  out[offset + 1] = RECORD_VERSION >>> 8;
  out[offset + 2] = RECORD_VERSION & 0xff;
  out[offset + 3] = length >>> 8;
  out[offset + 4] = length & 0xff;
}

/** One TLSPlaintext record (RFC 8446 §5.1), for the unprotected opening flight. */
export function encodePlaintextRecord(type: number, fragment: Uint8Array): Uint8Array {
  checkRecordType(type);
  if (fragment.length > MAX_PLAINTEXT) {
    throw new TypeError(`plaintext fragment of ${fragment.length} bytes exceeds ${MAX_PLAINTEXT}`);
  }
  if (fragment.length === 0 && (type === ContentType.handshake || type === ContentType.alert)) {
    throw new TypeError("RFC 8446 §5.1 forbids zero-length handshake and alert fragments");
  }
  const out = new Uint8Array(RECORD_HEADER_LEN + fragment.length);
  writeHeader(out, 0, type, fragment.length);
  out.set(fragment, RECORD_HEADER_LEN);
  return out;
}

/** `data` as consecutive TLSPlaintext records of at most MAX_PLAINTEXT bytes each, in one buffer. */
export function fragmentPlaintext(type: number, data: Uint8Array): Uint8Array {
  if (data.length <= MAX_PLAINTEXT) return encodePlaintextRecord(type, data);
  checkRecordType(type);
  const count = Math.ceil(data.length / MAX_PLAINTEXT);
  const out = new Uint8Array(data.length + count * RECORD_HEADER_LEN);
  let pos = 0;
  for (let src = 0; src < data.length; src += MAX_PLAINTEXT) {
    const piece = data.subarray(src, Math.min(src + MAX_PLAINTEXT, data.length));
    writeHeader(out, pos, type, piece.length);
    out.set(piece, pos + RECORD_HEADER_LEN);
    pos += RECORD_HEADER_LEN + piece.length;
  }
  return out;
}

/** The largest record seal() makes: a full fragment, the type byte and the tag, without padding. */
const FULL_RECORD = RECORD_HEADER_LEN + MAX_PLAINTEXT + 1 + AEAD_TAG_LEN;
/** Records at least this big come from the pool; smaller ones are not worth a full-size buffer. */
const POOL_MIN_RECORD = 4096;
/** Free buffers kept: about one bulk write's worth of records in flight, 1 MiB. */
const POOL_MAX_FREE = 64;

// Recycled buffers for big records. A fresh 16 KiB buffer per record costs more than the sealing copy itself
// (new memory, and V8 runs a young GC for every few dozen MiB of buffers allocated), so whoever knows that the
// transport has finished with a record hands its buffer back with releaseRecord(). Records hold only ciphertext.
// Ownership is the buffer's class rather than a set of buffers: tracking them in a Set (or WeakSet) made sealing
// ~10% (~5%) slower when nothing is released, as with in-memory engines or other transports.
class RecordBuffer extends ArrayBuffer {
  /** A record uses it: it may be released, once. */
  lent = false;
}
const poolFree: RecordBuffer[] = [];

function allocRecord(n: number): Buffer {
  if (n < POOL_MIN_RECORD || n > FULL_RECORD) return Buffer.allocUnsafeSlow(n);
  const ab = poolFree.pop() ?? new RecordBuffer(FULL_RECORD);
  ab.lent = true;
  return Buffer.from(ab, 0, n);
}

/**
 * Returns a record made by seal() for reuse. Only for a caller that knows nothing references the record any more
 * (e.g. a net.Socket has reported its write done); anything else is ignored, so releasing is always optional.
 */
export function releaseRecord(record: Uint8Array): void {
  const ab = record.buffer;
  if (!(ab instanceof RecordBuffer) || !ab.lent || record.byteOffset !== 0 || poolFree.length >= POOL_MAX_FREE) return;
  ab.lent = false;
  poolFree.push(ab);
}

/** RFC 8446 §5.5: AES-GCM keys must not protect more than 2^24.5 records. */
const AES_GCM_HARD_LIMIT = Math.floor(2 ** 24.5);
const DEFAULT_AES_GCM_LIMIT = 2n ** 24n - 2n ** 16n;
const DEFAULT_CHACHA_LIMIT = 2n ** 62n;
const SEQ_MAX = 2n ** 64n - 1n;
const TWO_32 = 0x1_0000_0000;

export interface RecordProtectionOptions {
  backend?: AeadBackend;
  /**
   * Records per key after which `updateDue` turns true, so the engine sends a KeyUpdate.
   * Default: 2^24 - 2^16 for AES-GCM (RFC 8446 §5.5 leaves a margin to 2^24.5), 2^62 for ChaCha20-Poly1305.
   */
  aeadLimit?: bigint;
  /**
   * The sequence number install() starts from instead of 0. Lets tests reach the end of the sequence space.
   * @internal
   */
  initialSequence?: bigint;
}

/**
 * Record protection for one direction (RFC 8446 §5.2-§5.3): traffic secret, AEAD, static IV, sequence number
 * and the first fatal error. It is the only code that touches sequence numbers.
 */
export class RecordProtection {
  readonly suite: SuiteParams;
  readonly aeadLimit: bigint;
  private readonly backend: AeadBackend;
  private readonly initialSequence: bigint;
  // aeadLimit as uint32 halves like the sequence number, so updateDue (checked before every record) needs no BigInt.
  private readonly limitHi: number;
  private readonly limitLo: number;
  /** AES-GCM: seal() refuses to exceed the RFC limit even if the engine missed `updateDue`. */
  private readonly gcmHardLimit: boolean;
  private aead: Aead | undefined;
  private secret: Uint8Array | undefined;
  private readonly iv = new Uint8Array(AEAD_NONCE_LEN);
  private readonly nonce = new Uint8Array(AEAD_NONCE_LEN);
  // The 64-bit sequence number as two uint32 halves: no BigInt arithmetic per record.
  private seqHi = 0;
  private seqLo = 0;
  private error: MlsTlsError | undefined;

  constructor(suite: SuiteParams, opts: RecordProtectionOptions = {}) {
    this.suite = suite;
    this.backend = opts.backend ?? "node";
    const isGcm = suite.aead !== "chacha20-poly1305";
    this.aeadLimit = opts.aeadLimit ?? (isGcm ? DEFAULT_AES_GCM_LIMIT : DEFAULT_CHACHA_LIMIT);
    if (this.aeadLimit <= 0n) throw new RangeError("aeadLimit must be positive");
    // A limit beyond the sequence space is never reached.
    this.limitHi = this.aeadLimit > SEQ_MAX ? Infinity : Number(this.aeadLimit >> 32n);
    this.limitLo = Number(this.aeadLimit & 0xffff_ffffn);
    this.gcmHardLimit = isGcm;
    this.initialSequence = opts.initialSequence ?? 0n;
    if (this.initialSequence < 0n || this.initialSequence > SEQ_MAX) {
      throw new RangeError("initialSequence must be a 64-bit unsigned integer");
    }
  }

  get installed(): boolean {
    return this.aead !== undefined;
  }

  /** Sequence number of the next record. */
  get sequence(): bigint {
    return (BigInt(this.seqHi) << 32n) | BigInt(this.seqLo);
  }

  /** A copy of the current traffic secret, for an explicit keylog hook only. */
  get trafficSecret(): Uint8Array | undefined {
    return this.secret === undefined ? undefined : Uint8Array.from(this.secret);
  }

  /** True once this key has protected `aeadLimit` records: time for a KeyUpdate. */
  get updateDue(): boolean {
    if (this.aead === undefined) return false;
    return this.seqHi > this.limitHi || (this.seqHi === this.limitHi && this.seqLo >= this.limitLo);
  }

  /** Keys this direction with a traffic secret; the old key material is zeroed and the sequence restarts. */
  install(trafficSecret: Uint8Array): void {
    if (trafficSecret.length !== this.suite.hashLen) {
      throw new TypeError(`traffic secret must be ${this.suite.hashLen} bytes, got ${trafficSecret.length}`);
    }
    const secret = Uint8Array.from(trafficSecret);
    const { key, iv } = trafficKeys(this.suite, secret);
    const aead = createAead(this.suite.aead, key, this.backend);
    zeroize(key);
    this.clearKeys();
    this.secret = secret;
    this.aead = aead;
    this.iv.set(iv);
    zeroize(iv);
    this.seqHi = Number(this.initialSequence >> 32n);
    this.seqLo = Number(this.initialSequence & 0xffff_ffffn);
  }

  /** KeyUpdate (RFC 8446 §7.2): ratchet the traffic secret and install it. */
  update(): void {
    const next = nextTrafficSecret(this.suite, this.requireSecret());
    this.install(next);
    zeroize(next);
  }

  /**
   * Builds one TLSCiphertext record (RFC 8446 §5.2): inner plaintext = content ‖ type ‖ `padding` zeros,
   * AAD = the record header, nonce = iv XOR sequence number. One buffer (often a recycled one), encrypted in place.
   */
  seal(type: number, content: Uint8Array, padding = 0): Uint8Array {
    if (this.error !== undefined) throw this.error;
    if (type !== ContentType.alert && type !== ContentType.handshake && type !== ContentType.application_data) {
      throw new TypeError(`cannot protect content type ${type}`);
    }
    if (content.length > MAX_PLAINTEXT) {
      throw new TypeError(`record content of ${content.length} bytes exceeds ${MAX_PLAINTEXT}`);
    }
    if (!Number.isInteger(padding) || padding < 0 || content.length + padding > MAX_PLAINTEXT) {
      throw new TypeError(`padding must be a non-negative integer with content + padding <= ${MAX_PLAINTEXT}`);
    }
    const aead = this.requireAead();
    this.checkSequence();
    if (this.gcmHardLimit && (this.seqHi !== 0 || this.seqLo >= AES_GCM_HARD_LIMIT)) {
      this.fail("ERR_MLSTLS_SEQUENCE_EXHAUSTED", "AES-GCM key reached the RFC 8446 §5.5 limit without a KeyUpdate");
    }
    const innerLen = content.length + 1 + padding;
    const fragmentLen = innerLen + AEAD_TAG_LEN;
    // Not zero-filled (a recycled buffer holds an old record): every byte is written below, the padding too.
    const out = allocRecord(RECORD_HEADER_LEN + fragmentLen);
    writeHeader(out, 0, ContentType.application_data, fragmentLen);
    out.set(content, RECORD_HEADER_LEN);
    out[RECORD_HEADER_LEN + content.length] = type;
    if (padding > 0) out.fill(0, RECORD_HEADER_LEN + content.length + 1, RECORD_HEADER_LEN + innerLen);
    const inner = out.subarray(RECORD_HEADER_LEN, RECORD_HEADER_LEN + innerLen);
    aead.sealInto(this.computeNonce(), out.subarray(0, RECORD_HEADER_LEN), inner, out, RECORD_HEADER_LEN);
    this.advance();
    return out;
  }

  /** Decrypts one TLSCiphertext record and strips its padding (RFC 8446 §5.2, §5.4). */
  open(rec: { readonly header: Uint8Array; readonly fragment: Uint8Array }): { type: number; content: Uint8Array } {
    if (this.error !== undefined) throw this.error;
    const aead = this.requireAead();
    const { header, fragment } = rec;
    if (header.length !== RECORD_HEADER_LEN) throw new TypeError(`record header must be ${RECORD_HEADER_LEN} bytes`);
    if (header[0] !== ContentType.application_data) {
      this.fail("ERR_MLSTLS_UNEXPECTED_RECORD", `protected record with outer content type ${header[0]}`);
    }
    if (fragment.length > MAX_CIPHERTEXT) {
      this.fail("ERR_MLSTLS_RECORD_OVERFLOW", `ciphertext of ${fragment.length} bytes exceeds ${MAX_CIPHERTEXT}`);
    }
    // Shorter than a tag plus the inner content type: it cannot authenticate.
    if (fragment.length < AEAD_TAG_LEN + 1) this.fail("ERR_MLSTLS_BAD_RECORD_MAC", "record too short to authenticate");
    this.checkSequence();
    const inner = aead.open(this.computeNonce(), header, fragment);
    if (inner === null) this.fail("ERR_MLSTLS_BAD_RECORD_MAC", "record failed authentication");
    this.advance();
    if (inner.length > MAX_PLAINTEXT + 1) {
      this.fail("ERR_MLSTLS_RECORD_OVERFLOW", `inner plaintext of ${inner.length} bytes exceeds ${MAX_PLAINTEXT + 1}`);
    }
    let i = inner.length - 1;
    while (i >= 0 && inner[i] === 0) i--;
    if (i < 0) this.fail("ERR_MLSTLS_UNEXPECTED_MESSAGE", "protected record has no content type (all zeros)");
    return { type: inner[i]!, content: inner.subarray(0, i) };
  }

  /** Zeroes all key material; the object is unusable until the next install(). */
  dispose(): void {
    this.clearKeys();
    this.nonce.fill(0);
  }

  private clearKeys(): void {
    this.aead?.dispose();
    this.aead = undefined;
    zeroize(this.secret);
    this.secret = undefined;
    this.iv.fill(0);
  }

  private requireAead(): Aead {
    if (this.aead === undefined) throw mlsTlsError("ERR_MLSTLS_INTERNAL", "record protection used before a key was installed");
    return this.aead;
  }

  private requireSecret(): Uint8Array {
    if (this.secret === undefined) throw mlsTlsError("ERR_MLSTLS_INTERNAL", "KeyUpdate before a key was installed");
    return this.secret;
  }

  /** Never wrap (RFC 8446 §5.3): 2^64-1 is never used, so the counter itself can never overflow. */
  private checkSequence(): void {
    if (this.seqHi === 0xffff_ffff && this.seqLo === 0xffff_ffff) {
      this.fail("ERR_MLSTLS_SEQUENCE_EXHAUSTED", "record sequence number exhausted; a new key is needed");
    }
  }

  private advance(): void {
    this.seqLo++;
    if (this.seqLo === TWO_32) {
      this.seqLo = 0;
      this.seqHi++;
    }
  }

  private computeNonce(): Uint8Array {
    const n = this.nonce;
    n.set(this.iv);
    // RFC 8446 §5.3: the 64-bit sequence number, big-endian, left-padded to the IV length and XORed in.
    const hi = this.seqHi;
    const lo = this.seqLo;
    n[4] ^= hi >>> 24;
    n[5] ^= (hi >>> 16) & 0xff;
    n[6] ^= (hi >>> 8) & 0xff;
    n[7] ^= hi & 0xff;
    n[8] ^= lo >>> 24;
    n[9] ^= (lo >>> 16) & 0xff;
    n[10] ^= (lo >>> 8) & 0xff;
    n[11] ^= lo & 0xff;
    return n;
  }

  private fail(code: LocalErrorCode, message: string): never {
    this.error = mlsTlsError(code, message);
    throw this.error;
  }
}
