// RedisSessionStore in one process: the store against a real redis-server (encryption at rest, TTL, one key per
// session, the atomic compare-and-set, replacement notices), two servers with their own stores standing for two
// processes, and the failure behaviour (Redis unreachable or silent), which needs no redis-server.

import { expect } from "chai";
import { randomBytes } from "node:crypto";
import * as net from "node:net";
import { createClient } from "redis";
import * as mlstls from "../../lib/index.js";
import { RedisServer, freePort, requireRedis } from "../helpers/redis.js";
import { Client, QUIET, codeOf, received, watch, type Watched } from "../helpers/resume-world.js";
import { SERVED, closeServer, listen, until } from "../helpers/sockets.js";

const KEY = Buffer.alloc(32, 7);

interface Served {
  server: mlstls.Server;
  port: number;
  sockets: Watched[];
  storeErrors: Error[];
  clientErrors: Error[];
}

async function serve(store: mlstls.SessionStore): Promise<Served> {
  const server = mlstls.createServer({ ...SERVED, ...QUIET, sessionStore: store });
  const s: Served = { server, port: 0, sockets: [], storeErrors: [], clientErrors: [] };
  server.on("secureConnection", (sock: mlstls.MlsTlsSocket) => {
    const w = watch(sock);
    s.sockets.push(w);
    sock.on("data", (d: Buffer) => sock.write(`${sock.epoch}:${d.toString()}`));
  });
  server.on("sessionStoreError", (e: Error) => s.storeErrors.push(e));
  server.on("tlsClientError", (e: Error) => s.clientErrors.push(e));
  s.port = await listen(server);
  return s;
}

async function stop(s: Served): Promise<void> {
  for (const w of s.sockets) w.socket.destroy();
  await closeServer(s.server);
}

describe("RedisSessionStore when Redis fails (no redis-server needed)", function () {
  this.timeout(20_000);
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  it("Redis unreachable: the handshake works, 'sessionStoreError' says why, and a resumption falls back to a full handshake", async () => {
    const store = new mlstls.RedisSessionStore({ url: `redis://127.0.0.1:${await freePort()}`, key: KEY, timeout: 500 });
    cleanup.push(() => store.close());
    const s = await serve(store);
    cleanup.push(() => stop(s));
    const client = new Client();
    cleanup.push(() => client.destroyAll());
    const a = await client.connectSecure(s.port);
    await until(() => s.storeErrors.length >= 1);
    expect(codeOf(s.storeErrors[0])).to.equal("ERR_MLSTLS_SESSION_STORE");
    expect(client.session).to.not.equal(undefined);
    a.socket.destroy();
    const b = await client.connectSecure(s.port, { session: client.session });
    expect(b.socket.isSessionReused()).to.equal(false);
    await until(() => s.sockets.length === 2 && s.storeErrors.length >= 2);
  });

  it("Redis silent: each operation waits at most `timeout`, then the handshake goes on without the store", async () => {
    const silent = net.createServer((c) => c.on("error", () => undefined)); // accepts, never answers
    const port = await listen(silent);
    const raw: net.Socket[] = [];
    silent.on("connection", (c) => raw.push(c));
    cleanup.push(async () => {
      for (const c of raw) c.destroy();
      await closeServer(silent);
    });
    const store = new mlstls.RedisSessionStore({ url: `redis://127.0.0.1:${port}`, key: KEY, timeout: 300 });
    cleanup.push(() => store.close());
    const s = await serve(store);
    cleanup.push(() => stop(s));
    const client = new Client();
    cleanup.push(() => client.destroyAll());
    const a = await client.connectSecure(s.port);
    a.socket.write("hi");
    await until(() => received(a) === "1:hi");
    expect(s.storeErrors.map((e) => e.message).join("\n")).to.match(/took longer than 300 ms/);
  });

  it("import of the package does not load redis, and options are checked", async () => {
    // mlstls is already imported here; redis is loaded by this test file itself, so look at the lib source instead.
    const { readFileSync } = await import("node:fs");
    const src = readFileSync(new URL("../../../lib/sessions/redis-store.ts", import.meta.url), "utf8");
    expect(src).to.not.match(/^\s*import[^;]*from\s+["']redis["']/m);
    expect(() => new mlstls.RedisSessionStore({ url: "redis://x", key: Buffer.alloc(31) })).to.throw(TypeError);
    expect(() => new mlstls.RedisSessionStore({ key: KEY } as mlstls.RedisSessionStoreOptions)).to.throw(TypeError);
  });
});

describe("RedisSessionStore on a real redis-server", function () {
  this.timeout(30_000);
  let redis: RedisServer;
  let raw: ReturnType<typeof createClient>;
  const stores: mlstls.RedisSessionStore[] = [];
  const cleanup: (() => Promise<void> | void)[] = [];

  before(async function () {
    const bin = requireRedis(this);
    redis = await RedisServer.start(bin);
    raw = createClient({ url: redis.url });
    raw.on("error", () => undefined);
    await raw.connect();
  });
  after(async () => {
    await raw?.close().catch(() => undefined);
    await redis?.dispose();
  });
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
    for (const s of stores.splice(0)) await s.close();
    await raw.flushAll();
  });

  function newStore(opts: Partial<mlstls.RedisSessionStoreOptions> = {}): mlstls.RedisSessionStore {
    const s = new mlstls.RedisSessionStore({ url: redis.url, key: KEY, ...opts });
    stores.push(s);
    return s;
  }

  it("stores one encrypted value per session with a TTL, overwrites old ones, and a copied value does not decrypt", async () => {
    const store = newStore({ sessionTimeout: 60 });
    const id = "ab".repeat(16);
    const first = Buffer.from("first session state, private keys inside");
    const second = Buffer.from("second session state");
    await store.set(id, first);
    await store.set(id, second);
    expect(Buffer.from((await store.get(id))!).toString()).to.equal(second.toString());
    const keys = await raw.keys("*");
    expect(keys).to.deep.equal([`mlstls:session:{${id}}`]);
    const value = (await raw.get(keys[0]!))!;
    expect(value).to.not.include("second session");
    expect(Buffer.from(value.slice(64), "base64").includes(second)).to.equal(false);
    const ttl = await raw.pTTL(keys[0]!);
    expect(ttl).to.be.greaterThan(0);
    expect(ttl).to.be.at.most(60_000);
    // Moved under another id, or read with another key: ERR_MLSTLS_BAD_SESSION, never the plaintext.
    const other = "cd".repeat(16);
    await raw.set(`mlstls:session:{${other}}`, value);
    let err: unknown;
    await store.get(other).catch((e) => (err = e));
    expect(codeOf(err as Error)).to.equal("ERR_MLSTLS_BAD_SESSION");
    err = undefined;
    await newStore({ key: Buffer.alloc(32, 8) }).get(id).catch((e) => (err = e));
    expect(codeOf(err as Error)).to.equal("ERR_MLSTLS_BAD_SESSION");
    await store.delete(id);
    expect(await store.get(id)).to.equal(undefined);
  });

  it("compareAndSet: of two writers starting from one value exactly one wins, and every write sets the TTL", async () => {
    const a = newStore();
    const b = newStore();
    const id = "01".repeat(16);
    const v0 = randomBytes(100);
    expect(await a.compareAndSet(id, "", v0, "a1")).to.equal(true);
    expect(await b.compareAndSet(id, "", v0, "b1")).to.equal(false);
    const d0 = mlstls.sessionDigest(await b.get(id));
    expect(d0).to.equal(mlstls.sessionDigest(v0));
    const results = await Promise.all([a.compareAndSet(id, d0, randomBytes(100), "a1"), b.compareAndSet(id, d0, randomBytes(100), "b1")]);
    expect(results.filter(Boolean)).to.have.length(1);
    // A writer that lost stays refused: its expected value is gone.
    expect(await a.compareAndSet(id, d0, randomBytes(100), "a1")).to.equal(false);
    for (const k of await raw.keys("*")) expect(await raw.pTTL(k)).to.be.greaterThan(0);
  });

  it("compareAndSet that moves the session to another process tells the old owner's process, and only it", async () => {
    const a = newStore();
    const b = newStore();
    const heardA: string[] = [];
    const heardB: string[] = [];
    a.onReplaced((id, owner) => heardA.push(`${id} ${owner}`));
    b.onReplaced((id, owner) => heardB.push(`${id} ${owner}`));
    await a.ready();
    await b.ready();
    const id = "02".repeat(16);
    const v0 = randomBytes(64);
    expect(await a.compareAndSet(id, "", v0, "ownerA")).to.equal(true);
    const v1 = randomBytes(64);
    expect(await a.compareAndSet(id, mlstls.sessionDigest(v0), v1, "ownerA2")).to.equal(true); // same process: no notice
    expect(await b.compareAndSet(id, mlstls.sessionDigest(v1), randomBytes(64), "ownerB")).to.equal(true);
    await until(() => heardA.length === 1);
    expect(heardA).to.deep.equal([`${id} ownerA2`]);
    expect(heardB).to.deep.equal([]);
  });

  it("two servers on one Redis: a resumption on the second ends the live connection on the first (ERR_MLSTLS_SESSION_REPLACED)", async () => {
    const sa = await serve(newStore());
    const sb = await serve(newStore());
    cleanup.push(() => stop(sa), () => stop(sb));
    await stores[0]!.ready();
    await stores[1]!.ready();
    const client = new Client();
    cleanup.push(() => client.destroyAll());
    const first = await client.connectSecure(sa.port);
    first.socket.write("a;");
    await until(() => received(first).endsWith(":a;"));
    const copy = client.session!; // an old copy of the session, for the replay below
    const second = await client.connectSecure(sb.port, { session: client.session, sessionFallback: false });
    expect(second.socket.isSessionReused()).to.equal(true);
    await until(() => sa.sockets[0]!.closed && first.closed);
    expect(sa.sockets[0]!.errors.map(codeOf)).to.include("ERR_MLSTLS_SESSION_REPLACED");
    expect(first.errors.length).to.be.greaterThan(0);
    second.socket.write("b;");
    await until(() => received(second).endsWith(":b;"));
    expect(sa.storeErrors).to.deep.equal([]);
    expect(sb.storeErrors).to.deep.equal([]);
    // The old copy resumed on the first server, after the second advanced the session: refused, second untouched.
    await second.socket.connectionUpdate();
    const stale = client.connect(sa.port, { session: copy, sessionFallback: false });
    await until(() => stale.closed);
    expect(stale.socket.isSessionReused()).to.equal(false);
    expect(second.closed).to.equal(false);
    second.socket.write("c;");
    await until(() => received(second).endsWith(":c;"));
  });
});
