// The responder (server) state machine: the initial handshake of draft §4.2 with key confirmation
// (PROTOCOL.md, "Key confirmation"), and the two connection-update states of draft §4.4.2.
//
//   wait_client_hello ──ClientHello / ServerHello──▶ wait_key_confirmation ──EpochKeyUpdate(epoch)──▶ default (1)
//   wait_client_hello ──ClientHello without the chosen suite's KeyPackage / RetryRequest──▶ wait_retried_client_hello
//   wait_retried_client_hello ──ClientHello / ServerHello──▶ wait_key_confirmation
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
  anonymousIdentity,
  inspectKeyPackage,
  peekKeyPackageSuite,
  peekServerName,
  type PendingUpdate,
} from "../mls/index.js";
import {
  commitDigest,
  decodeServerSession,
  encodeServerSession,
  isReplayed,
  rememberRandom,
  repairEpoch,
  resumptionTarget,
} from "./resumption.js";
import { mlsTlsError } from "../errors.js";
import { suiteById } from "../suites.js";
import { bytesEqual } from "../util/bytes.js";

export type ResponderState =
  | "wait_client_hello"
  | "wait_retried_client_hello"
  | "wait_key_confirmation"
  | "default"
  | "wait_confirmation";

type ClientHelloMessage = Extract<HandshakeMessage, { type: "client_hello" }>;

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
   * The suites our identity can sign for, given the server_name the client asks for (SNI may pick another
   * identity); undefined for any (an anonymous server). Default: any.
   */
  servableSuites?: (serverName: string | undefined) => Promise<readonly number[] | undefined>;
  /**
   * Where sessions live, by MLS group id. Saves are awaited before the message that depends on them is sent
   * (write-ahead: PROTOCOL.md, "Write-ahead sessions"). Without it, the server keeps no sessions and refuses every
   * Resumption.
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
  /** The first ClientHello, until the suite is settled: a retried one must repeat its offer. */
  private firstHello: ClientHelloMessage | undefined;
  private retrySuite: number | undefined;
  private retryServerName: string | undefined;

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
        if (msg.type === "client_hello" && !encrypted) return this.onClientHello(msg);
        if (msg.type === "resumption" && !encrypted) {
          this.addToTranscript(msg);
          return this.onResumption(msg.random, msg.commit);
        }
        throw this.unexpected(msg);
      case "wait_retried_client_hello":
        if (msg.type === "client_hello" && !encrypted) return this.onRetriedClientHello(msg);
        throw this.unexpected(msg);
      case "wait_key_confirmation":
        if (msg.type !== "epoch_key_update" || !encrypted) throw this.unexpected(msg);
        if (msg.epoch !== this.session!.epoch) {
          throw mlsTlsError("ERR_MLSTLS_WRONG_EPOCH", `key confirmation for epoch ${msg.epoch}, expected ${this.session!.epoch}`);
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

  /**
   * Chooses the suite (PROTOCOL.md, "Suite negotiation"): among the suites the client lists that we accept and our
   * identity for its server_name can sign for, the client's most preferred one that came with a KeyPackage, else
   * its most preferred one, which a RetryRequest asks for. Only the chosen KeyPackage is verified.
   */
  private async onClientHello(hello: ClientHelloMessage): Promise<void> {
    this.addToTranscript(hello);
    this.firstHello = hello;
    const bySuite = new Map<number, Uint8Array>();
    for (const kp of hello.keyPackages) {
      const suite = peekKeyPackageSuite(kp);
      if (suite === undefined) throw mlsTlsError("ERR_MLSTLS_DECODE_ERROR", "ClientHello carries something that is not a KeyPackage");
      if (!hello.suites.includes(suite) || bySuite.has(suite)) {
        throw mlsTlsError("ERR_MLSTLS_ILLEGAL_PARAMETER", `ClientHello carries a KeyPackage for suite ${suite} it does not list once`);
      }
      bySuite.set(suite, kp);
    }
    const serverName = peekServerName(hello.keyPackages[0]!);
    // Known from here on, as node's servername: also when choosing an identity for it (SNI) fails the handshake.
    this._serverName = serverName;
    const configured = this.suites();
    const own = this.opts.identity;
    const servable =
      this.ropts.servableSuites !== undefined
        ? await this.ropts.servableSuites(serverName)
        : own !== undefined && typeof own !== "function"
          ? [own.suite]
          : undefined;
    const usable = (s: number): boolean => configured.includes(s) && (servable === undefined || servable.includes(s));
    const candidates = hello.suites.filter(usable);
    if (candidates.length === 0) {
      // Tell the client which suite we would need (it names it in its own error), then fail with both lists.
      const ours = configured.filter(usable);
      if (ours.length > 0) this.sendHandshake({ type: "retry_request", suite: ours[0]! });
      const name = (id: number): string => suiteById(id)?.name ?? `suite ${id}`;
      throw mlsTlsError(
        "ERR_MLSTLS_CIPHERSUITE_MISMATCH",
        `no common MLS suite: the client offers ${hello.suites.map(name).join(", ")}; this server accepts ` +
          `${configured.map(name).join(", ")}` +
          (servable === undefined ? "" : ` and its identity${serverName ? ` for "${serverName}"` : ""} can sign only for ${servable.map(name).join(", ") || "none"}`),
      );
    }
    const chosen = candidates.find((s) => bySuite.has(s)) ?? candidates[0]!;
    const kp = bySuite.get(chosen);
    if (kp === undefined) {
      const retry: HandshakeMessage = { type: "retry_request", suite: chosen };
      this.addToTranscript(retry);
      this.sendHandshake(retry);
      this.retrySuite = chosen;
      this.retryServerName = serverName;
      this._state = "wait_retried_client_hello";
      return;
    }
    return this.acceptOffer(hello.random, chosen, kp, serverName);
  }

  /** The ClientHello after our RetryRequest: the same offer, with the one KeyPackage we asked for. */
  private async onRetriedClientHello(hello: ClientHelloMessage): Promise<void> {
    const first = this.firstHello!;
    const same =
      bytesEqual(first.random, hello.random) &&
      first.suites.length === hello.suites.length &&
      first.suites.every((s, i) => hello.suites[i] === s);
    if (!same) throw mlsTlsError("ERR_MLSTLS_ILLEGAL_PARAMETER", "the retried ClientHello changed its random or its suite list");
    const kp = hello.keyPackages[0]!;
    if (hello.keyPackages.length !== 1 || peekKeyPackageSuite(kp) !== this.retrySuite) {
      throw mlsTlsError("ERR_MLSTLS_ILLEGAL_PARAMETER", `the retried ClientHello must carry exactly one KeyPackage, for suite ${this.retrySuite}`);
    }
    this.addToTranscript(hello);
    return this.acceptOffer(hello.random, this.retrySuite!, kp, this.retryServerName);
  }

  private async acceptOffer(clientRandom: Uint8Array, suite: number, keyPackage: Uint8Array, peekedName: string | undefined): Promise<void> {
    this.firstHello = undefined;
    this.opts.peerBinding?.opening({ suite, context: clientRandom });
    const offer = await inspectKeyPackage(keyPackage, [suite], this.opts.validatePeer, this.opts.mlsCrypto);
    if (offer.serverName !== peekedName) {
      throw mlsTlsError("ERR_MLSTLS_ILLEGAL_PARAMETER", "the ClientHello's KeyPackages ask for different server names");
    }
    this.setSuite(offer.suite);
    this._serverName = offer.serverName;
    const info: ClientHelloInfo = {
      suite: offer.suite,
      serverName: offer.serverName,
      alpnProtocols: [...offer.alpnProtocols],
    };
    const alpn = this.chooseAlpn(info);
    const identity =
      (await this.resolveIdentity(offer.suite, offer.serverName, this.openingDigest(), offer.peer.signaturePublicKey)) ??
      (await anonymousIdentity(offer.suite));
    const { session, welcome } = await acceptKeyPackage(offer, identity, {
      alpnProtocol: alpn,
      validate: this.opts.validatePeer,
      crypto: this.opts.mlsCrypto,
    });
    this.keys.clientRandom = clientRandom;
    this.keys.serverRandom = this.random(RANDOM_LEN);
    // Nothing is stored yet: that waits for the initiator's key confirmation.
    await this.enterEpoch(session, {
      opening: true,
      receive: "now",
      message: { type: "server_hello", random: this.keys.serverRandom, suite: offer.suite, welcome },
    });
    this._state = "wait_key_confirmation";
  }

  private async onResumption(clientRandom: Uint8Array, commit: Uint8Array): Promise<void> {
    const store = this.ropts.sessions;
    if (store === undefined) throw mlsTlsError("ERR_MLSTLS_UNKNOWN_SESSION", "this server keeps no sessions");
    const { groupId } = resumptionTarget(commit);
    const blob = await store.load(groupId);
    if (blob === undefined) throw mlsTlsError("ERR_MLSTLS_UNKNOWN_SESSION", "no session with this group id");
    let record;
    try {
      record = decodeServerSession(blob, this.opts.mlsCrypto);
    } catch (e) {
      throw mlsTlsError("ERR_MLSTLS_UNKNOWN_SESSION", "the stored session cannot be read", { cause: e });
    } finally {
      blob.fill(0);
    }
    if (isReplayed(record, clientRandom)) {
      throw mlsTlsError("ERR_MLSTLS_RESUMPTION_REPLAYED", "this Resumption was seen before: a replay");
    }
    const suite = record.session.suite;
    if (!this.suites().includes(suite)) {
      throw mlsTlsError("ERR_MLSTLS_CIPHERSUITE_MISMATCH", `the session's MLS suite ${suite} is no longer accepted`);
    }
    this.setSuite(suite);
    this.opts.peerBinding?.resumed();
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
    this.trace(() => `resumption: the commit leads to epoch ${repaired.session.epoch}, repaired as +${repaired.repaired}`);
    this.ownUpdate = repaired.pending;
    this.resumed = true;
    this.keys.clientRandom = clientRandom;
    this.keys.serverRandom = this.random(RANDOM_LEN);
    await this.enterEpoch(repaired.session, {
      opening: true,
      receive: "now",
      message: { type: "resumption_accept", random: this.keys.serverRandom },
    });
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
      throw mlsTlsError(
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
    const next = await this.peerCommit(commit);
    this.lastPeerCommit = commitDigest(commit);
    // The initiator switched its send key right after its ConnectionUpdate.
    await this.enterEpoch(next, {
      receive: "now",
      persist: () => this.save(),
      message: { type: "epoch_key_update", epoch: next.epoch },
    });
    this.epochConfirmed(next.epoch, "peer");
  }

  private async onConfirmation(epoch: bigint): Promise<void> {
    const update = this.ownUpdate!;
    if (epoch !== update.newEpoch) {
      throw mlsTlsError("ERR_MLSTLS_WRONG_EPOCH", `EpochKeyUpdate for epoch ${epoch}, expected ${update.newEpoch}`);
    }
    const next = update.apply();
    this.ownUpdate = undefined;
    // The initiator switched its send key right after its EpochKeyUpdate.
    await this.enterEpoch(next, {
      receive: "now",
      persist: () => this.save(),
      message: { type: "epoch_key_update", epoch: next.epoch },
    });
    this._state = "default";
    this.epochConfirmed(next.epoch, "local");
  }

  protected override disposeRoleSecrets(): void {
    this.ownUpdate?.discard();
    this.ownUpdate = undefined;
  }
}
