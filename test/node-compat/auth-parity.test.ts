// node:tls parity of the authentication options: which `ca` verifies a client after SNI, how leniently `ca` is
// parsed, how a server completes its chain, SNI contexts without an identity, issuerCertificate links, and a
// `cert` without `key`. Each scenario runs with node:tls and with mlstls (helpers.ts, IMPLS) and expects the same
// outcome; node:tls is the contract. Facts from Node.js v20 (test-tls-sni-option, test-tls-sni-server-client,
// test-tls-invalid-key, test-x509-escaping; MIT license, Node.js contributors); the code is ours.

import { expect } from "chai";
import type * as net from "node:net";
import { Cleanup } from "../helpers/sockets.js";
import { IMPLS, agent, listenLocal, next, nodeFixture, type AnySocket } from "./helpers.js";

describe("node-compat: authentication parity", () => {
  const cleanup = new Cleanup();

  /** One client of `impl` against `server`; resolves with the server's socket once both sides are secure. */
  async function serverSide(
    impl: (typeof IMPLS)[number],
    server: net.Server,
    clientOptions: Record<string, unknown>,
  ): Promise<{ client: AnySocket; accepted: AnySocket }> {
    const port = await listenLocal(server);
    const accepted = next<[AnySocket]>(server, "secureConnection");
    const client = cleanup.stream(impl.connect({ ...impl.client, port, host: "127.0.0.1", rejectUnauthorized: false, ...clientOptions }));
    await next(client, "secureConnect");
    const [s] = await accepted;
    return { client, accepted: s };
  }

  describe("client certificates after SNI", () => {
    for (const impl of IMPLS) {
      for (const [sniCa, clientAgent, authorized] of [
        ["ca2", "agent5", true],
        ["ca2", "agent1", false],
        ["none", "agent1", false],
      ] as const) {
        it(`${impl.name}: the SNI context's ca (${sniCa}) decides on a client certificate of ${clientAgent}: authorized ${authorized}`, async () => {
          // The default context trusts ca1; the context for "agent3" trusts ca2, or nothing but the root store.
          const server = cleanup.server(impl.createServer(
            { ...agent("agent1"), ca: nodeFixture("ca1-cert.pem"), requestCert: true, rejectUnauthorized: false },
            (s) => s.end(),
          ));
          server.addContext!("agent3", { ...agent("agent3"), ...(sniCa === "ca2" ? { ca: nodeFixture("ca2-cert.pem") } : {}) });
          const { accepted } = await serverSide(impl, server, { ...agent(clientAgent), servername: "agent3" });
          expect(accepted.authorized).to.equal(authorized);
          if (!authorized) expect(accepted.authorizationError).to.equal("UNABLE_TO_VERIFY_LEAF_SIGNATURE");
        });
      }
    }
  });

  describe("lenient ca parsing", () => {
    const ca1 = nodeFixture("ca1-cert.pem").toString("latin1");
    const body = ca1.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
    const block = (label: string, der: Buffer): string =>
      `-----BEGIN ${label}-----\n${der.toString("base64").match(/.{1,64}/g)!.join("\n")}\n-----END ${label}-----\n`;
    const der = Buffer.from(body, "base64");
    // OpenSSL's trust data after the certificate: X509_CERT_AUX, SEQUENCE { trust SEQUENCE { OID serverAuth } }.
    const aux = Buffer.from("300c300a06082b06010505070301", "hex");
    const broken = block("CERTIFICATE", Buffer.concat([Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00])]));
    const cases: [string, unknown, boolean][] = [
      ["a TRUSTED CERTIFICATE block", block("TRUSTED CERTIFICATE", Buffer.concat([der, aux])), true],
      ["an X509 CERTIFICATE block", block("X509 CERTIFICATE", der), true],
      ["a private key, then the certificate", nodeFixture("ca1-key.pem").toString() + ca1, true],
      ["an empty entry, then the certificate", ["", ca1], true],
      ["only a private key", nodeFixture("ca1-key.pem"), false],
      ["text without PEM", "hello", false],
      ["the certificate, then a broken one", ca1 + broken, true],
      ["a broken certificate, then the good one", broken + ca1, false],
    ];
    for (const impl of IMPLS) {
      for (const [what, ca, authorized] of cases) {
        it(`${impl.name}: ca as ${what} is accepted; the server is authorized: ${authorized}`, async () => {
          expect(() => impl.createSecureContext({ ca })).not.to.throw();
          const server = cleanup.server(impl.createServer(agent("agent1"), (s) => s.end()));
          const port = await listenLocal(server);
          const client = cleanup.stream(impl.connect({ ...impl.client, port, host: "127.0.0.1", servername: "agent1", ca, rejectUnauthorized: false }));
          await next(client, "secureConnect");
          expect(client.authorized).to.equal(authorized);
          if (!authorized) expect(client.authorizationError).to.equal("UNABLE_TO_VERIFY_LEAF_SIGNATURE");
        });
      }
    }
  });

  describe("the server completes its chain from ca", () => {
    const leaf = nodeFixture("agent6-cert.pem").toString().match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/)![0];
    const ca1 = nodeFixture("ca1-cert.pem");
    const ca2 = nodeFixture("ca2-cert.pem");
    const ca3 = nodeFixture("ca3-cert.pem");
    const cases: [string, Buffer[], Buffer, boolean, string | null, string[]][] = [
      // agent6 is issued by ca3, which ca1 issued: the server sends ca3 and the root ca1 after its leaf.
      ["ca3 and ca1", [ca3, ca1], ca1, true, null, ["ca3", "ca1"]],
      // The root is sent too: a client trusting another root sees it in the chain.
      ["ca3 and ca1, client trusting ca2", [ca3, ca1], ca2, false, "SELF_SIGNED_CERT_IN_CHAIN", ["ca3", "ca1"]],
      // Without ca3 the chain cannot go on: the leaf alone.
      ["only ca1", [ca1], ca1, false, "UNABLE_TO_VERIFY_LEAF_SIGNATURE", []],
    ];
    for (const impl of IMPLS) {
      for (const [what, serverCa, clientCa, authorized, error, issuers] of cases) {
        it(`${impl.name}: cert is the leaf alone, the server's ca is ${what}: authorized ${authorized}, issuers [${issuers.join(", ")}]`, async () => {
          const server = cleanup.server(impl.createServer({ key: nodeFixture("agent6-key.pem"), cert: leaf, ca: serverCa }, (s) => s.end()));
          const port = await listenLocal(server);
          const client = cleanup.stream(impl.connect({
            ...impl.client, port, host: "127.0.0.1", ca: clientCa, rejectUnauthorized: false, checkServerIdentity: () => undefined,
          }));
          await next(client, "secureConnect");
          expect(client.authorized).to.equal(authorized);
          expect(client.authorizationError ?? null).to.equal(error);
          const names: string[] = [];
          let c = client.getPeerCertificate(true);
          while (c.issuerCertificate !== undefined && c.issuerCertificate !== c && names.length < 5) {
            c = c.issuerCertificate;
            names.push(c.subject.CN as string);
          }
          expect(names).to.deep.equal(issuers);
        });
      }
    }
  });

  describe("createSecureContext({ cert }) without key", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: is accepted, as a context`, () => {
        const ctx = impl.createSecureContext({ cert: nodeFixture("agent1-cert.pem") });
        expect(ctx).to.be.an("object");
        expect(ctx).to.have.property("context");
      });
    }
  });

  describe("issuerCertificate of getPeerX509Certificate()", () => {
    const cases: [string, string, string[]][] = [
      // agent6-cert.pem holds agent6 then ca3: the links follow what was sent, not the trust store's ca1.
      ["agent6", "ca1", ["ca3"]],
      ["agent1", "ca1", []],
      ["agent2", "agent2", []],
    ];
    for (const impl of IMPLS) {
      for (const [server, ca, issuers] of cases) {
        it(`${impl.name}: ${server}'s certificate, client trusting ${ca}: issuers [${issuers.join(", ")}]`, async () => {
          const s = cleanup.server(impl.createServer(agent(server), (sock) => sock.end()));
          const port = await listenLocal(s);
          const client = cleanup.stream(impl.connect({
            ...impl.client, port, host: "127.0.0.1", ca: nodeFixture(`${ca}-cert.pem`), rejectUnauthorized: false, checkServerIdentity: () => undefined,
          }));
          await next(client, "secureConnect");
          const names: string[] = [];
          let x = client.getPeerX509Certificate();
          expect(x).to.be.an("object");
          while ((x = x!.issuerCertificate) !== undefined && names.length < 5) names.push(/CN=(.*)/.exec(x.subject)![1]!);
          expect(names).to.deep.equal(issuers);
        });
      }
    }
  });

  describe("SNICallback answers without an identity", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: a context with no certificate serves the default one`, async () => {
        const server = cleanup.server(impl.createServer(
          { ...agent("agent1"), SNICallback: (_name: string, cb: (e: Error | null, c?: unknown) => void) => cb(null, impl.createSecureContext({})) },
          (s) => s.end("ok"),
        ));
        const port = await listenLocal(server);
        const client = cleanup.stream(impl.connect({ ...impl.client, port, host: "127.0.0.1", servername: "agent1", ca: nodeFixture("ca1-cert.pem") }));
        await next(client, "secureConnect");
        expect(client.authorized).to.equal(true);
        expect(client.getPeerCertificate().subject.CN).to.equal("agent1");
      });

      it(`${impl.name}: an answer that is no context is "Invalid SNI context" on tlsClientError, servername already set`, async () => {
        const server = cleanup.server(impl.createServer(
          { ...agent("agent1"), SNICallback: (_name: string, cb: (e: Error | null, c?: unknown) => void) => cb(null, { context: {} }) },
        ));
        const port = await listenLocal(server);
        const failed = next<[Error & { code?: string }, AnySocket]>(server, "tlsClientError");
        const client = cleanup.stream(impl.connect({ ...impl.client, port, host: "127.0.0.1", servername: "a.test", rejectUnauthorized: false }));
        client.on("error", () => {});
        const [err, socket] = await failed;
        expect({ message: err.message, code: err.code }).to.deep.equal({ message: "Invalid SNI context", code: undefined });
        expect(socket.servername).to.equal("a.test");
      });
    }
  });
});
