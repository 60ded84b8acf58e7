// The responder (server) state machine: the initial handshake of draft §4.2 with key confirmation
// (decision 6), and the two connection-update states of draft §4.4.2.
//
//   wait_client_hello ──ClientHello / ServerHello──▶ wait_key_confirmation ──EpochKeyUpdate(epoch)──▶ default (1)
//   default (1) ──send ConnectionUpdate (commit held, not applied)──▶ wait_confirmation (2)
//   wait_confirmation (2) ──EpochKeyUpdate(new epoch) / apply, send EpochKeyUpdate──▶ default (1)
//   wait_confirmation (2) ──ConnectionUpdate from initiator / discard ours, process theirs──▶ default (1), ours re-issued
//   default (1) ──ConnectionUpdate from initiator / apply, send EpochKeyUpdate──▶ default (1)
//
// Resumption (draft §4.5; the +0/+1/+2 repair is in resumption.ts):
//   wait_client_hello ──Resumption / ResumptionAccept──▶ wait_key_confirmation ──EpochKeyUpdate / store, EpochKeyUpdate──▶ default (1)

import { Connection, type ConnectionCallbacks, type ConnectionOptions, type Role } from "./connection.js";
import type { HandshakeMessage } from "./messages.js";
import { RANDOM_LEN } from "./messages.js";
import {
  acceptKeyPackage,
  generateIdentity,
  inspectKeyPackage,
  type LocalIdentity,
  type PendingUpdate,
} from "../mls/session.js";
import {
  commitDigest,
  decodeServerSession,
  encodeServerSession,
  isReplayed,
  rememberRandom,
  repairEpoch,
  resumptionTarget,
} from "./resumption.js";
import { MlsTlsError } from "../errors.js";

export type ResponderState = "wait_client_hello" | "wait_key_confirmation" | "default" | "wait_confirmation";

export interface ClientHelloInfo {
  suite: number;
  serverName: string | undefined;
  alpnProtocols: string[];
}

export interface ResponderOptions extends ConnectionOptions {
  /** Server ALPN preference list; the first of ours the client also offers is chosen (OpenSSL's rule). */
  alpnProtocols?: readonly string[];
  /** Chooses the ALPN protocol; overrides alpnProtocols. Return null/undefined for none. */
  selectAlpn?: (info: ClientHelloInfo) => string | null | undefined;
  /**
   * Where sessions live, by MLS group id. Saves are awaited before the message that depends on them is sent
   * (write-ahead, decision 10). Without it, the server keeps no sessions and refuses every Resumption.
   */
  sessions?: SessionPersistence;
}

/**
 * Session blobs hold private keys, so the engine zeroes its buffers once done: load() must return a buffer the
 * engine may overwrite, and save() must copy the blob if it keeps it beyond the returned promise.
 */
export interface SessionPersistence {
  load(groupId: Uint8Array): Promise<Uint8Array | undefined>;
  save(groupId: Uint8Array, session: Uint8Array): Promise<void>;
}

/** Anonymous server identities are generated once per suite per process, as a convenience for tests and demos. */
const anonymousIdentities = new Map<number, Promise<LocalIdentity>>();
function anonymousIdentity(suite: number): Promise<LocalIdentity> {
  const known = anonymousIdentities.get(suite);
  if (known !== undefined) return known;
  const p = generateIdentity(suite);
  anonymousIdentities.set(suite, p);
  return p;
}

export class Responder extends Connection {
  readonly role: Role = "responder";
  private _state: ResponderState = "wait_client_hello";
  /**
   * Our ConnectionUpdate, created but not applied until confirmed (state 2). After a +0 resumption it may also be
   * held in state 1: never sent on this connection, it is what the next update re-sends.
   */
  private ownUpdate: PendingUpdate | undefined;
  /** Digest of the initiator's last commit we applied (the +0 resumption case must repeat it). */
  private lastPeerCommit: Uint8Array | undefined;
  private seenRandoms: Uint8Array[] = [];
  private repair: 0 | 1 | 2 | undefined;
  private _serverName: string | undefined;
  private readonly ropts: ResponderOptions;

  constructor(opts: ResponderOptions, cb: ConnectionCallbacks) {
    super(opts, cb);
    this.ropts = opts;
    // The first record may carry the 0x0301 legacy version (RFC 8446 §5.1), e.g. from a vanilla client we
    // then want to recognise and answer with protocol_version.
    this.deframer.acceptLegacyVersion = true;
  }

  get state(): ResponderState {
    return this._state;
  }

  /** The draft's numbering: 1 Default, 2 Waiting for confirmation of own update. */
  get draftState(): 1 | 2 | undefined {
    return this._state === "default" ? 1 : this._state === "wait_confirmation" ? 2 : undefined;
  }

  /** On a resumed connection, which repair of draft §4.5 it needed: +0, +1 or +2 epochs. */
  get resumptionRepair(): 0 | 1 | 2 | undefined {
    return this.repair;
  }

  /** The server_name the client sent, if any. */
  get serverName(): string | undefined {
    return this._serverName;
  }

  protected get inDefaultState(): boolean {
    return this._state === "default";
  }

  protected async onHandshakeMessage(msg: HandshakeMessage, encrypted: boolean): Promise<void> {
    switch (this._state) {
      case "wait_client_hello":
        if (msg.type === "client_hello" && !encrypted) return this.onClientHello(msg.random, msg.keyPackage);
        if (msg.type === "resumption" && !encrypted) return this.onResumption(msg.random, msg.commit);
        throw this.unexpected(msg);
      case "wait_key_confirmation":
        if (msg.type !== "epoch_key_update" || !encrypted) throw this.unexpected(msg);
        if (msg.epoch !== this.session!.epoch) {
          throw this.error("ERR_MLSTLS_WRONG_EPOCH", `key confirmation for epoch ${msg.epoch}, expected ${this.session!.epoch}`);
        }
        // Only a peer that proved its keys gets a session stored, or takes over a live one (PROTOCOL.md, "Sessions").
        await this.save();
        if (this.resumed) this.sendHandshake({ type: "epoch_key_update", epoch: msg.epoch });
        this._state = "default";
        this.markEstablished();
        return;
      case "default":
        if (msg.type !== "connection_update" || !encrypted) throw this.unexpected(msg);
        return this.onPeerUpdate(msg.commit);
      case "wait_confirmation":
        if (!encrypted) throw this.unexpected(msg);
        if (msg.type === "connection_update") {
          // The initiator's concurrent update wins (§4.4.2): drop ours and process theirs; ours is re-issued.
          this.ownUpdate!.discard();
          this.ownUpdate = undefined;
          this.updateLostRace();
          this._state = "default";
          return this.onPeerUpdate(msg.commit);
        }
        if (msg.type === "epoch_key_update") return this.onConfirmation(msg.epoch);
        throw this.unexpected(msg);
    }
  }

  private async onClientHello(clientRandom: Uint8Array, keyPackage: Uint8Array): Promise<void> {
    const offer = await inspectKeyPackage(keyPackage, this.suites(), this.opts.validatePeer);
    this.setSuite(offer.suite);
    this._serverName = offer.serverName;
    const info: ClientHelloInfo = {
      suite: offer.suite,
      serverName: offer.serverName,
      alpnProtocols: [...offer.alpnProtocols],
    };
    const alpn = this.chooseAlpn(info);
    const identity = (await this.resolveIdentity(offer.suite, offer.serverName)) ?? (await anonymousIdentity(offer.suite));
    const { session, welcome } = await acceptKeyPackage(offer, identity, {
      alpnProtocol: alpn,
      validate: this.opts.validatePeer,
    });
    this.adoptSession(session);
    this.clientRandom = clientRandom;
    this.serverRandom = this.random(RANDOM_LEN);
    const { client, server } = await this.epochSecrets(session);
    await this.deriveExporterSecret(session);
    this.sendHandshake({ type: "server_hello", random: this.serverRandom, welcome });
    this.installSend(server);
    this.installRecv(client);
    this._state = "wait_key_confirmation";
  }

  private async onResumption(clientRandom: Uint8Array, commit: Uint8Array): Promise<void> {
    const store = this.ropts.sessions;
    if (store === undefined) throw this.error("ERR_MLSTLS_UNKNOWN_SESSION", "this server keeps no sessions");
    const { groupId } = resumptionTarget(commit);
    const blob = await store.load(groupId);
    if (blob === undefined) throw this.error("ERR_MLSTLS_UNKNOWN_SESSION", "no session with this group id");
    let record;
    try {
      record = decodeServerSession(blob);
    } catch (e) {
      throw new MlsTlsError("ERR_MLSTLS_UNKNOWN_SESSION", "the stored session cannot be read", { cause: e });
    } finally {
      blob.fill(0);
    }
    if (isReplayed(record, clientRandom)) {
      throw this.error("ERR_MLSTLS_RESUMPTION_REPLAYED", "this Resumption was seen before: a replay");
    }
    const suite = record.session.suite;
    if (!this.suites().includes(suite)) {
      throw this.error("ERR_MLSTLS_CIPHERSUITE_MISMATCH", `the session's MLS suite ${suite} is no longer accepted`);
    }
    this.setSuite(suite);
    await this.revalidatePeer(record.session);
    const repaired = await repairEpoch(record, commit, {
      validate: this.opts.validatePeer,
      allowIdentityChange: this.opts.allowIdentityChange,
    });
    if (repaired.session !== record.session) record.session.dispose();
    rememberRandom(record, clientRandom);
    this.seenRandoms = record.seenRandoms;
    this._serverName = record.serverName;
    this.lastPeerCommit = repaired.lastPeerCommit;
    this.repair = repaired.repaired;
    this.ownUpdate = repaired.pending;
    this.adoptSession(repaired.session);
    this.resumed = true;
    this.clientRandom = clientRandom;
    this.serverRandom = this.random(RANDOM_LEN);
    const session = repaired.session;
    const { client, server } = await this.epochSecrets(session);
    await this.deriveExporterSecret(session);
    this.sendHandshake({ type: "resumption_accept", random: this.serverRandom });
    this.installSend(server);
    this.installRecv(client);
    // Our EpochKeyUpdate (draft §4.5) waits for the initiator's key confirmation: it tells the initiator that the
    // session is stored at this epoch, so that it may save it as settled.
    this._state = "wait_key_confirmation";
  }

  /**
   * Persists the session: at key confirmation (nothing is stored for an unproven peer), and after that before
   * the message that depends on it is sent (write-ahead).
   */
  private async save(): Promise<void> {
    const store = this.ropts.sessions;
    if (store === undefined) return;
    const session = this.session!;
    const blob = encodeServerSession({
      session,
      pending: this.ownUpdate,
      lastPeerCommit: this.lastPeerCommit,
      seenRandoms: this.seenRandoms,
      serverName: this._serverName,
    });
    try {
      await store.save(session.groupId, blob);
    } finally {
      blob.fill(0);
    }
  }

  private chooseAlpn(info: ClientHelloInfo): string | null {
    if (this.ropts.selectAlpn !== undefined) return this.ropts.selectAlpn(info) ?? null;
    const ours = this.ropts.alpnProtocols;
    if (ours === undefined || ours.length === 0 || info.alpnProtocols.length === 0) return null;
    const match = ours.find((p) => info.alpnProtocols.includes(p));
    if (match === undefined) {
      throw this.error(
        "ERR_MLSTLS_NO_APPLICATION_PROTOCOL",
        `no common ALPN protocol: client offered [${info.alpnProtocols.join(", ")}], server supports [${ours.join(", ")}]`,
      );
    }
    return match;
  }

  protected async issueUpdate(): Promise<void> {
    // Created but not applied: the responder only moves once the initiator confirms (§4.4.2). A commit kept from a
    // resumption is re-sent as is: this epoch may not make a second one.
    this.ownUpdate ??= await this.session!.createUpdate();
    await this.save();
    this.sendHandshake({ type: "connection_update", commit: this.ownUpdate.commit });
    this._state = "wait_confirmation";
  }

  private async onPeerUpdate(commit: Uint8Array): Promise<void> {
    // A commit kept from a resumption (state 1) is for the epoch this one replaces: drop it.
    this.ownUpdate?.discard();
    this.ownUpdate = undefined;
    const { epoch, client, server } = await this.processPeerCommit(commit);
    this.lastPeerCommit = commitDigest(commit);
    await this.save();
    // The initiator switched its send key right after its ConnectionUpdate.
    this.installRecv(client);
    this.sendHandshake({ type: "epoch_key_update", epoch });
    this.installSend(server);
    this.epochConfirmed(epoch, "peer");
  }

  private async onConfirmation(epoch: bigint): Promise<void> {
    const update = this.ownUpdate!;
    if (epoch !== update.newEpoch) {
      throw this.error("ERR_MLSTLS_WRONG_EPOCH", `EpochKeyUpdate for epoch ${epoch}, expected ${update.newEpoch}`);
    }
    const next = update.apply();
    const { client, server } = await this.epochSecrets(next);
    this.ownUpdate = undefined;
    this.adoptSession(next);
    await this.save();
    // The initiator switched its send key right after its EpochKeyUpdate.
    this.installRecv(client);
    this.sendHandshake({ type: "epoch_key_update", epoch: next.epoch });
    this.installSend(server);
    this._state = "default";
    this.epochConfirmed(next.epoch, "local");
  }

  protected override disposeRoleSecrets(): void {
    this.ownUpdate?.discard();
    this.ownUpdate = undefined;
  }
}
