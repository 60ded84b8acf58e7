// CI-sized run of the fuzz targets (test/fuzz/targets.ts): every decoder, the deframer and the engine in both
// roles; `npm run bench:resources` runs 1,000,000 inputs per target.

import { TARGETS, type Seeds, fuzz, makeSeeds } from "./targets.js";

describe("fuzz: every decoder, the deframer and the engine", function () {
  this.timeout(60_000);
  let seeds: Seeds;
  before(async () => {
    seeds = await makeSeeds();
  });
  for (const t of TARGETS) {
    const count = t.name.startsWith("engine") ? 300 : 5000;
    it(`${t.name}: ${count} random and mutated inputs give only the project's errors`, async () => {
      await fuzz(t, seeds, count, 7);
    });
  }
});
