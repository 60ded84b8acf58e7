// ts-mls group state as this library keeps it: MLSMessage decoding, exclusive ownership of secret buffers
// (so that dispose() zeroes exactly what one session holds), the two-member shape, and persistence.

import { decodeGroupState, decodeMlsMessage, encodeGroupState } from "ts-mls";
import type { ClientState, LeafNode, MLSMessage } from "ts-mls";
import { mlsTlsError } from "../errors.js";
import type { LocalErrorCode } from "../errors.js";
import { copyBytes, errorText } from "../util/bytes.js";
import { translate } from "./credentials.js";
import { baseConfig, suiteIdOfName } from "./provider.js";

// ---------------------------------------------------------------------------------------------------------------
// MLSMessage decoding

export function decodeMessage(bytes: Uint8Array, what: string): MLSMessage {
  let decoded: [MLSMessage, number] | undefined;
  try {
    decoded = decodeMlsMessage(bytes, 0);
  } catch (e) {
    throw mlsTlsError("ERR_MLSTLS_DECODE_ERROR", `${what} is not a decodable MLSMessage: ${errorText(e)}`, { cause: e });
  }
  if (decoded === undefined) throw mlsTlsError("ERR_MLSTLS_DECODE_ERROR", `${what} is not a decodable MLSMessage`);
  if (decoded[1] !== bytes.length) {
    throw mlsTlsError("ERR_MLSTLS_DECODE_ERROR", `${what} has ${bytes.length - decoded[1]} trailing bytes`);
  }
  if (decoded[0].version !== "mls10") throw mlsTlsError("ERR_MLSTLS_DECODE_ERROR", `${what} is not an MLS 1.0 message`);
  return decoded[0];
}

// MLSMessage header: version u16, wire_format u16; a KeyPackage then starts with version u16, cipher_suite u16.
export const WIRE_FORMAT_KEY_PACKAGE = 5;
export function peekKeyPackageSuite(bytes: Uint8Array): number | undefined {
  if (bytes.length < 8) return undefined;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint16(0) !== 1 || v.getUint16(2) !== WIRE_FORMAT_KEY_PACKAGE) return undefined;
  return v.getUint16(6);
}

// ---------------------------------------------------------------------------------------------------------------
// State ownership. Each ClientState we keep owns its secret buffers exclusively, so that dispose() of one
// session can zero everything it holds without damaging another (e.g. the old state while a commit is pending).

export function secretsOf(state: ClientState): Uint8Array[] {
  const out: Uint8Array[] = [state.signaturePrivateKey, ...Object.values(state.privatePath.privateKeys)];
  const ks = state.keySchedule;
  out.push(ks.senderDataSecret, ks.exporterSecret, ks.externalSecret, ks.confirmationKey, ks.membershipKey, ks.resumptionPsk, ks.epochAuthenticator, ks.initSecret);
  const tree = (t: ClientState["secretTree"]) => {
    for (const node of t) {
      if (node === undefined) continue;
      for (const r of [node.handshake, node.application]) out.push(r.secret, ...Object.values(r.unusedGenerations));
    }
  };
  tree(state.secretTree);
  for (const d of state.historicalReceiverData.values()) {
    tree(d.secretTree);
    out.push(d.senderDataSecret, d.resumptionPsk);
  }
  return out;
}

/**
 * Copies the buffers ts-mls shares between a state and its successor (signature key, surviving path keys),
 * drops old-epoch receiver data (only useful for late application messages, which MLS never carries here,
 * and it would keep old-epoch secrets in persisted sessions), and attaches the base config.
 */
export function ownSecrets(state: ClientState): ClientState {
  const privateKeys: Record<number, Uint8Array> = {};
  for (const [k, v] of Object.entries(state.privatePath.privateKeys)) privateKeys[Number(k)] = copyBytes(v);
  return {
    ...state,
    signaturePrivateKey: copyBytes(state.signaturePrivateKey),
    privatePath: { leafIndex: state.privatePath.leafIndex, privateKeys },
    historicalReceiverData: new Map(),
    clientConfig: baseConfig,
  };
}

/** Zeroes what ts-mls reports as consumed, except buffers that live states still own. */
export function zeroUnowned(consumed: readonly Uint8Array[], live: readonly ClientState[]): void {
  const owned = new Set(live.flatMap(secretsOf));
  for (const b of consumed) if (!owned.has(b)) b.fill(0);
}

export function zeroState(state: ClientState): void {
  for (const b of secretsOf(state)) b.fill(0);
}

export interface TwoParty {
  own: number;
  peer: number;
  ownLeaf: LeafNode;
  peerLeaf: LeafNode;
}

/** The group must hold exactly our leaf and one other. */
export function twoParty(state: ClientState): TwoParty | undefined {
  const leaves: [number, LeafNode][] = [];
  state.ratchetTree.forEach((n, i) => {
    if (n?.nodeType === "leaf") leaves.push([i / 2, n.leaf]);
  });
  if (leaves.length !== 2) return undefined;
  const own = state.privatePath.leafIndex;
  const mine = leaves.find(([i]) => i === own);
  const other = leaves.find(([i]) => i !== own);
  if (mine === undefined || other === undefined) return undefined;
  return { own, peer: other[0], ownLeaf: mine[1], peerLeaf: other[1] };
}

export function requireTwoParty(state: ClientState, code: LocalErrorCode, what: string): TwoParty {
  const tp = twoParty(state);
  if (tp === undefined) throw mlsTlsError(code, `${what}: the group must have exactly two members`);
  return tp;
}


export function encodeState(state: ClientState): Uint8Array {
  try {
    return encodeGroupState(state);
  } catch (e) {
    throw translate(e, "ERR_MLSTLS_INTERNAL", "could not encode MLS state");
  }
}

export function decodeState(bytes: Uint8Array, offset: number, what: string): { state: ClientState; suite: number } {
  let decoded: ReturnType<typeof decodeGroupState>;
  try {
    decoded = decodeGroupState(bytes, offset);
  } catch (e) {
    throw mlsTlsError("ERR_MLSTLS_DECODE_ERROR", `${what} could not be decoded: ${errorText(e)}`, { cause: e });
  }
  // ts-mls decoders return the number of bytes consumed, not the end offset.
  if (decoded === undefined || offset + decoded[1] !== bytes.length) {
    throw mlsTlsError("ERR_MLSTLS_DECODE_ERROR", `${what} could not be decoded`);
  }
  const state: ClientState = { ...decoded[0], clientConfig: baseConfig };
  const suite = suiteIdOfName(state.groupContext.cipherSuite);
  if (suite === undefined) throw mlsTlsError("ERR_MLSTLS_DECODE_ERROR", `${what} uses an unsupported suite`);
  if (twoParty(state) === undefined || state.groupActiveState.kind !== "active") {
    throw mlsTlsError("ERR_MLSTLS_DECODE_ERROR", `${what} is not an active two-member group`);
  }
  return { state, suite };
}
