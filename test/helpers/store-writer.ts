// Child process for the crash test: rewrites one session forever with large, self-checking values
// (every byte of value n is n mod 251), until it is killed with SIGKILL.
import { FileSessionStore } from "../../lib/sessions/store.js";

const dir = process.argv[2]!;
const store = new FileSessionStore(dir);
let n = 1;
process.send?.("ready");
for (;;) {
  await store.set("abcd", new Uint8Array(256 * 1024 + (n % 7) * 1000).fill(n % 251));
  n++;
}
