// node:http and node:https, unchanged, over MLS-TLS. After `npm run build`:
//   node dist/examples/https-over-mlstls.js
// Server: an http.Server fed the secure sockets of an mlstls server. Client: https.request with an
// https.Agent whose createConnection returns mlstls sockets, which verify the server as https does: here by a
// pinned identity (with X.509, pass `ca` instead; see examples/x509-client). In an application, import from "mlstls".

import * as http from "node:http";
import * as https from "node:https";
import type { Duplex } from "node:stream";
import * as mlstls from "../lib/index.js";

const serverIdentity = mlstls.createIdentity({ name: "https example" });

class MlsTlsAgent extends https.Agent {
  override createConnection(options: https.RequestOptions): Duplex {
    return mlstls.connect({
      host: options.host ?? undefined,
      port: Number(options.port),
      servername: options.servername,
      fingerprints: [serverIdentity.fingerprint],
    });
  }
}

const app = http.createServer((req, res) => {
  const socket = req.socket as unknown as mlstls.MlsTlsSocket;
  res.setHeader("content-type", "text/plain");
  res.end(`${req.method} ${req.url} served over ${socket.getCipher()?.name}, MLS epoch ${socket.epoch}\n`);
});

const server = mlstls.createServer({ identity: serverIdentity }, (socket) => app.emit("connection", socket));
server.listen(0, "127.0.0.1", () => {
  // Lets the http server run its header and request timeouts, as it does when it listens itself.
  app.emit("listening");
  const { port } = server.address() as { port: number };
  const agent = new MlsTlsAgent({ keepAlive: true });
  https
    .get({ host: "127.0.0.1", port, path: "/hello", agent, servername: "localhost" }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => {
        console.log(`HTTP ${res.statusCode}: ${body.trim()}`);
        agent.destroy();
        app.close();
        server.close();
      });
    })
    .on("error", (err) => {
      console.error(err);
      process.exitCode = 1;
      server.close();
    });
});
