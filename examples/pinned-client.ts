// The client of examples/pinned-server. After `npm run build`:
//   node dist/examples/pinned-client.js [port]
// It creates its own identity on first run (client.pem), adds its fingerprint to the server's
// authorized_identities (the step an administrator would take, like ssh-copy-id), pins the server's public
// identity, and connects. In an application, import from "mlstls" instead of "../lib/index.js".

import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as mlstls from "../lib/index.js";

const port = Number(process.argv[2] ?? 8445);
const dir = join(tmpdir(), "mlstls-pinned-example");
const file = (name: string): string => join(dir, name);

if (!existsSync(file("client.pem"))) {
  const created = mlstls.createIdentity({ name: "pinned example client" });
  writeFileSync(file("client.pem"), created.toPem(), { mode: 0o600 });
  appendFileSync(file("authorized_identities"), `${created.fingerprint}\n`);
}
const identity = mlstls.Identity.fromPem(readFileSync(file("client.pem")));
const serverIdentity = mlstls.parsePublicIdentity(readFileSync(file("server.pub.pem")));

const socket = mlstls.connect({ host: "127.0.0.1", port, identity, fingerprints: [serverIdentity.fingerprint] }, () => {
  const server = socket.getPeerCertificate() as mlstls.BasicPeerCertificate;
  console.log(`server "${server.identity}" ${server.fingerprint}, authorized: ${socket.authorized}`);
  socket.setEncoding("utf8");
  socket.on("data", (text: string) => process.stdout.write(`server says: ${text}`));
});
// A server with another identity fails here with ERR_MLSTLS_FINGERPRINT_MISMATCH.
socket.on("error", (err: Error & { code?: string }) => {
  console.error(`error ${err.code}: ${err.message}`);
  process.exitCode = 1;
});
