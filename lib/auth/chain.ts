// Certificate chain validation, with OpenSSL 3.0's checks, order and error codes as node:tls reports them.

import { createHash, type KeyObject } from "node:crypto";
import { nodeError, type X509ErrorName } from "../errors.js";
import { checkCa, likelyIssued, purposeAllowed, selfIssued, selfSigned, signingAllowed, UNENFORCED_EXTENSIONS, type CertFacts } from "./x509.js";
import { type VerificationError, x509Error } from "./verification-errors.js";
import type { TrustStore } from "./trust-store.js";

// ---------------------------------------------------------------------------------------------------------------
// Chain validation, in OpenSSL 3.0's order (crypto/x509/x509_vfy.c: build_chain, check_chain_extensions,
// internal_verify, then the checks OpenSSL has and we do not). Returns the last error found, as node reports
// it, or null when the chain verified.

/** OpenSSL's default verify depth. */
export const MAX_DEPTH = 100;

export function timeValid(c: CertFacts, now: number): boolean {
  return c.notBefore !== undefined && c.notAfter !== undefined && c.notBefore <= now && now < c.notAfter;
}

/** Among possible issuers: the first currently valid one, else the one that expired last (OpenSSL's choice). */
export function pickIssuer(candidates: readonly CertFacts[], now: number): CertFacts | undefined {
  let best: CertFacts | undefined;
  for (const c of candidates) {
    if (timeValid(c, now)) return c;
    if (best === undefined || (c.notAfter ?? -Infinity) > (best.notAfter ?? -Infinity)) best = c;
  }
  return best;
}

// ---------------------------------------------------------------------------------------------------------------
// Successful verifications, remembered
//
// A peer presents the same chain on every handshake, and again on every ConnectionUpdate; verifying it costs a
// signature check per link (0.6 ms for a P-384 root). A success is remembered under the exact presented chain
// (the DER of every certificate, in order), the trust store (stores are immutable and built once per `ca`
// content, so another `ca` is another store), the purpose and allowPartialTrustChain. It is used again only
//   - while `now` lies inside every validity window of the chain that was built (presented certificates and
//     anchors alike), so a certificate that expires, or is not yet valid at the given time, is checked again and
//     fails as it would have, and
//   - for VERIFIED_TTL_MS after it was made (by the same clock), so nothing outlives a short interval.
// A failure is never remembered. The result does not depend on anything else (the hostname and the key binding
// are checked on every handshake, outside this cache). Revocation: mlstls checks none (node:tls checks none by
// default either); a revocation check added later must run on every handshake, cached or not, or call
// forgetVerifications() when its list changes, so a revoked certificate is never served from here.

export const VERIFIED_TTL_MS = 5 * 60 * 1000;
export const VERIFIED_MAX = 256;

interface VerifiedChain {
  /** The latest notBefore and the earliest notAfter in the built chain. */
  readonly validFrom: number;
  readonly validUntil: number;
  readonly at: number;
}

const verifiedChains = new Map<string, VerifiedChain>();

/** Drops every remembered verification (for a revocation list update, or tests). */
export function forgetVerifications(): void {
  verifiedChains.clear();
}

function verificationKey(presented: readonly CertFacts[], store: TrustStore, purpose: string | undefined, allowPartial: boolean): string {
  const h = createHash("sha256").update(`${store.id}|${purpose ?? "-"}|${allowPartial ? 1 : 0}|${presented.length}`);
  for (const c of presented) h.update(`|${c.der.length}:`).update(c.der);
  return h.digest("base64");
}

function usable(hit: VerifiedChain, now: number): boolean {
  return hit.validFrom <= now && now < hit.validUntil && hit.at <= now && now < hit.at + VERIFIED_TTL_MS;
}

/** Whether a verification at `now` would be answered from the cache (for tests of its bounds). */
export function isVerificationCached(
  presented: readonly CertFacts[],
  store: TrustStore,
  now: number,
  purpose: "server" | "client" | undefined,
  allowPartial: boolean,
): boolean {
  const hit = verifiedChains.get(verificationKey(presented, store, purpose, allowPartial));
  return hit !== undefined && usable(hit, now);
}

/** verifyChain, through the cache of recent successes described above. */
export function verifyChainCached(
  presented: readonly CertFacts[],
  store: TrustStore,
  now: number,
  purpose: "server" | "client" | undefined,
  allowPartial: boolean,
): (VerificationError & { code: string }) | null {
  const key = verificationKey(presented, store, purpose, allowPartial);
  const hit = verifiedChains.get(key);
  if (hit !== undefined) {
    if (usable(hit, now)) return null;
    verifiedChains.delete(key);
  }
  const built: CertFacts[] = [];
  const error = verifyChain(presented, store, now, purpose, allowPartial, built);
  if (error === null) {
    let validFrom = -Infinity;
    let validUntil = Infinity;
    for (const c of built) {
      validFrom = Math.max(validFrom, c.notBefore ?? Infinity);
      validUntil = Math.min(validUntil, c.notAfter ?? -Infinity);
    }
    if (verifiedChains.size >= VERIFIED_MAX) verifiedChains.delete(verifiedChains.keys().next().value!);
    verifiedChains.set(key, { validFrom, validUntil, at: now });
  }
  return error;
}

export function verifyChain(
  presented: readonly CertFacts[],
  store: TrustStore,
  now: number,
  purpose: "server" | "client" | undefined,
  allowPartial: boolean,
  /** Receives the chain that was built, leaf first. */
  built?: CertFacts[],
): (VerificationError & { code: string }) | null {
  let error: (VerificationError & { code: string }) | null = null;
  const fail = (name: X509ErrorName) => {
    error = x509Error(name);
  };

  // build_chain, trusted-first: the trust store is searched before the presented certificates.
  const leaf = presented[0]!;
  const chain: CertFacts[] = [leaf];
  const pool = presented.slice(1);
  let numUntrusted = 1;
  let trusted = false;
  let tooLong = false;
  for (;;) {
    if (chain.length > MAX_DEPTH + 1) {
      tooLong = true;
      break;
    }
    const cur = chain[chain.length - 1]!;
    const notInChain = (c: CertFacts) => !chain.includes(c);
    if (chain.length > numUntrusted) {
      // In the trusted part: a self-signed anchor ends it; otherwise keep climbing inside the store.
      if (selfSigned(cur) || allowPartial) {
        trusted = true;
        break;
      }
      const up = pickIssuer(store.candidates(cur).filter(notInChain), now);
      if (up === undefined) break;
      chain.push(up);
      continue;
    }
    if (selfSigned(cur)) {
      // A self-signed certificate is trusted only as itself.
      if (store.has(cur)) {
        numUntrusted = chain.length - 1;
        trusted = true;
      }
      break;
    }
    if (allowPartial && store.has(cur)) {
      numUntrusted = chain.length - 1;
      trusted = true;
      break;
    }
    const anchor = pickIssuer(store.candidates(cur).filter(notInChain), now);
    if (anchor !== undefined) {
      chain.push(anchor);
      continue;
    }
    const next = pickIssuer(pool.filter((c) => notInChain(c) && likelyIssued(c, cur)), now);
    if (next === undefined) break;
    chain.push(next);
    numUntrusted++;
  }
  if (tooLong) fail("CERT_CHAIN_TOO_LONG");
  else if (!trusted) {
    const top = chain[chain.length - 1]!;
    if (selfSigned(top)) fail(chain.length === 1 ? "DEPTH_ZERO_SELF_SIGNED_CERT" : "SELF_SIGNED_CERT_IN_CHAIN");
    else fail(numUntrusted < chain.length ? "UNABLE_TO_GET_ISSUER_CERT" : "UNABLE_TO_GET_ISSUER_CERT_LOCALLY");
  }

  // check_chain_extensions: criticality, CA-ness, purpose, path length, leaf first.
  const n = chain.length;
  let plen = 0;
  for (let i = 0; i < n; i++) {
    const x = chain[i]!;
    if (x.unhandledCritical.length > 0) fail("UNHANDLED_CRITICAL_EXTENSION");
    if (i > 0) {
      const ca = checkCa(x);
      // Intermediates must be v3 CAs; the top may also be a v1 root or a keyUsage-only CA.
      if (ca === 0 || (i + 1 < n && ca !== 1)) fail("INVALID_CA");
    }
    if (purpose !== undefined && !purposeAllowed(x, purpose, i > 0)) fail("INVALID_PURPOSE");
    const pathLen = x.basicConstraints?.pathLen;
    if (i > 1 && pathLen !== undefined && plen > pathLen) fail("PATH_LENGTH_EXCEEDED");
    if (i > 0 && !selfIssued(x)) plen++;
  }

  // internal_verify: from the top down, each signature by its issuer's key, then each certificate's dates.
  let depth = n - 1;
  let xi = chain[depth]!;
  let xs: CertFacts;
  if (selfSigned(xi) || allowPartial) xs = xi;
  else if (depth === 0) {
    fail("UNABLE_TO_VERIFY_LEAF_SIGNATURE");
    xs = xi;
  } else {
    depth--;
    xs = chain[depth]!;
  }
  for (;;) {
    if (xs !== xi) {
      if (!signingAllowed(xi)) fail("KEYUSAGE_NO_CERTSIGN");
      let key: KeyObject | undefined;
      try {
        key = xi.x509.publicKey;
      } catch {
        fail("UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY");
      }
      if (key !== undefined) {
        let verified: boolean;
        try {
          verified = xs.x509.verify(key);
        } catch {
          verified = false;
        }
        if (!verified) fail("CERT_SIGNATURE_FAILURE");
      }
    }
    if (xs.notBefore === undefined) fail("ERROR_IN_CERT_NOT_BEFORE_FIELD");
    else if (xs.notBefore > now) fail("CERT_NOT_YET_VALID");
    if (xs.notAfter === undefined) fail("ERROR_IN_CERT_NOT_AFTER_FIELD");
    else if (xs.notAfter <= now) fail("CERT_HAS_EXPIRED");
    if (--depth < 0) break;
    xi = xs;
    xs = chain[depth]!;
  }

  built?.push(...chain);

  // What OpenSSL checks after this and we do not implement: refuse rather than skip.
  for (const x of chain) {
    if (x.unenforced.length > 0) {
      const what = x.unenforced.map((oid) => UNENFORCED_EXTENSIONS.get(oid)).join(", ");
      error = nodeError(
        "ERR_MLSTLS_UNSUPPORTED_CERTIFICATE",
        `certificate "${x.x509.subject.replace(/\n/g, ", ")}" uses ${what}, which mlstls does not enforce`,
      );
    }
  }
  return error;
}

