// An MLS-TLS echo client. Start examples/echo-server first, then, after `npm run build`:
//   node dist/examples/echo-client.js [port] [host] [fingerprint]
// It pins the server's identity: the fingerprint given, else the public identity the server wrote to
// $TMPDIR/mlstls-echo/server.pub.pem. It sends a few lines, runs a ConnectionUpdate (MLS commit:
// post-compromise security) and a KeyUpdate (forward secrecy) between them, prints what happens, and closes.
// In an application, import from "mlstls" instead of "../lib/index.js".

import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as mlstls from "../lib/index.js";

const port = Number(process.argv[2] ?? 8443);
const host = process.argv[3] ?? "localhost";
// A fingerprint ("SHA256:...") or a public identity PEM both pin the server.
const pin = process.argv[4] ?? readFileSync(join(tmpdir(), "mlstls-echo", "server.pub.pem"), "utf8");

function describeKeyUpdate(e: mlstls.KeyUpdateEvent): string {
  const asked = e.direction === "send" ? " (asking the server to follow)" : " (the server asks us to follow)";
  return `KeyUpdate of our ${e.direction} key${e.requested ? asked : ""}${e.automatic ? " (automatic)" : ""}`;
}

const socket = mlstls.connect({ port, host, fingerprints: [pin] }, async () => {
  const cert = socket.getPeerCertificate();
  console.log(`secure: ${socket.getCipher()?.name} (${socket.getCipher()?.standardName}), epoch ${socket.epoch}`);
  if ("credentialType" in cert) console.log(`server: "${cert.identity}" ${cert.fingerprint}, authorized: ${socket.authorized}`);
  const echo = (line: string): Promise<void> =>
    new Promise((resolve) => {
      socket.once("data", (d: Buffer) => {
        console.log(`echo: ${d.toString().trim()}`);
        resolve();
      });
      socket.write(`${line}\n`);
    });
  await echo("hello over MLS-TLS");
  await socket.connectionUpdate();
  await echo(`still here in epoch ${socket.epoch}`);
  await socket.keyUpdate({ requestPeer: true });
  await echo("and after a KeyUpdate both ways");
  socket.end();
});

socket.on("connectionUpdate", (e: mlstls.ConnectionUpdateEvent) => console.log(`ConnectionUpdate by ${e.initiatedBy}: now epoch ${e.epoch}`));
socket.on("keyUpdate", (e: mlstls.KeyUpdateEvent) => console.log(describeKeyUpdate(e)));
// A server with another identity fails here with ERR_MLSTLS_FINGERPRINT_MISMATCH.
socket.on("error", (err: Error & { code?: string }) => {
  console.error(`error ${err.code}: ${err.message}`);
  process.exitCode = 1;
});
socket.on("close", () => console.log("closed"));
