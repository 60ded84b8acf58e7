// Socket details that node's own tests check, next to node:tls. From these files of Node.js v20.11.1
// (test/parallel/; MIT license, Node.js contributors): test-tls-onread-static-buffer, test-tls-streamwrap-buffersize,
// test-tls-socket-allow-half-open-option, test-tls-socket-close, test-tls-client-renegotiation-13,
// test-tls-delayed-attach-error, test-tls-client-verify, test-tls-zero-clear-in; setKeyCert() as node's
// documentation describes it (Node 20.17+). The code is ours; each scenario runs with node:tls and with mlstls.

import { expect } from "chai";
import * as net from "node:net";
import { Duplex } from "node:stream";
import { setImmediate as immediate } from "node:timers/promises";
import { Cleanup } from "../helpers/sockets.js";
import { IMPLS, agent, closed, listenLocal, next, type AnySocket, type CodedError } from "./helpers.js";

const MESSAGE = Buffer.from("hello world");

describe("node-compat: socket details", () => {
  const cleanup = new Cleanup();

  describe("test-tls-onread-static-buffer", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: a buffer function is asked once per read, and once more for the read that finds EOF`, async () => {
        const server = cleanup.server(impl.createServer(agent("agent2"), (s) => s.end(MESSAGE)));
        const port = await listenLocal(server);
        const pool = [Buffer.alloc(2), Buffer.alloc(2), Buffer.alloc(2)];
        let asked = 0;
        const got: Buffer[] = [];
        const c = cleanup.stream(
          impl.connect({
            port,
            host: "127.0.0.1",
            rejectUnauthorized: false,
            onread: {
              buffer: () => pool[asked++ % pool.length],
              callback: (n: number, buf: Buffer) => void got.push(Buffer.from(buf.subarray(0, n))),
            },
          }),
        );
        c.on("data", () => expect.fail("no 'data' with onread"));
        await next(c, "end");
        expect(Buffer.concat(got).equals(MESSAGE)).to.equal(true);
        // 11 bytes in 2-byte buffers: 6 reads with data, 1 at EOF.
        expect(asked).to.equal(7);
      });

      it(`${impl.name}: a callback returning false stops reading until resume()`, async () => {
        const large = Buffer.alloc(64 * 1024, "hello world");
        const server = cleanup.server(impl.createServer(agent("agent2"), (s) => s.end(large)));
        const port = await listenLocal(server);
        let received = 0;
        let paused = false;
        let whilePaused = 0;
        const c: AnySocket = cleanup.stream(
          impl.connect({
            port,
            host: "127.0.0.1",
            rejectUnauthorized: false,
            onread: {
              buffer: Buffer.alloc(64),
              callback: (n: number) => {
                if (paused) whilePaused += n;
                received += n;
                if (received === n) {
                  paused = true;
                  setTimeout(() => {
                    paused = false;
                    c.resume();
                  }, 100);
                  return false;
                }
                return true;
              },
            },
          }),
        );
        await next(c, "end");
        expect(received).to.equal(large.length);
        // What was already decrypted may still be handed over; reading from the transport stopped.
        expect(whilePaused).to.be.below(large.length - 64);
      });
    }
  });

  describe("test-tls-streamwrap-buffersize: bufferSize once closed", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: undefined`, async () => {
        const server = cleanup.server(impl.createServer(agent("agent2"), (s) => s.resume().on("end", () => s.end())));
        const port = await listenLocal(server);
        const c = cleanup.stream(impl.connect({ port, host: "127.0.0.1", rejectUnauthorized: false }));
        await next(c, "secureConnect");
        c.write("a");
        c.resume();
        c.end();
        await closed(c);
        expect((c as unknown as { bufferSize: unknown }).bufferSize).to.equal(undefined);
      });
    }
  });

  describe("test-tls-socket-allow-half-open-option: over a caller's Duplex", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: the option is ignored, and a stream that cannot write does not crash the process`, async () => {
        const duplex = new Duplex({ allowHalfOpen: false, read() {} });
        const s = new impl.TLSSocket(duplex, { allowHalfOpen: true });
        expect(s.allowHalfOpen).to.equal(false);
        expect(new impl.TLSSocket(undefined, { allowHalfOpen: true }).allowHalfOpen).to.equal(true);
        // The handshake's first write fails in the Duplex (no _write); give it the time to.
        await immediate();
        await immediate();
        s.destroy();
      });
    }
  });

  describe("test-tls-socket-close: the server's TCP socket destroyed under it", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: the TLS socket is destroyed in the same 'close' event, not before`, async () => {
        let tlsSide: AnySocket | undefined;
        const tlsServer = impl.createServer(agent("agent2"), (s) => {
          tlsSide = s;
          s.on("error", () => {});
        });
        const seen: boolean[] = [];
        let tcp: net.Socket | undefined;
        const netServer = cleanup.server(
          net.createServer((socket) => {
            tcp = socket;
            tlsServer.emit("connection", socket);
            socket.on("close", () => seen.push(tlsSide!.destroyed));
          }),
        );
        const port = await listenLocal(netServer);
        const c = cleanup.stream(impl.connect({ port, host: "127.0.0.1", rejectUnauthorized: false }));
        c.on("error", () => {});
        await new Promise<void>((resolve) => c.write("foo", () => resolve()));
        const until = Date.now() + 5000;
        while (tlsSide === undefined && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
        tcp!.destroy();
        await immediate();
        // Close callbacks run after setImmediate callbacks: nothing yet.
        expect(tlsSide!.destroyed).to.equal(false);
        await closed(tcp!);
        expect(seen).to.deep.equal([true]);
      });
    }
  });

  describe("test-tls-client-renegotiation-13", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: renegotiate() is false and calls back with OpenSSL's "wrong ssl version"`, async () => {
        const server = cleanup.server(impl.createServer(agent("agent2"), (s) => s.resume()));
        const port = await listenLocal(server);
        const c = cleanup.stream(impl.connect({ port, host: "127.0.0.1", rejectUnauthorized: false }));
        await next(c, "secureConnect");
        const err = await new Promise<CodedError & { library?: string; reason?: string }>((resolve) => {
          expect(c.renegotiate({}, (e) => resolve(e as CodedError))).to.equal(false);
        });
        expect(err).to.include({
          message: "error:0A00010A:SSL routines::wrong ssl version",
          code: "ERR_SSL_WRONG_SSL_VERSION",
          library: "SSL routines",
          reason: "wrong ssl version",
        });
      });
    }
  });

  describe("test-tls-delayed-attach-error: a hand-made server TLSSocket with no 'error' listener", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: the failure is '_tlsError', and nothing is thrown`, async () => {
        const failures: Error[] = [];
        const netServer = cleanup.server(
          net.createServer((c) => {
            setTimeout(() => {
              const s = new impl.TLSSocket(c, { isServer: true, secureContext: impl.createSecureContext(agent("agent1")) });
              s.on("_tlsError", (e: Error) => failures.push(e));
            }, 100);
          }),
        );
        const port = await listenLocal(netServer);
        const raw = cleanup.stream(net.connect(port, "127.0.0.1"));
        raw.on("error", () => {});
        raw.write(Buffer.alloc(1024, 42));
        await closed(raw);
        expect(failures).to.have.length(1);
      });
    }
  });

  describe("setKeyCert() from the server's ALPNCallback", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: the certificate follows the protocol the callback sees`, async function () {
        if (typeof (impl.TLSSocket.prototype as { setKeyCert?: unknown }).setKeyCert !== "function") this.skip();
        const other = impl.createSecureContext(agent("agent3"));
        const server = cleanup.server(
          impl.createServer({
            ...agent("agent1"),
            ALPNCallback(this: AnySocket, info: { protocols: string[] }) {
              if (info.protocols.includes("b")) (this as unknown as { setKeyCert(c: unknown): void }).setKeyCert(other);
              return info.protocols[0];
            },
          }),
        );
        const port = await listenLocal(server);
        const names: string[] = [];
        for (const p of ["a", "b"]) {
          const c = cleanup.stream(impl.connect({ port, host: "127.0.0.1", rejectUnauthorized: false, ALPNProtocols: [p] }));
          await next(c, "secureConnect");
          names.push(`${c.alpnProtocol}:${c.getPeerCertificate().subject.CN}`);
          c.end();
        }
        expect(names).to.deep.equal(["a:agent1", "b:agent3"]);
      });
    }
  });

  describe("test-tls-client-verify, test-tls-zero-clear-in: the client has the server's own key and certificate", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: connects, and each end sees that certificate`, async () => {
        const server = cleanup.server(impl.createServer({ ...agent("agent2"), requestCert: true, rejectUnauthorized: false }, (s) => s.end("x")));
        const served = next<[AnySocket]>(server, "secureConnection");
        const port = await listenLocal(server);
        const c = cleanup.stream(impl.connect({ ...agent("agent2"), port, host: "127.0.0.1", rejectUnauthorized: false }));
        await next(c, "secureConnect");
        const [s] = await served;
        expect(c.getPeerCertificate().subject.CN).to.equal("agent2");
        expect(s.getPeerCertificate().subject.CN).to.equal("agent2");
        c.resume();
        await closed(c);
      });
    }
  });
});

