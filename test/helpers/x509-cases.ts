// The X.509 cases that node:tls and mlstls must decide alike, shared by the verifier's unit tests
// (test/verify.test.ts) and the end-to-end socket tests (test/auth-x509.test.ts).

import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type * as tls from "node:tls";

export const fixture = (name: string): Buffer => readFileSync(new URL(`../../../test/fixtures/certs/${name}`, import.meta.url));
export const ROOT = fixture("root-ca.pem");

export function pemOf(der: Uint8Array): Buffer {
  const b64 = Buffer.from(der).toString("base64").match(/.{1,64}/g)!.join("\n");
  return Buffer.from(`-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`);
}

/** The p256 leaf with one signature bit flipped. */
export function badSignatureChain(): Buffer {
  const der = Buffer.from(new X509Certificate(fixture("p256.pem")).raw);
  der[der.length - 1] ^= 1;
  return Buffer.concat([pemOf(der), fixture("intermediate-ca.pem")]);
}

export interface ClientCase {
  name: string;
  key: string;
  chain: Buffer;
  ca?: Buffer | Buffer[];
  servername?: string;
  checkServerIdentity?: (host: string, cert: tls.PeerCertificate) => Error | undefined;
  allowPartialTrustChain?: boolean;
  /** node's verdict, asserted too, so the table documents what node:tls does. */
  expect: string | null;
}

export const CLIENT_CASES: ClientCase[] = [
  { name: "Ed25519 leaf, depth 2", key: "ed25519.key", chain: fixture("ed25519-chain.pem"), ca: ROOT, servername: "localhost", expect: null },
  { name: "P-256 leaf, depth 2", key: "p256.key", chain: fixture("p256-chain.pem"), ca: ROOT, servername: "localhost", expect: null },
  { name: "P-384 leaf, depth 2", key: "p384.key", chain: fixture("p384-chain.pem"), ca: ROOT, servername: "localhost", expect: null },
  { name: "depth 1 (leaf issued by the root)", key: "depth1.key", chain: fixture("depth1-chain.pem"), ca: ROOT, servername: "localhost", expect: null },
  { name: "depth 3 (two intermediates)", key: "depth3.key", chain: fixture("depth3-chain.pem"), ca: ROOT, servername: "localhost", expect: null },
  { name: "IP address host, no servername", key: "p256.key", chain: fixture("p256-chain.pem"), ca: ROOT, expect: null },
  { name: "chain that includes the root", key: "p256.key", chain: Buffer.concat([fixture("p256-chain.pem"), ROOT]), ca: ROOT, servername: "localhost", expect: null },
  { name: "ca with several roots", key: "p256.key", chain: fixture("p256-chain.pem"), ca: [fixture("other-root-ca.pem"), ROOT], servername: "localhost", expect: null },
  { name: "wrong host", key: "p256.key", chain: fixture("p256-chain.pem"), ca: ROOT, servername: "example.com", expect: "ERR_TLS_CERT_ALTNAME_INVALID" },
  { name: "wildcard match", key: "wildcard.key", chain: fixture("wildcard-chain.pem"), ca: ROOT, servername: "www.example.test", expect: null },
  { name: "wildcard, two labels deep", key: "wildcard.key", chain: fixture("wildcard-chain.pem"), ca: ROOT, servername: "a.b.example.test", expect: "ERR_TLS_CERT_ALTNAME_INVALID" },
  { name: "wildcard, bare domain", key: "wildcard.key", chain: fixture("wildcard-chain.pem"), ca: ROOT, servername: "example.test", expect: "ERR_TLS_CERT_ALTNAME_INVALID" },
  { name: "expired", key: "expired.key", chain: fixture("expired-chain.pem"), ca: ROOT, servername: "localhost", expect: "CERT_HAS_EXPIRED" },
  { name: "not yet valid", key: "not-yet-valid.key", chain: fixture("not-yet-valid-chain.pem"), ca: ROOT, servername: "localhost", expect: "CERT_NOT_YET_VALID" },
  { name: "expired and intermediate missing (last error wins)", key: "expired.key", chain: fixture("expired.pem"), ca: ROOT, servername: "localhost", expect: "CERT_HAS_EXPIRED" },
  { name: "self-signed", key: "self-signed.key", chain: fixture("self-signed.pem"), ca: ROOT, servername: "localhost", expect: "DEPTH_ZERO_SELF_SIGNED_CERT" },
  { name: "self-signed, trusted as ca", key: "self-signed.key", chain: fixture("self-signed.pem"), ca: fixture("self-signed.pem"), servername: "localhost", expect: null },
  { name: "unknown CA, leaf only", key: "unknown-ca.key", chain: fixture("unknown-ca.pem"), ca: ROOT, servername: "localhost", expect: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" },
  { name: "unknown CA, its root sent along", key: "unknown-ca.key", chain: Buffer.concat([fixture("unknown-ca.pem"), fixture("other-root-ca.pem")]), ca: ROOT, servername: "localhost", expect: "SELF_SIGNED_CERT_IN_CHAIN" },
  { name: "intermediate missing", key: "p256.key", chain: fixture("p256.pem"), ca: ROOT, servername: "localhost", expect: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" },
  { name: "root not in ca", key: "p256.key", chain: fixture("p256-chain.pem"), ca: fixture("other-root-ca.pem"), servername: "localhost", expect: "UNABLE_TO_GET_ISSUER_CERT_LOCALLY" },
  { name: "default ca (node's roots)", key: "p256.key", chain: fixture("p256-chain.pem"), servername: "localhost", expect: "UNABLE_TO_GET_ISSUER_CERT_LOCALLY" },
  { name: "only the intermediate in ca", key: "p256.key", chain: fixture("p256.pem"), ca: fixture("intermediate-ca.pem"), servername: "localhost", expect: "UNABLE_TO_GET_ISSUER_CERT" },
  { name: "only the intermediate in ca, allowPartialTrustChain", key: "p256.key", chain: fixture("p256.pem"), ca: fixture("intermediate-ca.pem"), servername: "localhost", allowPartialTrustChain: true, expect: null },
  { name: "issued by a CA without keyCertSign", key: "nocertsign-issued.key", chain: fixture("nocertsign-issued-chain.pem"), ca: ROOT, servername: "localhost", expect: "UNSPECIFIED" },
  { name: "issued by an end-entity certificate", key: "not-ca-issued.key", chain: fixture("not-ca-issued-chain.pem"), ca: ROOT, servername: "localhost", expect: "UNSPECIFIED" },
  { name: "issued by a non-v3-CA", key: "fake-ca-issued.key", chain: fixture("fake-ca-issued-chain.pem"), ca: ROOT, servername: "localhost", expect: "INVALID_CA" },
  { name: "pathLen exceeded", key: "pathlen.key", chain: fixture("pathlen-chain.pem"), ca: ROOT, servername: "localhost", expect: "PATH_LENGTH_EXCEEDED" },
  { name: "client-only certificate used by a server", key: "client-only.key", chain: fixture("client-only-chain.pem"), ca: ROOT, servername: "localhost", expect: "INVALID_PURPOSE" },
  { name: "unknown critical extension", key: "critical-ext.key", chain: fixture("critical-ext-chain.pem"), ca: ROOT, servername: "localhost", expect: "UNSPECIFIED" },
  { name: "bad signature", key: "p256.key", chain: badSignatureChain(), ca: ROOT, servername: "localhost", expect: "CERT_SIGNATURE_FAILURE" },
  {
    name: "custom checkServerIdentity refusing",
    key: "p256.key",
    chain: fixture("p256-chain.pem"),
    ca: ROOT,
    servername: "localhost",
    checkServerIdentity: (host, cert) => (cert.subject.CN === host ? new Error(`no thanks, ${host}`) : undefined),
    expect: "no thanks, localhost",
  },
  {
    name: "custom checkServerIdentity accepting any name",
    key: "p256.key",
    chain: fixture("p256-chain.pem"),
    ca: ROOT,
    servername: "example.com",
    checkServerIdentity: () => undefined,
    expect: null,
  },
];

/** Client certificates a server with requestCert must judge as node:tls does: [name, key file, chain, node's code]. */
export const CLIENT_CERT_CASES: readonly [string, string, Buffer, string | null][] = [
  ["Ed25519 client", "ed25519.key", fixture("ed25519-chain.pem"), null],
  ["P-256 client", "p256.key", fixture("p256-chain.pem"), null],
  ["P-384 client", "p384.key", fixture("p384-chain.pem"), null],
  ["depth 3", "depth3.key", fixture("depth3-chain.pem"), null],
  ["client-only certificate", "client-only.key", fixture("client-only-chain.pem"), null],
  ["server-only certificate", "server-only.key", fixture("server-only-chain.pem"), "INVALID_PURPOSE"],
  ["expired", "expired.key", fixture("expired-chain.pem"), "CERT_HAS_EXPIRED"],
  ["self-signed", "self-signed.key", fixture("self-signed.pem"), "DEPTH_ZERO_SELF_SIGNED_CERT"],
  ["unknown CA", "unknown-ca.key", fixture("unknown-ca.pem"), "UNABLE_TO_VERIFY_LEAF_SIGNATURE"],
  ["intermediate missing", "p256.key", fixture("p256.pem"), "UNABLE_TO_VERIFY_LEAF_SIGNATURE"],
];
