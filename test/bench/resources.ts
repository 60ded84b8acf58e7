// `npm run bench:resources` (issue 8): the resource limits, measured. Not a test: it prints figures.
//   1. the caps per connection and per server, with their defaults;
//   2. CPU per replayed ClientHello (1 KiB and 62 KiB client chains);
//   3. a good client's handshake p50/p99 while the server is under attack;
//   4. memory per idle established connection pair, mlstls against node:tls;
//   5. load: N connections, each 10 ConnectionUpdates and 10 KeyUpdates while data flows both ways, byte-exact;
//   6. fuzzing every decoder, the deframer and the engine (1,000,000 inputs per target, or a time box).
// Options: --quick (small counts, for a smoke run), --only=<section number>, --full-fuzz (1,000,000 inputs for every
// fuzz target whatever the time). Run with --expose-gc for section 4.

import { once } from "node:events";
import * as net from "node:net";
import * as tls from "node:tls";
import * as mlstls from "../../lib/index.js";
import { DEFAULT_MAX_HANDSHAKE_WITHOUT_DATA, MAX_EMPTY_RECORDS } from "../../lib/protocol/connection.js";
import { MAX_HANDSHAKE_MESSAGE } from "../../lib/protocol/messages.js";
import { MAX_CIPHERTEXT, MAX_PLAINTEXT, ContentType } from "../../lib/protocol/records/record-layer.js";
import { DEFAULT_MAX_UNCONFIRMED_HANDSHAKES } from "../../lib/node/server.js";
import { DEFAULT_HANDSHAKE_TIMEOUT } from "../../lib/node/socket.js";
import { DEFAULT_MAX_SESSIONS, DEFAULT_MAX_STORE_BYTES, DEFAULT_SESSION_TIMEOUT } from "../../lib/sessions/store.js";
import { SERVED, TRUSTED, fixture, listen } from "../helpers/sockets.js";
import { HandshakeType, handshakeMessage, hostileClient, plainRecord } from "../hostile/harness.js";
import { TARGETS, fuzz, makeSeeds } from "../fuzz/targets.js";
import { captureClientHello, cpuPerReplay, replayOnce } from "./replay-cost.js";

const args = process.argv.slice(2);
const QUICK = args.includes("--quick");
const ONLY = args.find((a) => a.startsWith("--only="))?.slice(7);
const section = (n: string) => ONLY === undefined || ONLY === n;

function table(rows: (string | number)[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  for (const [k, r] of rows.entries()) {
    console.log("| " + r.map((c, i) => String(c).padEnd(widths[i]!)).join(" | ") + " |");
    if (k === 0) console.log("|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|");
  }
  console.log();
}

const KiB = 1024;
const MiB = 1024 * 1024;
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Closes a server after destroying the TCP connections it still has. */
function tracked<T extends net.Server>(server: T): T & { shut(): Promise<void> } {
  const conns = new Set<net.Socket>();
  server.on("connection", (s: net.Socket) => {
    conns.add(s);
    s.once("close", () => conns.delete(s));
  });
  return Object.assign(server, {
    shut: async () => {
      for (const s of conns) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  });
}

// ------------------------------------------------------------------------------------------------ 1. caps

function caps(): void {
  console.log("## 1. Caps and their defaults\n");
  table([
    ["scope", "cap", "default", "what happens over it"],
    ["connection", "record size (plaintext / protected)", `${MAX_PLAINTEXT} / ${MAX_CIPHERTEXT} B`, "record_overflow"],
    ["connection", "buffered bytes of a record in progress", `${5 + MAX_CIPHERTEXT} B`, "header checked first: record_overflow"],
    ["connection", "pending handshake bytes (one message)", `${MAX_HANDSHAKE_MESSAGE + 4} B`, "decode_error (ERR_MLSTLS_HANDSHAKE_MESSAGE_TOO_LARGE)"],
    ["connection", "unsolicited post-handshake messages without data", DEFAULT_MAX_HANDSHAKE_WITHOUT_DATA, "unexpected_message (ERR_MLSTLS_HANDSHAKE_FLOOD)"],
    ["connection", "empty records in a row", MAX_EMPTY_RECORDS, "unexpected_message (ERR_MLSTLS_EMPTY_RECORD_FLOOD)"],
    ["connection", "queued received records", "not capped separately", "the transport pauses only when the application does not read"],
    ["connection", "handshakeTimeout (server)", `${DEFAULT_HANDSHAKE_TIMEOUT} ms`, "ERR_TLS_HANDSHAKE_TIMEOUT"],
    ["server", "handshakes in progress (maxUnconfirmedHandshakes)", DEFAULT_MAX_UNCONFIRMED_HANDSHAKES, "refused: ERR_MLSTLS_TOO_MANY_HANDSHAKES"],
    ["server", "stored sessions (maxSessions)", DEFAULT_MAX_SESSIONS, "least recently saved evicted"],
    ["server", "store bytes (maxBytes, memory and file)", `${DEFAULT_MAX_STORE_BYTES / MiB} MiB`, "least recently saved evicted"],
    ["server", "session lifetime (sessionTimeout)", `${DEFAULT_SESSION_TIMEOUT} s`, "expired, swept on writes and by sweep()"],
  ]);
}

// ------------------------------------------------------------------------------------------------ 2. replay CPU

async function replayCost(): Promise<void> {
  console.log("## 2. CPU per replayed ClientHello (server verifying client certificates)\n");
  const n = QUICK ? 20 : 200;
  const rows: (string | number)[][] = [["client chain", "replays", "CPU ms per replay"]];
  for (const kib of [1, 62]) rows.push([`${kib} KiB`, n, (await cpuPerReplay(kib * KiB, n)).toFixed(2)]);
  table(rows);
}

// ------------------------------------------------------------------------------------------------ 3. under attack

async function goodHandshakes(port: number, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const c = mlstls.connect({ ...TRUSTED, host: "127.0.0.1", port });
    await once(c, "secureConnect");
    times.push(performance.now() - t0);
    c.destroy();
  }
  return times;
}

interface Attack {
  name: string;
  start(port: number): Promise<() => Promise<void>>;
}

const rawSockets = async (port: number, n: number, first: Uint8Array | undefined): Promise<net.Socket[]> => {
  const out: net.Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = net.connect({ port, host: "127.0.0.1" });
    s.on("error", () => undefined);
    await once(s, "connect");
    if (first !== undefined) s.write(first);
    out.push(s);
  }
  return out;
};

function attacks(): Attack[] {
  return [
    { name: "none (baseline)", start: async () => async () => undefined },
    {
      name: "replayed-ClientHello flood, 48 connections",
      start: async (port) => {
        const hello = await captureClientHello(1 * KiB);
        let stop = false;
        const loops = Array.from({ length: 48 }, async () => {
          while (!stop) await replayOnce(port, hello).catch(() => undefined);
        });
        return async () => {
          stop = true;
          await Promise.all(loops);
        };
      },
    },
    {
      name: "slowloris, 500 connections (1 byte / 100 ms)",
      start: async (port) => {
        const socks = await rawSockets(port, QUICK ? 100 : 500, Uint8Array.of(22));
        const hello = await captureClientHello(1 * KiB);
        let i = 1;
        const timer = setInterval(() => {
          for (const s of socks) if (!s.destroyed && i < hello.length) s.write(hello.subarray(i, i + 1));
          i++;
        }, 100);
        return async () => {
          clearInterval(timer);
          for (const s of socks) s.destroy();
        };
      },
    },
    {
      name: "1000 connections, each holding a 64 KiB partial ClientHello",
      start: async (port) => {
        const msg = handshakeMessage(HandshakeType.mls_client_hello, new Uint8Array(MAX_HANDSHAKE_MESSAGE - 100), MAX_HANDSHAKE_MESSAGE);
        const records = [];
        for (let off = 0; off < msg.length; off += MAX_PLAINTEXT) records.push(plainRecord(ContentType.handshake, msg.subarray(off, off + MAX_PLAINTEXT)));
        const socks = await rawSockets(port, QUICK ? 100 : 1000, Buffer.concat(records));
        return async () => {
          for (const s of socks) s.destroy();
        };
      },
    },
    {
      name: "flood of 1-byte records on an established connection",
      start: async (port) => {
        const h = await hostileClient(port);
        (h.engine as { start(): void }).start();
        await h.established;
        let stop = false;
        const loop = (async () => {
          const one = Uint8Array.of(0x61);
          while (!stop && h.engine.canWrite) {
            for (let i = 0; i < 200; i++) h.engine.write(one);
            await new Promise((r) => setImmediate(r));
          }
        })();
        return async () => {
          stop = true;
          await loop;
          h.socket.destroy();
        };
      },
    },
    {
      name: "KeyUpdate flood (63 per data byte, on repeat)",
      start: async (port) => {
        let stop = false;
        const loop = (async () => {
          while (!stop) {
            const h = await hostileClient(port);
            (h.engine as { start(): void }).start();
            await h.established;
            while (!stop && h.engine.canWrite) {
              for (let i = 0; i < 63; i++) await h.engine.keyUpdate();
              h.engine.write(Uint8Array.of(1));
              await new Promise((r) => setImmediate(r));
            }
            h.socket.destroy();
          }
        })();
        return async () => {
          stop = true;
          await loop;
        };
      },
    },
  ];
}

async function underAttack(): Promise<void> {
  console.log("## 3. A good client's handshake while the server is under attack (attackers in this process)\n");
  const rows: (string | number)[][] = [["attack", "good handshakes", "p50 ms", "p99 ms", "server handshakes in progress"]];
  for (const a of attacks()) {
    const server = tracked(
      mlstls.createServer({ ...SERVED, handshakeTimeout: 30_000 }, (s) => {
        s.on("data", () => undefined);
        s.on("error", () => undefined);
      }),
    );
    server.on("tlsClientError", () => undefined);
    const port = await listen(server);
    const stop = await a.start(port);
    await sleep(300);
    const inProgress = server.handshakesInProgress;
    const times = await goodHandshakes(port, QUICK ? 20 : 100);
    await stop();
    rows.push([a.name, times.length, pct(times, 50).toFixed(1), pct(times, 99).toFixed(1), inProgress]);
    await server.shut();
  }
  table(rows);
}

// ------------------------------------------------------------------------------------------------ 4. memory

async function memoryPerPair(): Promise<void> {
  console.log("## 4. Memory per idle established connection pair (client + server in this process)\n");
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    console.log("(skipped: run with node --expose-gc)\n");
    return;
  }
  const n = QUICK ? 50 : 300;
  const measure = async (open: () => Promise<{ close(): void }>) => {
    gc();
    await sleep(50);
    gc();
    const before = process.memoryUsage();
    const pairs = [];
    for (let i = 0; i < n; i++) pairs.push(await open());
    await sleep(100);
    gc();
    await sleep(50);
    gc();
    const after = process.memoryUsage();
    for (const p of pairs) p.close();
    const heap = (after.heapUsed - before.heapUsed) / n;
    const ext = (after.external + after.arrayBuffers - before.external - before.arrayBuffers) / n;
    return [(heap / KiB).toFixed(1), (ext / KiB).toFixed(1), ((heap + ext) / KiB).toFixed(1)];
  };
  const ms = tracked(mlstls.createServer({ ...SERVED }, (s) => s.on("data", () => undefined)));
  const mport = await listen(ms);
  const ns = tracked(tls.createServer({ key: fixture("p256.key"), cert: fixture("p256-chain.pem") }, (s) => s.on("data", () => undefined)));
  const nport = await listen(ns);
  const ca = fixture("root-ca.pem");
  const mls = await measure(async () => {
    const c = mlstls.connect({ ...TRUSTED, host: "127.0.0.1", port: mport });
    await once(c, "secureConnect");
    return { close: () => c.destroy() };
  });
  const node = await measure(async () => {
    const c = tls.connect({ host: "127.0.0.1", port: nport, ca, servername: "localhost" });
    await once(c, "secureConnect");
    return { close: () => c.destroy() };
  });
  table([
    ["implementation", "pairs", "JS heap KiB/pair", "external+ArrayBuffer KiB/pair", "JS-visible KiB/pair (node:tls keeps most in OpenSSL, not counted)"],
    ["mlstls", n, ...mls],
    ["node:tls", n, ...node],
  ]);
  await ms.shut();
  await ns.shut();
}

// ------------------------------------------------------------------------------------------------ 5. load

/** N connections, each 10 ConnectionUpdates and 10 KeyUpdates while data flows both ways; checks every byte. */
export async function updateLoad(n: number, updates = 10, bytesPerSide = 64 * KiB): Promise<{ ms: number; bytes: number }> {
  // Byte 0 carries the seed (times 2), so each side can rebuild what the other must have sent.
  const pattern = (seed: number, len: number) => {
    const b = Buffer.alloc(len);
    for (let i = 0; i < len; i++) b[i] = (seed * 31 + i * 7) & 0xff;
    b[0] = seed * 2;
    return b;
  };
  const server = tracked(
    mlstls.createServer({ ...SERVED, maxUnconfirmedHandshakes: Infinity, allowHalfOpen: true }, (s) => {
      const got: Buffer[] = [];
      s.on("error", () => undefined);
      s.on("data", (d: Buffer) => got.push(d));
      let sent: Promise<void> = Promise.resolve();
      s.once("data", (first: Buffer) => {
        const seed = first[0]! >> 1;
        // The server side: its own data stream back, a KeyUpdate of its own after each piece.
        sent = (async () => {
          const out = pattern(seed + 1, bytesPerSide);
          for (let i = 0; i < updates; i++) {
            s.write(out.subarray((i * out.length) / updates, ((i + 1) * out.length) / updates));
            await s.keyUpdate();
          }
        })();
      });
      s.on("end", () => {
        const all = Buffer.concat(got);
        const seed = all[0]! >> 1;
        if (!all.equals(pattern(seed, bytesPerSide))) {
          s.destroy(new Error("server received different bytes"));
          return;
        }
        void sent.then(() => s.end());
      });
    }),
  );
  const port = await listen(server);
  const t0 = performance.now();
  let total = 0;
  // Connect in batches (a burst of 1000 SYNs overflows the listen backlog), then run every update sequence at once.
  const sockets: mlstls.MlsTlsSocket[] = [];
  for (let k = 0; k < n; k += 100) {
    const batch = Array.from({ length: Math.min(100, n - k) }, () => mlstls.connect({ ...TRUSTED, host: "127.0.0.1", port }));
    await Promise.all(batch.map((c) => once(c, "secureConnect")));
    sockets.push(...batch);
  }
  const one = async (k: number) => {
    const seed = k % 100;
    const c = sockets[k]!;
    const got: Buffer[] = [];
    c.on("data", (d: Buffer) => got.push(d));
    const ended = once(c, "end");
    const out = pattern(seed, bytesPerSide);
    for (let i = 0; i < updates; i++) {
      c.write(out.subarray((i * out.length) / updates, ((i + 1) * out.length) / updates));
      await c.connectionUpdate();
      await c.keyUpdate({ requestPeer: true });
    }
    c.end();
    await ended;
    const all = Buffer.concat(got);
    if (!all.equals(pattern(seed + 1, bytesPerSide))) throw new Error(`connection ${k}: received different bytes`);
    total += all.length + out.length;
  };
  await Promise.all(Array.from({ length: n }, (_, k) => one(k)));
  const ms = performance.now() - t0;
  await server.shut();
  return { ms, bytes: total };
}

async function load(): Promise<void> {
  const n = QUICK ? 20 : 1000;
  console.log(`## 5. Load: ${n} concurrent connections, each 10 ConnectionUpdates + 10 KeyUpdates, data both ways\n`);
  const r = await updateLoad(n);
  table([
    ["connections", "updates per connection", "bytes checked", "wall time s"],
    [n, "10 + 10 (+ 10 server KeyUpdates)", r.bytes, (r.ms / 1000).toFixed(1)],
  ]);
}

// ------------------------------------------------------------------------------------------------ 6. fuzzing

async function fuzzing(): Promise<void> {
  const target = QUICK ? 10_000 : 1_000_000;
  // Seconds per target at most, so that the whole script stays near 10 minutes; --full-fuzz lifts the box (the
  // slowest target, the client-role engine, then takes about 9 minutes on its own).
  const box = args.includes("--full-fuzz") ? Infinity : QUICK ? 5 : 30;
  console.log(`## 6. Fuzzing: up to ${target} inputs per target (time box ${box} s each)\n`);
  const seeds = await makeSeeds();
  const rows: (string | number)[][] = [["target", "inputs", "inputs/s", "result"]];
  for (const t of TARGETS) {
    let done = 0;
    const t0 = performance.now();
    let chunk = 1000;
    while (done < target && performance.now() - t0 < box * 1000) {
      const k = Math.min(chunk, target - done);
      await fuzz(t, seeds, k, 1000 + done);
      done += k;
      chunk = Math.min(chunk * 2, 50_000);
    }
    const rate = done / ((performance.now() - t0) / 1000);
    rows.push([t.name, done, Math.round(rate), "only the project's errors, no hang"]);
  }
  table(rows);
}

async function main(): Promise<void> {
  const t0 = performance.now();
  console.log(`mlstls resource benchmark (${QUICK ? "quick" : "full"}), node ${process.version}\n`);
  if (section("1")) caps();
  if (section("2")) await replayCost();
  if (section("3")) await underAttack();
  if (section("4")) await memoryPerPair();
  if (section("5")) await load();
  if (section("6")) await fuzzing();
  console.log(`total ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

if (process.argv[1]?.endsWith("resources.js")) {
  main().then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
