// The node-compat tests again, with node's certificate hierarchy on RSA-2048 keys as node's own fixtures are
// (test/fixtures/node-compat-rsa/, made by `KEYTYPE=rsa generate.sh`): mlstls serves and authenticates with RSA
// certificates through per-connection delegation, so every scenario must pass as it does on P-256.
// They run in a child mocha (the fixture set is chosen per process), each still side by side with node:tls.

import { expect } from "chai";
import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

describe("node-compat with RSA fixtures (node's key type)", function () {
  this.timeout(120_000);

  it("every node-compat scenario passes on RSA-keyed fixtures, on node:tls and on mlstls", async () => {
    if (process.env.MLSTLS_COMPAT_FIXTURES === "rsa") return; // the child run itself
    const here = fileURLToPath(new URL(".", import.meta.url));
    const files = readdirSync(here)
      .filter((f) => f.endsWith(".test.js") && f !== "rsa-fixtures.test.js")
      .map((f) => `${here}${f}`);
    const mocha = fileURLToPath(new URL("../../../node_modules/mocha/bin/mocha.js", import.meta.url));
    const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve) => {
      execFile(
        process.execPath,
        [mocha, "--no-config", "--timeout", "30000", "--reporter", "dot", ...files],
        { env: { ...process.env, MLSTLS_COMPAT_FIXTURES: "rsa" }, maxBuffer: 16 << 20 },
        (err, stdout, stderr) => resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? 1), out: stdout + stderr }),
      );
    });
    expect(out, out).to.match(/\d+ passing/);
    expect(out, out).to.not.match(/failing/);
    expect(Number(/(\d+) passing/.exec(out)![1])).to.be.greaterThan(100);
    expect(code, out).to.equal(0);
  });
});
