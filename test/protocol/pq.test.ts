// Post-quantum suites (PROTOCOL.md, "Post-quantum suites") in memory, for every one mlstls runs: the full handshake,
// a large echo with ConnectionUpdates and KeyUpdates from both sides, resumption after cuts (reaching the +0, +1
// and +2 repairs), and downgrade protection: an attacker who strips the post-quantum KeyPackage or suite from an
// offer that both sides support makes key confirmation fail instead of settling on a classical suite.

import { expect } from "chai";
import { Pair, eventsOf, type Direction } from "../helpers/pair.js";
import type { SessionPersistence } from "../../lib/protocol/responder.js";
import type { HandshakeMessage } from "../../lib/protocol/messages.js";
import { applyPostQuantum, keyPackageSuites, POST_QUANTUM_SUITES, suiteById, SUITES } from "../../lib/suites.js";
import { peekKeyPackageSuite } from "../../lib/mls/index.js";
import { plaintextMessage, record } from "../helpers/opening-records.js";

const PQ = SUITES.filter((s) => s.postQuantum && s.mlsSupported).map((s) => s.id);

class MemoryStore implements SessionPersistence {
  readonly map = new Map<string, Uint8Array>();
  async load(groupId: Uint8Array): Promise<Uint8Array | undefined> {
    return this.map.get(Buffer.from(groupId).toString("hex"));
  }
  async save(groupId: Uint8Array, session: Uint8Array): Promise<void> {
    this.map.set(Buffer.from(groupId).toString("hex"), Uint8Array.from(session));
  }
}

/** A client and a server that outlive their connections, on one suite. */
class World {
  readonly store = new MemoryStore();
  clientSession: Uint8Array | undefined;
  constructor(readonly suite: number) {}
  pair(resume = false): Pair {
    return new Pair({
      manual: true,
      client: { suites: [this.suite], session: resume ? this.clientSession : undefined, saveSession: (s) => void (this.clientSession = s) },
      server: { suites: [this.suite], sessions: this.store },
    });
  }
}

/** Delivers one record at a time, alternating directions, until `budget` records have moved or nothing is left. */
async function step(p: Pair, budget: number): Promise<number> {
  let moved = 0;
  let dir: Direction = "c2s";
  for (;;) {
    await p.initiator.whenIdle();
    await p.responder.whenIdle();
    if (moved >= budget) return moved;
    const other: Direction = dir === "c2s" ? "s2c" : "c2s";
    const d: Direction | undefined = p.queues[dir].length > 0 ? dir : p.queues[other].length > 0 ? other : undefined;
    if (d === undefined) return moved;
    p.deliver(d, 1);
    moved++;
    dir = d === "c2s" ? "s2c" : "c2s";
  }
}


describe("post-quantum suites: negotiation rules", () => {
  it("'prefer' puts X-Wing first and sends its KeyPackage next to the classical Ed25519 and P-256 ones", () => {
    const offer = applyPostQuantum([1, 3, 2, 7], "prefer", false);
    expect(offer.slice(0, 2)).to.deep.equal([83, 84]);
    expect(offer.slice(-4)).to.deep.equal([1, 3, 2, 7]);
    expect(keyPackageSuites(offer)).to.deep.equal([83, 1, 2]);
  });

  it("'require' offers only post-quantum suites (X-Wing first, ML-DSA last) with one KeyPackage", () => {
    const offer = applyPostQuantum([1, 3, 2, 7], "require", false);
    expect(offer).to.deep.equal([...POST_QUANTUM_SUITES]);
    expect(offer.every((s) => suiteById(s)!.postQuantum)).to.equal(true);
    expect(keyPackageSuites(offer)).to.deep.equal([83]);
  });

  it("an explicit list keeps its own post-quantum suites; 'require' with none of them is an error; false changes nothing", () => {
    expect(applyPostQuantum([1, 84, 2], "prefer", true)).to.deep.equal([84, 1, 2]);
    expect(applyPostQuantum([1, 84, 2], "require", true)).to.deep.equal([84]);
    expect(() => applyPostQuantum([1, 2], "require", true)).to.throw(TypeError, /names no post-quantum suite/);
    expect(applyPostQuantum([1, 3], false, false)).to.deep.equal([1, 3]);
    expect(() => applyPostQuantum([1], "yes", false)).to.throw(TypeError, /postQuantum must be/);
  });

  it("the record layer of each post-quantum suite follows its name's hash and AEAD", () => {
    for (const id of PQ) {
      const s = suiteById(id)!;
      const [, , , aead, hash] = s.name.split("_");
      expect(s.hash, s.name).to.equal(hash!.toLowerCase());
      expect(s.aead, s.name).to.equal(aead === "AES256GCM" ? "aes-256-gcm" : "chacha20-poly1305");
    }
  });
});

describe("post-quantum suites: every suite end to end", function () {
  this.timeout(30000);

  for (const suite of PQ) {
    const name = suiteById(suite)!.name;

    it(`${suite} ${name}: handshake, 1 MiB echo with ConnectionUpdates and KeyUpdates from both sides`, async () => {
      const p = new Pair({ client: { suites: [suite] }, server: { suites: [suite] } });
      await p.handshake();
      expect(p.initiator.suite?.id).to.equal(suite);
      expect(p.responder.suite?.id).to.equal(suite);
      const chunk = Buffer.alloc(64 * 1024);
      const up: Buffer[] = [];
      const down: Buffer[] = [];
      for (let i = 0; i < 16; i++) {
        chunk.fill(i);
        const u = Buffer.from(chunk);
        const d = Buffer.from(chunk.map((b) => b ^ 0xff));
        up.push(u);
        down.push(d);
        p.client.conn.write(u);
        p.server.conn.write(d);
        if (i === 3) await Promise.all([p.client.conn.connectionUpdate(), p.settle()]);
        if (i === 6) await Promise.all([p.server.conn.connectionUpdate(), p.settle()]);
        if (i === 9) await Promise.all([p.client.conn.keyUpdate({ requestPeer: true }), p.settle()]);
        if (i === 12) await Promise.all([p.server.conn.keyUpdate(), p.settle()]);
      }
      await p.settle();
      expect(p.client.errors).to.deep.equal([]);
      expect(p.server.errors).to.deep.equal([]);
      expect(Buffer.concat(p.server.received).equals(Buffer.concat(up))).to.equal(true);
      expect(Buffer.concat(p.client.received).equals(Buffer.concat(down))).to.equal(true);
      expect(eventsOf(p.client, "connectionUpdate")).to.have.length(2);
      expect(p.initiator.epoch).to.equal(p.responder.epoch);
    });

    // ML-DSA-87 signing costs ~10 ms in JS, so the three other ML-DSA suites (same code paths as 87, other KEM or
    // AEAD) cut only the server's update; the whole set stays inside the test budget.
    const full = suiteById(suite)!.signature.scheme !== "mldsa87" || suite === 87;
    it(`${suite}: resumption after a cut at every point of ${full ? "a client's and " : ""}a server's ConnectionUpdate${full ? " (+0, +1, +2)" : ""}`, async () => {
      const repairs = new Set<number>();
      for (const who of full ? (["client", "server"] as const) : (["server"] as const)) {
        const update = (p: Pair) => void p[who].conn.connectionUpdate().catch(() => undefined);
        const dry = new World(suite).pair();
        await dry.handshake();
        update(dry);
        const total = await step(dry, Infinity);
        for (let cut = 0; cut <= total; cut++) {
          const w = new World(suite);
          const p = w.pair();
          await p.handshake();
          update(p);
          await step(p, cut);
          p.client.conn.destroy();
          p.server.conn.destroy();
          const r = w.pair(true);
          await r.handshake();
          const label = `${who} update, cut ${cut}/${total}`;
          expect(r.client.errors, label).to.deep.equal([]);
          expect(r.server.errors, label).to.deep.equal([]);
          expect(r.initiator.isResumed && r.responder.isResumed, label).to.equal(true);
          expect(r.initiator.suite?.id).to.equal(suite);
          expect(r.initiator.epoch, label).to.equal(r.responder.epoch);
          repairs.add(r.responder.resumptionRepair!);
          r.client.conn.write(Buffer.from(label));
          await r.settle();
          expect(Buffer.concat(r.server.received).toString()).to.equal(label);
        }
      }
      if (full) expect([...repairs].sort()).to.deep.equal([0, 1, 2]);
    });

    it(`${suite}: stripping its KeyPackage, or the suite itself, from an offer both sides support fails key confirmation`, async () => {
      // Client and server both accept the post-quantum suite and classical suite 1; the client prefers the former.
      const classical = 1;
      const strips: Record<string, (m: Extract<HandshakeMessage, { type: "client_hello" }>) => HandshakeMessage> = {
        "its KeyPackage": (m) => ({ ...m, keyPackages: m.keyPackages.filter((kp) => peekKeyPackageSuite(kp) !== suite) }),
        "the suite and its KeyPackage": (m) => ({
          ...m,
          suites: m.suites.filter((s) => s !== suite),
          keyPackages: m.keyPackages.filter((kp) => peekKeyPackageSuite(kp) !== suite),
        }),
      };
      // Unaltered, the post-quantum suite wins without a RetryRequest.
      const clean = new Pair({ client: { suites: [suite, classical] }, server: { suites: [suite, classical] } });
      await clean.handshake();
      expect(clean.initiator.suite?.id).to.equal(suite);
      for (const [what, strip] of Object.entries(strips)) {
        let stripped = false;
        const p = new Pair({
          client: { suites: [suite, classical] },
          server: { suites: [suite, classical] },
          tamper: (dir, rec) => {
            const m = plaintextMessage(rec);
            if (dir !== "c2s" || m?.type !== "client_hello") return rec;
            stripped = true;
            return record(strip(m));
          },
        });
        await p.handshake();
        expect(stripped, what).to.equal(true);
        expect(p.responder.established, what).to.equal(false);
        expect(p.server.errors.map((e) => e.code), what).to.deep.equal(["ERR_MLSTLS_BAD_RECORD_MAC"]);
        expect(p.server.errors[0]!.message, what).to.contain("key confirmation");
        expect(p.client.errors.map((e) => e.code), what).to.deep.equal(["ERR_MLSTLS_BAD_RECORD_MAC"]);
      }
    });
  }
});
