// A TCP proxy on loopback that forwards whole TLS records and can cut the connection at a chosen record:
// on the client's side, on the server's side, or both. Used to break connections at exact protocol points.

import * as net from "node:net";

export type Dir = "c2s" | "s2c";
/** What to do with a record about to be forwarded: pass it, or cut before it on one side or both. */
export type Verdict = "forward" | "cut-client" | "cut-server" | "cut-both";

export interface ProxyLink {
  client: net.Socket;
  server: net.Socket;
  counts: Record<Dir, number>;
  cut: boolean;
}

export class CutProxy {
  readonly server: net.Server;
  readonly links: ProxyLink[] = [];
  /** Decides per record; `index` counts records per direction on this link. */
  decide: (dir: Dir, index: number, link: ProxyLink) => Verdict = () => "forward";

  private constructor(target: number) {
    this.server = net.createServer((client) => {
      const upstream = net.connect(target, "127.0.0.1");
      const link: ProxyLink = { client, server: upstream, counts: { c2s: 0, s2c: 0 }, cut: false };
      this.links.push(link);
      client.on("error", () => undefined);
      upstream.on("error", () => undefined);
      this.pump(link, client, upstream, "c2s");
      this.pump(link, upstream, client, "s2c");
      client.on("close", () => {
        if (!link.cut) upstream.destroy();
      });
      upstream.on("close", () => {
        if (!link.cut) client.destroy();
      });
    });
  }

  static async start(target: number): Promise<CutProxy> {
    const p = new CutProxy(target);
    await new Promise<void>((r) => p.server.listen(0, "127.0.0.1", r));
    return p;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const l of this.links) {
      l.client.destroy();
      l.server.destroy();
    }
    await new Promise((r) => this.server.close(r));
  }

  private pump(link: ProxyLink, from: net.Socket, to: net.Socket, dir: Dir): void {
    let buf = Buffer.alloc(0);
    from.on("data", (chunk: Buffer) => {
      if (link.cut) return;
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 5) {
        const len = 5 + buf.readUInt16BE(3);
        if (buf.length < len) break;
        const rec = buf.subarray(0, len);
        buf = buf.subarray(len);
        const verdict = this.decide(dir, link.counts[dir]++, link);
        if (verdict !== "forward") {
          this.cut(link, verdict);
          return;
        }
        to.write(rec);
      }
    });
    from.on("end", () => {
      if (!link.cut) to.end();
    });
  }

  /**
   * Cuts a link. "cut-client" resets the client's TCP connection while the server's stays open but silent (a
   * half-open connection the server has not noticed); "cut-server" the reverse; "cut-both" resets both.
   */
  cut(link: ProxyLink, how: Exclude<Verdict, "forward">): void {
    link.cut = true;
    if (how === "cut-client" || how === "cut-both") link.client.resetAndDestroy();
    if (how === "cut-server" || how === "cut-both") link.server.resetAndDestroy();
  }
}
