// Nothing is stored or changed for a peer that has not proven its keys (PROTOCOL.md, "Sessions"): replayed
// ClientHellos and Resumptions, altered or not, stalled or not, store no session and end no live connection.

import { expect } from "chai";
import { createHash } from "node:crypto";
import { once } from "node:events";
import * as net from "node:net";
import * as mlstls from "../../lib/index.js";
import { Cleanup, SERVED, TRUSTED, listen, until } from "../helpers/sockets.js";

type CodedError = Error & { code?: string };

/** Connects over a raw TCP socket whose writes are recorded: the first one is the plaintext opening record. */
async function recordedConnect(
  port: number,
  options: mlstls.ConnectOptions,
): Promise<{ socket: mlstls.MlsTlsSocket; first: Promise<Buffer> }> {
  const raw = net.connect(port, "127.0.0.1");
  await once(raw, "connect");
  let resolveFirst!: (b: Buffer) => void;
  const first = new Promise<Buffer>((r) => (resolveFirst = r));
  const write = raw.write.bind(raw) as (chunk: Buffer, ...rest: unknown[]) => boolean;
  let seen = false;
  raw.write = ((chunk: Buffer, ...rest: unknown[]) => {
    if (!seen) {
      seen = true;
      resolveFirst(Buffer.from(chunk));
    }
    return write(chunk, ...rest);
  }) as typeof raw.write;
  raw.cork = () => undefined; // so the first flight is one write we can see whole
  const socket = mlstls.connect({ ...TRUSTED, ...options, socket: raw });
  return { socket, first };
}

/** The opening record with its 32-byte random (right after the 5-byte record and 4-byte handshake headers) replaced. */
function withFreshRandom(record: Buffer, seed: number): Buffer {
  const out = Buffer.from(record);
  createHash("sha256").update(`fresh random ${seed}`).digest().copy(out, 9);
  return out;
}

/** Sends bytes on a new TCP connection, as an on-path attacker replaying them; resolves with the raw socket. */
async function replay(port: number, bytes: Buffer): Promise<net.Socket> {
  const raw = net.connect(port, "127.0.0.1");
  raw.on("error", () => {});
  await once(raw, "connect");
  raw.write(bytes);
  return raw;
}

function digest(b: Uint8Array | undefined): string {
  return b === undefined ? "none" : createHash("sha256").update(b).digest("hex");
}

async function echo(socket: mlstls.MlsTlsSocket, text: string): Promise<string> {
  const got = once(socket, "data");
  socket.write(text);
  return String((await got)[0]);
}

describe("security: no state before key confirmation", () => {
  const cleanup = new Cleanup();

  async function serverWithStore(): Promise<{ server: mlstls.Server; port: number; store: mlstls.MemorySessionStore; errors: CodedError[] }> {
    const store = new mlstls.MemorySessionStore();
    const errors: CodedError[] = [];
    const server = cleanup.server(
      mlstls.createServer({ ...SERVED, sessionStore: store }, (s) => {
        s.on("error", () => {});
        s.pipe(s);
      }),
    );
    server.on("tlsClientError", (e: CodedError) => errors.push(e));
    return { server, port: await listen(server), store, errors };
  }

  it("a replayed ClientHello, as is or with a fresh random, stores no session", async () => {
    const { port, store, errors } = await serverWithStore();
    const { socket, first } = await recordedConnect(port, {});
    cleanup.stream(socket);
    await once(socket, "secureConnect");
    await until(() => store.size === 1);
    const hello = await first;
    const attackers: net.Socket[] = [];
    for (let i = 0; i < 20; i++) attackers.push(await replay(port, i % 2 === 0 ? hello : withFreshRandom(hello, i)));
    // Each replay got its ServerHello; none can confirm keys, so none is stored.
    for (const a of attackers) cleanup.stream(a);
    await until(() => attackers.every((a) => a.bytesRead > 0));
    expect(store.size).to.equal(1);
    for (const a of attackers) a.destroy();
    await until(() => errors.length === 20);
    expect(store.size).to.equal(1);
    expect(await echo(socket, "still here")).to.equal("still here");
  });

  it("a captured Resumption replayed with a fresh random leaves the live connection and the stored session alone", async () => {
    const { port, store, errors } = await serverWithStore();
    const sessions: Buffer[] = [];
    const a = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", ...TRUSTED }));
    a.on("session", (s: Buffer) => sessions.push(s));
    await once(a, "secureConnect");
    await until(() => store.size === 1 && sessions.length > 0);
    a.destroy();
    // The genuine resumption: the live connection from now on.
    const live = await recordedConnect(port, { session: sessions[sessions.length - 1]! });
    cleanup.stream(live.socket);
    const replacedErrors: CodedError[] = [];
    live.socket.on("error", (e: CodedError) => replacedErrors.push(e));
    await once(live.socket, "secureConnect");
    expect(live.socket.isSessionReused()).to.equal(true);
    expect(await echo(live.socket, "before")).to.equal("before");
    const [id] = [...(await storedIds(store))];
    const before = digest(await store.get(id!));
    const resumption = await live.first;

    for (let i = 0; i < 6; i++) {
      const attacker = await replay(port, i === 0 ? resumption : withFreshRandom(resumption, i));
      cleanup.stream(attacker);
      // Give the server time to decide, then make the attacker go away without key confirmation.
      await until(() => attacker.bytesRead > 0 || errors.length > i);
      attacker.destroy();
      await until(() => errors.length === i + 1);
    }
    expect(errors.map((e) => e.code)).to.satisfy((codes: string[]) =>
      codes.every((c) => c === "ECONNRESET" || c === "ERR_MLSTLS_RESUMPTION_REPLAYED"),
    );
    expect(digest(await store.get(id!))).to.equal(before);
    expect(replacedErrors).to.deep.equal([]);
    expect(await echo(live.socket, "after")).to.equal("after");
    await live.socket.connectionUpdate();
    expect(await echo(live.socket, "updated")).to.equal("updated");
  });

  it("a stalled replayed Resumption does not hold up the live connection's updates", async () => {
    const { port, store } = await serverWithStore();
    const sessions: Buffer[] = [];
    const a = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", ...TRUSTED }));
    a.on("session", (s: Buffer) => sessions.push(s));
    await once(a, "secureConnect");
    await until(() => store.size === 1 && sessions.length > 0);
    a.destroy();
    const live = await recordedConnect(port, { session: sessions[sessions.length - 1]! });
    cleanup.stream(live.socket);
    await once(live.socket, "secureConnect");
    const attacker = cleanup.stream(await replay(port, withFreshRandom(await live.first, 99)));
    await until(() => attacker.bytesRead > 0);
    // The attacker holds its half-done resumption open; both sides can still update, and the store follows.
    const id = [...(await storedIds(store))][0]!;
    const before = digest(await store.get(id));
    await live.socket.connectionUpdate();
    expect(await echo(live.socket, "ok")).to.equal("ok");
    expect(digest(await store.get(id))).to.not.equal(before);
  });
});

/** The ids a MemorySessionStore holds (its Map's keys, read through get). */
async function storedIds(store: mlstls.MemorySessionStore): Promise<Set<string>> {
  const ids = (store as unknown as { entries: Map<string, unknown> }).entries.keys();
  return new Set(ids);
}
