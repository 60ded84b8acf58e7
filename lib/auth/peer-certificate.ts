// The peer-certificate objects of getPeerCertificate(): node's shape for X.509 peers, and ours for pinned keys.

import { endEntityCertificates, endEntityView } from "./delegation.js";
import { X509Certificate } from "node:crypto";
import * as tls from "node:tls";
import type { PeerCredential } from "../mls/index.js";
import { credentialName, fingerprint256Of, fingerprintOf, schemeOfPublicKey, type SignatureScheme } from "./identity.js";
import { TrustStore, type CaInput } from "./trust-store.js";
import { MAX_DEPTH, pickIssuer } from "./chain.js";
import { certFacts, likelyIssued, signingAllowed, type CertFacts } from "./x509.js";

// ---------------------------------------------------------------------------------------------------------------
// getPeerCertificate() objects

/** getPeerCertificate() for a basic (pinned-key) credential. */
export interface BasicPeerCertificate {
  credentialType: "basic";
  /** The basic credential's identity as UTF-8 text, or hex when it is not printable text. */
  identity: string;
  identityBytes: Buffer;
  signatureScheme: SignatureScheme;
  /** The MLS signature public key: 32 bytes Ed25519, or an uncompressed SEC1 point. */
  pubkey: Buffer;
  /** The identity fingerprint (identity.ts), "SHA256:<base64>", as pinned with `fingerprints`. */
  fingerprint: string;
  /** The same digest as colon-separated hex, like node's fingerprint256. */
  fingerprint256: string;
}

export type PeerCertificateObject = tls.PeerCertificate | tls.DetailedPeerCertificate | BasicPeerCertificate;

export function basicObject(peer: PeerCredential): BasicPeerCertificate {
  const c = peer.credential;
  if (c.type !== "basic") throw new TypeError("not a basic credential");
  return {
    credentialType: "basic",
    identity: credentialName(c),
    identityBytes: Buffer.from(c.identity),
    // A credential that passed the handshake has a canonical key of a scheme this build runs.
    signatureScheme: schemeOfPublicKey(peer.signaturePublicKey)!.scheme,
    pubkey: Buffer.from(peer.signaturePublicKey),
    fingerprint: fingerprintOf(peer),
    fingerprint256: fingerprint256Of(peer),
  };
}

/** X509_check_issued: likely issued, and the issuer's keyUsage allows certificate signing. */
export function issued(issuer: CertFacts, subject: CertFacts): boolean {
  return likelyIssued(issuer, subject) && signingAllowed(issuer);
}

/**
 * Node's detailed object: each certificate links to its issuer, first among the presented ones, then from the
 * trust store; a self-signed end of the chain links to itself (node's AddIssuerChainToObject and
 * GetLastIssuedCert).
 */
export function detailedObject(presented: readonly CertFacts[], store: TrustStore, now: number): tls.DetailedPeerCertificate {
  const result = presented[0]!.x509.toLegacyObject() as tls.DetailedPeerCertificate;
  let obj = result;
  let cert = presented[0]!;
  const pool = presented.slice(1);
  for (;;) {
    const i = pool.findIndex((ca) => issued(ca, cert));
    if (i < 0) break;
    const next = pool.splice(i, 1)[0]!;
    obj.issuerCertificate = next.x509.toLegacyObject() as tls.DetailedPeerCertificate;
    obj = obj.issuerCertificate;
    cert = next;
  }
  // A presented certificate and a store's may be the very same object (certFacts caches by DER): whether `cert`
  // came from the store is tracked, not inferred from identity.
  let fromStore = false;
  for (let guard = 0; guard < MAX_DEPTH && !issued(cert, cert); guard++) {
    const ca = pickIssuer(store.candidates(cert), now);
    if (ca === undefined) break;
    obj.issuerCertificate = ca.x509.toLegacyObject() as tls.DetailedPeerCertificate;
    obj = obj.issuerCertificate;
    if (fromStore && ca === cert) break;
    cert = ca;
    fromStore = true;
  }
  if (issued(cert, cert)) obj.issuerCertificate = obj;
  return result;
}

export interface PeerCertificateOptions {
  /** With the issuer chain (node's getPeerCertificate(true)). */
  detailed?: boolean;
  /** Where the chain's missing issuers are looked up for `detailed`; default node's root certificates. */
  ca?: CaInput | TrustStore;
  now?: Date;
}

/**
 * node's getPeerCertificate() shape for an MLS credential. X.509: X509Certificate.toLegacyObject(), the very
 * object node:tls builds (subject, issuer, subjectaltname, infoAccess, ca, bits/pubkey/asn1Curve/nistCurve or
 * modulus/exponent, valid_from/to, fingerprint, fingerprint256, fingerprint512, ext_key_usage, serialNumber, raw)
 * with issuerCertificate links when detailed. Basic credentials: a BasicPeerCertificate. {} if the leaf
 * certificate cannot be parsed.
 */
export function peerCertificateObject(peer: PeerCredential, opts: PeerCertificateOptions = {}): PeerCertificateObject | Record<string, never> {
  if (peer.credential.type === "basic") return basicObject(peer);
  // A delegated credential shows its end-entity certificate, never the delegation (PROTOCOL.md, "RSA certificates").
  peer = endEntityView(peer);
  if (peer.credential.type !== "x509") return {};
  let facts: CertFacts[];
  try {
    facts = peer.credential.certificates.map((der) => certFacts(der));
  } catch {
    return {};
  }
  if (facts.length === 0) return {};
  if (!opts.detailed) return facts[0]!.x509.toLegacyObject();
  const store = opts.ca === undefined ? TrustStore.default() : TrustStore.from(opts.ca);
  return detailedObject(facts, store, (opts.now ?? new Date()).getTime());
}

/**
 * node's getPeerX509Certificate(): the peer's leaf X509Certificate whose issuerCertificate is the next certificate
 * the peer presented, and so on down the presented chain; the last one's is undefined. That is what node builds from
 * SSL_get_peer_cert_chain, in the order sent, without adding anchors from the trust store. A delegated credential
 * shows its end-entity chain. Undefined for basic credentials and unparseable leaves.
 */
export function peerX509Certificate(peer: PeerCredential | undefined): X509Certificate | undefined {
  if (peer?.credential.type !== "x509") return undefined;
  const parsed: X509Certificate[] = [];
  for (const der of endEntityCertificates(peer.credential)) {
    try {
      parsed.push(new X509Certificate(der));
    } catch {
      break; // the chain node shows ends where a certificate cannot be read
    }
  }
  for (let i = parsed.length - 1; i >= 0; i--) {
    // node's issuerCertificate is a read-only accessor; an own property with the linked object shadows it.
    Object.defineProperty(parsed[i]!, "issuerCertificate", { value: parsed[i + 1], enumerable: false, configurable: true });
  }
  return parsed[0];
}

