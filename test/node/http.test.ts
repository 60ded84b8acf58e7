// Node's own http, https and http2 modules over MlsTlsSocket, unchanged: the drop-in test that matters most.

import { expect } from "chai";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as https from "node:https";
import type { Duplex } from "node:stream";
import * as mlstls from "../../lib/index.js";
import { Cleanup, deterministicBytes, listen } from "../helpers/sockets.js";

const fixture = (name: string): Buffer => readFileSync(new URL(`../../../test/fixtures/certs/${name}`, import.meta.url));
/** The server's X.509 identity (Ed25519, DNS:localhost) and the root clients verify it against, as with https. */
const SERVER_CERT: mlstls.ServerOptions = { key: fixture("ed25519.key"), cert: fixture("ed25519-chain.pem") };
const CA = fixture("root-ca.pem");

/** http.Agent over mlstls: the documented way to run node:http clients on it. */
class MlsAgent extends http.Agent {
  override createConnection(options: http.ClientRequestArgs): Duplex {
    return mlstls.connect({ host: options.host ?? undefined, port: Number(options.port), servername: "localhost", ca: CA });
  }
}

/** https.Agent over mlstls, for code that uses https.request. */
class MlsHttpsAgent extends https.Agent {
  override createConnection(options: https.RequestOptions): Duplex {
    return mlstls.connect({ host: options.host ?? undefined, port: Number(options.port), servername: options.servername, ca: CA });
  }
}

/** An mlstls server feeding an http-family server, which emits 'listening' so its timeouts run. */
function serveWith(cleanup: Cleanup, inner: http.Server | http2.Http2Server, options: mlstls.ServerOptions = {}): mlstls.Server {
  const outer = cleanup.server(mlstls.createServer({ ...SERVER_CERT, ...options }, (socket) => inner.emit("connection", socket)));
  outer.once("listening", () => inner.emit("listening"));
  return outer;
}

function sha256(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

describe("http over mlstls", () => {
  const cleanup = new Cleanup();

  it("node:http: 50 keep-alive requests with 1 MiB bodies over one connection", async function () {
    this.timeout(60_000);
    const inner = http.createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on("data", (d: Buffer) => parts.push(d));
      req.on("end", () => {
        const body = Buffer.concat(parts);
        res.setHeader("x-body-sha256", sha256(body));
        res.end(body.reverse());
      });
    });
    const server = serveWith(cleanup, inner);
    let connections = 0;
    server.on("secureConnection", () => connections++);
    const port = await listen(server);
    const agent = new MlsAgent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 50; i++) {
        const body = deterministicBytes(100 + i, 1 << 20);
        const { status, headers, payload } = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; payload: Buffer }>(
          (resolve, reject) => {
            const req = http.request({ host: "127.0.0.1", port, method: "POST", path: `/r/${i}`, agent }, (res) => {
              const parts: Buffer[] = [];
              res.on("data", (d: Buffer) => parts.push(d));
              res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, payload: Buffer.concat(parts) }));
              res.on("error", reject);
            });
            req.on("error", reject);
            req.end(body);
          },
        );
        expect(status).to.equal(200);
        expect(headers["x-body-sha256"]).to.equal(sha256(body));
        expect(payload.equals(Buffer.from(body).reverse())).to.equal(true);
      }
      expect(connections).to.equal(1);
    } finally {
      agent.destroy();
      inner.close();
    }
  });

  it("node:https: https.request through an https.Agent subclass", async () => {
    const inner = http.createServer((req, res) => res.end(`hello ${req.url} over ${(req.socket as unknown as mlstls.MlsTlsSocket).getCipher()?.name}`));
    const server = serveWith(cleanup, inner);
    const port = await listen(server);
    const agent = new MlsHttpsAgent({ keepAlive: true });
    try {
      let serverCert: string | undefined;
      const text = await new Promise<string>((resolve, reject) => {
        https
          .get({ host: "127.0.0.1", port, path: "/x", agent, servername: "localhost" }, (res) => {
            const socket = res.socket as unknown as mlstls.MlsTlsSocket;
            serverCert = socket.authorized ? socket.getPeerX509Certificate()?.subject : undefined;
            let t = "";
            res.setEncoding("utf8");
            res.on("data", (d: string) => (t += d));
            res.on("end", () => resolve(t));
          })
          .on("error", reject);
      });
      // Verified the way https verifies: the chain to `ca`, and the name.
      expect(serverCert).to.match(/^CN=localhost\n/);
      expect(text).to.match(/^hello \/x over MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519$/);
    } finally {
      agent.destroy();
      inner.close();
    }
  });

  it("node:http2 with ALPN h2: 20 concurrent streams", async function () {
    this.timeout(60_000);
    const inner = http2.createServer();
    inner.on("stream", (stream, headers) => {
      const parts: Buffer[] = [];
      stream.on("data", (d: Buffer) => parts.push(d));
      stream.on("end", () => {
        const body = Buffer.concat(parts);
        stream.respond({ ":status": 200, "x-path": String(headers[":path"]), "x-body-sha256": sha256(body) });
        stream.end(body);
      });
    });
    const server = serveWith(cleanup, inner, { ALPNProtocols: ["h2"] });
    const alpn: (string | false | null)[] = [];
    server.on("secureConnection", (s: mlstls.MlsTlsSocket) => alpn.push(s.alpnProtocol));
    const port = await listen(server);
    const session = http2.connect(`https://localhost:${port}`, {
      createConnection: () => mlstls.connect({ host: "127.0.0.1", port, servername: "localhost", ca: CA, ALPNProtocols: ["h2"] }),
    });
    try {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => {
          const body = deterministicBytes(200 + i, 256 * 1024 + i);
          return new Promise<{ i: number; ok: boolean }>((resolve, reject) => {
            const req = session.request({ ":method": "POST", ":path": `/s/${i}` });
            const parts: Buffer[] = [];
            let headers: http2.IncomingHttpHeaders = {};
            req.on("response", (h) => (headers = h));
            req.on("data", (d: Buffer) => parts.push(d));
            req.on("end", () =>
              resolve({
                i,
                ok:
                  Number(headers[":status"]) === 200 &&
                  headers["x-path"] === `/s/${i}` &&
                  headers["x-body-sha256"] === sha256(body) &&
                  Buffer.concat(parts).equals(body),
              }),
            );
            req.on("error", reject);
            req.end(body);
          });
        }),
      );
      expect(results.filter((r) => !r.ok)).to.deep.equal([]);
      expect(alpn).to.deep.equal(["h2"]);
    } finally {
      await new Promise<void>((resolve) => session.close(() => resolve()));
      inner.close();
    }
  });
});
