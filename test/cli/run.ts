// Running the compiled CLI as a child process, the way a user's shell does.

import { type ChildProcess, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** dist/lib/cli/main.js, from dist/test/cli/. */
export const MAIN = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "lib", "cli", "main.js");

export interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  exit: Promise<number | string>;
  /** Resolves when stderr matches (or rejects if the process exits first or the time runs out). */
  waitFor: (re: RegExp, ms?: number) => Promise<RegExpMatchArray>;
}

const live = new Set<ChildProcess>();

export function run(args: string[], opts: { stdin?: string | "keep-open" } = {}): Run {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ["pipe", "pipe", "pipe"] });
  live.add(child);
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | string>((resolve) =>
    child.on("exit", (code, signal) => {
      live.delete(child);
      resolve(code ?? signal ?? -1);
    }),
  );
  if (opts.stdin !== "keep-open") child.stdin!.end(opts.stdin ?? "");
  const waitFor = (re: RegExp, ms = 10000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const m = re.exec(err);
        if (m !== null) {
          done();
          resolve(m);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${re} in stderr:\n${err}`));
      }, ms);
      const onExit = () => {
        check();
        done();
        reject(new Error(`process exited before ${re} appeared in stderr:\n${err}`));
      };
      const done = () => {
        clearTimeout(timer);
        child.stderr!.off("data", check);
        child.off("exit", onExit);
      };
      child.stderr!.on("data", check);
      child.on("exit", onExit);
      check();
    });
  return { child, stdout: () => out, stderr: () => err, exit, waitFor };
}

/** Kills every child still running (for after()/afterEach() hooks). */
export async function killAll(): Promise<void> {
  const waits = [...live].map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(undefined) : c.once("exit", r))));
  for (const c of live) c.kill("SIGKILL");
  await Promise.all(waits);
}
