// Where sessions live between connections (decision 10): the server's pluggable store with an in-memory default
// and a file-backed implementation, and optional encryption of session blobs at rest. A session holds private
// keys, so whoever stores one stores a secret.

import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { mkdir, open, readFile, readdir, rename, rm, unlink } from "node:fs/promises";
import { join } from "node:path";
import { MlsTlsError } from "../errors.js";

/**
 * The server's session store: async, keyed by the session id (the MLS group id in lowercase hex). A session blob
 * holds private keys: store it as a secret. To put sessions in another database, implement this:
 * - `get(id)`: the blob last written for `id`, or undefined (none, or expired). Resolve a copy.
 * - `set(id, session)`: replace the blob (keep no older version), with the store's TTL. Atomic: a reader sees the old
 *   blob or the new one, never a mix.
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

export interface MemorySessionStoreOptions {
  /** Seconds a session stays resumable after its last save (node's `sessionTimeout`). Default 300. */
  sessionTimeout?: number;
  /** Most sessions kept; the least recently saved go first. Default 10000. */
  maxSessions?: number;
  /** Clock, for tests. */
  now?: () => number;
}

/** The default store: process memory, with a TTL and a size cap. */
export class MemorySessionStore implements SessionStore {
  private readonly entries = new Map<string, { expires: number; session: Uint8Array }>();
  private readonly ttlMs: number;
  private readonly max: number;
  private readonly now: () => number;

  constructor(opts: MemorySessionStoreOptions = {}) {
    this.ttlMs = (opts.sessionTimeout ?? DEFAULT_SESSION_TIMEOUT) * 1000;
    this.max = opts.maxSessions ?? DEFAULT_MAX_SESSIONS;
    this.now = opts.now ?? Date.now;
    if (!(this.ttlMs > 0)) throw new RangeError("sessionTimeout must be positive");
    if (!(this.max >= 1)) throw new RangeError("maxSessions must be at least 1");
  }

  get size(): number {
    return this.entries.size;
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
    this.drop(id); // re-insert at the end: Map order is our LRU order
    this.entries.set(id, { expires: this.now() + this.ttlMs, session: Uint8Array.from(session) });
    while (this.entries.size > this.max) this.drop(this.entries.keys().next().value as string);
  }

  async delete(id: string): Promise<void> {
    this.drop(id);
  }

  private drop(id: string): void {
    const e = this.entries.get(id);
    if (e === undefined) return;
    e.session.fill(0);
    this.entries.delete(id);
  }
}

export interface FileSessionStoreOptions {
  /** Seconds a session stays resumable after its last save. Default 300. */
  sessionTimeout?: number;
  now?: () => number;
}

const FILE_MAGIC = Buffer.from("MLSTLS-SESSION-1\n");
const ID_PATTERN = /^[0-9a-f]{2,256}$/;

/**
 * One file per session in a directory, so a restarted server process can resume its clients. Every write goes to
 * a temporary file, is fsynced, then renamed over the old one (and the directory fsynced): a crash at any moment
 * leaves either the old session or the new one, never a torn file. Writes to one id are applied in call order.
 */
export class FileSessionStore implements SessionStore {
  private readonly dir: string;
  private readonly ttlMs: number;
  private readonly now: () => number;
  private ready: Promise<void> | undefined;
  private readonly chains = new Map<string, Promise<void>>();

  constructor(dir: string, opts: FileSessionStoreOptions = {}) {
    this.dir = dir;
    this.ttlMs = (opts.sessionTimeout ?? DEFAULT_SESSION_TIMEOUT) * 1000;
    this.now = opts.now ?? Date.now;
    if (!(this.ttlMs > 0)) throw new RangeError("sessionTimeout must be positive");
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
    if (data.length < head + 8 || !data.subarray(0, head).equals(FILE_MAGIC)) return undefined;
    const expires = Number(data.readBigUInt64BE(head));
    if (expires <= this.now()) {
      await this.delete(id);
      return undefined;
    }
    return new Uint8Array(data.subarray(head + 8));
  }

  set(id: string, session: Uint8Array): Promise<void> {
    checkId(id);
    const header = Buffer.alloc(8);
    header.writeBigUInt64BE(BigInt(this.now() + this.ttlMs));
    const body = Buffer.concat([FILE_MAGIC, header, session]);
    return this.serial(id, () => this.writeAtomically(id, body));
  }

  delete(id: string): Promise<void> {
    checkId(id);
    return this.serial(id, async () => {
      await unlink(this.file(id)).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== "ENOENT") throw e;
      });
    });
  }

  private file(id: string): string {
    return join(this.dir, `${id}.session`);
  }

  private init(): Promise<void> {
    this.ready ??= (async () => {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      // Temporary files of writes a crash interrupted: their rename never happened, so they hold nothing live.
      for (const name of await readdir(this.dir)) {
        if (name.endsWith(".tmp")) await rm(join(this.dir, name), { force: true });
      }
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
