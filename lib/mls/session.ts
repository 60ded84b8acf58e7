// The MLS side of MLS-TLS: KeyPackage (ClientHello), Welcome (ServerHello) and self-update commits
// (ConnectionUpdate / Resumption) for a group of exactly two members.
//
// This is the only module of lib/ that imports ts-mls (exact pin 1.6.4). Everything it exports is our own
// type, so an upgrade of ts-mls touches this file only. Every ts-mls failure is translated into an
// MlsTlsError; none escapes.

import { generateKeyPairSync, randomBytes } from "node:crypto";
import { ed25519 } from "@noble/curves/ed25519.js";
import { p256, p384 } from "@noble/curves/nist.js";
import {
  ciphersuites,
  createCommit,
  createGroup,
  decodeGroupState,
  decodeMlsMessage,
  defaultAuthenticationService,
  defaultCryptoProvider,
  nobleCryptoProvider,
  defaultKeyPackageEqualityConfig,
  defaultKeyRetentionConfig,
  defaultLifetimeConfig,
  defaultPaddingConfig,
  emptyPskIndex,
  encodeGroupState,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroupWithExtensions,
  mlsExporter,
  processMessage,
} from "ts-mls";
import type {
  AuthenticationService,
  Capabilities,
  CiphersuiteImpl,
  CiphersuiteName,
  ClientConfig,
  ClientState,
  CryptoProvider,
  Credential,
  Extension,
  IncomingMessageCallback,
  KeyPackage,
  LeafNode,
  MLSMessage,
  PrivateKeyPackage,
  PrivateMessage,
} from "ts-mls";
import { verifyKeyPackage } from "ts-mls/keyPackage.js";
import { verifyLeafNodeSignatureKeyPackage } from "ts-mls/leafNode.js";
import { unprotectPrivateMessage } from "ts-mls/messageProtection.js";
import { decryptSenderData } from "ts-mls/privateMessage.js";
import { suiteById } from "../suites.js";
import { createNodeCryptoProvider } from "./crypto-node.js";
import { MlsTlsError, protocolError } from "../errors.js";
import type { LocalErrorCode } from "../errors.js";

// ---------------------------------------------------------------------------------------------------------------
// Public types

export interface BasicCredentialInfo {
  type: "basic";
  identity: Uint8Array;
}
export interface X509CredentialInfo {
  type: "x509";
  /** DER certificates, leaf first. */
  certificates: Uint8Array[];
}
export type CredentialInfo = BasicCredentialInfo | X509CredentialInfo;

/**
 * A credential as a peer presented it in MLS. `signaturePublicKey` is the key that signs the peer's leaf,
 * in the suite's canonical encoding: 32 raw bytes for Ed25519 (suites 1, 3), the uncompressed SEC1 point
 * (0x04 || X || Y) for ECDSA P-256 (suite 2, 65 bytes) and P-384 (suite 7, 97 bytes). Keys in any other
 * encoding are refused before a validator sees them, so validators can compare bytes.
 */
export interface PeerCredential {
  credential: CredentialInfo;
  signaturePublicKey: Uint8Array;
}

/**
 * Returns true to accept. Called for every credential the peer presents: its KeyPackage, the Welcome's
 * GroupInfo signer and tree leaves, and every UpdatePath leaf. Throwing refuses as well; an MlsTlsError
 * thrown here is passed on unchanged, anything else becomes ERR_MLSTLS_BAD_CREDENTIAL with it as `cause`.
 */
export type CredentialValidator = (peer: PeerCredential) => boolean | Promise<boolean>;

export interface LocalIdentity {
  /** The MLS ciphersuite the key was made for. Suites with the same signature scheme (1 and 3) share keys. */
  suite: number;
  credential: CredentialInfo;
  /** Canonical encoding, see PeerCredential. */
  signaturePublicKey: Uint8Array;
  /** 32-byte Ed25519 seed (RFC 8032), or the big-endian ECDSA scalar (32 bytes P-256, 48 bytes P-384). */
  signaturePrivateKey: Uint8Array;
}

/** What the initiator offers besides its KeyPackage (decision 9). */
export interface HelloExtensions {
  serverName?: string;
  alpnProtocols?: string[];
}

/**
 * Private-use extension types (RFC 9420 §17.3, 0xF000–0xFFFF) that carry TLS's SNI and ALPN (decision 9).
 * Their data is the TLS wire format: RFC 6066 ServerNameList with one host_name, RFC 7301 ProtocolNameList.
 */
export const MLSTLS_EXTENSION_TYPES = Object.freeze({
  /** KeyPackage extension, signed by the initiator: ServerNameList with exactly one host_name. */
  serverName: 0xf001,
  /** KeyPackage extension, signed by the initiator: ProtocolNameList of the offered protocols. */
  alpnOffer: 0xf002,
  /** GroupContext extension, so it enters the key schedule: ProtocolNameList with the one selected protocol. */
  alpnSelected: 0xf003,
});

// ---------------------------------------------------------------------------------------------------------------
// Suites, crypto provider, client config

type SignatureScheme = "Ed25519" | "P256" | "P384";
interface SuiteInfo {
  readonly id: number;
  readonly name: CiphersuiteName;
  readonly scheme: SignatureScheme;
}

/** Suites this module runs: the `mlsSupported` ones of cipher-suites.ts that ts-mls 1.6.4 implements here. */
const SUITE_INFO: ReadonlyMap<number, SuiteInfo> = new Map(
  ([
    [1, "Ed25519"],
    [2, "P256"],
    [3, "Ed25519"],
    [7, "P384"],
  ] as const).flatMap(([id, scheme]) => {
    const params = suiteById(id);
    if (params === undefined || !params.mlsSupported) return [];
    const name = params.name as CiphersuiteName;
    if (ciphersuites[name] !== id) return [];
    return [[id, { id, name, scheme }] as const];
  }),
);

/** MLS ciphersuites this module can run, in ascending order. */
export const MLS_SESSION_SUITES: readonly number[] = Object.freeze([...SUITE_INFO.keys()]);

function suiteInfo(suite: number): SuiteInfo {
  const info = SUITE_INFO.get(suite);
  if (info === undefined) throw new TypeError(`unsupported MLS ciphersuite: ${suite}`);
  return info;
}

function suiteIdOfName(name: CiphersuiteName): number | undefined {
  const id: number = ciphersuites[name];
  return SUITE_INFO.has(id) ? id : undefined;
}

function describeSuite(id: number): string {
  const p = suiteById(id);
  return p === undefined ? `0x${id.toString(16).padStart(4, "0")}` : `${p.name} (${id})`;
}

// node:crypto is synchronous and about 5x faster than ts-mls's WebCrypto-based default (see
// mls-crypto-node.ts); suites it does not cover fall back to the default provider.
const nodeProvider = createNodeCryptoProvider(defaultCryptoProvider);
let cryptoProvider: CryptoProvider = nodeProvider;
// getCiphersuiteImpl builds closures and may import modules: once per suite is enough.
const implCache = new Map<number, Promise<CiphersuiteImpl>>();

export type MlsCryptoProviderName = "node" | "default" | "noble";

/**
 * Selects the MLS crypto provider for every later operation: "node" (node:crypto, the default),
 * "default" (ts-mls's WebCrypto provider) or "noble" (the portable reference), or a ts-mls CryptoProvider.
 * Sessions made under one provider keep working under another: they interoperate on the wire and in state.
 */
export function setCryptoProvider(provider: MlsCryptoProviderName | CryptoProvider = "node"): void {
  cryptoProvider =
    provider === "node"
      ? nodeProvider
      : provider === "default"
        ? defaultCryptoProvider
        : provider === "noble"
          ? nobleCryptoProvider
          : provider;
  implCache.clear();
}

function getImpl(suite: number): Promise<CiphersuiteImpl> {
  let p = implCache.get(suite);
  if (p === undefined) {
    const info = suiteInfo(suite);
    p = (async () => getCiphersuiteImpl(getCiphersuiteFromName(info.name), cryptoProvider))().catch((e: unknown) => {
      // A failed load (e.g. a missing optional peer package) must not be cached forever.
      implCache.delete(suite);
      throw protocolError("ERR_MLSTLS_INTERNAL", `MLS ciphersuite ${describeSuite(suite)} is unavailable: ${errorText(e)}`, e);
    });
    implCache.set(suite, p);
  }
  return p;
}

/**
 * One epoch of old receiver data is what ts-mls keeps at minimum; we drop even that after every transition
 * (see ownSecrets), because MLS here never carries application messages that could arrive late.
 */
const baseConfig: ClientConfig = Object.freeze({
  keyRetentionConfig: { ...defaultKeyRetentionConfig, retainKeysForEpochs: 1 },
  lifetimeConfig: defaultLifetimeConfig,
  keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
  paddingConfig: defaultPaddingConfig,
  authService: defaultAuthenticationService,
});

function configWith(authService: AuthenticationService): ClientConfig {
  return { ...baseConfig, authService };
}

/** Both roles list the private extension types, so GroupContext/KeyPackage use of them is legal (RFC 9420 §13). */
function capabilities(): Capabilities {
  return {
    versions: ["mls10"],
    ciphersuites: [...SUITE_INFO.values()].map((s) => s.name),
    extensions: [MLSTLS_EXTENSION_TYPES.serverName, MLSTLS_EXTENSION_TYPES.alpnOffer, MLSTLS_EXTENSION_TYPES.alpnSelected],
    proposals: [],
    credentials: ["basic", "x509"],
  };
}

/** KeyPackages are single-use and short-lived; the window tolerates a day of clock skew between the peers. */
const LIFETIME_SKEW_SECONDS = 24n * 3600n;
function keyPackageLifetime(): { notBefore: bigint; notAfter: bigint } {
  const now = BigInt(Math.floor(Date.now() / 1000));
  return { notBefore: now - LIFETIME_SKEW_SECONDS, notAfter: now + LIFETIME_SKEW_SECONDS };
}

// ---------------------------------------------------------------------------------------------------------------
// Small byte helpers

function copyBytes(b: Uint8Array): Uint8Array {
  return new Uint8Array(b);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ---------------------------------------------------------------------------------------------------------------
// Credentials and keys

function toMlsCredential(c: CredentialInfo): Credential {
  if (c.type === "basic") return { credentialType: "basic", identity: copyBytes(c.identity) };
  if (c.type === "x509") return { credentialType: "x509", certificates: c.certificates.map(copyBytes) };
  throw new TypeError(`unsupported credential type: ${String((c as { type: unknown }).type)}`);
}

function fromMlsCredential(c: Credential): CredentialInfo | undefined {
  if (c.credentialType === "basic") return { type: "basic", identity: copyBytes(c.identity) };
  if (c.credentialType === "x509") return { type: "x509", certificates: c.certificates.map(copyBytes) };
  return undefined;
}

function credentialsEqual(a: CredentialInfo, b: CredentialInfo): boolean {
  if (a.type === "basic" && b.type === "basic") return bytesEqual(a.identity, b.identity);
  if (a.type === "x509" && b.type === "x509") {
    return a.certificates.length === b.certificates.length && a.certificates.every((c, i) => bytesEqual(c, b.certificates[i]!));
  }
  return false;
}

function credentialKey(c: CredentialInfo, signaturePublicKey: Uint8Array): string {
  const body = c.type === "basic" ? hex(c.identity) : c.certificates.map(hex).join(".");
  return `${c.type}:${body}:${hex(signaturePublicKey)}`;
}

function isCanonicalPublicKey(scheme: SignatureScheme, key: Uint8Array): boolean {
  switch (scheme) {
    case "Ed25519":
      return key.length === 32;
    case "P256":
      return key.length === 65 && key[0] === 0x04;
    case "P384":
      return key.length === 97 && key[0] === 0x04;
  }
}

// PKCS#8 wrapping of an Ed25519 seed (RFC 8410): the default ts-mls provider stores this form.
const ED25519_PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);

function derivePublicKey(scheme: SignatureScheme, privateKey: Uint8Array, compressed = false): Uint8Array {
  switch (scheme) {
    case "Ed25519":
      return ed25519.getPublicKey(privateKey);
    case "P256":
      return p256.getPublicKey(privateKey, compressed);
    case "P384":
      return p384.getPublicKey(privateKey, compressed);
  }
}

/** A fresh key pair from node:crypto: about 5x cheaper than noble's, and every anonymous client pays it. */
function freshKeyPair(scheme: SignatureScheme): { publicKey: Uint8Array; privateKey: Uint8Array } {
  const jwkBytes = (v: string | undefined): Uint8Array => new Uint8Array(Buffer.from(v ?? "", "base64url"));
  if (scheme === "Ed25519") {
    const jwk = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
    return { publicKey: jwkBytes(jwk.x), privateKey: jwkBytes(jwk.d) };
  }
  const size = scheme === "P256" ? 32 : 48;
  const jwk = generateKeyPairSync("ec", { namedCurve: scheme === "P256" ? "P-256" : "P-384" }).privateKey.export({ format: "jwk" });
  // JWK coordinates and scalars are fixed-width big-endian (RFC 7518 §6.2.1), so no padding is needed.
  const publicKey = new Uint8Array(1 + 2 * size);
  publicKey[0] = 0x04;
  publicKey.set(jwkBytes(jwk.x), 1);
  publicKey.set(jwkBytes(jwk.y), 1 + size);
  return { publicKey, privateKey: jwkBytes(jwk.d) };
}

/** Generates a fresh signature key pair for `suite` and wraps it with a credential. */
export async function generateIdentity(suite: number, credential?: CredentialInfo): Promise<LocalIdentity> {
  const { scheme } = suiteInfo(suite);
  const { publicKey, privateKey } = freshKeyPair(scheme);
  const cred = credential ?? { type: "basic", identity: new Uint8Array(randomBytes(16)) };
  return {
    suite,
    credential: fromMlsCredential(toMlsCredential(cred))!,
    signaturePublicKey: publicKey,
    signaturePrivateKey: privateKey,
  };
}

/**
 * Wraps an existing key pair (e.g. the key of an X.509 certificate). Expected encodings:
 * - suites 1 and 3 (Ed25519): private key = 32-byte seed (RFC 8032), or its 48-byte PKCS#8 DER form;
 *   public key = 32 bytes.
 * - suite 2 (ECDSA P-256): private key = 32-byte big-endian scalar; public key = SEC1 point, uncompressed
 *   (65 bytes) or compressed (33 bytes).
 * - suite 7 (ECDSA P-384): private key = 48-byte big-endian scalar; public key = SEC1 point, 97 or 49 bytes.
 * The public key must belong to the private key. The result holds canonical forms (seed; uncompressed point).
 */
export function identityFromKeys(
  suite: number,
  credential: CredentialInfo,
  signaturePublicKey: Uint8Array,
  signaturePrivateKey: Uint8Array,
): LocalIdentity {
  const { scheme } = suiteInfo(suite);
  let priv = signaturePrivateKey;
  if (scheme === "Ed25519" && priv.length === 48 && bytesEqual(priv.subarray(0, 16), ED25519_PKCS8_PREFIX)) {
    priv = priv.subarray(16);
  }
  const expectedLen = scheme === "P384" ? 48 : 32;
  if (priv.length !== expectedLen) {
    throw new TypeError(`${scheme} private key must be ${expectedLen} bytes, got ${signaturePrivateKey.length}`);
  }
  if (scheme !== "Ed25519" && !(scheme === "P256" ? p256 : p384).utils.isValidSecretKey(priv)) {
    throw new TypeError(`invalid ${scheme} private key`);
  }
  const canonical = derivePublicKey(scheme, priv);
  const matches =
    bytesEqual(canonical, signaturePublicKey) ||
    (scheme !== "Ed25519" && bytesEqual(derivePublicKey(scheme, priv, true), signaturePublicKey));
  if (!matches) throw new TypeError("signature public key does not match the private key");
  return {
    suite,
    credential: fromMlsCredential(toMlsCredential(credential))!,
    signaturePublicKey: canonical,
    signaturePrivateKey: copyBytes(priv),
  };
}

function checkIdentityUsable(identity: LocalIdentity, suite: number): void {
  const own = suiteInfo(identity.suite).scheme;
  const wanted = suiteInfo(suite).scheme;
  if (own !== wanted) {
    throw new MlsTlsError(
      "ERR_MLSTLS_CIPHERSUITE_MISMATCH",
      `local credential is for ${describeSuite(identity.suite)} (${own}), which cannot sign for ${describeSuite(suite)} (${wanted})`,
    );
  }
}

/**
 * Runs the application's validator for one MLS operation. ts-mls calls `service` at the points where
 * credentials enter (add, join, UpdatePath); we also call `check` explicitly so that nothing depends on
 * ts-mls remembering to. Results are memoized per credential so an X.509 chain is checked once.
 */
class CredentialCheck {
  #refusal: MlsTlsError | undefined;
  readonly #memo = new Map<string, Promise<boolean>>();

  constructor(
    private readonly scheme: SignatureScheme,
    private readonly validate: CredentialValidator | undefined,
    /** Our own leaf: never handed to the validator. */
    private readonly own: PeerCredential | undefined,
    /** Already accepted by the same validator earlier (inspectKeyPackage → acceptKeyPackage). */
    approved?: PeerCredential,
  ) {
    if (approved !== undefined) this.#memo.set(credentialKey(approved.credential, approved.signaturePublicKey), Promise.resolve(true));
  }

  get refused(): boolean {
    return this.#refusal !== undefined;
  }

  /** The error for the first refusal. */
  refusal(): MlsTlsError {
    return this.#refusal ?? protocolError("ERR_MLSTLS_BAD_CREDENTIAL", "peer credential refused");
  }

  readonly service: AuthenticationService = {
    validateCredential: (credential, signaturePublicKey) => this.checkMls(credential, signaturePublicKey),
  };

  checkMls(credential: Credential, signaturePublicKey: Uint8Array): Promise<boolean> {
    const info = fromMlsCredential(credential);
    if (info === undefined) return Promise.resolve(this.#refuse(`unsupported credential type ${String(credential.credentialType)}`));
    return this.check({ credential: info, signaturePublicKey: copyBytes(signaturePublicKey) });
  }

  check(peer: PeerCredential): Promise<boolean> {
    if (
      this.own !== undefined &&
      bytesEqual(peer.signaturePublicKey, this.own.signaturePublicKey) &&
      credentialsEqual(peer.credential, this.own.credential)
    ) {
      return Promise.resolve(true);
    }
    const key = credentialKey(peer.credential, peer.signaturePublicKey);
    let result = this.#memo.get(key);
    if (result === undefined) {
      result = this.#run(peer);
      this.#memo.set(key, result);
    }
    return result;
  }

  async #run(peer: PeerCredential): Promise<boolean> {
    if (!isCanonicalPublicKey(this.scheme, peer.signaturePublicKey)) {
      return this.#refuse(`peer signature key is not a canonical ${this.scheme} public key`);
    }
    if (peer.credential.type === "x509" && peer.credential.certificates.length === 0) {
      return this.#refuse("peer presented an empty X.509 chain");
    }
    if (this.validate === undefined) return true;
    let ok: boolean;
    try {
      ok = (await this.validate(peer)) === true;
    } catch (e) {
      this.#refusal ??= e instanceof MlsTlsError ? e : protocolError("ERR_MLSTLS_BAD_CREDENTIAL", `peer credential refused: ${errorText(e)}`, e);
      return false;
    }
    return ok ? true : this.#refuse("peer credential refused by the validator");
  }

  #refuse(reason: string): false {
    this.#refusal ??= protocolError("ERR_MLSTLS_BAD_CREDENTIAL", reason);
    return false;
  }

  /** Explicit check that throws the refusal. */
  async require(peer: PeerCredential): Promise<void> {
    if (!(await this.check(peer))) throw this.refusal();
  }
}

/** Turns anything thrown inside ts-mls into our error; a validator's refusal wins over ts-mls's wording. */
function translate(e: unknown, code: LocalErrorCode, what: string, auth?: CredentialCheck): MlsTlsError {
  if (e instanceof MlsTlsError) return e;
  if (auth?.refused) return auth.refusal();
  return protocolError(code, `${what}: ${errorText(e)}`, e);
}

// ---------------------------------------------------------------------------------------------------------------
// TLS-format extension bodies (RFC 6066 ServerNameList, RFC 7301 ProtocolNameList)

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });
const latin1 = new TextDecoder("latin1");

function isHostName(s: string): boolean {
  // RFC 6066: ASCII, no trailing dot; we also refuse controls and spaces.
  return s.length >= 1 && s.length <= 255 && /^[\x21-\x7e]+$/.test(s) && !s.endsWith(".");
}

function encodeServerName(name: string): Uint8Array {
  if (!isHostName(name)) throw new TypeError(`invalid server name: ${JSON.stringify(name)}`);
  const host = utf8.encode(name);
  const out = new Uint8Array(5 + host.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, 3 + host.length);
  out[2] = 0; // host_name
  v.setUint16(3, host.length);
  out.set(host, 5);
  return out;
}

function decodeServerName(data: Uint8Array): string {
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length < 5 || v.getUint16(0) !== data.length - 2 || data[2] !== 0 || v.getUint16(3) !== data.length - 5) {
    throw protocolError("ERR_MLSTLS_DECODE_ERROR", "server_name extension must hold exactly one host_name");
  }
  const name = data.length - 5 > 255 ? "" : latin1.decode(data.subarray(5));
  if (!isHostName(name)) throw protocolError("ERR_MLSTLS_ILLEGAL_PARAMETER", "server_name extension holds an invalid host name");
  return name;
}

function encodeProtocolList(names: readonly string[]): Uint8Array {
  if (names.length === 0) throw new TypeError("ALPN protocol list must not be empty");
  const encoded = names.map((n) => {
    const b = utf8.encode(n);
    if (typeof n !== "string" || b.length < 1 || b.length > 255) throw new TypeError(`invalid ALPN protocol name: ${JSON.stringify(n)}`);
    return b;
  });
  const total = encoded.reduce((s, b) => s + 1 + b.length, 0);
  if (total > 0xffff) throw new TypeError("ALPN protocol list too long");
  const out = new Uint8Array(2 + total);
  new DataView(out.buffer).setUint16(0, total);
  let o = 2;
  for (const b of encoded) {
    out[o++] = b.length;
    out.set(b, o);
    o += b.length;
  }
  return out;
}

function decodeProtocolList(data: Uint8Array): string[] {
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length < 2 || v.getUint16(0) !== data.length - 2) {
    throw protocolError("ERR_MLSTLS_DECODE_ERROR", "malformed ALPN protocol list");
  }
  const names: string[] = [];
  let o = 2;
  while (o < data.length) {
    const len = data[o++]!;
    if (len === 0 || o + len > data.length) throw protocolError("ERR_MLSTLS_DECODE_ERROR", "malformed ALPN protocol list");
    try {
      names.push(utf8Strict.decode(data.subarray(o, o + len)));
    } catch (e) {
      throw protocolError("ERR_MLSTLS_ILLEGAL_PARAMETER", "ALPN protocol name is not UTF-8", e);
    }
    o += len;
  }
  if (names.length === 0) throw protocolError("ERR_MLSTLS_ILLEGAL_PARAMETER", "empty ALPN protocol list");
  return names;
}

function extensionNumber(e: Extension): number | undefined {
  return typeof e.extensionType === "number" ? e.extensionType : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// MLSMessage decoding

function decodeMessage(bytes: Uint8Array, what: string): MLSMessage {
  let decoded: [MLSMessage, number] | undefined;
  try {
    decoded = decodeMlsMessage(bytes, 0);
  } catch (e) {
    throw protocolError("ERR_MLSTLS_DECODE_ERROR", `${what} is not a decodable MLSMessage: ${errorText(e)}`, e);
  }
  if (decoded === undefined) throw protocolError("ERR_MLSTLS_DECODE_ERROR", `${what} is not a decodable MLSMessage`);
  if (decoded[1] !== bytes.length) {
    throw protocolError("ERR_MLSTLS_DECODE_ERROR", `${what} has ${bytes.length - decoded[1]} trailing bytes`);
  }
  if (decoded[0].version !== "mls10") throw protocolError("ERR_MLSTLS_DECODE_ERROR", `${what} is not an MLS 1.0 message`);
  return decoded[0];
}

// MLSMessage header: version u16, wire_format u16; a KeyPackage then starts with version u16, cipher_suite u16.
const WIRE_FORMAT_KEY_PACKAGE = 5;
/** The MLS suite of an encoded KeyPackage MLSMessage, read from its header without decoding it. */
export function peekKeyPackageSuite(bytes: Uint8Array): number | undefined {
  if (bytes.length < 8) return undefined;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint16(0) !== 1 || v.getUint16(2) !== WIRE_FORMAT_KEY_PACKAGE) return undefined;
  return v.getUint16(6);
}

// ---------------------------------------------------------------------------------------------------------------
// State ownership. Each ClientState we keep owns its secret buffers exclusively, so that dispose() of one
// session can zero everything it holds without damaging another (e.g. the old state while a commit is pending).

function secretsOf(state: ClientState): Uint8Array[] {
  const out: Uint8Array[] = [state.signaturePrivateKey, ...Object.values(state.privatePath.privateKeys)];
  const ks = state.keySchedule;
  out.push(ks.senderDataSecret, ks.exporterSecret, ks.externalSecret, ks.confirmationKey, ks.membershipKey, ks.resumptionPsk, ks.epochAuthenticator, ks.initSecret);
  const tree = (t: ClientState["secretTree"]) => {
    for (const node of t) {
      if (node === undefined) continue;
      for (const r of [node.handshake, node.application]) out.push(r.secret, ...Object.values(r.unusedGenerations));
    }
  };
  tree(state.secretTree);
  for (const d of state.historicalReceiverData.values()) {
    tree(d.secretTree);
    out.push(d.senderDataSecret, d.resumptionPsk);
  }
  return out;
}

/**
 * Copies the buffers ts-mls shares between a state and its successor (signature key, surviving path keys),
 * drops old-epoch receiver data (only useful for late application messages, which MLS never carries here,
 * and it would keep old-epoch secrets in persisted sessions), and attaches the base config.
 */
function ownSecrets(state: ClientState): ClientState {
  const privateKeys: Record<number, Uint8Array> = {};
  for (const [k, v] of Object.entries(state.privatePath.privateKeys)) privateKeys[Number(k)] = copyBytes(v);
  return {
    ...state,
    signaturePrivateKey: copyBytes(state.signaturePrivateKey),
    privatePath: { leafIndex: state.privatePath.leafIndex, privateKeys },
    historicalReceiverData: new Map(),
    clientConfig: baseConfig,
  };
}

/** Zeroes what ts-mls reports as consumed, except buffers that live states still own. */
function zeroUnowned(consumed: readonly Uint8Array[], live: readonly ClientState[]): void {
  const owned = new Set(live.flatMap(secretsOf));
  for (const b of consumed) if (!owned.has(b)) b.fill(0);
}

function zeroState(state: ClientState): void {
  for (const b of secretsOf(state)) b.fill(0);
}

interface TwoParty {
  own: number;
  peer: number;
  ownLeaf: LeafNode;
  peerLeaf: LeafNode;
}

/** The group must hold exactly our leaf and one other. */
function twoParty(state: ClientState): TwoParty | undefined {
  const leaves: [number, LeafNode][] = [];
  state.ratchetTree.forEach((n, i) => {
    if (n?.nodeType === "leaf") leaves.push([i / 2, n.leaf]);
  });
  if (leaves.length !== 2) return undefined;
  const own = state.privatePath.leafIndex;
  const mine = leaves.find(([i]) => i === own);
  const other = leaves.find(([i]) => i !== own);
  if (mine === undefined || other === undefined) return undefined;
  return { own, peer: other[0], ownLeaf: mine[1], peerLeaf: other[1] };
}

function requireTwoParty(state: ClientState, code: LocalErrorCode, what: string): TwoParty {
  const tp = twoParty(state);
  if (tp === undefined) throw protocolError(code, `${what}: the group must have exactly two members`);
  return tp;
}

function leafCredential(leaf: LeafNode): PeerCredential | undefined {
  const credential = fromMlsCredential(leaf.credential);
  return credential === undefined ? undefined : { credential, signaturePublicKey: copyBytes(leaf.signaturePublicKey) };
}

function alpnFromContext(state: ClientState): string | null {
  const ext = state.groupContext.extensions.find((e) => extensionNumber(e) === MLSTLS_EXTENSION_TYPES.alpnSelected);
  if (ext === undefined) return null;
  const names = decodeProtocolList(ext.extensionData);
  if (names.length !== 1) throw protocolError("ERR_MLSTLS_ILLEGAL_PARAMETER", "selected ALPN must name exactly one protocol");
  return names[0]!;
}

// ---------------------------------------------------------------------------------------------------------------
// Initiator: KeyPackage

/** The initiator's private half of its ClientHello. Single use: a successful join disposes it. */
export interface PendingJoin {
  readonly suite: number;
  readonly serverName: string | undefined;
  readonly alpnProtocols: readonly string[];
  /** Zeroes the private keys; the KeyPackage can no longer be joined with. */
  dispose(): void;
}

class PendingJoinImpl implements PendingJoin {
  readonly serverName: string | undefined;
  readonly alpnProtocols: readonly string[];
  #private: PrivateKeyPackage | undefined;

  constructor(
    readonly suite: number,
    readonly keyPackage: KeyPackage,
    priv: PrivateKeyPackage,
    readonly own: PeerCredential,
    ext: HelloExtensions,
  ) {
    this.#private = priv;
    this.serverName = ext.serverName;
    this.alpnProtocols = Object.freeze([...(ext.alpnProtocols ?? [])]);
  }

  get privatePackage(): PrivateKeyPackage {
    if (this.#private === undefined) throw new MlsTlsError("ERR_TLS_INVALID_STATE", "this KeyPackage was already used or disposed");
    return this.#private;
  }

  dispose(): void {
    if (this.#private === undefined) return;
    this.#private.initPrivateKey.fill(0);
    this.#private.hpkePrivateKey.fill(0);
    this.#private.signaturePrivateKey.fill(0);
    this.#private = undefined;
  }
}

/**
 * Initiator: makes the KeyPackage for the identity's suite, with SNI and ALPN offers as signed private-use
 * KeyPackage extensions. Returns the encoded MLSMessage(mls_key_package) for the ClientHello.
 */
export async function createKeyPackage(identity: LocalIdentity, ext: HelloExtensions = {}): Promise<{ message: Uint8Array; pending: PendingJoin }> {
  const info = suiteInfo(identity.suite);
  const extensions: Extension[] = [];
  if (ext.serverName !== undefined) extensions.push({ extensionType: MLSTLS_EXTENSION_TYPES.serverName, extensionData: encodeServerName(ext.serverName) });
  if (ext.alpnProtocols !== undefined && ext.alpnProtocols.length > 0) {
    extensions.push({ extensionType: MLSTLS_EXTENSION_TYPES.alpnOffer, extensionData: encodeProtocolList(ext.alpnProtocols) });
  }
  const impl = await getImpl(info.id);
  try {
    const kp = await generateKeyPackageWithKey(
      toMlsCredential(identity.credential),
      capabilities(),
      keyPackageLifetime(),
      extensions,
      // The private package gets its own copy, which the session will own and dispose() may zero.
      { signKey: copyBytes(identity.signaturePrivateKey), publicKey: copyBytes(identity.signaturePublicKey) },
      impl,
    );
    const message = encodeMlsMessage({ version: "mls10", wireformat: "mls_key_package", keyPackage: kp.publicPackage });
    const own = { credential: fromMlsCredential(toMlsCredential(identity.credential))!, signaturePublicKey: copyBytes(identity.signaturePublicKey) };
    return { message, pending: new PendingJoinImpl(info.id, kp.publicPackage, kp.privatePackage, own, ext) };
  } catch (e) {
    throw translate(e, "ERR_MLSTLS_INTERNAL", "could not create KeyPackage");
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Responder: inspect and accept

/** A decoded, signature-checked and validated KeyPackage from a ClientHello. Accepting it is single-use. */
export interface OfferedKeyPackage {
  readonly suite: number;
  readonly peer: PeerCredential;
  readonly serverName: string | undefined;
  readonly alpnProtocols: readonly string[];
}

class OfferedKeyPackageImpl implements OfferedKeyPackage {
  readonly alpnProtocols: readonly string[];
  readonly #keyPackage: KeyPackage;
  readonly #approvedBy: CredentialValidator | undefined;
  #used = false;

  constructor(
    readonly suite: number,
    keyPackage: KeyPackage,
    readonly peer: PeerCredential,
    readonly serverName: string | undefined,
    alpn: string[],
    approvedBy: CredentialValidator | undefined,
  ) {
    this.#keyPackage = keyPackage;
    this.alpnProtocols = Object.freeze(alpn);
    this.#approvedBy = approvedBy;
  }

  take(): { keyPackage: KeyPackage; approvedBy: CredentialValidator | undefined } {
    if (this.#used) throw new MlsTlsError("ERR_TLS_INVALID_STATE", "this KeyPackage was already accepted");
    this.#used = true;
    return { keyPackage: this.#keyPackage, approvedBy: this.#approvedBy };
  }
}

/**
 * The server_name a KeyPackage asks for, read without checking its signature: only to choose which identity (and
 * so which suites) a server can offer before it verifies the KeyPackage it picks, which must then say the same.
 * Undefined when there is none or the KeyPackage does not decode.
 */
export function peekServerName(message: Uint8Array): string | undefined {
  try {
    const msg = decodeMessage(message, "ClientHello key_package");
    if (msg.wireformat !== "mls_key_package") return undefined;
    const e = msg.keyPackage.extensions.find((x) => extensionNumber(x) === MLSTLS_EXTENSION_TYPES.serverName);
    return e === undefined ? undefined : decodeServerName(e.extensionData);
  } catch {
    return undefined;
  }
}

/**
 * Responder step 1: decodes and checks the initiator's KeyPackage without committing to anything:
 * suite, signatures, lifetime, init key, capabilities, SNI/ALPN extensions, and the validator.
 */
export async function inspectKeyPackage(
  message: Uint8Array,
  supportedSuites: readonly number[],
  validate?: CredentialValidator,
): Promise<OfferedKeyPackage> {
  // Decide on the suite from the raw header, so that even a suite ts-mls cannot decode gets a clear answer.
  const rawSuite = peekKeyPackageSuite(message);
  const usable = supportedSuites.filter((s) => SUITE_INFO.has(s));
  if (rawSuite !== undefined && !usable.includes(rawSuite)) {
    throw protocolError(
      "ERR_MLSTLS_CIPHERSUITE_MISMATCH",
      `client offered MLS ciphersuite ${describeSuite(rawSuite)}; server supports ${usable.map(describeSuite).join(", ") || "none"}`,
    );
  }
  const msg = decodeMessage(message, "ClientHello key_package");
  if (msg.wireformat !== "mls_key_package") throw protocolError("ERR_MLSTLS_DECODE_ERROR", `ClientHello carries ${msg.wireformat}, not a key package`);
  const kp = msg.keyPackage;
  const suite = suiteIdOfName(kp.cipherSuite);
  if (suite === undefined || !usable.includes(suite)) {
    throw protocolError("ERR_MLSTLS_CIPHERSUITE_MISMATCH", `client offered MLS ciphersuite ${kp.cipherSuite}; server supports ${usable.map(describeSuite).join(", ")}`);
  }
  const info = suiteInfo(suite);
  const leaf = kp.leafNode;
  const peer = leafCredential(leaf);
  if (peer === undefined) throw protocolError("ERR_MLSTLS_BAD_CREDENTIAL", "KeyPackage has an unsupported credential type");
  if (!isCanonicalPublicKey(info.scheme, leaf.signaturePublicKey)) {
    throw protocolError("ERR_MLSTLS_BAD_CREDENTIAL", `KeyPackage signature key is not a canonical ${info.scheme} public key`);
  }

  const impl = await getImpl(suite);
  let signaturesOk: boolean;
  try {
    signaturesOk = (await verifyKeyPackage(kp, impl.signature)) && (await verifyLeafNodeSignatureKeyPackage(leaf, impl.signature));
  } catch (e) {
    throw protocolError("ERR_MLSTLS_BAD_CREDENTIAL", `KeyPackage signature could not be verified: ${errorText(e)}`, e);
  }
  if (!signaturesOk) throw protocolError("ERR_MLSTLS_BAD_CREDENTIAL", "KeyPackage signature is invalid");

  if (bytesEqual(kp.initKey, leaf.hpkePublicKey)) throw protocolError("ERR_MLSTLS_ILLEGAL_PARAMETER", "KeyPackage init key equals its encryption key");
  const now = BigInt(Math.floor(Date.now() / 1000));
  if (leaf.lifetime.notBefore > now || leaf.lifetime.notAfter < now) {
    throw protocolError("ERR_MLSTLS_ILLEGAL_PARAMETER", "KeyPackage lifetime does not cover the current time");
  }
  const caps = leaf.capabilities;
  if (!caps.versions.includes("mls10") || !caps.credentials.includes(leaf.credential.credentialType)) {
    throw protocolError("ERR_MLSTLS_ILLEGAL_PARAMETER", "KeyPackage capabilities do not cover its own version and credential type");
  }

  let serverName: string | undefined;
  let alpn: string[] = [];
  const seen = new Set<number | string>();
  for (const e of kp.extensions) {
    if (seen.has(e.extensionType)) throw protocolError("ERR_MLSTLS_DECODE_ERROR", `duplicate KeyPackage extension ${String(e.extensionType)}`);
    seen.add(e.extensionType);
    const t = extensionNumber(e);
    if (t === MLSTLS_EXTENSION_TYPES.serverName) serverName = decodeServerName(e.extensionData);
    else if (t === MLSTLS_EXTENSION_TYPES.alpnOffer) alpn = decodeProtocolList(e.extensionData);
    // Other extensions are not ours to interpret; the signature already covers them.
  }

  await new CredentialCheck(info.scheme, validate, undefined).require(peer);
  return new OfferedKeyPackageImpl(suite, kp, peer, serverName, alpn, validate);
}

/**
 * Responder step 2: creates the two-member group, adds the initiator and returns the Welcome (with the
 * ratchet tree) for the ServerHello. The selected ALPN protocol, if any, becomes a GroupContext extension.
 * `validate` is applied to the initiator's credential unless the same validator already accepted it in
 * inspectKeyPackage.
 */
export async function acceptKeyPackage(
  offer: OfferedKeyPackage,
  identity: LocalIdentity,
  opts: { alpnProtocol?: string | null; validate?: CredentialValidator } = {},
): Promise<{ session: MlsSession; welcome: Uint8Array }> {
  const info = suiteInfo(offer.suite);
  checkIdentityUsable(identity, offer.suite);
  const alpn = opts.alpnProtocol ?? null;
  if (alpn !== null && !offer.alpnProtocols.includes(alpn)) {
    throw new TypeError(`ALPN protocol ${JSON.stringify(alpn)} was not offered by the client`);
  }
  if (!(offer instanceof OfferedKeyPackageImpl)) throw new TypeError("offer must come from inspectKeyPackage");
  const { keyPackage, approvedBy } = offer.take();
  const peerCaps = keyPackage.leafNode.capabilities;
  if (!peerCaps.credentials.includes(identity.credential.type)) {
    throw protocolError("ERR_MLSTLS_HANDSHAKE_FAILURE", `client does not support ${identity.credential.type} credentials`);
  }
  if (alpn !== null && !peerCaps.extensions.includes(MLSTLS_EXTENSION_TYPES.alpnSelected)) {
    throw protocolError("ERR_MLSTLS_HANDSHAKE_FAILURE", "client cannot receive the selected ALPN protocol");
  }
  if (bytesEqual(keyPackage.leafNode.signaturePublicKey, identity.signaturePublicKey)) {
    throw protocolError("ERR_MLSTLS_BAD_CREDENTIAL", "client presented the server's own signature key");
  }
  const own: PeerCredential = { credential: identity.credential, signaturePublicKey: identity.signaturePublicKey };
  const auth = new CredentialCheck(info.scheme, opts.validate, own, approvedBy === opts.validate ? offer.peer : undefined);
  await auth.require(offer.peer);

  const impl = await getImpl(offer.suite);
  const groupExtensions: Extension[] =
    alpn === null ? [] : [{ extensionType: MLSTLS_EXTENSION_TYPES.alpnSelected, extensionData: encodeProtocolList([alpn]) }];
  let initial: ClientState | undefined;
  try {
    const ownKp = await generateKeyPackageWithKey(
      toMlsCredential(identity.credential),
      capabilities(),
      keyPackageLifetime(),
      [],
      { signKey: copyBytes(identity.signaturePrivateKey), publicKey: copyBytes(identity.signaturePublicKey) },
      impl,
    );
    ownKp.privatePackage.initPrivateKey.fill(0); // the creator's own init key is never used
    initial = await createGroup(new Uint8Array(randomBytes(32)), ownKp.publicPackage, ownKp.privatePackage, groupExtensions, impl, configWith(auth.service));
    const result = await createCommit(
      { state: initial, cipherSuite: impl },
      { extraProposals: [{ proposalType: "add", add: { keyPackage } }], ratchetTreeExtension: true },
    );
    if (result.welcome === undefined) throw protocolError("ERR_MLSTLS_INTERNAL", "ts-mls produced no Welcome for the add");
    const state = ownSecrets(result.newState);
    zeroUnowned(result.consumed, [state]);
    zeroState(initial);
    requireTwoParty(state, "ERR_MLSTLS_INTERNAL", "accept");
    const welcome = encodeMlsMessage({ version: "mls10", wireformat: "mls_welcome", welcome: result.welcome });
    return { session: MlsSession["wrap"](state, offer.suite), welcome };
  } catch (e) {
    if (initial !== undefined) zeroState(initial);
    throw translate(e, "ERR_MLSTLS_HANDSHAKE_FAILURE", "could not add the client", auth);
  }
}

/**
 * Initiator: joins the group from the ServerHello's Welcome. Checks the responder's credential with the
 * validator, that the group has exactly two members, that the GroupContext carries nothing but our ALPN
 * extension, and that a selected ALPN protocol was offered.
 */
export async function joinFromWelcome(pending: PendingJoin, welcome: Uint8Array, opts: { validate?: CredentialValidator } = {}): Promise<MlsSession> {
  if (!(pending instanceof PendingJoinImpl)) throw new TypeError("pending must come from createKeyPackage");
  const info = suiteInfo(pending.suite);
  const msg = decodeMessage(welcome, "ServerHello welcome");
  if (msg.wireformat !== "mls_welcome") throw protocolError("ERR_MLSTLS_DECODE_ERROR", `ServerHello carries ${msg.wireformat}, not a Welcome`);
  if (msg.welcome.cipherSuite !== info.name) {
    throw protocolError("ERR_MLSTLS_ILLEGAL_PARAMETER", `Welcome uses ${msg.welcome.cipherSuite}, but the KeyPackage offered ${info.name}`);
  }
  const priv = pending.privatePackage;
  const auth = new CredentialCheck(info.scheme, opts.validate, pending.own);
  const impl = await getImpl(pending.suite);
  let joined: ClientState;
  try {
    [joined] = await joinGroupWithExtensions(
      msg.welcome,
      pending.keyPackage,
      // ts-mls keeps these buffers in the state; the state gets its own copies below.
      priv,
      emptyPskIndex,
      impl,
      undefined,
      undefined,
      configWith(auth.service),
    );
  } catch (e) {
    throw translate(e, "ERR_MLSTLS_MLS_REJECTED", "Welcome rejected", auth);
  }
  const state = ownSecrets(joined);
  try {
    const tp = requireTwoParty(state, "ERR_MLSTLS_ILLEGAL_PARAMETER", "Welcome");
    const peer = leafCredential(tp.peerLeaf);
    if (peer === undefined) throw protocolError("ERR_MLSTLS_BAD_CREDENTIAL", "responder has an unsupported credential type");
    await auth.require(peer);
    for (const e of state.groupContext.extensions) {
      if (extensionNumber(e) !== MLSTLS_EXTENSION_TYPES.alpnSelected) {
        throw protocolError("ERR_MLSTLS_ILLEGAL_PARAMETER", `unexpected GroupContext extension ${String(e.extensionType)}`);
      }
    }
    const alpn = alpnFromContext(state);
    if (alpn !== null && !pending.alpnProtocols.includes(alpn)) {
      throw protocolError("ERR_MLSTLS_ILLEGAL_PARAMETER", `server selected ALPN protocol ${JSON.stringify(alpn)}, which was not offered`);
    }
  } catch (e) {
    zeroState(state);
    throw translate(e, "ERR_MLSTLS_ILLEGAL_PARAMETER", "Welcome rejected", auth);
  }
  pending.dispose(); // a KeyPackage is single-use; its init key must not outlive the join
  return MlsSession["wrap"](state, pending.suite);
}

// ---------------------------------------------------------------------------------------------------------------
// The session

const SESSION_MAGIC = 0x4d; // 'M'
const PENDING_MAGIC = 0x50; // 'P'
const FORMAT_VERSION = 1;
const FLAG_COMMIT_ISSUED = 1;

export interface ProcessUpdatePolicy {
  validate?: CredentialValidator;
  /** Accept a different credential in the peer's new leaf (the validator still has to accept it). */
  allowIdentityChange?: boolean;
}

/** A self-update commit that was created but not applied (responder state 2, decision 10). */
export interface PendingUpdate {
  /** The encoded MLSMessage (a PrivateMessage) to send. */
  readonly commit: Uint8Array;
  readonly newEpoch: bigint;
  /** The session after the commit. Once only. The session the update was made from stays valid. */
  apply(): MlsSession;
  /** Drops the commit and zeroes its new epoch's secrets. Idempotent; no-op after apply(). */
  discard(): void;
  /** The pending commit with its post-commit state, for MlsSession.decodePendingUpdate. Holds private keys. */
  encode(): Uint8Array;
  /** The post-commit session alone, as MlsSession.encode() would write it once applied. Holds private keys. */
  encodeAfter(): Uint8Array;
}

/**
 * One member of a two-member MLS group. Immutable: every transition returns a new MlsSession and leaves
 * this one valid, so that a commit can be pending while the old epoch is still in use. Call dispose() on a
 * session once its successor has been adopted (or it is abandoned) to zero its secrets.
 */
export class MlsSession {
  readonly suite: number;
  #state: ClientState;
  #commitIssued: boolean;
  #disposed = false;

  // Private, so that no ts-mls type appears in the declarations; module code reaches it as MlsSession["wrap"].
  private constructor(state: ClientState, suite: number, commitIssued: boolean) {
    this.#state = state;
    this.suite = suite;
    this.#commitIssued = commitIssued;
  }

  private static wrap(state: ClientState, suite: number, commitIssued = false): MlsSession {
    return new MlsSession(state, suite, commitIssued);
  }

  #live(): ClientState {
    if (this.#disposed) throw new MlsTlsError("ERR_TLS_INVALID_STATE", "MLS session was disposed");
    return this.#state;
  }

  #tp(): TwoParty {
    const tp = twoParty(this.#live());
    if (tp === undefined) throw protocolError("ERR_MLSTLS_INTERNAL", "session is not a two-member group");
    return tp;
  }

  get epoch(): bigint {
    return this.#live().groupContext.epoch;
  }
  get groupId(): Uint8Array {
    return copyBytes(this.#live().groupContext.groupId);
  }
  get ownLeafIndex(): number {
    return this.#tp().own;
  }
  get peerLeafIndex(): number {
    return this.#tp().peer;
  }
  get peerCredential(): PeerCredential {
    const c = leafCredential(this.#tp().peerLeaf);
    if (c === undefined) throw protocolError("ERR_MLSTLS_INTERNAL", "peer leaf has an unsupported credential");
    return c;
  }
  get ownCredential(): PeerCredential {
    const c = leafCredential(this.#tp().ownLeaf);
    if (c === undefined) throw protocolError("ERR_MLSTLS_INTERNAL", "own leaf has an unsupported credential");
    return c;
  }
  /** The ALPN protocol the responder selected, authenticated by the GroupContext; null if none. */
  get alpnProtocol(): string | null {
    return alpnFromContext(this.#live());
  }
  /** Whether a commit was already created from this epoch's state (a second one would reuse a ratchet key). */
  get commitIssued(): boolean {
    return this.#commitIssued;
  }

  /** MLS-Exporter (RFC 9420 §8.5) of this epoch. */
  async exportSecret(label: string, context: Uint8Array, length: number): Promise<Uint8Array> {
    const state = this.#live();
    const impl = await getImpl(this.suite);
    try {
      return await mlsExporter(state.keySchedule.exporterSecret, label, context, length, impl);
    } catch (e) {
      throw translate(e, "ERR_MLSTLS_INTERNAL", "MLS exporter failed");
    }
  }

  /**
   * Creates a self-update commit (UpdatePath, no proposals) as a PrivateMessage without applying it.
   * At most one per session: a second commit from the same state would reuse the epoch's handshake key
   * generation, so re-send the first one's bytes instead.
   */
  async createUpdate(): Promise<PendingUpdate> {
    const state = this.#live();
    if (this.#commitIssued) throw new MlsTlsError("ERR_TLS_INVALID_STATE", "a commit was already created from this MLS epoch");
    const impl = await getImpl(this.suite);
    this.#commitIssued = true;
    let result: Awaited<ReturnType<typeof createCommit>>;
    let bytes: Uint8Array;
    try {
      result = await createCommit({ state, cipherSuite: impl }, {});
      bytes = encodeMlsMessage(result.commit);
    } catch (e) {
      throw translate(e, "ERR_MLSTLS_INTERNAL", "could not create commit");
    }
    const next = ownSecrets(result.newState);
    // The old state's init secret and ratchet secret are in `consumed`; they stay until this session is disposed.
    zeroUnowned(result.consumed, [state, next]);
    return new PendingCommit(bytes, next, this.suite);
  }

  /**
   * Processes the peer's ConnectionUpdate/Resumption commit (decision 7): a PrivateMessage commit for this
   * group and epoch, from the peer's leaf, with an UpdatePath and no proposals; the group stays at two
   * members and the peer's credential stays the same unless `allowIdentityChange`.
   */
  async processUpdate(commit: Uint8Array, policy: ProcessUpdatePolicy = {}): Promise<MlsSession> {
    const state = this.#live();
    const tp = this.#tp();
    const info = suiteInfo(this.suite);
    const msg = decodeMessage(commit, "commit");
    if (msg.wireformat !== "mls_private_message") {
      throw protocolError("ERR_MLSTLS_COMMIT_POLICY", `a ConnectionUpdate must be an MLS PrivateMessage, got ${msg.wireformat}`);
    }
    const pm = msg.privateMessage;
    checkGroupAndEpoch(pm, state);
    if (pm.contentType !== "commit") throw protocolError("ERR_MLSTLS_COMMIT_POLICY", `a ConnectionUpdate must carry a commit, got ${pm.contentType}`);

    const impl = await getImpl(this.suite);
    const oldPeer = leafCredential(tp.peerLeaf);
    if (oldPeer === undefined) throw protocolError("ERR_MLSTLS_INTERNAL", "peer leaf has an unsupported credential");
    const auth = new CredentialCheck(info.scheme, policy.validate, leafCredential(tp.ownLeaf));

    // Decrypt and inspect first, so each policy violation gets its own error instead of whatever ts-mls says.
    let sender: number;
    try {
      const senderData = await decryptSenderData(pm, state.keySchedule.senderDataSecret, impl);
      if (senderData === undefined) throw protocolError("ERR_MLSTLS_MLS_REJECTED", "could not decode the commit's sender data");
      sender = senderData.leafIndex;
    } catch (e) {
      throw translate(e, "ERR_MLSTLS_MLS_REJECTED", "commit rejected");
    }
    if (sender !== tp.peer) {
      throw protocolError(
        "ERR_MLSTLS_COMMIT_POLICY",
        sender === tp.own ? "commit claims to come from our own leaf" : `commit comes from leaf ${sender}, not the peer's leaf ${tp.peer}`,
      );
    }
    let content: Awaited<ReturnType<typeof unprotectPrivateMessage>>;
    try {
      content = await unprotectPrivateMessage(state.keySchedule.senderDataSecret, pm, state.secretTree, state.ratchetTree, state.groupContext, state.clientConfig.keyRetentionConfig, impl);
    } catch (e) {
      throw translate(e, "ERR_MLSTLS_MLS_REJECTED", "commit rejected");
    }
    zeroUnowned(content.consumed, [state]);
    const framed = content.content.content;
    if (framed.contentType !== "commit" || framed.sender.senderType !== "member" || framed.sender.leafIndex !== tp.peer) {
      throw protocolError("ERR_MLSTLS_COMMIT_POLICY", "ConnectionUpdate is not a commit by the peer");
    }
    if (framed.commit.proposals.length > 0) {
      const kinds = framed.commit.proposals.map((p) => (p.proposalOrRefType === "reference" ? "reference" : String(p.proposal.proposalType)));
      throw protocolError("ERR_MLSTLS_COMMIT_POLICY", `a ConnectionUpdate must not carry proposals (got ${kinds.join(", ")})`);
    }
    const path = framed.commit.path;
    if (path === undefined) throw protocolError("ERR_MLSTLS_COMMIT_POLICY", "a ConnectionUpdate must carry an UpdatePath");
    const newPeer = leafCredential(path.leafNode);
    if (newPeer === undefined) throw protocolError("ERR_MLSTLS_BAD_CREDENTIAL", "peer's new leaf has an unsupported credential type");
    if (!policy.allowIdentityChange && !credentialsEqual(newPeer.credential, oldPeer.credential)) {
      throw protocolError("ERR_MLSTLS_IDENTITY_CHANGED", "peer's credential changed in a ConnectionUpdate");
    }
    await auth.require(newPeer);

    // The callback repeats the policy inside ts-mls, in case its view of the commit differs from ours.
    let policyRefused = false;
    const callback: IncomingMessageCallback = (incoming) => {
      const ok = incoming.kind === "commit" && incoming.senderLeafIndex === tp.peer && incoming.proposals.length === 0;
      if (!ok) policyRefused = true;
      return ok ? "accept" : "reject";
    };
    let processed: Awaited<ReturnType<typeof processMessage>>;
    try {
      processed = await processMessage(msg, { ...state, clientConfig: configWith(auth.service) }, emptyPskIndex, callback, impl);
    } catch (e) {
      throw translate(e, "ERR_MLSTLS_MLS_REJECTED", "commit rejected", auth);
    }
    if (policyRefused || processed.kind !== "newState" || processed.actionTaken !== "accept") {
      throw protocolError("ERR_MLSTLS_COMMIT_POLICY", "commit refused by the ConnectionUpdate policy");
    }
    const next = ownSecrets(processed.newState);
    zeroUnowned(processed.consumed, [state, next]);
    try {
      checkSuccessor(state, next, tp, newPeer, policy.allowIdentityChange === true);
    } catch (e) {
      zeroState(next);
      throw e;
    }
    return new MlsSession(next, this.suite, false);
  }

  /** Group id and epoch from a commit's PrivateMessage header; needs no state (resumption, session lookup). */
  static peekCommitEpoch(commit: Uint8Array): { groupId: Uint8Array; epoch: bigint } {
    const msg = decodeMessage(commit, "commit");
    if (msg.wireformat !== "mls_private_message") {
      throw protocolError("ERR_MLSTLS_COMMIT_POLICY", `a commit must be an MLS PrivateMessage, got ${msg.wireformat}`);
    }
    if (msg.privateMessage.contentType !== "commit") {
      throw protocolError("ERR_MLSTLS_COMMIT_POLICY", `expected a commit, got ${msg.privateMessage.contentType}`);
    }
    return { groupId: copyBytes(msg.privateMessage.groupId), epoch: msg.privateMessage.epoch };
  }

  /** Full session state including private keys. Store it like a private key. */
  encode(): Uint8Array {
    const body = encodeState(this.#live());
    const out = new Uint8Array(3 + body.length);
    out[0] = SESSION_MAGIC;
    out[1] = FORMAT_VERSION;
    out[2] = this.#commitIssued ? FLAG_COMMIT_ISSUED : 0;
    out.set(body, 3);
    return out;
  }

  static decode(bytes: Uint8Array): MlsSession {
    if (bytes.length < 3 || bytes[0] !== SESSION_MAGIC || bytes[1] !== FORMAT_VERSION || (bytes[2]! & ~FLAG_COMMIT_ISSUED) !== 0) {
      throw protocolError("ERR_MLSTLS_DECODE_ERROR", "not an encoded MLS session");
    }
    const { state, suite } = decodeState(bytes, 3, "MLS session");
    return new MlsSession(state, suite, bytes[2] === FLAG_COMMIT_ISSUED);
  }

  /**
   * Restores a PendingUpdate.encode() that was made from this session (same group, next epoch). Marks this
   * session as having issued its commit.
   */
  decodePendingUpdate(bytes: Uint8Array): PendingUpdate {
    const state = this.#live();
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 6 || bytes[0] !== PENDING_MAGIC || bytes[1] !== FORMAT_VERSION || 6 + v.getUint32(2) > bytes.length) {
      throw protocolError("ERR_MLSTLS_DECODE_ERROR", "not an encoded pending update");
    }
    const commitLen = v.getUint32(2);
    const commit = copyBytes(bytes.subarray(6, 6 + commitLen));
    const peek = MlsSession.peekCommitEpoch(commit);
    const decoded = decodeState(bytes, 6 + commitLen, "pending update");
    const fits =
      decoded.suite === this.suite &&
      bytesEqual(peek.groupId, state.groupContext.groupId) &&
      peek.epoch === state.groupContext.epoch &&
      bytesEqual(decoded.state.groupContext.groupId, state.groupContext.groupId) &&
      decoded.state.groupContext.epoch === state.groupContext.epoch + 1n;
    if (!fits) {
      zeroState(decoded.state);
      throw new MlsTlsError("ERR_TLS_INVALID_STATE", "pending update does not belong to this session's epoch");
    }
    this.#commitIssued = true;
    return new PendingCommit(commit, decoded.state, this.suite);
  }

  /** Zeroes this session's secrets (it owns them exclusively). Later use throws ERR_TLS_INVALID_STATE. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    zeroState(this.#state);
  }
}

class PendingCommit implements PendingUpdate {
  readonly commit: Uint8Array;
  readonly newEpoch: bigint;
  #state: ClientState | undefined;
  readonly #suite: number;

  constructor(commit: Uint8Array, state: ClientState, suite: number) {
    this.commit = commit;
    this.newEpoch = state.groupContext.epoch;
    this.#state = state;
    this.#suite = suite;
  }

  apply(): MlsSession {
    const state = this.#state;
    if (state === undefined) throw new MlsTlsError("ERR_TLS_INVALID_STATE", "pending update was already applied or discarded");
    this.#state = undefined;
    return MlsSession["wrap"](state, this.#suite);
  }

  discard(): void {
    if (this.#state === undefined) return;
    zeroState(this.#state);
    this.#state = undefined;
  }

  encode(): Uint8Array {
    if (this.#state === undefined) throw new MlsTlsError("ERR_TLS_INVALID_STATE", "pending update was already applied or discarded");
    const body = encodeState(this.#state);
    const out = new Uint8Array(6 + this.commit.length + body.length);
    out[0] = PENDING_MAGIC;
    out[1] = FORMAT_VERSION;
    new DataView(out.buffer).setUint32(2, this.commit.length);
    out.set(this.commit, 6);
    out.set(body, 6 + this.commit.length);
    return out;
  }

  encodeAfter(): Uint8Array {
    if (this.#state === undefined) throw new MlsTlsError("ERR_TLS_INVALID_STATE", "pending update was already applied or discarded");
    const body = encodeState(this.#state);
    const out = new Uint8Array(3 + body.length);
    out[0] = SESSION_MAGIC;
    out[1] = FORMAT_VERSION;
    out.set(body, 3);
    return out;
  }
}

function checkGroupAndEpoch(pm: PrivateMessage, state: ClientState): void {
  if (!bytesEqual(pm.groupId, state.groupContext.groupId)) {
    throw protocolError("ERR_MLSTLS_WRONG_EPOCH", "commit is for another MLS group");
  }
  if (pm.epoch !== state.groupContext.epoch) {
    throw protocolError("ERR_MLSTLS_WRONG_EPOCH", `commit is for epoch ${pm.epoch}, the session is at epoch ${state.groupContext.epoch}`);
  }
}

/** Re-checks the processed result against the policy, independent of what ts-mls validated. */
function checkSuccessor(old: ClientState, next: ClientState, tp: TwoParty, newPeer: PeerCredential, allowIdentityChange: boolean): void {
  const ntp = twoParty(next);
  if (ntp === undefined || ntp.own !== tp.own || ntp.peer !== tp.peer) {
    throw protocolError("ERR_MLSTLS_COMMIT_POLICY", "commit changed the group's membership");
  }
  if (next.groupContext.epoch !== old.groupContext.epoch + 1n || !bytesEqual(next.groupContext.groupId, old.groupContext.groupId)) {
    throw protocolError("ERR_MLSTLS_COMMIT_POLICY", "commit did not advance the epoch by one");
  }
  if (next.groupActiveState.kind !== "active" || Object.keys(next.unappliedProposals).length !== 0) {
    throw protocolError("ERR_MLSTLS_COMMIT_POLICY", "commit left the group inactive");
  }
  if (!extensionsSame(old.groupContext.extensions, next.groupContext.extensions)) {
    throw protocolError("ERR_MLSTLS_COMMIT_POLICY", "commit changed the GroupContext extensions");
  }
  const peer = leafCredential(ntp.peerLeaf);
  if (peer === undefined || !credentialsEqual(peer.credential, newPeer.credential) || !bytesEqual(peer.signaturePublicKey, newPeer.signaturePublicKey)) {
    throw protocolError("ERR_MLSTLS_COMMIT_POLICY", "peer leaf after the commit differs from the UpdatePath leaf");
  }
  if (!allowIdentityChange) {
    const before = leafCredential(tp.peerLeaf);
    if (before === undefined || !credentialsEqual(before.credential, peer.credential)) {
      throw protocolError("ERR_MLSTLS_IDENTITY_CHANGED", "peer's credential changed in a ConnectionUpdate");
    }
  }
  if (bytesEqual(ntp.peerLeaf.hpkePublicKey, tp.peerLeaf.hpkePublicKey)) {
    throw protocolError("ERR_MLSTLS_COMMIT_POLICY", "commit did not refresh the peer's leaf key");
  }
}

function extensionsSame(a: Extension[], b: Extension[]): boolean {
  return a.length === b.length && a.every((e, i) => e.extensionType === b[i]!.extensionType && bytesEqual(e.extensionData, b[i]!.extensionData));
}

function encodeState(state: ClientState): Uint8Array {
  try {
    return encodeGroupState(state);
  } catch (e) {
    throw translate(e, "ERR_MLSTLS_INTERNAL", "could not encode MLS state");
  }
}

function decodeState(bytes: Uint8Array, offset: number, what: string): { state: ClientState; suite: number } {
  let decoded: ReturnType<typeof decodeGroupState>;
  try {
    decoded = decodeGroupState(bytes, offset);
  } catch (e) {
    throw protocolError("ERR_MLSTLS_DECODE_ERROR", `${what} could not be decoded: ${errorText(e)}`, e);
  }
  // ts-mls decoders return the number of bytes consumed, not the end offset.
  if (decoded === undefined || offset + decoded[1] !== bytes.length) {
    throw protocolError("ERR_MLSTLS_DECODE_ERROR", `${what} could not be decoded`);
  }
  const state: ClientState = { ...decoded[0], clientConfig: baseConfig };
  const suite = suiteIdOfName(state.groupContext.cipherSuite);
  if (suite === undefined) throw protocolError("ERR_MLSTLS_DECODE_ERROR", `${what} uses an unsupported suite`);
  if (twoParty(state) === undefined || state.groupActiveState.kind !== "active") {
    throw protocolError("ERR_MLSTLS_DECODE_ERROR", `${what} is not an active two-member group`);
  }
  return { state, suite };
}
