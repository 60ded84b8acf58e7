// Resumption (draft §4.5, PROTOCOL.md, "Fresh randoms in every key"; PROTOCOL.md, "Write-ahead sessions"): what a
// session is on each side, how it is encoded, how the
// initiator builds its Resumption commit, and how the responder repairs an epoch difference of +0, +1 or +2.
//
// A session is the live MLS group state plus whatever the state machine needs to resume from where the last
// connection broke off. It holds private keys: store it like one.

import { createHash, timingSafeEqual } from "node:crypto";
import { MlsTlsError, mlsTlsError } from "../errors.js";
import { Reader, Writer } from "../util/codec.js";
import { MlsSession, type MlsCrypto, type PendingUpdate, type ProcessUpdatePolicy } from "../mls/index.js";

/** Initiator states that matter for resumption (draft §4.4.1 numbering). */
export type InitiatorDraftState = 1 | 2 | 3;

export interface ClientSession {
  /** The draft state the initiator was in when it saved (informational: every session resumes the same way). */
  draftState: InitiatorDraftState;
  /** The session a Resumption from this one leads to: `commit` applied. */
  session: MlsSession;
  /**
   * The commit a Resumption from this session sends. Decided when the session is written, so every resumption
   * from one session Buffer sends the same bytes: an MLS epoch never makes two different commits (PROTOCOL.md,
   * "Sessions"). In state 2 it is the ConnectionUpdate in flight; otherwise the next update, made in advance.
   */
  commit: Uint8Array;
  serverName?: string;
}

export interface ServerSession {
  /** The applied epoch. */
  session: MlsSession;
  /** State 2: our own commit, created but not confirmed. */
  pending?: PendingUpdate;
  /** SHA-256 of the last commit of the initiator's we applied: the +0 case must re-send exactly that one. */
  lastPeerCommit?: Uint8Array;
  /** Resumption randoms already seen for this session, newest last: a byte-identical replay is refused. */
  seenRandoms: Uint8Array[];
  /** The server_name of the connection that created the session: a Resumption carries none. */
  serverName?: string;
}

/** How many Resumption randoms a server session remembers. A replay older than that fails at key confirmation. */
export const SEEN_RANDOMS_KEPT = 64;

const CLIENT_MAGIC = 0x4d4c5343; // "MLSC"
const SERVER_MAGIC = 0x4d4c5353; // "MLSS"
const FORMAT_VERSION = 1;
/** 2: every client session carries its resumption commit (1 carried one only in state 2). */
const CLIENT_FORMAT_VERSION = 2;

function badSession(what: string): (message: string) => MlsTlsError {
  return (message) => mlsTlsError("ERR_MLSTLS_BAD_SESSION", `${message} in ${what}`);
}

/** `next` is the encoded session after `commit` (MlsSession.encode() or PendingUpdate.encodeAfter()). */
export function encodeClientSession(s: { draftState: InitiatorDraftState; next: Uint8Array; commit: Uint8Array; serverName?: string }): Uint8Array {
  return new Writer(badSession("client session"))
    .u32(CLIENT_MAGIC)
    .u8(CLIENT_FORMAT_VERSION)
    .u8(s.draftState)
    .opaque32(s.next)
    .opaque32(s.commit)
    .opaque32(s.serverName === undefined ? undefined : Buffer.from(s.serverName, "utf8"))
    .finish();
}

export function decodeClientSession(bytes: Uint8Array, crypto?: MlsCrypto): ClientSession {
  const r = new Reader(bytes, badSession("client session"));
  if (r.u32() !== CLIENT_MAGIC || r.u8() !== CLIENT_FORMAT_VERSION) {
    throw mlsTlsError("ERR_MLSTLS_BAD_SESSION", "not an mlstls client session (or one from another version)");
  }
  const draftState = r.u8();
  if (draftState !== 1 && draftState !== 2 && draftState !== 3) {
    throw mlsTlsError("ERR_MLSTLS_BAD_SESSION", `invalid initiator state ${draftState} in session`);
  }
  const sessionBytes = r.opaque32();
  const commit = r.opaque32();
  const serverName = r.opaque32();
  r.end();
  if (commit.length === 0) throw mlsTlsError("ERR_MLSTLS_BAD_SESSION", "session carries no resumption commit");
  let session: MlsSession;
  try {
    session = MlsSession.decode(sessionBytes, crypto);
  } catch (e) {
    throw mlsTlsError("ERR_MLSTLS_BAD_SESSION", "session holds no valid MLS state", { cause: e });
  }
  let target: { groupId: Uint8Array; epoch: bigint };
  try {
    target = resumptionTarget(commit);
  } catch (e) {
    session.dispose();
    throw mlsTlsError("ERR_MLSTLS_BAD_SESSION", "session's resumption commit does not decode", { cause: e });
  }
  if (target.epoch !== session.epoch) {
    session.dispose();
    throw mlsTlsError("ERR_MLSTLS_BAD_SESSION", "session's resumption commit does not lead to its MLS epoch");
  }
  return {
    draftState,
    session,
    commit,
    serverName: serverName.length > 0 ? Buffer.from(serverName).toString("utf8") : undefined,
  };
}

export function encodeServerSession(s: ServerSession): Uint8Array {
  const w = new Writer(badSession("server session"))
    .u32(SERVER_MAGIC)
    .u8(FORMAT_VERSION)
    .opaque32(s.session.encode())
    .opaque32(s.pending?.encode())
    .opaque32(s.lastPeerCommit)
    .u32(s.seenRandoms.length);
  for (const r of s.seenRandoms) w.opaque32(r);
  w.opaque32(s.serverName === undefined ? undefined : Buffer.from(s.serverName, "utf8"));
  return w.finish();
}

export function decodeServerSession(bytes: Uint8Array, crypto?: MlsCrypto): ServerSession {
  const r = new Reader(bytes, badSession("server session"));
  if (r.u32() !== SERVER_MAGIC || r.u8() !== FORMAT_VERSION) {
    throw mlsTlsError("ERR_MLSTLS_BAD_SESSION", "not an mlstls server session (or one from another version)");
  }
  const sessionBytes = r.opaque32();
  const pendingBytes = r.opaque32();
  const lastPeerCommit = r.opaque32();
  const n = r.u32();
  if (n > SEEN_RANDOMS_KEPT) throw mlsTlsError("ERR_MLSTLS_BAD_SESSION", "too many remembered randoms");
  const seenRandoms: Uint8Array[] = [];
  for (let i = 0; i < n; i++) seenRandoms.push(r.opaque32());
  const serverName = r.opaque32();
  r.end();
  try {
    const session = MlsSession.decode(sessionBytes, crypto);
    const pending = pendingBytes.length > 0 ? session.decodePendingUpdate(pendingBytes) : undefined;
    return {
      session,
      pending,
      lastPeerCommit: lastPeerCommit.length > 0 ? lastPeerCommit : undefined,
      seenRandoms,
      serverName: serverName.length > 0 ? Buffer.from(serverName).toString("utf8") : undefined,
    };
  } catch (e) {
    throw mlsTlsError("ERR_MLSTLS_BAD_SESSION", "session holds no valid MLS state", { cause: e });
  }
}

export function commitDigest(commit: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(commit).digest());
}

/**
 * The initiator's Resumption (draft §4.5): the commit stored in the session, byte for byte, and the session it leads
 * to. From state 2 that is the ConnectionUpdate in flight; from states 1 and 3 the update made when the session was
 * written. Either way, resuming twice from one session sends the same commit, never two from one epoch.
 */
export function prepareResumption(s: ClientSession): { session: MlsSession; commit: Uint8Array } {
  return { session: s.session, commit: s.commit };
}

export type RepairCase = 0 | 1 | 2;

/** The group id and the epoch a Resumption commit leads to. */
export function resumptionTarget(commit: Uint8Array): { groupId: Uint8Array; epoch: bigint } {
  const peek = MlsSession.peekCommitEpoch(commit);
  return { groupId: peek.groupId, epoch: peek.epoch + 1n };
}

/**
 * The responder's side of draft §4.5. `target` is the epoch the initiator's commit leads to; R is our applied
 * epoch.
 *   target = R     the initiator never saw our EpochKeyUpdate: the commit is the last one we applied; discard it.
 *                  A pending commit of ours stays: the initiator never saw it, and the epoch may not make another.
 *   target = R + 1 apply the commit (our own pending commit, if any, was never seen: drop it).
 *   target = R + 2 we broke off in state 2 after the initiator processed our commit: apply ours, then theirs.
 * Anything else cannot be repaired.
 */
export async function repairEpoch(
  s: ServerSession,
  commit: Uint8Array,
  policy: ProcessUpdatePolicy,
): Promise<{ session: MlsSession; pending?: PendingUpdate; repaired: RepairCase; lastPeerCommit: Uint8Array }> {
  const R = s.session.epoch;
  const { epoch: target } = resumptionTarget(commit);
  const digest = commitDigest(commit);
  if (target === R) {
    const last = s.lastPeerCommit;
    if (last === undefined || last.length !== digest.length || !timingSafeEqual(last, digest)) {
      throw mlsTlsError(
        "ERR_MLSTLS_STALE_SESSION",
        `Resumption for epoch ${target} does not repeat the commit that led the server to that epoch`,
      );
    }
    return { session: s.session, pending: s.pending, repaired: 0, lastPeerCommit: digest };
  }
  if (target === R + 1n) {
    s.pending?.discard();
    const session = await s.session.processUpdate(commit, policy);
    return { session, repaired: 1, lastPeerCommit: digest };
  }
  if (target === R + 2n) {
    if (s.pending === undefined) {
      throw mlsTlsError(
        "ERR_MLSTLS_EPOCH_GAP",
        `Resumption for epoch ${target} is two ahead of the server's ${R}, but the server has no pending commit`,
      );
    }
    const mid = s.pending.apply();
    try {
      const session = await mid.processUpdate(commit, policy);
      mid.dispose();
      return { session, repaired: 2, lastPeerCommit: digest };
    } catch (e) {
      mid.dispose();
      throw e;
    }
  }
  if (target < R) {
    throw mlsTlsError("ERR_MLSTLS_STALE_SESSION", `Resumption for epoch ${target}, but the server is at epoch ${R}`);
  }
  throw mlsTlsError(
    "ERR_MLSTLS_EPOCH_GAP",
    `Resumption for epoch ${target} is ${target - R} epochs ahead of the server's ${R}; at most 2 can be repaired`,
  );
}

/** True if this Resumption random was seen before for the session (a byte-identical replay). */
export function isReplayed(s: ServerSession, random: Uint8Array): boolean {
  return s.seenRandoms.some((r) => r.length === random.length && timingSafeEqual(r, random));
}

export function rememberRandom(s: ServerSession, random: Uint8Array): void {
  s.seenRandoms.push(Uint8Array.from(random));
  if (s.seenRandoms.length > SEEN_RANDOMS_KEPT) s.seenRandoms.splice(0, s.seenRandoms.length - SEEN_RANDOMS_KEPT);
}
