// Connecting and failing to connect, as node's own tls tests check it. The behaviours below come from these files
// of Node.js v20.11.1 (test/parallel/ unless noted; MIT license, Node.js contributors): test-tls-client-abort,
// test-tls-client-abort2, test-tls-close-error, test-tls-connect-hints-option, test-tls-connect-timeout-option,
// test-tls-destroy-whilst-write, test-tls-econnreset, test-tls-wrap-econnreset, test-tls-wrap-econnreset-pipe,
// test-tls-timeout-server, test-tls-timeout-server-2, test-tls-tlswrap-segfault-2, sequential/test-tls-lookup,
// test-tls-connect-allow-half-open-option, test-tls-connect-hwm-option, test-tls-connect-no-host.
// The code is ours; each scenario runs with node:tls and with mlstls and expects the same outcome.

import { expect } from "chai";
import { once } from "node:events";
import * as net from "node:net";
import { join } from "node:path";
import { Duplex } from "node:stream";
import { Cleanup } from "../helpers/sockets.js";
import { IMPLS, agent, closed, listenLocal, loopbackLookup, next, nodeFixture, type AnySocket, type CodedError } from "./helpers.js";

describe("node-compat: connecting", () => {
  const cleanup = new Cleanup();

  describe("test-tls-client-abort", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: destroy() right after connect() with a client certificate: no 'secureConnect', a 'close'`, async () => {
        const c = impl.connect({ ...impl.client, ...agent("agent1"), port: 0, host: "127.0.0.1" });
        c.on("secureConnect", () => expect.fail("secureConnect"));
        c.on("error", () => {});
        const close = closed(c);
        c.destroy();
        await close;
        expect(c.destroyed).to.equal(true);
      });
    }
  });

  describe("test-tls-client-abort2", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: connect(0) fails with 'error' and never connects`, async () => {
        const c = impl.connect(0, "127.0.0.1");
        c.on("secureConnect", () => expect.fail("secureConnect"));
        const [err] = await next<[CodedError]>(c, "error");
        expect(err).to.be.instanceOf(Error);
        c.destroy();
      });
    }
  });

  describe("test-tls-close-error", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: a client that refuses the server's certificate gets 'error', then 'close' with hadError`, async () => {
        const server = cleanup.server(impl.createServer(agent("agent1")));
        const port = await listenLocal(server);
        const c = cleanup.stream(impl.connect({ ...impl.client, port, host: "127.0.0.1" }));
        c.on("secureConnect", () => expect.fail("secureConnect"));
        const errored = next<[Error]>(c, "error");
        const [hadError] = await closed(c);
        expect((await errored)[0]).to.be.instanceOf(Error);
        expect(hadError).to.equal(true);
      });
    }
  });

  describe("test-tls-connect-hints-option", () => {
    it("lookup is called with the host and { family, hints, all: true } exactly as node:tls calls it", async () => {
      const hints = 512; // none of the dns flag combinations
      const seen: unknown[] = [];
      for (const impl of IMPLS) {
        const c = impl.connect({
          port: 42,
          hints,
          lookup: (host: string, options: unknown) => seen.push({ impl: impl.name, host, options }),
        });
        c.on("error", () => {});
        await new Promise((r) => setImmediate(r));
        c.destroy();
      }
      expect(seen).to.deep.equal([
        { impl: "node:tls", host: "localhost", options: { family: undefined, hints, all: true } },
        { impl: "mlstls", host: "localhost", options: { family: undefined, hints, all: true } },
      ]);
    });
  });

  describe("test-tls-connect-timeout-option", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: the timeout option is the socket's timeout at once`, () => {
        const c = impl.connect({ port: 42, lookup: () => {}, timeout: 1000 });
        expect((c as unknown as { timeout: number }).timeout).to.equal(1000);
        c.destroy();
      });
    }
  });

  describe("test-tls-destroy-whilst-write", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: destroying while the underlying stream still holds a write is clean`, async () => {
        const slow = new Duplex({
          read() {},
          write(_chunk, _enc, cb) {
            setImmediate(cb);
          },
        });
        const c = impl.connect({ ...impl.client, socket: slow });
        c.on("error", () => {});
        await new Promise((r) => setImmediate(r));
        const close = closed(c);
        c.destroy();
        await close;
      });
    }
  });

  describe("test-tls-econnreset", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: a TCP client that hangs up before the handshake is 'tlsClientError' ECONNRESET "socket hang up"`, async () => {
        const server = cleanup.server(impl.createServer(agent("agent1"), () => expect.fail("secureConnection")));
        const port = await listenLocal(server);
        const clientError = next<[CodedError, unknown]>(server, "tlsClientError");
        const raw = net.connect(port, "127.0.0.1", () => raw.destroy());
        raw.on("error", () => expect.fail("raw client error"));
        const [err, conn] = await clientError;
        expect(conn).to.be.an("object");
        expect(err.message).to.match(/socket hang up/);
        expect(err.code).to.equal("ECONNRESET");
      });
    }
  });

  describe("test-tls-wrap-econnreset", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: a TCP server that just closes gives ECONNRESET with host and port, no path or localAddress`, async () => {
        const server = cleanup.server(net.createServer((c) => c.end()));
        const port = await listenLocal(server);
        const c = impl.connect(port, "127.0.0.1");
        const close = closed(c);
        const [e] = await next<[CodedError]>(c, "error");
        expect({ code: e.code, path: e.path, host: e.host, port: e.port, localAddress: e.localAddress }).to.deep.equal({
          code: "ECONNRESET", path: undefined, host: "127.0.0.1", port, localAddress: undefined,
        });
        await close;
      });
    }
  });

  describe("test-tls-wrap-econnreset-pipe", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: the same over an IPC path: the error has the path, no host or port`, async () => {
        const path = join(cleanup.tmpdir(), "pipe");
        const server = cleanup.server(net.createServer((c) => c.end()));
        server.listen(path);
        await once(server, "listening");
        const c = impl.connect({ path });
        const close = closed(c);
        const [e] = await next<[CodedError]>(c, "error");
        expect({ code: e.code, path: e.path, host: e.host, port: e.port, localAddress: e.localAddress }).to.deep.equal({
          code: "ECONNRESET", path, host: undefined, port: undefined, localAddress: undefined,
        });
        await close;
      });
    }
  });

  describe("test-tls-timeout-server", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: handshakeTimeout 50 ms: a silent TCP client ends in 'tlsClientError'`, async () => {
        const server = cleanup.server(impl.createServer({ ...agent("agent1"), handshakeTimeout: 50 }, () => expect.fail("secureConnection")));
        const port = await listenLocal(server);
        const raw = cleanup.stream(net.connect(port, "127.0.0.1"));
        raw.on("error", () => {});
        const [err, conn] = await next<[CodedError, net.Socket]>(server, "tlsClientError");
        expect(err.code).to.equal("ERR_TLS_HANDSHAKE_TIMEOUT");
        conn.destroy();
      });
    }
  });

  describe("test-tls-timeout-server-2", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: setTimeout on the server's socket returns the socket and fires`, async () => {
        const server = cleanup.server(impl.createServer(agent("agent1")));
        const port = await listenLocal(server);
        const accepted = next<[AnySocket]>(server, "secureConnection");
        cleanup.stream(impl.connect({ ...impl.client, port, host: "127.0.0.1", rejectUnauthorized: false })).on("error", () => {});
        const [s] = await accepted;
        const fired = new Promise<void>((resolve) => {
          const ret = s.setTimeout(50, () => resolve());
          expect(ret).to.equal(s);
          expect(ret).to.be.instanceOf(impl.TLSSocket);
        });
        await fired;
        s.destroy();
      });
    }
  });

  describe("test-tls-tlswrap-segfault-2", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: connect(path) to a missing path: 'error', 'close', and listeners added afterwards never fire`, async () => {
        const c = impl.connect(join(cleanup.tmpdir(), "cause-error"));
        const errored = next(c, "error");
        await closed(c);
        await errored;
        c.on("keylog", () => expect.fail("keylog after close"));
        c.on("session", () => expect.fail("session after close"));
        await new Promise((r) => setTimeout(r, 20));
      });
    }
  });

  describe("sequential/test-tls-lookup", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: a lookup that is not a function throws ERR_INVALID_ARG_TYPE; a function is accepted`, () => {
        for (const lookup of ["foobar", 1, {}, []]) {
          expect(() => impl.connect({ host: "localhost", port: 42, lookup }), String(lookup))
            .to.throw(TypeError).with.property("code", "ERR_INVALID_ARG_TYPE");
        }
        let called = false;
        const c = impl.connect({ host: "localhost", port: 42, lookup: () => (called = true) });
        c.on("error", () => {});
        c.destroy();
        return new Promise<void>((r) => setImmediate(() => (expect(called).to.equal(true), r())));
      });
    }
  });

  describe("test-tls-connect-allow-half-open-option", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: allowHalfOpen is false by default; with true, the client writes after the server's end`, async () => {
        const defaults = impl.connect({ port: 42, lookup() {} });
        const explicit = impl.connect({ port: 42, allowHalfOpen: false, lookup() {} });
        expect([defaults.allowHalfOpen, explicit.allowHalfOpen]).to.deep.equal([false, false]);
        defaults.destroy();
        explicit.destroy();

        const serverGot = new Promise<string>((resolve) => {
          const server = cleanup.server(impl.createServer(agent("agent1"), (s) => {
            let message = "";
            s.setEncoding("utf8");
            s.on("data", (chunk: string) => {
              message += chunk;
              if (message === "Hello") {
                s.end(message);
                message = "";
              }
            });
            s.on("end", () => resolve(message));
          }));
          void listenLocal(server).then((port) => {
            const c = cleanup.stream(impl.connect({ ...impl.client, port, host: "127.0.0.1", rejectUnauthorized: false, allowHalfOpen: true }));
            c.setEncoding("utf8");
            c.on("secureConnect", () => c.write("Hello"));
            let got = "";
            c.on("data", (d: string) => (got += d));
            c.on("end", () => {
              expect(got).to.equal("Hello");
              setTimeout(() => {
                expect(c.writable).to.equal(true);
                expect(c.write("Bye")).to.equal(true);
                c.end();
              }, 50);
            });
          });
        });
        expect(await serverGot).to.equal("Bye");
      });
    }
  });

  describe("test-tls-connect-hwm-option", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: highWaterMark 128000 / undefined / 0 gives readableHighWaterMark 128000 / 16384 / 0`, async () => {
        const server = cleanup.server(impl.createServer(agent("agent1")));
        const port = await listenLocal(server);
        const marks: number[] = [];
        for (const highWaterMark of [128000, undefined, 0]) {
          const c = cleanup.stream(impl.connect({ ...impl.client, port, host: "127.0.0.1", rejectUnauthorized: false, highWaterMark }));
          await next(c, "secureConnect");
          marks.push(c.readableHighWaterMark);
          c.end();
        }
        expect(marks).to.deep.equal([128000, 16 * 1024, 0]);
      });
    }
  });

  describe("test-tls-connect-no-host", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: without host the name checked is "localhost", so a localhost certificate in ca is authorized`, async () => {
        const cert = nodeFixture("rsa_cert.crt");
        const server = cleanup.server(impl.createServer({ key: nodeFixture("rsa_private.pem"), cert }));
        const port = await listenLocal(server);
        const c = cleanup.stream(impl.connect({ ...impl.client, port, ca: cert, lookup: loopbackLookup }));
        await next(c, "secureConnect");
        expect(c.authorized).to.equal(true);
      });
    }
  });
});
