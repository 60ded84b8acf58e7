// Property and fuzz tests for the decoders not covered beside their modules: session blobs, encrypted sessions,
// identity PEMs, fingerprints and the X.509 reader. Each must round-trip, refuse every strict prefix, and turn
// random or mutated input into its one documented error type, never a crash of another kind.

import { expect } from "chai";
import { readFileSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import { Pair } from "../helpers/pair.js";
import { Prng } from "../helpers/prng.js";
import { MlsTlsError } from "../../lib/errors.js";
import {
  decodeClientSession,
  decodeServerSession,
  encodeClientSession,
  encodeServerSession,
} from "../../lib/protocol/resumption.js";
import { decryptSession, encryptSession } from "../../lib/sessions/store.js";
import { Identity, MlsTlsConfigError, createIdentity, parseFingerprint, parsePublicIdentity } from "../../lib/auth/identity.js";
import { certFacts } from "../../lib/auth/x509.js";
import type { SessionPersistence } from "../../lib/protocol/responder.js";

function mutations(rng: Prng, valid: Uint8Array, n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const m = Uint8Array.from(valid);
    // 1-4 distinct positions, each XORed with a non-zero byte, so a mutation always changes the input.
    const positions = new Set<number>();
    const k = Math.min(rng.range(1, 4), m.length);
    while (positions.size < k) positions.add(rng.int(m.length));
    for (const i of positions) m[i]! ^= rng.range(1, 255);
    out.push(m);
  }
  for (let i = 0; i < n / 4; i++) out.push(rng.bytes(rng.range(0, 300)));
  return out;
}

function expectOnly(f: () => unknown, isExpected: (e: unknown) => boolean): void {
  try {
    f();
  } catch (e) {
    expect(isExpected(e), `unexpected error ${String(e)}`).to.equal(true);
  }
}

const badSession = (e: unknown) => e instanceof MlsTlsError && e.code === "ERR_MLSTLS_BAD_SESSION";

describe("fuzz: session blobs", () => {
  let client: Uint8Array;
  let server: Uint8Array;
  before(async () => {
    const saved: Uint8Array[] = [];
    const store: SessionPersistence = {
      load: async () => undefined,
      save: async (_id, blob) => void saved.push(Uint8Array.from(blob)), // the engine zeroes its own
    };
    let c: Uint8Array | undefined;
    const p = new Pair({ client: { saveSession: (b) => void (c = b) }, server: { sessions: store } });
    await p.handshake();
    // A server session with a pending update, so every field is present.
    await p.server.conn.connectionUpdate().catch(() => undefined);
    client = c!;
    server = saved[saved.length - 1]!;
  });

  it("round-trip", () => {
    const cs = decodeClientSession(client);
    expect(Buffer.from(encodeClientSession({ ...cs, next: cs.session.encode() })).equals(Buffer.from(client))).to.equal(true);
    const ss = decodeServerSession(server);
    expect(Buffer.from(encodeServerSession(ss)).equals(Buffer.from(server))).to.equal(true);
  });

  it("every strict prefix and any trailing byte is ERR_MLSTLS_BAD_SESSION", () => {
    for (const [blob, dec] of [
      [client, decodeClientSession],
      [server, decodeServerSession],
    ] as const) {
      for (let cut = 0; cut < blob.length; cut += Math.max(1, Math.floor(blob.length / 200))) {
        expect(() => dec(blob.subarray(0, cut))).to.throw().with.property("code", "ERR_MLSTLS_BAD_SESSION");
      }
      expect(() => dec(Buffer.concat([blob, Buffer.of(0)]))).to.throw().with.property("code", "ERR_MLSTLS_BAD_SESSION");
    }
  });

  it("mutated and random blobs give ERR_MLSTLS_BAD_SESSION or decode", () => {
    const rng = new Prng(77);
    for (const m of mutations(rng, client, 300)) expectOnly(() => decodeClientSession(m), badSession);
    for (const m of mutations(rng, server, 300)) expectOnly(() => decodeServerSession(m), badSession);
  });

  it("encrypted sessions: random and mutated input is ERR_MLSTLS_BAD_SESSION", () => {
    const rng = new Prng(78);
    const key = rng.bytes(32);
    const sealed = encryptSession(client, key);
    expect(decryptSession(sealed, key)).to.deep.equal(client);
    for (const m of mutations(rng, sealed, 300)) {
      expect(() => decryptSession(m, key)).to.throw().with.property("code", "ERR_MLSTLS_BAD_SESSION");
    }
  });
});

describe("fuzz: identities and fingerprints", () => {
  const configError = (e: unknown) => e instanceof MlsTlsConfigError || e instanceof TypeError;

  it("identity PEM round-trips; mutated PEM bodies give a config error", () => {
    const id = createIdentity({ name: "fuzz" });
    const pem = id.toPem();
    const back = Identity.fromPem(pem);
    expect(back.fingerprint).to.equal(id.fingerprint);
    expect(parsePublicIdentity(id.publicPem()).signaturePublicKey).to.deep.equal(id.signaturePublicKey);
    const lines = pem.trim().split("\n");
    const body = Buffer.from(lines.slice(1, -1).join(""), "base64");
    const rng = new Prng(79);
    for (const m of mutations(rng, body, 300)) {
      const b64 = Buffer.from(m).toString("base64").replace(/(.{64})/g, "$1\n");
      const mutated = `${lines[0]}\n${b64}\n${lines[lines.length - 1]}\n`;
      expectOnly(() => Identity.fromPem(mutated), configError);
      expectOnly(() => parsePublicIdentity(mutated), configError);
    }
  });

  it("fingerprints parse in both printed forms; garbage is a TypeError", () => {
    const id = createIdentity();
    expect(parseFingerprint(id.fingerprint)).to.deep.equal(parseFingerprint(id.fingerprint256));
    const rng = new Prng(80);
    for (let i = 0; i < 500; i++) {
      const s = Buffer.from(rng.bytes(rng.range(0, 80))).toString(rng.chance(0.5) ? "latin1" : "base64");
      expectOnly(() => parseFingerprint(s), configError);
    }
  });
});

describe("fuzz: the X.509 reader", () => {
  const pem = readFileSync(new URL("../../../test/fixtures/certs/p256.pem", import.meta.url), "utf8");
  const der = new Uint8Array(new X509Certificate(pem).raw);

  it("reads a real certificate", () => {
    expect(certFacts(der)).to.be.an("object");
  });

  it("truncated, mutated or random DER is a TypeError, never another crash", () => {
    const rng = new Prng(81);
    for (let cut = 0; cut < der.length; cut += 7) expectOnly(() => certFacts(der.subarray(0, cut)), (e) => e instanceof TypeError);
    for (const m of mutations(rng, der, 400)) expectOnly(() => certFacts(m), (e) => e instanceof TypeError);
  });
});
