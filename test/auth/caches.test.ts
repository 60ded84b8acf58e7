// The handshake caches of lib/auth (issue 11): parsed certificates by DER, trust stores by `ca` content, and
// successful chain verifications bounded by validity windows and a TTL. Each test shows a case where a cache
// must NOT answer (expiry, a changed trust store, a failure), or where it must answer with the same object.

import { expect } from "chai";
import { X509Certificate } from "node:crypto";
import { mlsPublicKeyOf } from "../../lib/auth/identity.js";
import { TrustStore, verifyX509Peer } from "../../lib/auth/verify.js";
import { forgetVerifications, isVerificationCached, VERIFIED_TTL_MS } from "../../lib/auth/chain.js";
import { certFacts } from "../../lib/auth/x509.js";
import type { PeerCredential } from "../../lib/mls/index.js";
import { fixture, ROOT } from "../helpers/x509-cases.js";

function dersOf(chainPem: Buffer): Uint8Array[] {
  return [...chainPem.toString().matchAll(/-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/g)].map(
    (m) => new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ""), "base64")),
  );
}

function peerOf(chainPem: Buffer): PeerCredential {
  const certificates = dersOf(chainPem);
  return { credential: { type: "x509", certificates }, signaturePublicKey: mlsPublicKeyOf(new X509Certificate(certificates[0]!))! };
}

const CHAIN = fixture("p256-chain.pem");
// The fixtures' good certificates are valid 2024-01-01 .. 2124-01-01.
const T2030 = new Date("2030-06-01T00:00:00Z");

describe("auth caches", () => {
  beforeEach(() => forgetVerifications());

  it("a certificate is parsed once per DER: the same facts for every copy of the bytes", () => {
    const der = dersOf(CHAIN)[0]!;
    expect(certFacts(Uint8Array.from(der))).to.equal(certFacts(Uint8Array.from(der)));
    expect(() => certFacts(Uint8Array.of(0x30, 1, 0))).to.throw(TypeError);
    expect(() => certFacts(Uint8Array.of(0x30, 1, 0))).to.throw(TypeError); // failures are not kept
  });

  it("a trust store is built once per `ca` content, and another content is another store", () => {
    const a = TrustStore.from(ROOT);
    expect(TrustStore.from(Buffer.from(ROOT))).to.equal(a);
    expect(TrustStore.from(ROOT.toString())).to.not.equal(a); // a string and a Buffer are kept apart, as node reads them
    expect(TrustStore.from([ROOT])).to.equal(a);
    const other = TrustStore.from(fixture("other-root-ca.pem"));
    expect(other).to.not.equal(a);
    expect(TrustStore.from([ROOT, fixture("other-root-ca.pem")])).to.not.equal(a);
  });

  it("a changed trust store is verified against, not served from the cache", () => {
    const peer = peerOf(CHAIN);
    const opts = { host: "localhost", now: T2030 };
    expect(verifyX509Peer(peer, { ...opts, ca: ROOT }).authorized).to.equal(true);
    const ca = Buffer.from(ROOT);
    expect(verifyX509Peer(peer, { ...opts, ca }).authorized).to.equal(true);
    // Another `ca` content (another root): another store, and the chain no longer verifies.
    const other = fixture("other-root-ca.pem");
    const changed = Buffer.concat([other]);
    expect(verifyX509Peer(peer, { ...opts, ca: changed }).error?.code).to.equal("UNABLE_TO_GET_ISSUER_CERT_LOCALLY");
  });

  it("a remembered success does not outlive any certificate of the chain", () => {
    const peer = peerOf(CHAIN);
    const facts = peer.credential.type === "x509" ? peer.credential.certificates.map((d) => certFacts(d)) : [];
    const store = TrustStore.from(ROOT);
    expect(verifyX509Peer(peer, { ca: store, host: "localhost", now: T2030 }).authorized).to.equal(true);
    expect(isVerificationCached(facts, store, T2030.getTime() + 1000, "server", false)).to.equal(true);
    // After the leaf's notAfter the chain is verified again and fails as it would have.
    const expired = new Date("2124-06-01T00:00:00Z");
    expect(isVerificationCached(facts, store, expired.getTime(), "server", false)).to.equal(false);
    expect(verifyX509Peer(peer, { ca: store, host: "localhost", now: expired }).error?.code).to.equal("CERT_HAS_EXPIRED");
    // Before the remembered verification, or before a notBefore: not from the cache either.
    expect(isVerificationCached(facts, store, T2030.getTime() - 1, "server", false)).to.equal(false);
    expect(verifyX509Peer(peer, { ca: store, host: "localhost", now: new Date("2023-06-01T00:00:00Z") }).error?.code).to.equal("CERT_NOT_YET_VALID");
  });

  it("a remembered success lasts VERIFIED_TTL_MS at most", () => {
    const peer = peerOf(CHAIN);
    const facts = peer.credential.type === "x509" ? peer.credential.certificates.map((d) => certFacts(d)) : [];
    const store = TrustStore.from(ROOT);
    verifyX509Peer(peer, { ca: store, now: T2030 });
    expect(isVerificationCached(facts, store, T2030.getTime() + VERIFIED_TTL_MS - 1, "server", false)).to.equal(true);
    expect(isVerificationCached(facts, store, T2030.getTime() + VERIFIED_TTL_MS, "server", false)).to.equal(false);
    // Another purpose is another verification.
    expect(isVerificationCached(facts, store, T2030.getTime(), "client", false)).to.equal(false);
  });

  it("a failure is never remembered: the same chain verifies once its time comes", () => {
    const peer = peerOf(CHAIN);
    const facts = peer.credential.type === "x509" ? peer.credential.certificates.map((d) => certFacts(d)) : [];
    const store = TrustStore.from(ROOT);
    const early = new Date("2023-06-01T00:00:00Z");
    expect(verifyX509Peer(peer, { ca: store, now: early }).error?.code).to.equal("CERT_NOT_YET_VALID");
    expect(isVerificationCached(facts, store, early.getTime(), "server", false)).to.equal(false);
    expect(verifyX509Peer(peer, { ca: store, now: T2030 }).authorized).to.equal(true);
  });

  it("the hostname is checked on every verification, cached chain or not", () => {
    const peer = peerOf(CHAIN);
    expect(verifyX509Peer(peer, { ca: ROOT, host: "localhost", now: T2030 }).authorized).to.equal(true);
    const r = verifyX509Peer(peer, { ca: ROOT, host: "example.com", now: T2030 });
    expect(r.error?.code).to.equal("ERR_TLS_CERT_ALTNAME_INVALID");
    // The error carries node's detailed certificate object, with its issuer chain.
    const cert = (r.error as unknown as { cert: { issuerCertificate?: object } }).cert;
    expect(cert.issuerCertificate).to.be.an("object");
    expect(r.peerCertificate).to.have.property("issuerCertificate");
  });
});
