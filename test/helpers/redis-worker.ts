// A cluster worker for the Redis scale-out tests and benchmark: an MLS-TLS echo server on a RedisSessionStore,
// listening on the port every worker shares (node's cluster module). It answers each chunk with
// "<worker>:<epoch>:<chunk>", starts a ConnectionUpdate of its own on "update;", and reports to the primary over IPC:
// { listening }, { secure: { reused, repair } }, { socketError }, { clientError }, { storeError }. The primary may send
// { probe: true }: the worker answers { probe: "ok" | "<error code>" } after one read from Redis.
// Configuration: MLSTLS_TEST_IDENTITY, MLSTLS_TEST_REDIS_URL, MLSTLS_TEST_REDIS_KEY (hex), MLSTLS_TEST_SLOW_READS.
import cluster from "node:cluster";
import * as mlstls from "../../lib/index.js";

const me = cluster.worker?.id ?? 0;
const send = (m: object): void => {
  // The primary may have gone (a benchmark that finished): its channel then refuses, and that is not our error.
  if (process.connected) process.send?.(m, undefined, undefined, () => undefined);
};
const store = new mlstls.RedisSessionStore({
  url: process.env.MLSTLS_TEST_REDIS_URL!,
  key: Buffer.from(process.env.MLSTLS_TEST_REDIS_KEY!, "hex"),
  timeout: 500,
});
// MLSTLS_TEST_SLOW_READS=ms: every read answers that much later, so that two takeovers of one session both read
// before either writes: only an atomic compare-and-set then keeps one of them out.
const slow = Number(process.env.MLSTLS_TEST_SLOW_READS ?? 0);
// MLSTLS_TEST_MEMORY_STORE=1: the default in-process store instead (the benchmark's baseline).
const sessionStore: mlstls.SessionStore =
  process.env.MLSTLS_TEST_MEMORY_STORE === "1"
    ? new mlstls.MemorySessionStore()
    : slow > 0
    ? {
        get: async (id) => {
          const v = await store.get(id);
          await new Promise((r) => setTimeout(r, slow));
          return v;
        },
        set: (id, v) => store.set(id, v),
        delete: (id) => store.delete(id),
        compareAndSet: (id, expected, v, owner) => store.compareAndSet(id, expected, v, owner),
        onReplaced: (l) => store.onReplaced(l),
      }
    : store;
const server = mlstls.createServer(
  {
    identity: process.env.MLSTLS_TEST_IDENTITY!,
    sessionStore,
    autoKeyUpdate: false,
    autoConnectionUpdate: false,
  },
  (socket) => {
    send({ secure: { reused: socket.isSessionReused(), repair: socket.isSessionReused() ? socket.resumptionRepair : undefined } });
    socket.on("error", (e: Error & { code?: string }) => send({ socketError: e.code }));
    socket.on("data", (d: Buffer) => {
      socket.write(`${me}:${socket.epoch}:${d.toString()}`);
      if (d.toString() === "update;") void socket.connectionUpdate().catch(() => undefined);
    });
  },
);
server.on("tlsClientError", (e: Error & { code?: string }) => send({ clientError: e.code }));
server.on("sessionStoreError", (e: Error & { code?: string }) => send({ storeError: e.code }));
process.on("message", (m: { probe?: boolean }) => {
  if (m?.probe !== true) return;
  store.get("00").then(
    () => send({ probe: "ok" }),
    (e: Error & { code?: string }) => send({ probe: e.code ?? "error" }),
  );
});
// Listening only once this worker hears replacement notices: a takeover must reach it from the first connection.
void store.ready().finally(() => {
  server.listen(Number(process.env.MLSTLS_TEST_PORT ?? 0), "127.0.0.1", () =>
    send({ listening: (server.address() as { port: number }).port }),
  );
});
