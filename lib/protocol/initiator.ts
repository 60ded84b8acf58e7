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
} from "../mls/index.js";
import { type InitiatorDraftState, decodeClientSession, encodeClientSession, prepareResumption } from "./resumption.js";
import { mlsTlsError } from "../errors.js";
import { keyPackageSuites, signatureSchemeOf, suiteById } from "../suites.js";

export type InitiatorState =
  | "start"
  | "wait_server_hello"
  | "wait_resumption_accept"
  | "default"
  | "wait_confirmation"
  | "wait_peer_epoch_key_update";

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
  private _state: InitiatorState = "start";
  /** Our KeyPackages in flight, by suite; the ServerHello names the one the server used. */
  private readonly pendingJoins = new Map<number, PendingJoin>();
  /** Every suite we accept, in our order of preference, as the ClientHello listed them. */
  private offer: number[] = [];
  /** A RetryRequest came (at most one may). */
  private retried = false;
  /** Our next ConnectionUpdate, made in advance when a session was saved (its commit is in that session). */
  private nextUpdate: PendingUpdate | undefined;
  /** Our ConnectionUpdate commit in flight (state 2): kept for resumption (draft §4.5 re-sends the same bytes). */
  private ownCommit: Uint8Array | undefined;
  private serverName: string | undefined;
  private readonly alpnOffers: readonly string[];
  private readonly iopts: InitiatorOptions;
  /** In wait_confirmation after a Resumption: the responder's EpochKeyUpdate completes the resumption. */
  private resuming = false;

  constructor(opts: InitiatorOptions, cb: ConnectionCallbacks) {
    super(opts, cb);
    this.iopts = opts;
    this.serverName = opts.serverName;
    this.alpnOffers = opts.alpnProtocols ?? [];
  }

  get state(): InitiatorState {
    return this._state;
  }

  /** The draft's numbering: 1 Default, 2 Waiting for confirmation, 3 Waiting for the responder's EpochKeyUpdate. */
  get draftState(): 1 | 2 | 3 | undefined {
    return this._state === "default" ? 1 : this._state === "wait_confirmation" ? 2 : this._state === "wait_peer_epoch_key_update" ? 3 : undefined;
  }

  /** Nothing sent yet: the ClientHello or Resumption is still being prepared. */
  get notStarted(): boolean {
    return this._state === "start";
  }

  /** The ClientHello is out and its answer has not arrived: a vanilla TLS server's alert would come now. */
  get awaitingServerHello(): boolean {
    return this._state === "wait_server_hello";
  }

  /** The Resumption is out and its answer has not arrived: a refusal now means the session is unusable. */
  get awaitingResumptionAccept(): boolean {
    return this._state === "wait_resumption_accept";
  }

  /** The ConnectionUpdate commit bytes in flight, if any (for resumption from state 2). */
  get pendingUpdateCommit(): Uint8Array | undefined {
    return this.ownCommit;
  }

  /**
   * Sends the ClientHello (every suite we accept, with KeyPackages for the first of them; PROTOCOL.md, "Suite
   * negotiation"), or the Resumption.
   */
  start(): void {
    this.enqueue(async () => {
      if (this._state !== "start") throw this.unexpected("start");
      if (this.iopts.session !== undefined) return this.startResumption(this.iopts.session);
      this.offer = [...this.suites()];
      this.clientRandom = this.random(RANDOM_LEN);
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
      this._state = "wait_server_hello";
    });
  }

  /** A KeyPackage for `suite`; undefined (and the suite no longer offered) when our identity is for another suite. */
  private async keyPackageFor(suite: number): Promise<Uint8Array | undefined> {
    const src = this.opts.identity;
    let identity = src === undefined ? undefined : typeof src === "function" ? await src({ suite, serverName: this.serverName }) : src;
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
    const hello: HandshakeMessage = { type: "client_hello", random: this.clientRandom!, suites: this.offer, keyPackages };
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
    return this._state === "default";
  }

  protected async onHandshakeMessage(msg: HandshakeMessage, encrypted: boolean): Promise<void> {
    switch (this._state) {
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
        if (msg.type === "connection_update" && encrypted && !this.resuming) {
          // Concurrent updates: the initiator's has priority, so the responder's is dropped (§4.4.1).
          return;
        }
        if (msg.type !== "epoch_key_update" || !encrypted) throw this.unexpected(msg);
        return this.onConfirmation(msg.epoch, "local");
      case "wait_peer_epoch_key_update":
        if (msg.type !== "epoch_key_update" || !encrypted) throw this.unexpected(msg);
        return this.onConfirmation(msg.epoch, "peer");
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
    const session = await joinFromWelcome(pending, welcome, { validate: this.opts.validatePeer, crypto: this.opts.mlsCrypto });
    this.adoptSession(session);
    this.serverRandom = serverRandom;
    const { client, server } = await this.epochSecrets(session);
    await this.deriveExporterSecret(session);
    this.installRecv(server);
    this.installSend(client);
    // Key confirmation (PROTOCOL.md, "Key confirmation"): our first protected message proves we joined this epoch.
    this.sendHandshake({ type: "epoch_key_update", epoch: session.epoch });
    this._state = "default";
    this.markEstablished();
    // Nothing we sent depends on it, so the first session is written after the handshake, off its critical path
    // ('session' follows 'secureConnect', as in node:tls). Lost, it only costs a full handshake next time.
    await this.save(1);
  }

  private async startResumption(blob: Uint8Array): Promise<void> {
    const stored = decodeClientSession(blob, this.opts.mlsCrypto);
    this.setSuite(stored.session.suite);
    this.serverName ??= stored.serverName;
    await this.revalidatePeer(stored.session);
    const { session, commit } = prepareResumption(stored);
    this.adoptSession(session);
    this.ownCommit = commit;
    this.clientRandom = this.random(RANDOM_LEN);
    // Write-ahead: if we break off from here on, the next Resumption re-sends these exact bytes.
    await this.save(2);
    const resumption: HandshakeMessage = { type: "resumption", random: this.clientRandom, commit };
    this.addToTranscript(resumption);
    this.sendHandshake(resumption);
    this._state = "wait_resumption_accept";
  }

  private async onResumptionAccept(serverRandom: Uint8Array): Promise<void> {
    const session = this.session!;
    this.serverRandom = serverRandom;
    const { client, server } = await this.epochSecrets(session);
    await this.deriveExporterSecret(session);
    this.installRecv(server);
    this.installSend(client);
    // Key confirmation for the resumed connection, as after a full handshake (PROTOCOL.md, "Key confirmation"). As
    // there, we may send
    // data right behind it; the responder's EpochKeyUpdate, sent once it checked this and stored the session,
    // moves us to state 1.
    this.sendHandshake({ type: "epoch_key_update", epoch: session.epoch });
    this.resuming = true;
    this.resumed = true;
    this._state = "wait_confirmation";
    this.markEstablished();
  }

  protected async issueUpdate(): Promise<void> {
    // The update made in advance for the saved session, if any: this epoch makes no other commit.
    const update = this.takeNextUpdate() ?? (await this.session!.createUpdate());
    // The initiator's own commit always wins a race, so it applies it at once.
    const next = update.apply();
    const { client, server } = await this.epochSecrets(next);
    this.ownCommit = update.commit;
    this.adoptSession(next);
    await this.save(2);
    this.sendHandshake({ type: "connection_update", commit: update.commit });
    this.installSend(client);
    this.pendingRecvSecret = server;
    this._state = "wait_confirmation";
  }

  private async onPeerUpdate(commit: Uint8Array): Promise<void> {
    const { epoch, client, server } = await this.processPeerCommit(commit);
    // Our update made in advance was for the epoch the responder's commit replaced; it was never sent here.
    this.takeNextUpdate()?.discard();
    await this.save(3);
    this.sendHandshake({ type: "epoch_key_update", epoch });
    this.installSend(client);
    this.pendingRecvSecret = server;
    this._state = "wait_peer_epoch_key_update";
  }

  private async onConfirmation(epoch: bigint, initiatedBy: "local" | "peer"): Promise<void> {
    const current = this.session!.epoch;
    if (epoch !== current) {
      throw mlsTlsError("ERR_MLSTLS_WRONG_EPOCH", `EpochKeyUpdate for epoch ${epoch}, expected ${current}`);
    }
    this.ownCommit = undefined;
    if (this.resuming) {
      // The responder sends this only after our key confirmation, once it stored the session: until now the saved
      // session was the one written before the Resumption (state 2, the same commit), which it repairs either way.
      this.resuming = false;
      this._state = "default";
      await this.save(1);
      // connectionUpdate() calls made while we waited go out now.
      this.issueQueuedUpdates();
      return;
    }
    const secret = this.pendingRecvSecret!;
    this.pendingRecvSecret = undefined;
    this.installRecv(secret);
    this._state = "default";
    await this.save(1);
    this.epochConfirmed(current, initiatedBy);
  }

  /**
   * Hands the session to the application, awaited before the message that depends on it goes out. Every session
   * carries the commit a Resumption from it sends: the ConnectionUpdate in flight (state 2), else our next update,
   * made now and kept, so that the connection's own next ConnectionUpdate is that same commit.
   */
  private async save(draftState: InitiatorDraftState): Promise<void> {
    const sink = this.iopts.saveSession;
    if (sink === undefined) return;
    const session = this.session!;
    let next: Uint8Array;
    let commit: Uint8Array;
    if (draftState === 2) {
      next = session.encode();
      commit = this.ownCommit!;
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

  private takeNextUpdate(): PendingUpdate | undefined {
    const u = this.nextUpdate;
    this.nextUpdate = undefined;
    return u !== undefined && u.newEpoch === this.session!.epoch + 1n ? u : (u?.discard(), undefined);
  }

  protected override disposeRoleSecrets(): void {
    this.ownCommit = undefined;
    this.nextUpdate?.discard();
    this.nextUpdate = undefined;
    this.disposePendingJoins();
  }
}
