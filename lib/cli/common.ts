// What every `mlstls` command shares: exit codes, the error lines scripts can rely on, and option parsing.

import { parseArgs, type ParseArgsConfig } from "node:util";

/** Exit codes, stable (README "Command line"). */
export const EXIT_OK = 0;
/** The operation failed: connection or handshake failure, verification failure, unreadable or malformed input. */
export const EXIT_FAILURE = 1;
/** The command line is wrong: unknown command or option, missing or invalid argument. */
export const EXIT_USAGE = 2;

/** A command-line mistake: printed as `mlstls: usage error: <message>` with a pointer to --help; exit 2. */
export class UsageError extends Error {
  override name = "UsageError";
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
  }
}

/** A failure with a stable code: printed as `mlstls: error <code>: <message>`; exit 1. */
export class CliError extends Error {
  override name = "CliError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** The one line a script greps for when a command fails: `mlstls: error <CODE>: <message>`. */
export function errorLine(e: unknown): string {
  const err = e as { code?: unknown; message?: unknown } | undefined;
  const code = typeof err?.code === "string" || typeof err?.code === "number" ? String(err.code) : "ERR_MLSTLS_CLI_FAILED";
  const message = typeof err?.message === "string" ? err.message : String(e);
  return `mlstls: error ${code}: ${message.split("\n")[0]}`;
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/** util.parseArgs, strict, with its errors turned into UsageError. */
type Value<O> = O extends { type: "boolean" }
  ? O extends { multiple: true } ? boolean[] : boolean
  : O extends { multiple: true } ? string[] : string;
export type Values<T extends Options> = { [K in keyof T]?: Value<T[K]> } & { help?: boolean };

export function parse<T extends Options>(
  command: string,
  args: string[],
  options: T,
  allowPositionals: boolean,
): { values: Values<T>; positionals: string[] } {
  try {
    const r = parseArgs({ args, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals, strict: true });
    return { values: r.values as Values<T>, positionals: r.positionals };
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify a positional argument.*$/s, ""), command);
  }
}

/** A number of seconds from an option (decimals allowed), > 0. */
export function seconds(command: string, name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 2_000_000) {
    throw new UsageError(`--${name} takes a number of seconds greater than 0, got ${JSON.stringify(value)}`, command);
  }
  return n;
}

export function port(command: string, value: string | undefined, dflt: number): number {
  if (value === undefined) return dflt;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new UsageError(`--port takes 0..65535, got ${JSON.stringify(value)}`, command);
  return n;
}

/** "host:port", "[v6]:port" or ":port" (localhost). */
export function hostPort(command: string, value: string | undefined): { host: string; port: number } {
  if (value === undefined) throw new UsageError("missing host:port", command);
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  if (m === null || Number(m[3]) > 65535 || Number(m[3]) === 0) {
    throw new UsageError(`expected host:port (e.g. 127.0.0.1:4433 or [::1]:4433), got ${JSON.stringify(value)}`, command);
  }
  return { host: m[1] ?? (m[2] || "localhost"), port: Number(m[3]) };
}

export function alpnList(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return value.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
}
