// The hostile-peer harness (BoGo style): a peer over real TCP that runs the genuine engine, so it has keys, and
// then misbehaves on its send side as a `bugs` object says: flip bits, truncate, split, coalesce across a key
// change, replay, reorder, drop, flood, stall, send alerts of any code, send handcrafted records and messages, or
// commits with foreign proposals. The victim is a real mlstls server or a real mlstls client.
//
// What it observes: every alert the victim sends, decoded by the hostile engine (so also encrypted ones), the
// victim's error code, what the victim's application received, and the TCP close.

import { once } from "node:events";
import * as net from "node:net";
import { AlertDescription, type MlsTlsError } from "../../lib/errors.js";
import * as mlstls from "../../lib/index.js";
import type { Connection, ConnectionEvent } from "../../lib/protocol/connection.js";
import { Initiator } from "../../lib/protocol/initiator.js";
import { Responder } from "../../lib/protocol/responder.js";
import { ContentType } from "../../lib/protocol/records/record-layer.js";
import type { Aead } from "../../lib/protocol/records/aead.js";
import { SERVER_IDENTITY, SERVED, TRUSTED, listen } from "../helpers/sockets.js";

export type AlertName = keyof typeof AlertDescription;

/** How the hostile peer mangles the records its engine sends next (one record = one send() of the engine). */
export interface Bugs {
  /** Leave this many records alone first. */
  skip?: number;
  /** Flip `bit` of byte `offset` (record header included; negative counts from the end) of the next record. */
  flip?: { offset: number; bit?: number };
  /** Overwrite bytes of the next record's header: [offset, value] pairs. */
  setHeader?: [number, number][];
  /** Send only the first `n` bytes of the next record (the rest is never sent). */
  truncate?: number;
  /** Then end the TCP connection (FIN). */
  thenEnd?: boolean;
  /** Send the next record twice. */
  replay?: boolean;
  /** Swap the next two records. */
  reorder?: boolean;
  /** Drop the next record. */
  drop?: boolean;
  /** Split the next (plaintext handshake) record's fragment into two records, the first `splitAt` bytes long. */
  splitAt?: number;
  /** Put these plaintext records between the two halves of a split. */
  between?: Uint8Array[];
  /** Write the next record one byte at a time, each in its own TCP segment. */
  dribble?: boolean;
  /** Append these bytes to the next record's fragment and fix its length (plaintext records only). */
  appendToFragment?: Uint8Array;
}

const HEADER = 5;

export function plainRecord(type: number, fragment: Uint8Array, version = 0x0303): Uint8Array {
  const out = new Uint8Array(HEADER + fragment.length);
  out[0] = type;
  out[1] = version >> 8;
  out[2] = version & 0xff;
  out[3] = fragment.length >> 8;
  out[4] = fragment.length & 0xff;
  out.set(fragment, HEADER);
  return out;
}

export function handshakeMessage(type: number, body: Uint8Array, declaredLength = body.length): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  out[0] = type;
  out[1] = (declaredLength >> 16) & 0xff;
  out[2] = (declaredLength >> 8) & 0xff;
  out[3] = declaredLength & 0xff;
  out.set(body, 4);
  return out;
}

export { HandshakeType } from "../../lib/protocol/messages.js";

/** What the record layer keeps private, reached for handcrafted records (tests only). */
interface ProtInternals {
  aead: Aead;
  computeNonce(): Uint8Array;
  advance(): void;
  update(): void;
  seal(type: number, content: Uint8Array, padding?: number): Uint8Array;
}

export class HostilePeer {
  readonly engine: Initiator | Responder;
  /** Alerts the victim sent us, as decoded by our engine. */
  readonly alerts: number[] = [];
  /** Our engine's own failures (not the victim's alerts). */
  readonly ownErrors: MlsTlsError[] = [];
  readonly fromVictim: Buffer[] = [];
  readonly closed: Promise<void>;
  readonly established: Promise<void>;
  private bugs: Bugs | undefined;
  private held: Uint8Array[] = [];
  private heldWaiter: (() => void) | undefined;
  private holding = 0;
  private ended = false;

  constructor(
    readonly role: "initiator" | "responder",
    readonly socket: net.Socket,
  ) {
    let onEstablished!: () => void;
    this.established = new Promise((r) => (onEstablished = r));
    const cb = {
      send: (bytes: Uint8Array) => this.outbound(bytes),
      event: (ev: ConnectionEvent) => {
        if (ev.type === "handshake") onEstablished();
        if (ev.type === "data") this.fromVictim.push(Buffer.from(ev.data));
        if (ev.type === "error") {
          if (ev.error.remote && ev.error.code === "ERR_MLSTLS_PEER_ALERT") this.alerts.push(ev.error.alert!);
          else this.ownErrors.push(ev.error);
        }
      },
    };
    // The hostile engine accepts any peer credential: it is the victim's checks that are under test.
    this.engine = role === "initiator" ? new Initiator({}, cb) : new Responder({ identity: SERVER_IDENTITY }, cb);
    socket.setNoDelay(true);
    socket.on("data", (d: Buffer) => this.engine.receive(new Uint8Array(d)));
    socket.on("error", () => undefined);
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
    socket.once("end", () => {
      // A close_notify from the victim also ends in a FIN: the engine already saw it as data.
      this.ended = true;
    });
  }

  get peerEnded(): boolean {
    return this.ended;
  }

  /** Applies `bugs` to the records the engine sends from now on. */
  arm(bugs: Bugs): void {
    this.bugs = bugs;
  }

  /** Keeps the next `n` records the engine sends instead of sending them; resolves with them. */
  async hold(n: number, produce: () => void | Promise<void>): Promise<Uint8Array[]> {
    this.holding = n;
    this.held = [];
    const got = new Promise<void>((r) => (this.heldWaiter = r));
    await produce();
    if (this.held.length < n) await got;
    this.holding = 0;
    return this.held.splice(0);
  }

  write(bytes: Uint8Array): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(bytes);
  }

  end(): void {
    this.socket.end();
  }

  private get sendProt(): ProtInternals {
    const p = (this.engine as unknown as { sendProt: ProtInternals | undefined }).sendProt;
    if (p === undefined) throw new Error("no send keys yet");
    return p;
  }

  /** A protected record with any inner plaintext (content ‖ type ‖ zeros), under our current send key. */
  sealInner(inner: Uint8Array): Uint8Array {
    const prot = this.sendProt;
    const len = inner.length + 16;
    const out = new Uint8Array(HEADER + len);
    out.set([ContentType.application_data, 3, 3, len >> 8, len & 0xff]);
    prot.aead.sealInto(prot.computeNonce(), out.subarray(0, HEADER), inner, out, HEADER);
    prot.advance();
    return out;
  }

  /** A well-formed protected record of `type` (no size checks). */
  seal(type: number, content: Uint8Array, padding = 0): Uint8Array {
    const inner = new Uint8Array(content.length + 1 + padding);
    inner.set(content);
    inner[content.length] = type;
    return this.sealInner(inner);
  }

  /** After sending a KeyUpdate by hand: ratchet our send key as the victim did its receive key. */
  ratchetSend(): void {
    this.sendProt.update();
  }

  private outbound(bytes: Uint8Array): void {
    if (this.holding > 0) {
      this.held.push(bytes);
      if (this.held.length >= this.holding) this.heldWaiter?.();
      return;
    }
    const b = this.bugs;
    if (b === undefined) {
      this.write(bytes);
      return;
    }
    this.mangle(b, bytes);
  }

  private pendingReorder: Uint8Array | undefined;

  private async dribble(r: Uint8Array): Promise<void> {
    // Hold the engine's later records until the dribbled one is out, so that order is kept.
    this.holding = Infinity;
    this.held = [];
    for (let i = 0; i < r.length; i++) {
      this.write(r.subarray(i, i + 1));
      await new Promise((res) => setImmediate(res));
    }
    this.holding = 0;
    for (const x of this.held.splice(0)) this.write(x);
  }

  private mangle(b: Bugs, rec: Uint8Array): void {
    if ((b.skip ?? 0) > 0) {
      b.skip!--;
      this.write(rec);
      return;
    }
    if (b.reorder) {
      if (this.pendingReorder === undefined) {
        this.pendingReorder = rec;
        return;
      }
      const first = this.pendingReorder;
      this.pendingReorder = undefined;
      this.bugs = undefined;
      this.write(rec);
      this.write(first);
      return;
    }
    this.bugs = undefined; // one record's worth
    let r: Uint8Array = Uint8Array.from(rec);
    if (b.drop) return;
    if (b.flip !== undefined) {
      const at = b.flip.offset < 0 ? r.length + b.flip.offset : b.flip.offset;
      r[at]! ^= 1 << (b.flip.bit ?? 0);
    }
    for (const [off, v] of b.setHeader ?? []) r[off] = v;
    if (b.appendToFragment !== undefined) {
      const frag = Buffer.concat([r.subarray(HEADER), b.appendToFragment]);
      r = plainRecord(r[0]!, frag, (r[1]! << 8) | r[2]!);
    }
    if (b.splitAt !== undefined) {
      const frag = r.subarray(HEADER);
      this.write(plainRecord(r[0]!, frag.subarray(0, b.splitAt), (r[1]! << 8) | r[2]!));
      for (const x of b.between ?? []) this.write(x);
      this.write(plainRecord(r[0]!, frag.subarray(b.splitAt), 0x0303));
      return;
    }
    if (b.dribble) {
      void this.dribble(r);
      return;
    }
    if (b.truncate !== undefined) r = r.subarray(0, b.truncate);
    this.write(r);
    if (b.replay) this.write(r);
    if (b.thenEnd) this.end();
  }
}

// ---------------------------------------------------------------------------------------------------- victims

export interface VictimConnection {
  errors: (Error & { code?: string })[];
  data: Buffer[];
  secure: boolean;
  ended: boolean;
  closed: boolean;
}

/** A real mlstls server that echoes, and records per client port what happened to each connection. */
export class VictimServer {
  readonly server: mlstls.Server;
  port = 0;
  private readonly conns = new Map<number, VictimConnection>();

  constructor(opts: mlstls.ServerOptions = {}) {
    this.server = mlstls.createServer({ ...SERVED, ...opts });
    // Ephemeral ports come back over hundreds of cases: a new TCP connection starts a fresh record for its port.
    this.server.on("connection", (raw: { remotePort?: number }) => {
      if (raw.remotePort !== undefined) this.conns.set(raw.remotePort, { errors: [], data: [], secure: false, ended: false, closed: false });
    });
    this.server.on("secureConnection", (s: mlstls.MlsTlsSocket) => {
      const c = this.of(s.remotePort!);
      c.secure = true;
      s.on("data", (d: Buffer) => {
        c.data.push(d);
        if (s.writable) s.write(d);
      });
      s.on("error", (e: Error) => c.errors.push(e));
      s.on("end", () => {
        c.ended = true;
        s.end();
      });
      s.on("close", () => (c.closed = true));
    });
    this.server.on("tlsClientError", (e: Error, s: mlstls.MlsTlsSocket) => {
      const c = this.of(s.remotePort!);
      c.errors.push(e);
      c.closed = true;
    });
  }

  async start(): Promise<void> {
    this.port = await listen(this.server);
  }

  of(port: number): VictimConnection {
    let c = this.conns.get(port);
    if (c === undefined) {
      c = { errors: [], data: [], secure: false, ended: false, closed: false };
      this.conns.set(port, c);
    }
    return c;
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** A well-behaved client is served: handshake, echo of a fresh payload. */
  async servesGoodClient(): Promise<void> {
    const client = mlstls.connect({ ...TRUSTED, host: "127.0.0.1", port: this.port });
    try {
      await once(client, "secureConnect");
      const msg = Buffer.from(`good client ${Math.random()}`);
      client.write(msg);
      const got: Buffer[] = [];
      while (Buffer.concat(got).length < msg.length) got.push((await once(client, "data"))[0] as Buffer);
      if (!Buffer.concat(got).equals(msg)) throw new Error("the good client's echo differs");
    } finally {
      client.destroy();
    }
  }
}

/** Polls until `cond` holds (no timing assertion: the case's own timeout bounds it). */
export async function until(cond: () => boolean, what: string, ms = 8000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** A hostile client connected to `port`. */
export async function hostileClient(port: number): Promise<HostilePeer> {
  const socket = net.connect({ port, host: "127.0.0.1" });
  await once(socket, "connect");
  return new HostilePeer("initiator", socket);
}

/** A hostile server, and a real mlstls client connected to it; resolves once TCP is up on both sides. */
export async function hostileServer(): Promise<{
  hostile: Promise<HostilePeer>;
  client: mlstls.MlsTlsSocket;
  victim: VictimConnection;
  close(): Promise<void>;
}> {
  let accept!: (h: HostilePeer) => void;
  const hostile = new Promise<HostilePeer>((r) => (accept = r));
  const srv = net.createServer((sock) => accept(new HostilePeer("responder", sock)));
  const port = await listen(srv);
  const client = mlstls.connect({ ...TRUSTED, host: "127.0.0.1", port });
  const victim: VictimConnection = { errors: [], data: [], secure: false, ended: false, closed: false };
  client.on("secureConnect", () => (victim.secure = true));
  client.on("data", (d: Buffer) => victim.data.push(d));
  client.on("error", (e: Error) => victim.errors.push(e));
  client.on("end", () => (victim.ended = true));
  client.on("close", () => (victim.closed = true));
  return {
    hostile,
    client,
    victim,
    close: async () => {
      client.destroy();
      (await hostile).socket.destroy();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

export const engineOf = (h: HostilePeer): Connection => h.engine;
