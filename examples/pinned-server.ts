// MLS-TLS without certificates, SSH-style: each side has a pinned-key identity (mlstls.createIdentity) saved as
// PEM, and trusts the other by its fingerprint. Run after `npm run build`, then examples/pinned-client:
//   node dist/examples/pinned-server.js [port]
// Files, in $TMPDIR/mlstls-pinned-example: server.pem (the server's identity, private: like an SSH host key),
// server.pub.pem (what clients pin), authorized_identities (client fingerprints, one a line: like authorized_keys).
// In an application, import from "mlstls" instead of "../lib/index.js".

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as mlstls from "../lib/index.js";

const port = Number(process.argv[2] ?? 8445);
const dir = join(tmpdir(), "mlstls-pinned-example");
const file = (name: string): string => join(dir, name);

mkdirSync(dir, { recursive: true });
if (!existsSync(file("server.pem"))) {
  const created = mlstls.createIdentity({ name: "pinned example server" });
  writeFileSync(file("server.pem"), created.toPem(), { mode: 0o600 });
  writeFileSync(file("server.pub.pem"), created.publicPem());
}
const identity = mlstls.Identity.fromPem(readFileSync(file("server.pem")));

/** Read at every handshake, so identities added while the server runs are accepted at once. */
function authorizedIdentities(): string[] {
  if (!existsSync(file("authorized_identities"))) return [];
  return readFileSync(file("authorized_identities"), "utf8").split("\n").map((l) => l.trim()).filter((l) => l.length > 0);
}

const server = mlstls.createServer(
  {
    identity,
    // Pinned client authentication: verifyPeer decides on each client identity (fingerprints: [...] is the static form).
    verifyPeer: ({ fingerprint }) => authorizedIdentities().includes(fingerprint),
  },
  (socket) => {
    const client = socket.getPeerCertificate() as mlstls.BasicPeerCertificate;
    console.log(`client "${client.identity}" (${client.fingerprint}) connected, authorized: ${socket.authorized}`);
    socket.end(`hello ${client.identity}\n`);
  },
);
// Unknown clients end here with ERR_MLSTLS_PEER_REJECTED.
server.on("tlsClientError", (err: Error & { code?: string }) => console.log(`client refused: ${err.code}: ${err.message}`));
server.listen(port, () => console.log(`MLS-TLS server "${identity.name}" ${identity.fingerprint} on port ${port}; files in ${dir}`));
