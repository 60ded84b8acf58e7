// Automatic updates: a TLS 1.3 KeyUpdate (forward secrecy of our send direction) and an MLS ConnectionUpdate
// (post-compromise security of our leaf), each on its own schedule of bytes, records and time. The socket asks
// `room()` before sealing plaintext, so an update lands exactly at its threshold.

import { type Connection, MAX_PLAINTEXT } from "../protocol/index.js";

/**
 * When to update automatically. Each trigger counts only since the last update of the same kind; a timer fires
 * only if application data was sent since then, so idle connections stay quiet.
 */
export interface UpdatePolicy {
  /** Plaintext bytes sent. */
  bytes?: number;
  /** Records sent. */
  records?: number;
  /** Milliseconds. */
  intervalMs?: number;
}

/** KeyUpdate (forward secrecy of our send direction): every GiB sent, and every 10 minutes of sending. */
export const DEFAULT_AUTO_KEY_UPDATE: Readonly<UpdatePolicy> = Object.freeze({ bytes: 2 ** 30, intervalMs: 10 * 60_000 });
/** ConnectionUpdate (post-compromise security of our MLS leaf): hourly while sending. */
export const DEFAULT_AUTO_CONNECTION_UPDATE: Readonly<UpdatePolicy> = Object.freeze({ intervalMs: 60 * 60_000 });

/** Counts toward one automatic update kind. */
export class UpdateSchedule {
  bytes = 0;
  records = 0;
  running = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly policy: UpdatePolicy,
    private readonly fire: () => void,
  ) {
    const ms = policy.intervalMs;
    if (ms !== undefined && Number.isFinite(ms) && ms > 0) {
      this.timer = setTimeout(() => {
        this.timer?.refresh();
        if (this.bytes > 0) this.fire();
      }, ms).unref();
    }
  }

  /** Plaintext bytes that may still be sent before this schedule fires. */
  room(): number {
    if (this.running) return Infinity;
    const p = this.policy;
    const byBytes = p.bytes === undefined ? Infinity : p.bytes - this.bytes;
    const byRecords = p.records === undefined ? Infinity : (p.records - this.records) * MAX_PLAINTEXT;
    return Math.max(0, Math.min(byBytes, byRecords));
  }

  noteSent(bytes: number, records: number): void {
    this.bytes += bytes;
    this.records += records;
    const p = this.policy;
    if ((p.bytes !== undefined && this.bytes >= p.bytes) || (p.records !== undefined && this.records >= p.records)) {
      this.fire();
    }
  }

  reset(): void {
    this.bytes = 0;
    this.records = 0;
    this.timer?.refresh();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** Both automatic update kinds of one connection, started at the handshake and stopped at close. */
export class UpdatePolicies {
  private keySchedule: UpdateSchedule | undefined;
  private connSchedule: UpdateSchedule | undefined;
  /** True while a KeyUpdate sent by policy is being issued, so its event says `automatic`. */
  policyKeyUpdate = false;

  constructor(private readonly engineOf: () => Connection | undefined) {}

  get active(): boolean {
    return this.keySchedule !== undefined || this.connSchedule !== undefined;
  }

  start(key: UpdatePolicy | false | undefined, conn: UpdatePolicy | false | undefined): void {
    const k = key === undefined ? DEFAULT_AUTO_KEY_UPDATE : key;
    const c = conn === undefined ? DEFAULT_AUTO_CONNECTION_UPDATE : conn;
    if (k !== false) this.keySchedule = new UpdateSchedule(k, () => this.autoKeyUpdate());
    if (c !== false) this.connSchedule = new UpdateSchedule(c, () => this.autoConnectionUpdate());
  }

  stop(): void {
    this.keySchedule?.stop();
    this.connSchedule?.stop();
    this.keySchedule = undefined;
    this.connSchedule = undefined;
  }

  /** Plaintext bytes that may be sealed before the next automatic update is due. */
  room(): number {
    return Math.min(this.keySchedule?.room() ?? Infinity, this.connSchedule?.room() ?? Infinity);
  }

  noteSent(bytes: number, records: number): void {
    this.keySchedule?.noteSent(bytes, records);
    this.connSchedule?.noteSent(bytes, records);
  }

  /** New send keys (a KeyUpdate of ours, or a new epoch): the key schedule counts from zero. */
  onNewSendKeys(): void {
    this.keySchedule?.reset();
  }

  /** A new epoch: an automatic update restarted its count when issued; a manual one counts from now. */
  onConnectionUpdate(initiatedBy: "local" | "peer"): void {
    this.keySchedule?.reset();
    if (initiatedBy === "local" && this.connSchedule?.running === false) this.connSchedule.reset();
  }

  private autoKeyUpdate(): void {
    const engine = this.engineOf();
    if (engine === undefined || !engine.canWrite) return;
    this.policyKeyUpdate = true;
    try {
      // Without requestPeer it is sent synchronously; a failure here is also the engine's fatal error.
      void engine.keyUpdate().catch(() => {});
    } finally {
      this.policyKeyUpdate = false;
    }
  }

  private autoConnectionUpdate(): void {
    const s = this.connSchedule;
    const engine = this.engineOf();
    if (s === undefined || s.running || engine === undefined || !engine.canWrite || engine.isReadClosed) return;
    s.running = true;
    // Counting restarts now: what is sent while the commit is in flight counts toward the next one.
    s.reset();
    engine.connectionUpdate().then(
      () => {
        s.running = false;
        s.noteSent(0, 0);
      },
      () => {
        // Settled by close or a fatal error, which the socket reports on its own.
        s.running = false;
      },
    );
  }
}
