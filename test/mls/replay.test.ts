// A whole connection replayed byte for byte: the engines' randomness (ConnectionOptions.randomBytes) and MLS's
// (ConnectionOptions.mlsCrypto) are both injected, so two runs from the same seeds send identical records.

import { expect } from "chai";
import { generateIdentity, MlsCrypto } from "../../lib/mls/index.js";
import { Pair } from "../helpers/pair.js";
import { Prng } from "../helpers/prng.js";

async function run(seed: number, now: number): Promise<{ c2s: Buffer; s2c: Buffer }> {
  const source = (s: number) => {
    const rng = new Prng(s);
    return (n: number) => rng.bytes(n);
  };
  // Ed25519 (suite 1): its signatures are deterministic; node's ECDSA takes its nonces from OpenSSL.
  const clientCrypto = new MlsCrypto({ randomBytes: source(seed), now: () => now });
  const serverCrypto = new MlsCrypto({ randomBytes: source(seed + 1), now: () => now });
  const serverIdentity = await generateIdentity(1, undefined, serverCrypto);
  const p = new Pair({
    client: { suites: [1], randomBytes: source(seed + 2), mlsCrypto: clientCrypto },
    server: { suites: [1], identity: serverIdentity, randomBytes: source(seed + 3), mlsCrypto: serverCrypto },
  });
  await p.handshake();
  p.client.conn.write(Buffer.from("ping"));
  await p.settle();
  await p.client.conn.connectionUpdate();
  await p.settle();
  p.server.conn.write(Buffer.from("pong"));
  await p.settle();
  expect(p.server.received.map(String).join("")).to.equal("ping");
  expect(p.client.received.map(String).join("")).to.equal("pong");
  return { c2s: Buffer.concat(p.client.sent), s2c: Buffer.concat(p.server.sent) };
}

describe("mls: deterministic replay of a connection", () => {
  it("the same seeds give the same bytes on the wire, in both directions, through a ConnectionUpdate", async () => {
    const now = Date.now(); // ts-mls checks KeyPackage lifetimes on its own clock: a fixed time near the real one
    const a = await run(42, now);
    const b = await run(42, now);
    expect(a.c2s.equals(b.c2s)).to.equal(true);
    expect(a.s2c.equals(b.s2c)).to.equal(true);
    const c = await run(43, now);
    expect(a.c2s.equals(c.c2s)).to.equal(false);
  });
});
