// Server processes behind one port (node's cluster module) sharing sessions through a real redis-server: a client
// resuming on another worker, two concurrent resumptions of one session, a worker killed with SIGKILL in the middle
// of a ConnectionUpdate, and Redis restarted between two resumptions.

import { expect } from "chai";
import { CutProxy } from "../helpers/cut-proxy.js";
import { RedisCluster, type Report } from "../helpers/redis-cluster.js";
import { RedisServer, requireRedis } from "../helpers/redis.js";
import { Client, type Watched, codeOf, received } from "../helpers/resume-world.js";
import { until } from "../helpers/sockets.js";
import { alertCode } from "../helpers/node-alerts.js";

const KEY = Buffer.alloc(32, 0x5a);

/** Sends `text`; returns the worker and epoch of the echo ("<worker>:<epoch>:<text>"). */
async function echo(w: Watched, text: string): Promise<{ worker: number; epoch: bigint }> {
  const before = received(w).length;
  w.socket.write(text);
  await until(() => received(w).slice(before).endsWith(`:${text}`));
  const m = /^(\d+):(\d+):/.exec(received(w).slice(before))!;
  return { worker: Number(m[1]), epoch: BigInt(m[2]!) };
}

const count = (rs: Report[] | undefined, f: (r: Report) => boolean): number => (rs ?? []).filter(f).length;

describe("scale-out: server processes behind one port sharing sessions through Redis", function () {
  this.timeout(60_000);
  let redis: RedisServer;
  let cl: RedisCluster | undefined;
  const clients: Client[] = [];
  const proxies: CutProxy[] = [];

  before(async function () {
    const bin = requireRedis(this);
    redis = await RedisServer.start(bin);
  });
  after(async () => {
    await redis?.dispose();
  });
  beforeEach(async () => {
    if (!redis.running) await redis.start();
    cl = await RedisCluster.start(2, redis.url, KEY);
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroyAll();
    for (const p of proxies.splice(0)) await p.close();
    await cl?.stop();
    cl = undefined;
  });

  function client(): Client {
    const c = new Client();
    clients.push(c);
    return c;
  }

  it("a client resumes on another worker, and that ends its live connection on the first (ERR_MLSTLS_SESSION_REPLACED)", async () => {
    const c = client();
    let live = await c.connectSecure(cl!.port);
    let at = (await echo(live, "hello;")).worker;
    let crossed = false;
    for (let i = 0; i < 6 && !crossed; i++) {
      const mark = cl!.mark();
      const next = await c.connectSecure(cl!.port, { session: c.session, sessionFallback: false });
      expect(next.socket.isSessionReused()).to.equal(true);
      const now = (await echo(next, `again ${i};`)).worker;
      // The old connection ends, whether in the same worker or through Redis's notice to the other one.
      await until(() => live.closed && count(cl!.since(mark).get(at), (r) => r.socketError === "ERR_MLSTLS_SESSION_REPLACED") === 1);
      crossed = now !== at;
      live = next;
      at = now;
    }
    expect(crossed).to.equal(true);
    expect((await echo(live, "still here;")).worker).to.equal(at);
  });

  it("two concurrent resumptions of one session on two workers: exactly one wins, the other is refused", async () => {
    // Workers whose reads answer late: both takeovers read the session before either writes.
    await cl!.stop();
    cl = await RedisCluster.start(2, redis.url, KEY, { MLSTLS_TEST_SLOW_READS: "150" });
    let onTwo = false;
    for (let attempt = 0; attempt < 4 && !onTwo; attempt++) {
      const c = client();
      const first = await c.connectSecure(cl!.port);
      await echo(first, "hello;");
      first.socket.destroy();
      await until(() => first.closed);
      const session = c.session!;
      const mark = cl!.mark();
      const a = c.connect(cl!.port, { session, sessionFallback: false });
      const b = c.connect(cl!.port, { session, sessionFallback: false });
      // Settled: each worker reported its side (a confirmed resumption, or a refusal).
      const sides = (): number =>
        [...cl!.since(mark).values()].reduce((n, rs) => n + count(rs, (r) => r.secure?.reused === true || r.clientError !== undefined), 0);
      await until(() => sides() === 2 && [a, b].filter((w) => w.closed).length >= 1);
      const workers = [...cl!.since(mark)].filter(([, rs]) => count(rs, (r) => r.secure !== undefined || r.clientError !== undefined) > 0);
      onTwo = workers.length === 2;
      const alive = [a, b].filter((w) => !w.closed);
      expect(alive).to.have.length(1);
      const loser = a === alive[0] ? b : a;
      const codes = [...cl!.since(mark).values()].flat().map((r) => r.clientError ?? r.socketError).filter((x) => x !== undefined);
      // Refused at key confirmation (the session changed under it), or, had it confirmed first, replaced.
      expect(codes.length).to.equal(1);
      expect(["ERR_MLSTLS_STALE_SESSION", "ERR_MLSTLS_SESSION_REPLACED"]).to.include(codes[0]);
      // Either way, the loser hears why: a fatal alert (unknown_psk_identity, or access_denied).
      expect(loser.errors.map(codeOf).some((c) => c === alertCode(115) || c === alertCode(49))).to.equal(true);
      expect((await echo(alive[0]!, "winner;")).epoch).to.equal(alive[0]!.socket.epoch);
      c.destroyAll();
    }
    expect(onTwo).to.equal(true);
  });

  const kills = [
    // The worker applied the client's update and saved it; its EpochKeyUpdate is lost (repair +0).
    { name: "client update, cut before the server's EpochKeyUpdate", trigger: "client", cutAt: { dir: "s2c", k: 0 }, repair: 0 },
    // The client processed the worker's update; its EpochKeyUpdate is lost, Redis holds a pending commit (+2).
    { name: "server update, cut before the client's EpochKeyUpdate", trigger: "server", cutAt: { dir: "c2s", k: 0 }, repair: 2 },
  ] as const;
  for (const k of kills) {
    it(`a worker killed with SIGKILL in the middle of a ConnectionUpdate (${k.name}): the client resumes on the other worker (+${k.repair})`, async () => {
      const proxy = await CutProxy.start(cl!.port);
      proxies.push(proxy);
      proxy.server.on("connection", () => {
        const link = proxy.links[proxy.links.length - 1]!;
        link.client.setNoDelay(true);
        link.server.setNoDelay(true);
      });
      const c = client();
      const a = await c.connectSecure(proxy.port);
      const { worker } = await echo(a, "hello;");
      const link = proxy.links[0]!;
      let cut = false;
      const base = { c2s: link.counts.c2s + (k.trigger === "server" ? 1 : 0), s2c: link.counts.s2c + (k.trigger === "server" ? 1 : 0) };
      proxy.decide = (dir, index, l) => {
        if (l !== link || dir !== k.cutAt.dir || index - base[dir] !== k.cutAt.k) return "forward";
        cut = true;
        return "cut-both";
      };
      if (k.trigger === "client") void a.socket.connectionUpdate().catch(() => undefined);
      else a.socket.write("update;");
      await until(() => cut && a.closed);
      await cl!.kill(worker);
      const mark = cl!.mark();
      const b = await c.connectSecure(proxy.port, { session: c.session, sessionFallback: false });
      expect(b.socket.isSessionReused()).to.equal(true);
      const other = [...cl!.workers.keys()][0]!;
      expect(other).to.not.equal(worker);
      await until(() => count(cl!.since(mark).get(other), (r) => r.secure !== undefined) === 1);
      expect(cl!.since(mark).get(other)!.find((r) => r.secure !== undefined)!.secure).to.deep.equal({ reused: true, repair: k.repair });
      expect(await echo(b, "after the kill;")).to.deep.equal({ worker: other, epoch: b.socket.epoch });
      await b.socket.connectionUpdate();
      expect((await echo(b, "and an update;")).epoch).to.equal(b.socket.epoch);
      expect(new Set(c.secrets).size).to.equal(c.secrets.length);
    });
  }

  it("Redis restarted between two resumptions: full handshakes while it is down, resumption again once it is back", async () => {
    const c = client();
    const a = await c.connectSecure(cl!.port);
    await echo(a, "hello;");
    const b = await c.connectSecure(cl!.port, { session: c.session, sessionFallback: false });
    expect(b.socket.isSessionReused()).to.equal(true);
    await echo(b, "resumed once;");
    b.socket.destroy();
    await until(() => b.closed);

    await redis.stop();
    const mark = cl!.mark();
    const other = client();
    const down = await other.connectSecure(cl!.port);
    expect(down.socket.isSessionReused()).to.equal(false);
    await echo(down, "while Redis is down;");
    await until(() => [...cl!.since(mark).values()].flat().some((r) => r.storeError === "ERR_MLSTLS_SESSION_STORE"));

    await redis.start();
    await cl!.probeUntilReady();
    const again = await c.connectSecure(cl!.port, { session: c.session, sessionFallback: false });
    expect(again.socket.isSessionReused()).to.equal(true);
    await again.socket.connectionUpdate();
    expect((await echo(again, "resumed after the restart;")).epoch).to.equal(again.socket.epoch);
  });
});
