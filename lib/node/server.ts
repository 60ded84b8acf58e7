// Server: a net.Server whose connections are wrapped in MlsTlsSocket, with node:tls's server events:
// 'secureConnection' after key confirmation (and verification), 'tlsClientError' for every failure before it,
// 'keylog'. Its identity and trust options are resolved once, here, so mistakes throw from createServer().

import { randomBytes } from "node:crypto";
import { mlsTlsError } from "../errors.js";
import { EventEmitter } from "node:events";
import * as net from "node:net";
import type * as tls from "node:tls";
import type { Duplex } from "node:stream";
import { type AuthConfig, type SNICallback, type SniEntry, kAuth, serverAuth } from "../auth/connection-auth.js";
import { type SecureContextOptions, SecureContext, toSecureContext } from "../auth/secure-context.js";
import { DEFAULT_MAX_SESSIONS, DEFAULT_SESSION_TIMEOUT, MemorySessionStore, type SessionStore } from "../sessions/store.js";
import { MlsTlsSocket } from "./socket.js";
import {
  DEFAULT_HANDSHAKE_TIMEOUT,
  type MlsTlsCommonOptions,
  type MlsTlsSocketOptions,
  alpnNames,
  checkSessionStore,
  kAccepted,
  nodeCredentialOptions,
} from "./options.js";
import { codeError, invalidArgType, outOfRange } from "./node-errors.js";

export interface ServerOptions extends MlsTlsCommonOptions {
  /** Verify X.509 client certificates against `ca`. Default false (then authorized stays false, as in node). */
  requestCert?: boolean;
  /**
   * Chooses the identity for the client's server_name: call back with an mlstls SecureContext (or options for
   * one), or nothing for the default. Replaces addContext() matching, as in node.
   */
  SNICallback?: SNICallback;
  /** ms until an unfinished handshake fails with ERR_TLS_HANDSHAKE_TIMEOUT. Default 120000 (0 too, as node). */
  handshakeTimeout?: number;
  /** Picks the ALPN protocol; returning undefined rejects the client. Exclusive with ALPNProtocols, as in node. */
  ALPNCallback?: MlsTlsSocketOptions["ALPNCallback"];
  /** TCP_NODELAY on accepted connections. Default true (net's default is false). */
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  /** Passed to net.Server, as node:tls does (the TLS handshake reads regardless). Default false. */
  pauseOnConnect?: boolean;
  /** EventEmitter's: a rejected async 'secureConnection' listener destroys that socket with the error, as node:tls. */
  captureRejections?: boolean;
  /**
   * Where client sessions live, for resumption: any SessionStore (async get/set/delete by MLS group id in hex),
   * e.g. a FileSessionStore so that a restarted server resumes its clients. Written before every message that
   * depends on it. Default: a MemorySessionStore with `sessionTimeout` and `maxSessions`.
   */
  sessionStore?: SessionStore;
  /** Seconds a session stays resumable after its last change (default store only). Default 300, as node. */
  sessionTimeout?: number;
  /** Most sessions the default store keeps; the least recently changed go first. Default 10000. */
  maxSessions?: number;
  /**
   * Most connections in their handshake at once (accepted, not yet key-confirmed). One more is closed at once
   * with 'tlsClientError' ERR_MLSTLS_TOO_MANY_HANDSHAKES, so a flood of stalled handshakes (each may hold up to
   * 64 KiB of a partial message) cannot take unbounded memory. Default 1024; Infinity disables.
   */
  maxUnconfirmedHandshakes?: number;
  /** node's 48 bytes of TLS ticket keys: kept for getTicketKeys() (MLS-TLS sessions use none). Default random. */
  ticketKeys?: Buffer;
}

export const DEFAULT_MAX_UNCONFIRMED_HANDSHAKES = 1024;

export type SecureConnectionListener = (socket: MlsTlsSocket) => void;

/** Options setSecureContext() replaces, as node's does. */
const CONTEXT_KEYS = ["key", "cert", "passphrase", "ca", "pfx", "identity", "secureContext"] as const;

/** The TLS half of a server, shared by mlstls's Server and the http/https/http2 servers of mlstls/https and mlstls/http2. */
export class TlsAcceptor {
  /** Effective handshake timeout in ms. */
  readonly handshakeTimeout: number;
  readonly sessionStore: SessionStore;
  private readonly socketOptions: MlsTlsSocketOptions;
  private authOptions: ServerOptions;
  private auth: AuthConfig;
  /** addContext() entries, newest last; node's default SNICallback takes the last match. */
  private readonly contexts: SniEntry[] = [];
  private readonly maxUnconfirmed: number;
  private unconfirmed = 0;

  constructor(options: unknown) {
    if (options === null || typeof options !== "object") throw invalidArgType("options", "of type object", options);
    const opts = nodeCredentialOptions(options as ServerOptions);
    const hs = opts.handshakeTimeout ?? 0;
    if (typeof hs !== "number") throw invalidArgType("options.handshakeTimeout", "of type number", hs);
    if (Number.isNaN(hs) || hs < 0) throw outOfRange("options.handshakeTimeout", ">= 0", hs);
    if (opts.ALPNCallback !== undefined && opts.ALPNProtocols !== undefined) {
      throw codeError(
        "ERR_TLS_ALPN_CALLBACK_WITH_PROTOCOLS",
        "The ALPNCallback and ALPNProtocols TLS options are mutually exclusive",
        {},
        TypeError,
      );
    }
    if (opts.ALPNCallback !== undefined && typeof opts.ALPNCallback !== "function") {
      throw invalidArgType("options.ALPNCallback", "of type function", opts.ALPNCallback);
    }
    const maxUnconfirmed = opts.maxUnconfirmedHandshakes ?? DEFAULT_MAX_UNCONFIRMED_HANDSHAKES;
    if (typeof maxUnconfirmed !== "number" || !(maxUnconfirmed >= 1)) {
      throw outOfRange("options.maxUnconfirmedHandshakes", "a positive number", maxUnconfirmed);
    }
    this.maxUnconfirmed = maxUnconfirmed;
    // Validate before listening, so configuration errors never wait for the first client.
    this.auth = serverAuth(opts, () => this.contexts);
    alpnNames(opts.ALPNProtocols);
    if (opts.sessionStore !== undefined) {
      checkSessionStore(opts.sessionStore);
      this.sessionStore = opts.sessionStore;
    } else {
      const sessionTimeout = opts.sessionTimeout ?? DEFAULT_SESSION_TIMEOUT;
      const maxSessions = opts.maxSessions ?? DEFAULT_MAX_SESSIONS;
      if (typeof sessionTimeout !== "number" || !(sessionTimeout > 0)) {
        throw outOfRange("options.sessionTimeout", "a positive number of seconds", sessionTimeout);
      }
      if (!Number.isInteger(maxSessions) || maxSessions < 1) throw outOfRange("options.maxSessions", "a positive integer", maxSessions);
      this.sessionStore = new MemorySessionStore({ sessionTimeout, maxSessions });
    }
    this.handshakeTimeout = hs === 0 ? DEFAULT_HANDSHAKE_TIMEOUT : hs;
    this.authOptions = opts;
    this.socketOptions = {
      ALPNProtocols: opts.ALPNProtocols,
      ALPNCallback: opts.ALPNCallback,
      autoConnectionUpdate: opts.autoConnectionUpdate,
      autoKeyUpdate: opts.autoKeyUpdate,
      allowHalfOpen: opts.allowHalfOpen,
      highWaterMark: opts.highWaterMark,
      readableHighWaterMark: opts.readableHighWaterMark,
      writableHighWaterMark: opts.writableHighWaterMark,
      sessionStore: this.sessionStore,
    };
  }

  addContext(hostname: string, context: SecureContext | SecureContextOptions): void {
    if (!hostname) {
      throw codeError("ERR_TLS_REQUIRED_SERVER_NAME", '"servername" is required parameter for Server.addContext');
    }
    // node's pattern: regex metacharacters escaped, "*" for any run of characters without a dot.
    const pattern = new RegExp(`^${hostname.replace(/([.^$+?\-\\[\]{}])/g, "\\$1").replaceAll("*", "[^.]*")}$`);
    this.contexts.push({ pattern, context: toSecureContext(context, "context") });
  }

  setSecureContext(options: SecureContextOptions & { secureContext?: SecureContext }): void {
    if (options === null || typeof options !== "object") throw invalidArgType("options", "of type object", options);
    const next: ServerOptions = { ...this.authOptions };
    for (const k of CONTEXT_KEYS) delete next[k];
    Object.assign(next, nodeCredentialOptions(options));
    this.auth = serverAuth(next, () => this.contexts);
    this.authOptions = next;
  }

  /**
   * Wraps an accepted connection; `owner` hears 'tlsClientError' and 'keylog', and gets 'secureConnection'
   * after key confirmation (and verification).
   */
  accept(raw: Duplex, owner: net.Server): MlsTlsSocket {
    const r = raw as Duplex & { allowHalfOpen?: boolean; readableFlowing: boolean | null };
    // Raw TCP is half-open whatever the server's allowHalfOpen: each MlsTlsSocket sends close_notify before FIN
    // and applies allowHalfOpen itself. Checked by net only at EOF, so setting it now is in time.
    r.allowHalfOpen = true;
    // A net.Server with pauseOnConnect (node's https servers set it) hands over paused sockets; the handshake
    // has to read. Flowing starts when the socket attaches its reader.
    if (r.readableFlowing === false) r.readableFlowing = null;
    const socket = new MlsTlsSocket(raw, {
      ...this.socketOptions,
      isServer: true,
      server: owner,
      handshakeTimeout: this.handshakeTimeout,
      [kAuth]: this.auth,
      [kAccepted]: true,
    });
    if (this.unconfirmed >= this.maxUnconfirmed) {
      const err = mlsTlsError("ERR_MLSTLS_TOO_MANY_HANDSHAKES", `more than ${this.maxUnconfirmed} handshakes in progress`);
      owner.emit("tlsClientError", err, socket);
      socket.destroy();
      return socket;
    }
    this.unconfirmed++;
    let counted = true;
    const done = (): void => {
      if (counted) this.unconfirmed--;
      counted = false;
    };
    socket.once("secure", () => {
      done();
      // As node:tls: a server made with pauseOnConnect hands 'secureConnection' a paused socket, to resume when ready.
      if (owner instanceof ServerImpl && (owner as net.Server & { pauseOnConnect?: boolean }).pauseOnConnect === true) socket.pause();
      owner.emit("secureConnection", socket);
    });
    socket.once("close", done);
    return socket;
  }

  /** Connections accepted whose handshake has not completed yet (capped by maxUnconfirmedHandshakes). */
  get handshakesInProgress(): number {
    return this.unconfirmed;
  }
}

/** EventEmitter's hook for rejected async listeners (captureRejections). */
const kCaptureRejection = Symbol.for("nodejs.rejection");

class ServerImpl extends net.Server {
  /** Effective handshake timeout in ms. */
  readonly handshakeTimeout: number;
  /** The sessions of this server's clients (the `sessionStore` option, or the default MemorySessionStore). */
  readonly sessionStore: SessionStore;
  private readonly acceptor: TlsAcceptor;
  private ticketKeys = randomBytes(48);

  /** Connections accepted whose handshake has not completed yet (capped by maxUnconfirmedHandshakes). */
  get handshakesInProgress(): number {
    return this.acceptor.handshakesInProgress;
  }

  constructor(listener?: SecureConnectionListener);
  constructor(options?: ServerOptions, listener?: SecureConnectionListener);
  constructor(options?: ServerOptions | SecureConnectionListener, listener?: SecureConnectionListener) {
    const opts: ServerOptions = typeof options === "function" || options === undefined ? {} : options;
    const onSecure = typeof options === "function" ? options : listener;
    const acceptor = new TlsAcceptor(opts);
    if (onSecure !== undefined && typeof onSecure !== "function") throw invalidArgType("listener", "of type function", onSecure);
    super({
      allowHalfOpen: opts.allowHalfOpen === true,
      pauseOnConnect: opts.pauseOnConnect === true,
      // Default true, as for clients (see connect.ts).
      noDelay: opts.noDelay ?? true,
      keepAlive: opts.keepAlive,
      keepAliveInitialDelay: opts.keepAliveInitialDelay,
      ...(opts.captureRejections === undefined ? {} : { captureRejections: opts.captureRejections }),
    } as net.ServerOpts);
    // net.Server does not pass its options to EventEmitter; EventEmitter.init keeps the listeners and sets the flag.
    if (opts.captureRejections === true) (EventEmitter as unknown as { init(this: unknown, o: object): void }).init.call(this, { captureRejections: true });
    this.acceptor = acceptor;
    // Checked by the acceptor (node's type and length errors).
    if (opts.ticketKeys) this.ticketKeys = Buffer.from(opts.ticketKeys);
    this.handshakeTimeout = acceptor.handshakeTimeout;
    this.sessionStore = acceptor.sessionStore;
    this.on("connection", (raw: Duplex) => this.acceptor.accept(raw, this));
    if (onSecure !== undefined) this.on("secureConnection", onSecure);
  }

  /**
   * Serves `context` (an mlstls SecureContext, or options for one: key + cert, or identity) to clients whose
   * server_name matches `hostname`; "*" matches within one label, as in node. Later entries win.
   */
  addContext(hostname: string, context: SecureContext | SecureContextOptions | tls.SecureContext | tls.SecureContextOptions): void {
    this.acceptor.addContext(hostname, context as SecureContextOptions);
  }

  /** Replaces the server's identity and trust options (key, cert, passphrase, ca, identity, secureContext) for new connections. */
  setSecureContext(options: (SecureContextOptions & { secureContext?: SecureContext }) | tls.SecureContextOptions): void {
    this.acceptor.setSecureContext(options as SecureContextOptions);
  }

  /**
   * node's TLS ticket keys have no role in MLS-TLS (sessions are MLS group state in `sessionStore`), but code
   * that rotates them keeps working: 48 bytes in, the same 48 bytes out.
   */
  getTicketKeys(): ReturnType<tls.Server["getTicketKeys"]> {
    return Buffer.from(this.ticketKeys) as ReturnType<tls.Server["getTicketKeys"]>;
  }

  setTicketKeys(keys: Buffer): void {
    if (!(keys instanceof Uint8Array)) throw invalidArgType("buffer", "an instance of Buffer, TypedArray, or DataView", keys);
    if (keys.length !== 48) throw codeError("ERR_INVALID_ARG_VALUE", "Session ticket keys must be a 48-byte buffer", {}, TypeError);
    this.ticketKeys = Buffer.from(keys);
  }

  /** As node:tls: a rejected async 'secureConnection' listener destroys that socket (captureRejections). */
  [kCaptureRejection](err: Error, event: string, ...args: unknown[]): void {
    if (event === "secureConnection") {
      (args[0] as MlsTlsSocket).destroy(err);
      return;
    }
    (net.Server.prototype as unknown as Record<symbol, (...a: unknown[]) => void>)[kCaptureRejection]?.call(this, err, event, ...args);
  }
}

/** Callable without `new` as well, as node's tls.Server. */
export type ServerConstructor = typeof ServerImpl & {
  (listener?: SecureConnectionListener): ServerImpl;
  (options?: ServerOptions, listener?: SecureConnectionListener): ServerImpl;
};

export const Server: ServerConstructor = new Proxy(ServerImpl, {
  apply: (target, _this, args: [ServerOptions?, SecureConnectionListener?]) => new target(...args),
}) as ServerConstructor;
export type Server = ServerImpl;

export function createServer(listener?: SecureConnectionListener): Server;
export function createServer(options?: ServerOptions, listener?: SecureConnectionListener): Server;
export function createServer(options?: ServerOptions | SecureConnectionListener, listener?: SecureConnectionListener): Server {
  return typeof options === "function" ? new Server(options) : new Server(options, listener);
}
