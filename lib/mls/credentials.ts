// Credentials: the public types for MLS credentials and identities, their conversion to and from ts-mls's,
// and the check that runs the application's validator wherever a peer credential enters a group.

import type { AuthenticationService, Credential, LeafNode } from "ts-mls";
import { MlsTlsError, mlsTlsError } from "../errors.js";
import type { LocalErrorCode } from "../errors.js";
import { bytesEqual, copyBytes, errorText, hex } from "../util/bytes.js";
import { canonicalKeyPair, freshKeyPair, isCanonicalPublicKey } from "./keys.js";
import type { SignatureScheme } from "./keys.js";
import { DEFAULT_MLS_CRYPTO, describeSuite, suiteInfo, type MlsCrypto } from "./provider.js";

// ---------------------------------------------------------------------------------------------------------------
// Public types

export interface BasicCredentialInfo {
  type: "basic";
  identity: Uint8Array;
}
export interface X509CredentialInfo {
  type: "x509";
  /** DER certificates, leaf first. */
  certificates: Uint8Array[];
}
export type CredentialInfo = BasicCredentialInfo | X509CredentialInfo;

/**
 * A credential as a peer presented it in MLS. `signaturePublicKey` is the key that signs the peer's leaf,
 * in the suite's canonical encoding: 32 raw bytes for Ed25519 (suites 1, 3), the uncompressed SEC1 point
 * (0x04 || X || Y) for ECDSA P-256 (suite 2, 65 bytes) and P-384 (suite 7, 97 bytes). Keys in any other
 * encoding are refused before a validator sees them, so validators can compare bytes.
 */
export interface PeerCredential {
  credential: CredentialInfo;
  signaturePublicKey: Uint8Array;
}

/**
 * Returns true to accept. Called for every credential the peer presents: its KeyPackage, the Welcome's
 * GroupInfo signer and tree leaves, and every UpdatePath leaf. Throwing refuses as well; an MlsTlsError
 * thrown here is passed on unchanged, anything else becomes ERR_MLSTLS_BAD_CREDENTIAL with it as `cause`.
 */
export type CredentialValidator = (peer: PeerCredential) => boolean | Promise<boolean>;

export interface LocalIdentity {
  /** The MLS ciphersuite the key was made for. Suites with the same signature scheme (1 and 3) share keys. */
  suite: number;
  credential: CredentialInfo;
  /** Canonical encoding, see PeerCredential. */
  signaturePublicKey: Uint8Array;
  /** 32-byte Ed25519 seed (RFC 8032), or the big-endian ECDSA scalar (32 bytes P-256, 48 bytes P-384). */
  signaturePrivateKey: Uint8Array;
}



export function toMlsCredential(c: CredentialInfo): Credential {
  if (c.type === "basic") return { credentialType: "basic", identity: copyBytes(c.identity) };
  if (c.type === "x509") return { credentialType: "x509", certificates: c.certificates.map(copyBytes) };
  throw new TypeError(`unsupported credential type: ${String((c as { type: unknown }).type)}`);
}

export function fromMlsCredential(c: Credential): CredentialInfo | undefined {
  if (c.credentialType === "basic") return { type: "basic", identity: copyBytes(c.identity) };
  if (c.credentialType === "x509") return { type: "x509", certificates: c.certificates.map(copyBytes) };
  return undefined;
}

export function credentialsEqual(a: CredentialInfo, b: CredentialInfo): boolean {
  if (a.type === "basic" && b.type === "basic") return bytesEqual(a.identity, b.identity);
  if (a.type === "x509" && b.type === "x509") {
    return a.certificates.length === b.certificates.length && a.certificates.every((c, i) => bytesEqual(c, b.certificates[i]!));
  }
  return false;
}

export function credentialKey(c: CredentialInfo, signaturePublicKey: Uint8Array): string {
  const body = c.type === "basic" ? hex(c.identity) : c.certificates.map(hex).join(".");
  return `${c.type}:${body}:${hex(signaturePublicKey)}`;
}

/** Generates a fresh signature key pair for `suite` (from `crypto`'s random source) and wraps it with a credential. */
export async function generateIdentity(suite: number, credential?: CredentialInfo, crypto: MlsCrypto = DEFAULT_MLS_CRYPTO): Promise<LocalIdentity> {
  const { scheme } = suiteInfo(suite);
  const { publicKey, privateKey } = freshKeyPair(scheme, crypto.injectedRandom ? crypto.randomBytes : undefined);
  const cred = credential ?? { type: "basic", identity: crypto.randomBytes(16) };
  return {
    suite,
    credential: fromMlsCredential(toMlsCredential(cred))!,
    signaturePublicKey: publicKey,
    signaturePrivateKey: privateKey,
  };
}

const anonymousIdentities = new Map<number, Promise<LocalIdentity>>();

/**
 * The process's anonymous identity for `suite` (a basic credential with a random name): generated once per suite
 * and shared, for servers configured without a key. The one cache of them: the responder and secure contexts use it.
 */
export function anonymousIdentity(suite: number): Promise<LocalIdentity> {
  let p = anonymousIdentities.get(suite);
  if (p === undefined) {
    p = generateIdentity(suite);
    anonymousIdentities.set(suite, p);
    // A failure (an unsupported suite) must not be remembered.
    p.catch(() => anonymousIdentities.delete(suite));
  }
  return p;
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
  const keys = canonicalKeyPair(scheme, signaturePublicKey, signaturePrivateKey);
  return {
    suite,
    credential: fromMlsCredential(toMlsCredential(credential))!,
    signaturePublicKey: keys.publicKey,
    signaturePrivateKey: keys.privateKey,
  };
}

export function checkIdentityUsable(identity: LocalIdentity, suite: number): void {
  const own = suiteInfo(identity.suite).scheme;
  const wanted = suiteInfo(suite).scheme;
  if (own !== wanted) {
    throw mlsTlsError(
      "ERR_MLSTLS_CIPHERSUITE_MISMATCH",
      `local credential is for ${describeSuite(identity.suite)} (${own}), which cannot sign for ${describeSuite(suite)} (${wanted})`,
    );
  }
}

/**
 * Runs the application's validator for one MLS operation. ts-mls calls `service` at the points where
 * credentials enter (add, join, UpdatePath); we also call `check` explicitly so that nothing depends on
 * ts-mls remembering to. Results are memoized per credential so an X.509 chain is checked once.
 */
export class CredentialCheck {
  #refusal: MlsTlsError | undefined;
  readonly #memo = new Map<string, Promise<boolean>>();

  constructor(
    private readonly scheme: SignatureScheme,
    private readonly validate: CredentialValidator | undefined,
    /** Our own leaf: never handed to the validator. */
    private readonly own: PeerCredential | undefined,
    /** Already accepted by the same validator earlier (inspectKeyPackage → acceptKeyPackage). */
    approved?: PeerCredential,
  ) {
    if (approved !== undefined) this.#memo.set(credentialKey(approved.credential, approved.signaturePublicKey), Promise.resolve(true));
  }

  get refused(): boolean {
    return this.#refusal !== undefined;
  }

  /** The error for the first refusal. */
  refusal(): MlsTlsError {
    return this.#refusal ?? mlsTlsError("ERR_MLSTLS_BAD_CREDENTIAL", "peer credential refused");
  }

  readonly service: AuthenticationService = {
    validateCredential: (credential, signaturePublicKey) => this.checkMls(credential, signaturePublicKey),
  };

  checkMls(credential: Credential, signaturePublicKey: Uint8Array): Promise<boolean> {
    const info = fromMlsCredential(credential);
    if (info === undefined) return Promise.resolve(this.#refuse(`unsupported credential type ${String(credential.credentialType)}`));
    return this.check({ credential: info, signaturePublicKey: copyBytes(signaturePublicKey) });
  }

  check(peer: PeerCredential): Promise<boolean> {
    if (
      this.own !== undefined &&
      bytesEqual(peer.signaturePublicKey, this.own.signaturePublicKey) &&
      credentialsEqual(peer.credential, this.own.credential)
    ) {
      return Promise.resolve(true);
    }
    const key = credentialKey(peer.credential, peer.signaturePublicKey);
    let result = this.#memo.get(key);
    if (result === undefined) {
      result = this.#run(peer);
      this.#memo.set(key, result);
    }
    return result;
  }

  async #run(peer: PeerCredential): Promise<boolean> {
    if (!isCanonicalPublicKey(this.scheme, peer.signaturePublicKey)) {
      return this.#refuse(`peer signature key is not a canonical ${this.scheme} public key`);
    }
    if (peer.credential.type === "x509" && peer.credential.certificates.length === 0) {
      return this.#refuse("peer presented an empty X.509 chain");
    }
    if (this.validate === undefined) return true;
    let ok: boolean;
    try {
      ok = (await this.validate(peer)) === true;
    } catch (e) {
      this.#refusal ??= e instanceof MlsTlsError ? e : mlsTlsError("ERR_MLSTLS_BAD_CREDENTIAL", `peer credential refused: ${errorText(e)}`, { cause: e });
      return false;
    }
    return ok ? true : this.#refuse("peer credential refused by the validator");
  }

  #refuse(reason: string): false {
    this.#refusal ??= mlsTlsError("ERR_MLSTLS_BAD_CREDENTIAL", reason);
    return false;
  }

  /** Explicit check that throws the refusal. */
  async require(peer: PeerCredential): Promise<void> {
    if (!(await this.check(peer))) throw this.refusal();
  }
}

/** Turns anything thrown inside ts-mls into our error; a validator's refusal wins over ts-mls's wording. */
export function translate(e: unknown, code: LocalErrorCode, what: string, auth?: CredentialCheck): MlsTlsError {
  if (e instanceof MlsTlsError) return e;
  if (auth?.refused) return auth.refusal();
  return mlsTlsError(code, `${what}: ${errorText(e)}`, { cause: e });
}

export function leafCredential(leaf: LeafNode): PeerCredential | undefined {
  const credential = fromMlsCredential(leaf.credential);
  return credential === undefined ? undefined : { credential, signaturePublicKey: copyBytes(leaf.signaturePublicKey) };
}
