// An in-memory network between an Initiator and a Responder, with hooks for a misbehaving network or peer:
// every record can be observed, flipped, dropped, held back or replaced before it is delivered.

import { Initiator, type InitiatorOptions } from "../../lib/protocol/initiator.js";
import { Responder, type ResponderOptions } from "../../lib/protocol/responder.js";
import type { Connection, ConnectionEvent } from "../../lib/protocol/connection.js";
import type { MlsTlsError } from "../../lib/errors.js";

export type Direction = "c2s" | "s2c";

export interface Endpoint {
  conn: Connection;
  events: ConnectionEvent[];
  received: Buffer[];
  errors: MlsTlsError[];
  /** Bytes this endpoint sent, record by record (each send() call is one record). */
  sent: Uint8Array[];
  ended: boolean;
}

export interface PairOptions {
  client?: InitiatorOptions;
  server?: ResponderOptions;
  /** Manual delivery: nothing moves until deliver()/deliverAll() is called. Default: automatic. */
  manual?: boolean;
  /** Called for each record before delivery: return the bytes to deliver (possibly changed), or null to drop. */
  tamper?: (dir: Direction, record: Uint8Array, index: number) => Uint8Array | null;
}

export class Pair {
  readonly client: Endpoint;
  readonly server: Endpoint;
  readonly queues: Record<Direction, Uint8Array[]> = { c2s: [], s2c: [] };
  private counts: Record<Direction, number> = { c2s: 0, s2c: 0 };
  private readonly opts: PairOptions;
  private delivering = false;

  constructor(opts: PairOptions = {}) {
    this.opts = opts;
    const mk = (): Endpoint => ({
      conn: undefined as unknown as Connection,
      events: [],
      received: [],
      errors: [],
      sent: [],
      ended: false,
    });
    this.client = mk();
    this.server = mk();
    this.client.conn = new Initiator(opts.client ?? {}, this.callbacks(this.client, "c2s"));
    this.server.conn = new Responder(opts.server ?? {}, this.callbacks(this.server, "s2c"));
  }

  get initiator(): Initiator {
    return this.client.conn as Initiator;
  }
  get responder(): Responder {
    return this.server.conn as Responder;
  }

  private callbacks(ep: Endpoint, dir: Direction) {
    return {
      send: (bytes: Uint8Array) => {
        ep.sent.push(bytes);
        const idx = this.counts[dir]++;
        const t = this.opts.tamper ? this.opts.tamper(dir, bytes, idx) : bytes;
        if (t === null) return;
        this.queues[dir].push(t);
        if (!this.opts.manual) this.scheduleDelivery();
      },
      event: (ev: ConnectionEvent) => {
        ep.events.push(ev);
        if (ev.type === "data") ep.received.push(Buffer.from(ev.data));
        if (ev.type === "error") ep.errors.push(ev.error);
        if (ev.type === "end") ep.ended = true;
      },
    };
  }

  private scheduleDelivery(): void {
    if (this.delivering) return;
    this.delivering = true;
    setImmediate(() => {
      this.delivering = false;
      this.deliverAll();
    });
  }

  /** Delivers queued bytes of one direction (all of them, or the first n records). */
  deliver(dir: Direction, n = Infinity): number {
    const q = this.queues[dir];
    const k = Math.min(n, q.length);
    const chunks = q.splice(0, k);
    const to = dir === "c2s" ? this.server.conn : this.client.conn;
    for (const c of chunks) to.receive(c);
    return k;
  }

  deliverAll(): void {
    this.deliver("c2s");
    this.deliver("s2c");
  }

  /** Runs the network until both sides are idle and nothing is queued. */
  async settle(maxRounds = 10000): Promise<void> {
    for (let i = 0; i < maxRounds; i++) {
      await this.client.conn.whenIdle();
      await this.server.conn.whenIdle();
      await new Promise((r) => setImmediate(r));
      if (this.queues.c2s.length === 0 && this.queues.s2c.length === 0) {
        await this.client.conn.whenIdle();
        await this.server.conn.whenIdle();
        if (this.queues.c2s.length === 0 && this.queues.s2c.length === 0) return;
      }
      this.deliverAll();
    }
    throw new Error("network did not settle");
  }

  /** Starts the handshake and runs it to completion on both sides. */
  async handshake(): Promise<void> {
    this.initiator.start();
    await this.settle();
  }
}

export function eventsOf<T extends ConnectionEvent["type"]>(
  ep: Endpoint,
  type: T,
): Extract<ConnectionEvent, { type: T }>[] {
  return ep.events.filter((e) => e.type === type) as Extract<ConnectionEvent, { type: T }>[];
}
