// A SessionStore in Redis, shared by every server process behind one address (README, "Scale-out with Redis").
//
// Layout, per session id (the MLS group id in hex); both keys share a hash tag, so they live in one Redis Cluster slot:
//   <prefix>{<id>}        tag || sealed session: tag = hex HMAC-SHA256(tagKey, id ":" SHA-256(plaintext)),
//                         sealed = base64 of encryptSession() under a key derived from the shared key and the id
//   <prefix>{<id>}:live   "<node>/<owner>": the connection that holds the session (the lease)
// Both are written with a TTL (PX) by one Lua script, which is the compare-and-set: it writes only if the stored tag
// is the expected one, moves the lease, and PUBLISHes "<id> <owner>" on <prefix>replaced:<node> to the lease's
// previous node, which ends that connection. A script runs atomically, so nothing is ever half-written, and a write
// delayed past its timeout still lands only if the session is unchanged.
//
// node-redis is not imported: the caller passes a client (node-redis 5 or 6, created and connected by the caller),
// or a url, and then `redis` is loaded with import() on first use. So `import "mlstls"` never loads it.

import { createHash, createHmac, hkdfSync, randomBytes } from "node:crypto";
import { MlsTlsError } from "../errors.js";
import { type SessionStore, DEFAULT_SESSION_TIMEOUT, decryptSession, encryptSession } from "./store.js";

/** The part of a node-redis client (v5 or v6) this store uses. */
export interface RedisClientLike {
  sendCommand(args: string[]): Promise<unknown>;
  duplicate(): RedisClientLike;
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: (message: string, channel: string) => void): Promise<unknown>;
  on(event: "error", listener: (err: Error) => void): unknown;
  close?(): Promise<unknown>;
  quit?(): Promise<unknown>;
  destroy?(): unknown;
}

export interface RedisSessionStoreOptions {
  /** A connected node-redis client (its 'error' events are yours to handle). Or give `url`. */
  client?: RedisClientLike;
  /** redis://host:port: the store creates its clients with `import("redis")` (with disableOfflineQueue). */
  url?: string;
  /**
   * 32 bytes every server of the cluster shares: sessions are encrypted at rest with it (AES-256-GCM, a key derived
   * per session id), and the compare-and-set tags are keyed with it. Required: a session holds private keys.
   */
  key: Uint8Array;
  /** Seconds a session stays resumable after its last change (a TTL on every write). Default 300. */
  sessionTimeout?: number;
  /** Most milliseconds any Redis operation may take; past it, it fails with ERR_MLSTLS_SESSION_STORE. Default 1000. */
  timeout?: number;
  /** Key and channel prefix. Default "mlstls:session:". */
  prefix?: string;
}

/** Why a store operation failed: Redis unreachable, too slow, or an unexpected answer. `cause` has the details. */
export class SessionStoreError extends MlsTlsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_MLSTLS_SESSION_STORE", message, options);
    this.name = "SessionStoreError";
  }
}

const CAS_SCRIPT = `
local tag = redis.call('GETRANGE', KEYS[1], 0, 63)
if tag ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
local old = redis.call('GET', KEYS[2])
redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[3])
if old and old ~= ARGV[4] then
  local node, owner = string.match(old, '^([^/]+)/(.+)$')
  if node and node ~= ARGV[5] then redis.call('PUBLISH', ARGV[6] .. node, ARGV[7] .. ' ' .. owner) end
end
return 1
`;
const CAS_SHA = createHash("sha1").update(CAS_SCRIPT).digest("hex");

const TAG_LEN = 64;
const ID_PATTERN = /^[0-9a-f]{2,256}$/;

/** SHA-256 of a session blob in hex, "" for none: what compareAndSet compares. */
export function sessionDigest(blob: Uint8Array | undefined): string {
  return blob === undefined ? "" : createHash("sha256").update(blob).digest("hex");
}

export class RedisSessionStore implements SessionStore {
  /** This process's name in lease values and its replacement channel. */
  readonly node = randomBytes(9).toString("base64url");
  private readonly prefix: string;
  private readonly ttlMs: number;
  private readonly timeoutMs: number;
  private readonly masterKey: Buffer;
  private readonly tagKey: Buffer;
  private readonly url: string | undefined;
  private client: Promise<RedisClientLike> | undefined;
  private subscriber: Promise<unknown> | undefined;
  private readonly ownClients: RedisClientLike[] = [];
  private readonly listeners: ((id: string, owner: string) => void)[] = [];
  private closed = false;

  constructor(opts: RedisSessionStoreOptions) {
    if (opts === null || typeof opts !== "object") throw new TypeError("RedisSessionStore needs options");
    if ((opts.client === undefined) === (opts.url === undefined)) throw new TypeError("RedisSessionStore needs one of client and url");
    if (!(opts.key instanceof Uint8Array) || opts.key.length !== 32) throw new TypeError("RedisSessionStore key must be 32 bytes");
    this.ttlMs = Math.round((opts.sessionTimeout ?? DEFAULT_SESSION_TIMEOUT) * 1000);
    this.timeoutMs = opts.timeout ?? 1000;
    if (!(this.ttlMs > 0)) throw new RangeError("sessionTimeout must be positive");
    if (!(this.timeoutMs > 0)) throw new RangeError("timeout must be positive");
    this.prefix = opts.prefix ?? "mlstls:session:";
    this.masterKey = Buffer.from(opts.key);
    this.tagKey = Buffer.from(hkdfSync("sha256", this.masterKey, Buffer.alloc(0), "mlstls redis session tag v1", 32));
    this.url = opts.url;
    if (opts.client !== undefined) this.client = Promise.resolve(opts.client);
  }

  async get(id: string): Promise<Uint8Array | undefined> {
    checkId(id);
    const v = await this.run("GET", (c) => c.sendCommand(["GET", this.key(id)]));
    if (v === null || v === undefined) return undefined;
    if (typeof v !== "string" || v.length < TAG_LEN) throw new SessionStoreError("unexpected value in the session store");
    return this.open(id, v.slice(TAG_LEN));
  }

  async set(id: string, session: Uint8Array): Promise<void> {
    checkId(id);
    const value = this.seal(id, session);
    await this.run("SET", (c) => c.sendCommand(["SET", this.key(id), value, "PX", String(this.ttlMs)]));
  }

  async delete(id: string): Promise<void> {
    checkId(id);
    await this.run("DEL", (c) => c.sendCommand(["DEL", this.key(id), this.leaseKey(id)]));
  }

  /**
   * Writes `session` only if the stored one still has digest `expected` (sessionDigest of what get() returned,
   * "" for none), in one atomic step; makes `owner` the session's live connection, telling its previous owner on
   * another process. Resolves false when the session changed.
   */
  async compareAndSet(id: string, expected: string, session: Uint8Array, owner: string): Promise<boolean> {
    checkId(id);
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(owner)) throw new TypeError("owner must be a short token");
    const args = [
      expected === "" ? "" : this.tag(id, expected),
      this.seal(id, session),
      String(this.ttlMs),
      `${this.node}/${owner}`,
      this.node,
      `${this.prefix}replaced:`,
      id,
    ];
    const keys = [this.key(id), this.leaseKey(id)];
    this.ensureSubscribed();
    const r = await this.run("compare-and-set", async (c) => {
      try {
        return await c.sendCommand(["EVALSHA", CAS_SHA, "2", ...keys, ...args]);
      } catch (e) {
        // A restarted Redis has an empty script cache.
        if (!String((e as Error)?.message).includes("NOSCRIPT")) throw e;
        return c.sendCommand(["EVAL", CAS_SCRIPT, "2", ...keys, ...args]);
      }
    });
    return r === 1 || r === "1";
  }

  /**
   * Calls `listener(id, owner)` when a connection of this process, `owner`, lost its session to a resumption
   * confirmed on another process. The subscription starts here (its failures are retried by the client).
   */
  onReplaced(listener: (id: string, owner: string) => void): void {
    this.listeners.push(listener);
    this.ensureSubscribed();
  }

  /** Resolves once this process can reach Redis and listens for replacements. */
  async ready(): Promise<void> {
    await this.connection();
    this.ensureSubscribed(true);
    await this.subscriber;
  }

  /**
   * Stops the store: later operations fail, and the connections it opened itself (the url's client, the
   * subscriber) are closed at once, even when Redis does not answer. A caller's client is the caller's to close.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.ownClients.splice(0)) {
      try {
        if (c.destroy !== undefined) c.destroy();
        else await c.quit?.();
      } catch {
        // already closed
      }
    }
  }

  private ensureSubscribed(always = false): void {
    if (this.closed || (this.listeners.length === 0 && !always)) return;
    this.subscriber ??= this.subscribe().catch(() => {
      // Tried again at the next write; meanwhile the compare-and-set still refuses the old owner's writes.
      this.subscriber = undefined;
    });
  }

  private async subscribe(): Promise<void> {
    const base = await this.connection();
    const sub = base.duplicate();
    sub.on("error", () => undefined);
    this.ownClients.push(sub);
    try {
      await sub.connect();
    } catch (e) {
      this.ownClients.splice(this.ownClients.indexOf(sub), 1);
      sub.destroy?.();
      throw e;
    }
    await sub.subscribe(`${this.prefix}replaced:${this.node}`, (message) => {
      const space = message.indexOf(" ");
      if (space < 0) return;
      const id = message.slice(0, space);
      const owner = message.slice(space + 1);
      for (const l of this.listeners) l(id, owner);
    });
  }

  private connection(): Promise<RedisClientLike> {
    this.client ??= (async () => {
      // A variable specifier: TypeScript does not need redis's types, and bundlers do not pull it in.
      const name = "redis";
      const mod = (await import(name)) as { createClient(o: object): RedisClientLike };
      const c = mod.createClient({ url: this.url, disableOfflineQueue: true });
      c.on("error", () => undefined); // reported per operation, as ERR_MLSTLS_SESSION_STORE
      this.ownClients.push(c);
      await c.connect();
      return c;
    })().catch((e: unknown) => {
      this.client = undefined;
      throw e;
    });
    return this.client;
  }

  private async run<T>(what: string, op: (c: RedisClientLike) => Promise<T>): Promise<T> {
    if (this.closed) throw new SessionStoreError("the session store is closed");
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SessionStoreError(`Redis ${what} took longer than ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      return await Promise.race([this.connection().then(op), timeout]);
    } catch (e) {
      if (e instanceof SessionStoreError) throw e;
      throw new SessionStoreError(`Redis ${what} failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    } finally {
      clearTimeout(timer);
    }
  }

  private key(id: string): string {
    return `${this.prefix}{${id}}`;
  }

  private leaseKey(id: string): string {
    return `${this.prefix}{${id}}:live`;
  }

  private tag(id: string, digest: string): string {
    return createHmac("sha256", this.tagKey).update(`${id}:${digest}`).digest("hex");
  }

  /** The session's own key: a blob copied under another id does not decrypt. */
  private sessionKey(id: string): Buffer {
    return Buffer.from(hkdfSync("sha256", this.masterKey, Buffer.alloc(0), `mlstls redis session v1 ${id}`, 32));
  }

  private seal(id: string, session: Uint8Array): string {
    const k = this.sessionKey(id);
    try {
      return this.tag(id, sessionDigest(session)) + Buffer.from(encryptSession(session, k)).toString("base64");
    } finally {
      k.fill(0);
    }
  }

  private open(id: string, body: string): Uint8Array {
    const k = this.sessionKey(id);
    try {
      return decryptSession(Buffer.from(body, "base64"), k);
    } catch (e) {
      throw new MlsTlsError("ERR_MLSTLS_BAD_SESSION", "a stored session does not decrypt with this key", { cause: e });
    } finally {
      k.fill(0);
    }
  }
}

function checkId(id: string): void {
  if (!ID_PATTERN.test(id)) throw new TypeError("session id must be lowercase hex");
}
