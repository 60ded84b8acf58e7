// SNI failures, next to node:tls. From these files of Node.js v20.11.1 (test/parallel/; MIT license, Node.js
// contributors): test-tls-sni-servername, test-tls-empty-sni-context. The code is ours; each scenario runs with
// node:tls and with mlstls and expects the same outcome.

import { expect } from "chai";
import { Cleanup } from "../helpers/sockets.js";
import { alertCode } from "../helpers/node-alerts.js";
import { IMPLS, listenLocal, next, type AnySocket, type CodedError } from "./helpers.js";

describe("node-compat: SNI failures", () => {
  const cleanup = new Cleanup();

  describe("test-tls-sni-servername: an SNICallback answer that is no SecureContext, or an error", () => {
    for (const impl of IMPLS) {
      for (const [name, answer] of [["a plain object", {}], ["an error", new Error("Invalid SNI context")]] as const) {
        it(`${impl.name}: ${name} is "Invalid SNI context" at the server; the client's connection is dropped`, async () => {
          const server = cleanup.server(
            impl.createServer({
              requestCert: true,
              rejectUnauthorized: false,
              SNICallback: (_n: string, cb: (e: Error | null, c?: unknown) => void) => (answer instanceof Error ? cb(answer, null) : cb(null, answer)),
            }),
          );
          const reported = next<[CodedError, AnySocket]>(server, "tlsClientError");
          const port = await listenLocal(server);
          const c = cleanup.stream(impl.connect({ port, host: "127.0.0.1", servername: "c.another.com", rejectUnauthorized: false }));
          const failed = next<[CodedError]>(c, "error");
          const [err, socket] = await reported;
          expect(err.message).to.equal("Invalid SNI context");
          expect(socket.servername).to.equal("c.another.com");
          const [clientErr] = await failed;
          expect(clientErr.code).to.equal("ECONNRESET");
          expect(clientErr.message).to.equal("Client network socket disconnected before secure TLS connection was established");
        });
      }
    }
  });

  describe("test-tls-empty-sni-context: no certificate, neither from SNI nor by default", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: "passed a null parameter" at the server, handshake_failure at the client`, async () => {
        const server = cleanup.server(
          impl.createServer({ SNICallback: (_n: string, cb: (e: Error | null, c?: unknown) => void) => cb(null, impl.createSecureContext()) }),
        );
        const reported = next<[CodedError]>(server, "tlsClientError");
        const port = await listenLocal(server);
        const c = cleanup.stream(impl.connect({ port, host: "127.0.0.1", servername: "any.name", rejectUnauthorized: false }));
        const failed = next<[CodedError]>(c, "error");
        const [err] = await reported;
        expect(err.message).to.match(/passed a null parameter/i);
        const [clientErr] = await failed;
        expect(clientErr.code).to.equal(alertCode(40));
      });
    }
  });
});
