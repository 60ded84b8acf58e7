// The options of sockets, clients and servers, their defaults, and the checks that turn a mistake into an
// error with a stable code when the socket or server is created (never at the first handshake).

import type * as net from "node:net";
import type { Duplex } from "node:stream";
import { domainToASCII } from "node:url";
import type { AuthConfig, AuthOptions, SNICallback } from "../auth/connection-auth.js";
import { checkCredentialTypes } from "../auth/secure-context.js";
import { kAuth, wrapUserError } from "../auth/connection-auth.js";
import { mlsTlsError } from "../errors.js";
import type { ClientHelloInfo } from "../protocol/index.js";
import type { CheckServerIdentity, PeerCertificateObject } from "../auth/verify.js";
import { type SessionStore, decryptSession } from "../sessions/store.js";
import { codeError, invalidArgType } from "./node-errors.js";
import type { UpdatePolicy } from "./update-policy.js";

/** ALPN protocols as node:tls accepts them: names, or the RFC 7301 wire format in one buffer. */
export type AlpnProtocols = readonly (string | Uint8Array)[] | Uint8Array;

/** node:tls's default handshake timeout. */
export const DEFAULT_HANDSHAKE_TIMEOUT = 120_000;

/**
 * Options shared by clients, servers and `new MlsTlsSocket()`. Authentication (key, cert, passphrase, ca,
 * identity, secureContext, rejectUnauthorized, fingerprints, verifyPeer, allowIdentityRotation, validatePeer) is
 * described in AuthOptions (lib/secure-context.ts).
 */
export interface MlsTlsCommonOptions extends AuthOptions {
  /**
   * MLS ciphersuites: names or ids, colon-separated like node's `ciphersuites`. The client offers the first its
   * identity can sign for; the server accepts those its identities can sign for.
   */
  ciphersuites?: string | number | readonly (string | number)[];
  ALPNProtocols?: AlpnProtocols;
  /** Default DEFAULT_AUTO_CONNECTION_UPDATE; false disables. */
  autoConnectionUpdate?: UpdatePolicy | false;
  /** Default DEFAULT_AUTO_KEY_UPDATE; false disables. The AES-GCM record limit is enforced regardless. */
  autoKeyUpdate?: UpdatePolicy | false;
  /** Default false, as in net and tls. */
  allowHalfOpen?: boolean;
  highWaterMark?: number;
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
  /** Aborting destroys the socket with an AbortError (code ABORT_ERR). */
  signal?: AbortSignal;
}

/**
 * Client sessions (resumption, draft §4.5). A session is live MLS group state that changes with every epoch, and
 * it holds private keys: keep it like one, or give `sessionKey`.
 */
export interface ClientSessionOptions {
  /** A 'session' event's Buffer (or getSession()'s) from an earlier connection to the same server: resume it. */
  session?: Uint8Array;
  /**
   * 32 bytes: 'session' Buffers are encrypted with it (AES-256-GCM) and `session` is decrypted with it. A session
   * that does not decrypt throws ERR_MLSTLS_BAD_SESSION from connect().
   */
  sessionKey?: Uint8Array;
  /**
   * Durable storage of the session: called with every 'session' Buffer and awaited before the message that depends
   * on it is sent (write-ahead). A rejection fails the connection with that error. Without it, 'session' listeners
   * run synchronously at the same points, which suffices for in-memory storage.
   */
  saveSession?: (session: Buffer) => void | Promise<void>;
  /**
   * When the server refuses the session (alert unknown_psk_identity: it no longer has it, or it is too far from
   * the server's state), or the stored server credential no longer verifies: true (default) makes a full
   * handshake on a new TCP/IPC connection, transparently; false fails with the error. Sockets over a caller's
   * stream (`socket`) cannot reconnect and always fail.
   */
  sessionFallback?: boolean;
}

/** connect()'s way to open a fresh transport to the same destination, for the session fallback. */
export const kReconnect = Symbol("mlstls.reconnect");
/** Set by the server's acceptor on the sockets it makes (see MlsTlsSocket.accepted). */
export const kAccepted = Symbol("mlstls.accepted");

export interface MlsTlsSocketOptions extends MlsTlsCommonOptions, ClientSessionOptions {
  isServer?: boolean;
  /**
   * Server sockets: where sessions live, found by MLS group id. Sockets sharing a store serve one live connection
   * per session. A Server passes its own; without one a server socket keeps no sessions and refuses resumptions.
   */
  sessionStore?: SessionStore;
  /** Server sockets: pre-handshake errors go to this server's 'tlsClientError', keylog lines to its 'keylog'. */
  server?: net.Server;
  /** Client: the server name sent in the ClientHello, and the name the server's certificate must match. */
  servername?: string;
  /** Client: the hostname check for X.509 servers. Default tls.checkServerIdentity. */
  checkServerIdentity?: CheckServerIdentity;
  /** Server: verify X.509 client certificates. Default false. */
  requestCert?: boolean;
  /** Server: chooses the identity (an mlstls SecureContext) for the client's server_name. */
  SNICallback?: SNICallback;
  /** Server: like node's ALPNCallback; returning undefined rejects the client with no_application_protocol. */
  ALPNCallback?: (arg: { servername: string | undefined; protocols: string[] }) => string | undefined;
  /** Server sockets: ms until an unfinished handshake fails with ERR_TLS_HANDSHAKE_TIMEOUT. 0: none. */
  handshakeTimeout?: number;
  /** net.Socket's static-buffer reads: data goes to onread.callback instead of 'data' events. */
  onread?: OnReadOptions;
  /** Client sockets made by connect(): the properties of node's ECONNRESET error. */
  connectTarget?: ConnectTarget;
  /** The configuration resolved by a Server or connect(), so it is parsed once rather than per socket. */
  [kAuth]?: AuthConfig;
  [kReconnect]?: () => Duplex;
  /** Accepted by an mlstls server: a failed handshake is its 'tlsClientError', not the socket's 'error'. */
  [kAccepted]?: true;
}

export interface ConnectionUpdateEvent {
  epoch: bigint;
  initiatedBy: "local" | "peer";
}

export interface KeyUpdateEvent {
  direction: "send" | "receive";
  /** The KeyUpdate asked the other side to update too. */
  requested: boolean;
  /** Sent by policy (autoKeyUpdate or the AEAD limit), not by a keyUpdate() call or a peer request. */
  automatic: boolean;
}

/**
 * What getPeerCertificate() and getCertificate() return: node's certificate object for X.509 credentials
 * (exactly as node:tls builds it), a BasicPeerCertificate (credentialType "basic") for pinned keys, {} if none.
 */
export type MlsPeerCertificate = PeerCertificateObject | Record<string, never>;

/** What connect() records for node's ECONNRESET error properties. */
export interface ConnectTarget {
  host?: string;
  port?: number;
  path?: string;
  localAddress?: string;
}


/** The onread option of net.Socket: data lands in one buffer of the caller's and goes to `callback`. */
export interface OnReadOptions {
  buffer: Uint8Array | (() => Uint8Array);
  /** Returning false pauses the socket, as in net. */
  callback: (bytesWritten: number, buffer: Uint8Array) => boolean | void;
}

/** A store as the sessionStore option needs it. */
export function checkSessionStore(store: unknown, name = "sessionStore"): asserts store is SessionStore {
  const s = store as Partial<SessionStore> | null;
  if (s === null || typeof s !== "object" || typeof s.get !== "function" || typeof s.set !== "function" || typeof s.delete !== "function") {
    throw codeError("ERR_INVALID_ARG_VALUE", `${name} must be an object with get, set and delete methods`, {}, TypeError);
  }
}

/** The session to resume, decrypted; throws for a bad `session` or `sessionKey` (as node throws for a bad session). */
export function clientSessionOf(o: ClientSessionOptions): Uint8Array | undefined {
  const key = o.sessionKey;
  if (key !== undefined && (!(key instanceof Uint8Array) || key.length !== 32)) {
    throw codeError("ERR_INVALID_ARG_VALUE", "sessionKey must be a 32-byte Buffer or Uint8Array", {}, TypeError);
  }
  if (o.saveSession !== undefined && typeof o.saveSession !== "function") throw invalidArgType("options.saveSession", "of type function", o.saveSession);
  const s = o.session;
  if (s === undefined || s === null) return undefined;
  if (!(s instanceof Uint8Array)) throw invalidArgType("options.session", "an instance of Buffer or Uint8Array", s);
  return key === undefined ? Uint8Array.from(s) : decryptSession(s, key);
}

/**
 * A server's ALPNCallback as the engine's chooser: called on the socket, as node calls it (so that it can
 * setKeyCert()); undefined refuses the offer (no_application_protocol), a protocol the client did not offer is node's
 * ERR_TLS_ALPN_CALLBACK_INVALID_RESULT, reaching 'tlsClientError' as the application's own error.
 */
export function alpnSelector(
  callback: NonNullable<MlsTlsSocketOptions["ALPNCallback"]>,
  socket: object,
): (info: ClientHelloInfo) => string | null {
  return (info) => {
    const chosen = callback.call(socket, { servername: info.serverName, protocols: info.alpnProtocols });
    if (chosen === undefined) throw mlsTlsError("ERR_MLSTLS_NO_APPLICATION_PROTOCOL", "ALPNCallback rejected the offered protocols");
    if (!info.alpnProtocols.includes(chosen)) {
      const err = codeError(
        "ERR_TLS_ALPN_CALLBACK_INVALID_RESULT",
        `ALPN callback returned a value (${String(chosen)}) that did not match any of the client's offered protocols (${info.alpnProtocols.join(", ")})`,
        {},
        TypeError,
      );
      throw wrapUserError(err, "ALPNCallback", "ERR_MLSTLS_INTERNAL");
    }
    return chosen;
  };
}

/** Converts node's ALPNProtocols forms (names, buffers, wire format) to names. */
export function alpnNames(p: AlpnProtocols | undefined): string[] | undefined {
  if (p === undefined || p === null) return undefined;
  if (p instanceof Uint8Array) {
    const out: string[] = [];
    for (let i = 0; i < p.length; ) {
      const n = p[i]!;
      if (n === 0 || i + 1 + n > p.length) {
        throw codeError("ERR_INVALID_ARG_VALUE", "ALPNProtocols: malformed wire-format protocol list", {}, TypeError);
      }
      out.push(Buffer.from(p.subarray(i + 1, i + 1 + n)).toString("latin1"));
      i += 1 + n;
    }
    return out;
  }
  if (!Array.isArray(p)) throw invalidArgType("options.ALPNProtocols", "an instance of Array, Buffer, TypedArray, or DataView", p);
  return p.map((x: unknown) => {
    if (typeof x === "string") return x;
    if (x instanceof Uint8Array) return Buffer.from(x).toString("latin1");
    throw invalidArgType("options.ALPNProtocols", "an array of strings or Buffers", p);
  });
}

const CREDENTIAL_KEYS = ["key", "cert", "ca", "pfx", "passphrase"] as const;

/**
 * node:tls treats every falsy key/cert/ca/pfx/passphrase (false, 0, "", null) as absent, and creates a server
 * with a certificate but no key (or a key but no certificate) that then fails its handshakes. We accept the
 * same options; the half credential is dropped with a warning, since MLS needs both halves or neither.
 */
export function nodeCredentialOptions<T extends object>(o: T): T {
  // node checks the types of ca, cert and key first, so `key: true` throws even when the cert is absent.
  const out = checkCredentialTypes(o) as Record<string, unknown>;
  for (const k of CREDENTIAL_KEYS) {
    const v = out[k];
    if (k in out && v !== undefined && !v) delete out[k];
  }
  const hasKey = out.key !== undefined;
  const hasCert = out.cert !== undefined;
  // A key with no `cert` at all keeps mlstls's error, which points to `identity` (a key without a certificate);
  // a key whose cert is explicitly falsy, and a cert without a key, are accepted as node accepts them.
  const keyWithFalsyCert = hasKey && "cert" in (o as object) && (o as { cert?: unknown }).cert !== undefined;
  if (hasKey !== hasCert && (hasCert || keyWithFalsyCert) && out.identity === undefined && out.secureContext === undefined) {
    const [given, missing] = hasKey ? ["key", "cert"] : ["cert", "key"];
    process.emitWarning(
      `${given} is set but ${missing} is not: the ${given} is ignored and this endpoint has no certificate ` +
        `(node:tls accepts the option too, and its handshakes then fail)`,
      { type: "MlsTlsWarning", code: "MLSTLS_HALF_CREDENTIAL" },
    );
    delete out[given];
  }
  return out as T;
}

/**
 * The server_name to put on the wire for a client's `servername`, as node's callers expect it to work: "" (what
 * https.Agent passes for IP hosts) sends none; a fully qualified "localhost." is sent without its final dot, and
 * internationalised names in their ASCII (punycode) form, as RFC 6066 requires. The socket's `servername`
 * property keeps the name as given.
 */
export function wireServerName(name: string | undefined): string | undefined {
  if (name === undefined || name === "") return undefined;
  let n = name.endsWith(".") ? name.slice(0, -1) : name;
  if (!/^[\x21-\x7e]*$/.test(n)) n = domainToASCII(n);
  return n === "" ? undefined : n;
}
