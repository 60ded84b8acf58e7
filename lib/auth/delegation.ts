// Per-connection delegation (PROTOCOL.md, "RSA certificates: per-connection delegation"): a certificate whose key
// MLS cannot sign with (RSA, RSA-PSS; P-521 and Ed448 while their suites are unavailable) signs, for each
// connection, a small X.509 "delegation certificate" for a fresh MLS signature key. The MLS x509 credential is
// [delegation, end-entity, intermediates...]; the end-entity chain is unchanged and verified as before, and every
// identity (subject, SAN, getPeerCertificate(), checkServerIdentity, continuity) comes from the end-entity.
//
//   Delegation certificate (RFC 5280 §4.1, DER; exactly this shape, anything else is refused):
//     version v3; serialNumber 16 random bytes; signature = the end-entity key's algorithm (below);
//     issuer = the end-entity's subject (its exact DER); validity = [mint − 5 min, mint + 10 min] capped at the
//     end-entity's notAfter (verifiers refuse more than 1 hour, and anything past the end-entity's notAfter);
//     subject = CN "mlstls delegation" (a space: never a host name); subjectPublicKeyInfo = the fresh MLS key;
//     extensions, all critical, in this order: basicConstraints (CA:FALSE), keyUsage (digitalSignature),
//     id-mlstls-delegation (2.25.215703626164577240337677613151392809617):
//       MlsTlsDelegation ::= SEQUENCE {
//         version        INTEGER (1),
//         role           ENUMERATED { client(0), server(1) },
//         cipherSuite    INTEGER (0..65535),          -- the MLS suite the key was made for
//         endEntityHash  OCTET STRING (SIZE (32)),    -- SHA-256 of certificates[1] (the end-entity's DER)
//         context        OCTET STRING (SIZE (32)) }   -- server: SHA-256 of the opening transcript;
//                                                     -- client: the ClientHello's random
//   Signature algorithms: RSA and RSA-PSS keys sign with RSASSA-PSS (SHA-256, MGF1-SHA-256, salt 32; an RSA-PSS
//   key's own hash restriction wins, salt = hash length), P-521 with ecdsa-with-SHA512, Ed448 with Ed448.
//
// One more use (PROTOCOL.md, "One key on both ends"): a server whose Ed25519, P-256 or P-384 key is also the
// client's (one key and certificate on both ends, which MLS forbids in one group) delegates to a fresh key in the
// same way, signing with Ed25519, ecdsa-with-SHA256 or ecdsa-with-SHA384. A client accepts such a delegation only
// from a server, and only when the end-entity key is its own MLS signature key on that connection.

import { createHash, createPublicKey, generateKeyPair, KeyObject, randomBytes, sign, verify, X509Certificate, constants } from "node:crypto";
import { promisify } from "node:util";
import { mlsTlsError, nodeError } from "../errors.js";
import { bytesEqual } from "../util/bytes.js";
import { suiteById } from "../suites.js";
import { identityFromKeys, MLS_SESSION_SUITES, rawKeysOf, signingKeyObject } from "../mls/index.js";
import type { CredentialInfo, LocalIdentity, PeerCredential } from "../mls/index.js";
import type { VerificationError } from "./verification-errors.js";
import { certFacts, KeyUsage } from "./x509.js";
import { DerError, type Tlv, children, expectTag, readTlv } from "./der.js";

const generateKeyPairAsync = promisify(generateKeyPair);

export type DelegationRole = "client" | "server";

/** How long a delegation is minted for, and the slack for clocks behind ours. */
export const DELEGATION_LIFETIME_MS = 10 * 60_000;
export const DELEGATION_BACKDATE_MS = 5 * 60_000;
/** Verifiers refuse a delegation valid for longer than this. */
export const MAX_DELEGATION_VALIDITY_MS = 60 * 60_000;

export const DELEGATION_OID = "2.25.215703626164577240337677613151392809617";
const DELEGATION_SUBJECT_CN = "mlstls delegation";
const DELEGATION_VERSION = 1;

// ---------------------------------------------------------------------------------------------------------------
// A minimal DER encoder (only what the delegation certificate uses)

function lengthBytes(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return [0x80 | out.length, ...out];
}

function tlv(tag: number, ...content: Uint8Array[]): Uint8Array {
  const body = Buffer.concat(content);
  return Buffer.concat([Uint8Array.from([tag, ...lengthBytes(body.length)]), body]);
}

const seq = (...c: Uint8Array[]): Uint8Array => tlv(0x30, ...c);
const set = (...c: Uint8Array[]): Uint8Array => tlv(0x31, ...c);
const explicit = (n: number, ...c: Uint8Array[]): Uint8Array => tlv(0xa0 | n, ...c);
const octets = (b: Uint8Array): Uint8Array => tlv(0x04, b);
const NULL = Uint8Array.of(0x05, 0x00);
const TRUE = Uint8Array.of(0x01, 0x01, 0xff);

function uint(v: number | Uint8Array, tag = 0x02): Uint8Array {
  let b: Uint8Array;
  if (typeof v === "number") {
    const out: number[] = [];
    for (let x = v; x > 0; x = Math.floor(x / 256)) out.unshift(x & 0xff);
    b = Uint8Array.from(out.length === 0 ? [0] : out);
  } else {
    let s = 0;
    while (s < v.length - 1 && v[s] === 0) s++;
    b = v.subarray(s);
  }
  if (b[0]! & 0x80) b = Buffer.concat([Uint8Array.of(0), b]);
  return tlv(tag, b);
}

function oid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map((s) => BigInt(s));
  const values = [arcs[0]! * 40n + arcs[1]!, ...arcs.slice(2)];
  const out: number[] = [];
  for (const v of values) {
    const groups: number[] = [];
    let x = v;
    do {
      groups.unshift(Number(x & 0x7fn));
      x >>= 7n;
    } while (x > 0n);
    for (let i = 0; i < groups.length - 1; i++) groups[i]! |= 0x80;
    out.push(...groups);
  }
  return tlv(0x06, Uint8Array.from(out));
}

function time(ms: number): Uint8Array {
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, "") + "Z";
  const year = Number(iso.slice(0, 4));
  // RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
  return year < 2050 ? tlv(0x17, Buffer.from(digits.slice(2), "latin1")) : tlv(0x18, Buffer.from(digits, "latin1"));
}

const OIDS = {
  rsaPss: "1.2.840.113549.1.1.10",
  mgf1: "1.2.840.113549.1.1.8",
  sha256: "2.16.840.1.101.3.4.2.1",
  sha384: "2.16.840.1.101.3.4.2.2",
  sha512: "2.16.840.1.101.3.4.2.3",
  ecdsaSha256: "1.2.840.10045.4.3.2",
  ecdsaSha384: "1.2.840.10045.4.3.3",
  ecdsaSha512: "1.2.840.10045.4.3.4",
  ed25519: "1.3.101.112",
  ed448: "1.3.101.113",
  commonName: "2.5.4.3",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
} as const;

type PssHash = "sha256" | "sha384" | "sha512";
const HASH_LEN: Record<PssHash, number> = { sha256: 32, sha384: 48, sha512: 64 };

/** How the end-entity key signs: the algorithm identifier and node:crypto's parameters for it. */
type SignatureAlgorithm =
  | { kind: "pss"; hash: PssHash; saltLength: number }
  | { kind: "ecdsa-sha256" }
  | { kind: "ecdsa-sha384" }
  | { kind: "ecdsa-sha512" }
  | { kind: "ed25519" }
  | { kind: "ed448" };

function algorithmIdentifier(a: SignatureAlgorithm): Uint8Array {
  switch (a.kind) {
    case "pss": {
      const hashAlg = seq(oid(OIDS[a.hash]), NULL);
      return seq(oid(OIDS.rsaPss), seq(explicit(0, hashAlg), explicit(1, seq(oid(OIDS.mgf1), hashAlg)), explicit(2, uint(a.saltLength))));
    }
    case "ecdsa-sha256":
      return seq(oid(OIDS.ecdsaSha256));
    case "ecdsa-sha384":
      return seq(oid(OIDS.ecdsaSha384));
    case "ecdsa-sha512":
      return seq(oid(OIDS.ecdsaSha512));
    case "ed25519":
      return seq(oid(OIDS.ed25519));
    case "ed448":
      return seq(oid(OIDS.ed448));
  }
}

function signatureParams(a: SignatureAlgorithm, key: KeyObject): { alg: string | null; key: KeyObject | { key: KeyObject; padding: number; saltLength: number; dsaEncoding?: "der" } } {
  if (a.kind === "pss") return { alg: a.hash, key: { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: a.saltLength } };
  if (a.kind === "ecdsa-sha256") return { alg: "sha256", key };
  if (a.kind === "ecdsa-sha384") return { alg: "sha384", key };
  if (a.kind === "ecdsa-sha512") return { alg: "sha512", key };
  return { alg: null, key };
}

/** Whether a key is one that delegates: MLS cannot sign with it, and it can sign a delegation. */
export function isDelegatingKey(key: KeyObject): boolean {
  return algorithmFor(key) !== undefined;
}

/** The algorithm an end-entity key signs delegations with; undefined for keys that do not delegate. */
function algorithmFor(key: KeyObject): SignatureAlgorithm | undefined {
  const type = key.asymmetricKeyType;
  if (type === "rsa") return { kind: "pss", hash: "sha256", saltLength: 32 };
  if (type === "rsa-pss") {
    const d = key.asymmetricKeyDetails ?? {};
    const hash = (d.hashAlgorithm ?? "sha256") as string;
    if (hash !== "sha256" && hash !== "sha384" && hash !== "sha512") return undefined;
    if (d.mgf1HashAlgorithm !== undefined && d.mgf1HashAlgorithm !== hash) return undefined;
    return { kind: "pss", hash, saltLength: Math.max(HASH_LEN[hash], d.saltLength ?? 0) };
  }
  if (type === "ec" && key.asymmetricKeyDetails?.namedCurve === "secp521r1") return { kind: "ecdsa-sha512" };
  if (type === "ed448") return { kind: "ed448" };
  return undefined;
}

/** The algorithm a key MLS signs with directly signs a delegation with, when both ends share it ("One key on both ends"). */
function sharedKeyAlgorithmFor(key: KeyObject): SignatureAlgorithm | undefined {
  const type = key.asymmetricKeyType;
  if (type === "ed25519") return { kind: "ed25519" };
  if (type === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1") return { kind: "ecdsa-sha256" };
  if (type === "ec" && key.asymmetricKeyDetails?.namedCurve === "secp384r1") return { kind: "ecdsa-sha384" };
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// The certificate

interface DelegationFields {
  serial: Uint8Array;
  algorithm: SignatureAlgorithm;
  issuer: Uint8Array;
  notBefore: number;
  notAfter: number;
  spki: Uint8Array;
  role: DelegationRole;
  suite: number;
  endEntityHash: Uint8Array;
  context: Uint8Array;
}

const SUBJECT = seq(set(seq(oid(OIDS.commonName), tlv(0x0c, Buffer.from(DELEGATION_SUBJECT_CN, "utf8")))));

function extensionValue(f: DelegationFields): Uint8Array {
  return seq(uint(DELEGATION_VERSION), uint(f.role === "client" ? 0 : 1, 0x0a), uint(f.suite), octets(f.endEntityHash), octets(f.context));
}

/** Shapes a verifier must refuse, for tests: the extension not critical, or one more extension. */
type TestVariant = "non-critical" | "extra-extension";

function tbsCertificate(f: DelegationFields, variant?: TestVariant): Uint8Array {
  const extension = (id: string, value: Uint8Array): Uint8Array =>
    variant === "non-critical" && id === DELEGATION_OID ? seq(oid(id), octets(value)) : seq(oid(id), TRUE, octets(value));
  const extra = variant === "extra-extension" ? [seq(oid("2.5.29.17"), octets(seq(tlv(0x82, Buffer.from("localhost")))))] : [];
  return seq(
    explicit(0, uint(2)),
    uint(f.serial),
    algorithmIdentifier(f.algorithm),
    f.issuer,
    seq(time(f.notBefore), time(f.notAfter)),
    SUBJECT,
    f.spki,
    explicit(
      3,
      seq(
        extension(OIDS.basicConstraints, seq()),
        // keyUsage: BIT STRING with 7 unused bits, digitalSignature set.
        extension(OIDS.keyUsage, Uint8Array.of(0x03, 0x02, 0x07, 0x80)),
        extension(DELEGATION_OID, extensionValue(f)),
        ...extra,
      ),
    ),
  );
}

function certificate(tbs: Uint8Array, algorithm: SignatureAlgorithm, signature: Uint8Array): Uint8Array {
  return seq(tbs, algorithmIdentifier(algorithm), tlv(0x03, Uint8Array.of(0), signature));
}

// ---------------------------------------------------------------------------------------------------------------
// Reading a delegation certificate (der.ts reads the DER); the whole certificate must then re-encode byte for byte

const content = (b: Uint8Array, t: Tlv): Uint8Array => b.subarray(t.start, t.end);
const whole = (b: Uint8Array, t: Tlv): Uint8Array => b.subarray(t.from, t.end);

function readUint(b: Uint8Array, t: Tlv, max: number): number {
  const c = content(b, t);
  if (c.length === 0 || c.length > 4 || c[0]! & 0x80) throw new DerError("bad integer");
  let v = 0;
  for (const x of c) v = v * 256 + x;
  if (v > max) throw new DerError("integer out of range");
  return v;
}

function readTime(b: Uint8Array, t: Tlv): number {
  const s = Buffer.from(content(b, t)).toString("latin1");
  const m = t.tag === 0x17 ? /^(\d{2})(\d{10})Z$/.exec(s) : t.tag === 0x18 ? /^(\d{4})(\d{10})Z$/.exec(s) : null;
  if (m === null) throw new DerError("bad time");
  let year = Number(m[1]);
  if (t.tag === 0x17) year += year >= 50 ? 1900 : 2000;
  const r = m[2]!;
  const ms = Date.UTC(year, Number(r.slice(0, 2)) - 1, Number(r.slice(2, 4)), Number(r.slice(4, 6)), Number(r.slice(6, 8)), Number(r.slice(8, 10)));
  if (!Number.isFinite(ms)) throw new DerError("bad time");
  return ms;
}

function oidOf(b: Uint8Array, t: Tlv): string {
  const parts: bigint[] = [];
  let v = 0n;
  for (let i = t.start; i < t.end; i++) {
    v = v * 128n + BigInt(b[i]! & 0x7f);
    if ((b[i]! & 0x80) === 0) {
      if (parts.length === 0) parts.push(v < 80n ? v / 40n : 2n, v < 80n ? v % 40n : v - 80n);
      else parts.push(v);
      v = 0n;
    }
  }
  return parts.join(".");
}

function readAlgorithm(b: Uint8Array, t: Tlv): SignatureAlgorithm {
  const [id, params] = children(b, expectTag(t, 0x30, "AlgorithmIdentifier"));
  const name = oidOf(b, expectTag(id, 0x06, "algorithm"));
  if (name === OIDS.ecdsaSha256) return { kind: "ecdsa-sha256" };
  if (name === OIDS.ecdsaSha384) return { kind: "ecdsa-sha384" };
  if (name === OIDS.ecdsaSha512) return { kind: "ecdsa-sha512" };
  if (name === OIDS.ed25519) return { kind: "ed25519" };
  if (name === OIDS.ed448) return { kind: "ed448" };
  if (name !== OIDS.rsaPss) throw new DerError(`signature algorithm ${name} is not one a delegation may use`);
  const p = children(b, expectTag(params, 0x30, "RSASSA-PSS-params"));
  const hashOid = oidOf(b, expectTag(children(b, expectTag(children(b, expectTag(p[0], 0xa0, "hashAlgorithm"))[0], 0x30, "hash"))[0], 0x06, "hash"));
  const hash = (Object.keys(HASH_LEN) as PssHash[]).find((h) => OIDS[h] === hashOid);
  if (hash === undefined) throw new DerError("RSASSA-PSS hash must be SHA-256, SHA-384 or SHA-512");
  const saltLength = readUint(b, expectTag(children(b, expectTag(p[2], 0xa2, "saltLength"))[0], 0x02, "saltLength"), 1024);
  if (saltLength < HASH_LEN[hash]) throw new DerError("RSASSA-PSS salt shorter than the hash");
  return { kind: "pss", hash, saltLength };
}

/** The certificate's TBS fields and signature, or DerError. Shape checks happen by re-encoding. */
function parseDelegation(der: Uint8Array): { fields: DelegationFields; tbs: Uint8Array; signature: Uint8Array } {
  const cert = expectTag(readTlv(der, 0, der.length), 0x30, "Certificate");
  if (cert.end !== der.length) throw new DerError("trailing bytes");
  const [tbsT, , sigT] = children(der, cert);
  const tbs = expectTag(tbsT, 0x30, "TBSCertificate");
  const t = children(der, tbs);
  const serial = content(der, expectTag(t[1], 0x02, "serialNumber"));
  const algorithm = readAlgorithm(der, t[2]!);
  const issuer = whole(der, expectTag(t[3], 0x30, "issuer"));
  const [nb, na] = children(der, expectTag(t[4], 0x30, "validity"));
  const spki = whole(der, expectTag(t[6], 0x30, "subjectPublicKeyInfo"));
  const exts = children(der, expectTag(children(der, expectTag(t[7], 0xa3, "extensions"))[0], 0x30, "extensions"));
  const ours = exts.find((e) => {
    const id = children(der, expectTag(e, 0x30, "extension"))[0];
    return id !== undefined && id.tag === 0x06 && oidOf(der, id) === DELEGATION_OID;
  });
  if (ours === undefined) throw new DerError("no mlstls delegation extension");
  const ev = children(der, ours);
  const value = expectTag(ev[ev.length - 1], 0x04, "extnValue");
  const inner = readTlv(der, value.start, value.end);
  const [ver, role, suite, eeHash, ctx] = children(der, expectTag(inner, 0x30, "MlsTlsDelegation"));
  if (readUint(der, expectTag(ver, 0x02, "version"), 255) !== DELEGATION_VERSION) throw new DerError("unknown delegation version");
  const r = readUint(der, expectTag(role, 0x0a, "role"), 1);
  const sig = content(der, expectTag(sigT, 0x03, "signature"));
  if (sig[0] !== 0) throw new DerError("signature with unused bits");
  return {
    fields: {
      serial,
      algorithm,
      issuer,
      notBefore: readTime(der, expectTag(nb, nb?.tag ?? 0x17, "notBefore")),
      notAfter: readTime(der, expectTag(na, na?.tag ?? 0x17, "notAfter")),
      spki,
      role: r === 0 ? "client" : "server",
      suite: readUint(der, expectTag(suite, 0x02, "cipherSuite"), 0xffff),
      endEntityHash: content(der, expectTag(eeHash, 0x04, "endEntityHash")),
      context: content(der, expectTag(ctx, 0x04, "context")),
    },
    tbs: whole(der, tbs),
    signature: sig.subarray(1),
  };
}

/** The DER of a certificate's subject Name. */
function subjectDer(der: Uint8Array): Uint8Array {
  const cert = expectTag(readTlv(der, 0, der.length), 0x30, "Certificate");
  const t = children(der, expectTag(children(der, cert)[0], 0x30, "TBSCertificate"));
  // version [0] is optional: subject is the 6th field with it, the 5th without.
  return whole(der, t[t[0]?.tag === 0xa0 ? 5 : 4]!);
}

/** Cheap test: does a certificate carry the mlstls delegation extension's OID at all? */
const OID_BYTES = Buffer.from(oid(DELEGATION_OID));
export function looksDelegated(der: Uint8Array): boolean {
  return Buffer.from(der.buffer, der.byteOffset, der.byteLength).includes(OID_BYTES);
}

/**
 * The credential as its identity reads: without a leading delegation certificate. getPeerCertificate(), the
 * hostname check, identity continuity and fingerprints all see the end-entity certificate, never the delegation.
 */
export function endEntityView(peer: PeerCredential): PeerCredential {
  const c = peer.credential;
  if (c.type !== "x509" || c.certificates.length < 2 || !looksDelegated(c.certificates[0]!)) return peer;
  return { credential: { type: "x509", certificates: c.certificates.slice(1) }, signaturePublicKey: peer.signaturePublicKey };
}

/** An X.509 credential's certificates without a leading delegation (end-entity first); [] for other credentials. */
export function endEntityCertificates(c: CredentialInfo): Uint8Array[] {
  if (c.type !== "x509") return [];
  if (c.certificates.length < 2 || !looksDelegated(c.certificates[0]!)) return c.certificates;
  return c.certificates.slice(1);
}

// ---------------------------------------------------------------------------------------------------------------
// Minting

const SCHEME_KEYGEN = {
  ed25519: () => generateKeyPairAsync("ed25519"),
  ecdsa_secp256r1_sha256: () => generateKeyPairAsync("ec", { namedCurve: "prime256v1" }),
  ecdsa_secp384r1_sha384: () => generateKeyPairAsync("ec", { namedCurve: "secp384r1" }),
} as const;

const signAsync = (alg: string | null, data: Uint8Array, key: Parameters<typeof sign>[2]): Promise<Buffer> =>
  new Promise((resolve, reject) => sign(alg, data, key, (err, sig) => (err ? reject(err) : resolve(sig))));

/**
 * An end-entity key whose type MLS cannot sign with, and its chain: mints one delegated MLS identity per
 * connection. The signature runs on node's thread pool (crypto.sign with a callback), off the event loop.
 */
export class Delegator {
  readonly #key: KeyObject;
  readonly #chain: readonly Uint8Array[];
  readonly #algorithm: SignatureAlgorithm;
  readonly #issuer: Uint8Array;
  readonly #endEntityHash: Uint8Array;
  readonly #endEntityNotAfter: number;
  /** Clock (tests move it). */
  now: () => number = Date.now;

  constructor(key: KeyObject, chain: readonly X509Certificate[], shared = false) {
    const algorithm = shared ? sharedKeyAlgorithmFor(key) : algorithmFor(key);
    if (algorithm === undefined || key.type !== "private") throw mlsTlsError("ERR_MLSTLS_UNSUPPORTED_KEY", "this key cannot sign delegations");
    this.#key = key;
    this.#chain = chain.map((c) => new Uint8Array(c.raw));
    this.#algorithm = algorithm;
    this.#issuer = subjectDer(this.#chain[0]!);
    this.#endEntityHash = new Uint8Array(createHash("sha256").update(this.#chain[0]!).digest());
    this.#endEntityNotAfter = new Date(chain[0]!.validTo).getTime();
    Object.freeze(this.#chain);
  }

  /**
   * A server identity's own key (Ed25519, P-256, P-384) delegating for one connection whose client has the same
   * key ("One key on both ends"); its credential must be an X.509 chain.
   */
  static forSharedKey(own: LocalIdentity): Delegator {
    const scheme = suiteById(own.suite)?.signature.mlsName;
    const key = scheme === "Ed25519" || scheme === "P256" || scheme === "P384" ? signingKeyObject(scheme, own.signaturePrivateKey) : undefined;
    const c = own.credential;
    if (key === undefined || c.type !== "x509" || c.certificates.length === 0) {
      throw mlsTlsError("ERR_MLSTLS_BAD_CREDENTIAL", "the client presented the server's own signature key, and the server cannot delegate to another");
    }
    return new Delegator(key, c.certificates.map((d) => new X509Certificate(d)), true);
  }

  /** The end-entity certificate (for messages and getCertificate()). */
  get endEntity(): Uint8Array {
    return this.#chain[0]!;
  }

  /** MLS suites a delegated identity can be minted for: all this build runs. */
  get suites(): number[] {
    return [...MLS_SESSION_SUITES];
  }

  /** A fresh MLS identity for `suite`, with a delegation for `role` bound to `context` (32 bytes). */
  async mint(suite: number, role: DelegationRole, context: Uint8Array): Promise<LocalIdentity> {
    const scheme = suiteById(suite)?.signature.scheme;
    const keygen = scheme !== undefined && scheme in SCHEME_KEYGEN ? SCHEME_KEYGEN[scheme as keyof typeof SCHEME_KEYGEN] : undefined;
    if (keygen === undefined || !MLS_SESSION_SUITES.includes(suite)) {
      throw mlsTlsError("ERR_MLSTLS_INTERNAL", `no delegation for MLS suite ${suite}`);
    }
    if (context.length !== 32) throw mlsTlsError("ERR_MLSTLS_INTERNAL", "a delegation's context is 32 bytes");
    const { publicKey, privateKey } = await keygen();
    const now = Math.floor(this.now() / 1000) * 1000;
    const serial = randomBytes(16);
    serial[0] = (serial[0]! & 0x7f) | 0x01;
    const fields: DelegationFields = {
      serial,
      algorithm: this.#algorithm,
      issuer: this.#issuer,
      notBefore: now - DELEGATION_BACKDATE_MS,
      notAfter: Math.min(now + DELEGATION_LIFETIME_MS, Math.floor(this.#endEntityNotAfter / 1000) * 1000),
      spki: publicKey.export({ type: "spki", format: "der" }),
      role,
      suite,
      endEntityHash: this.#endEntityHash,
      context,
    };
    const tbs = tbsCertificate(fields);
    const p = signatureParams(this.#algorithm, this.#key);
    const signature = await signAsync(p.alg, tbs, p.key as Parameters<typeof sign>[2]);
    const der = certificate(tbs, this.#algorithm, signature);
    const raw = rawKeysOf(privateKey);
    return identityFromKeys(suite, { type: "x509", certificates: [der, ...this.#chain] }, raw.publicKey, raw.privateKey!);
  }
}

/** For tests of the verifier: a delegation with chosen fields, signed by `key` (which need not be the end-entity's). */
export async function mintForTest(
  key: KeyObject,
  endEntity: Uint8Array,
  spkiKey: KeyObject,
  f: Partial<Omit<DelegationFields, "spki">> & { role: DelegationRole; suite: number; context: Uint8Array; variant?: TestVariant },
): Promise<Uint8Array> {
  const algorithm = f.algorithm ?? algorithmFor(key) ?? { kind: "pss", hash: "sha256", saltLength: 32 };
  const now = Date.now();
  const fields: DelegationFields = {
    serial: f.serial ?? Uint8Array.of(1),
    algorithm,
    issuer: f.issuer ?? subjectDer(endEntity),
    notBefore: f.notBefore ?? Math.floor(now / 1000) * 1000 - 60_000,
    notAfter: f.notAfter ?? Math.floor(now / 1000) * 1000 + 600_000,
    spki: (spkiKey.type === "public" ? spkiKey : createPublicKey(spkiKey)).export({ type: "spki", format: "der" }),
    role: f.role,
    suite: f.suite,
    endEntityHash: f.endEntityHash ?? new Uint8Array(createHash("sha256").update(endEntity).digest()),
    context: f.context,
  };
  const tbs = tbsCertificate(fields, f.variant);
  const p = signatureParams(algorithm, key);
  return certificate(tbs, algorithm, await signAsync(p.alg, tbs, p.key as Parameters<typeof sign>[2]));
}

// ---------------------------------------------------------------------------------------------------------------
// Verification

/** What the verifier expects of a delegation: the peer's role, and on a connection's opening its suite and context. */
export interface DelegationExpectation {
  role: DelegationRole;
  /** The opening's suite and context; undefined for a stored (resumed) credential, whose context was checked once. */
  opening?: { suite: number; context: Uint8Array };
  /** Our own MLS signature key on this connection: a server with the same key may delegate ("One key on both ends"). */
  ownKey?: Uint8Array;
  /** The time to check the lifetime against; undefined when it was checked before on this connection. */
  now: number | undefined;
}

const bad = (message: string): VerificationError & { code: string } =>
  nodeError("ERR_MLSTLS_BAD_DELEGATION", `invalid delegation: ${message}`);

/**
 * Checks the binding of a delegated credential ([delegation, end-entity, ...]): shape, the MLS key, the
 * end-entity hash, the end-entity's signature and digitalSignature usage, role, suite, context and lifetime.
 * null if it holds. The end-entity chain itself is verified by the caller, as for any credential.
 */
export function verifyDelegation(peer: PeerCredential, expect: DelegationExpectation): (VerificationError & { code: string }) | null {
  const c = peer.credential;
  if (c.type !== "x509" || c.certificates.length < 2) return bad("a delegation needs the end-entity certificate after it");
  const [der, ee] = c.certificates as [Uint8Array, Uint8Array];
  let parsed: ReturnType<typeof parseDelegation>;
  let eeKey: KeyObject;
  let eeNotAfter: number | undefined;
  let eeUsage: number | undefined;
  try {
    parsed = parseDelegation(der);
    const eeFacts = certFacts(ee);
    eeKey = eeFacts.x509.publicKey;
    eeNotAfter = eeFacts.notAfter;
    eeUsage = eeFacts.keyUsage;
    // Exactly the shape we mint, byte for byte: no other extension, nothing non-critical, DER only.
    const rebuilt = certificate(tbsCertificate(parsed.fields), parsed.fields.algorithm, parsed.signature);
    if (!Buffer.from(rebuilt).equals(Buffer.from(der))) throw new DerError("not in the one form a delegation may take");
    if (!Buffer.from(parsed.fields.issuer).equals(Buffer.from(subjectDer(ee)))) throw new DerError("its issuer is not the end-entity's subject");
  } catch (e) {
    return bad(e instanceof Error ? e.message : String(e));
  }
  const f = parsed.fields;
  let expected = algorithmFor(eeKey);
  if (expected === undefined && expect.role === "server" && expect.ownKey !== undefined) {
    // A key MLS signs with directly delegates only where it must: a server whose key is our own on this connection.
    const shared = sharedKeyAlgorithmFor(eeKey);
    let eeRaw: Uint8Array | undefined;
    try {
      eeRaw = rawKeysOf(eeKey).publicKey;
    } catch {
      eeRaw = undefined;
    }
    if (shared !== undefined && eeRaw !== undefined && bytesEqual(eeRaw, expect.ownKey)) {
      expected = shared;
    }
  }
  if (expected === undefined) return bad(`the end-entity's ${eeKey.asymmetricKeyType ?? "unknown"} key is one MLS signs with directly; it may not delegate`);
  if (expected.kind !== f.algorithm.kind) return bad("signature algorithm does not fit the end-entity key");
  if (eeUsage !== undefined && (eeUsage & KeyUsage.digitalSignature) === 0) return bad("the end-entity certificate's keyUsage lacks digitalSignature");
  if (!Buffer.from(f.endEntityHash).equals(createHash("sha256").update(ee).digest())) return bad("it names another end-entity certificate");
  // The MLS signature key must be the delegated key.
  let key: Uint8Array;
  try {
    key = rawKeysOf(createPublicKey({ key: Buffer.from(f.spki), format: "der", type: "spki" })).publicKey;
  } catch {
    return bad("its public key cannot be read");
  }
  if (key.length !== peer.signaturePublicKey.length || !Buffer.from(key).equals(Buffer.from(peer.signaturePublicKey))) {
    return bad("its key is not the MLS signature key");
  }
  const scheme = suiteById(f.suite)?.signature;
  if (scheme === undefined || scheme.publicKeyLength !== key.length) return bad(`its key does not fit MLS suite ${f.suite}`);
  let ok: boolean;
  try {
    const p = signatureParams(f.algorithm, eeKey);
    ok = verify(p.alg, parsed.tbs, p.key as Parameters<typeof verify>[2], parsed.signature);
  } catch {
    ok = false;
  }
  if (!ok) return bad("the end-entity key did not sign it");
  if (f.role !== expect.role) return bad(`it was made for a ${f.role}, but the peer is the ${expect.role}`);
  if (expect.opening !== undefined) {
    if (f.suite !== expect.opening.suite) return bad(`it was made for MLS suite ${f.suite}, but the connection uses ${expect.opening.suite}`);
    const want = expect.opening.context;
    if (f.context.length !== want.length || !Buffer.from(f.context).equals(Buffer.from(want))) return bad("it was made for another connection");
  }
  if (f.notAfter - f.notBefore > MAX_DELEGATION_VALIDITY_MS) return bad("it is valid for more than an hour");
  if (eeNotAfter === undefined || f.notAfter > eeNotAfter) return bad("it outlives the end-entity certificate");
  if (expect.now !== undefined && (expect.now < f.notBefore || expect.now >= f.notAfter)) {
    return nodeError("ERR_MLSTLS_DELEGATION_EXPIRED", "the delegation is outside its validity period");
  }
  return null;
}

export { DerError as DelegationFormatError };
