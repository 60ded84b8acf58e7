// mlstls decode: a real connection (handshake, data, ConnectionUpdates both ways, a KeyUpdate, close) recorded
// through a TCP proxy, written as synthetic pcap/pcapng with our own writer (segments split, reordered and
// retransmitted), then decoded with and without the key log. When tcpdump exists and may capture, one more case
// captures the same kind of connection on lo.

import { expect } from "chai";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { once } from "node:events";
import { decodeCapture } from "../../lib/cli/decode.js";
import { parseKeyLog } from "../../lib/cli/tls-decode.js";
import { CliError } from "../../lib/cli/common.js";
import { type Endpoints, type Link, type Seg, frame, toSegments, writePcap, writePcapng } from "./pcap-writer.js";
import { type Recorded, clientId, record, scriptedConnection, withServer } from "./recorded.js";
import { MAIN } from "./run.js";

/** Splits the segment at `i` in two and sends the second half first; duplicates the segment at `dup` later. */
function mangle(segs: Seg[]): Seg[] {
  const out = [...segs];
  // The ClientHello: the client's first data segment.
  const i = out.findIndex((s) => s.from === "c" && (s.payload?.length ?? 0) > 100);
  const s = out[i]!;
  const half = Math.floor(s.payload!.length / 2);
  const a: Seg = { ...s, payload: s.payload!.subarray(0, half) };
  const b: Seg = { ...s, seq: (s.seq + half) >>> 0, payload: s.payload!.subarray(half) };
  out.splice(i, 1, b, a);
  // Retransmit the ServerHello two segments after it.
  const j = out.findIndex((x) => x.from === "s" && (x.payload?.length ?? 0) > 100);
  out.splice(j + 2, 0, { ...out[j]! });
  return out;
}

const V4: Endpoints = { client: { ip: "127.0.0.1", port: 50123 }, server: { ip: "127.0.0.1", port: 4433 } };
const V6: Endpoints = { client: { ip: "::1", port: 50123 }, server: { ip: "::1", port: 4433 } };

function expectFullDecode(text: string): void {
  expect(text).to.match(/pcap(ng)?, \d+ packets, 1 TCP connection/);
  expect(text).to.include("ClientHello, random");
  expect(text).to.include("KeyPackage: suite 1 MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519");
  expect(text).to.include('credential: basic, identity "decode-test client"');
  expect(text).to.include(`fingerprint: ${clientId.fingerprint}`);
  expect(text).to.include("server_name (0xf001): example.test");
  expect(text).to.include('ALPN offer (0xf002): "echo"');
  expect(text).to.include("ServerHello, random");
  expect(text).to.include("recipient is the ClientHello's KeyPackage");
  expect(text).to.include("EpochKeyUpdate from the client (initiator, leaf 1): epoch 1 (the client's key confirmation)");
  expect(text).to.include("ConnectionUpdate from the client (initiator, leaf 1): commit for epoch 1 → epoch 2");
  expect(text).to.include("EpochKeyUpdate from the server (responder, leaf 0): epoch 2");
  expect(text).to.include("KeyUpdate from the client: update_requested");
  expect(text).to.include("KeyUpdate from the server: update_not_requested");
  expect(text).to.include("ConnectionUpdate from the server (responder, leaf 0): commit for epoch 2 → epoch 3");
  expect(text).to.include(Buffer.from("hello mlstls").toString("hex"));
  expect(text).to.include('"hello mlstls"');
  expect(text).to.include("alert: warning close_notify (0)");
  expect(text).to.include("CLIENT_TRAFFIC_SECRET_2 seq 0");
  const m = /decrypted (\d+) of (\d+) protected records/.exec(text);
  expect(m, text).to.not.equal(null);
  expect(m![1]).to.equal(m![2]);
  expect(text).to.not.include("could not decrypt");
  expect(text).to.not.include("malformed");
}

describe("cli: mlstls decode", function () {
  this.timeout(20000);
  let rec: Recorded;
  let dir: string;

  before(async () => {
    rec = await record();
    dir = mkdtempSync(join(tmpdir(), "mlstls-decode-"));
  });
  after(() => dir && rmSync(dir, { recursive: true, force: true }));

  function file(link: Link, ends: Endpoints, format: "pcap" | "pcapng" | "pcapng-be", mangled = true): Buffer {
    const segs = toSegments(rec.recording, 700);
    const frames = (mangled ? mangle(segs) : segs).map((s) => frame(link, ends, s));
    return format === "pcap" ? writePcap(link, frames) : writePcapng(link, frames, format === "pcapng-be");
  }

  it("decodes a pcap (Ethernet, IPv4) with split, out-of-order and retransmitted segments, decrypting with the key log", () => {
    const text = decodeCapture(file("ethernet", V4, "pcap"), parseKeyLog(rec.keylog)).join("\n");
    expectFullDecode(text);
    expect(text).to.include("127.0.0.1:50123 → 127.0.0.1:4433 (client → server)");
    expect(text).to.match(/tcp client → server: \d+ bytes, 1 out-of-order segment reordered/);
    expect(text).to.match(/tcp server → client: \d+ bytes, \d+ retransmitted bytes dropped/);
  });

  it("decodes pcapng (little- and big-endian) with Linux cooked v2 and raw IPv6 frames", () => {
    for (const [link, ends, fmt] of [
      ["sll2", V4, "pcapng"],
      ["raw", V6, "pcapng-be"],
      ["ethernet", V6, "pcapng"],
    ] as const) {
      const text = decodeCapture(file(link, ends, fmt), parseKeyLog(rec.keylog)).join("\n");
      expectFullDecode(text);
      if (ends === V6) expect(text).to.include("[::1]:50123 → [::1]:4433");
    }
  });

  it("without a key log shows the plaintext handshake and counts the protected records", () => {
    const text = decodeCapture(file("ethernet", V4, "pcap"), undefined).join("\n");
    expect(text).to.include("ClientHello, random");
    expect(text).to.include("server_name (0xf001): example.test");
    expect(text).to.match(/\d+ protected records not decrypted \(no --keylog\)/);
    expect(text).to.not.include("ConnectionUpdate from");
  });

  it("names the missing secret when the key log is incomplete, and a gap when a segment was never captured", () => {
    const partial = rec.keylog.split("\n").filter((l) => !l.startsWith("SERVER_TRAFFIC_SECRET_1 ")).join("\n");
    const text = decodeCapture(file("ethernet", V4, "pcap"), parseKeyLog(partial)).join("\n");
    expect(text).to.include("could not decrypt");
    expect(text).to.match(/decrypted \d+ of \d+ protected records/);

    const segs = toSegments(rec.recording, 700);
    const k = segs.findIndex((s) => s.from === "s" && (s.payload?.length ?? 0) > 0);
    segs.splice(k + 1, 1);
    const gap = decodeCapture(writePcap("ethernet", segs.map((s) => frame("ethernet", V4, s))), parseKeyLog(rec.keylog)).join("\n");
    expect(gap).to.match(/tcp server → client: \d+ bytes missing at stream offset \d+/);
  });

  it("keeps what it read from a capture cut short, and refuses a file that is not a capture", () => {
    const whole = file("ethernet", V4, "pcap");
    const cut = whole.subarray(0, Math.floor(whole.length * 0.6));
    const text = decodeCapture(cut, parseKeyLog(rec.keylog)).join("\n");
    expect(text).to.match(/warning: capture ends inside/);
    expect(text).to.include("ClientHello, random");
    expect(() => decodeCapture(Buffer.from("GET / HTTP/1.1\r\n\r\n"), undefined)).to.throw(CliError, /not a pcap or pcapng file/);
  });

  it("runs as `mlstls decode` in a child process: exit 0 with the report, exit 1 for a non-capture, 2 for usage", () => {
    const cap = join(dir, "conn.pcap");
    const keys = join(dir, "keys.log");
    writeFileSync(cap, file("ethernet", V4, "pcap"));
    writeFileSync(keys, rec.keylog);
    const ok = spawnSync(process.execPath, [MAIN, "decode", cap, "--keylog", keys], { encoding: "utf8" });
    expect(ok.status, ok.stderr).to.equal(0);
    expectFullDecode(ok.stdout);

    const bad = spawnSync(process.execPath, [MAIN, "decode", keys], { encoding: "utf8" });
    expect(bad.status).to.equal(1);
    expect(bad.stderr).to.match(/^mlstls: error ERR_MLSTLS_CLI_BAD_CAPTURE: /m);

    const usage = spawnSync(process.execPath, [MAIN, "decode"], { encoding: "utf8" });
    expect(usage.status).to.equal(2);
    expect(usage.stderr).to.match(/^mlstls: usage error: missing CAPTURE file/m);
  });

  it("decodes a live tcpdump capture on lo (skipped when tcpdump is absent or may not capture)", async function () {
    // MLSTLS_TCPDUMP names another binary (or a missing one, to check the skip path).
    const tcpdump = process.env.MLSTLS_TCPDUMP ?? "tcpdump";
    const which = spawnSync("sh", ["-c", 'command -v "$0"', tcpdump], { encoding: "utf8" });
    if (which.status !== 0) {
      console.log(`      (skipped: ${tcpdump} is not installed; the synthetic pcap/pcapng tests above cover the decoder)`);
      this.skip();
    }
    const cap = join(dir, "lo.pcap");
    await withServer(async (port, sockets) => {
      const td = spawn(tcpdump, ["-i", "lo", "--immediate-mode", "-U", "-s", "0", "-w", cap, "tcp", "port", String(port)], { stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      const started = await new Promise<boolean>((resolve) => {
        td.stderr.on("data", (d: Buffer) => {
          err += d.toString();
          if (err.includes("listening on")) resolve(true);
        });
        td.on("exit", () => resolve(false));
        td.on("error", () => resolve(false));
        setTimeout(() => resolve(false), 5000);
      });
      if (!started) {
        td.kill("SIGKILL");
        console.log(`      (skipped: tcpdump could not capture on lo: ${err.trim().split("\n").pop() ?? "no output"})`);
        this.skip();
      }
      let keylog: string;
      try {
        keylog = await scriptedConnection(port, sockets);
        // Let the last packets (FINs) reach the capture before stopping it.
        await new Promise((r) => setTimeout(r, 200));
      } finally {
        const exited = once(td, "exit");
        td.kill("SIGINT");
        await exited;
      }
      const text = decodeCapture(readFileSync(cap), parseKeyLog(keylog)).join("\n");
      expectFullDecode(text);
    });
  });
});
