// NODE_DEBUG=mlstls's source: the engine's trace lines name messages, states, epochs, updates, repairs and alerts,
// and never carry a secret or application data.

import { expect } from "chai";
import { Pair, eventsOf } from "../helpers/pair.js";
import { MlsTlsError } from "../../lib/errors.js";

describe("protocol: the trace (NODE_DEBUG=mlstls)", () => {
  it("tells the handshake, an update, a KeyUpdate, a fatal alert, and never a secret or application data", async () => {
    const lines: string[] = [];
    const trace = (l: string): void => void lines.push(l);
    const p = new Pair({ client: { trace, keylog: true }, server: { trace, keylog: true } });
    await p.handshake();
    p.client.conn.write(Buffer.from("application data: hunter2"));
    await p.client.conn.connectionUpdate();
    await p.client.conn.keyUpdate({ requestPeer: true });
    await p.settle();
    p.server.conn.abort(new MlsTlsError("ERR_MLSTLS_SESSION_REPLACED", "replaced"));
    await p.settle();
    const text = lines.join("\n");
    for (const want of [
      "initiator [start] send ClientHello (suites 1,3,2,7; KeyPackages 2)",
      "responder [wait_client_hello] recv ClientHello",
      "send ServerHello (suite 1",
      "initiator [wait_server_hello] send EpochKeyUpdate (epoch 1)",
      "responder [wait_key_confirmation] recv EpochKeyUpdate (epoch 1)",
      "established (suite 1, epoch 1)",
      "send ConnectionUpdate",
      "enter epoch 2",
      "send KeyUpdate (update_requested)",
      "fatal error ERR_MLSTLS_SESSION_REPLACED (alert access_denied)",
      "recv alert access_denied",
      "records in",
    ]) {
      expect(text, want).to.contain(want);
    }
    expect(text).to.not.contain("hunter2");
    // No traffic secret, exporter secret or random appears in any line.
    const secrets = [...eventsOf(p.client, "keylog"), ...eventsOf(p.server, "keylog")].flatMap((e) => e.line.trim().split(" ").slice(1));
    expect(secrets.length).to.be.greaterThan(4);
    for (const hex of secrets) expect(text.toLowerCase()).to.not.contain(hex.toLowerCase());
  });
});
