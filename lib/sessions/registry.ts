// The server side of sessions (PROTOCOL.md, "Sessions"): the engines' persistence on top of a pluggable
// SessionStore, and the rule that a session serves one live connection at a time.
//
// Nothing is stored or changed for a peer that has not proven its keys. The engines save a new session, and a
// resumed one, only at key confirmation; until then a resuming connection has only read the store. So a replayed,
// altered or stalled ClientHello or Resumption stores nothing and ends no live connection.
//
// Policy: a Resumption that reaches key confirmation replaces the session's live connection.
// - Why replace rather than refuse: the client only resumes when it believes the old connection is dead (it may be
//   half-open: the server has not noticed yet), and only the client can confirm the keys of a Resumption.
// - How, race-free: every store write of a session runs in one chain. The takeover step checks that the stored
//   session is still the one the resumption was computed from (compare-and-set on its SHA-256), makes the new
//   connection the live one, writes, and then closes the old connection with ERR_MLSTLS_SESSION_REPLACED. A save of
//   the old connection that runs after the takeover fails, so it sends nothing that depends on it. If the old
//   connection changed the session first, the takeover is refused as stale and the client falls back.
//
// A store shared by several processes (one with compareAndSet, e.g. RedisSessionStore) moves these rules into the
// store: every write of a connection is a compare-and-set against the blob that connection last read or wrote, so
// of two servers only one can advance a session, and a takeover names the new owner, whose store tells the old
// owner's process (onReplaced) to end it. Such a store is remote and may fail: a failure is reported
// (LiveConnection.storeError) and never fails a handshake: a load that fails is an unknown session (the client makes
// a full handshake), a new session whose write fails is not resumable, and a connection whose write fails keeps
// working but writes nothing more (what is stored stays a state resumption can repair, or is refused as stale). A
// takeover whose write fails is refused as stale.

import { createHash, randomBytes } from "node:crypto";
import { MlsTlsError } from "../errors.js";
import type { SessionPersistence } from "../protocol/index.js";
import type { SessionStore } from "./store.js";

/** What the registry needs of a live connection. */
export interface LiveConnection {
  /** Stops the connection: its session moved to a newer connection. */
  replace(): Promise<void>;
  /** The session store failed (shared stores only): the server reports it; the connection goes on. */
  storeError?(err: Error): void;
}

interface Entry {
  /** The connection the session belongs to. */
  live: LiveConnection | undefined;
  /** The session's store writes, in order; readers wait for them. */
  writing: Promise<void>;
}

function digest(blob: Uint8Array | undefined): string {
  return blob === undefined ? "" : createHash("sha256").update(blob).digest("hex");
}

export class SessionRegistry {
  readonly store: SessionStore;
  private readonly sessions = new Map<string, Entry>();

  /** Connections of this process by owner token, for a shared store's replacement notices. */
  private readonly owners = new Map<string, { conn: LiveConnection; key: string }>();

  constructor(store: SessionStore) {
    this.store = store;
    store.onReplaced?.((id, owner) => {
      const o = this.owners.get(owner);
      if (o === undefined || o.key !== id) return;
      this.owners.delete(owner);
      const e = this.sessions.get(id);
      if (e !== undefined && e.live === o.conn) e.live = undefined;
      void o.conn.replace();
    });
  }

  /** Number of sessions with a live connection. */
  get liveCount(): number {
    let n = 0;
    for (const e of this.sessions.values()) if (e.live !== undefined) n++;
    return n;
  }

  /** Number of sessions the registry tracks (live, or with writes still in flight): for tests of what a peer can make us hold. */
  get trackedCount(): number {
    return this.sessions.size;
  }

  /**
   * The engine-facing persistence for one connection: its first save either creates a session (full handshake)
   * or takes over the one it loaded (resumption); both happen only at key confirmation. release() when the
   * connection is done with the session. How each write reaches the store is the connection's SessionWriter: in
   * this process for a plain store, by compare-and-set for a store several processes share.
   */
  persistenceFor(conn: LiveConnection): SessionPersistence & { release(): void } {
    const w = this.store.compareAndSet !== undefined ? this.sharedWriter(conn) : this.localWriter(conn);
    let bound: { key: string; entry: Entry } | undefined;
    /** What a resuming connection read: the takeover is a compare-and-set against it. */
    let loaded: { key: string; digest: string } | undefined;
    return {
      load: async (groupId) => {
        const key = Buffer.from(groupId).toString("hex");
        // Reads create no entry: an unconfirmed peer leaves nothing behind.
        await this.sessions.get(key)?.writing;
        const blob = await w.read(key);
        loaded = { key, digest: digest(blob) };
        return blob;
      },
      save: async (groupId, session) => {
        const key = Buffer.from(groupId).toString("hex");
        if (bound !== undefined) return this.chain(bound.entry, () => w.update(bound!.entry, key, session));
        const e = this.entry(key);
        bound = { key, entry: e };
        if (loaded === undefined) {
          if (e.live !== undefined) throw new MlsTlsError("ERR_MLSTLS_INTERNAL", "a new session's group id is already in use");
          e.live = conn;
          return this.chain(e, () => w.create(key, session));
        }
        if (loaded.key !== key) throw new MlsTlsError("ERR_MLSTLS_INTERNAL", "a resumed connection saved another session");
        const expected = loaded.digest;
        return this.chain(e, async () => {
          await w.takeOver(key, expected, session);
          const old = e.live;
          e.live = conn;
          if (old !== undefined && old !== conn) void old.replace();
        });
      },
      release: () => {
        w.release();
        if (bound === undefined) return;
        const { key, entry: e } = bound;
        if (e.live === conn) e.live = undefined;
        void e.writing.then(() => {
          if (this.sessions.get(key) === e && e.live === undefined) this.sessions.delete(key);
        });
      },
    };
  }

  private entry(key: string): Entry {
    let e = this.sessions.get(key);
    if (e === undefined) {
      e = { live: undefined, writing: Promise.resolve() };
      this.sessions.set(key, e);
    }
    return e;
  }

  /** A store only this process writes: the compare-and-set of a takeover is done here. */
  private localWriter(conn: LiveConnection): SessionWriter {
    return {
      read: (key) => this.store.get(key),
      create: (key, session) => this.store.set(key, session),
      takeOver: async (key, expected, session) => {
        const current = await this.store.get(key);
        const unchanged = current !== undefined && digest(current) === expected;
        current?.fill(0);
        if (!unchanged) {
          throw new MlsTlsError("ERR_MLSTLS_STALE_SESSION", "the session changed on the server while this resumption was confirmed");
        }
        await this.store.set(key, session);
      },
      update: async (e, key, session) => {
        if (e.live !== conn) throw replaced();
        await this.store.set(key, session);
      },
      release: () => undefined,
    };
  }

  /**
   * A store several processes share (it has compareAndSet): every write compares against what this connection
   * last read or wrote, and names this connection as the session's owner, so the store can tell the old owner's
   * process to end it. A failing store is reported, and the connection goes on without writing.
   */
  private sharedWriter(conn: LiveConnection): SessionWriter {
    const store = this.store as SessionStore & Required<Pick<SessionStore, "compareAndSet">>;
    const owner = randomBytes(12).toString("base64url");
    const report = (err: unknown): void => {
      conn.storeError?.(err instanceof Error ? err : new Error(String(err)));
    };
    /** The digest of what this connection last wrote; undefined once a write failed (it writes nothing more). */
    let written: string | undefined;
    return {
      read: async (key) => {
        try {
          return await store.get(key);
        } catch (err) {
          report(err);
          return undefined; // an unknown session: the client falls back to a full handshake
        }
      },
      create: async (key, session) => {
        this.owners.set(owner, { conn, key });
        let ok: boolean;
        try {
          ok = await store.compareAndSet(key, "", session, owner);
        } catch (err) {
          report(err);
          return;
        }
        if (!ok) throw new MlsTlsError("ERR_MLSTLS_INTERNAL", "a new session's group id is already in use");
        written = digest(session);
      },
      takeOver: async (key, expected, session) => {
        let ok: boolean;
        try {
          ok = await store.compareAndSet(key, expected, session, owner);
        } catch (err) {
          report(err);
          throw new MlsTlsError("ERR_MLSTLS_STALE_SESSION", "the session store failed while this resumption was confirmed", { cause: err });
        }
        if (!ok) throw new MlsTlsError("ERR_MLSTLS_STALE_SESSION", "the session changed in the store while this resumption was confirmed");
        written = digest(session);
        this.owners.set(owner, { conn, key });
      },
      update: async (e, key, session) => {
        if (e.live !== conn) throw replaced();
        if (written === undefined) return;
        let ok: boolean;
        try {
          ok = await store.compareAndSet(key, written, session, owner);
        } catch (err) {
          report(err);
          written = undefined;
          return;
        }
        if (!ok) throw replaced();
        written = digest(session);
      },
      release: () => void this.owners.delete(owner),
    };
  }

  private chain(e: Entry, step: () => Promise<void>): Promise<void> {
    const done = e.writing.then(step);
    e.writing = done.catch(() => undefined);
    return done;
  }
}

/** How one connection's session reaches the store (SessionRegistry.persistenceFor). */
interface SessionWriter {
  read(key: string): Promise<Uint8Array | undefined>;
  create(key: string, session: Uint8Array): Promise<void>;
  /** Writes `session` only if the stored one still has digest `expected`; throws ERR_MLSTLS_STALE_SESSION if not. */
  takeOver(key: string, expected: string, session: Uint8Array): Promise<void>;
  update(e: Entry, key: string, session: Uint8Array): Promise<void>;
  release(): void;
}

function replaced(): MlsTlsError {
  return new MlsTlsError("ERR_MLSTLS_SESSION_REPLACED", "a resumption of this connection's session replaced it");
}
