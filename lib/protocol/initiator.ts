// The initiator (client) state machine: the initial handshake of draft §4.2 with key confirmation
// (PROTOCOL.md, "Key confirmation"), and the three connection-update states of draft §4.4.1.
//
//   start ──ClientHello──▶ wait_server_hello ──ServerHello / EpochKeyUpdate(confirm)──▶ default (1)
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
} from "../mls/index.js";
import { type InitiatorDraftState, decodeClientSession, encodeClientSession, prepareResumption } from "./resumption.js";
import { mlsTlsError } from "../errors.js";

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
  private pendingJoin: PendingJoin | undefined;
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
   * Sends the ClientHello (one KeyPackage for our first suite: PROTOCOL.md, "SNI and ALPN as MLS extensions"), or the
   * Resumption.
   */
  start(): void {
    this.enqueue(async () => {
      if (this._state !== "start") throw this.unexpected("start");
      if (this.iopts.session !== undefined) return this.startResumption(this.iopts.session);
      const suite = this.suites()[0]!;
      this.setSuite(suite);
      const identity = (await this.resolveIdentity(suite, this.serverName)) ?? (await generateIdentity(suite, undefined, this.opts.mlsCrypto));
      const ext: HelloExtensions = { serverName: this.serverName, alpnProtocols: [...this.alpnOffers] };
      const kp = await createKeyPackage(identity, ext, this.opts.mlsCrypto);
      this.pendingJoin = kp.pending;
      this.clientRandom = this.random(RANDOM_LEN);
      this.sendHandshake({ type: "client_hello", random: this.clientRandom, keyPackage: kp.message });
      this._state = "wait_server_hello";
    });
  }

  protected get inDefaultState(): boolean {
    return this._state === "default";
  }

  protected async onHandshakeMessage(msg: HandshakeMessage, encrypted: boolean): Promise<void> {
    switch (this._state) {
      case "wait_server_hello":
        if (msg.type !== "server_hello" || encrypted) throw this.unexpected(msg);
        return this.onServerHello(msg.random, msg.welcome);
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

  private async onServerHello(serverRandom: Uint8Array, welcome: Uint8Array): Promise<void> {
    const pending = this.pendingJoin!;
    this.pendingJoin = undefined;
    const session = await joinFromWelcome(pending, welcome, { validate: this.opts.validatePeer, crypto: this.opts.mlsCrypto });
    this.adoptSession(session);
    this.serverRandom = serverRandom;
    const { client, server } = await this.epochSecrets(session);
    await this.deriveExporterSecret(session);
    await this.save(1);
    this.installRecv(server);
    this.installSend(client);
    // Key confirmation (PROTOCOL.md, "Key confirmation"): our first protected message proves we joined this epoch.
    this.sendHandshake({ type: "epoch_key_update", epoch: session.epoch });
    this._state = "default";
    this.markEstablished();
  }

  private async startResumption(blob: Uint8Array): Promise<void> {
    const stored = decodeClientSession(blob, this.opts.mlsCrypto);
    this.setSuite(stored.session.suite);
    this.serverName ??= stored.serverName;
    await this.revalidatePeer(stored.session);
    const { session, commit } = await prepareResumption(stored);
    if (session !== stored.session) stored.session.dispose();
    this.adoptSession(session);
    this.ownCommit = commit;
    this.clientRandom = this.random(RANDOM_LEN);
    // Write-ahead: if we break off from here on, the next Resumption re-sends these exact bytes.
    await this.save(2);
    this.sendHandshake({ type: "resumption", random: this.clientRandom, commit });
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
    const update = await this.session!.createUpdate();
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

  /** Hands the session to the application, awaited before the message that depends on it goes out. */
  private async save(draftState: InitiatorDraftState): Promise<void> {
    const sink = this.iopts.saveSession;
    if (sink === undefined) return;
    const blob = encodeClientSession({
      draftState,
      session: this.session!,
      pendingCommit: draftState === 2 ? this.ownCommit : undefined,
      serverName: this.serverName,
    });
    await sink(blob);
  }

  protected override disposeRoleSecrets(): void {
    this.ownCommit = undefined;
    this.pendingJoin?.dispose();
    this.pendingJoin = undefined;
  }
}
