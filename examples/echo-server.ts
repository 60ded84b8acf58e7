// An MLS-TLS echo server with a pinned-key identity. Run after `npm run build`:
//   node dist/examples/echo-server.js [port]
// On first start it creates its identity and keeps it in $TMPDIR/mlstls-echo/server.pem (private: like an SSH host
// key), and writes the shareable server.pub.pem next to it, which examples/echo-client pins.
// It prints each client's negotiated suite and identity, and every ConnectionUpdate/KeyUpdate as it happens.
// In an application, import from "mlstls" instead of "../lib/index.js".

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as mlstls from "../lib/index.js";

const port = Number(process.argv[2] ?? 8443);
const dir = join(tmpdir(), "mlstls-echo");

function loadOrCreateIdentity(): mlstls.Identity {
  const file = join(dir, "server.pem");
  if (existsSync(file)) return mlstls.Identity.fromPem(readFileSync(file));
  mkdirSync(dir, { recursive: true });
  const identity = mlstls.createIdentity({ name: "echo server" });
  writeFileSync(file, identity.toPem(), { mode: 0o600 });
  writeFileSync(join(dir, "server.pub.pem"), identity.publicPem());
  return identity;
}

function describePeer(socket: mlstls.MlsTlsSocket): string {
  const cert = socket.getPeerCertificate();
  if ("credentialType" in cert) return `pinned-key identity "${cert.identity}" (${cert.fingerprint})`;
  if ("subject" in cert) return `certificate ${JSON.stringify(cert.subject)}`;
  return "none";
}

function describeKeyUpdate(e: mlstls.KeyUpdateEvent): string {
  const asked = e.direction === "send" ? " (asking the client to follow)" : " (the client asks us to follow)";
  return `KeyUpdate of our ${e.direction} key${e.requested ? asked : ""}${e.automatic ? " (automatic)" : ""}`;
}

const identity = loadOrCreateIdentity();
const server = mlstls.createServer({ identity }, (socket) => {
  const who = `${socket.remoteAddress}:${socket.remotePort}`;
  console.log(`[${who}] secure: ${socket.getCipher()?.name} (${socket.getCipher()?.standardName}), epoch ${socket.epoch}`);
  // Without requestCert or pinning the server verifies no one (authorized: false), as a node:tls server.
  console.log(`[${who}] peer: ${describePeer(socket)}`);
  socket.on("connectionUpdate", (e: mlstls.ConnectionUpdateEvent) =>
    console.log(`[${who}] ConnectionUpdate by ${e.initiatedBy}: now epoch ${e.epoch}`),
  );
  socket.on("keyUpdate", (e: mlstls.KeyUpdateEvent) => console.log(`[${who}] ${describeKeyUpdate(e)}`));
  socket.on("error", (err: Error & { code?: string }) => console.log(`[${who}] error ${err.code}: ${err.message}`));
  socket.on("close", () => console.log(`[${who}] closed`));
  socket.pipe(socket);
});

server.on("tlsClientError", (err: Error & { code?: string }) => console.log(`handshake failed: ${err.code}: ${err.message}`));
server.listen(port, () => {
  console.log(`MLS-TLS echo server listening on port ${port}`);
  console.log(`identity ${identity.fingerprint} (public identity: ${join(dir, "server.pub.pem")})`);
});
