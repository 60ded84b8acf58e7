// A real server process on a FileSessionStore, killed with SIGKILL right after the connection was cut in the
// middle of an update, and started again on the same directory: the client resumes and both ends agree.

import { expect } from "chai";
import { type ChildProcess, fork } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { CutProxy } from "../helpers/cut-proxy.js";
import { Client, type Watched, received } from "../helpers/resume-world.js";
import { Cleanup, SERVER_IDENTITY, until } from "../helpers/sockets.js";

const SERVER = fileURLToPath(new URL("../helpers/resume-server.js", import.meta.url));

interface Child {
  proc: ChildProcess;
  proxy: CutProxy;
}

/** `p`, or a failure naming `what` after `ms`: a hang shows where it happened. */
async function within<T>(p: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function startServer(dir: string): Promise<Child> {
  const proc = fork(SERVER, [dir], {
    stdio: ["ignore", "ignore", "inherit", "ipc"],
    env: { ...process.env, MLSTLS_TEST_IDENTITY: SERVER_IDENTITY.toPem() },
  });
  const [msg] = (await within(once(proc, "message"), "the server process starting")) as [{ port: number }];
  const proxy = await CutProxy.start(msg.port);
  proxy.server.on("connection", () => {
    const link = proxy.links[proxy.links.length - 1]!;
    link.client.setNoDelay(true);
    link.server.setNoDelay(true);
  });
  return { proc, proxy };
}

async function kill(c: Child): Promise<void> {
  const exited = once(c.proc, "exit");
  c.proc.kill("SIGKILL");
  await within(exited, "the server process exiting");
  await c.proxy.close();
}

/** Sends `text`, waits for the echo, and returns the server's epoch from it. */
async function echo(w: Watched, text: string): Promise<bigint> {
  const before = received(w).length;
  w.socket.write(text);
  await until(() => received(w).slice(before).endsWith(`:${text}`));
  const reply = received(w).slice(before);
  expect(reply).to.match(new RegExp(`^\\d+:${text}$`));
  return BigInt(reply.split(":")[0]!);
}

describe("resumption across a real server restart (kill -9)", function () {
  this.timeout(30_000);
  const cleanup = new Cleanup();
  const children: Child[] = [];
  afterEach(async () => {
    for (const c of children.splice(0)) if (c.proc.exitCode === null && c.proc.signalCode === null) await kill(c);
  });

  const cases = [
    // The server applied the client's update and saved it; its EpochKeyUpdate is lost (repair +0).
    { name: "client update, cut before the server's EpochKeyUpdate", trigger: "client", cutAt: { dir: "s2c", k: 0 }, repair: 0 },
    // The client processed the server's update; its EpochKeyUpdate is lost, the server holds a pending commit (+2).
    { name: "server update, cut before the client's EpochKeyUpdate", trigger: "server", cutAt: { dir: "c2s", k: 0 }, repair: 2 },
  ] as const;

  for (const c of cases) {
    it(c.name, async () => {
      const dir = cleanup.tmpdir();
      const client = new Client();
      try {
        const first = await startServer(dir);
        children.push(first);
        const a = await within(client.connectSecure(first.proxy.port), "the first handshake");
        expect(await echo(a, "hello;")).to.equal(a.socket.epoch);
        const link = first.proxy.links[0]!;
        let cut = false;
        // Counting starts after the trigger: the "update;" chunk and its echo pass first.
        const base = { c2s: link.counts.c2s + (c.trigger === "server" ? 1 : 0), s2c: link.counts.s2c + (c.trigger === "server" ? 1 : 0) };
        first.proxy.decide = (dir2, index, l) => {
          if (l !== link || dir2 !== c.cutAt.dir || index - base[dir2] !== c.cutAt.k) return "forward";
          cut = true;
          return "cut-both";
        };
        if (c.trigger === "client") void a.socket.connectionUpdate().catch(() => undefined);
        else a.socket.write("update;");
        await until(() => cut && a.closed);
        await kill(first);

        const second = await startServer(dir);
        children.push(second);
        const repaired = once(second.proc, "message") as Promise<[{ repair?: number }]>;
        const b = await within(
          client.connectSecure(second.proxy.port, { session: client.session, sessionFallback: false }),
          "the resumption",
        );
        expect(b.socket.isSessionReused()).to.equal(true);
        expect((await within(repaired, "the server's report"))[0].repair).to.equal(c.repair);
        expect(await echo(b, "after the restart;")).to.equal(b.socket.epoch);
        await within(b.socket.connectionUpdate(), "an update after the resumption");
        expect(await echo(b, "and an update;")).to.equal(b.socket.epoch);
        expect(received(a).startsWith("1:hello;")).to.equal(true);
        expect(a.ended).to.equal(false);
        expect(new Set(client.secrets).size).to.equal(client.secrets.length);
      } finally {
        client.destroyAll();
      }
    });
  }
});
