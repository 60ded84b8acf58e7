// An MLS-TLS echo client. Start examples/echo-server first, then, after `npm run build`:
//   node dist/examples/echo-client.js [port] [host]
// It sends a few lines, runs a ConnectionUpdate (MLS commit: post-compromise security) and a KeyUpdate (forward
// secrecy) between them, prints what happens, and closes.
// In an application, import from "mlstls" instead of "../lib/index.js".

import * as mlstls from "../lib/index.js";

const port = Number(process.argv[2] ?? 8443);
const host = process.argv[3] ?? "localhost";

function describeKeyUpdate(e: mlstls.KeyUpdateEvent): string {
  const asked = e.direction === "send" ? " (asking the server to follow)" : " (the server asks us to follow)";
  return `KeyUpdate of our ${e.direction} key${e.requested ? asked : ""}${e.automatic ? " (automatic)" : ""}`;
}

const socket = mlstls.connect(port, host, async () => {
  const cert = socket.getPeerCertificate();
  console.log(`secure: ${socket.getCipher()?.name} (${socket.getCipher()?.standardName}), epoch ${socket.epoch}`);
  if ("credentialType" in cert && cert.credentialType === "basic") {
    console.log(`server: basic credential ${cert.identity.toString("hex")} (key fingerprint ${cert.fingerprint256.slice(0, 23)}…)`);
  }
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
socket.on("error", (err: Error & { code?: string }) => {
  console.error(`error ${err.code}: ${err.message}`);
  process.exitCode = 1;
});
socket.on("close", () => console.log("closed"));
