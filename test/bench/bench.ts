// npm run bench: mlstls against node:tls over the same loopback, in the same run, reported as ratios (issue 11).
// Not part of the test suite: tests assert behaviour, this measures speed.
//
//   npm run bench                      the table (about 2 minutes on 2 cores)
//   npm run bench -- --json            the same figures as JSON on stdout
//   npm run bench -- --profile         where one handshake's time goes (X.509, MLS, key schedule, I/O)
//   MLSTLS_BENCH_ROUNDS=5 npm run bench
//
// Every figure is the median of several rounds; in each round node:tls and the mlstls suites run one after the
// other, in an order that alternates between rounds, so a noisy neighbour on a shared machine hits all of them.
// Both sides use X.509 from test/fixtures/certs (a P-384 root, a P-256 intermediate, a leaf of the suite's
// signature type; node:tls gets the P-256 leaf), the client verifying the chain and the host name.

import { chartSvg } from "./chart.js";
import { fork, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import * as tls from "node:tls";
import { fileURLToPath } from "node:url";
import * as mlstls from "../../lib/index.js";
import { suiteById } from "../../lib/suites.js";

const ROUNDS = Number(process.env.MLSTLS_BENCH_ROUNDS ?? 3);
const SEQUENTIAL = Number(process.env.MLSTLS_BENCH_HANDSHAKES ?? 40);
const IN_FLIGHT = 100;
const BURSTS = 3;
const BULK_MB = Number(process.env.MLSTLS_BENCH_MB ?? 64);
const PAIRS = Number(process.env.MLSTLS_BENCH_PAIRS ?? 1000);
const HELLOS = 200;
const CHUNK = 64 * 1024;
const SUITES = [1, 2, 3] as const;

const fixture = (name: string): Buffer => readFileSync(new URL(`../../../test/fixtures/certs/${name}`, import.meta.url));
const CA = fixture("root-ca.pem");
const LEAF: Record<string, { key: Buffer; cert: Buffer }> = {
  ed25519: { key: fixture("ed25519.key"), cert: fixture("ed25519-chain.pem") },
  p256: { key: fixture("p256.key"), cert: fixture("p256-chain.pem") },
};

/** "node" or an mlstls suite; "default" is mlstls with its default offer (every suite, two KeyPackages). */
type ImplId = "node" | "1" | "2" | "3" | "default";
type Sock = (tls.TLSSocket | mlstls.MlsTlsSocket) & NodeJS.ReadWriteStream;

const suiteName = (id: number): string => suiteById(id)!.name;
const leafFor = (id: ImplId) => LEAF[id === "1" || id === "3" || id === "default" ? "ed25519" : "p256"]!;

function createServer(id: ImplId, onConn: (s: Sock) => void): net.Server {
  const { key, cert } = leafFor(id);
  if (id === "node") {
    return tls.createServer({ key, cert, minVersion: "TLSv1.3", ciphers: "TLS_AES_128_GCM_SHA256" }, onConn as (s: tls.TLSSocket) => void);
  }
  return mlstls.createServer({ key, cert, autoConnectionUpdate: false, autoKeyUpdate: false }, onConn as never) as unknown as net.Server;
}

function connect(id: ImplId, port: number): Promise<Sock> {
  return new Promise((resolve, reject) => {
    const common = { port, host: "127.0.0.1", ca: CA, servername: "localhost" };
    const sock: Sock =
      id === "node"
        ? tls.connect(common, () => resolve(sock))
        : (mlstls.connect(
            {
              ...common,
              ...(id === "default" ? {} : { ciphersuites: suiteName(Number(id)) }),
              autoConnectionUpdate: false,
              autoKeyUpdate: false,
            },
            () => resolve(sock),
          ) as Sock);
    sock.once("error", reject);
  });
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as AddressInfo).port;
}

const closeServer = (s: net.Server) => new Promise((r) => s.close(r));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

// ---------------------------------------------------------------------------------------------------------------
// The server process (two-process rows): the parent forks this file with --child and talks over IPC.

type ChildRequest =
  | { op: "serve"; id: ImplId }
  | { op: "mark" }
  | { op: "stats" }
  | { op: "memory"; id: ImplId; pairs: number };

async function child(): Promise<void> {
  let server: net.Server | undefined;
  const h = monitorEventLoopDelay({ resolution: 1 });
  let cpu0 = process.cpuUsage();
  let handshakes = 0;
  const reply = (m: object) => process.send!(m);
  process.on("message", async (m: ChildRequest) => {
    if (m.op === "serve") {
      server = createServer(m.id, (s) => {
        handshakes++;
        s.on("error", () => undefined);
        s.on("data", (d: Buffer) => s.write(d));
        s.on("end", () => s.end());
      });
      // Replayed ClientHellos never finish a handshake: count the answers the server sent instead.
      reply({ port: await listen(server) });
    } else if (m.op === "mark") {
      h.reset();
      h.enable();
      cpu0 = process.cpuUsage();
      handshakes = 0;
      reply({});
    } else if (m.op === "stats") {
      h.disable();
      reply({ p99: h.percentile(99) / 1e6, max: h.max / 1e6, cpuMs: cpuMs(process.cpuUsage(cpu0)), handshakes });
    } else if (m.op === "memory") {
      reply(await memoryPerPair(m.id, m.pairs));
    }
  });
  process.on("disconnect", () => process.exit(0));
}

class Child {
  readonly proc: ChildProcess;
  #pending: ((m: unknown) => void)[] = [];
  constructor() {
    this.proc = fork(fileURLToPath(import.meta.url), ["--child"], { execArgv: ["--expose-gc"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
    this.proc.on("message", (m) => this.#pending.shift()?.(m));
  }
  ask<T>(m: ChildRequest): Promise<T> {
    return new Promise((resolve) => {
      this.#pending.push(resolve as (m: unknown) => void);
      this.proc.send(m);
    });
  }
  stop(): void {
    this.proc.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Measurements

/** Median ms from connect() to the secure event, sequential handshakes, to a server at `port`. */
async function sequential(id: ImplId, port: number, n = SEQUENTIAL): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n + 3; i++) {
    const t = performance.now();
    const s = await connect(id, port);
    if (i >= 3) times.push(performance.now() - t);
    s.destroy();
  }
  return median(times);
}

async function handshakeOneProcess(id: ImplId): Promise<number> {
  const server = createServer(id, (s) => s.on("error", () => undefined));
  const port = await listen(server);
  const ms = await sequential(id, port);
  await closeServer(server);
  return ms;
}

interface BurstResult {
  twoProcessMs: number;
  perSec: number;
  loopP99: number;
  loopMax: number;
  serverCpuPerHandshake: number;
}

/** Server in a child: sequential handshakes, then bursts of IN_FLIGHT at once with the server's loop delay. */
async function serverProcess(id: ImplId): Promise<BurstResult> {
  const c = new Child();
  try {
    const { port } = await c.ask<{ port: number }>({ op: "serve", id });
    const twoProcessMs = await sequential(id, port);
    await Promise.all(Array.from({ length: 10 }, () => connect(id, port).then((s) => s.destroy())));
    await c.ask({ op: "mark" });
    const t = performance.now();
    for (let b = 0; b < BURSTS; b++) {
      const socks = await Promise.all(Array.from({ length: IN_FLIGHT }, () => connect(id, port)));
      for (const s of socks) s.destroy();
    }
    const seconds = (performance.now() - t) / 1000;
    const st = await c.ask<{ p99: number; max: number; cpuMs: number; handshakes: number }>({ op: "stats" });
    return {
      twoProcessMs,
      perSec: (BURSTS * IN_FLIGHT) / seconds,
      loopP99: st.p99,
      loopMax: st.max,
      serverCpuPerHandshake: st.cpuMs / Math.max(1, st.handshakes),
    };
  } finally {
    c.stop();
  }
}

/** The first bytes a client sends: its ClientHello, as an attacker would capture and replay it. */
async function captureHello(id: ImplId): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const server = net.createServer((s) => {
    s.on("data", (d) => {
      chunks.push(d);
      s.destroy();
    });
  });
  const port = await listen(server);
  await connect(id, port).catch(() => undefined);
  await closeServer(server);
  return Buffer.concat(chunks);
}

/** Server CPU per replayed ClientHello: each on a new TCP connection, until the server answers it. */
async function cpuPerHello(id: ImplId): Promise<number> {
  const hello = await captureHello(id);
  const c = new Child();
  try {
    const { port } = await c.ask<{ port: number }>({ op: "serve", id });
    const once = () =>
      new Promise<void>((resolve) => {
        const s = net.connect(port, "127.0.0.1", () => s.write(hello));
        s.once("data", () => {
          s.destroy();
          resolve();
        });
        s.once("error", () => resolve());
        s.once("close", () => resolve());
      });
    for (let i = 0; i < 10; i++) await once();
    await c.ask({ op: "mark" });
    for (let i = 0; i < HELLOS; i += 10) await Promise.all(Array.from({ length: 10 }, once));
    const st = await c.ask<{ cpuMs: number }>({ op: "stats" });
    return st.cpuMs / HELLOS;
  } finally {
    c.stop();
  }
}

/** connectionUpdate() round trips started by the client and by the server, one process. */
async function updates(id: ImplId): Promise<{ client: number; server: number }> {
  let gotServerSock!: (s: mlstls.MlsTlsSocket) => void;
  const serverSock = new Promise<mlstls.MlsTlsSocket>((r) => (gotServerSock = r));
  const server = createServer(id, (s) => {
    s.on("error", () => undefined);
    gotServerSock(s as mlstls.MlsTlsSocket);
  });
  const port = await listen(server);
  const c = (await connect(id, port)) as mlstls.MlsTlsSocket;
  const time = async (who: mlstls.MlsTlsSocket) => {
    const ts: number[] = [];
    for (let i = 0; i < 23; i++) {
      const t = performance.now();
      await who.connectionUpdate();
      if (i >= 3) ts.push(performance.now() - t);
    }
    return median(ts);
  };
  const result = { client: await time(c), server: await time(await serverSock) };
  c.destroy();
  await closeServer(server);
  return result;
}

async function bulk(id: ImplId): Promise<number> {
  const total = BULK_MB * 1024 * 1024;
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  const server = createServer(id, (s) => {
    let n = 0;
    s.on("data", (d: Buffer) => {
      n += d.length;
      if (n >= total) finish();
    });
    s.on("error", () => undefined);
  });
  const port = await listen(server);
  const sock = await connect(id, port);
  const chunk = Buffer.alloc(CHUNK, 0x61);
  const t0 = performance.now();
  for (let sent = 0; sent < total; sent += CHUNK) {
    if (!sock.write(chunk)) await new Promise((r) => sock.once("drain", r));
  }
  await finished;
  const ms = performance.now() - t0;
  sock.destroy();
  await closeServer(server);
  return (BULK_MB / ms) * 1000;
}

/** In a fresh child: RSS and heap per idle connected pair (both ends in the process), after a full GC. */
async function memoryPerPair(id: ImplId, pairs: number): Promise<{ rssKiB: number; heapKiB: number }> {
  const gc = (globalThis as { gc?: () => void }).gc!;
  const held: Sock[] = [];
  const server = createServer(id, (s) => {
    s.on("error", () => undefined);
    held.push(s);
  });
  const port = await listen(server);
  for (let i = 0; i < 20; i++) (await connect(id, port)).destroy();
  for (const s of held.splice(0)) s.destroy();
  await new Promise((r) => setTimeout(r, 50));
  gc();
  const before = process.memoryUsage();
  for (let i = 0; i < pairs; i += 50) {
    held.push(...(await Promise.all(Array.from({ length: Math.min(50, pairs - i) }, () => connect(id, port)))));
  }
  await new Promise((r) => setTimeout(r, 200));
  gc();
  gc();
  const after = process.memoryUsage();
  for (const s of held) s.destroy();
  await closeServer(server);
  return { rssKiB: (after.rss - before.rss) / 1024 / pairs, heapKiB: (after.heapUsed - before.heapUsed) / 1024 / pairs };
}

async function memory(id: ImplId): Promise<{ rssKiB: number; heapKiB: number }> {
  const c = new Child();
  try {
    return await c.ask({ op: "memory", id, pairs: PAIRS });
  } finally {
    c.stop();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// --profile: one handshake's time, split by where the CPU samples fall

async function profile(): Promise<void> {
  const { Session } = await import("node:inspector");
  const session = new Session();
  session.connect();
  const post = <T>(method: string, params?: object) =>
    new Promise<T>((resolve, reject) => session.post(method, params ?? {}, (e, r) => (e ? reject(e) : resolve(r as T))));
  for (const id of ["node", "1", "2", "default"] as ImplId[]) {
    const server = createServer(id, (s) => s.on("error", () => undefined));
    const port = await listen(server);
    await sequential(id, port, 20);
    const n = 200;
    await post("Profiler.enable");
    await post("Profiler.setSamplingInterval", { interval: 100 });
    await post("Profiler.start");
    const t = performance.now();
    for (let i = 0; i < n; i++) (await connect(id, port)).destroy();
    const wall = (performance.now() - t) / n;
    const { profile: p } = await post<{ profile: { nodes: ProfNode[]; samples: number[]; timeDeltas: number[] } }>("Profiler.stop");
    await closeServer(server);
    const split = splitProfile(p);
    const total = Object.values(split).reduce((a, b) => a + b, 0);
    const parts = Object.entries(split)
      .filter(([, v]) => v > 0)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${(v / 1000 / n).toFixed(2)} ms (${((100 * v) / total).toFixed(0)}%)`);
    console.log(`${label(id)}: ${wall.toFixed(2)} ms per handshake (client and server in one process)\n  ${parts.join("\n  ")}`);
  }
  session.disconnect();
}

interface ProfNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

/** Samples by category, attributed to the innermost frame that names one (µs). */
function splitProfile(p: { nodes: ProfNode[]; samples: number[]; timeDeltas: number[] }): Record<string, number> {
  const parent = new Map<number, number>();
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const category = (n: ProfNode): string | undefined => {
    const { url, functionName } = n.callFrame;
    if (/crypto\/x509|\/lib\/auth\//.test(url)) return "X.509 and authentication";
    if (/ts-mls|\/lib\/mls\/|@noble|@hpke/.test(url)) return "MLS (ts-mls, HPKE, signatures)";
    if (/key-schedule|\/records\//.test(url)) return "key schedule and records";
    if (/\/lib\/protocol\//.test(url)) return "protocol engine";
    if (/node:net|stream|\/lib\/node\/|tcp_wrap|node:tls|_tls_/.test(url)) return "I/O (sockets, streams)";
    if (functionName === "(garbage collector)") return "GC";
    if (functionName === "(idle)") return "idle (waiting for the peer / loop)";
    return undefined;
  };
  const cache = new Map<number, string>();
  const classify = (id: number): string => {
    const hit = cache.get(id);
    if (hit !== undefined) return hit;
    let cur: number | undefined = id;
    let out = "other (node internals, crypto bindings called from the engine)";
    while (cur !== undefined) {
      const c = category(byId.get(cur)!);
      if (c !== undefined) {
        out = c;
        break;
      }
      cur = parent.get(cur);
    }
    cache.set(id, out);
    return out;
  };
  const out: Record<string, number> = {};
  p.samples.forEach((s, i) => {
    const k = classify(s);
    out[k] = (out[k] ?? 0) + (p.timeDeltas[i] ?? 0);
  });
  return out;
}

// ---------------------------------------------------------------------------------------------------------------

const label = (id: ImplId): string =>
  id === "node" ? "node:tls (TLS 1.3, AES-128-GCM, ECDSA P-256)" : id === "default" ? "mlstls, default offer (KeyPackages for Ed25519 and P-256)" : `mlstls suite ${id} (${suiteName(Number(id))})`;

interface Row {
  name: string;
  unit: string;
  /** Whether a larger figure is better (ratios are printed as mlstls / node:tls either way). */
  higherIsBetter: boolean;
  values: Partial<Record<ImplId, number[]>>;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes("--child")) return child();
  if (args.includes("--profile")) return profile();
  const json = args.includes("--json");
  const log = (s: string) => (json ? process.stderr.write(s + "\n") : console.log(s));
  const impls: ImplId[] = ["node", "1", "2", "3"];
  const rows = new Map<string, Row>();
  const add = (name: string, unit: string, higherIsBetter: boolean, id: ImplId, v: number) => {
    let r = rows.get(name);
    if (r === undefined) rows.set(name, (r = { name, unit, higherIsBetter, values: {} }));
    (r.values[id] ??= []).push(v);
  };
  log(`mlstls benchmark: Node ${process.version}, ${ROUNDS} rounds, X.509 (P-384 root, P-256 intermediate) both ways`);
  const t0 = performance.now();
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? impls : [...impls].reverse();
    for (const id of order) {
      add("handshake, one process", "ms", false, id, await handshakeOneProcess(id));
      const b = await serverProcess(id);
      add("handshake, two processes", "ms", false, id, b.twoProcessMs);
      add(`handshakes/s, ${IN_FLIGHT} in flight`, "/s", true, id, b.perSec);
      add(`server loop delay p99, ${IN_FLIGHT} in flight`, "ms", false, id, b.loopP99);
      add(`server loop delay max, ${IN_FLIGHT} in flight`, "ms", false, id, b.loopMax);
      add("server CPU per handshake", "ms", false, id, b.serverCpuPerHandshake);
      add("server CPU per replayed ClientHello", "ms", false, id, await cpuPerHello(id));
      add("bulk, one way, 64 KiB writes", "MB/s", true, id, await bulk(id));
      if (id !== "node") {
        const u = await updates(id);
        add("connectionUpdate by the client (vs a node:tls handshake)", "ms", false, id, u.client);
        add("connectionUpdate by the server (vs a node:tls handshake)", "ms", false, id, u.server);
      }
    }
    // The default offer (two KeyPackages) against a single-suite offer, same server.
    add("handshake, default offer vs suite 1 alone", "ms", false, "default", await handshakeOneProcess("default"));
    log(`  round ${round + 1}/${ROUNDS} done (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  for (const id of impls) {
    const m = await memory(id);
    add(`RSS per idle connection pair (${PAIRS} pairs)`, "KiB", false, id, m.rssKiB);
    add(`heap per idle connection pair (${PAIRS} pairs)`, "KiB", false, id, m.heapKiB);
  }
  // Baselines: node:tls's figure in the same row, except where the row says otherwise.
  const baseline = (r: Row): number | undefined => {
    if (r.name.startsWith("connectionUpdate")) return median(rows.get("handshake, one process")!.values.node!);
    if (r.name.startsWith("handshake, default offer")) return median(rows.get("handshake, one process")!.values["1"]!);
    const v = r.values.node;
    return v === undefined ? undefined : median(v);
  };
  const out = [...rows.values()].map((r) => {
    const base = baseline(r);
    const figures = Object.fromEntries(
      (Object.entries(r.values) as [ImplId, number[]][]).map(([id, v]) => {
        const m = median(v);
        return [id, { median: m, rounds: v, ratio: base === undefined || id === "node" ? undefined : m / base }];
      }),
    );
    return { name: r.name, unit: r.unit, higherIsBetter: r.higherIsBetter, baseline: base, figures };
  });
  // The picture the README shows (test/bench/results/chart.svg), from this run's medians.
  const chartPath = args.find((a) => a.startsWith("--chart="))?.slice("--chart=".length) ?? fileURLToPath(new URL("../../../test/bench/results/chart.svg", import.meta.url));
  mkdirSync(dirname(chartPath), { recursive: true });
  writeFileSync(chartPath, chartSvg(out, `mlstls ${process.version}, median of ${ROUNDS} rounds`));
  log(`chart: ${chartPath}`);
  if (json) {
    console.log(JSON.stringify({ node: process.version, rounds: ROUNDS, rows: out }, null, 2));
    return;
  }
  const cols: ImplId[] = ["node", "1", "2", "3", "default"];
  const f = (x: number | undefined) => (x === undefined ? "" : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  console.log("\n| figure | unit | node:tls | suite 1 | suite 2 | suite 3 | ratios (suite 1 / 2 / 3) |");
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  for (const r of out) {
    const cell = (id: ImplId) => f(r.figures[id]?.median);
    const ratios = (["1", "2", "3", "default"] as ImplId[])
      .map((id) => r.figures[id]?.ratio)
      .filter((x): x is number => x !== undefined)
      .map((x) => x.toFixed(2) + "x")
      .join(" / ");
    let name = r.name;
    if (r.name.startsWith("handshake, default offer")) name = `${r.name}: ${cell("default")} ms`;
    const nodeCell = r.name.startsWith("connectionUpdate") ? `(${f(r.baseline)})` : cell("node");
    console.log(`| ${name} | ${r.unit} | ${nodeCell} | ${cell("1")} | ${cell("2")} | ${cell("3")} | ${ratios} |`);
  }
  console.log(`\n${((performance.now() - t0) / 1000).toFixed(0)} s. Ratios are mlstls / node:tls; connectionUpdate rows compare with a node:tls handshake, the default-offer row with a suite-1-only offer.`);
}

await main();
// Scale-out figures (1 and 2 processes sharing Redis): skipped with a message when no Redis is reachable. Only in the
// parent: a forked server (--child) that ran them too would start a Redis and a client load of its own while the
// parent measures it (two-process, in-flight, CPU and memory rows).
if (!process.argv.includes("--child") && !process.argv.includes("--profile")) await (await import("./scale-out.js")).runScaleOut();
