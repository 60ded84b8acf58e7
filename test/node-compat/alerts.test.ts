// How a failed handshake is reported, next to node:tls: a peer's alert as node's ERR_SSL_* code, and first bytes
// that are not TLS as OpenSSL's "wrong version number" / "http request". From these files of Node.js v20.11.1
// (test/parallel/; MIT license, Node.js contributors): test-tls-server-failed-handshake-emits-clienterror,
// test-tls-socket-failed-handshake-emits-error, test-tls-alpn-server-client (the fatal-alert case),
// test-tls-client-auth (a required certificate not given). The code is ours; each scenario runs with node:tls and
// with mlstls and expects the same code.

import { expect } from "chai";
import * as net from "node:net";
import { Cleanup } from "../helpers/sockets.js";
import { alertCode } from "../helpers/node-alerts.js";
import { IMPLS, agent, listenLocal, next, nodeFixture, type CodedError, type Impl } from "./helpers.js";

type SslError = CodedError & { library?: string; reason?: string; alert?: number; remote?: boolean };

describe("node-compat: handshake failures reported with node's codes", () => {
  const cleanup = new Cleanup();

  /** The server's 'tlsClientError' for a raw TCP client that writes `bytes`. */
  async function serverErrorFor(impl: Impl, bytes: Buffer): Promise<SslError> {
    const server = cleanup.server(impl.createServer(agent("agent1")));
    const reported = next<[SslError]>(server, "tlsClientError");
    const port = await listenLocal(server);
    const raw = cleanup.stream(net.connect(port, "127.0.0.1"));
    raw.on("error", () => {});
    raw.resume();
    raw.write(bytes);
    const [err] = await reported;
    return err;
  }

  describe("test-tls-server-failed-handshake-emits-clienterror: junk first bytes", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: ERR_SSL_WRONG_VERSION_NUMBER, with OpenSSL's reason in the message`, async () => {
        const err = await serverErrorFor(impl, Buffer.alloc(1024, 42));
        expect(err).to.be.instanceOf(Error);
        expect(err.code).to.equal("ERR_SSL_WRONG_VERSION_NUMBER");
        expect(err.message).to.match(/SSL routines:[^:]*:wrong version number/);
        expect(err).to.include({ library: "SSL routines", reason: "wrong version number" });
      });
    }
  });

  describe("plain HTTP on the TLS port", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: ERR_SSL_HTTP_REQUEST`, async () => {
        const err = await serverErrorFor(impl, Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        expect(err.code).to.equal("ERR_SSL_HTTP_REQUEST");
        expect(err.message).to.match(/SSL routines:[^:]*:http request/);
      });
    }
  });

  describe("test-tls-socket-failed-handshake-emits-error: a server TLSSocket made late over a net socket", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: 'error' with ERR_SSL_WRONG_VERSION_NUMBER`, async () => {
        const server = cleanup.server(net.createServer());
        const got = new Promise<SslError>((resolve) => {
          server.on("connection", (c: net.Socket) => {
            // The junk is already buffered in the net socket when the TLSSocket takes it over.
            setTimeout(() => {
              const s = new impl.TLSSocket(c, { isServer: true, server, ...agent("agent1") });
              s.on("error", resolve);
            }, 100);
          });
        });
        const port = await listenLocal(server);
        const raw = cleanup.stream(net.connect(port, "127.0.0.1"));
        raw.on("error", () => {});
        raw.write(Buffer.alloc(1024, 42));
        const err = await got;
        expect(err.code).to.equal("ERR_SSL_WRONG_VERSION_NUMBER");
        expect(err.message).to.match(/SSL routines:[^:]*:wrong version number/);
      });
    }
  });

  describe("test-tls-alpn-server-client: no common ALPN protocol", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: the client hears ${alertCode(120)}`, async () => {
        const server = cleanup.server(impl.createServer({ ...agent("agent1"), ALPNProtocols: ["foo"] }));
        server.on("tlsClientError", () => {});
        const port = await listenLocal(server);
        const c = cleanup.stream(impl.connect({ port, host: "127.0.0.1", rejectUnauthorized: false, ALPNProtocols: ["bar"] }));
        const [err] = await next<[SslError]>(c, "error");
        expect(err.code).to.equal(alertCode(120));
        expect(err.message).to.match(/SSL routines:[^:]*:tlsv1 alert no application protocol/);
        expect(err.message).to.match(/SSL alert number 120/);
      });
    }
  });

  describe("test-tls-client-auth: a required client certificate that is not given", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: the client hears ${alertCode(116)}`, async () => {
        const server = cleanup.server(
          impl.createServer({ ...agent("agent1"), requestCert: true, rejectUnauthorized: true, ca: nodeFixture("ca1-cert.pem") }),
        );
        const refused = next<[SslError]>(server, "tlsClientError");
        const port = await listenLocal(server);
        const c = cleanup.stream(impl.connect({ port, host: "127.0.0.1", rejectUnauthorized: false }));
        c.resume();
        const [err] = await next<[SslError]>(c, "error");
        expect(err.code).to.equal(alertCode(116));
        expect(err.reason).to.equal("tlsv13 alert certificate required");
        const [serverErr] = await refused;
        expect(serverErr.code).to.equal("ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE");
        expect(serverErr.message).to.match(/SSL routines:[^:]*:peer did not return a certificate/);
      });
    }
  });
});
