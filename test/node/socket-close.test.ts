// Closing: half-close compared event by event with node:tls, truncation, destroy() with and without an error.

import { expect } from "chai";
import { once } from "node:events";
import type * as net from "node:net";
import { connect as netConnect, createServer as netCreateServer } from "node:net";
import * as tls from "node:tls";
import * as mlstls from "../../lib/index.js";
import {
  Cleanup,
  SERVED,
  TRUSTED,
  connectedPair,
  delay,
  listen,
  secureConnect,
  selfSignedCert,
  until,
  waitFor,
} from "../helpers/sockets.js";
import { alertCode } from "../helpers/node-alerts.js";

type AnySocket = tls.TLSSocket | mlstls.MlsTlsSocket;

interface Kit {
  createServer(opts: { allowHalfOpen: boolean }, listener: (s: AnySocket) => void): net.Server;
  connect(port: number, opts: { allowHalfOpen: boolean }, cb: () => void): AnySocket;
}

/**
 * The client writes "ping" and ends; the server answers "pong" and ends once it saw the end (half-open), or
 * is ended by the stream itself (allowHalfOpen: false). Returns each side's events in order.
 */
async function closeScenario(kit: Kit, cleanup: Cleanup, allowHalfOpen: boolean): Promise<{ client: string[]; server: string[] }> {
  const client: string[] = [];
  const server: string[] = [];
  const record = (log: string[], s: AnySocket): void => {
    for (const e of ["end", "finish", "error"]) s.on(e, () => log.push(e));
    s.on("close", (hadError: boolean) => log.push(`close(${hadError})`));
    s.on("data", (d: Buffer) => log.push(`data:${d.toString()}`));
  };
  const srv = cleanup.server(
    kit.createServer({ allowHalfOpen }, (s) => {
      record(server, s);
      if (allowHalfOpen) s.on("end", () => s.end("pong"));
    }),
  );
  const port = await listen(srv);
  const serverClosed = new Promise<void>((resolve) => srv.once("connection", (raw: net.Socket) => raw.on("close", () => resolve())));
  await new Promise<void>((resolve) => {
    const c = cleanup.stream(kit.connect(port, { allowHalfOpen }, () => c.end("ping")));
    record(client, c);
    c.on("close", () => resolve());
  });
  await serverClosed;
  await until(() => server.some((e) => e.startsWith("close")));
  return { client, server };
}

describe("socket: closing", () => {
  const cleanup = new Cleanup();

  /** A connected client and server socket, plus the server's raw TCP socket, to misbehave below the TLS layer. */
  async function connectedWithRaw(): Promise<{ client: mlstls.MlsTlsSocket; peer: mlstls.MlsTlsSocket; raw: net.Socket }> {
    const server = cleanup.server(mlstls.createServer(SERVED));
    const port = await listen(server);
    const rawP = waitFor<[net.Socket]>(server, "connection");
    const peerP = waitFor<[mlstls.MlsTlsSocket]>(server, "secureConnection");
    const client = cleanup.stream(await secureConnect({ port }));
    const [raw] = await rawP;
    const [peer] = await peerP;
    return { client, peer, raw };
  }
  let creds: { key: Buffer; cert: Buffer };
  before(function () {
    this.timeout(30_000);
    creds = selfSignedCert(cleanup.tmpdir());
  });

  const nodeKit = (): Kit => ({
    createServer: (opts, l) => tls.createServer({ ...creds, ...opts }, l),
    connect: (port, opts, cb) => tls.connect({ port, host: "127.0.0.1", rejectUnauthorized: false, ...opts }, cb),
  });
  const mlsKit: Kit = {
    createServer: (opts, l) => mlstls.createServer({ ...SERVED, ...opts }, l),
    connect: (port, opts, cb) => mlstls.connect({ port, host: "127.0.0.1", ...TRUSTED, ...opts }, cb),
  };

  for (const allowHalfOpen of [true, false]) {
    it(`orders end/finish/close like node:tls (allowHalfOpen: ${allowHalfOpen} on both sides)`, async () => {
      const node = await closeScenario(nodeKit(), cleanup, allowHalfOpen);
      const mls = await closeScenario(mlsKit, cleanup, allowHalfOpen);
      expect(mls).to.deep.equal(node);
      if (allowHalfOpen) {
        expect(mls.client).to.deep.equal(["finish", "data:pong", "end", "close(false)"]);
        expect(mls.server).to.deep.equal(["data:ping", "end", "finish", "close(false)"]);
      }
    });
  }

  it("keeps writing after the peer's close_notify when half-open", async () => {
    const { client, peer } = await connectedPair(cleanup, { allowHalfOpen: true }, { allowHalfOpen: true });
    client.end();
    // Nothing was buffered, so 'end' comes without a reader, as with net.
    await waitFor(peer, "end");
    expect(peer.writable).to.equal(true);
    let got = "";
    client.on("data", (d: Buffer) => (got += d.toString()));
    for (let i = 0; i < 5; i++) peer.write(`${i}`);
    peer.end();
    await waitFor(client, "end");
    expect(got).to.equal("01234");
  });

  it("a TCP FIN without close_notify is node:tls's clean 'end' then 'close', after the data, with `truncated` set", async () => {
    const { client, peer, raw } = await connectedWithRaw();
    const seen: string[] = [];
    client.on("data", (d: Buffer) => seen.push(`data:${d.toString()}`));
    client.on("end", () => seen.push("end"));
    client.on("error", (e: Error) => seen.push(`error:${(e as mlstls.MlsTlsError).code}`));
    const closeP = waitFor<[boolean]>(client, "close");
    expect(client.truncated).to.equal(false);
    // The server's TCP sends FIN right behind the data, without the close_notify a proper end() sends.
    peer.write("last words", () => raw.end());
    expect((await closeP)[0]).to.equal(false);
    expect(seen).to.deep.equal(["data:last words", "end"]);
    expect(client.truncated).to.equal(true);
    peer.on("error", () => {});
  });

  it("a FIN in the middle of a record is the same clean end: nothing of the partial record is delivered", async () => {
    const { client, raw } = await connectedWithRaw();
    const seen: string[] = [];
    client.on("data", (d: Buffer) => seen.push(`data:${d.toString()}`));
    client.on("end", () => seen.push("end"));
    client.on("error", (e: Error) => seen.push(`error:${(e as mlstls.MlsTlsError).code}`));
    const closeP = waitFor<[boolean]>(client, "close");
    // The first 10 bytes of a protected record (its header and a few ciphertext bytes), then FIN, as node:tls
    // treats it (OpenSSL's unexpected EOF is ignored): 'end', and `truncated` tells whoever cares.
    raw.end(Buffer.from([23, 3, 3, 0, 40, 1, 2, 3, 4, 5]));
    expect((await closeP)[0]).to.equal(false);
    expect(seen).to.deep.equal(["end"]);
    expect(client.truncated).to.equal(true);
  });

  it("a fatal protocol error after the handshake reaches the peer as an alert before the connection closes", async () => {
    const { client, peer, raw } = await connectedWithRaw();
    const clientErr = waitFor<[mlstls.MlsTlsError]>(client, "error");
    const peerErr = waitFor<[mlstls.MlsTlsError]>(peer, "error");
    const peerClosed = waitFor<[boolean]>(peer, "close");
    // A forged application-data record straight onto the server's TCP: it cannot authenticate.
    raw.write(Buffer.concat([Buffer.from([0x17, 0x03, 0x03, 0x00, 0x20]), Buffer.alloc(32, 0xab)]));
    const [err] = await clientErr;
    expect(err.code).to.equal("ERR_MLSTLS_BAD_RECORD_MAC");
    expect(err.remote).to.equal(false);
    const [alert] = await peerErr;
    expect(alert.code).to.equal(alertCode(20));
    expect(alert.alert).to.equal(20);
    expect(alert.remote).to.equal(true);
    expect((await peerClosed)[0]).to.equal(true);
  });

  it("destroy(err) mid-transfer: one 'error', 'close'(true), every pending write callback fails", async () => {
    const { client, peer } = await connectedPair(cleanup);
    // The reader does not read yet, so writes pile up behind the full TCP buffers.
    const chunk = Buffer.alloc(256 * 1024, 1);
    const results: (Error | null | undefined)[] = [];
    const n = 64;
    for (let i = 0; i < n; i++) client.write(chunk, (e) => results.push(e));
    await delay(200);
    const pending = n - results.length;
    expect(pending).to.be.above(0);
    const errors: Error[] = [];
    client.on("error", (e) => errors.push(e));
    const closeP = waitFor<[boolean]>(client, "close");
    const boom = new Error("boom");
    client.destroy(boom);
    expect((await closeP)[0]).to.equal(true);
    await delay(20);
    expect(errors).to.deep.equal([boom]);
    expect(results.length).to.equal(n);
    const failed = results.filter((e) => e != null);
    expect(failed.length).to.equal(pending);
    expect(failed[0]).to.equal(boom);
    // The peer sees the abort once it reads on: the data that made it, then an end without close_notify.
    const peerClosed = waitFor<[boolean]>(peer, "close");
    peer.resume();
    await peerClosed;
    expect(peer.truncated).to.equal(true);
  });

  it("destroy() without an error says goodbye with close_notify: the peer sees a clean end", async () => {
    const { client, peer } = await connectedPair(cleanup);
    const seen: string[] = [];
    peer.on("data", (d: Buffer) => seen.push(`data:${d.toString()}`));
    peer.on("end", () => seen.push("end"));
    peer.on("error", (e: Error) => seen.push(`error:${(e as mlstls.MlsTlsError).code}`));
    peer.on("close", (h: boolean) => seen.push(`close(${h})`));
    client.write("bye");
    client.destroy();
    expect((await waitFor<[boolean]>(client, "close"))[0]).to.equal(false);
    await until(() => seen.includes("close(false)"));
    expect(seen).to.deep.equal(["data:bye", "end", "close(false)"]);
  });

  it("end() before the handshake waits for it, then flushes and closes", async () => {
    const server = cleanup.server(mlstls.createServer(SERVED));
    const port = await listen(server);
    const got = new Promise<string>((resolve) =>
      server.on("secureConnection", (s: mlstls.MlsTlsSocket) => {
        let text = "";
        s.on("data", (d: Buffer) => (text += d.toString()));
        s.on("end", () => resolve(text));
      }),
    );
    const c = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", ...TRUSTED }));
    const finished = once(c, "finish");
    c.end("early");
    expect(await got).to.equal("early");
    await finished;
  });

  it("destroySoon() ends, then destroys once finished", async () => {
    const { client, peer } = await connectedPair(cleanup);
    peer.resume();
    client.write("x");
    client.destroySoon();
    expect((await waitFor<[boolean]>(client, "close"))[0]).to.equal(false);
    expect(client.writableFinished).to.equal(true);
  });

  it("ignores bytes that arrive after destroy()", async () => {
    const { client, peer } = await connectedPair(cleanup);
    const got: Buffer[] = [];
    client.on("data", (d: Buffer) => got.push(d));
    peer.on("error", () => {});
    for (let i = 0; i < 50; i++) peer.write(Buffer.alloc(16 * 1024, i));
    client.destroy();
    const before = got.length;
    await delay(100);
    expect(got.length).to.equal(before);
    expect(client.bytesRead).to.equal(got.reduce((a, b) => a + b.length, 0));
  });
});

/** A plaintext close_notify alert record (RFC 8446 §5.1, §6): what a peer without keys can send. */
const PLAIN_CLOSE_NOTIFY = Buffer.from([21, 3, 3, 0, 2, 1, 0]);

describe("socket: a close before the handshake completes is a failed handshake", () => {
  const cleanup = new Cleanup();

  it("server: a plaintext close_notify with the TCP connection held open is ECONNRESET, and the socket is destroyed at once", async () => {
    const server = cleanup.server(mlstls.createServer({ ...SERVED, handshakeTimeout: 60_000 }));
    const port = await listen(server);
    const tlsErr = waitFor<[Error & { code?: string }, mlstls.MlsTlsSocket]>(server, "tlsClientError");
    const raw = cleanup.stream(netConnect(port, "127.0.0.1"));
    raw.on("error", () => {});
    await once(raw, "connect");
    raw.write(PLAIN_CLOSE_NOTIFY); // and no FIN: the attacker keeps its end open
    const [err] = await tlsErr;
    expect(err.code).to.equal("ECONNRESET");
    // The server hung up on us long before its 60 s handshake timeout.
    await waitFor(raw, "close", 5_000);
  });

  it("server: node:tls, run alongside, also reports it as a tlsClientError", async () => {
    const creds = selfSignedCert(cleanup.tmpdir());
    const server = cleanup.server(tls.createServer({ ...creds, handshakeTimeout: 60_000 }));
    const port = await listen(server);
    const tlsErr = waitFor<[Error & { code?: string }]>(server, "tlsClientError");
    const raw = cleanup.stream(netConnect(port, "127.0.0.1"));
    raw.on("error", () => {});
    await once(raw, "connect");
    raw.write(PLAIN_CLOSE_NOTIFY);
    // node names it after OpenSSL's view (ERR_SSL_UNEXPECTED_MESSAGE) and leaves the socket open until
    // handshakeTimeout; mlstls reports ECONNRESET and closes at once (PROTOCOL.md, "Closing").
    const [err] = await tlsErr;
    expect(err.code).to.equal("ERR_SSL_UNEXPECTED_MESSAGE");
  });

  it("client: a server that answers the ClientHello with close_notify and FIN gives 'error' ECONNRESET, then 'close'", async () => {
    const server = cleanup.server(
      netCreateServer((s) => {
        s.on("error", () => {});
        s.once("data", () => s.end(PLAIN_CLOSE_NOTIFY));
      }),
    );
    const port = await listen(server);
    const client = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", ...TRUSTED }));
    const events: string[] = [];
    client.on("end", () => events.push("end"));
    const closed = waitFor<[boolean]>(client, "close", 5_000);
    const [err] = await waitFor<[Error & { code?: string; host?: string; port?: number }]>(client, "error", 5_000);
    expect(err.code).to.equal("ECONNRESET");
    expect(err.message).to.equal("Client network socket disconnected before secure TLS connection was established");
    expect(err.port).to.equal(port);
    expect(await closed).to.deep.equal([true]);
    expect(events).to.deep.equal([]);
  });
});
