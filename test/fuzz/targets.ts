// Fuzz targets shared by the CI-sized test (targets-fuzz.test.ts) and `npm run bench:resources` (1,000,000 inputs
// per target): every wire decoder, the record deframer, and the engine in both roles, fed random and mutated
// input. The property: only the project's own error class comes out (MlsTlsError; the X.509 reader's documented
// TypeError), and every input is finished with (no hang).

import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { MlsTlsError } from "../../lib/errors.js";
import { certFacts } from "../../lib/auth/x509.js";
import { Initiator } from "../../lib/protocol/initiator.js";
import { decodeAlert, decodeHandshake, HandshakeReader } from "../../lib/protocol/messages.js";
import { RecordDeframer } from "../../lib/protocol/records/record-layer.js";
import { Responder } from "../../lib/protocol/responder.js";
import { decodeClientSession, decodeServerSession } from "../../lib/protocol/resumption.js";
import { Pair } from "../helpers/pair.js";
import { Prng } from "../helpers/prng.js";

export interface Seeds {
  clientHello: Uint8Array;
  serverHello: Uint8Array;
  clientSession: Uint8Array;
  serverSession: Uint8Array;
  cert: Uint8Array;
}

/** Valid inputs to mutate: one real handshake's first flights and session blobs, and a certificate. */
export async function makeSeeds(): Promise<Seeds> {
  const saved: Uint8Array[] = [];
  let clientSession: Uint8Array | undefined;
  const p = new Pair({
    client: { saveSession: (b) => void (clientSession = Uint8Array.from(b)) },
    server: { sessions: { load: async () => undefined, save: async (_id, b) => void saved.push(Uint8Array.from(b)) } },
  });
  await p.handshake();
  const cert = new X509Certificate(readFileSync(new URL("../../../test/fixtures/certs/p256.pem", import.meta.url))).raw;
  return {
    clientHello: p.client.sent[0]!,
    serverHello: p.server.sent[0]!,
    clientSession: clientSession!,
    serverSession: saved[saved.length - 1]!,
    cert: new Uint8Array(cert),
  };
}

export function mutate(rng: Prng, valid: Uint8Array): Uint8Array {
  switch (rng.int(4)) {
    case 0:
      return rng.bytes(rng.range(0, 400));
    case 1:
      return valid.subarray(0, rng.int(valid.length + 1));
    default: {
      const m = Uint8Array.from(valid);
      const k = rng.range(1, 4);
      for (let i = 0; i < k && m.length > 0; i++) m[rng.int(m.length)]! ^= rng.range(1, 255);
      return m;
    }
  }
}

export interface Target {
  name: string;
  /** Runs one input; rejects with the unexpected error, if any. */
  run(input: Uint8Array): void | Promise<void>;
  seed(s: Seeds): Uint8Array;
}

const own = (e: unknown): boolean => e instanceof MlsTlsError;

function expectOwn(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!own(e)) throw e;
  }
}

async function engineRun(conn: Initiator | Responder, input: Uint8Array, start: boolean): Promise<void> {
  let bad: unknown;
  const errs: unknown[] = [];
  (conn as unknown as { cb: { event: (ev: { type: string; error?: unknown }) => void } }).cb.event = (ev) => {
    if (ev.type === "error") errs.push(ev.error);
  };
  if (start) (conn as Initiator).start();
  // Split at a random point, as a transport might.
  const cut = input.length > 0 ? (input[0]! * 7) % input.length : 0;
  conn.receive(input.subarray(0, cut));
  conn.receive(input.subarray(cut));
  await conn.whenIdle();
  for (const e of errs) if (!own(e)) bad = e;
  conn.destroy();
  if (bad !== undefined) throw bad;
}

const quiet = { send: () => undefined, event: () => undefined };

export const TARGETS: Target[] = [
  { name: "handshake message decoder", seed: (s) => s.clientHello.subarray(5), run: (i) => expectOwn(() => decodeHandshake(i)) },
  {
    name: "handshake reassembly",
    seed: (s) => s.clientHello.subarray(5),
    run: (i) =>
      expectOwn(() => {
        const r = new HandshakeReader();
        r.push(i.subarray(0, i.length >> 1));
        r.push(i.subarray(i.length >> 1));
        while (r.next() !== null);
      }),
  },
  { name: "alert decoder", seed: () => Uint8Array.of(2, 40), run: (i) => expectOwn(() => decodeAlert(i)) },
  {
    name: "record deframer",
    seed: (s) => s.clientHello,
    run: (i) =>
      expectOwn(() => {
        const d = new RecordDeframer();
        d.push(i);
        while (d.next() !== null);
      }),
  },
  { name: "client session decoder", seed: (s) => s.clientSession, run: (i) => expectOwn(() => decodeClientSession(i)) },
  { name: "server session decoder", seed: (s) => s.serverSession, run: (i) => expectOwn(() => decodeServerSession(i)) },
  {
    name: "X.509 reader",
    seed: (s) => s.cert,
    run: (i) => {
      try {
        certFacts(i);
      } catch (e) {
        if (!(e instanceof TypeError)) throw e;
      }
    },
  },
  { name: "engine, server role (first flight)", seed: (s) => s.clientHello, run: (i) => engineRun(new Responder({}, { ...quiet }), i, false) },
  { name: "engine, client role (server's answer)", seed: (s) => s.serverHello, run: (i) => engineRun(new Initiator({}, { ...quiet }), i, true) },
];

/** Runs `count` inputs (mutations of the seed and random bytes) through `t`; returns inputs per second. */
export async function fuzz(t: Target, seeds: Seeds, count: number, seed = 1): Promise<number> {
  const rng = new Prng(seed);
  const valid = t.seed(seeds);
  const start = process.hrtime.bigint();
  for (let n = 0; n < count; n++) {
    const input = mutate(rng, valid);
    try {
      await t.run(input);
    } catch (e) {
      throw new Error(`${t.name}: input ${n} (${Buffer.from(input).toString("hex").slice(0, 200)}) threw ${String(e)}`, { cause: e });
    }
  }
  return count / (Number(process.hrtime.bigint() - start) / 1e9);
}
