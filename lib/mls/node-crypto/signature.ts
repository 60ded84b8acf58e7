// Signatures on node:crypto, in ts-mls's Signature shape. Encodings follow ts-mls's default provider: Ed25519
// raw; ECDSA DER over the suite's hash, high S allowed; private keys are the raw seed or scalar. ECDSA public keys
// we generate are uncompressed as RFC 9420 §5.1.1 requires; ts-mls's providers emit compressed ones, which we
// accept.

import { createHash, createHmac, randomBytes, sign as nodeSign, verify as nodeVerify, type KeyObject } from "node:crypto";
import type { Signature, SignatureAlgorithm } from "ts-mls";
import { toBase64url } from "../../util/bytes.js";
import { ecdhFor, ecGenerate, ecPrivateKey, ecPublicKey, ed25519Seed, okpPrivateKey, okpPublicBytes, okpPublicKey, P256, P384, type EcCurve } from "../keys.js";
import { fresh, SHA256, SHA384, type HashParams } from "./hash.js";


// ts-mls checks some signatures twice in one handshake (a KeyPackage's when it is inspected and again when it is
// added), and a verification costs ~0.1 ms, so recent successes are remembered, keyed by everything the result
// depends on. Public data only; failures are not kept.
export const VERIFIED_MAX = 256;
export const verified = new Map<string, true>();

/** `check` (a signature verification) through the cache of recent successes. */
export function verifyOnce(
  alg: string,
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
  check: () => boolean,
): boolean {
  const id = verifiedId(alg, publicKey, message, signature);
  if (verified.has(id)) return true;
  const ok = check();
  if (ok) remember(id);
  return ok;
}

function verifiedId(alg: string, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): string {
  return `${alg} ${toBase64url(publicKey)} ${toBase64url(signature)} ${createHash("sha256").update(message).digest("base64url")}`;
}

function remember(id: string): void {
  if (verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value!);
  verified.set(id, true);
}

// A signature we just made verifies under our own public key (both derived from the one private KeyObject): it is
// remembered as a success, so that ts-mls checking our own leaf again (the joiner validates every leaf of the
// ratchet tree, its own included) costs no verification. Only the exact bytes we signed hit this entry; anything
// the peer changed is verified as before.
const ownPublic = new WeakMap<KeyObject, Uint8Array>();
function rememberOwn(alg: string, key: KeyObject, derive: (key: KeyObject) => Uint8Array, message: Uint8Array, signature: Uint8Array): void {
  let pub = ownPublic.get(key);
  if (pub === undefined) ownPublic.set(key, (pub = derive(key)));
  remember(verifiedId(alg, pub, message, signature));
}

// KeyObjects, imported once per key rather than once per signature (a JWK import costs about as much as an
// Ed25519 signature, and a handshake signs up to four times with one identity key, through several copies of it).
// Signature private keys are identity keys, long-lived; they are looked up by an HMAC of the key under a key
// drawn once per process, so no secret (nor a plain hash of one) becomes a map key, and the entry is found again
// from any copy of the bytes. At most PRIVATE_KEYS_MAX keys are held, least recently used out first.
export const PRIVATE_KEYS_MAX = 64;
const privateKeys = new Map<string, KeyObject>();
const cacheKey = randomBytes(32);

export function cachedPrivateKey(alg: string, signKey: Uint8Array, load: () => KeyObject): KeyObject {
  const id = createHmac("sha256", cacheKey).update(alg).update(signKey).digest("base64");
  let key = privateKeys.get(id);
  if (key !== undefined) {
    privateKeys.delete(id);
  } else {
    key = load();
    if (privateKeys.size >= PRIVATE_KEYS_MAX) privateKeys.delete(privateKeys.keys().next().value!);
  }
  privateKeys.set(id, key);
  return key;
}

export const PUBLIC_KEYS_MAX = 256;
const publicKeys = new Map<string, KeyObject>();

export function cachedPublicKey(alg: string, publicKey: Uint8Array, load: () => KeyObject): KeyObject {
  const id = `${alg} ${toBase64url(publicKey)}`;
  let key = publicKeys.get(id);
  if (key === undefined) {
    key = load();
    if (publicKeys.size >= PUBLIC_KEYS_MAX) publicKeys.delete(publicKeys.keys().next().value!);
    publicKeys.set(id, key);
  }
  return key;
}

/** Random bytes, as ts-mls's Rng gives them. */
export type RandomBytes = (n: number) => Uint8Array;

function ed25519(randomBytes: RandomBytes): Signature {
  return {
    async sign(signKey, message) {
      const key = cachedPrivateKey("Ed25519", ed25519Seed(signKey), () => okpPrivateKey("Ed25519", ed25519Seed(signKey)));
      const signature = fresh(nodeSign(null, message, key));
      rememberOwn("Ed25519", key, okpPublicBytes, message, signature);
      return signature;
    },
    async verify(publicKey, message, signature) {
      if (publicKey.length !== 32 || signature.length !== 64) return false;
      try {
        return verifyOnce("Ed25519", publicKey, message, signature, () =>
          nodeVerify(null, message, cachedPublicKey("Ed25519", publicKey, () => okpPublicKey("Ed25519", publicKey)), signature),
        );
      } catch {
        return false;
      }
    },
    async keygen() {
      // A seed rather than PKCS#8: both ts-mls providers can sign with a seed.
      const signKey = randomBytes(32);
      return { signKey, publicKey: okpPublicBytes(okpPrivateKey("Ed25519", signKey)) };
    },
  };
}

function ecdsa(curve: EcCurve, hash: HashParams, randomBytes: RandomBytes): Signature {
  return {
    async sign(signKey, message) {
      const key = cachedPrivateKey(curve.jwkCrv, signKey, () => ecPrivateKey(curve, signKey));
      const signature = fresh(nodeSign(hash.name, message, { key, dsaEncoding: "der" }));
      // Our public keys are uncompressed points (ecGenerate), as the leaves carry them.
      rememberOwn(curve.jwkCrv, key, () => ecdhFor(curve, signKey).getPublicKey(), message, signature);
      return signature;
    },
    async verify(publicKey, message, signature) {
      try {
        return verifyOnce(curve.jwkCrv, publicKey, message, signature, () =>
          nodeVerify(hash.name, message, { key: cachedPublicKey(curve.jwkCrv, publicKey, () => ecPublicKey(curve, publicKey)), dsaEncoding: "der" }, signature),
        );
      } catch {
        return false;
      }
    },
    async keygen() {
      const { d, pub } = ecGenerate(curve, randomBytes);
      return { signKey: d, publicKey: pub };
    },
  };
}

/** The signature algorithms this provider implements, with key generation drawing on `randomBytes`. */
export function makeSignatures(randomBytes: RandomBytes): Partial<Record<SignatureAlgorithm, Signature>> {
  return {
    Ed25519: ed25519(randomBytes),
    P256: ecdsa(P256, SHA256, randomBytes),
    P384: ecdsa(P384, SHA384, randomBytes),
  };
}

/** Whether this provider implements the signature algorithm. */
export function signatureSupported(alg: SignatureAlgorithm): boolean {
  return alg === "Ed25519" || alg === "P256" || alg === "P384";
}

