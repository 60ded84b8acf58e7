// The cost of per-connection delegation (PROTOCOL.md, "RSA certificates: per-connection delegation"): one
// signature by the end-entity key per connection on the delegating side, plus one MLS key pair. Prints, per key
// type: the raw signature (node:crypto, synchronous), a whole delegation (key pair + DER + signature on the thread
// pool), how long the event loop stalls while 32 delegations are made at once (the signatures run off it), and
// full handshakes over loopback against a server with that certificate and, for comparison, a P-256 one.
// Run: npm run bench:rsa   (figures vary with the machine and its load; nothing here is asserted)

import { constants, createPrivateKey, sign } from "node:crypto";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { AddressInfo } from "node:net";
import * as mlstls from "../../lib/index.js";
import { delegatorOf, rsaFixture } from "../helpers/rsa.js";

const KEYS = ["rsa2048", "rsa3072", "rsa4096", "rsapss", "p521", "ed448"] as const;
const ROOT = rsaFixture("root-ca.pem");

function ms(from: bigint): number {
  return Number(process.hrtime.bigint() - from) / 1e6;
}

function rawSign(name: string, n: number): number {
  const key = createPrivateKey(rsaFixture(`${name}.key`));
  const data = Buffer.alloc(600, 1);
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    if (key.asymmetricKeyType === "rsa" || key.asymmetricKeyType === "rsa-pss") {
      sign("sha256", data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    } else sign(key.asymmetricKeyType === "ed448" ? null : "sha512", data, key);
  }
  return ms(t) / n;
}

async function mint(name: string, n: number): Promise<number> {
  const d = delegatorOf(name);
  const ctx = new Uint8Array(32);
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await d.mint(1, "server", ctx);
  return ms(t) / n;
}

/** The longest event-loop stall while `n` delegations are made concurrently. */
async function stall(name: string, n: number): Promise<number> {
  const d = delegatorOf(name);
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  await Promise.all(Array.from({ length: n }, () => d.mint(1, "server", new Uint8Array(32))));
  h.disable();
  return h.max / 1e6;
}

async function handshakes(options: mlstls.ServerOptions, ca: Buffer, n: number): Promise<number> {
  const server = mlstls.createServer(options, (s) => s.end());
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const c = mlstls.connect({ port, host: "127.0.0.1", servername: "localhost", ca });
    await once(c, "secureConnect");
    c.destroy();
  }
  const per = ms(t) / n;
  await new Promise((r) => server.close(r));
  return per;
}

const rows: string[][] = [
  ["key", "raw signature (ms)", "delegation (ms)", "max loop stall, 32 at once (ms)", "same 32 signed synchronously (ms)", "handshake (ms)"],
];
// Warm-up: JIT, the thread pool, the first handshake's module loading.
await mint("rsa2048", 20);
await handshakes({ key: rsaFixture("rsa2048.key"), cert: rsaFixture("rsa2048-chain.pem") }, ROOT, 5);
for (const name of KEYS) {
  const heavy = name === "rsa4096";
  const sig = rawSign(name, heavy ? 20 : 100);
  const del = await mint(name, heavy ? 20 : 100);
  const st = await stall(name, 32);
  const hs = await handshakes({ key: rsaFixture(`${name}.key`), cert: rsaFixture(`${name}-chain.pem`) }, ROOT, 30);
  rows.push([name, sig.toFixed(2), del.toFixed(2), st.toFixed(1), (32 * sig).toFixed(1), hs.toFixed(2)]);
}
const certs = (f: string) => readFileSync(new URL(`../../../test/fixtures/certs/${f}`, import.meta.url));
const p256 = await handshakes({ key: certs("p256.key"), cert: certs("p256-chain.pem") }, certs("root-ca.pem"), 30);
rows.push(["p256 (no delegation)", "-", "-", "-", "-", p256.toFixed(2)]);
const width = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows) console.log(r.map((c, i) => c.padEnd(width[i]!)).join("  "));
