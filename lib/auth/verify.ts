// Verification of the peer's MLS credential with node:tls semantics (PROTOCOL.md, "Authentication: X.509 or pinned
// keys"):
// - X.509: the chain is checked the way OpenSSL 3.0 checks it under node:tls (node's verify callback accepts
//   every error, so OpenSSL runs all checks and the LAST error found is the one reported), with node's codes and
//   messages; then the hostname through checkServerIdentity. On top of that, the leaf certificate's public key
//   must be the MLS signature key of the peer's leaf (ERR_MLSTLS_CERT_KEY_MISMATCH): without this check, anyone
//   holding a valid chain could impersonate its subject.
// - Pinned keys: an allow-list of identity fingerprints (identity.ts) and/or a verifyPeer callback.
// - makeValidator(): the engine's CredentialValidator plus the verdict the socket reports (authorized,
//   authorizationError, getPeerCertificate), honouring rejectUnauthorized and keeping the peer's identity
//   stable across ConnectionUpdates and resumptions.

import { timingSafeEqual, X509Certificate } from "node:crypto";
import * as tls from "node:tls";
import { type AlertName, mlsTlsError, nodeError } from "../errors.js";
import {
  credentialName,
  fingerprint256Of,
  fingerprintBytesOf,
  fingerprintOf,
  mlsPublicKeyOf,
  parseFingerprint,
  parsePublicIdentity,
} from "./identity.js";
import type { CredentialValidator, PeerCredential } from "../mls/index.js";
export { verificationErrorOf, VERIFY_ERROR_CODES, type VerificationError, type VerifyErrorCode } from "./verification-errors.js";
import { alertFor, ALWAYS_FATAL, refusal, type VerificationError } from "./verification-errors.js";
import { TrustStore, type CaInput } from "./trust-store.js";
import { verifyChainCached } from "./chain.js";
import { basicObject, detailedObject, peerCertificateObject, type PeerCertificateObject } from "./peer-certificate.js";
export { TrustStore, type CaInput } from "./trust-store.js";
export { peerCertificateObject, type BasicPeerCertificate, type PeerCertificateObject, type PeerCertificateOptions } from "./peer-certificate.js";
import {
  certFacts,
  type CertFacts,
} from "./x509.js";
import { endEntityView, looksDelegated, verifyDelegation, type DelegationRole } from "./delegation.js";
import type { PeerBinding } from "../protocol/index.js";

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
  /** What a delegated credential must be bound to; without it, delegations are refused. */
  delegation?: DelegationContext;
}

/**
 * The connection a delegated credential (PROTOCOL.md, "RSA certificates: per-connection delegation") is checked
 * against: the peer's role, and either the opening's suite and context or `resumed` (a stored session's credential,
 * whose context was checked when the session was made). `seen`: delegations this connection accepted before (their
 * lifetime was checked then; later commits carry them again).
 */
export interface DelegationContext {
  role: DelegationRole;
  opening?: { suite: number; context: Uint8Array };
  resumed?: boolean;
  seen?: ReadonlySet<string>;
  /** Our own MLS signature key on the connection: a server with the same key may delegate. */
  ownKey?: Uint8Array;
}

const delegationKey = (der: Uint8Array): string => Buffer.from(der).toString("base64");

/** The delegation check of a credential whose first certificate carries the mlstls extension; null if it binds. */
function delegationError(peer: PeerCredential, d: DelegationContext | undefined, now: number): VerificationError | null {
  if (d === undefined || (d.opening === undefined && d.resumed !== true)) {
    return nodeError("ERR_MLSTLS_BAD_DELEGATION", "invalid delegation: no connection to check it against");
  }
  const c = peer.credential;
  const seen = c.type === "x509" && c.certificates.length > 0 && d.seen?.has(delegationKey(c.certificates[0]!)) === true;
  // Seen before on this connection: its lifetime was checked then; the connection, not the delegation, lasts.
  return verifyDelegation(peer, { role: d.role, opening: d.opening, ownKey: d.ownKey, now: seen ? undefined : now });
}

/** Whether the credential presents a delegation (the mlstls extension in its first certificate). */
function isDelegated(peer: PeerCredential): boolean {
  const c = peer.credential;
  return c.type === "x509" && c.certificates.length > 0 && looksDelegated(c.certificates[0]!);
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
  return nodeError(
    "ERR_MLSTLS_CERT_KEY_MISMATCH",
    "the peer's certificate holds a different public key than the MLS signature key of its leaf: " +
      "the peer does not hold the certificate's private key",
  );
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
      error: nodeError("ERR_MLSTLS_X509_REQUIRED", `peer presented a basic (pinned-key) credential, but an ${what} is required`),
      peerCertificate: c.type === "basic" ? basicObject(peer) : {},
    };
  }
  const unparseable = (e: unknown): PeerVerification => ({
    authorized: false,
    error: nodeError("ERR_MLSTLS_BAD_CREDENTIAL", `peer certificate cannot be parsed: ${e instanceof Error ? e.message : String(e)}`),
    peerCertificate: {},
  });
  // A delegated credential's identity is its end-entity certificate (PROTOCOL.md, "RSA certificates: per-connection
  // delegation"): everything below sees the chain without the delegation, whose binding to the MLS key replaces the
  // leaf-key check.
  const delegated = isDelegated(peer);
  const ders = delegated ? c.certificates.slice(1) : c.certificates;
  const store = opts.ca === undefined ? TrustStore.default() : TrustStore.from(opts.ca);
  const now = (opts.now ?? new Date()).getTime();
  let facts: CertFacts[] = [];
  // node's detailed object (every certificate's legacy object, linked) is built only when someone reads it.
  let detailed: tls.DetailedPeerCertificate | undefined;
  const result = (authorized: boolean, error: VerificationError | null): PeerVerification => ({
    authorized,
    error,
    get peerCertificate() {
      return (detailed ??= detailedObject(facts, store, now));
    },
  });
  // The binding between the certificate and the MLS leaf comes first: a mismatch is an attack, not a configuration
  // problem, and no other result may hide it. Cheap checks first (a replayed ClientHello costs us this much): the
  // leaf alone for the binding, then the rest of the chain.
  try {
    if (ders.length === 0) throw new TypeError("the X.509 credential holds no certificate");
    facts = [certFacts(ders[0]!)];
  } catch (e) {
    return unparseable(delegated ? (delegationError(peer, opts.delegation, now) ?? e) : e);
  }
  const leaf = facts[0]!;
  const mismatch = delegated ? delegationError(peer, opts.delegation, now) : keyMismatch(leaf.x509, peer);
  if (mismatch !== null) return result(false, mismatch);
  try {
    facts = [leaf, ...ders.slice(1).map((der) => certFacts(der))];
  } catch (e) {
    facts = [leaf];
    return unparseable(e);
  }
  const chainError = verifyChainCached(facts, store, now, opts.purpose ?? "server", opts.allowPartialTrustChain === true);
  if (chainError !== null) return result(false, chainError);
  if (opts.host !== undefined) {
    const check = opts.checkServerIdentity ?? tls.checkServerIdentity;
    let err: Error | undefined;
    try {
      if (check === tls.checkServerIdentity) {
        // node's own check reads only subject and subjectaltname: it gets the leaf's (cached) legacy object, and
        // only a failure is repeated with the detailed object, so the error's `cert` is what node:tls reports.
        err = tls.checkServerIdentity(opts.host, legacyObjectOf(leaf));
        if (err !== undefined) err = tls.checkServerIdentity(opts.host, (detailed ??= detailedObject(facts, store, now)));
      } else {
        err = check(opts.host, (detailed ??= detailedObject(facts, store, now)));
      }
    } catch (e) {
      // node would let this escape from its socket callback; refusing is the safe reading.
      err = e instanceof Error ? e : new Error(String(e));
    }
    if (err !== undefined && err !== null) return result(false, err as VerificationError);
  }
  return result(true, null);
}

/** A leaf's legacy object for node's checkServerIdentity only (shared, never handed to users). */
const legacyObjects = new WeakMap<CertFacts, tls.PeerCertificate>();
function legacyObjectOf(c: CertFacts): tls.PeerCertificate {
  let o = legacyObjects.get(c);
  if (o === undefined) {
    o = c.x509.toLegacyObject();
    legacyObjects.set(c, o);
  }
  return o;
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
  if (!Array.isArray(list)) throw mlsTlsError("ERR_INVALID_ARG_TYPE", "fingerprints must be an array of strings");
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
        error: nodeError("ERR_MLSTLS_FINGERPRINT_MISMATCH", `peer identity ${fingerprintOf(peer)} is not among the pinned fingerprints`),
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
        error: nodeError("ERR_MLSTLS_PEER_REJECTED", `verifyPeer rejected peer identity ${fingerprintOf(peer)}`),
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
    throw mlsTlsError("ERR_INVALID_ARG_VALUE", "pinned verification needs fingerprints or verifyPeer");
  }
  const binding = x509Binding(peer, undefined, Date.now());
  if (binding !== null) return { authorized: false, error: binding, peerCertificate: peerCertificateObject(peer) };
  return verifyPinnedWith(peer, opts.fingerprints === undefined ? undefined : pinDigests(opts.fingerprints), opts.verifyPeer);
}

/** For x509 credentials outside x509 mode: parseable, and bound to the MLS key. null if fine or not x509. */
function x509Binding(peer: PeerCredential, delegation: DelegationContext | undefined, now: number): VerificationError | null {
  const c = peer.credential;
  if (c.type !== "x509") return null;
  try {
    if (c.certificates.length === 0) throw new TypeError("the X.509 credential holds no certificate");
    const facts = c.certificates.map((der) => certFacts(der));
    if (isDelegated(peer)) return delegationError(peer, delegation, now);
    return keyMismatch(facts[0]!.x509, peer);
  } catch (e) {
    return nodeError("ERR_MLSTLS_BAD_CREDENTIAL", `peer certificate cannot be parsed: ${e instanceof Error ? e.message : String(e)}`);
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
  /** The peer's role, which a delegated credential must name. Default: from `purpose` in x509 mode, else "server". */
  peerRole?: DelegationRole;
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
export class PeerValidator implements PeerBinding {
  readonly validate: CredentialValidator;
  /** What delegated credentials must be bound to on this connection (PeerBinding). */
  #opening: { suite: number; context: Uint8Array } | undefined;
  #resumed = false;
  /** Our own MLS signature key on this connection (PeerBinding), for a server that shares it. */
  #ownKey: Uint8Array | undefined;
  /** Delegations accepted on this connection. */
  readonly #seenDelegations = new Set<string>();
  readonly #opts: PeerValidatorOptions;
  #store: TrustStore | undefined;
  readonly #pins: Buffer[] | undefined;
  #identity: string | undefined;
  #authorized = false;
  #error: VerificationError | null = null;
  #peer: PeerCredential | undefined;

  constructor(opts: PeerValidatorOptions) {
    if (opts === null || typeof opts !== "object") throw mlsTlsError("ERR_INVALID_ARG_TYPE", "options must be an object");
    this.#opts = opts;
    if (opts.mode === "x509") {
      this.#store = opts.ca === undefined ? TrustStore.default() : TrustStore.from(opts.ca);
      if (opts.checkServerIdentity !== undefined && typeof opts.checkServerIdentity !== "function") {
        throw mlsTlsError("ERR_INVALID_ARG_TYPE", "checkServerIdentity must be a function");
      }
    } else if (opts.mode === "pinned") {
      if (opts.fingerprints === undefined && opts.verifyPeer === undefined) {
        throw mlsTlsError("ERR_INVALID_ARG_VALUE", "pinned verification needs fingerprints or verifyPeer");
      }
      if (opts.verifyPeer !== undefined && typeof opts.verifyPeer !== "function") {
        throw mlsTlsError("ERR_INVALID_ARG_TYPE", "verifyPeer must be a function");
      }
      this.#pins = opts.fingerprints === undefined ? undefined : pinDigests(opts.fingerprints);
    } else if (opts.mode !== "none") {
      throw mlsTlsError("ERR_INVALID_ARG_VALUE", `unknown verification mode ${JSON.stringify((opts as { mode: unknown }).mode)}`);
    }
    if (opts.expectedPeer !== undefined) this.#identity = this.#identityOf(opts.expectedPeer);
    this.validate = (peer) => this.#validate(peer);
  }

  /**
   * A server's SNI chose another context: its `ca` (node's root certificates when it has none) verifies the client,
   * as OpenSSL verifies with the store of the SSL_CTX the SNI callback switched to. Only before any credential was
   * seen, and only in x509 mode.
   */
  useTrust(ca: CaInput | TrustStore | undefined): void {
    if (this.#opts.mode !== "x509" || this.#peer !== undefined) return;
    this.#store = ca === undefined ? TrustStore.default() : TrustStore.from(ca);
  }

  /** The engine: the peer's opening credential must be bound to this suite and context. */
  opening(o: { suite: number; context: Uint8Array; ownKey?: Uint8Array }): void {
    this.#opening = { suite: o.suite, context: Uint8Array.from(o.context) };
    this.#ownKey = o.ownKey === undefined ? undefined : Uint8Array.from(o.ownKey);
    this.#resumed = false;
  }

  /** The engine: the peer's credentials come from a stored session (a resumption). */
  resumed(o: { ownKey?: Uint8Array } = {}): void {
    this.#ownKey = o.ownKey === undefined ? undefined : Uint8Array.from(o.ownKey);
    this.#resumed = true;
  }

  #delegation(): DelegationContext {
    const o = this.#opts;
    const role = o.peerRole ?? (o.mode === "x509" && o.purpose === "client" ? "client" : "server");
    return { role, opening: this.#opening, resumed: this.#resumed, seen: this.#seenDelegations, ownKey: this.#ownKey };
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
    const c = endEntityView(peer).credential;
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
        delegation: this.#delegation(),
      });
    }
    const binding = x509Binding(peer, this.#delegation(), (this.#opts.now?.() ?? new Date()).getTime());
    if (binding !== null) return { authorized: false, error: binding, peerCertificate: {} };
    if (o.mode === "pinned") return verifyPinnedWith(peer, this.#pins, o.verifyPeer);
    return { authorized: false, error: null, peerCertificate: {} };
  }

  async #validate(peer: PeerCredential): Promise<boolean> {
    const result = await this.#verify(peer);
    const error = result.error;
    if (error !== null && (ALWAYS_FATAL.has(error.code ?? "") || this.#opts.rejectUnauthorized !== false)) {
      this.#record(peer, result);
      if (error.code === "ERR_MLSTLS_DELEGATION_EXPIRED" && this.#resumed && this.#delegation().role === "client") {
        // A server resuming a session whose client delegation expired: the client must authenticate afresh, so
        // the session is refused the way unusable sessions are (unknown_psk_identity), and the client falls back.
        throw mlsTlsError("ERR_MLSTLS_STALE_SESSION", "the session's client delegation has expired: a full handshake re-authenticates", {
          cause: error,
        });
      }
      throw refusal(error, this.#alertFor(error));
    }
    const c = peer.credential;
    if (isDelegated(peer) && c.type === "x509") this.#seenDelegations.add(delegationKey(c.certificates[0]!));
    const identity = this.#identityOf(peer);
    if (this.#identity !== undefined && identity !== this.#identity && this.#opts.allowIdentityRotation !== true) {
      throw mlsTlsError(
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
    const name = credentialName(endEntityView(peer).credential);
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
    peerRole: role === "client" ? ("server" as const) : ("client" as const),
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
