// The net.Socket half of MlsTlsSocket: the members node code expects of any net.Socket (addresses, timeouts,
// connect(), setNoDelay(), ref(), ...), read through to the transport underneath. MlsTlsSocket (socket.ts) adds
// the TLS half on top; keeping this half apart leaves socket.ts with the handshake and the data path.

import type * as net from "node:net";
import { Socket as NetSocket } from "node:net";
import { Duplex, type DuplexOptions } from "node:stream";
import { codeError, invalidArgType, outOfRange } from "./node-errors.js";

/** The transport's net.Socket methods and properties, when it has them. */
export type Transport = Duplex & Partial<Omit<net.Socket, keyof Duplex>> & { connecting?: boolean };

/**
 * The socket's base class: a stream.Duplex at run time (the transport underneath is the net.Socket), typed as a
 * net.Socket because MlsTlsSocket implements net.Socket's whole public API over its transport (address(),
 * setNoDelay(), remoteAddress, ...; test/node/types.test.ts checks each member exists), so to the compiler an
 * MlsTlsSocket is a tls.TLSSocket as well. `instanceof net.Socket` stays false, as the types cannot express.
 */
const SocketBase = Duplex as unknown as new (options?: DuplexOptions) => NetSocket;

export class TransportSocket extends SocketBase {
  /** Replaced only by a session fallback (socket.ts), before the handshake. */
  protected transport: Transport;
  /** setTimeout()'s timer, refreshed by the subclass on transport activity and cleared on destroy. */
  protected idleTimer: NodeJS.Timeout | undefined;
  private idleMs: number | undefined;

  constructor(transport: Duplex, options: DuplexOptions) {
    super(options);
    this.transport = transport as Transport;
  }

  // @ts-expect-error TS2611: net.Socket's types declare a property; it is the transport's, read through.
  override get connecting(): boolean {
    return this.transport.connecting === true;
  }

  // @ts-expect-error TS2611: net.Socket's types declare a property; it is the transport's, read through.
  override get remoteAddress(): string | undefined {
    return this.transport.remoteAddress;
  }
  // @ts-expect-error TS2611: net.Socket's types declare a property; it is the transport's, read through.
  override get remotePort(): number | undefined {
    return this.transport.remotePort;
  }
  // @ts-expect-error TS2611: net.Socket's types declare a property; it is the transport's, read through.
  override get remoteFamily(): string | undefined {
    return this.transport.remoteFamily;
  }
  // @ts-expect-error TS2611: net.Socket's types declare a property; it is the transport's, read through.
  override get localAddress(): string | undefined {
    return this.transport.localAddress;
  }
  // @ts-expect-error TS2611: net.Socket's types declare a property; it is the transport's, read through.
  override get localPort(): number | undefined {
    return this.transport.localPort;
  }
  // @ts-expect-error TS2611: net.Socket's types declare a property; it is the transport's, read through.
  override get localFamily(): string | undefined {
    return (this.transport as { localFamily?: string }).localFamily;
  }

  override address(): net.AddressInfo | Record<string, never> {
    const t = this.transport;
    return typeof t.address === "function" ? (t.address() as net.AddressInfo) : {};
  }

  // @ts-expect-error TS2611: net.Socket's types declare a property; it is the transport's, read through.
  override get readyState(): "opening" | "open" | "readOnly" | "writeOnly" | "closed" {
    if (this.connecting) return "opening";
    if (this.readable && this.writable) return "open";
    if (this.readable) return "readOnly";
    if (this.writable) return "writeOnly";
    return "closed";
  }

  // @ts-expect-error TS2611: net.Socket's types declare a property; it is the transport's, read through.
  override get pending(): boolean {
    return this.connecting;
  }

  /** The ms passed to setTimeout(), undefined if none. */
  // @ts-expect-error TS2611: net.Socket's types declare a property; it is the transport's, read through.
  override get timeout(): number | undefined {
    return this.idleMs;
  }

  /** Emits 'timeout' after `ms` without transport activity; does not destroy the socket. 0 disables. */
  override setTimeout(ms: number, callback?: () => void): this {
    if (typeof ms !== "number") throw invalidArgType("msecs", "of type number", ms);
    if (!Number.isFinite(ms) || ms < 0) throw outOfRange("msecs", "a non-negative finite number", ms);
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (ms === 0) {
      this.idleMs = undefined;
      if (callback !== undefined) this.removeListener("timeout", callback);
      return this;
    }
    this.idleMs = ms;
    if (!this.destroyed) this.idleTimer = setTimeout(() => this.emit("timeout"), ms).unref();
    if (callback !== undefined) this.once("timeout", callback);
    return this;
  }

  /**
   * Connects the socket's own transport, as net.Socket.connect(): for `new TLSSocket()` or
   * `new TLSSocket(null, options)` (node's unconnected form) and for callers that connect a stream they were
   * given (pg's `stream` option). The handshake starts once connected; `listener` runs on 'connect'.
   */
  override connect(...args: unknown[]): this {
    const t = this.transport;
    const last = args[args.length - 1];
    if (typeof last === "function") {
      args.pop();
      this.once("connect", last as () => void);
    }
    if (!(t instanceof NetSocket)) throw codeError("ERR_SOCKET_CONNECTION_FAILED", "this socket's transport is not a net.Socket it can connect");
    if (!t.pending || t.connecting) throw codeError("ERR_SOCKET_CONNECTION_FAILED", "the socket is already connected or connecting");
    (t.connect as (...a: unknown[]) => NetSocket)(...(args as never[]));
    return this;
  }

  /** As net.Socket: closes the TCP connection with a reset (RST), and destroys the socket. */
  override resetAndDestroy(): this {
    const t = this.transport;
    if (typeof t.resetAndDestroy === "function" && !t.destroyed && t.connecting !== true) {
      t.resetAndDestroy();
    }
    this.destroy(codeError("ERR_SOCKET_CLOSED", "Socket is closed"));
    return this;
  }

  override setNoDelay(noDelay?: boolean): this {
    this.transport.setNoDelay?.(noDelay);
    return this;
  }

  override setKeepAlive(enable?: boolean, initialDelay?: number): this {
    this.transport.setKeepAlive?.(enable, initialDelay);
    return this;
  }

  override ref(): this {
    this.transport.ref?.();
    return this;
  }

  override unref(): this {
    this.transport.unref?.();
    return this;
  }

  /** Ends the writable side, then destroys the socket once that finished. */
  override destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once("finish", () => this.destroy());
  }

  /** The addresses net tried with autoSelectFamily, from the transport; [] for other streams. */
  // @ts-expect-error TS2611: net.Socket's types declare a property; it is the transport's, read through.
  override get autoSelectFamilyAttemptedAddresses(): string[] {
    return (this.transport as { autoSelectFamilyAttemptedAddresses?: string[] }).autoSelectFamilyAttemptedAddresses ?? [];
  }
}
