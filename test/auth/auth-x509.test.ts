// X.509 authentication through real sockets on both sides: node:tls and mlstls given the same key, cert, ca and
// servername decide the same, case by case, with the same error codes and certificate objects; the attacker with
// a valid chain but not its key; rejectUnauthorized: false; requestCert; each key type end to end.

import { expect } from "chai";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tls from "node:tls";
import { AlertDescription } from "../../lib/errors.js";
import { createIdentity, identityFromPem, suitesForKey } from "../../lib/auth/identity.js";
import * as mlstls from "../../lib/index.js";
import { identityFromKeys } from "../../lib/mls/index.js";
import { Cleanup, fixture, issueCertificate, listen, waitFor } from "../helpers/sockets.js";
import { CLIENT_CASES, CLIENT_CERT_CASES, type ClientCase } from "../helpers/x509-cases.js";
import { alertCode } from "../helpers/node-alerts.js";

const ROOT = fixture("root-ca.pem");

type KeyType = "ed25519" | "p256" | "p384";
/**
 * Server certificates for localhost with keys of their own: an MLS group refuses a client whose signature key is
 * the server's (RFC 9420 requires distinct leaf keys), so a client may not reuse the server's fixture.
 */
const serverCerts = {} as Record<KeyType, { key: Buffer; chain: Buffer; cert: Buffer }>;

type CodedError = Error & { code?: string; reason?: string; host?: string; cert?: tls.PeerCertificate; alert?: number };
type AnySocket = tls.TLSSocket | mlstls.MlsTlsSocket;

/** A detailed certificate object as a list, so two of them compare with deep equality. */
function flatten(cert: object | null): { certs: object[]; selfSigned: boolean } {
  const certs: object[] = [];
  let cur = cert as tls.DetailedPeerCertificate | undefined;
  let selfSigned = false;
  while (cur !== undefined && cur !== null && Object.keys(cur).length > 0 && certs.length < 10) {
    const { issuerCertificate, ...rest } = cur;
    certs.push(rest);
    if (issuerCertificate === cur) {
      selfSigned = true;
      break;
    }
    cur = issuerCertificate;
  }
  return { certs, selfSigned };
}

function errorShape(e: CodedError | undefined): object | null {
  return e === undefined ? null : { code: e.code ?? null, message: e.message, reason: e.reason, host: e.host };
}

/** Resolves on 'secureConnect' or the first 'error'; later errors are ignored. */
function attempt<T extends AnySocket>(socket: T): Promise<{ socket: T; error?: CodedError }> {
  return new Promise((resolve) => {
    socket.on("error", (error: CodedError) => resolve({ socket, error }));
    socket.once("secureConnect", () => resolve({ socket }));
  });
}

/** The MLS suite a client holding (or talking to a server holding) this key must offer. */
function suiteOf(keyFile: string): number {
  return suitesForKey(fixture(keyFile))[0]!;
}

/** Only the options a case sets: node:tls treats a present-but-undefined option as given. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}


interface ClientOutcome {
  error: object | null;
  authorized: boolean | undefined;
  authorizationError: string | null;
  certificate: { certs: object[]; selfSigned: boolean };
}

describe("auth x509", () => {
  let certDir: string;
  before(function () {
    this.timeout(30_000);
    certDir = mkdtempSync(join(tmpdir(), "mlstls-test-"));
    for (const keyType of ["ed25519", "p256", "p384"] as const) {
      serverCerts[keyType] = issueCertificate(certDir, { keyType, subject: "/CN=localhost/O=mlstls test server" });
    }
  });
  after(() => rmSync(certDir, { recursive: true, force: true }));

  describe("auth x509: node:tls and mlstls decide the same, through real sockets", function () {
    this.timeout(60_000);
    const cleanup = new Cleanup();

    /** A strict and a lax client against a server with the case's key and chain. */
    async function clientOutcome(impl: "node" | "mlstls", c: ClientCase): Promise<ClientOutcome> {
      const server =
        impl === "node"
          ? cleanup.server(tls.createServer({ key: fixture(c.key), cert: c.chain }, (s) => s.end()))
          : cleanup.server(mlstls.createServer({ key: fixture(c.key), cert: c.chain }, (s) => s.end()));
      server.on("tlsClientError", () => {});
      const port = await listen(server);
      const opts = defined({
        port,
        host: "127.0.0.1",
        ca: c.ca,
        servername: c.servername,
        checkServerIdentity: c.checkServerIdentity,
        allowPartialTrustChain: c.allowPartialTrustChain,
      });
      // The MLS client offers one suite: the one the server's key signs for.
      const dial = (rejectUnauthorized: boolean): AnySocket =>
        cleanup.stream(
          impl === "node"
            ? tls.connect({ ...opts, rejectUnauthorized })
            : mlstls.connect({ ...opts, rejectUnauthorized, ciphersuites: suiteOf(c.key) }),
        );
      const strict = await attempt(dial(true));
      const lax = await attempt(dial(false));
      expect(lax.error, `${impl}, ${c.name}: rejectUnauthorized: false connects`).to.equal(undefined);
      return {
        error: errorShape(strict.error),
        authorized: lax.socket.authorized,
        // @types/node declares an Error; node sets the code string.
        authorizationError: (lax.socket.authorizationError as unknown as string | null) ?? null,
        certificate: flatten(lax.socket.getPeerCertificate(true)),
      };
    }

    it("clients verifying servers: every case, the same error, verdict and certificate object", async () => {
      const mismatches: string[] = [];
      for (const c of CLIENT_CASES) {
        const node = await clientOutcome("node", c);
        const ours = await clientOutcome("mlstls", c);
        expect(node.authorizationError, `node's verdict for "${c.name}"`).to.equal(c.expect);
        expect(node.authorized, c.name).to.equal(c.expect === null);
      expect(node.certificate.certs.length, c.name).to.be.greaterThan(0);
        try {
          expect(ours).to.deep.equal(node);
        } catch {
          mismatches.push(`${c.name}:\n  mlstls   ${JSON.stringify(ours).slice(0, 400)}\n  node:tls ${JSON.stringify(node).slice(0, 400)}`);
        }
      }
      expect(mismatches, mismatches.join("\n")).to.deep.equal([]);
    });

    it("servers verifying clients (requestCert): the same decision, and node's code in 'tlsClientError'", async () => {
      const cases = CLIENT_CERT_CASES;
      // One key per type, so the mlstls server can serve whichever suite the client's key implies.
      const types = ["ed25519", "p256", "p384"] as const;
      const identities = {
        key: types.map((t) => serverCerts[t].key),
        cert: types.map((t) => serverCerts[t].chain),
      };
      type Verdict = { secure?: AnySocket; error?: CodedError };
      const run = async (impl: "node" | "mlstls", key: string, chain: Buffer, rejectUnauthorized: boolean): Promise<Verdict> => {
        const verify = { ca: ROOT, requestCert: true, rejectUnauthorized };
        const server =
          impl === "node"
            ? cleanup.server(tls.createServer({ key: serverCerts.p256.key, cert: serverCerts.p256.chain, ...verify }))
            : cleanup.server(mlstls.createServer({ ...identities, ...verify }));
        const verdict = new Promise<Verdict>((resolve) => {
          server.once("secureConnection", (secure: AnySocket) => resolve({ secure }));
          server.once("tlsClientError", (error: CodedError) => resolve({ error }));
        });
        const port = await listen(server);
        const client = { port, host: "127.0.0.1", servername: "localhost", ca: ROOT, key: fixture(key), cert: chain };
        const socket = cleanup.stream(impl === "node" ? tls.connect(client) : mlstls.connect(client));
        socket.on("error", () => {});
        return verdict;
      };
      const mismatches: string[] = [];
      for (const [name, key, chain, expected] of cases) {
        const lax = { node: await run("node", key, chain, false), mlstls: await run("mlstls", key, chain, false) };
        const shape = (v: Verdict) => ({
          authorized: v.secure?.authorized,
          authorizationError: (v.secure?.authorizationError as unknown as string | null | undefined) ?? null,
          certificate: flatten(v.secure?.getPeerCertificate(true) ?? null),
        });
        expect(shape(lax.node).authorizationError, `node's verdict for "${name}"`).to.equal(expected);
        try {
          expect(shape(lax.mlstls)).to.deep.equal(shape(lax.node));
        } catch {
          mismatches.push(`${name} (rejectUnauthorized: false): mlstls ${JSON.stringify(shape(lax.mlstls)).slice(0, 300)}`);
        }
        const strict = { node: await run("node", key, chain, true), mlstls: await run("mlstls", key, chain, true) };
        if ((strict.node.secure !== undefined) !== (strict.mlstls.secure !== undefined)) {
          mismatches.push(`${name}: node:tls ${strict.node.secure ? "accepts" : "refuses"}, mlstls does not`);
        }
        // node's server reports OpenSSL's handshake failure; mlstls reports the verification error itself.
        if (expected !== null) expect(strict.mlstls.error?.code, name).to.equal(expected);
      }
      expect(mismatches, mismatches.join("\n")).to.deep.equal([]);
    });

    it("servers without requestCert verify no one: authorized false, authorizationError null (as node)", async () => {
      for (const impl of ["node", "mlstls"] as const) {
        const options = { key: fixture("p256.key"), cert: fixture("p256-chain.pem") };
        const server = cleanup.server(impl === "node" ? tls.createServer(options) : mlstls.createServer(options));
        const port = await listen(server);
        const secure = waitFor<[AnySocket]>(server, "secureConnection");
        const client = { port, host: "127.0.0.1", ca: ROOT, servername: "localhost", key: fixture("client-only.key"), cert: fixture("client-only-chain.pem") };
        const { error } = await attempt(cleanup.stream(impl === "node" ? tls.connect(client) : mlstls.connect({ ...client, ciphersuites: 2 })));
        expect(error, impl).to.equal(undefined);
        const [s] = await secure;
        expect(s.authorized, impl).to.equal(false);
        expect(s.authorizationError, impl).to.equal(null);
      }
    });
  });

  describe("auth x509: the certificate must be the MLS key's", () => {
    const cleanup = new Cleanup();

    it("a server with a valid chain for the host but another MLS key cannot connect, even unverified", async () => {
      const stolen = identityFromPem({ key: fixture("p256.key"), cert: fixture("p256-chain.pem") });
      const attacker = createIdentity({ suite: 2 });
      const forged = identityFromKeys(2, stolen.credential, attacker.signaturePublicKey, attacker.signaturePrivateKey);
      // Configured statically, the mismatch is a configuration error; the function form hands it over unchecked.
      expect(() => mlstls.createServer({ identity: forged })).to.throw(TypeError).with.property("code", "ERR_MLSTLS_KEY_CERT_MISMATCH");
      const server = cleanup.server(mlstls.createServer({ identity: () => forged }));
      const port = await listen(server);
      for (const rejectUnauthorized of [true, false]) {
        const serverErr = waitFor<[CodedError]>(server, "tlsClientError");
        const c = cleanup.stream(
          mlstls.connect({ port, host: "127.0.0.1", servername: "localhost", ca: ROOT, ciphersuites: 2, rejectUnauthorized }),
        );
        const { error } = await attempt(c);
        expect(error?.code).to.equal("ERR_MLSTLS_CERT_KEY_MISMATCH");
        expect(c.authorized).to.equal(false);
        const [err] = await serverErr;
        expect(err).to.include({ code: alertCode(AlertDescription.bad_certificate), alert: AlertDescription.bad_certificate });
      }
      // The honest holder of the key gets through with the same chain.
      const honest = cleanup.server(mlstls.createServer({ key: fixture("p256.key"), cert: fixture("p256-chain.pem") }));
      const honestPort = await listen(honest);
      const ok = await attempt(cleanup.stream(mlstls.connect({ port: honestPort, host: "127.0.0.1", servername: "localhost", ca: ROOT, ciphersuites: 2 })));
      expect(ok.error).to.equal(undefined);
      expect(ok.socket.authorized).to.equal(true);
    });

    it("a client presenting someone else's certificate is refused by a requestCert server", async () => {
      const victim = identityFromPem({ key: fixture("ed25519.key"), cert: fixture("ed25519-chain.pem") });
      const attacker = createIdentity({ suite: 1 });
      const forged = identityFromKeys(1, victim.credential, attacker.signaturePublicKey, attacker.signaturePrivateKey);
      const server = cleanup.server(
        mlstls.createServer({ key: fixture("ed25519.key"), cert: fixture("ed25519-chain.pem"), ca: ROOT, requestCert: true, rejectUnauthorized: false }),
      );
      const port = await listen(server);
      const serverErr = waitFor<[CodedError]>(server, "tlsClientError");
      const c = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", servername: "localhost", ca: ROOT, identity: () => forged }));
      const { error } = await attempt(c);
      expect(error).to.include({ code: alertCode(AlertDescription.bad_certificate), alert: AlertDescription.bad_certificate });
      expect((await serverErr)[0].code).to.equal("ERR_MLSTLS_CERT_KEY_MISMATCH");
    });
  });

  describe("auth x509: sockets", () => {
    const cleanup = new Cleanup();

    for (const [key, suite, name] of [
      ["ed25519", 1, "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519"],
      ["p256", 2, "MLS_128_DHKEMP256_AES128GCM_SHA256_P256"],
      ["p384", 7, "MLS_256_DHKEMP384_AES256GCM_SHA384_P384"],
    ] as const) {
      it(`${key}: both sides authenticated end to end, certificates as node:tls shows them`, async () => {
        const creds = { key: fixture(`${key}.key`), cert: fixture(`${key}-chain.pem`) };
        const own = { key: serverCerts[key].key, cert: serverCerts[key].chain };
        const server = cleanup.server(mlstls.createServer({ ...own, ca: ROOT, requestCert: true }));
        const port = await listen(server);
        const secure = waitFor<[mlstls.MlsTlsSocket]>(server, "secureConnection");
        // The client's key implies suite `suite`, so that is what it offers.
        const { socket: c, error } = await attempt(cleanup.stream(mlstls.connect({ port, host: "localhost", ca: ROOT, ...creds })));
        expect(error).to.equal(undefined);
        const [s] = await secure;
        expect(c.getCipher()?.name).to.equal(name);
        expect(c.suite?.id).to.equal(suite);
        expect([c.authorized, c.authorizationError, s.authorized, s.authorizationError]).to.deep.equal([true, null, true, null]);
        const clientLeaf = new X509Certificate(fixture(`${key}.pem`));
        const serverLeaf = new X509Certificate(serverCerts[key].cert);
        expect(c.getPeerX509Certificate()?.fingerprint256).to.equal(serverLeaf.fingerprint256);
        expect(s.getX509Certificate()?.fingerprint256).to.equal(serverLeaf.fingerprint256);
        expect(s.getPeerX509Certificate()?.fingerprint256).to.equal(clientLeaf.fingerprint256);
        expect(c.getX509Certificate()?.fingerprint256).to.equal(clientLeaf.fingerprint256);
        expect((c.getPeerCertificate() as tls.PeerCertificate).subject.O).to.equal("mlstls test server");

        // getCertificate() and getPeerCertificate() are the objects node:tls builds for the same certificate.
        const nodeServer = cleanup.server(tls.createServer({ ...own, ca: ROOT, requestCert: true }));
        const nodePort = await listen(nodeServer);
        const nodeSecure = waitFor<[tls.TLSSocket]>(nodeServer, "secureConnection");
        const n = await attempt(cleanup.stream(tls.connect({ port: nodePort, host: "localhost", ca: ROOT, ...creds })));
        const [ns] = await nodeSecure;
        expect(s.getCertificate()).to.deep.equal(ns.getCertificate());
        expect(c.getCertificate()).to.deep.equal(n.socket.getCertificate());
        expect(c.getPeerCertificate()).to.deep.equal(n.socket.getPeerCertificate());
        expect(s.getPeerCertificate()).to.deep.equal(ns.getPeerCertificate());
      });
    }

    it("rejectUnauthorized: false: 'secureConnect' with authorized false and node's code", async () => {
      const server = cleanup.server(mlstls.createServer({ key: fixture("expired.key"), cert: fixture("expired-chain.pem") }));
      const port = await listen(server);
      const c = cleanup.stream(mlstls.connect({ port, host: "localhost", ca: ROOT, ciphersuites: 2, rejectUnauthorized: false }));
      await waitFor(c, "secureConnect");
      expect(c.authorized).to.equal(false);
      expect(c.authorizationError).to.equal("CERT_HAS_EXPIRED");
      expect((c.getPeerCertificate() as tls.PeerCertificate).valid_to).to.match(/2001/);
      c.write("still usable");
      c.end();
    });

    it("a strict client refusing the server: node's error object on 'error', the alert on the server", async () => {
      const server = cleanup.server(mlstls.createServer({ key: fixture("p256.key"), cert: fixture("p256-chain.pem") }));
      const port = await listen(server);
      const serverErr = waitFor<[CodedError]>(server, "tlsClientError");
      const c = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", servername: "example.com", ca: ROOT, ciphersuites: 2 }));
      const closed = waitFor<[boolean]>(c, "close");
      const [err] = await waitFor<[CodedError]>(c, "error");
      expect(err.code).to.equal("ERR_TLS_CERT_ALTNAME_INVALID");
      expect(err.reason).to.equal("Host: example.com. is not in the cert's altnames: DNS:localhost, IP Address:127.0.0.1");
      expect(err.host).to.equal("example.com");
      expect(err.cert?.subject.CN).to.equal("localhost");
      expect((await closed)[0]).to.equal(true);
      expect((await serverErr)[0]).to.include({ code: alertCode(AlertDescription.bad_certificate), alert: AlertDescription.bad_certificate });
    });

    it("requestCert: an anonymous client is ERR_MLSTLS_X509_REQUIRED, or unauthorized with rejectUnauthorized: false", async () => {
      const creds = { key: fixture("ed25519.key"), cert: fixture("ed25519-chain.pem"), ca: ROOT, requestCert: true };
      const strict = cleanup.server(mlstls.createServer(creds));
      const port = await listen(strict);
      const serverErr = waitFor<[CodedError]>(strict, "tlsClientError");
      const { error } = await attempt(cleanup.stream(mlstls.connect({ port, host: "localhost", ca: ROOT })));
      expect(error).to.include({ code: alertCode(AlertDescription.certificate_required), alert: AlertDescription.certificate_required });
      // node's code for it (the engine's ERR_MLSTLS_X509_REQUIRED is its cause).
      expect((await serverErr)[0].code).to.equal("ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE");

      const lax = cleanup.server(mlstls.createServer({ ...creds, rejectUnauthorized: false }));
      const laxPort = await listen(lax);
      const secure = waitFor<[mlstls.MlsTlsSocket]>(lax, "secureConnection");
      const client = cleanup.stream(mlstls.connect({ port: laxPort, host: "localhost", ca: ROOT }));
      await waitFor(client, "secureConnect");
      const [s] = await secure;
      expect(s.authorized).to.equal(false);
      expect(s.authorizationError).to.equal("ERR_MLSTLS_X509_REQUIRED");
      expect(s.getPeerCertificate()).to.include({ credentialType: "basic" });
      expect(s.getPeerX509Certificate()).to.equal(undefined);
    });

    it("chains with constraints mlstls does not enforce: ERR_MLSTLS_UNSUPPORTED_CERTIFICATE (node:tls would accept)", async () => {
      const server = cleanup.server(mlstls.createServer({ key: fixture("constrained-issued.key"), cert: fixture("constrained-issued-chain.pem") }));
      const port = await listen(server);
      const serverErr = waitFor<[CodedError]>(server, "tlsClientError");
      const { error } = await attempt(cleanup.stream(mlstls.connect({ port, host: "localhost", ca: ROOT, ciphersuites: 2 })));
      expect(error?.code).to.equal("ERR_MLSTLS_UNSUPPORTED_CERTIFICATE");
      expect((await serverErr)[0]).to.include({ alert: AlertDescription.unsupported_certificate });
    });

    it("an unparseable certificate is ERR_MLSTLS_BAD_CREDENTIAL, even with rejectUnauthorized: false", async () => {
      const key = createIdentity({ suite: 1 });
      const garbage = identityFromKeys(1, { type: "x509", certificates: [Uint8Array.of(0x30, 3, 1, 2, 3)] }, key.signaturePublicKey, key.signaturePrivateKey);
      const server = cleanup.server(mlstls.createServer({ identity: () => garbage }));
      const port = await listen(server);
      const { error } = await attempt(cleanup.stream(mlstls.connect({ port, host: "localhost", ca: ROOT, rejectUnauthorized: false })));
      expect(error?.code).to.equal("ERR_MLSTLS_BAD_CREDENTIAL");
    });
  });
});
