// Secure contexts, credentials and SNI as node:tls has them. Drawn from these files of Node.js v20.11.1
// (test/parallel/; MIT license, Node.js contributors): test-tls-options-boolean-check, test-tls-key-mismatch,
// test-tls-basic-validations, test-tls-addca.
// The code is ours; each scenario runs with node:tls and with mlstls and expects the same outcome.

import { expect } from "chai";
import * as nodeTls from "node:tls";
import * as mlstls from "../../lib/index.js";
import { Cleanup } from "../helpers/sockets.js";
import { IMPLS, agent, listenLocal, next, nodeFixture, type AnySocket, type CodedError } from "./helpers.js";

function thrown(fn: () => unknown): CodedError & Record<string, unknown> {
  try {
    fn();
  } catch (e) {
    return e as CodedError & Record<string, unknown>;
  }
  throw new Error("did not throw");
}

/** What a test compares of an error: its class, code and message. */
function shape(e: CodedError): { name: string; code: string | undefined; message: string } {
  return { name: e.name, code: e.code, message: e.message };
}

describe("node-compat: secure contexts and credentials", () => {
  describe("test-tls-options-boolean-check: the types of key, cert and ca", () => {
    const { key, cert } = agent("agent1");
    const ec = agent("ec");
    const ca = nodeFixture("ca1-cert.pem");
    // Each: options, and the property node names in its ERR_INVALID_ARG_TYPE.
    const bad: [string, Record<string, unknown>][] = [
      ["key: true", { key: true, cert }],
      ["key: true, no cert", { key: true, cert: false }],
      ["a {pem} key outside an array", { key: { pem: key }, cert: false }],
      ["key: [true, key]", { key: [true, ec.key], cert: [cert, ec.cert] }],
      ["cert: true", { key, cert: true }],
      ["cert: 1, no key", { key: false, cert: 1 }],
      ["cert: [cert, true]", { key: [key, ec.key], cert: [cert, true] }],
      ["cert and key both wrong: cert first", { key: true, cert: true }],
      ["ca: {}", { key, cert, ca: {} }],
      ["ca: [ca, true]", { key, cert, ca: [ca, true] }],
    ];
    for (const [what, options] of bad) {
      it(`${what}: node's ERR_INVALID_ARG_TYPE, from both implementations`, () => {
        const [n, m] = IMPLS.map((impl) => shape(thrown(() => impl.createServer(options))));
        expect(n!.code).to.equal("ERR_INVALID_ARG_TYPE");
        expect(n!.name).to.equal("TypeError");
        expect(m).to.deep.equal(n);
      });
    }

    for (const impl of IMPLS) {
      it(`${impl.name}: 0, "", null and false are absent, for createSecureContext too`, () => {
        for (const v of [0, "", null, false, undefined]) impl.createSecureContext({ key: v, cert: v, ca: v });
        impl.createServer({ key, cert, ca: 0 }).close();
      });

      it(`${impl.name}: null for every other option is absent too (test-tls-connect-secure-context)`, () => {
        const nulls = Object.fromEntries(
          ["ciphers", "clientCertEngine", "crl", "dhparam", "passphrase", "pfx", "privateKeyIdentifier", "privateKeyEngine",
            "sessionIdContext", "sessionTimeout", "sigalgs", "ticketKeys"].map((k) => [k, null]),
        );
        impl.createSecureContext({ ca, ...nulls });
      });

      it(`${impl.name}: TypedArray and DataView credentials, and {pem} keys inside an array`, () => {
        const view = (b: Buffer): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
        impl.createServer({ key: new Uint8Array(key), cert: view(cert), ca: view(ca) }).close();
        impl.createServer({ key: [{ pem: key }], cert: [cert] }).close();
      });
    }
  });

  describe("test-tls-basic-validations: the types of the other context options", () => {
    const cases: [string, "createServer" | "createSecureContext", Record<string, unknown>][] = [
      ["ciphers: 1", "createSecureContext", { ciphers: 1 }],
      ["ciphers: 1", "createServer", { ciphers: 1 }],
      ["passphrase: 1", "createSecureContext", { key: "dummykey", passphrase: 1 }],
      ["passphrase: 1", "createServer", { key: "dummykey", passphrase: 1 }],
      ["ecdhCurve: 1", "createServer", { ecdhCurve: 1 }],
      ["handshakeTimeout: 'abcd'", "createServer", { handshakeTimeout: "abcd" }],
      ["sessionTimeout: 'abcd'", "createServer", { sessionTimeout: "abcd" }],
      ["ticketKeys: 'abcd'", "createServer", { ticketKeys: "abcd" }],
      ["ticketKeys of 0 bytes", "createServer", { ticketKeys: Buffer.alloc(0) }],
      ["minVersion: 'fhqwhgads'", "createSecureContext", { minVersion: "fhqwhgads" }],
      ["maxVersion: 'fhqwhgads'", "createSecureContext", { maxVersion: "fhqwhgads" }],
    ];
    for (const [what, fn, options] of cases) {
      it(`${fn}({ ${what} }): node's error, from both implementations`, () => {
        const [n, m] = IMPLS.map((impl) => shape(thrown(() => impl[fn](options))));
        expect(n!.code).to.match(/^ERR_/);
        expect(m).to.deep.equal(n);
      });
    }

    it("a server's ticketKeys option is what getTicketKeys() returns", () => {
      const keys = Buffer.alloc(48, 7);
      for (const impl of IMPLS) {
        const server = impl.createServer({ ticketKeys: keys }) as unknown as nodeTls.Server;
        expect(server.getTicketKeys().equals(keys), impl.name).to.equal(true);
        server.close();
      }
    });

    it("createSecurePair({}): node's ERR_TLS_INVALID_CONTEXT; mlstls has no secure pairs (ERR_METHOD_NOT_IMPLEMENTED)", () => {
      const create = (nodeTls as unknown as { createSecurePair(c: unknown): unknown }).createSecurePair;
      const n = thrown(() => create({}));
      const m = thrown(() => mlstls.createSecurePair({}));
      expect(shape(m)).to.deep.equal(shape(n));
      expect(n).to.be.instanceOf(TypeError);
      expect(thrown(() => mlstls.createSecurePair(mlstls.createSecureContext())).code).to.equal("ERR_METHOD_NOT_IMPLEMENTED");
    });
  });

  describe("test-tls-basic-validations: convertALPNProtocols copies any ArrayBufferView", () => {
    it("gives the same bytes as node for a DataView and an Int16Array", () => {
      const bytes = Buffer.from("abcdabcd");
      for (const view of [new DataView(bytes.buffer, bytes.byteOffset, 8), new Int16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + 8))]) {
        const [n, m]: { ALPNProtocols?: Buffer }[] = [{}, {}];
        (nodeTls as unknown as { convertALPNProtocols(p: unknown, o: object): void }).convertALPNProtocols(view, n);
        mlstls.convertALPNProtocols(view as never, m);
        expect(m.ALPNProtocols?.equals(n.ALPNProtocols!)).to.equal(true);
        m.ALPNProtocols!.write("zz");
        expect(Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString()).to.equal("abcdabcd");
      }
    });
  });

  describe("test-tls-addca: secureContext.context.addCACert() changes that context only", () => {
    const cleanup = new Cleanup();

    for (const impl of IMPLS) {
      it(`${impl.name}: a client context trusts ca1 only after addCACert`, async () => {
        const server = cleanup.server(impl.createServer({ ...agent("agent1") }, (s: AnySocket) => s.end()));
        const port = await listenLocal(server);
        const without = impl.createSecureContext({}) as { context: { addCACert(c: Buffer): void } };
        const withCa = impl.createSecureContext({}) as { context: { addCACert(c: Buffer): void } };
        withCa.context.addCACert(nodeFixture("ca1-cert.pem"));
        const attempt = async (secureContext: unknown): Promise<string> => {
          // `ca` is ignored when secureContext is given, as in node.
          const c = impl.connect({ ...impl.client, port, host: "127.0.0.1", servername: "agent1", ca: nodeFixture("ca1-cert.pem"), secureContext });
          cleanup.stream(c);
          try {
            await next(c, "secureConnect");
            c.end();
            return "ok";
          } catch (e) {
            return (e as CodedError).code ?? "?";
          }
        };
        expect(await attempt(without)).to.equal("UNABLE_TO_VERIFY_LEAF_SIGNATURE");
        expect(await attempt(withCa)).to.equal("ok");
      });
    }
  });

  describe("test-tls-key-mismatch: a key with another key's certificate of its type", () => {
    it("throws node's plain Error ERR_OSSL_X509_KEY_VALUES_MISMATCH, from both implementations", () => {
      const options = { key: agent("agent1").key, cert: agent("agent2").cert };
      const [n, m] = IMPLS.map((impl) => thrown(() => impl.createSecureContext(options)));
      expect(String(n)).to.equal("Error: error:05800074:x509 certificate routines::key values mismatch");
      for (const e of [n!, m!]) {
        expect(e.constructor).to.equal(Error);
        expect({ ...e }).to.deep.equal({
          library: "x509 certificate routines",
          reason: "key values mismatch",
          code: "ERR_OSSL_X509_KEY_VALUES_MISMATCH",
        });
        expect(e.message).to.equal(n!.message);
      }
    });

    it("the same, for a key of an array whose type has another key's certificate", () => {
      const options = { key: [agent("agent1").key], cert: [agent("agent2").cert] };
      const [n, m] = IMPLS.map((impl) => thrown(() => impl.createSecureContext(options)));
      expect(n!.code).to.equal("ERR_OSSL_X509_KEY_VALUES_MISMATCH");
      expect(m!.code).to.equal(n!.code);
      expect(m!.message).to.equal(n!.message);
    });
  });
});
