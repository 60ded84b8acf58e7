// Suites this build runs with ts-mls, the crypto provider behind them, and the ts-mls client configuration.

import {
  ciphersuites,
  defaultAuthenticationService,
  defaultCryptoProvider,
  defaultKeyPackageEqualityConfig,
  defaultKeyRetentionConfig,
  defaultLifetimeConfig,
  defaultPaddingConfig,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  nobleCryptoProvider,
} from "ts-mls";
import { randomBytes } from "node:crypto";
import type { AuthenticationService, Capabilities, CiphersuiteImpl, CiphersuiteName, ClientConfig, CryptoProvider } from "ts-mls";
import { mlsTlsError } from "../errors.js";
import { suiteById, SUITES } from "../suites.js";
import type { SignatureScheme } from "./keys.js";
import { errorText } from "../util/bytes.js";
import { createNodeCryptoProvider } from "./crypto-node.js";
import { checkPostQuantumSuites } from "./pq.js";
import { MLSTLS_EXTENSION_TYPES } from "./extensions.js";

// ---------------------------------------------------------------------------------------------------------------
// Suites, crypto provider, client config

export interface SuiteInfo {
  readonly id: number;
  readonly name: CiphersuiteName;
  readonly scheme: SignatureScheme;
}

const RUNNABLE_SCHEMES: ReadonlySet<string> = new Set<SignatureScheme>(["Ed25519", "P256", "P384", "ML-DSA-87"]);

/**
 * The suites of lib/suites.ts this layer runs: those marked `mlsSupported` whose signature scheme the key code
 * covers and whose name ts-mls knows under the same code point.
 */
export const SUITE_INFO: ReadonlyMap<number, SuiteInfo> = new Map(
  SUITES.flatMap((params) => {
    const name = params.name as CiphersuiteName;
    const scheme = params.signature.mlsName;
    if (!params.mlsSupported || !RUNNABLE_SCHEMES.has(scheme) || ciphersuites[name] !== params.id) return [];
    return [[params.id, { id: params.id, name, scheme: scheme as SignatureScheme }] as const];
  }),
);

/** MLS ciphersuites this module can run, in ascending order. */
export const MLS_SESSION_SUITES: readonly number[] = Object.freeze([...SUITE_INFO.keys()]);

export function suiteInfo(suite: number): SuiteInfo {
  const info = SUITE_INFO.get(suite);
  if (info === undefined) throw new TypeError(`unsupported MLS ciphersuite: ${suite}`);
  return info;
}

export function suiteIdOfName(name: CiphersuiteName): number | undefined {
  const id: number = ciphersuites[name];
  return SUITE_INFO.has(id) ? id : undefined;
}

export function describeSuite(id: number): string {
  const p = suiteById(id);
  return p === undefined ? `0x${id.toString(16).padStart(4, "0")}` : `${p.name} (${id})`;
}

export type MlsCryptoProviderName = "node" | "default" | "noble";

export interface MlsCryptoOptions {
  /**
   * "node" (node:crypto, synchronous and about 5x faster than the others; suites it does not cover fall back to
   * "default"), "default" (ts-mls's WebCrypto provider) or "noble" (the portable reference). Sessions made with
   * one provider work with another: they interoperate on the wire and in state.
   */
  provider?: MlsCryptoProviderName;
  /**
   * Every random byte MLS uses: signature and HPKE keys, group ids, anonymous identities, ts-mls's own secrets.
   * Default: node:crypto's CSPRNG. A seeded generator makes the MLS side of a connection reproducible (tests
   * that replay one); only the "node" provider draws all of its randomness from here, and its ECDSA signatures
   * still take their nonces from OpenSSL, so byte-for-byte replay needs an Ed25519 suite (1 or 3). Never in
   * production.
   */
  randomBytes?: (n: number) => Uint8Array;
  /**
   * The clock (ms since the epoch) for the lifetimes of our KeyPackages and the check of the peer's. Default:
   * Date.now. ts-mls checks lifetimes again on its own clock, so a fixed time must be near the real one.
   */
  now?: () => number;
}

function csprng(n: number): Uint8Array {
  return new Uint8Array(randomBytes(n));
}

/**
 * The cryptography one engine's MLS operations use: a provider, its random source and clock. Passed down from
 * ConnectionOptions.mlsCrypto to every MLS call, so engines in one process can use different providers (no
 * process-wide switch). Opaque: no ts-mls type appears in its declaration.
 */
export class MlsCrypto {
  readonly randomBytes: (n: number) => Uint8Array;
  /** Whether randomBytes was injected (then even key generation draws on it). */
  readonly injectedRandom: boolean;
  readonly now: () => number;
  readonly #provider: CryptoProvider;
  // getCiphersuiteImpl builds closures and may import modules: once per suite is enough.
  readonly #impls = new Map<number, Promise<CiphersuiteImpl>>();

  constructor(options: MlsCryptoOptions = {}) {
    this.randomBytes = options.randomBytes ?? csprng;
    this.injectedRandom = options.randomBytes !== undefined;
    this.now = options.now ?? Date.now;
    const injected = options.randomBytes === undefined ? undefined : { randomBytes: options.randomBytes };
    switch (options.provider ?? "node") {
      case "node":
        this.#provider = createNodeCryptoProvider(defaultCryptoProvider, injected);
        break;
      case "default":
        this.#provider = defaultCryptoProvider;
        break;
      case "noble":
        this.#provider = nobleCryptoProvider;
        break;
      default:
        throw new TypeError(`unknown MLS crypto provider ${String(options.provider)}`);
    }
  }

  static #impl(crypto: MlsCrypto, suite: number): Promise<CiphersuiteImpl> {
    let p = crypto.#impls.get(suite);
    if (p === undefined) {
      const info = suiteInfo(suite);
      const rng = !crypto.injectedRandom ? undefined : { randomBytes: crypto.randomBytes };
      p = (async () => {
        checkPostQuantumSuites([suite]); // a missing optional package: ERR_MLSTLS_PQ_UNAVAILABLE, saying what to install
        const impl = await getCiphersuiteImpl(getCiphersuiteFromName(info.name), crypto.#provider);
        return rng === undefined ? impl : { ...impl, rng };
      })().catch((e: unknown) => {
        // A failed load (e.g. a missing optional peer package) must not be cached forever.
        crypto.#impls.delete(suite);
        if ((e as { code?: unknown }).code === "ERR_MLSTLS_PQ_UNAVAILABLE") throw e;
        throw mlsTlsError("ERR_MLSTLS_INTERNAL", `MLS ciphersuite ${describeSuite(suite)} is unavailable: ${errorText(e)}`, { cause: e });
      });
      crypto.#impls.set(suite, p);
    }
    return p;
  }

  /** For lib/mls/ only (reached as MlsCrypto["impl"], so the declaration shows no ts-mls type). */
  private static impl(crypto: MlsCrypto, suite: number): Promise<CiphersuiteImpl> {
    return MlsCrypto.#impl(crypto, suite);
  }
}

/** What every MLS call uses unless given another: node:crypto, its CSPRNG, Date.now. */
export const DEFAULT_MLS_CRYPTO = new MlsCrypto();

export function getImpl(suite: number, crypto: MlsCrypto = DEFAULT_MLS_CRYPTO): Promise<CiphersuiteImpl> {
  return MlsCrypto["impl"](crypto, suite);
}

/**
 * One epoch of old receiver data is what ts-mls keeps at minimum; we drop even that after every transition
 * (see ownSecrets), because MLS here never carries application messages that could arrive late.
 */
export const baseConfig: ClientConfig = Object.freeze({
  keyRetentionConfig: { ...defaultKeyRetentionConfig, retainKeysForEpochs: 1 },
  lifetimeConfig: defaultLifetimeConfig,
  keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
  paddingConfig: defaultPaddingConfig,
  authService: defaultAuthenticationService,
});

export function configWith(authService: AuthenticationService): ClientConfig {
  return { ...baseConfig, authService };
}

/** Both roles list the private extension types, so GroupContext/KeyPackage use of them is legal (RFC 9420 §13). */
export function capabilities(): Capabilities {
  return {
    versions: ["mls10"],
    ciphersuites: [...SUITE_INFO.values()].map((s) => s.name),
    extensions: [MLSTLS_EXTENSION_TYPES.serverName, MLSTLS_EXTENSION_TYPES.alpnOffer, MLSTLS_EXTENSION_TYPES.alpnSelected],
    proposals: [],
    credentials: ["basic", "x509"],
  };
}
