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
import type { AuthenticationService, Capabilities, CiphersuiteImpl, CiphersuiteName, ClientConfig, CryptoProvider } from "ts-mls";
import { mlsTlsError } from "../errors.js";
import { suiteById, SUITES } from "../suites.js";
import type { SignatureScheme } from "./keys.js";
import { errorText } from "../util/bytes.js";
import { createNodeCryptoProvider } from "./crypto-node.js";
import { MLSTLS_EXTENSION_TYPES } from "./extensions.js";

// ---------------------------------------------------------------------------------------------------------------
// Suites, crypto provider, client config

export interface SuiteInfo {
  readonly id: number;
  readonly name: CiphersuiteName;
  readonly scheme: SignatureScheme;
}

const RUNNABLE_SCHEMES: ReadonlySet<string> = new Set<SignatureScheme>(["Ed25519", "P256", "P384"]);

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

// node:crypto is synchronous and about 5x faster than ts-mls's WebCrypto-based default (see
// mls-crypto-node.ts); suites it does not cover fall back to the default provider.
export const nodeProvider = createNodeCryptoProvider(defaultCryptoProvider);
export let cryptoProvider: CryptoProvider = nodeProvider;
// getCiphersuiteImpl builds closures and may import modules: once per suite is enough.
export const implCache = new Map<number, Promise<CiphersuiteImpl>>();

export type MlsCryptoProviderName = "node" | "default" | "noble";

/**
 * Selects the MLS crypto provider for every later operation: "node" (node:crypto, the default),
 * "default" (ts-mls's WebCrypto provider) or "noble" (the portable reference), or a ts-mls CryptoProvider.
 * Sessions made under one provider keep working under another: they interoperate on the wire and in state.
 */
export function setCryptoProvider(provider: MlsCryptoProviderName | CryptoProvider = "node"): void {
  cryptoProvider =
    provider === "node"
      ? nodeProvider
      : provider === "default"
        ? defaultCryptoProvider
        : provider === "noble"
          ? nobleCryptoProvider
          : provider;
  implCache.clear();
}

export function getImpl(suite: number): Promise<CiphersuiteImpl> {
  let p = implCache.get(suite);
  if (p === undefined) {
    const info = suiteInfo(suite);
    p = (async () => getCiphersuiteImpl(getCiphersuiteFromName(info.name), cryptoProvider))().catch((e: unknown) => {
      // A failed load (e.g. a missing optional peer package) must not be cached forever.
      implCache.delete(suite);
      throw mlsTlsError("ERR_MLSTLS_INTERNAL", `MLS ciphersuite ${describeSuite(suite)} is unavailable: ${errorText(e)}`, { cause: e });
    });
    implCache.set(suite, p);
  }
  return p;
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
