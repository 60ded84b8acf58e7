// The node provider remembers recent successful signature verifications: a remembered success must never make a
// different message, signature or key verify.

import { expect } from "chai";
import { getCiphersuiteFromName, type CiphersuiteImpl, type CiphersuiteName } from "ts-mls";
import { nodeCryptoProvider } from "../../lib/mls/crypto-node.js";
import { verified, VERIFIED_MAX } from "../../lib/mls/node-crypto/signature.js";

const SUITES: readonly CiphersuiteName[] = [
  "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519",
  "MLS_128_DHKEMP256_AES128GCM_SHA256_P256",
  "MLS_256_DHKEMP384_AES256GCM_SHA384_P384",
];

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

describe("mls-crypto-node: remembered verifications", () => {
  for (const name of SUITES) {
    it(`only the very same key, message and signature verify again (${name})`, async () => {
      const impl: CiphersuiteImpl = await nodeCryptoProvider.getCiphersuiteImpl(getCiphersuiteFromName(name));
      const sig = impl.signature;
      const a = await sig.keygen();
      const b = await sig.keygen();
      const msg = utf8("a KeyPackage, say");
      const remembered = verified.size;
      const s = await sig.sign(a.signKey, msg);
      // A signature we made is remembered as verified under our public key (ts-mls re-checks our own leaf).
      expect(verified.size).to.equal(Math.min(remembered + 1, VERIFIED_MAX));
      expect(await sig.verify(a.publicKey, msg, s)).to.equal(true);
      expect(await sig.verify(a.publicKey, msg, s)).to.equal(true);

      // The same array, changed in place after its success was remembered.
      const mutable = Uint8Array.from(msg);
      expect(await sig.verify(a.publicKey, mutable, s)).to.equal(true);
      mutable[0]! ^= 1;
      expect(await sig.verify(a.publicKey, mutable, s)).to.equal(false);

      const flipped = Uint8Array.from(s);
      flipped[flipped.length - 1]! ^= 1;
      expect(await sig.verify(a.publicKey, msg, flipped)).to.equal(false);
      expect(await sig.verify(b.publicKey, msg, s)).to.equal(false);
      // A failure is not remembered as anything; the genuine triple still verifies.
      expect(await sig.verify(a.publicKey, msg, flipped)).to.equal(false);
      expect(await sig.verify(a.publicKey, msg, s)).to.equal(true);
    });
  }
});
