// The server: 'secureConnection' only after key confirmation, and every broken client reported in
// 'tlsClientError' with its code, while good clients go on being served.

import { expect } from "chai";
import * as net from "node:net";
import * as tls from "node:tls";
import { Initiator } from "../../lib/protocol/initiator.js";
import * as mlstls from "../../lib/index.js";
import {
  Cleanup,
  SERVED,
  delay,
  deterministicBytes,
  listen,
  secureConnect,
  selfSignedCert,
  until,
  waitFor,
} from "../helpers/sockets.js";

type ClientError = Error & { code?: string };

/**
 * A client that speaks MLS-TLS from the engine directly over TCP, sending only the first `sends` flights
 * (1: the ClientHello; its key confirmation is then withheld). `onServerHello` runs when the server answers.
 */
function partialClient(port: number, sends: number, onServerHello: (raw: net.Socket) => void): net.Socket {
  const raw = net.connect(port, "127.0.0.1");
  let sent = 0;
  let answered = false;
  const engine = new Initiator({}, {
    send: (b) => {
      if (sent++ < sends) raw.write(b);
    },
    event: () => {},
  });
  raw.on("connect", () => engine.start());
  raw.on("data", (d: Buffer) => {
    engine.receive(d);
    if (!answered) {
      answered = true;
      onServerHello(raw);
    }
  });
  raw.on("error", () => {});
  return raw;
}

describe("server", () => {
  const cleanup = new Cleanup();

  it("emits 'secureConnection' only after key confirmation", async () => {
    const server = cleanup.server(mlstls.createServer({ ...SERVED, handshakeTimeout: 300 }));
    const port = await listen(server);
    let secure = 0;
    server.on("secureConnection", () => secure++);
    const errP = waitFor<[ClientError, mlstls.MlsTlsSocket]>(server, "tlsClientError");
    let helloSeen = false;
    cleanup.stream(partialClient(port, 1, () => (helloSeen = true)));
    const [err, socket] = await errP;
    expect(helloSeen).to.equal(true);
    expect(secure).to.equal(0);
    expect(err.code).to.equal("ERR_TLS_HANDSHAKE_TIMEOUT");
    expect(err.message).to.equal("TLS handshake timeout");
    expect(socket).to.be.instanceOf(mlstls.MlsTlsSocket);
    cleanup.stream(await secureConnect({ port }));
    await until(() => secure === 1);
  });

  it("reports each broken client in 'tlsClientError' while serving a good one", async function () {
    this.timeout(60_000);
    const creds = selfSignedCert(cleanup.tmpdir());
    const server = cleanup.server(mlstls.createServer({ ...SERVED, handshakeTimeout: 1000 }, (s) => s.pipe(s)));
    const port = await listen(server);
    const reports: { code: string | undefined; message: string; socket: unknown; closed: Promise<boolean> }[] = [];
    server.on("tlsClientError", (err: ClientError, socket: mlstls.MlsTlsSocket) => {
      reports.push({ code: err.code, message: err.message, socket, closed: waitFor<[boolean]>(socket, "close").then(([h]) => h) });
    });
    // No socket may emit an unhandled 'error': that would crash this process and fail the run.

    // A good client streams through the echo for the whole test.
    const good = cleanup.stream(await secureConnect({ port }));
    const payload = deterministicBytes(7, 4 << 20);
    let echoed = 0;
    good.on("data", (d: Buffer) => (echoed += d.length));
    let streaming = true;
    const pump = (async () => {
      for (let off = 0; streaming; off = (off + 64 * 1024) % payload.length) {
        if (!good.write(payload.subarray(off, off + 64 * 1024))) await waitFor(good, "drain");
        await delay(1);
      }
    })();

    // 1. Plain text (an HTTP client on the wrong port).
    const http = cleanup.stream(net.connect(port, "127.0.0.1"));
    http.on("error", () => {});
    http.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    // 2. A TLS-shaped record with a handshake message type nobody defined.
    const bogus = cleanup.stream(net.connect(port, "127.0.0.1"));
    bogus.on("error", () => {});
    bogus.write(Buffer.from([0x16, 0x03, 0x03, 0x00, 0x05, 0xee, 0x00, 0x00, 0x01, 0x00]));
    // 3. A vanilla TLS client.
    const vanilla = cleanup.stream(tls.connect({ port, host: "127.0.0.1", rejectUnauthorized: false, ca: creds.cert }));
    const vanillaErr = waitFor<[ClientError]>(vanilla, "error");
    // 4. A client that stalls after its ClientHello.
    const stalled = cleanup.stream(partialClient(port, 1, () => {}));
    const stalledClosed = waitFor(stalled, "close");
    // 5. A client that disconnects mid-handshake, as soon as the ServerHello arrives.
    cleanup.stream(partialClient(port, 1, (raw) => raw.destroy()));

    await until(() => reports.length === 5, 20_000);
    await delay(100);
    const byCode = reports.map((r) => r.code).sort();
    expect(byCode).to.deep.equal([
      "ECONNRESET",
      "ERR_MLSTLS_UNEXPECTED_MESSAGE",
      "ERR_MLSTLS_VANILLA_TLS_PEER",
      "ERR_SSL_HTTP_REQUEST",
      "ERR_TLS_HANDSHAKE_TIMEOUT",
    ]);
    expect(reports.find((r) => r.code === "ECONNRESET")!.message).to.equal("socket hang up");
    // node's code and OpenSSL's text, then ours.
    expect(reports.find((r) => r.code === "ERR_SSL_HTTP_REQUEST")!.message).to.match(/^error:0A00009C:SSL routines::http request: .*plain text "GET \/"/);
    expect(reports.find((r) => r.code === "ERR_MLSTLS_VANILLA_TLS_PEER")!.message).to.match(/vanilla TLS/);
    // Every failed socket closed without an 'error' event of its own.
    for (const r of reports) expect(await r.closed).to.equal(false);
    // The vanilla client hears protocol_version; the stalled one is disconnected.
    expect((await vanillaErr)[0].code).to.equal("ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION");
    await stalledClosed;

    streaming = false;
    await pump;
    const before = echoed;
    await until(() => echoed > before || good.writableLength === 0);
    expect(echoed).to.be.above(1 << 20);
    expect(good.destroyed).to.equal(false);
    const closed = waitFor<[boolean]>(good, "close");
    good.end();
    expect((await closed)[0]).to.equal(false);
  });

  it("defaults handshakeTimeout to node's 120000 ms and validates it", () => {
    expect(cleanup.server(mlstls.createServer()).handshakeTimeout).to.equal(120_000);
    expect(cleanup.server(mlstls.createServer({ handshakeTimeout: 0 })).handshakeTimeout).to.equal(120_000);
    expect(cleanup.server(mlstls.createServer({ handshakeTimeout: 5 })).handshakeTimeout).to.equal(5);
    expect(() => mlstls.createServer({ handshakeTimeout: "5" as unknown as number })).to.throw(TypeError);
    expect(() => mlstls.createServer({ ALPNProtocols: ["a"], ALPNCallback: () => "a" })).to.throw(TypeError);
  });

  it("is a net.Server: 'connection' sees the raw TCP socket, the listener gets MlsTlsSockets", async () => {
    const seen: string[] = [];
    const server = cleanup.server(
      new mlstls.Server(SERVED, (s) => {
        seen.push(s instanceof mlstls.MlsTlsSocket ? "secure" : "?");
        s.end();
      }),
    );
    server.on("connection", (raw: unknown) => seen.push(raw instanceof net.Socket ? "raw" : "?"));
    expect(server).to.be.instanceOf(net.Server);
    const port = await listen(server);
    const c = cleanup.stream(await secureConnect({ port }));
    c.resume();
    await waitFor(c, "close");
    expect(seen).to.deep.equal(["raw", "secure"]);
  });

  it("serves a socket handed over with emit('connection')", async () => {
    const server = cleanup.server(mlstls.createServer(SERVED, (s) => s.end("via emit")));
    const front = cleanup.server(net.createServer((raw) => server.emit("connection", raw)));
    const port = await listen(front);
    const c = cleanup.stream(await secureConnect({ port }));
    const [d] = await waitFor<[Buffer]>(c, "data");
    expect(d.toString()).to.equal("via emit");
  });

  it("closes server.close() cleanly once its clients have gone", async () => {
    const server = mlstls.createServer(SERVED, (s) => s.pipe(s));
    const port = await listen(server);
    const c = await secureConnect({ port });
    c.write("x");
    await waitFor(c, "data");
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    c.end();
    c.resume();
    await closed;
  });
});
