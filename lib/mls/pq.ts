// Post-quantum suites (PROTOCOL.md, "Post-quantum suites"): the optional package behind them, loaded only when a
// post-quantum suite is used, and the ML-DSA-87 key handling that lib/mls/keys.ts delegates here.
//
// The node:crypto provider takes ML-KEM and ML-DSA from @noble/post-quantum (exact pin 0.5.2, the version ts-mls
// 1.6.4 declares) and does everything classical (X25519, SHA-3, HKDF, AES-GCM, ChaCha20-Poly1305) natively.
// ts-mls's own providers ("default", "noble") need @hpke/hybridkem-x-wing and @hpke/ml-kem as well.
//
// The package is loaded synchronously through require(), which loads ES modules from Node 20.19 on; that is
// also the oldest Node @noble/post-quantum supports. So createIdentity({ suite: 87 }) can stay synchronous.

import { createHash, randomFillSync } from "node:crypto";
import { createRequire } from "node:module";
import { join } from "node:path";
import { mlsTlsError } from "../errors.js";
import { suiteById } from "../suites.js";
import { bytesEqual, copyBytes, errorText } from "../util/bytes.js";

/** The package the node:crypto provider needs for post-quantum suites, with the version mlstls is tested with. */
export const PQ_PACKAGE = "@noble/post-quantum";
export const PQ_PACKAGE_VERSION = "0.5.2";
/** What ts-mls's own providers need in addition, per KEM. */
export const TS_MLS_PQ_PACKAGES = { xwing: "@hpke/hybridkem-x-wing@0.7.0", mlkem: "@hpke/ml-kem@0.3.0" } as const;

/** The parts of @noble/post-quantum we use (its own types are not imported: the package is optional). */
export interface NobleKem {
  keygen(seed?: Uint8Array): { publicKey: Uint8Array; secretKey: Uint8Array };
  encapsulate(publicKey: Uint8Array, msg?: Uint8Array): { cipherText: Uint8Array; sharedSecret: Uint8Array };
  decapsulate(cipherText: Uint8Array, secretKey: Uint8Array): Uint8Array;
}
export interface NobleDsa {
  keygen(seed?: Uint8Array): { publicKey: Uint8Array; secretKey: Uint8Array };
  sign(msg: Uint8Array, secretKey: Uint8Array, opts?: { extraEntropy?: Uint8Array | false }): Uint8Array;
  verify(sig: Uint8Array, msg: Uint8Array, publicKey: Uint8Array): boolean;
}
export interface PqModules {
  ml_kem768: NobleKem;
  ml_kem1024: NobleKem;
  ml_dsa87: NobleDsa;
}

type Loader = () => PqModules;

// The optional package is loaded synchronously. In the CommonJS build (what the package's entries load) this is
// node's own require, resolving from where mlstls is installed; the ES module build (tests, the CLI) has none and
// resolves from the working directory, where a peer dependency is installed too.
const requireHere: NodeJS.Require = typeof require === "function" ? require : createRequire(join(process.cwd(), "mlstls.cjs"));
const defaultLoader: Loader = () => {
  const kem = requireHere(`${PQ_PACKAGE}/ml-kem.js`) as { ml_kem768: NobleKem; ml_kem1024: NobleKem };
  const dsa = requireHere(`${PQ_PACKAGE}/ml-dsa.js`) as { ml_dsa87: NobleDsa };
  return { ml_kem768: kem.ml_kem768, ml_kem1024: kem.ml_kem1024, ml_dsa87: dsa.ml_dsa87 };
};

let loader: Loader = defaultLoader;
let loaded: PqModules | undefined;

/** Tests only: replace how the optional package is loaded (to simulate it missing); undefined restores it. */
export function setPqLoaderForTests(l: Loader | undefined): void {
  loader = l ?? defaultLoader;
  loaded = undefined;
}

function installHint(): string {
  return `npm install --save-exact ${PQ_PACKAGE}@${PQ_PACKAGE_VERSION}`;
}

/** The post-quantum primitives; throws ERR_MLSTLS_PQ_UNAVAILABLE, saying what to install, if they cannot load. */
export function pqModules(): PqModules {
  if (loaded !== undefined) return loaded;
  try {
    loaded = loader();
    return loaded;
  } catch (e) {
    const why = (e as { code?: string }).code === "ERR_REQUIRE_ESM" ? "this Node is older than 20.19, which post-quantum suites need" : errorText(e);
    throw mlsTlsError(
      "ERR_MLSTLS_PQ_UNAVAILABLE",
      `post-quantum MLS suites need the optional package ${PQ_PACKAGE}: ${installHint()} (${why})`,
      { cause: e },
    );
  }
}

/** Throws ERR_MLSTLS_PQ_UNAVAILABLE if any of `suites` is post-quantum and the package cannot be loaded. */
export function checkPostQuantumSuites(suites: readonly number[]): void {
  const pq = suites.filter((s) => suiteById(s)?.postQuantum === true);
  if (pq.length === 0) return;
  try {
    pqModules();
  } catch (e) {
    const names = pq.map((s) => suiteById(s)!.name).join(", ");
    throw mlsTlsError("ERR_MLSTLS_PQ_UNAVAILABLE", `${(e as Error).message}; needed for ${names}`, { cause: (e as Error).cause });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// ML-DSA-87 keys (FIPS 204). The private key is the expanded secret key (4896 bytes), the form ts-mls's default
// provider signs with and keeps in its state; a 32-byte seed is accepted as input and expanded.

export const MLDSA87_PUBLIC_LENGTH = 2592;
export const MLDSA87_SECRET_LENGTH = 4896;
const MLDSA87_SIGNATURE_LENGTH = 4627;

export function mldsaGenerate(randomBytes?: (n: number) => Uint8Array): { publicKey: Uint8Array; privateKey: Uint8Array } {
  const seed = randomBytes !== undefined ? copyBytes(randomBytes(32)) : randomFillSync(new Uint8Array(32));
  const { publicKey, secretKey } = pqModules().ml_dsa87.keygen(seed);
  seed.fill(0);
  return { publicKey: copyBytes(publicKey), privateKey: copyBytes(secretKey) };
}

/**
 * Checks an ML-DSA-87 key pair and returns it canonical (expanded secret key). An expanded key carries
 * tr = SHAKE256(publicKey, 64) (FIPS 204, skEncode), so the pair is checked without signing.
 */
export function mldsaCanonicalKeyPair(publicKey: Uint8Array, privateKey: Uint8Array): { publicKey: Uint8Array; privateKey: Uint8Array } {
  if (privateKey.length === 32) {
    const k = pqModules().ml_dsa87.keygen(privateKey);
    if (!bytesEqual(k.publicKey, publicKey)) throw new TypeError("signature public key does not match the private key");
    return { publicKey: copyBytes(k.publicKey), privateKey: copyBytes(k.secretKey) };
  }
  if (privateKey.length !== MLDSA87_SECRET_LENGTH) {
    throw new TypeError(`ML-DSA-87 private key must be a 32-byte seed or ${MLDSA87_SECRET_LENGTH} bytes, got ${privateKey.length}`);
  }
  if (publicKey.length !== MLDSA87_PUBLIC_LENGTH) throw new TypeError(`ML-DSA-87 public key must be ${MLDSA87_PUBLIC_LENGTH} bytes`);
  const tr = createHash("shake256", { outputLength: 64 }).update(publicKey).digest();
  const rho = privateKey.subarray(0, 32);
  if (!bytesEqual(tr, privateKey.subarray(64, 128)) || !bytesEqual(rho, publicKey.subarray(0, 32))) {
    throw new TypeError("signature public key does not match the private key");
  }
  return { publicKey: copyBytes(publicKey), privateKey: copyBytes(privateKey) };
}

/** Hedged ML-DSA signing; `randomBytes` supplies the 32 bytes of fresh randomness (FIPS 204 rnd). */
export function mldsaSign(secretKey: Uint8Array, message: Uint8Array, randomBytes?: (n: number) => Uint8Array): Uint8Array {
  const extraEntropy = randomBytes !== undefined ? randomBytes(32) : undefined;
  return copyBytes(pqModules().ml_dsa87.sign(message, secretKey, extraEntropy === undefined ? undefined : { extraEntropy }));
}

export function mldsaVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== MLDSA87_PUBLIC_LENGTH || signature.length !== MLDSA87_SIGNATURE_LENGTH) return false;
  try {
    return pqModules().ml_dsa87.verify(signature, message, publicKey);
  } catch {
    return false;
  }
}
