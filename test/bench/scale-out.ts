// npm run bench:scale-out (also the last part of npm run bench): full handshakes/s and resumptions/s against
// server processes behind one port (node's cluster module, this process is the primary and runs the clients):
// one process with the in-memory store (the baseline), then 1 and 2 processes sharing a RedisSessionStore.
// Redis: MLSTLS_REDIS_URL, else redis://127.0.0.1:6379, else a redis-server started here from the system's binary;
// with none of them, it says so and measures nothing.
//
//   MLSTLS_BENCH_SCALE_N=200 MLSTLS_BENCH_SCALE_CONCURRENCY=8 npm run bench:scale-out

import * as net from "node:net";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import * as mlstls from "../../lib/index.js";
import { RedisCluster } from "../helpers/redis-cluster.js";
import { RedisServer, redisServerBinary } from "../helpers/redis.js";
import { TRUSTED } from "../helpers/sockets.js";

const N = Number(process.env.MLSTLS_BENCH_SCALE_N ?? 120);
const CONCURRENCY = Number(process.env.MLSTLS_BENCH_SCALE_CONCURRENCY ?? 8);
const QUIET = { autoKeyUpdate: false, autoConnectionUpdate: false } as const;

async function reachable(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect(Number(u.port || 6379), u.hostname);
    s.setTimeout(500, () => s.destroy());
    s.on("connect", () => s.write("PING\r\n"));
    s.on("data", (d) => {
      s.destroy();
      resolve(d.toString().startsWith("+PONG"));
    });
    s.on("error", () => resolve(false));
    s.on("close", () => resolve(false));
  });
}

/** One connection to the end of its handshake; resolves with the session it ends with. */
function once(port: number, session: Buffer | undefined): Promise<{ session: Buffer; reused: boolean }> {
  return new Promise((resolve, reject) => {
    let latest: Buffer | undefined;
    const s = mlstls.connect({ host: "127.0.0.1", port, ...TRUSTED, ...QUIET, session, sessionFallback: true });
    s.on("session", (b: Buffer) => (latest = b));
    s.once("error", reject);
    s.once("secureConnect", () => {
      // The server's key confirmation (and its store write) comes with its first reply: wait for one echo.
      s.once("data", () => {
        const reused = s.isSessionReused();
        s.destroy();
        resolve({ session: latest!, reused });
      });
      s.write("x");
    });
  });
}

/** `total` operations by CONCURRENCY clients in parallel; ops/s. */
async function rate(total: number, op: (client: number) => Promise<void>): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, c) => {
      while (next < total) {
        next++;
        await op(c);
      }
    }),
  );
  return total / ((performance.now() - start) / 1000);
}

async function measure(port: number): Promise<{ hs: number; res: number; reusedShare: number }> {
  for (let i = 0; i < 5; i++) await once(port, undefined); // warm-up
  const hs = await rate(N, async () => {
    await once(port, undefined);
  });
  const sessions: Buffer[] = [];
  for (let c = 0; c < CONCURRENCY; c++) sessions.push((await once(port, undefined)).session);
  let reused = 0;
  const res = await rate(N, async (c) => {
    const r = await once(port, sessions[c]);
    sessions[c] = r.session;
    if (r.reused) reused++;
  });
  return { hs, res, reusedShare: reused / N };
}

export async function runScaleOut(): Promise<void> {
  let url = process.env.MLSTLS_REDIS_URL ?? "redis://127.0.0.1:6379";
  let own: RedisServer | undefined;
  if (!(await reachable(url))) {
    const bin = redisServerBinary();
    if (bin === undefined) {
      console.log(`\nscale-out: SKIPPED: no Redis at ${url} and no redis-server binary (set MLSTLS_REDIS_URL, or install redis-server)`);
      return;
    }
    own = await RedisServer.start(bin);
    url = own.url;
  }
  try {
    console.log(`\nscale-out (${N} connections per figure, ${CONCURRENCY} clients in parallel, this process runs the clients), Redis ${url}:`);
    console.log("servers".padEnd(40) + "handshakes/s  resumptions/s  resumed");
    const key = Buffer.alloc(32, 1);
    const configs = [
      { name: "1 process, MemorySessionStore", n: 1, env: { MLSTLS_TEST_MEMORY_STORE: "1" } },
      { name: "1 process, RedisSessionStore", n: 1, env: {} as Record<string, string> },
      { name: "2 processes, one RedisSessionStore", n: 2, env: {} as Record<string, string> },
    ];
    for (const c of configs) {
      const cl = await RedisCluster.start(c.n, url, key, c.env);
      try {
        const r = await measure(cl.port);
        console.log(c.name.padEnd(40) + r.hs.toFixed(0).padStart(12) + r.res.toFixed(0).padStart(15) + `${(r.reusedShare * 100).toFixed(0)}%`.padStart(9));
      } finally {
        await cl.stop();
      }
    }
  } finally {
    await own?.dispose();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await runScaleOut();
