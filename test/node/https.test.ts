// mlstls/https and mlstls/http2: node's own http/https/http2 machinery over MLS-TLS, switched by the import only.
// A plain node request handler stands in for an express app (express is a request handler of this shape); the
// clients are mlstls/https's request/get/Agent, undici (its Agent with a `connect` function, and Node's global
// fetch with that dispatcher), ws, and mlstls/http2's connect.

import { expect } from "chai";
import { once } from "node:events";
import * as nodeHttp2 from "node:http2";
import type * as http from "node:http";
import * as nodeHttps from "node:https";
import type * as net from "node:net";
import * as nodeTls from "node:tls";
import { Agent as UndiciAgent, request as undiciRequest } from "undici";
import { WebSocket, WebSocketServer } from "ws";
import * as mlstls from "../../lib/index.js";
import * as https from "../../lib/node/https.js";
import * as http2 from "../../lib/node/http2.js";
import { Cleanup } from "../helpers/sockets.js";

/** The handler an express app would be: node's (req, res). */
function app(req: http.IncomingMessage, res: http.ServerResponse): void {
  const socket = req.socket as unknown as mlstls.MlsTlsSocket;
  let body = "";
  req.setEncoding("utf8");
  req.on("data", (d: string) => (body += d));
  req.on("end", () => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ method: req.method, url: req.url, body, suite: socket.getCipher()?.name, alpn: socket.alpnProtocol }));
  });
}

function portOf(server: net.Server): number {
  return (server.address() as net.AddressInfo).port;
}

async function listen(server: net.Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return portOf(server);
}

function bodyOf(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = "";
    res.setEncoding("utf8");
    res.on("data", (d: string) => (s += d));
    res.on("end", () => resolve(s));
    res.on("error", reject);
  });
}

describe("mlstls/https and mlstls/http2", () => {
  const cleanup = new Cleanup();
  const identity = mlstls.createIdentity({ name: "https test" });
  const pin = { fingerprints: [identity.fingerprint] };

  it("https.createServer returns node's own https.Server, which listens itself; request/get/Agent reach it", async () => {
    const server = cleanup.server(https.createServer({ identity }, app));
    expect(server).to.be.instanceOf(nodeHttps.Server);
    expect(server).to.be.instanceOf(nodeTls.Server);
    const port = await listen(server);

    // The global agent, TLS options per request, as with node's https.
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      https.get({ host: "127.0.0.1", port, path: "/hello", ...pin }, resolve).on("error", reject);
    });
    expect(res.statusCode).to.equal(200);
    const got = JSON.parse(await bodyOf(res));
    // As node's https client, no ALPN unless asked for.
    expect(got).to.include({ method: "GET", url: "/hello", alpn: false });
    expect(got.suite).to.match(/^MLS_/);

    // An Agent with the TLS options, and a URL string with a body.
    const agent = new https.Agent({ keepAlive: true, ...pin });
    const req = https.request(`https://127.0.0.1:${port}/post`, { method: "POST", agent });
    req.end("payload");
    const [res2] = (await once(req, "response")) as [http.IncomingMessage];
    expect(JSON.parse(await bodyOf(res2))).to.include({ method: "POST", body: "payload" });
    agent.destroy();
    https.globalAgent.destroy();
  });

  it("headersTimeout cuts a client that never finishes its headers (slowloris), with no hidden 'listening'", async () => {
    const server = cleanup.server(https.createServer({ identity, headersTimeout: 300, requestTimeout: 400, connectionsCheckingInterval: 50 }, app));
    const port = await listen(server);
    const c = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", ...pin }));
    await once(c, "secureConnect");
    c.write("GET / HTTP/1.1\r\nHost: x\r\n");
    let reply = "";
    c.on("data", (d: Buffer) => (reply += d.toString()));
    c.on("error", () => {});
    await once(c, "close");
    expect(reply).to.match(/^HTTP\/1\.1 408 /);
  });

  it("closeIdleConnections() and close() end kept-alive connections", async () => {
    const server = cleanup.server(https.createServer({ identity }, app));
    const port = await listen(server);
    const agent = new https.Agent({ keepAlive: true, ...pin });
    const req = https.get({ host: "127.0.0.1", port, path: "/", agent, ALPNProtocols: ["http/1.1"] });
    const [socket] = (await once(req, "socket")) as [mlstls.MlsTlsSocket];
    const [res] = (await once(req, "response")) as [http.IncomingMessage];
    expect(JSON.parse(await bodyOf(res))).to.include({ alpn: "http/1.1" });
    await new Promise((r) => setImmediate(r));
    expect(socket.destroyed).to.equal(false);
    const closedP = once(socket, "close");
    const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await closedP;
    await serverClosed;
    agent.destroy();
  });

  it("an undici Agent with a `connect` function: undici.request and Node's global fetch", async () => {
    const server = cleanup.server(https.createServer({ identity }, app));
    const port = await listen(server);
    const dispatcher = new UndiciAgent({
      connect: (opts, cb) => {
        const socket = mlstls.connect({
          host: opts.hostname,
          port: Number(opts.port),
          servername: opts.servername ?? undefined,
          ALPNProtocols: ["http/1.1"],
          ...pin,
        });
        const onError = (err: Error): void => cb(err, null);
        socket.once("error", onError);
        socket.once("secureConnect", () => {
          socket.removeListener("error", onError);
          cb(null, socket as unknown as net.Socket);
        });
      },
    });
    try {
      const r = await undiciRequest(`https://127.0.0.1:${port}/undici`, { dispatcher });
      expect(JSON.parse(await r.body.text())).to.include({ url: "/undici" });
      const f = await fetch(`https://127.0.0.1:${port}/fetch`, { method: "POST", body: "from fetch", dispatcher } as RequestInit);
      expect(await f.json()).to.include({ url: "/fetch", body: "from fetch" });
    } finally {
      await dispatcher.close();
    }
  });

  it("a ws WebSocketServer on an mlstls/https server, and a ws client through mlstls/https's Agent", async () => {
    const server = cleanup.server(https.createServer({ identity }, app));
    const wss = new WebSocketServer({ server });
    wss.on("connection", (ws) => ws.on("message", (m) => ws.send(`echo:${String(m)}`)));
    const port = await listen(server);
    const agent = new https.Agent(pin);
    const ws = new WebSocket(`wss://127.0.0.1:${port}/`, { agent });
    await once(ws, "open");
    ws.send("hi");
    const [msg] = (await once(ws, "message")) as [Buffer];
    expect(String(msg)).to.equal("echo:hi");
    ws.close();
    await once(ws, "close");
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    agent.destroy();
  });

  it("http2.createSecureServer returns node's Http2SecureServer; http2.connect reaches it", async () => {
    const server = cleanup.server(
      http2.createSecureServer({ identity }, (req, res) => {
        res.setHeader("content-type", "text/plain");
        res.end(`h2 ${req.method} ${req.url}`);
      }),
    );
    expect(server).to.be.instanceOf(nodeTls.Server);
    const port = await listen(server);
    const session = http2.connect(`https://127.0.0.1:${port}`, pin);
    session.on("error", () => {});
    const stream = session.request({ ":path": "/two" });
    const [headers] = (await once(stream, "response")) as [nodeHttp2.IncomingHttpHeaders];
    expect(headers[":status"]).to.equal(200);
    let body = "";
    stream.setEncoding("utf8");
    stream.on("data", (d: string) => (body += d));
    await once(stream, "end");
    expect(body).to.equal("h2 GET /two");
    session.close();
    await once(session, "close");
  });

  it("throws node's errors for bad options", () => {
    expect(() => https.createServer("nope" as never)).to.throw(TypeError).with.property("code", "ERR_INVALID_ARG_TYPE");
    expect(() => http2.createSecureServer({ identity, ALPNCallback: () => "h2", ALPNProtocols: ["h2"] }))
      .to.throw(TypeError)
      .with.property("code", "ERR_TLS_ALPN_CALLBACK_WITH_PROTOCOLS");
  });
});
