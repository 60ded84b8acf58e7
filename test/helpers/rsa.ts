// The fixtures of test/fixtures/rsa (see generate.sh there) and per-connection delegators made from them.

import { createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { Delegator } from "../../lib/auth/delegation.js";
import { parsePemCertificates } from "../../lib/auth/identity.js";

/** A file of test/fixtures/rsa. */
export function rsaFixture(name: string): Buffer {
  return readFileSync(new URL(`../../../test/fixtures/rsa/${name}`, import.meta.url));
}

/** The delegator of fixture `name` (its key and chain). */
export function delegatorOf(name: string): Delegator {
  return new Delegator(createPrivateKey(rsaFixture(`${name}.key`)), parsePemCertificates(rsaFixture(`${name}-chain.pem`)));
}
