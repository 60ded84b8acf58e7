// Fuzz: the capture decoder takes files from anywhere. Random bytes, mutated pcap/pcapng files, every truncation,
// mutated TCP streams and mutated key logs must give a report or the one documented error (CliError
// ERR_MLSTLS_CLI_BAD_CAPTURE for "not a capture"), never a crash of another kind. Seeded, so failures reproduce.

import { expect } from "chai";
import { decodeCapture } from "../../lib/cli/decode.js";
import { dissect, parseCapture, reassemble } from "../../lib/cli/capture.js";
import { DecodeError } from "../../lib/cli/reader.js";
import { CliError } from "../../lib/cli/common.js";
import { decodeConnection, parseKeyLog } from "../../lib/cli/tls-decode.js";
import { Prng } from "../helpers/prng.js";
import { type Endpoints, frame, toSegments, writePcap, writePcapng } from "./pcap-writer.js";
import { type Recorded, record } from "./recorded.js";

const ENDS: Endpoints = { client: { ip: "127.0.0.1", port: 50000 }, server: { ip: "127.0.0.1", port: 4433 } };
/** CI-sized: a few thousand decodes in a few seconds. */
const N = 600;

function mutate(rng: Prng, valid: Uint8Array, from = 0): Uint8Array {
  const m = Uint8Array.from(valid);
  const k = rng.range(1, 6);
  for (let i = 0; i < k; i++) {
    const pos = from + rng.int(Math.max(1, m.length - from));
    switch (rng.int(4)) {
      case 0:
        m[pos] = rng.int(256);
        break;
      case 1:
        m[pos] ^= 1 << rng.int(8);
        break;
      case 2:
        // A length-ish field set to an extreme.
        m[pos] = rng.int(2) === 0 ? 0xff : 0;
        if (pos + 1 < m.length) m[pos + 1] = rng.int(2) === 0 ? 0xff : 0;
        break;
      default:
        m[pos] = m[rng.int(m.length)]!;
    }
  }
  return m;
}

function decodeSafely(bytes: Uint8Array, keylog: ReturnType<typeof parseKeyLog> | undefined): void {
  try {
    const lines = decodeCapture(bytes, keylog);
    expect(lines.length).to.be.greaterThan(0);
  } catch (e) {
    if (e instanceof CliError && e.code === "ERR_MLSTLS_CLI_BAD_CAPTURE") return;
    throw new Error(`decoder crashed on ${Buffer.from(bytes.subarray(0, 64)).toString("hex")}…: ${(e as Error)?.stack ?? String(e)}`);
  }
}

describe("fuzz: capture decoder (pcap, pcapng, TCP, MLS-TLS records)", function () {
  this.timeout(30000);
  let rec: Recorded;
  let pcap: Buffer;
  let pcapng: Buffer;
  const rng = new Prng(0x6d6c7374);

  before(async () => {
    rec = await record();
    const segs = toSegments(rec.recording, 500);
    pcap = writePcap("ethernet", segs.map((s) => frame("ethernet", ENDS, s)));
    pcapng = writePcapng("sll2", segs.map((s) => frame("sll2", ENDS, s)));
  });

  it("random bytes, with and without a capture magic", () => {
    const magics = [[0xd4, 0xc3, 0xb2, 0xa1], [0xa1, 0xb2, 0xc3, 0xd4], [0x4d, 0x3c, 0xb2, 0xa1], [0x0a, 0x0d, 0x0d, 0x0a], []];
    for (let i = 0; i < N; i++) {
      const body = rng.bytes(rng.range(0, 400));
      const magic = magics[i % magics.length]!;
      const bytes = Buffer.concat([Uint8Array.from(magic), body]);
      try {
        parseCapture(bytes);
      } catch (e) {
        expect(e, String(e)).to.be.instanceOf(DecodeError);
      }
      decodeSafely(bytes, undefined);
    }
  });

  it("mutated pcap and pcapng files (headers, packet headers, IP/TCP headers, TLS and MLS bytes), with the key log", () => {
    const keylog = parseKeyLog(rec.keylog);
    for (const valid of [pcap, pcapng]) {
      for (let i = 0; i < N; i++) decodeSafely(mutate(rng, valid, i % 4 === 0 ? 0 : 24), keylog);
    }
  });

  it("every truncation of both files", () => {
    const keylog = parseKeyLog(rec.keylog);
    for (const valid of [pcap, pcapng]) {
      const step = Math.max(1, Math.floor(valid.length / 300));
      for (let n = 0; n < valid.length; n += step) decodeSafely(valid.subarray(0, n), keylog);
    }
  });

  it("mutated TCP streams go through the record, handshake and MLS decoders without a crash", () => {
    const cap = parseCapture(pcap);
    const segments = cap.packets.map(dissect).flatMap((d) => ("segment" in d ? [d.segment] : []));
    const [conn] = reassemble(segments);
    const keylog = parseKeyLog(rec.keylog);
    for (let i = 0; i < N; i++) {
      const c = i % 2 === 0 ? mutate(rng, conn!.client.data) : conn!.client.data;
      const s = i % 2 === 1 ? mutate(rng, conn!.server.data) : conn!.server.data;
      const { events } = decodeConnection(
        { dir: "c2s", data: c, packetOf: () => 1 },
        { dir: "s2c", data: s, packetOf: () => 1 },
        i % 3 === 0 ? undefined : keylog,
      );
      expect(events).to.be.an("array");
    }
  });

  it("mutated and random key logs", () => {
    const lines = rec.keylog.split("\n");
    for (let i = 0; i < N; i++) {
      const text = i % 2 === 0 ? Buffer.from(mutate(rng, Buffer.from(rec.keylog))).toString("latin1") : lines.map((l) => (rng.int(4) === 0 ? l.slice(0, rng.int(l.length + 1)) : l)).join("\n");
      const kl = parseKeyLog(text);
      expect(kl.connections).to.be.instanceOf(Map);
      if (i % 20 === 0) decodeSafely(pcap, kl);
    }
  });
});
