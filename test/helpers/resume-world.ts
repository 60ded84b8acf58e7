// Resumption over real TCP: a client that outlives its connections (it keeps its latest session and every traffic
// secret it ever used), server "processes" behind a CutProxy that can be killed and restarted on the same store,
// and a record of what every socket saw (data, errors, a clean 'end').

import type { Socket } from "node:net";
import * as mlstls from "../../lib/index.js";
import type { SessionStore } from "../../lib/sessions/store.js";
import { CutProxy } from "./cut-proxy.js";
import { SERVED, TRUSTED, closeServer, listen, until } from "./sockets.js";

export const QUIET = { autoKeyUpdate: false, autoConnectionUpdate: false } as const;

/** How a client session blob begins ("MLSC", PROTOCOL.md §6). */
export const CLIENT_MAGIC_HEX = Buffer.from("MLSC").toString("hex");

/** What one socket went through. */
export interface Watched {
  socket: mlstls.MlsTlsSocket;
  data: Buffer[];
  errors: Error[];
  /** It emitted 'end' (a clean close_notify). */
  ended: boolean;
  closed: boolean;
  hadError: boolean | undefined;
}

export function watch(socket: mlstls.MlsTlsSocket): Watched {
  const w: Watched = { socket, data: [], errors: [], ended: false, closed: false, hadError: undefined };
  socket.on("data", (d: Buffer) => w.data.push(d));
  socket.on("error", (e: Error) => w.errors.push(e));
  socket.on("end", () => (w.ended = true));
  socket.on("close", (hadError: boolean) => {
    w.closed = true;
    w.hadError = hadError;
  });
  return w;
}

export function received(w: Watched): string {
  return Buffer.concat(w.data).toString("latin1");
}

export function codeOf(e: Error | undefined): string | undefined {
  return (e as { code?: string } | undefined)?.code;
}

/** A store as a process holds it: once killed, it writes nothing more (writes in flight at the kill land). */
export class ProcessStore implements SessionStore {
  private dead = false;
  private readonly inflight = new Set<Promise<unknown>>();
  /** Every session id written, for tests that reach into the store. */
  readonly ids = new Set<string>();

  constructor(readonly inner: SessionStore) {}

  get(id: string): Promise<Uint8Array | undefined> {
    return this.run(() => this.inner.get(id));
  }
  set(id: string, session: Uint8Array): Promise<void> {
    this.ids.add(id);
    return this.run(() => this.inner.set(id, session));
  }
  delete(id: string): Promise<void> {
    return this.run(() => this.inner.delete(id));
  }

  async kill(): Promise<void> {
    this.dead = true;
    await Promise.allSettled([...this.inflight]);
  }

  private run<T>(op: () => Promise<T>): Promise<T> {
    // A dead process never answers.
    if (this.dead) return new Promise<T>(() => undefined);
    const p = op();
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p)).catch(() => undefined);
    return p;
  }
}

/** One server process: a Server on a store, reached through a CutProxy. */
export class ServerProcess {
  readonly sockets: Watched[] = [];
  readonly clientErrors: Error[] = [];
  /** Every TCP connection, so that half-open handshakes cannot hold close() up. */
  private readonly raw: Socket[] = [];
  private constructor(
    readonly server: mlstls.Server,
    readonly proxy: CutProxy,
    readonly store: ProcessStore | undefined,
  ) {}

  /** Without a store, the server's default (from its options); kill() then only ends the connections. */
  static async start(store: SessionStore | undefined, options: mlstls.ServerOptions = {}): Promise<ServerProcess> {
    const ps = store === undefined ? undefined : new ProcessStore(store);
    const server = mlstls.createServer({ ...SERVED, ...QUIET, ...options, ...(ps === undefined ? {} : { sessionStore: ps }) });
    const port = await listen(server);
    const proxy = await CutProxy.start(port);
    // Without TCP_NODELAY, the proxy's lone small records (EpochKeyUpdates) wait for delayed ACKs.
    proxy.server.on("connection", () => {
      const link = proxy.links[proxy.links.length - 1]!;
      link.client.setNoDelay(true);
      link.server.setNoDelay(true);
    });
    const p = new ServerProcess(server, proxy, ps);
    server.on("secureConnection", (s: mlstls.MlsTlsSocket) => p.sockets.push(watch(s)));
    server.on("tlsClientError", (e: Error) => p.clientErrors.push(e));
    server.on("connection", (raw: Socket) => p.raw.push(raw));
    return p;
  }

  get port(): number {
    return this.proxy.port;
  }

  /** The ids of the sessions this process saved. */
  sessionIds(): string[] {
    return [...(this.store?.ids ?? [])];
  }

  /** The server side of the i-th connection to complete its handshake. */
  async socketAt(i: number): Promise<Watched> {
    await until(() => this.sockets.length > i);
    return this.sockets[i]!;
  }

  /** As kill -9: the store writes nothing more, every connection dies. */
  async kill(): Promise<void> {
    await this.store?.kill();
    for (const w of this.sockets) w.socket.destroy(Object.assign(new Error("killed"), { code: "KILLED" }));
    await this.close();
  }

  async close(): Promise<void> {
    for (const w of this.sockets) w.socket.destroy();
    for (const r of this.raw) r.destroy();
    await this.proxy.close();
    await closeServer(this.server);
  }
}

/** The client application: its latest session, and every traffic secret any of its connections used. */
export class Client {
  session: Buffer | undefined;
  readonly secrets: string[] = [];
  readonly sockets: Watched[] = [];

  connect(port: number, options: mlstls.ConnectOptions = {}): Watched {
    const socket = mlstls.connect({ host: "127.0.0.1", port, ...TRUSTED, ...QUIET, ...options });
    socket.on("session", (s: Buffer) => (this.session = s));
    socket.on("keylog", (line: Buffer) => {
      const [label, , secret] = line.toString("latin1").trim().split(" ");
      if (label!.includes("TRAFFIC_SECRET")) this.secrets.push(secret!);
    });
    const w = watch(socket);
    this.sockets.push(w);
    return w;
  }

  /**
   * Connects and waits for 'secureConnect' and then the connection's first 'session' (as in node:tls with TLS 1.3,
   * it follows the handshake: after a full handshake the session is written once it is complete, after a
   * resumption once the server's EpochKeyUpdate says the server stored its side).
   */
  async connectSecure(port: number, options: mlstls.ConnectOptions = {}): Promise<Watched> {
    const w = this.connect(port, options);
    await new Promise<void>((resolve, reject) => {
      w.socket.once("secureConnect", () => w.socket.once("session", () => resolve()));
      w.socket.once("error", reject);
    });
    return w;
  }

  destroyAll(): void {
    for (const w of this.sockets) w.socket.destroy();
  }
}
