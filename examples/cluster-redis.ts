// Scale-out: two server processes behind one port (node's cluster module) share their clients' sessions through
// Redis, so a client that reconnects resumes whichever process it lands on, and its old connection on the other
// process ends (ERR_MLSTLS_SESSION_REPLACED): one live connection per session across the cluster.
// Needs a Redis: `redis-server --port 6379` (or REDIS_URL=redis://host:port), and the redis package (npm i redis).
// Run after `npm run build`: node dist/examples/cluster-redis.js
// In an application, import from "mlstls" instead of "../lib/index.js".

import cluster from "node:cluster";
import { randomBytes } from "node:crypto";
import { createClient } from "redis";
import * as mlstls from "../lib/index.js";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const PORT = Number(process.env.PORT ?? 8443);

if (cluster.isPrimary) {
  // What every server process shares: its identity, and the key that encrypts sessions in Redis. Here they are made
  // fresh and passed down; in production load them from your secret store.
  const identity = mlstls.createIdentity({ name: "cluster example" });
  const env = { MLSTLS_IDENTITY: identity.toPem(), MLSTLS_SESSION_KEY: randomBytes(32).toString("hex") };
  const workers = [cluster.fork(env), cluster.fork(env)];
  let listening = 0;
  cluster.on("listening", () => {
    if (++listening === workers.length) void runClient(identity.fingerprint).finally(() => {
      for (const w of workers) w.kill();
    });
  });
} else {
  // The application brings its own node-redis client (mlstls never imports redis itself).
  const redis = createClient({ url: REDIS_URL, disableOfflineQueue: true });
  redis.on("error", () => undefined); // failures reach the server as 'sessionStoreError'
  await redis.connect();
  const sessionStore = new mlstls.RedisSessionStore({
    client: redis,
    key: Buffer.from(process.env.MLSTLS_SESSION_KEY!, "hex"),
    sessionTimeout: 300, // seconds; the TTL of every write
    timeout: 500, // ms any Redis operation may take before the server goes on without it
  });
  await sessionStore.ready(); // listening for takeovers by the other processes
  const me = cluster.worker!.id;
  const server = mlstls.createServer({ identity: process.env.MLSTLS_IDENTITY!, sessionStore }, (socket) => {
    console.log(`[worker ${me}] connection, resumed: ${socket.isSessionReused()}`);
    socket.on("error", (e: Error & { code?: string }) => console.log(`[worker ${me}] connection ended: ${e.code}`));
    socket.on("data", (d) => socket.write(`worker ${me} echoes ${d}`));
  });
  server.on("sessionStoreError", (e: Error) => console.log(`[worker ${me}] session store: ${e.message} (full handshakes meanwhile)`));
  server.listen(PORT, "127.0.0.1");
}

async function runClient(fingerprint: string): Promise<void> {
  let session: Buffer | undefined;
  const talk = (name: string, resume: boolean): Promise<mlstls.MlsTlsSocket> =>
    new Promise((resolve, reject) => {
      const s = mlstls.connect({ port: PORT, host: "127.0.0.1", fingerprints: [fingerprint], session: resume ? session : undefined });
      s.on("session", (b: Buffer) => (session = b));
      s.on("error", (e: Error & { code?: string }) => console.log(`[client] ${name} connection ended: ${e.code}`));
      s.once("secureConnect", () => {
        s.once("data", (d) => {
          console.log(`[client] ${name}: ${d} (resumed: ${s.isSessionReused()})`);
          resolve(s);
        });
        s.write("hello");
      });
      s.once("close", () => reject(new Error(`${name} connection closed before its handshake`)));
    });
  const first = await talk("first", false);
  // The client believes the connection died (it did not close it) and comes back: round-robin sends it to the
  // other process, which resumes the session from Redis and ends the first connection.
  const second = await talk("second", true);
  if (!first.destroyed) await new Promise((r) => first.once("close", r));
  second.end();
  await new Promise((r) => second.once("close", r));
}
