// Adversarial peers and networks against the engines, state by state: every bad input ends in a specific
// error code, the matching alert on the wire, and no data delivered after it.

import { expect } from "chai";
import { Pair, type Endpoint } from "../helpers/pair.js";
import { Responder } from "../../lib/protocol/responder.js";
import { Initiator } from "../../lib/protocol/initiator.js";
import type { Connection, ConnectionEvent } from "../../lib/protocol/connection.js";
import { type HandshakeMessage, encodeHandshake } from "../../lib/protocol/messages.js";
import { ContentType, encodePlaintextRecord } from "../../lib/protocol/records/record-layer.js";
import { MlsTlsError } from "../../lib/errors.js";
import { EXPORTER_MASTER_LABEL, applicationTrafficSecrets, connectionContext } from "../../lib/protocol/key-schedule.js";
import { suiteById } from "../../lib/suites.js";

/** Test-only access to a connection's protected send path, to play a misbehaving but keyed peer. */
interface Internals {
  sendHandshake(msg: HandshakeMessage): void;
  sendProt: { seal(type: number, content: Uint8Array): Uint8Array };
  cb: { send(b: Uint8Array): void };
}
const internals = (c: Connection) => c as unknown as Internals;

function sendProtectedRaw(c: Connection, type: number, content: Uint8Array): void {
  const i = internals(c);
  i.cb.send(i.sendProt.seal(type, content));
}

async function established(): Promise<Pair> {
  const p = new Pair({ manual: true });
  await p.handshake();
  expect(p.initiator.established && p.responder.established).to.equal(true);
  return p;
}

/** Delivers one direction and waits for the receiver to finish. */
async function deliver(p: Pair, dir: "c2s" | "s2c"): Promise<void> {
  p.deliver(dir);
  await (dir === "c2s" ? p.responder : p.initiator).whenIdle();
}

function expectFatal(ep: Endpoint, code: string): MlsTlsError {
  expect(ep.errors, `expected ${code}`).to.have.length(1);
  const err = ep.errors[0]!;
  expect(err.code).to.equal(code);
  expect(err.remote).to.equal(false);
  return err;
}

/** The victim's alert reached the other side as a remote error with the same description. */
async function expectAlertDelivered(p: Pair, victim: "client" | "server", alert: number): Promise<void> {
  await deliver(p, victim === "server" ? "s2c" : "c2s");
  const other = victim === "server" ? p.client : p.server;
  expect(other.errors).to.have.length(1);
  expect(other.errors[0]!.code).to.equal("ERR_MLSTLS_PEER_ALERT");
  expect(other.errors[0]!.remote).to.equal(true);
  expect(other.errors[0]!.alert).to.equal(alert);
}

function dataAfterError(events: ConnectionEvent[]): number {
  const i = events.findIndex((e) => e.type === "error");
  return events.slice(i + 1).filter((e) => e.type === "data").length;
}

describe("adversarial: records", () => {
  // Positions in a 29-byte application_data record carrying 7 bytes: header, ciphertext, inner type, tag.
  const positions = [0, 1, 2, 3, 4, 5, 8, 11, 12, 13, 20, 28];
  for (const pos of positions) {
    it(`a flipped bit at byte ${pos} of a protected record is fatal, and nothing after it is delivered`, async () => {
      const p = await established();
      p.client.conn.write(Buffer.from("payload"));
      p.client.conn.write(Buffer.from("more"));
      const q = p.queues.c2s;
      expect(q[0]!.length).to.equal(5 + 7 + 1 + 16);
      const rec = Uint8Array.from(q[0]!);
      rec[pos]! ^= 0x10;
      q[0] = rec;
      await deliver(p, "c2s");
      const expected =
        pos === 0 ? "ERR_MLSTLS_UNEXPECTED_RECORD" : pos <= 2 ? "ERR_MLSTLS_DECODE_ERROR" : pos <= 4 ? null : "ERR_MLSTLS_BAD_RECORD_MAC";
      if (expected === null) {
        // A changed length either waits for bytes that never come, or misframes: never silently accepted.
        const err = p.server.errors[0];
        if (err !== undefined) expect(["ERR_MLSTLS_BAD_RECORD_MAC", "ERR_MLSTLS_RECORD_OVERFLOW", "ERR_MLSTLS_DECODE_ERROR"]).to.include(err.code);
      } else {
        const err = expectFatal(p.server, expected);
        if (expected === "ERR_MLSTLS_BAD_RECORD_MAC") {
          expect(err.alert).to.equal(20);
          await expectAlertDelivered(p, "server", 20);
        }
      }
      expect(p.server.received).to.have.length(0);
      expect(dataAfterError(p.server.events)).to.equal(0);
    });
  }

  it("a replayed record is rejected (sequence numbers are implicit)", async () => {
    const p = await established();
    p.client.conn.write(Buffer.from("once"));
    p.queues.c2s.push(p.queues.c2s[0]!);
    await deliver(p, "c2s");
    expect(Buffer.concat(p.server.received).toString()).to.equal("once");
    expectFatal(p.server, "ERR_MLSTLS_BAD_RECORD_MAC");
  });

  it("a dropped or reordered record is detected", async () => {
    const p = await established();
    p.client.conn.write(Buffer.from("a"));
    p.client.conn.write(Buffer.from("b"));
    p.queues.c2s.reverse();
    await deliver(p, "c2s");
    expectFatal(p.server, "ERR_MLSTLS_BAD_RECORD_MAC");
    expect(p.server.received).to.have.length(0);
  });

  it("an oversized record header is refused with record_overflow before its body arrives", async () => {
    const p = await established();
    p.queues.c2s.push(Uint8Array.of(23, 3, 3, 0x41, 0x01));
    await deliver(p, "c2s");
    const err = expectFatal(p.server, "ERR_MLSTLS_RECORD_OVERFLOW");
    expect(err.alert).to.equal(22);
    await expectAlertDelivered(p, "server", 22);
  });

  it("an oversized plaintext record before the handshake is refused", async () => {
    const r = new Pair({ manual: true });
    r.queues.c2s.push(Uint8Array.of(22, 3, 3, 0x40, 0x01));
    await deliver(r, "c2s");
    expectFatal(r.server, "ERR_MLSTLS_RECORD_OVERFLOW");
  });
});

describe("adversarial: messages", () => {
  it("a truncated EpochKeyUpdate is decode_error", async () => {
    const p = await established();
    sendProtectedRaw(p.client.conn, ContentType.handshake, Uint8Array.of(0xe5, 0, 0, 3, 0, 0, 1));
    await deliver(p, "c2s");
    expect(expectFatal(p.server, "ERR_MLSTLS_DECODE_ERROR").alert).to.equal(50);
    await expectAlertDelivered(p, "server", 50);
  });

  it("an EpochKeyUpdate with trailing bytes is decode_error", async () => {
    const p = await established();
    sendProtectedRaw(p.client.conn, ContentType.handshake, Uint8Array.of(0xe5, 0, 0, 5, 0, 0, 0, 1, 0));
    await deliver(p, "c2s");
    expectFatal(p.server, "ERR_MLSTLS_DECODE_ERROR");
  });

  it("an unknown handshake type is unexpected_message", async () => {
    const p = await established();
    sendProtectedRaw(p.client.conn, ContentType.handshake, Uint8Array.of(0x77, 0, 0, 0));
    await deliver(p, "c2s");
    expectFatal(p.server, "ERR_MLSTLS_UNEXPECTED_MESSAGE");
  });

  it("a key change that does not end its record is fatal (CVE-2025-61730 class)", async () => {
    const p = await established();
    const ku = encodeHandshake({ type: "key_update", updateRequested: false });
    sendProtectedRaw(p.client.conn, ContentType.handshake, Buffer.concat([ku, ku]));
    await deliver(p, "c2s");
    expectFatal(p.server, "ERR_MLSTLS_KEY_CHANGE_NOT_ON_RECORD_BOUNDARY");
  });

  it("a handshake message may span records when it changes no key", async () => {
    const p = await established();
    // A KeyUpdate split over two records: the key changes after its last byte, which ends a record.
    const ku = encodeHandshake({ type: "key_update", updateRequested: false });
    sendProtectedRaw(p.client.conn, ContentType.handshake, ku.subarray(0, 2));
    sendProtectedRaw(p.client.conn, ContentType.handshake, ku.subarray(2));
    await deliver(p, "c2s");
    expect(p.server.errors).to.have.length(0);
  });

  it("application data inside a fragmented handshake message is unexpected_message", async () => {
    const p = await established();
    const ku = encodeHandshake({ type: "key_update", updateRequested: false });
    sendProtectedRaw(p.client.conn, ContentType.handshake, ku.subarray(0, 2));
    sendProtectedRaw(p.client.conn, ContentType.application_data, Buffer.from("x"));
    await deliver(p, "c2s");
    expectFatal(p.server, "ERR_MLSTLS_UNEXPECTED_MESSAGE");
    expect(p.server.received).to.have.length(0);
  });

  it("a flood of post-handshake messages without data is cut off", async () => {
    const p = new Pair({ manual: true, server: { maxHandshakeMessagesWithoutData: 16 } });
    await p.handshake();
    for (let i = 0; i < 17; i++) await p.client.conn.keyUpdate();
    await deliver(p, "c2s");
    expectFatal(p.server, "ERR_MLSTLS_HANDSHAKE_FLOOD");
  });

  it("replies to our own requests never count toward the cap (a peer that only receives data)", async () => {
    const p = new Pair({ client: { maxHandshakeMessagesWithoutData: 4 }, server: { maxHandshakeMessagesWithoutData: 4 } });
    await p.handshake();
    for (let i = 0; i < 12; i++) {
      p.client.conn.write(Buffer.from([i]));
      await Promise.all([p.client.conn.connectionUpdate(), p.settle()]);
      await Promise.all([p.client.conn.keyUpdate({ requestPeer: true }), p.settle()]);
    }
    expect(p.client.errors).to.have.length(0);
    expect(p.server.errors).to.have.length(0);
  });

  it("application data resets the flood counter", async () => {
    const p = new Pair({ manual: true, server: { maxHandshakeMessagesWithoutData: 4 } });
    await p.handshake();
    for (let i = 0; i < 20; i++) {
      await p.client.conn.keyUpdate();
      if (i % 3 === 2) p.client.conn.write(Buffer.from([i]));
    }
    await deliver(p, "c2s");
    expect(p.server.errors).to.have.length(0);
  });

  it("a peer's fatal alert ends the connection as a remote error, without answering", async () => {
    const p = await established();
    sendProtectedRaw(p.client.conn, ContentType.alert, Uint8Array.of(2, 80));
    await deliver(p, "c2s");
    expect(p.server.errors[0]?.code).to.equal("ERR_MLSTLS_PEER_ALERT");
    expect(p.server.errors[0]?.remote).to.equal(true);
    expect(p.server.errors[0]?.alert).to.equal(80);
    expect(p.queues.s2c).to.have.length(0);
  });

  it("records after close_notify are ignored", async () => {
    const p = await established();
    p.client.conn.close();
    sendProtectedRaw(p.client.conn, ContentType.application_data, Buffer.from("ghost"));
    await deliver(p, "c2s");
    expect(p.server.ended).to.equal(true);
    expect(p.server.received).to.have.length(0);
    expect(p.server.errors).to.have.length(0);
  });
});

describe("adversarial: each responder state", () => {
  it("wait_client_hello: a vanilla TLS ClientHello gets protocol_version", async () => {
    const p = new Pair({ manual: true });
    // A TLS 1.3 ClientHello's first bytes, record version 0x0301 as browsers send it.
    const body = Buffer.concat([Buffer.from([3, 3]), Buffer.alloc(32, 7), Buffer.from([0, 0, 2, 0x13, 0x01, 1, 0, 0, 0])]);
    const hs = Buffer.concat([Buffer.from([1, 0, 0, body.length]), body]);
    p.queues.c2s.push(Buffer.concat([Buffer.from([22, 3, 1, 0, hs.length]), hs]));
    await deliver(p, "c2s");
    const err = expectFatal(p.server, "ERR_MLSTLS_VANILLA_TLS_PEER");
    expect(err.alert).to.equal(70);
    // The alert goes out in plaintext, which a vanilla client can read.
    expect(Buffer.from(p.queues.s2c[0]!)).to.deep.equal(Buffer.from([21, 3, 3, 0, 2, 2, 70]));
  });

  it("wait_client_hello: HTTP or other garbage is refused", async () => {
    const p = new Pair({ manual: true });
    p.queues.c2s.push(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    await deliver(p, "c2s");
    expect(p.server.errors).to.have.length(1);
    expect(p.server.errors[0]!.code).to.equal("ERR_MLSTLS_NOT_TLS");
  });

  it("wait_client_hello: application data or a server message is unexpected", async () => {
    for (const rec of [
      encodePlaintextRecord(ContentType.application_data, Buffer.from("hi")),
      encodePlaintextRecord(ContentType.handshake, encodeHandshake({ type: "epoch_key_update", epoch: 1n })),
      encodePlaintextRecord(ContentType.handshake, encodeHandshake({ type: "resumption_accept", random: new Uint8Array(32) })),
    ]) {
      const p = new Pair({ manual: true });
      p.queues.c2s.push(rec);
      await deliver(p, "c2s");
      expect(p.server.errors).to.have.length(1);
      expect(["ERR_MLSTLS_UNEXPECTED_RECORD", "ERR_MLSTLS_UNEXPECTED_MESSAGE"]).to.include(p.server.errors[0]!.code);
      expect(p.server.errors[0]!.alert).to.equal(10);
    }
  });

  async function atKeyConfirmation(): Promise<Pair> {
    const p = new Pair({ manual: true });
    p.initiator.start();
    await p.initiator.whenIdle();
    await deliver(p, "c2s");
    await deliver(p, "s2c");
    expect(p.responder.state).to.equal("wait_key_confirmation");
    // Drop the genuine key confirmation and rewind the client's sequence number, so that what the test sends
    // next is the first protected record the server sees.
    p.queues.c2s.length = 0;
    const prot = (p.client.conn as unknown as { sendProt: { install(s: Uint8Array): void; trafficSecret: Uint8Array } }).sendProt;
    prot.install(prot.trafficSecret);
    return p;
  }

  it("wait_key_confirmation: application data before key confirmation is unexpected_message", async () => {
    const p = await atKeyConfirmation();
    sendProtectedRaw(p.client.conn, ContentType.application_data, Buffer.from("early"));
    await deliver(p, "c2s");
    expectFatal(p.server, "ERR_MLSTLS_UNEXPECTED_MESSAGE");
    expect(p.server.received).to.have.length(0);
    expect(p.responder.established).to.equal(false);
  });

  it("wait_key_confirmation: a confirmation for another epoch is illegal_parameter", async () => {
    const p = await atKeyConfirmation();
    internals(p.client.conn).sendHandshake({ type: "epoch_key_update", epoch: 99n });
    await deliver(p, "c2s");
    expect(expectFatal(p.server, "ERR_MLSTLS_WRONG_EPOCH").alert).to.equal(47);
    expect(p.responder.established).to.equal(false);
  });

  it("wait_key_confirmation: a KeyUpdate or ConnectionUpdate is unexpected_message", async () => {
    for (const msg of [
      { type: "key_update", updateRequested: false },
      { type: "connection_update", commit: Uint8Array.of(1, 2, 3) },
    ] as HandshakeMessage[]) {
      const p = await atKeyConfirmation();
      internals(p.client.conn).sendHandshake(msg);
      await deliver(p, "c2s");
      expectFatal(p.server, "ERR_MLSTLS_UNEXPECTED_MESSAGE");
    }
  });

  it("wait_key_confirmation: a second plaintext ClientHello is refused", async () => {
    const p = await atKeyConfirmation();
    const hello = p.client.sent[0]!;
    p.queues.c2s.push(hello);
    await deliver(p, "c2s");
    expectFatal(p.server, "ERR_MLSTLS_UNEXPECTED_RECORD");
  });

  it("default: an EpochKeyUpdate out of the blue is unexpected_message", async () => {
    const p = await established();
    internals(p.client.conn).sendHandshake({ type: "epoch_key_update", epoch: p.initiator.epoch! });
    await deliver(p, "c2s");
    expectFatal(p.server, "ERR_MLSTLS_UNEXPECTED_MESSAGE");
  });

  it("default: a ClientHello inside the protected channel is unexpected_message", async () => {
    const p = await established();
    internals(p.client.conn).sendHandshake({ type: "client_hello", random: new Uint8Array(32), suites: [1], keyPackages: [Uint8Array.of(1)] });
    await deliver(p, "c2s");
    expectFatal(p.server, "ERR_MLSTLS_UNEXPECTED_MESSAGE");
  });

  it("default: garbage in a ConnectionUpdate is fatal with a specific code", async () => {
    const p = await established();
    internals(p.client.conn).sendHandshake({ type: "connection_update", commit: Uint8Array.of(0, 1, 0, 2, 9, 9) });
    await deliver(p, "c2s");
    expect(p.server.errors).to.have.length(1);
    expect(p.server.errors[0]!.code).to.equal("ERR_MLSTLS_DECODE_ERROR");
  });

  it("wait_confirmation: the responder's own commit reflected back (wrong leaf) is fatal", async () => {
    const p = await established();
    const su = p.server.conn.connectionUpdate();
    su.catch(() => undefined);
    await p.responder.whenIdle();
    expect(p.responder.draftState).to.equal(2);
    const own = (p.responder as unknown as { ownUpdate: { commit: Uint8Array } }).ownUpdate.commit;
    internals(p.client.conn).sendHandshake({ type: "connection_update", commit: own });
    await deliver(p, "c2s");
    expect(p.server.errors).to.have.length(1);
    expect(["ERR_MLSTLS_COMMIT_POLICY", "ERR_MLSTLS_MLS_REJECTED"]).to.include(p.server.errors[0]!.code);
    await su.then(
      () => expect.fail("the update must fail with the connection"),
      (e) => expect(e).to.equal(p.server.errors[0]),
    );
  });

  it("wait_confirmation: a confirmation for the wrong epoch is illegal_parameter", async () => {
    const p = await established();
    p.server.conn.connectionUpdate().catch(() => undefined);
    await p.responder.whenIdle();
    p.queues.s2c.length = 0;
    internals(p.client.conn).sendHandshake({ type: "epoch_key_update", epoch: p.initiator.epoch! + 5n });
    await deliver(p, "c2s");
    expectFatal(p.server, "ERR_MLSTLS_WRONG_EPOCH");
  });
});

describe("adversarial: each initiator state", () => {
  it("wait_server_hello: a vanilla TLS ServerHello is recognised", async () => {
    const p = new Pair({ manual: true });
    p.initiator.start();
    await p.initiator.whenIdle();
    const body = Buffer.concat([Buffer.from([3, 3]), Buffer.alloc(32, 1), Buffer.from([0, 0x13, 0x01, 0])]);
    p.queues.s2c.push(encodePlaintextRecord(ContentType.handshake, Buffer.concat([Buffer.from([2, 0, 0, body.length]), body])));
    await deliver(p, "s2c");
    expectFatal(p.client, "ERR_MLSTLS_VANILLA_TLS_PEER");
  });

  it("wait_server_hello: anything but a ServerHello is unexpected", async () => {
    for (const rec of [
      encodePlaintextRecord(ContentType.application_data, Buffer.from("hi")),
      encodePlaintextRecord(ContentType.handshake, encodeHandshake({ type: "epoch_key_update", epoch: 1n })),
      encodePlaintextRecord(ContentType.handshake, encodeHandshake({ type: "client_hello", random: new Uint8Array(32), suites: [1], keyPackages: [Uint8Array.of(1)] })),
    ]) {
      const p = new Pair({ manual: true });
      p.initiator.start();
      await p.initiator.whenIdle();
      p.queues.s2c.push(rec);
      await deliver(p, "s2c");
      expect(p.client.errors).to.have.length(1);
      expect(p.client.errors[0]!.alert).to.equal(10);
    }
  });

  it("wait_server_hello: a ServerHello with a garbage Welcome is a decode error, not a crash", async () => {
    const p = new Pair({ manual: true });
    p.initiator.start();
    await p.initiator.whenIdle();
    p.queues.s2c.push(
      encodePlaintextRecord(ContentType.handshake, encodeHandshake({ type: "server_hello", random: new Uint8Array(32), suite: 1, welcome: Uint8Array.of(0, 1, 0, 3, 1) })),
    );
    await deliver(p, "s2c");
    expectFatal(p.client, "ERR_MLSTLS_DECODE_ERROR");
  });

  it("default: an EpochKeyUpdate out of the blue is unexpected_message", async () => {
    const p = await established();
    internals(p.server.conn).sendHandshake({ type: "epoch_key_update", epoch: p.responder.epoch! });
    await deliver(p, "s2c");
    expectFatal(p.client, "ERR_MLSTLS_UNEXPECTED_MESSAGE");
  });

  it("wait_confirmation: a ServerHello inside the channel is unexpected; a wrong epoch is illegal_parameter", async () => {
    {
      const p = await established();
      p.client.conn.connectionUpdate().catch(() => undefined);
      await p.initiator.whenIdle();
      expect(p.initiator.draftState).to.equal(2);
      internals(p.server.conn).sendHandshake({ type: "server_hello", random: new Uint8Array(32), suite: 1, welcome: Uint8Array.of(1) });
      await deliver(p, "s2c");
      expectFatal(p.client, "ERR_MLSTLS_UNEXPECTED_MESSAGE");
    }
    {
      const p = await established();
      p.client.conn.connectionUpdate().catch(() => undefined);
      await p.initiator.whenIdle();
      internals(p.server.conn).sendHandshake({ type: "epoch_key_update", epoch: p.initiator.epoch! + 1n });
      await deliver(p, "s2c");
      expectFatal(p.client, "ERR_MLSTLS_WRONG_EPOCH");
    }
  });

  it("wait_peer_epoch_key_update: a ConnectionUpdate is unexpected_message", async () => {
    const p = await established();
    p.server.conn.connectionUpdate().catch(() => undefined);
    await p.responder.whenIdle();
    await deliver(p, "s2c");
    expect(p.initiator.draftState).to.equal(3);
    internals(p.server.conn).sendHandshake({ type: "connection_update", commit: Uint8Array.of(1, 2, 3) });
    await deliver(p, "s2c");
    expectFatal(p.client, "ERR_MLSTLS_UNEXPECTED_MESSAGE");
  });
});

describe("adversarial: replay and key freshness", () => {
  it("a replayed ClientHello never reaches established on the server", async () => {
    const p = new Pair();
    await p.handshake();
    p.client.conn.write(Buffer.from("secret"));
    await p.settle();
    // An attacker replays everything the genuine client sent, to a fresh server.
    const events: ConnectionEvent[] = [];
    const replayed = new Responder({}, { send: () => undefined, event: (e) => events.push(e) });
    for (const rec of p.client.sent) replayed.receive(rec);
    await replayed.whenIdle();
    expect(replayed.established).to.equal(false);
    expect(events.some((e) => e.type === "handshake" || e.type === "data")).to.equal(false);
    const err = events.find((e) => e.type === "error") as { error: MlsTlsError } | undefined;
    expect(err?.error.code).to.equal("ERR_MLSTLS_BAD_RECORD_MAC");
  });

  it("a replayed ClientHello alone leaves the server waiting, and the handshake timeout is the socket's job", async () => {
    const p = new Pair();
    await p.handshake();
    const replayed = new Responder({}, { send: () => undefined, event: () => undefined });
    replayed.receive(p.client.sent[0]!);
    await replayed.whenIdle();
    expect(replayed.state).to.equal("wait_key_confirmation");
    expect(replayed.established).to.equal(false);
  });

  it("two connections from the same MLS state never share a key (decision 5)", async () => {
    // The equal-epoch resumption case: same group, same epoch, different connections.
    const p = new Pair();
    await p.handshake();
    const session = p.initiator.mlsSession!;
    const suite = suiteById(session.suite)!;
    const cr = new Uint8Array(32).fill(1);
    const keys = new Set<string>();
    for (const sr of [new Uint8Array(32).fill(2), new Uint8Array(32).fill(3)]) {
      const master = await session.exportSecret(EXPORTER_MASTER_LABEL, connectionContext(cr, sr, new Uint8Array(32)), suite.hashLen);
      const { client, server } = applicationTrafficSecrets(suite, master);
      keys.add(Buffer.from(client).toString("hex"));
      keys.add(Buffer.from(server).toString("hex"));
    }
    expect(keys.size).to.equal(4);
    // And two real handshakes with identical client randomness still get distinct keys from the server's random.
    const fixed = () => new Uint8Array(32).fill(9);
    const lines: string[] = [];
    for (let i = 0; i < 2; i++) {
      const q = new Pair({ client: { keylog: true, randomBytes: fixed } });
      await q.handshake();
      lines.push(...q.client.events.filter((e) => e.type === "keylog").map((e) => (e as { line: string }).line.split(" ")[2]!));
    }
    expect(new Set(lines).size).to.equal(lines.length);
  });

  it("an initiator never accepts a ServerHello replayed from another connection", async () => {
    const p = new Pair();
    await p.handshake();
    const serverHello = p.server.sent[0]!;
    const events: ConnectionEvent[] = [];
    const victim = new Initiator({}, { send: () => undefined, event: (e) => events.push(e) });
    victim.start();
    await victim.whenIdle();
    victim.receive(serverHello);
    await victim.whenIdle();
    expect(victim.established).to.equal(false);
    const err = events.find((e) => e.type === "error") as { error: MlsTlsError } | undefined;
    expect(err?.error).to.be.instanceOf(MlsTlsError);
  });
});
