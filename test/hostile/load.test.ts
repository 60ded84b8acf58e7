// Issue 8, load (CI-sized; `npm run bench:resources` runs 1000 connections): concurrent connections, each doing
// 10 ConnectionUpdates and 10 KeyUpdates (and the server 10 KeyUpdates of its own) while data flows both ways;
// every byte is checked on both sides.

import { expect } from "chai";
import { updateLoad } from "../bench/resources.js";

describe("hostile: load with updates while data flows both ways", function () {
  this.timeout(60_000);

  it("8 concurrent connections, 10 ConnectionUpdates + 10 KeyUpdates each, byte-exact", async () => {
    const r = await updateLoad(8, 10, 32 * 1024);
    expect(r.bytes).to.equal(8 * 2 * 32 * 1024);
  });
});
