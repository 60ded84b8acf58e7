// Event-loop stalls (issue 11): the engine yields before each expensive MLS step, and the node layer's
// yieldToLoop spreads a burst of steps over loop turns. Behaviour only: which steps yield, that a held yield
// holds the step, and that a burst lets other callbacks run in between; no time is asserted.

import { expect } from "chai";
import { performance } from "node:perf_hooks";
import { LOOP_BUDGET_MS, yieldToLoop } from "../../lib/node/loop-budget.js";
import { Pair } from "../helpers/pair.js";

describe("perf: yielding between MLS steps", () => {
  it("the engines yield before the ClientHello's KeyPackages, the ClientHello, the ServerHello and a ConnectionUpdate", async () => {
    const calls: string[] = [];
    const recorder = (who: string) => async () => {
      calls.push(who);
    };
    const pair = new Pair({ client: { yieldToLoop: recorder("client") }, server: { yieldToLoop: recorder("server") } });
    await pair.handshake();
    // KeyPackages (client), ClientHello (server), ServerHello (client); key confirmation does not yield.
    expect(calls).to.deep.equal(["client", "server", "client"]);
    calls.length = 0;
    await pair.client.conn.connectionUpdate();
    await pair.settle();
    expect(calls).to.deep.equal(["server"]);
    calls.length = 0;
    pair.client.conn.write(Buffer.from("data"));
    await pair.client.conn.keyUpdate({ requestPeer: true });
    await pair.settle();
    expect(calls).to.deep.equal([]); // data and KeyUpdates never wait
  });

  it("a client that keeps sessions makes its first one after a yield, and none once its connection is gone", async () => {
    const calls: string[] = [];
    const sessions: Uint8Array[] = [];
    let held: (() => void) | undefined;
    const client = {
      yieldToLoop: () => {
        calls.push("client");
        // The third yield is the one before the first session: hold it, as a busy loop would.
        return calls.length === 3 ? new Promise<void>((r) => (held = r)) : Promise.resolve();
      },
      saveSession: (blob: Uint8Array) => void sessions.push(blob),
    };
    const pair = new Pair({ client, server: { yieldToLoop: async () => undefined } });
    pair.initiator.start();
    for (let i = 0; i < 200 && held === undefined; i++) await new Promise((r) => setImmediate(r));
    // KeyPackages, ServerHello, then the first session: the key confirmation went out before it.
    expect(calls).to.deep.equal(["client", "client", "client"]);
    expect(pair.client.conn.established).to.equal(true);
    expect(pair.client.sent.length).to.be.greaterThan(1);
    expect(sessions).to.have.length(0);
    pair.client.conn.destroy();
    held!();
    await pair.client.conn.whenIdle();
    expect(sessions).to.have.length(0);
  });

  it("idle connections keep their MLS state compact, and it decodes again for the next update", async () => {
    const deferIdle = (task: () => void) => void setImmediate(task);
    const pair = new Pair({ client: { deferIdle }, server: { deferIdle } });
    await pair.handshake();
    const compact = async () => {
      await pair.settle();
      await new Promise((r) => setImmediate(r));
      return [pair.client.conn.mlsSession?.isCompact, pair.server.conn.mlsSession?.isCompact];
    };
    expect(await compact()).to.deep.equal([true, true]);
    await pair.client.conn.connectionUpdate();
    expect(await compact()).to.deep.equal([true, true]);
    pair.client.conn.write(Buffer.from("after"));
    await pair.settle();
    expect(Buffer.concat(pair.server.received).toString()).to.equal("after");
    expect(pair.client.conn.epoch).to.equal(pair.server.conn.epoch);
  });

  it("a step waits for its yield to resolve", async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let serverYields = 0;
    const pair = new Pair({
      server: {
        yieldToLoop: () => {
          serverYields++;
          return held;
        },
      },
    });
    pair.initiator.start();
    await pair.client.conn.whenIdle();
    for (let i = 0; i < 100 && serverYields === 0; i++) await new Promise((r) => setImmediate(r));
    expect(serverYields).to.equal(1);
    expect(pair.server.sent).to.have.length(0); // no ServerHello while the yield is held
    release();
    await pair.settle();
    expect(pair.client.conn.established && pair.server.conn.established).to.equal(true);
  });

  it("a burst of steps is spread over loop turns, in order, and other callbacks run in between", async () => {
    const order: number[] = [];
    let otherRanAfter = -1;
    // Each step busy-waits for half the budget, so the budget ends after a few of them.
    const step = async (i: number) => {
      await yieldToLoop();
      const until = performance.now() + LOOP_BUDGET_MS / 2;
      while (performance.now() < until);
      order.push(i);
    };
    const steps = Array.from({ length: 12 }, (_, i) => step(i));
    // Queued after every step's first yield: without a budget it would run only after all twelve.
    setImmediate(() => setImmediate(() => (otherRanAfter = order.length)));
    await Promise.all(steps);
    expect(order).to.deep.equal([...Array(12).keys()]);
    expect(otherRanAfter).to.be.greaterThan(0);
    expect(otherRanAfter).to.be.lessThan(12);
  });
});
