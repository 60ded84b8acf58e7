// The server side of sessions (decision 10): the engines' persistence on top of a pluggable SessionStore, and the
// rule that a session serves one live connection at a time.
//
// Policy: a Resumption that the server ACCEPTS replaces the session's live connection; one it refuses leaves the
// live connection alone.
// - Why replace rather than refuse: the client only resumes when it believes the old connection is dead (it may be
//   half-open: the server has not noticed yet), and only the client can make a valid Resumption. Refusing would
//   lock the client out until the server noticed the dead connection.
// - Why only once accepted: a replayed, stale, forged or too-far-ahead Resumption (or a second connection forked
//   from the same saved session) must not be able to end a working connection.
// - How: while a Resumption is being decided, the live connection's saves wait, so the resuming connection reads
//   a session nobody is changing. The decision is the resuming connection's first save (the engine saves only once
//   it has accepted the commit) or its end (refused). On acceptance the old connection is closed with
//   ERR_MLSTLS_SESSION_REPLACED and its last MLS work finishes before the new connection's write, so its writes can
//   never overwrite the new connection's; its waiting saves fail, so it sends nothing that depends on them.
// Resumptions of one session are decided one at a time.

import { MlsTlsError } from "./errors.js";
import type { SessionPersistence } from "./responder.js";
import type { SessionStore } from "./session-store.js";

/** What the registry needs of a live connection. */
export interface LiveConnection {
  /** Stops the connection, then resolves once it will touch the session no more. */
  replace(): Promise<void>;
}

interface Entry {
  /** The connection the session belongs to. */
  live: LiveConnection | undefined;
  /** A resuming connection that has read the session and is not yet accepted or refused. */
  claimant: LiveConnection | undefined;
  /** Settles once the claimant is accepted or gone. */
  decided: Promise<void>;
  decide: () => void;
  /** The session's store writes, in order; readers wait for them. */
  writing: Promise<void>;
}

function settled(): Promise<void> {
  return Promise.resolve();
}

export class SessionRegistry {
  readonly store: SessionStore;
  private readonly sessions = new Map<string, Entry>();

  constructor(store: SessionStore) {
    this.store = store;
  }

  /** Number of sessions with a live connection. */
  get liveCount(): number {
    let n = 0;
    for (const e of this.sessions.values()) if (e.live !== undefined) n++;
    return n;
  }

  /**
   * The engine-facing persistence for one connection: it owns the session it creates (first save after a full
   * handshake), or the one it resumes once accepted. release() when the connection is done with the session.
   */
  persistenceFor(conn: LiveConnection): SessionPersistence & { release(): void } {
    let bound: { key: string; entry: Entry } | undefined;
    return {
      load: async (groupId) => {
        const key = Buffer.from(groupId).toString("hex");
        let e = this.entry(key);
        while (e.claimant !== undefined) {
          await e.decided;
          e = this.entry(key);
        }
        e.claimant = conn;
        e.decided = new Promise<void>((resolve) => (e.decide = resolve));
        bound = { key, entry: e };
        await e.writing;
        return this.store.get(key);
      },
      save: async (groupId, session) => {
        const key = Buffer.from(groupId).toString("hex");
        if (bound === undefined) {
          const fresh = this.entry(key);
          if (fresh.live !== undefined || fresh.claimant !== undefined) {
            throw new MlsTlsError("ERR_MLSTLS_INTERNAL", "a new session's group id is already in use");
          }
          fresh.live = conn;
          bound = { key, entry: fresh };
        }
        const e = bound.entry;
        if (e.claimant === conn) {
          const old = e.live;
          e.live = conn;
          e.claimant = undefined;
          // Wakes the old connection's waiting saves, which now fail: replace() below can then see it go idle.
          e.decide();
          return this.write(e, key, session, old === undefined || old === conn ? undefined : () => old.replace());
        }
        while (e.claimant !== undefined && e.live === conn) await e.decided;
        if (e.live !== conn) {
          throw new MlsTlsError("ERR_MLSTLS_SESSION_REPLACED", "a resumption of this connection's session replaced it");
        }
        return this.write(e, key, session);
      },
      release: () => {
        if (bound === undefined) return;
        const { key, entry: e } = bound;
        if (e.claimant === conn) {
          e.claimant = undefined;
          e.decide();
        }
        if (e.live === conn) e.live = undefined;
        void e.writing.then(() => {
          if (this.sessions.get(key) === e && e.live === undefined && e.claimant === undefined) this.sessions.delete(key);
        });
      },
    };
  }

  private entry(key: string): Entry {
    let e = this.sessions.get(key);
    if (e === undefined) {
      e = { live: undefined, claimant: undefined, decided: settled(), decide: () => undefined, writing: settled() };
      this.sessions.set(key, e);
    }
    return e;
  }

  /** Chains a store write after the session's earlier ones (and after `before`, e.g. replacing the old connection). */
  private write(e: Entry, key: string, session: Uint8Array, before?: () => Promise<void>): Promise<void> {
    const done = e.writing.then(async () => {
      if (before !== undefined) await before();
      await this.store.set(key, session);
    });
    e.writing = done.catch(() => undefined);
    return done;
  }
}
