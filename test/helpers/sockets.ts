// Shared setup for the socket, server and http tests: real TCP on 127.0.0.1, ephemeral ports, and cleanup of
// every server and socket a test made.

import { execFileSync } from "node:child_process";
import { createCipheriv, createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as mlstls from "../../lib/index.js";
import { createIdentity } from "../../lib/auth/identity.js";

/**
 * The identity test servers present, and the pin test clients trust it by: clients verify servers by default
 * (rejectUnauthorized), and an anonymous server would be refused with ERR_MLSTLS_X509_REQUIRED.
 */
export const SERVER_IDENTITY = createIdentity({ name: "mlstls test server" });
/** Server options: present SERVER_IDENTITY. */
export const SERVED: mlstls.ServerOptions = Object.freeze({ identity: SERVER_IDENTITY });
/** Client options: trust SERVER_IDENTITY by its fingerprint. */
export const TRUSTED: mlstls.ConnectOptions = Object.freeze({ fingerprints: [SERVER_IDENTITY.fingerprint] });

/** A file of test/fixtures/certs (see generate.sh there for what each is). */
export function fixture(name: string): Buffer {
  return readFileSync(new URL(`../../../test/fixtures/certs/${name}`, import.meta.url));
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

/** Connects (trusting SERVER_IDENTITY unless `options` say otherwise) and waits for 'secureConnect'. */
export async function secureConnect(options: mlstls.ConnectOptions): Promise<mlstls.MlsTlsSocket> {
  const socket = mlstls.connect({ host: "127.0.0.1", ...TRUSTED, ...options });
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

/** An mlstls server (SERVER_IDENTITY unless `serverOptions` say otherwise) and one client connected to it, both registered for cleanup. */
export async function connectedPair(
  cleanup: Cleanup,
  serverOptions: mlstls.ServerOptions = {},
  clientOptions: mlstls.ConnectOptions = {},
): Promise<Connected> {
  const server = cleanup.server(mlstls.createServer({ ...SERVED, ...serverOptions }));
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

export interface IssueOptions {
  /** A new key of this type, unless `key` is given. */
  keyType?: "ed25519" | "p256" | "p384";
  /** PEM private key to certify (e.g. a fixture's, for a renewal). */
  key?: Buffer;
  /** openssl -subj form, e.g. "/CN=localhost/O=mlstls fixtures". */
  subject: string;
  /** subjectAltName value; default "DNS:localhost, IP:127.0.0.1". */
  san?: string;
  days?: number;
  /** Self-signed instead of issued by the intermediate (then `chain` is the certificate alone). */
  selfSigned?: boolean;
}

/**
 * A leaf certificate issued at run time by the fixtures' intermediate CA (so it chains to root-ca.pem), made
 * with the openssl CLI in `dir`. Returns the key, the leaf, and the chain a peer sends (leaf + intermediate).
 */
export function issueCertificate(dir: string, o: IssueOptions): { key: Buffer; cert: Buffer; chain: Buffer } {
  const base = join(dir, `leaf-${Math.random().toString(36).slice(2)}`);
  const run = (args: string[]): void => {
    execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  };
  if (o.key !== undefined) writeFileSync(`${base}.key`, o.key);
  else if (o.keyType === "ed25519" || o.keyType === undefined) run(["genpkey", "-algorithm", "ed25519", "-out", `${base}.key`]);
  else run(["genpkey", "-algorithm", "EC", "-pkeyopt", `ec_paramgen_curve:${o.keyType === "p256" ? "P-256" : "P-384"}`, "-out", `${base}.key`]);
  writeFileSync(
    `${base}.cnf`,
    ["[leaf]", "basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature", "extendedKeyUsage=serverAuth,clientAuth",
      `subjectAltName=${o.san ?? "DNS:localhost, IP:127.0.0.1"}`, "subjectKeyIdentifier=hash", "authorityKeyIdentifier=keyid:always", ""].join("\n"),
  );
  if (o.selfSigned === true) {
    run(["req", "-x509", "-new", "-key", `${base}.key`, "-subj", o.subject, "-days", String(o.days ?? 2), "-config", `${base}.cnf`,
      "-extensions", "leaf", "-out", `${base}.pem`]);
    const cert = readFileSync(`${base}.pem`);
    return { key: readFileSync(`${base}.key`), cert, chain: cert };
  }
  run(["req", "-new", "-key", `${base}.key`, "-subj", o.subject, "-out", `${base}.csr`]);
  const ca = (name: string): string => fileURLToPath(new URL(`../../../test/fixtures/certs/${name}`, import.meta.url));
  run(["x509", "-req", "-in", `${base}.csr`, "-CA", ca("intermediate-ca.pem"), "-CAkey", ca("intermediate-ca.key"),
    "-set_serial", `0x${randomBytes(8).toString("hex")}`, "-days", String(o.days ?? 2), "-extfile", `${base}.cnf`, "-extensions", "leaf",
    "-out", `${base}.pem`]);
  const cert = readFileSync(`${base}.pem`);
  return { key: readFileSync(`${base}.key`), cert, chain: Buffer.concat([cert, fixture("intermediate-ca.pem")]) };
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
