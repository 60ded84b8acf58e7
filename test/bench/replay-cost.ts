// CPU cost per replayed ClientHello (issue 8, finding 5), shared by `npm run bench:resources` and its smoke test:
// capture one genuine ClientHello with a client chain of a given size, then replay it to an mlstls server that
// verifies client certificates, and divide the process's CPU time by the replays.

import { once } from "node:events";
import * as net from "node:net";
import * as mlstls from "../../lib/index.js";
import { SERVED, TRUSTED, listen } from "../helpers/sockets.js";
import { chainOfSize } from "../hostile/chains.js";

/** The bytes a client sends first (its ClientHello records), captured by a server that answers nothing. */
export async function captureClientHello(chainBytes: number): Promise<Uint8Array> {
  const chain = chainOfSize(chainBytes);
  const chunks: Buffer[] = [];
  const srv = net.createServer((s) => s.on("data", (d: Buffer) => chunks.push(d)));
  const port = await listen(srv);
  const client = mlstls.connect({ ...TRUSTED, host: "127.0.0.1", port, key: chain.key, cert: chain.cert });
  client.on("error", () => undefined);
  // Complete once every record of the first flight is in.
  for (;;) {
    await new Promise((r) => setTimeout(r, 5));
    const all = Buffer.concat(chunks);
    let off = 0;
    while (off + 5 <= all.length && off + 5 + all.readUInt16BE(off + 3) <= all.length) off += 5 + all.readUInt16BE(off + 3);
    if (off > 0 && off === all.length) {
      // A message spans records until its length is covered.
      const msgLen = all.readUIntBE(6, 3) + 4;
      let hs = 0;
      for (let o = 0; o < all.length; o += 5 + all.readUInt16BE(o + 3)) hs += all.readUInt16BE(o + 3);
      if (hs >= msgLen) break;
    }
  }
  client.destroy();
  await new Promise<void>((r) => srv.close(() => r()));
  return new Uint8Array(Buffer.concat(chunks));
}

/** Replays `hello` to `port` once: resolves when the server has answered (ServerHello or alert) or closed. */
export async function replayOnce(port: number, hello: Uint8Array): Promise<void> {
  const s = net.connect({ port, host: "127.0.0.1" });
  s.on("error", () => undefined);
  await once(s, "connect");
  s.write(hello);
  await Promise.race([once(s, "data"), once(s, "close")]);
  s.destroy();
}

/** A server that verifies client certificates against the chains' root. */
export async function verifyingServer(): Promise<{ server: mlstls.Server; port: number }> {
  const server = mlstls.createServer({ ...SERVED, requestCert: true, ca: chainOfSize(0).ca });
  server.on("tlsClientError", () => undefined);
  return { server, port: await listen(server) };
}

/** Milliseconds of this process's CPU per replayed ClientHello (server and replayer together; the replayer is cheap). */
export async function cpuPerReplay(chainBytes: number, replays: number): Promise<number> {
  const hello = await captureClientHello(chainBytes);
  const { server, port } = await verifyingServer();
  for (let i = 0; i < 5; i++) await replayOnce(port, hello); // warm-up
  const start = process.cpuUsage();
  for (let i = 0; i < replays; i++) await replayOnce(port, hello);
  const used = process.cpuUsage(start);
  await new Promise<void>((r) => server.close(() => r()));
  return (used.user + used.system) / 1000 / replays;
}
