// Handshake and alert messages (draft §4.1, RFC 8446 §4 framing and §6 alerts).
// Every decoder consumes exactly its input: missing or trailing bytes are decode_error.

import { MlsTlsError, mlsTlsError } from "../errors.js";
import { concat } from "../util/bytes.js";

/**
 * Handshake message types. KeyUpdate is TLS 1.3's own (24). The draft's new messages use code points from the
 * TLS HandshakeType private-use range (224-255), so no vanilla TLS message type is reused; a vanilla ClientHello
 * (type 1) or ServerHello (type 2) is therefore recognisable and answered with protocol_version.
 */
export const HandshakeType = {
  tls_client_hello: 1, // vanilla TLS; never sent by us
  tls_server_hello: 2, // vanilla TLS; never sent by us
  key_update: 24,
  mls_client_hello: 0xe0,
  mls_server_hello: 0xe1,
  resumption: 0xe2,
  resumption_accept: 0xe3,
  connection_update: 0xe4,
  epoch_key_update: 0xe5,
  retry_request: 0xe6,
} as const;
export type HandshakeTypeName = keyof typeof HandshakeType;

const handshakeNames = new Map<number, string>(Object.entries(HandshakeType).map(([k, v]) => [v, k]));
export function handshakeTypeName(t: number): string {
  return handshakeNames.get(t) ?? `unknown_handshake_${t}`;
}

export const RANDOM_LEN = 32;
export const HANDSHAKE_HEADER_LEN = 4;
/** Largest handshake message body we accept. A KeyPackage or Welcome with an X.509 chain stays far below it. */
export const MAX_HANDSHAKE_MESSAGE = 1 << 16;

export const KeyUpdateRequest = { update_not_requested: 0, update_requested: 1 } as const;
/** Most MLS suites a ClientHello may list, and most KeyPackages it may carry (PROTOCOL.md, "Suite negotiation"). */
export const MAX_OFFERED_SUITES = 32;
export const MAX_OFFERED_KEY_PACKAGES = 4;

export type HandshakeMessage =
  /** `suites`: every MLS suite the client accepts, in its order of preference; `keyPackages`: one MLSMessage per suite for some of them. */
  | { type: "client_hello"; random: Uint8Array; suites: readonly number[]; keyPackages: readonly Uint8Array[] }
  | { type: "server_hello"; random: Uint8Array; suite: number; welcome: Uint8Array }
  /** The server's choice of a suite the client listed without a KeyPackage (TLS 1.3's HelloRetryRequest). */
  | { type: "retry_request"; suite: number }
  | { type: "resumption"; random: Uint8Array; commit: Uint8Array }
  | { type: "resumption_accept"; random: Uint8Array }
  | { type: "connection_update"; commit: Uint8Array }
  | { type: "epoch_key_update"; epoch: bigint }
  | { type: "key_update"; updateRequested: boolean };

function decodeError(what: string): MlsTlsError {
  return mlsTlsError("ERR_MLSTLS_DECODE_ERROR", `malformed ${what}`);
}

function frame(type: number, body: Uint8Array): Uint8Array {
  if (body.length >= 1 << 24) throw mlsTlsError("ERR_MLSTLS_ENCODE_ERROR", "handshake message too large");
  const out = new Uint8Array(HANDSHAKE_HEADER_LEN + body.length);
  out[0] = type;
  out[1] = (body.length >>> 16) & 0xff;
  out[2] = (body.length >>> 8) & 0xff;
  out[3] = body.length & 0xff;
  out.set(body, HANDSHAKE_HEADER_LEN);
  return out;
}

function checkRandom(r: Uint8Array): void {
  if (r.length !== RANDOM_LEN) throw mlsTlsError("ERR_MLSTLS_ENCODE_ERROR", `random must be ${RANDOM_LEN} bytes`);
}

/** Encodes a handshake message with its 4-byte header (msg_type u8, length u24). */
export function encodeHandshake(msg: HandshakeMessage): Uint8Array {
  switch (msg.type) {
    case "client_hello": {
      checkRandom(msg.random);
      if (msg.suites.length === 0 || msg.suites.length > MAX_OFFERED_SUITES) throw encodeError("ClientHello suite list length");
      if (msg.keyPackages.length === 0 || msg.keyPackages.length > MAX_OFFERED_KEY_PACKAGES) {
        throw encodeError("ClientHello KeyPackage count");
      }
      const parts: Uint8Array[] = [msg.random, Uint8Array.of(msg.suites.length)];
      for (const s of msg.suites) parts.push(u16(s));
      parts.push(Uint8Array.of(msg.keyPackages.length));
      for (const kp of msg.keyPackages) parts.push(u24(kp.length), kp);
      return frame(HandshakeType.mls_client_hello, concat(...parts));
    }
    case "server_hello":
      checkRandom(msg.random);
      return frame(HandshakeType.mls_server_hello, concat(msg.random, u16(msg.suite), msg.welcome));
    case "retry_request":
      return frame(HandshakeType.retry_request, u16(msg.suite));
    case "resumption":
      checkRandom(msg.random);
      return frame(HandshakeType.resumption, concat(msg.random, msg.commit));
    case "resumption_accept":
      checkRandom(msg.random);
      return frame(HandshakeType.resumption_accept, msg.random);
    case "connection_update":
      return frame(HandshakeType.connection_update, msg.commit);
    case "epoch_key_update": {
      if (msg.epoch < 0n || msg.epoch > 0xffffffffn) throw mlsTlsError("ERR_MLSTLS_ENCODE_ERROR", "epoch does not fit the uint32 of EpochKeyUpdate");
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, Number(msg.epoch));
      return frame(HandshakeType.epoch_key_update, b);
    }
    case "key_update":
      return frame(HandshakeType.key_update, Uint8Array.of(msg.updateRequested ? 1 : 0));
  }
}

function u16(v: number): Uint8Array {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw encodeError("uint16 field");
  return Uint8Array.of(v >>> 8, v & 0xff);
}

function u24(v: number): Uint8Array {
  if (v >= 1 << 24) throw encodeError("uint24 length");
  return Uint8Array.of((v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}

/** An encoder given a value it cannot put on the wire: our bug or a misuse, never the peer's. */
function encodeError(what: string): MlsTlsError {
  return mlsTlsError("ERR_MLSTLS_ENCODE_ERROR", `cannot encode ${what}`);
}

/** ClientHello body after the random: suites<u8 count of u16>, key_packages<u8 count of (u24 length, MLSMessage)>. */
function decodeClientHello(body: Uint8Array): HandshakeMessage {
  const bad = (): MlsTlsError => decodeError("ClientHello");
  let off = RANDOM_LEN;
  const need = (n: number): void => {
    if (off + n > body.length) throw bad();
  };
  need(1);
  const nSuites = body[off++]!;
  if (nSuites === 0 || nSuites > MAX_OFFERED_SUITES) throw bad();
  need(2 * nSuites);
  const suites: number[] = [];
  for (let i = 0; i < nSuites; i++, off += 2) suites.push((body[off]! << 8) | body[off + 1]!);
  if (new Set(suites).size !== suites.length) throw mlsTlsError("ERR_MLSTLS_ILLEGAL_PARAMETER", "ClientHello lists a suite twice");
  need(1);
  const nKps = body[off++]!;
  if (nKps === 0 || nKps > MAX_OFFERED_KEY_PACKAGES) throw bad();
  const keyPackages: Uint8Array[] = [];
  for (let i = 0; i < nKps; i++) {
    need(3);
    const len = (body[off]! << 16) | (body[off + 1]! << 8) | body[off + 2]!;
    off += 3;
    if (len === 0) throw bad();
    need(len);
    keyPackages.push(body.slice(off, off + len));
    off += len;
  }
  if (off !== body.length) throw bad();
  return { type: "client_hello", random: body.slice(0, RANDOM_LEN), suites, keyPackages };
}

/**
 * Decodes one handshake message body of the given type. The MLSMessage fields are kept as opaque bytes
 * spanning the rest of the body; the MLS session module checks that they decode exactly.
 */
export function decodeHandshakeBody(type: number, body: Uint8Array): HandshakeMessage {
  const withRandom = (name: string): [Uint8Array, Uint8Array] => {
    if (body.length <= RANDOM_LEN) throw decodeError(name);
    return [body.slice(0, RANDOM_LEN), body.slice(RANDOM_LEN)];
  };
  switch (type) {
    case HandshakeType.mls_client_hello:
      if (body.length <= RANDOM_LEN) throw decodeError("ClientHello");
      return decodeClientHello(body);
    case HandshakeType.mls_server_hello: {
      if (body.length <= RANDOM_LEN + 2) throw decodeError("ServerHello");
      const suite = (body[RANDOM_LEN]! << 8) | body[RANDOM_LEN + 1]!;
      return { type: "server_hello", random: body.slice(0, RANDOM_LEN), suite, welcome: body.slice(RANDOM_LEN + 2) };
    }
    case HandshakeType.retry_request:
      if (body.length !== 2) throw decodeError("RetryRequest");
      return { type: "retry_request", suite: (body[0]! << 8) | body[1]! };
    case HandshakeType.resumption: {
      const [random, commit] = withRandom("Resumption");
      return { type: "resumption", random, commit };
    }
    case HandshakeType.resumption_accept:
      if (body.length !== RANDOM_LEN) throw decodeError("ResumptionAccept");
      return { type: "resumption_accept", random: body.slice() };
    case HandshakeType.connection_update:
      if (body.length === 0) throw decodeError("ConnectionUpdate");
      return { type: "connection_update", commit: body.slice() };
    case HandshakeType.epoch_key_update:
      if (body.length !== 4) throw decodeError("EpochKeyUpdate");
      return {
        type: "epoch_key_update",
        epoch: BigInt(new DataView(body.buffer, body.byteOffset, 4).getUint32(0)),
      };
    case HandshakeType.key_update:
      if (body.length !== 1) throw decodeError("KeyUpdate");
      // RFC 8446 §4.6.3: any other value is illegal_parameter.
      if (body[0]! > 1) throw mlsTlsError("ERR_MLSTLS_ILLEGAL_PARAMETER", "KeyUpdate request_update out of range");
      return { type: "key_update", updateRequested: body[0] === 1 };
    case HandshakeType.tls_client_hello:
    case HandshakeType.tls_server_hello:
      throw mlsTlsError(
        "ERR_MLSTLS_VANILLA_TLS_PEER",
        "peer speaks vanilla TLS 1.3, not MLS-TLS (it sent a TLS " +
          (type === 1 ? "ClientHello" : "ServerHello") +
          "); MLS-TLS runs on its own port",
      );
    default:
      throw mlsTlsError("ERR_MLSTLS_UNEXPECTED_MESSAGE", `unknown handshake message type ${type}`);
  }
}

/** Decodes exactly one complete handshake message (header included). */
export function decodeHandshake(bytes: Uint8Array): HandshakeMessage {
  if (bytes.length < HANDSHAKE_HEADER_LEN) throw decodeError("handshake header");
  const len = (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!;
  if (bytes.length !== HANDSHAKE_HEADER_LEN + len) throw decodeError("handshake message length");
  return decodeHandshakeBody(bytes[0]!, bytes.subarray(HANDSHAKE_HEADER_LEN));
}

/**
 * Reassembles handshake messages from handshake records (RFC 8446 §5.1: messages may be split across
 * records and several may share a record). The length is checked from the header before the body is buffered.
 */
export class HandshakeReader {
  private chunks: Uint8Array[] = [];
  private size = 0;

  push(fragment: Uint8Array): void {
    if (fragment.length === 0) return;
    this.chunks.push(fragment);
    this.size += fragment.length;
  }

  /** Bytes of a message not yet complete (or of messages not yet taken). */
  get buffered(): number {
    return this.size;
  }

  /** Returns the next complete message as (type, body), or null if more bytes are needed. */
  next(): { type: number; body: Uint8Array } | null {
    if (this.size < HANDSHAKE_HEADER_LEN) return null;
    const head = this.peek(HANDSHAKE_HEADER_LEN);
    const len = (head[1]! << 16) | (head[2]! << 8) | head[3]!;
    if (len > MAX_HANDSHAKE_MESSAGE) {
      throw mlsTlsError(
        "ERR_MLSTLS_HANDSHAKE_MESSAGE_TOO_LARGE",
        `handshake message of ${len} bytes exceeds the limit of ${MAX_HANDSHAKE_MESSAGE}`,
      );
    }
    if (this.size < HANDSHAKE_HEADER_LEN + len) return null;
    const all = this.take(HANDSHAKE_HEADER_LEN + len);
    return { type: all[0]!, body: all.subarray(HANDSHAKE_HEADER_LEN) };
  }

  private peek(n: number): Uint8Array {
    const first = this.chunks[0]!;
    if (first.length >= n) return first.subarray(0, n);
    return this.gather(n, false);
  }

  private take(n: number): Uint8Array {
    return this.gather(n, true);
  }

  private gather(n: number, consume: boolean): Uint8Array {
    const out = new Uint8Array(n);
    let off = 0;
    let i = 0;
    while (off < n) {
      const c = this.chunks[i]!;
      const k = Math.min(c.length, n - off);
      out.set(c.subarray(0, k), off);
      off += k;
      if (consume) {
        if (k === c.length) {
          this.chunks.shift();
        } else {
          this.chunks[0] = c.subarray(k);
        }
      } else {
        i++;
      }
    }
    if (consume) this.size -= n;
    return out;
  }
}

// ---- Alerts (RFC 8446 §6) ----

export const AlertLevel = { warning: 1, fatal: 2 } as const;

export interface AlertMessage {
  level: number;
  description: number;
}

export function encodeAlert(description: number, level: number = description === 0 ? 1 : 2): Uint8Array {
  return Uint8Array.of(level, description);
}

/** Alerts are exactly two bytes; they may be neither fragmented nor coalesced (RFC 8446 §5.1). */
export function decodeAlert(bytes: Uint8Array): AlertMessage {
  if (bytes.length !== 2) throw decodeError("alert");
  const level = bytes[0]!;
  if (level !== AlertLevel.warning && level !== AlertLevel.fatal) throw decodeError("alert level");
  return { level, description: bytes[1]! };
}

/** A handshake message for the trace: its type and public fields, never key material. */
export function describeHandshake(m: HandshakeMessage): string {
  switch (m.type) {
    case "client_hello":
      return `ClientHello (suites ${m.suites.join(",")}; KeyPackages ${m.keyPackages.length})`;
    case "server_hello":
      return `ServerHello (suite ${m.suite}, Welcome ${m.welcome.length} bytes)`;
    case "retry_request":
      return `RetryRequest (suite ${m.suite})`;
    case "resumption":
      return `Resumption (commit ${m.commit.length} bytes)`;
    case "resumption_accept":
      return "ResumptionAccept";
    case "connection_update":
      return `ConnectionUpdate (commit ${m.commit.length} bytes)`;
    case "epoch_key_update":
      return `EpochKeyUpdate (epoch ${m.epoch})`;
    case "key_update":
      return `KeyUpdate${m.updateRequested ? " (update_requested)" : ""}`;
  }
}
