// DER-level facts about an X.509 certificate (RFC 5280 §4.1) that node:crypto's X509Certificate does not
// expose, but that chain validation with OpenSSL's semantics needs: canonical names, key identifiers,
// basicConstraints with pathLen, keyUsage bits, the netscape cert type, criticality, and exact validity times.
// The parser reads only what it needs and refuses anything malformed; node:crypto parses the rest.

import { createHash, X509Certificate } from "node:crypto";
import { DerError, type Tlv, children, expectTag, readTlv } from "./der.js";

/** keyUsage bits (RFC 5280 §4.2.1.3) in OpenSSL's layout: first octet in the low byte. */
export const KeyUsage = {
  digitalSignature: 0x0080,
  nonRepudiation: 0x0040,
  keyEncipherment: 0x0020,
  dataEncipherment: 0x0010,
  keyAgreement: 0x0008,
  keyCertSign: 0x0004,
  cRLSign: 0x0002,
  encipherOnly: 0x0001,
  decipherOnly: 0x8000,
} as const;

/** Netscape certificate type bits (OpenSSL NS_*). */
export const NsCertType = { sslClient: 0x80, sslServer: 0x40, sslCa: 0x04, anyCa: 0x07 } as const;

export const OID = {
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  nameConstraints: "2.5.29.30",
  crlDistributionPoints: "2.5.29.31",
  certificatePolicies: "2.5.29.32",
  policyMappings: "2.5.29.33",
  authorityKeyIdentifier: "2.5.29.35",
  policyConstraints: "2.5.29.36",
  extKeyUsage: "2.5.29.37",
  inhibitAnyPolicy: "2.5.29.54",
  nsCertType: "2.16.840.1.113730.1.1",
  ipAddrBlocks: "1.3.6.1.5.5.7.1.7",
  autonomousSysIds: "1.3.6.1.5.5.7.1.8",
  proxyCertInfo: "1.3.6.1.5.5.7.1.14",
  ocspNoCheck: "1.3.6.1.5.5.7.48.1.5",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
  nsSgc: "2.16.840.1.113730.4.1",
  msSgc: "1.3.6.1.4.1.311.10.3.3",
} as const;

/**
 * Critical extensions OpenSSL 3.0 recognises (X509_supported_extension). A critical extension outside this
 * set makes OpenSSL fail with "unhandled critical extension"; we do the same.
 */
const OPENSSL_SUPPORTED = new Set<string>([
  OID.nsCertType,
  OID.keyUsage,
  OID.subjectAltName,
  OID.basicConstraints,
  OID.certificatePolicies,
  OID.crlDistributionPoints,
  OID.extKeyUsage,
  OID.ipAddrBlocks,
  OID.autonomousSysIds,
  OID.ocspNoCheck,
  OID.policyConstraints,
  OID.proxyCertInfo,
  OID.nameConstraints,
  OID.policyMappings,
  OID.inhibitAnyPolicy,
]);

/**
 * Extensions OpenSSL enforces but this verifier does not: a chain carrying one is refused rather than
 * accepted without the check (fail closed).
 */
export const UNENFORCED_EXTENSIONS: ReadonlyMap<string, string> = new Map([
  [OID.nameConstraints, "name constraints"],
  [OID.policyConstraints, "policy constraints"],
  [OID.proxyCertInfo, "proxy certificate info"],
  [OID.ipAddrBlocks, "RFC 3779 IP address blocks"],
  [OID.autonomousSysIds, "RFC 3779 AS identifiers"],
]);

/** Signature algorithm OID → the key type (KeyObject.asymmetricKeyType) that can have made it. */
const SIG_ALG_KEY_TYPE: ReadonlyMap<string, readonly string[]> = new Map([
  ["1.2.840.10045.4.1", ["ec"]],
  ["1.2.840.10045.4.3.1", ["ec"]],
  ["1.2.840.10045.4.3.2", ["ec"]],
  ["1.2.840.10045.4.3.3", ["ec"]],
  ["1.2.840.10045.4.3.4", ["ec"]],
  ["1.3.101.112", ["ed25519"]],
  ["1.3.101.113", ["ed448"]],
  ["1.2.840.113549.1.1.4", ["rsa"]],
  ["1.2.840.113549.1.1.5", ["rsa"]],
  ["1.2.840.113549.1.1.11", ["rsa"]],
  ["1.2.840.113549.1.1.12", ["rsa"]],
  ["1.2.840.113549.1.1.13", ["rsa"]],
  ["1.2.840.113549.1.1.14", ["rsa"]],
  ["1.2.840.113549.1.1.10", ["rsa", "rsa-pss"]],
  ["1.2.840.10040.4.3", ["dsa"]],
  ["2.16.840.1.101.3.4.3.1", ["dsa"]],
  ["2.16.840.1.101.3.4.3.2", ["dsa"]],
]);

export interface CertFacts {
  readonly x509: X509Certificate;
  readonly der: Buffer;
  /** 1 for v1 certificates, 3 for v3. */
  readonly version: number;
  readonly serial: Buffer;
  /** Canonical forms for name comparison, in the manner of OpenSSL's X509_NAME canon encoding. */
  readonly subjectKey: string;
  readonly issuerKey: string;
  /** undefined when the field is malformed (OpenSSL: ERROR_IN_CERT_NOT_BEFORE/AFTER_FIELD). */
  readonly notBefore: number | undefined;
  readonly notAfter: number | undefined;
  readonly signatureAlgorithm: string;
  readonly basicConstraints: { ca: boolean; pathLen: number | undefined } | undefined;
  readonly keyUsage: number | undefined;
  readonly extKeyUsage: readonly string[] | undefined;
  readonly nsCertType: number | undefined;
  readonly subjectKeyId: Buffer | undefined;
  readonly authorityKeyId: { keyId?: Buffer; serial?: Buffer } | undefined;
  /** Critical extensions OpenSSL would not handle. */
  readonly unhandledCritical: readonly string[];
  /** Extensions present that OpenSSL enforces and we do not (see UNENFORCED_EXTENSIONS). */
  readonly unenforced: readonly string[];
}

// ---------------------------------------------------------------------------------------------------------------
// Fields, read with der.ts

function oidString(b: Uint8Array, t: Tlv): string {
  const parts: number[] = [];
  let v = 0;
  for (let i = t.start; i < t.end; i++) {
    v = v * 128 + (b[i]! & 0x7f);
    if ((b[i]! & 0x80) === 0) {
      if (parts.length === 0) parts.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else parts.push(v);
      v = 0;
    }
  }
  return parts.join(".");
}

function bytes(b: Uint8Array, t: Tlv): Buffer {
  return Buffer.from(b.subarray(t.start, t.end));
}

function integerBytes(b: Uint8Array, t: Tlv): Buffer {
  // Serial numbers compare as values: drop a sign-padding zero.
  let s = t.start;
  while (s < t.end - 1 && b[s] === 0) s++;
  return Buffer.from(b.subarray(s, t.end));
}

function smallInteger(b: Uint8Array, t: Tlv): number {
  if (t.end - t.start > 4 || t.end === t.start || (b[t.start]! & 0x80)) throw new DerError("bad integer");
  let v = 0;
  for (let i = t.start; i < t.end; i++) v = v * 256 + b[i]!;
  return v;
}

/** A BIT STRING's first two content octets in OpenSSL's flag layout. */
function bitFlags(b: Uint8Array, t: Tlv): number {
  if (t.end - t.start < 1) throw new DerError("bad bit string");
  const first = t.end - t.start > 1 ? b[t.start + 1]! : 0;
  const second = t.end - t.start > 2 ? b[t.start + 2]! : 0;
  return first | (second << 8);
}

const TIME_RE = /^(\d{2}|\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;

function parseTime(b: Uint8Array, t: Tlv): number | undefined {
  if (t.tag !== 0x17 && t.tag !== 0x18) return undefined;
  const s = Buffer.from(b.subarray(t.start, t.end)).toString("latin1");
  const m = TIME_RE.exec(s);
  if (m === null || (t.tag === 0x17) !== (m[1]!.length === 2)) return undefined;
  let year = Number(m[1]);
  if (t.tag === 0x17) year += year >= 50 ? 1900 : 2000;
  const [mo, d, h, mi, se] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number];
  const ms = Date.UTC(year, mo - 1, d, h, mi, se);
  const back = new Date(ms);
  // Reject dates that Date.UTC silently normalised (e.g. February 30).
  if (back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || se > 59) return undefined;
  return ms;
}

// ---------------------------------------------------------------------------------------------------------------
// Names

const STRING_TAGS = new Set([0x0c, 0x13, 0x14, 0x16, 0x1a, 0x1c, 0x1e]);

function decodeDirectoryString(b: Uint8Array, t: Tlv): string {
  const raw = Buffer.from(b.subarray(t.start, t.end));
  switch (t.tag) {
    case 0x1e: // BMPString: UTF-16BE
      return Buffer.from(raw).swap16().toString("utf16le");
    case 0x1c: {
      // UniversalString: UTF-32BE
      let s = "";
      for (let i = 0; i + 3 < raw.length; i += 4) s += String.fromCodePoint(raw.readUInt32BE(i));
      return s;
    }
    case 0x14: // T61String: treated as Latin-1, as OpenSSL does
      return raw.toString("latin1");
    default:
      return raw.toString("utf8");
  }
}

/**
 * OpenSSL compares names by a canonical encoding: string values are converted to UTF-8, ASCII letters
 * lowercased, leading and trailing white space dropped, inner runs of white space collapsed to one space.
 * Other value types compare by their encoding.
 */
function canonicalName(b: Uint8Array, name: Tlv): string {
  const rdns: string[] = [];
  for (const rdn of children(b, name)) {
    expectTag(rdn, 0x31, "RDN set");
    const avas: string[] = [];
    for (const ava of children(b, rdn)) {
      const [type, value] = children(b, expectTag(ava, 0x30, "attribute"));
      const oid = oidString(b, expectTag(type, 0x06, "attribute type"));
      if (value === undefined) throw new DerError("attribute without value");
      let v: string;
      if (STRING_TAGS.has(value.tag)) {
        v = "s:" + decodeDirectoryString(b, value).replace(/[A-Z]/g, (c) => c.toLowerCase()).replace(/[\t\n\v\f\r ]+/g, " ").trim();
      } else {
        v = `t${value.tag}:` + bytes(b, value).toString("hex");
      }
      avas.push(`${oid}=${JSON.stringify(v)}`);
    }
    rdns.push(avas.join("+"));
  }
  return rdns.join(",");
}

// ---------------------------------------------------------------------------------------------------------------

// Parsed certificates, by the SHA-256 of their DER: a peer presents the same chain on every handshake and on
// every ConnectionUpdate, and a trust store is built from the same `ca` again and again. A CertFacts is immutable
// (the X509Certificate inside is a read-only view), so one object serves every reader. Unparseable input is not
// kept: it throws every time.
export const CERT_CACHE_MAX = 512;
const parsedCerts = new Map<string, CertFacts>();

/** Parses `der` (one certificate). Throws a TypeError when it is not a well-formed certificate. */
export function certFacts(der: Uint8Array): CertFacts {
  const id = createHash("sha256").update(der).digest("base64");
  let facts = parsedCerts.get(id);
  if (facts === undefined) {
    facts = parseCertificate(der);
    if (parsedCerts.size >= CERT_CACHE_MAX) parsedCerts.delete(parsedCerts.keys().next().value!);
    parsedCerts.set(id, facts);
  }
  return facts;
}

function parseCertificate(der: Uint8Array): CertFacts {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(der);
  } catch (e) {
    throw new TypeError(`not a parseable X.509 certificate: ${e instanceof Error ? e.message : String(e)}`);
  }
  const raw = Buffer.from(x509.raw);
  try {
    return parse(raw, x509);
  } catch (e) {
    if (e instanceof DerError) throw new TypeError(`malformed X.509 certificate: ${e.message}`);
    throw e;
  }
}

function parse(b: Buffer, x509: X509Certificate): CertFacts {
  const cert = expectTag(readTlv(b, 0, b.length), 0x30, "Certificate");
  const [tbs, sigAlg] = children(b, cert);
  const tbsParts = children(b, expectTag(tbs, 0x30, "TBSCertificate"));
  let i = 0;
  let version = 1;
  if (tbsParts[0]?.tag === 0xa0) {
    const [v] = children(b, tbsParts[0]);
    version = smallInteger(b, expectTag(v, 0x02, "version")) + 1;
    i++;
  }
  const serial = integerBytes(b, expectTag(tbsParts[i++], 0x02, "serialNumber"));
  i++; // signature AlgorithmIdentifier (the outer one is authoritative)
  const issuer = expectTag(tbsParts[i++], 0x30, "issuer");
  const validity = children(b, expectTag(tbsParts[i++], 0x30, "validity"));
  const subject = expectTag(tbsParts[i++], 0x30, "subject");
  i++; // subjectPublicKeyInfo: node:crypto reads it
  const [sigOid] = children(b, expectTag(sigAlg, 0x30, "signatureAlgorithm"));
  const signatureAlgorithm = oidString(b, expectTag(sigOid, 0x06, "signature algorithm"));

  let basicConstraints: CertFacts["basicConstraints"];
  let keyUsage: number | undefined;
  let extKeyUsage: string[] | undefined;
  let nsCertType: number | undefined;
  let subjectKeyId: Buffer | undefined;
  let authorityKeyId: CertFacts["authorityKeyId"];
  const unhandledCritical: string[] = [];
  const unenforced: string[] = [];

  for (; i < tbsParts.length; i++) {
    const part = tbsParts[i]!;
    if (part.tag !== 0xa3) continue; // issuerUniqueID / subjectUniqueID
    const [exts] = children(b, part);
    for (const ext of children(b, expectTag(exts, 0x30, "extensions"))) {
      const fields = children(b, expectTag(ext, 0x30, "extension"));
      const oid = oidString(b, expectTag(fields[0], 0x06, "extnID"));
      let critical = false;
      let k = 1;
      if (fields[k]?.tag === 0x01) critical = b[fields[k++]!.start] !== 0;
      const value = expectTag(fields[k], 0x04, "extnValue");
      const inner = readTlv(b, value.start, value.end);
      if (critical && !OPENSSL_SUPPORTED.has(oid)) unhandledCritical.push(oid);
      if (UNENFORCED_EXTENSIONS.has(oid)) unenforced.push(oid);
      switch (oid) {
        case OID.basicConstraints: {
          const bc = children(b, expectTag(inner, 0x30, "BasicConstraints"));
          let j = 0;
          const ca = bc[j]?.tag === 0x01 ? b[bc[j++]!.start] !== 0 : false;
          const pathLen = bc[j]?.tag === 0x02 ? smallInteger(b, bc[j]!) : undefined;
          // OpenSSL ignores pathLen on a non-CA.
          basicConstraints = { ca, pathLen: ca ? pathLen : undefined };
          break;
        }
        case OID.keyUsage:
          keyUsage = bitFlags(b, expectTag(inner, 0x03, "KeyUsage"));
          break;
        case OID.extKeyUsage:
          extKeyUsage = children(b, expectTag(inner, 0x30, "ExtKeyUsageSyntax")).map((t) => oidString(b, expectTag(t, 0x06, "KeyPurposeId")));
          break;
        case OID.nsCertType:
          nsCertType = bitFlags(b, expectTag(inner, 0x03, "NetscapeCertType")) & 0xff;
          break;
        case OID.subjectKeyIdentifier:
          subjectKeyId = bytes(b, expectTag(inner, 0x04, "SubjectKeyIdentifier"));
          break;
        case OID.authorityKeyIdentifier: {
          const akid: { keyId?: Buffer; serial?: Buffer } = {};
          for (const f of children(b, expectTag(inner, 0x30, "AuthorityKeyIdentifier"))) {
            if (f.tag === 0x80) akid.keyId = bytes(b, f);
            else if (f.tag === 0x82) akid.serial = integerBytes(b, f);
          }
          authorityKeyId = akid;
          break;
        }
      }
    }
  }

  return {
    x509,
    der: b,
    version,
    serial,
    subjectKey: canonicalName(b, subject),
    issuerKey: canonicalName(b, issuer),
    notBefore: validity[0] === undefined ? undefined : parseTime(b, validity[0]),
    notAfter: validity[1] === undefined ? undefined : parseTime(b, validity[1]),
    signatureAlgorithm,
    basicConstraints,
    keyUsage,
    extKeyUsage,
    nsCertType,
    subjectKeyId,
    authorityKeyId,
    unhandledCritical,
    unenforced,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// OpenSSL's predicates over these facts (crypto/x509/v3_purp.c, OpenSSL 3.0)

/** X509_check_akid: the subject's authorityKeyIdentifier does not rule `issuer` out. */
function akidMatches(issuer: CertFacts, subject: CertFacts): boolean {
  const akid = subject.authorityKeyId;
  if (akid === undefined) return true;
  if (akid.keyId !== undefined && issuer.subjectKeyId !== undefined && !akid.keyId.equals(issuer.subjectKeyId)) return false;
  if (akid.serial !== undefined && !akid.serial.equals(issuer.serial)) return false;
  return true;
}

/** The subject's signature algorithm can have been made with the issuer's key type. */
function sigAlgMatches(issuer: CertFacts, subject: CertFacts): boolean {
  const types = SIG_ALG_KEY_TYPE.get(subject.signatureAlgorithm);
  if (types === undefined) return false;
  let keyType: string | undefined;
  try {
    keyType = issuer.x509.publicKey.asymmetricKeyType;
  } catch {
    return false;
  }
  return keyType !== undefined && types.includes(keyType);
}

/** ossl_x509_likely_issued: names chain, the key identifiers agree, and the algorithm fits the key. */
export function likelyIssued(issuer: CertFacts, subject: CertFacts): boolean {
  return issuer.subjectKey === subject.issuerKey && akidMatches(issuer, subject) && sigAlgMatches(issuer, subject);
}

/** EXFLAG_SI: subject name equals issuer name. */
export function selfIssued(c: CertFacts): boolean {
  return c.subjectKey === c.issuerKey;
}

/** EXFLAG_SS: self-issued and consistent with having signed itself (the signature is not checked). */
export function selfSigned(c: CertFacts): boolean {
  return selfIssued(c) && akidMatches(c, c) && sigAlgMatches(c, c);
}

export function kuReject(c: CertFacts, usage: number): boolean {
  return c.keyUsage !== undefined && (c.keyUsage & usage) === 0;
}

function xkuReject(c: CertFacts, purposes: readonly string[]): boolean {
  return c.extKeyUsage !== undefined && !c.extKeyUsage.some((p) => purposes.includes(p));
}

function nsReject(c: CertFacts, bit: number): boolean {
  return c.nsCertType !== undefined && (c.nsCertType & bit) === 0;
}

/** ossl_x509_signing_allowed: the issuer's keyUsage permits certificate signing. */
export function signingAllowed(issuer: CertFacts): boolean {
  return !kuReject(issuer, KeyUsage.keyCertSign);
}

/** X509_check_ca: 0 not a CA, 1 a v3 CA, 3 a v1 self-signed root, 4 keyUsage certSign only, 5 netscape CA. */
export function checkCa(c: CertFacts): number {
  if (kuReject(c, KeyUsage.keyCertSign)) return 0;
  if (c.basicConstraints !== undefined) return c.basicConstraints.ca ? 1 : 0;
  if (c.version === 1 && selfSigned(c)) return 3;
  if (c.keyUsage !== undefined) return 4;
  if (c.nsCertType !== undefined && (c.nsCertType & NsCertType.anyCa) !== 0) return 5;
  return 0;
}

function checkSslCa(c: CertFacts): boolean {
  const r = checkCa(c);
  if (r === 0) return false;
  return r !== 5 || (c.nsCertType! & NsCertType.sslCa) !== 0;
}

/** X509_check_purpose for "sslserver" / "sslclient", as a CA in the chain or as the end entity. */
export function purposeAllowed(c: CertFacts, purpose: "server" | "client", asCa: boolean): boolean {
  if (purpose === "server") {
    if (xkuReject(c, [OID.serverAuth, OID.nsSgc, OID.msSgc])) return false;
    if (asCa) return checkSslCa(c);
    if (nsReject(c, NsCertType.sslServer)) return false;
    return !kuReject(c, KeyUsage.digitalSignature | KeyUsage.keyEncipherment | KeyUsage.keyAgreement);
  }
  if (xkuReject(c, [OID.clientAuth])) return false;
  if (asCa) return checkSslCa(c);
  if (kuReject(c, KeyUsage.digitalSignature | KeyUsage.keyAgreement)) return false;
  return !nsReject(c, NsCertType.sslClient);
}
