// One member of a two-member MLS group after the handshake: the exporter, self-update commits
// (ConnectionUpdate / Resumption) and their processing under this library's commit policy, and persistence.

import { createCommit, emptyPskIndex, encodeMlsMessage, mlsExporter, processMessage } from "ts-mls";
import type { ClientState, Extension, IncomingMessageCallback, PrivateMessage } from "ts-mls";
import { unprotectPrivateMessage } from "ts-mls/messageProtection.js";
import { decryptSenderData } from "ts-mls/privateMessage.js";
import { mlsTlsError } from "../errors.js";
import { bytesEqual, copyBytes } from "../util/bytes.js";
import { CredentialCheck, credentialsEqual, leafCredential, translate } from "./credentials.js";
import type { CredentialValidator, PeerCredential } from "./credentials.js";
import { alpnFromContext } from "./extensions.js";
import { configWith, DEFAULT_MLS_CRYPTO, getImpl, suiteInfo, type MlsCrypto } from "./provider.js";
import { decodeMessage, decodeState, encodeState, ownSecrets, twoParty, zeroState, zeroUnowned } from "./state.js";
import type { TwoParty } from "./state.js";

const SESSION_MAGIC = 0x4d; // 'M'
const PENDING_MAGIC = 0x50; // 'P'
const FORMAT_VERSION = 1;
const FLAG_COMMIT_ISSUED = 1;

export interface ProcessUpdatePolicy {
  validate?: CredentialValidator;
  /** Accept a different credential in the peer's new leaf (the validator still has to accept it). */
  allowIdentityChange?: boolean;
}

/** A self-update commit that was created but not applied (responder state 2; PROTOCOL.md, "Write-ahead sessions"). */
export interface PendingUpdate {
  /** The encoded MLSMessage (a PrivateMessage) to send. */
  readonly commit: Uint8Array;
  readonly newEpoch: bigint;
  /** The session after the commit. Once only. The session the update was made from stays valid. */
  apply(): MlsSession;
  /** Drops the commit and zeroes its new epoch's secrets. Idempotent; no-op after apply(). */
  discard(): void;
  /** The pending commit with its post-commit state, for MlsSession.decodePendingUpdate. Holds private keys. */
  encode(): Uint8Array;
  /** The post-commit session alone, as MlsSession.encode() would write it once applied. Holds private keys. */
  encodeAfter(): Uint8Array;
  /** Keeps the post-commit state encoded until it is needed (MlsSession.compact()). */
  compact(): void;
}

/**
 * One member of a two-member MLS group. Immutable: every transition returns a new MlsSession and leaves
 * this one valid, so that a commit can be pending while the old epoch is still in use. Call dispose() on a
 * session once its successor has been adopted (or it is abandoned) to zero its secrets.
 */
export class MlsSession {
  readonly suite: number;
  /** Undefined while compact. */
  #state: ClientState | undefined;
  /**
   * encodeState() of the state: the state itself while compact (compact()), or an encoding made by encode() that
   * compact() can take (the state never changes). A buffer of its own, never one the live state's fields view.
   * Holds private keys.
   */
  #packed: Uint8Array | undefined;
  readonly #epoch: bigint;
  #commitIssued: boolean;
  #disposed = false;
  readonly #crypto: MlsCrypto;

  // Private, so that no ts-mls type appears in the declarations; module code reaches it as MlsSession["wrap"].
  private constructor(state: ClientState, suite: number, commitIssued: boolean, crypto: MlsCrypto) {
    this.#state = state;
    this.#epoch = state.groupContext.epoch;
    this.#crypto = crypto;
    this.suite = suite;
    this.#commitIssued = commitIssued;
  }

  private static wrap(state: ClientState, suite: number, crypto: MlsCrypto, commitIssued = false): MlsSession {
    return new MlsSession(state, suite, commitIssued, crypto);
  }

  #live(): ClientState {
    if (this.#disposed) throw mlsTlsError("ERR_TLS_INVALID_STATE", "MLS session was disposed");
    if (this.#state === undefined) {
      // The decoded state's byte fields are views into `packed`, which it now owns: zeroState() zeroes them there.
      const packed = this.#packed!;
      this.#packed = undefined;
      this.#state = decodeState(packed, 0, "compact MLS session").state;
    }
    return this.#state;
  }

  /**
   * Keeps the state as its encoding (one buffer of ~2 KiB) instead of ts-mls's object graph (hundreds of small
   * objects) until it is needed again: what an idle connection holds. The object graph's secrets are zeroed.
   * The next use decodes it (~0.2 ms).
   */
  compact(): void {
    if (this.#disposed || this.#state === undefined) return;
    const packed = this.#packed ?? encodeState(this.#state);
    zeroState(this.#state);
    this.#state = undefined;
    this.#packed = packed;
  }

  get isCompact(): boolean {
    return this.#state === undefined;
  }

  #tp(): TwoParty {
    const tp = twoParty(this.#live());
    if (tp === undefined) throw mlsTlsError("ERR_MLSTLS_INTERNAL", "session is not a two-member group");
    return tp;
  }

  get epoch(): bigint {
    if (this.#disposed) throw mlsTlsError("ERR_TLS_INVALID_STATE", "MLS session was disposed");
    return this.#epoch;
  }
  get groupId(): Uint8Array {
    return copyBytes(this.#live().groupContext.groupId);
  }
  get ownLeafIndex(): number {
    return this.#tp().own;
  }
  get peerLeafIndex(): number {
    return this.#tp().peer;
  }
  get peerCredential(): PeerCredential {
    const c = leafCredential(this.#tp().peerLeaf);
    if (c === undefined) throw mlsTlsError("ERR_MLSTLS_INTERNAL", "peer leaf has an unsupported credential");
    return c;
  }
  get ownCredential(): PeerCredential {
    const c = leafCredential(this.#tp().ownLeaf);
    if (c === undefined) throw mlsTlsError("ERR_MLSTLS_INTERNAL", "own leaf has an unsupported credential");
    return c;
  }
  /** The ALPN protocol the responder selected, authenticated by the GroupContext; null if none. */
  get alpnProtocol(): string | null {
    return alpnFromContext(this.#live());
  }
  /** Whether a commit was already created from this epoch's state (a second one would reuse a ratchet key). */
  get commitIssued(): boolean {
    return this.#commitIssued;
  }

  /** MLS-Exporter (RFC 9420 §8.5) of this epoch. */
  async exportSecret(label: string, context: Uint8Array, length: number): Promise<Uint8Array> {
    const state = this.#live();
    const impl = await getImpl(this.suite, this.#crypto);
    try {
      return await mlsExporter(state.keySchedule.exporterSecret, label, context, length, impl);
    } catch (e) {
      throw translate(e, "ERR_MLSTLS_INTERNAL", "MLS exporter failed");
    }
  }

  /**
   * Creates a self-update commit (UpdatePath, no proposals) as a PrivateMessage without applying it.
   * At most one per session: a second commit from the same state would reuse the epoch's handshake key
   * generation, so re-send the first one's bytes instead.
   */
  async createUpdate(): Promise<PendingUpdate> {
    const state = this.#live();
    if (this.#commitIssued) throw mlsTlsError("ERR_TLS_INVALID_STATE", "a commit was already created from this MLS epoch");
    const impl = await getImpl(this.suite, this.#crypto);
    this.#commitIssued = true;
    let result: Awaited<ReturnType<typeof createCommit>>;
    let bytes: Uint8Array;
    try {
      result = await createCommit({ state, cipherSuite: impl }, {});
      bytes = encodeMlsMessage(result.commit);
    } catch (e) {
      throw translate(e, "ERR_MLSTLS_INTERNAL", "could not create commit");
    }
    const next = ownSecrets(result.newState);
    // The old state's init secret and ratchet secret are in `consumed`; they stay until this session is disposed.
    zeroUnowned(result.consumed, [state, next]);
    return new PendingCommit(bytes, next, this.suite, this.#crypto);
  }

  /**
   * Processes the peer's ConnectionUpdate/Resumption commit (PROTOCOL.md, "The ConnectionUpdate policy"): a
   * PrivateMessage commit for this
   * group and epoch, from the peer's leaf, with an UpdatePath and no proposals; the group stays at two
   * members and the peer's credential stays the same unless `allowIdentityChange`.
   */
  async processUpdate(commit: Uint8Array, policy: ProcessUpdatePolicy = {}): Promise<MlsSession> {
    const state = this.#live();
    const tp = this.#tp();
    const info = suiteInfo(this.suite);
    const msg = decodeMessage(commit, "commit");
    if (msg.wireformat !== "mls_private_message") {
      throw mlsTlsError("ERR_MLSTLS_COMMIT_POLICY", `a ConnectionUpdate must be an MLS PrivateMessage, got ${msg.wireformat}`);
    }
    const pm = msg.privateMessage;
    checkGroupAndEpoch(pm, state);
    if (pm.contentType !== "commit") throw mlsTlsError("ERR_MLSTLS_COMMIT_POLICY", `a ConnectionUpdate must carry a commit, got ${pm.contentType}`);

    const impl = await getImpl(this.suite, this.#crypto);
    const oldPeer = leafCredential(tp.peerLeaf);
    if (oldPeer === undefined) throw mlsTlsError("ERR_MLSTLS_INTERNAL", "peer leaf has an unsupported credential");
    const auth = new CredentialCheck(info.scheme, policy.validate, leafCredential(tp.ownLeaf));

    // Decrypt and inspect first, so each policy violation gets its own error instead of whatever ts-mls says.
    let sender: number;
    try {
      const senderData = await decryptSenderData(pm, state.keySchedule.senderDataSecret, impl);
      if (senderData === undefined) throw mlsTlsError("ERR_MLSTLS_MLS_REJECTED", "could not decode the commit's sender data");
      sender = senderData.leafIndex;
    } catch (e) {
      throw translate(e, "ERR_MLSTLS_MLS_REJECTED", "commit rejected");
    }
    if (sender !== tp.peer) {
      throw mlsTlsError(
        "ERR_MLSTLS_COMMIT_POLICY",
        sender === tp.own ? "commit claims to come from our own leaf" : `commit comes from leaf ${sender}, not the peer's leaf ${tp.peer}`,
      );
    }
    let content: Awaited<ReturnType<typeof unprotectPrivateMessage>>;
    try {
      content = await unprotectPrivateMessage(state.keySchedule.senderDataSecret, pm, state.secretTree, state.ratchetTree, state.groupContext, state.clientConfig.keyRetentionConfig, impl);
    } catch (e) {
      throw translate(e, "ERR_MLSTLS_MLS_REJECTED", "commit rejected");
    }
    zeroUnowned(content.consumed, [state]);
    const framed = content.content.content;
    if (framed.contentType !== "commit" || framed.sender.senderType !== "member" || framed.sender.leafIndex !== tp.peer) {
      throw mlsTlsError("ERR_MLSTLS_COMMIT_POLICY", "ConnectionUpdate is not a commit by the peer");
    }
    if (framed.commit.proposals.length > 0) {
      const kinds = framed.commit.proposals.map((p) => (p.proposalOrRefType === "reference" ? "reference" : String(p.proposal.proposalType)));
      throw mlsTlsError("ERR_MLSTLS_COMMIT_POLICY", `a ConnectionUpdate must not carry proposals (got ${kinds.join(", ")})`);
    }
    const path = framed.commit.path;
    if (path === undefined) throw mlsTlsError("ERR_MLSTLS_COMMIT_POLICY", "a ConnectionUpdate must carry an UpdatePath");
    const newPeer = leafCredential(path.leafNode);
    if (newPeer === undefined) throw mlsTlsError("ERR_MLSTLS_BAD_CREDENTIAL", "peer's new leaf has an unsupported credential type");
    if (!policy.allowIdentityChange && !credentialsEqual(newPeer.credential, oldPeer.credential)) {
      throw mlsTlsError("ERR_MLSTLS_IDENTITY_CHANGED", "peer's credential changed in a ConnectionUpdate");
    }
    await auth.require(newPeer);

    // The callback repeats the policy inside ts-mls, in case its view of the commit differs from ours.
    let policyRefused = false;
    const callback: IncomingMessageCallback = (incoming) => {
      const ok = incoming.kind === "commit" && incoming.senderLeafIndex === tp.peer && incoming.proposals.length === 0;
      if (!ok) policyRefused = true;
      return ok ? "accept" : "reject";
    };
    let processed: Awaited<ReturnType<typeof processMessage>>;
    try {
      processed = await processMessage(msg, { ...state, clientConfig: configWith(auth.service) }, emptyPskIndex, callback, impl);
    } catch (e) {
      throw translate(e, "ERR_MLSTLS_MLS_REJECTED", "commit rejected", auth);
    }
    if (policyRefused || processed.kind !== "newState" || processed.actionTaken !== "accept") {
      throw mlsTlsError("ERR_MLSTLS_COMMIT_POLICY", "commit refused by the ConnectionUpdate policy");
    }
    const next = ownSecrets(processed.newState);
    zeroUnowned(processed.consumed, [state, next]);
    try {
      checkSuccessor(state, next, tp, newPeer, policy.allowIdentityChange === true);
    } catch (e) {
      zeroState(next);
      throw e;
    }
    return new MlsSession(next, this.suite, false, this.#crypto);
  }

  /** Group id and epoch from a commit's PrivateMessage header; needs no state (resumption, session lookup). */
  static peekCommitEpoch(commit: Uint8Array): { groupId: Uint8Array; epoch: bigint } {
    const msg = decodeMessage(commit, "commit");
    if (msg.wireformat !== "mls_private_message") {
      throw mlsTlsError("ERR_MLSTLS_COMMIT_POLICY", `a commit must be an MLS PrivateMessage, got ${msg.wireformat}`);
    }
    if (msg.privateMessage.contentType !== "commit") {
      throw mlsTlsError("ERR_MLSTLS_COMMIT_POLICY", `expected a commit, got ${msg.privateMessage.contentType}`);
    }
    return { groupId: copyBytes(msg.privateMessage.groupId), epoch: msg.privateMessage.epoch };
  }

  /** Full session state including private keys. Store it like a private key. */
  encode(): Uint8Array {
    const state = this.#live();
    const body = (this.#packed ??= encodeState(state));
    const out = new Uint8Array(3 + body.length);
    out[0] = SESSION_MAGIC;
    out[1] = FORMAT_VERSION;
    out[2] = this.#commitIssued ? FLAG_COMMIT_ISSUED : 0;
    out.set(body, 3);
    return out;
  }

  /** `crypto`: what the restored session's MLS operations use (default: node:crypto). */
  static decode(bytes: Uint8Array, crypto: MlsCrypto = DEFAULT_MLS_CRYPTO): MlsSession {
    if (bytes.length < 3 || bytes[0] !== SESSION_MAGIC || bytes[1] !== FORMAT_VERSION || (bytes[2]! & ~FLAG_COMMIT_ISSUED) !== 0) {
      throw mlsTlsError("ERR_MLSTLS_DECODE_ERROR", "not an encoded MLS session");
    }
    const { state, suite } = decodeState(bytes, 3, "MLS session");
    return new MlsSession(state, suite, bytes[2] === FLAG_COMMIT_ISSUED, crypto);
  }

  /**
   * Restores a PendingUpdate.encode() that was made from this session (same group, next epoch). Marks this
   * session as having issued its commit.
   */
  decodePendingUpdate(bytes: Uint8Array): PendingUpdate {
    const state = this.#live();
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 6 || bytes[0] !== PENDING_MAGIC || bytes[1] !== FORMAT_VERSION || 6 + v.getUint32(2) > bytes.length) {
      throw mlsTlsError("ERR_MLSTLS_DECODE_ERROR", "not an encoded pending update");
    }
    const commitLen = v.getUint32(2);
    const commit = copyBytes(bytes.subarray(6, 6 + commitLen));
    const peek = MlsSession.peekCommitEpoch(commit);
    const decoded = decodeState(bytes, 6 + commitLen, "pending update");
    const fits =
      decoded.suite === this.suite &&
      bytesEqual(peek.groupId, state.groupContext.groupId) &&
      peek.epoch === state.groupContext.epoch &&
      bytesEqual(decoded.state.groupContext.groupId, state.groupContext.groupId) &&
      decoded.state.groupContext.epoch === state.groupContext.epoch + 1n;
    if (!fits) {
      zeroState(decoded.state);
      throw mlsTlsError("ERR_TLS_INVALID_STATE", "pending update does not belong to this session's epoch");
    }
    this.#commitIssued = true;
    return new PendingCommit(commit, decoded.state, this.suite, this.#crypto);
  }

  /** Zeroes this session's secrets (it owns them exclusively). Later use throws ERR_TLS_INVALID_STATE. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    if (this.#state !== undefined) zeroState(this.#state);
    this.#packed?.fill(0);
    this.#state = undefined;
    this.#packed = undefined;
  }
}

class PendingCommit implements PendingUpdate {
  readonly commit: Uint8Array;
  readonly newEpoch: bigint;
  #state: ClientState | undefined;
  /** The post-commit state's encoding: the state while compact, or one encode()/encodeAfter() made (as MlsSession's). */
  #packed: Uint8Array | undefined;
  readonly #suite: number;
  readonly #crypto: MlsCrypto;

  constructor(commit: Uint8Array, state: ClientState, suite: number, crypto: MlsCrypto) {
    this.#crypto = crypto;
    this.commit = commit;
    this.newEpoch = state.groupContext.epoch;
    this.#state = state;
    this.#suite = suite;
  }

  #live(): ClientState {
    if (this.#state === undefined && this.#packed !== undefined) {
      const packed = this.#packed;
      this.#packed = undefined;
      this.#state = decodeState(packed, 0, "compact pending update").state;
    }
    if (this.#state === undefined) throw mlsTlsError("ERR_TLS_INVALID_STATE", "pending update was already applied or discarded");
    return this.#state;
  }

  /** As MlsSession.compact(): the post-commit state kept encoded until it is needed. */
  compact(): void {
    if (this.#state === undefined) return;
    const packed = this.#packed ?? encodeState(this.#state);
    zeroState(this.#state);
    this.#state = undefined;
    this.#packed = packed;
  }

  apply(): MlsSession {
    const state = this.#live();
    this.#state = undefined;
    // The session takes the state; an encoding of it made here is not passed on.
    this.#packed?.fill(0);
    this.#packed = undefined;
    return MlsSession["wrap"](state, this.#suite, this.#crypto);
  }

  discard(): void {
    if (this.#state !== undefined) zeroState(this.#state);
    this.#packed?.fill(0);
    this.#state = undefined;
    this.#packed = undefined;
  }

  encode(): Uint8Array {
    const state = this.#live();
    const body = (this.#packed ??= encodeState(state));
    const out = new Uint8Array(6 + this.commit.length + body.length);
    out[0] = PENDING_MAGIC;
    out[1] = FORMAT_VERSION;
    new DataView(out.buffer).setUint32(2, this.commit.length);
    out.set(this.commit, 6);
    out.set(body, 6 + this.commit.length);
    return out;
  }

  encodeAfter(): Uint8Array {
    const state = this.#live();
    const body = (this.#packed ??= encodeState(state));
    const out = new Uint8Array(3 + body.length);
    out[0] = SESSION_MAGIC;
    out[1] = FORMAT_VERSION;
    out.set(body, 3);
    return out;
  }
}

function checkGroupAndEpoch(pm: PrivateMessage, state: ClientState): void {
  if (!bytesEqual(pm.groupId, state.groupContext.groupId)) {
    throw mlsTlsError("ERR_MLSTLS_WRONG_EPOCH", "commit is for another MLS group");
  }
  if (pm.epoch !== state.groupContext.epoch) {
    throw mlsTlsError("ERR_MLSTLS_WRONG_EPOCH", `commit is for epoch ${pm.epoch}, the session is at epoch ${state.groupContext.epoch}`);
  }
}

/** Re-checks the processed result against the policy, independent of what ts-mls validated. */
function checkSuccessor(old: ClientState, next: ClientState, tp: TwoParty, newPeer: PeerCredential, allowIdentityChange: boolean): void {
  const ntp = twoParty(next);
  if (ntp === undefined || ntp.own !== tp.own || ntp.peer !== tp.peer) {
    throw mlsTlsError("ERR_MLSTLS_COMMIT_POLICY", "commit changed the group's membership");
  }
  if (next.groupContext.epoch !== old.groupContext.epoch + 1n || !bytesEqual(next.groupContext.groupId, old.groupContext.groupId)) {
    throw mlsTlsError("ERR_MLSTLS_COMMIT_POLICY", "commit did not advance the epoch by one");
  }
  if (next.groupActiveState.kind !== "active" || Object.keys(next.unappliedProposals).length !== 0) {
    throw mlsTlsError("ERR_MLSTLS_COMMIT_POLICY", "commit left the group inactive");
  }
  if (!extensionsSame(old.groupContext.extensions, next.groupContext.extensions)) {
    throw mlsTlsError("ERR_MLSTLS_COMMIT_POLICY", "commit changed the GroupContext extensions");
  }
  const peer = leafCredential(ntp.peerLeaf);
  if (peer === undefined || !credentialsEqual(peer.credential, newPeer.credential) || !bytesEqual(peer.signaturePublicKey, newPeer.signaturePublicKey)) {
    throw mlsTlsError("ERR_MLSTLS_COMMIT_POLICY", "peer leaf after the commit differs from the UpdatePath leaf");
  }
  if (!allowIdentityChange) {
    const before = leafCredential(tp.peerLeaf);
    if (before === undefined || !credentialsEqual(before.credential, peer.credential)) {
      throw mlsTlsError("ERR_MLSTLS_IDENTITY_CHANGED", "peer's credential changed in a ConnectionUpdate");
    }
  }
  if (bytesEqual(ntp.peerLeaf.hpkePublicKey, tp.peerLeaf.hpkePublicKey)) {
    throw mlsTlsError("ERR_MLSTLS_COMMIT_POLICY", "commit did not refresh the peer's leaf key");
  }
}

function extensionsSame(a: Extension[], b: Extension[]): boolean {
  return a.length === b.length && a.every((e, i) => e.extensionType === b[i]!.extensionType && bytesEqual(e.extensionData, b[i]!.extensionData));
}
