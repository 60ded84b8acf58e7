// Trust stores: the certificate authorities a peer's chain may end in (node's `ca` option, or its root store).

import { createHash, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import * as tls from "node:tls";
import { mlsTlsError } from "../errors.js";
import { parsePemCertificates } from "./identity.js";
import { certFacts, likelyIssued, type CertFacts } from "./x509.js";


export type CaInput = string | Buffer | X509Certificate | readonly (string | Buffer | X509Certificate)[];

/** Trust stores by the SHA-256 of their `ca` content; a store is immutable, so one serves every connection. */
export const STORE_CACHE_MAX = 32;
const storesByContent = new Map<string, TrustStore>();
let nextStoreId = 1;

/** A digest of `ca`'s content (each item's kind, length and bytes); undefined for input `from` will refuse. */
function contentId(items: readonly unknown[]): string | undefined {
  const h = createHash("sha256");
  for (const item of items) {
    let bytes: Uint8Array;
    let kind: string;
    if (item instanceof X509Certificate) [kind, bytes] = ["x", item.raw];
    else if (typeof item === "string") [kind, bytes] = ["s", Buffer.from(item, "utf8")];
    else if (Buffer.isBuffer(item)) [kind, bytes] = ["b", item];
    else return undefined;
    h.update(`${kind}${bytes.length}:`).update(bytes);
  }
  return h.digest("base64");
}

/** PEM blocks: label and base64 body (headers such as Proc-Type are never inside certificate blocks). */
const PEM_BLOCK_RE = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
/** The labels OpenSSL's PEM_read_bio_X509_AUX, which node uses for `ca`, reads as certificates. */
const CERT_LABELS = new Set(["CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"]);

/** The first DER SEQUENCE of `der` (a TRUSTED CERTIFICATE is the certificate followed by OpenSSL's trust data). */
function firstSequence(der: Buffer): Buffer | undefined {
  if (der.length < 2 || der[0] !== 0x30) return undefined;
  let len = der[1]!;
  let off = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || der.length < 2 + n) return undefined;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[2 + i]!;
    off = 2 + n;
  }
  return off + len <= der.length ? der.subarray(0, off + len) : undefined;
}

/**
 * The certificates of one `ca` entry, read as node reads them: certificate blocks in order (any of OpenSSL's three
 * labels), other blocks (keys, CRLs) skipped, and reading stops at the first certificate that does not parse, the
 * ones before it kept. An entry without certificates adds none: node's `ca` then trusts nothing from it.
 */
function caCertificates(pem: string | Buffer): CertFacts[] {
  const text = Buffer.isBuffer(pem) ? pem.toString("latin1") : pem;
  const out: CertFacts[] = [];
  for (const m of text.matchAll(PEM_BLOCK_RE)) {
    if (!CERT_LABELS.has(m[1]!)) continue;
    const der = firstSequence(Buffer.from(m[2]!.replace(/\s+/g, ""), "base64"));
    if (der === undefined) break;
    try {
      out.push(certFacts(new X509Certificate(der).raw));
    } catch {
      break;
    }
  }
  return out;
}

/** Parsed trust anchors, indexed by canonical subject. Build once per configuration, not per handshake. */
export class TrustStore {
  readonly certificates: readonly CertFacts[];
  readonly #bySubject = new Map<string, CertFacts[]>();
  readonly #byDer = new Set<string>();

  /** Distinct per store; stores are immutable, so (id, chain) names one verification. */
  readonly id = nextStoreId++;

  private constructor(certs: CertFacts[]) {
    this.certificates = certs;
    for (const c of certs) {
      const list = this.#bySubject.get(c.subjectKey);
      if (list === undefined) this.#bySubject.set(c.subjectKey, [c]);
      else list.push(c);
      this.#byDer.add(c.der.toString("base64"));
    }
  }

  /** From node's `ca` forms: PEM strings or Buffers (each may hold several certificates), X509Certificates. */
  static from(ca: CaInput | TrustStore): TrustStore {
    if (ca instanceof TrustStore) return ca;
    // connect() is called with the same `ca` every time: the store is built once per content, not per call.
    const items = Array.isArray(ca) ? ca : [ca];
    const id = contentId(items as readonly unknown[]);
    const cached = id === undefined ? undefined : storesByContent.get(id);
    if (cached !== undefined) {
      storesByContent.delete(id!);
      storesByContent.set(id!, cached);
      return cached;
    }
    const store = TrustStore.#parse(items as readonly unknown[]);
    if (id !== undefined) {
      if (storesByContent.size >= STORE_CACHE_MAX) storesByContent.delete(storesByContent.keys().next().value!);
      storesByContent.set(id, store);
    }
    return store;
  }

  static #parse(items: readonly unknown[]): TrustStore {
    const certs: CertFacts[] = [];
    for (const [i, item] of items.entries()) {
      if (!(item instanceof X509Certificate) && typeof item !== "string" && !Buffer.isBuffer(item)) {
        throw mlsTlsError("ERR_INVALID_ARG_TYPE", `ca[${i}] must be a PEM string, a Buffer or an X509Certificate`);
      }
      if (item instanceof X509Certificate) certs.push(certFacts(item.raw));
      else certs.push(...caCertificates(item));
    }
    return new TrustStore(certs);
  }

  static #default: TrustStore | undefined;

  /** node's default: tls.rootCertificates, plus NODE_EXTRA_CA_CERTS as node adds them. */
  static default(): TrustStore {
    if (TrustStore.#default === undefined) {
      const certs: CertFacts[] = [];
      for (const pem of tls.rootCertificates) {
        try {
          for (const c of parsePemCertificates(pem)) certs.push(certFacts(c.raw));
        } catch {
          // A bundled root our parser refuses cannot anchor anything; leaving it out only fails closed.
        }
      }
      const extra = process.env.NODE_EXTRA_CA_CERTS;
      if (extra) {
        try {
          for (const c of parsePemCertificates(readFileSync(extra))) certs.push(certFacts(c.raw));
        } catch (e) {
          process.emitWarning(`Ignoring extra certs from \`${extra}\`, load failed: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      TrustStore.#default = new TrustStore(certs);
    }
    return TrustStore.#default;
  }

  /** A new store: this one's anchors and those of `ca` (a store is immutable; secureContext.context.addCACert uses this). */
  with(ca: CaInput): TrustStore {
    const added = TrustStore.#parse(Array.isArray(ca) ? ca : [ca]).certificates;
    return new TrustStore([...this.certificates, ...added.filter((c) => !this.has(c))]);
  }

  has(c: CertFacts): boolean {
    return this.#byDer.has(c.der.toString("base64"));
  }

  /** Anchors that may have issued `c` (OpenSSL's check_issued: names, key identifiers, algorithm). */
  candidates(c: CertFacts): CertFacts[] {
    return (this.#bySubject.get(c.issuerKey) ?? []).filter((ca) => likelyIssued(ca, c));
  }
}

