// The initiator (client) state machine: the initial handshake of draft §4.2 with key confirmation
// (decision 6), and the three connection-update states of draft §4.4.1.
//
//   start ──ClientHello──▶ wait_server_hello ──ServerHello / EpochKeyUpdate(confirm)──▶ default (1)
//   default (1) ──send ConnectionUpdate, switch send key──▶ wait_confirmation (2)
//   wait_confirmation (2) ──EpochKeyUpdate(epoch)──▶ default (1)   (switch receive key)
//   wait_confirmation (2) ──ConnectionUpdate from responder──▶ dropped (the initiator's update wins)
//   default (1) ──ConnectionUpdate from responder / send EpochKeyUpdate, switch send key──▶ wait_peer_epoch_key_update (3)
//   wait_peer_epoch_key_update (3) ──EpochKeyUpdate(epoch)──▶ default (1)   (switch receive key)

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
} from "./mls-session.js";

export type InitiatorState =
  | "start"
  | "wait_server_hello"
  | "default"
  | "wait_confirmation"
  | "wait_peer_epoch_key_update";

export interface InitiatorOptions extends ConnectionOptions {
  /** Sent as the server_name KeyPackage extension. */
  serverName?: string;
  /** Sent as the ALPN KeyPackage extension. */
  alpnProtocols?: readonly string[];
}

export class Initiator extends Connection {
  readonly role: Role = "initiator";
  private _state: InitiatorState = "start";
  private pendingJoin: PendingJoin | undefined;
  /** Our ConnectionUpdate in flight (state 2): kept for resumption (draft §4.5 re-sends the same bytes). */
  private ownUpdate: PendingUpdate | undefined;
  private readonly serverName: string | undefined;

  constructor(opts: InitiatorOptions, cb: ConnectionCallbacks) {
    super(opts, cb);
    this.serverName = opts.serverName;
    this.alpnOffers = opts.alpnProtocols ?? [];
  }
  private readonly alpnOffers: readonly string[];

  get state(): InitiatorState {
    return this._state;
  }

  /** The draft's numbering: 1 Default, 2 Waiting for confirmation, 3 Waiting for the responder's EpochKeyUpdate. */
  get draftState(): 1 | 2 | 3 | undefined {
    return this._state === "default" ? 1 : this._state === "wait_confirmation" ? 2 : this._state === "wait_peer_epoch_key_update" ? 3 : undefined;
  }

  /** The ConnectionUpdate commit bytes in flight, if any (for resumption from state 2). */
  get pendingUpdateCommit(): Uint8Array | undefined {
    return this.ownUpdate?.commit;
  }

  /** Sends the ClientHello: one KeyPackage for our first suite (decision 9). */
  start(): void {
    this.enqueue(async () => {
      if (this._state !== "start") throw this.unexpected("start");
      const suite = this.suites()[0]!;
      this.setSuite(suite);
      const identity = (await this.resolveIdentity(suite, this.serverName)) ?? (await generateIdentity(suite));
      const ext: HelloExtensions = { serverName: this.serverName, alpnProtocols: [...this.alpnOffers] };
      const kp = await createKeyPackage(identity, ext);
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
      case "default":
        if (msg.type !== "connection_update" || !encrypted) throw this.unexpected(msg);
        return this.onPeerUpdate(msg.commit);
      case "wait_confirmation":
        if (msg.type === "connection_update" && encrypted) {
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
    const session = await joinFromWelcome(pending, welcome, { validate: this.opts.validatePeer });
    this.adoptSession(session);
    this.serverRandom = serverRandom;
    const { client, server } = await this.epochSecrets(session);
    await this.deriveExporterSecret(session);
    this.installRecv(server);
    this.installSend(client);
    // Key confirmation (decision 6): our first protected message proves we joined this epoch.
    this.sendHandshake({ type: "epoch_key_update", epoch: session.epoch });
    this._state = "default";
    this.markEstablished();
  }

  protected async issueUpdate(): Promise<void> {
    const update = await this.session!.createUpdate();
    // The initiator's own commit always wins a race, so it applies it at once.
    const next = update.apply();
    const { client, server } = await this.epochSecrets(next);
    this.ownUpdate = update;
    this.adoptSession(next);
    this.sendHandshake({ type: "connection_update", commit: update.commit });
    this.installSend(client);
    this.pendingRecvSecret = server;
    this._state = "wait_confirmation";
  }

  private async onPeerUpdate(commit: Uint8Array): Promise<void> {
    const { epoch, client, server } = await this.processPeerCommit(commit);
    this.sendHandshake({ type: "epoch_key_update", epoch });
    this.installSend(client);
    this.pendingRecvSecret = server;
    this._state = "wait_peer_epoch_key_update";
  }

  private onConfirmation(epoch: bigint, initiatedBy: "local" | "peer"): void {
    const current = this.session!.epoch;
    if (epoch !== current) {
      throw this.error("ERR_MLSTLS_WRONG_EPOCH", `EpochKeyUpdate for epoch ${epoch}, expected ${current}`);
    }
    const secret = this.pendingRecvSecret!;
    this.pendingRecvSecret = undefined;
    this.installRecv(secret);
    this.ownUpdate = undefined;
    this._state = "default";
    this.epochConfirmed(current, initiatedBy);
  }

  protected override disposeRoleSecrets(): void {
    this.ownUpdate = undefined;
    this.pendingJoin = undefined;
  }
}
