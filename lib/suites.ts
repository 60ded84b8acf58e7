// The one table of MLS ciphersuites (RFC 9420 §17.1): what each means for the TLS record layer (PROTOCOL.md,
// "The MLS suite sets the record protection"): the record layer uses the suite's hash for HKDF
// and the suite's AEAD for records; and which signature scheme its credentials' keys use.

export type HashName = "sha256" | "sha384" | "sha512";
export type AeadName = "aes-128-gcm" | "aes-256-gcm" | "chacha20-poly1305";

/** TLS SignatureScheme names (RFC 8446 §4.2.3) of the MLS suites' signature algorithms. */
export type SignatureSchemeName = "ed25519" | "ecdsa_secp256r1_sha256" | "ecdsa_secp384r1_sha384" | "ed448" | "ecdsa_secp521r1_sha512" | "mldsa87";

export interface SignatureSchemeParams {
  readonly scheme: SignatureSchemeName;
  /** The name RFC 9420 and ts-mls give the signature algorithm. */
  readonly mlsName: "Ed25519" | "P256" | "P384" | "Ed448" | "P521" | "ML-DSA-87";
  /** For messages: "Ed25519", "ECDSA P-256", ... */
  readonly label: string;
  /** TLS SignatureScheme code point (RFC 8446 §4.2.3), as MLS uses them. */
  readonly codePoint: number;
  /** Length of the canonical public key: raw for EdDSA, the uncompressed SEC1 point (0x04 || X || Y) for ECDSA. */
  readonly publicKeyLength: number;
  /**
   * Length of the private key: the RFC 8032 seed for EdDSA, the big-endian scalar for ECDSA, the expanded
   * FIPS 204 secret key for ML-DSA (the form ts-mls keeps in its state).
   */
  readonly privateKeyLength: number;
}

function scheme(
  name: SignatureSchemeName,
  mlsName: SignatureSchemeParams["mlsName"],
  label: string,
  codePoint: number,
  publicKeyLength: number,
  privateKeyLength: number,
): SignatureSchemeParams {
  return Object.freeze({ scheme: name, mlsName, label, codePoint, publicKeyLength, privateKeyLength });
}

const ED25519 = scheme("ed25519", "Ed25519", "Ed25519", 0x0807, 32, 32);
const P256 = scheme("ecdsa_secp256r1_sha256", "P256", "ECDSA P-256", 0x0403, 65, 32);
const P384 = scheme("ecdsa_secp384r1_sha384", "P384", "ECDSA P-384", 0x0503, 97, 48);
const ED448 = scheme("ed448", "Ed448", "Ed448", 0x0808, 57, 57);
const P521 = scheme("ecdsa_secp521r1_sha512", "P521", "ECDSA P-521", 0x0603, 133, 66);
// Post-quantum signatures (FIPS 204); 0x0906 is mldsa87 in the TLS SignatureScheme registry.
const MLDSA87 = scheme("mldsa87", "ML-DSA-87", "ML-DSA-87", 0x0906, 2592, 4896);

/** The signature schemes of the MLS suites, whether or not this build runs them. */
export const SIGNATURE_SCHEMES: readonly SignatureSchemeParams[] = Object.freeze([ED25519, P256, P384, ED448, P521, MLDSA87]);

/**
 * The suite's HPKE key exchange in the shape of node's getEphemeralKeyInfo(): OpenSSL's group names and key sizes
 * in bits for the DH KEMs; for the post-quantum KEMs, which node 20's OpenSSL does not know, type "KEM", the FIPS 203
 * name (or "X-Wing", ML-KEM-768 with X25519) and the ML-KEM parameter set.
 */
export interface KeyExchangeParams {
  readonly type: "ECDH" | "KEM";
  readonly name: string;
  readonly size: number;
}

const KEY_EXCHANGES: Readonly<Record<string, KeyExchangeParams>> = Object.freeze({
  DHKEMX25519: { type: "ECDH", name: "X25519", size: 253 },
  DHKEMX448: { type: "ECDH", name: "X448", size: 448 },
  DHKEMP256: { type: "ECDH", name: "prime256v1", size: 256 },
  DHKEMP384: { type: "ECDH", name: "secp384r1", size: 384 },
  DHKEMP521: { type: "ECDH", name: "secp521r1", size: 521 },
  MLKEM768: { type: "KEM", name: "ML-KEM-768", size: 768 },
  MLKEM1024: { type: "KEM", name: "ML-KEM-1024", size: 1024 },
  XWING: { type: "KEM", name: "X-Wing", size: 768 },
});

export interface SuiteParams {
  /** MLS ciphersuite code point. */
  readonly id: number;
  /** MLS ciphersuite name, as RFC 9420 and ts-mls spell it. */
  readonly name: string;
  readonly hash: HashName;
  /** Hash output length Nh in bytes. */
  readonly hashLen: number;
  readonly aead: AeadName;
  readonly keyLen: number;
  /** The TLS 1.3 cipher suite with the same record protection, for getCipher().standardName. */
  readonly tlsName: string;
  /** The signature scheme of the suite's credentials. */
  readonly signature: SignatureSchemeParams;
  /** Whether this build can run MLS with this suite (ts-mls plus the installed peer packages). */
  readonly mlsSupported: boolean;
  /** The key exchange is post-quantum (ML-KEM or X-Wing): PROTOCOL.md, "Post-quantum suites". */
  readonly postQuantum: boolean;
  /** The HPKE key exchange, as getEphemeralKeyInfo() reports it. */
  readonly keyExchange: KeyExchangeParams;
}

function suite(
  id: number,
  name: string,
  hash: HashName,
  aead: AeadName,
  signature: SignatureSchemeParams,
  mlsSupported: boolean,
): SuiteParams {
  const hashLen = hash === "sha256" ? 32 : hash === "sha384" ? 48 : 64;
  const keyLen = aead === "aes-128-gcm" ? 16 : 32;
  const tlsName =
    aead === "chacha20-poly1305"
      ? "TLS_CHACHA20_POLY1305_SHA256"
      : aead === "aes-128-gcm"
        ? "TLS_AES_128_GCM_SHA256"
        : "TLS_AES_256_GCM_SHA384";
  const postQuantum = /_(MLKEM\d+|XWING)_/.test(name);
  // The KEM is the name's second field: MLS_128_<KEM>_<AEAD>_<HASH>_<SIGNATURE>.
  const keyExchange = KEY_EXCHANGES[name.split("_")[2]!]!;
  return Object.freeze({ id, name, hash, hashLen, aead, keyLen, tlsName, signature, mlsSupported, postQuantum, keyExchange });
}

export const SUITES: readonly SuiteParams[] = Object.freeze([
  suite(1, "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519", "sha256", "aes-128-gcm", ED25519, true),
  suite(2, "MLS_128_DHKEMP256_AES128GCM_SHA256_P256", "sha256", "aes-128-gcm", P256, true),
  suite(3, "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519", "sha256", "chacha20-poly1305", ED25519, true),
  suite(4, "MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448", "sha512", "aes-256-gcm", ED448, false),
  suite(5, "MLS_256_DHKEMP521_AES256GCM_SHA512_P521", "sha512", "aes-256-gcm", P521, false),
  suite(6, "MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448", "sha512", "chacha20-poly1305", ED448, false),
  suite(7, "MLS_256_DHKEMP384_AES256GCM_SHA384_P384", "sha384", "aes-256-gcm", P384, true),
  // Post-quantum suites, under ts-mls 1.x's provisional numbers (PROTOCOL.md, "Post-quantum suites"). They run
  // only with the optional package @noble/post-quantum installed (lib/mls/pq.ts checks). 77 and 78 (ML-KEM-512)
  // are not run: ts-mls's 77 names AES-128-GCM but seals HPKE with AES-256-GCM, and another MLS-over-TLS
  // implementation uses 78 for a different suite.
  suite(79, "MLS_256_MLKEM768_AES256GCM_SHA384_Ed25519", "sha384", "aes-256-gcm", ED25519, true),
  suite(80, "MLS_256_MLKEM768_CHACHA20POLY1305_SHA384_Ed25519", "sha384", "chacha20-poly1305", ED25519, true),
  suite(81, "MLS_256_MLKEM1024_AES256GCM_SHA512_Ed25519", "sha512", "aes-256-gcm", ED25519, true),
  suite(82, "MLS_256_MLKEM1024_CHACHA20POLY1305_SHA512_Ed25519", "sha512", "chacha20-poly1305", ED25519, true),
  suite(83, "MLS_256_XWING_AES256GCM_SHA512_Ed25519", "sha512", "aes-256-gcm", ED25519, true),
  suite(84, "MLS_256_XWING_CHACHA20POLY1305_SHA512_Ed25519", "sha512", "chacha20-poly1305", ED25519, true),
  suite(85, "MLS_256_MLKEM1024_AES256GCM_SHA512_MLDSA87", "sha512", "aes-256-gcm", MLDSA87, true),
  suite(86, "MLS_256_MLKEM1024_CHACHA20POLY1305_SHA512_MLDSA87", "sha512", "chacha20-poly1305", MLDSA87, true),
  suite(87, "MLS_256_XWING_AES256GCM_SHA512_MLDSA87", "sha512", "aes-256-gcm", MLDSA87, true),
  suite(88, "MLS_256_XWING_CHACHA20POLY1305_SHA512_MLDSA87", "sha512", "chacha20-poly1305", MLDSA87, true),
]);

/** Suites offered/accepted by default, in preference order. */
export const DEFAULT_SUITES: readonly number[] = [1, 3, 2, 7];

/**
 * The post-quantum suites `postQuantum: 'prefer' | 'require'` adds, in preference order: X-Wing first (hybrid, so
 * as strong as X25519 even if ML-KEM fell), then ML-KEM-1024 and -768; ML-DSA-87 suites last (they need an
 * ML-DSA identity, so a client without one gets them only by a RetryRequest).
 */
export const POST_QUANTUM_SUITES: readonly number[] = [83, 84, 81, 82, 79, 80, 87, 88, 85, 86];

export type PostQuantumMode = "prefer" | "require" | false;

/**
 * Applies the `postQuantum` option to a parsed suite list. false: the list as it is. 'prefer': its post-quantum
 * suites first (the default list gains POST_QUANTUM_SUITES in front). 'require': only post-quantum suites (the
 * default list becomes POST_QUANTUM_SUITES). `explicit`: the list came from the user's `ciphersuites`.
 */
export function applyPostQuantum(list: readonly number[], mode: unknown, explicit: boolean): number[] {
  if (mode === undefined || mode === false) return [...list];
  if (mode !== "prefer" && mode !== "require") {
    throw new TypeError(`postQuantum must be 'prefer', 'require' or false, got ${String(mode)}`);
  }
  const isPq = (id: number) => suiteById(id)?.postQuantum === true;
  const pq = list.filter(isPq);
  const classical = list.filter((id) => !isPq(id));
  const pqPart = pq.length > 0 || explicit ? pq : [...POST_QUANTUM_SUITES];
  if (mode === "require") {
    if (pqPart.length === 0) throw new TypeError("postQuantum: 'require', but ciphersuites names no post-quantum suite");
    return pqPart;
  }
  return [...(pqPart.length > 0 ? pqPart : POST_QUANTUM_SUITES), ...classical];
}

export function suiteById(id: number): SuiteParams | undefined {
  return SUITES.find((s) => s.id === id);
}

/** The MLS suites (all of them, run by this build or not) whose credentials use `scheme`. */
export function suitesOfScheme(scheme: SignatureSchemeParams): number[] {
  return SUITES.filter((s) => s.signature === scheme).map((s) => s.id);
}

export function suiteByName(name: string): SuiteParams | undefined {
  return SUITES.find((s) => s.name === name);
}

/** Accepts a suite id, an MLS suite name, or a colon-separated list of names (node's `ciphersuites` style). */
export function parseSuiteList(spec: string | number | readonly (string | number)[] | undefined): number[] {
  if (spec === undefined) return [...DEFAULT_SUITES];
  const items = Array.isArray(spec)
    ? spec
    : typeof spec === "number"
      ? [spec]
      : (spec as string).split(":").map((s) => s.trim()).filter((s) => s.length > 0);
  const out: number[] = [];
  for (const item of items) {
    const s = typeof item === "number" ? suiteById(item) : suiteByName(item) ?? suiteById(Number(item));
    if (s === undefined || !s.mlsSupported) {
      throw new TypeError(`unsupported MLS ciphersuite: ${String(item)}`);
    }
    if (!out.includes(s.id)) out.push(s.id);
  }
  if (out.length === 0) throw new TypeError("ciphersuites must name at least one MLS ciphersuite");
  return out;
}

/** The suite's signature scheme, as its name ends: "Ed25519", "P256", "P384", ... */
export function signatureSchemeOf(id: number): string {
  const name = suiteById(id)?.name ?? "";
  return name.slice(name.lastIndexOf("_") + 1);
}

/**
 * The suites a ClientHello carries KeyPackages for: from the preference list, the first suite of each of the
 * first two signature schemes among the classical suites (by default Ed25519 and P-256, the commonest server
 * keys), so that most servers answer at once and the rest need one RetryRequest (PROTOCOL.md, "Suite
 * negotiation"); and, if the list has post-quantum suites, the first of those as well, so that a post-quantum
 * offer costs no extra round trip with either kind of server ("Post-quantum suites"). At most three.
 */
export function keyPackageSuites(offer: readonly number[]): number[] {
  const chosen = new Set<number>();
  const schemes = new Set<string>();
  for (const s of offer) {
    if (suiteById(s)?.postQuantum === true) continue;
    const scheme = signatureSchemeOf(s);
    if (schemes.has(scheme)) continue;
    schemes.add(scheme);
    chosen.add(s);
    if (chosen.size === 2) break;
  }
  const pq = offer.find((s) => suiteById(s)?.postQuantum === true);
  if (pq !== undefined) chosen.add(pq);
  return offer.filter((s) => chosen.has(s));
}
