// Client certificate chains of a chosen size, for the tests and benchmarks of large handshake messages: the
// Ed25519 leaf and its intermediate (test/fixtures/certs), padded with copies of certificates the verifier skips as
// unrelated (other-root-ca, depth3's intermediates). Verification builds the same path whatever the padding.

import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";

export const fixture = (name: string): Buffer => readFileSync(new URL(`../../../test/fixtures/certs/${name}`, import.meta.url));

const PADDING = ["other-root-ca.pem", "intermediate2-ca.pem", "intermediate3-ca.pem", "fake-ca.pem"].map((n) => fixture(n));

/** DER bytes of a PEM chain (what travels in the credential). */
export function derBytes(pem: Buffer): number {
  return splitPem(pem).reduce((n, c) => n + new X509Certificate(c).raw.length, 0);
}

function splitPem(pem: Buffer): string[] {
  return pem.toString().match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
}

/** The Ed25519 client chain padded to at least `bytes` bytes of DER. */
export function chainOfSize(bytes: number): { key: Buffer; cert: Buffer; ca: Buffer; der: number } {
  const parts = [fixture("ed25519-chain.pem")];
  let der = derBytes(parts[0]!);
  for (let i = 0; der < bytes; i++) {
    const pad = PADDING[i % PADDING.length]!;
    parts.push(pad);
    der += derBytes(pad);
  }
  return { key: fixture("ed25519.key"), cert: Buffer.concat(parts), ca: fixture("root-ca.pem"), der };
}
