// npm run bench:pq: the cost of each post-quantum suite against suite 1, in memory (sans-I/O engines, no sockets),
// with the node:crypto provider: full handshake, one ConnectionUpdate (commit, EpochKeyUpdate), resumption, and
// the sizes on the wire. Not part of the test suite.
//
//   MLSTLS_BENCH_PQ_ROUNDS=20 npm run bench:pq

import { performance } from "node:perf_hooks";
import { Pair } from "../helpers/pair.js";
import type { SessionPersistence } from "../../lib/protocol/responder.js";
import { ContentType } from "../../lib/protocol/records/record-layer.js";
import { decodeHandshake } from "../../lib/protocol/messages.js";
import { suiteById, SUITES } from "../../lib/suites.js";

const ROUNDS = Number(process.env.MLSTLS_BENCH_PQ_ROUNDS ?? 10);

class MemoryStore implements SessionPersistence {
  readonly map = new Map<string, Uint8Array>();
  async load(id: Uint8Array) {
    return this.map.get(Buffer.from(id).toString("hex"));
  }
  async save(id: Uint8Array, s: Uint8Array) {
    this.map.set(Buffer.from(id).toString("hex"), Uint8Array.from(s));
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function measure(suite: number) {
  const hs: number[] = [];
  const upd: number[] = [];
  const res: number[] = [];
  let kp = 0;
  let welcome = 0;
  let update = 0;
  for (let i = 0; i < ROUNDS + 1; i++) {
    const store = new MemoryStore();
    let session: Uint8Array | undefined;
    const s2cPlain: Uint8Array[] = [];
    const p = new Pair({
      client: { suites: [suite], saveSession: (s) => void (session = s) },
      server: { suites: [suite], sessions: store },
      tamper: (dir, rec) => {
        // The ServerHello of an ML-DSA suite spans two records: keep the fragments.
        if (dir === "s2c" && rec[0] === ContentType.handshake) s2cPlain.push(rec.subarray(5));
        if (rec[0] === ContentType.handshake) {
          try {
            const m = decodeHandshake(rec.subarray(5));
            if (m.type === "client_hello") kp = m.keyPackages[0]!.length;
          } catch {
            // a fragment of a message split across records
          }
        }
        return rec;
      },
    });
    let t = performance.now();
    await p.handshake();
    const tHs = performance.now() - t;
    const hello = decodeHandshake(Buffer.concat(s2cPlain));
    if (hello.type === "server_hello") welcome = hello.welcome.length;
    const before = p.client.sent.reduce((n, r) => n + r.length, 0);
    t = performance.now();
    await Promise.all([p.client.conn.connectionUpdate(), p.settle()]);
    const tUpd = performance.now() - t;
    update = p.client.sent.reduce((n, r) => n + r.length, 0) - before;
    p.client.conn.destroy();
    p.server.conn.destroy();
    const r = new Pair({ client: { suites: [suite], session }, server: { suites: [suite], sessions: store } });
    t = performance.now();
    await r.handshake();
    const tRes = performance.now() - t;
    if (!r.initiator.isResumed || r.client.errors.length > 0) throw new Error(`suite ${suite}: resumption failed`);
    if (i === 0) continue; // warm-up: module loading, first key expansions
    hs.push(tHs);
    upd.push(tUpd);
    res.push(tRes);
  }
  return { handshake: median(hs), update: median(upd), resumption: median(res), kp, welcome, update_bytes: update };
}

const suites = [1, ...SUITES.filter((s) => s.postQuantum && s.mlsSupported).map((s) => s.id)];
const base = await measure(1);
console.log(`Node ${process.version}, node:crypto provider, in memory, median of ${ROUNDS} (ms; x = relative to suite 1)`);
console.log("| suite | handshake | ConnectionUpdate | resumption | KeyPackage B | Welcome B | ConnectionUpdate B |");
console.log("| --- | --- | --- | --- | --- | --- | --- |");
for (const id of suites) {
  const m = id === 1 ? base : await measure(id);
  const x = (v: number, b: number) => `${v.toFixed(1)} (${(v / b).toFixed(1)}x)`;
  console.log(
    `| ${id} ${suiteById(id)!.name} | ${x(m.handshake, base.handshake)} | ${x(m.update, base.update)} | ${x(m.resumption, base.resumption)} | ${m.kp} | ${m.welcome} | ${m.update_bytes} |`,
  );
}
