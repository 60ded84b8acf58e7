// Verification of the peer's MLS credential with node:tls semantics (issue 4):
// - X.509: the chain is checked the way OpenSSL 3.0 checks it under node:tls (node's verify callback accepts
//   every error, so OpenSSL runs all checks and the LAST error found is the one reported), with node's codes and
//   messages; then the hostname through checkServerIdentity. On top of that, the leaf certificate's public key
//   must be the MLS signature key of the peer's leaf (ERR_MLSTLS_CERT_KEY_MISMATCH): without this check, anyone
//   holding a valid chain could impersonate its subject.
// - Pinned keys: an allow-list of identity fingerprints (identity.ts) and/or a verifyPeer callback.
// - makeValidator(): the engine's CredentialValidator plus the verdict the socket reports (authorized,
//   authorizationError, getPeerCertificate), honouring rejectUnauthorized and keeping the peer's identity
//   stable across ConnectionUpdates and resumptions.

import { createHash, timingSafeEqual, X509Certificate, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import * as tls from "node:tls";
import { AlertDescription, ERROR_ALERTS, MlsTlsError, type AlertName, type LocalErrorCode } from "../errors.js";
import {
  credentialName,
  fingerprint256Of,
  fingerprintBytesOf,
  fingerprintOf,
  mlsPublicKeyOf,
  MlsTlsConfigError,
  parseFingerprint,
  parsePemCertificates,
  parsePublicIdentity,
  type SignatureScheme,
} from "./identity.js";
import type { CredentialValidator, PeerCredential } from "../mls/session.js";
import {
  certFacts,
  checkCa,
  likelyIssued,
  purposeAllowed,
  selfIssued,
  selfSigned,
  signingAllowed,
  UNENFORCED_EXTENSIONS,
  type CertFacts,
} from "./x509.js";

// ---------------------------------------------------------------------------------------------------------------
// Errors

/** A verification failure as node:tls reports it: an Error with a string `code` (node's, or ours). */
export type VerificationError = Error & { code?: string };

/**
 * OpenSSL verify errors: node's code, OpenSSL 3.0's message, and the TLS alert OpenSSL sends for it
 * (ssl_x509err2alert). Node names only some OpenSSL codes; it reports the others as "UNSPECIFIED".
 */
const X509_ERRORS = {
  UNABLE_TO_GET_ISSUER_CERT: { node: true, message: "unable to get issuer certificate", alert: "unknown_ca" },
  UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY: { node: true, message: "unable to decode issuer public key", alert: "bad_certificate" },
  CERT_SIGNATURE_FAILURE: { node: true, message: "certificate signature failure", alert: "decrypt_error" },
  CERT_NOT_YET_VALID: { node: true, message: "certificate is not yet valid", alert: "bad_certificate" },
  CERT_HAS_EXPIRED: { node: true, message: "certificate has expired", alert: "certificate_expired" },
  ERROR_IN_CERT_NOT_BEFORE_FIELD: { node: true, message: "format error in certificate's notBefore field", alert: "bad_certificate" },
  ERROR_IN_CERT_NOT_AFTER_FIELD: { node: true, message: "format error in certificate's notAfter field", alert: "bad_certificate" },
  DEPTH_ZERO_SELF_SIGNED_CERT: { node: true, message: "self-signed certificate", alert: "unknown_ca" },
  SELF_SIGNED_CERT_IN_CHAIN: { node: true, message: "self-signed certificate in certificate chain", alert: "unknown_ca" },
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: { node: true, message: "unable to get local issuer certificate", alert: "unknown_ca" },
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: { node: true, message: "unable to verify the first certificate", alert: "unknown_ca" },
  CERT_CHAIN_TOO_LONG: { node: true, message: "certificate chain too long", alert: "unknown_ca" },
  INVALID_CA: { node: true, message: "invalid CA certificate", alert: "unknown_ca" },
  PATH_LENGTH_EXCEEDED: { node: true, message: "path length constraint exceeded", alert: "unknown_ca" },
  INVALID_PURPOSE: { node: true, message: "unsuitable certificate purpose", alert: "unsupported_certificate" },
  KEYUSAGE_NO_CERTSIGN: { node: false, message: "key usage does not include certificate signing", alert: "certificate_unknown" },
  UNHANDLED_CRITICAL_EXTENSION: { node: false, message: "unhandled critical extension", alert: "certificate_unknown" },
} as const satisfies Record<string, { node: boolean; message: string; alert: AlertName }>;
type X509ErrorName = keyof typeof X509_ERRORS;

/**
 * The OpenSSL verification codes node:tls reports, which mlstls reports the same way; "UNSPECIFIED" stands for
 * the OpenSSL errors node has no name for.
 */
export const X509_ERROR_CODES: readonly string[] = Object.freeze([
  ...Object.entries(X509_ERRORS)
    .filter(([, e]) => e.node)
    .map(([name]) => name),
  "UNSPECIFIED",
]);

/**
 * Codes of ours that verification can report (documented in README.md). Their alerts live in the one error→alert
 * table, ERROR_ALERTS in errors.ts; ERR_MLSTLS_X509_REQUIRED's is certificate_required from a server and
 * unsupported_certificate from a client.
 */
export const VERIFY_ERROR_CODES = [
  "ERR_MLSTLS_CERT_KEY_MISMATCH",
  "ERR_MLSTLS_BAD_CREDENTIAL",
  "ERR_MLSTLS_X509_REQUIRED",
  "ERR_MLSTLS_UNSUPPORTED_CERTIFICATE",
  "ERR_MLSTLS_FINGERPRINT_MISMATCH",
  "ERR_MLSTLS_PEER_REJECTED",
] as const satisfies readonly LocalErrorCode[];
export type VerifyErrorCode = (typeof VERIFY_ERROR_CODES)[number];

function isVerifyErrorCode(code: string): code is VerifyErrorCode {
  return (VERIFY_ERROR_CODES as readonly string[]).includes(code);
}

/** Failures that end the handshake even with rejectUnauthorized: false (TLS cannot skip them either). */
const ALWAYS_FATAL = new Set<string>(["ERR_MLSTLS_CERT_KEY_MISMATCH", "ERR_MLSTLS_BAD_CREDENTIAL"]);

function codeError(code: string, message: string, props: Record<string, unknown> = {}): VerificationError & { code: string } {
  return Object.assign(new Error(message), { code }, props);
}

function x509Error(name: X509ErrorName): VerificationError & { code: string } {
  const e = X509_ERRORS[name];
  return codeError(e.node ? name : "UNSPECIFIED", e.message);
}

/**
 * The TLS alert for a verification error: OpenSSL's choice for its codes, ours for the rest; `fallback` for
 * errors that come from user callbacks.
 */
function alertFor(err: VerificationError, fallback: AlertName): AlertName {
  const code = err.code;
  if (code !== undefined && isVerifyErrorCode(code)) return ERROR_ALERTS[code];
  if (code !== undefined && code in X509_ERRORS) return X509_ERRORS[code as X509ErrorName].alert;
  if (code === "UNSPECIFIED") {
    const known = Object.values(X509_ERRORS).find((e) => e.message === err.message);
    if (known !== undefined) return known.alert;
  }
  // node's hostname error gets OpenSSL's hostname-mismatch alert.
  return code === "ERR_TLS_CERT_ALTNAME_INVALID" ? "bad_certificate" : fallback;
}

/** MlsTlsErrors that carry a verification error as their cause. */
const wrapped = new WeakSet<MlsTlsError>();

/**
 * The error the validator throws to refuse a peer: ERR_MLSTLS_BAD_CREDENTIAL (or ERR_MLSTLS_IDENTITY_CHANGED)
 * with the alert that fits, and node's error as `cause`.
 */
function refusal(err: VerificationError, alert: AlertName): MlsTlsError {
  const e = new MlsTlsError("ERR_MLSTLS_BAD_CREDENTIAL", `peer verification failed: ${err.message}${typeof err.code === "string" ? ` (${err.code})` : ""}`, {
    cause: err,
    alert: AlertDescription[alert],
  });
  wrapped.add(e);
  return e;
}

/**
 * For an error that ended a handshake: the verification error inside it, exactly as node:tls would have
 * reported it (e.g. code CERT_HAS_EXPIRED, or ERR_TLS_CERT_ALTNAME_INVALID with reason/host/cert).
 * undefined for any other error.
 */
export function verificationErrorOf(err: unknown): VerificationError | undefined {
  return err instanceof MlsTlsError && wrapped.has(err) ? (err.cause as VerificationError) : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Trust stores

export type CaInput = string | Buffer | X509Certificate | readonly (string | Buffer | X509Certificate)[];

/** Parsed trust anchors, indexed by canonical subject. Build once per configuration, not per handshake. */
export class TrustStore {
  readonly certificates: readonly CertFacts[];
  readonly #bySubject = new Map<string, CertFacts[]>();
  readonly #byDer = new Set<string>();

  private constructor(certs: CertFacts[]) {
    this.certificates = certs;
    for (const c of certs) {
      const list = this.#bySubject.get(c.subjectKey);
      if (list === undefined) this.#bySubject.set(c.subjectKey, [c]);
      else list.push(c);
      this.#byDer.add(c.der.toString("base64"));
    }
  }

  /** From node's `ca` forms: PEM strings or Buffers (each may hold several certificates), X509Certificates. */
  static from(ca: CaInput | TrustStore): TrustStore {
    if (ca instanceof TrustStore) return ca;
    const items = Array.isArray(ca) ? ca : [ca];
    const certs: CertFacts[] = [];
    for (const [i, item] of (items as readonly unknown[]).entries()) {
      if (!(item instanceof X509Certificate) && typeof item !== "string" && !Buffer.isBuffer(item)) {
        throw new MlsTlsConfigError("ERR_INVALID_ARG_TYPE", `ca[${i}] must be a PEM string, a Buffer or an X509Certificate`);
      }
      let parsed: CertFacts[];
      try {
        parsed = (item instanceof X509Certificate ? [item] : parsePemCertificates(item)).map((c) => certFacts(c.raw));
      } catch (e) {
        throw new MlsTlsConfigError("ERR_INVALID_ARG_VALUE", `ca[${i}] holds an unparseable certificate`, { cause: e });
      }
      if (parsed.length === 0) throw new MlsTlsConfigError("ERR_INVALID_ARG_VALUE", `ca[${i}] holds no PEM certificate`);
      certs.push(...parsed);
    }
    return new TrustStore(certs);
  }

  static #default: TrustStore | undefined;

  /** node's default: tls.rootCertificates, plus NODE_EXTRA_CA_CERTS as node adds them. */
  static default(): TrustStore {
    if (TrustStore.#default === undefined) {
      const certs: CertFacts[] = [];
      for (const pem of tls.rootCertificates) {
        try {
          for (const c of parsePemCertificates(pem)) certs.push(certFacts(c.raw));
        } catch {
          // A bundled root our parser refuses cannot anchor anything; leaving it out only fails closed.
        }
      }
      const extra = process.env.NODE_EXTRA_CA_CERTS;
      if (extra) {
        try {
          for (const c of parsePemCertificates(readFileSync(extra))) certs.push(certFacts(c.raw));
        } catch (e) {
          process.emitWarning(`Ignoring extra certs from \`${extra}\`, load failed: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      TrustStore.#default = new TrustStore(certs);
    }
    return TrustStore.#default;
  }

  has(c: CertFacts): boolean {
    return this.#byDer.has(c.der.toString("base64"));
  }

  /** Anchors that may have issued `c` (OpenSSL's check_issued: names, key identifiers, algorithm). */
  candidates(c: CertFacts): CertFacts[] {
    return (this.#bySubject.get(c.issuerKey) ?? []).filter((ca) => likelyIssued(ca, c));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Chain validation, in OpenSSL 3.0's order (crypto/x509/x509_vfy.c: build_chain, check_chain_extensions,
// internal_verify, then the checks OpenSSL has and we do not). Returns the last error found, as node reports
// it, or null when the chain verified.

/** OpenSSL's default verify depth. */
const MAX_DEPTH = 100;

function timeValid(c: CertFacts, now: number): boolean {
  return c.notBefore !== undefined && c.notAfter !== undefined && c.notBefore <= now && now < c.notAfter;
}

/** Among possible issuers: the first currently valid one, else the one that expired last (OpenSSL's choice). */
function pickIssuer(candidates: readonly CertFacts[], now: number): CertFacts | undefined {
  let best: CertFacts | undefined;
  for (const c of candidates) {
    if (timeValid(c, now)) return c;
    if (best === undefined || (c.notAfter ?? -Infinity) > (best.notAfter ?? -Infinity)) best = c;
  }
  return best;
}

function verifyChain(
  presented: readonly CertFacts[],
  store: TrustStore,
  now: number,
  purpose: "server" | "client" | undefined,
  allowPartial: boolean,
): (VerificationError & { code: string }) | null {
  let error: (VerificationError & { code: string }) | null = null;
  const fail = (name: X509ErrorName) => {
    error = x509Error(name);
  };

  // build_chain, trusted-first: the trust store is searched before the presented certificates.
  const leaf = presented[0]!;
  const chain: CertFacts[] = [leaf];
  const pool = presented.slice(1);
  let numUntrusted = 1;
  let trusted = false;
  let tooLong = false;
  for (;;) {
    if (chain.length > MAX_DEPTH + 1) {
      tooLong = true;
      break;
    }
    const cur = chain[chain.length - 1]!;
    const notInChain = (c: CertFacts) => !chain.includes(c);
    if (chain.length > numUntrusted) {
      // In the trusted part: a self-signed anchor ends it; otherwise keep climbing inside the store.
      if (selfSigned(cur) || allowPartial) {
        trusted = true;
        break;
      }
      const up = pickIssuer(store.candidates(cur).filter(notInChain), now);
      if (up === undefined) break;
      chain.push(up);
      continue;
    }
    if (selfSigned(cur)) {
      // A self-signed certificate is trusted only as itself.
      if (store.has(cur)) {
        numUntrusted = chain.length - 1;
        trusted = true;
      }
      break;
    }
    if (allowPartial && store.has(cur)) {
      numUntrusted = chain.length - 1;
      trusted = true;
      break;
    }
    const anchor = pickIssuer(store.candidates(cur).filter(notInChain), now);
    if (anchor !== undefined) {
      chain.push(anchor);
      continue;
    }
    const next = pickIssuer(pool.filter((c) => notInChain(c) && likelyIssued(c, cur)), now);
    if (next === undefined) break;
    chain.push(next);
    numUntrusted++;
  }
  if (tooLong) fail("CERT_CHAIN_TOO_LONG");
  else if (!trusted) {
    const top = chain[chain.length - 1]!;
    if (selfSigned(top)) fail(chain.length === 1 ? "DEPTH_ZERO_SELF_SIGNED_CERT" : "SELF_SIGNED_CERT_IN_CHAIN");
    else fail(numUntrusted < chain.length ? "UNABLE_TO_GET_ISSUER_CERT" : "UNABLE_TO_GET_ISSUER_CERT_LOCALLY");
  }

  // check_chain_extensions: criticality, CA-ness, purpose, path length, leaf first.
  const n = chain.length;
  let plen = 0;
  for (let i = 0; i < n; i++) {
    const x = chain[i]!;
    if (x.unhandledCritical.length > 0) fail("UNHANDLED_CRITICAL_EXTENSION");
    if (i > 0) {
      const ca = checkCa(x);
      // Intermediates must be v3 CAs; the top may also be a v1 root or a keyUsage-only CA.
      if (ca === 0 || (i + 1 < n && ca !== 1)) fail("INVALID_CA");
    }
    if (purpose !== undefined && !purposeAllowed(x, purpose, i > 0)) fail("INVALID_PURPOSE");
    const pathLen = x.basicConstraints?.pathLen;
    if (i > 1 && pathLen !== undefined && plen > pathLen) fail("PATH_LENGTH_EXCEEDED");
    if (i > 0 && !selfIssued(x)) plen++;
  }

  // internal_verify: from the top down, each signature by its issuer's key, then each certificate's dates.
  let depth = n - 1;
  let xi = chain[depth]!;
  let xs: CertFacts;
  if (selfSigned(xi) || allowPartial) xs = xi;
  else if (depth === 0) {
    fail("UNABLE_TO_VERIFY_LEAF_SIGNATURE");
    xs = xi;
  } else {
    depth--;
    xs = chain[depth]!;
  }
  for (;;) {
    if (xs !== xi) {
      if (!signingAllowed(xi)) fail("KEYUSAGE_NO_CERTSIGN");
      let key: KeyObject | undefined;
      try {
        key = xi.x509.publicKey;
      } catch {
        fail("UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY");
      }
      if (key !== undefined) {
        let verified: boolean;
        try {
          verified = xs.x509.verify(key);
        } catch {
          verified = false;
        }
        if (!verified) fail("CERT_SIGNATURE_FAILURE");
      }
    }
    if (xs.notBefore === undefined) fail("ERROR_IN_CERT_NOT_BEFORE_FIELD");
    else if (xs.notBefore > now) fail("CERT_NOT_YET_VALID");
    if (xs.notAfter === undefined) fail("ERROR_IN_CERT_NOT_AFTER_FIELD");
    else if (xs.notAfter <= now) fail("CERT_HAS_EXPIRED");
    if (--depth < 0) break;
    xi = xs;
    xs = chain[depth]!;
  }

  // What OpenSSL checks after this and we do not implement: refuse rather than skip.
  for (const x of chain) {
    if (x.unenforced.length > 0) {
      const what = x.unenforced.map((oid) => UNENFORCED_EXTENSIONS.get(oid)).join(", ");
      error = codeError(
        "ERR_MLSTLS_UNSUPPORTED_CERTIFICATE",
        `certificate "${x.x509.subject.replace(/\n/g, ", ")}" uses ${what}, which mlstls does not enforce`,
      );
    }
  }
  return error;
}

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

function schemeOf(key: Uint8Array): SignatureScheme {
  return key.length === 32 ? "ed25519" : key.length === 65 ? "ecdsa_secp256r1_sha256" : "ecdsa_secp384r1_sha384";
}

function basicObject(peer: PeerCredential): BasicPeerCertificate {
  const c = peer.credential;
  if (c.type !== "basic") throw new TypeError("not a basic credential");
  return {
    credentialType: "basic",
    identity: credentialName(c),
    identityBytes: Buffer.from(c.identity),
    signatureScheme: schemeOf(peer.signaturePublicKey),
    pubkey: Buffer.from(peer.signaturePublicKey),
    fingerprint: fingerprintOf(peer),
    fingerprint256: fingerprint256Of(peer),
  };
}

/** X509_check_issued: likely issued, and the issuer's keyUsage allows certificate signing. */
function issued(issuer: CertFacts, subject: CertFacts): boolean {
  return likelyIssued(issuer, subject) && signingAllowed(issuer);
}

/**
 * Node's detailed object: each certificate links to its issuer, first among the presented ones, then from the
 * trust store; a self-signed end of the chain links to itself (node's AddIssuerChainToObject and
 * GetLastIssuedCert).
 */
function detailedObject(presented: readonly CertFacts[], store: TrustStore, now: number): tls.DetailedPeerCertificate {
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
  for (let guard = 0; guard < MAX_DEPTH && !issued(cert, cert); guard++) {
    const ca = pickIssuer(store.candidates(cert), now);
    if (ca === undefined) break;
    obj.issuerCertificate = ca.x509.toLegacyObject() as tls.DetailedPeerCertificate;
    obj = obj.issuerCertificate;
    if (ca === cert) break;
    cert = ca;
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

// ---------------------------------------------------------------------------------------------------------------
// X.509 verification

export type CheckServerIdentity = (hostname: string, cert: tls.PeerCertificate) => Error | undefined;

export interface X509VerifyOptions {
  /** Trust anchors, as node's `ca` option (it replaces the default). Default: node's root certificates. */
  ca?: CaInput | TrustStore;
  /**
   * The name to check with checkServerIdentity: for clients, servername ?? host ?? "localhost" as node does.
   * undefined skips the hostname check (servers checking client certificates).
   */
  host?: string;
  /** Default tls.checkServerIdentity. Called with the detailed certificate object, only if the chain verified. */
  checkServerIdentity?: CheckServerIdentity;
  /** Verification time; default now. */
  now?: Date;
  /** The TLS purpose the leaf must allow: "server" (default) when verifying a server, "client" for clients. */
  purpose?: "server" | "client";
  /** node's allowPartialTrustChain: certificates in `ca` are anchors even when not self-signed. */
  allowPartialTrustChain?: boolean;
}

export interface PeerVerification {
  authorized: boolean;
  error: VerificationError | null;
  /** The detailed object node passes to checkServerIdentity; {} when the leaf cannot be parsed. */
  peerCertificate: PeerCertificateObject | Record<string, never>;
}

function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  // Lengths are public (they name the key type); the contents are compared in constant time.
  return a.length === b.length && timingSafeEqual(a, b);
}

/** ERR_MLSTLS_CERT_KEY_MISMATCH unless the leaf certificate's key is the peer's MLS signature key. */
function keyMismatch(leaf: X509Certificate, peer: PeerCredential): VerificationError | null {
  const key = mlsPublicKeyOf(leaf);
  if (key !== undefined && sameKey(key, peer.signaturePublicKey)) return null;
  return codeError(
    "ERR_MLSTLS_CERT_KEY_MISMATCH",
    "the peer's certificate holds a different public key than the MLS signature key of its leaf: " +
      "the peer does not hold the certificate's private key",
  );
}

// Chains that verified, per trust store: parsing every presented certificate is most of a ClientHello's cost
// (about 0.2 ms per certificate), and a replayed ClientHello presents the same chain again. Only successes are
// kept, for at most a minute and never beyond the validity of any certificate on the path; 1024 per store.
const CHAIN_CACHE_MAX = 1024;
const CHAIN_CACHE_MS = 60_000;
const verifiedChains = new WeakMap<TrustStore, Map<string, { until: number; from: number }>>();

function chainCacheKey(certs: readonly Uint8Array[], purpose: string, allowPartial: boolean): string {
  const h = createHash("sha256").update(`${purpose}|${allowPartial}|${certs.length}|`);
  for (const der of certs) h.update(`${der.length}|`).update(der);
  return h.digest("base64");
}

function chainVerifiedRecently(store: TrustStore, key: string, now: number): boolean {
  const e = verifiedChains.get(store)?.get(key);
  return e !== undefined && e.from <= now && now < e.until;
}

function rememberVerifiedChain(store: TrustStore, key: string, facts: readonly CertFacts[], now: number): void {
  let m = verifiedChains.get(store);
  if (m === undefined) verifiedChains.set(store, (m = new Map()));
  let until = now + CHAIN_CACHE_MS;
  let from = now;
  for (const f of facts) {
    if (f.notAfter !== undefined) until = Math.min(until, f.notAfter);
    if (f.notBefore !== undefined) from = Math.max(from, f.notBefore);
  }
  m.delete(key);
  m.set(key, { until, from });
  if (m.size > CHAIN_CACHE_MAX) m.delete(m.keys().next().value as string);
}

/**
 * Verifies an X.509 credential the way node:tls verifies a peer, plus the MLS key binding. The result's
 * error codes: ERR_MLSTLS_BAD_CREDENTIAL (unparseable certificate), ERR_MLSTLS_CERT_KEY_MISMATCH,
 * ERR_MLSTLS_X509_REQUIRED (basic credential), node's chain codes (see X509_ERRORS),
 * ERR_MLSTLS_UNSUPPORTED_CERTIFICATE, then whatever checkServerIdentity returns (node's
 * ERR_TLS_CERT_ALTNAME_INVALID with reason/host/cert).
 */
export function verifyX509Peer(peer: PeerCredential, opts: X509VerifyOptions = {}): PeerVerification {
  const c = peer.credential;
  if (c.type !== "x509") {
    const what = opts.purpose === "client" ? "client certificate" : "X.509 certificate";
    return {
      authorized: false,
      error: codeError("ERR_MLSTLS_X509_REQUIRED", `peer presented a basic (pinned-key) credential, but an ${what} is required`),
      peerCertificate: c.type === "basic" ? basicObject(peer) : {},
    };
  }
  const unparseable = (e: unknown): PeerVerification => ({
    authorized: false,
    error: codeError("ERR_MLSTLS_BAD_CREDENTIAL", `peer certificate cannot be parsed: ${e instanceof Error ? e.message : String(e)}`),
    peerCertificate: {},
  });
  // Cheap checks first (issue 8, finding 5): the leaf alone, for the key binding, before the rest of the chain is
  // parsed; node's presentation object (an object per certificate) only when something asks for it.
  let leaf: CertFacts;
  try {
    if (c.certificates.length === 0) throw new TypeError("the X.509 credential holds no certificate");
    leaf = certFacts(c.certificates[0]!);
  } catch (e) {
    return unparseable(e);
  }
  const store = opts.ca === undefined ? TrustStore.default() : TrustStore.from(opts.ca);
  const now = (opts.now ?? new Date()).getTime();
  let facts: CertFacts[] = [leaf];
  let factsComplete = false;
  const allFacts = (): CertFacts[] => {
    if (!factsComplete) facts = [leaf, ...c.certificates.slice(1).map((der) => certFacts(der))];
    factsComplete = true;
    return facts;
  };
  let detailed: tls.DetailedPeerCertificate | undefined;
  const lazy = <T extends object>(result: T): T & { peerCertificate: PeerCertificateObject } =>
    Object.defineProperty(result, "peerCertificate", {
      enumerable: true,
      get: () => (detailed ??= detailedObject(allFacts(), store, now)),
    }) as T & { peerCertificate: PeerCertificateObject };

  // The binding between the certificate and the MLS leaf comes first: a mismatch is an attack, not a
  // configuration problem, and no other result may hide it.
  const mismatch = keyMismatch(leaf.x509, peer);
  if (mismatch !== null) return lazy({ authorized: false, error: mismatch });
  // A chain that verified moments ago (a replayed ClientHello presents the same bytes) is not parsed again.
  const purpose = opts.purpose ?? "server";
  const allowPartial = opts.allowPartialTrustChain === true;
  const key = chainCacheKey(c.certificates, purpose, allowPartial);
  if (!chainVerifiedRecently(store, key, now)) {
    try {
      allFacts();
    } catch (e) {
      return unparseable(e);
    }
    const chainError = verifyChain(facts, store, now, purpose, allowPartial);
    if (chainError !== null) return lazy({ authorized: false, error: chainError });
    rememberVerifiedChain(store, key, facts, now);
  }
  if (opts.host !== undefined) {
    const check = opts.checkServerIdentity ?? tls.checkServerIdentity;
    let err: Error | undefined;
    try {
      err = check(opts.host, (detailed ??= detailedObject(allFacts(), store, now)));
    } catch (e) {
      // node would let this escape from its socket callback; refusing is the safe reading.
      err = e instanceof Error ? e : new Error(String(e));
    }
    if (err !== undefined && err !== null) return lazy({ authorized: false, error: err as VerificationError });
  }
  return lazy({ authorized: true, error: null });
}

// ---------------------------------------------------------------------------------------------------------------
// Pinned verification

export interface PinnedPeerInfo {
  peer: PeerCredential;
  /** "SHA256:<base64>" (identity.ts). */
  fingerprint: string;
  fingerprint256: string;
  /** As getPeerCertificate() shows it. */
  certificate: PeerCertificateObject | Record<string, never>;
}

/**
 * Decides on a pinned peer: true or undefined accepts; false refuses (ERR_MLSTLS_PEER_REJECTED); an Error refuses
 * with that error (its `code`, else its message, becomes authorizationError). Throwing counts as returning.
 */
export type VerifyPeerCallback = (info: PinnedPeerInfo) => boolean | Error | undefined | Promise<boolean | Error | undefined>;

export interface PinnedVerifyOptions {
  /** Allowed identity fingerprints ("SHA256:<base64>" or hex), or "MLSTLS PUBLIC IDENTITY" PEM blocks. */
  fingerprints?: readonly string[];
  verifyPeer?: VerifyPeerCallback;
}

/** Digests of the allow-list; throws MlsTlsConfigError for an entry that is neither form. */
function pinDigests(list: readonly string[]): Buffer[] {
  if (!Array.isArray(list)) throw new MlsTlsConfigError("ERR_INVALID_ARG_TYPE", "fingerprints must be an array of strings");
  return list.map((entry) =>
    typeof entry === "string" && entry.includes("-----BEGIN MLSTLS")
      ? fingerprintBytesOf(parsePublicIdentity(entry))
      : parseFingerprint(entry),
  );
}

async function verifyPinnedWith(peer: PeerCredential, pins: Buffer[] | undefined, verifyPeer: VerifyPeerCallback | undefined): Promise<PeerVerification> {
  const certificate = peerCertificateObject(peer);
  if (pins !== undefined) {
    const digest = fingerprintBytesOf(peer);
    // Every pin is compared, so the time taken does not tell which one matched.
    let hit = false;
    for (const pin of pins) hit = timingSafeEqual(pin, digest) || hit;
    if (!hit) {
      return {
        authorized: false,
        error: codeError("ERR_MLSTLS_FINGERPRINT_MISMATCH", `peer identity ${fingerprintOf(peer)} is not among the pinned fingerprints`),
        peerCertificate: certificate,
      };
    }
  }
  if (verifyPeer !== undefined) {
    let verdict: boolean | Error | undefined;
    try {
      verdict = await verifyPeer({ peer, fingerprint: fingerprintOf(peer), fingerprint256: fingerprint256Of(peer), certificate });
    } catch (e) {
      verdict = e instanceof Error ? e : new Error(String(e));
    }
    if (verdict instanceof Error) return { authorized: false, error: verdict, peerCertificate: certificate };
    if (verdict === false) {
      return {
        authorized: false,
        error: codeError("ERR_MLSTLS_PEER_REJECTED", `verifyPeer rejected peer identity ${fingerprintOf(peer)}`),
        peerCertificate: certificate,
      };
    }
  }
  return { authorized: true, error: null, peerCertificate: certificate };
}

/**
 * Pinned-key verification: the peer's identity fingerprint must be in `fingerprints` (if given) and
 * `verifyPeer` (if given) must accept it. An X.509 peer is pinned by the same fingerprint; its certificate
 * must still hold the MLS signature key (ERR_MLSTLS_CERT_KEY_MISMATCH otherwise).
 */
export async function verifyPinned(peer: PeerCredential, opts: PinnedVerifyOptions): Promise<PeerVerification> {
  if (opts.fingerprints === undefined && opts.verifyPeer === undefined) {
    throw new MlsTlsConfigError("ERR_INVALID_ARG_VALUE", "pinned verification needs fingerprints or verifyPeer");
  }
  const binding = x509Binding(peer);
  if (binding !== null) return { authorized: false, error: binding, peerCertificate: peerCertificateObject(peer) };
  return verifyPinnedWith(peer, opts.fingerprints === undefined ? undefined : pinDigests(opts.fingerprints), opts.verifyPeer);
}

/** For x509 credentials outside x509 mode: parseable, and bound to the MLS key. null if fine or not x509. */
function x509Binding(peer: PeerCredential): VerificationError | null {
  const c = peer.credential;
  if (c.type !== "x509") return null;
  try {
    if (c.certificates.length === 0) throw new TypeError("the X.509 credential holds no certificate");
    const facts = c.certificates.map((der) => certFacts(der));
    return keyMismatch(facts[0]!.x509, peer);
  } catch (e) {
    return codeError("ERR_MLSTLS_BAD_CREDENTIAL", `peer certificate cannot be parsed: ${e instanceof Error ? e.message : String(e)}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The engine's validator

export type PeerValidatorOptions = (
  | ({ mode: "x509" } & X509VerifyOptions)
  | ({ mode: "pinned" } & PinnedVerifyOptions)
  /** No verification (a node:tls server without requestCert): authorized stays false, authorizationError null. */
  | { mode: "none" }
) & {
  /** Default true: a peer that fails verification is refused and the handshake fails. */
  rejectUnauthorized?: boolean;
  /** Let a later credential carry a different identity (it must still verify). Default false. */
  allowIdentityRotation?: boolean;
  /** The identity the peer had before (a resumed session's): later credentials must keep it. */
  expectedPeer?: PeerCredential;
  /** Clock for X.509 validity; default the current time at each check. */
  now?: () => Date;
};

/**
 * The engine's CredentialValidator (`validate`, for ConnectionOptions.validatePeer) with the verdict on the
 * current peer credential, for the socket's authorized / authorizationError / getPeerCertificate().
 *
 * Refusals throw an MlsTlsError: ERR_MLSTLS_BAD_CREDENTIAL with node's error as `cause` (see
 * verificationErrorOf) and the alert OpenSSL would send, or ERR_MLSTLS_IDENTITY_CHANGED.
 *
 * Identity continuity: the first accepted credential fixes the peer's identity. In x509 mode the identity is the
 * leaf's subject and subjectAltName (a renewed certificate for the same names, even with a new key, continues
 * it); in pinned and none modes it is the identity fingerprint (credential and signature key). A later
 * credential with another identity is refused unless allowIdentityRotation.
 */
export class PeerValidator {
  readonly validate: CredentialValidator;
  readonly #opts: PeerValidatorOptions;
  readonly #store: TrustStore | undefined;
  readonly #pins: Buffer[] | undefined;
  #identity: string | undefined;
  #authorized = false;
  #error: VerificationError | null = null;
  #peer: PeerCredential | undefined;

  constructor(opts: PeerValidatorOptions) {
    if (opts === null || typeof opts !== "object") throw new MlsTlsConfigError("ERR_INVALID_ARG_TYPE", "options must be an object");
    this.#opts = opts;
    if (opts.mode === "x509") {
      this.#store = opts.ca === undefined ? TrustStore.default() : TrustStore.from(opts.ca);
      if (opts.checkServerIdentity !== undefined && typeof opts.checkServerIdentity !== "function") {
        throw new MlsTlsConfigError("ERR_INVALID_ARG_TYPE", "checkServerIdentity must be a function");
      }
    } else if (opts.mode === "pinned") {
      if (opts.fingerprints === undefined && opts.verifyPeer === undefined) {
        throw new MlsTlsConfigError("ERR_INVALID_ARG_VALUE", "pinned verification needs fingerprints or verifyPeer");
      }
      if (opts.verifyPeer !== undefined && typeof opts.verifyPeer !== "function") {
        throw new MlsTlsConfigError("ERR_INVALID_ARG_TYPE", "verifyPeer must be a function");
      }
      this.#pins = opts.fingerprints === undefined ? undefined : pinDigests(opts.fingerprints);
    } else if (opts.mode !== "none") {
      throw new MlsTlsConfigError("ERR_INVALID_ARG_VALUE", `unknown verification mode ${JSON.stringify((opts as { mode: unknown }).mode)}`);
    }
    if (opts.expectedPeer !== undefined) this.#identity = this.#identityOf(opts.expectedPeer);
    this.validate = (peer) => this.#validate(peer);
  }

  /** Whether the current peer credential verified (node: socket.authorized). */
  get authorized(): boolean {
    return this.#authorized;
  }

  /** node's socket.authorizationError: the failure's code (else its message), or null. */
  get authorizationError(): string | null {
    const e = this.#error;
    if (e === null) return null;
    return typeof e.code === "string" ? e.code : e.message;
  }

  /** The failure itself, as node:tls would have reported it. */
  get verifyError(): VerificationError | null {
    return this.#error;
  }

  /** The peer credential the verdict is about; undefined before the first one. */
  get peerCredential(): PeerCredential | undefined {
    return this.#peer;
  }

  /** node's getPeerCertificate(detailed): {} before a credential was accepted. */
  getPeerCertificate(detailed = false): PeerCertificateObject | Record<string, never> {
    const peer = this.#peer;
    if (peer === undefined) return {};
    return peerCertificateObject(peer, { detailed, ca: this.#store, now: this.#opts.now?.() });
  }

  #identityOf(peer: PeerCredential): string {
    const c = peer.credential;
    if (this.#opts.mode === "x509" && c.type === "x509" && c.certificates.length > 0) {
      try {
        const leaf = certFacts(c.certificates[0]!);
        const san = (leaf.x509.subjectAltName ?? "").split(", ").filter((s) => s.length > 0).sort();
        return `x509:${leaf.subjectKey}|${JSON.stringify(san)}`;
      } catch {
        // Unparseable: verification refuses it anyway; fall back to the exact credential.
      }
    }
    return `fp:${fingerprintOf(peer)}`;
  }

  async #verify(peer: PeerCredential): Promise<PeerVerification> {
    const o = this.#opts;
    if (o.mode === "x509") {
      return verifyX509Peer(peer, {
        ca: this.#store,
        host: o.host,
        checkServerIdentity: o.checkServerIdentity,
        purpose: o.purpose,
        allowPartialTrustChain: o.allowPartialTrustChain,
        now: this.#opts.now?.(),
      });
    }
    const binding = x509Binding(peer);
    if (binding !== null) return { authorized: false, error: binding, peerCertificate: {} };
    if (o.mode === "pinned") return verifyPinnedWith(peer, this.#pins, o.verifyPeer);
    return { authorized: false, error: null, peerCertificate: {} };
  }

  async #validate(peer: PeerCredential): Promise<boolean> {
    const result = await this.#verify(peer);
    const error = result.error;
    if (error !== null && (ALWAYS_FATAL.has(error.code ?? "") || this.#opts.rejectUnauthorized !== false)) {
      this.#record(peer, result);
      throw refusal(error, this.#alertFor(error));
    }
    const identity = this.#identityOf(peer);
    if (this.#identity !== undefined && identity !== this.#identity && this.#opts.allowIdentityRotation !== true) {
      throw new MlsTlsError(
        "ERR_MLSTLS_IDENTITY_CHANGED",
        `peer's identity changed from ${this.#describe(this.#peer)} to ${this.#describe(peer)}; set allowIdentityRotation to permit it`,
      );
    }
    this.#identity = identity;
    this.#record(peer, result);
    return true;
  }

  #alertFor(error: VerificationError): AlertName {
    const o = this.#opts;
    if (error.code === "ERR_MLSTLS_X509_REQUIRED" && !(o.mode === "x509" && o.purpose === "client")) return "unsupported_certificate";
    // A pinned peer's key is well-formed and proven; refusing it is an access decision.
    return alertFor(error, o.mode === "pinned" ? "access_denied" : "bad_certificate");
  }

  #record(peer: PeerCredential, result: PeerVerification): void {
    this.#peer = peer;
    this.#authorized = this.#opts.mode !== "none" && result.authorized;
    this.#error = result.error;
  }

  #describe(peer: PeerCredential | undefined): string {
    if (peer === undefined) return "the resumed session's identity";
    const name = credentialName(peer.credential);
    return `${JSON.stringify(name)} (${fingerprintOf(peer)})`;
  }
}

export function makeValidator(opts: PeerValidatorOptions): PeerValidator {
  return new PeerValidator(opts);
}

// ---------------------------------------------------------------------------------------------------------------
// node:tls options → validator

/** The node:tls options (and ours) that decide how the peer is verified. */
export interface TlsVerifyOptions {
  ca?: CaInput | TrustStore;
  /** Default true, as in node:tls. */
  rejectUnauthorized?: boolean;
  /** Server: ask for (and verify) a client certificate. Default false. */
  requestCert?: boolean;
  /** Client: the name checked against the server's certificate, before `host`. */
  servername?: string;
  /** Client: the connect() host. */
  host?: string;
  checkServerIdentity?: CheckServerIdentity;
  allowPartialTrustChain?: boolean;
  /** Pinned mode: allowed identity fingerprints or public identity PEM blocks. */
  fingerprints?: readonly string[];
  /** Pinned mode: a decision callback. */
  verifyPeer?: VerifyPeerCallback;
  allowIdentityRotation?: boolean;
}

/**
 * The validator node:tls's options imply. Client: pinned if `fingerprints` or `verifyPeer` is given, otherwise
 * X.509 against `ca` (default node's roots) with the hostname servername || host || "localhost", as node's
 * onConnectSecure picks it. Server: pinned likewise; otherwise X.509 of the client certificate (purpose
 * "client", no hostname) with requestCert; otherwise no verification (authorized false, as node).
 */
export function validatorFromTlsOptions(role: "client" | "server", o: TlsVerifyOptions, expectedPeer?: PeerCredential): PeerValidator {
  const common = {
    rejectUnauthorized: o.rejectUnauthorized !== false,
    allowIdentityRotation: o.allowIdentityRotation === true,
    expectedPeer,
  };
  if (o.fingerprints !== undefined || o.verifyPeer !== undefined) {
    return new PeerValidator({ mode: "pinned", fingerprints: o.fingerprints, verifyPeer: o.verifyPeer, ...common });
  }
  if (role === "client") {
    return new PeerValidator({
      mode: "x509",
      ca: o.ca,
      host: o.servername || o.host || "localhost",
      checkServerIdentity: o.checkServerIdentity,
      purpose: "server",
      allowPartialTrustChain: o.allowPartialTrustChain,
      ...common,
    });
  }
  if (o.requestCert === true) {
    return new PeerValidator({ mode: "x509", ca: o.ca, purpose: "client", allowPartialTrustChain: o.allowPartialTrustChain, ...common });
  }
  return new PeerValidator({ mode: "none", ...common });
}
