// Every error code mlstls reports, each listed once, and the one way to build an error of ours.
//
// - MlsTlsError (code, alert, remote): every failure of a connection. Built with mlsTlsError().
// - MlsTlsConfigError: a bad option at configuration time. A TypeError, like node's own argument errors, with the
//   same `code`, `alert` (always undefined) and `remote` (false); also built with mlsTlsError().
// - nodeError(): node's own codes (ECONNRESET, ERR_TLS_CERT_ALTNAME_INVALID, OpenSSL's verification codes, ...)
//   in node's shape, a plain Error with `code`, where node:tls reports them that way.
// lib/index.ts derives ERROR_CODES from the lists here, and README's "Error codes" names exactly those codes.

import { inspect } from "node:util";

/** TLS alert descriptions (RFC 8446 §6). */
export const AlertDescription = {
  close_notify: 0,
  unexpected_message: 10,
  bad_record_mac: 20,
  record_overflow: 22,
  handshake_failure: 40,
  bad_certificate: 42,
  unsupported_certificate: 43,
  certificate_revoked: 44,
  certificate_expired: 45,
  certificate_unknown: 46,
  illegal_parameter: 47,
  unknown_ca: 48,
  access_denied: 49,
  decode_error: 50,
  decrypt_error: 51,
  protocol_version: 70,
  insufficient_security: 71,
  internal_error: 80,
  inappropriate_fallback: 86,
  user_canceled: 90,
  missing_extension: 109,
  unsupported_extension: 110,
  unrecognized_name: 112,
  bad_certificate_status_response: 113,
  unknown_psk_identity: 115,
  certificate_required: 116,
  no_application_protocol: 120,
} as const;
export type AlertName = keyof typeof AlertDescription;

const alertNames = new Map<number, AlertName>(
  Object.entries(AlertDescription).map(([k, v]) => [v, k as AlertName]),
);
export function alertName(code: number): string {
  return alertNames.get(code) ?? `unknown_alert_${code}`;
}

/**
 * The one table from local error code to the alert we send for it.
 * Codes are stable API: they are documented in README.md and PROTOCOL.md.
 */
export const ERROR_ALERTS = {
  ERR_MLSTLS_BAD_RECORD_MAC: "bad_record_mac",
  ERR_MLSTLS_RECORD_OVERFLOW: "record_overflow",
  ERR_MLSTLS_DECODE_ERROR: "decode_error",
  ERR_MLSTLS_HANDSHAKE_MESSAGE_TOO_LARGE: "decode_error",
  ERR_MLSTLS_UNEXPECTED_MESSAGE: "unexpected_message",
  ERR_MLSTLS_UNEXPECTED_RECORD: "unexpected_message",
  ERR_MLSTLS_KEY_CHANGE_NOT_ON_RECORD_BOUNDARY: "unexpected_message",
  ERR_MLSTLS_HANDSHAKE_FLOOD: "unexpected_message",
  /** More than 32 empty application-data records in a row (as rustls and BoringSSL cap them). */
  ERR_MLSTLS_EMPTY_RECORD_FLOOD: "unexpected_message",
  ERR_MLSTLS_ILLEGAL_PARAMETER: "illegal_parameter",
  ERR_MLSTLS_WRONG_EPOCH: "illegal_parameter",
  ERR_MLSTLS_COMMIT_POLICY: "illegal_parameter",
  ERR_MLSTLS_MLS_REJECTED: "decrypt_error",
  ERR_MLSTLS_CIPHERSUITE_MISMATCH: "handshake_failure",
  ERR_MLSTLS_HANDSHAKE_FAILURE: "handshake_failure",
  ERR_MLSTLS_PROTOCOL_VERSION: "protocol_version",
  ERR_MLSTLS_VANILLA_TLS_PEER: "protocol_version",
  /** The peer's credential was refused: an unparseable certificate, or the peer uses our own key. Always fatal. */
  ERR_MLSTLS_BAD_CREDENTIAL: "bad_certificate",
  /** The leaf certificate's public key is not the MLS signature key of the peer's leaf. Always fatal. */
  ERR_MLSTLS_CERT_KEY_MISMATCH: "bad_certificate",
  /** A delegation certificate (PROTOCOL.md, "RSA certificates: per-connection delegation") that does not bind. Always fatal. */
  ERR_MLSTLS_BAD_DELEGATION: "bad_certificate",
  /** A delegation outside its validity period (minutes); a resumed session after it needs a full handshake. Always fatal. */
  ERR_MLSTLS_DELEGATION_EXPIRED: "certificate_expired",
  /** A pinned-key peer where X.509 is required (a client answering it sends unsupported_certificate instead). */
  ERR_MLSTLS_X509_REQUIRED: "certificate_required",
  /** The chain uses an extension OpenSSL enforces and mlstls does not (name constraints, ...). */
  ERR_MLSTLS_UNSUPPORTED_CERTIFICATE: "unsupported_certificate",
  /** The peer's fingerprint is not in the `fingerprints` allow-list. */
  ERR_MLSTLS_FINGERPRINT_MISMATCH: "access_denied",
  /** The verifyPeer callback returned false. */
  ERR_MLSTLS_PEER_REJECTED: "access_denied",
  ERR_MLSTLS_IDENTITY_CHANGED: "bad_certificate",
  ERR_MLSTLS_NO_APPLICATION_PROTOCOL: "no_application_protocol",
  // Resumption (draft §4.5): unknown_psk_identity tells the client the session is unusable, so it may fall back to
  // a full handshake; a replay gets handshake_failure, since no genuine client ever repeats a Resumption.
  ERR_MLSTLS_UNKNOWN_SESSION: "unknown_psk_identity",
  ERR_MLSTLS_STALE_SESSION: "unknown_psk_identity",
  ERR_MLSTLS_EPOCH_GAP: "unknown_psk_identity",
  ERR_MLSTLS_RESUMPTION_REPLAYED: "handshake_failure",
  // A server connection whose session a newer connection resumed (one live connection per session: PROTOCOL.md,
  // "Write-ahead sessions").
  ERR_MLSTLS_SESSION_REPLACED: "access_denied",
  ERR_MLSTLS_SEQUENCE_EXHAUSTED: "internal_error",
  /** A message of ours has a field outside its wire range (an encoder refused it). */
  ERR_MLSTLS_ENCODE_ERROR: "internal_error",
  ERR_MLSTLS_INTERNAL: "internal_error",
} as const satisfies Record<string, AlertName>;
export type LocalErrorCode = keyof typeof ERROR_ALERTS;

/** MlsTlsError codes that do not originate from a local protocol violation, so have no alert of their own. */
export const OTHER_ERROR_CODES = {
  ERR_MLSTLS_PEER_ALERT: "the peer sent a fatal alert",
  ERR_MLSTLS_CLOSED: "an operation on a closed connection",
  ERR_MLSTLS_TRUNCATED: "the transport ended without close_notify",
  // As OpenSSL: no alert, since the peer does not speak TLS (a socket reports node's ERR_SSL_WRONG_VERSION_NUMBER).
  ERR_MLSTLS_NOT_TLS: "the first record's version is not TLS's (junk, plain HTTP): closed without an alert",
  ERR_MLSTLS_BAD_SESSION: "a session blob that cannot be decoded",
  ERR_MLSTLS_SESSION_STORE: "the server's session store failed or was too slow (reported as 'sessionStoreError')",
  ERR_MLSTLS_TOO_MANY_HANDSHAKES: "the server already has maxUnconfirmedHandshakes handshakes in progress",
  // As node: its server drops the connection when SNICallback fails (the socket reports the callback's error).
  ERR_MLSTLS_SNI_FAILED: "SNICallback failed or gave no SecureContext: the connection is dropped without an alert",
  ERR_TLS_INVALID_STATE: "the API used in the wrong state (node's code)",
} as const;
export type OtherErrorCode = keyof typeof OTHER_ERROR_CODES;

export type MlsTlsErrorCode = LocalErrorCode | OtherErrorCode;

/** MlsTlsConfigError codes: bad options, found at configuration time. */
export const CONFIG_ERROR_CODES = {
  ERR_MLSTLS_KEY_CERT_MISMATCH: "the certificate is not the key's",
  ERR_MLSTLS_UNSUPPORTED_KEY: "a key type MLS has no suite for, or one this build does not run",
  ERR_MLSTLS_KEY_SUITE_MISMATCH: "the key cannot sign for the configured suites",
  ERR_MLSTLS_INVALID_IDENTITY_PEM: "a malformed identity PEM",
  ERR_MLSTLS_PQ_UNAVAILABLE: "a post-quantum suite without its optional package (the message says which to install)",
  ERR_INVALID_ARG_TYPE: "node's code: an option of the wrong type",
  ERR_INVALID_ARG_VALUE: "node's code: an option with a wrong value",
} as const;
export type ConfigErrorCode = keyof typeof CONFIG_ERROR_CODES;

/**
 * OpenSSL verify errors: node's code, OpenSSL 3.0's message, and the TLS alert OpenSSL sends for it
 * (ssl_x509err2alert). Node names only some OpenSSL codes; it reports the others as "UNSPECIFIED".
 */
export const X509_ERRORS = {
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
export type X509ErrorName = keyof typeof X509_ERRORS;

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
 * OpenSSL 3.0's reason text for each alert a peer may send (ssl/ssl_err.c): node:tls reports a received alert as
 * "ERR_SSL_" + this text in capitals, and so does an mlstls socket (lib/node/openssl-errors.ts).
 */
export const OPENSSL_ALERT_REASONS: ReadonlyMap<number, string> = new Map([
  [AlertDescription.unexpected_message, "sslv3 alert unexpected message"],
  [AlertDescription.bad_record_mac, "sslv3 alert bad record mac"],
  [AlertDescription.record_overflow, "tlsv1 alert record overflow"],
  [AlertDescription.handshake_failure, "sslv3 alert handshake failure"],
  [AlertDescription.bad_certificate, "sslv3 alert bad certificate"],
  [AlertDescription.unsupported_certificate, "sslv3 alert unsupported certificate"],
  [AlertDescription.certificate_revoked, "sslv3 alert certificate revoked"],
  [AlertDescription.certificate_expired, "sslv3 alert certificate expired"],
  [AlertDescription.certificate_unknown, "sslv3 alert certificate unknown"],
  [AlertDescription.illegal_parameter, "sslv3 alert illegal parameter"],
  [AlertDescription.unknown_ca, "tlsv1 alert unknown ca"],
  [AlertDescription.access_denied, "tlsv1 alert access denied"],
  [AlertDescription.decode_error, "tlsv1 alert decode error"],
  [AlertDescription.decrypt_error, "tlsv1 alert decrypt error"],
  [AlertDescription.protocol_version, "tlsv1 alert protocol version"],
  [AlertDescription.insufficient_security, "tlsv1 alert insufficient security"],
  [AlertDescription.internal_error, "tlsv1 alert internal error"],
  [AlertDescription.inappropriate_fallback, "tlsv1 alert inappropriate fallback"],
  [AlertDescription.user_canceled, "tlsv1 alert user cancelled"],
  [AlertDescription.missing_extension, "tlsv13 alert missing extension"],
  [AlertDescription.unsupported_extension, "tlsv1 unsupported extension"],
  [AlertDescription.unrecognized_name, "tlsv1 unrecognized name"],
  [AlertDescription.bad_certificate_status_response, "tlsv1 bad certificate status response"],
  [AlertDescription.unknown_psk_identity, "tlsv1 alert unknown psk identity"],
  [AlertDescription.certificate_required, "tlsv13 alert certificate required"],
  [AlertDescription.no_application_protocol, "tlsv1 alert no application protocol"],
]);

/** node's own codes that mlstls reports with node's meaning, in node's shape (see nodeError). */
export const NODE_ERROR_CODES = {
  ERR_TLS_CERT_ALTNAME_INVALID: "the peer's certificate does not name the host",
  ERR_TLS_REQUIRED_SERVER_NAME: "a server name is required",
  ERR_TLS_HANDSHAKE_TIMEOUT: "the server's handshakeTimeout expired",
  ECONNRESET: "the transport closed before the handshake completed",
  ABORT_ERR: "the signal was aborted",
  ERR_OUT_OF_RANGE: "node's code: an option or argument outside its range",
  ERR_TLS_ALPN_CALLBACK_WITH_PROTOCOLS: "ALPNCallback and ALPNProtocols were both given",
  ERR_TLS_ALPN_CALLBACK_INVALID_RESULT: "ALPNCallback chose a protocol the client did not offer",
  ERR_TLS_SNI_FROM_SERVER: "setServername() was called on a server socket",
  ERR_SSL_WRONG_SSL_VERSION: "renegotiate(): TLS 1.3 has no renegotiation",
  ERR_METHOD_NOT_IMPLEMENTED: "a node:tls method with no MLS-TLS counterpart",
  ERR_TLS_INVALID_PROTOCOL_VERSION: "minVersion or maxVersion is not one of node's TLS version names",
  ERR_TLS_INVALID_CONTEXT: "tls.createSecurePair() was given something that is not a SecureContext",
  ERR_SOCKET_CLOSED: "an operation on a socket that is closed",
  ERR_SOCKET_CONNECTION_FAILED: "the transport could not connect",
  ERR_SSL_WRONG_VERSION_NUMBER: "the peer's first bytes are not TLS",
  ERR_SSL_HTTP_REQUEST: "the peer's first bytes are a plain HTTP request",
  ERR_SSL_HTTPS_PROXY_REQUEST: "the peer's first bytes are an HTTP CONNECT request",
  ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE: "a server requiring a client certificate got none",
} as const;

/** node's code for an OpenSSL reason of the SSL library: "ERR_SSL_" and the reason in capitals ("wrong version number"). */
export function sslErrorCode(reason: string): string {
  return `ERR_SSL_${reason.toUpperCase().replace(/ /g, "_")}`;
}

/** node's code for each alert a peer may send: what a socket reports for ERR_MLSTLS_PEER_ALERT. */
export const PEER_ALERT_CODES: readonly string[] = Object.freeze([...OPENSSL_ALERT_REASONS.values()].map(sslErrorCode));

/** Every code listed above, once each: what lib/index.ts exports as ERROR_CODES. */
export const ALL_ERROR_CODES: readonly string[] = Object.freeze([
  ...Object.keys(ERROR_ALERTS),
  ...Object.keys(OTHER_ERROR_CODES),
  ...Object.keys(CONFIG_ERROR_CODES),
  ...X509_ERROR_CODES,
  ...Object.keys(NODE_ERROR_CODES),
  ...PEER_ALERT_CODES,
]);

export class MlsTlsError extends Error {
  readonly code: MlsTlsErrorCode;
  /** TLS alert description number tied to this error (sent if local, received if remote). */
  readonly alert: number | undefined;
  /** true if the peer reported this error to us in an alert; false if we detected it. */
  readonly remote: boolean;

  constructor(
    code: MlsTlsErrorCode,
    message: string,
    opts: { alert?: number; remote?: boolean; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "MlsTlsError";
    this.code = code;
    this.remote = opts.remote ?? false;
    const mapped = (ERROR_ALERTS as Record<string, AlertName>)[code];
    this.alert = opts.alert ?? (mapped === undefined ? undefined : AlertDescription[mapped]);
  }
}

/**
 * Thrown for bad options at configuration time (createServer / connect / createIdentity), never during a
 * handshake. A TypeError with a stable `code`, like node's own argument errors; `alert` and `remote` as on
 * MlsTlsError, so every error of ours has the same three fields.
 */
export class MlsTlsConfigError extends TypeError {
  readonly code: ConfigErrorCode;
  readonly alert: undefined = undefined;
  readonly remote: false = false;
  constructor(code: ConfigErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export interface ErrorOptions {
  cause?: unknown;
  /** Overrides the alert of the code's table entry (e.g. a received alert, or a verification error's). */
  alert?: number;
  /** The peer reported this error in an alert. */
  remote?: boolean;
}

function isConfigCode(code: string): code is ConfigErrorCode {
  return Object.hasOwn(CONFIG_ERROR_CODES, code);
}

/**
 * The one way to build an error of ours: an MlsTlsConfigError for a configuration code, an MlsTlsError for every
 * other code, whose alert comes from ERROR_ALERTS unless `options.alert` says otherwise.
 */
export function mlsTlsError(code: ConfigErrorCode, message: string, options?: ErrorOptions): MlsTlsConfigError;
export function mlsTlsError(code: MlsTlsErrorCode, message: string, options?: ErrorOptions): MlsTlsError;
export function mlsTlsError(code: MlsTlsErrorCode | ConfigErrorCode, message: string, options: ErrorOptions = {}): MlsTlsError | MlsTlsConfigError {
  if (isConfigCode(code)) return new MlsTlsConfigError(code, message, options.cause === undefined ? undefined : { cause: options.cause });
  return new MlsTlsError(code, message, options);
}

/** What node appends to ERR_INVALID_ARG_TYPE and ERR_OUT_OF_RANGE messages to describe the received value. */
export function describeReceived(value: unknown): string {
  if (value === null || value === undefined) return ` Received ${String(value)}`;
  if (typeof value === "function") return ` Received function ${value.name}`;
  if (typeof value === "object") {
    const ctor = (value as { constructor?: { name?: string } }).constructor;
    if (ctor?.name) return ` Received an instance of ${ctor.name}`;
    return ` Received ${inspect(value, { depth: -1 })}`;
  }
  let shown = inspect(value, { colors: false });
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return ` Received type ${typeof value} (${shown})`;
}

/**
 * node's ERR_INVALID_ARG_TYPE (a TypeError). `name` is an argument ("options") or a property ("options.ciphers");
 * `expected` reads like node's: "of type string", "of type object", "an instance of Buffer, TypedArray, or DataView".
 */
export function invalidArgType(name: string, expected: string, value: unknown): TypeError {
  const kind = name.includes(".") ? "property" : "argument";
  return Object.assign(new TypeError(`The "${name}" ${kind} must be ${expected}.${describeReceived(value)}`), {
    code: "ERR_INVALID_ARG_TYPE",
  });
}

/** An error in node's own shape (a plain Error with `code` and node's extra fields), for node's codes. */
export function nodeError(code: string, message: string, props: Record<string, unknown> = {}): Error & { code: string } {
  return Object.assign(new Error(message), { code }, props);
}

/** The peer told us about a fatal error. */
export function peerAlertError(description: number): MlsTlsError {
  return mlsTlsError("ERR_MLSTLS_PEER_ALERT", `peer sent fatal alert ${alertName(description)} (${description})`, {
    alert: description,
    remote: true,
  });
}

/** Whether `e` is a connection error of ours (configuration errors are MlsTlsConfigErrors). */
export function isMlsTlsError(e: unknown): e is MlsTlsError {
  return e instanceof MlsTlsError;
}
