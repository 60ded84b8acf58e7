// The server side of sessions (decision 10): the engines' persistence on top of a pluggable SessionStore, and the
// rule that a session serves one live connection at a time.
//
// Policy: a Resumption of a session that still has a live connection REPLACES that connection. The client only
// resumes when it believes the old connection is dead (it may be half-open: the server has not noticed yet), and
// only the client can make a valid Resumption. The old connection is closed with ERR_MLSTLS_SESSION_REPLACED and
// its last MLS work is allowed to finish before the session is read, so its writes can never overwrite the new
// connection's. (Refusing instead would lock a client out until the server noticed the dead connection.)

import type { SessionPersistence } from "./responder.js";
import type { SessionStore } from "./session-store.js";

/** What the registry needs of a live connection. */
export interface LiveConnection {
  /** Stops the connection, then resolves once it will touch the session no more. */
  replace(): Promise<void>;
}

export class SessionRegistry {
  readonly store: SessionStore;
  private readonly live = new Map<string, LiveConnection>();

  constructor(store: SessionStore) {
    this.store = store;
  }

  /** Number of sessions with a live connection. */
  get liveCount(): number {
    return this.live.size;
  }

  /**
   * The engine-facing persistence for one connection. `conn` is registered as the session's live connection as
   * soon as its session is first saved (full handshake) or loaded (resumption).
   */
  persistenceFor(conn: LiveConnection): SessionPersistence & { release(): void } {
    let id: string | undefined;
    const claim = (groupId: Uint8Array): string => {
      const key = Buffer.from(groupId).toString("hex");
      if (id === undefined) {
        id = key;
        this.live.set(key, conn);
      }
      return key;
    };
    return {
      load: async (groupId) => {
        const key = Buffer.from(groupId).toString("hex");
        const previous = this.live.get(key);
        if (previous !== undefined && previous !== conn) {
          this.live.delete(key);
          await previous.replace();
        }
        claim(groupId);
        return this.store.get(key);
      },
      save: async (groupId, session) => {
        const key = claim(groupId);
        // A connection that was replaced must not write again; replace() waited for its last write.
        if (this.live.get(key) !== conn) return;
        await this.store.set(key, session);
      },
      release: () => {
        if (id !== undefined && this.live.get(id) === conn) this.live.delete(id);
      },
    };
  }
}
