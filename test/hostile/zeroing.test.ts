// Issue 8, smaller items: key material and session blobs are zeroed once no longer needed. NodeAead.dispose()
// wipes its key bytes (it used to keep a KeyObject, which cannot be wiped), and the server engine wipes the session
// blobs (which hold its private keys) that it loaded from or handed to its store.

import { expect } from "chai";
import { createAead } from "../../lib/protocol/records/aead.js";
import type { SessionPersistence } from "../../lib/protocol/responder.js";
import { Pair } from "../helpers/pair.js";

const zero = (b: Uint8Array) => b.every((x) => x === 0);

describe("hostile: zeroing of secrets", () => {
  for (const name of ["aes-128-gcm", "aes-256-gcm", "chacha20-poly1305"] as const) {
    it(`NodeAead.dispose() zeroes its copy of the ${name} key`, () => {
      const key = new Uint8Array(name === "aes-128-gcm" ? 16 : 32).fill(0xa5);
      const aead = createAead(name, key, "node");
      const held = (aead as unknown as { key: Uint8Array }).key;
      expect(held).to.be.instanceOf(Uint8Array);
      expect(zero(held)).to.equal(false);
      // It still works with its own copy after the caller wipes the original.
      key.fill(0);
      const nonce = new Uint8Array(12);
      const sealed = aead.seal(nonce, new Uint8Array(0), Uint8Array.of(1, 2, 3));
      expect(aead.open(nonce, new Uint8Array(0), sealed)).to.deep.equal(Uint8Array.of(1, 2, 3));
      aead.dispose();
      expect(zero(held)).to.equal(true);
    });
  }

  it("the server engine zeroes the session blobs it saved and the one it loaded to resume", async () => {
    const stored = new Map<string, Uint8Array>();
    const handedToSave: Uint8Array[] = [];
    const handedByLoad: Uint8Array[] = [];
    const store: SessionPersistence = {
      load: async (id) => {
        const b = stored.get(Buffer.from(id).toString("hex"));
        if (b === undefined) return undefined;
        const copy = Uint8Array.from(b);
        handedByLoad.push(copy);
        return copy;
      },
      save: async (id, blob) => {
        handedToSave.push(blob);
        stored.set(Buffer.from(id).toString("hex"), Uint8Array.from(blob));
      },
    };
    let clientSession: Uint8Array | undefined;
    const first = new Pair({ client: { saveSession: (s) => void (clientSession = s) }, server: { sessions: store } });
    await first.handshake();
    await first.client.conn.connectionUpdate();
    await first.responder.whenIdle();
    expect(handedToSave.length).to.be.greaterThan(0);
    for (const b of handedToSave) expect(zero(b), "a saved blob left as is").to.equal(true);

    const second = new Pair({ client: { session: clientSession }, server: { sessions: store } });
    await second.handshake();
    expect(second.responder.isResumed).to.equal(true);
    expect(handedByLoad).to.have.length(1);
    expect(zero(handedByLoad[0]!), "the loaded blob left as is").to.equal(true);
  });
});
