// Server: a net.Server whose connections are wrapped in MlsTlsSocket, with node:tls's server events:
// 'secureConnection' after key confirmation (and verification), 'tlsClientError' for every failure before it,
// 'keylog'. Its identity and trust options are resolved once, here, so mistakes throw from createServer().

import { mlsTlsError } from "../errors.js";
import * as net from "node:net";
import type { Duplex } from "node:stream";
import {
  type AuthConfig,
  type SNICallback,
  type SecureContextOptions,
  type SniEntry,
  SecureContext,
  kAuth,
  serverAuth,
  toSecureContext,
} from "../auth/secure-context.js";
import { DEFAULT_MAX_SESSIONS, DEFAULT_SESSION_TIMEOUT, MemorySessionStore, type SessionStore } from "../sessions/store.js";
import {
  DEFAULT_HANDSHAKE_TIMEOUT,
  MlsTlsSocket,
  type MlsTlsCommonOptions,
  type MlsTlsSocketOptions,
  alpnNames,
  checkSessionStore,
} from "./socket.js";

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
}

export const DEFAULT_MAX_UNCONFIRMED_HANDSHAKES = 1024;

export type SecureConnectionListener = (socket: MlsTlsSocket) => void;

/** Options setSecureContext() replaces, as node's does. */
const CONTEXT_KEYS = ["key", "cert", "passphrase", "ca", "pfx", "identity", "secureContext"] as const;

export class Server extends net.Server {
  /** Effective handshake timeout in ms. */
  readonly handshakeTimeout: number;
  /** The sessions of this server's clients (the `sessionStore` option, or the default MemorySessionStore). */
  readonly sessionStore: SessionStore;
  private readonly socketOptions: MlsTlsSocketOptions;
  private authOptions: ServerOptions;
  private auth: AuthConfig;
  /** addContext() entries, newest last; node's default SNICallback takes the last match. */
  private readonly contexts: SniEntry[];
  private readonly maxUnconfirmed: number;
  private unconfirmed = 0;

  constructor(listener?: SecureConnectionListener);
  constructor(options?: ServerOptions, listener?: SecureConnectionListener);
  constructor(options?: ServerOptions | SecureConnectionListener, listener?: SecureConnectionListener) {
    const opts: ServerOptions = typeof options === "function" ? {} : (options ?? {});
    const onSecure = typeof options === "function" ? options : listener;
    if (opts === null || typeof opts !== "object") throw new TypeError('The "options" argument must be of type object');
    const hs = opts.handshakeTimeout ?? 0;
    if (typeof hs !== "number" || Number.isNaN(hs) || hs < 0) {
      throw new TypeError('The "options.handshakeTimeout" property must be a non-negative number');
    }
    if (opts.ALPNCallback !== undefined && opts.ALPNProtocols !== undefined) {
      throw new TypeError("ALPNCallback and ALPNProtocols cannot both be set");
    }
    // Validate before listening, so configuration errors never wait for the first client.
    const contexts: SniEntry[] = [];
    const auth = serverAuth(opts, () => contexts);
    alpnNames(opts.ALPNProtocols);
    let sessionStore: SessionStore;
    if (opts.sessionStore !== undefined) {
      checkSessionStore(opts.sessionStore);
      sessionStore = opts.sessionStore;
    } else {
      const sessionTimeout = opts.sessionTimeout ?? DEFAULT_SESSION_TIMEOUT;
      const maxSessions = opts.maxSessions ?? DEFAULT_MAX_SESSIONS;
      if (typeof sessionTimeout !== "number" || !(sessionTimeout > 0)) {
        throw new TypeError('The "options.sessionTimeout" property must be a positive number of seconds');
      }
      if (!Number.isInteger(maxSessions) || maxSessions < 1) {
        throw new TypeError('The "options.maxSessions" property must be a positive integer');
      }
      sessionStore = new MemorySessionStore({ sessionTimeout, maxSessions });
    }

    const maxUnconfirmed = opts.maxUnconfirmedHandshakes ?? DEFAULT_MAX_UNCONFIRMED_HANDSHAKES;
    if (typeof maxUnconfirmed !== "number" || !(maxUnconfirmed >= 1)) {
      throw new TypeError('The "options.maxUnconfirmedHandshakes" property must be a positive number');
    }

    // Raw TCP is half-open: each MlsTlsSocket sends close_notify before FIN and applies allowHalfOpen itself.
    super({
      allowHalfOpen: true,
      pauseOnConnect: false,
      // Default true, as for clients (see connect.ts).
      noDelay: opts.noDelay ?? true,
      keepAlive: opts.keepAlive,
      keepAliveInitialDelay: opts.keepAliveInitialDelay,
    });
    this.handshakeTimeout = hs === 0 ? DEFAULT_HANDSHAKE_TIMEOUT : hs;
    this.sessionStore = sessionStore;
    this.authOptions = opts;
    this.auth = auth;
    this.contexts = contexts;
    this.maxUnconfirmed = maxUnconfirmed;
    this.socketOptions = {
      ALPNProtocols: opts.ALPNProtocols,
      ALPNCallback: opts.ALPNCallback,
      autoConnectionUpdate: opts.autoConnectionUpdate,
      autoKeyUpdate: opts.autoKeyUpdate,
      allowHalfOpen: opts.allowHalfOpen,
      highWaterMark: opts.highWaterMark,
      readableHighWaterMark: opts.readableHighWaterMark,
      writableHighWaterMark: opts.writableHighWaterMark,
      sessionStore,
    };
    this.on("connection", (raw: Duplex) => this.wrap(raw));
    if (onSecure !== undefined) this.on("secureConnection", onSecure);
  }

  /**
   * Serves `context` (an mlstls SecureContext, or options for one: key + cert, or identity) to clients whose
   * server_name matches `hostname`; "*" matches within one label, as in node. Later entries win.
   */
  addContext(hostname: string, context: SecureContext | SecureContextOptions): void {
    if (!hostname) {
      throw Object.assign(new Error('"servername" is required parameter for Server.addContext'), { code: "ERR_TLS_REQUIRED_SERVER_NAME" });
    }
    // node's pattern: regex metacharacters escaped, "*" for any run of characters without a dot.
    const pattern = new RegExp(`^${hostname.replace(/([.^$+?\-\\[\]{}])/g, "\\$1").replaceAll("*", "[^.]*")}$`);
    this.contexts.push({ pattern, context: toSecureContext(context, "context") });
  }

  /** Replaces the server's identity and trust options (key, cert, passphrase, ca, identity, secureContext) for new connections. */
  setSecureContext(options: SecureContextOptions & { secureContext?: SecureContext }): void {
    if (options === null || typeof options !== "object") throw new TypeError('The "options" argument must be of type object');
    const next: ServerOptions = { ...this.authOptions };
    for (const k of CONTEXT_KEYS) delete next[k];
    Object.assign(next, options);
    this.auth = serverAuth(next, () => this.contexts);
    this.authOptions = next;
  }

  private wrap(raw: Duplex): void {
    const socket = new MlsTlsSocket(raw, {
      ...this.socketOptions,
      isServer: true,
      server: this,
      handshakeTimeout: this.handshakeTimeout,
      [kAuth]: this.auth,
    });
    if (this.unconfirmed >= this.maxUnconfirmed) {
      const err = mlsTlsError("ERR_MLSTLS_TOO_MANY_HANDSHAKES", `more than ${this.maxUnconfirmed} handshakes in progress`);
      this.emit("tlsClientError", err, socket);
      socket.destroy();
      return;
    }
    this.unconfirmed++;
    let counted = true;
    const done = (): void => {
      if (counted) this.unconfirmed--;
      counted = false;
    };
    socket.once("secure", () => {
      done();
      this.emit("secureConnection", socket);
    });
    socket.once("close", done);
  }

  /** Connections accepted whose handshake has not completed yet (capped by maxUnconfirmedHandshakes). */
  get handshakesInProgress(): number {
    return this.unconfirmed;
  }
}

export function createServer(listener?: SecureConnectionListener): Server;
export function createServer(options?: ServerOptions, listener?: SecureConnectionListener): Server;
export function createServer(options?: ServerOptions | SecureConnectionListener, listener?: SecureConnectionListener): Server {
  return typeof options === "function" ? new Server(options) : new Server(options, listener);
}
