// Builds the package's single runtime: mlstls as CommonJS, so that `require("mlstls")` works on every Node in
// `engines` (Node 20.0 cannot require() ES modules), and the ES module entries are thin wrappers around the
// same objects (no dual-package hazard: one class of each, whichever way the package is loaded).
//
// ts-mls and @noble/* ship ES modules only, so their JavaScript is compiled to CommonJS as well, into
// dist/cjs/vendor/ (with their licences), and our require() calls are pointed at those copies.
//
// Runs after `tsc -p tsconfig.json` (which builds dist/lib, the ESM build the tests and the CLI use).

import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const cjs = join(dist, "cjs");
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");

/** ES-module-only dependencies: package name, and the folder of its JavaScript inside the package. */
const VENDORED = [
  { name: "ts-mls", src: "dist/src" },
  { name: "@noble/ciphers", src: "." },
  { name: "@noble/curves", src: "." },
  { name: "@noble/hashes", src: "." },
];

rmSync(cjs, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, "-p", join(root, ".ci", "tsconfig.cjs.json")], { stdio: "inherit" });

// --- vendor: copy the dependencies' .js files to a staging folder and compile them to CommonJS.
const staging = join(dist, ".vendor-src");
rmSync(staging, { recursive: true, force: true });
for (const v of VENDORED) {
  const pkgDir = join(root, "node_modules", v.name);
  const from = join(pkgDir, v.src);
  const to = join(staging, v.name);
  cpSync(from, to, {
    recursive: true,
    filter: (p) => statSync(p).isDirectory() ? !p.endsWith(`${sep}node_modules`) : p.endsWith(".js"),
  });
  const licence = join(pkgDir, "LICENSE");
  if (existsSync(licence)) {
    mkdirSync(join(cjs, "vendor", v.name), { recursive: true });
    cpSync(licence, join(cjs, "vendor", v.name, "LICENSE"));
  }
}
writeFileSync(
  join(staging, "tsconfig.json"),
  JSON.stringify({
    compilerOptions: {
      allowJs: true,
      checkJs: false,
      noCheck: true,
      module: "commonjs",
      moduleResolution: "bundler",
      target: "es2022",
      outDir: join(cjs, "vendor"),
      rootDir: staging,
      skipLibCheck: true,
      types: [],
    },
    include: ["**/*.js"],
  }),
);
execFileSync(process.execPath, [tsc, "-p", join(staging, "tsconfig.json")], { stdio: "inherit" });
rmSync(staging, { recursive: true, force: true });

// --- point require() of the vendored packages at their CommonJS copies.
const vendorMain = { "ts-mls": "index.js", "@noble/ciphers": "index.js", "@noble/curves": "index.js", "@noble/hashes": "index.js" };
const pattern = /require\("((?:ts-mls|@noble\/(?:ciphers|curves|hashes))(?:\/([^"]+))?)"\)/g;
// @hpke/* ship CommonJS builds; resolved from ts-mls's own location, wherever the installer put them.
const hpkePattern = /require\("(@hpke\/[a-z0-9-]+)"\)/g;
for (const file of walk(cjs)) {
  if (!file.endsWith(".js")) continue;
  const text = readFileSync(file, "utf8");
  let out = text.replace(pattern, (_m, spec, sub) => {
    const name = sub === undefined ? spec : spec.slice(0, spec.length - sub.length - 1);
    const target = join(cjs, "vendor", name, sub ?? vendorMain[name]);
    let rel = relative(dirname(file), target).split(sep).join("/");
    if (!rel.startsWith(".")) rel = `./${rel}`;
    return `require(${JSON.stringify(rel)})`;
  });
  if (file.startsWith(join(cjs, "vendor") + sep)) {
    out = out.replace(hpkePattern, (_m, spec) => `require(require("node:module").createRequire(require.resolve("ts-mls")).resolve(${JSON.stringify(spec)}))`);
  }
  if (out !== text) writeFileSync(file, out);
}
// Node reads dist/cjs/**/*.js as CommonJS (the package itself is "type": "module").
writeFileSync(join(cjs, "package.json"), `${JSON.stringify({ type: "commonjs" }, null, 2)}\n`);

// --- entries: one CommonJS module object per entry point, and ES module wrappers that re-export it.
const ENTRIES = [
  { name: "index", lib: "./lib/index.js", dts: "../lib/index.js" },
  { name: "https", lib: "./lib/node/https.js", dts: "../lib/node/https.js" },
  { name: "http2", lib: "./lib/node/http2.js", dts: "../lib/node/http2.js" },
];
const req = createRequire(join(cjs, "index.js"));
mkdirSync(join(dist, "esm"), { recursive: true });
for (const e of ENTRIES) {
  if (!existsSync(join(cjs, e.lib))) throw new Error(`build-cjs: ${e.lib} was not built`);
  // A plain object, like node's own modules: assignable (tls.DEFAULT_MAX_VERSION = ...), and the very objects
  // the ES module entry exports.
  writeFileSync(
    join(cjs, `${e.name}.js`),
    `"use strict";\n// Generated by .ci/build-cjs.mjs.\nconst lib = require(${JSON.stringify(e.lib)});\nconst out = {};\n` +
      `for (const k of Object.keys(lib)) if (k !== "__esModule") out[k] = lib[k];\n` +
      // node:tls's rootCertificates is a read-only property (assigning it throws in strict code); the rest is writable.
      `if ("rootCertificates" in out) Object.defineProperty(out, "rootCertificates", { value: out.rootCertificates, enumerable: true, writable: false, configurable: false });\n` +
      `module.exports = out;\n`,
  );
  writeFileSync(join(cjs, `${e.name}.d.ts`), `// Generated by .ci/build-cjs.mjs.\nexport * from ${JSON.stringify(e.lib)};\n`);
  const names = Object.keys(req(`./${e.name}.js`)).filter((k) => /^[A-Za-z_$][\w$]*$/.test(k) && k !== "default");
  writeFileSync(
    join(dist, "esm", `${e.name}.mjs`),
    `// Generated by .ci/build-cjs.mjs: the CommonJS module's own objects, as ES module exports.\n` +
      `import m from "../cjs/${e.name}.js";\nexport default m;\nexport const { ${names.join(", ")} } = m;\n`,
  );
  writeFileSync(
    join(dist, "esm", `${e.name}.d.mts`),
    `// Generated by .ci/build-cjs.mjs.\nexport * from ${JSON.stringify(e.dts)};\n` +
      `import * as m from ${JSON.stringify(e.dts)};\ndeclare const mod: typeof m;\nexport default mod;\n`,
  );
}

function* walk(dir) {
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, ent.name);
    if (ent.isDirectory()) yield* walk(p);
    else yield p;
  }
}
