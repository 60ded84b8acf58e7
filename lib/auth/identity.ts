// Local MLS identities, the two ways of PROTOCOL.md, "Authentication: X.509 or pinned keys":
// - X.509: a node:tls `key` + `cert` pair becomes an MLS x509 credential whose leaf public key is the MLS
//   signature key (identityFromPem).
// - Pinned keys (SSH-style): a signature key pair with a basic credential (createIdentity), saved and loaded as
//   PEM, recognised by its fingerprint.
//
// Encodings (all structs in RFC 9420 §2.1 presentation language; <V> is the MLS variable-length vector):
//
//   struct {
//     uint8 version = 1;
//     uint16 suite;                     // MLS CipherSuite the key was made for
//     Credential credential;            // RFC 9420 §5.3: uint16 type; basic: opaque identity<V>;
//                                       //   x509: struct { opaque cert_data<V>; } certificates<V>
//     opaque signature_public_key<V>;   // 32-byte Ed25519 key, or uncompressed SEC1 point
//     opaque signature_private_key<V>;  // 32-byte Ed25519 seed, or big-endian scalar (absent in the public form)
//   } MlsTlsIdentity;
//
//   in PEM blocks labelled "MLSTLS IDENTITY" (private) and "MLSTLS PUBLIC IDENTITY" (shareable).
//
//   The fingerprint is SHA-256 over
//   struct {
//     opaque label<V> = "mlstls identity fingerprint v1";
//     uint16 signature_scheme;          // TLS SignatureScheme: 0x0807 ed25519, 0x0403 ecdsa_secp256r1_sha256,
//                                       //   0x0503 ecdsa_secp384r1_sha384
//     opaque signature_public_key<V>;
//     Credential credential;
//   } FingerprintInput;
//   printed as "SHA256:" + unpadded base64 (OpenSSH style) or colon-separated upper-case hex (node's
//   fingerprint256 style). It names the signature scheme, not the suite: suites 1 and 3 share Ed25519 keys, and a
//   pin must survive a change between them.

import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject, randomUUID, X509Certificate } from "node:crypto";
import { inspect } from "node:util";
import { Reader, Writer } from "../util/codec.js";
import { SIGNATURE_SCHEMES, suiteById, SUITES, suitesOfScheme } from "../suites.js";
import type { SignatureSchemeName, SignatureSchemeParams } from "../suites.js";
import { checkPostQuantumSuites, identityFromKeys, mldsaGenerate, MLS_SESSION_SUITES, rawKeysOf } from "../mls/index.js";
import type { CredentialInfo, LocalIdentity, PeerCredential } from "../mls/index.js";
import { mlsTlsError } from "../errors.js";

// Configuration errors are MlsTlsConfigErrors (lib/errors.ts); re-exported here for the public API's sake.
export { MlsTlsConfigError, type ConfigErrorCode } from "../errors.js";

// ---------------------------------------------------------------------------------------------------------------
// Signature schemes

/** The signature schemes of the suites this build runs (a public type: PinnedPeerInfo.signatureScheme). */
export type SignatureScheme = Extract<SignatureSchemeName, "ed25519" | "ecdsa_secp256r1_sha256" | "ecdsa_secp384r1_sha384" | "mldsa87">;

type SchemeInfo = SignatureSchemeParams & { readonly scheme: SignatureScheme };

/** Schemes with at least one suite this build runs, from the suite table. */
const SCHEMES = SIGNATURE_SCHEMES.filter((s): s is SchemeInfo => SUITES.some((x) => x.signature === s && x.mlsSupported));

function schemeOfSuite(suite: number): SchemeInfo | undefined {
  return SCHEMES.find((s) => s === suiteById(suite)?.signature);
}

/** The scheme of a canonical MLS signature public key (see PeerCredential), by its length and form. */
export function schemeOfPublicKey(key: Uint8Array): SchemeInfo | undefined {
  const s = SCHEMES.find((x) => x.publicKeyLength === key.length);
  if (s === undefined || (s.scheme !== "ed25519" && s.scheme !== "mldsa87" && key[0] !== 0x04)) return undefined;
  return s;
}

function schemeNamed(name: SignatureScheme): SchemeInfo {
  return SCHEMES.find((s) => s.scheme === name)!;
}

/**
 * The suites a key of scheme `s` serves. Post-quantum suites with a classical signature (79-84, Ed25519) are
 * opt-in (`postQuantum`, `ciphersuites`), so they are not listed here; withPostQuantum() adds them where a
 * configured list is filtered. ML-DSA keys serve only post-quantum suites (85-88).
 */
function runnable(s: SchemeInfo): number[] {
  const all = suitesOfScheme(s).filter((id) => MLS_SESSION_SUITES.includes(id));
  const classical = all.filter((id) => suiteById(id)?.postQuantum !== true);
  return classical.length > 0 ? classical : all;
}

/** `servable` plus the post-quantum suites whose signature scheme one of its suites has (Ed25519: 79-84). */
export function withPostQuantum(servable: readonly number[]): number[] {
  const schemes = new Set(servable.map((id) => suiteById(id)?.signature));
  const pq = MLS_SESSION_SUITES.filter((id) => suiteById(id)?.postQuantum === true && schemes.has(suiteById(id)?.signature) && !servable.includes(id));
  return [...servable, ...pq];
}

function describeSuites(ids: readonly number[]): string {
  return ids.map((id) => `${id} (${suiteById(id)?.name ?? "unknown"})`).join(", ");
}

const SUPPORTED_KEYS = "Ed25519 (MLS suites 1 and 3), ECDSA P-256 (suite 2) or ECDSA P-384 (suite 7)";

/** What a key is, for the messages of unsupported keys: the suite it would imply, if MLS has one. */
function describeUnsupported(key: KeyObject): string {
  const type = key.asymmetricKeyType;
  if (type === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === "secp521r1") return "ECDSA P-521 (MLS suite 5, which this build does not run)";
    return `ECDSA on curve ${curve ?? "unknown"} (no MLS suite)`;
  }
  if (type === "ed448") return "Ed448 (MLS suites 4 and 6, which this build does not run)";
  return `${type ?? "unknown"} (no MLS suite)`;
}

function schemeOfKey(key: KeyObject): SchemeInfo | undefined {
  if (key.asymmetricKeyType === "ed25519") return schemeNamed("ed25519");
  if (key.asymmetricKeyType === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === "prime256v1") return schemeNamed("ecdsa_secp256r1_sha256");
    if (curve === "secp384r1") return schemeNamed("ecdsa_secp384r1_sha384");
  }
  return undefined;
}

/** The canonical MLS encoding of a certificate's or key's public key; undefined for key types MLS cannot use. */
export function mlsPublicKeyOf(key: KeyObject | X509Certificate): Uint8Array | undefined {
  const k = key instanceof X509Certificate ? key.publicKey : key;
  if (schemeOfKey(k) === undefined) return undefined;
  return rawKeysOf(k.type === "private" ? createPublicKey(k) : k).publicKey;
}

type KeyInput = string | Buffer | KeyObject;

function toKeyObject(key: KeyInput, passphrase: string | undefined, what: string): KeyObject {
  if (key instanceof KeyObject) return key;
  if (typeof key !== "string" && !Buffer.isBuffer(key)) {
    throw mlsTlsError("ERR_INVALID_ARG_TYPE", `${what} must be a PEM string, a Buffer or a KeyObject`);
  }
  return createPrivateKey(passphrase === undefined ? { key, format: "pem" } : { key, format: "pem", passphrase });
}

/**
 * The MLS suites (that this build runs) a signature key can serve: [1, 3] for Ed25519, [2] for ECDSA P-256,
 * [7] for ECDSA P-384, [] for anything else. `key`: a KeyObject (private or public), or PEM (a private key,
 * a public key, or a certificate).
 */
export function suitesForKey(key: KeyInput | X509Certificate, passphrase?: string): number[] {
  let k: KeyObject;
  if (key instanceof X509Certificate) k = key.publicKey;
  else if (key instanceof KeyObject) k = key;
  else {
    const text = Buffer.isBuffer(key) ? key.toString("latin1") : key;
    k = /-----BEGIN CERTIFICATE-----/.test(text)
      ? new X509Certificate(Buffer.from(text, "latin1")).publicKey
      : passphrase === undefined
        ? createPublicKey({ key, format: "pem" })
        : createPublicKey(createPrivateKey({ key, format: "pem", passphrase }));
  }
  const s = schemeOfKey(k);
  return s === undefined ? [] : runnable(s);
}

/** The MLS suites (that this build runs) an identity's key can sign for: [1, 3] for Ed25519, [2], [7]. */
export function suitesForIdentity(identity: LocalIdentity): number[] {
  const s = schemeOfSuite(identity.suite);
  return s === undefined ? [] : runnable(s);
}

/** Human-readable list of suites, "1 (MLS_128_...), 3 (...)", for error messages. */
export function describeSuiteList(ids: readonly number[]): string {
  return describeSuites(ids);
}

/** Same key pair and credential, for another suite with the same signature scheme (Ed25519: 1 ↔ 3). */
export function identityForSuite(identity: LocalIdentity, suite: number): LocalIdentity {
  if (identity.suite === suite) return identity;
  const own = schemeOfSuite(identity.suite);
  const wanted = schemeOfSuite(suite);
  if (!MLS_SESSION_SUITES.includes(suite)) {
    throw mlsTlsError("ERR_INVALID_ARG_VALUE", `unsupported MLS ciphersuite ${suite}; this build runs ${describeSuites(MLS_SESSION_SUITES)}`);
  }
  if (own === undefined || own !== wanted) {
    throw mlsTlsError(
      "ERR_MLSTLS_KEY_SUITE_MISMATCH",
      `the identity's key is ${own?.label ?? "unknown"}, which cannot sign for MLS suite ${describeSuites([suite])}`,
    );
  }
  return {
    suite,
    credential: identity.credential,
    signaturePublicKey: identity.signaturePublicKey,
    signaturePrivateKey: identity.signaturePrivateKey,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// X.509 identities

const PEM_CERT_RE = /-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n\t ]+?)-----END CERTIFICATE-----/g;

/** All certificates of a PEM text, in order. */
export function parsePemCertificates(pem: string | Buffer): X509Certificate[] {
  const text = Buffer.isBuffer(pem) ? pem.toString("latin1") : pem;
  const out: X509Certificate[] = [];
  for (const m of text.matchAll(PEM_CERT_RE)) out.push(new X509Certificate(Buffer.from(m[1]!.replace(/\s+/g, ""), "base64")));
  return out;
}

export interface PemIdentityOptions {
  /** The private key: PEM (PKCS#8, SEC1 or encrypted PKCS#8) or a KeyObject. */
  key: KeyInput;
  /** The certificate chain in PEM, leaf first, as node:tls's `cert`. */
  cert: string | Buffer;
  passphrase?: string;
  /** The MLS suite; default the first this key serves (Ed25519: 1). Ed25519 keys may choose 3. */
  suite?: number;
}

/**
 * A node:tls key + certificate chain as an MLS identity with an x509 credential whose leaf public key is the
 * MLS signature key. Throws MlsTlsConfigError: ERR_MLSTLS_UNSUPPORTED_KEY for key types no MLS suite here can
 * use, ERR_MLSTLS_KEY_CERT_MISMATCH when the leaf certificate is not the key's, ERR_MLSTLS_KEY_SUITE_MISMATCH
 * when `suite` needs another key type.
 */
export function identityFromPem(opts: PemIdentityOptions): LocalIdentity {
  if (opts === null || typeof opts !== "object") throw mlsTlsError("ERR_INVALID_ARG_TYPE", "options must be an object");
  const key = toKeyObject(opts.key, opts.passphrase, "key");
  if (key.type !== "private") throw mlsTlsError("ERR_INVALID_ARG_VALUE", `key must be a private key, got a ${key.type} key`);
  const scheme = schemeOfKey(key);
  if (scheme === undefined || runnable(scheme).length === 0) {
    throw mlsTlsError(
      "ERR_MLSTLS_UNSUPPORTED_KEY",
      `unsupported key type: ${scheme?.label ?? describeUnsupported(key)}; MLS-TLS signature keys must be ${SUPPORTED_KEYS}`,
    );
  }
  if (typeof opts.cert !== "string" && !Buffer.isBuffer(opts.cert)) {
    throw mlsTlsError("ERR_INVALID_ARG_TYPE", "cert must be a PEM string or Buffer");
  }
  const certs = parsePemCertificates(opts.cert);
  if (certs.length === 0) throw mlsTlsError("ERR_INVALID_ARG_VALUE", "cert holds no PEM certificate");
  const leaf = certs[0]!;
  if (!leaf.checkPrivateKey(key)) {
    const certKey = leaf.publicKey;
    const certScheme = schemeOfKey(certKey);
    throw mlsTlsError(
      "ERR_MLSTLS_KEY_CERT_MISMATCH",
      `the certificate (subject ${leaf.subject.replace(/\n/g, ", ")}) holds a different public key ` +
        `(${certScheme?.label ?? describeUnsupported(certKey)}) than the private key (${scheme.label}); ` +
        "the first certificate of `cert` must be the key's",
    );
  }
  const suites = runnable(scheme);
  const suite = opts.suite ?? suites[0]!;
  if (!suites.includes(suite)) {
    throw mlsTlsError(
      "ERR_MLSTLS_KEY_SUITE_MISMATCH",
      `MLS suite ${describeSuites([suite])} cannot use this ${scheme.label} key; it serves ${describeSuites(suites)}`,
    );
  }
  const { privateKey: priv, publicKey: pub } = rawKeysOf(key);
  return identityFromKeys(suite, { type: "x509", certificates: certs.map((c) => new Uint8Array(c.raw)) }, pub, priv!);
}

// ---------------------------------------------------------------------------------------------------------------
// MLS wire encoding (RFC 9420 §2.1.2 variable-length vectors)

/** Codec failures of an identity PEM body; decodeIdentity turns them into ERR_MLSTLS_INVALID_IDENTITY_PEM. */
const malformed = (message: string): Error => new RangeError(message);

const CREDENTIAL_BASIC = 1;
const CREDENTIAL_X509 = 2;

function writeCredential(w: Writer, c: CredentialInfo): void {
  if (c.type === "basic") {
    w.u16(CREDENTIAL_BASIC).vec(c.identity);
  } else {
    const inner = new Writer(malformed);
    for (const cert of c.certificates) inner.vec(cert);
    w.u16(CREDENTIAL_X509).vec(inner.finish());
  }
}

function readCredential(r: Reader): CredentialInfo {
  const type = r.u16();
  if (type === CREDENTIAL_BASIC) return { type: "basic", identity: r.vec() };
  if (type === CREDENTIAL_X509) {
    const inner = new Reader(r.vec(), malformed);
    const certificates: Uint8Array[] = [];
    while (!inner.done) certificates.push(inner.vec());
    return { type: "x509", certificates };
  }
  throw new RangeError(`unknown credential type ${type}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Fingerprints

const FINGERPRINT_LABEL = new TextEncoder().encode("mlstls identity fingerprint v1");

function fingerprintDigest(peer: PeerCredential, suite?: number): Buffer {
  const scheme = schemeOfPublicKey(peer.signaturePublicKey);
  if (scheme === undefined) throw mlsTlsError("ERR_INVALID_ARG_VALUE", "not a canonical Ed25519, P-256 or P-384 signature public key");
  if (suite !== undefined && schemeOfSuite(suite) !== scheme) {
    throw mlsTlsError("ERR_MLSTLS_KEY_SUITE_MISMATCH", `a ${scheme.label} key cannot belong to MLS suite ${suite}`);
  }
  const w = new Writer(malformed).vec(FINGERPRINT_LABEL).u16(scheme.codePoint).vec(peer.signaturePublicKey);
  writeCredential(w, peer.credential);
  return createHash("sha256").update(w.finish()).digest();
}

function colonHex(b: Uint8Array): string {
  return (Buffer.from(b).toString("hex").toUpperCase().match(/../g) ?? []).join(":");
}

/** The printable fingerprint, "SHA256:" + unpadded base64. `suite`, if given, must fit the key. */
export function fingerprintOf(peer: PeerCredential, suite?: number): string {
  return "SHA256:" + fingerprintDigest(peer, suite).toString("base64").replace(/=+$/, "");
}

/** The same digest as fingerprintOf, in node's fingerprint256 style: "AB:CD:...". */
export function fingerprint256Of(peer: PeerCredential, suite?: number): string {
  return colonHex(fingerprintDigest(peer, suite));
}

/**
 * The 32-byte digest a fingerprint string names. Accepts "SHA256:<base64>" (padding optional), colon-separated
 * hex and plain hex, any case. Throws ERR_INVALID_ARG_VALUE otherwise.
 */
export function parseFingerprint(fp: string): Buffer {
  if (typeof fp === "string") {
    const s = fp.trim();
    const b64 = /^SHA256:([A-Za-z0-9+/]{43})=?$/.exec(s);
    if (b64 !== null) {
      const d = Buffer.from(b64[1]!, "base64");
      if (d.length === 32) return d;
    }
    const hex = s.replace(/:/g, "");
    if (/^[0-9a-fA-F]{64}$/.test(hex) && (!s.includes(":") || /^([0-9a-fA-F]{2}:){31}[0-9a-fA-F]{2}$/.test(s))) {
      return Buffer.from(hex, "hex");
    }
  }
  throw mlsTlsError("ERR_INVALID_ARG_VALUE", `not an identity fingerprint: ${JSON.stringify(fp)} (expected "SHA256:<base64>" or 32 bytes of hex)`);
}

/** The fingerprint digest of a peer, for comparison with parseFingerprint's result. */
export function fingerprintBytesOf(peer: PeerCredential): Buffer {
  return fingerprintDigest(peer);
}

// ---------------------------------------------------------------------------------------------------------------
// Pinned identities

const PEM_PRIVATE = "MLSTLS IDENTITY";
const PEM_PUBLIC = "MLSTLS PUBLIC IDENTITY";
const FORMAT_VERSION = 1;

function pemBlock(label: string, body: Uint8Array): string {
  const b64 = Buffer.from(body).toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${b64.join("\n")}\n-----END ${label}-----\n`;
}

function readPemBlock(pem: string | Buffer): { label: string; body: Uint8Array } {
  const text = Buffer.isBuffer(pem) ? pem.toString("latin1") : pem;
  if (typeof text !== "string") throw mlsTlsError("ERR_INVALID_ARG_TYPE", "identity PEM must be a string or Buffer");
  const m = /-----BEGIN (MLSTLS (?:PUBLIC )?IDENTITY)-----\r?\n([A-Za-z0-9+/=\r\n\t ]*?)-----END \1-----/.exec(text);
  if (m === null) throw mlsTlsError("ERR_MLSTLS_INVALID_IDENTITY_PEM", `no "${PEM_PRIVATE}" or "${PEM_PUBLIC}" PEM block found`);
  return { label: m[1]!, body: new Uint8Array(Buffer.from(m[2]!.replace(/\s+/g, ""), "base64")) };
}

function encodeIdentity(id: LocalIdentity, withPrivate: boolean): Uint8Array {
  const w = new Writer(malformed).u8(FORMAT_VERSION).u16(id.suite);
  writeCredential(w, id.credential);
  w.vec(id.signaturePublicKey);
  if (withPrivate) w.vec(id.signaturePrivateKey);
  return w.finish();
}

interface DecodedIdentity {
  suite: number;
  credential: CredentialInfo;
  signaturePublicKey: Uint8Array;
  signaturePrivateKey?: Uint8Array;
}

function decodeIdentity(body: Uint8Array, withPrivate: boolean): DecodedIdentity {
  try {
    const r = new Reader(body, malformed);
    const version = r.u8();
    if (version !== FORMAT_VERSION) throw new RangeError(`unknown format version ${version}`);
    const suite = r.u16();
    const credential = readCredential(r);
    const signaturePublicKey = r.vec();
    const signaturePrivateKey = withPrivate ? r.vec() : undefined;
    r.end();
    return { suite, credential, signaturePublicKey, signaturePrivateKey };
  } catch (e) {
    throw mlsTlsError("ERR_MLSTLS_INVALID_IDENTITY_PEM", `malformed identity PEM: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/** What a peer shares: the public half of an Identity, from its publicPem(). */
export interface PublicIdentity extends PeerCredential {
  suite: number;
  fingerprint: string;
  fingerprint256: string;
}

/** Reads a "MLSTLS PUBLIC IDENTITY" (or the public part of a private "MLSTLS IDENTITY") PEM block. */
export function parsePublicIdentity(pem: string | Buffer): PublicIdentity {
  const { label, body } = readPemBlock(pem);
  const d = decodeIdentity(body, label === PEM_PRIVATE);
  const peer = { credential: d.credential, signaturePublicKey: d.signaturePublicKey };
  if (schemeOfPublicKey(d.signaturePublicKey) !== schemeOfSuite(d.suite)) {
    throw mlsTlsError("ERR_MLSTLS_INVALID_IDENTITY_PEM", `the identity's public key does not fit MLS suite ${d.suite}`);
  }
  return { ...peer, suite: d.suite, fingerprint: fingerprintOf(peer), fingerprint256: fingerprint256Of(peer) };
}

function textOrHex(b: Uint8Array): string {
  try {
    const s = new TextDecoder("utf-8", { fatal: true }).decode(b);
    // Printable: no control characters, so it can be shown and logged as is.
    if (s.length > 0 && !/[\u0000-\u001f\u007f-\u009f]/.test(s)) return s;
  } catch {
    // not UTF-8: fall through to hex
  }
  return Buffer.from(b).toString("hex");
}

/** A display name for a credential: basic identity as text (hex if not printable), or the leaf's subject. */
export function credentialName(c: CredentialInfo): string {
  if (c.type === "basic") return textOrHex(c.identity);
  const leaf = c.certificates[0];
  if (leaf === undefined) return "";
  try {
    return new X509Certificate(leaf).subject.replace(/\n/g, ", ");
  } catch {
    return "";
  }
}

/**
 * A local identity for pinned-key (SSH-style) authentication: a signature key pair and a credential. It is a
 * LocalIdentity, so it can be passed as the `identity` option as is. The private key is not enumerable and
 * util.inspect shows only the name and fingerprint.
 */
export class Identity implements LocalIdentity {
  readonly suite: number;
  readonly credential: CredentialInfo;
  readonly signaturePublicKey: Uint8Array;
  readonly #privateKey: Uint8Array;

  private constructor(id: LocalIdentity) {
    this.suite = id.suite;
    this.credential = id.credential;
    this.signaturePublicKey = id.signaturePublicKey;
    this.#privateKey = id.signaturePrivateKey;
    Object.freeze(this);
  }

  /** Wraps a LocalIdentity (checks that the key pair belongs together and fits the suite). */
  static from(id: LocalIdentity): Identity {
    if (id instanceof Identity) return id;
    let checked: LocalIdentity;
    try {
      checked = identityFromKeys(id.suite, id.credential, id.signaturePublicKey, id.signaturePrivateKey);
    } catch (e) {
      throw mlsTlsError("ERR_INVALID_ARG_VALUE", `invalid identity: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    return new Identity(checked);
  }

  /** Loads what toPem() wrote. Throws ERR_MLSTLS_INVALID_IDENTITY_PEM for anything else, including a public PEM. */
  static fromPem(pem: string | Buffer): Identity {
    const { label, body } = readPemBlock(pem);
    if (label !== PEM_PRIVATE) {
      throw mlsTlsError("ERR_MLSTLS_INVALID_IDENTITY_PEM", `a "${label}" holds no private key; use parsePublicIdentity() to pin it`);
    }
    const d = decodeIdentity(body, true);
    try {
      return new Identity(identityFromKeys(d.suite, d.credential, d.signaturePublicKey, d.signaturePrivateKey!));
    } catch (e) {
      throw mlsTlsError("ERR_MLSTLS_INVALID_IDENTITY_PEM", `invalid identity PEM: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }

  get signaturePrivateKey(): Uint8Array {
    return this.#privateKey;
  }

  /** The basic credential's identity as text (hex if not printable), or an X.509 leaf's subject. */
  get name(): string {
    return credentialName(this.credential);
  }

  get fingerprint(): string {
    return fingerprintOf(this);
  }

  get fingerprint256(): string {
    return fingerprint256Of(this);
  }

  /** The same key pair and credential for another suite with the same signature scheme (Ed25519: 1 ↔ 3). */
  forSuite(suite: number): Identity {
    return suite === this.suite ? this : new Identity(identityForSuite(this, suite));
  }

  /** "MLSTLS IDENTITY" PEM, private key included: store it like a private key. */
  toPem(): string {
    return pemBlock(PEM_PRIVATE, encodeIdentity(this, true));
  }

  /** "MLSTLS PUBLIC IDENTITY" PEM, for the peer that pins this identity. */
  publicPem(): string {
    return pemBlock(PEM_PUBLIC, encodeIdentity(this, false));
  }

  toJSON(): { suite: number; name: string; fingerprint: string } {
    return { suite: this.suite, name: this.name, fingerprint: this.fingerprint };
  }

  [inspect.custom](): string {
    return `Identity { suite: ${this.suite}, name: ${JSON.stringify(this.name)}, fingerprint: '${this.fingerprint}' }`;
  }
}

export interface CreateIdentityOptions {
  /**
   * MLS suite; default 1 (Ed25519). The key type follows: 1, 3 Ed25519; 2 P-256; 7 P-384; post-quantum suites
   * 79-84 Ed25519, 85-88 ML-DSA-87 (these need @noble/post-quantum).
   */
  suite?: number;
  /** The basic credential's identity, as UTF-8. Default: a random UUID. */
  name?: string;
}

/** Generates a signature key pair for `suite` with a basic credential. */
export function createIdentity(opts: CreateIdentityOptions = {}): Identity {
  const suite = opts.suite ?? 1;
  const scheme = schemeOfSuite(suite);
  if (!Number.isInteger(suite) || !MLS_SESSION_SUITES.includes(suite) || scheme === undefined) {
    throw mlsTlsError("ERR_INVALID_ARG_VALUE", `unsupported MLS ciphersuite ${String(suite)}; this build runs ${describeSuites(MLS_SESSION_SUITES)}`);
  }
  if (opts.name !== undefined && (typeof opts.name !== "string" || opts.name.length === 0)) {
    throw mlsTlsError("ERR_INVALID_ARG_VALUE", "name must be a non-empty string");
  }
  checkPostQuantumSuites([suite]);
  // ML-DSA-87 (suites 85-88): node:crypto has no ML-DSA before Node 24, so the key comes from @noble/post-quantum.
  const { privateKey: priv, publicKey: pub } =
    scheme.scheme === "mldsa87"
      ? mldsaGenerate()
      : rawKeysOf(
          scheme.scheme === "ed25519"
            ? generateKeyPairSync("ed25519").privateKey
            : generateKeyPairSync("ec", { namedCurve: scheme.scheme === "ecdsa_secp256r1_sha256" ? "P-256" : "P-384" }).privateKey,
        );
  const identity = new TextEncoder().encode(opts.name ?? randomUUID());
  return Identity.from(identityFromKeys(suite, { type: "basic", identity }, pub, priv!));
}
