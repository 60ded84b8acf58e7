// Resumption (draft §4.5) in memory: cut the connection at every point of every update flow, resume, and check
// that both ends agree on the epoch and that data flows again; refusals each with their own code.

import { expect } from "chai";
import { Pair, eventsOf } from "../helpers/pair.js";
import type { SessionPersistence } from "../../lib/protocol/responder.js";
import { decodeClientSession } from "../../lib/protocol/resumption.js";

class MemoryStore implements SessionPersistence {
  readonly map = new Map<string, Uint8Array>();
  async load(groupId: Uint8Array): Promise<Uint8Array | undefined> {
    const blob = this.map.get(Buffer.from(groupId).toString("hex"));
    return blob === undefined ? undefined : Uint8Array.from(blob); // the engine zeroes what it loaded
  }
  async save(groupId: Uint8Array, session: Uint8Array): Promise<void> {
    this.map.set(Buffer.from(groupId).toString("hex"), Uint8Array.from(session));
  }
  snapshot(): Map<string, Uint8Array> {
    return new Map(this.map);
  }
}

/** One client and one server process that outlive their connections. */
class World {
  readonly store = new MemoryStore();
  clientSession: Uint8Array | undefined;
  readonly secrets: string[] = [];
  /** Which repair (+0/+1/+2) each resumption needed, to show the cuts reach every case. */
  readonly repairs: number[] = [];

  pair(opts: { manual?: boolean; resume?: boolean } = {}): Pair {
    const p = new Pair({
      manual: opts.manual ?? true,
      client: {
        session: opts.resume === true ? this.clientSession : undefined,
        saveSession: (s) => {
          this.clientSession = s;
        },
        keylog: true,
      },
      server: { sessions: this.store },
    });
    return p;
  }

  collectSecrets(p: Pair): void {
    for (const e of eventsOf(p.client, "keylog")) {
      if (e.line.includes("TRAFFIC_SECRET")) this.secrets.push(e.line.trim().split(" ")[2]!);
    }
  }
}

/** Delivers one record at a time, alternating directions, until `budget` records have moved or nothing is left. */
async function step(p: Pair, budget: number): Promise<number> {
  let moved = 0;
  let dir: "c2s" | "s2c" = "c2s";
  for (;;) {
    await p.initiator.whenIdle();
    await p.responder.whenIdle();
    if (moved >= budget) return moved;
    const other: "c2s" | "s2c" = dir === "c2s" ? "s2c" : "c2s";
    const d: "c2s" | "s2c" | undefined = p.queues[dir].length > 0 ? dir : p.queues[other].length > 0 ? other : undefined;
    if (d === undefined) return moved;
    p.deliver(d, 1);
    moved++;
    dir = d === "c2s" ? "s2c" : "c2s";
  }
}

async function resumeAndCheck(w: World, label: string): Promise<Pair> {
  const r = w.pair({ resume: true });
  await r.handshake();
  expect(r.client.errors, `${label}: client errors`).to.have.length(0);
  expect(r.server.errors, `${label}: server errors`).to.have.length(0);
  expect(r.initiator.established, `${label}: client established`).to.equal(true);
  expect(r.responder.established, `${label}: server established`).to.equal(true);
  expect(r.initiator.isResumed && r.responder.isResumed).to.equal(true);
  w.repairs.push(r.responder.resumptionRepair!);
  expect(r.initiator.epoch, `${label}: epochs`).to.equal(r.responder.epoch);
  r.client.conn.write(Buffer.from(`up ${label}`));
  r.server.conn.write(Buffer.from(`down ${label}`));
  await r.settle();
  expect(Buffer.concat(r.server.received).toString()).to.equal(`up ${label}`);
  expect(Buffer.concat(r.client.received).toString()).to.equal(`down ${label}`);
  // Updates work on the resumed connection.
  await Promise.all([r.client.conn.connectionUpdate(), r.settle()]);
  await Promise.all([r.server.conn.connectionUpdate(), r.settle()]);
  expect(r.initiator.epoch).to.equal(r.responder.epoch);
  w.collectSecrets(r);
  return r;
}

type Scenario = (p: Pair) => void;
const scenarios: Record<string, Scenario> = {
  "client ConnectionUpdate": (p) => void p.client.conn.connectionUpdate().catch(() => undefined),
  "server ConnectionUpdate": (p) => void p.server.conn.connectionUpdate().catch(() => undefined),
  "concurrent ConnectionUpdates": (p) => {
    p.client.conn.connectionUpdate().catch(() => undefined);
    p.server.conn.connectionUpdate().catch(() => undefined);
  },
  "server update, then client update": (p) => {
    p.server.conn.connectionUpdate().catch(() => undefined);
    p.client.conn.keyUpdate({ requestPeer: true }).catch(() => undefined);
    p.client.conn.connectionUpdate().catch(() => undefined);
  },
};

describe("resumption", () => {
  const repairsSeen = new Set<number>();
  after(() => {
    // The cut points of the flows below reach all three of the draft's cases.
    expect([...repairsSeen].sort()).to.deep.equal([0, 1, 2]);
  });

  it("resumes a session after a clean cut in the default state", async () => {
    const w = new World();
    const p = w.pair({ manual: false });
    await p.handshake();
    w.collectSecrets(p);
    expect(w.clientSession).to.not.equal(undefined);
    expect(decodeClientSession(w.clientSession!).draftState).to.equal(1);
    const r = await resumeAndCheck(w, "clean");
    expect(r.initiator.peerCredential).to.deep.equal(p.initiator.peerCredential);
  });

  for (const [name, scenario] of Object.entries(scenarios)) {
    it(`survives a cut at every point of: ${name}`, async function () {
      this.timeout(60000);
      // A dry run counts the records the flow exchanges.
      const dry = new World();
      const d = dry.pair();
      await d.handshake();
      scenario(d);
      const total = await step(d, Infinity);
      expect(total).to.be.greaterThan(1);
      for (let cut = 0; cut <= total; cut++) {
        const w = new World();
        const p = w.pair();
        await p.handshake();
        w.collectSecrets(p);
        scenario(p);
        await step(p, cut);
        // The TCP connection dies here: whatever is still queued is lost.
        p.client.conn.destroy();
        p.server.conn.destroy();
        await resumeAndCheck(w, `${name}, cut after ${cut}/${total}`);
        // And a cut right after the resumption itself (before anything else happens) resumes too.
        await resumeAndCheck(w, `${name}, cut after ${cut}/${total}, then again`);
        expect(new Set(w.secrets).size, "no traffic secret repeats across connections").to.equal(w.secrets.length);
        for (const c of w.repairs) repairsSeen.add(c);
      }
    });
  }

  it("survives a cut in the middle of the resumption handshake", async () => {
    const w = new World();
    const p = w.pair();
    await p.handshake();
    p.client.conn.connectionUpdate().catch(() => undefined);
    await step(p, 1);
    for (let cut = 0; cut < 4; cut++) {
      const r = w.pair({ resume: true });
      r.initiator.start();
      await step(r, cut);
      r.client.conn.destroy();
      r.server.conn.destroy();
    }
    await resumeAndCheck(w, "after interrupted resumptions");
  });

  it("a resumed client keeps its pre-Resumption session until the server's EpochKeyUpdate says it stored its side", async () => {
    const w = new World();
    const p = w.pair({ manual: false });
    await p.handshake();
    p.client.conn.destroy();
    p.server.conn.destroy();
    const resumedFrom = w.clientSession;
    const r = w.pair({ resume: true });
    r.initiator.start();
    await r.initiator.whenIdle();
    r.deliver("c2s"); // Resumption
    await r.responder.whenIdle();
    r.deliver("s2c"); // ResumptionAccept: the client confirms keys and may send data
    await r.initiator.whenIdle();
    expect(r.initiator.established).to.equal(true);
    // Nothing new was saved: the Buffer we resumed from is still the one to keep.
    expect(w.clientSession).to.equal(resumedFrom);
    expect(r.initiator.draftState).to.equal(2);
    expect(w.store.map.size).to.equal(1);
    const stored = [...w.store.map.values()][0]!;
    // An update asked for now must wait for state 1, then go out by itself.
    const update = r.client.conn.connectionUpdate();
    r.deliver("c2s"); // key confirmation: the server stores the session and answers with its EpochKeyUpdate
    await r.responder.whenIdle();
    expect(r.responder.established).to.equal(true);
    expect([...w.store.map.values()][0]).to.not.deep.equal(stored);
    r.deliver("s2c");
    await r.initiator.whenIdle();
    expect(r.initiator.state).to.not.equal("default"); // its queued update went out: wait_confirmation
    for (let i = 0; i < 4; i++) {
      r.deliver("c2s");
      r.deliver("s2c");
      await r.initiator.whenIdle();
      await r.responder.whenIdle();
    }
    await update;
    expect(decodeClientSession(w.clientSession!).draftState).to.equal(1);
    expect(r.initiator.epoch).to.equal(r.responder.epoch);
  });

  it("a resumed server still knows the session's server_name", async () => {
    const store = new MemoryStore();
    let saved: Uint8Array | undefined;
    const p = new Pair({ client: { serverName: "svc.example", saveSession: (s) => void (saved = s) }, server: { sessions: store } });
    await p.handshake();
    expect(p.responder.serverName).to.equal("svc.example");
    const r = new Pair({ client: { session: saved }, server: { sessions: store } });
    await r.handshake();
    expect(r.responder.isResumed).to.equal(true);
    expect(r.responder.serverName).to.equal("svc.example");
  });

  it("the equal-epoch case (+0) gets fresh keys", async () => {
    const w = new World();
    const p = w.pair();
    await p.handshake();
    w.collectSecrets(p);
    p.client.conn.connectionUpdate().catch(() => undefined);
    // The server applies the update, its EpochKeyUpdate is lost.
    await p.initiator.whenIdle();
    p.deliver("c2s");
    await p.responder.whenIdle();
    const serverEpoch = p.responder.epoch;
    p.queues.s2c.length = 0;
    p.client.conn.destroy();
    p.server.conn.destroy();
    const r = await resumeAndCheck(w, "+0");
    expect(r.responder.epoch! - 2n).to.equal(serverEpoch);
    expect(new Set(w.secrets).size).to.equal(w.secrets.length);
  });
});

describe("resumption: refusals", () => {
  it("a replayed Resumption is refused with its own code, and the session still works", async () => {
    const w = new World();
    await w.pair({ manual: false }).handshake();
    const r = w.pair({ resume: true });
    await r.handshake();
    const resumptionRecord = r.client.sent[0]!;
    // The attacker replays the genuine client's Resumption to the server.
    const evil = w.pair();
    evil.queues.c2s.push(resumptionRecord);
    evil.deliver("c2s");
    await evil.responder.whenIdle();
    expect(evil.server.errors[0]?.code).to.equal("ERR_MLSTLS_RESUMPTION_REPLAYED");
    expect(evil.responder.established).to.equal(false);
    await resumeAndCheck(w, "after replay");
  });

  it("a Resumption for a deleted session is refused, with the alert that allows a fallback", async () => {
    const w = new World();
    await w.pair({ manual: false }).handshake();
    w.store.map.clear();
    const r = w.pair({ resume: true, manual: false });
    await r.handshake();
    expect(r.server.errors[0]?.code).to.equal("ERR_MLSTLS_UNKNOWN_SESSION");
    expect(r.client.errors[0]?.code).to.equal("ERR_MLSTLS_PEER_ALERT");
    expect(r.client.errors[0]?.alert).to.equal(115);
  });

  it("a Resumption three or more epochs ahead is refused", async () => {
    const w = new World();
    const p = w.pair({ manual: false });
    await p.handshake();
    const old = w.store.snapshot();
    for (let i = 0; i < 3; i++) await p.client.conn.connectionUpdate();
    p.client.conn.destroy();
    p.server.conn.destroy();
    // The server lost its last writes (a restored backup): the client is now 4 epochs ahead.
    w.store.map.clear();
    for (const [k, v] of old) w.store.map.set(k, v);
    const r = w.pair({ resume: true, manual: false });
    await r.handshake();
    expect(r.server.errors[0]?.code).to.equal("ERR_MLSTLS_EPOCH_GAP");
    expect(r.client.errors[0]?.alert).to.equal(115);
  });

  it("a stale client session (behind the server) is refused", async () => {
    const w = new World();
    const p = w.pair({ manual: false });
    await p.handshake();
    const oldClient = w.clientSession;
    await p.client.conn.connectionUpdate();
    await p.client.conn.connectionUpdate();
    p.client.conn.destroy();
    p.server.conn.destroy();
    w.clientSession = oldClient;
    const r = w.pair({ resume: true, manual: false });
    await r.handshake();
    expect(r.server.errors[0]?.code).to.equal("ERR_MLSTLS_STALE_SESSION");
  });

  it("a server without a session store refuses every Resumption", async () => {
    const w = new World();
    await w.pair({ manual: false }).handshake();
    const r = new Pair({ client: { session: w.clientSession } });
    await r.handshake();
    expect(r.server.errors[0]?.code).to.equal("ERR_MLSTLS_UNKNOWN_SESSION");
  });

  it("a garbage session blob is a clear error on the client", async () => {
    const r = new Pair({ client: { session: Uint8Array.of(1, 2, 3) } });
    await r.handshake();
    expect(r.client.errors[0]?.code).to.equal("ERR_MLSTLS_BAD_SESSION");
  });

  it("a session whose peer is no longer trusted is refused on both sides", async () => {
    const w = new World();
    await w.pair({ manual: false }).handshake();
    const r = new Pair({ client: { session: w.clientSession, validatePeer: () => false }, server: { sessions: w.store } });
    await r.handshake();
    expect(r.client.errors[0]?.code).to.equal("ERR_MLSTLS_BAD_CREDENTIAL");
    const s = new Pair({ client: { session: w.clientSession }, server: { sessions: w.store, validatePeer: () => false } });
    await s.handshake();
    expect(s.server.errors[0]?.code).to.equal("ERR_MLSTLS_BAD_CREDENTIAL");
  });
});
