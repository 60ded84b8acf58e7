// An MLS-TLS echo server. Run after `npm run build`:
//   node dist/examples/echo-server.js [port]
// It prints each client's negotiated suite and identity, and every ConnectionUpdate/KeyUpdate as it happens.
// In an application, import from "mlstls" instead of "../lib/index.js".

import * as mlstls from "../lib/index.js";

const port = Number(process.argv[2] ?? 8443);

function identity(socket: mlstls.MlsTlsSocket): string {
  const cert = socket.getPeerCertificate();
  if ("credentialType" in cert && cert.credentialType === "basic") {
    return `basic credential ${cert.identity.toString("hex")} (key fingerprint ${cert.fingerprint256.slice(0, 23)}…)`;
  }
  if ("credentialType" in cert) return `x509 ${JSON.stringify(cert.subject)}`;
  return "none";
}

function describeKeyUpdate(e: mlstls.KeyUpdateEvent): string {
  const asked = e.direction === "send" ? " (asking the client to follow)" : " (the client asks us to follow)";
  return `KeyUpdate of our ${e.direction} key${e.requested ? asked : ""}${e.automatic ? " (automatic)" : ""}`;
}

const server = mlstls.createServer((socket) => {
  const who = `${socket.remoteAddress}:${socket.remotePort}`;
  console.log(`[${who}] secure: ${socket.getCipher()?.name} (${socket.getCipher()?.standardName}), epoch ${socket.epoch}`);
  console.log(`[${who}] peer: ${identity(socket)}`);
  socket.on("connectionUpdate", (e: mlstls.ConnectionUpdateEvent) =>
    console.log(`[${who}] ConnectionUpdate by ${e.initiatedBy}: now epoch ${e.epoch}`),
  );
  socket.on("keyUpdate", (e: mlstls.KeyUpdateEvent) => console.log(`[${who}] ${describeKeyUpdate(e)}`));
  socket.on("error", (err: Error & { code?: string }) => console.log(`[${who}] error ${err.code}: ${err.message}`));
  socket.on("close", () => console.log(`[${who}] closed`));
  socket.pipe(socket);
});

server.on("tlsClientError", (err: Error & { code?: string }) => console.log(`handshake failed: ${err.code}: ${err.message}`));
server.listen(port, () => console.log(`MLS-TLS echo server listening on port ${port}`));
