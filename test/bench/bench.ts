// npm run bench: mlstls against node:tls over the same loopback, in the same run, reported as ratios.
// Not part of the test suite: tests assert behaviour, this measures speed.
//
//   MLSTLS_BENCH_MB=256 MLSTLS_BENCH_HANDSHAKES=200 npm run bench

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tls from "node:tls";
import { performance } from "node:perf_hooks";
import * as mlstls from "../../lib/index.js";
import { Initiator } from "../../lib/protocol/initiator.js";
import { Responder } from "../../lib/protocol/responder.js";
import type { Connection } from "../../lib/protocol/connection.js";
import { RecordProtection } from "../../lib/protocol/records/record-layer.js";
import { suiteById } from "../../lib/suites.js";

const MB = Number(process.env.MLSTLS_BENCH_MB ?? 128);
const HANDSHAKES = Number(process.env.MLSTLS_BENCH_HANDSHAKES ?? 100);
const CHUNK = 64 * 1024;

interface Impl {
  name: string;
  createServer(onConn: (s: NodeJS.ReadWriteStream & { end(): void }) => void): tls.Server | mlstls.Server;
  connect(port: number): Promise<{ sock: NodeJS.ReadWriteStream & { end(): void; destroy(): void } }>;
}

function makeCert(): { key: Buffer; cert: Buffer; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "mlstls-bench-"));
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
    "-subj", "/CN=localhost", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
  ], { stdio: "ignore" });
  return { key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")), dir };
}

function impls(cert: { key: Buffer; cert: Buffer }): Impl[] {
  const nodeTls: Impl = {
    name: "node:tls (TLS 1.3, AES-128-GCM, P-256)",
    createServer: (onConn) =>
      tls.createServer(
        { key: cert.key, cert: cert.cert, minVersion: "TLSv1.3", ciphers: "TLS_AES_128_GCM_SHA256" },
        onConn as (s: tls.TLSSocket) => void,
      ),
    connect: (port) =>
      new Promise((resolve, reject) => {
        const sock = tls.connect({ port, host: "127.0.0.1", ca: cert.cert, servername: "localhost" }, () => resolve({ sock }));
        sock.once("error", reject);
      }),
  };
  // The server is authenticated, as node:tls's is (there by its certificate, here by a pinned identity).
  const identity = mlstls.createIdentity();
  const ours = (suite: string): Impl => ({
    name: `mlstls (${suite})`,
    createServer: (onConn) =>
      mlstls.createServer({ identity, ciphersuites: suite, autoConnectionUpdate: false, autoKeyUpdate: false }, onConn as never),
    connect: (port) =>
      new Promise((resolve, reject) => {
        const opts: mlstls.ConnectOptions = { fingerprints: [identity.fingerprint], ciphersuites: suite, autoConnectionUpdate: false, autoKeyUpdate: false };
        const sock = mlstls.connect({ port, host: "127.0.0.1", ...opts }, () =>
          resolve({ sock }),
        );
        sock.once("error", reject);
      }),
  });
  return [nodeTls, ours("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519"), ours("MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519")];
}

async function listen(server: tls.Server | mlstls.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as AddressInfo).port;
}

async function throughput(impl: Impl): Promise<number> {
  const total = MB * 1024 * 1024;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const server = impl.createServer((s) => {
    let n = 0;
    s.on("data", (d: Buffer) => {
      n += d.length;
      if (n >= total) done();
    });
    s.on("error", () => undefined);
  });
  const port = await listen(server);
  const { sock } = await impl.connect(port);
  const chunk = Buffer.alloc(CHUNK, 0x61);
  const t0 = performance.now();
  for (let sent = 0; sent < total; sent += CHUNK) {
    if (!sock.write(chunk)) await new Promise((r) => sock.once("drain", r));
  }
  await finished;
  const ms = performance.now() - t0;
  sock.destroy();
  await new Promise((r) => server.close(r));
  return (MB / ms) * 1000;
}

async function handshakes(impl: Impl): Promise<{ median: number; perSec: number }> {
  const server = impl.createServer((s) => {
    s.on("error", () => undefined);
    s.end();
  });
  const port = await listen(server);
  const times: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < HANDSHAKES; i++) {
    const t = performance.now();
    const { sock } = await impl.connect(port);
    times.push(performance.now() - t);
    sock.destroy();
  }
  const all = performance.now() - t0;
  await new Promise((r) => server.close(r));
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)]!, perSec: (HANDSHAKES / all) * 1000 };
}

/** In-memory engine pair: the cost of the protocol alone, without sockets. */
async function enginePair(suite: number): Promise<{ c: Connection; s: Connection }> {
  let c!: Initiator;
  let s!: Responder;
  c = new Initiator({ suites: [suite], maxHandshakeMessagesWithoutData: Infinity }, { send: (b) => s.receive(b), event: () => undefined });
  s = new Responder({ suites: [suite], maxHandshakeMessagesWithoutData: Infinity }, { send: (b) => c.receive(b), event: () => undefined });
  c.start();
  for (let i = 0; i < 100 && !(c.established && s.established); i++) {
    await c.whenIdle();
    await s.whenIdle();
  }
  return { c, s };
}

async function updates(suite: number): Promise<{ cu: number; ku: number; handshake: number }> {
  const N = 50;
  let t = performance.now();
  for (let i = 0; i < 10; i++) await enginePair(suite);
  const handshake = (performance.now() - t) / 10;
  const { c, s } = await enginePair(suite);
  t = performance.now();
  for (let i = 0; i < N; i++) await (i % 2 === 0 ? c : s).connectionUpdate();
  const cu = (performance.now() - t) / N;
  t = performance.now();
  for (let i = 0; i < N; i++) await c.keyUpdate({ requestPeer: true });
  const ku = (performance.now() - t) / N;
  return { cu, ku, handshake };
}

function recordLayer(backend: "node" | "noble"): number {
  const suite = suiteById(1)!;
  const p = new RecordProtection(suite, { backend });
  p.install(new Uint8Array(32).fill(1));
  const data = new Uint8Array(16384);
  const n = backend === "node" ? 8000 : 400;
  const t = performance.now();
  for (let i = 0; i < n; i++) p.seal(23, data);
  return ((n * 16384) / 1048576 / (performance.now() - t)) * 1000;
}

const fmt = (x: number, d = 1) => x.toFixed(d).padStart(9);

async function main(): Promise<void> {
  const cert = makeCert();
  try {
    const list = impls(cert);
    console.log(`mlstls benchmark: Node ${process.version}, ${MB} MiB bulk, ${HANDSHAKES} sequential handshakes, loopback\n`);
    const base = { mbps: 0, hs: 0 };
    console.log("implementation".padEnd(62) + "    MiB/s  ratio   hs ms  hs/s   ratio");
    for (const impl of list) {
      const mbps = await throughput(impl);
      const hs = await handshakes(impl);
      if (base.mbps === 0) {
        base.mbps = mbps;
        base.hs = hs.perSec;
      }
      console.log(
        impl.name.padEnd(62) + fmt(mbps) + fmt(mbps / base.mbps, 2).slice(3) + fmt(hs.median, 2).slice(1) +
          fmt(hs.perSec, 0).slice(3) + fmt(hs.perSec / base.hs, 2).slice(2),
      );
    }
    console.log("\nMLS operations, in-memory engines (no sockets), ms each:");
    console.log("suite   handshake  ConnectionUpdate  KeyUpdate(requested)");
    for (const suite of [1, 2, 3, 7]) {
      const u = await updates(suite);
      console.log(String(suite).padEnd(6) + fmt(u.handshake, 2) + fmt(u.cu, 2).padStart(18) + fmt(u.ku, 3).padStart(22));
    }
    const nodeRec = recordLayer("node");
    const nobleRec = recordLayer("noble");
    console.log(`\nrecord sealing, 16 KiB AES-128-GCM records: node:crypto ${nodeRec.toFixed(0)} MiB/s, @noble/ciphers ${nobleRec.toFixed(0)} MiB/s (node/noble ${(nodeRec / nobleRec).toFixed(1)}x)`);
  } finally {
    rmSync(cert.dir, { recursive: true, force: true });
  }
}

await main();
// Scale-out figures (1 and 2 processes sharing Redis): skipped with a message when no Redis is reachable.
await (await import("./scale-out.js")).runScaleOut();
