// node:tls reports a TLS failure with OpenSSL's reason: a plain Error whose `code` is "ERR_SSL_" + the reason in
// capitals, with `library` and `reason` properties and OpenSSL's "error:XXXXXXXX:SSL routines::reason" text in the
// message. Programs (and node's own tests) match on those codes and texts, so the socket reports the same failures
// the same way. The engine's own error stays available as `cause`; `alert` and `remote` are kept.
//
// Facts from OpenSSL 3.0 (include/openssl/sslerr.h): a received alert N is reason 1000 + N, packed as
// 0x0A000000 | reason; the reason texts are in lib/errors.ts.

import { AlertDescription, OPENSSL_ALERT_REASONS, type MlsTlsError } from "../errors.js";
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
  return codeError(`ERR_SSL_${reason.toUpperCase().replace(/ /g, "_")}`, `error:${packed}:SSL routines::${reason}${detail}`, {
    library: "SSL routines",
    reason,
    ...props,
  });
}

function opensslError(number: number, reason: string, detail: string, cause: MlsTlsError): Error {
  return sslError({ reason, number }, detail, { alert: cause.alert, remote: cause.remote, cause });
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
    // Our own explanation (a refused session, a vanilla TLS server) follows OpenSSL's text when there is one.
    const plain = /^peer sent fatal alert \w+ \(\d+\)$/.test(err.message);
    return opensslError(1000 + err.alert, reason, `:SSL alert number ${err.alert}${plain ? "" : `: ${err.message}`}`, err);
  }
  if (err.code === "ERR_MLSTLS_NOT_TLS" && !err.remote) {
    // As OpenSSL tells them apart, by the first bytes.
    const first = /plain text "(.{5})"/.exec(err.message)?.[1] ?? "";
    const { reason, number } = /^(GET |POST |HEAD |PUT )/.test(first)
      ? HTTP_REQUEST
      : first === "CONNE"
        ? HTTPS_PROXY_REQUEST
        : WRONG_VERSION_NUMBER;
    return opensslError(number, reason, `: ${err.message}`, err);
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
