// MLS ciphersuite negotiation (PROTOCOL.md, "Suite negotiation"): a default client reaches Ed25519, P-256 and P-384
// servers (at most one RetryRequest), the server picks from the client's genuine offer, and an active attacker who
// alters the offer or forges a RetryRequest cannot make the two ends settle on anything.

import { expect } from "chai";
import { Pair, type Direction } from "../helpers/pair.js";
import { createIdentity } from "../../lib/auth/identity.js";
import { ContentType, encodePlaintextRecord } from "../../lib/protocol/records/record-layer.js";
import { HandshakeType, type HandshakeMessage } from "../../lib/protocol/messages.js";
import { keyPackageSuites } from "../../lib/suites.js";
import { plaintextMessage, record } from "../helpers/opening-records.js";


/** Which plaintext handshake messages went each way. */
function trace(): { seen: string[]; tamper: (dir: Direction, rec: Uint8Array) => Uint8Array } {
  const seen: string[] = [];
  return {
    seen,
    tamper: (dir, rec) => {
      const m = plaintextMessage(rec);
      if (m !== undefined) seen.push(`${dir}:${m.type}${m.type === "retry_request" || m.type === "server_hello" ? `(${m.suite})` : ""}`);
      return rec;
    },
  };
}

describe("protocol: MLS ciphersuite negotiation", () => {

  it("the default offer lists every default suite, with KeyPackages for Ed25519 and P-256", () => {
    expect(keyPackageSuites([1, 3, 2, 7])).to.deep.equal([1, 2]);
    expect(keyPackageSuites([7, 2])).to.deep.equal([7, 2]);
    expect(keyPackageSuites([1, 3])).to.deep.equal([1]);
  });

  for (const [suite, retries] of [[1, 0], [3, 1], [2, 0], [7, 1]] as const) {
    it(`a default client reaches a server whose identity is for suite ${suite} (${retries ? "one RetryRequest" : "no extra round trip"})`, async () => {
      const t = trace();
      const identity = createIdentity({ suite: suite === 3 ? 1 : suite });
      // A suite-3 server: an Ed25519 key that accepts only ChaCha20 records.
      const p = new Pair({ server: { identity: identity.forSuite(suite), suites: [suite] }, tamper: t.tamper });
      await p.handshake();
      expect(p.client.errors).to.deep.equal([]);
      expect(p.server.errors).to.deep.equal([]);
      expect(p.initiator.suite?.id).to.equal(suite);
      expect(p.responder.suite?.id).to.equal(suite);
      expect(t.seen.filter((s) => s.includes("retry_request"))).to.have.length(retries);
      expect(t.seen.at(-1)).to.equal(`s2c:server_hello(${suite})`);
      p.client.conn.write(Buffer.from("ping"));
      await p.settle();
      expect(Buffer.concat(p.server.received).toString()).to.equal("ping");
    });
  }

  it("the server prefers the client's order among suites that came with a KeyPackage", async () => {
    const t = trace();
    const ed = createIdentity({ suite: 1 });
    const p256 = createIdentity({ suite: 2 });
    const p = new Pair({
      client: { suites: [2, 1] },
      server: { identity: ({ suite }) => (suite === 2 ? p256 : ed), servableSuites: async () => [1, 2] },
      tamper: t.tamper,
    });
    await p.handshake();
    expect(p.initiator.suite?.id).to.equal(2);
    expect(t.seen).to.deep.equal(["c2s:client_hello", "s2c:server_hello(2)"]);
  });

  it("no common suite: the server names its suite in a RetryRequest and both sides say what the other has", async () => {
    const p = new Pair({ client: { suites: [1, 3] }, server: { identity: createIdentity({ suite: 7 }), suites: [7] } });
    await p.handshake();
    expect(p.client.errors.map((e) => e.code)).to.deep.equal(["ERR_MLSTLS_CIPHERSUITE_MISMATCH"]);
    expect(p.client.errors[0]!.message).to.contain("server asks for MLS_256_DHKEMP384_AES256GCM_SHA384_P384");
    expect(p.server.errors.map((e) => e.code)).to.deep.equal(["ERR_MLSTLS_CIPHERSUITE_MISMATCH"]);
    expect(p.server.errors[0]!.message).to.contain("client offers MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, MLS_128_DHKEMX25519_CHACHA20POLY1305");
  });

  describe("an active attacker on the path", () => {
    /** Runs a handshake with `rewrite` applied to opening messages; returns both sides' error codes. */
    async function attacked(
      rewrite: (dir: Direction, m: HandshakeMessage) => HandshakeMessage | "drop" | undefined,
      server: { suite: number; suites?: number[] } = { suite: 1 },
    ): Promise<{ client: string[]; server: string[]; established: [boolean, boolean] }> {
      const identity = createIdentity({ suite: server.suite });
      const p = new Pair({
        server: { identity, suites: server.suites },
        tamper: (dir, rec) => {
          const m = plaintextMessage(rec);
          if (m === undefined) return rec;
          const r = rewrite(dir, m);
          if (r === "drop") return null;
          return r === undefined ? rec : record(r);
        },
      });
      await p.handshake();
      return {
        client: p.client.errors.map((e) => e.code),
        server: p.server.errors.map((e) => e.code),
        established: [p.initiator.established && p.client.errors.length === 0, p.responder.established],
      };
    }

    it("stripping the preferred suite's KeyPackage (to force another suite) fails key confirmation", async () => {
      // Both suites 1 and 2 are servable; the attacker removes suite 1's KeyPackage so the server would pick 2.
      const ed = createIdentity({ suite: 1 });
      const p256 = createIdentity({ suite: 2 });
      const p = new Pair({
        server: { identity: ({ suite }) => (suite === 2 ? p256 : ed), servableSuites: async () => [1, 2] },
        tamper: (dir, rec) => {
          const m = plaintextMessage(rec);
          if (dir !== "c2s" || m?.type !== "client_hello") return rec;
          return record({ ...m, keyPackages: m.keyPackages.slice(1) });
        },
      });
      await p.handshake();
      expect(p.responder.established).to.equal(false);
      expect(p.server.errors.map((e) => e.code)).to.deep.equal(["ERR_MLSTLS_BAD_RECORD_MAC"]);
      expect(p.server.errors[0]!.message).to.contain("key confirmation");
      // The server's alert is protected under keys the client does not share: it fails to decrypt too.
      expect(p.client.errors.map((e) => e.code)).to.deep.equal(["ERR_MLSTLS_BAD_RECORD_MAC"]);
    });

    it("altering the suite list (downgrade to a suite the client ranked lower) fails key confirmation", async () => {
      const r = await attacked((dir, m) => (dir === "c2s" && m.type === "client_hello" ? { ...m, suites: [...m.suites].reverse() } : undefined));
      expect(r.established).to.deep.equal([false, false]);
      expect(r.server).to.deep.equal(["ERR_MLSTLS_BAD_RECORD_MAC"]);
    });

    it("a forged RetryRequest (the attacker answers the ClientHello itself, to get a lower suite) fails key confirmation", async () => {
      // The server could use suite 1 or 3; the client prefers 1. The attacker swallows the ClientHello and asks the
      // client for suite 3, then passes the retried ClientHello (which carries only suite 3's KeyPackage) to the
      // server as if it were the first: the server picks 3, but the two transcripts differ.
      const ed = createIdentity({ suite: 1 });
      let swallowed = false;
      const p: Pair = new Pair({
        manual: true,
        server: { identity: ({ suite }) => ed.forSuite(suite), servableSuites: async () => [1, 3] },
        tamper: (dir, rec) => {
          const m = plaintextMessage(rec);
          if (dir === "c2s" && m?.type === "client_hello" && !swallowed) {
            swallowed = true;
            p.queues.s2c.push(record({ type: "retry_request", suite: 3 }));
            return null;
          }
          return rec;
        },
      });
      p.initiator.start();
      await p.settle();
      expect(swallowed).to.equal(true);
      expect(p.responder.suite?.id).to.equal(3);
      expect(p.responder.established).to.equal(false);
      expect(p.server.errors.map((e) => e.code)).to.deep.equal(["ERR_MLSTLS_BAD_RECORD_MAC"]);
      expect(p.client.errors.map((e) => e.code)).to.deep.equal(["ERR_MLSTLS_BAD_RECORD_MAC"]);
    });

    it("a RetryRequest injected in place of the ServerHello makes the client retry, and the ends then disagree", async () => {
      let injected = false;
      const p = new Pair({
        server: { identity: createIdentity({ suite: 1 }), suites: [1, 3] },
        tamper: (dir, rec) => {
          const m = plaintextMessage(rec);
          if (dir === "s2c" && m?.type === "server_hello" && !injected) {
            injected = true;
            return record({ type: "retry_request", suite: 3 });
          }
          return rec;
        },
      });
      await p.handshake();
      // The server sees a plaintext ClientHello where it expects protected key confirmation: refused.
      expect(p.responder.established).to.equal(false);
      expect(p.server.errors.map((e) => e.code)).to.deep.equal(["ERR_MLSTLS_UNEXPECTED_RECORD"]);
    });

    it("a RetryRequest for a suite whose KeyPackage the client sent, or a second one, is refused", async () => {
      let n = 0;
      const p = new Pair({
        server: { identity: createIdentity({ suite: 1 }) },
        tamper: (dir, rec) => {
          const m = plaintextMessage(rec);
          if (dir === "s2c" && m?.type === "server_hello" && n++ === 0) return record({ type: "retry_request", suite: 1 });
          return rec;
        },
      });
      await p.handshake();
      expect(p.client.errors.map((e) => e.code)).to.deep.equal(["ERR_MLSTLS_ILLEGAL_PARAMETER"]);
    });

    it("a retried ClientHello that changes the offer is refused", async () => {
      let hellos = 0;
      const r = await attacked(
        (dir, m) => {
          if (dir === "c2s" && m.type === "client_hello" && hellos++ === 1) return { ...m, suites: m.suites.slice(0, -1) };
          return undefined;
        },
        { suite: 7, suites: [7] },
      );
      expect(r.server).to.deep.equal(["ERR_MLSTLS_ILLEGAL_PARAMETER"]);
    });
  });

  it("decodes strictly: duplicate suites, KeyPackages for unlisted suites, empty lists", async () => {
    const p = new Pair({ server: { identity: createIdentity({ suite: 1 }) }, manual: true });
    p.initiator.start();
    await p.initiator.whenIdle();
    const hello = plaintextMessage(p.queues.c2s[0]!) as Extract<HandshakeMessage, { type: "client_hello" }>;
    expect(hello.type).to.equal("client_hello");
    expect(hello.suites).to.deep.equal([1, 3, 2, 7]);
    expect(hello.keyPackages).to.have.length(2);
    const cases: [HandshakeMessage, string][] = [
      [{ ...hello, keyPackages: [hello.keyPackages[0]!, hello.keyPackages[0]!] }, "ERR_MLSTLS_ILLEGAL_PARAMETER"],
      [{ ...hello, suites: [3, 7] }, "ERR_MLSTLS_ILLEGAL_PARAMETER"],
    ];
    for (const [msg, code] of cases) {
      const q = new Pair({ server: { identity: createIdentity({ suite: 1 }) }, manual: true });
      q.server.conn.receive(record(msg));
      await q.responder.whenIdle();
      expect(q.server.errors.map((e) => e.code), JSON.stringify(msg.type)).to.deep.equal([code]);
    }
    // Hand-made bodies: a suite listed twice, no suites, no KeyPackages.
    const body = (suites: number[], kps: number): Uint8Array => {
      const parts = [Buffer.alloc(32), Buffer.from([suites.length]), ...suites.map((s) => Buffer.from([s >> 8, s & 0xff])), Buffer.from([kps])];
      for (let i = 0; i < kps; i++) { const n = hello.keyPackages[0]!.length; parts.push(Buffer.from([n >> 16, (n >> 8) & 0xff, n & 0xff]), Buffer.from(hello.keyPackages[0]!)); }
      return Buffer.concat(parts);
    };
    for (const [suites, kps, code] of [[[1, 1], 1, "ERR_MLSTLS_ILLEGAL_PARAMETER"], [[], 1, "ERR_MLSTLS_DECODE_ERROR"], [[1], 0, "ERR_MLSTLS_DECODE_ERROR"]] as const) {
      const q = new Pair({ server: { identity: createIdentity({ suite: 1 }) }, manual: true });
      const b = body([...suites], kps);
      const framed = Buffer.concat([Buffer.from([HandshakeType.mls_client_hello, 0, b.length >> 8, b.length & 0xff]), b]);
      q.server.conn.receive(encodePlaintextRecord(ContentType.handshake, framed));
      await q.responder.whenIdle();
      expect(q.server.errors.map((e) => e.code), `${suites} / ${kps}`).to.deep.equal([code]);
    }
  });
});
