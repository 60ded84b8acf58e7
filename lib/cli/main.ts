#!/usr/bin/env node
// The `mlstls` bin entry (package.json "bin"). Everything is in cli.ts; this file only runs it.

import { errorLine, EXIT_FAILURE } from "./common.js";
import { main } from "./cli.js";

main(process.argv.slice(2)).then(
  (code) => {
    // Let stdout/stderr drain, then leave even if stdin or a timer would keep the event loop alive.
    process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
  },
  (e) => {
    process.stderr.write(errorLine(e) + "\n");
    process.exit(EXIT_FAILURE);
  },
);
