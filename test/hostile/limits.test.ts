// Per-server cap on handshakes in progress (issue 8, resource limits): stalled handshakes cannot pile up without
// bound; the one over the cap is refused at once, and the server serves again as soon as one ends.

import { expect } from "chai";
import { once } from "node:events";
import * as net from "node:net";
import * as mlstls from "../../lib/index.js";
import { Cleanup, SERVED, listen, secureConnect } from "../helpers/sockets.js";
import { until } from "./harness.js";

describe("hostile: per-server limits", function () {
  this.timeout(20_000);
  const cleanup = new Cleanup();

  it("maxUnconfirmedHandshakes: the connection over the cap is refused with ERR_MLSTLS_TOO_MANY_HANDSHAKES", async () => {
    const server = cleanup.server(mlstls.createServer({ ...SERVED, maxUnconfirmedHandshakes: 3 }, (s) => s.pipe(s)));
    const errors: (Error & { code?: string })[] = [];
    server.on("tlsClientError", (e: Error) => errors.push(e));
    const port = await listen(server);
    const stalled: net.Socket[] = [];
    for (let i = 0; i < 3; i++) {
      const s = net.connect({ port, host: "127.0.0.1" });
      s.on("error", () => undefined);
      await once(s, "connect");
      s.write(Uint8Array.of(22, 3, 3)); // half a record header, then nothing
      stalled.push(s);
    }
    await until(() => server.handshakesInProgress === 3, "three handshakes in progress");
    const over = net.connect({ port, host: "127.0.0.1" });
    over.on("error", () => undefined);
    await once(over, "close");
    expect(errors.map((e) => e.code)).to.deep.equal(["ERR_MLSTLS_TOO_MANY_HANDSHAKES"]);
    // One stalled peer goes away: a good client is served again.
    stalled[0]!.destroy();
    await until(() => server.handshakesInProgress === 2, "the slot to be freed");
    const client = cleanup.stream(await secureConnect({ port }));
    expect(client.encrypted).to.equal(true);
    await until(() => server.handshakesInProgress === 2, "the good client's handshake to leave the count");
    for (const s of stalled) s.destroy();
    // node's convention for a number outside its range: RangeError, ERR_OUT_OF_RANGE.
    expect(() => mlstls.createServer({ maxUnconfirmedHandshakes: 0 })).to.throw(RangeError).with.property("code", "ERR_OUT_OF_RANGE");
  });
});
