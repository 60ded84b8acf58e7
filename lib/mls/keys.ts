// Signature keys: generation, and checking and normalising key pairs the application brings.

import { generateKeyPairSync, randomBytes } from "node:crypto";
import { ed25519 } from "@noble/curves/ed25519.js";
import { p256, p384 } from "@noble/curves/nist.js";
import { bytesEqual, copyBytes } from "../util/bytes.js";
import { fromMlsCredential, toMlsCredential } from "./credentials.js";
import type { CredentialInfo, LocalIdentity } from "./credentials.js";
import { suiteInfo } from "./provider.js";
import type { SignatureScheme } from "./provider.js";

// PKCS#8 wrapping of an Ed25519 seed (RFC 8410): the default ts-mls provider stores this form.
export const ED25519_PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);

export function derivePublicKey(scheme: SignatureScheme, privateKey: Uint8Array, compressed = false): Uint8Array {
  switch (scheme) {
    case "Ed25519":
      return ed25519.getPublicKey(privateKey);
    case "P256":
      return p256.getPublicKey(privateKey, compressed);
    case "P384":
      return p384.getPublicKey(privateKey, compressed);
  }
}

/** A fresh key pair from node:crypto: about 5x cheaper than noble's, and every anonymous client pays it. */
export function freshKeyPair(scheme: SignatureScheme): { publicKey: Uint8Array; privateKey: Uint8Array } {
  const jwkBytes = (v: string | undefined): Uint8Array => new Uint8Array(Buffer.from(v ?? "", "base64url"));
  if (scheme === "Ed25519") {
    const jwk = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
    return { publicKey: jwkBytes(jwk.x), privateKey: jwkBytes(jwk.d) };
  }
  const size = scheme === "P256" ? 32 : 48;
  const jwk = generateKeyPairSync("ec", { namedCurve: scheme === "P256" ? "P-256" : "P-384" }).privateKey.export({ format: "jwk" });
  // JWK coordinates and scalars are fixed-width big-endian (RFC 7518 §6.2.1), so no padding is needed.
  const publicKey = new Uint8Array(1 + 2 * size);
  publicKey[0] = 0x04;
  publicKey.set(jwkBytes(jwk.x), 1);
  publicKey.set(jwkBytes(jwk.y), 1 + size);
  return { publicKey, privateKey: jwkBytes(jwk.d) };
}

/** Generates a fresh signature key pair for `suite` and wraps it with a credential. */
export async function generateIdentity(suite: number, credential?: CredentialInfo): Promise<LocalIdentity> {
  const { scheme } = suiteInfo(suite);
  const { publicKey, privateKey } = freshKeyPair(scheme);
  const cred = credential ?? { type: "basic", identity: new Uint8Array(randomBytes(16)) };
  return {
    suite,
    credential: fromMlsCredential(toMlsCredential(cred))!,
    signaturePublicKey: publicKey,
    signaturePrivateKey: privateKey,
  };
}

/**
 * Wraps an existing key pair (e.g. the key of an X.509 certificate). Expected encodings:
 * - suites 1 and 3 (Ed25519): private key = 32-byte seed (RFC 8032), or its 48-byte PKCS#8 DER form;
 *   public key = 32 bytes.
 * - suite 2 (ECDSA P-256): private key = 32-byte big-endian scalar; public key = SEC1 point, uncompressed
 *   (65 bytes) or compressed (33 bytes).
 * - suite 7 (ECDSA P-384): private key = 48-byte big-endian scalar; public key = SEC1 point, 97 or 49 bytes.
 * The public key must belong to the private key. The result holds canonical forms (seed; uncompressed point).
 */
export function identityFromKeys(
  suite: number,
  credential: CredentialInfo,
  signaturePublicKey: Uint8Array,
  signaturePrivateKey: Uint8Array,
): LocalIdentity {
  const { scheme } = suiteInfo(suite);
  let priv = signaturePrivateKey;
  if (scheme === "Ed25519" && priv.length === 48 && bytesEqual(priv.subarray(0, 16), ED25519_PKCS8_PREFIX)) {
    priv = priv.subarray(16);
  }
  const expectedLen = scheme === "P384" ? 48 : 32;
  if (priv.length !== expectedLen) {
    throw new TypeError(`${scheme} private key must be ${expectedLen} bytes, got ${signaturePrivateKey.length}`);
  }
  if (scheme !== "Ed25519" && !(scheme === "P256" ? p256 : p384).utils.isValidSecretKey(priv)) {
    throw new TypeError(`invalid ${scheme} private key`);
  }
  const canonical = derivePublicKey(scheme, priv);
  const matches =
    bytesEqual(canonical, signaturePublicKey) ||
    (scheme !== "Ed25519" && bytesEqual(derivePublicKey(scheme, priv, true), signaturePublicKey));
  if (!matches) throw new TypeError("signature public key does not match the private key");
  return {
    suite,
    credential: fromMlsCredential(toMlsCredential(credential))!,
    signaturePublicKey: canonical,
    signaturePrivateKey: copyBytes(priv),
  };
}
