// The sans-I/O protocol engine shared by both roles: bytes in (receive), bytes out (the `send` callback),
// application data and events out (the `event` callback). No sockets here.
//
// Processing is strictly serialized: one task queue runs record processing and local MLS operations
// (ts-mls is async), and no record is decrypted before the handshake message ahead of it has been applied.
// The role-specific state machines of draft §4.2-4.4 live in initiator.ts and responder.ts.

import { randomBytes } from "node:crypto";
import { type SuiteParams, suiteById, DEFAULT_SUITES } from "../suites.js";
import { AlertDescription, MlsTlsError, alertName, isMlsTlsError, peerAlertError, mlsTlsError } from "../errors.js";
import {
  AlertLevel,
  HandshakeReader,
  MAX_HANDSHAKE_MESSAGE,
  type HandshakeMessage,
  decodeAlert,
  decodeHandshakeBody,
  encodeAlert,
  encodeHandshake,
  describeHandshake,
  handshakeTypeName,
} from "./messages.js";
import {
  ContentType,
  MAX_PLAINTEXT,
  RecordDeframer,
  RecordProtection,
  encodePlaintextRecord,
  fragmentPlaintext,
} from "./records/record-layer.js";
import { zeroize } from "./key-schedule.js";
import { ConnectionKeys } from "./connection-keys.js";
import { FloodCap } from "./flood-cap.js";
import { KeyLog } from "./key-log.js";
import { UpdateWaiters } from "./update-waiters.js";
import type { LocalIdentity, MlsSession, PeerCredential } from "../mls/index.js";

export type { ConnectionCallbacks, ConnectionEvent, ConnectionOptions, IdentityContext, IdentitySource, PeerBinding, Role } from "./connection-options.js";
import type { ConnectionCallbacks, ConnectionOptions, Role } from "./connection-options.js";

export { DEFAULT_MAX_HANDSHAKE_WITHOUT_DATA, MAX_EMPTY_RECORDS } from "./flood-cap.js";

/** Handshake messages whose processing is MLS work (signatures, HPKE, tree hashes), worth a yield first. */
const EXPENSIVE: ReadonlySet<HandshakeMessage["type"]> = new Set(["client_hello", "server_hello", "resumption", "connection_update"]);

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
  /** The randoms, transcript and secrets the connection's keys come from. */
  protected readonly keys = new ConnectionKeys();

  private tail: Promise<void> = Promise.resolve();
  /** Tasks enqueued and not finished. */
  private pendingTasks = 0;
  private compactQueued = false;
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
  private readonly flood: FloodCap;
  /** Records in and out, for the trace. */
  private recordsIn = 0;
  private recordsOut = 0;
  private maxFragment = MAX_PLAINTEXT;
  private readonly keyLog: KeyLog;
  private owedKeyUpdate = false;
  private readonly waiters = new UpdateWaiters();

  constructor(opts: ConnectionOptions, cb: ConnectionCallbacks) {
    this.opts = opts;
    this.cb = cb;
    this.keyLog = new KeyLog(() => this.role, opts.keylog === true, (line) => this.cb.event({ type: "keylog", line }), () => this.keys.clientRandom);
    this.flood = new FloodCap(opts.maxHandshakeMessagesWithoutData);
  }

  /** Turns the 'keylog' events on or off, e.g. when a listener is attached after the connection started. */
  setKeylog(on: boolean): void {
    this.keyLog.on = on;
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
    return this.keys.suite;
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

  /**
   * Received bytes not yet taken up as records: the input held while the engine is busy (e.g. with MLS work).
   * The engine takes whatever it is given; the transport adapter above bounds this by pausing its input.
   */
  get queuedInput(): number {
    return this.deframer.buffered;
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
    return this.waiters.keyUpdate();
  }

  /** An MLS commit (post-compromise security). Resolves when the new epoch is confirmed by both sides. */
  connectionUpdate(): Promise<void> {
    try {
      this.assertCanSend();
      if (this.readClosed) throw mlsTlsError("ERR_MLSTLS_CLOSED", "peer has closed; an update cannot be confirmed");
    } catch (e) {
      return Promise.reject(e);
    }
    const p = this.waiters.connectionUpdate();
    this.enqueue(() => this.maybeIssueUpdate());
    return p;
  }

  /** Sends close_notify (half-close of our direction). */
  close(): void {
    if (this.dead !== undefined || this.writeClosed) return;
    this.sendAlert(AlertDescription.close_notify, AlertLevel.warning);
    this.writeClosed = true;
    // Updates not yet sent can never be sent now; one in flight may still be confirmed by the peer.
    this.waiters.rejectQueued(() => mlsTlsError("ERR_MLSTLS_CLOSED", "connection closed before the update was issued"));
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
      this.waiters.rejectAll(e);
    }
    this.wipe();
  }

  /** RFC 8446 §7.5 keying material exporter (ConnectionKeys.exportKeyingMaterial). */
  exportKeyingMaterial(length: number, label: string, context?: Uint8Array): Uint8Array {
    return this.keys.exportKeyingMaterial(length, label, context);
  }

  /** Encoded MLS state for sessions (resumption). */
  get mlsSession(): MlsSession | undefined {
    return this.session;
  }

  // ---------------------------------------------------------------- for the role state machines

  protected abstract onHandshakeMessage(msg: HandshakeMessage, encrypted: boolean): void | Promise<void>;
  /** Issue our own ConnectionUpdate; called in the default state, with the waiting calls riding on it. */
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
    this.keys.suite = s;
    return s;
  }

  protected async resolveIdentity(suite: number, serverName?: string, binding?: Uint8Array, peerKey?: Uint8Array): Promise<LocalIdentity | undefined> {
    const src = this.opts.identity;
    if (src === undefined) return undefined;
    const id = typeof src === "function" ? await src({ suite, serverName, binding, peerKey }) : src;
    if (id.suite !== suite) {
      throw mlsTlsError(
        "ERR_MLSTLS_CIPHERSUITE_MISMATCH",
        `our identity is for MLS suite ${id.suite}, but the connection uses suite ${suite}`,
      );
    }
    return id;
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
    this.trace(() => `enter epoch ${next.epoch} (suite ${this.keys.suite?.id}); receive key ${o.receive}`);
    const { client, server } = await this.keys.epochSecrets(next);
    if (o.opening === true) this.keyLog.line("EXPORTER_SECRET", await this.keys.deriveExporterSecret(next));
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

  /** SHA-256 of the opening messages so far: what a responder's delegation is bound to (see IdentityContext). */
  protected openingDigest(): Uint8Array {
    return this.keys.openingDigest();
  }

  /** See ConnectionKeys.addToTranscript. */
  protected addToTranscript(msg: HandshakeMessage): void {
    this.keys.addToTranscript(msg);
  }

  private installSend(secret: Uint8Array): void {
    if (this.sendProt === undefined) this.sendProt = this.newProtection();
    this.sendProt.install(secret);
    this.keyLog.traffic("send", () => secret);
    zeroize(secret);
  }

  /** Also used alone by the state that waited for the peer's switch (the secret `enterEpoch` returned). */
  protected installRecv(secret: Uint8Array): void {
    if (this.recvProt === undefined) this.recvProt = this.newProtection();
    this.recvProt.install(secret);
    this.keyLog.traffic("recv", () => secret);
    zeroize(secret);
    this.recvKeyChanged = true;
    this.deframer.acceptLegacyVersion = false;
  }

  protected markEstablished(): void {
    this._established = true;
    this.trace(() => `established (suite ${this.keys.suite?.id}, epoch ${this.session?.epoch}${this.resumed ? ", resumed" : ""})`);
    this.cb.event({ type: "handshake" });
  }

  /** A handshake message, split across records when it exceeds one (RFC 8446 §5.1), up to the receive limit. */
  protected sendHandshake(msg: HandshakeMessage): void {
    this.trace(() => `send ${describeHandshake(msg)}`);
    const bytes = encodeHandshake(msg);
    // The receive limit is on the body (after the 4-byte header); a peer would refuse anything bigger.
    if (bytes.length - 4 > MAX_HANDSHAKE_MESSAGE) {
      throw mlsTlsError(
        "ERR_MLSTLS_HANDSHAKE_MESSAGE_TOO_LARGE",
        `our ${msg.type} would have a ${bytes.length - 4}-byte body; peers accept at most ${MAX_HANDSHAKE_MESSAGE}`,
      );
    }
    if (this.sendProt === undefined) {
      this.out(fragmentPlaintext(ContentType.handshake, bytes));
      return;
    }
    if (bytes.length <= MAX_PLAINTEXT) {
      this.sendProtected(ContentType.handshake, bytes);
      return;
    }
    // An automatic KeyUpdate may go before the message, never between its fragments.
    this.sendProtected(ContentType.handshake, bytes.subarray(0, MAX_PLAINTEXT));
    for (let off = MAX_PLAINTEXT; off < bytes.length; off += MAX_PLAINTEXT) {
      this.out(this.sendProt.seal(ContentType.handshake, bytes.subarray(off, Math.min(bytes.length, off + MAX_PLAINTEXT))));
    }
  }

  protected epochConfirmed(epoch: bigint, initiatedBy: "local" | "peer"): void {
    if (initiatedBy === "local") this.waiters.confirmed();
    this.cb.event({ type: "connectionUpdate", epoch, initiatedBy });
    this.issueQueuedUpdates();
  }

  /** Back in the default state: connectionUpdate() calls that had to wait go out. */
  protected issueQueuedUpdates(): void {
    if (this.waiters.anyQueued) this.enqueue(() => this.maybeIssueUpdate());
  }

  /** Our commit lost a race (PROTOCOL.md, "Commit races"): its callers wait for a re-issued one. */
  protected updateLostRace(): void {
    this.trace(() => "our ConnectionUpdate lost the race to the initiator's: it is issued again from the new epoch");
    this.waiters.lostRace();
  }

  /** Bytes to the transport: every record we send goes through here. */
  private out(bytes: Uint8Array): void {
    this.recordsOut++;
    this.cb.send(bytes);
  }

  /** A trace line, formatted only when someone listens. */
  protected trace(line: () => string): void {
    const t = this.opts.trace;
    if (t !== undefined) t(`${this.role} [${this.state}] ${line()}`);
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
    this.pendingTasks++;
    this.tail = this.tail.then(async () => {
      try {
        if (this.dead !== undefined) return;
        try {
          await task();
        } catch (e) {
          this.fail(e);
        }
      } finally {
        if (--this.pendingTasks === 0) this.onQuiet();
      }
    });
  }

  /**
   * The queue ran empty. An established connection with nothing in flight keeps its MLS state compact (encoded,
   * MlsSession.compact()) until the next MLS step needs it: once the loop comes back (opts.deferIdle) and only if
   * nothing was queued meanwhile, so a busy connection does not encode its state between records.
   */
  private onQuiet(): void {
    const defer = this.opts.deferIdle;
    if (defer === undefined || this.compactQueued || !this.compactable()) return;
    this.compactQueued = true;
    defer(() => {
      this.compactQueued = false;
      if (this.pendingTasks === 0 && this.compactable()) this.compactState();
    });
  }

  private compactable(): boolean {
    return (
      this._established &&
      this.dead === undefined &&
      !this.writeClosed &&
      !this.readClosed &&
      this.inDefaultState &&
      this.session !== undefined &&
      !this.session.isCompact
    );
  }

  /** Compacts the MLS state this connection holds while idle; the roles add what they keep besides the session. */
  protected compactState(): void {
    this.session?.compact();
  }

  /** A fatal error: alert the peer (if we still may), settle every promise, emit 'error' once, drop keys. */
  protected fail(e: unknown): void {
    if (this.dead !== undefined) return;
    const err = isMlsTlsError(e)
      ? e
      : mlsTlsError("ERR_MLSTLS_INTERNAL", `internal error: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    this.dead = err;
    this.trace(() =>
      `fatal ${err.remote ? "alert from the peer" : "error"} ${err.code}` +
      `${err.alert === undefined ? "" : ` (alert ${alertName(err.alert)})`}: ${err.message}; records in ${this.recordsIn}, out ${this.recordsOut}`,
    );
    if (!err.remote && !this.writeClosed && err.alert !== undefined) {
      try {
        this.sendAlertRecord(err.alert, AlertLevel.fatal);
      } catch {
        // The send key itself may be what failed (sequence exhausted); the transport close still tells the peer.
      }
    }
    this.writeClosed = true;
    this.waiters.rejectAll(err);
    this.cb.event({ type: "error", error: err });
    this.wipe();
  }

  // ---------------------------------------------------------------- internals

  private newProtection(): RecordProtection {
    return new RecordProtection(this.keys.suite!, {
      backend: this.opts.aeadBackend,
      aeadLimit: this.opts.aeadLimit,
    });
  }

  /**
   * After a KeyUpdate: the record layer hands out a copy of its new secret, so take one only when key logging is
   * on, and zero it once logged.
   */
  private keylogRatchet(dir: "send" | "recv", prot: RecordProtection): void {
    let copy: Uint8Array | undefined;
    this.keyLog.traffic(dir, () => (copy = prot.trafficSecret));
    zeroize(copy);
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
    this.out(prot.seal(type, content));
  }

  private sendKeyUpdate(requestPeer: boolean, automatic: boolean): void {
    const prot = this.sendProt!;
    this.out(prot.seal(ContentType.handshake, encodeHandshake({ type: "key_update", updateRequested: requestPeer })));
    prot.update();
    this.keylogRatchet("send", prot);
    this.owedKeyUpdate = false;
    this.trace(() => `send KeyUpdate${requestPeer ? " (update_requested)" : ""}${automatic ? ", automatic" : ""}; send key generation moves on`);
    if (requestPeer) this.flood.requestedKeyUpdate();
    this.cb.event({ type: "keyUpdate", direction: "send", requested: requestPeer, automatic });
  }

  private sendAlert(description: number, level: number): void {
    this.sendAlertRecord(description, level);
  }

  private sendAlertRecord(description: number, level: number): void {
    this.trace(() => `send alert ${alertName(description)}${level === AlertLevel.warning ? " (warning)" : ""}`);
    const body = encodeAlert(description, level);
    if (this.sendProt !== undefined && this.sendProt.installed) {
      this.out(this.sendProt.seal(ContentType.alert, body));
    } else {
      this.out(encodePlaintextRecord(ContentType.alert, body));
    }
  }

  private async drain(): Promise<void> {
    try {
      for (;;) {
        if (this.dead !== undefined || this.readClosed) return;
        const rec = this.deframer.next();
        if (rec === null) break;
        this.recordsIn++;
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
        // Only data resets the flood cap: empty records cost us a decryption each and carry nothing.
        if (content.length === 0) return this.flood.emptyRecord();
        this.flood.data();
        this.cb.event({ type: "data", data: content });
        return;
      case ContentType.handshake:
        this.flood.handshakeRecord();
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
    // An empty alert record is a misplaced record rather than a malformed alert (tlsfuzzer, BoGo).
    if (body.length === 0) throw mlsTlsError("ERR_MLSTLS_UNEXPECTED_MESSAGE", "empty alert record");
    const alert = decodeAlert(body);
    this.trace(() => `recv alert ${alertName(alert.description)}`);
    if (alert.description === AlertDescription.close_notify) {
      // Before the handshake completes a close_notify ends nothing that exists yet: it is a failed handshake
      // (node:tls's ECONNRESET), never a half-close, or a peer could hold the socket open with no handshake.
      if (!this._established) throw closedBeforeHandshake();
      this.readClosed = true;
      // Updates waiting for the peer can no longer be confirmed.
      this.waiters.rejectAll(() => mlsTlsError("ERR_MLSTLS_CLOSED", "peer closed before the update was confirmed"));
      this.cb.event({ type: "end" });
      return;
    }
    // user_canceled is followed by close_notify (RFC 8446 §6.1); everything else is an error alert.
    if (alert.description === AlertDescription.user_canceled && alert.level === AlertLevel.warning) return;
    throw peerAlertError(alert.description);
  }

  private async onHandshakeFragment(fragment: Uint8Array, encrypted: boolean): Promise<void> {
    // RFC 8446 §5.1 forbids empty handshake fragments, encrypted or not (they would also be free to flood with).
    if (fragment.length === 0) throw mlsTlsError("ERR_MLSTLS_DECODE_ERROR", "empty handshake record");
    this.hsReader.push(fragment);
    for (;;) {
      const raw = this.hsReader.next();
      if (raw === null) return;
      const msg = decodeHandshakeBody(raw.type, raw.body);
      this.trace(() => `recv ${describeHandshake(msg)}${encrypted ? "" : " (plaintext)"}`);
      if (this._established) this.flood.handshakeMessage(msg);
      this.recvKeyChanged = false;
      if (msg.type === "key_update") {
        if (!encrypted || !this._established) throw this.unexpected(msg);
        this.onKeyUpdate(msg.updateRequested);
      } else {
        if (this.opts.yieldToLoop !== undefined && EXPENSIVE.has(msg.type)) {
          await this.opts.yieldToLoop();
          if (this.dead !== undefined) return;
        }
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

  private onKeyUpdate(requested: boolean): void {
    const prot = this.recvProt!;
    prot.update();
    this.keylogRatchet("recv", prot);
    this.recvKeyChanged = true;
    if (requested && !this.writeClosed) this.owedKeyUpdate = true;
    this.cb.event({ type: "keyUpdate", direction: "receive", requested, automatic: false });
    this.waiters.keyUpdated();
  }

  private async maybeIssueUpdate(): Promise<void> {
    if (!this.waiters.anyQueued || this.waiters.anyInFlight) return;
    if (!this.inDefaultState || this.writeClosed || this.readClosed) return;
    this.waiters.issue();
    await this.issueUpdate();
  }

  private wipe(): void {
    this.trace(() => `keys dropped; records in ${this.recordsIn}, out ${this.recordsOut}`);
    this.sendProt?.dispose();
    this.recvProt?.dispose();
    this.keys.wipe();
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
