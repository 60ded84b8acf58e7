// Server processes behind one port: this process is the cluster primary (node's cluster module, round-robin) and
// forks workers running test/helpers/redis-worker.js on one Redis. Each worker's IPC reports are kept per worker.

import cluster, { type Worker } from "node:cluster";
import { fileURLToPath } from "node:url";
import { SERVER_IDENTITY, until } from "./sockets.js";

const WORKER = fileURLToPath(new URL("./redis-worker.js", import.meta.url));

export interface Report {
  listening?: number;
  secure?: { reused: boolean; repair?: number };
  socketError?: string;
  clientError?: string;
  storeError?: string;
  probe?: string;
}

export class RedisCluster {
  readonly reports = new Map<number, Report[]>();
  readonly workers = new Map<number, Worker>();
  port = 0;

  private constructor(
    readonly redisUrl: string,
    readonly key: Buffer,
    readonly env: Record<string, string>,
  ) {}

  static async start(n: number, redisUrl: string, key: Buffer, env: Record<string, string> = {}): Promise<RedisCluster> {
    cluster.schedulingPolicy = cluster.SCHED_RR;
    cluster.setupPrimary({ exec: WORKER, args: [], silent: false });
    const c = new RedisCluster(redisUrl, key, env);
    for (let i = 0; i < n; i++) c.fork();
    await until(() => [...c.workers.keys()].every((id) => c.of(id).some((r) => r.listening !== undefined)), 20_000);
    c.port = c.of([...c.workers.keys()][0]!).find((r) => r.listening !== undefined)!.listening!;
    return c;
  }

  private fork(): Worker {
    const w = cluster.fork({
      MLSTLS_TEST_IDENTITY: SERVER_IDENTITY.toPem(),
      MLSTLS_TEST_REDIS_URL: this.redisUrl,
      MLSTLS_TEST_REDIS_KEY: this.key.toString("hex"),
      ...this.env,
    });
    this.workers.set(w.id, w);
    this.reports.set(w.id, []);
    w.on("message", (m: Report) => this.reports.get(w.id)!.push(m));
    w.on("error", () => undefined);
    return w;
  }

  of(id: number): Report[] {
    return this.reports.get(id) ?? [];
  }

  /** Reports of every worker so far, as a mark to look past later. */
  mark(): Map<number, number> {
    return new Map([...this.reports].map(([id, r]) => [id, r.length]));
  }

  /** Reports since `mark`, per worker id. */
  since(mark: Map<number, number>): Map<number, Report[]> {
    return new Map([...this.reports].map(([id, r]) => [id, r.slice(mark.get(id) ?? 0)]));
  }

  /** As kill -9. */
  async kill(id: number): Promise<void> {
    const w = this.workers.get(id)!;
    const exited = new Promise((r) => w.process.once("exit", r));
    w.process.kill("SIGKILL");
    await exited;
    this.workers.delete(id);
  }

  /** Until every live worker has read from Redis successfully (after Redis came back). */
  async probeUntilReady(ms = 20_000): Promise<void> {
    const end = Date.now() + ms;
    for (;;) {
      const mark = this.mark();
      for (const w of this.workers.values()) w.send({ probe: true });
      await until(() => [...this.workers.keys()].every((id) => this.since(mark).get(id)!.some((r) => r.probe !== undefined)));
      const ok = [...this.workers.keys()].every((id) => this.since(mark).get(id)!.some((r) => r.probe === "ok"));
      if (ok) return;
      if (Date.now() > end) throw new Error("the workers did not reach Redis again");
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    for (const id of [...this.workers.keys()]) await this.kill(id);
  }
}
