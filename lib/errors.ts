// One error class and one table from error code to TLS alert (RFC 8446 §6).
// Every failure the protocol core can produce is an MlsTlsError with a stable `code`.

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
  // A server connection whose session a newer connection resumed (one live connection per session, decision 10).
  ERR_MLSTLS_SESSION_REPLACED: "access_denied",
  ERR_MLSTLS_SEQUENCE_EXHAUSTED: "internal_error",
  ERR_MLSTLS_INTERNAL: "internal_error",
} as const satisfies Record<string, AlertName>;
export type LocalErrorCode = keyof typeof ERROR_ALERTS;

/** Codes that do not originate from a local protocol violation. */
export type OtherErrorCode =
  | "ERR_MLSTLS_PEER_ALERT" // the peer sent a fatal alert
  | "ERR_MLSTLS_CLOSED" // operation on a closed connection
  | "ERR_MLSTLS_TRUNCATED" // transport ended without close_notify
  | "ERR_MLSTLS_BAD_SESSION" // a session blob that cannot be decoded
  | "ERR_TLS_INVALID_STATE"; // API used in the wrong state (node's code)

export type MlsTlsErrorCode = LocalErrorCode | OtherErrorCode;

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

/** A local protocol error: its alert comes from the table. */
export function protocolError(code: LocalErrorCode, message: string, cause?: unknown): MlsTlsError {
  return new MlsTlsError(code, message, { cause });
}

/** The peer told us about a fatal error. */
export function peerAlertError(description: number): MlsTlsError {
  return new MlsTlsError(
    "ERR_MLSTLS_PEER_ALERT",
    `peer sent fatal alert ${alertName(description)} (${description})`,
    { alert: description, remote: true },
  );
}

export function isMlsTlsError(e: unknown): e is MlsTlsError {
  return e instanceof MlsTlsError;
}
