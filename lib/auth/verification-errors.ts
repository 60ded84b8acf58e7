// Verification failures as node:tls reports them (plain Errors with node's or OpenSSL's code), the TLS alert for
// each, and the MlsTlsError the engine sees when the validator refuses a peer. The codes are listed in lib/errors.ts.

import { AlertDescription, ERROR_ALERTS, MlsTlsError, mlsTlsError, nodeError, X509_ERRORS, type AlertName, type LocalErrorCode, type X509ErrorName } from "../errors.js";

/** A verification failure as node:tls reports it: an Error with a string `code` (node's, or ours). */
export type VerificationError = Error & { code?: string };

/**
 * Codes of ours that verification can report (documented in README.md). Their alerts live in the one error→alert
 * table, ERROR_ALERTS in errors.ts; ERR_MLSTLS_X509_REQUIRED's is certificate_required from a server and
 * unsupported_certificate from a client.
 */
export const VERIFY_ERROR_CODES = [
  "ERR_MLSTLS_CERT_KEY_MISMATCH",
  "ERR_MLSTLS_BAD_DELEGATION",
  "ERR_MLSTLS_DELEGATION_EXPIRED",
  "ERR_MLSTLS_BAD_CREDENTIAL",
  "ERR_MLSTLS_X509_REQUIRED",
  "ERR_MLSTLS_UNSUPPORTED_CERTIFICATE",
  "ERR_MLSTLS_FINGERPRINT_MISMATCH",
  "ERR_MLSTLS_PEER_REJECTED",
] as const satisfies readonly LocalErrorCode[];
export type VerifyErrorCode = (typeof VERIFY_ERROR_CODES)[number];

export function isVerifyErrorCode(code: string): code is VerifyErrorCode {
  return (VERIFY_ERROR_CODES as readonly string[]).includes(code);
}

/** Failures that end the handshake even with rejectUnauthorized: false (TLS cannot skip them either). */
export const ALWAYS_FATAL = new Set<string>([
  "ERR_MLSTLS_CERT_KEY_MISMATCH",
  "ERR_MLSTLS_BAD_CREDENTIAL",
  "ERR_MLSTLS_BAD_DELEGATION",
  "ERR_MLSTLS_DELEGATION_EXPIRED",
]);


export function x509Error(name: X509ErrorName): VerificationError & { code: string } {
  const e = X509_ERRORS[name];
  return nodeError(e.node ? name : "UNSPECIFIED", e.message);
}

/**
 * The TLS alert for a verification error: OpenSSL's choice for its codes, ours for the rest; `fallback` for
 * errors that come from user callbacks.
 */
export function alertFor(err: VerificationError, fallback: AlertName): AlertName {
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
export const wrapped = new WeakSet<MlsTlsError>();

/**
 * The error the validator throws to refuse a peer: ERR_MLSTLS_BAD_CREDENTIAL (or ERR_MLSTLS_IDENTITY_CHANGED)
 * with the alert that fits, and node's error as `cause`.
 */
export function refusal(err: VerificationError, alert: AlertName): MlsTlsError {
  const e = mlsTlsError("ERR_MLSTLS_BAD_CREDENTIAL", `peer verification failed: ${err.message}${typeof err.code === "string" ? ` (${err.code})` : ""}`, {
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

