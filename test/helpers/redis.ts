// A real redis-server for tests: started from the system's binary on a free port of 127.0.0.1, in a temp dir with
// an append-only file fsynced at every write (so a restart keeps the sessions), stopped and started again on demand.
// When the binary is missing the tests that need it skip with a loud message, except under CI, where they fail.

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

export function redisServerBinary(): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const p = join(dir, "redis-server");
    if (dir !== "" && existsSync(p)) return p;
  }
  for (const p of ["/usr/bin/redis-server", "/usr/local/bin/redis-server", "/usr/sbin/redis-server"]) if (existsSync(p)) return p;
  return undefined;
}

/** Call in a describe's `before` (a function, not an arrow): no redis-server skips it loudly, or fails under CI. */
export function requireRedis(ctx: Mocha.Context): string {
  const bin = redisServerBinary();
  if (bin !== undefined) return bin;
  const env = process.env.CI;
  if (env !== undefined && env !== "" && env !== "0" && env !== "false") {
    throw new Error("redis-server is not installed, and CI is set: the Redis tests must run in CI (.ci/run installs it)");
  }
  const line = "!".repeat(100);
  console.warn(`\n${line}\n!!! redis-server not found: SKIPPING "${ctx.test?.parent?.fullTitle()}".\n!!! Install it (apt-get install redis-server) to run these tests.\n${line}\n`);
  ctx.skip();
}

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    let got = "";
    s.setTimeout(1000, () => s.destroy());
    s.on("connect", () => s.write("PING\r\n"));
    s.on("data", (d) => {
      got += d.toString();
      if (got.includes("\r\n")) {
        s.destroy();
        resolve(got.startsWith("+PONG"));
      }
    });
    s.on("error", () => resolve(false));
    s.on("close", () => resolve(false));
  });
}

export class RedisServer {
  private proc: ChildProcess | undefined;
  readonly dir = mkdtempSync(join(tmpdir(), "mlstls-redis-"));

  private constructor(
    readonly bin: string,
    readonly port: number,
  ) {}

  static async start(bin: string): Promise<RedisServer> {
    const r = new RedisServer(bin, await freePort());
    await r.start();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.proc !== undefined;
  }

  async start(): Promise<void> {
    const args = [
      "--port", String(this.port), "--bind", "127.0.0.1", "--dir", this.dir, "--save", "",
      "--appendonly", "yes", "--appendfsync", "always", "--protected-mode", "no", "--daemonize", "no",
    ];
    const proc = spawn(this.bin, args, { stdio: "ignore" });
    this.proc = proc;
    const end = Date.now() + 10_000;
    while (!(await ping(this.port))) {
      if (proc.exitCode !== null || Date.now() > end) throw new Error(`redis-server did not start on port ${this.port}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** SIGTERM: redis-server finishes its append-only file and exits. */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (proc === undefined) return;
    this.proc = undefined;
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await exited;
    }
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
