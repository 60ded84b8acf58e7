// The MLS layer's public API: everything above lib/mls/ imports MLS through this file. lib/mls/ is the only
// folder that imports ts-mls; every name here is our own type, so an upgrade of ts-mls stays inside the folder,
// and every ts-mls failure is translated into an MlsTlsError before it leaves it.

export type { BasicCredentialInfo, CredentialInfo, CredentialValidator, LocalIdentity, PeerCredential, X509CredentialInfo } from "./credentials.js";
export { MLSTLS_EXTENSION_TYPES } from "./extensions.js";
export type { HelloExtensions } from "./extensions.js";
export { acceptKeyPackage, createKeyPackage, inspectKeyPackage, joinFromWelcome, peekServerName } from "./handshake.js";
export { peekKeyPackageSuite } from "./state.js";
export type { OfferedKeyPackage, PendingJoin } from "./handshake.js";
export { anonymousIdentity, generateIdentity, identityFromKeys } from "./credentials.js";
export { rawKeysOf, signingKeyObject } from "./keys.js";
export { DEFAULT_MLS_CRYPTO, MLS_SESSION_SUITES, MlsCrypto } from "./provider.js";
export { checkPostQuantumSuites, mldsaGenerate } from "./pq.js";
export type { MlsCryptoOptions, MlsCryptoProviderName } from "./provider.js";
export { MlsSession } from "./session.js";
export type { PendingUpdate, ProcessUpdatePolicy } from "./session.js";
