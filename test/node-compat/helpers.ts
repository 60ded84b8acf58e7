// Shared pieces of the node-compat tests: the two implementations side by side, the re-keyed fixtures of
// test/fixtures/node-compat/ (node's certificate hierarchy on P-256, see generate.sh there), and small waits.
//
// Every scenario runs once with node:tls and once with mlstls, with the same options, so a test shows that the
// behaviour matches node's rather than restating what we think node does ("node:tls is the contract").

import { once } from "node:events";
import { readFileSync } from "node:fs";
import type * as net from "node:net";
import * as nodeTls from "node:tls";
import * as mlstls from "../../lib/index.js";

/** Both socket types have node's TLSSocket surface; the tests only use that part. */
export type AnySocket = nodeTls.TLSSocket;
export type AnyServer = net.Server & {
  addContext?(host: string, ctx: unknown): void;
};
type Opts = Record<string, unknown>;
export type CodedError = Error & { code?: string; path?: string; host?: string; port?: number; localAddress?: string };

export interface Impl {
  name: "node:tls" | "mlstls";
  connect(...args: unknown[]): AnySocket;
  createServer(options?: Opts, listener?: (s: AnySocket) => void): AnyServer;
  createSecureContext(options?: Opts): unknown;
  TLSSocket: new (socket?: unknown, options?: Opts) => AnySocket;
  Server: new (options?: Opts, listener?: (s: AnySocket) => void) => AnyServer;
  /** What every client of this implementation adds (nothing since MLS suite negotiation: kept for a future need). */
  client: Opts;
}

export const P256_SUITE = "MLS_128_DHKEMP256_AES128GCM_SHA256_P256";

export const NODE: Impl = {
  name: "node:tls",
  connect: nodeTls.connect as unknown as Impl["connect"],
  createServer: nodeTls.createServer as unknown as Impl["createServer"],
  createSecureContext: nodeTls.createSecureContext as unknown as Impl["createSecureContext"],
  TLSSocket: nodeTls.TLSSocket as unknown as Impl["TLSSocket"],
  Server: nodeTls.Server as unknown as Impl["Server"],
  client: {},
};

export const MLS: Impl = {
  name: "mlstls",
  connect: mlstls.connect as unknown as Impl["connect"],
  createServer: mlstls.createServer as unknown as Impl["createServer"],
  createSecureContext: mlstls.createSecureContext as unknown as Impl["createSecureContext"],
  TLSSocket: mlstls.TLSSocket as unknown as Impl["TLSSocket"],
  Server: mlstls.Server as unknown as Impl["Server"],
  client: {},
};

export const IMPLS: readonly Impl[] = [NODE, MLS];

/**
 * Which copy of node's certificate hierarchy the tests use: P-256 keys (test/fixtures/node-compat/) by default, RSA
 * keys as node's own (test/fixtures/node-compat-rsa/) with MLSTLS_COMPAT_FIXTURES=rsa (see rsa-fixtures.test.ts).
 */
export const FIXTURE_SET = process.env.MLSTLS_COMPAT_FIXTURES === "rsa" ? "node-compat-rsa" : "node-compat";

/** A file of the fixture set (node's fixture names: agent1-key.pem, ca1-cert.pem, rsa_cert.crt, ...). */
export function nodeFixture(name: string): Buffer {
  return readFileSync(new URL(`../../../test/fixtures/${FIXTURE_SET}/${name}`, import.meta.url));
}

/** key + cert of one of node's agents (agent1 is issued by ca1, agent2 is self-signed, ...). */
export function agent(n: string): { key: Buffer; cert: Buffer } {
  return { key: nodeFixture(`${n}-key.pem`), cert: nodeFixture(`${n}-cert.pem`) };
}

/** A `lookup` that answers 127.0.0.1 for any name, so "localhost" never leaves IPv4 loopback. */
export function loopbackLookup(
  _host: string,
  options: { all?: boolean } | number,
  cb: (err: Error | null, address: string | { address: string; family: number }[], family?: number) => void,
): void {
  if (typeof options === "object" && options !== null && options.all === true) cb(null, [{ address: "127.0.0.1", family: 4 }]);
  else cb(null, "127.0.0.1", 4);
}

/**
 * Resolves with the arguments of the first `event`; rejects after `ms`, and on the first 'error' unless that is the
 * event or `errorsToo` is false. Subscribe before the event can happen: a socket may emit 'error' and 'close' in
 * one tick.
 */
export function next<T extends unknown[] = unknown[]>(emitter: NodeJS.EventEmitter, event: string, ms = 10_000, errorsToo = true): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`timed out waiting for '${event}'`)), ms);
    const onEvent = (...args: unknown[]): void => done(null, args as T);
    const onError = (err: Error): void => done(err);
    function done(err: Error | null, args?: T): void {
      clearTimeout(timer);
      emitter.off(event, onEvent);
      if (event !== "error" && errorsToo) emitter.off("error", onError);
      if (err) reject(err);
      else resolve(args!);
    }
    emitter.on(event, onEvent);
    if (event !== "error" && errorsToo) emitter.on("error", onError);
  });
}

/** Starts `server` on 127.0.0.1 and returns its port. */
export async function listenLocal(server: net.Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as net.AddressInfo).port;
}

/** Collects everything `stream` emits as data until 'end', as a string. */
export function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = "";
    stream.on("data", (d: Buffer | string) => (s += d.toString()));
    stream.on("end", () => resolve(s));
    stream.on("error", reject);
  });
}

/** The next 'close' of a socket, whatever errors come before it. */
export function closed(socket: NodeJS.EventEmitter, ms = 10_000): Promise<[boolean]> {
  return next<[boolean]>(socket, "close", ms, false);
}
