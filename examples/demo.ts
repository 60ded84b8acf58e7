// The one-command demo (`npm run demo`): an MLS-TLS echo server and client in one process, on a free port.
// The client runs a ConnectionUpdate and a KeyUpdate mid-conversation; both sides print what they see.
// In an application, import from "mlstls" instead of "../lib/index.js".

import * as mlstls from "../lib/index.js";

function fingerprint(socket: mlstls.MlsTlsSocket): string {
  const cert = socket.getPeerCertificate();
  return "fingerprint256" in cert && typeof cert.fingerprint256 === "string" ? `${cert.fingerprint256.slice(0, 23)}…` : "?";
}

function watch(name: string, socket: mlstls.MlsTlsSocket): void {
  socket.on("connectionUpdate", (e: mlstls.ConnectionUpdateEvent) =>
    console.log(`${name}: ConnectionUpdate by ${e.initiatedBy === "local" ? "me" : "peer"}, now epoch ${e.epoch}`),
  );
  socket.on("keyUpdate", (e: mlstls.KeyUpdateEvent) =>
    console.log(
      `${name}: KeyUpdate of my ${e.direction} key` +
        (e.requested ? (e.direction === "send" ? ", asking the peer to follow" : ", the peer asks me to follow") : ""),
    ),
  );
}

const server = mlstls.createServer((socket) => {
  console.log(`server: client connected, suite ${socket.getCipher()?.name}, client key ${fingerprint(socket)}`);
  watch("server", socket);
  socket.pipe(socket);
});
server.on("tlsClientError", (err: Error) => console.log(`server: handshake failed: ${err.message}`));

server.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as { port: number };
  console.log(`server: listening on 127.0.0.1:${port}`);
  const client = mlstls.connect({ port, host: "127.0.0.1" }, async () => {
    const cipher = client.getCipher()!;
    console.log(`client: secure, suite ${cipher.name} (records: ${cipher.standardName}), epoch ${client.epoch}`);
    console.log(`client: server key ${fingerprint(client)}`);
    const say = (text: string): Promise<void> =>
      new Promise((resolve) => {
        client.once("data", (d: Buffer) => {
          console.log(`client: echo "${d.toString()}"`);
          resolve();
        });
        client.write(text);
      });
    await say("hello");
    await client.connectionUpdate();
    await say(`hello from epoch ${client.epoch}`);
    await client.keyUpdate({ requestPeer: true });
    await say("hello under fresh keys");
    client.end();
  });
  watch("client", client);
  client.on("close", (hadError: boolean) => {
    console.log(`client: closed${hadError ? " with an error" : ""}`);
    server.close(() => {
      console.log("demo done");
      process.exitCode = hadError ? 1 : 0;
    });
  });
  client.on("error", (err: Error) => console.error(`client: ${err.message}`));
});
