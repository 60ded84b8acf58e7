// node:tls's secure context for MLS-TLS: who we are (identities from `key` + `cert`, X.509, or `identity`, pinned
// keys; at most one per signature scheme; a key MLS cannot sign with delegates per connection) and whom we trust
// (`ca`), checked as node checks its options, so that every mistake throws at createSecureContext() time. What a
// connection makes of it (suites, the SNI choice, its validator) is connection-auth.ts.

import { KeyObject, X509Certificate, createPrivateKey } from "node:crypto";
import { invalidArgType, mlsTlsError } from "../errors.js";
import { bytesEqual } from "../util/bytes.js";
import {
  Identity,
  identityForSuite,
  identityFromPem,
  mlsPublicKeyOf,
  parsePemCertificates,
  suitesForIdentity,
  withPostQuantum,
} from "./identity.js";
import type { LocalIdentity } from "../mls/index.js";
import { TrustStore, type CaInput } from "./verify.js";
import { Delegator, isDelegatingKey, type DelegationRole } from "./delegation.js";
import { MAX_DEPTH, pickIssuer } from "./chain.js";
import { issued } from "./peer-certificate.js";
import { certFacts, type CertFacts } from "./x509.js";

// ---------------------------------------------------------------------------------------------------------------
// Option types

/** A private key as node:tls's `key` accepts it (PEM, or {pem, passphrase}), or a KeyObject. */
export type KeyInput = string | Buffer | KeyObject | { pem: string | Buffer; passphrase?: string };
/**
 * node:tls's `key`: one key, or several (one per key type), each of which may also be {pem, passphrase} as in node
 * (node refuses that form outside an array).
 */
export type KeyOption = string | Buffer | KeyObject | readonly KeyInput[];
/** node:tls's `cert`: a PEM chain (leaf first), or several chains (one per key). */
export type CertOption = string | Buffer | readonly (string | Buffer)[];
/** A pinned-key identity: an Identity (mlstls.createIdentity()), its toPem() text, or any LocalIdentity. */
export type IdentityOption = Identity | LocalIdentity | string | Buffer;

/** What makes a SecureContext: our identity and the trust anchors, with node:tls's option names. */
export interface SecureContextOptions {
  key?: KeyOption;
  cert?: CertOption;
  /** For encrypted PEM keys. */
  passphrase?: string;
  /** Trust anchors for X.509 peers; default node's root certificates (tls.rootCertificates). */
  ca?: CaInput;
  /** A pinned-key identity instead of key + cert. */
  identity?: IdentityOption;
  /** Not supported: throws. Convert with `openssl pkcs12 -in file.pfx -nodes` and pass key + cert. */
  pfx?: unknown;
}

// ---------------------------------------------------------------------------------------------------------------
// SecureContext

export function present(v: unknown): boolean {
  // node:tls treats every falsy key/cert/ca as absent.
  return Boolean(v);
}

function keyObjectOf(k: KeyInput, passphrase: string | undefined, where: string): KeyObject {
  if (k instanceof KeyObject) return k;
  // An empty passphrase rather than none: an encrypted key without one then fails with ERR_OSSL_BAD_DECRYPT, as in
  // node:tls, instead of node:crypto's ERR_OSSL_CRYPTO_INTERRUPTED_OR_CANCELLED.
  if (typeof k === "string" || Buffer.isBuffer(k)) return createPrivateKey({ key: k, format: "pem", passphrase: passphrase ?? "" });
  if (k !== null && typeof k === "object" && (typeof k.pem === "string" || Buffer.isBuffer(k.pem))) {
    return createPrivateKey({ key: k.pem, format: "pem", passphrase: k.passphrase ?? passphrase ?? "" });
  }
  throw mlsTlsError("ERR_INVALID_ARG_TYPE", `${where} must be a PEM string, a Buffer, {pem, passphrase} or a KeyObject`);
}

const PEM_TYPES = "of type string or an instance of Buffer, TypedArray, or DataView";

/** One key, cert or ca entry as node checks it (a string or bytes; a KeyObject or X509Certificate too, ours). */
function pemEntry(name: string, v: unknown, extra?: Function): unknown {
  if (typeof v === "string" || Buffer.isBuffer(v) || (extra !== undefined && v instanceof extra)) return v;
  if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  throw invalidArgType(name, PEM_TYPES, v);
}

/**
 * node:tls's type checks of `ca`, `cert` and `key` (in node's order, with node's ERR_INVALID_ARG_TYPE), run
 * before anything else looks at them: a falsy option is absent, every other must be a string or bytes (or an array
 * of those; each key of an array may be {pem, passphrase}). TypedArrays and DataViews come back as Buffers.
 */
export function checkCredentialTypes<T extends object>(o: T, name = "options"): T {
  const out = { ...o } as Record<string, unknown>;
  const each = (k: string, f: (v: unknown) => unknown): void => {
    const v = out[k];
    if (!v) return;
    out[k] = Array.isArray(v) ? v.map(f) : f(v);
  };
  each("ca", (v) => pemEntry(`${name}.ca`, v, X509Certificate));
  each("cert", (v) => pemEntry(`${name}.cert`, v));
  const key = out.key;
  if (Array.isArray(key)) {
    out.key = key.map((v: unknown) => {
      const pem = (v as { pem?: unknown } | null | undefined)?.pem;
      if (pem === undefined) return pemEntry(`${name}.key`, v, KeyObject);
      return { ...(v as object), pem: pemEntry(`${name}.key`, pem) };
    });
  } else if (key) out.key = pemEntry(`${name}.key`, key, KeyObject);
  checkContextOptionTypes(out, name);
  return out as T;
}

/** node:tls's TLS version names (minVersion, maxVersion); MLS-TLS runs TLS 1.3's record layer whatever they say. */
const TLS_VERSIONS = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"];

/**
 * The type checks node:tls makes of the other secure-context options, with node's codes and messages. mlstls has
 * no use for most of them (MLS suites fix ciphers and curves), but code passing a wrong type learns it as with node.
 */
function checkContextOptionTypes(o: Record<string, unknown>, name: string): void {
  // As node: null is the same as absent (test-tls-connect-secure-context passes null for every option).
  const str = (k: string): void => {
    if (o[k] !== undefined && o[k] !== null && typeof o[k] !== "string") throw invalidArgType(`${name}.${k}`, "of type string", o[k]);
  };
  str("ciphers");
  str("ecdhCurve");
  // node checks the passphrase when it reads a key.
  if (o.key && o.passphrase !== undefined && o.passphrase !== null) str("passphrase");
  for (const [k, which] of [["minVersion", "minimum"], ["maxVersion", "maximum"]] as const) {
    const v = o[k];
    if (v !== undefined && v !== null && !TLS_VERSIONS.includes(v as string)) {
      throw Object.assign(new TypeError(`${JSON.stringify(v)} is not a valid ${which} TLS protocol version`), {
        code: "ERR_TLS_INVALID_PROTOCOL_VERSION",
      });
    }
  }
  if (o.sessionTimeout !== undefined && o.sessionTimeout !== null && typeof o.sessionTimeout !== "number") {
    throw invalidArgType(`${name}.sessionTimeout`, "of type number", o.sessionTimeout);
  }
  const tk = o.ticketKeys;
  if (tk !== undefined && tk !== null) {
    if (!ArrayBuffer.isView(tk)) throw invalidArgType(`${name}.ticketKeys`, "an instance of Buffer, TypedArray, or DataView", tk);
    if (tk.byteLength !== 48) {
      throw Object.assign(new TypeError(`The property '${name}.ticketKeys' must be exactly 48 bytes. Received ${tk.byteLength}`), {
        code: "ERR_INVALID_ARG_VALUE",
      });
    }
  }
}

/**
 * node's error for a key whose certificate of the same key type is another key's (OpenSSL's X509_check_private_key,
 * as node:tls reports it). A certificate of another key type is ours to refuse (ERR_MLSTLS_KEY_CERT_MISMATCH): node
 * accepts it, and its handshakes then fail.
 */
function keyValuesMismatch(): Error {
  const err = new Error("error:05800074:x509 certificate routines::key values mismatch");
  return Object.assign(err, { library: "x509 certificate routines", reason: "key values mismatch", code: "ERR_OSSL_X509_KEY_VALUES_MISMATCH" });
}

function sameKeyType(leaf: X509Certificate, key: KeyObject): boolean {
  return key.type === "private" && leaf.publicKey.asymmetricKeyType === key.asymmetricKeyType;
}

function subjectOf(cert: X509Certificate): string {
  return cert.subject.replace(/\n/g, ", ");
}

/**
 * A key MLS cannot sign with (RSA, RSA-PSS, P-521, Ed448) and its chain delegate per connection (PROTOCOL.md, "RSA
 * certificates: per-connection delegation"); every other key is an MLS identity of its own.
 */
function identityOrDelegator(key: KeyObject, chain: string | Buffer): LocalIdentity | Delegator {
  if (key.type !== "private" || !isDelegatingKey(key)) return identityFromPem({ key, cert: chain });
  const certs = parsePemCertificates(chain);
  if (certs.length === 0) throw mlsTlsError("ERR_INVALID_ARG_VALUE", "cert holds no PEM certificate");
  if (!certs[0]!.checkPrivateKey(key)) {
    throw mlsTlsError(
      "ERR_MLSTLS_KEY_CERT_MISMATCH",
      `the certificate (subject ${subjectOf(certs[0]!)}) holds a different public key than the private key; the first certificate of \`cert\` must be the key's`,
    );
  }
  return new Delegator(key, certs);
}

/**
 * A `cert` of only the leaf, completed from `ca` as OpenSSL's auto-chain does for node: the issuers found in the
 * trust store (names and key identifiers, keyUsage), up to and including a self-signed root, as far as `ca` goes.
 * A `cert` with more than one certificate is the chain the user chose, and stays as it is.
 */
function completeChain(chain: string | Buffer, trust: TrustStore | undefined): string | Buffer {
  if (trust === undefined) return chain;
  let certs: X509Certificate[];
  try {
    certs = parsePemCertificates(chain);
  } catch {
    return chain; // identityFromPem reports it
  }
  if (certs.length !== 1) return chain;
  let cur = certFacts(certs[0]!.raw);
  const added: CertFacts[] = [];
  const now = Date.now();
  while (!issued(cur, cur) && added.length < MAX_DEPTH) {
    const ca = pickIssuer(trust.candidates(cur).filter((c) => issued(c, cur) && c !== cur && !added.includes(c)), now);
    if (ca === undefined) break;
    added.push(ca);
    cur = ca;
  }
  if (added.length === 0) return chain;
  const text = Buffer.isBuffer(chain) ? chain.toString("latin1") : chain;
  return text.replace(/\s*$/, "\n") + added.map((c) => c.x509.toString()).join("");
}

/** Identities from node's key/cert forms; several keys are paired with the chains whose leaf holds their key. */
function identitiesFromPem(
  key: KeyOption,
  cert: CertOption,
  passphrase: string | undefined,
  trust: TrustStore | undefined,
): (LocalIdentity | Delegator)[] {
  const keys = Array.isArray(key) ? (key as readonly KeyInput[]) : [key as KeyInput];
  const given = Array.isArray(cert) ? (cert as readonly (string | Buffer)[]) : [cert as string | Buffer];
  for (const [i, c] of given.entries()) {
    if (typeof c !== "string" && !Buffer.isBuffer(c)) {
      throw mlsTlsError("ERR_INVALID_ARG_TYPE", `cert${given.length > 1 ? `[${i}]` : ""} must be a PEM string or Buffer`);
    }
  }
  const chains = given.map((c) => completeChain(c, trust));
  if (keys.length === 1 && chains.length === 1) {
    const ko = keyObjectOf(keys[0]!, passphrase, "key");
    let leaf: X509Certificate | undefined;
    try {
      leaf = parsePemCertificates(chains[0]!)[0];
    } catch {
      leaf = undefined; // identityOrDelegator reports it
    }
    if (leaf !== undefined && sameKeyType(leaf, ko) && !leaf.checkPrivateKey(ko)) throw keyValuesMismatch();
    return [identityOrDelegator(ko, chains[0]!)];
  }
  const leaves = chains.map((c, i) => {
    const first = parsePemCertificates(c)[0];
    if (first === undefined) throw mlsTlsError("ERR_INVALID_ARG_VALUE", `cert[${i}] holds no PEM certificate`);
    return first;
  });
  const used = new Set<number>();
  const out: (LocalIdentity | Delegator)[] = [];
  for (const [i, k] of keys.entries()) {
    const ko = keyObjectOf(k, passphrase, `key[${i}]`);
    const j = leaves.findIndex((leaf, n) => !used.has(n) && ko.type === "private" && leaf.checkPrivateKey(ko));
    if (j < 0) {
      if (leaves.some((leaf) => sameKeyType(leaf, ko))) throw keyValuesMismatch();
      throw mlsTlsError(
        "ERR_MLSTLS_KEY_CERT_MISMATCH",
        `no entry of cert starts with the certificate of key[${i}] (${ko.asymmetricKeyType ?? "unknown"} key)`,
      );
    }
    used.add(j);
    out.push(identityOrDelegator(ko, chains[j]!));
  }
  const stray = leaves.findIndex((_, n) => !used.has(n));
  if (stray >= 0) {
    throw mlsTlsError("ERR_MLSTLS_KEY_CERT_MISMATCH", `cert[${stray}] (subject ${subjectOf(leaves[stray]!)}) belongs to none of the keys`);
  }
  return out;
}

/** An X.509 identity whose certificate is not its key's would be refused by every peer: say so now. */
function checkBinding(id: LocalIdentity): void {
  if (id.credential.type !== "x509") return;
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(id.credential.certificates[0] ?? new Uint8Array());
  } catch (e) {
    throw mlsTlsError("ERR_INVALID_ARG_VALUE", "the identity's leaf certificate cannot be parsed", { cause: e });
  }
  const key = mlsPublicKeyOf(leaf);
  if (key === undefined || !Buffer.from(key).equals(Buffer.from(id.signaturePublicKey))) {
    throw mlsTlsError(
      "ERR_MLSTLS_KEY_CERT_MISMATCH",
      `the identity's certificate (subject ${subjectOf(leaf)}) holds a different public key than its signature key`,
    );
  }
}

function identityOption(v: unknown): LocalIdentity {
  if (typeof v === "string" || Buffer.isBuffer(v)) return Identity.fromPem(v);
  if (v !== null && typeof v === "object" && "signaturePrivateKey" in v && "credential" in v) {
    const id = Identity.from(v as LocalIdentity);
    checkBinding(id);
    return id;
  }
  throw mlsTlsError(
    "ERR_INVALID_ARG_TYPE",
    "identity must be an Identity (mlstls.createIdentity()), the PEM of one, a LocalIdentity, or a function",
  );
}

/**
 * mlstls's SecureContext (mlstls.createSecureContext): our identities and trust anchors, parsed once. Use it for
 * the `secureContext` option, server.addContext() and SNICallback answers. It cannot be used with node:tls.
 */
export class SecureContext {
  /**
   * node:tls code reads `secureContext.context` (node's native context); here that is the context itself, with the
   * native context's methods addCACert(), addRootCerts(), setCert() and setKey().
   */
  readonly context: SecureContext;
  /** Our identities, at most one per signature scheme; empty when anonymous. */
  identities: readonly LocalIdentity[] = [];
  /** `ca`, parsed; undefined means node's root certificates. */
  trust: TrustStore | undefined;
  /** An RSA (RSA-PSS, P-521, Ed448) key and its chain, which delegate per connection; for suites no identity serves. */
  delegator: Delegator | undefined;
  /** "One key on both ends": our identities' own keys as delegators, made once each on first need. */
  readonly #sharedKeyDelegators = new Map<string, Delegator>();
  /** setCert()/setKey() halves, until both are set. */
  #pending: { cert?: string | Buffer; key?: string | Buffer | KeyObject; passphrase?: string } = {};

  constructor(options: SecureContextOptions = {}) {
    if (options === null || typeof options !== "object") throw mlsTlsError("ERR_INVALID_ARG_TYPE", "options must be an object");
    if (present(options.pfx)) {
      throw mlsTlsError(
        "ERR_INVALID_ARG_VALUE",
        "pfx is not supported; convert it with `openssl pkcs12 -in file.pfx -nodes` and pass key and cert",
      );
    }
    options = checkCredentialTypes(options);
    const hasPem = present(options.key) || present(options.cert);
    const trust = present(options.ca) ? TrustStore.from(options.ca!) : undefined;
    if (present(options.identity) && hasPem) {
      throw mlsTlsError("ERR_INVALID_ARG_VALUE", "identity and key/cert are alternatives; give one of them");
    }
    let ids: LocalIdentity[] = [];
    let delegators: Delegator[] = [];
    if (present(options.identity)) ids = [identityOption(options.identity)];
    else if (hasPem) {
      if (!present(options.key)) {
        // node's createSecureContext({ cert }) succeeds (its handshakes fail later): accepted, without an identity.
        process.emitWarning(
          "cert is set but key is not: the cert is ignored and this context has no certificate " +
            "(node:tls accepts the option too, and its handshakes then fail)",
          { type: "MlsTlsWarning", code: "MLSTLS_HALF_CREDENTIAL" },
        );
      } else if (!present(options.cert)) {
        throw mlsTlsError(
          "ERR_INVALID_ARG_VALUE",
          "key is set but cert is not: give its certificate chain, or use `identity` (mlstls.createIdentity) for a key without one",
        );
      } else {
        const all = identitiesFromPem(options.key!, options.cert!, options.passphrase, trust);
        delegators = all.filter((x): x is Delegator => x instanceof Delegator);
        ids = all.filter((x): x is LocalIdentity => !(x instanceof Delegator));
        if (delegators.length > 1) {
          throw mlsTlsError("ERR_INVALID_ARG_VALUE", "two keys that delegate (RSA, RSA-PSS, P-521, Ed448): give at most one of them");
        }
      }
    }
    this.#setIdentities(ids, delegators[0]);
    this.trust = trust;
    this.context = this;
  }

  #setIdentities(ids: LocalIdentity[], delegator: Delegator | undefined): void {
    for (let i = 0; i < ids.length; i++) {
      for (let j = 0; j < i; j++) {
        if (suitesForIdentity(ids[i]!).some((s) => suitesForIdentity(ids[j]!).includes(s))) {
          throw mlsTlsError("ERR_INVALID_ARG_VALUE", "two keys of the same type: give at most one key per type (Ed25519, P-256, P-384)");
        }
      }
    }
    this.delegator = delegator;
    this.identities = Object.freeze(ids);
    // setCert()/setKey() may pair a key with another chain: its delegator is made again.
    this.#sharedKeyDelegators.clear();
  }

  // node's native SecureContext methods (secureContext.context.addCACert(...), ...): they change this context, for
  // the connections that start after the call.

  /** Trusts the certificates of `cert` (PEM) too, besides `ca` (or node's root certificates when there was none). */
  addCACert(cert: string | Buffer): void {
    const pem = pemEntry("cert", cert);
    this.trust = (this.trust ?? TrustStore.default()).with(pem as string | Buffer);
  }

  /** Trusts node's root certificates too. */
  addRootCerts(): void {
    if (this.trust === undefined) return;
    this.trust = this.trust.with(TrustStore.default().certificates.map((c) => c.x509));
  }

  /** Our certificate chain (PEM, leaf first); with setKey()'s key it becomes an identity, replacing the one of its key type. */
  setCert(cert: string | Buffer): void {
    this.#pending.cert = pemEntry("cert", cert) as string | Buffer;
    this.#applyPending();
  }

  /** Our private key (PEM); with setCert()'s chain it becomes an identity, replacing the one of its key type. */
  setKey(key: string | Buffer, passphrase?: string): void {
    this.#pending.key = pemEntry("key", key, KeyObject) as string | Buffer | KeyObject;
    this.#pending.passphrase = passphrase;
    this.#applyPending();
  }

  #applyPending(): void {
    const { cert, key, passphrase } = this.#pending;
    if (cert === undefined || key === undefined) return;
    const [made] = identitiesFromPem(key, cert, passphrase, this.trust);
    this.#pending = {};
    if (made instanceof Delegator) {
      this.#setIdentities([...this.identities], made);
      return;
    }
    const suites = suitesForIdentity(made!);
    const others = this.identities.filter((id) => !suitesForIdentity(id).some((s) => suites.includes(s)));
    this.#setIdentities([...others, made!], this.delegator);
  }

  /** The MLS suites our identities can sign for; undefined when anonymous (any suite). */
  get servableSuites(): number[] | undefined {
    if (!this.hasIdentity) return undefined;
    const own = this.identities.flatMap((id) => suitesForIdentity(id));
    return this.delegator === undefined ? own : [...new Set([...own, ...this.delegator.suites])];
  }

  /** Whether any key is configured (else we are anonymous). */
  get hasIdentity(): boolean {
    return this.identities.length > 0 || this.delegator !== undefined;
  }

  /**
   * Our identity for `suite` on one connection: a key that signs for it, else a fresh delegated identity bound to
   * `binding` (the engine's IdentityContext.binding), made for `role`.
   */
  async identityForConnection(
    suite: number,
    role: DelegationRole,
    binding: Uint8Array | undefined,
    peerKey?: Uint8Array,
  ): Promise<LocalIdentity | undefined> {
    const own = this.identityFor(suite);
    // The client's leaf has our own key (the same key and certificate on both ends): MLS forbids two leaves with
    // one key, so the server answers with a fresh key that its own key delegates to (PROTOCOL.md, "One key on both
    // ends"). Only a server can: the client's KeyPackage was made before it knew the server's key.
    if (own !== undefined && role === "server" && peerKey !== undefined && bytesEqual(own.signaturePublicKey, peerKey)) {
      if (binding === undefined) throw mlsTlsError("ERR_MLSTLS_INTERNAL", "a delegated identity needs the connection's binding");
      // By key: identityFor() may hand out a new object per call for the same key (one per suite).
      const byKey = Buffer.from(own.signaturePublicKey).toString("base64");
      let delegator = this.#sharedKeyDelegators.get(byKey);
      if (delegator === undefined) {
        delegator = Delegator.forSharedKey(own);
        this.#sharedKeyDelegators.set(byKey, delegator);
      }
      return delegator.mint(suite, role, binding);
    }
    if (own !== undefined || this.delegator === undefined || !this.delegator.suites.includes(suite)) return own;
    if (binding === undefined) throw mlsTlsError("ERR_MLSTLS_INTERNAL", "a delegated identity needs the connection's binding");
    return this.delegator.mint(suite, role, binding);
  }

  /** Our identity for `suite`, if one of our keys can sign for it. */
  identityFor(suite: number): LocalIdentity | undefined {
    const id = this.identities.find((x) => withPostQuantum(suitesForIdentity(x)).includes(suite));
    if (id === undefined) return undefined;
    return id instanceof Identity ? id.forSuite(suite) : identityForSuite(id, suite);
  }
}

/** Like tls.createSecureContext(): key, cert, passphrase, ca, plus mlstls's identity. Throws for bad options. */
export function createSecureContext(options: SecureContextOptions = {}): SecureContext {
  return new SecureContext(options);
}

/** A SecureContext from what node code may hand over: ours, one wrapped in {context}, or options for one. */
export function toSecureContext(v: unknown, what: string): SecureContext {
  if (v instanceof SecureContext) return v;
  if (v !== null && typeof v === "object") {
    const inner = (v as { context?: unknown }).context;
    if (inner instanceof SecureContext) return inner;
    if (inner !== undefined) {
      throw mlsTlsError("ERR_INVALID_ARG_TYPE", `${what}: a node:tls SecureContext cannot be used; make one with mlstls.createSecureContext()`);
    }
    return new SecureContext(v as SecureContextOptions);
  }
  throw mlsTlsError("ERR_INVALID_ARG_TYPE", `${what} must be an mlstls SecureContext or options for one`);
}
