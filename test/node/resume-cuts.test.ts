// Fault injection over real TCP: a CutProxy cuts the connection before every record of every update flow (and of
// a resumption itself), on the client's side, the server's or both; the client then resumes with its latest
// session. Afterwards both ends are in the same epoch, data flows both ways byte-exact, nothing of the broken
// connection arrived twice or corrupted, the old sockets reported errors, and no traffic secret ever repeated.
// The same again with the server process killed and restarted on a FileSessionStore between cut and resume.

import { expect } from "chai";
import { once } from "node:events";
import * as mlstls from "../../lib/index.js";
import type { Dir, ProxyLink, Verdict } from "../helpers/cut-proxy.js";
import { Client, ServerProcess, type Watched, codeOf, received } from "../helpers/resume-world.js";
import { Cleanup, delay, until } from "../helpers/sockets.js";

type Mode = Exclude<Verdict, "forward">;
const MODES: readonly Mode[] = ["cut-client", "cut-server", "cut-both"];

class Cut extends Error {}

/** One run: the connection under test, what was written on it, and the cut. */
class Ctx {
  c: Watched | undefined;
  s: Watched | undefined;
  readonly sent = { c2s: "", s2c: "" };
  cut = false;
  private onCut!: () => void;
  private readonly cutP = new Promise<void>((resolve) => (this.onCut = resolve));

  constructor(
    readonly srv: ServerProcess,
    readonly client: Client,
  ) {}

  cutNow(): void {
    this.cut = true;
    this.onCut();
  }

  /** Waits for `p`, or throws Cut once the connection was cut (whatever `p` does later is ignored). */
  step<T>(p: Promise<T>): Promise<T> {
    p.catch(() => undefined);
    return Promise.race([p, this.cutP.then((): never => { throw new Cut(); })]);
  }

  write(side: "c" | "s", text: string): void {
    if (side === "c") {
      this.c!.socket.write(text);
      this.sent.c2s += text;
    } else {
      this.s!.socket.write(text);
      this.sent.s2c += text;
    }
  }

  /** Waits for `cond`; polling stops at the cut, so no abandoned loop outlives the run. */
  poll(cond: () => boolean): Promise<void> {
    return this.step(
      (async () => {
        while (!this.cut && !cond()) await delay(2);
      })(),
    );
  }

  /** Waits until everything written arrived. */
  delivered(): Promise<void> {
    return this.poll(() => received(this.s!) === this.sent.c2s && received(this.c!) === this.sent.s2c);
  }
}

interface Scenario {
  name: string;
  /** The flow runs on a new connection (a resumption) rather than on the one prepared. */
  newLink: boolean;
  prepare(ctx: Ctx): Promise<void>;
  act(ctx: Ctx): Promise<void>;
}

async function fullHandshake(ctx: Ctx): Promise<void> {
  ctx.c = await ctx.client.connectSecure(ctx.srv.port);
  ctx.s = await ctx.srv.socketAt(0);
}

const SCENARIOS: Scenario[] = [
  {
    name: "client ConnectionUpdate",
    newLink: false,
    prepare: fullHandshake,
    async act(ctx) {
      ctx.write("c", "c0;");
      ctx.write("s", "s0;");
      await ctx.step(ctx.c!.socket.connectionUpdate());
      ctx.write("c", "c1;");
      ctx.write("s", "s1;");
      await ctx.delivered();
    },
  },
  {
    name: "server ConnectionUpdate",
    newLink: false,
    prepare: fullHandshake,
    async act(ctx) {
      ctx.write("c", "c0;");
      ctx.write("s", "s0;");
      await ctx.step(ctx.s!.socket.connectionUpdate());
      ctx.write("c", "c1;");
      ctx.write("s", "s1;");
      await ctx.delivered();
    },
  },
  {
    name: "concurrent ConnectionUpdates",
    newLink: false,
    prepare: fullHandshake,
    async act(ctx) {
      ctx.write("c", "c0;");
      const both = Promise.all([ctx.c!.socket.connectionUpdate(), ctx.s!.socket.connectionUpdate()]);
      ctx.write("s", "s0;");
      await ctx.step(both);
      ctx.write("c", "c1;");
      ctx.write("s", "s1;");
      await ctx.delivered();
    },
  },
  {
    name: "ConnectionUpdates with KeyUpdates interleaved",
    newLink: false,
    prepare: fullHandshake,
    async act(ctx) {
      const c = ctx.c!.socket;
      const s = ctx.s!.socket;
      ctx.write("c", "c0;");
      const all = [c.keyUpdate({ requestPeer: true }), s.connectionUpdate()];
      ctx.write("c", "c1;");
      all.push(c.connectionUpdate(), s.keyUpdate({ requestPeer: true }));
      ctx.write("s", "s0;");
      await ctx.step(Promise.all(all));
      ctx.write("c", "c2;");
      ctx.write("s", "s1;");
      await ctx.delivered();
    },
  },
  {
    name: "a resumption, then a ConnectionUpdate",
    newLink: true,
    async prepare(ctx) {
      await fullHandshake(ctx);
      await ctx.c!.socket.connectionUpdate();
      // The connection ends cleanly; the flow under test is the resumption that follows.
      ctx.c!.socket.destroy();
      await until(() => ctx.s!.closed);
      ctx.c = undefined;
      ctx.s = undefined;
    },
    async act(ctx) {
      const n = ctx.srv.sockets.length;
      ctx.c = ctx.client.connect(ctx.srv.port, { session: ctx.client.session, sessionFallback: false });
      await ctx.step(once(ctx.c.socket, "secureConnect"));
      await ctx.poll(() => ctx.srv.sockets.length > n);
      ctx.s = ctx.srv.sockets[n];
      ctx.write("c", "c0;");
      ctx.write("s", "s0;");
      await ctx.step(ctx.c.socket.connectionUpdate());
      ctx.write("c", "c1;");
      ctx.write("s", "s1;");
      await ctx.delivered();
    },
  },
];

const RESET_CODES = ["ECONNRESET"];

interface Target {
  dir: Dir;
  k: number;
}

interface RunOptions {
  /** A fresh store for the first server process. */
  store(): mlstls.SessionStore;
  /** Given: the server process is killed after the cut and restarted on this store. */
  restart?: () => mlstls.SessionStore;
}

interface Stats {
  points: number;
  repairs: Set<number>;
}

/**
 * One cut: prepare, arm the proxy for `target` (or, with "end", cut once the flow is over), act, cut, resume, check.
 * Returns false when the flow ended before reaching `target` (no more points in that direction).
 */
async function runPoint(sc: Scenario, target: Target | "end", mode: Mode, o: RunOptions, stats: Stats): Promise<boolean> {
  const label = `${sc.name}, ${target === "end" ? "after the flow" : `before ${target.dir} record ${target.k}`}, ${mode}${o.restart ? ", restart" : ""}`;
  let srv = await ServerProcess.start(o.store());
  const client = new Client();
  const servers = [srv];
  try {
    const ctx = new Ctx(srv, client);
    await sc.prepare(ctx);
    const links = srv.proxy.links;
    const linkIndex = sc.newLink ? links.length : links.length - 1;
    const base = sc.newLink ? { c2s: 0, s2c: 0 } : { ...links[linkIndex]!.counts };
    let cutLink: ProxyLink | undefined;
    srv.proxy.decide = (dir, index, link) => {
      if (ctx.cut || target === "end" || links.indexOf(link) !== linkIndex) return "forward";
      if (dir !== target.dir || index - base[dir] !== target.k) return "forward";
      cutLink = link;
      ctx.cutNow();
      return mode;
    };
    try {
      await sc.act(ctx);
    } catch (e) {
      if (!ctx.cut) throw e;
    }
    if (!ctx.cut) {
      if (target !== "end") return false;
      cutLink = links[linkIndex]!;
      ctx.cutNow();
      srv.proxy.cut(cutLink, mode);
    }
    stats.points++;
    const oldC = ctx.c!;
    const oldS = ctx.s;

    // The side that was reset notices; the application on a half-open side gives up after a while.
    if (mode !== "cut-server") await until(() => oldC.closed);
    if (mode !== "cut-client" && oldS !== undefined) await until(() => oldS.closed);
    if (mode === "cut-server") {
      await delay(10);
      oldC.socket.destroy(Object.assign(new Error("no answer"), { code: "ETIMEDOUT" }));
    }
    if (o.restart !== undefined) {
      await srv.kill();
      srv = await ServerProcess.start(o.restart());
      servers.push(srv);
    }

    const n = srv.sockets.length;
    const r = await client.connectSecure(srv.port, { session: client.session, sessionFallback: false });
    const rs = await srv.socketAt(n);
    expect(r.socket.isSessionReused(), label).to.equal(true);
    expect(rs.socket.isSessionReused(), label).to.equal(true);
    expect(r.socket.epoch, `${label}: epochs`).to.equal(rs.socket.epoch);
    expect(r.socket.getPeerCertificate(), label).to.have.property("fingerprint256");
    expect(r.socket.authorized, label).to.equal(true);
    stats.repairs.add(rs.socket.resumptionRepair!);
    r.socket.write("after:c;");
    rs.socket.write("after:s;");
    await until(() => received(rs) === "after:c;" && received(r) === "after:s;");
    await r.socket.connectionUpdate();
    await until(() => r.socket.epoch === rs.socket.epoch);
    r.socket.write("again:c;");
    rs.socket.write("again:s;");
    await until(() => received(rs) === "after:c;again:c;" && received(r) === "after:s;again:s;");

    // Nothing of the broken connection arrived twice or corrupted: what arrived is a prefix of what was written.
    expect(ctx.sent.s2c.startsWith(received(oldC)), `${label}: client received ${received(oldC)}`).to.equal(true);
    if (oldS !== undefined) expect(ctx.sent.c2s.startsWith(received(oldS)), `${label}: server received ${received(oldS)}`).to.equal(true);
    // The old sockets never ended cleanly: an error, or (a FIN without close_notify) node:tls's plain 'end' with
    // `truncated` set.
    for (const w of oldS === undefined ? [oldC] : [oldC, oldS]) {
      await until(() => w.closed);
      if (w.ended) expect(w.socket.truncated, `${label}: 'end' without close_notify is marked truncated`).to.equal(true);
      else expect(w.hadError, `${label}: close(hadError)`).to.equal(true);
    }
    if (mode !== "cut-server" && !oldC.ended) expect(RESET_CODES, `${label}: client error`).to.include(codeOf(oldC.errors[0]));
    if (oldS !== undefined && o.restart === undefined && !oldS.ended) {
      // A half-open server connection is replaced by the resumption.
      const expected = mode === "cut-client" ? ["ERR_MLSTLS_SESSION_REPLACED"] : RESET_CODES;
      expect(expected, `${label}: server error`).to.include(codeOf(oldS.errors[0]));
    }
    expect(new Set(client.secrets).size, `${label}: a traffic secret repeated`).to.equal(client.secrets.length);
    return true;
  } catch (e) {
    if (e instanceof Error) e.message = `${label}: ${e.message}`;
    throw e;
  } finally {
    client.destroyAll();
    for (const s of servers) await s.close();
  }
}

/** Every point of a flow: before each record in each direction, and after the flow. */
async function everyPoint(sc: Scenario, o: RunOptions, modes: (i: number) => readonly Mode[]): Promise<Stats> {
  const stats: Stats = { points: 0, repairs: new Set() };
  let i = 0;
  for (const dir of ["c2s", "s2c"] as const) {
    for (let k = 0; ; k++) {
      let reached = false;
      for (const mode of modes(i)) reached = (await runPoint(sc, { dir, k }, mode, o, stats)) || reached;
      i++;
      if (!reached) break;
    }
  }
  for (const mode of modes(i)) await runPoint(sc, "end", mode, o, stats);
  return stats;
}

describe("resumption over TCP: a cut at every record of every update flow", function () {
  this.timeout(60_000);
  const repairs = new Set<number>();
  let points = 0;
  after(() => {
    // The cuts reach all three repairs of draft §4.5.
    expect([...repairs].sort()).to.deep.equal([0, 1, 2]);
    expect(points).to.be.greaterThan(100);
  });

  for (const sc of SCENARIOS) {
    it(`${sc.name}: cut on the client's side, the server's, both; then resume`, async () => {
      const stats = await everyPoint(sc, { store: () => new mlstls.MemorySessionStore() }, () => MODES);
      for (const r of stats.repairs) repairs.add(r);
      points += stats.points;
    });
  }
});

describe("resumption over TCP: the server process restarts between the cut and the resume", function () {
  this.timeout(60_000);
  const cleanup = new Cleanup();
  const repairs = new Set<number>();
  after(() => {
    expect([...repairs].sort()).to.deep.equal([0, 1, 2]);
  });

  for (const sc of SCENARIOS) {
    it(`${sc.name}: cut, kill the server, restart it on its FileSessionStore, resume`, async () => {
      const dir = cleanup.tmpdir();
      const o: RunOptions = {
        store: () => new mlstls.FileSessionStore(dir),
        restart: () => new mlstls.FileSessionStore(dir),
      };
      // The server dies either way, so each point gets one of the three cut modes, in turn.
      const stats = await everyPoint(sc, o, (i) => [MODES[i % MODES.length]!]);
      for (const r of stats.repairs) repairs.add(r);
    });
  }
});
