// Peer verification with node:tls semantics: parity with a real node:tls client and server case by case, the MLS
// key binding (the impersonation check), pinned keys, rejectUnauthorized, and identity continuity.

import { expect } from "chai";
import { createPrivateKey, X509Certificate } from "node:crypto";
import type { AddressInfo } from "node:net";
import * as tls from "node:tls";
import { AlertDescription, MlsTlsError } from "../../lib/errors.js";
import { createIdentity, identityFromPem, mlsPublicKeyOf } from "../../lib/auth/identity.js";
import { identityFromKeys, type PeerCredential } from "../../lib/mls/index.js";
import {
  makeValidator,
  peerCertificateObject,
  TrustStore,
  validatorFromTlsOptions,
  verificationErrorOf,
  verifyPinned,
  verifyX509Peer,
  type PeerValidator,
  type VerificationError,
} from "../../lib/auth/verify.js";
import { Pair } from "../helpers/pair.js";
import { CLIENT_CASES, CLIENT_CERT_CASES, ROOT, badSignatureChain, fixture } from "../helpers/x509-cases.js";



function dersOf(chainPem: Buffer): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const m of chainPem.toString().matchAll(/-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/g)) {
    out.push(new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ""), "base64")));
  }
  return out;
}

/** The credential an honest peer holding the chain's key presents. */
function honestPeer(chainPem: Buffer): PeerCredential {
  const certificates = dersOf(chainPem);
  return { credential: { type: "x509", certificates }, signaturePublicKey: mlsPublicKeyOf(new X509Certificate(certificates[0]!))! };
}


/** A detailed certificate object as a list, so two of them compare with deep equality. */
function flatten(cert: tls.DetailedPeerCertificate | Record<string, never>): { certs: object[]; selfSigned: boolean } {
  const certs: object[] = [];
  let cur = cert as tls.DetailedPeerCertificate | undefined;
  let selfSigned = false;
  while (cur !== undefined && certs.length < 10) {
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

/** A readable line for a mismatch: the verdict, and the certificate chain by subject. */
function summary(o: { error?: unknown; authorized?: boolean; authorizationError?: string | null; certificate: { certs: object[]; selfSigned: boolean } } | undefined): string {
  if (o === undefined) return "no connection";
  const chain = o.certificate.certs.map((c) => (c as tls.PeerCertificate).subject?.CN).join(" > ");
  return JSON.stringify({ error: o.error ?? null, authorized: o.authorized, authorizationError: o.authorizationError, chain, selfSigned: o.certificate.selfSigned });
}

function errorShape(e: (VerificationError & { reason?: string; host?: string }) | null | undefined) {
  return e === null || e === undefined ? null : { code: e.code ?? null, message: e.message, reason: e.reason, host: e.host };
}

/** Runs `fn` on a fresh local node:tls server and closes it and every connection afterwards. */
async function withServer<T>(opts: tls.TlsOptions, onSecure: (s: tls.TLSSocket) => void, fn: (port: number) => Promise<T>): Promise<T> {
  const server = tls.createServer(opts);
  const sockets = new Set<import("node:net").Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("tlsClientError", () => {});
  server.on("secureConnection", (s) => {
    onSecure(s);
    s.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    return await fn((server.address() as AddressInfo).port);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function connect(opts: tls.ConnectionOptions): Promise<{ socket?: tls.TLSSocket; error?: Error }> {
  return new Promise((resolve) => {
    const socket = tls.connect(opts, () => resolve({ socket }));
    socket.on("error", (error) => resolve({ error }));
  });
}

// ---------------------------------------------------------------------------------------------------------------


describe("verify: same decisions and errors as node:tls", function () {
  this.timeout(20000);

  it("client verifying servers: every case, node:tls and mlstls side by side", async () => {
    const mismatches: string[] = [];
    for (const c of CLIENT_CASES) {
      const peer = honestPeer(c.chain);
      // node:tls treats a present-but-undefined option as given, so only set what the case sets.
      const connectOpts = Object.fromEntries(
        Object.entries({
          host: "127.0.0.1",
          ca: c.ca,
          servername: c.servername,
          checkServerIdentity: c.checkServerIdentity,
          allowPartialTrustChain: c.allowPartialTrustChain,
        }).filter(([, v]) => v !== undefined),
      ) as tls.ConnectionOptions & { allowPartialTrustChain?: boolean };
      const node = await withServer({ key: fixture(c.key), cert: c.chain }, () => {}, async (port) => {
        const strict = await connect({ ...connectOpts, port });
        strict.socket?.destroy();
        const lax = await connect({ ...connectOpts, port, rejectUnauthorized: false });
        const outcome = {
          error: errorShape(strict.error as VerificationError),
          authorized: lax.socket?.authorized,
          // @types/node declares an Error; node sets the code string.
          authorizationError: (lax.socket?.authorizationError as unknown as string | undefined) ?? null,
          certificate: flatten(lax.socket!.getPeerCertificate(true)),
        };
        lax.socket?.destroy();
        return outcome;
      });

      const strict = validatorFromTlsOptions("client", { ...connectOpts });
      let thrown: unknown;
      try {
        await strict.validate(peer);
      } catch (e) {
        thrown = e;
      }
      const lax = validatorFromTlsOptions("client", { ...connectOpts, rejectUnauthorized: false });
      expect(await lax.validate(peer), c.name).to.equal(true);
      const ours = {
        error: errorShape(thrown === undefined ? null : verificationErrorOf(thrown)),
        authorized: lax.authorized,
        authorizationError: lax.authorizationError,
        certificate: flatten(lax.getPeerCertificate(true) as tls.DetailedPeerCertificate),
      };
      expect(node.authorizationError, `node's verdict for "${c.name}"`).to.equal(c.expect);
      try {
        expect(ours).to.deep.equal(node);
      } catch {
        mismatches.push(`${c.name}: mlstls ${summary(ours)}, node:tls ${summary(node)}`);
      }
      if (thrown !== undefined) {
        expect(thrown, c.name).to.be.instanceOf(MlsTlsError).with.property("code", "ERR_MLSTLS_BAD_CREDENTIAL");
      }
    }
    expect(mismatches, mismatches.join("\n")).to.deep.equal([]);
  });

  it("servers verifying client certificates (requestCert): every case, node:tls and mlstls side by side", async () => {
    const cases = CLIENT_CERT_CASES;
    const mismatches: string[] = [];
    for (const [name, key, chain, expected] of cases) {
      let seen: { authorized: boolean; authorizationError: string | null; certificate: ReturnType<typeof flatten> } | undefined;
      await withServer(
        { key: fixture("p256.key"), cert: fixture("p256-chain.pem"), ca: ROOT, requestCert: true, rejectUnauthorized: false },
        (s) => {
          seen = {
            authorized: s.authorized,
            authorizationError: (s.authorizationError as unknown as string | undefined) ?? null,
            certificate: flatten(s.getPeerCertificate(true)),
          };
        },
        async (port) => {
          const { socket } = await connect({ port, host: "127.0.0.1", servername: "localhost", ca: ROOT, key: fixture(key), cert: chain });
          await new Promise((r) => socket!.once("close", r).resume());
        },
      );
      const v = validatorFromTlsOptions("server", { requestCert: true, ca: ROOT, rejectUnauthorized: false });
      await v.validate(honestPeer(chain));
      const ours = { authorized: v.authorized, authorizationError: v.authorizationError, certificate: flatten(v.getPeerCertificate(true) as tls.DetailedPeerCertificate) };
      expect(seen?.authorizationError, `node's verdict for "${name}"`).to.equal(expected);
      try {
        expect(ours).to.deep.equal(seen);
      } catch {
        mismatches.push(`${name}: mlstls ${summary(ours)}, node:tls ${summary(seen)}`);
      }
    }
    expect(mismatches, mismatches.join("\n")).to.deep.equal([]);
  });

  it("builds getPeerCertificate() objects identical to node's, abbreviated and detailed", async () => {
    const chain = fixture("depth3-chain.pem");
    const got = await withServer({ key: fixture("depth3.key"), cert: chain }, () => {}, async (port) => {
      const { socket } = await connect({ port, host: "127.0.0.1", servername: "localhost", ca: ROOT });
      const out = { short: socket!.getPeerCertificate(), long: socket!.getPeerCertificate(true) };
      socket!.destroy();
      return out;
    });
    const peer = honestPeer(chain);
    expect(peerCertificateObject(peer)).to.deep.equal(got.short);
    expect(peerCertificateObject(peer)).to.not.have.property("issuerCertificate");
    const detailed = peerCertificateObject(peer, { detailed: true, ca: ROOT }) as tls.DetailedPeerCertificate;
    expect(flatten(detailed)).to.deep.equal(flatten(got.long));
    expect(flatten(detailed).certs).to.have.length(4);
    expect(detailed.issuerCertificate.issuerCertificate.issuerCertificate.issuerCertificate).to.equal(detailed.issuerCertificate.issuerCertificate.issuerCertificate);
  });
});

// ---------------------------------------------------------------------------------------------------------------

function attackerPeer(chainPem: Buffer): PeerCredential {
  // Someone who has the (public) chain but not its key signs MLS with a key of their own.
  const attacker = createIdentity({ suite: 2 });
  return { credential: { type: "x509", certificates: dersOf(chainPem) }, signaturePublicKey: attacker.signaturePublicKey };
}

async function refusalOf(v: PeerValidator, peer: PeerCredential): Promise<MlsTlsError> {
  try {
    await v.validate(peer);
  } catch (e) {
    expect(e).to.be.instanceOf(MlsTlsError);
    return e as MlsTlsError;
  }
  throw new Error("validator accepted the peer");
}

describe("verify: the certificate must hold the MLS signature key", () => {
  it("refuses a valid chain for the host presented with another MLS key: ERR_MLSTLS_CERT_KEY_MISMATCH", () => {
    const good = verifyX509Peer(honestPeer(fixture("p256-chain.pem")), { ca: ROOT, host: "localhost" });
    expect(good.authorized).to.equal(true);
    const bad = verifyX509Peer(attackerPeer(fixture("p256-chain.pem")), { ca: ROOT, host: "localhost" });
    expect(bad.authorized).to.equal(false);
    expect(bad.error).to.have.property("code", "ERR_MLSTLS_CERT_KEY_MISMATCH");
    // Also when the key types differ (an Ed25519 certificate with a P-256 MLS key) and for an RSA certificate.
    expect(verifyX509Peer(attackerPeer(fixture("ed25519-chain.pem")), { ca: ROOT, host: "localhost" }).error).to.have.property("code", "ERR_MLSTLS_CERT_KEY_MISMATCH");
    expect(verifyX509Peer(attackerPeer(fixture("rsa-chain.pem")), { ca: ROOT, host: "localhost" }).error).to.have.property("code", "ERR_MLSTLS_CERT_KEY_MISMATCH");
  });

  it("refuses the mismatch even with rejectUnauthorized: false, in every mode", async () => {
    for (const v of [
      validatorFromTlsOptions("client", { ca: ROOT, servername: "localhost", rejectUnauthorized: false }),
      validatorFromTlsOptions("server", { requestCert: false }),
      makeValidator({ mode: "pinned", verifyPeer: () => true, rejectUnauthorized: false }),
    ]) {
      const err = await refusalOf(v, attackerPeer(fixture("p256-chain.pem")));
      expect(err.code).to.equal("ERR_MLSTLS_BAD_CREDENTIAL");
      expect(err.alert).to.equal(AlertDescription.bad_certificate);
      expect(verificationErrorOf(err)).to.have.property("code", "ERR_MLSTLS_CERT_KEY_MISMATCH");
      expect(v.authorized).to.equal(false);
    }
    expect((await verifyPinned(attackerPeer(fixture("p256-chain.pem")), { verifyPeer: () => true })).error).to.have.property("code", "ERR_MLSTLS_CERT_KEY_MISMATCH");
  });

  it("an attacker with the server's chain but not its key cannot complete an MLS handshake", async () => {
    const attacker = createIdentity({ suite: 2 });
    const stolen = identityFromPem({ key: fixture("p256.key"), cert: fixture("p256-chain.pem") });
    const forged = identityFromKeys(2, stolen.credential, attacker.signaturePublicKey, attacker.signaturePrivateKey);
    const clientCheck = validatorFromTlsOptions("client", { ca: ROOT, servername: "localhost", rejectUnauthorized: false });
    const p = new Pair({
      client: { suites: [2], serverName: "localhost", validatePeer: clientCheck.validate },
      server: { suites: [2], identity: forged },
    });
    await p.handshake();
    expect(p.initiator.established).to.equal(false);
    expect(p.client.errors[0]?.code).to.equal("ERR_MLSTLS_BAD_CREDENTIAL");
    expect(verificationErrorOf(p.client.errors[0])).to.have.property("code", "ERR_MLSTLS_CERT_KEY_MISMATCH");
    expect(p.server.errors[0]).to.include({ code: "ERR_MLSTLS_PEER_ALERT", alert: AlertDescription.bad_certificate });

    // The honest server, with the same chain and its real key, gets through.
    const honest = validatorFromTlsOptions("client", { ca: ROOT, servername: "localhost" });
    const q = new Pair({
      client: { suites: [2], serverName: "localhost", validatePeer: honest.validate },
      server: { suites: [2], identity: stolen },
    });
    await q.handshake();
    expect(q.client.errors).to.deep.equal([]);
    expect(q.initiator.established).to.equal(true);
    expect(honest.authorized).to.equal(true);
    expect((honest.getPeerCertificate() as tls.PeerCertificate).subject.CN).to.equal("localhost");
  });

  it("a server with requestCert refuses a client presenting someone else's certificate", async () => {
    const attacker = createIdentity({ suite: 1 });
    const victim = identityFromPem({ key: fixture("ed25519.key"), cert: fixture("ed25519-chain.pem") });
    const serverCheck = validatorFromTlsOptions("server", { requestCert: true, ca: ROOT });
    const p = new Pair({
      client: { suites: [1], identity: identityFromKeys(1, victim.credential, attacker.signaturePublicKey, attacker.signaturePrivateKey) },
      server: { validatePeer: serverCheck.validate },
    });
    await p.handshake();
    expect(p.responder.established).to.equal(false);
    expect(verificationErrorOf(p.server.errors[0])).to.have.property("code", "ERR_MLSTLS_CERT_KEY_MISMATCH");

    const honestCheck = validatorFromTlsOptions("server", { requestCert: true, ca: ROOT });
    const q = new Pair({ client: { suites: [1], identity: victim }, server: { validatePeer: honestCheck.validate } });
    await q.handshake();
    expect(q.responder.established).to.equal(true);
    expect(honestCheck.authorized).to.equal(true);
  });
});

describe("verify: rejectUnauthorized and node's error surface", () => {
  it("rejectUnauthorized: true refuses with node's error as the cause and OpenSSL's alert", async () => {
    const v = validatorFromTlsOptions("client", { ca: ROOT, servername: "localhost" });
    const err = await refusalOf(v, honestPeer(fixture("expired-chain.pem")));
    expect(err.code).to.equal("ERR_MLSTLS_BAD_CREDENTIAL");
    expect(err.alert).to.equal(AlertDescription.certificate_expired);
    expect(err.message).to.equal("peer verification failed: certificate has expired (CERT_HAS_EXPIRED)");
    const cause = verificationErrorOf(err)!;
    expect(cause).to.include({ code: "CERT_HAS_EXPIRED", message: "certificate has expired" });
    expect(v.authorizationError).to.equal("CERT_HAS_EXPIRED");
    expect(verificationErrorOf(new MlsTlsError("ERR_MLSTLS_BAD_CREDENTIAL", "x", { cause }))).to.equal(undefined);
    expect(verificationErrorOf(new Error("x"))).to.equal(undefined);

    const alt = await refusalOf(validatorFromTlsOptions("client", { ca: ROOT, servername: "example.com" }), honestPeer(fixture("p256-chain.pem")));
    const altCause = verificationErrorOf(alt) as VerificationError & { reason: string; host: string; cert: tls.PeerCertificate };
    expect(altCause).to.include({ code: "ERR_TLS_CERT_ALTNAME_INVALID", host: "example.com" });
    expect(altCause.reason).to.equal("Host: example.com. is not in the cert's altnames: DNS:localhost, IP Address:127.0.0.1");
    expect(altCause.cert.subject.CN).to.equal("localhost");
    expect(alt.alert).to.equal(AlertDescription.bad_certificate);

    const unknown = await refusalOf(validatorFromTlsOptions("client", { ca: ROOT }), honestPeer(fixture("unknown-ca.pem")));
    expect(unknown.alert).to.equal(AlertDescription.unknown_ca);
  });

  it("rejectUnauthorized: false accepts and records authorized=false with the code", async () => {
    const v = validatorFromTlsOptions("client", { ca: ROOT, servername: "localhost", rejectUnauthorized: false });
    expect(v.authorized).to.equal(false);
    expect(v.authorizationError).to.equal(null);
    expect(v.getPeerCertificate()).to.deep.equal({});
    expect(await v.validate(honestPeer(fixture("self-signed.pem")))).to.equal(true);
    expect(v.authorized).to.equal(false);
    expect(v.authorizationError).to.equal("DEPTH_ZERO_SELF_SIGNED_CERT");
    expect(v.verifyError).to.include({ message: "self-signed certificate" });
    expect((v.getPeerCertificate() as tls.PeerCertificate).subject.CN).to.equal("localhost");
  });

  it("the engine fails the handshake with the verification error, or completes it unauthorized", async () => {
    const expired = identityFromPem({ key: fixture("expired.key"), cert: fixture("expired-chain.pem") });
    const strict = validatorFromTlsOptions("client", { ca: ROOT, servername: "localhost" });
    const p = new Pair({ client: { suites: [2], validatePeer: strict.validate }, server: { identity: expired } });
    await p.handshake();
    expect(verificationErrorOf(p.client.errors[0])).to.include({ code: "CERT_HAS_EXPIRED" });
    expect(p.server.errors[0]).to.include({ code: "ERR_MLSTLS_PEER_ALERT", alert: AlertDescription.certificate_expired });

    const lax = validatorFromTlsOptions("client", { ca: ROOT, servername: "localhost", rejectUnauthorized: false });
    const q = new Pair({ client: { suites: [2], validatePeer: lax.validate }, server: { identity: expired } });
    await q.handshake();
    expect(q.initiator.established).to.equal(true);
    expect(lax.authorized).to.equal(false);
    expect(lax.authorizationError).to.equal("CERT_HAS_EXPIRED");
  });

  it("basic credentials where X.509 is required: ERR_MLSTLS_X509_REQUIRED", async () => {
    const anon = createIdentity();
    const server = validatorFromTlsOptions("server", { requestCert: true, ca: ROOT });
    const err = await refusalOf(server, anon);
    expect(verificationErrorOf(err)).to.have.property("code", "ERR_MLSTLS_X509_REQUIRED");
    expect(err.alert).to.equal(AlertDescription.certificate_required);
    const lax = validatorFromTlsOptions("server", { requestCert: true, ca: ROOT, rejectUnauthorized: false });
    expect(await lax.validate(anon)).to.equal(true);
    expect(lax.authorizationError).to.equal("ERR_MLSTLS_X509_REQUIRED");
    expect(lax.getPeerCertificate()).to.include({ credentialType: "basic", identity: anon.name, fingerprint: anon.fingerprint });
    const client = await refusalOf(validatorFromTlsOptions("client", {}), anon);
    expect(verificationErrorOf(client)).to.have.property("code", "ERR_MLSTLS_X509_REQUIRED");
    expect(client.alert).to.equal(AlertDescription.unsupported_certificate);
  });

  it("unparseable certificates are ERR_MLSTLS_BAD_CREDENTIAL, fatal even with rejectUnauthorized: false", async () => {
    const garbage: PeerCredential = { credential: { type: "x509", certificates: [Uint8Array.of(0x30, 3, 1, 2, 3)] }, signaturePublicKey: createIdentity().signaturePublicKey };
    expect(verifyX509Peer(garbage, { ca: ROOT }).error).to.have.property("code", "ERR_MLSTLS_BAD_CREDENTIAL");
    const err = await refusalOf(validatorFromTlsOptions("client", { ca: ROOT, rejectUnauthorized: false }), garbage);
    expect(verificationErrorOf(err)).to.have.property("code", "ERR_MLSTLS_BAD_CREDENTIAL");
    const empty: PeerCredential = { credential: { type: "x509", certificates: [] }, signaturePublicKey: garbage.signaturePublicKey };
    expect(verifyX509Peer(empty, { ca: ROOT }).error).to.have.property("code", "ERR_MLSTLS_BAD_CREDENTIAL");
  });

  it("server without requestCert: no verification, authorized false and authorizationError null (as node)", async () => {
    const v = validatorFromTlsOptions("server", {});
    const anon = createIdentity();
    expect(await v.validate(anon)).to.equal(true);
    expect(v.authorized).to.equal(false);
    expect(v.authorizationError).to.equal(null);
    expect(v.getPeerCertificate()).to.include({ credentialType: "basic", fingerprint: anon.fingerprint });
  });

  it("checks validity at the given time, and refuses bad options at configuration time", () => {
    const peer = honestPeer(fixture("p256-chain.pem"));
    expect(verifyX509Peer(peer, { ca: ROOT, now: new Date("2090-01-01") }).authorized).to.equal(true);
    expect(verifyX509Peer(peer, { ca: ROOT, now: new Date("2200-01-01") }).error).to.have.property("code", "CERT_HAS_EXPIRED");
    expect(verifyX509Peer(peer, { ca: ROOT, now: new Date("2020-01-01") }).error).to.have.property("code", "CERT_NOT_YET_VALID");
    expect(verifyX509Peer(honestPeer(fixture("client-only-chain.pem")), { ca: ROOT, purpose: "client" }).authorized).to.equal(true);
    // A ca without certificates is node's empty store, not an error (test/node-compat/auth-parity.test.ts).
    expect(TrustStore.from("junk").certificates).to.deep.equal([]);
    expect(() => TrustStore.from([42 as unknown as string])).to.throw(TypeError).with.property("code", "ERR_INVALID_ARG_TYPE");
    expect(() => makeValidator({ mode: "pinned" })).to.throw(TypeError).with.property("code", "ERR_INVALID_ARG_VALUE");
    expect(() => makeValidator({ mode: "pinned", fingerprints: ["nope"] })).to.throw(TypeError).with.property("code", "ERR_INVALID_ARG_VALUE");
    expect(() => makeValidator({ mode: "x509", checkServerIdentity: 1 as never })).to.throw(TypeError).with.property("code", "ERR_INVALID_ARG_TYPE");
    expect(() => makeValidator({ mode: "bogus" } as never)).to.throw(TypeError).with.property("code", "ERR_INVALID_ARG_VALUE");
    expect(TrustStore.default().certificates.length).to.be.greaterThan(50);
  });

  it("refuses chains with name constraints it does not enforce: ERR_MLSTLS_UNSUPPORTED_CERTIFICATE", () => {
    const r = verifyX509Peer(honestPeer(fixture("constrained-issued-chain.pem")), { ca: ROOT, host: "localhost" });
    expect(r.error).to.have.property("code", "ERR_MLSTLS_UNSUPPORTED_CERTIFICATE");
    expect(r.error!.message).to.match(/name constraints/);
  });
});

describe("verify: pinned identities", () => {
  it("accepts pinned fingerprints, in either printed form or as a public PEM, and refuses others", async () => {
    const server = createIdentity({ name: "server" });
    const stranger = createIdentity({ name: "server" });
    for (const pin of [server.fingerprint, server.fingerprint256, server.publicPem()]) {
      const r = await verifyPinned(server, { fingerprints: [createIdentity().fingerprint, pin] });
      expect(r.authorized, pin).to.equal(true);
      expect(r.peerCertificate).to.include({ credentialType: "basic", identity: "server", fingerprint: server.fingerprint, signatureScheme: "ed25519" });
    }
    const r = await verifyPinned(stranger, { fingerprints: [server.fingerprint] });
    expect(r.authorized).to.equal(false);
    expect(r.error).to.have.property("code", "ERR_MLSTLS_FINGERPRINT_MISMATCH");
    expect(r.error!.message).to.contain(stranger.fingerprint);
    const v = makeValidator({ mode: "pinned", fingerprints: [server.fingerprint] });
    const err = await refusalOf(v, stranger);
    expect(err.alert).to.equal(AlertDescription.access_denied);
    expect(verificationErrorOf(err)).to.have.property("code", "ERR_MLSTLS_FINGERPRINT_MISMATCH");
  });

  it("asks verifyPeer, which can accept, refuse, or refuse with its own error", async () => {
    const peer = createIdentity({ name: "carol" });
    const seen: string[] = [];
    const accept = await verifyPinned(peer, {
      verifyPeer: async (info) => {
        seen.push(info.fingerprint, (info.certificate as { identity: string }).identity);
        return true;
      },
    });
    expect(accept.authorized).to.equal(true);
    expect(seen).to.deep.equal([peer.fingerprint, "carol"]);
    expect((await verifyPinned(peer, { verifyPeer: () => undefined })).authorized).to.equal(true);
    expect((await verifyPinned(peer, { verifyPeer: () => false })).error).to.have.property("code", "ERR_MLSTLS_PEER_REJECTED");
    const custom = Object.assign(new Error("not on the guest list"), { code: "E_GUEST_LIST" });
    expect((await verifyPinned(peer, { verifyPeer: () => custom })).error).to.equal(custom);
    expect((await verifyPinned(peer, { verifyPeer: () => { throw custom; } })).error).to.equal(custom);
    // Both given: both must accept.
    expect((await verifyPinned(peer, { fingerprints: [peer.fingerprint], verifyPeer: () => false })).authorized).to.equal(false);
    const lax = makeValidator({ mode: "pinned", verifyPeer: () => new Error("plain"), rejectUnauthorized: false });
    expect(await lax.validate(peer)).to.equal(true);
    expect(lax.authorizationError).to.equal("plain");
  });

  it("works through the engine in both directions", async () => {
    const server = createIdentity({ name: "pinned-server" });
    const client = createIdentity({ name: "pinned-client" });
    const clientCheck = validatorFromTlsOptions("client", { fingerprints: [server.fingerprint] });
    const serverCheck = validatorFromTlsOptions("server", { fingerprints: [client.publicPem()] });
    const p = new Pair({ client: { identity: client, validatePeer: clientCheck.validate }, server: { identity: server, validatePeer: serverCheck.validate } });
    await p.handshake();
    expect(p.initiator.established && p.responder.established).to.equal(true);
    expect(clientCheck.authorized && serverCheck.authorized).to.equal(true);
    expect(serverCheck.getPeerCertificate()).to.include({ identity: "pinned-client" });

    const wrong = validatorFromTlsOptions("client", { fingerprints: [client.fingerprint] });
    const q = new Pair({ client: { validatePeer: wrong.validate }, server: { identity: server } });
    await q.handshake();
    expect(verificationErrorOf(q.client.errors[0])).to.have.property("code", "ERR_MLSTLS_FINGERPRINT_MISMATCH");
    expect(q.server.errors[0]).to.include({ code: "ERR_MLSTLS_PEER_ALERT", alert: AlertDescription.access_denied });
  });
});

describe("verify: the peer's identity stays the same", () => {
  it("pinned: a second credential with another fingerprint is ERR_MLSTLS_IDENTITY_CHANGED unless rotation is allowed", async () => {
    const a = createIdentity({ name: "a" });
    const b = createIdentity({ name: "b" });
    const v = makeValidator({ mode: "pinned", fingerprints: [a.fingerprint, b.fingerprint] });
    expect(await v.validate(a)).to.equal(true);
    expect(await v.validate(a)).to.equal(true);
    const err = await refusalOf(v, b);
    expect(err.code).to.equal("ERR_MLSTLS_IDENTITY_CHANGED");
    expect(err.alert).to.equal(AlertDescription.bad_certificate);
    expect(err.message).to.contain(a.fingerprint).and.contain(b.fingerprint);
    expect(v.peerCredential).to.equal(a);

    const rotating = makeValidator({ mode: "pinned", fingerprints: [a.fingerprint, b.fingerprint], allowIdentityRotation: true });
    await rotating.validate(a);
    expect(await rotating.validate(b)).to.equal(true);
    expect(rotating.getPeerCertificate()).to.include({ identity: "b" });
    // Rotation still needs the new identity to verify.
    const c = createIdentity({ name: "c" });
    expect(verificationErrorOf(await refusalOf(rotating, c))).to.have.property("code", "ERR_MLSTLS_FINGERPRINT_MISMATCH");
  });

  it("the same name with a new key is a different pinned identity", async () => {
    const a = createIdentity({ name: "same" });
    const twin = createIdentity({ name: "same" });
    const v = makeValidator({ mode: "none" });
    await v.validate(a);
    expect((await refusalOf(v, twin)).code).to.equal("ERR_MLSTLS_IDENTITY_CHANGED");
  });

  it("x509: a renewed certificate for the same names continues the identity; other names do not", async () => {
    const v = makeValidator({ mode: "x509", ca: ROOT });
    expect(await v.validate(honestPeer(fixture("p256-chain.pem")))).to.equal(true);
    // Same subject and subjectAltName, another issuer path and another key.
    expect(await v.validate(honestPeer(fixture("depth1-chain.pem")))).to.equal(true);
    expect(await v.validate(honestPeer(fixture("ed25519-chain.pem")))).to.equal(true);
    const err = await refusalOf(v, honestPeer(fixture("wildcard-chain.pem")));
    expect(err.code).to.equal("ERR_MLSTLS_IDENTITY_CHANGED");
    expect(err.message).to.contain("example.test");
    // A basic credential in place of the certificate is a change too (and not X.509).
    const lax = makeValidator({ mode: "x509", ca: ROOT, rejectUnauthorized: false });
    await lax.validate(honestPeer(fixture("p256-chain.pem")));
    expect((await refusalOf(lax, createIdentity())).code).to.equal("ERR_MLSTLS_IDENTITY_CHANGED");

    const rotating = makeValidator({ mode: "x509", ca: ROOT, allowIdentityRotation: true });
    await rotating.validate(honestPeer(fixture("p256-chain.pem")));
    expect(await rotating.validate(honestPeer(fixture("wildcard-chain.pem")))).to.equal(true);
    expect((rotating.getPeerCertificate() as tls.PeerCertificate).subject.CN).to.equal("*.example.test");
  });

  it("expectedPeer carries a resumed session's identity into a new validator", async () => {
    const a = createIdentity({ name: "a" });
    const v = makeValidator({ mode: "none", expectedPeer: a });
    expect((await refusalOf(v, createIdentity({ name: "a" }))).message).to.contain("resumed session");
    const w = makeValidator({ mode: "none", expectedPeer: a });
    expect(await w.validate(a)).to.equal(true);
    const x = makeValidator({ mode: "x509", ca: ROOT, expectedPeer: honestPeer(fixture("p256-chain.pem")) });
    expect(await x.validate(honestPeer(fixture("p384-chain.pem")))).to.equal(true);
    expect((await refusalOf(x, honestPeer(fixture("wildcard-chain.pem")))).code).to.equal("ERR_MLSTLS_IDENTITY_CHANGED");
  });

  it("the key is checked before identity: a forged renewal is a key mismatch, not a rotation", async () => {
    const v = makeValidator({ mode: "x509", ca: ROOT, allowIdentityRotation: true });
    await v.validate(honestPeer(fixture("p256-chain.pem")));
    expect(verificationErrorOf(await refusalOf(v, attackerPeer(fixture("p384-chain.pem"))))).to.have.property("code", "ERR_MLSTLS_CERT_KEY_MISMATCH");
    // The key of the fixtures' P-256 leaf really is the one identityFromPem derives.
    const id = identityFromPem({ key: createPrivateKey(fixture("p256.key")), cert: fixture("p256.pem") });
    expect(Buffer.from(id.signaturePublicKey).equals(Buffer.from(honestPeer(fixture("p256.pem")).signaturePublicKey))).to.equal(true);
  });
});
