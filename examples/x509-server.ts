// MLS-TLS with X.509 certificates and node:tls's options (key, cert, ca, requestCert), both sides authenticated.
// Run after `npm run build`, then start examples/x509-client in another shell:
//   node dist/examples/x509-server.js [port]
// On first start it makes a throwaway CA, a server certificate for localhost and a client certificate with the
// openssl CLI, in $TMPDIR/mlstls-x509-example (all Ed25519: MLS suite 1, which clients offer by default).
// In an application, import from "mlstls" instead of "../lib/index.js".

import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as tls from "node:tls";
import * as mlstls from "../lib/index.js";

const port = Number(process.argv[2] ?? 8444);
const dir = join(tmpdir(), "mlstls-x509-example");
const file = (name: string): string => join(dir, name);

function openssl(...args: string[]): void {
  // stderr is kept for the error openssl fails with, and otherwise not shown (it chats on success).
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

/** A key and a certificate for `subject`, issued by the CA with the extensions of section `ext` of ext.cnf. */
function issue(name: string, subject: string, ext: string): void {
  openssl("genpkey", "-algorithm", "ed25519", "-out", `${name}.key`);
  openssl("req", "-new", "-key", `${name}.key`, "-subj", subject, "-out", `${name}.csr`);
  openssl("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", `0x${randomBytes(8).toString("hex")}`,
    "-days", "30", "-extfile", "ext.cnf", "-extensions", ext, "-out", `${name}.pem`);
}

function makeCertificates(): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(file("ext.cnf"), [
    "[server]", "basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature", "extendedKeyUsage=serverAuth",
    "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
    "[client]", "basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature", "extendedKeyUsage=clientAuth", "",
  ].join("\n"));
  openssl("genpkey", "-algorithm", "ed25519", "-out", "ca.key");
  openssl("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=mlstls example CA", "-days", "30",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "ca.pem");
  issue("server", "/CN=localhost", "server");
  issue("client", "/CN=example client", "client");
}

if (!existsSync(file("client.pem"))) makeCertificates();

const server = mlstls.createServer(
  {
    key: readFileSync(file("server.key")),
    cert: readFileSync(file("server.pem")),
    // Clients must present a certificate from this CA (requestCert; rejectUnauthorized defaults to true).
    ca: readFileSync(file("ca.pem")),
    requestCert: true,
  },
  (socket) => {
    const client = socket.getPeerCertificate() as tls.PeerCertificate;
    console.log(`client "${client.subject.CN}" connected, authorized: ${socket.authorized}, suite ${socket.getCipher()?.name}`);
    socket.end(`hello ${client.subject.CN}, this is ${socket.getX509Certificate()?.subject.replace(/\n/g, ", ")}\n`);
  },
);
// Clients without an acceptable certificate end here, with node's codes (CERT_HAS_EXPIRED, ERR_MLSTLS_X509_REQUIRED, ...).
server.on("tlsClientError", (err: Error & { code?: string }) => console.log(`client refused: ${err.code}: ${err.message}`));
server.listen(port, () => console.log(`MLS-TLS server with certificate CN=localhost on port ${port}; certificates in ${dir}`));
