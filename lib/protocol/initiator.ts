// The initiator (client) state machine: the initial handshake of draft §4.2 with key confirmation
// (PROTOCOL.md, "Key confirmation"), and the three connection-update states of draft §4.4.1.
//
//   start ──ClientHello──▶ wait_server_hello ──ServerHello / EpochKeyUpdate(confirm)──▶ default (1)
//   wait_server_hello ──RetryRequest(suite) / ClientHello with that suite's KeyPackage──▶ wait_server_hello (once)
//   default (1) ──send ConnectionUpdate, switch send key──▶ wait_confirmation (2)
//   wait_confirmation (2) ──EpochKeyUpdate(epoch)──▶ default (1)   (switch receive key)
//   wait_confirmation (2) ──ConnectionUpdate from responder──▶ dropped (the initiator's update wins)
//   default (1) ──ConnectionUpdate from responder / send EpochKeyUpdate, switch send key──▶ wait_peer_epoch_key_update (3)
//   wait_peer_epoch_key_update (3) ──EpochKeyUpdate(epoch)──▶ default (1)   (switch receive key)
//
// Resumption (draft §4.5):
//   start ──Resumption──▶ wait_resumption_accept ──ResumptionAccept / EpochKeyUpdate(confirm)──▶ wait_confirmation (2), established
//   wait_confirmation (2) ──EpochKeyUpdate(epoch), sent by the responder once it stored the session──▶ default (1)

import { Connection, type ConnectionCallbacks, type ConnectionOptions, type Role } from "./connection.js";
import type { HandshakeMessage } from "./messages.js";
import { RANDOM_LEN } from "./messages.js";
import {
  createKeyPackage,
  generateIdentity,
  joinFromWelcome,
  type HelloExtensions,
  type PendingJoin,
  type PendingUpdate,
  type MlsSession,
} from "../mls/index.js";
import { type InitiatorDraftState, decodeClientSession, encodeClientSession, prepareResumption } from "./resumption.js";
import { mlsTlsError } from "../errors.js";
import { zeroize } from "./key-schedule.js";
import { keyPackageSuites, signatureSchemeOf, suiteById } from "../suites.js";

export type InitiatorState =
  | "start"
  | "wait_server_hello"
  | "wait_resumption_accept"
  | "default"
  | "wait_confirmation"
  | "wait_resumed_epoch_key_update"
  | "wait_peer_epoch_key_update";

/**
 * A state with what it owns: the states that wait for the responder's EpochKeyUpdate hold the new epoch's receive
 * secret (draft §4.3: "the one not applied is stored") and the commit in flight, so no other state can reach them.
 */
type StateData =
  | { name: "start" | "wait_server_hello" | "wait_resumption_accept" | "default" }
  /** State 2: our ConnectionUpdate is out; the receive key switches at its confirmation. */
  | { name: "wait_confirmation"; receive: Uint8Array; commit: Uint8Array }
  /** State 2 after a Resumption: both keys are in place; the responder's EpochKeyUpdate says it stored the session. */
  | { name: "wait_resumed_epoch_key_update"; commit: Uint8Array }
  /** State 3: we confirmed the responder's update; our receive key switches at its EpochKeyUpdate. */
  | { name: "wait_peer_epoch_key_update"; receive: Uint8Array };

export interface InitiatorOptions extends ConnectionOptions {
  /** Sent as the server_name KeyPackage extension. */
  serverName?: string;
  /** Sent as the ALPN KeyPackage extension. */
  alpnProtocols?: readonly string[];
  /** A session saved from an earlier connection: resume it (draft §4.5) instead of a full handshake. */
  session?: Uint8Array;
  /**
   * Receives the session after every change that matters for resumption, and is awaited before the message that
   * depends on it is sent (write-ahead: PROTOCOL.md, "Write-ahead sessions").
   */
  saveSession?: (session: Uint8Array) => void | Promise<void>;
}

export class Initiator extends Connection {
  readonly role: Role = "initiator";
  private st: StateData = { name: "start" };
  /** Our KeyPackages in flight, by suite; the ServerHello names the one the server used. */
  private readonly pendingJoins = new Map<number, PendingJoin>();
  /** Every suite we accept, in our order of preference, as the ClientHello listed them. */
  private offer: number[] = [];
  /** A RetryRequest came (at most one may). */
  private retried = false;
  /** Our next ConnectionUpdate, made in advance when a session was saved (its commit is in that session). */
  private nextUpdate: PendingUpdate | undefined;
  /** Between sending a Resumption and its ResumptionAccept: the commit it carried. */
  private resumptionCommit: Uint8Array | undefined;
  private serverName: string | undefined;
  private readonly alpnOffers: readonly string[];
  private readonly iopts: InitiatorOptions;

  constructor(opts: InitiatorOptions, cb: ConnectionCallbacks) {
    super(opts, cb);
    this.iopts = opts;
    this.serverName = opts.serverName;
    this.alpnOffers = opts.alpnProtocols ?? [];
  }

  get state(): InitiatorState {
    return this.st.name;
  }

  /** The draft's numbering: 1 Default, 2 Waiting for confirmation, 3 Waiting for the responder's EpochKeyUpdate. */
  get draftState(): 1 | 2 | 3 | undefined {
    switch (this.st.name) {
      case "default":
        return 1;
      case "wait_confirmation":
      case "wait_resumed_epoch_key_update":
        return 2;
      case "wait_peer_epoch_key_update":
        return 3;
      default:
        return undefined;
    }
  }

  /** Nothing sent yet: the ClientHello or Resumption is still being prepared. */
  get notStarted(): boolean {
    return this.st.name === "start";
  }

  /** The ClientHello is out and its answer has not arrived: a vanilla TLS server's alert would come now. */
  get awaitingServerHello(): boolean {
    return this.st.name === "wait_server_hello";
  }

  /** The Resumption is out and its answer has not arrived: a refusal now means the session is unusable. */
  get awaitingResumptionAccept(): boolean {
    return this.st.name === "wait_resumption_accept";
  }

  /** The ConnectionUpdate commit bytes in flight, if any (for resumption from state 2). */
  get pendingUpdateCommit(): Uint8Array | undefined {
    return "commit" in this.st ? this.st.commit : undefined;
  }

  private set(next: StateData): void {
    if (next.name !== this.st.name) this.trace(() => `state -> ${next.name}`);
    if ("receive" in this.st && this.st !== next) zeroize(this.st.receive);
    this.st = next;
  }

  /**
   * Sends the ClientHello (every suite we accept, with KeyPackages for the first of them; PROTOCOL.md, "Suite
   * negotiation"), or the Resumption.
   */
  start(): void {
    this.enqueue(async () => {
      if (this.st.name !== "start") throw this.unexpected("start");
      if (this.iopts.session !== undefined) return this.startResumption(this.iopts.session);
      this.offer = [...this.suites()];
      this.keys.clientRandom = this.random(RANDOM_LEN);
      await this.opts.yieldToLoop?.();
      const keyPackages: Uint8Array[] = [];
      for (const suite of keyPackageSuites(this.offer)) {
        const kp = await this.keyPackageFor(suite);
        if (kp !== undefined) keyPackages.push(kp);
      }
      // An identity callback may serve none of those: find the first suite it does serve.
      for (const suite of [...this.offer]) {
        if (keyPackages.length > 0) break;
        if (this.pendingJoins.has(suite)) continue;
        const kp = await this.keyPackageFor(suite);
        if (kp !== undefined) keyPackages.push(kp);
      }
      if (keyPackages.length === 0) {
        throw mlsTlsError("ERR_MLSTLS_CIPHERSUITE_MISMATCH", "our identity can sign for none of the MLS suites this client offers");
      }
      this.sendHello(keyPackages);
      this.set({ name: "wait_server_hello" });
    });
  }

  /** A KeyPackage for `suite`; undefined (and the suite no longer offered) when our identity is for another suite. */
  private async keyPackageFor(suite: number): Promise<Uint8Array | undefined> {
    const src = this.opts.identity;
    let identity = src === undefined ? undefined : typeof src === "function" ? await src({ suite, serverName: this.serverName, binding: this.keys.clientRandom }) : src;
    if (identity !== undefined && identity.suite !== suite) {
      this.offer = this.offer.filter((s) => s !== suite);
      return undefined;
    }
    identity ??= await generateIdentity(suite, undefined, this.opts.mlsCrypto);
    const ext: HelloExtensions = { serverName: this.serverName, alpnProtocols: [...this.alpnOffers] };
    const kp = await createKeyPackage(identity, ext, this.opts.mlsCrypto);
    this.pendingJoins.set(suite, kp.pending);
    return kp.message;
  }

  private sendHello(keyPackages: Uint8Array[]): void {
    const hello: HandshakeMessage = { type: "client_hello", random: this.keys.clientRandom!, suites: this.offer, keyPackages };
    this.addToTranscript(hello);
    this.sendHandshake(hello);
  }

  /** The server chose a suite we listed without a KeyPackage: send one, once (TLS 1.3's HelloRetryRequest flow). */
  private async onRetryRequest(msg: Extract<HandshakeMessage, { type: "retry_request" }>): Promise<void> {
    if (this.retried) throw this.unexpected("second RetryRequest");
    const name = (id: number): string => suiteById(id)?.name ?? `unknown suite ${id}`;
    if (!this.offer.includes(msg.suite)) {
      throw mlsTlsError(
        "ERR_MLSTLS_CIPHERSUITE_MISMATCH",
        `no common MLS suite: the server asks for ${name(msg.suite)} (signature scheme ${signatureSchemeOf(msg.suite) || "unknown"}), ` +
          `which this client does not offer (it offers ${this.offer.map(name).join(", ")}): allow it in \`ciphersuites\` ` +
          `(and use a key of that type if the client has a certificate), or give the server a key this client accepts`,
      );
    }
    if (this.pendingJoins.has(msg.suite)) {
      throw mlsTlsError("ERR_MLSTLS_ILLEGAL_PARAMETER", `RetryRequest for suite ${msg.suite}, whose KeyPackage the ClientHello carried`);
    }
    this.retried = true;
    this.addToTranscript(msg);
    this.disposePendingJoins();
    const kp = await this.keyPackageFor(msg.suite);
    if (kp === undefined) {
      throw mlsTlsError("ERR_MLSTLS_CIPHERSUITE_MISMATCH", `the server asks for MLS suite ${name(msg.suite)}, but our identity is for another suite`);
    }
    this.sendHello([kp]);
  }

  private disposePendingJoins(): void {
    for (const p of this.pendingJoins.values()) p.dispose();
    this.pendingJoins.clear();
  }

  protected get inDefaultState(): boolean {
    return this.st.name === "default";
  }

  protected async onHandshakeMessage(msg: HandshakeMessage, encrypted: boolean): Promise<void> {
    const st = this.st;
    switch (st.name) {
      case "wait_server_hello":
        if (encrypted) throw this.unexpected(msg);
        if (msg.type === "retry_request") return this.onRetryRequest(msg);
        if (msg.type !== "server_hello") throw this.unexpected(msg);
        return this.onServerHello(msg.random, msg.suite, msg.welcome);
      case "wait_resumption_accept":
        if (msg.type !== "resumption_accept" || encrypted) throw this.unexpected(msg);
        return this.onResumptionAccept(msg.random);
      case "default":
        if (msg.type !== "connection_update" || !encrypted) throw this.unexpected(msg);
        return this.onPeerUpdate(msg.commit);
      case "wait_confirmation":
        if (msg.type === "connection_update" && encrypted) {
          // Concurrent updates: the initiator's has priority, so the responder's is dropped (§4.4.1).
          return;
        }
        if (msg.type !== "epoch_key_update" || !encrypted) throw this.unexpected(msg);
        return this.onConfirmation(msg.epoch, st.receive, "local");
      case "wait_resumed_epoch_key_update":
        if (msg.type !== "epoch_key_update" || !encrypted) throw this.unexpected(msg);
        return this.onResumptionStored(msg.epoch);
      case "wait_peer_epoch_key_update":
        if (msg.type !== "epoch_key_update" || !encrypted) throw this.unexpected(msg);
        return this.onConfirmation(msg.epoch, st.receive, "peer");
      default:
        throw this.unexpected(msg);
    }
  }

  private async onServerHello(serverRandom: Uint8Array, suite: number, welcome: Uint8Array): Promise<void> {
    const pending = this.pendingJoins.get(suite);
    if (pending === undefined) {
      throw mlsTlsError("ERR_MLSTLS_ILLEGAL_PARAMETER", `ServerHello for MLS suite ${suite}, for which we sent no KeyPackage`);
    }
    this.pendingJoins.delete(suite);
    this.disposePendingJoins();
    this.setSuite(suite);
    this.opts.peerBinding?.opening({ suite, context: this.openingDigest(), ownKey: pending.ownSignatureKey });
    const session = await joinFromWelcome(pending, welcome, { validate: this.opts.validatePeer, crypto: this.opts.mlsCrypto });
    await this.confirmKeys(session, serverRandom);
    this.set({ name: "default" });
    this.markEstablished();
    // Nothing we sent depends on it, so the first session is written after the handshake, off its critical path
    // ('session' follows 'secureConnect', as in node:tls). Lost, it only costs a full handshake next time.
    // It costs a whole MLS commit (the one a Resumption from it sends): wait for the loop first, so that the key
    // confirmation leaves now (the node layer flushes engine output on the next tick, which a chain of
    // promise-based MLS steps would hold back) and the application's first writes go out ahead of it; a
    // connection that was closed meanwhile has no later state to save.
    if (this.iopts.saveSession === undefined) return;
    await this.opts.yieldToLoop?.();
    if (this.failed !== undefined) return;
    await this.save(1);
  }

  /**
   * Opens the connection's first epoch with the responder's random and sends key confirmation (PROTOCOL.md, "Key
   * confirmation"): our first protected message, an EpochKeyUpdate, proves we hold this epoch's keys.
   */
  private confirmKeys(session: MlsSession, serverRandom: Uint8Array): Promise<unknown> {
    this.keys.serverRandom = serverRandom;
    return this.enterEpoch(session, {
      opening: true,
      receive: "now",
      message: { type: "epoch_key_update", epoch: session.epoch },
      sendUnder: "new",
    });
  }

  private async startResumption(blob: Uint8Array): Promise<void> {
    const stored = decodeClientSession(blob, this.opts.mlsCrypto);
    this.setSuite(stored.session.suite);
    this.serverName ??= stored.serverName;
    this.opts.peerBinding?.resumed({ ownKey: stored.session.ownCredential.signaturePublicKey });
    await this.revalidatePeer(stored.session);
    const { session, commit } = prepareResumption(stored);
    this.adoptSession(session);
    this.keys.clientRandom = this.random(RANDOM_LEN);
    // The stored session was written with exactly this commit: resending its Buffer sends the same bytes.
    this.resumptionCommit = commit;
    const resumption: HandshakeMessage = { type: "resumption", random: this.keys.clientRandom, commit };
    this.addToTranscript(resumption);
    this.sendHandshake(resumption);
    this.set({ name: "wait_resumption_accept" });
  }

  private async onResumptionAccept(serverRandom: Uint8Array): Promise<void> {
    // As after a full handshake, data may follow the key confirmation at once. The responder's EpochKeyUpdate, sent
    // once it checked it and stored the session, moves us to state 1.
    await this.confirmKeys(this.session!, serverRandom);
    this.resumed = true;
    this.set({ name: "wait_resumed_epoch_key_update", commit: this.resumptionCommit! });
    this.resumptionCommit = undefined;
    this.markEstablished();
  }

  /**
   * The responder sends this only after our key confirmation, once it stored the session: until now the saved
   * session was the one we resumed from (the same commit), which it repairs either way.
   */
  private async onResumptionStored(epoch: bigint): Promise<void> {
    const current = this.session!.epoch;
    if (epoch !== current) throw mlsTlsError("ERR_MLSTLS_WRONG_EPOCH", `EpochKeyUpdate for epoch ${epoch}, expected ${current}`);
    this.set({ name: "default" });
    await this.save(1);
    // connectionUpdate() calls made while we waited go out now.
    this.issueQueuedUpdates();
  }

  protected async issueUpdate(): Promise<void> {
    // The update made in advance for the saved session, if any: this epoch makes no other commit.
    const update = this.takeNextUpdate() ?? (await this.session!.createUpdate());
    // The initiator's own commit always wins a race, so it applies it at once.
    const commit = update.commit;
    const receive = await this.enterEpoch(update.apply(), {
      receive: "later",
      persist: () => this.save(2, commit),
      message: { type: "connection_update", commit },
    });
    this.set({ name: "wait_confirmation", receive: receive!, commit });
  }

  private async onPeerUpdate(commit: Uint8Array): Promise<void> {
    const next = await this.peerCommit(commit);
    // Our update made in advance was for the epoch the responder's commit replaces; it was never sent here.
    this.discardNextUpdate();
    const receive = await this.enterEpoch(next, {
      receive: "later",
      persist: () => this.save(3),
      message: { type: "epoch_key_update", epoch: next.epoch },
    });
    this.set({ name: "wait_peer_epoch_key_update", receive: receive! });
  }

  /** States 2 and 3 end here: the responder's EpochKeyUpdate for our epoch switches our receive key. */
  private async onConfirmation(epoch: bigint, receive: Uint8Array, initiatedBy: "local" | "peer"): Promise<void> {
    const current = this.session!.epoch;
    if (epoch !== current) {
      throw mlsTlsError("ERR_MLSTLS_WRONG_EPOCH", `EpochKeyUpdate for epoch ${epoch}, expected ${current}`);
    }
    this.installRecv(receive); // zeroes it
    this.set({ name: "default" });
    await this.save(1);
    this.epochConfirmed(current, initiatedBy);
  }

  /**
   * Hands the session to the application, awaited before the message that depends on it goes out. Every session
   * carries the commit a Resumption from it sends: the ConnectionUpdate in flight (state 2), else our next update,
   * made now and kept, so that the connection's own next ConnectionUpdate is that same commit.
   */
  private async save(draftState: InitiatorDraftState, inFlight?: Uint8Array): Promise<void> {
    const sink = this.iopts.saveSession;
    if (sink === undefined) return;
    const session = this.session!;
    let next: Uint8Array;
    let commit: Uint8Array;
    if (inFlight !== undefined) {
      next = session.encode();
      commit = inFlight;
    } else {
      if (this.nextUpdate === undefined || this.nextUpdate.newEpoch !== session.epoch + 1n) {
        this.nextUpdate?.discard();
        this.nextUpdate = await session.createUpdate();
      }
      next = this.nextUpdate.encodeAfter();
      commit = this.nextUpdate.commit;
    }
    const blob = encodeClientSession({ draftState, next, commit, serverName: this.serverName });
    next.fill(0);
    await sink(blob);
  }

  /** The update made in advance for this epoch, if any, handed over once. */
  private takeNextUpdate(): PendingUpdate | undefined {
    const u = this.nextUpdate;
    this.nextUpdate = undefined;
    if (u !== undefined && u.newEpoch === this.session!.epoch + 1n) return u;
    u?.discard();
    return undefined;
  }

  private discardNextUpdate(): void {
    this.nextUpdate?.discard();
    this.nextUpdate = undefined;
  }

  protected override compactState(): void {
    super.compactState();
    this.nextUpdate?.compact();
  }

  protected override disposeRoleSecrets(): void {
    if ("receive" in this.st) zeroize(this.st.receive);
    this.discardNextUpdate();
    this.disposePendingJoins();
  }
}
