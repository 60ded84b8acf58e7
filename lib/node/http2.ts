// mlstls/http2: node's http2 module over MLS-TLS. createSecureServer() returns node's own Http2SecureServer
// (sessions, streams, the compatibility API, allowHTTP1, timeouts, close) fed by mlstls; connect() is node's
// http2.connect() with an MLS-TLS connection underneath. Code switches by changing its import.

import * as http2 from "node:http2";
import type { Duplex } from "node:stream";
import type { URL } from "node:url";
import * as net from "node:net";
import type { SecureContext, SecureContextOptions } from "../auth/secure-context.js";
import { type ConnectOptions, connect as mlsConnect } from "./connect.js";
import { invalidArgType } from "./node-errors.js";
import { feedWithMlsTls, splitServerOptions } from "./https.js";
import { TlsAcceptor, type ServerOptions as TlsServerOptions } from "./server.js";

export * from "node:http2";

/** node's http2 server options (settings, allowHTTP1, maxSessionMemory, ...) plus mlstls's server options. */
export type SecureServerOptions = TlsServerOptions & Omit<http2.SecureServerOptions, keyof TlsServerOptions>;

type StreamListener = (request: http2.Http2ServerRequest, response: http2.Http2ServerResponse) => void;

/** Options that configure node's http2 layer; everything else is mlstls's. */
const HTTP2_KEYS = [
  "allowHTTP1",
  "origins",
  "maxDeflateDynamicTableSize",
  "maxSettings",
  "maxSessionMemory",
  "maxHeaderListPairs",
  "maxOutstandingPings",
  "maxSendHeaderBlockLength",
  "paddingStrategy",
  "peerMaxConcurrentStreams",
  "settings",
  "remoteCustomSettings",
  "unknownProtocolTimeout",
  "Http1IncomingMessage",
  "Http1ServerResponse",
  "Http2ServerRequest",
  "Http2ServerResponse",
  "maxSessionInvalidFrames",
  "maxSessionRejectedStreams",
  "streamResetBurst",
  "streamResetRate",
] as const;

export type MlsHttp2SecureServer = http2.Http2SecureServer & {
  /** The sessions of this server's clients (see mlstls.createServer). */
  readonly sessionStore: TlsAcceptor["sessionStore"];
};

/** node's http2.createSecureServer(), fed by mlstls. */
export function createSecureServer(onRequestHandler?: StreamListener): MlsHttp2SecureServer;
export function createSecureServer(options: SecureServerOptions, onRequestHandler?: StreamListener): MlsHttp2SecureServer;
export function createSecureServer(options?: SecureServerOptions | StreamListener, onRequestHandler?: StreamListener): MlsHttp2SecureServer {
  const opts: SecureServerOptions = typeof options === "function" || options === undefined ? {} : options;
  const listener = typeof options === "function" ? options : onRequestHandler;
  if (opts === null || typeof opts !== "object") throw invalidArgType("options", "of type object", opts);
  const [h2Opts, tlsOpts] = splitServerOptions(opts, HTTP2_KEYS);
  // As node's http2: h2, and HTTP/1.1 too with allowHTTP1.
  if (tlsOpts.ALPNProtocols === undefined && tlsOpts.ALPNCallback === undefined) {
    tlsOpts.ALPNProtocols = h2Opts.allowHTTP1 === true ? ["h2", "http/1.1"] : ["h2"];
  }
  const acceptor = new TlsAcceptor(tlsOpts);
  const server = (listener === undefined
    ? http2.createSecureServer(h2Opts as http2.SecureServerOptions)
    : http2.createSecureServer(h2Opts as http2.SecureServerOptions, listener)) as MlsHttp2SecureServer;
  feedWithMlsTls(server, acceptor);
  Object.defineProperty(server, "sessionStore", { value: acceptor.sessionStore, enumerable: false });
  const s = server as unknown as {
    addContext: (hostname: string, context: SecureContext | SecureContextOptions) => void;
    setSecureContext: (o: SecureContextOptions & { secureContext?: SecureContext }) => void;
  };
  s.addContext = (hostname, context) => acceptor.addContext(hostname, context);
  s.setSecureContext = (o) => acceptor.setSecureContext(o);
  return server;
}

/** http2.connect()'s options plus mlstls's client options (fingerprints, ca, identity, ...). */
export type SecureClientSessionOptions = Omit<http2.SecureClientSessionOptions, keyof ConnectOptions> & ConnectOptions;

/** node's http2.connect() over MLS-TLS (unless `createConnection` is given). */
export function connect(
  authority: string | URL,
  options?: SecureClientSessionOptions,
  listener?: (session: http2.ClientHttp2Session, socket: Duplex) => void,
): http2.ClientHttp2Session;
export function connect(authority: string | URL, listener?: (session: http2.ClientHttp2Session, socket: Duplex) => void): http2.ClientHttp2Session;
export function connect(authority: string | URL, ...rest: unknown[]): http2.ClientHttp2Session {
  const options = (typeof rest[0] === "object" && rest[0] !== null ? rest.shift() : {}) as SecureClientSessionOptions & {
    createConnection?: (url: URL, o: object) => Duplex;
  };
  const listener = rest[0] as ((session: http2.ClientHttp2Session, socket: Duplex) => void) | undefined;
  const createConnection =
    options.createConnection ??
    ((url: URL): Duplex => {
      const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
      return mlsConnect({
        ...options,
        host: options.host ?? host,
        port: options.port ?? (url.port === "" ? 443 : Number(url.port)),
        // As node's http2: the authority's name, none for an IP address.
        servername: options.servername ?? (net.isIP(host) === 0 ? host : ""),
        ALPNProtocols: options.ALPNProtocols ?? ["h2"],
      });
    });
  const o = { ...options, createConnection } as http2.SecureClientSessionOptions;
  return listener === undefined ? http2.connect(authority, o) : http2.connect(authority, o, listener);
}
