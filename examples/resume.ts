// Resumption, end to end in one process: a server on a FileSessionStore and a client that keeps its session in a
// file, encrypted with its own key. The client connects, updates, drops the connection, and comes back twice: once
// to the same server, once to a new server started on the same session directory (as after a restart).
// Run after `npm run build`: node dist/examples/resume.js
// In an application, import from "mlstls" instead of "../lib/index.js".

import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { closeSync, fsyncSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as mlstls from "../lib/index.js";

const dir = mkdtempSync(join(tmpdir(), "mlstls-resume-example-"));
const serverIdentity = mlstls.createIdentity({ name: "resume example server" });
// A session holds private keys: this key encrypts it at rest (keep it somewhere safer than the session itself).
const sessionKey = randomBytes(32);
const sessionFile = join(dir, "client.session");

async function startServer(): Promise<mlstls.Server> {
  const server = mlstls.createServer(
    { identity: serverIdentity, sessionStore: new mlstls.FileSessionStore(join(dir, "server-sessions")) },
    (socket) => {
      socket.on("error", () => undefined);
      socket.on("data", (d: Buffer) => socket.write(`epoch ${socket.epoch}, resumed ${socket.isSessionReused()}: ${d}`));
    },
  );
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return server;
}

async function visit(server: mlstls.Server, update: boolean): Promise<void> {
  const port = (server.address() as { port: number }).port;
  let session: Buffer | undefined;
  try {
    session = readFileSync(sessionFile);
  } catch {
    // First visit: a full handshake.
  }
  const socket = mlstls.connect({
    port,
    host: "127.0.0.1",
    fingerprints: [serverIdentity.fingerprint],
    session,
    sessionKey,
    // Awaited before the message that depends on the session is sent: written durably (temp file, fsync, rename).
    saveSession: (s) => {
      const fd = openSync(`${sessionFile}.tmp`, "w", 0o600);
      writeSync(fd, s);
      fsyncSync(fd);
      closeSync(fd);
      renameSync(`${sessionFile}.tmp`, sessionFile);
    },
  });
  await once(socket, "secureConnect");
  socket.write("hello");
  const [reply] = (await once(socket, "data")) as [Buffer];
  console.log(`client: reused ${socket.isSessionReused()}, server says "${reply}"`);
  if (update) {
    await socket.connectionUpdate();
    console.log(`client: ConnectionUpdate done, epoch ${socket.epoch}`);
  }
  // The saved session is all the client keeps between connections.
  socket.destroy();
}

let server = await startServer();
await visit(server, true);
await visit(server, false);
server.close();
server = await startServer();
await visit(server, false);
server.close();
rmSync(dir, { recursive: true, force: true });
