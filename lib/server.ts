// Server: a net.Server whose connections are wrapped in MlsTlsSocket, with node:tls's server events:
// 'secureConnection' after key confirmation, 'tlsClientError' for every failure before it, 'keylog'.

import * as net from "node:net";
import type { Duplex } from "node:stream";
import { parseSuiteList } from "./cipher-suites.js";
import {
  DEFAULT_HANDSHAKE_TIMEOUT,
  MlsTlsSocket,
  type MlsTlsCommonOptions,
  type MlsTlsSocketOptions,
  alpnNames,
} from "./socket.js";

export interface ServerOptions extends MlsTlsCommonOptions {
  /** ms until an unfinished handshake fails with ERR_TLS_HANDSHAKE_TIMEOUT. Default 120000 (0 too, as node). */
  handshakeTimeout?: number;
  /** Picks the ALPN protocol; returning undefined rejects the client. Exclusive with ALPNProtocols, as in node. */
  ALPNCallback?: MlsTlsSocketOptions["ALPNCallback"];
  /** TCP_NODELAY on accepted connections. Default true (net's default is false). */
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
}

export type SecureConnectionListener = (socket: MlsTlsSocket) => void;

export class Server extends net.Server {
  /** Effective handshake timeout in ms. */
  readonly handshakeTimeout: number;
  private readonly socketOptions: MlsTlsSocketOptions;

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
    parseSuiteList(opts.ciphersuites);
    alpnNames(opts.ALPNProtocols);

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
    this.socketOptions = {
      ciphersuites: opts.ciphersuites,
      ALPNProtocols: opts.ALPNProtocols,
      ALPNCallback: opts.ALPNCallback,
      identity: opts.identity,
      validatePeer: opts.validatePeer,
      allowIdentityChange: opts.allowIdentityChange,
      autoConnectionUpdate: opts.autoConnectionUpdate,
      autoKeyUpdate: opts.autoKeyUpdate,
      allowHalfOpen: opts.allowHalfOpen,
      highWaterMark: opts.highWaterMark,
      readableHighWaterMark: opts.readableHighWaterMark,
      writableHighWaterMark: opts.writableHighWaterMark,
    };
    this.on("connection", (raw: Duplex) => this.wrap(raw));
    if (onSecure !== undefined) this.on("secureConnection", onSecure);
  }

  private wrap(raw: Duplex): void {
    const socket = new MlsTlsSocket(raw, {
      ...this.socketOptions,
      isServer: true,
      server: this,
      handshakeTimeout: this.handshakeTimeout,
    });
    socket.once("secure", () => this.emit("secureConnection", socket));
  }
}

export function createServer(listener?: SecureConnectionListener): Server;
export function createServer(options?: ServerOptions, listener?: SecureConnectionListener): Server;
export function createServer(options?: ServerOptions | SecureConnectionListener, listener?: SecureConnectionListener): Server {
  return typeof options === "function" ? new Server(options) : new Server(options, listener);
}
