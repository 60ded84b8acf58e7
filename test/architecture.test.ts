// The layering rules of lib/ (README, "Architecture"), checked on the source: which folder may import what,
// where ts-mls and Node's I/O modules may appear, and that there are no import loops.

import { expect } from "chai";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";

const LIB = fileURLToPath(new URL("../../lib/", import.meta.url));

/** Layers from the bottom up; a file may import only from its own folder or from lower layers. */
const RANK: Record<string, number> = {
  "errors.ts": 0,
  "suites.ts": 0,
  util: 0,
  mls: 1,
  protocol: 2,
  auth: 3,
  sessions: 3,
  node: 4,
  "index.ts": 5,
  cli: 6,
};

interface Source {
  path: string; // relative to lib/, e.g. "protocol/connection.ts"
  text: string;
  imports: { spec: string; typeOnly: boolean }[];
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return walk(p);
    return name.endsWith(".ts") && !name.endsWith(".d.ts") ? [p] : [];
  });
}

const IMPORT = /^\s*(?:import|export)\s+(type\s+)?(?:[^;]*?from\s+)?["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/gms;

function sources(): Source[] {
  return walk(LIB).map((abs) => {
    const text = readFileSync(abs, "utf8");
    const imports = [...text.matchAll(IMPORT)].map((m) => ({ spec: (m[2] ?? m[3])!, typeOnly: m[1] !== undefined }));
    return { path: relative(LIB, abs).split("\\").join("/"), text, imports };
  });
}

const layerOf = (path: string): string => path.split("/")[0]!;
const rankOf = (path: string): number => {
  const r = RANK[layerOf(path)];
  if (r === undefined) throw new Error(`${path}: lib/${layerOf(path)} is not a known layer; add it to RANK`);
  return r;
};
function resolve(from: string, spec: string): string {
  return normalize(join(dirname(from), spec)).split("\\").join("/").replace(/\.js$/, ".ts");
}

describe("architecture: lib/'s layering rules", () => {
  const all = sources();

  it("reads the whole of lib/", () => {
    expect(all.length).to.be.greaterThan(20);
  });

  it("only lib/mls/ imports ts-mls", () => {
    const bad = all.filter((s) => layerOf(s.path) !== "mls" && s.imports.some((i) => i.spec === "ts-mls" || i.spec.startsWith("ts-mls/")));
    expect(bad.map((s) => s.path)).to.deep.equal([]);
  });

  it("nothing under lib/protocol/ or lib/mls/ touches sockets, streams or timers", () => {
    const io = /^(node:)?(net|stream|timers|tls|http|https|http2|dgram|child_process|worker_threads)(\/|$)/;
    const timers = /\b(setTimeout|setInterval|setImmediate)\s*\(/;
    const bad: string[] = [];
    for (const s of all.filter((s) => ["protocol", "mls"].includes(layerOf(s.path)))) {
      for (const i of s.imports) if (io.test(i.spec)) bad.push(`${s.path} imports ${i.spec}`);
      if (timers.test(s.text.replace(/\/\/.*$/gm, ""))) bad.push(`${s.path} uses a timer`);
    }
    expect(bad).to.deep.equal([]);
  });

  it("imports go down the layers, never up or sideways", () => {
    const bad: string[] = [];
    for (const s of all) {
      for (const i of s.imports.filter((i) => i.spec.startsWith("."))) {
        const target = resolve(s.path, i.spec);
        if (layerOf(target) === layerOf(s.path)) continue;
        if (rankOf(target) >= rankOf(s.path)) bad.push(`${s.path} -> ${target}`);
      }
    }
    expect(bad).to.deep.equal([]);
  });

  it("the layers above the protocol core use only its public API (lib/protocol/index.ts)", () => {
    const bad: string[] = [];
    for (const s of all.filter((s) => layerOf(s.path) !== "protocol")) {
      for (const i of s.imports.filter((i) => i.spec.startsWith("."))) {
        const target = resolve(s.path, i.spec);
        if (layerOf(target) === "protocol" && target !== "protocol/index.ts") bad.push(`${s.path} -> ${target}`);
      }
    }
    expect(bad).to.deep.equal([]);
  });

  it("the layers above MLS use only its public API (lib/mls/index.ts)", () => {
    const bad: string[] = [];
    for (const s of all.filter((s) => layerOf(s.path) !== "mls")) {
      for (const i of s.imports.filter((i) => i.spec.startsWith("."))) {
        const target = resolve(s.path, i.spec);
        if (layerOf(target) === "mls" && target !== "mls/index.ts") bad.push(`${s.path} -> ${target}`);
      }
    }
    expect(bad).to.deep.equal([]);
  });

  it("has no import loops between files", () => {
    const graph = new Map(all.map((s) => [s.path, s.imports.filter((i) => i.spec.startsWith(".")).map((i) => resolve(s.path, i.spec))]));
    const state = new Map<string, "visiting" | "done">();
    const loops: string[] = [];
    const visit = (n: string, stack: string[]): void => {
      if (state.get(n) === "done") return;
      if (state.get(n) === "visiting") {
        loops.push([...stack.slice(stack.indexOf(n)), n].join(" -> "));
        return;
      }
      state.set(n, "visiting");
      for (const m of graph.get(n) ?? []) visit(m, [...stack, n]);
      state.set(n, "done");
    };
    for (const n of graph.keys()) visit(n, []);
    expect(loops).to.deep.equal([]);
  });
});
