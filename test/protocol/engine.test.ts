// The protocol engines end to end, in memory: handshake, streaming, updates of both kinds, races.

import { expect } from "chai";
import { Pair, eventsOf } from "../helpers/pair.js";
import { Prng } from "../helpers/prng.js";

function writeChunked(conn: { write(b: Uint8Array): void }, data: Uint8Array, rng: Prng, max = 40000): void {
  for (let off = 0; off < data.length; ) {
    const n = Math.min(data.length - off, rng.range(1, max));
    conn.write(data.subarray(off, off + n));
    off += n;
  }
}

describe("engine: handshake", () => {
  it("completes, then carries 1 MiB each way byte-exact", async () => {
    const p = new Pair();
    await p.handshake();
    expect(p.initiator.established).to.equal(true);
    expect(p.responder.established).to.equal(true);
    expect(p.initiator.state).to.equal("default");
    expect(p.responder.state).to.equal("default");
    expect(p.initiator.epoch).to.equal(p.responder.epoch);
    const rng = new Prng(10);
    const up = rng.bytes(1 << 20);
    const down = rng.bytes(1 << 20);
    writeChunked(p.client.conn, up, rng);
    writeChunked(p.server.conn, down, rng);
    await p.settle();
    expect(Buffer.concat(p.server.received).equals(Buffer.from(up))).to.equal(true);
    expect(Buffer.concat(p.client.received).equals(Buffer.from(down))).to.equal(true);
  });

  for (const suite of [1, 2, 3, 7]) {
    it(`works with MLS suite ${suite}`, async () => {
      const p = new Pair({ client: { suites: [suite] }, server: { suites: [1, 2, 3, 7] } });
      await p.handshake();
      expect(p.initiator.suite?.id).to.equal(suite);
      expect(p.responder.suite?.id).to.equal(suite);
      p.client.conn.write(Buffer.from("ping"));
      p.server.conn.write(Buffer.from("pong"));
      await p.settle();
      expect(Buffer.concat(p.server.received).toString()).to.equal("ping");
      expect(Buffer.concat(p.client.received).toString()).to.equal("pong");
    });
  }

  it("reports the server established only after key confirmation (decision 6)", async () => {
    const p = new Pair({ manual: true });
    p.initiator.start();
    await p.initiator.whenIdle();
    expect(p.initiator.state).to.equal("wait_server_hello");
    p.deliver("c2s");
    await p.responder.whenIdle();
    expect(p.responder.state).to.equal("wait_key_confirmation");
    expect(p.responder.established).to.equal(false);
    p.deliver("s2c");
    await p.initiator.whenIdle();
    expect(p.initiator.established).to.equal(true);
    // The client may write right behind its key confirmation: no extra round trip.
    p.client.conn.write(Buffer.from("early"));
    expect(p.responder.established).to.equal(false);
    p.deliver("c2s");
    await p.responder.whenIdle();
    expect(p.responder.established).to.equal(true);
    expect(Buffer.concat(p.server.received).toString()).to.equal("early");
  });

  it("refuses writes before the handshake with ERR_TLS_INVALID_STATE", () => {
    const p = new Pair({ manual: true });
    expect(() => p.client.conn.write(Buffer.from("x"))).to.throw().with.property("code", "ERR_TLS_INVALID_STATE");
    expect(() => p.client.conn.exportKeyingMaterial(32, "EXPERIMENTAL-x")).to.throw().with.property("code", "ERR_TLS_INVALID_STATE");
  });

  it("negotiates SNI and ALPN, and exports equal keying material on both ends", async () => {
    const p = new Pair({
      client: { serverName: "example.test", alpnProtocols: ["h2", "http/1.1"] },
      server: { alpnProtocols: ["http/1.1", "h2"] },
    });
    await p.handshake();
    expect(p.responder.serverName).to.equal("example.test");
    expect(p.responder.alpnProtocol).to.equal("http/1.1");
    expect(p.initiator.alpnProtocol).to.equal("http/1.1");
    const a = p.client.conn.exportKeyingMaterial(48, "EXPERIMENTAL-test", Buffer.from("ctx"));
    const b = p.server.conn.exportKeyingMaterial(48, "EXPERIMENTAL-test", Buffer.from("ctx"));
    expect(Buffer.from(a).equals(Buffer.from(b))).to.equal(true);
    const c = p.server.conn.exportKeyingMaterial(48, "EXPERIMENTAL-test");
    expect(Buffer.from(a).equals(Buffer.from(c))).to.equal(false);
    // Stable across updates, as node:tls users expect of exportKeyingMaterial.
    await p.client.conn.connectionUpdate();
    const d = p.client.conn.exportKeyingMaterial(48, "EXPERIMENTAL-test", Buffer.from("ctx"));
    expect(Buffer.from(a).equals(Buffer.from(d))).to.equal(true);
  });

  it("fails with no_application_protocol when ALPN lists do not meet", async () => {
    const p = new Pair({ client: { alpnProtocols: ["h2"] }, server: { alpnProtocols: ["http/1.1"] } });
    await p.handshake();
    expect(p.server.errors[0]?.code).to.equal("ERR_MLSTLS_NO_APPLICATION_PROTOCOL");
    expect(p.client.errors[0]?.code).to.equal("ERR_MLSTLS_PEER_ALERT");
    expect(p.client.errors[0]?.alert).to.equal(120);
  });

  it("fails with handshake_failure when the server does not support the client's suite", async () => {
    const p = new Pair({ client: { suites: [3] }, server: { suites: [1, 2] } });
    await p.handshake();
    expect(p.server.errors[0]?.code).to.equal("ERR_MLSTLS_CIPHERSUITE_MISMATCH");
    expect(p.client.errors[0]?.alert).to.equal(40);
  });

  it("emits keylog lines only when asked to", async () => {
    const p = new Pair({ client: { keylog: true } });
    await p.handshake();
    const lines = eventsOf(p.client, "keylog").map((e) => e.line);
    expect(lines.some((l) => l.startsWith("CLIENT_TRAFFIC_SECRET_0 "))).to.equal(true);
    expect(lines.some((l) => l.startsWith("SERVER_TRAFFIC_SECRET_0 "))).to.equal(true);
    expect(eventsOf(p.server, "keylog")).to.have.length(0);
  });
});

describe("engine: ConnectionUpdate", () => {
  it("either side's update moves both to a new epoch with fresh keys", async () => {
    const p = new Pair();
    await p.handshake();
    const e0 = p.initiator.epoch!;
    await p.client.conn.connectionUpdate();
    await p.settle();
    expect(p.initiator.epoch).to.equal(e0 + 1n);
    expect(p.responder.epoch).to.equal(e0 + 1n);
    await p.server.conn.connectionUpdate();
    await p.settle();
    expect(p.initiator.epoch).to.equal(e0 + 2n);
    expect(p.responder.epoch).to.equal(e0 + 2n);
    expect(eventsOf(p.client, "connectionUpdate").map((e) => e.initiatedBy)).to.deep.equal(["local", "peer"]);
    expect(eventsOf(p.server, "connectionUpdate").map((e) => e.initiatedBy)).to.deep.equal(["peer", "local"]);
    p.client.conn.write(Buffer.from("after"));
    await p.settle();
    expect(Buffer.concat(p.server.received).toString()).to.equal("after");
  });

  it("race: initiator in state 2 drops the responder's update; responder in state 2 yields; the loser re-issues", async () => {
    const p = new Pair({ manual: true });
    await p.handshake();
    const e0 = p.initiator.epoch!;
    const cu = p.client.conn.connectionUpdate();
    const su = p.server.conn.connectionUpdate();
    await p.initiator.whenIdle();
    await p.responder.whenIdle();
    expect(p.initiator.draftState).to.equal(2);
    expect(p.responder.draftState).to.equal(2);
    // Initiator in state 2 receives the responder's ConnectionUpdate: dropped.
    p.deliver("s2c");
    await p.initiator.whenIdle();
    expect(p.initiator.draftState).to.equal(2);
    expect(p.client.errors).to.have.length(0);
    // Responder in state 2 receives the initiator's: discards its own, applies the initiator's, confirms.
    p.deliver("c2s");
    await p.responder.whenIdle();
    expect(p.server.errors).to.have.length(0);
    await p.settle();
    await Promise.all([cu, su]);
    // The initiator's update and then the responder's re-issued one.
    expect(p.initiator.epoch).to.equal(e0 + 2n);
    expect(p.responder.epoch).to.equal(e0 + 2n);
    expect(eventsOf(p.server, "connectionUpdate").map((e) => e.initiatedBy)).to.deep.equal(["peer", "local"]);
    expect(eventsOf(p.client, "connectionUpdate").map((e) => e.initiatedBy)).to.deep.equal(["local", "peer"]);
  });

  it("race, other order: the responder sees the initiator's update first", async () => {
    const p = new Pair({ manual: true });
    await p.handshake();
    const e0 = p.initiator.epoch!;
    const cu = p.client.conn.connectionUpdate();
    const su = p.server.conn.connectionUpdate();
    await p.initiator.whenIdle();
    await p.responder.whenIdle();
    p.deliver("c2s");
    await p.responder.whenIdle();
    expect(p.responder.draftState).to.equal(2); // re-issued already
    p.deliver("s2c");
    await p.settle();
    await Promise.all([cu, su]);
    expect(p.initiator.epoch).to.equal(e0 + 2n);
    expect(p.responder.epoch).to.equal(e0 + 2n);
  });

  it("initiator in state 1 receiving the responder's update moves to state 3, then back to 1", async () => {
    const p = new Pair({ manual: true });
    await p.handshake();
    const su = p.server.conn.connectionUpdate();
    await p.responder.whenIdle();
    p.deliver("s2c");
    await p.initiator.whenIdle();
    expect(p.initiator.draftState).to.equal(3);
    // An update asked for in state 3 waits for state 1.
    const cu = p.client.conn.connectionUpdate();
    await p.initiator.whenIdle();
    expect(p.initiator.draftState).to.equal(3);
    await p.settle();
    await Promise.all([su, cu]);
    expect(p.initiator.draftState).to.equal(1);
    expect(p.initiator.epoch).to.equal(p.responder.epoch);
  });

  it("200 updates from both sides at random moments while both directions stream", async function () {
    this.timeout(120000);
    const rng = new Prng(42);
    const p = new Pair({ manual: true });
    await p.handshake();
    const e0 = p.initiator.epoch!;
    const up: Uint8Array[] = [];
    const down: Uint8Array[] = [];
    const promises: Promise<void>[] = [];
    let cus = 0;
    let kus = 0;
    for (let step = 0; cus + kus < 200 || step < 400; step++) {
      const a = rng.int(10);
      if (a <= 1) {
        const d = rng.bytes(rng.range(1, 5000));
        up.push(d);
        p.client.conn.write(d);
      } else if (a <= 3) {
        const d = rng.bytes(rng.range(1, 5000));
        down.push(d);
        p.server.conn.write(d);
      } else if (a === 4 && cus + kus < 200) {
        const side = rng.chance(0.5) ? p.client.conn : p.server.conn;
        if (rng.chance(0.6)) {
          promises.push(side.connectionUpdate());
          cus++;
        } else {
          promises.push(side.keyUpdate({ requestPeer: rng.chance(0.5) }));
          kus++;
        }
      } else if (a <= 7) {
        p.deliver(rng.chance(0.5) ? "c2s" : "s2c", rng.range(1, 4));
      } else {
        await new Promise((r) => setImmediate(r));
        if (rng.chance(0.3)) {
          await p.initiator.whenIdle();
          await p.responder.whenIdle();
        }
      }
    }
    await p.settle();
    const results = await Promise.allSettled(promises);
    const rejected = results.filter((r) => r.status === "rejected");
    expect(rejected, JSON.stringify(rejected.slice(0, 3))).to.have.length(0);
    expect(p.client.errors).to.have.length(0);
    expect(p.server.errors).to.have.length(0);
    expect(Buffer.concat(p.server.received).equals(Buffer.concat(up))).to.equal(true);
    expect(Buffer.concat(p.client.received).equals(Buffer.concat(down))).to.equal(true);
    expect(p.initiator.epoch).to.equal(p.responder.epoch);
    // Calls made while a commit is in flight share the next commit, so epochs advance once per commit issued.
    const localCommits =
      eventsOf(p.client, "connectionUpdate").filter((e) => e.initiatedBy === "local").length +
      eventsOf(p.server, "connectionUpdate").filter((e) => e.initiatedBy === "local").length;
    expect(p.initiator.epoch! - e0).to.equal(BigInt(localCommits));
    expect(localCommits).to.be.greaterThan(cus / 4);
    expect(p.initiator.draftState).to.equal(1);
    expect(p.responder.draftState).to.equal(1);
  });
});

describe("engine: KeyUpdate", () => {
  for (const requestPeer of [false, true]) {
    it(`both ways mid-stream, ${requestPeer ? "with" : "without"} update_requested`, async () => {
      const rng = new Prng(requestPeer ? 7 : 8);
      const p = new Pair();
      await p.handshake();
      const up: Uint8Array[] = [];
      const down: Uint8Array[] = [];
      for (let i = 0; i < 20; i++) {
        const a = rng.bytes(rng.range(1, 3000));
        const b = rng.bytes(rng.range(1, 3000));
        up.push(a);
        down.push(b);
        p.client.conn.write(a);
        p.server.conn.write(b);
        if (i === 5) await p.client.conn.keyUpdate({ requestPeer });
        if (i === 12) await p.server.conn.keyUpdate({ requestPeer });
      }
      await p.settle();
      expect(Buffer.concat(p.server.received).equals(Buffer.concat(up))).to.equal(true);
      expect(Buffer.concat(p.client.received).equals(Buffer.concat(down))).to.equal(true);
      const cSent = eventsOf(p.client, "keyUpdate").filter((e) => e.direction === "send");
      const sSent = eventsOf(p.server, "keyUpdate").filter((e) => e.direction === "send");
      // With update_requested each side also answers the other's request exactly once.
      expect(cSent).to.have.length(requestPeer ? 2 : 1);
      expect(sSent).to.have.length(requestPeer ? 2 : 1);
    });
  }

  it("answers several update requests that arrive together with one KeyUpdate", async () => {
    const p = new Pair({ manual: true });
    await p.handshake();
    const waits = [p.client.conn.keyUpdate({ requestPeer: true }), p.client.conn.keyUpdate({ requestPeer: true })];
    p.deliver("c2s");
    await p.responder.whenIdle();
    expect(eventsOf(p.server, "keyUpdate").filter((e) => e.direction === "send")).to.have.length(1);
    await p.settle();
    await Promise.all(waits);
  });

  it("ratchets automatically before the AEAD usage limit", async () => {
    const p = new Pair({ client: { aeadLimit: 10n } });
    await p.handshake();
    for (let i = 0; i < 35; i++) p.client.conn.write(Buffer.from([i]));
    await p.settle();
    const auto = eventsOf(p.client, "keyUpdate").filter((e) => e.automatic);
    expect(auto.length).to.be.greaterThanOrEqual(3);
    expect(Buffer.concat(p.server.received)).to.have.length(35);
  });
});

describe("engine: close_notify and half-close", () => {
  it("each direction closes on its own", async () => {
    const p = new Pair();
    await p.handshake();
    p.client.conn.write(Buffer.from("last words"));
    p.client.conn.close();
    await p.settle();
    expect(p.server.ended).to.equal(true);
    expect(p.client.ended).to.equal(false);
    expect(() => p.client.conn.write(Buffer.from("x"))).to.throw().with.property("code", "ERR_MLSTLS_CLOSED");
    // The other direction still works.
    p.server.conn.write(Buffer.from("reply"));
    p.server.conn.close();
    await p.settle();
    expect(Buffer.concat(p.client.received).toString()).to.equal("reply");
    expect(p.client.ended).to.equal(true);
    expect(p.client.errors).to.have.length(0);
    expect(p.server.errors).to.have.length(0);
  });

  it("settles update promises when the peer closes before confirming", async () => {
    const p = new Pair({ manual: true });
    await p.handshake();
    const su = p.server.conn.connectionUpdate();
    await p.responder.whenIdle();
    p.client.conn.close();
    p.deliver("c2s");
    await p.responder.whenIdle();
    await su.then(
      () => expect.fail("must reject"),
      (e) => expect(e.code).to.equal("ERR_MLSTLS_CLOSED"),
    );
  });
});
