// mlstls: node:tls's API with MLS as the handshake. `import * as mlstls from "mlstls"` in place of node:tls.

import { checkServerIdentity as nodeCheckServerIdentity, rootCertificates as nodeRootCertificates } from "node:tls";
import { DEFAULT_SUITES as DEFAULT_SUITE_IDS, SUITES } from "./suites.js";
import { ALL_ERROR_CODES } from "./errors.js";
import { SecureContext } from "./auth/secure-context.js";

export { connect, type ConnectOptions } from "./node/connect.js";
export { Server, createServer, type ServerConstructor, type ServerOptions, type SecureConnectionListener } from "./node/server.js";
export {
  MlsTlsSocket,
  MlsTlsSocket as TLSSocket,
  DEFAULT_AUTO_CONNECTION_UPDATE,
  DEFAULT_AUTO_KEY_UPDATE,
  DEFAULT_HANDSHAKE_TIMEOUT,
  type AlpnProtocols,
  type ClientSessionOptions,
  type ConnectionUpdateEvent,
  type KeyUpdateEvent,
  type MlsPeerCertificate,
  type MlsTlsCommonOptions,
  type MlsTlsSocketOptions,
  type UpdatePolicy,
} from "./node/socket.js";
export { MlsTlsError, isMlsTlsError, ERROR_ALERTS, type MlsTlsErrorCode } from "./errors.js";
export {
  DEFAULT_MAX_SESSIONS,
  DEFAULT_SESSION_TIMEOUT,
  FileSessionStore,
  MemorySessionStore,
  decryptSession,
  encryptSession,
  type FileSessionStoreOptions,
  type MemorySessionStoreOptions,
  type SessionStore,
} from "./sessions/store.js";
export {
  RedisSessionStore,
  SessionStoreError,
  sessionDigest,
  type RedisClientLike,
  type RedisSessionStoreOptions,
} from "./sessions/redis-store.js";
export type { CredentialInfo, CredentialValidator, LocalIdentity, PeerCredential } from "./mls/index.js";
export type { IdentitySource } from "./protocol/index.js";
export {
  SecureContext,
  createSecureContext,
  type CertOption,
  type IdentityOption,
  type KeyOption,
  type SecureContextOptions,
} from "./auth/secure-context.js";
export type { AuthOptions, SNICallback } from "./auth/connection-auth.js";
export {
  Identity,
  MlsTlsConfigError,
  createIdentity,
  identityFromPem,
  parsePublicIdentity,
  type ConfigErrorCode,
  type CreateIdentityOptions,
  type PemIdentityOptions,
  type PublicIdentity,
} from "./auth/identity.js";
export {
  TrustStore,
  verificationErrorOf,
  type BasicPeerCertificate,
  type CheckServerIdentity,
  type PeerCertificateObject,
  type PinnedPeerInfo,
  type VerificationError,
  type VerifyErrorCode,
  type VerifyPeerCallback,
} from "./auth/verify.js";

/** The MLS ciphersuites this build runs, by name. */
export const SUITE_NAMES: readonly string[] = Object.freeze(SUITES.filter((s) => s.mlsSupported).map((s) => s.name));

/** Suites offered (client: the first) and accepted (server) by default, in preference order. */
export const DEFAULT_SUITES: readonly string[] = Object.freeze(
  DEFAULT_SUITE_IDS.map((id) => SUITES.find((s) => s.id === id)!.name),
);

/** DEFAULT_SUITES in the colon-separated form of the `ciphersuites` option, as node's tls.DEFAULT_CIPHERS. */
export const DEFAULT_CIPHERSUITES: string = DEFAULT_SUITES.join(":");

/** Like tls.getCiphers(): the names accepted by the `ciphersuites` option. */
export function getCiphers(): string[] {
  return [...SUITE_NAMES];
}

/**
 * Every error code mlstls reports: our ERR_MLSTLS_* family plus node's codes where the meaning is the same
 * (ERR_TLS_INVALID_STATE, ERR_TLS_HANDSHAKE_TIMEOUT, ECONNRESET, ABORT_ERR, ERR_TLS_REQUIRED_SERVER_NAME, the
 * configuration codes ERR_INVALID_ARG_*, and peer verification: OpenSSL's codes such as CERT_HAS_EXPIRED and
 * ERR_TLS_CERT_ALTNAME_INVALID). Transport errors (ECONNREFUSED, EPIPE, ...) and node:crypto's key errors
 * (ERR_OSSL_*, ERR_MISSING_PASSPHRASE) pass through unchanged and are not listed. The list is lib/errors.ts's.
 */
export const ERROR_CODES: readonly string[] = ALL_ERROR_CODES;

/**
 * node's deprecated tls.createSecurePair() (DEP0064) has no MLS-TLS counterpart: wrap a stream with
 * `new TLSSocket(stream, options)` instead. As node, a `context` that is not a SecureContext is refused first.
 */
export function createSecurePair(context?: unknown): never {
  if (context !== undefined && !(context instanceof SecureContext)) {
    throw Object.assign(new TypeError("context must be a SecureContext"), { code: "ERR_TLS_INVALID_CONTEXT" });
  }
  throw Object.assign(new Error("The createSecurePair() method is not implemented"), { code: "ERR_METHOD_NOT_IMPLEMENTED" });
}

/** node:tls's hostname check, for code that calls tls.checkServerIdentity directly. */
export const checkServerIdentity = nodeCheckServerIdentity;

/** node's bundled root certificates: the default `ca` for verifying X.509 peers. */
export const rootCertificates: readonly string[] = nodeRootCertificates;

// node:tls's remaining exports, so that code reading (or setting) them runs unchanged. MLS-TLS is TLS 1.3 only
// and its suites fix the key exchange, so these describe it rather than configure it; assigning them (through
// the module object: `const tls = require("mlstls")` or `import tls from "mlstls"`) is allowed, as in node.

/** The `ciphersuites` default (MLS suites), where node has its OpenSSL cipher list. */
export let DEFAULT_CIPHERS: string = DEFAULT_CIPHERSUITES;
/** Always "TLSv1.3": the record layer is TLS 1.3's. */
export let DEFAULT_MIN_VERSION: string = "TLSv1.3";
/** Always "TLSv1.3". */
export let DEFAULT_MAX_VERSION: string = "TLSv1.3";
/** "auto", as node's: each MLS suite fixes its HPKE KEM (X25519, P-256 or P-384). */
export let DEFAULT_ECDH_CURVE: string = "auto";
/** node's renegotiation limits; TLS 1.3 (and so MLS-TLS) has no renegotiation. */
export let CLIENT_RENEG_LIMIT: number = 3;
export let CLIENT_RENEG_WINDOW: number = 600;

/**
 * node's tls.convertALPNProtocols(protocols, out): sets out.ALPNProtocols to the RFC 7301 wire format of an array
 * of names (or copies a Buffer/TypedArray given in that form).
 */
export function convertALPNProtocols(protocols: readonly (string | Uint8Array)[] | Uint8Array, out: { ALPNProtocols?: Buffer }): void {
  if (Array.isArray(protocols)) {
    const parts: Buffer[] = [];
    for (const p of protocols as readonly (string | Uint8Array)[]) {
      const b = typeof p === "string" ? Buffer.from(p) : Buffer.from(p);
      if (b.length > 255) {
        throw Object.assign(new RangeError(`The byte length of the protocol at index ${parts.length} exceeds the maximum length. It must be <= 255. Received ${b.length}`), { code: "ERR_OUT_OF_RANGE" });
      }
      parts.push(Buffer.from([b.length]), b);
    }
    out.ALPNProtocols = Buffer.concat(parts);
  } else if (ArrayBuffer.isView(protocols)) {
    // Any TypedArray or DataView, copied byte for byte as node does.
    out.ALPNProtocols = Buffer.from(Buffer.from(protocols.buffer, protocols.byteOffset, protocols.byteLength));
  }
}
