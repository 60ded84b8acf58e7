// Behaviours that programs written for node:tls rely on, which mlstls did not have (issue 10). They come from
// these files of Node.js v20.11.1 (test/parallel/; MIT license, Node.js contributors): test-tls-connect-simple,
// test-tls-socket-default-options, test-tls-connect-abort-controller, test-tls-socket-close, test-tls-inception,
// test-tls-junk-closes-server, test-tls-hello-parser-failure, test-tls-ip-servername-deprecation,
// test-tls-server-capture-rejection, test-tls-buffersize, test-tls-wrap-econnreset-localaddress,
// test-tls-no-cert-required, test-tls-error-servername, test-tls-max-send-fragment, test-tls-exportkeyingmaterial,
// test-tls-alpn-server-client (ALPNCallback with ALPNProtocols), test-tls-cert-chains-concat,
// test-tls-options-boolean-check, test-tls-server-parent-constructor-options, test-tls-socket-allow-half-open-option,
// test-tls-destroy-stream (assignable DEFAULT_MAX_VERSION), test-tls-basic-validations (convertALPNProtocols).
// The code is ours; each scenario runs with node:tls and with mlstls and expects the same outcome.

import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { EventEmitter } from "node:events";
import { once } from "node:events";
import * as net from "node:net";
import { Duplex } from "node:stream";
import * as nodeTls from "node:tls";
import * as mlstls from "../../lib/index.js";
import { Cleanup } from "../helpers/sockets.js";
import { IMPLS, MLS, agent, closed, listenLocal, next, nodeFixture, type AnySocket, type CodedError, type Impl } from "./helpers.js";

const ca = nodeFixture("ca1-cert.pem");

/** What a client of `impl` needs to verify the agent1 server. */
function trusting(impl: Impl): Record<string, unknown> {
  return { ...impl.client, ca, servername: "agent1" };
}

function thrown(fn: () => unknown): CodedError {
  try {
    fn();
  } catch (e) {
    return e as CodedError;
  }
  throw new Error("did not throw");
}

describe("node-compat: drop-in behaviours", () => {
  const cleanup = new Cleanup();

  describe("test-tls-connect-simple: tls.Server(...) without new", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: returns a Server that serves`, async () => {
        const ServerFn = impl.Server as unknown as (o: object, l: (s: AnySocket) => void) => net.Server;
        const server = cleanup.server(ServerFn(agent("agent1"), (s) => s.end("hi")));
        expect(server).to.be.instanceOf(impl.Server);
        const port = await listenLocal(server);
        const c = cleanup.stream(impl.connect({ ...trusting(impl), port, host: "127.0.0.1" }));
        let got = "";
        c.on("data", (d: Buffer) => (got += d));
        await closed(c);
        expect(got).to.equal("hi");
      });
    }
  });

  describe("test-tls-buffersize: bufferSize counts what write() took and the transport has not", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: 0, then one more per written byte, then 0 after 'finish'`, async () => {
        const server = cleanup.server(impl.createServer(agent("agent1"), (s) => s.resume()));
        const port = await listenLocal(server);
        const c = cleanup.stream(impl.connect({ ...trusting(impl), port, host: "127.0.0.1" }));
        await next(c, "secureConnect");
        const sizes = [(c as unknown as { bufferSize: number }).bufferSize];
        for (let i = 1; i < 10; i++) {
          c.write("a");
          sizes.push((c as unknown as { bufferSize: number }).bufferSize);
        }
        expect(sizes).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        const finished = next(c, "finish");
        c.end();
        await finished;
        expect((c as unknown as { bufferSize: number }).bufferSize).to.equal(0);
      });
    }
  });

  describe("test-tls-exportkeyingmaterial, test-tls-max-send-fragment: argument checks", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: node's codes and classes for lengths and sizes out of range`, async () => {
        const server = cleanup.server(impl.createServer(agent("agent1"), (s) => s.resume()));
        const port = await listenLocal(server);
        const c = cleanup.stream(impl.connect({ ...trusting(impl), port, host: "127.0.0.1" }));
        await next(c, "secureConnect");
        const sock = c as unknown as {
          exportKeyingMaterial(l: unknown, label: unknown, ctx?: unknown): Buffer;
          setMaxSendFragment(n?: unknown): boolean;
        };
        const code = (f: () => unknown): [string, string | undefined] => {
          try {
            f();
          } catch (e) {
            return [(e as Error).name, (e as CodedError).code];
          }
          return ["none", undefined];
        };
        expect(sock.exportKeyingMaterial(128, "client finished").length).to.equal(128);
        expect(code(() => sock.exportKeyingMaterial(0, "a"))).to.deep.equal(["RangeError", "ERR_OUT_OF_RANGE"]);
        expect(code(() => sock.exportKeyingMaterial(-3, "a"))).to.deep.equal(["RangeError", "ERR_OUT_OF_RANGE"]);
        expect(code(() => sock.exportKeyingMaterial("length", 1234))).to.deep.equal(["TypeError", "ERR_INVALID_ARG_TYPE"]);
        expect(code(() => sock.exportKeyingMaterial(10, null))).to.deep.equal(["TypeError", "ERR_INVALID_ARG_TYPE"]);
        expect(code(() => sock.exportKeyingMaterial(128, "l", "string context"))).to.deep.equal(["TypeError", "ERR_INVALID_ARG_TYPE"]);
        for (const n of [NaN, Infinity, 2 ** 31]) {
          expect(code(() => sock.setMaxSendFragment(n)), String(n)).to.deep.equal(["RangeError", "ERR_OUT_OF_RANGE"]);
        }
        expect(code(() => sock.setMaxSendFragment())).to.deep.equal(["TypeError", "ERR_INVALID_ARG_TYPE"]);
        expect(sock.setMaxSendFragment(511)).to.equal(false);
        expect(sock.setMaxSendFragment(16385)).to.equal(false);
        expect(sock.setMaxSendFragment(512)).to.equal(true);
        c.end();
      });
    }
  });

  describe("test-tls-socket-default-options: new TLSSocket(null, options), then connect()", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: an unconnected socket connects later and completes its handshake ('secure')`, async () => {
        let received = "";
        const server = cleanup.server(
          impl.createServer(agent("agent1"), (s) => {
            s.on("data", (d: Buffer) => (received += d));
            s.on("end", () => s.end());
          }),
        );
        const port = await listenLocal(server);
        const socket = cleanup.stream(new impl.TLSSocket(null, trusting(impl)));
        // A bare TLSSocket emits 'secure' ('secureConnect' and the verdict are tls.connect()'s additions).
        // (node's bare client socket starts its handshake with the first write, hence end('hello') on 'connect'.)
        socket.once("connect", () => socket.end("hello"));
        const secure = next(socket, "secure");
        (socket as unknown as net.Socket).connect(port, "127.0.0.1");
        await secure;
        await closed(socket);
        expect(received).to.equal("hello");
      });
    }
  });

  describe("https.Agent's servername: '' for IP hosts means no SNI", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: connects, and the server sees no server name`, async () => {
        let serverSide: AnySocket | undefined;
        const server = cleanup.server(impl.createServer(agent("agent1"), (s) => (serverSide = s).end()));
        const port = await listenLocal(server);
        const c = cleanup.stream(impl.connect({ ...impl.client, ca, port, host: "127.0.0.1", servername: "", rejectUnauthorized: false }));
        await next(c, "secureConnect");
        await closed(c);
        expect(serverSide!.servername).to.equal(false);
      });
    }
  });

  describe("test-tls-socket-close: the peer's TCP closes without close_notify", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: the server's socket gets 'end' and 'close'(false), no 'error'`, async () => {
        const events: string[] = [];
        const done = new Promise<void>((resolve) => {
          const server = cleanup.server(
            impl.createServer(agent("agent1"), (s) => {
              s.on("data", (d: Buffer) => events.push(`data:${d}`));
              s.on("end", () => events.push("end"));
              s.on("error", (e: CodedError) => events.push(`error:${e.code}`));
              s.on("close", (hadError: boolean) => {
                events.push(`close(${hadError})`);
                resolve();
              });
            }),
          );
          void listenLocal(server).then((port) => {
            const raw = net.connect(port, "127.0.0.1");
            const c = impl.connect({ ...trusting(impl), socket: raw });
            c.on("error", () => {});
            // After the data, the TCP connection ends under the TLS socket: no close_notify.
            c.once("secureConnect", () => c.write("bye", () => setTimeout(() => raw.end(), 50)));
          });
        });
        await done;
        expect(events).to.deep.equal(["data:bye", "end", "close(false)"]);
      });
    }
  });

  describe("test-tls-junk-closes-server: bytes that are not TLS", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: the server destroys the connection at once; 'tlsClientError' sees it destroyed`, async () => {
        const server = cleanup.server(impl.createServer(agent("agent1")));
        const clientErrors: [CodedError, AnySocket][] = [];
        server.on("tlsClientError", (e: CodedError, s: AnySocket) => clientErrors.push([e, s]));
        const port = await listenLocal(server);
        // A half-open client that never ends its side: the server's FIN comes from the server alone.
        const raw = cleanup.stream(net.connect({ port, host: "127.0.0.1", allowHalfOpen: true }));
        raw.on("error", () => {});
        raw.resume();
        raw.write("blah\nblah\nblah\n");
        await once(raw, "end");
        expect(clientErrors.length).to.equal(1);
        expect(clientErrors[0]![1].destroyed).to.equal(true);
      });
    }
  });

  describe("test-tls-ip-servername-deprecation: DEP0123", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: connect({ servername: an IP }) warns once with DEP0123`, function () {
        this.timeout(20_000);
        const module = impl === MLS ? new URL("../../lib/index.js", import.meta.url).href : "node:tls";
        const script = `
          import(${JSON.stringify(module)}).then((tls) => {
            const warnings = [];
            process.on("warning", (w) => warnings.push(w.code));
            for (let i = 0; i < 2; i++) tls.connect({ port: 1, host: "127.0.0.1", servername: "127.0.0.1" }).on("error", () => {});
            setTimeout(() => process.stdout.write(JSON.stringify(warnings)), 100);
          });`;
        const out = execFileSync(process.execPath, ["-e", script], { encoding: "utf8" });
        expect(JSON.parse(out)).to.deep.equal(["DEP0123"]);
      });
    }
  });

  describe("test-tls-server-capture-rejection", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: a rejected async 'secureConnection' listener destroys that socket with the error`, async () => {
        const kaboom = new Error("kaboom");
        // As node's test: the process-wide switch, read when the server is made.
        EventEmitter.captureRejections = true;
        let server: net.Server;
        try {
          server = cleanup.server(impl.createServer(agent("agent1")));
        } finally {
          EventEmitter.captureRejections = false;
        }
        const errors: Error[] = [];
        const serverClosed = new Promise<void>((resolve) => {
          server.on("secureConnection", async (s: AnySocket) => {
            s.on("error", (e: Error) => errors.push(e));
            s.on("close", () => resolve());
            throw kaboom;
          });
        });
        const port = await listenLocal(server);
        const c = cleanup.stream(impl.connect({ ...trusting(impl), port, host: "127.0.0.1" }));
        c.on("error", () => {});
        await serverClosed;
        expect(errors).to.deep.equal([kaboom]);
        await closed(c);
      });
    }
  });

  describe("test-tls-buffersize", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: bufferSize is 0 when nothing is queued`, async () => {
        const server = cleanup.server(impl.createServer(agent("agent1"), (s) => s.resume()));
        const port = await listenLocal(server);
        const c = cleanup.stream(impl.connect({ ...trusting(impl), port, host: "127.0.0.1" }));
        await next(c, "secureConnect");
        expect((c as unknown as { bufferSize: number }).bufferSize).to.equal(0);
        c.end();
        await closed(c);
      });
    }
  });

  describe("test-tls-wrap-econnreset-localaddress: ECONNRESET's host", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: no host given, no host on the error`, async () => {
        const server = cleanup.server(net.createServer((s) => s.destroy()));
        const port = await listenLocal(server);
        const c = cleanup.stream(impl.connect({ ...impl.client, port, localAddress: "127.0.0.1" }));
        const [err] = await next<[CodedError]>(c, "error");
        expect(err.code).to.equal("ECONNRESET");
        expect(err.host).to.equal(undefined);
        expect(err.port).to.equal(port);
      });
    }
  });

  describe("argument validation: node's codes, classes and messages", () => {
    const cases: [string, (impl: Impl, s: AnySocket) => unknown][] = [
      ["createServer('this is not valid')", (impl) => impl.createServer("this is not valid" as never)],
      ["setServername(undefined)", (_i, s) => (s as unknown as mlstls.MlsTlsSocket).setServername(undefined as never)],
      ["setServername(1)", (_i, s) => (s as unknown as mlstls.MlsTlsSocket).setServername(1 as never)],
      ["setMaxSendFragment()", (_i, s) => (s.setMaxSendFragment as (x?: unknown) => boolean)()],
      ["setMaxSendFragment('x')", (_i, s) => s.setMaxSendFragment("x" as never)],
      ["exportKeyingMaterial before the handshake", (_i, s) => (s as unknown as mlstls.MlsTlsSocket).exportKeyingMaterial(128, "label")],
      ["exportKeyingMaterial('x')", (_i, s) => (s as unknown as mlstls.MlsTlsSocket).exportKeyingMaterial("x" as never, "label")],
      ["exportKeyingMaterial(1, 2)", (_i, s) => (s as unknown as mlstls.MlsTlsSocket).exportKeyingMaterial(1, 2 as never)],
      ["ALPNCallback with ALPNProtocols", (impl) => impl.createServer({ ALPNCallback: () => "a", ALPNProtocols: ["a"] })],
    ];
    for (const [what, fn] of cases) {
      it(`${what}: the same error as node:tls`, () => {
        const errs = IMPLS.map((impl) => {
          const s = new impl.TLSSocket(new Duplex({ read() {}, write(_c, _e, cb) { cb(); } }), impl.client);
          s.on("error", () => {});
          const e = thrown(() => fn(impl, s));
          s.destroy();
          return { name: e.name, code: e.code, message: e.message };
        });
        expect(errs[1]).to.deep.equal(errs[0]);
      });
    }
  });

  describe("test-tls-options-boolean-check: falsy and half credentials", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: accepts false, 0, '' and a cert without key (or a key without cert) at createServer()`, () => {
        const { key, cert } = agent("agent1");
        const previous = process.listeners("warning");
        process.removeAllListeners("warning");
        process.on("warning", () => {});
        try {
          for (const o of [{ key: false, cert: false }, { key: 0, cert: 0 }, { key: "", cert: "" }, { key: false, cert }, { key, cert: false }, { ca: 0 }]) {
            expect(() => impl.createServer(o as Record<string, unknown>), JSON.stringify(Object.keys(o))).to.not.throw();
          }
        } finally {
          process.removeAllListeners("warning");
          for (const l of previous) process.on("warning", l);
        }
      });
    }
  });

  describe("test-tls-server-parent-constructor-options and test-tls-socket-allow-half-open-option", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: server.allowHalfOpen/pauseOnConnect as given; a net.Socket keeps its own allowHalfOpen`, () => {
        const a = impl.createServer() as net.Server & { allowHalfOpen: boolean; pauseOnConnect: boolean };
        expect([a.allowHalfOpen, a.pauseOnConnect]).to.deep.equal([false, false]);
        const b = impl.createServer({ allowHalfOpen: true, pauseOnConnect: true }) as typeof a;
        expect([b.allowHalfOpen, b.pauseOnConnect]).to.deep.equal([true, true]);
        const s = new impl.TLSSocket(new net.Socket(), { ...impl.client, allowHalfOpen: true });
        expect(s.allowHalfOpen).to.equal(false);
        s.destroy();
      });
    }
  });

  describe("test-tls-server-parent-constructor-options: the sockets a server hands over", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: flowing by default; paused, and half-open, with pauseOnConnect and allowHalfOpen`, async () => {
        const seen: [boolean, boolean][] = [];
        for (const opts of [{}, { allowHalfOpen: true, pauseOnConnect: true }]) {
          const server = cleanup.server(
            impl.createServer({ ...agent("agent1"), ...opts }, (s) => {
              seen.push([s.allowHalfOpen, s.isPaused()]);
              s.on("end", () => s.end());
              s.resume();
            }),
          );
          const port = await listenLocal(server);
          const c = cleanup.stream(impl.connect({ ...trusting(impl), port, host: "127.0.0.1" }));
          await next(c, "secureConnect");
          c.end();
          c.resume();
          await closed(c);
        }
        expect(seen).to.deep.equal([[false, false], [true, true]]);
      });
    }
  });

  describe("test-tls-cert-chains-concat: a server that asks for no client certificate", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: getPeerCertificate() is {} on the server, getCertificate() {} on a client without one`, async () => {
        const server = cleanup.server(impl.createServer(agent("agent1"), (s) => s.end()));
        const serverSide = next<[AnySocket]>(server, "secureConnection");
        const port = await listenLocal(server);
        const c = cleanup.stream(impl.connect({ ...trusting(impl), port, host: "127.0.0.1" }));
        await next(c, "secureConnect");
        const [s] = await serverSide;
        expect(s.getPeerCertificate()).to.deep.equal({});
        expect(c.getCertificate()).to.deep.equal({});
        await closed(c);
      });
    }
  });

  describe("the module's exports (test-tls-destroy-stream, test-tls-basic-validations)", () => {
    it("has node's constants with TLS 1.3's values, and convertALPNProtocols as node's", () => {
      expect(mlstls.DEFAULT_MIN_VERSION).to.equal("TLSv1.3");
      expect(mlstls.DEFAULT_MAX_VERSION).to.equal("TLSv1.3");
      expect(mlstls.DEFAULT_ECDH_CURVE).to.equal(nodeTls.DEFAULT_ECDH_CURVE);
      expect(mlstls.CLIENT_RENEG_LIMIT).to.equal(nodeTls.CLIENT_RENEG_LIMIT);
      expect(mlstls.CLIENT_RENEG_WINDOW).to.equal(nodeTls.CLIENT_RENEG_WINDOW);
      expect(mlstls.DEFAULT_CIPHERS).to.be.a("string");
      for (const input of [["a", "bc"], Buffer.from([1, 0x61])]) {
        const ours: { ALPNProtocols?: Buffer } = {};
        const theirs: { ALPNProtocols?: Buffer } = {};
        mlstls.convertALPNProtocols(input, ours);
        (nodeTls as unknown as { convertALPNProtocols(p: unknown, o: object): void }).convertALPNProtocols(input, theirs);
        expect(ours).to.deep.equal(theirs);
      }
    });
  });
});

describe("mlstls sessions: single-use, keep the latest", () => {
  const cleanup = new Cleanup();

  it("the latest 'session' (= getSession()) resumes; the same Buffer again resends the same commit, never a second one", async () => {
    const server = cleanup.server(mlstls.createServer(agent("agent1"), (s) => s.resume()));
    const port = await listenLocal(server);
    const opts = { ...MLS.client, ca, servername: "agent1", port, host: "127.0.0.1" };
    const a = cleanup.stream(mlstls.connect(opts));
    await next(a, "secureConnect");
    await a.connectionUpdate();
    const latest = a.getSession()!;
    a.end();
    await closed(a);
    const b = cleanup.stream(mlstls.connect({ ...opts, session: latest }));
    await next(b, "secureConnect");
    expect(b.isSessionReused()).to.equal(true);
    b.end();
    await closed(b);
    // The same Buffer again carries the same commit (PROTOCOL.md, "Sessions"): the server, already in its epoch,
    // repairs it as +0, so it resumes again; an older Buffer, behind the server's epoch, would be refused instead.
    const c = cleanup.stream(mlstls.connect({ ...opts, session: latest }));
    await next(c, "secureConnect");
    expect(c.isSessionReused()).to.equal(true);
    c.end();
    await closed(c);
  });
});
