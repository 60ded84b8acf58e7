// connect(): node:tls's argument forms and defaults, over a TCP or IPC connection made here, or over the
// caller's own stream (`socket`, for STARTTLS-style upgrades).

import * as net from "node:net";
import type { Duplex } from "node:stream";
import { clientAuth, kAuth } from "../auth/connection-auth.js";
import { MlsTlsSocket } from "./socket.js";
import {
  type ClientSessionOptions,
  type MlsTlsCommonOptions,
  alpnNames,
  clientSessionOf,
  kReconnect,
  nodeCredentialOptions,
} from "./options.js";
import { invalidArgType } from "./node-errors.js";
import type { CheckServerIdentity } from "../auth/verify.js";

export interface ConnectOptions extends MlsTlsCommonOptions, ClientSessionOptions {
  host?: string;
  port?: number | string;
  /** IPC path instead of host/port. */
  path?: string;
  /** Run over this already connected (or connecting) stream instead of opening a connection. */
  socket?: Duplex;
  /**
   * Server name sent to the server (default: `host`, unless it is an IP address). The server's X.509 certificate
   * must match `servername || host || "localhost"`, as in node:tls.
   */
  servername?: string;
  /** The hostname check for X.509 servers, called as (hostname, certificate). Default tls.checkServerIdentity. */
  checkServerIdentity?: CheckServerIdentity;
  /** socket.setTimeout(timeout) once created. */
  timeout?: number;
  localAddress?: string;
  localPort?: number;
  family?: number;
  hints?: number;
  lookup?: net.LookupFunction;
  /** TCP_NODELAY. Default true (net's default is false; see README). */
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  autoSelectFamily?: boolean;
  autoSelectFamilyAttemptTimeout?: number;
}

type ConnectListener = () => void;

function isPipeName(s: unknown): s is string {
  return typeof s === "string" && Number.isNaN(Number(s));
}

/** Node's rules: positional port/host or path, then an options object (which wins), then the callback. */
function normalizeArgs(args: unknown[]): [ConnectOptions, ConnectListener | undefined] {
  let options: ConnectOptions = {};
  const a0 = args[0];
  if (a0 !== null && typeof a0 === "object") {
    options = { ...(a0 as ConnectOptions) };
  } else if (isPipeName(a0)) {
    options.path = a0;
  } else if (a0 !== undefined && typeof a0 !== "function") {
    options.port = a0 as number | string;
    if (typeof args[1] === "string") options.host = args[1];
  }
  for (const i of [1, 2]) {
    const a = args[i];
    if (a !== null && typeof a === "object") {
      Object.assign(options, a);
      break;
    }
  }
  const last = args[args.length - 1];
  return [options, typeof last === "function" ? (last as ConnectListener) : undefined];
}

let ipServernameWarned = false;

export function connect(options: ConnectOptions, secureConnectListener?: ConnectListener): MlsTlsSocket;
export function connect(
  port: number | string,
  host?: string,
  options?: ConnectOptions,
  secureConnectListener?: ConnectListener,
): MlsTlsSocket;
export function connect(port: number | string, options?: ConnectOptions, secureConnectListener?: ConnectListener): MlsTlsSocket;
export function connect(port: number | string, host?: string, secureConnectListener?: ConnectListener): MlsTlsSocket;
export function connect(path: string, options?: ConnectOptions, secureConnectListener?: ConnectListener): MlsTlsSocket;
export function connect(path: string, secureConnectListener?: ConnectListener): MlsTlsSocket;
export function connect(...args: unknown[]): MlsTlsSocket {
  const [given, cb] = normalizeArgs(args);
  const options = nodeCredentialOptions(given);
  if (options.servername !== undefined && options.servername !== null && typeof options.servername !== "string") {
    throw invalidArgType("options.servername", "of type string", options.servername);
  }
  if (options.servername && net.isIP(options.servername) !== 0 && !ipServernameWarned) {
    // node:tls's deprecation, word for word: RFC 6066 allows host names only.
    ipServernameWarned = true;
    process.emitWarning(
      "Setting the TLS ServerName to an IP address is not permitted by RFC 6066. This will be ignored in a future version.",
      "DeprecationWarning",
      "DEP0123",
    );
  }
  const isIpc = options.socket === undefined && typeof options.path === "string";
  const host = options.host ?? "localhost";
  const sniHost = options.host ?? (isIpc || options.socket !== undefined ? undefined : host);
  const servername = options.servername ?? (sniHost === undefined || net.isIP(sniHost) !== 0 ? undefined : sniHost);
  const port = options.port === undefined ? undefined : Number(options.port);

  // Bad options throw before any connection exists that could fail unobserved.
  // The hostname check uses the names as given, as node's onConnectSecure does (not the SNI default above).
  const socketHost = (options.socket as { _host?: unknown } | undefined)?._host;
  const auth = clientAuth({ ...options, host: options.host ?? (typeof socketHost === "string" ? socketHost : undefined) });
  alpnNames(options.ALPNProtocols);
  // A session that does not decrypt throws here, before a connection exists.
  clientSessionOf(options)?.fill(0);

  let open: (() => Duplex) | undefined;
  if (options.socket === undefined) {
    // Our TCP side is always half-open: the socket decides when to send FIN, after close_notify.
    const base = {
      allowHalfOpen: true,
      localAddress: options.localAddress,
      localPort: options.localPort,
      family: options.family,
      hints: options.hints,
      lookup: options.lookup,
      // Records are already coalesced per write batch; Nagle would only delay lone small records (update
      // confirmations, HTTP/2 WINDOW_UPDATEs) by the peer's delayed ACK. http2 cannot turn it off for us: it
      // wraps this socket and its setNoDelay() never reaches TCP.
      noDelay: options.noDelay ?? true,
      keepAlive: options.keepAlive,
      keepAliveInitialDelay: options.keepAliveInitialDelay,
      autoSelectFamily: options.autoSelectFamily,
      autoSelectFamilyAttemptTimeout: options.autoSelectFamilyAttemptTimeout,
    };
    open = () =>
      isIpc
        ? net.connect({ path: options.path!, allowHalfOpen: true })
        : // net validates the port exactly as node:tls users know it (ERR_SOCKET_BAD_PORT, ERR_MISSING_ARGS).
          net.connect({ ...dropUndefined(base), port: options.port as number, host });
  }
  const transport = options.socket ?? open!();

  const socket = new MlsTlsSocket(transport, {
    ...options,
    isServer: false,
    servername,
    [kAuth]: auth,
    // Our own TCP/IPC connection can be made again, for a full handshake when the server refuses the session.
    [kReconnect]: open,
    // node's ECONNRESET carries the host only when one was given.
    connectTarget: { host: isIpc ? undefined : options.host, port, path: options.path, localAddress: options.localAddress },
  });
  if (options.timeout !== undefined && options.timeout > 0) socket.setTimeout(options.timeout);
  if (cb !== undefined) socket.once("secureConnect", cb);
  return socket;
}

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
