import { expect } from "chai";
import {
  HandshakeReader,
  HandshakeType,
  type HandshakeMessage,
  MAX_HANDSHAKE_MESSAGE,
  decodeAlert,
  decodeHandshake,
  encodeAlert,
  encodeHandshake,
} from "../../lib/protocol/messages.js";
import { MlsTlsError } from "../../lib/errors.js";
import { Prng } from "../helpers/prng.js";

function sample(rng: Prng): HandshakeMessage[] {
  const r = () => rng.bytes(32);
  const blob = () => rng.bytes(rng.range(1, 600));
  return [
    { type: "client_hello", random: r(), suites: [1, 3, 2, 7].slice(0, rng.range(1, 4)), keyPackages: [blob(), blob()].slice(0, rng.range(1, 2)) },
    { type: "server_hello", random: r(), suite: rng.range(0, 0xffff), welcome: blob() },
    { type: "retry_request", suite: rng.range(0, 0xffff) },
    { type: "resumption", random: r(), commit: blob() },
    { type: "resumption_accept", random: r() },
    { type: "connection_update", commit: blob() },
    { type: "epoch_key_update", epoch: BigInt(rng.u32()) },
    { type: "key_update", updateRequested: rng.chance(0.5) },
  ];
}

function expectCode(f: () => unknown, code: string): MlsTlsError {
  try {
    f();
  } catch (e) {
    expect(e).to.be.instanceOf(MlsTlsError);
    expect((e as MlsTlsError).code).to.equal(code);
    return e as MlsTlsError;
  }
  throw new Error(`expected ${code}`);
}

describe("messages: handshake codecs", () => {
  it("round-trips every message type", () => {
    const rng = new Prng(1);
    for (let i = 0; i < 50; i++) {
      for (const m of sample(rng)) {
        const enc = encodeHandshake(m);
        expect(decodeHandshake(enc)).to.deep.equal(m);
      }
    }
  });

  it("uses the documented code points", () => {
    const rng = new Prng(2);
    const types = sample(rng).map((m) => encodeHandshake(m)[0]);
    expect(types).to.deep.equal([0xe0, 0xe1, 0xe6, 0xe2, 0xe3, 0xe4, 0xe5, 24]);
  });

  it("rejects every strict prefix and every extension with decode_error", () => {
    const rng = new Prng(3);
    for (const m of sample(rng)) {
      const enc = encodeHandshake(m);
      for (let cut = 0; cut < enc.length; cut++) {
        expectCode(() => decodeHandshake(enc.subarray(0, cut)), "ERR_MLSTLS_DECODE_ERROR");
      }
      const longer = new Uint8Array(enc.length + 1);
      longer.set(enc);
      expectCode(() => decodeHandshake(longer), "ERR_MLSTLS_DECODE_ERROR");
    }
  });

  it("rejects bodies of the wrong fixed size even when the header agrees", () => {
    const framed = (t: number, body: Uint8Array) => {
      const out = new Uint8Array(4 + body.length);
      out[0] = t;
      out[3] = body.length;
      out.set(body, 4);
      return out;
    };
    expectCode(() => decodeHandshake(framed(HandshakeType.epoch_key_update, new Uint8Array(5))), "ERR_MLSTLS_DECODE_ERROR");
    expectCode(() => decodeHandshake(framed(HandshakeType.epoch_key_update, new Uint8Array(3))), "ERR_MLSTLS_DECODE_ERROR");
    expectCode(() => decodeHandshake(framed(HandshakeType.key_update, new Uint8Array(2))), "ERR_MLSTLS_DECODE_ERROR");
    expectCode(() => decodeHandshake(framed(HandshakeType.key_update, Uint8Array.of(2))), "ERR_MLSTLS_ILLEGAL_PARAMETER");
    expectCode(() => decodeHandshake(framed(HandshakeType.resumption_accept, new Uint8Array(31))), "ERR_MLSTLS_DECODE_ERROR");
    expectCode(() => decodeHandshake(framed(HandshakeType.mls_client_hello, new Uint8Array(32))), "ERR_MLSTLS_DECODE_ERROR");
    expectCode(() => decodeHandshake(framed(HandshakeType.connection_update, new Uint8Array(0))), "ERR_MLSTLS_DECODE_ERROR");
  });

  it("recognises a vanilla TLS ClientHello or ServerHello and asks for protocol_version", () => {
    const e = expectCode(() => decodeHandshake(Uint8Array.of(1, 0, 0, 2, 3, 3)), "ERR_MLSTLS_VANILLA_TLS_PEER");
    expect(e.alert).to.equal(70);
    expect(e.message).to.match(/vanilla TLS/);
    expectCode(() => decodeHandshake(Uint8Array.of(2, 0, 0, 2, 3, 3)), "ERR_MLSTLS_VANILLA_TLS_PEER");
  });

  it("never throws anything but MlsTlsError on random input", () => {
    const rng = new Prng(4);
    for (let i = 0; i < 5000; i++) {
      const bytes = rng.bytes(rng.range(0, 80));
      if (rng.chance(0.7) && bytes.length >= 4) {
        bytes[0] = rng.pick([1, 2, 24, 0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 7]);
        bytes[1] = 0;
        bytes[2] = 0;
        bytes[3] = rng.chance(0.5) ? bytes.length - 4 : rng.int(80);
      }
      try {
        decodeHandshake(bytes);
      } catch (e) {
        expect(e).to.be.instanceOf(MlsTlsError);
      }
    }
  });

  it("refuses an epoch that does not fit uint32 with the project's error and a code", () => {
    expect(() => encodeHandshake({ type: "epoch_key_update", epoch: 1n << 32n }))
      .to.throw(MlsTlsError)
      .with.property("code", "ERR_MLSTLS_ENCODE_ERROR");
  });

  it("refuses a random of the wrong length and an oversized message with ERR_MLSTLS_ENCODE_ERROR", () => {
    expect(() => encodeHandshake({ type: "resumption_accept", random: new Uint8Array(31) } as never))
      .to.throw(MlsTlsError)
      .with.property("code", "ERR_MLSTLS_ENCODE_ERROR");
    const huge = new Uint8Array(1 << 24);
    expect(() => encodeHandshake({ type: "connection_update", commit: huge } as never))
      .to.throw(MlsTlsError)
      .with.property("code", "ERR_MLSTLS_ENCODE_ERROR");
  });
});

describe("messages: HandshakeReader", () => {
  it("reassembles messages from any fragmentation", () => {
    const rng = new Prng(5);
    for (let round = 0; round < 50; round++) {
      const msgs = sample(rng);
      const stream = Buffer.concat(msgs.map((m) => encodeHandshake(m)));
      const reader = new HandshakeReader();
      const out: HandshakeMessage[] = [];
      let off = 0;
      while (off < stream.length) {
        const n = rng.range(1, 200);
        reader.push(stream.subarray(off, off + n));
        off += n;
        for (let m = reader.next(); m !== null; m = reader.next()) {
          const framed = new Uint8Array(4 + m.body.length);
          framed[0] = m.type;
          framed[1] = m.body.length >>> 16;
          framed[2] = (m.body.length >>> 8) & 0xff;
          framed[3] = m.body.length & 0xff;
          framed.set(m.body, 4);
          out.push(decodeHandshake(framed));
        }
      }
      expect(out).to.deep.equal(msgs);
      expect(reader.buffered).to.equal(0);
    }
  });

  it("rejects an oversized message from its header, before buffering the body", () => {
    const reader = new HandshakeReader();
    const len = MAX_HANDSHAKE_MESSAGE + 1;
    reader.push(Uint8Array.of(0xe4, len >>> 16, (len >>> 8) & 0xff, len & 0xff));
    expectCode(() => reader.next(), "ERR_MLSTLS_HANDSHAKE_MESSAGE_TOO_LARGE");
  });
});

describe("messages: alerts", () => {
  it("round-trips and enforces exactly two bytes", () => {
    expect(decodeAlert(encodeAlert(0))).to.deep.equal({ level: 1, description: 0 });
    expect(decodeAlert(encodeAlert(20))).to.deep.equal({ level: 2, description: 20 });
    expectCode(() => decodeAlert(Uint8Array.of(2)), "ERR_MLSTLS_DECODE_ERROR");
    expectCode(() => decodeAlert(Uint8Array.of(2, 20, 2, 20)), "ERR_MLSTLS_DECODE_ERROR");
    expectCode(() => decodeAlert(Uint8Array.of(3, 20)), "ERR_MLSTLS_DECODE_ERROR");
  });
  it("never throws anything but MlsTlsError on random input", () => {
    const rng = new Prng(6);
    for (let i = 0; i < 2000; i++) {
      try {
        decodeAlert(rng.bytes(rng.int(4)));
      } catch (e) {
        expect(e).to.be.instanceOf(MlsTlsError);
      }
    }
  });
});
