// mlstls/https: node's https module with MLS-TLS underneath. Code that uses https.createServer, https.request,
// https.get and https.Agent switches by changing its import.
//
// The server is node's own https.Server (so node's http machinery runs unchanged: headersTimeout,
// requestTimeout, keepAliveTimeout, closeIdleConnections, close, 'request', 'upgrade', ...), with its TLS
// connection listener replaced by mlstls's: accepted TCP connections are wrapped in MlsTlsSockets and handed to
// http after key confirmation. It listens itself, so nothing has to be emitted by hand.

import * as https from "node:https";
import type * as http from "node:http";
import { ClientRequest, type IncomingMessage } from "node:http";
import type * as net from "node:net";
import type * as tls from "node:tls";
import type { Duplex } from "node:stream";
import { URL, urlToHttpOptions } from "node:url";
import type { SecureContext, SecureContextOptions } from "../auth/secure-context.js";
import { type ConnectOptions, connect } from "./connect.js";
import { invalidArgType } from "./node-errors.js";
import { TlsAcceptor, type ServerOptions as TlsServerOptions } from "./server.js";
import type { MlsTlsSocket } from "./socket.js";

/** node's http server options (headersTimeout, requestTimeout, ...) plus mlstls's server options. */
export type ServerOptions = TlsServerOptions & http.ServerOptions;

type RequestListener = http.RequestListener;

/** The options that configure node's http layer; everything else is mlstls's. */
const HTTP_KEYS = [
  "IncomingMessage",
  "ServerResponse",
  "requestTimeout",
  "headersTimeout",
  "keepAliveTimeout",
  "connectionsCheckingInterval",
  "highWaterMark",
  "insecureHTTPParser",
  "joinDuplicateHeaders",
  "maxHeaderSize",
  "noDelay",
  "keepAlive",
  "keepAliveInitialDelay",
  "uniqueHeaders",
  "requireHostHeader",
  "rejectNonStandardBodyWrites",
] as const;

/** Splits options into node's http ones and mlstls's TLS ones. */
export function splitServerOptions(options: object, httpKeys: readonly string[]): [Record<string, unknown>, TlsServerOptions] {
  const httpOpts: Record<string, unknown> = {};
  const tlsOpts: Record<string, unknown> = { ...options };
  for (const k of httpKeys) {
    if (k in tlsOpts) {
      httpOpts[k] = tlsOpts[k];
      if (k !== "noDelay" && k !== "keepAlive" && k !== "keepAliveInitialDelay" && k !== "highWaterMark") delete tlsOpts[k];
    }
  }
  return [httpOpts, tlsOpts as TlsServerOptions];
}

/**
 * Replaces a node TLS server's (https.Server's, Http2SecureServer's) connection listener with mlstls's; its own
 * 'secureConnection' listener (http's) then gets MlsTlsSockets.
 */
export function feedWithMlsTls(server: net.Server, acceptor: TlsAcceptor): void {
  server.removeAllListeners("connection");
  server.on("connection", (raw: Duplex) => acceptor.accept(raw, server));
}

/** node's https.Server, fed by mlstls. */
export class Server extends https.Server {
  /** The sessions of this server's clients (see mlstls.createServer). */
  readonly sessionStore: TlsAcceptor["sessionStore"];
  private readonly acceptor: TlsAcceptor;

  constructor(requestListener?: RequestListener);
  constructor(options: ServerOptions, requestListener?: RequestListener);
  constructor(options?: ServerOptions | RequestListener, requestListener?: RequestListener) {
    const opts: ServerOptions = typeof options === "function" || options === undefined ? {} : options;
    const listener = typeof options === "function" ? options : requestListener;
    if (opts === null || typeof opts !== "object") throw invalidArgType("options", "of type object", opts);
    const [httpOpts, tlsOpts] = splitServerOptions(opts, HTTP_KEYS);
    // As node's https: ALPN offers HTTP/1.1 unless told otherwise.
    if (tlsOpts.ALPNProtocols === undefined && tlsOpts.ALPNCallback === undefined) tlsOpts.ALPNProtocols = ["http/1.1"];
    const acceptor = new TlsAcceptor(tlsOpts);
    super(httpOpts as https.ServerOptions, listener);
    this.acceptor = acceptor;
    this.sessionStore = acceptor.sessionStore;
    feedWithMlsTls(this, acceptor);
  }

  /** As mlstls's Server.addContext(). */
  override addContext(hostname: string, context: SecureContext | SecureContextOptions | tls.SecureContext | tls.SecureContextOptions): void {
    this.acceptor.addContext(hostname, context as SecureContextOptions);
  }

  /** As mlstls's Server.setSecureContext(). */
  override setSecureContext(options: (SecureContextOptions & { secureContext?: SecureContext }) | tls.SecureContextOptions): void {
    // node's tls.Server constructor calls this too, with the http options only, before mlstls's half exists.
    if ((this as unknown as { acceptor?: TlsAcceptor }).acceptor === undefined) super.setSecureContext(options as tls.SecureContextOptions);
    else this.acceptor.setSecureContext(options as SecureContextOptions);
  }
}

export function createServer(requestListener?: RequestListener): Server;
export function createServer(options: ServerOptions, requestListener?: RequestListener): Server;
export function createServer(options?: ServerOptions | RequestListener, requestListener?: RequestListener): Server {
  return typeof options === "function" || options === undefined ? new Server(options) : new Server(options, requestListener);
}

/** https.Agent's options plus mlstls's client options (fingerprints, identity, ciphersuites, ...). */
export type AgentOptions = https.AgentOptions & ConnectOptions;

/** mlstls options that change whom a pooled connection may be reused for (node's getName covers its own). */
const POOL_KEYS = ["fingerprints", "ciphersuites", "identity", "verifyPeer", "validatePeer", "secureContext"] as const;

/**
 * node's https.Agent (pooling, keep-alive, maxSockets, ...) making MLS-TLS connections. TLS options given to the
 * Agent or to each request (ca, fingerprints, servername, ...) reach mlstls.connect(). Sessions are not reused
 * across pooled connections: an MLS session is single-use, and resuming it elsewhere would replace its
 * connection.
 */
export class Agent extends https.Agent {
  private readonly poolIds = new WeakMap<object, number>();
  private nextPoolId = 1;

  constructor(options?: AgentOptions) {
    super(options as https.AgentOptions);
  }

  /** Called by http.Agent with the request's options; the returned socket is used (no callback needed). */
  override createConnection(options: https.RequestOptions): MlsTlsSocket {
    // http passes the request's options: `path` is the URL path there, `socketPath` the IPC path.
    const { socketPath, _agentKey: _key, ...rest } = options as ConnectOptions & { socketPath?: string; _agentKey?: string };
    return connect({ ...rest, path: socketPath ?? undefined } as ConnectOptions);
  }

  override getName(options: https.RequestOptions & Record<string, unknown> = {}): string {
    let name = super.getName(options);
    for (const k of POOL_KEYS) {
      const v = options[k];
      if (v === undefined) continue;
      name += `:${k}=${typeof v === "object" || typeof v === "function" ? `#${this.idOf(v as object)}` : String(v)}`;
    }
    return name;
  }

  private idOf(o: object): number {
    let id = this.poolIds.get(o);
    if (id === undefined) {
      id = this.nextPoolId++;
      this.poolIds.set(o, id);
    }
    return id;
  }
}

/** The Agent that request() and get() use when given none, as https.globalAgent. */
export const globalAgent: Agent = new Agent({ keepAlive: true, scheduling: "lifo", timeout: 5000 });

export type RequestOptions = https.RequestOptions & ConnectOptions;
type ResponseCallback = (res: IncomingMessage) => void;

/** https.request's argument forms: (url[, options][, callback]) or (options[, callback]). */
export function request(options: RequestOptions | string | URL, callback?: ResponseCallback): ClientRequest;
export function request(url: string | URL, options: RequestOptions, callback?: ResponseCallback): ClientRequest;
export function request(...args: unknown[]): ClientRequest {
  let options: Record<string, unknown> = {};
  if (typeof args[0] === "string") options = urlToHttpOptions(new URL(args.shift() as string)) as Record<string, unknown>;
  else if (args[0] instanceof URL) options = urlToHttpOptions(args.shift() as URL) as Record<string, unknown>;
  if (args[0] !== undefined && args[0] !== null && typeof args[0] !== "function") Object.assign(options, args.shift());
  // ClientRequest's way of knowing the module's default agent (and its protocol, https:).
  options._defaultAgent = globalAgent;
  return new ClientRequest(options as http.ClientRequestArgs, args[0] as ResponseCallback | undefined);
}

export function get(options: RequestOptions | string | URL, callback?: ResponseCallback): ClientRequest;
export function get(url: string | URL, options: RequestOptions, callback?: ResponseCallback): ClientRequest;
export function get(...args: unknown[]): ClientRequest {
  const req = (request as (...a: unknown[]) => ClientRequest)(...args);
  req.end();
  return req;
}
