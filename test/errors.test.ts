// The one list of error codes (lib/errors.ts) against README's "Error codes" tables and the one error factory.

import { expect } from "chai";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as mlstls from "../lib/index.js";
import { ERROR_ALERTS, mlsTlsError, MlsTlsConfigError, MlsTlsError } from "../lib/errors.js";

const README = fileURLToPath(new URL("../../README.md", import.meta.url));

function readmeErrorCodes(): string[] {
  const text = readFileSync(README, "utf8");
  const start = text.indexOf("\n## Error codes\n");
  expect(start, "README has an Error codes section").to.be.greaterThan(0);
  const end = text.indexOf("\n## ", start + 1);
  const section = text.slice(start, end < 0 ? undefined : end);
  // A code is named by a table row that starts with it.
  return [...section.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \|/gm)].map((m) => m[1]!);
}

describe("errors: one list of codes", () => {
  it("README's Error codes tables name every code in ERROR_CODES, once, and nothing else", () => {
    const named = readmeErrorCodes();
    expect(new Set(named).size, "a code is listed twice in README").to.equal(named.length);
    expect([...named].sort()).to.deep.equal([...mlstls.ERROR_CODES].sort());
  });

  it("ERROR_CODES has no duplicates and includes every code with an alert", () => {
    expect(new Set(mlstls.ERROR_CODES).size).to.equal(mlstls.ERROR_CODES.length);
    for (const code of Object.keys(ERROR_ALERTS)) expect(mlstls.ERROR_CODES).to.include(code);
  });

  it("one factory: connection codes give an MlsTlsError with the table's alert, configuration codes a TypeError", () => {
    const e = mlsTlsError("ERR_MLSTLS_DECODE_ERROR", "bad", { cause: 1 });
    expect(e).to.be.instanceOf(MlsTlsError);
    expect(e.alert).to.equal(50);
    expect(e.remote).to.equal(false);
    expect(e.cause).to.equal(1);
    const c = mlsTlsError("ERR_INVALID_ARG_VALUE", "bad option");
    expect(c).to.be.instanceOf(MlsTlsConfigError).and.to.be.instanceOf(TypeError);
    expect(c.code).to.equal("ERR_INVALID_ARG_VALUE");
    expect(c.alert).to.equal(undefined);
    expect(c.remote).to.equal(false);
    expect(mlstls.MlsTlsConfigError).to.equal(MlsTlsConfigError);
  });
});
