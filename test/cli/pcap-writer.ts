// A small capture writer for the decoder tests: TCP segments in Ethernet/IPv4, raw IPv6 or Linux cooked v2 frames,
// written as pcap or pcapng. Independent of the reader in lib/cli/capture.ts (written from the format documents),
// so a test exercises the reader rather than its mirror image.

import net from "node:net";

export interface Seg {
  from: "c" | "s";
  seq: number;
  ack?: number;
  flags?: { syn?: boolean; ack?: boolean; fin?: boolean; rst?: boolean; psh?: boolean };
  payload?: Uint8Array;
}

export interface Endpoints {
  client: { ip: string; port: number };
  server: { ip: string; port: number };
}

function u16(n: number): number[] {
  return [(n >> 8) & 0xff, n & 0xff];
}
function u32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

function tcpHeader(sport: number, dport: number, s: Seg): Uint8Array {
  const f = s.flags ?? {};
  const flags = (f.fin ? 1 : 0) | (f.syn ? 2 : 0) | (f.rst ? 4 : 0) | (f.psh ? 8 : 0) | (f.ack !== false && !(f.syn && !f.ack) ? 0x10 : 0);
  return Uint8Array.from([...u16(sport), ...u16(dport), ...u32(s.seq >>> 0), ...u32((s.ack ?? 0) >>> 0), 5 << 4, flags, ...u16(65535), 0, 0, 0, 0]);
}

function ipv4Bytes(ip: string): number[] {
  return ip.split(".").map(Number);
}

function ipv6Bytes(ip: string): number[] {
  // Only the forms the tests use ("::1", full addresses).
  const [head, tail] = ip.includes("::") ? ip.split("::") : [ip, undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return groups.flatMap((g) => u16(parseInt(g, 16)));
}

export function ipv4Packet(src: string, dst: string, tcp: Uint8Array, payload: Uint8Array): Uint8Array {
  const total = 20 + tcp.length + payload.length;
  const h = Uint8Array.from([0x45, 0, ...u16(total), 0, 0, 0x40, 0, 64, 6, 0, 0, ...ipv4Bytes(src), ...ipv4Bytes(dst)]);
  return Buffer.concat([h, tcp, payload]);
}

export function ipv6Packet(src: string, dst: string, tcp: Uint8Array, payload: Uint8Array): Uint8Array {
  const h = Uint8Array.from([0x60, 0, 0, 0, ...u16(tcp.length + payload.length), 6, 64, ...ipv6Bytes(src), ...ipv6Bytes(dst)]);
  return Buffer.concat([h, tcp, payload]);
}

export type Link = "ethernet" | "raw" | "sll2";
export const LINKTYPES: Record<Link, number> = { ethernet: 1, raw: 101, sll2: 276 };

export function frame(link: Link, ends: Endpoints, s: Seg): Uint8Array {
  const [a, b] = s.from === "c" ? [ends.client, ends.server] : [ends.server, ends.client];
  const payload = s.payload ?? new Uint8Array(0);
  const tcp = tcpHeader(a.port, b.port, s);
  const v6 = a.ip.includes(":");
  const ip = v6 ? ipv6Packet(a.ip, b.ip, tcp, payload) : ipv4Packet(a.ip, b.ip, tcp, payload);
  const ethertype = v6 ? 0x86dd : 0x0800;
  switch (link) {
    case "ethernet":
      // Loopback as tcpdump shows it: all-zero MAC addresses.
      return Buffer.concat([new Uint8Array(12), Uint8Array.from(u16(ethertype)), ip]);
    case "raw":
      return ip;
    case "sll2":
      // protocol, reserved, ifindex, ARPHRD_LOOPBACK (772), packet type (0 host), addr len 6, addr[8]
      return Buffer.concat([Uint8Array.from([...u16(ethertype), 0, 0, ...u32(1), ...u16(772), 0, 6, 0, 0, 0, 0, 0, 0, 0, 0]), ip]);
  }
}

/** A classic pcap file (little-endian, microseconds). */
export function writePcap(link: Link, frames: Uint8Array[], snaplen = 262144): Buffer {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(snaplen, 16);
  head.writeUInt32LE(LINKTYPES[link], 20);
  const parts: Buffer[] = [head];
  frames.forEach((f, i) => {
    const cap = Math.min(f.length, snaplen);
    const h = Buffer.alloc(16);
    h.writeUInt32LE(1_700_000_000, 0);
    h.writeUInt32LE(i * 1000, 4);
    h.writeUInt32LE(cap, 8);
    h.writeUInt32LE(f.length, 12);
    parts.push(h, Buffer.from(f.subarray(0, cap)));
  });
  return Buffer.concat(parts);
}

function block(type: number, body: Buffer, be: boolean): Buffer {
  const pad = (4 - (body.length % 4)) % 4;
  const total = 12 + body.length + pad;
  const b = Buffer.alloc(total);
  const w = (v: number, o: number) => (be ? b.writeUInt32BE(v, o) : b.writeUInt32LE(v, o));
  w(type, 0);
  w(total, 4);
  body.copy(b, 8);
  w(total, total - 4);
  return b;
}

/** A pcapng file: one section, one interface (with if_tsresol = 10^-9), enhanced packet blocks. */
export function writePcapng(link: Link, frames: Uint8Array[], bigEndian = false): Buffer {
  const be = bigEndian;
  const w16 = (b: Buffer, v: number, o: number) => (be ? b.writeUInt16BE(v, o) : b.writeUInt16LE(v, o));
  const w32 = (b: Buffer, v: number, o: number) => (be ? b.writeUInt32BE(v, o) : b.writeUInt32LE(v, o));
  const shb = Buffer.alloc(16);
  w32(shb, 0x1a2b3c4d, 0);
  w16(shb, 1, 4);
  w16(shb, 0, 6);
  shb.writeBigInt64LE(-1n, 8);
  // IDB: linktype, reserved, snaplen, option if_tsresol(9)=9 (nanoseconds), a comment option, end of options.
  const idb = Buffer.alloc(8 + 8 + 12 + 4);
  w16(idb, LINKTYPES[link], 0);
  w32(idb, 262144, 4);
  w16(idb, 9, 8);
  w16(idb, 1, 10);
  idb[12] = 9;
  w16(idb, 1, 16); // opt_comment
  w16(idb, 7, 18);
  idb.write("mlstls!", 20, "latin1");
  // end of options: already zero (code 0, length 0) at 28
  const parts = [block(0x0a0d0d0a, shb, be), block(1, idb, be)];
  // A name resolution block the reader must skip.
  parts.push(block(4, Buffer.alloc(4), be));
  frames.forEach((f, i) => {
    const pad = (4 - (f.length % 4)) % 4;
    const body = Buffer.alloc(20 + f.length + pad);
    const ts = BigInt(1_700_000_000) * 1_000_000_000n + BigInt(i) * 1000n;
    w32(body, 0, 0);
    w32(body, Number(ts >> 32n), 4);
    w32(body, Number(ts & 0xffffffffn), 8);
    w32(body, f.length, 12);
    w32(body, f.length, 16);
    Buffer.from(f).copy(body, 20);
    parts.push(block(6, body, be));
  });
  return Buffer.concat(parts);
}

/** What passed through the proxy, chunk by chunk, in arrival order. */
export interface Recording {
  chunks: { from: "c" | "s"; data: Buffer }[];
  clientPort: number;
}

/**
 * A TCP proxy on 127.0.0.1 that records both directions of each connection it forwards to `target`.
 * Returns the listening port and the recordings (one per accepted connection).
 */
export async function recordingProxy(target: number): Promise<{ port: number; recordings: Recording[]; close: () => Promise<void> }> {
  const recordings: Recording[] = [];
  const sockets = new Set<net.Socket>();
  // Half-open on both legs: a FIN is forwarded as a FIN, so close_notify that follows it in the other direction still passes.
  const server = net.createServer({ allowHalfOpen: true }, (c) => {
    const rec: Recording = { chunks: [], clientPort: c.remotePort ?? 0 };
    recordings.push(rec);
    const s = net.connect({ port: target, host: "127.0.0.1", allowHalfOpen: true });
    sockets.add(c);
    sockets.add(s);
    c.on("data", (d) => {
      rec.chunks.push({ from: "c", data: Buffer.from(d) });
      s.write(d);
    });
    s.on("data", (d) => {
      rec.chunks.push({ from: "s", data: Buffer.from(d) });
      c.write(d);
    });
    c.on("end", () => s.end());
    s.on("end", () => c.end());
    c.on("error", () => s.destroy());
    s.on("error", () => c.destroy());
    c.on("close", () => sockets.delete(c));
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    recordings,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/**
 * A recording as TCP segments with a handshake and FINs: each chunk becomes one segment (larger chunks are cut at
 * `mss`), sequence numbers start at the given ISNs (near 2^32, so they wrap), and ACKs follow the other side.
 */
export function toSegments(rec: Recording, mss = 1400, isn = { c: 0xffffff00, s: 0x7ffffff0 }): Seg[] {
  const seq = { c: (isn.c + 1) >>> 0, s: (isn.s + 1) >>> 0 };
  const segs: Seg[] = [
    { from: "c", seq: isn.c, flags: { syn: true, ack: false } },
    { from: "s", seq: isn.s, ack: seq.c, flags: { syn: true, ack: true } },
    { from: "c", seq: seq.c, ack: seq.s },
  ];
  for (const ch of rec.chunks) {
    for (let o = 0; o < ch.data.length; o += mss) {
      const piece = ch.data.subarray(o, o + mss);
      const other = ch.from === "c" ? "s" : "c";
      segs.push({ from: ch.from, seq: seq[ch.from], ack: seq[other], flags: { psh: true }, payload: piece });
      seq[ch.from] = (seq[ch.from] + piece.length) >>> 0;
    }
  }
  segs.push({ from: "c", seq: seq.c, ack: seq.s, flags: { fin: true } });
  segs.push({ from: "s", seq: seq.s, ack: (seq.c + 1) >>> 0, flags: { fin: true } });
  return segs;
}
