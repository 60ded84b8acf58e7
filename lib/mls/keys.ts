// Signature and key-agreement keys as raw bytes and as node:crypto KeyObjects: the one conversion between the
// two (through JWK, which node imports about 10x faster than PKCS#8/SPKI DER), key generation, and the checks
// of key pairs that applications bring.
//
// Raw forms, as MLS uses them: an Ed25519/X25519 private key is its 32-byte seed (RFC 8032, RFC 7748), an ECDSA
// or ECDH private key the fixed-width big-endian scalar; a public key is 32 raw bytes (Ed25519, X25519) or the
// uncompressed SEC1 point 0x04 || X || Y (P-256, P-384).

import { createECDH, createPrivateKey, createPublicKey, ECDH, generateKeyPairSync, type KeyObject } from "node:crypto";
import { ed25519 } from "@noble/curves/ed25519.js";
import { p256, p384 } from "@noble/curves/nist.js";
import { bytesEqual, concat, copyBytes, fromBase64url, toBase64url } from "../util/bytes.js";
import { MLDSA87_PUBLIC_LENGTH, mldsaCanonicalKeyPair, mldsaGenerate } from "./pq.js";

/** The signature algorithms this build runs, by their RFC 9420 / ts-mls names. */
export type SignatureScheme = "Ed25519" | "P256" | "P384" | "ML-DSA-87";

// ---------------------------------------------------------------------------------------------------------------
// KeyObject -> raw

/** Raw key bytes of a KeyObject: the seed or scalar (private keys only) and the canonical public key. */
export function rawKeysOf(key: KeyObject): { privateKey?: Uint8Array; publicKey: Uint8Array } {
  const jwk = key.export({ format: "jwk" });
  const b = (s: string | undefined) => (s === undefined ? undefined : fromBase64url(s));
  if (jwk.kty === "OKP") return { privateKey: b(jwk.d), publicKey: b(jwk.x) ?? new Uint8Array(0) };
  // JWK coordinates and scalars are fixed-width big-endian (RFC 7518 §6.2.1), so no padding is needed.
  return { privateKey: b(jwk.d), publicKey: concat(Uint8Array.of(0x04), b(jwk.x) ?? new Uint8Array(0), b(jwk.y) ?? new Uint8Array(0)) };
}

// ---------------------------------------------------------------------------------------------------------------
// raw -> KeyObject

export type OkpCurve = "Ed25519" | "X25519";

/** RFC 8410 PKCS#8 header for a 32-byte OKP private key; the seed follows it. */
export const PKCS8_PREFIX: Record<OkpCurve, Uint8Array> = {
  Ed25519: Uint8Array.from(Buffer.from("302e020100300506032b657004220420", "hex")),
  X25519: Uint8Array.from(Buffer.from("302e020100300506032b656e04220420", "hex")),
};

export function okpPrivateKey(crv: OkpCurve, seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new RangeError(`${crv} private key must be 32 bytes`);
  try {
    // node builds an OKP private key from `d` alone but insists `x` is a string; the public half
    // is what we are about to derive, so an empty one is passed.
    return createPrivateKey({ key: { kty: "OKP", crv, d: toBase64url(seed), x: "" }, format: "jwk" });
  } catch {
    // Should a node release start checking `x`, stay correct on the slow path.
    return createPrivateKey({ key: Buffer.from(concat(PKCS8_PREFIX[crv], seed)), format: "der", type: "pkcs8" });
  }
}

export function okpPublicKey(crv: OkpCurve, pub: Uint8Array): KeyObject {
  if (pub.length !== 32) throw new RangeError(`${crv} public key must be 32 bytes`);
  return createPublicKey({ key: { kty: "OKP", crv, x: toBase64url(pub) }, format: "jwk" });
}

export function okpPublicBytes(privateKey: KeyObject): Uint8Array {
  return rawKeysOf(createPublicKey(privateKey)).publicKey;
}

/** ts-mls's providers keep Ed25519 keys as 48-byte PKCS#8 where WebCrypto exists, else as 32-byte seeds. */
export function ed25519Seed(signKey: Uint8Array): Uint8Array {
  if (signKey.length === 32) return signKey;
  if (signKey.length === 48 && bytesEqual(signKey.subarray(0, 16), PKCS8_PREFIX.Ed25519)) return signKey.subarray(16);
  throw new RangeError("Ed25519 signing key must be a 32-byte seed or a 48-byte PKCS#8 key");
}

export interface EcCurve {
  readonly ecdhName: "prime256v1" | "secp384r1";
  readonly jwkCrv: "P-256" | "P-384";
  /** Field and scalar size in bytes. */
  readonly size: number;
  /** Group order, big-endian, for rejection sampling of scalars (RFC 9180 DeriveKeyPair). */
  readonly order: Uint8Array;
}

export const P256: EcCurve = {
  ecdhName: "prime256v1",
  jwkCrv: "P-256",
  size: 32,
  order: Uint8Array.from(Buffer.from("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", "hex")),
};
export const P384: EcCurve = {
  ecdhName: "secp384r1",
  jwkCrv: "P-384",
  size: 48,
  order: Uint8Array.from(
    Buffer.from(
      "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973",
      "hex",
    ),
  ),
};

/** Whether a big-endian scalar of the curve's width is in [1, order - 1]. */
export function isValidScalar(curve: EcCurve, candidate: Uint8Array): boolean {
  if (candidate.length !== curve.size || candidate.every((b) => b === 0)) return false;
  for (let i = 0; i < candidate.length; i++) {
    if (candidate[i] !== curve.order[i]) return candidate[i]! < curve.order[i]!;
  }
  return false;
}

/** An ECDH handle holding `d`; setPrivateKey rejects 0 and values >= the group order. */
export function ecdhFor(curve: EcCurve, d: Uint8Array): ECDH {
  if (d.length !== curve.size) throw new RangeError(`${curve.jwkCrv} private key must be ${curve.size} bytes`);
  const ecdh = createECDH(curve.ecdhName);
  ecdh.setPrivateKey(d);
  return ecdh;
}

/** Uncompressed SEC1 point; compressed input is accepted because ts-mls's providers (noble) emit it. */
export function ecUncompressed(curve: EcCurve, point: Uint8Array): Uint8Array {
  if (point.length === 1 + 2 * curve.size && point[0] === 0x04) return point;
  if (point.length === 1 + curve.size && (point[0] === 0x02 || point[0] === 0x03)) {
    return ECDH.convertKey(point, curve.ecdhName, undefined, undefined, "uncompressed") as Buffer;
  }
  throw new RangeError(`not a ${curve.jwkCrv} SEC1 point`);
}

function ecJwkCoordinates(curve: EcCurve, uncompressed: Uint8Array): { x: string; y: string } {
  return {
    x: toBase64url(uncompressed.subarray(1, 1 + curve.size)),
    y: toBase64url(uncompressed.subarray(1 + curve.size)),
  };
}

export function ecPrivateKey(curve: EcCurve, d: Uint8Array): KeyObject {
  const pub = ecdhFor(curve, d).getPublicKey();
  return createPrivateKey({
    key: { kty: "EC", crv: curve.jwkCrv, d: toBase64url(d), ...ecJwkCoordinates(curve, pub) },
    format: "jwk",
  });
}

export function ecPublicKey(curve: EcCurve, point: Uint8Array): KeyObject {
  return createPublicKey({
    key: { kty: "EC", crv: curve.jwkCrv, ...ecJwkCoordinates(curve, ecUncompressed(curve, point)) },
    format: "jwk",
  });
}

/** A fresh scalar from `randomBytes` by rejection sampling, and its ECDH handle. */
export function ecGenerate(curve: EcCurve, randomBytes: (n: number) => Uint8Array): { d: Uint8Array; pub: Uint8Array; ecdh: ECDH } {
  for (;;) {
    const d = randomBytes(curve.size);
    if (!isValidScalar(curve, d)) continue;
    const ecdh = ecdhFor(curve, d);
    return { d, pub: copyBytes(ecdh.getPublicKey()), ecdh };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Signature key pairs

function derivePublicKey(scheme: Exclude<SignatureScheme, "ML-DSA-87">, privateKey: Uint8Array, compressed = false): Uint8Array {
  switch (scheme) {
    case "Ed25519":
      return ed25519.getPublicKey(privateKey);
    case "P256":
      return p256.getPublicKey(privateKey, compressed);
    case "P384":
      return p384.getPublicKey(privateKey, compressed);
  }
}

/**
 * A fresh signature key pair in canonical form. With no `randomBytes`, node:crypto generates it: about 5x
 * cheaper than noble's, and every anonymous client pays it. With `randomBytes`, the key derives from its output
 * (deterministic tests).
 */
export function freshKeyPair(scheme: SignatureScheme, randomBytes?: (n: number) => Uint8Array): { publicKey: Uint8Array; privateKey: Uint8Array } {
  if (scheme === "ML-DSA-87") return mldsaGenerate(randomBytes); // lib/mls/pq.ts
  if (randomBytes !== undefined) {
    if (scheme === "Ed25519") {
      const privateKey = randomBytes(32);
      return { privateKey, publicKey: derivePublicKey(scheme, privateKey) };
    }
    const { d, pub } = ecGenerate(scheme === "P256" ? P256 : P384, randomBytes);
    return { privateKey: d, publicKey: pub };
  }
  const pair =
    scheme === "Ed25519"
      ? generateKeyPairSync("ed25519")
      : generateKeyPairSync("ec", { namedCurve: scheme === "P256" ? "P-256" : "P-384" });
  const raw = rawKeysOf(pair.privateKey);
  return { publicKey: raw.publicKey, privateKey: raw.privateKey! };
}

/**
 * Checks that a key pair belongs together and returns it in canonical form (seed or scalar; uncompressed point).
 * Accepts an Ed25519 private key as 48-byte PKCS#8 DER and an ECDSA public key as a compressed point.
 */
export function canonicalKeyPair(scheme: SignatureScheme, publicKey: Uint8Array, privateKey: Uint8Array): { publicKey: Uint8Array; privateKey: Uint8Array } {
  if (scheme === "ML-DSA-87") return mldsaCanonicalKeyPair(publicKey, privateKey); // lib/mls/pq.ts
  let priv = privateKey;
  if (scheme === "Ed25519" && priv.length === 48 && bytesEqual(priv.subarray(0, 16), PKCS8_PREFIX.Ed25519)) {
    priv = priv.subarray(16);
  }
  const expectedLen = scheme === "P384" ? 48 : 32;
  if (priv.length !== expectedLen) {
    throw new TypeError(`${scheme} private key must be ${expectedLen} bytes, got ${privateKey.length}`);
  }
  if (scheme !== "Ed25519" && !(scheme === "P256" ? p256 : p384).utils.isValidSecretKey(priv)) {
    throw new TypeError(`invalid ${scheme} private key`);
  }
  const canonical = derivePublicKey(scheme, priv);
  const matches =
    bytesEqual(canonical, publicKey) || (scheme !== "Ed25519" && bytesEqual(derivePublicKey(scheme, priv, true), publicKey));
  if (!matches) throw new TypeError("signature public key does not match the private key");
  return { publicKey: canonical, privateKey: copyBytes(priv) };
}

/** Whether `key` is the canonical public key of `scheme` (see PeerCredential). */
export function isCanonicalPublicKey(scheme: SignatureScheme, key: Uint8Array): boolean {
  switch (scheme) {
    case "Ed25519":
      return key.length === 32;
    case "P256":
      return key.length === 65 && key[0] === 0x04;
    case "P384":
      return key.length === 97 && key[0] === 0x04;
    case "ML-DSA-87":
      return key.length === MLDSA87_PUBLIC_LENGTH;
  }
}

/**
 * A node:crypto private KeyObject for an MLS signature key (Ed25519 seed, or a P-256/P-384 scalar), e.g. for signing
 * something outside MLS with the same key; undefined for other schemes.
 */
export function signingKeyObject(scheme: SignatureScheme, privateKey: Uint8Array): KeyObject | undefined {
  if (scheme === "Ed25519") return okpPrivateKey("Ed25519", ed25519Seed(privateKey));
  if (scheme === "P256") return ecPrivateKey(P256, privateKey);
  if (scheme === "P384") return ecPrivateKey(P384, privateKey);
  return undefined;
}
