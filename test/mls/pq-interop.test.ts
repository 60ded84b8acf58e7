// Our node:crypto provider's post-quantum suites against ts-mls's default provider, which takes ML-KEM and X-Wing
// from @hpke/ml-kem and @hpke/hybridkem-x-wing (another ML-KEM implementation, the "mlkem" package, and its own
// X-Wing combiner): a handshake each way round and ConnectionUpdates from both sides, for every post-quantum suite.

import { expect } from "chai";
import { Pair } from "../helpers/pair.js";
import { MlsCrypto } from "../../lib/mls/index.js";
import { SUITES } from "../../lib/suites.js";

const PQ = SUITES.filter((s) => s.postQuantum && s.mlsSupported);

describe("mls: post-quantum interop, node:crypto provider <-> ts-mls default provider", function () {
  this.timeout(30000);
  const node = new MlsCrypto({ provider: "node" });
  const dflt = new MlsCrypto({ provider: "default" });

  for (const s of PQ) {
    it(`${s.id} ${s.name}`, async () => {
      for (const [client, server] of [[node, dflt], [dflt, node]] as const) {
        const p = new Pair({ client: { suites: [s.id], mlsCrypto: client }, server: { suites: [s.id], mlsCrypto: server } });
        await p.handshake();
        expect(p.client.errors).to.deep.equal([]);
        expect(p.server.errors).to.deep.equal([]);
        expect(p.initiator.suite?.id).to.equal(s.id);
        await Promise.all([p.client.conn.connectionUpdate(), p.settle()]);
        await Promise.all([p.server.conn.connectionUpdate(), p.settle()]);
        p.client.conn.write(Buffer.from("up"));
        p.server.conn.write(Buffer.from("down"));
        await p.settle();
        expect(Buffer.concat(p.server.received).toString()).to.equal("up");
        expect(Buffer.concat(p.client.received).toString()).to.equal("down");
        expect(p.initiator.epoch).to.equal(p.responder.epoch);
      }
    });
  }
});
