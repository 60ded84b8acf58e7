// The promises of connectionUpdate() and keyUpdate({ requestPeer }) (PROTOCOL.md §5): which calls wait for a commit
// not yet issued, which ride on the commit in flight, and which wait for the peer's answering KeyUpdate.

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

export class UpdateWaiters {
  /** connectionUpdate() calls not yet carried by a commit. */
  private queued: Waiter[] = [];
  /** Calls carried by the commit in flight; settled when it is confirmed. */
  private inFlight: Waiter[] = [];
  /** keyUpdate({ requestPeer: true }) calls waiting for the peer's KeyUpdate. */
  private keyUpdates: Waiter[] = [];

  connectionUpdate(): Promise<void> {
    return new Promise((resolve, reject) => this.queued.push({ resolve, reject }));
  }

  keyUpdate(): Promise<void> {
    return new Promise((resolve, reject) => this.keyUpdates.push({ resolve, reject }));
  }

  get anyQueued(): boolean {
    return this.queued.length > 0;
  }

  get anyInFlight(): boolean {
    return this.inFlight.length > 0;
  }

  /** The queued calls ride on the commit being issued now. */
  issue(): void {
    this.inFlight = this.queued;
    this.queued = [];
  }

  /** Our commit was confirmed: its calls resolve. */
  confirmed(): void {
    for (const w of this.inFlight.splice(0)) w.resolve();
  }

  /** Our commit lost a race (PROTOCOL.md, "Commit races"): its callers wait for the re-issued one. */
  lostRace(): void {
    this.queued = [...this.inFlight, ...this.queued];
    this.inFlight = [];
  }

  /** The peer's KeyUpdate arrived. */
  keyUpdated(): void {
    for (const w of this.keyUpdates.splice(0)) w.resolve();
  }

  /**
   * We closed: calls not yet carried by a commit can never be. `err` may be a function making the error: it is
   * called only if someone waits (an Error's stack trace is the costly part of closing a connection otherwise).
   */
  rejectQueued(err: Error | (() => Error)): void {
    if (this.queued.length === 0) return;
    const e = typeof err === "function" ? err() : err;
    for (const w of this.queued.splice(0)) w.reject(e);
  }

  /** The peer closed, or the connection died: nothing waiting can be confirmed any more. `err` as for rejectQueued. */
  rejectAll(err: Error | (() => Error)): void {
    const all = [...this.inFlight.splice(0), ...this.queued.splice(0), ...this.keyUpdates.splice(0)];
    if (all.length === 0) return;
    const e = typeof err === "function" ? err() : err;
    for (const w of all) w.reject(e);
  }
}
