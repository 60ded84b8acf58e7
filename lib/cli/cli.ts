// `mlstls`: the command-line tools' dispatcher (README "Command line"). Exit codes: 0 ok, 1 failure, 2 usage error.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CliError, EXIT_FAILURE, EXIT_USAGE, type Io, UsageError, errorLine } from "./common.js";
import { DECODE_HELP, decodeCommand } from "./decode.js";
import { FINGERPRINT_HELP, KEYGEN_HELP, fingerprint, keygen } from "./keys.js";
import { S_CLIENT_HELP, S_SERVER_HELP, sClient, sServer } from "./peer.js";

export const MAIN_HELP = `Usage: mlstls <command> [options]     (mlstls <command> --help for each)

Commands:
  s_client HOST:PORT   connect, pipe stdin/stdout, print the MLS suite, peer, verification and every update
  s_server             accept connections (echo or stdin/stdout), print the same for each connection
  keygen               create a pinned-key identity PEM and print its fingerprint
  fingerprint FILE     print the identity fingerprint of an identity PEM, a public identity PEM or a certificate
  decode CAPTURE       print the MLS-TLS records of a pcap/pcapng capture, decrypted with --keylog
  bench                run the benchmark (source checkouts only)

Exit status: 0 success, 1 failure (a line "mlstls: error <CODE>: <message>" on stderr), 2 usage error.
`;

const HELPS: Record<string, string> = {
  s_client: S_CLIENT_HELP,
  s_server: S_SERVER_HELP,
  keygen: KEYGEN_HELP,
  fingerprint: FINGERPRINT_HELP,
  decode: DECODE_HELP,
};

function bench(args: string[], io: Io): Promise<number> | number {
  if (args.includes("--help") || args.includes("-h")) {
    io.stdout.write("Usage: mlstls bench [args...]\n\nRuns dist/test/bench/bench.js (mlstls against node:tls on loopback). It is built from a source\ncheckout (npm run build) and is not part of the installed package.\n");
    return 0;
  }
  const script = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "test", "bench", "bench.js");
  if (!existsSync(script)) {
    throw new CliError(
      "ERR_MLSTLS_CLI_NO_BENCH",
      `the benchmark is not part of the installed package (${script} is missing); run \`npm run bench\` in a source checkout of mlstls`,
    );
  }
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: "inherit" });
    child.on("exit", (code, signal) => resolve(code ?? (signal ? EXIT_FAILURE : 0)));
    child.on("error", (e) => {
      io.stderr.write(errorLine(e) + "\n");
      resolve(EXIT_FAILURE);
    });
  });
}

export async function main(argv: string[], io: Io = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const [command, ...args] = argv;
  try {
    switch (command) {
      case undefined:
        io.stderr.write(MAIN_HELP);
        return EXIT_USAGE;
      case "-h":
      case "--help":
      case "help":
        if (args[0] !== undefined && HELPS[args[0]] !== undefined) io.stdout.write(HELPS[args[0]]!);
        else io.stdout.write(MAIN_HELP);
        return 0;
      case "s_client":
        return await sClient(args, io, process.stdin);
      case "s_server":
        return await sServer(args, io, process.stdin, process);
      case "keygen":
        return keygen(args, io);
      case "fingerprint":
        return fingerprint(args, io);
      case "decode":
        return decodeCommand(args, io);
      case "bench":
        return await bench(args, io);
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`mlstls: usage error: ${e.message}\nTry 'mlstls ${e.command ?? ""}${e.command ? " " : ""}--help'.\n`);
      return EXIT_USAGE;
    }
    io.stderr.write(errorLine(e) + "\n");
    return EXIT_FAILURE;
  }
}
