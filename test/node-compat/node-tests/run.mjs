// Runs Node.js's own test-tls-*.js files, unmodified, with require("tls") mapped to mlstls, and counts the results
// against the classification in ../README.md. Not part of `npm test`: it needs a copy of node's test directory
// (Node v20.11.1's is in the public repository denoland/node_test), which CI cannot fetch.
//
//   node test/node-compat/node-tests/run.mjs --node-test DIR [--fixtures DIR] [--target FILE] [--only NAME]
//                                             [--out results.json] [--baseline]
//
//   --node-test  node's test/ directory (with common/, fixtures/, parallel/, sequential/, pummel/)
//   --fixtures   the fixtures to use instead of node's own (e.g. made by rekey.mjs: node's RSA keys re-keyed to P-256)
//   --target     the mlstls entry to map "tls" to; default: this checkout's dist/cjs/index.js (npm run build first).
//                It must lie inside a project whose node_modules holds mlstls's dependencies.
//   --baseline   run the same files against node:tls itself
//
// Each test runs as its own process (60 s timeout, 120 s for pummel/), two at a time, with its `// Flags:` line.

import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const HERE = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    "node-test": { type: "string" },
    fixtures: { type: "string" },
    target: { type: "string", default: resolve(HERE, "../../../dist/cjs/index.js") },
    only: { type: "string" },
    out: { type: "string" },
    baseline: { type: "boolean", default: false },
  },
});
if (args["node-test"] === undefined) throw new Error("--node-test DIR is required (node's test/ directory)");
const nodeTest = resolve(args["node-test"]);

// A private copy of node's test tree, so that re-keyed fixtures replace node's and tests may write where they like.
const tree = mkdtempSync(join(tmpdir(), "mlstls-node-tests-"));
mkdirSync(join(tree, "test"));
cpSync(join(nodeTest, "common"), join(tree, "test/common"), { recursive: true });
cpSync(resolve(args.fixtures ?? join(nodeTest, "fixtures")), join(tree, "test/fixtures"), { recursive: true, dereference: true });
const tests = [];
for (const dir of ["parallel", "sequential", "pummel"]) {
  mkdirSync(join(tree, "test", dir));
  for (const f of readdirSync(join(nodeTest, dir))) {
    if (!/^test-tls-.*\.js$/.test(f)) continue;
    cpSync(join(nodeTest, dir, f), join(tree, "test", dir, f));
    const name = f.replace(/\.js$/, "");
    if (args.only === undefined || name === args.only) tests.push({ dir, file: f, name });
  }
}

/**
 * The classification lives in ../README.md, in its two tables: "Node test files that cannot apply to MLS-TLS"
 * (set aside) and "Applicable tests that fail" (counted, with their reason). Rows start with the file name.
 */
function tableRows(markdown, heading) {
  const start = markdown.indexOf(`## ${heading}`);
  if (start < 0) throw new Error(`../README.md has no section "${heading}"`);
  const end = markdown.indexOf("\n## ", start + 1);
  const rows = new Map();
  for (const m of markdown.slice(start, end < 0 ? undefined : end).matchAll(/^\| (?:(?:parallel|sequential|pummel)\/)?(test-tls-[\w.-]+?)(?:\.js)? \| ([^|]+) \| (.+) \|$/gm)) {
    rows.set(m[1], { kind: m[2].trim(), reason: m[3].trim() });
  }
  return rows;
}
const readme = readFileSync(join(HERE, "../README.md"), "utf8");
const notApplicable = tableRows(readme, "Node test files that cannot apply to MLS-TLS");
const knownFailures = tableRows(readme, "Applicable tests that fail");

function flagsOf(file) {
  const m = /\/\/ Flags:\s+(--.*)/.exec(readFileSync(file, "utf8").slice(0, 1500));
  return m ? m[1].trim().split(/\s+/) : [];
}

function firstError(text) {
  const lines = text.split("\n");
  const i = lines.findIndex((l) => /^\s*(Uncaught )?\w*Error( \[[\w.]+\])?:/.test(l) || /^Mismatched/.test(l));
  const line = i >= 0 ? lines[i] : (lines.find((l) => l.trim() !== "") ?? "");
  const at = lines.find((l) => /at .*test-tls-[^/]*\.js:\d+/.test(l));
  return { line: line.trim().slice(0, 300), at: at ? at.trim().replace(tree + "/", "").slice(0, 200) : null };
}

function runOne(t, slot) {
  return new Promise((done) => {
    const file = join(tree, "test", t.dir, t.file);
    const mark = join(tree, `.mark-${slot}`);
    rmSync(mark, { force: true });
    const env = {
      ...process.env,
      NODE_OPTIONS: `--require ${join(HERE, "shim.cjs")}`,
      MLSTLS_TARGET: args.baseline ? "" : resolve(args.target),
      MLSTLS_TREE: tree,
      MLSTLS_MARK: mark,
      TEST_THREAD_ID: String(slot),
    };
    const start = Date.now();
    const child = spawn(process.execPath, [...flagsOf(file), file], { cwd: tree, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
    }, t.dir === "pummel" ? 120_000 : 60_000);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const skipped = /^1\.\.0 # Skipped: (.*)$/m.exec(out);
      const status = timedOut ? "timeout" : skipped && code === 0 ? "skip" : code === 0 && !signal ? "pass" : "fail";
      done({
        name: t.name,
        dir: t.dir,
        status,
        ms: Date.now() - start,
        usedMlstls: existsSync(mark),
        error: status === "fail" || status === "timeout" ? firstError(out) : null,
      });
    });
  });
}

const results = [];
let next = 0;
async function worker(slot) {
  while (next < tests.length) {
    const r = await runOne(tests[next++], slot);
    results.push(r);
    process.stderr.write(`${r.status.padEnd(7)} ${r.name}${r.error ? `  | ${r.error.line.slice(0, 120)}` : ""}\n`);
  }
}
await Promise.all([worker(1), worker(2)]);
rmSync(tree, { recursive: true, force: true });
results.sort((a, b) => a.name.localeCompare(b.name));
if (args.out !== undefined) writeFileSync(args.out, JSON.stringify(results, null, 1));

// The counts: every file, the applicable ones, and the applicable failures with their class.
const count = (rs, s) => rs.filter((r) => r.status === s).length;
const applicable = results.filter((r) => !notApplicable.has(r.name));
console.log(`${results.length} files: pass ${count(results, "pass")}, fail ${count(results, "fail")}, timeout ${count(results, "timeout")}, skip ${count(results, "skip")}`);
console.log(
  `applicable ${applicable.length}: pass ${count(applicable, "pass")}, fail ${count(applicable, "fail")}, ` +
    `timeout ${count(applicable, "timeout")}, skip ${count(applicable, "skip")}`,
);
for (const r of applicable.filter((r) => r.status === "fail" || r.status === "timeout")) {
  const known = knownFailures.get(r.name);
  console.log(`  ${r.status} ${r.name}: ${known ? `[${known.kind}] ${known.reason}` : `(unexplained) ${r.error?.line ?? ""}`}`);
}
const passingAnyway = results.filter((r) => notApplicable.has(r.name) && r.status === "pass").map((r) => r.name);
if (passingAnyway.length > 0) console.log(`set aside but passing: ${passingAnyway.join(", ")}`);
