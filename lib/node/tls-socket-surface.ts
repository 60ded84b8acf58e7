// node:tls's TLSSocket surface of an MlsTlsSocket: the properties and query methods programs read (getCipher,
// getPeerCertificate, getSession, exportKeyingMaterial, ...) and node's setters that act before the handshake
// (setServername, setSession, setMaxSendFragment, setKeyCert). They read the connection's state, which the socket
// itself (socket.ts: handshake, data path, close) keeps up to date; the net.Socket half is transport-socket.ts.

import type { X509Certificate } from "node:crypto";
import type { NonSharedBuffer } from "node:buffer";
import type * as net from "node:net";
import type * as tls from "node:tls";
import type { Duplex, DuplexOptions } from "node:stream";
import type { SuiteParams } from "../suites.js";
import type { BasicPeerCertificate } from "../auth/peer-certificate.js";
import { peerX509Certificate } from "../auth/peer-certificate.js";
import { type PeerValidator, peerCertificateObject } from "../auth/verify.js";
import type { PeerCredential } from "../mls/index.js";
import { type Initiator, MAX_PLAINTEXT, Responder } from "../protocol/index.js";
import { leafCertificate } from "./handshake-errors.js";
import { KeyCertOverride } from "./key-cert.js";
import { codeError, invalidArgType, invalidState, outOfRange } from "./node-errors.js";
import { WRONG_SSL_VERSION, sslError } from "./openssl-errors.js";
import { type ClientSessionOptions, type MlsPeerCertificate, type MlsTlsSocketOptions, clientSessionOf } from "./options.js";
import { TransportSocket } from "./transport-socket.js";

export abstract class TlsSocketSurface extends TransportSocket {
  /** Always true: node code tells TLS sockets apart by this. */
  readonly encrypted = true;
  /** True once the peer's credential was accepted. */
  authorized = false;
  /**
   * Why the peer is not authorized. At run time a code string (e.g. "CERT_HAS_EXPIRED") or null, exactly as
   * node:tls; typed `Error` because @types/node types tls.TLSSocket's so (an MlsTlsSocket is a tls.TLSSocket).
   */
  authorizationError: Error = null as unknown as Error;
  /** null before the handshake, false when none was negotiated. */
  alpnProtocol: string | false | null = null;
  /** null before the handshake; then the server name sent (client) or received (server), or false. */
  servername: string | false | null = null;
  /**
   * True when the connection ended with the peer's FIN but no close_notify: as node:tls, that is a plain 'end'
   * (no error), and this tells it apart from a clean close. Data that was cut mid-record never reaches 'data'.
   */
  truncated = false;
  /** The server that accepted this socket; node's http overwrites it with its own server, as with net sockets. */
  server: net.Server | undefined;

  // The connection's state, kept by MlsTlsSocket.
  protected readonly isServer: boolean;
  protected readonly opts: MlsTlsSocketOptions;
  protected engine: Initiator | Responder | undefined;
  /** This connection's verdict on the peer, kept across ConnectionUpdates (and after close). */
  protected validator: PeerValidator | undefined;
  /** Our own credential, captured when the handshake completes (the engine forgets it on close). */
  protected ownCredential: PeerCredential | undefined;
  protected secure = false;
  protected plainRead = 0;
  protected plainDone = 0;
  /** Client: the (decrypted) session to resume; dropped by a fallback to a full handshake. */
  protected resumeFrom: Uint8Array | undefined;
  /** setServername() before the handshake. */
  protected sniOverride: string | undefined;
  /** setMaxSendFragment(), applied to the engine when it is made. */
  protected maxFragment = MAX_PLAINTEXT;
  /** Client: the latest 'session' Buffer. */
  protected lastSession: NonSharedBuffer | undefined;
  /** Our identity is the engine's anonymous one (none was configured, nor set with setKeyCert()). */
  protected get anonymous(): boolean {
    return this.noIdentity && !this.keyCert.used;
  }
  /** No identity was configured: the engine makes an anonymous one, which is no certificate to show. */
  protected noIdentity = false;
  protected readonly keyCert = new KeyCertOverride();

  constructor(transport: Duplex, duplex: DuplexOptions, options: MlsTlsSocketOptions) {
    super(transport, duplex);
    this.isServer = options.isServer === true;
    this.opts = options;
    this.server = options.server;
  }

  /** True until the handshake completed (for servers: until key confirmation). */
  get secureConnecting(): boolean {
    return !this.secure && !this.destroyed;
  }

  /** Application bytes received, as node:tls counts them (not the record overhead). */
  // @ts-expect-error TS2611: net.Socket's types declare a property; it is the transport's, read through.
  override get bytesRead(): number {
    return this.plainRead;
  }

  /** Application bytes written, including those still buffered, as node:tls counts them. */
  // @ts-expect-error TS2611: net.Socket's types declare a property; it is the transport's, read through.
  override get bytesWritten(): number {
    return this.plainDone + this.writableLength;
  }

  /**
   * As net.Socket: the bytes written and not yet accepted by the transport (0 when nothing is queued), and
   * undefined once destroyed (net's has no handle then). A write in flight to the transport is still in
   * writableLength: its callback waits for the transport.
   */
  // @ts-expect-error TS2611: net.Socket's types declare a property; it is the transport's, read through.
  override get bufferSize(): number {
    // Typed number, as @types/node types net's, which is undefined at run time too.
    return this.destroyed ? (undefined as unknown as number) : this.writableLength;
  }

  /** "TLSv1.3": the record layer is TLS 1.3's; the MLS suite shows in getCipher().name. null once destroyed. */
  getProtocol(): string | null {
    return this.destroyed ? null : "TLSv1.3";
  }

  /** name: the MLS ciphersuite; standardName: the TLS 1.3 suite with the same record protection. */
  // Typed as @types/node types tls.TLSSocket's; at run time undefined before the handshake, as node:tls.
  getCipher(): tls.CipherNameAndProtocol {
    const s = this.secure ? this.engine?.suite : undefined;
    return (s === undefined ? undefined : { name: s.name, standardName: s.tlsName, version: "TLSv1.3" }) as tls.CipherNameAndProtocol;
  }

  /** The negotiated suite's parameters, undefined before the handshake. */
  get suite(): SuiteParams | undefined {
    return this.secure ? this.engine?.suite : undefined;
  }

  /**
   * {} before the handshake. X.509 credentials: node's certificate object, exactly as node:tls builds it (with
   * the issuer chain, completed from `ca`, when `detailed`). Basic credentials: a BasicPeerCertificate with the
   * identity, key and fingerprint. Still available after close.
   */
  getPeerCertificate(detailed: true): tls.DetailedPeerCertificate & Partial<BasicPeerCertificate>;
  getPeerCertificate(detailed?: false): tls.PeerCertificate & Partial<BasicPeerCertificate>;
  getPeerCertificate(detailed?: boolean): (tls.PeerCertificate | tls.DetailedPeerCertificate) & Partial<BasicPeerCertificate>;
  getPeerCertificate(detailed = false): MlsPeerCertificate {
    if (!this.secure || this.peerUnasked()) return {};
    return this.validator?.getPeerCertificate(detailed) ?? {};
  }

  /**
   * A server that verifies nothing (no requestCert, no pinning) has not asked for a client certificate: as
   * node:tls, it shows none, though the client's MLS leaf always carries a credential.
   */
  protected peerUnasked(): boolean {
    return this.isServer && !this.authorized && (this.authorizationError as unknown) === null;
  }

  /** The peer's X.509 leaf certificate; undefined before the handshake and for pinned-key peers. */
  getPeerX509Certificate(): X509Certificate | undefined {
    return this.secure && !this.peerUnasked() ? peerX509Certificate(this.validator?.peerCredential) : undefined;
  }

  /** Our own certificate object, in getPeerCertificate()'s shapes; {} before the handshake. */
  getCertificate(): MlsPeerCertificate {
    return this.ownCredential === undefined || this.anonymous ? {} : peerCertificateObject(this.ownCredential);
  }

  /** Our own X.509 leaf certificate; undefined before the handshake and for pinned-key identities. */
  getX509Certificate(): X509Certificate | undefined {
    return this.anonymous ? undefined : leafCertificate(this.ownCredential);
  }

  /** The peer's credential as MLS presented it (the latest, after ConnectionUpdates). */
  get peerCredential(): PeerCredential | undefined {
    return this.secure ? this.validator?.peerCredential : undefined;
  }

  /** RFC 5705/8446 exporter; stable for the connection's lifetime. Throws ERR_TLS_INVALID_STATE before the handshake. */
  exportKeyingMaterial(length: number, label: string, context?: Uint8Array): NonSharedBuffer {
    if (typeof length !== "number") throw invalidArgType("length", "of type number", length);
    // node's validateUint32(length, "length", true): a positive 32-bit integer.
    if (!Number.isInteger(length) || length < 1 || length > 0xffff_ffff) {
      throw outOfRange("length", !Number.isInteger(length) ? "an integer" : ">= 1 && <= 4294967295", length);
    }
    if (typeof label !== "string") throw invalidArgType("label", "of type string", label);
    if (context !== undefined && !(context instanceof Uint8Array)) {
      throw invalidArgType("context", "an instance of Buffer, TypedArray, or DataView", context);
    }
    if (!this.secure || this.engine === undefined) throw invalidState();
    const out = this.engine.exportKeyingMaterial(length, label, context);
    // The engine's buffers are never shared memory.
    return Buffer.from(out.buffer as ArrayBuffer, out.byteOffset, out.length);
  }

  /**
   * Client: the latest 'session' Buffer (encrypted with `sessionKey` if given), for connect({ session }); undefined
   * before the first. Server: always undefined (server sessions live in the sessionStore).
   */
  getSession(): NonSharedBuffer | undefined {
    return this.lastSession;
  }

  /** True on a connection resumed from a session (draft §4.5) rather than made by a full handshake. */
  isSessionReused(): boolean {
    return this.secure && this.engine?.isResumed === true;
  }

  /**
   * Server sockets, once resumed: how far the client's Resumption was ahead of the stored session, i.e. which
   * repair of draft §4.5 it took (0, 1 or 2 epochs). undefined otherwise.
   */
  get resumptionRepair(): 0 | 1 | 2 | undefined {
    return this.secure && this.engine instanceof Responder ? this.engine.resumptionRepair : undefined;
  }

  /** TLS 1.3 has no renegotiation, so there is nothing to disable (http2 calls this). */
  disableRenegotiation(): void {}

  /**
   * As node:tls on a TLS 1.3 socket: renegotiation does not exist, so this returns false and the callback gets
   * ERR_SSL_WRONG_SSL_VERSION. keyUpdate() and connectionUpdate() are what renegotiation was used for.
   */
  renegotiate(_options: object, callback?: (err: Error | null) => void): boolean {
    if (this.destroyed) return false;
    // node's error exactly (programs compare the message); README says what to use instead.
    const err = sslError(WRONG_SSL_VERSION);
    if (callback !== undefined) process.nextTick(callback, err);
    return false;
  }

  /** Client, before the handshake starts: the server name to send (node's setServername). */
  setServername(name: string): void {
    if (this.isServer) throw codeError("ERR_TLS_SNI_FROM_SERVER", "Cannot issue SNI from a TLS server-side socket");
    if (typeof name !== "string") throw invalidArgType("name", "of type string", name);
    // node:tls aborts the process here once the handshake started; an error is the kinder failure.
    if (this.engine !== undefined) throw codeError("ERR_TLS_INVALID_STATE", "setServername() after the handshake started");
    this.sniOverride = name;
  }

  /** Client, before the handshake starts: the session to resume (node's setSession). */
  setSession(session: Buffer | Uint8Array | string): void {
    if (this.isServer) return;
    if (this.engine !== undefined) throw codeError("ERR_TLS_INVALID_STATE", "setSession() after the handshake started");
    const blob = typeof session === "string" ? Buffer.from(session, "latin1") : session;
    this.resumeFrom?.fill(0);
    this.resumeFrom = clientSessionOf({ ...(this.opts as ClientSessionOptions), session: blob });
  }

  /**
   * The client's ephemeral key exchange, in node's shape: the MLS suite's HPKE KEM, from the suite table.
   * {} before the handshake; null on a server socket, as in node.
   */
  getEphemeralKeyInfo(): { type: string; name: string; size: number } | Record<string, never> | null {
    if (this.isServer) return null;
    const suite = this.secure ? this.engine?.suite : undefined;
    return suite === undefined ? {} : { ...suite.keyExchange };
  }

  /**
   * MLS-TLS has no Finished message (key confirmation is an EpochKeyUpdate, PROTOCOL.md §5), so, like node:tls
   * before a handshake, these return undefined. For channel binding use exportKeyingMaterial() (RFC 9266).
   */
  getFinished(): NonSharedBuffer | undefined {
    return undefined;
  }
  getPeerFinished(): NonSharedBuffer | undefined {
    return undefined;
  }

  /**
   * node's setMaxSendFragment: 512 to 16384 bytes of plaintext per record; false (and no change) otherwise.
   * Not a number (or not an integer) throws, as node's.
   */
  setMaxSendFragment(size: number): boolean {
    if (typeof size !== "number") throw invalidArgType("size", "of type number", size);
    // node's validateInt32(size, "size"): an integer in the int32 range, or ERR_OUT_OF_RANGE.
    if (!Number.isInteger(size)) throw outOfRange("size", "an integer", size);
    if (size < -(2 ** 31) || size > 2 ** 31 - 1) throw outOfRange("size", ">= -2147483648 && <= 2147483647", size);
    if (size < 512 || size > MAX_PLAINTEXT) return false;
    this.maxFragment = size;
    this.engine?.setMaxSendFragment(size);
    return true;
  }

  /** The one signature scheme of the negotiated MLS suite (each suite fixes it; from the suite table); [] before. */
  getSharedSigalgs(): string[] {
    const suite = this.secure ? this.engine?.suite : undefined;
    return suite === undefined ? [] : [suite.signature.scheme];
  }

  /** No TLS session tickets exist in MLS-TLS (sessions are MLS group state: getSession()), so undefined. */
  getTLSTicket(): NonSharedBuffer | undefined {
    return undefined;
  }

  /**
   * node's setKeyCert(): the key and certificate this socket presents, a SecureContext or options for one. Takes
   * effect if called before our identity is chosen: on a server up to its ALPNCallback (node's use), on a client
   * before the handshake starts. The key must sign for the negotiated MLS suite.
   */
  setKeyCert(context: unknown): void {
    if (this.destroyed) return;
    this.keyCert.set(context);
  }

  /** OpenSSL's protocol trace has no MLS-TLS counterpart: a no-op. See README "Debugging a connection". */
  enableTrace(): void {}
}
