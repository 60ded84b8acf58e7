// Child process for the restart test: an MLS-TLS echo server on a FileSessionStore, killed with SIGKILL by the
// test. It answers each chunk with "<epoch>:<chunk>" so the client can see the server's epoch, and starts a
// ConnectionUpdate of its own when a chunk is "update;". It reports each resumption's repair (+0/+1/+2).
// Configuration comes in argv (the session directory) and MLSTLS_TEST_IDENTITY: a message sent while this module
// still loads would be lost.
import * as mlstls from "../../lib/index.js";
const server = mlstls.createServer(
  {
    identity: process.env.MLSTLS_TEST_IDENTITY!,
    sessionStore: new mlstls.FileSessionStore(process.argv[2]!),
    autoKeyUpdate: false,
    autoConnectionUpdate: false,
  },
  (socket) => {
    if (socket.isSessionReused()) process.send?.({ repair: socket.resumptionRepair });
    socket.on("error", () => undefined);
    socket.on("data", (d: Buffer) => {
      socket.write(`${socket.epoch}:${d.toString()}`);
      if (d.toString() === "update;") void socket.connectionUpdate().catch(() => undefined);
    });
  },
);
server.on("tlsClientError", (e: Error & { code?: string }) => process.send?.({ clientError: e.code }));
server.listen(0, "127.0.0.1", () => process.send?.({ port: (server.address() as { port: number }).port }));
