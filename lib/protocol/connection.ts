// The sans-I/O protocol engine shared by both roles: bytes in (receive), bytes out (the `send` callback),
// application data and events out (the `event` callback). No sockets here.
//
// Processing is strictly serialized: one task queue runs record processing and local MLS operations
// (ts-mls is async), and no record is decrypted before the handshake message ahead of it has been applied.
// The role-specific state machines of draft §4.2-4.4 live in initiator.ts and responder.ts.

import { createHash, randomBytes } from "node:crypto";
import { type SuiteParams, suiteById, DEFAULT_SUITES } from "../suites.js";
import { AlertDescription, MlsTlsError, isMlsTlsError, peerAlertError, mlsTlsError } from "../errors.js";
import {
  AlertLevel,
  HandshakeReader,
  type HandshakeMessage,
  decodeAlert,
  decodeHandshakeBody,
  encodeAlert,
  encodeHandshake,
  handshakeTypeName,
} from "./messages.js";
import { ContentType, MAX_PLAINTEXT, RecordDeframer, RecordProtection, encodePlaintextRecord } from "./records/record-layer.js";
import type { AeadBackend } from "./records/aead.js";
import {
  EXPORTER_MASTER_LABEL,
  applicationTrafficSecrets,
  connectionContext,
  deriveSecret,
  hkdfExpandLabel,
  zeroize,
} from "./key-schedule.js";
import type { CredentialValidator, LocalIdentity, MlsSession, PeerCredential, MlsCrypto } from "../mls/index.js";

/** MLS exporter label for the connection's RFC 8446 §7.5-style exporter master secret. */
export const EXPORTER_SECRET_LABEL = "mlstls exporter";

export type Role = "initiator" | "responder";

export type ConnectionEvent =
  /** Initiator: after the Welcome was joined and key confirmation sent. Responder: after key confirmation arrived. */
  | { type: "handshake" }
  | { type: "data"; data: Uint8Array }
  /** The peer sent close_notify: no more data will arrive. */
  | { type: "end" }
  /** A new MLS epoch is in place in both directions. */
  | { type: "connectionUpdate"; epoch: bigint; initiatedBy: "local" | "peer" }
  /** A TLS KeyUpdate ratcheted one direction. */
  | { type: "keyUpdate"; direction: "send" | "receive"; requested: boolean; automatic: boolean }
  /** NSS key log line (only with `keylog: true`). */
  | { type: "keylog"; line: string }
  /** Fatal: the connection is dead. Emitted once. */
  | { type: "error"; error: MlsTlsError };

export interface ConnectionCallbacks {
  /** Bytes to write to the transport, in order. */
  send(bytes: Uint8Array): void;
  event(ev: ConnectionEvent): void;
}

export type IdentitySource =
  | LocalIdentity
  | ((ctx: { suite: number; serverName?: string }) => LocalIdentity | Promise<LocalIdentity>);

export interface ConnectionOptions {
  /** MLS suites: the initiator offers the first; the responder accepts any listed. Default DEFAULT_SUITES. */
  suites?: readonly number[];
  /** Our MLS identity. Default: a fresh anonymous basic credential per connection. */
  identity?: IdentitySource;
  /** Called for every credential the peer presents (handshake and every commit). */
  validatePeer?: CredentialValidator;
  /**
   * Whether a commit may change the peer's credential identity (PROTOCOL.md, "The ConnectionUpdate policy"). Default
   * false.
   */
  allowIdentityChange?: boolean;
  aeadBackend?: AeadBackend;
  /** Records per traffic key before an automatic KeyUpdate (default: the AEAD's safe limit). */
  aeadLimit?: bigint;
  /** Cap on consecutive post-handshake handshake messages received without application data. Default 64. */
  maxHandshakeMessagesWithoutData?: number;
  /** Emit NSS key log lines as 'keylog' events. Off by default: they are secrets. */
  keylog?: boolean;
  /** Randomness source (tests inject a deterministic one). */
  randomBytes?: (n: number) => Uint8Array;
  /** The MLS crypto provider, random source and clock of this engine. Default: node:crypto (DEFAULT_MLS_CRYPTO). */
  mlsCrypto?: MlsCrypto;
}

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

export const DEFAULT_MAX_HANDSHAKE_WITHOUT_DATA = 64;

export abstract class Connection {
  abstract readonly role: Role;
  /** Named state, as in the draft (see PROTOCOL.md). */
  abstract get state(): string;

  protected readonly opts: ConnectionOptions;
  protected readonly cb: ConnectionCallbacks;
  protected readonly deframer = new RecordDeframer();
  private readonly hsReader = new HandshakeReader();
  protected sendProt: RecordProtection | undefined;
  protected recvProt: RecordProtection | undefined;
  protected session: MlsSession | undefined;
  protected suiteParams: SuiteParams | undefined;
  protected clientRandom: Uint8Array | undefined;
  protected serverRandom: Uint8Array | undefined;
  private exporterSecret: Uint8Array | undefined;
  /** Opening handshake messages, until the keys are bound to their hash. */
  private transcript: Uint8Array[] = [];
  private transcriptHash: Uint8Array | undefined;

  private tail: Promise<void> = Promise.resolve();
  private drainScheduled = false;
  private dead: MlsTlsError | undefined;
  private _established = false;
  /** This connection was resumed from a stored session (draft §4.5) rather than a full handshake. */
  protected resumed = false;
  /** We sent close_notify: nothing more may be sent. */
  protected writeClosed = false;
  /** The peer sent close_notify: nothing more will be read. */
  protected readClosed = false;
  /** Set by installRecv: the message just processed changed the receive key, so it must end its record. */
  private recvKeyChanged = false;
  private handshakeWithoutData = 0;
  private maxFragment = MAX_PLAINTEXT;
  /** We sent update_requested and the peer's answering KeyUpdate has not arrived yet. */
  private awaitingKeyUpdateAnswer = false;
  private keylogOn: boolean;
  private owedKeyUpdate = false;
  private keyUpdateWaiters: Waiter[] = [];
  /** connectionUpdate() calls not yet carried by a commit. */
  protected queuedUpdates: Waiter[] = [];
  /** Calls carried by the commit in flight; settled when it is confirmed. */
  protected inFlightUpdates: Waiter[] = [];
  private sendGeneration = 0;
  private recvGeneration = 0;

  constructor(opts: ConnectionOptions, cb: ConnectionCallbacks) {
    this.opts = opts;
    this.cb = cb;
    this.keylogOn = opts.keylog === true;
  }

  /** Turns the 'keylog' events on or off, e.g. when a listener is attached after the connection started. */
  setKeylog(on: boolean): void {
    this.keylogOn = on;
  }

  // ---------------------------------------------------------------- public API

  get established(): boolean {
    return this._established;
  }
  get failed(): MlsTlsError | undefined {
    return this.dead;
  }
  get epoch(): bigint | undefined {
    return this.session?.epoch;
  }
  get suite(): SuiteParams | undefined {
    return this.suiteParams;
  }
  get peerCredential(): PeerCredential | undefined {
    return this.session?.peerCredential;
  }
  /** Our own credential in the group. */
  get ownCredential(): PeerCredential | undefined {
    return this.session?.ownCredential;
  }
  get alpnProtocol(): string | null | undefined {
    return this.session?.alpnProtocol;
  }
  get isResumed(): boolean {
    return this.resumed;
  }
  /** The MLS group id: what identifies the session on the server. */
  get groupId(): Uint8Array | undefined {
    return this.session?.groupId;
  }
  get isWriteClosed(): boolean {
    return this.writeClosed;
  }
  get isReadClosed(): boolean {
    return this.readClosed;
  }

  /** Feeds transport bytes. Processing happens asynchronously and in order; see whenIdle(). */
  receive(bytes: Uint8Array): void {
    if (this.dead !== undefined || this.readClosed || bytes.length === 0) return;
    try {
      this.deframer.push(bytes);
    } catch (e) {
      this.fail(e);
      return;
    }
    if (!this.drainScheduled) {
      this.drainScheduled = true;
      this.enqueue(() => this.drain());
    }
  }

  /** Resolves once every queued task (received bytes, local updates) has been processed. */
  async whenIdle(): Promise<void> {
    // Tasks may enqueue follow-up tasks (a re-issued update), so wait until the queue stops growing.
    for (let t = this.tail; ; t = this.tail) {
      await t;
      if (t === this.tail) return;
    }
  }

  /** Whether application data may be written now. */
  get canWrite(): boolean {
    return this._established && this.dead === undefined && !this.writeClosed;
  }

  /** Sends application data, split into records of at most 2^14 bytes. */
  write(data: Uint8Array): void {
    this.assertCanSend();
    const max = this.maxFragment;
    for (let off = 0; off < data.length; off += max) {
      this.sendProtected(ContentType.application_data, data.subarray(off, Math.min(data.length, off + max)));
    }
  }

  /**
   * Caps the plaintext of our application data records (node's setMaxSendFragment): smaller records let a
   * receiver start on the first bytes sooner. 512 to 2^14; returns false, changing nothing, outside that range.
   */
  setMaxSendFragment(size: number): boolean {
    if (!Number.isInteger(size) || size < 512 || size > MAX_PLAINTEXT) return false;
    this.maxFragment = size;
    return true;
  }

  /**
   * A TLS 1.3 KeyUpdate (forward secrecy within an epoch). Resolves once sent, or, with requestPeer,
   * once the peer's answering KeyUpdate has been received.
   */
  keyUpdate(opts: { requestPeer?: boolean } = {}): Promise<void> {
    try {
      this.assertCanSend();
      this.sendKeyUpdate(opts.requestPeer === true, false);
    } catch (e) {
      return Promise.reject(e);
    }
    if (opts.requestPeer !== true) return Promise.resolve();
    return new Promise((resolve, reject) => this.keyUpdateWaiters.push({ resolve, reject }));
  }

  /** An MLS commit (post-compromise security). Resolves when the new epoch is confirmed by both sides. */
  connectionUpdate(): Promise<void> {
    try {
      this.assertCanSend();
      if (this.readClosed) throw mlsTlsError("ERR_MLSTLS_CLOSED", "peer has closed; an update cannot be confirmed");
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<void>((resolve, reject) => {
      this.queuedUpdates.push({ resolve, reject });
      this.enqueue(() => this.maybeIssueUpdate());
    });
  }

  /** Sends close_notify (half-close of our direction). */
  close(): void {
    if (this.dead !== undefined || this.writeClosed) return;
    this.sendAlert(AlertDescription.close_notify, AlertLevel.warning);
    this.writeClosed = true;
    // Updates not yet sent can never be sent now; one in flight may still be confirmed by the peer.
    const queued = this.queuedUpdates;
    this.queuedUpdates = [];
    this.rejectUpdates(queued, mlsTlsError("ERR_MLSTLS_CLOSED", "connection closed before the update was issued"));
  }

  /**
   * Ends the connection for a reason decided outside the protocol (e.g. its session moved to a new connection):
   * alerts the peer if the code has an alert, emits 'error' once, zeroes keys.
   */
  abort(err: MlsTlsError): void {
    this.fail(err);
  }

  /** Fails the connection locally without an alert to the peer when the transport is gone; zeroes keys. */
  destroy(err?: Error): void {
    if (this.dead === undefined) {
      const e = isMlsTlsError(err)
        ? err
        : mlsTlsError("ERR_MLSTLS_CLOSED", err?.message ?? "connection destroyed", { cause: err });
      this.dead = e;
      this.settleAllOnDeath(e);
    }
    this.wipe();
  }

  /**
   * RFC 8446 §7.5 keying material exporter over the connection's exporter secret (derived once per connection
   * from the handshake epoch, so the value is stable across updates, as node:tls users expect).
   */
  exportKeyingMaterial(length: number, label: string, context?: Uint8Array): Uint8Array {
    const s = this.suiteParams;
    if (this.exporterSecret === undefined || s === undefined) {
      throw mlsTlsError("ERR_TLS_INVALID_STATE", "TLS socket connection must be securely established");
    }
    const secret = deriveSecret(s.hash, this.exporterSecret, label, new Uint8Array(0));
    const ctxHash = deriveContextHash(s, context ?? new Uint8Array(0));
    const out = hkdfExpandLabel(s.hash, secret, "exporter", ctxHash, length);
    zeroize(secret);
    return out;
  }

  /** Encoded MLS state for sessions (resumption). */
  get mlsSession(): MlsSession | undefined {
    return this.session;
  }

  // ---------------------------------------------------------------- for the role state machines

  protected abstract onHandshakeMessage(msg: HandshakeMessage, encrypted: boolean): void | Promise<void>;
  /** Issue our own ConnectionUpdate; called in the default state with inFlightUpdates set. */
  protected abstract issueUpdate(): Promise<void>;
  /** True in the draft's state 1 (Default), where a new ConnectionUpdate may be issued. */
  protected abstract get inDefaultState(): boolean;

  protected random(n: number): Uint8Array {
    return this.opts.randomBytes?.(n) ?? new Uint8Array(randomBytes(n));
  }

  protected suites(): readonly number[] {
    return this.opts.suites ?? DEFAULT_SUITES;
  }

  protected setSuite(id: number): SuiteParams {
    const s = suiteById(id);
    if (s === undefined) throw mlsTlsError("ERR_MLSTLS_INTERNAL", `unknown suite ${id}`);
    this.suiteParams = s;
    return s;
  }

  protected async resolveIdentity(suite: number, serverName?: string): Promise<LocalIdentity | undefined> {
    const src = this.opts.identity;
    if (src === undefined) return undefined;
    const id = typeof src === "function" ? await src({ suite, serverName }) : src;
    if (id.suite !== suite) {
      throw mlsTlsError(
        "ERR_MLSTLS_CIPHERSUITE_MISMATCH",
        `our identity is for MLS suite ${id.suite}, but the connection uses suite ${suite}`,
      );
    }
    return id;
  }

  /**
   * The per-epoch traffic secrets (PROTOCOL.md, "The MLS suite sets the record protection"; PROTOCOL.md, "Fresh
   * randoms in every key"): MLS exporter bound to both randoms and the transcript, then RFC 8446 labels.
   */
  private async epochSecrets(session: MlsSession): Promise<{ client: Uint8Array; server: Uint8Array }> {
    const s = this.suiteParams!;
    const master = await session.exportSecret(EXPORTER_MASTER_LABEL, this.connectionContext(), s.hashLen);
    const out = applicationTrafficSecrets(s, master);
    zeroize(master);
    return out;
  }

  /**
   * Enters an MLS epoch: the one place that does it, in the one order that write-ahead and key timing need
   * (PROTOCOL.md, "Write-ahead sessions"):
   *   1. derive the epoch's traffic secrets (and, opening a connection, its exporter secret), and adopt the session;
   *   2. persist what resuming needs (`persist`), before anything that depends on it leaves;
   *   3. switch the receive key now if the peer already sends under the new epoch (`receive: "now"`);
   *   4. send `message` under the old send key, then switch the send key (`message` after the switch when
   *      `sendUnder: "new"`: key confirmation, which proves we have the keys).
   * With `receive: "later"`, the receive secret is returned for the state that waits for the peer's switch.
   */
  protected async enterEpoch(
    next: MlsSession,
    o: {
      receive: "now" | "later";
      message?: HandshakeMessage;
      sendUnder?: "old" | "new";
      persist?: () => Promise<void>;
      opening?: boolean;
    },
  ): Promise<Uint8Array | undefined> {
    const { client, server } = await this.epochSecrets(next);
    if (o.opening === true) await this.deriveExporterSecret(next);
    this.adoptSession(next);
    await o.persist?.();
    const [ours, theirs] = this.role === "initiator" ? [client, server] : [server, client];
    if (o.receive === "now") this.installRecv(theirs);
    if (o.message !== undefined && o.sendUnder !== "new") this.sendHandshake(o.message);
    this.installSend(ours);
    if (o.message !== undefined && o.sendUnder === "new") this.sendHandshake(o.message);
    return o.receive === "now" ? undefined : theirs;
  }

  /** The peer's commit, processed under the ConnectionUpdate policy (PROTOCOL.md, "The ConnectionUpdate policy"). */
  protected peerCommit(commit: Uint8Array): Promise<MlsSession> {
    return this.session!.processUpdate(commit, {
      validate: this.opts.validatePeer,
      allowIdentityChange: this.opts.allowIdentityChange,
    });
  }

  /** A resumed session's peer is checked again, with today's validator (trust may have changed since). */
  protected async revalidatePeer(session: MlsSession): Promise<void> {
    const validate = this.opts.validatePeer;
    if (validate === undefined) return;
    if (!(await validate(session.peerCredential))) {
      throw mlsTlsError("ERR_MLSTLS_BAD_CREDENTIAL", "the stored session's peer credential is no longer accepted");
    }
  }

  protected connectionContext(): Uint8Array {
    if (this.transcriptHash === undefined) {
      const h = createHash(this.suiteParams!.hash);
      for (const m of this.transcript) h.update(m);
      this.transcriptHash = new Uint8Array(h.digest());
      this.transcript = [];
    }
    return connectionContext(this.clientRandom!, this.serverRandom!, this.transcriptHash);
  }

  /**
   * Adds an opening message (ClientHello, RetryRequest, Resumption) to the transcript that the connection's keys
   * are bound to, in the order sent and received; both ends add the same messages, so tampering with any of them
   * gives the two ends different keys and key confirmation fails.
   */
  protected addToTranscript(msg: HandshakeMessage): void {
    if (this.transcriptHash !== undefined) throw mlsTlsError("ERR_MLSTLS_INTERNAL", "the transcript is already bound");
    this.transcript.push(encodeHandshake(msg));
  }

  private async deriveExporterSecret(session: MlsSession): Promise<void> {
    const s = this.suiteParams!;
    const secret = await session.exportSecret(EXPORTER_SECRET_LABEL, this.connectionContext(), s.hashLen);
    this.exporterSecret = secret;
    this.keylog("EXPORTER_SECRET", secret);
  }

  private installSend(secret: Uint8Array): void {
    if (this.sendProt === undefined) this.sendProt = this.newProtection();
    this.sendProt.install(secret);
    this.keylog(this.dirLabel("send") + "_" + this.sendGeneration++, secret);
    zeroize(secret);
  }

  /** Also used alone by the state that waited for the peer's switch (the secret `enterEpoch` returned). */
  protected installRecv(secret: Uint8Array): void {
    if (this.recvProt === undefined) this.recvProt = this.newProtection();
    this.recvProt.install(secret);
    this.keylog(this.dirLabel("recv") + "_" + this.recvGeneration++, secret);
    zeroize(secret);
    this.recvKeyChanged = true;
    this.deframer.acceptLegacyVersion = false;
  }

  protected markEstablished(): void {
    this._established = true;
    this.cb.event({ type: "handshake" });
  }

  protected sendHandshake(msg: HandshakeMessage): void {
    const bytes = encodeHandshake(msg);
    if (this.sendProt === undefined) {
      // A message may exceed one record (a post-quantum ServerHello with ML-DSA-87 keys is about 24 KB): split it,
      // as RFC 8446 §5.1 allows; the last fragment still ends its record.
      for (let i = 0; i < bytes.length; i += MAX_PLAINTEXT) {
        this.cb.send(encodePlaintextRecord(ContentType.handshake, bytes.subarray(i, i + MAX_PLAINTEXT)));
      }
    } else {
      for (let i = 0; i < bytes.length; i += MAX_PLAINTEXT) {
        this.sendProtected(ContentType.handshake, bytes.subarray(i, i + MAX_PLAINTEXT));
      }
    }
  }

  protected epochConfirmed(epoch: bigint, initiatedBy: "local" | "peer"): void {
    if (initiatedBy === "local") {
      const done = this.inFlightUpdates;
      this.inFlightUpdates = [];
      for (const w of done) w.resolve();
    }
    this.cb.event({ type: "connectionUpdate", epoch, initiatedBy });
    this.issueQueuedUpdates();
  }

  /** Back in the default state: connectionUpdate() calls that had to wait go out. */
  protected issueQueuedUpdates(): void {
    if (this.queuedUpdates.length > 0) this.enqueue(() => this.maybeIssueUpdate());
  }

  /** Our commit lost a race (PROTOCOL.md, "Commit races"): its callers wait for a re-issued one. */
  protected updateLostRace(): void {
    this.queuedUpdates = [...this.inFlightUpdates, ...this.queuedUpdates];
    this.inFlightUpdates = [];
  }

  protected unexpected(msg: HandshakeMessage | string): MlsTlsError {
    const what = typeof msg === "string" ? msg : msg.type;
    return mlsTlsError("ERR_MLSTLS_UNEXPECTED_MESSAGE", `unexpected ${what} in state ${this.state}`);
  }

  /** Swaps in a new MLS session and drops the old one's secrets. */
  protected adoptSession(next: MlsSession): void {
    const old = this.session;
    this.session = next;
    if (old !== undefined && old !== next) old.dispose();
  }

  protected enqueue(task: () => void | Promise<void>): void {
    this.tail = this.tail.then(async () => {
      if (this.dead !== undefined) return;
      try {
        await task();
      } catch (e) {
        this.fail(e);
      }
    });
  }

  /** A fatal error: alert the peer (if we still may), settle every promise, emit 'error' once, drop keys. */
  protected fail(e: unknown): void {
    if (this.dead !== undefined) return;
    const err = isMlsTlsError(e)
      ? e
      : mlsTlsError("ERR_MLSTLS_INTERNAL", `internal error: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    this.dead = err;
    if (!err.remote && !this.writeClosed && err.alert !== undefined) {
      try {
        this.sendAlertRecord(err.alert, AlertLevel.fatal);
      } catch {
        // The send key itself may be what failed (sequence exhausted); the transport close still tells the peer.
      }
    }
    this.writeClosed = true;
    this.settleAllOnDeath(err);
    this.cb.event({ type: "error", error: err });
    this.wipe();
  }

  // ---------------------------------------------------------------- internals

  private newProtection(): RecordProtection {
    return new RecordProtection(this.suiteParams!, {
      backend: this.opts.aeadBackend,
      aeadLimit: this.opts.aeadLimit,
    });
  }

  private dirLabel(dir: "send" | "recv"): string {
    const client = (this.role === "initiator") === (dir === "send");
    return client ? "CLIENT_TRAFFIC_SECRET" : "SERVER_TRAFFIC_SECRET";
  }

  private keylog(label: string, secret: Uint8Array): void {
    if (!this.keylogOn || this.clientRandom === undefined) return;
    const line = `${label} ${Buffer.from(this.clientRandom).toString("hex")} ${Buffer.from(secret).toString("hex")}\n`;
    this.cb.event({ type: "keylog", line });
  }

  /**
   * After a KeyUpdate: the record layer hands out a copy of its new secret, so take one only when key logging is
   * on, and zero it once logged.
   */
  private keylogRatchet(dir: "send" | "recv", prot: RecordProtection): void {
    const label = this.dirLabel(dir) + "_" + (dir === "send" ? this.sendGeneration++ : this.recvGeneration++);
    if (!this.keylogOn) return;
    const secret = prot.trafficSecret!;
    this.keylog(label, secret);
    zeroize(secret);
  }

  private assertCanSend(): void {
    if (this.dead !== undefined) throw this.dead;
    if (this.writeClosed) throw mlsTlsError("ERR_MLSTLS_CLOSED", "write after close_notify");
    if (!this._established) {
      throw mlsTlsError("ERR_TLS_INVALID_STATE", "TLS socket connection must be securely established");
    }
  }

  private sendProtected(type: number, content: Uint8Array): void {
    const prot = this.sendProt!;
    // AEAD usage limit (RFC 8446 §5.5): ratchet before the key wears out. Only once established, since a
    // KeyUpdate is a post-handshake message.
    if (prot.updateDue && this._established && !this.writeClosed) this.sendKeyUpdate(false, true);
    this.cb.send(prot.seal(type, content));
  }

  private sendKeyUpdate(requestPeer: boolean, automatic: boolean): void {
    const prot = this.sendProt!;
    this.cb.send(prot.seal(ContentType.handshake, encodeHandshake({ type: "key_update", updateRequested: requestPeer })));
    prot.update();
    this.keylogRatchet("send", prot);
    this.owedKeyUpdate = false;
    if (requestPeer) this.awaitingKeyUpdateAnswer = true;
    this.cb.event({ type: "keyUpdate", direction: "send", requested: requestPeer, automatic });
  }

  private sendAlert(description: number, level: number): void {
    this.sendAlertRecord(description, level);
  }

  private sendAlertRecord(description: number, level: number): void {
    const body = encodeAlert(description, level);
    if (this.sendProt !== undefined && this.sendProt.installed) {
      this.cb.send(this.sendProt.seal(ContentType.alert, body));
    } else {
      this.cb.send(encodePlaintextRecord(ContentType.alert, body));
    }
  }

  private async drain(): Promise<void> {
    try {
      for (;;) {
        if (this.dead !== undefined || this.readClosed) return;
        const rec = this.deframer.next();
        if (rec === null) break;
        const r = this.processRecord(rec.type, rec.fragment, rec);
        if (r !== undefined) await r;
      }
      // Answer update_requested once per batch of input (RFC 8446 §4.6.3 lets one KeyUpdate answer many).
      if (this.owedKeyUpdate && this.canWrite) this.sendKeyUpdate(false, false);
    } finally {
      this.drainScheduled = false;
    }
  }

  private processRecord(
    outerType: number,
    fragment: Uint8Array,
    rec: { type: number; version: number; fragment: Uint8Array; header: Uint8Array },
  ): void | Promise<void> {
    const prot = this.recvProt;
    if (prot === undefined) {
      if (fragment.length > MAX_PLAINTEXT) throw mlsTlsError("ERR_MLSTLS_RECORD_OVERFLOW", "plaintext record too long");
      if (outerType === ContentType.handshake) return this.onHandshakeFragment(fragment, false);
      if (outerType === ContentType.alert) return this.onAlert(fragment);
      throw mlsTlsError("ERR_MLSTLS_UNEXPECTED_RECORD", `record type ${outerType} before keys are established`);
    }
    // A peer that failed before it had keys can only alert in plaintext; accept that during the handshake only.
    if (outerType === ContentType.alert && !this._established) return this.onAlert(fragment);
    const { type, content } = this.established ? prot.open(rec) : this.openFirst(prot, rec);
    // open() decrypted into new buffers, so the ciphertext is no longer needed.
    this.deframer.recycle(rec);
    switch (type) {
      case ContentType.application_data:
        if (this.hsReader.buffered > 0) {
          throw mlsTlsError("ERR_MLSTLS_UNEXPECTED_MESSAGE", "application data inside a fragmented handshake message");
        }
        if (!this._established) throw this.unexpected("application data");
        this.handshakeWithoutData = 0;
        if (content.length > 0) this.cb.event({ type: "data", data: content });
        return;
      case ContentType.handshake:
        return this.onHandshakeFragment(content, true);
      case ContentType.alert:
        return this.onAlert(content);
      default:
        throw mlsTlsError("ERR_MLSTLS_UNEXPECTED_RECORD", `unexpected inner content type ${type}`);
    }
  }

  /** Before the handshake completes, a record that does not decrypt means the two ends derived different keys. */
  private openFirst(prot: RecordProtection, rec: Parameters<RecordProtection["open"]>[0]): ReturnType<RecordProtection["open"]> {
    try {
      return prot.open(rec);
    } catch (e) {
      if (!isMlsTlsError(e) || e.code !== "ERR_MLSTLS_BAD_RECORD_MAC") throw e;
      throw mlsTlsError(
        "ERR_MLSTLS_BAD_RECORD_MAC",
        "key confirmation failed: the peer's first protected record does not decrypt, so the two ends derived " +
          "different keys (an opening handshake altered on the path?)",
        { cause: e },
      );
    }
  }

  private onAlert(body: Uint8Array): void {
    if (this.hsReader.buffered > 0) {
      throw mlsTlsError("ERR_MLSTLS_UNEXPECTED_MESSAGE", "alert inside a fragmented handshake message");
    }
    const alert = decodeAlert(body);
    if (alert.description === AlertDescription.close_notify) {
      // Before the handshake completes a close_notify ends nothing that exists yet: it is a failed handshake
      // (node:tls's ECONNRESET), never a half-close, or a peer could hold the socket open with no handshake.
      if (!this._established) throw closedBeforeHandshake();
      this.readClosed = true;
      // Updates waiting for the peer can no longer be confirmed.
      const err = mlsTlsError("ERR_MLSTLS_CLOSED", "peer closed before the update was confirmed");
      this.rejectUpdates(this.allUpdateWaiters(), err);
      for (const w of this.keyUpdateWaiters.splice(0)) w.reject(err);
      this.cb.event({ type: "end" });
      return;
    }
    // user_canceled is followed by close_notify (RFC 8446 §6.1); everything else is an error alert.
    if (alert.description === AlertDescription.user_canceled && alert.level === AlertLevel.warning) return;
    throw peerAlertError(alert.description);
  }

  private async onHandshakeFragment(fragment: Uint8Array, encrypted: boolean): Promise<void> {
    if (!encrypted && fragment.length === 0) throw mlsTlsError("ERR_MLSTLS_DECODE_ERROR", "empty handshake record");
    this.hsReader.push(fragment);
    for (;;) {
      const raw = this.hsReader.next();
      if (raw === null) return;
      const msg = decodeHandshakeBody(raw.type, raw.body);
      if (this._established) this.countUnsolicited(msg);
      this.recvKeyChanged = false;
      if (msg.type === "key_update") {
        if (!encrypted || !this._established) throw this.unexpected(msg);
        this.onKeyUpdate(msg.updateRequested);
      } else {
        const r = this.onHandshakeMessage(msg, encrypted);
        if (r !== undefined) await r;
      }
      if (this.dead !== undefined) return;
      // CVE-2025-61730 class: bytes after a key change in the same record were protected under the old key.
      if (this.recvKeyChanged && this.hsReader.buffered > 0) {
        throw mlsTlsError(
          "ERR_MLSTLS_KEY_CHANGE_NOT_ON_RECORD_BOUNDARY",
          `${handshakeTypeName(raw.type)} changed keys but did not end its record`,
        );
      }
    }
  }

  /**
   * The flood cap counts what the peer starts on its own (ConnectionUpdates, which cost us MLS work, and
   * KeyUpdates), not the EpochKeyUpdates that finish a flow or the KeyUpdate that answers our own request: a
   * peer that only receives data must be able to confirm any number of our updates.
   */
  private countUnsolicited(msg: HandshakeMessage): void {
    if (msg.type === "epoch_key_update") return;
    if (msg.type === "key_update" && this.awaitingKeyUpdateAnswer) {
      this.awaitingKeyUpdateAnswer = false;
      return;
    }
    this.handshakeWithoutData++;
    const cap = this.opts.maxHandshakeMessagesWithoutData ?? DEFAULT_MAX_HANDSHAKE_WITHOUT_DATA;
    if (this.handshakeWithoutData > cap) {
      throw mlsTlsError("ERR_MLSTLS_HANDSHAKE_FLOOD", `more than ${cap} post-handshake messages without application data`);
    }
  }

  private onKeyUpdate(requested: boolean): void {
    const prot = this.recvProt!;
    prot.update();
    this.keylogRatchet("recv", prot);
    this.recvKeyChanged = true;
    if (requested && !this.writeClosed) this.owedKeyUpdate = true;
    this.cb.event({ type: "keyUpdate", direction: "receive", requested, automatic: false });
    for (const w of this.keyUpdateWaiters.splice(0)) w.resolve();
  }

  private async maybeIssueUpdate(): Promise<void> {
    if (this.queuedUpdates.length === 0 || this.inFlightUpdates.length > 0) return;
    if (!this.inDefaultState || this.writeClosed || this.readClosed) return;
    this.inFlightUpdates = this.queuedUpdates;
    this.queuedUpdates = [];
    await this.issueUpdate();
  }

  private allUpdateWaiters(): Waiter[] {
    const all = [...this.inFlightUpdates, ...this.queuedUpdates];
    this.inFlightUpdates = [];
    this.queuedUpdates = [];
    return all;
  }

  private rejectUpdates(waiters: Waiter[], err: Error): void {
    for (const w of waiters) w.reject(err);
  }

  private settleAllOnDeath(err: MlsTlsError): void {
    this.rejectUpdates(this.allUpdateWaiters(), err);
    for (const w of this.keyUpdateWaiters.splice(0)) w.reject(err);
  }

  private wipe(): void {
    this.sendProt?.dispose();
    this.recvProt?.dispose();
    zeroize(this.exporterSecret);
    this.exporterSecret = undefined;
    this.disposeRoleSecrets();
    this.session?.dispose();
  }

  /** Role state machines drop their pending MLS material here. */
  protected disposeRoleSecrets(): void {}
}

/** The peer closed (close_notify) before the handshake completed: remote, so no alert is sent back. */
export function closedBeforeHandshake(): MlsTlsError {
  return mlsTlsError("ERR_MLSTLS_CLOSED", "the peer closed the connection before the handshake completed", {
    alert: AlertDescription.close_notify,
    remote: true,
  });
}

function deriveContextHash(s: SuiteParams, context: Uint8Array): Uint8Array {
  // RFC 8446 §7.5: HKDF-Expand-Label(Derive-Secret(Secret, label, ""), "exporter", Hash(context_value), length).
  return new Uint8Array(createHash(s.hash).update(context).digest());
}
