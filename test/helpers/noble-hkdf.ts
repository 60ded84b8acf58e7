// A reference HKDF (RFC 5869) and TLS 1.3 HKDF-Expand-Label on @noble/hashes, independent of OpenSSL, so the
// tests can cross-check lib/protocol/key-schedule.ts (which uses node:crypto). Test-only: lib/ never ships it.

import { extract as nobleExtract, expand as nobleExpand } from "@noble/hashes/hkdf.js";
import { sha256, sha384, sha512 } from "@noble/hashes/sha2.js";
import { encodeHkdfLabel, hashLength } from "../../lib/protocol/key-schedule.js";
import type { HashName } from "../../lib/suites.js";

const NOBLE_HASH = { sha256, sha384, sha512 } as const;

export function hkdfExtractNoble(hash: HashName, salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  return nobleExtract(NOBLE_HASH[hash], ikm, salt.length === 0 ? undefined : salt);
}

export function hkdfExpandNoble(hash: HashName, prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return nobleExpand(NOBLE_HASH[hash], prk, info, length);
}

export function hkdfExpandLabelNoble(
  hash: HashName,
  secret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
): Uint8Array {
  return hkdfExpandNoble(hash, secret, encodeHkdfLabel(label, context, length), length);
}

export function deriveSecretNoble(hash: HashName, secret: Uint8Array, label: string, messages: Uint8Array): Uint8Array {
  return hkdfExpandLabelNoble(hash, secret, label, NOBLE_HASH[hash](messages), hashLength(hash));
}
