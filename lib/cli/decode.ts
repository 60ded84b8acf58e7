// `mlstls decode`: a capture file → TCP connections → MLS-TLS records and handshake messages, decrypted with a key log.

import { type CaptureFile, dissect, packetOf, parseCapture, reassemble, streamName, type TcpSegment } from "./capture.js";
import { CliError, type Io, UsageError, parse } from "./common.js";
import { readInput } from "./keys.js";
import { DecodeError } from "./reader.js";
import { decodeConnection, type KeyLog, parseKeyLog, suiteLabel } from "./tls-decode.js";

export const DECODE_HELP = `Usage: mlstls decode CAPTURE [--keylog FILE] [--port N]

Reads a pcap or pcapng capture (Ethernet, as tcpdump writes for -i lo; Linux cooked v1/v2, as for -i any; raw
IPv4/IPv6; BSD loopback), reassembles each TCP connection in both directions by sequence number (out-of-order
segments are put in place, retransmissions dropped), and prints every MLS-TLS record and handshake message:
ClientHello (suite, credential, identity fingerprint, SNI, ALPN), ServerHello, Resumption, ConnectionUpdate
(epoch, sender), EpochKeyUpdate, KeyUpdate, alerts. With --keylog, the protected records are decrypted with
the secrets of an mlstls key log ('keylog' event, s_client/s_server --keylog; PROTOCOL.md "Key log"), showing the
inner content type, handshake messages, and application data as length and a short hex/ASCII preview.

  --keylog FILE  key log with CLIENT_TRAFFIC_SECRET_<n> / SERVER_TRAFFIC_SECRET_<n> lines
  --port N       only connections with this port on either side

Capture: tcpdump -i lo -w capture.pcap tcp port 4433
Exit status: 0 decoded (even if some records could not be decrypted: see the notes), 1 the file is not a capture
or cannot be read ("mlstls: error <CODE>: <message>"), 2 usage error.
`;

export function decodeCommand(args: string[], io: Io): number {
  const { values, positionals } = parse("decode", args, { keylog: { type: "string" }, port: { type: "string" } }, true);
  if (values.help) {
    io.stdout.write(DECODE_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? "missing CAPTURE file" : "expected exactly one CAPTURE file", "decode");
  let portFilter: number | undefined;
  if (values.port !== undefined) {
    portFilter = Number(values.port);
    if (!/^\d+$/.test(values.port) || portFilter > 65535) throw new UsageError(`--port takes 0..65535, got ${JSON.stringify(values.port)}`, "decode");
  }
  const file = positionals[0]!;
  const bytes = readInput(file);
  let keylog: KeyLog | undefined;
  if (values.keylog !== undefined) keylog = parseKeyLog(readInput(values.keylog).toString("latin1"));
  const out = decodeCapture(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), keylog, { file, keylogFile: values.keylog, port: portFilter });
  io.stdout.write(out.join("\n") + "\n");
  return 0;
}

/** The whole report as lines. Throws CliError only when the input is not a capture at all. */
export function decodeCapture(
  bytes: Uint8Array,
  keylog: KeyLog | undefined,
  opts: { file?: string; keylogFile?: string; port?: number } = {},
): string[] {
  let cap: CaptureFile;
  try {
    cap = parseCapture(bytes);
  } catch (e) {
    if (e instanceof DecodeError) throw new CliError("ERR_MLSTLS_CLI_BAD_CAPTURE", `${opts.file ?? "capture"}: ${e.message}`);
    throw e;
  }
  const segments: TcpSegment[] = [];
  const skipped = new Map<string, number>();
  for (const p of cap.packets) {
    const d = dissect(p);
    if ("skip" in d) skipped.set(d.skip.replace(/^packet \d+: /, ""), (skipped.get(d.skip.replace(/^packet \d+: /, "")) ?? 0) + 1);
    else if (opts.port === undefined || d.segment.sport === opts.port || d.segment.dport === opts.port) segments.push(d.segment);
  }
  const conns = reassemble(segments);
  const lines: string[] = [];
  lines.push(`capture: ${opts.file ?? "(input)"} (${cap.format}, ${cap.packets.length} packets, ${conns.length} TCP connection${conns.length === 1 ? "" : "s"})`);
  if (keylog !== undefined) {
    let secrets = 0;
    for (const e of keylog.connections.values()) secrets += e.client.size + e.server.size;
    lines.push(`key log: ${opts.keylogFile ?? "(given)"} (${secrets} traffic secrets for ${keylog.connections.size} connection${keylog.connections.size === 1 ? "" : "s"})`);
    for (const w of keylog.warnings) lines.push(`warning: ${w}`);
  }
  for (const w of cap.warnings) lines.push(`warning: ${w}`);
  for (const [why, count] of skipped) lines.push(`skipped ${count} packet${count === 1 ? "" : "s"}: ${why}`);

  conns.forEach((c, i) => {
    lines.push("");
    lines.push(`connection ${i + 1}: ${streamName(c.client)} (client → server), from packet ${c.firstPacket}`);
    const tcpNotes: string[] = [];
    for (const [who, st] of [["client → server", c.client], ["server → client", c.server]] as const) {
      const facts = [`${st.data.length} bytes`];
      if (st.outOfOrderSegments > 0) facts.push(`${st.outOfOrderSegments} out-of-order segment${st.outOfOrderSegments === 1 ? "" : "s"} reordered`);
      if (st.retransmittedBytes > 0) facts.push(`${st.retransmittedBytes} retransmitted bytes dropped`);
      if (st.conflicts > 0) facts.push(`${st.conflicts} retransmitted bytes DIFFERED from the first copy (first kept)`);
      if (!st.sawSyn) facts.push("no SYN seen (stream start assumed at the lowest sequence number)");
      if (st.sawRst) facts.push("RST");
      tcpNotes.push(`  tcp ${who}: ${facts.join(", ")}`);
      if (st.gap !== undefined) tcpNotes.push(`  tcp ${who}: ${st.gap.bytes} bytes missing at stream offset ${st.gap.offset} (after packet ${st.gap.afterPacket}); decoding stops there`);
    }
    lines.push(...tcpNotes);
    const { events, info } = decodeConnection(
      { dir: "c2s", data: c.client.data, packetOf: (o) => packetOf(c.client, o) },
      { dir: "s2c", data: c.server.data, packetOf: (o) => packetOf(c.server, o) },
      keylog,
    );
    if (info.suite !== undefined) lines.push(`  ${suiteLabel(info.suite)}`);
    if (info.clientRandom !== undefined) lines.push(`  client random ${info.clientRandom}`);
    for (const e of events) {
      const arrow = e.dir === "c2s" ? "C→S" : "S→C";
      const tag = `  #${String(e.packet).padEnd(5)} ${arrow} `;
      lines.push(tag + e.lines[0]);
      const pad = " ".repeat(tag.length);
      for (const l of e.lines.slice(1)) lines.push(pad + l);
    }
    if (keylog !== undefined && info.decrypted + info.undecryptable > 0) {
      lines.push(`  decrypted ${info.decrypted} of ${info.decrypted + info.undecryptable} protected records`);
    } else if (keylog === undefined && info.undecryptable > 0) {
      lines.push(`  ${info.undecryptable} protected records not decrypted (no --keylog)`);
    }
    for (const n of info.notes) lines.push(`  note: ${n}`);
  });
  return lines;
}
