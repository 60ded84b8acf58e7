// The one place where the CLI reaches past the public API (lib/index.ts) into library internals.
// Everything else under lib/cli/ imports the public API from "../index.js" and internals only from here, so a
// restructuring of lib/ (e.g. into lib/protocol/, lib/mls/, lib/auth/) needs its import paths fixed here only.
//
// What the CLI needs and why:
// - the record layer's key derivation and AEADs, to decrypt captured records from key-log secrets (`decode`);
// - the MLS suite table, to know a suite's hash and AEAD from its code point;
// - the identity fingerprint of a credential the library never turned into an Identity (a KeyPackage seen in a
//   capture, or an X.509 chain on disk), computed exactly as pinning computes it.

export { trafficKeys, createAead, AEAD_TAG_LEN, type Aead } from "../protocol/index.js";
export { SUITES, suiteById, type SuiteParams } from "../suites.js";
export { fingerprintOf, fingerprint256Of, mlsPublicKeyOf } from "../auth/identity.js";
export type { PeerCredential, CredentialInfo } from "../mls/index.js";
