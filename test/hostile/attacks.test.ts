// The hostile-peer suite (issue 8): well over 100 attacks over real TCP against a real mlstls server and a real
// mlstls client. Each case asserts the exact alert the victim sends (decoded by the attacker's engine, so also
// encrypted ones), the victim's error code, that the victim's application got nothing after the fault, and that a
// well-behaved client is served right after.
//
// Expected alerts follow RFC 8446 §5-§6 and what tlsfuzzer and BoGo expect for the same inputs: a record too long
// is record_overflow; a flipped, replayed, reordered, dropped or truncated protected record is bad_record_mac; an
// all-zero inner plaintext and an empty alert record are unexpected_message; a KeyUpdate empty or over-long is
// decode_error and one with request_update > 1 illegal_parameter (RFC 8446 §4.6.3); a key change that does not end
// its record is unexpected_message (RFC 8446 §5.1). mlstls's own choices (PROTOCOL.md "Deviations from the draft"):
// change_cipher_spec is unexpected_message at any time, a legacy_record_version other than 0x0303 (0x0301 on the
// first record) is decode_error, and a commit with proposals is illegal_parameter.

import { expect } from "chai";
import { AlertDescription, alertName } from "../../lib/errors.js";
import { ContentType } from "../../lib/protocol/records/record-layer.js";
import { FOREIGN_COMMIT_KINDS, foreignCommit } from "../helpers/foreign-commit.js";
import {
  type AlertName,
  HandshakeType,
  type HostilePeer,
  VictimServer,
  handshakeMessage,
  hostileClient,
  hostileServer,
  plainRecord,
  until,
} from "./harness.js";
import { alertCode } from "../helpers/node-alerts.js";

interface Case {
  name: string;
  /** Where the fault happens: in the opening flight, or on an established connection after some good data. */
  phase: "opening" | "established";
  /** Performs the fault. In the opening phase it also starts the hostile engine (initiator) or arms it (responder). */
  fault(h: HostilePeer): void | Promise<void>;
  /** The alert the victim must send, or null for none. */
  alert: AlertName | null;
  /** The victim's error code. */
  code: string;
  /** Bytes the fault itself legitimately delivers before it strikes (a replay's first copy). */
  deliveredByFault?: string;
  /** Victims it applies to (default both). */
  victims?: ("server" | "client")[];
}

const BEFORE = Buffer.from("delivered before the fault");
const AFTER = Buffer.from("must never be delivered");

const ku = (body: Uint8Array) => handshakeMessage(HandshakeType.key_update, body);
const kuOk = ku(Uint8Array.of(0));
const alertBody = (description: number, level = 2) => Uint8Array.of(level, description);

/** Writes a few application bytes through the engine (their record goes through the armed bugs). */
const writeData = (h: HostilePeer, text = "x".repeat(10)) => h.engine.write(Buffer.from(text));
/** Starts the opening flight (the initiator's ClientHello; a responder answers on its own). */
const open = (h: HostilePeer) => {
  if (h.role === "initiator") (h.engine as { start(): void }).start();
};

function established(): Case[] {
  const cases: Case[] = [];
  const add = (name: string, alert: AlertName | null, code: string, fault: Case["fault"]) =>
    cases.push({ name, phase: "established", alert, code, fault });

  // ---- bit flips, header changes, truncation, replay, reorder, drop of protected records
  for (const [where, offset] of [["first ciphertext byte", 5], ["middle", 12], ["last tag byte", -1], ["first tag byte", -16]] as const) {
    add(`flipped bit in the ${where} of a record`, "bad_record_mac", "ERR_MLSTLS_BAD_RECORD_MAC", (h) => {
      h.arm({ flip: { offset, bit: 3 } });
      writeData(h);
    });
  }
  add("outer content type changed to handshake", "unexpected_message", "ERR_MLSTLS_UNEXPECTED_RECORD", (h) => {
    h.arm({ flip: { offset: 0, bit: 0 } });
    writeData(h);
  });
  add("outer content type changed to an unknown one", "unexpected_message", "ERR_MLSTLS_UNEXPECTED_RECORD", (h) => {
    h.arm({ setHeader: [[0, 0x40]] });
    writeData(h);
  });
  add("legacy_record_version 0x0203", "decode_error", "ERR_MLSTLS_DECODE_ERROR", (h) => {
    h.arm({ setHeader: [[1, 2]] });
    writeData(h);
  });
  add("legacy_record_version 0x0301 after the first record", "decode_error", "ERR_MLSTLS_DECODE_ERROR", (h) => {
    h.arm({ setHeader: [[2, 1]] });
    writeData(h);
  });
  add("record length one byte short", "bad_record_mac", "ERR_MLSTLS_BAD_RECORD_MAC", (h) => {
    h.arm({ setHeader: [[4, 26]] }); // 10 bytes of data: a fragment of 10 + 1 + 16 = 27 bytes, claimed 26
    writeData(h);
  });
  add("ciphertext length 2^14 + 257 in the header", "record_overflow", "ERR_MLSTLS_RECORD_OVERFLOW", (h) => {
    h.arm({ setHeader: [[3, 0x41], [4, 0x01]] });
    writeData(h);
  });
  add("a ciphertext of 2^14 + 257 bytes", "record_overflow", "ERR_MLSTLS_RECORD_OVERFLOW", (h) => {
    h.write(plainRecord(ContentType.application_data, new Uint8Array(16384 + 257)));
  });
  add("record truncated, then more records", "bad_record_mac", "ERR_MLSTLS_BAD_RECORD_MAC", (h) => {
    h.arm({ truncate: 10 });
    writeData(h);
  });
  cases.push({
    name: "record replayed",
    phase: "established",
    alert: "bad_record_mac",
    code: "ERR_MLSTLS_BAD_RECORD_MAC",
    deliveredByFault: "x".repeat(10),
    fault: (h) => {
      h.arm({ replay: true });
      writeData(h);
    },
  });
  add("two records reordered", "bad_record_mac", "ERR_MLSTLS_BAD_RECORD_MAC", (h) => {
    h.arm({ reorder: true });
    writeData(h, "one");
    writeData(h, "two");
  });
  add("a record dropped", "bad_record_mac", "ERR_MLSTLS_BAD_RECORD_MAC", (h) => {
    h.arm({ drop: true });
    writeData(h, "dropped");
  });
  add("a zero-length protected record", "bad_record_mac", "ERR_MLSTLS_BAD_RECORD_MAC", (h) => {
    h.write(plainRecord(ContentType.application_data, new Uint8Array(0)));
  });
  add("a protected record shorter than its tag", "bad_record_mac", "ERR_MLSTLS_BAD_RECORD_MAC", (h) => {
    h.write(plainRecord(ContentType.application_data, new Uint8Array(16)));
  });
  add("a protected record sealed with the wrong key", "bad_record_mac", "ERR_MLSTLS_BAD_RECORD_MAC", (h) => {
    h.ratchetSend();
    writeData(h);
  });

  // ---- handcrafted inner plaintexts
  add("all-zero inner plaintext (no content type)", "unexpected_message", "ERR_MLSTLS_UNEXPECTED_MESSAGE", (h) => {
    h.write(h.sealInner(new Uint8Array(3)));
  });
  add("inner plaintext of 2^14 + 2 bytes", "record_overflow", "ERR_MLSTLS_RECORD_OVERFLOW", (h) => {
    h.write(h.seal(ContentType.application_data, new Uint8Array(16385)));
  });
  add("2^14 bytes of content plus padding over the limit", "record_overflow", "ERR_MLSTLS_RECORD_OVERFLOW", (h) => {
    h.write(h.seal(ContentType.application_data, new Uint8Array(16384), 1));
  });
  for (const t of [0, 20, 24, 0x7f, 0xff]) {
    add(`inner content type ${t}`, "unexpected_message", "ERR_MLSTLS_UNEXPECTED_RECORD", (h) => {
      h.write(h.seal(t, Uint8Array.of(1)));
    });
  }

  // ---- alerts that are malformed
  add("empty alert record (protected)", "unexpected_message", "ERR_MLSTLS_UNEXPECTED_MESSAGE", (h) => {
    h.write(h.seal(ContentType.alert, new Uint8Array(0)));
  });
  add("alert of one byte", "decode_error", "ERR_MLSTLS_DECODE_ERROR", (h) => {
    h.write(h.seal(ContentType.alert, Uint8Array.of(2)));
  });
  add("alert of three bytes", "decode_error", "ERR_MLSTLS_DECODE_ERROR", (h) => {
    h.write(h.seal(ContentType.alert, Uint8Array.of(2, 40, 0)));
  });
  add("alert with level 3", "decode_error", "ERR_MLSTLS_DECODE_ERROR", (h) => {
    h.write(h.seal(ContentType.alert, Uint8Array.of(3, 40)));
  });
  add("plaintext alert after the handshake", "unexpected_message", "ERR_MLSTLS_UNEXPECTED_RECORD", (h) => {
    h.write(plainRecord(ContentType.alert, alertBody(40)));
  });

  // ---- KeyUpdate
  add("KeyUpdate with an empty body", "decode_error", "ERR_MLSTLS_DECODE_ERROR", (h) => {
    h.write(h.seal(ContentType.handshake, ku(new Uint8Array(0))));
  });
  add("KeyUpdate with a two-byte body", "decode_error", "ERR_MLSTLS_DECODE_ERROR", (h) => {
    h.write(h.seal(ContentType.handshake, ku(Uint8Array.of(0, 0))));
  });
  for (const v of [2, 0x7f, 0xff]) {
    add(`KeyUpdate with request_update ${v}`, "illegal_parameter", "ERR_MLSTLS_ILLEGAL_PARAMETER", (h) => {
      h.write(h.seal(ContentType.handshake, ku(Uint8Array.of(v))));
    });
  }
  add("two KeyUpdates in one record", "unexpected_message", "ERR_MLSTLS_KEY_CHANGE_NOT_ON_RECORD_BOUNDARY", (h) => {
    h.write(h.seal(ContentType.handshake, Buffer.concat([kuOk, kuOk])));
  });
  add("KeyUpdate and the start of another message in one record", "unexpected_message", "ERR_MLSTLS_KEY_CHANGE_NOT_ON_RECORD_BOUNDARY", (h) => {
    h.write(h.seal(ContentType.handshake, Buffer.concat([kuOk, kuOk.subarray(0, 2)])));
  });
  add("KeyUpdate coalesced with a ConnectionUpdate", "unexpected_message", "ERR_MLSTLS_KEY_CHANGE_NOT_ON_RECORD_BOUNDARY", (h) => {
    h.write(h.seal(ContentType.handshake, Buffer.concat([kuOk, handshakeMessage(HandshakeType.connection_update, Uint8Array.of(1, 2, 3))])));
  });
  add("KeyUpdate declaring a 70000-byte body", "decode_error", "ERR_MLSTLS_HANDSHAKE_MESSAGE_TOO_LARGE", (h) => {
    h.write(h.seal(ContentType.handshake, handshakeMessage(HandshakeType.key_update, Uint8Array.of(0), 70000)));
  });
  add("KeyUpdate in a plaintext record", "unexpected_message", "ERR_MLSTLS_UNEXPECTED_RECORD", (h) => {
    h.write(plainRecord(ContentType.handshake, kuOk));
  });
  add("change_cipher_spec record", "unexpected_message", "ERR_MLSTLS_UNEXPECTED_RECORD", (h) => {
    h.write(plainRecord(ContentType.change_cipher_spec, Uint8Array.of(1)));
  });

  // ---- handshake messages out of place
  add("half a handshake message, then application data", "unexpected_message", "ERR_MLSTLS_UNEXPECTED_MESSAGE", (h) => {
    h.write(h.seal(ContentType.handshake, kuOk.subarray(0, 2)));
    h.write(h.seal(ContentType.application_data, Uint8Array.of(1)));
  });
  add("half a handshake message, then an alert", "unexpected_message", "ERR_MLSTLS_UNEXPECTED_MESSAGE", (h) => {
    h.write(h.seal(ContentType.handshake, kuOk.subarray(0, 2)));
    h.write(h.seal(ContentType.alert, alertBody(40)));
  });
  add("an empty protected handshake record", "decode_error", "ERR_MLSTLS_DECODE_ERROR", (h) => {
    h.write(h.seal(ContentType.handshake, new Uint8Array(0)));
  });
  for (const [name, type] of [
    ["an MLS ClientHello", HandshakeType.mls_client_hello],
    ["an MLS ServerHello", HandshakeType.mls_server_hello],
    ["a Resumption", HandshakeType.resumption],
    ["a ResumptionAccept", HandshakeType.resumption_accept],
    ["a RetryRequest", HandshakeType.retry_request],
    ["an unknown handshake type", 99],
  ] as const) {
    // Bodies that decode, so that it is the state, not the codec, that refuses them.
    const random = new Uint8Array(32).fill(1);
    const body =
      type === HandshakeType.mls_client_hello
        ? Uint8Array.from([...random, 1, 0, 1, 1, 0, 0, 1, 9])
        : type === HandshakeType.mls_server_hello
          ? Uint8Array.from([...random, 0, 1, 9])
          : type === HandshakeType.retry_request
            ? Uint8Array.of(0, 2)
            : new Uint8Array(type === HandshakeType.resumption_accept ? 32 : 40).fill(1);
    add(`${name} after the handshake`, "unexpected_message", "ERR_MLSTLS_UNEXPECTED_MESSAGE", (h) => {
      h.write(h.seal(ContentType.handshake, handshakeMessage(type, body)));
    });
  }
  add("a TLS ClientHello after the handshake", "protocol_version", "ERR_MLSTLS_VANILLA_TLS_PEER", (h) => {
    h.write(h.seal(ContentType.handshake, handshakeMessage(1, new Uint8Array(40))));
  });
  add("an EpochKeyUpdate out of turn", "unexpected_message", "ERR_MLSTLS_UNEXPECTED_MESSAGE", (h) => {
    h.write(h.seal(ContentType.handshake, handshakeMessage(HandshakeType.epoch_key_update, Uint8Array.of(0, 0, 0, 9))));
  });
  add("a ConnectionUpdate that is not an MLS message", "decode_error", "ERR_MLSTLS_DECODE_ERROR", (h) => {
    h.write(h.seal(ContentType.handshake, handshakeMessage(HandshakeType.connection_update, Uint8Array.of(1, 2, 3))));
  });

  // ---- commits a genuine peer never sends (built with ts-mls from the attacker's own MLS state)
  for (const kind of FOREIGN_COMMIT_KINDS) {
    add(`a ConnectionUpdate commit with a foreign proposal: ${kind}`, "illegal_parameter", "ERR_MLSTLS_COMMIT_POLICY", async (h) => {
      const commit = await foreignCommit(h.engine.mlsSession!, kind);
      h.write(h.seal(ContentType.handshake, handshakeMessage(HandshakeType.connection_update, commit)));
    });
  }

  // ---- floods
  add("65 unsolicited KeyUpdates without data", "unexpected_message", "ERR_MLSTLS_HANDSHAKE_FLOOD", (h) => {
    for (let i = 0; i < 65; i++) {
      h.write(h.seal(ContentType.handshake, kuOk));
      h.ratchetSend();
    }
  });
  add("33 empty application-data records in a row", "unexpected_message", "ERR_MLSTLS_EMPTY_RECORD_FLOOD", (h) => {
    for (let i = 0; i < 33; i++) h.write(h.seal(ContentType.application_data, new Uint8Array(0)));
  });
  add("KeyUpdates with empty records between them (empty records reset nothing)", "unexpected_message", "ERR_MLSTLS_HANDSHAKE_FLOOD", (h) => {
    for (let i = 0; i < 65; i++) {
      h.write(h.seal(ContentType.application_data, new Uint8Array(0)));
      h.write(h.seal(ContentType.handshake, kuOk));
      h.ratchetSend();
    }
  });

  // ---- alerts of every code, protected, fatal level: the victim reports it and answers nothing
  for (const [name, code] of Object.entries(AlertDescription)) {
    if (name === "close_notify") continue;
    add(`fatal alert ${name} (${code})`, null, alertCode(code), (h) => {
      h.write(h.seal(ContentType.alert, alertBody(code)));
    });
  }
  for (const code of [1, 99, 200, 255]) {
    add(`fatal alert with the unassigned code ${code}`, null, "ERR_MLSTLS_PEER_ALERT", (h) => {
      h.write(h.seal(ContentType.alert, alertBody(code)));
    });
  }
  add("warning-level handshake_failure (TLS 1.3: every alert but two is fatal)", null, alertCode(40), (h) => {
    h.write(h.seal(ContentType.alert, alertBody(40, 1)));
  });
  return cases;
}

function opening(): Case[] {
  const cases: Case[] = [];
  const add = (name: string, alert: AlertName | null, code: string, fault: Case["fault"], victims?: Case["victims"]) =>
    cases.push({ name, phase: "opening", alert, code, fault, victims });
  const first = (bugs: Parameters<HostilePeer["arm"]>[0]) => (h: HostilePeer) => {
    h.arm(bugs);
    open(h);
  };
  add("first flight: content type changed to application_data", "unexpected_message", "ERR_MLSTLS_UNEXPECTED_RECORD", first({ flip: { offset: 0, bit: 0 } }));
  add("first flight: unknown content type", "unexpected_message", "ERR_MLSTLS_UNEXPECTED_RECORD", first({ setHeader: [[0, 0x18]] }));
  // As OpenSSL: a first record whose version is not 3.x is another protocol, dropped without an alert.
  add("first flight: legacy_record_version 0x0203", null, "ERR_SSL_WRONG_VERSION_NUMBER", first({ setHeader: [[1, 2]] }));
  add("first flight: legacy_record_version 0x0302", "decode_error", "ERR_MLSTLS_DECODE_ERROR", first({ setHeader: [[2, 2]] }));
  add("first flight: record length 2^14 + 1", "record_overflow", "ERR_MLSTLS_RECORD_OVERFLOW", first({ setHeader: [[3, 0x40], [4, 0x01]] }));
  add("first flight: a key-changing message coalesced with the next one", "unexpected_message", "ERR_MLSTLS_KEY_CHANGE_NOT_ON_RECORD_BOUNDARY", first({ appendToFragment: kuOk }));
  add("first flight: replayed in the same connection", "unexpected_message", "ERR_MLSTLS_UNEXPECTED_RECORD", first({ replay: true }));
  add("first flight: split, with change_cipher_spec between the halves", "unexpected_message", "ERR_MLSTLS_UNEXPECTED_RECORD", first({ splitAt: 20, between: [plainRecord(ContentType.change_cipher_spec, Uint8Array.of(1))] }));
  add("first flight: split, with an alert between the halves", "unexpected_message", "ERR_MLSTLS_UNEXPECTED_MESSAGE", first({ splitAt: 20, between: [plainRecord(ContentType.alert, alertBody(40))] }));
  add("first flight: split, with application data between the halves", "unexpected_message", "ERR_MLSTLS_UNEXPECTED_RECORD", first({ splitAt: 20, between: [plainRecord(ContentType.application_data, Uint8Array.of(1))] }));
  add("change_cipher_spec before the first flight", "unexpected_message", "ERR_MLSTLS_UNEXPECTED_RECORD", (h) => {
    h.write(plainRecord(ContentType.change_cipher_spec, Uint8Array.of(1)));
    open(h);
  });
  add("an empty handshake record first", "decode_error", "ERR_MLSTLS_DECODE_ERROR", (h) => h.write(plainRecord(ContentType.handshake, new Uint8Array(0))));
  add("an empty alert record first", "unexpected_message", "ERR_MLSTLS_UNEXPECTED_MESSAGE", (h) => h.write(plainRecord(ContentType.alert, new Uint8Array(0))));
  add("a handshake message declaring 70000 bytes", "decode_error", "ERR_MLSTLS_HANDSHAKE_MESSAGE_TOO_LARGE", (h) =>
    h.write(plainRecord(ContentType.handshake, handshakeMessage(HandshakeType.mls_client_hello, new Uint8Array(100), 70000))));
  add("an unknown handshake type first", "unexpected_message", "ERR_MLSTLS_UNEXPECTED_MESSAGE", (h) =>
    h.write(plainRecord(ContentType.handshake, handshakeMessage(99, new Uint8Array(40)))));
  add("a KeyUpdate in the clear first", "unexpected_message", "ERR_MLSTLS_UNEXPECTED_MESSAGE", (h) => h.write(plainRecord(ContentType.handshake, kuOk)));
  add("a vanilla TLS ClientHello", "protocol_version", "ERR_MLSTLS_VANILLA_TLS_PEER", (h) =>
    h.write(plainRecord(ContentType.handshake, handshakeMessage(1, new Uint8Array(60)))), ["server"]);
  add("a ClientHello with a random and no KeyPackage", "decode_error", "ERR_MLSTLS_DECODE_ERROR", (h) =>
    h.write(plainRecord(ContentType.handshake, handshakeMessage(HandshakeType.mls_client_hello, new Uint8Array(32)))), ["server"]);
  add("an MLS ServerHello sent to a server", "unexpected_message", "ERR_MLSTLS_UNEXPECTED_MESSAGE", (h) =>
    h.write(plainRecord(ContentType.handshake, handshakeMessage(HandshakeType.mls_server_hello, new Uint8Array(40)))), ["server"]);
  add("application data before any keys", "unexpected_message", "ERR_MLSTLS_UNEXPECTED_RECORD", (h) =>
    h.write(plainRecord(ContentType.application_data, new Uint8Array(30))), ["server"]);
  add("first flight cut short and the connection ended", null, "ECONNRESET", first({ truncate: 40, thenEnd: true }), ["server"]);
  add("close_notify before the handshake", null, "ECONNRESET", (h) => h.write(plainRecord(ContentType.alert, alertBody(0, 1))), ["server"]);
  add("key confirmation with a flipped bit", "bad_record_mac", "ERR_MLSTLS_BAD_RECORD_MAC", first({ skip: 1, flip: { offset: -1 } }), ["server"]);
  add("key confirmation dropped, then the connection ended", null, "ECONNRESET", (h) => {
    h.arm({ skip: 1, drop: true });
    open(h);
    void h.established.then(() => h.end());
    setTimeout(() => h.end(), 300);
  }, ["server"]);
  for (const [name, code] of Object.entries(AlertDescription)) {
    if (name === "close_notify") continue;
    add(`fatal alert ${name} (${code}) in the clear before the handshake`, null, alertCode(code), (h) =>
      h.write(plainRecord(ContentType.alert, alertBody(code))), ["server"]);
  }
  add("fatal alert handshake_failure instead of the ServerHello", null, alertCode(40), (h) =>
    h.write(plainRecord(ContentType.alert, alertBody(40))), ["client"]);
  add("fatal alert internal_error instead of the ServerHello", null, alertCode(80), (h) =>
    h.write(plainRecord(ContentType.alert, alertBody(80))), ["client"]);
  return cases;
}

const ALL = [...opening(), ...established()];

/** Unusual but valid: the handshake must complete and data flow. */
interface ValidCase {
  name: string;
  arm(h: HostilePeer): void;
}

function valid(): ValidCase[] {
  const out: ValidCase[] = [];
  for (const at of [1, 2, 3, 4, 5, 33, 36, 100, 200]) {
    out.push({ name: `first flight split across two records at byte ${at} of its message`, arm: (h) => h.arm({ splitAt: at }) });
  }
  out.push({ name: "first flight with legacy_record_version 0x0301", arm: (h) => h.arm({ setHeader: [[2, 1]] }) });
  out.push({ name: "first flight written one byte per TCP segment", arm: (h) => h.arm({ dribble: true }) });
  return out;
}

async function checkOutcome(
  c: Case,
  h: HostilePeer,
  victim: { errors: (Error & { code?: string })[]; data: Buffer[] },
): Promise<void> {
  await until(() => victim.errors.length > 0, `the victim's error (${c.code})`);
  await h.closed;
  await h.engine.whenIdle();
  expect(victim.errors.map((e) => e.code), "victim's error code").to.deep.equal([c.code]);
  const expectedAlerts = c.alert === null ? [] : [AlertDescription[c.alert]];
  expect(h.alerts.map(alertName), "alert on the wire").to.deep.equal(expectedAlerts.map(alertName));
  const delivered = Buffer.concat(victim.data);
  const expected = (c.phase === "established" ? BEFORE.toString() : "") + (c.deliveredByFault ?? "");
  expect(delivered.toString(), "delivered to the victim's application").to.equal(expected);
}

describe("hostile: attack cases over TCP", function () {
  this.timeout(20_000);
  const server = new VictimServer({ handshakeTimeout: 5000 });
  before(() => server.start());
  after(() => server.close());

  it(`has at least 100 distinct cases (${ALL.filter((c) => !c.victims || c.victims.includes("server")).length} against the server, ${ALL.filter((c) => !c.victims || c.victims.includes("client")).length} against the client)`, () => {
    expect(new Set(ALL.map((c) => c.name)).size).to.equal(ALL.length);
    expect(ALL.length).to.be.at.least(100);
  });

  describe("victim: a real mlstls server", () => {
    for (const c of ALL.filter((x) => !x.victims || x.victims.includes("server"))) {
      it(c.name, async () => {
        const h = await hostileClient(server.port);
        try {
          const victim = server.of(h.socket.localPort!);
          if (c.phase === "established") {
            open(h);
            await h.established;
            h.engine.write(BEFORE);
            await until(() => Buffer.concat(h.fromVictim).length >= BEFORE.length, "the echo of the good data");
          }
          await c.fault(h);
          if (h.engine.canWrite) h.engine.write(AFTER);
          await checkOutcome(c, h, victim);
        } finally {
          h.socket.destroy();
        }
        await server.servesGoodClient();
      });
    }
  });

  describe("unusual but valid input is served", () => {
    for (const c of valid()) {
      it(`server: ${c.name}`, async () => {
        const h = await hostileClient(server.port);
        try {
          c.arm(h);
          open(h);
          await h.established;
          h.engine.write(BEFORE);
          await until(() => Buffer.concat(h.fromVictim).length >= BEFORE.length, "the echo");
          expect(Buffer.concat(h.fromVictim).toString()).to.equal(BEFORE.toString());
          expect(server.of(h.socket.localPort!).errors).to.deep.equal([]);
        } finally {
          h.socket.destroy();
        }
      });
      it(`client: ${c.name}`, async () => {
        const w = await hostileServer();
        try {
          const h = await w.hostile;
          c.arm(h);
          await h.established;
          await until(() => w.victim.secure, "the client's secureConnect");
          h.engine.write(BEFORE);
          await until(() => Buffer.concat(w.victim.data).length >= BEFORE.length, "the data");
          expect(Buffer.concat(w.victim.data).toString()).to.equal(BEFORE.toString());
          expect(w.victim.errors).to.deep.equal([]);
        } finally {
          await w.close();
        }
      });
    }
  });

  describe("victim: a real mlstls client", () => {
    for (const c of ALL.filter((x) => !x.victims || x.victims.includes("client"))) {
      it(c.name, async () => {
        const w = await hostileServer();
        try {
          const h = await w.hostile;
          if (c.phase === "established") {
            await h.established;
            await until(() => w.victim.secure, "the client's secureConnect");
            w.client.on("data", () => undefined);
            h.engine.write(BEFORE);
            await until(() => Buffer.concat(w.victim.data).length >= BEFORE.length, "the good data");
          }
          await c.fault(h);
          if (h.engine.canWrite) h.engine.write(AFTER);
          await checkOutcome(c, h, w.victim);
        } finally {
          await w.close();
        }
        await server.servesGoodClient();
      });
    }
  });
});
