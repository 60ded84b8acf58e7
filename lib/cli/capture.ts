// Capture files (pcap and pcapng), link layers, IPv4/IPv6 and TCP, and TCP stream reassembly, for `mlstls decode`.
// A deliberately small reader of our own (no dependencies). It never throws anything but DecodeError, and only for
// input that is not a capture at all; damage further in (a truncated last packet, a bad block) becomes a warning and
// the packets read so far are kept, as tcpdump and wireshark do.
//
// Link types (LINKTYPE_* of the tcpdump.org registry):
//   1   EN10MB     Ethernet; what tcpdump writes for `-i lo` on Linux (the loopback device has zero MACs)
//   113 LINUX_SLL  Linux cooked capture v1 (`-i any` with older libpcap)
//   276 LINUX_SLL2 Linux cooked capture v2 (`-i any` with tcpdump >= 4.99)
//   101 RAW (also 12 and 14 as some platforms write it), 228 IPV4, 229 IPV6: the packet starts with the IP header
//   0   NULL, 108 LOOP: BSD/macOS loopback, a 4-byte address family (host / network byte order)

import { DecodeError, Reader } from "./reader.js";

export interface Packet {
  /** 1-based position in the file, as wireshark numbers frames. */
  index: number;
  /** Seconds since the epoch (float). */
  ts: number;
  linkType: number;
  data: Uint8Array;
  /** Length on the wire; data.length < origLen when the capture's snaplen cut the packet. */
  origLen: number;
}

export interface CaptureFile {
  format: "pcap" | "pcapng";
  packets: Packet[];
  warnings: string[];
}

export const LINKTYPE = {
  NULL: 0,
  EN10MB: 1,
  RAW_OLD1: 12,
  RAW_OLD2: 14,
  RAW: 101,
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

/** Packets larger than this are refused (snaplen is 262144 in tcpdump; jumbo frames stay well below). */
const MAX_PACKET = 1 << 20;

export function parseCapture(bytes: Uint8Array): CaptureFile {
  if (bytes.length < 4) throw new DecodeError(`not a capture file: only ${bytes.length} bytes`);
  const be = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, false);
  if (be === 0x0a0d0d0a) return parsePcapng(bytes);
  if ([0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1].includes(be)) return parsePcap(bytes);
  throw new DecodeError(
    `not a pcap or pcapng file: it starts with ${Buffer.from(bytes.subarray(0, 4)).toString("hex")} ` +
      "(expected a1b2c3d4 / a1b23c4d for pcap, or 0a0d0d0a for pcapng)",
  );
}

function parsePcap(bytes: Uint8Array): CaptureFile {
  const r = new Reader(bytes, "pcap");
  const magic = r.u32("magic");
  // Read big-endian above; the little-endian forms are the byte swaps.
  r.littleEndian = magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1;
  const nano = magic === 0xa1b23c4d || magic === 0x4d3cb2a1;
  if (r.remaining < 20) r.fail("truncated file header");
  const major = r.u16();
  r.u16(); // minor
  r.u32(); // thiszone
  r.u32(); // sigfigs
  r.u32(); // snaplen
  const linkType = r.u32() & 0xffff; // upper bits: FCS length flags
  if (major !== 2) r.fail(`unsupported pcap version ${major}`);
  const packets: Packet[] = [];
  const warnings: string[] = [];
  while (!r.done) {
    const at = r.pos;
    if (r.remaining < 16) {
      warnings.push(`capture ends inside a packet header at byte ${at} (cut short?); ${packets.length} packets read`);
      break;
    }
    const sec = r.u32();
    const frac = r.u32();
    const incl = r.u32();
    const orig = r.u32();
    if (incl > MAX_PACKET) {
      warnings.push(`packet ${packets.length + 1} at byte ${at} claims ${incl} captured bytes; the rest of the file is skipped`);
      break;
    }
    if (incl > r.remaining) {
      warnings.push(`capture ends inside packet ${packets.length + 1} (${r.remaining} of ${incl} bytes; cut short?)`);
      break;
    }
    const data = r.bytesN(incl);
    packets.push({ index: packets.length + 1, ts: sec + frac / (nano ? 1e9 : 1e6), linkType, data, origLen: Math.max(orig, incl) });
  }
  return { format: "pcap", packets, warnings };
}

interface Interface {
  linkType: number;
  /** Timestamp units per second. */
  tsPerSecond: number;
}

function parsePcapng(bytes: Uint8Array): CaptureFile {
  const packets: Packet[] = [];
  const warnings: string[] = [];
  let interfaces: Interface[] = [];
  let littleEndian = false;
  let pos = 0;
  let sawSection = false;
  while (pos < bytes.length) {
    if (bytes.length - pos < 12) {
      warnings.push(`capture ends inside a block header at byte ${pos} (cut short?)`);
      break;
    }
    const dv = new DataView(bytes.buffer, bytes.byteOffset + pos, bytes.length - pos);
    const typeBE = dv.getUint32(0, false);
    if (typeBE === 0x0a0d0d0a) {
      // Section Header Block: its byte-order magic decides the endianness of this section.
      const bom = dv.getUint32(8, false);
      if (bom === 0x1a2b3c4d) littleEndian = false;
      else if (bom === 0x4d3c2b1a) littleEndian = true;
      else {
        const msg = `pcapng section at byte ${pos} has an invalid byte-order magic ${bom.toString(16)}`;
        if (!sawSection) throw new DecodeError(msg);
        warnings.push(`${msg}; the rest of the file is skipped`);
        break;
      }
      sawSection = true;
      interfaces = [];
    } else if (!sawSection) {
      throw new DecodeError("pcapng file does not start with a section header block");
    }
    const type = dv.getUint32(0, littleEndian);
    const total = dv.getUint32(4, littleEndian);
    if (total < 12 || total % 4 !== 0 || total > bytes.length - pos) {
      warnings.push(
        total > bytes.length - pos && total >= 12
          ? `capture ends inside a block at byte ${pos} (${bytes.length - pos} of ${total} bytes; cut short?)`
          : `invalid pcapng block length ${total} at byte ${pos}; the rest of the file is skipped`,
      );
      break;
    }
    if (dv.getUint32(total - 4, littleEndian) !== total) {
      warnings.push(`pcapng block at byte ${pos}: trailing length does not match; the rest of the file is skipped`);
      break;
    }
    const body = new Reader(bytes.subarray(pos + 8, pos + total - 4), `pcapng block at byte ${pos}`);
    body.littleEndian = littleEndian;
    try {
      switch (type) {
        case 0x0a0d0d0a: {
          body.u32(); // byte-order magic
          const major = body.u16();
          if (major !== 1) body.fail(`unsupported pcapng version ${major}`);
          break;
        }
        case 1: {
          // Interface Description Block
          const linkType = body.u16();
          body.u16(); // reserved
          body.u32(); // snaplen
          let tsPerSecond = 1e6;
          for (const [code, value] of options(body)) {
            if (code === 9 && value.length >= 1) {
              const v = value[0]!;
              tsPerSecond = v & 0x80 ? 2 ** (v & 0x7f) : 10 ** v;
            }
          }
          interfaces.push({ linkType, tsPerSecond });
          break;
        }
        case 6:
        case 2: {
          // Enhanced Packet Block (6), obsolete Packet Block (2)
          const ifId = type === 6 ? body.u32() : body.u16();
          if (type === 2) body.u16(); // drops count
          const hi = body.u32();
          const lo = body.u32();
          const capLen = body.u32();
          const origLen = body.u32();
          const iface = interfaces[ifId];
          if (iface === undefined) body.fail(`packet for unknown interface ${ifId}`);
          if (capLen > MAX_PACKET) body.fail(`packet claims ${capLen} captured bytes`);
          const data = body.bytesN(capLen, "packet data");
          packets.push({
            index: packets.length + 1,
            ts: (hi * 2 ** 32 + lo) / iface.tsPerSecond,
            linkType: iface.linkType,
            data,
            origLen: Math.max(origLen, capLen),
          });
          break;
        }
        case 3: {
          // Simple Packet Block: interface 0, no timestamp; captured length is what the block holds.
          const origLen = body.u32();
          const iface = interfaces[0];
          if (iface === undefined) body.fail("simple packet block without an interface");
          const data = body.bytesN(Math.min(origLen, body.remaining), "packet data");
          packets.push({ index: packets.length + 1, ts: 0, linkType: iface.linkType, data, origLen: Math.max(origLen, data.length) });
          break;
        }
        default:
          break; // name resolution, statistics, custom blocks, ...: not needed
      }
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      warnings.push(`${e.message}; block skipped`);
    }
    pos += total;
  }
  return { format: "pcapng", packets, warnings };
}

function* options(r: Reader): Generator<[number, Uint8Array]> {
  while (r.remaining >= 4) {
    const code = r.u16();
    const len = r.u16();
    if (code === 0) return; // opt_endofopt
    const value = r.bytesN(len, "option");
    r.skip(Math.min((4 - (len % 4)) % 4, r.remaining));
    yield [code, value];
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Link, network and transport layers

export interface TcpSegment {
  packet: number;
  ts: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  seq: number;
  flags: { syn: boolean; ack: boolean; fin: boolean; rst: boolean };
  payload: Uint8Array;
  /** Payload bytes that the capture did not keep (snaplen). */
  missing: number;
}

export type DissectResult = { segment: TcpSegment } | { skip: string };

/** Link layer → IPv4/IPv6 → TCP. Anything else is a skip with the reason (never an exception). */
export function dissect(p: Packet): DissectResult {
  try {
    return dissectOrThrow(p);
  } catch (e) {
    if (e instanceof DecodeError) return { skip: e.message };
    throw e;
  }
}

function dissectOrThrow(p: Packet): DissectResult {
  const r = new Reader(p.data, `packet ${p.index}`);
  let ethertype: number | undefined;
  switch (p.linkType) {
    case LINKTYPE.EN10MB: {
      r.skip(12, "Ethernet header");
      ethertype = r.u16("ethertype");
      // 802.1Q / 802.1ad VLAN tags
      for (let i = 0; i < 2 && (ethertype === 0x8100 || ethertype === 0x88a8); i++) {
        r.skip(2, "VLAN tag");
        ethertype = r.u16("ethertype");
      }
      break;
    }
    case LINKTYPE.LINUX_SLL:
      r.skip(14, "Linux cooked header");
      ethertype = r.u16("protocol");
      break;
    case LINKTYPE.LINUX_SLL2:
      ethertype = r.u16("protocol");
      r.skip(18, "Linux cooked v2 header");
      break;
    case LINKTYPE.NULL:
    case LINKTYPE.LOOP: {
      r.littleEndian = p.linkType === LINKTYPE.NULL && p.data.length >= 4 && p.data[0] !== 0;
      const af = r.u32("address family");
      ethertype = af === 2 ? 0x0800 : [10, 24, 28, 30].includes(af) ? 0x86dd : -1;
      break;
    }
    case LINKTYPE.RAW:
    case LINKTYPE.RAW_OLD1:
    case LINKTYPE.RAW_OLD2:
    case LINKTYPE.IPV4:
    case LINKTYPE.IPV6: {
      const v = (p.data[0] ?? 0) >> 4;
      ethertype = v === 4 ? 0x0800 : v === 6 ? 0x86dd : -1;
      break;
    }
    default:
      return { skip: `unsupported link type ${p.linkType}` };
  }
  if (ethertype === 0x0800) return ipv4(r, p);
  if (ethertype === 0x86dd) return ipv6(r, p);
  return { skip: `not IP (ethertype 0x${(ethertype ?? 0).toString(16)})` };
}

function ipAddr4(b: Uint8Array): string {
  return Array.from(b).join(".");
}

function ipAddr6(b: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  // Compress the longest run of zero groups (RFC 5952), enough for readable output.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLen).join(":")}`;
}

function ipv4(r: Reader, p: Packet): DissectResult {
  const start = r.pos;
  const vihl = r.u8("IPv4 header");
  if (vihl >> 4 !== 4) return { skip: "bad IPv4 version" };
  const ihl = (vihl & 0x0f) * 4;
  if (ihl < 20) return { skip: "bad IPv4 header length" };
  r.u8();
  const totalLen = r.u16("IPv4 total length");
  r.u16(); // id
  const frag = r.u16("IPv4 fragment");
  r.u8(); // ttl
  const proto = r.u8("IPv4 protocol");
  r.u16(); // checksum
  const src = ipAddr4(r.bytesN(4, "IPv4 source"));
  const dst = ipAddr4(r.bytesN(4, "IPv4 destination"));
  r.skip(ihl - 20, "IPv4 options");
  if ((frag & 0x3fff) !== 0) return { skip: "IPv4 fragment (not reassembled)" };
  if (proto !== 6) return { skip: `not TCP (IP protocol ${proto})` };
  if (totalLen < ihl) return { skip: "bad IPv4 total length" };
  // Ethernet pads short frames: the IP length, not the frame, says where the packet ends.
  const ipEnd = start + totalLen;
  return tcp(r, p, src, dst, ipEnd);
}

function ipv6(r: Reader, p: Packet): DissectResult {
  const start = r.pos;
  const v = r.u32("IPv6 header");
  if (v >>> 28 !== 6) return { skip: "bad IPv6 version" };
  const payloadLen = r.u16("IPv6 payload length");
  let next = r.u8("IPv6 next header");
  r.u8(); // hop limit
  const src = ipAddr6(r.bytesN(16, "IPv6 source"));
  const dst = ipAddr6(r.bytesN(16, "IPv6 destination"));
  for (let i = 0; i < 8 && next !== 6; i++) {
    if (next === 0 || next === 43 || next === 60) {
      const nh = r.u8("extension header");
      const len = r.u8("extension header");
      r.skip(6 + len * 8, "extension header");
      next = nh;
    } else if (next === 44) {
      return { skip: "IPv6 fragment (not reassembled)" };
    } else {
      return { skip: `not TCP (IPv6 next header ${next})` };
    }
  }
  if (next !== 6) return { skip: "too many IPv6 extension headers" };
  return tcp(r, p, src, dst, start + 40 + payloadLen);
}

function tcp(r: Reader, p: Packet, src: string, dst: string, ipEnd: number): DissectResult {
  const hdrStart = r.pos;
  const sport = r.u16("TCP source port");
  const dport = r.u16("TCP destination port");
  const seq = r.u32("TCP sequence number");
  r.u32("TCP acknowledgement");
  const off = (r.u8("TCP data offset") >> 4) * 4;
  const fl = r.u8("TCP flags");
  if (off < 20) return { skip: "bad TCP data offset" };
  r.pos = hdrStart;
  r.skip(off, "TCP header");
  // What the IP header says the payload is; the capture may hold less (snaplen) or more (Ethernet padding).
  const declared = Math.max(0, ipEnd - r.pos);
  const have = Math.min(declared, r.remaining);
  const payload = r.bytesN(have);
  return {
    segment: {
      packet: p.index,
      ts: p.ts,
      src,
      dst,
      sport,
      dport,
      seq,
      flags: { syn: (fl & 0x02) !== 0, ack: (fl & 0x10) !== 0, fin: (fl & 0x01) !== 0, rst: (fl & 0x04) !== 0 },
      payload,
      missing: declared - have,
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// TCP reassembly

/** One direction of a TCP connection, reassembled. `origin[i]` is the packet that delivered byte i. */
export interface TcpStream {
  src: string;
  sport: number;
  dst: string;
  dport: number;
  data: Uint8Array;
  /** Packet index per byte range: [offset, packet] pairs, ascending offset; a range runs to the next one. */
  origins: Array<[number, number]>;
  /** Byte offsets where bytes were missing (never captured); reassembly stops at the first. */
  gap?: { offset: number; bytes: number; afterPacket: number };
  /** Retransmitted bytes that differed from the first copy (the first copy is kept). */
  conflicts: number;
  retransmittedBytes: number;
  outOfOrderSegments: number;
  sawSyn: boolean;
  sawFin: boolean;
  sawRst: boolean;
  firstPacket: number;
}

export interface TcpConnection {
  /** The side that sent the SYN; without one, the side whose first bytes look like a ClientHello, or else the first sender. */
  client: TcpStream;
  server: TcpStream;
  firstPacket: number;
}

function endpoint(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

export function streamName(s: { src: string; sport: number; dst: string; dport: number }): string {
  return `${endpoint(s.src, s.sport)} → ${endpoint(s.dst, s.dport)}`;
}

/** Offset of seq relative to base, modulo 2^32, as a signed distance (for ordering near the base). */
function rel(seq: number, base: number): number {
  return ((seq - base) | 0);
}

function assemble(segs: TcpSegment[]): TcpStream {
  const first = segs[0]!;
  const syn = segs.find((s) => s.flags.syn);
  const withData = segs.filter((s) => s.payload.length > 0 || s.missing > 0);
  // The stream starts after the SYN; without one, at the lowest sequence number seen.
  let base: number;
  if (syn !== undefined) base = (syn.seq + 1) >>> 0;
  else if (withData.length > 0) {
    base = withData[0]!.seq;
    for (const s of withData) if (rel(s.seq, base) < 0) base = s.seq;
  } else base = first.seq;

  // Out of order: a segment that brings new bytes but starts below the highest byte already seen. A segment whose
  // bytes all arrived before is a retransmission, counted below, not here.
  let outOfOrder = 0;
  let maxEnd = -Infinity;
  const seen: Array<[number, number]> = []; // merged [start, end) intervals, in arrival order
  for (const s of withData) {
    const o = rel(s.seq, base);
    const e = o + s.payload.length;
    const covered = seen.some(([a, b]) => a <= o && e <= b);
    if (!covered && o < maxEnd) outOfOrder++;
    maxEnd = Math.max(maxEnd, e);
    if (!covered) {
      seen.push([o, e]);
      seen.sort((x, y) => x[0] - y[0]);
      for (let k = 0; k + 1 < seen.length; ) {
        if (seen[k + 1]![0] <= seen[k]![1]) {
          seen[k]![1] = Math.max(seen[k]![1], seen[k + 1]![1]);
          seen.splice(k + 1, 1);
        } else k++;
      }
    }
  }
  const ordered = withData
    .map((s, i) => ({ s, i, off: rel(s.seq, base) }))
    .filter((x) => x.off + x.s.payload.length + x.s.missing > 0)
    .sort((a, b) => a.off - b.off || a.i - b.i);

  const chunks: Uint8Array[] = [];
  const origins: Array<[number, number]> = [];
  let next = 0;
  let conflicts = 0;
  let retrans = 0;
  let gap: TcpStream["gap"];
  let have: Uint8Array = new Uint8Array(0);
  const flat = (): Uint8Array => {
    if (chunks.length > 1) {
      have = Buffer.concat(chunks);
      chunks.length = 0;
      chunks.push(have);
    } else if (chunks.length === 1) have = chunks[0]!;
    return have;
  };
  for (const { s, off } of ordered) {
    const len = s.payload.length;
    if (off > next) {
      gap = { offset: next, bytes: off - next, afterPacket: origins.length > 0 ? origins[origins.length - 1]![1] : s.packet };
      break;
    }
    const end = off + len;
    if (off < next) {
      // Overlap with bytes already in the stream: a retransmission. Compare the overlapping part.
      const overlapEnd = Math.min(end, next);
      const cur = flat();
      const start = Math.max(off, 0);
      for (let k = start; k < overlapEnd; k++) if (cur[k] !== s.payload[k - off]) conflicts++;
      retrans += overlapEnd - start;
    }
    if (end > next) {
      chunks.push(s.payload.subarray(next - off));
      origins.push([next, s.packet]);
      next = end;
    }
    if (s.missing > 0) {
      gap = { offset: next, bytes: s.missing, afterPacket: s.packet };
      break;
    }
  }
  return {
    src: first.src,
    sport: first.sport,
    dst: first.dst,
    dport: first.dport,
    data: flat(),
    origins,
    gap,
    conflicts,
    retransmittedBytes: retrans,
    outOfOrderSegments: outOfOrder,
    sawSyn: syn !== undefined,
    sawFin: segs.some((s) => s.flags.fin),
    sawRst: segs.some((s) => s.flags.rst),
    firstPacket: first.packet,
  };
}

function emptyStream(src: string, sport: number, dst: string, dport: number, firstPacket: number): TcpStream {
  return {
    src, sport, dst, dport, data: new Uint8Array(0), origins: [], conflicts: 0, retransmittedBytes: 0,
    outOfOrderSegments: 0, sawSyn: false, sawFin: false, sawRst: false, firstPacket,
  };
}

/** Packet index that delivered byte `offset` of a stream. */
export function packetOf(stream: TcpStream, offset: number): number {
  const o = stream.origins;
  let lo = 0;
  let hi = o.length - 1;
  if (hi < 0) return stream.firstPacket;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (o[mid]![0] <= offset) lo = mid;
    else hi = mid - 1;
  }
  return o[lo]![1];
}

/**
 * Groups TCP segments into connections and reassembles both directions by sequence number: out-of-order segments
 * are put in place, retransmissions are dropped (and differing ones counted). A new SYN on a 4-tuple whose
 * connection already saw FIN or RST starts a new connection (port reuse).
 */
export function reassemble(segments: TcpSegment[]): TcpConnection[] {
  const groups = new Map<string, { key: string; segs: TcpSegment[]; closed: boolean }>();
  const order: { segs: TcpSegment[] }[] = [];
  for (const s of segments) {
    const a = endpoint(s.src, s.sport);
    const b = endpoint(s.dst, s.dport);
    const key = a < b ? `${a}|${b}` : `${b}|${a}`;
    let g = groups.get(key);
    if (g !== undefined && g.closed && s.flags.syn && !s.flags.ack) g = undefined;
    if (g === undefined) {
      g = { key, segs: [], closed: false };
      groups.set(key, g);
      order.push(g);
    }
    g.segs.push(s);
    if (s.flags.fin || s.flags.rst) g.closed = true;
  }
  const out: TcpConnection[] = [];
  for (const g of order) {
    const first = g.segs[0]!;
    const fwd = g.segs.filter((s) => s.src === first.src && s.sport === first.sport);
    const rev = g.segs.filter((s) => !(s.src === first.src && s.sport === first.sport));
    let A = assemble(fwd);
    let B = rev.length > 0 ? assemble(rev) : emptyStream(first.dst, first.dport, first.src, first.sport, first.packet);
    // Who is the client: the SYN (without ACK) sender; else whoever sent an MLS ClientHello or Resumption first.
    const synA = fwd.some((s) => s.flags.syn && !s.flags.ack);
    const synB = rev.some((s) => s.flags.syn && !s.flags.ack);
    const looksClient = (st: TcpStream) => st.data.length >= 6 && st.data[0] === 22 && (st.data[5] === 0xe0 || st.data[5] === 0xe2);
    let swap = false;
    if (synB && !synA) swap = true;
    else if (!synA && !synB && looksClient(B) && !looksClient(A)) swap = true;
    if (swap) [A, B] = [B, A];
    out.push({ client: A, server: B, firstPacket: first.packet });
  }
  return out;
}
