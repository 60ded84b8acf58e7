// The one-command demo (`npm run demo`): an MLS-TLS echo server and client in one process, on a free port.
// The server has a pinned-key identity; the client trusts it by its fingerprint, as SSH clients do.
// The client runs a ConnectionUpdate and a KeyUpdate mid-conversation; both sides print what they see.
// In an application, import from "mlstls" instead of "../lib/index.js".

import * as mlstls from "../lib/index.js";

function fingerprint(socket: mlstls.MlsTlsSocket): string {
  const cert = socket.getPeerCertificate();
  // As with node:tls, a server that did not ask for a client certificate (requestCert) is shown none.
  return "fingerprint" in cert && typeof cert.fingerprint === "string" ? `${cert.fingerprint.slice(0, 20)}…` : "not asked for";
}

// In a real deployment the identity is made once and stored: identity.toPem() / mlstls.Identity.fromPem().
const serverIdentity = mlstls.createIdentity({ name: "demo server" });

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

const server = mlstls.createServer({ identity: serverIdentity }, (socket) => {
  console.log(`server: client connected, suite ${socket.getCipher()?.name}, client key ${fingerprint(socket)}`);
  watch("server", socket);
  socket.pipe(socket);
});
server.on("tlsClientError", (err: Error) => console.log(`server: handshake failed: ${err.message}`));

server.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as { port: number };
  console.log(`server: listening on 127.0.0.1:${port}, identity ${serverIdentity.fingerprint}`);
  const client = mlstls.connect({ port, host: "127.0.0.1", fingerprints: [serverIdentity.fingerprint] }, async () => {
    const cipher = client.getCipher()!;
    console.log(`client: secure, suite ${cipher.name} (records: ${cipher.standardName}), epoch ${client.epoch}`);
    console.log(`client: server ${fingerprint(client)}, authorized: ${client.authorized}`);
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
