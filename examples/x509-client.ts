// The client of examples/x509-server: verifies the server's certificate against the example CA and the name
// "localhost", exactly as node:tls would, and presents its own certificate. After `npm run build`:
//   node dist/examples/x509-client.js [port]
// In an application, import from "mlstls" instead of "../lib/index.js".

import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as mlstls from "../lib/index.js";

const port = Number(process.argv[2] ?? 8444);
const dir = join(tmpdir(), "mlstls-x509-example");
const file = (name: string): Buffer => readFileSync(join(dir, name));

const socket = mlstls.connect(
  {
    host: "localhost",
    port,
    ca: file("ca.pem"),
    key: file("client.key"),
    cert: file("client.pem"),
  },
  () => {
    const server = socket.getPeerX509Certificate();
    console.log(`server ${server?.subject.replace(/\n/g, ", ")} verified, authorized: ${socket.authorized}`);
    socket.setEncoding("utf8");
    socket.on("data", (text: string) => process.stdout.write(`server says: ${text}`));
  },
);
// A wrong CA gives UNABLE_TO_VERIFY_LEAF_SIGNATURE, another host ERR_TLS_CERT_ALTNAME_INVALID: node's codes.
socket.on("error", (err: Error & { code?: string }) => {
  console.error(`error ${err.code}: ${err.message}`);
  process.exitCode = 1;
});
