// One scripted MLS-TLS connection (handshake, data both ways, a ConnectionUpdate from each side, a KeyUpdate with
// a request, close_notify both ways), recorded through a TCP proxy with the client's key log: the input of the
// decoder tests.

import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { connect, createIdentity, createServer, type MlsTlsSocket } from "../../lib/index.js";
import { type Recording, recordingProxy } from "./pcap-writer.js";

export const serverId = createIdentity({ name: "decode-test server" });
export const clientId = createIdentity({ name: "decode-test client" });

export interface Recorded {
  recording: Recording;
  keylog: string;
}

async function untilData(s: MlsTlsSocket, got: { text: string }, want: string): Promise<void> {
  while (!got.text.includes(want)) await once(s, "data");
}

/** One scripted connection from a client to `port`; returns the client's key log. */
export async function scriptedConnection(port: number, serverSockets: MlsTlsSocket[]): Promise<string> {
  const keylog: string[] = [];
  const client = connect({
    host: "127.0.0.1",
    port,
    servername: "example.test",
    ALPNProtocols: ["echo"],
    identity: clientId,
    fingerprints: [serverId.fingerprint],
  });
  client.on("keylog", (l: Buffer) => keylog.push(l.toString("latin1")));
  const got = { text: "" };
  client.on("data", (d: Buffer) => (got.text += d.toString("latin1")));
  await once(client, "secureConnect");
  client.write("hello mlstls");
  await untilData(client, got, "hello mlstls");
  await client.connectionUpdate();
  await client.keyUpdate({ requestPeer: true });
  await serverSockets[serverSockets.length - 1]!.connectionUpdate();
  client.write("bye");
  await untilData(client, got, "bye");
  client.end();
  await once(client, "close");
  return keylog.join("");
}

export async function withServer<T>(f: (port: number, sockets: MlsTlsSocket[]) => Promise<T>): Promise<T> {
  const sockets: MlsTlsSocket[] = [];
  const server = createServer({ identity: serverId, ALPNProtocols: ["h2", "echo"] }, (s) => {
    sockets.push(s);
    s.on("error", () => undefined);
    s.pipe(s);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  try {
    return await f((server.address() as AddressInfo).port, sockets);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  }
}

export async function record(): Promise<Recorded> {
  return withServer(async (port, sockets) => {
    const proxy = await recordingProxy(port);
    try {
      const keylog = await scriptedConnection(proxy.port, sockets);
      // The proxy's last writes may still be in flight: wait until both sides' close_notify went through it.
      for (let i = 0; i < 100 && proxy.recordings[0]!.chunks.filter((c) => c.from === "s").length < 2; i++) await new Promise((r) => setTimeout(r, 10));
      return { recording: proxy.recordings[0]!, keylog };
    } finally {
      await proxy.close();
    }
  });
}

