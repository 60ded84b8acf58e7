// The handshake's MLS messages: the initiator's KeyPackage (ClientHello), the responder's inspection and
// acceptance of it with a Welcome (ServerHello), and the initiator's join from that Welcome.

import { createCommit, createGroup, emptyPskIndex, encodeMlsMessage, generateKeyPackageWithKey, joinGroupWithExtensions } from "ts-mls";
import type { CiphersuiteImpl, ClientState, Extension, KeyPackage, MLSMessage, PrivateKeyPackage } from "ts-mls";
import { verifyKeyPackage } from "ts-mls/keyPackage.js";
import { signLeafNodeKeyPackage, verifyLeafNodeSignatureKeyPackage } from "ts-mls/leafNode.js";
import { mlsTlsError } from "../errors.js";
import { bytesEqual, copyBytes, errorText } from "../util/bytes.js";
import { checkIdentityUsable, CredentialCheck, fromMlsCredential, leafCredential, toMlsCredential, translate } from "./credentials.js";
import type { CredentialValidator, LocalIdentity, PeerCredential } from "./credentials.js";
import { alpnFromContext, decodeProtocolList, decodeServerName, encodeProtocolList, encodeServerName, extensionNumber, MLSTLS_EXTENSION_TYPES } from "./extensions.js";
import type { HelloExtensions } from "./extensions.js";
import { isCanonicalPublicKey } from "./keys.js";
import { capabilities, configWith, DEFAULT_MLS_CRYPTO, describeSuite, getImpl, SUITE_INFO, suiteIdOfName, suiteInfo, type MlsCrypto } from "./provider.js";
import { MlsSession } from "./session.js";
import { decodeMessage, ownSecrets, peekKeyPackageSuite, requireTwoParty, zeroState, zeroUnowned } from "./state.js";

/** KeyPackages are single-use and short-lived; the window tolerates a day of clock skew between the peers. */
export const LIFETIME_SKEW_SECONDS = 24n * 3600n;
export function keyPackageLifetime(crypto: MlsCrypto): { notBefore: bigint; notAfter: bigint } {
  const now = BigInt(Math.floor(crypto.now() / 1000));
  return { notBefore: now - LIFETIME_SKEW_SECONDS, notAfter: now + LIFETIME_SKEW_SECONDS };
}

// ---------------------------------------------------------------------------------------------------------------
// Initiator: KeyPackage

/** The initiator's private half of its ClientHello. Single use: a successful join disposes it. */
export interface PendingJoin {
  readonly suite: number;
  readonly serverName: string | undefined;
  readonly alpnProtocols: readonly string[];
  /** Our MLS signature public key in this KeyPackage (a peer's delegation may be bound to it). */
  readonly ownSignatureKey: Uint8Array;
  /** Zeroes the private keys; the KeyPackage can no longer be joined with. */
  dispose(): void;
}

export class PendingJoinImpl implements PendingJoin {
  readonly serverName: string | undefined;
  readonly alpnProtocols: readonly string[];
  #private: PrivateKeyPackage | undefined;

  constructor(
    readonly suite: number,
    readonly keyPackage: KeyPackage,
    priv: PrivateKeyPackage,
    readonly own: PeerCredential,
    ext: HelloExtensions,
    /** The crypto the KeyPackage was made with; the join uses it too unless told otherwise. */
    readonly crypto: MlsCrypto,
  ) {
    this.#private = priv;
    this.serverName = ext.serverName;
    this.alpnProtocols = Object.freeze([...(ext.alpnProtocols ?? [])]);
  }

  get ownSignatureKey(): Uint8Array {
    return this.own.signaturePublicKey;
  }

  get privatePackage(): PrivateKeyPackage {
    if (this.#private === undefined) throw mlsTlsError("ERR_TLS_INVALID_STATE", "this KeyPackage was already used or disposed");
    return this.#private;
  }

  dispose(): void {
    if (this.#private === undefined) return;
    this.#private.initPrivateKey.fill(0);
    this.#private.hpkePrivateKey.fill(0);
    this.#private.signaturePrivateKey.fill(0);
    this.#private = undefined;
  }
}

/**
 * Initiator: makes the KeyPackage for the identity's suite, with SNI and ALPN offers as signed private-use
 * KeyPackage extensions. Returns the encoded MLSMessage(mls_key_package) for the ClientHello.
 */
export async function createKeyPackage(
  identity: LocalIdentity,
  ext: HelloExtensions = {},
  crypto: MlsCrypto = DEFAULT_MLS_CRYPTO,
): Promise<{ message: Uint8Array; pending: PendingJoin }> {
  const info = suiteInfo(identity.suite);
  const extensions: Extension[] = [];
  if (ext.serverName !== undefined) extensions.push({ extensionType: MLSTLS_EXTENSION_TYPES.serverName, extensionData: encodeServerName(ext.serverName) });
  if (ext.alpnProtocols !== undefined && ext.alpnProtocols.length > 0) {
    extensions.push({ extensionType: MLSTLS_EXTENSION_TYPES.alpnOffer, extensionData: encodeProtocolList(ext.alpnProtocols) });
  }
  const impl = await getImpl(info.id, crypto);
  try {
    const kp = await generateKeyPackageWithKey(
      toMlsCredential(identity.credential),
      capabilities(),
      keyPackageLifetime(crypto),
      extensions,
      // The private package gets its own copy, which the session will own and dispose() may zero.
      { signKey: copyBytes(identity.signaturePrivateKey), publicKey: copyBytes(identity.signaturePublicKey) },
      impl,
    );
    const message = encodeMlsMessage({ version: "mls10", wireformat: "mls_key_package", keyPackage: kp.publicPackage });
    const own = { credential: fromMlsCredential(toMlsCredential(identity.credential))!, signaturePublicKey: copyBytes(identity.signaturePublicKey) };
    return { message, pending: new PendingJoinImpl(info.id, kp.publicPackage, kp.privatePackage, own, ext, crypto) };
  } catch (e) {
    throw translate(e, "ERR_MLSTLS_INTERNAL", "could not create KeyPackage");
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Responder: inspect and accept

/** A decoded, signature-checked and validated KeyPackage from a ClientHello. Accepting it is single-use. */
export interface OfferedKeyPackage {
  readonly suite: number;
  readonly peer: PeerCredential;
  readonly serverName: string | undefined;
  readonly alpnProtocols: readonly string[];
}

export class OfferedKeyPackageImpl implements OfferedKeyPackage {
  readonly alpnProtocols: readonly string[];
  readonly #keyPackage: KeyPackage;
  readonly #approvedBy: CredentialValidator | undefined;
  #used = false;

  constructor(
    readonly suite: number,
    keyPackage: KeyPackage,
    readonly peer: PeerCredential,
    readonly serverName: string | undefined,
    alpn: string[],
    approvedBy: CredentialValidator | undefined,
  ) {
    this.#keyPackage = keyPackage;
    this.alpnProtocols = Object.freeze(alpn);
    this.#approvedBy = approvedBy;
  }

  take(): { keyPackage: KeyPackage; approvedBy: CredentialValidator | undefined } {
    if (this.#used) throw mlsTlsError("ERR_TLS_INVALID_STATE", "this KeyPackage was already accepted");
    this.#used = true;
    return { keyPackage: this.#keyPackage, approvedBy: this.#approvedBy };
  }
}

/**
 * KeyPackages peekServerName() decoded, by their bytes: inspectKeyPackage() takes the decoding instead of
 * decoding the same bytes again (a third of a ClientHello's decoding work). A decoded message is plain data
 * that neither function changes; the entry goes with the bytes.
 */
const peeked = new WeakMap<Uint8Array, MLSMessage>();

/**
 * The server_name a KeyPackage asks for, read without checking its signature: only to choose which identity (and
 * so which suites) a server can offer before it verifies the KeyPackage it picks, which must then say the same.
 * Undefined when there is none or the KeyPackage does not decode.
 */
export function peekServerName(message: Uint8Array): string | undefined {
  try {
    const msg = decodeMessage(message, "ClientHello key_package");
    if (msg.wireformat !== "mls_key_package") return undefined;
    peeked.set(message, msg);
    const e = msg.keyPackage.extensions.find((x) => extensionNumber(x) === MLSTLS_EXTENSION_TYPES.serverName);
    return e === undefined ? undefined : decodeServerName(e.extensionData);
  } catch {
    return undefined;
  }
}

/**
 * Responder step 1: decodes and checks the initiator's KeyPackage without committing to anything:
 * suite, signatures, lifetime, init key, capabilities, SNI/ALPN extensions, and the validator.
 */
export async function inspectKeyPackage(
  message: Uint8Array,
  supportedSuites: readonly number[],
  validate?: CredentialValidator,
  crypto: MlsCrypto = DEFAULT_MLS_CRYPTO,
): Promise<OfferedKeyPackage> {
  // Decide on the suite from the raw header, so that even a suite ts-mls cannot decode gets a clear answer.
  const rawSuite = peekKeyPackageSuite(message);
  const usable = supportedSuites.filter((s) => SUITE_INFO.has(s));
  if (rawSuite !== undefined && !usable.includes(rawSuite)) {
    throw mlsTlsError(
      "ERR_MLSTLS_CIPHERSUITE_MISMATCH",
      `client offered MLS ciphersuite ${describeSuite(rawSuite)}; server supports ${usable.map(describeSuite).join(", ") || "none"}`,
    );
  }
  const msg = peeked.get(message) ?? decodeMessage(message, "ClientHello key_package");
  peeked.delete(message);
  if (msg.wireformat !== "mls_key_package") throw mlsTlsError("ERR_MLSTLS_DECODE_ERROR", `ClientHello carries ${msg.wireformat}, not a key package`);
  const kp = msg.keyPackage;
  const suite = suiteIdOfName(kp.cipherSuite);
  if (suite === undefined || !usable.includes(suite)) {
    throw mlsTlsError("ERR_MLSTLS_CIPHERSUITE_MISMATCH", `client offered MLS ciphersuite ${kp.cipherSuite}; server supports ${usable.map(describeSuite).join(", ")}`);
  }
  const info = suiteInfo(suite);
  const leaf = kp.leafNode;
  const peer = leafCredential(leaf);
  if (peer === undefined) throw mlsTlsError("ERR_MLSTLS_BAD_CREDENTIAL", "KeyPackage has an unsupported credential type");
  if (!isCanonicalPublicKey(info.scheme, leaf.signaturePublicKey)) {
    throw mlsTlsError("ERR_MLSTLS_BAD_CREDENTIAL", `KeyPackage signature key is not a canonical ${info.scheme} public key`);
  }

  const impl = await getImpl(suite, crypto);
  let signaturesOk: boolean;
  try {
    signaturesOk = (await verifyKeyPackage(kp, impl.signature)) && (await verifyLeafNodeSignatureKeyPackage(leaf, impl.signature));
  } catch (e) {
    throw mlsTlsError("ERR_MLSTLS_BAD_CREDENTIAL", `KeyPackage signature could not be verified: ${errorText(e)}`, { cause: e });
  }
  if (!signaturesOk) throw mlsTlsError("ERR_MLSTLS_BAD_CREDENTIAL", "KeyPackage signature is invalid");

  if (bytesEqual(kp.initKey, leaf.hpkePublicKey)) throw mlsTlsError("ERR_MLSTLS_ILLEGAL_PARAMETER", "KeyPackage init key equals its encryption key");
  const now = BigInt(Math.floor(crypto.now() / 1000));
  if (leaf.lifetime.notBefore > now || leaf.lifetime.notAfter < now) {
    throw mlsTlsError("ERR_MLSTLS_ILLEGAL_PARAMETER", "KeyPackage lifetime does not cover the current time");
  }
  const caps = leaf.capabilities;
  if (!caps.versions.includes("mls10") || !caps.credentials.includes(leaf.credential.credentialType)) {
    throw mlsTlsError("ERR_MLSTLS_ILLEGAL_PARAMETER", "KeyPackage capabilities do not cover its own version and credential type");
  }

  let serverName: string | undefined;
  let alpn: string[] = [];
  const seen = new Set<number | string>();
  for (const e of kp.extensions) {
    if (seen.has(e.extensionType)) throw mlsTlsError("ERR_MLSTLS_DECODE_ERROR", `duplicate KeyPackage extension ${String(e.extensionType)}`);
    seen.add(e.extensionType);
    const t = extensionNumber(e);
    if (t === MLSTLS_EXTENSION_TYPES.serverName) serverName = decodeServerName(e.extensionData);
    else if (t === MLSTLS_EXTENSION_TYPES.alpnOffer) alpn = decodeProtocolList(e.extensionData);
    // Other extensions are not ours to interpret; the signature already covers them.
  }

  await new CredentialCheck(info.scheme, validate, undefined).require(peer);
  return new OfferedKeyPackageImpl(suite, kp, peer, serverName, alpn, validate);
}

/**
 * Responder step 2: creates the two-member group, adds the initiator and returns the Welcome (with the
 * ratchet tree) for the ServerHello. The selected ALPN protocol, if any, becomes a GroupContext extension.
 * `validate` is applied to the initiator's credential unless the same validator already accepted it in
 * inspectKeyPackage.
 */
export async function acceptKeyPackage(
  offer: OfferedKeyPackage,
  identity: LocalIdentity,
  opts: { alpnProtocol?: string | null; validate?: CredentialValidator; crypto?: MlsCrypto } = {},
): Promise<{ session: MlsSession; welcome: Uint8Array }> {
  const info = suiteInfo(offer.suite);
  checkIdentityUsable(identity, offer.suite);
  const alpn = opts.alpnProtocol ?? null;
  if (alpn !== null && !offer.alpnProtocols.includes(alpn)) {
    throw new TypeError(`ALPN protocol ${JSON.stringify(alpn)} was not offered by the client`);
  }
  if (!(offer instanceof OfferedKeyPackageImpl)) throw new TypeError("offer must come from inspectKeyPackage");
  const { keyPackage, approvedBy } = offer.take();
  const peerCaps = keyPackage.leafNode.capabilities;
  if (!peerCaps.credentials.includes(identity.credential.type)) {
    throw mlsTlsError("ERR_MLSTLS_HANDSHAKE_FAILURE", `client does not support ${identity.credential.type} credentials`);
  }
  if (alpn !== null && !peerCaps.extensions.includes(MLSTLS_EXTENSION_TYPES.alpnSelected)) {
    throw mlsTlsError("ERR_MLSTLS_HANDSHAKE_FAILURE", "client cannot receive the selected ALPN protocol");
  }
  if (bytesEqual(keyPackage.leafNode.signaturePublicKey, identity.signaturePublicKey)) {
    throw mlsTlsError("ERR_MLSTLS_BAD_CREDENTIAL", "client presented the server's own signature key");
  }
  const own: PeerCredential = { credential: identity.credential, signaturePublicKey: identity.signaturePublicKey };
  const auth = new CredentialCheck(info.scheme, opts.validate, own, approvedBy === opts.validate ? offer.peer : undefined);
  await auth.require(offer.peer);

  const crypto = opts.crypto ?? DEFAULT_MLS_CRYPTO;
  const impl = await getImpl(offer.suite, crypto);
  const groupExtensions: Extension[] =
    alpn === null ? [] : [{ extensionType: MLSTLS_EXTENSION_TYPES.alpnSelected, extensionData: encodeProtocolList([alpn]) }];
  let initial: ClientState | undefined;
  try {
    const own = await creatorLeaf(identity, impl, crypto);
    initial = await createGroup(crypto.randomBytes(32), own.publicPackage, own.privatePackage, groupExtensions, impl, configWith(auth.service));
    const result = await createCommit(
      { state: initial, cipherSuite: impl },
      { extraProposals: [{ proposalType: "add", add: { keyPackage } }], ratchetTreeExtension: true },
    );
    if (result.welcome === undefined) throw mlsTlsError("ERR_MLSTLS_INTERNAL", "ts-mls produced no Welcome for the add");
    const state = ownSecrets(result.newState);
    zeroUnowned(result.consumed, [state]);
    zeroState(initial);
    requireTwoParty(state, "ERR_MLSTLS_INTERNAL", "accept");
    const welcome = encodeMlsMessage({ version: "mls10", wireformat: "mls_welcome", welcome: result.welcome });
    return { session: MlsSession["wrap"](state, offer.suite, crypto), welcome };
  } catch (e) {
    if (initial !== undefined) zeroState(initial);
    throw translate(e, "ERR_MLSTLS_HANDSHAKE_FAILURE", "could not add the client", auth);
  }
}

/**
 * The group creator's leaf, in the KeyPackage shape createGroup takes. createGroup reads only the leaf node, its
 * HPKE private key and the signature key (ts-mls clientState.ts), and this KeyPackage goes to nobody: so no init
 * key pair is generated and the KeyPackage itself is not signed (one X25519 key generation and one signature less
 * per handshake than generateKeyPackageWithKey). The leaf node is signed as ts-mls signs it, since the Welcome's
 * ratchet tree carries it to the peer, who verifies it.
 */
async function creatorLeaf(
  identity: LocalIdentity,
  impl: CiphersuiteImpl,
  crypto: MlsCrypto,
): Promise<{ publicPackage: KeyPackage; privatePackage: PrivateKeyPackage }> {
  const hpkeKeys = await impl.hpke.generateKeyPair();
  const signKey = copyBytes(identity.signaturePrivateKey);
  const leafNode = await signLeafNodeKeyPackage(
    {
      leafNodeSource: "key_package",
      hpkePublicKey: await impl.hpke.exportPublicKey(hpkeKeys.publicKey),
      signaturePublicKey: copyBytes(identity.signaturePublicKey),
      extensions: [],
      credential: toMlsCredential(identity.credential),
      capabilities: capabilities(),
      lifetime: keyPackageLifetime(crypto),
    },
    signKey,
    impl.signature,
  );
  const empty = new Uint8Array(0);
  return {
    publicPackage: { version: "mls10", cipherSuite: impl.name, initKey: empty, leafNode, extensions: [], signature: empty },
    privatePackage: { initPrivateKey: empty, hpkePrivateKey: await impl.hpke.exportPrivateKey(hpkeKeys.privateKey), signaturePrivateKey: signKey },
  };
}

/**
 * Initiator: joins the group from the ServerHello's Welcome. Checks the responder's credential with the
 * validator, that the group has exactly two members, that the GroupContext carries nothing but our ALPN
 * extension, and that a selected ALPN protocol was offered.
 */
export async function joinFromWelcome(pending: PendingJoin, welcome: Uint8Array, opts: { validate?: CredentialValidator; crypto?: MlsCrypto } = {}): Promise<MlsSession> {
  if (!(pending instanceof PendingJoinImpl)) throw new TypeError("pending must come from createKeyPackage");
  const info = suiteInfo(pending.suite);
  const msg = decodeMessage(welcome, "ServerHello welcome");
  if (msg.wireformat !== "mls_welcome") throw mlsTlsError("ERR_MLSTLS_DECODE_ERROR", `ServerHello carries ${msg.wireformat}, not a Welcome`);
  if (msg.welcome.cipherSuite !== info.name) {
    throw mlsTlsError("ERR_MLSTLS_ILLEGAL_PARAMETER", `Welcome uses ${msg.welcome.cipherSuite}, but the KeyPackage offered ${info.name}`);
  }
  const priv = pending.privatePackage;
  const auth = new CredentialCheck(info.scheme, opts.validate, pending.own);
  const crypto = opts.crypto ?? pending.crypto;
  const impl = await getImpl(pending.suite, crypto);
  let joined: ClientState;
  try {
    [joined] = await joinGroupWithExtensions(
      msg.welcome,
      pending.keyPackage,
      // ts-mls keeps these buffers in the state; the state gets its own copies below.
      priv,
      emptyPskIndex,
      impl,
      undefined,
      undefined,
      configWith(auth.service),
    );
  } catch (e) {
    throw translate(e, "ERR_MLSTLS_MLS_REJECTED", "Welcome rejected", auth);
  }
  const state = ownSecrets(joined);
  try {
    const tp = requireTwoParty(state, "ERR_MLSTLS_ILLEGAL_PARAMETER", "Welcome");
    const peer = leafCredential(tp.peerLeaf);
    if (peer === undefined) throw mlsTlsError("ERR_MLSTLS_BAD_CREDENTIAL", "responder has an unsupported credential type");
    await auth.require(peer);
    for (const e of state.groupContext.extensions) {
      if (extensionNumber(e) !== MLSTLS_EXTENSION_TYPES.alpnSelected) {
        throw mlsTlsError("ERR_MLSTLS_ILLEGAL_PARAMETER", `unexpected GroupContext extension ${String(e.extensionType)}`);
      }
    }
    const alpn = alpnFromContext(state);
    if (alpn !== null && !pending.alpnProtocols.includes(alpn)) {
      throw mlsTlsError("ERR_MLSTLS_ILLEGAL_PARAMETER", `server selected ALPN protocol ${JSON.stringify(alpn)}, which was not offered`);
    }
  } catch (e) {
    zeroState(state);
    throw translate(e, "ERR_MLSTLS_ILLEGAL_PARAMETER", "Welcome rejected", auth);
  }
  pending.dispose(); // a KeyPackage is single-use; its init key must not outlive the join
  return MlsSession["wrap"](state, pending.suite, crypto);
}
