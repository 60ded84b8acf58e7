// Shared setup for the socket, server and http tests: real TCP on 127.0.0.1, ephemeral ports, and cleanup of
// every server and socket a test made.

import { execFileSync } from "node:child_process";
import { createCipheriv, createHash } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import type * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as mlstls from "../lib/index.js";
import { nodeCryptoProvider } from "../lib/mls-crypto-node.js";
import { setCryptoProvider } from "../lib/mls-session.js";

/** The node:crypto MLS provider keeps handshakes to a few milliseconds. */
export function useFastMls(): void {
  before(() => setCryptoProvider(nodeCryptoProvider));
  after(() => setCryptoProvider());
}

interface Closable {
  destroy(): unknown;
  on?(event: "error", listener: (err: Error) => void): unknown;
}

/** Registers servers and streams for destruction after each test of the enclosing describe. */
export class Cleanup {
  private servers: net.Server[] = [];
  private streams: Closable[] = [];
  private raw: net.Socket[] = [];
  private dirs: string[] = [];

  constructor() {
    afterEach(async () => {
      // Whatever a test left open is torn down here; errors that teardown provokes are not the test's subject.
      for (const s of this.streams.splice(0)) {
        s.on?.("error", () => {});
        s.destroy();
      }
      for (const r of this.raw.splice(0)) r.destroy();
      await Promise.all(this.servers.splice(0).map((s) => closeServer(s)));
      for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    });
  }

  /** Also destroys the server's remaining connections, so a failed test cannot stall server.close(). */
  server<T extends net.Server>(s: T): T {
    this.servers.push(s);
    s.on("secureConnection", (sock: Closable) => this.streams.push(sock));
    s.on("connection", (raw: net.Socket) => this.raw.push(raw));
    return s;
  }

  stream<T extends Closable>(s: T): T {
    this.streams.push(s);
    return s;
  }

  tmpdir(): string {
    const d = mkdtempSync(join(tmpdir(), "mlstls-test-"));
    this.dirs.push(d);
    return d;
  }
}

export async function listen(server: net.Server, path?: string): Promise<number> {
  if (path !== undefined) server.listen(path);
  else server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const a = server.address();
  return typeof a === "object" && a !== null ? a.port : 0;
}

export function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
  });
}

/** Connects and waits for 'secureConnect'. */
export async function secureConnect(options: mlstls.ConnectOptions): Promise<mlstls.MlsTlsSocket> {
  const socket = mlstls.connect({ host: "127.0.0.1", ...options });
  await new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", resolve);
    socket.once("error", reject);
  });
  return socket;
}

export interface Connected {
  server: mlstls.Server;
  port: number;
  client: mlstls.MlsTlsSocket;
  /** The server's side of the connection, after 'secureConnection'. */
  peer: mlstls.MlsTlsSocket;
}

/** An mlstls server and one client connected to it, both registered for cleanup. */
export async function connectedPair(
  cleanup: Cleanup,
  serverOptions: mlstls.ServerOptions = {},
  clientOptions: mlstls.ConnectOptions = {},
): Promise<Connected> {
  const server = cleanup.server(mlstls.createServer(serverOptions));
  const port = await listen(server);
  const peerP = once(server, "secureConnection") as Promise<[mlstls.MlsTlsSocket]>;
  const client = cleanup.stream(await secureConnect({ port, ...clientOptions }));
  const [peer] = await peerP;
  cleanup.stream(peer);
  return { server, port, client, peer };
}

/** A throwaway self-signed P-256 certificate for node:tls, made with the openssl CLI. */
export function selfSignedCert(dir: string): { key: Buffer; cert: Buffer } {
  const key = join(dir, "key.pem");
  const cert = join(dir, "cert.pem");
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
      "-days", "1", "-subj", "/CN=localhost"],
    { stdio: "ignore" },
  );
  return { key: readFileSync(key), cert: readFileSync(cert) };
}

/** Resolves with the first event of `name`, rejecting after `ms`. */
export function waitFor<T extends unknown[]>(emitter: NodeJS.EventEmitter, name: string, ms = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for '${name}'`)), ms);
    emitter.once(name, (...args: unknown[]) => {
      clearTimeout(timer);
      resolve(args as T);
    });
  });
}

/** Polls `cond` until it holds, failing after `ms`. */
export async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms: ${cond.toString()}`);
    await delay(5);
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Deterministic pseudo-random bytes, fast: an AES-128-CTR keystream under a key derived from `seed`. */
export function deterministicBytes(seed: number, length: number): Buffer {
  const key = createHash("sha256").update(`mlstls test data ${seed}`).digest().subarray(0, 16);
  const cipher = createCipheriv("aes-128-ctr", key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(length)), cipher.final()]);
}
