// node:tls reports a TLS failure with OpenSSL's reason: a plain Error whose `code` is "ERR_SSL_" + the reason in
// capitals, with `library` and `reason` properties and OpenSSL's text in the message: "error:", the packed error
// number in 8 hex digits, ":SSL routines::", the reason. Programs (and node's own tests) match on those codes and texts, so the socket reports the same failures
// the same way. The engine's own error stays available as `cause`; `alert` and `remote` are kept.
//
// Facts from OpenSSL 3.0 (include/openssl/sslerr.h): a received alert N is reason 1000 + N, packed as
// 0x0A000000 | reason; the reason texts are in lib/errors.ts.

import { AlertDescription, OPENSSL_ALERT_REASONS, sslErrorCode, type MlsTlsError } from "../errors.js";
import { codeError } from "./node-errors.js";

/** OpenSSL's SSL_R_WRONG_VERSION_NUMBER and SSL_R_HTTP_REQUEST: a first record that is not TLS. */
const WRONG_VERSION_NUMBER = { reason: "wrong version number", number: 0x10b };
const HTTP_REQUEST = { reason: "http request", number: 0x9c };
const HTTPS_PROXY_REQUEST = { reason: "https proxy request", number: 0x9b };

/** OpenSSL's SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE: a server that requires a client certificate got none. */
const PEER_DID_NOT_RETURN_A_CERTIFICATE = { reason: "peer did not return a certificate", number: 0xc7 };

/** OpenSSL's SSL_R_WRONG_SSL_VERSION: what node's renegotiate() reports on a TLS 1.3 socket. */
export const WRONG_SSL_VERSION = { reason: "wrong ssl version", number: 0x10a };

/**
 * An error as node builds one from OpenSSL's error queue: code "ERR_SSL_" + reason, the packed error number and
 * reason in the message (then `detail`), `library` and `reason` properties.
 */
export function sslError({ reason, number }: { reason: string; number: number }, detail = "", props: Record<string, unknown> = {}): Error {
  const packed = (0x0a000000 | number).toString(16).toUpperCase().padStart(8, "0");
  return codeError(sslErrorCode(reason), `error:${packed}:SSL routines::${reason}${detail}`, {
    library: "SSL routines",
    reason,
    ...props,
  });
}

/**
 * The engine's error as node:tls would report the same failure, where node has a code for it: a peer's alert
 * (ERR_SSL_SSLV3_ALERT_*, ERR_SSL_TLSV1_ALERT_*, ...) and a first record that is not TLS
 * (ERR_SSL_WRONG_VERSION_NUMBER, ERR_SSL_HTTP_REQUEST, ERR_SSL_HTTPS_PROXY_REQUEST). Other errors are returned as they are.
 */
export function asOpensslError(err: MlsTlsError): Error {
  if (err.code === "ERR_MLSTLS_PEER_ALERT" && err.remote && err.alert !== undefined) {
    const reason = OPENSSL_ALERT_REASONS.get(err.alert);
    if (reason === undefined) return err;
    // Our own explanation (a refused session, a vanilla TLS server: an error made from the plain one, its cause)
    // follows OpenSSL's text when there is one.
    const explained = err.cause !== undefined ? `: ${err.message}` : "";
    return sslError({ reason, number: 1000 + err.alert }, `:SSL alert number ${err.alert}${explained}`, { alert: err.alert, remote: true, cause: err });
  }
  if (err.code === "ERR_MLSTLS_NOT_TLS" && !err.remote) {
    // As OpenSSL tells them apart, by the first bytes.
    const first = /plain text "(.{5})"/.exec(err.message)?.[1] ?? "";
    const { reason, number } = /^(GET |POST |HEAD |PUT )/.test(first)
      ? HTTP_REQUEST
      : first === "CONNE"
        ? HTTPS_PROXY_REQUEST
        : WRONG_VERSION_NUMBER;
    return sslError({ reason, number }, `: ${err.message}`, { alert: err.alert, remote: false, cause: err });
  }
  return err;
}

/**
 * A server's view of a failed handshake, where node names it differently from a client: a client without a
 * certificate (an anonymous or pinned-key credential) refused by requestCert + rejectUnauthorized is node's
 * ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE. Other errors are returned as they are.
 */
export function asServerError(err: Error): Error {
  const e = err as Error & { code?: unknown };
  if (e.code !== "ERR_MLSTLS_X509_REQUIRED") return err;
  return sslError(PEER_DID_NOT_RETURN_A_CERTIFICATE, `: ${err.message}`, { alert: AlertDescription.certificate_required, remote: false, cause: err });
}
