// Certificates, peers and module surface, as node's own tls tests check them. The behaviours come from these
// files of Node.js v20.11.1 (test/parallel/; MIT license, Node.js contributors): test-tls-0-dns-altname,
// test-tls-ca-concat, test-tls-multiple-cas-as-string, test-tls-client-reject, test-tls-friendly-error-message,
// test-tls-no-rsa-key, test-tls-peer-certificate-encoding, test-tls-peer-certificate-multi-keys,
// test-tls-server-connection-server, test-tls-connect-simple, test-tls-wrap-event-emmiter,
// test-tls-snicallback-error, test-tls-root-certificates, test-tls-check-server-identity, test-tls-cnnic-whitelist.
// The code is ours; each scenario runs with node:tls and with mlstls and expects the same outcome. Where node's test
// also checks something mlstls does not do yet, that part is left out here and listed in the compatibility report.

import { expect } from "chai";
import { EventEmitter } from "node:events";
import * as net from "node:net";
import * as nodeTls from "node:tls";
import * as mlstls from "../../lib/index.js";
import { Cleanup } from "../helpers/sockets.js";
import { IMPLS, agent, closed, listenLocal, next, nodeFixture, readAll, type AnySocket, type CodedError } from "./helpers.js";

describe("node-compat: certificates and peers", () => {
  const cleanup = new Cleanup();

  /** A server with `serverOptions` that writes `reply` to each client, and one client's view after 'secureConnect'. */
  async function handshake(
    impl: (typeof IMPLS)[number],
    serverOptions: Record<string, unknown>,
    clientOptions: Record<string, unknown>,
    reply = "ok",
  ): Promise<{ client: AnySocket; server: net.Server; port: number }> {
    const server = cleanup.server(impl.createServer(serverOptions, (s) => s.end(reply)));
    const port = await listenLocal(server);
    const client = cleanup.stream(impl.connect({ ...impl.client, port, host: "127.0.0.1", ...clientOptions }));
    await next(client, "secureConnect");
    return { client, server, port };
  }

  describe("test-tls-0-dns-altname", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: a dNSName with an embedded NUL is shown quoted and escaped in subjectaltname`, async () => {
        const { client } = await handshake(impl, agent("0-dns"), { rejectUnauthorized: false });
        expect(client.getPeerCertificate().subjectaltname).to.equal(
          'DNS:"good.example.org\\u0000.evil.example.com", DNS:just-another.example.com, IP Address:8.8.8.8, '
            + "IP Address:8.8.4.4, DNS:last.example.com",
        );
      });
    }
  });

  describe("test-tls-ca-concat", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: ca given as one string of two concatenated PEM certificates trusts both`, async () => {
        const ca = `${nodeFixture("ca2-cert.pem").toString()}${nodeFixture("ca1-cert.pem").toString()}`;
        const { client } = await handshake(impl, agent("agent1"), { ca, servername: "agent1" });
        expect(client.authorized).to.equal(true);
      });
    }
  });

  describe("test-tls-multiple-cas-as-string", () => {
    for (const impl of IMPLS) {
      for (const form of ["string", "array of strings", "array of one string"] as const) {
        it(`${impl.name}: ca as ${form}, on the client and on a requestCert server`, async () => {
          const ca1 = nodeFixture("ca1-cert.pem").toString();
          const ca2 = nodeFixture("ca2-cert.pem").toString();
          const ca = form === "string" ? ca1 + ca2 : form === "array of strings" ? [ca1, ca2] : [ca1 + ca2];
          const { client } = await handshake(impl, { ...agent("agent1"), ca, requestCert: true, rejectUnauthorized: false },
            { ...agent("agent3"), ca, servername: "agent1" });
          expect(client.authorized).to.equal(true);
        });
      }
    }
  });

  describe("test-tls-client-reject", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: a self-signed server is refused by default, accepted unverified with rejectUnauthorized false, authorized with it as ca`, async () => {
        const server = cleanup.server(impl.createServer(agent("agent2"), (s) => s.end("ok")));
        const port = await listenLocal(server);
        const base = { ...impl.client, port, host: "127.0.0.1", servername: "agent2" };

        const lax = cleanup.stream(impl.connect({ ...base, rejectUnauthorized: false }));
        await next(lax, "secureConnect");
        expect(lax.authorized).to.equal(false);
        expect(lax.authorizationError).to.equal("DEPTH_ZERO_SELF_SIGNED_CERT");

        const strict = cleanup.stream(impl.connect(base));
        strict.on("secureConnect", () => expect.fail("secureConnect"));
        const [err] = await next<[CodedError]>(strict, "error");
        expect(err.code).to.equal("DEPTH_ZERO_SELF_SIGNED_CERT");

        const trusting = cleanup.stream(impl.connect({ ...base, ca: nodeFixture("agent2-cert.pem") }));
        await next(trusting, "secureConnect");
        expect(trusting.authorized).to.equal(true);
      });
    }
  });

  describe("test-tls-friendly-error-message", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: an issuer the client does not know: UNABLE_TO_VERIFY_LEAF_SIGNATURE, "unable to verify the first certificate"`, async () => {
        const server = cleanup.server(impl.createServer(agent("agent1")));
        const port = await listenLocal(server);
        const c = cleanup.stream(impl.connect({ ...impl.client, port, host: "127.0.0.1", rejectUnauthorized: true }));
        const [err] = await next<[CodedError]>(c, "error");
        expect({ code: err.code, message: err.message }).to.deep.equal({
          code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
          message: "unable to verify the first certificate",
        });
      });
    }
  });

  describe("test-tls-cnnic-whitelist", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: a chain ending at a root the client does not trust: UNABLE_TO_GET_ISSUER_CERT_LOCALLY`, async () => {
        // agent6-cert.pem carries agent6 and its issuer ca3; the client trusts neither ca1 nor anything else.
        const server = cleanup.server(impl.createServer(agent("agent6")));
        const port = await listenLocal(server);
        const c = cleanup.stream(impl.connect({ ...impl.client, port, host: "127.0.0.1", ca: nodeFixture("ca2-cert.pem") }));
        const [err] = await next<[CodedError]>(c, "error");
        expect(err.code).to.equal("UNABLE_TO_GET_ISSUER_CERT_LOCALLY");
      });
    }
  });

  describe("test-tls-no-rsa-key", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: an EC-only server serves data and its certificate's subject`, async () => {
        const { client } = await handshake(impl, agent("ec"), { rejectUnauthorized: false });
        expect(client.getPeerCertificate().subject.C).to.equal("US");
        expect(await readAll(client)).to.equal("ok");
      });
    }
  });

  describe("test-tls-peer-certificate-encoding", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: a UTF-8 subject comes through decoded`, async () => {
        const { client } = await handshake(impl, { ...agent("agent5"), ca: [nodeFixture("ca2-cert.pem")] }, { rejectUnauthorized: false });
        expect(client.getPeerCertificate().subject.CN).to.equal("Ádám Lippai");
      });
    }
  });

  describe("test-tls-peer-certificate-multi-keys", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: a subject with two OUs is an array on both sides (getCertificate, getPeerCertificate)`, async () => {
        const server = cleanup.server(impl.createServer({ key: nodeFixture("rsa_private.pem"), cert: nodeFixture("rsa_cert.crt") }, (s) => s.end("World")));
        const port = await listenLocal(server);
        const accepted = next<[AnySocket]>(server, "secureConnection");
        const c = cleanup.stream(impl.connect({ ...impl.client, port, host: "127.0.0.1", rejectUnauthorized: false }));
        await next(c, "secureConnect");
        const [s] = await accepted;
        const ous = ["Test TLS Certificate", "Engineering"];
        expect((s.getCertificate() as nodeTls.PeerCertificate).subject.OU).to.deep.equal(ous);
        expect(c.getPeerCertificate().subject.OU).to.deep.equal(ous);
      });
    }
  });

  describe("test-tls-server-connection-server", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: the raw socket of 'connection' has .server set to the tls server`, async () => {
        const server = cleanup.server(impl.createServer(agent("agent1"), (s) => s.end("hello")));
        const port = await listenLocal(server);
        const conn = next<[net.Socket & { server?: unknown }]>(server, "connection");
        const c = cleanup.stream(impl.connect({ ...impl.client, port, host: "127.0.0.1", rejectUnauthorized: false }));
        c.on("error", () => {});
        const [raw] = await conn;
        expect(raw.server).to.equal(server);
      });
    }
  });

  describe("test-tls-connect-simple", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: two clients connect, each is a 'secureConnection', and closing every socket lets the server close`, async () => {
        // node's test builds the server with tls.Server(...) without `new`; mlstls needs `new` today (see report).
        const server = cleanup.server(new impl.Server(agent("agent1")));
        const port = await listenLocal(server);
        let connections = 0;
        server.on("secureConnection", (s: AnySocket) => {
          connections++;
          s.end();
        });
        for (let i = 0; i < 2; i++) {
          const c = cleanup.stream(impl.connect({ ...impl.client, port, host: "127.0.0.1", rejectUnauthorized: false }));
          await next(c, "secureConnect");
          const done = closed(c);
          c.end();
          await done;
        }
        expect(connections).to.equal(2);
        await new Promise<void>((resolve) => server.close(() => resolve()));
      });
    }
  });

  describe("test-tls-wrap-event-emmiter", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: a TLSSocket over a plain EventEmitter is a TypeError`, () => {
        expect(() => new impl.TLSSocket(new EventEmitter())).to.throw(TypeError);
      });
    }
  });

  describe("test-tls-snicallback-error", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: an SNICallback that is not a function is ERR_INVALID_ARG_TYPE, on createServer and on a server TLSSocket`, () => {
        for (const SNICallback of ["fhqwhgads", 42, {}, []]) {
          expect(() => impl.createServer({ SNICallback }), String(SNICallback)).to.throw(TypeError).with.property("code", "ERR_INVALID_ARG_TYPE");
          const raw = new net.Socket();
          expect(() => new impl.TLSSocket(raw, { isServer: true, SNICallback }), String(SNICallback))
            .to.throw(TypeError).with.property("code", "ERR_INVALID_ARG_TYPE");
          raw.destroy();
        }
      });
    }
  });

  describe("test-tls-root-certificates", () => {
    it("mlstls.rootCertificates is node's list: the same PEM strings, a frozen array, a read-only binding", () => {
      expect(mlstls.rootCertificates).to.deep.equal(nodeTls.rootCertificates);
      expect(Object.isFrozen(mlstls.rootCertificates)).to.equal(true);
      expect(mlstls.rootCertificates.length).to.be.greaterThan(0);
      for (const pem of mlstls.rootCertificates) expect(pem).to.match(/^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----$/);
      expect(() => {
        (mlstls as unknown as { rootCertificates: unknown }).rootCertificates = 0;
      }).to.throw(TypeError);
    });
  });

  describe("test-tls-check-server-identity", () => {
    it("mlstls.checkServerIdentity decides as node's on wildcard, IP and CN-fallback cases", () => {
      const cases: { host: string; cert: Record<string, unknown> }[] = [
        { host: "a.com", cert: { subject: { CN: "a.com" } } },
        { host: "a.com", cert: { subject: { CN: "b.com" } } },
        { host: "b.a.com", cert: { subjectaltname: "DNS:*.a.com", subject: {} } },
        { host: "a.b.a.com", cert: { subjectaltname: "DNS:*.a.com", subject: {} } },
        { host: "8.8.8.8", cert: { subjectaltname: "IP Address:8.8.8.8", subject: {} } },
        { host: "8.8.4.4", cert: { subjectaltname: "IP Address:8.8.8.8", subject: {} } },
        { host: "a.com", cert: { subjectaltname: "DNS:b.com", subject: { CN: "a.com" } } },
      ];
      for (const { host, cert } of cases) {
        const ours = mlstls.checkServerIdentity(host, cert as unknown as nodeTls.PeerCertificate);
        const theirs = nodeTls.checkServerIdentity(host, cert as unknown as nodeTls.PeerCertificate);
        expect(ours?.message, host).to.equal(theirs?.message);
      }
    });
  });
});
