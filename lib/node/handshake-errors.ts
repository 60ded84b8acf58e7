// What a socket reports when its handshake fails: node's verification error or the application's own error
// where there is one, and for a client, an explanation of the usual mistakes (a vanilla TLS server, a refused
// session, no `fingerprints`/`ca` for a pinned-key server).

import { endEntityCertificates } from "../auth/delegation.js";
import { X509Certificate } from "node:crypto";
import { AlertDescription, MlsTlsError, alertName } from "../errors.js";
import type { PeerCredential } from "../mls/index.js";
import type { Initiator } from "../protocol/index.js";
import { userErrorOf } from "../auth/connection-auth.js";
import { type PeerValidator, peerCertificateObject, verificationErrorOf } from "../auth/verify.js";
import { refusedSession } from "./client-sessions.js";
import { asOpensslError } from "./openssl-errors.js";

/** The leaf certificate of an X.509 credential; undefined for basic credentials and unparseable ones. */
export function leafCertificate(peer: PeerCredential | undefined): X509Certificate | undefined {
  if (peer?.credential.type !== "x509") return undefined;
  // A delegated credential's leaf is its end-entity certificate, not the per-connection delegation.
  const der = endEntityCertificates(peer.credential)[0];
  if (der === undefined) return undefined;
  try {
    return new X509Certificate(der);
  } catch {
    return undefined;
  }
}

/**
 * The error the user sees for an engine failure: node's verification error when our validator refused the peer
 * (e.g. code CERT_HAS_EXPIRED), the user's own error from SNICallback or ALPNCallback, node's ERR_SSL_* error for
 * a peer's alert or a first record that is not TLS, otherwise the engine's.
 */
export function surface(err: MlsTlsError): Error {
  return verificationErrorOf(err) ?? userErrorOf(err) ?? asOpensslError(err);
}

/** For promises: the same error the socket emits. */
export function surfaceRejection(err: unknown): never {
  throw err instanceof MlsTlsError ? surface(err) : err;
}

/** A client's handshake failure on a peer alert: a refused session, or a server that speaks vanilla TLS. */
export function explainClientHandshakeError(err: MlsTlsError, engine: Initiator | undefined): MlsTlsError {
  if (err.code !== "ERR_MLSTLS_PEER_ALERT" || err.alert === undefined) return err;
  if (refusedSession(err, engine)) {
    return new MlsTlsError(
      "ERR_MLSTLS_PEER_ALERT",
      "server refused the session (alert unknown_psk_identity (115)): it no longer has it, or it is too far from " +
        "the server's state; connect without `session` (or with sessionFallback) for a full handshake",
      { alert: err.alert, remote: true, cause: err },
    );
  }
  // A vanilla TLS server cannot parse our MLS ClientHello and answers with one of these plaintext alerts
  // (OpenSSL: unexpected_message). Our own responder never sends unexpected_message for a ClientHello.
  if (engine === undefined || !engine.awaitingServerHello) return err;
  let hint: string;
  if (err.alert === AlertDescription.unexpected_message) hint = "the server most likely speaks vanilla TLS, not MLS-TLS";
  else if (err.alert === AlertDescription.decode_error || err.alert === AlertDescription.protocol_version) {
    hint = "the server may speak vanilla TLS rather than MLS-TLS";
  } else return err;
  return new MlsTlsError(
    "ERR_MLSTLS_PEER_ALERT",
    `server answered the MLS ClientHello with alert ${alertName(err.alert)} (${err.alert}): ${hint}`,
    { alert: err.alert, remote: true, cause: err },
  );
}

/**
 * A client that was given neither `fingerprints` nor `ca` for a pinned-key server: say which option is missing
 * and show the server's fingerprint (to be checked out of band before pinning it).
 */
export function explainUntrusted(err: Error, validator: PeerValidator | undefined): Error {
  const e = err as Error & { code?: string; peerCertificate?: { fingerprint?: string } };
  if (e.code !== "ERR_MLSTLS_X509_REQUIRED") return err;
  const peer = validator?.peerCredential;
  const fp = e.peerCertificate?.fingerprint ?? (peer === undefined ? undefined : peerCertificateObject(peer).fingerprint);
  if (typeof fp !== "string" || e.message.includes("fingerprints")) return err;
  e.message +=
    `: the server identifies itself by a pinned key, fingerprint ${fp}. Trust it with ` +
    `\`fingerprints: ["${fp}"]\` (after checking that fingerprint out of band), or give \`ca\` if it should have an X.509 certificate`;
  return err;
}
