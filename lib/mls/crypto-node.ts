// A ts-mls CryptoProvider built on synchronous node:crypto, for MLS ciphersuites 1, 2, 3 and 7.
// ts-mls's default provider goes through WebCrypto and @hpke/core, whose per-call thread hops dominate
// handshake time; the same work done synchronously is several times faster.
// HPKE is RFC 9180 base mode, single-shot, which is all MLS uses.
// Only types come from ts-mls: lib/mls/provider.ts owns the value import and passes any fallback in.
// The algorithms live in node-crypto/ (hash, signature, aead, hpke); this file assembles them per suite.

import { randomFillSync } from "node:crypto";
// Types only (erased at build): lib/mls/provider.ts owns the value import and passes any fallback in.
import type { Ciphersuite, CiphersuiteImpl, CryptoProvider, Rng } from "ts-mls";
import { AEADS } from "./node-crypto/aead.js";
import { HASHES, KDFS, makeHash, makeKdf } from "./node-crypto/hash.js";
import { kemSupported, makeHpke, makeKems } from "./node-crypto/hpke.js";
import { makeSignatures, signatureSupported } from "./node-crypto/signature.js";
import { isPqSuite, makePqImpl } from "./node-crypto/pq.js";

// ---------------------------------------------------------------------------------------------
// Provider

/** Whether the node:crypto provider implements this ciphersuite itself (MLS suites 1, 2, 3, 7 and 79-88). */
export function nodeCryptoSupports(cs: Ciphersuite): boolean {
  return (kemSupported(cs.hpke.kem) && signatureSupported(cs.signature)) || isPqSuite(cs);
}

export interface NodeCryptoProviderOptions {
  /**
   * Where every random byte of MLS comes from (key generation, HPKE ephemeral keys, ts-mls's own secrets).
   * Default: node:crypto's CSPRNG. A seeded generator here makes MLS deterministic, for tests that replay a
   * connection; never use one in production.
   */
  randomBytes?: (n: number) => Uint8Array;
}

function csprng(n: number): Uint8Array {
  return randomFillSync(new Uint8Array(n));
}

/**
 * A ts-mls CryptoProvider on synchronous node:crypto for MLS ciphersuites 1, 2, 3 and 7. Other suites
 * go to `fallback` (pass ts-mls's defaultCryptoProvider); without one they are rejected.
 * Its calls block the event loop while they run: tens of microseconds each, a few milliseconds for P-384.
 */
export function createNodeCryptoProvider(fallback?: CryptoProvider, options: NodeCryptoProviderOptions = {}): CryptoProvider {
  const randomBytes = options.randomBytes ?? csprng;
  const rng: Rng = { randomBytes };
  const kems = makeKems(randomBytes);
  const signatures = makeSignatures(randomBytes);
  const makeImpl = (cs: Ciphersuite): CiphersuiteImpl | undefined => {
    const kem = kems[cs.hpke.kem];
    const signature = signatures[cs.signature];
    if (kem === undefined || signature === undefined) return undefined;
    const kdf = KDFS[cs.hpke.kdf];
    return {
      hash: makeHash(HASHES[cs.hash]),
      hpke: makeHpke(kem, kdf, AEADS[cs.hpke.aead]),
      signature,
      kdf: makeKdf(kdf),
      rng,
      name: cs.name,
    };
  };
  return {
    async getCiphersuiteImpl(cs) {
      const impl = makeImpl(cs);
      if (impl !== undefined) return impl;
      // Post-quantum suites 79-88: lattice parts from @noble/post-quantum, the rest native (node-crypto/pq.ts).
      if (isPqSuite(cs)) return makePqImpl(cs, randomBytes, options.randomBytes !== undefined, signatures.Ed25519!);
      if (fallback !== undefined) return fallback.getCiphersuiteImpl(cs);
      throw new Error(
        `the node:crypto MLS provider does not implement ciphersuite ${cs.name} (it covers suites 1, 2, 3 and 7); ` +
          "pass ts-mls's defaultCryptoProvider to createNodeCryptoProvider() as a fallback",
      );
    },
  };
}

/** The node:crypto provider without a fallback: unsupported suites are rejected with an Error. */
export const nodeCryptoProvider: CryptoProvider = createNodeCryptoProvider();
