// Where sessions live between connections (PROTOCOL.md, "Write-ahead sessions"): the server's pluggable store with an
// in-memory default
// and a file-backed implementation, and optional encryption of session blobs at rest. A session holds private
// keys, so whoever stores one stores a secret.

import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { mkdir, open, readFile, readdir, rename, rm, unlink } from "node:fs/promises";
import { join } from "node:path";
import { MlsTlsError } from "../errors.js";

/**
 * The server's session store: async, keyed by the session id (the MLS group id in lowercase hex). A session blob
 * holds private keys: store it as a secret. To put sessions in another database, implement this:
 * - `get(id)`: the blob last written for `id`, or undefined (none, or expired). Resolve a copy the caller may
 *   overwrite (the server zeroes its copies once done with them), never the store's own buffer.
 * - `set(id, session)`: replace the blob (keep no older version), with the store's TTL. Copy the bytes if they are
 *   kept beyond the returned promise. Atomic: a reader sees the old blob or the new one, never a mix.
 * - `delete(id)`: forget it.
 * Without compareAndSet, the one-writer-per-session rule is kept in this process: right for a store one server uses.
 * A store that several server processes share implements the two optional methods, and the servers then use them:
 * - `compareAndSet(id, expected, session, owner)`: in one atomic step, write `session` only if the stored blob still
 *   has `expected` as its digest (hex SHA-256 of the blob as get() returned it, "" for no blob), and record `owner`
 *   (an opaque token naming one connection) as the session's live connection; resolve false, writing nothing, if
 *   the blob changed. A write that outlives its caller's wait must still obey the comparison.
 * - `onReplaced(listener)`: call `listener(id, owner)` in the process whose connection `owner` held the session when
 *   another process's compareAndSet took it over, so that connection ends (ERR_MLSTLS_SESSION_REPLACED).
 * With compareAndSet, a failing store (rejecting, or too slow) does not fail handshakes: a server reports it as
 * 'sessionStoreError', resumptions fall back to full handshakes, and a connection whose write failed keeps working
 * without further writes. See RedisSessionStore.
 */
export interface SessionStore {
  get(id: string): Promise<Uint8Array | undefined>;
  set(id: string, session: Uint8Array): Promise<void>;
  delete(id: string): Promise<void>;
  compareAndSet?(id: string, expected: string, session: Uint8Array, owner: string): Promise<boolean>;
  onReplaced?(listener: (id: string, owner: string) => void): void;
}

/** node:tls's default `sessionTimeout`, in seconds. */
export const DEFAULT_SESSION_TIMEOUT = 300;
export const DEFAULT_MAX_SESSIONS = 10000;
/**
 * Default byte budget of a store: 64 MiB of session blobs (in memory, or on disk for the file store). A typical
 * session is 2-6 KiB; one with a large certificate chain up to about 130 KiB.
 */
export const DEFAULT_MAX_STORE_BYTES = 64 * 1024 * 1024;

/** What one entry is charged against `maxBytes`: the blob plus a fixed allowance for its bookkeeping. */
const ENTRY_OVERHEAD = 128;

export interface MemorySessionStoreOptions {
  /** Seconds a session stays resumable after its last save (node's `sessionTimeout`). Default 300. */
  sessionTimeout?: number;
  /** Most sessions kept; the least recently saved go first. Default 10000. */
  maxSessions?: number;
  /** Most bytes of sessions kept (each charged its length + 128); the least recently saved go first. Default 64 MiB. */
  maxBytes?: number;
  /** Clock, for tests. */
  now?: () => number;
}

function checkBounds(ttlMs: number, max: number, maxBytes: number): void {
  if (!(ttlMs > 0)) throw new RangeError("sessionTimeout must be positive");
  if (!(max >= 1)) throw new RangeError("maxSessions must be at least 1");
  if (!(maxBytes >= 1)) throw new RangeError("maxBytes must be at least 1");
}

/**
 * Entries in save order (a Map keeps insertion order, and a save re-inserts), so the least recently saved entry,
 * which is also the first to expire (one TTL for all), is always at the front: eviction and the sweep of expired
 * entries only ever look there.
 */
class LruIndex<V extends { expires: number; bytes: number }> extends Map<string, V> {
  bytes = 0;

  put(id: string, v: V): void {
    this.remove(id);
    this.set(id, v);
    this.bytes += v.bytes;
  }
  remove(id: string): V | undefined {
    const v = this.get(id);
    if (v === undefined) return undefined;
    this.delete(id);
    this.bytes -= v.bytes;
    return v;
  }
  /** Removes and returns the oldest entries while `pred` holds for the oldest. */
  shiftWhile(pred: (v: V) => boolean): [string, V][] {
    const out: [string, V][] = [];
    // Deleting the entry just visited while iterating a Map is safe.
    for (const [id, v] of this) {
      if (!pred(v)) break;
      this.remove(id);
      out.push([id, v]);
    }
    return out;
  }
}

/** The bounds both stores keep (README, "Security"): a TTL, and caps on count and bytes over an LRU index. */
abstract class BoundedStore {
  protected readonly ttlMs: number;
  protected readonly max: number;
  protected readonly maxBytes: number;
  protected readonly now: () => number;
  protected abstract readonly lru: LruIndex<{ expires: number; bytes: number }>;

  constructor(opts: { sessionTimeout?: number; maxSessions?: number; maxBytes?: number; now?: () => number }) {
    this.ttlMs = (opts.sessionTimeout ?? DEFAULT_SESSION_TIMEOUT) * 1000;
    this.max = opts.maxSessions ?? DEFAULT_MAX_SESSIONS;
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_STORE_BYTES;
    this.now = opts.now ?? Date.now;
    checkBounds(this.ttlMs, this.max, this.maxBytes);
  }

  /** Sessions this store accounts for. */
  get size(): number {
    return this.lru.size;
  }

  /** Bytes charged against `maxBytes`. */
  get bytes(): number {
    return this.lru.bytes;
  }
}

/** The default store: process memory, with a TTL and caps on count and bytes. */
export class MemorySessionStore extends BoundedStore implements SessionStore {
  private readonly entries = new LruIndex<{ expires: number; bytes: number; session: Uint8Array }>();
  protected get lru(): LruIndex<{ expires: number; bytes: number }> {
    return this.entries;
  }

  constructor(opts: MemorySessionStoreOptions = {}) {
    super(opts);
  }

  async get(id: string): Promise<Uint8Array | undefined> {
    const e = this.entries.get(id);
    if (e === undefined) return undefined;
    if (e.expires <= this.now()) {
      this.drop(id);
      return undefined;
    }
    return Uint8Array.from(e.session);
  }

  async set(id: string, session: Uint8Array): Promise<void> {
    this.drop(id);
    this.sweep();
    const bytes = session.length + id.length + ENTRY_OVERHEAD;
    // A session bigger than the whole budget is not kept (the client falls back to a full handshake).
    if (bytes > this.maxBytes) return;
    this.entries.put(id, { expires: this.now() + this.ttlMs, bytes, session: Uint8Array.from(session) });
    for (const [, e] of this.entries.shiftWhile(() => this.entries.size > this.max || this.entries.bytes > this.maxBytes)) {
      e.session.fill(0);
    }
  }

  async delete(id: string): Promise<void> {
    this.drop(id);
  }

  /** Drops (and zeroes) every expired session; returns how many. Also done on every set(). */
  sweep(): number {
    const t = this.now();
    const gone = this.entries.shiftWhile((e) => e.expires <= t);
    for (const [, e] of gone) e.session.fill(0);
    return gone.length;
  }

  private drop(id: string): void {
    this.entries.remove(id)?.session.fill(0);
  }
}

export interface FileSessionStoreOptions {
  /** Seconds a session stays resumable after its last save. Default 300. */
  sessionTimeout?: number;
  /** Most session files kept; the least recently saved go first. Default 10000. */
  maxSessions?: number;
  /**
   * Disk budget: most bytes of session files kept (each file charged its size + 128). Default 64 MiB. Writes in
   * progress add at most one temporary file per concurrent write on top.
   */
  maxBytes?: number;
  now?: () => number;
}

const FILE_MAGIC = Buffer.from("MLSTLS-SESSION-1\n");
const FILE_HEADER_LEN = FILE_MAGIC.length + 8;
const ID_PATTERN = /^[0-9a-f]{2,256}$/;
const SESSION_SUFFIX = ".session";

/**
 * One file per session in a directory, so a restarted server process can resume its clients. Every write goes to
 * a temporary file, is fsynced, then renamed over the old one (and the directory fsynced): a crash at any moment
 * leaves either the old session or the new one, never a torn file. Writes to one id are applied in call order.
 *
 * Bounded like the memory store: at most `maxSessions` files and `maxBytes` bytes, the least recently saved removed
 * first, and expired files removed on every write and by sweep(), which the owner may call on a schedule of its
 * choosing (e.g. `setInterval(() => store.sweep(), 60_000).unref()`). The bounds are kept by this object's index
 * of the directory (read once, on first use): several processes sharing one directory each keep their own.
 */
export class FileSessionStore extends BoundedStore implements SessionStore {
  private readonly dir: string;
  private ready: Promise<void> | undefined;
  private readonly chains = new Map<string, Promise<void>>();
  private readonly index = new LruIndex<{ expires: number; bytes: number }>();
  protected get lru(): LruIndex<{ expires: number; bytes: number }> {
    return this.index;
  }

  constructor(dir: string, opts: FileSessionStoreOptions = {}) {
    super(opts);
    this.dir = dir;
  }

  async get(id: string): Promise<Uint8Array | undefined> {
    checkId(id);
    await this.init();
    await this.chains.get(id);
    let data: Buffer;
    try {
      data = await readFile(this.file(id));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
    const head = FILE_MAGIC.length;
    if (data.length < FILE_HEADER_LEN || !data.subarray(0, head).equals(FILE_MAGIC)) return undefined;
    const expires = Number(data.readBigUInt64BE(head));
    if (expires <= this.now()) {
      data.fill(0);
      await this.delete(id);
      return undefined;
    }
    const out = Uint8Array.from(data.subarray(FILE_HEADER_LEN));
    data.fill(0);
    return out;
  }

  set(id: string, session: Uint8Array): Promise<void> {
    checkId(id);
    return this.save(id, session);
  }

  private async save(id: string, session: Uint8Array): Promise<void> {
    await this.init();
    await this.sweep();
    const bytes = FILE_HEADER_LEN + session.length + ENTRY_OVERHEAD;
    if (bytes > this.maxBytes) {
      // Bigger than the whole budget: not kept, and an older save of the id must not be resumed instead.
      return this.delete(id);
    }
    const header = Buffer.alloc(8);
    const expires = this.now() + this.ttlMs;
    header.writeBigUInt64BE(BigInt(expires));
    const body = Buffer.concat([FILE_MAGIC, header, session]);
    await this.serial(id, async () => {
      try {
        await this.writeAtomically(id, body);
      } finally {
        body.fill(0);
      }
      this.index.put(id, { expires, bytes });
    });
    const victims = this.index.shiftWhile(() => this.index.size > this.max || this.index.bytes > this.maxBytes);
    await Promise.all(victims.map(([v]) => this.unlinkUnlessSaved(v)));
  }

  delete(id: string): Promise<void> {
    checkId(id);
    return this.serial(id, async () => {
      this.index.remove(id);
      await unlinkQuietly(this.file(id));
    });
  }

  /**
   * Removes every expired session file this store accounts for; returns how many. Also done on every set(); call
   * it on a schedule to reclaim the disk of a server that has stopped saving.
   */
  async sweep(): Promise<number> {
    await this.init();
    const t = this.now();
    const gone = this.index.shiftWhile((e) => e.expires <= t);
    await Promise.all(gone.map(([id]) => this.unlinkUnlessSaved(id)));
    return gone.length;
  }

  private file(id: string): string {
    return join(this.dir, `${id}${SESSION_SUFFIX}`);
  }

  /** Removes an entry the index dropped, after the id's earlier writes, unless a newer save has put it back. */
  private unlinkUnlessSaved(id: string): Promise<void> {
    return this.serial(id, async () => {
      if (this.index.get(id) === undefined) await unlinkQuietly(this.file(id));
    });
  }

  private init(): Promise<void> {
    this.ready ??= (async () => {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      const found: [string, { expires: number; bytes: number }][] = [];
      const t = this.now();
      for (const name of await readdir(this.dir)) {
        // Temporary files of writes a crash interrupted: their rename never happened, so they hold nothing live.
        if (name.endsWith(".tmp")) {
          await rm(join(this.dir, name), { force: true });
          continue;
        }
        if (!name.endsWith(SESSION_SUFFIX)) continue;
        const id = name.slice(0, -SESSION_SUFFIX.length);
        if (!ID_PATTERN.test(id)) continue;
        const expires = await readExpiry(join(this.dir, name));
        if (expires === undefined) continue;
        if (expires.expires <= t) {
          await unlinkQuietly(join(this.dir, name));
          continue;
        }
        found.push([id, { expires: expires.expires, bytes: expires.size + ENTRY_OVERHEAD }]);
      }
      // Earliest expiry = least recently saved: the front of the index.
      found.sort((a, b) => a[1].expires - b[1].expires);
      for (const [id, v] of found) this.index.put(id, v);
      const victims = this.index.shiftWhile(() => this.index.size > this.max || this.index.bytes > this.maxBytes);
      for (const [id] of victims) await unlinkQuietly(this.file(id));
    })();
    return this.ready;
  }

  private serial(id: string, task: () => Promise<void>): Promise<void> {
    const prev = this.chains.get(id) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(async () => {
      await this.init();
      await task();
    });
    this.chains.set(id, next);
    void next.finally(() => {
      if (this.chains.get(id) === next) this.chains.delete(id);
    }).catch(() => undefined);
    return next;
  }

  private async writeAtomically(id: string, body: Buffer): Promise<void> {
    const tmp = join(this.dir, `.${id}.${randomBytes(6).toString("hex")}.tmp`);
    const fh = await open(tmp, "w", 0o600);
    try {
      await fh.writeFile(body);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, this.file(id));
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    // The rename is durable only once the directory entry is.
    const dh = await open(this.dir, "r");
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }
}

async function unlinkQuietly(path: string): Promise<void> {
  await unlink(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== "ENOENT") throw e;
  });
}

/** The expiry in a session file's header and the file's size; undefined if it is not a session file. */
async function readExpiry(path: string): Promise<{ expires: number; size: number } | undefined> {
  let fh;
  try {
    fh = await open(path, "r");
  } catch {
    return undefined;
  }
  try {
    const head = Buffer.alloc(FILE_HEADER_LEN);
    const { bytesRead } = await fh.read(head, 0, FILE_HEADER_LEN, 0);
    if (bytesRead < FILE_HEADER_LEN || !head.subarray(0, FILE_MAGIC.length).equals(FILE_MAGIC)) return undefined;
    const { size } = await fh.stat();
    return { expires: Number(head.readBigUInt64BE(FILE_MAGIC.length)), size };
  } finally {
    await fh.close();
  }
}

function checkId(id: string): void {
  if (!ID_PATTERN.test(id)) throw new TypeError("session id must be lowercase hex");
}

// ---- Encryption of session blobs at rest (e.g. a client's saved session) ----

const SEALED_MAGIC = Buffer.from("MLSE");
const SEALED_VERSION = 1;

/** Encrypts a session blob with a caller's 32-byte key (AES-256-GCM, random nonce). */
export function encryptSession(session: Uint8Array, key: Uint8Array): Uint8Array {
  checkKey(key);
  const nonce = randomBytes(12);
  const header = Buffer.concat([SEALED_MAGIC, Buffer.of(SEALED_VERSION), nonce]);
  const c = createCipheriv("aes-256-gcm", key, nonce);
  c.setAAD(header);
  const body = Buffer.concat([c.update(session), c.final(), c.getAuthTag()]);
  return new Uint8Array(Buffer.concat([header, body]));
}

/** Decrypts what encryptSession made; a wrong key or a changed byte is ERR_MLSTLS_BAD_SESSION. */
export function decryptSession(sealed: Uint8Array, key: Uint8Array): Uint8Array {
  checkKey(key);
  const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const headLen = SEALED_MAGIC.length + 1 + 12;
  if (buf.length < headLen + 16 || !buf.subarray(0, 4).equals(SEALED_MAGIC) || buf[4] !== SEALED_VERSION) {
    throw new MlsTlsError("ERR_MLSTLS_BAD_SESSION", "not an encrypted mlstls session");
  }
  const header = buf.subarray(0, headLen);
  const d = createDecipheriv("aes-256-gcm", key, header.subarray(5));
  d.setAAD(header);
  d.setAuthTag(buf.subarray(buf.length - 16));
  try {
    return new Uint8Array(Buffer.concat([d.update(buf.subarray(headLen, buf.length - 16)), d.final()]));
  } catch (e) {
    throw new MlsTlsError("ERR_MLSTLS_BAD_SESSION", "session does not decrypt with this key", { cause: e });
  }
}

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== 32) throw new TypeError("session encryption key must be 32 bytes");
}
