// MLS-TLS records and handshake messages of one TCP connection, for `mlstls decode`: record framing
// (PROTOCOL.md §1), the handshake messages of §2 and their MLS content (mls-wire.ts), alerts, and, with a key log
// (PROTOCOL.md "Key log"), decryption of the protected records.
//
// Which secret protects a record: each direction's secrets are used in the order of their index n
// (CLIENT_TRAFFIC_SECRET_<n> / SERVER_TRAFFIC_SECRET_<n>), every install restarting the sequence number at 0.
// A switch happens only right after a record of that direction carrying ConnectionUpdate, EpochKeyUpdate or
// KeyUpdate, but which of those switch depends on the state machines (PROTOCOL.md §5); rather than replaying them,
// the decoder tries secret n at the next sequence number and, if the record does not authenticate, secret n+1
// (then n+2) at sequence 0. AEAD authentication makes the choice unambiguous.

import { type Aead, createAead, SUITES, suiteById, type SuiteParams, trafficKeys } from "./internals.js";
import { describeKeyPackage, describePrivateMessage, describeWelcome, suiteLabel } from "./mls-wire.js";
import { DecodeError, Reader, hex, preview } from "./reader.js";

export const CONTENT_TYPE_NAMES: Record<number, string> = {
  20: "change_cipher_spec",
  21: "alert",
  22: "handshake",
  23: "application_data",
};

export const ALERT_NAMES: Record<number, string> = {
  0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 22: "record_overflow", 40: "handshake_failure",
  42: "bad_certificate", 43: "unsupported_certificate", 44: "certificate_revoked", 45: "certificate_expired",
  46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied", 50: "decode_error",
  51: "decrypt_error", 70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
  86: "inappropriate_fallback", 90: "user_canceled", 109: "missing_extension", 110: "unsupported_extension",
  112: "unrecognized_name", 113: "bad_certificate_status_response", 115: "unknown_psk_identity",
  116: "certificate_required", 120: "no_application_protocol",
};

export const HANDSHAKE_NAMES: Record<number, string> = {
  1: "TLS ClientHello (vanilla TLS)",
  2: "TLS ServerHello (vanilla TLS)",
  24: "KeyUpdate",
  0xe0: "ClientHello",
  0xe1: "ServerHello",
  0xe2: "Resumption",
  0xe3: "ResumptionAccept",
  0xe4: "ConnectionUpdate",
  0xe5: "EpochKeyUpdate",
  0xe6: "RetryRequest",
};

// ---------------------------------------------------------------------------------------------------------------
// Key log

export interface KeyLogEntry {
  client: Map<number, Uint8Array>;
  server: Map<number, Uint8Array>;
  exporter?: Uint8Array;
}

export interface KeyLog {
  /** By client random, lower-case hex. */
  connections: Map<string, KeyLogEntry>;
  warnings: string[];
}

const KEYLOG_LINE = /^(CLIENT_TRAFFIC_SECRET|SERVER_TRAFFIC_SECRET)_(\d+) ([0-9a-fA-F]{64}) ([0-9a-fA-F]+)$/;
const EXPORTER_LINE = /^EXPORTER_SECRET ([0-9a-fA-F]{64}) ([0-9a-fA-F]+)$/;

/**
 * NSS key log text as mlstls writes it. Blank lines and `#` comments are skipped; lines with other labels (e.g. a
 * vanilla TLS 1.3 key log in the same file) are ignored; malformed mlstls lines become warnings.
 */
export function parseKeyLog(text: string): KeyLog {
  const connections = new Map<string, KeyLogEntry>();
  const warnings: string[] = [];
  const entry = (random: string): KeyLogEntry => {
    let e = connections.get(random);
    if (e === undefined) {
      e = { client: new Map(), server: new Map() };
      connections.set(random, e);
    }
    return e;
  };
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    let m = KEYLOG_LINE.exec(line);
    if (m !== null) {
      const secret = Buffer.from(m[4]!, "hex");
      if (m[4]!.length % 2 !== 0 || ![32, 48, 64].includes(secret.length)) {
        warnings.push(`key log line ${i + 1}: a secret of ${m[4]!.length / 2} bytes (expected 32, 48 or 64)`);
        return;
      }
      const n = Number(m[2]);
      if (!Number.isSafeInteger(n)) {
        warnings.push(`key log line ${i + 1}: generation out of range`);
        return;
      }
      entry(m[3]!.toLowerCase())[m[1] === "CLIENT_TRAFFIC_SECRET" ? "client" : "server"].set(n, new Uint8Array(secret));
      return;
    }
    m = EXPORTER_LINE.exec(line);
    if (m !== null) {
      entry(m[1]!.toLowerCase()).exporter = new Uint8Array(Buffer.from(m[2]!, "hex"));
      return;
    }
    if (/^(CLIENT|SERVER)_TRAFFIC_SECRET_|^EXPORTER_SECRET /.test(line)) warnings.push(`key log line ${i + 1}: malformed: ${line.slice(0, 60)}`);
    // Other labels (vanilla TLS key logs, e.g. CLIENT_HANDSHAKE_TRAFFIC_SECRET) are not ours: ignored.
  });
  return { connections, warnings };
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding one connection

export type Dir = "c2s" | "s2c";

export interface RecordEvent {
  dir: Dir;
  /** Stream offset of the record's first byte, and the packet that completed it (for ordering and display). */
  offset: number;
  packet: number;
  lines: string[];
}

export interface ConnectionInfo {
  clientRandom?: string;
  suite?: number;
  keysFound: boolean;
  decrypted: number;
  undecryptable: number;
  notes: string[];
}

/** Per connection: the shared knowledge both directions' decoders need. */
class Shared {
  clientRandom?: Uint8Array;
  suite?: SuiteParams;
  /** The KeyPackage references of the latest ClientHello (one per offered KeyPackage). */
  keyPackageRefs?: Uint8Array[];
  keyConfirmed = false;
  constructor(readonly keylog: KeyLog | undefined) {}

  secrets(dir: Dir): Map<number, Uint8Array> | undefined {
    if (this.keylog === undefined || this.clientRandom === undefined) return undefined;
    const e = this.keylog.connections.get(hex(this.clientRandom));
    return e === undefined ? undefined : dir === "c2s" ? e.client : e.server;
  }
}

const KEY_NAME: Record<Dir, string> = { c2s: "CLIENT_TRAFFIC_SECRET", s2c: "SERVER_TRAFFIC_SECRET" };
const WHO: Record<Dir, string> = { c2s: "client (initiator, leaf 1)", s2c: "server (responder, leaf 0)" };

class DirectionDecoder {
  private keyIndex = 0;
  private seq = 0n;
  private readonly aeads = new Map<string, { aead: Aead; iv: Uint8Array }>();
  private plainHs: Uint8Array = new Uint8Array(0);
  private protHs: Uint8Array = new Uint8Array(0);
  private lastKeyProblem: string | undefined;
  decrypted = 0;
  undecryptable = 0;

  constructor(
    readonly dir: Dir,
    private readonly shared: Shared,
  ) {}

  /** Lines for one record (header already validated by the caller). */
  record(type: number, header: Uint8Array, fragment: Uint8Array): string[] {
    const tname = CONTENT_TYPE_NAMES[type] ?? `type ${type}`;
    if (type === 23) return this.protectedRecord(header, fragment);
    const lines = [`${tname} record, ${fragment.length} bytes (plaintext)`];
    if (type === 22) {
      this.plainHs = concat(this.plainHs, fragment);
      const { msgs, rest } = takeMessages(this.plainHs);
      this.plainHs = rest;
      for (const m of msgs) lines.push(...indent(this.handshake(m.type, m.body)));
      if (rest.length > 0) lines.push(`  (handshake message continues in the next record: ${rest.length} bytes so far)`);
    } else if (type === 21) lines.push(...indent(alertLines(fragment)));
    else if (type === 20) lines.push("  change_cipher_spec: never sent by MLS-TLS (unexpected_message)");
    return lines;
  }

  private protectedRecord(header: Uint8Array, fragment: Uint8Array): string[] {
    const head = `application_data record, ${fragment.length} bytes (protected)`;
    const secrets = this.shared.secrets(this.dir);
    if (secrets === undefined) {
      this.undecryptable++;
      return [head];
    }
    const opened = this.open(secrets, header, fragment);
    if (opened === undefined) {
      this.undecryptable++;
      return [head, `  could not decrypt: ${this.lastKeyProblem ?? "no key log secret authenticates it"}`];
    }
    this.decrypted++;
    const { type, content, key, seq } = opened;
    const tname = CONTENT_TYPE_NAMES[type] ?? `type ${type}`;
    const lines = [`${head}, ${key} seq ${seq}`, `  inner ${tname}, ${content.length} bytes`];
    if (type === 22) {
      this.protHs = concat(this.protHs, content);
      const { msgs, rest } = takeMessages(this.protHs);
      this.protHs = rest;
      for (const m of msgs) lines.push(...indent(this.handshake(m.type, m.body), 4));
      if (rest.length > 0) lines.push(`    (handshake message continues in the next record: ${rest.length} bytes so far)`);
    } else if (type === 21) lines.push(...indent(alertLines(content), 4));
    else if (type === 23) lines.push(`    ${preview(content)}`);
    return lines;
  }

  private keys(suite: SuiteParams, secret: Uint8Array, n: number): { aead: Aead; iv: Uint8Array } {
    const id = `${suite.id}/${n}`;
    let k = this.aeads.get(id);
    if (k === undefined) {
      const { key, iv } = trafficKeys(suite, secret);
      k = { aead: createAead(suite.aead, key, "node"), iv };
      key.fill(0);
      this.aeads.set(id, k);
    }
    return k;
  }

  private open(
    secrets: Map<number, Uint8Array>,
    header: Uint8Array,
    fragment: Uint8Array,
  ): { type: number; content: Uint8Array; key: string; seq: bigint } | undefined {
    const attempts: Array<[number, bigint]> = [
      [this.keyIndex, this.seq],
      [this.keyIndex + 1, 0n],
      [this.keyIndex + 2, 0n],
    ];
    let missing: number | undefined;
    for (const [n, seq] of attempts) {
      const secret = secrets.get(n);
      if (secret === undefined) {
        missing ??= n;
        continue;
      }
      for (const suite of this.suiteCandidates(secret)) {
        const { aead, iv } = this.keys(suite, secret, n);
        // RFC 8446 §5.3: iv XOR the 64-bit sequence number, left-padded to 12 bytes.
        const nonce = Uint8Array.from(iv);
        for (let i = 0; i < 8; i++) nonce[4 + i]! ^= Number((seq >> BigInt(8 * (7 - i))) & 0xffn);
        const inner = aead.open(nonce, header, fragment);
        if (inner === null) continue;
        if (this.shared.suite === undefined) this.shared.suite = suite;
        this.keyIndex = n;
        this.seq = seq + 1n;
        let i = inner.length - 1;
        while (i >= 0 && inner[i] === 0) i--;
        if (i < 0) return { type: 0, content: new Uint8Array(0), key: `${KEY_NAME[this.dir]}_${n}`, seq };
        return { type: inner[i]!, content: inner.subarray(0, i), key: `${KEY_NAME[this.dir]}_${n}`, seq };
      }
    }
    this.lastKeyProblem =
      missing !== undefined && missing === this.keyIndex
        ? `the key log has no ${KEY_NAME[this.dir]}_${missing} for this connection`
        : `neither ${KEY_NAME[this.dir]}_${this.keyIndex} (seq ${this.seq}) nor a later secret authenticates it`;
    return undefined;
  }

  private suiteCandidates(secret: Uint8Array): SuiteParams[] {
    if (this.shared.suite !== undefined) return [this.shared.suite];
    // A resumed connection has no KeyPackage or Welcome on the wire: guess from the secret's length (Nh).
    return SUITES.filter((s) => s.hashLen === secret.length);
  }

  private handshake(type: number, body: Uint8Array): string[] {
    const name = HANDSHAKE_NAMES[type] ?? `unknown handshake type ${type}`;
    try {
      return this.handshakeBody(type, name, body);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      return [`${name}, ${body.length} bytes: malformed: ${e.message}`];
    }
  }

  private handshakeBody(type: number, name: string, body: Uint8Array): string[] {
    const r = new Reader(body, name);
    const sh = this.shared;
    switch (type) {
      case 0xe0: {
        const random = r.bytesN(32, "random");
        if (this.dir === "c2s") sh.clientRandom ??= random;
        const nSuites = r.u8("suite count");
        const offered: string[] = [];
        for (let i = 0; i < nSuites; i++) {
          const id = r.u16("suite");
          offered.push(suiteById(id)?.name ?? `unknown suite ${id}`);
        }
        const nKps = r.u8("KeyPackage count");
        const lines = [`ClientHello, random ${hex(random)}`, `  offers: ${offered.join(", ")}`];
        sh.keyPackageRefs = [];
        for (let i = 0; i < nKps; i++) {
          const len = r.u24("KeyPackage length");
          const kp = describeKeyPackage(r.bytesN(len, "KeyPackage"));
          sh.keyPackageRefs.push(kp.ref ?? new Uint8Array(0));
          lines.push(`  KeyPackage ${i + 1} of ${nKps}:`, ...indent(indent(kp.lines)));
        }
        if (!r.done) r.fail("trailing bytes");
        return lines;
      }
      case 0xe1: {
        const random = r.bytesN(32, "random");
        const chosen = r.u16("suite");
        const w = describeWelcome(r.rest());
        const lines = [`ServerHello, random ${hex(random)}, suite ${suiteById(chosen)?.name ?? chosen}`, ...indent(w.lines)];
        if (sh.keyPackageRefs !== undefined) {
          const refs = sh.keyPackageRefs;
          const i = refs.findIndex((ref) => w.recipients.some((x) => Buffer.from(x).equals(Buffer.from(ref))));
          lines.push(i >= 0 ? `  recipient is the ClientHello's KeyPackage ${i + 1}` : "  recipient is NOT one of the ClientHello's KeyPackages");
        }
        const suite = suiteById(w.suite);
        if (suite !== undefined && sh.suite === undefined) sh.suite = suite;
        return lines;
      }
      case 0xe6: {
        const id = r.u16("suite");
        if (!r.done) r.fail("trailing bytes");
        return [`RetryRequest: the server asks for ${suiteById(id)?.name ?? `unknown suite ${id}`}`];
      }
      case 0xe2: {
        const random = r.bytesN(32, "random");
        if (this.dir === "c2s") sh.clientRandom ??= random;
        const pm = describePrivateMessage(r.rest());
        return [`Resumption, random ${hex(random)}`, ...indent(pm.lines), `  resumes into epoch ${pm.epoch + 1n}`];
      }
      case 0xe3: {
        const random = r.bytesN(32, "random");
        if (!r.done) r.fail("trailing bytes");
        return [`ResumptionAccept, random ${hex(random)}`];
      }
      case 0xe4: {
        const pm = describePrivateMessage(r.rest());
        return [
          `ConnectionUpdate from the ${WHO[this.dir]}: commit for epoch ${pm.epoch} → epoch ${pm.epoch + 1n}`,
          ...indent(pm.lines),
        ];
      }
      case 0xe5: {
        const epoch = r.u32("epoch");
        if (!r.done) r.fail("trailing bytes");
        let note = "";
        if (this.dir === "c2s" && !sh.keyConfirmed) {
          sh.keyConfirmed = true;
          note = " (the client's key confirmation)";
        }
        return [`EpochKeyUpdate from the ${WHO[this.dir]}: epoch ${epoch}${note}`];
      }
      case 24: {
        const req = r.u8("request_update");
        if (!r.done) r.fail("trailing bytes");
        const what = req === 0 ? "update_not_requested" : req === 1 ? "update_requested" : `invalid request_update ${req}`;
        return [`KeyUpdate from the ${this.dir === "c2s" ? "client" : "server"}: ${what}`];
      }
      case 1:
      case 2:
        return [`${name}, ${body.length} bytes: this peer speaks vanilla TLS, not MLS-TLS`];
      default:
        return [`${name}, ${body.length} bytes`];
    }
  }

  /** What is left over at the end of the stream. */
  finish(): string[] {
    const out: string[] = [];
    if (this.plainHs.length > 0) out.push(`incomplete handshake message at the end of the stream (${this.plainHs.length} bytes)`);
    if (this.protHs.length > 0) out.push(`incomplete protected handshake message at the end of the stream (${this.protHs.length} bytes)`);
    for (const k of this.aeads.values()) {
      k.aead.dispose();
      k.iv.fill(0);
    }
    this.aeads.clear();
    return out;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function takeMessages(buf: Uint8Array): { msgs: { type: number; body: Uint8Array }[]; rest: Uint8Array } {
  const msgs: { type: number; body: Uint8Array }[] = [];
  let pos = 0;
  while (buf.length - pos >= 4) {
    const len = (buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!;
    if (buf.length - pos < 4 + len) break;
    msgs.push({ type: buf[pos]!, body: buf.subarray(pos + 4, pos + 4 + len) });
    pos += 4 + len;
  }
  return { msgs, rest: buf.subarray(pos) };
}

function alertLines(b: Uint8Array): string[] {
  if (b.length !== 2) return [`alert: malformed (${b.length} bytes, expected 2)`];
  const level = b[0] === 1 ? "warning" : b[0] === 2 ? "fatal" : `level ${b[0]}`;
  return [`alert: ${level} ${ALERT_NAMES[b[1]!] ?? "unknown"} (${b[1]})`];
}

function indent(lines: string[], n = 2): string[] {
  const pad = " ".repeat(n);
  return lines.map((l) => pad + l);
}

export interface DirectionInput {
  dir: Dir;
  data: Uint8Array;
  /** Packet that delivered stream byte `offset`. */
  packetOf: (offset: number) => number;
}

/**
 * Decodes both directions of a connection into record events. The client direction goes first: its ClientHello
 * names the client random and suite that the server direction's decryption needs.
 */
export function decodeConnection(
  client: DirectionInput,
  server: DirectionInput,
  keylog: KeyLog | undefined,
): { events: RecordEvent[]; info: ConnectionInfo } {
  const shared = new Shared(keylog);
  const events: RecordEvent[] = [];
  const notes: string[] = [];
  let decrypted = 0;
  let undecryptable = 0;
  // The server's plaintext ServerHello may be needed before the client's protected records: decode the plaintext
  // opening of both first (records never straddle the switch to protection), then the rest.
  const decoders = { c2s: new DirectionDecoder("c2s", shared), s2c: new DirectionDecoder("s2c", shared) };
  for (const input of [client, server]) {
    const dec = decoders[input.dir];
    const who = input.dir === "c2s" ? "client → server" : "server → client";
    const r = new Reader(input.data, who);
    while (!r.done) {
      const offset = r.pos;
      if (r.remaining < 5) {
        notes.push(`${who}: ${r.remaining} bytes at the end of the stream are not a whole record header`);
        break;
      }
      const type = r.u8();
      const version = r.u16();
      const length = r.u16();
      if (type < 20 || type > 23 || (version !== 0x0303 && version !== 0x0301) || length > 16384 + 256) {
        notes.push(
          `${who}: byte ${offset} is not an MLS-TLS record header (type ${type}, version 0x${version.toString(16)}, length ${length}); ` +
            (offset === 0 ? "this stream is not MLS-TLS" : "the rest of this direction is skipped"),
        );
        break;
      }
      if (r.remaining < length) {
        notes.push(`${who}: the stream ends inside a ${CONTENT_TYPE_NAMES[type]} record (${r.remaining} of ${length} bytes)`);
        break;
      }
      const fragment = r.bytesN(length);
      const header = input.data.subarray(offset, offset + 5);
      const lines = dec.record(type, header, fragment);
      if (version === 0x0301) lines[0] += " [legacy version 0x0301]";
      events.push({ dir: input.dir, offset, packet: input.packetOf(offset + 5 + length - 1), lines });
    }
    notes.push(...dec.finish().map((n) => `${who}: ${n}`));
    decrypted += dec.decrypted;
    undecryptable += dec.undecryptable;
  }
  if (keylog !== undefined && shared.clientRandom !== undefined && !keylog.connections.has(hex(shared.clientRandom))) {
    notes.push(`the key log has no secrets for client random ${hex(shared.clientRandom)}`);
  }
  const keysFound = shared.secrets("c2s") !== undefined;
  events.sort((a, b) => a.packet - b.packet || (a.dir === b.dir ? a.offset - b.offset : a.dir === "c2s" ? -1 : 1));
  return {
    events,
    info: {
      clientRandom: shared.clientRandom === undefined ? undefined : hex(shared.clientRandom),
      suite: shared.suite?.id,
      keysFound,
      decrypted,
      undecryptable,
      notes,
    },
  };
}

export { suiteLabel };
