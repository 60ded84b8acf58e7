// node's https, http2, fetch and WebSocket code over MLS-TLS, switched by the import. After `npm run build`:
//   node dist/examples/https-over-mlstls.js
// In an application: `import * as https from "mlstls/https"` (was "node:https"), `import * as http2 from
// "mlstls/http2"` (was "node:http2"). The servers are node's own https.Server and Http2SecureServer, so an
// express or fastify app, headersTimeout and closeIdleConnections work as usual. Clients verify the server as
// https does: here by a pinned identity (with X.509 certificates, pass `ca` instead; see examples/x509-client).
// The fetch part needs the `undici` package (Node's global fetch takes its dispatcher).

import type * as http from "node:http";
import * as mlstls from "../lib/index.js";
import * as https from "../lib/node/https.js";
import * as http2 from "../lib/node/http2.js";

const identity = mlstls.createIdentity({ name: "https example" });
const pin = { fingerprints: [identity.fingerprint] };

// An express app is a handler of this shape: https.createServer({ identity }, app) serves it unchanged.
function app(req: http.IncomingMessage, res: http.ServerResponse): void {
  const socket = req.socket as unknown as mlstls.MlsTlsSocket;
  res.setHeader("content-type", "text/plain");
  res.end(`${req.method} ${req.url} served over ${socket.getCipher()?.name}, MLS epoch ${socket.epoch}\n`);
}

async function main(): Promise<void> {
  const server = https.createServer({ identity, headersTimeout: 10_000 }, app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };

  // https.get / https.request, with the TLS options per request (or on an https.Agent).
  const body = await new Promise<string>((resolve, reject) => {
    https
      .get({ host: "127.0.0.1", port, path: "/hello", ...pin }, (res) => {
        let s = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (s += d));
        res.on("end", () => resolve(s));
      })
      .on("error", reject);
  });
  console.log(`https.get: ${body.trim()}`);

  // fetch through undici's Agent with a `connect` function (optional dependency of this example).
  try {
    const undici = await import("undici");
    const dispatcher = new undici.Agent({
      connect: (opts, cb) => {
        const socket = mlstls.connect({ host: opts.hostname, port: Number(opts.port), ...pin });
        socket.once("error", (err) => cb(err, null));
        socket.once("secureConnect", () => cb(null, socket as never));
      },
    });
    const res = await fetch(`https://127.0.0.1:${port}/fetched`, { dispatcher } as RequestInit);
    console.log(`fetch: ${(await res.text()).trim()}`);
    await dispatcher.close();
  } catch (e) {
    if ((e as { code?: string }).code !== "ERR_MODULE_NOT_FOUND") throw e;
    console.log("fetch: skipped (npm install undici to run it)");
  }
  https.globalAgent.destroy();
  server.close();

  // HTTP/2: node's Http2SecureServer and http2.connect.
  const h2 = http2.createSecureServer({ identity }, (req, res) => res.end(`h2 ${req.method} ${req.url}\n`));
  await new Promise<void>((resolve) => h2.listen(0, "127.0.0.1", resolve));
  const session = http2.connect(`https://127.0.0.1:${(h2.address() as { port: number }).port}`, pin);
  const stream = session.request({ ":path": "/two" });
  let h2body = "";
  stream.setEncoding("utf8");
  stream.on("data", (d: string) => (h2body += d));
  stream.on("end", () => {
    console.log(`http2: ${h2body.trim()}`);
    session.close();
    h2.close();
  });
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
