// The node:crypto provider imports each signature key once (issue 11): signatures must still be made with the
// key that was passed, whichever copy of it, across evictions, and for every scheme.

import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { makeSignatures, PRIVATE_KEYS_MAX } from "../../lib/mls/node-crypto/signature.js";

const rng = (n: number) => new Uint8Array(randomBytes(n));

describe("mls: node:crypto provider key cache", () => {
  for (const alg of ["Ed25519", "P256", "P384"] as const) {
    it(`${alg}: each signature is made with the key passed, through copies and evictions`, async () => {
      const sig = makeSignatures(rng)[alg]!;
      const keys = [];
      for (let i = 0; i < PRIVATE_KEYS_MAX + 3; i++) keys.push(await sig.keygen());
      const msg = new TextEncoder().encode("message");
      // Twice round, so the second pass meets evicted keys again.
      for (let round = 0; round < 2; round++) {
        for (const [i, k] of keys.entries()) {
          const s = await sig.sign(Uint8Array.from(k.signKey), msg);
          expect(await sig.verify(k.publicKey, msg, s), `key ${i}`).to.equal(true);
          const other = keys[(i + 1) % keys.length]!;
          expect(await sig.verify(other.publicKey, msg, s), `key ${i} against ${i + 1}`).to.equal(false);
        }
      }
    });
  }

  it("a key changed in place signs with its new bytes", async () => {
    const sig = makeSignatures(rng).Ed25519!;
    const a = await sig.keygen();
    const b = await sig.keygen();
    const msg = Uint8Array.of(1, 2, 3);
    const held = Uint8Array.from(a.signKey);
    expect(await sig.verify(a.publicKey, msg, await sig.sign(held, msg))).to.equal(true);
    held.set(b.signKey);
    expect(await sig.verify(b.publicKey, msg, await sig.sign(held, msg))).to.equal(true);
  });
});
