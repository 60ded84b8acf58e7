// What a protocol engine is given and what it gives back (connection.ts): its options, the identity it is handed
// or asks for, and the events and bytes it emits. Types only, so the I/O layer and tests can name them without
// the engine's internals.

import type { MlsTlsError } from "../errors.js";
import type { AeadBackend } from "./records/aead.js";
import type { CredentialValidator, LocalIdentity, MlsCrypto } from "../mls/index.js";

export type Role = "initiator" | "responder";

export type ConnectionEvent =
  /** Initiator: after the Welcome was joined and key confirmation sent. Responder: after key confirmation arrived. */
  | { type: "handshake" }
  | { type: "data"; data: Uint8Array }
  /** The peer sent close_notify: no more data will arrive. */
  | { type: "end" }
  /** A new MLS epoch is in place in both directions. */
  | { type: "connectionUpdate"; epoch: bigint; initiatedBy: "local" | "peer" }
  /** A TLS KeyUpdate ratcheted one direction. */
  | { type: "keyUpdate"; direction: "send" | "receive"; requested: boolean; automatic: boolean }
  /** NSS key log line (only with `keylog: true`). */
  | { type: "keylog"; line: string }
  /** Fatal: the connection is dead. Emitted once. */
  | { type: "error"; error: MlsTlsError };

export interface ConnectionCallbacks {
  /** Bytes to write to the transport, in order. */
  send(bytes: Uint8Array): void;
  event(ev: ConnectionEvent): void;
}

export type IdentitySource =
  | LocalIdentity
  | ((ctx: IdentityContext) => LocalIdentity | Promise<LocalIdentity>);

/**
 * What an identity callback learns of the connection. `binding` (32 bytes) is what a per-connection delegation
 * is bound to (PROTOCOL.md, "RSA certificates: per-connection delegation"): the initiator's ClientHello random, or
 * for the responder the SHA-256 of the opening transcript (ClientHello, RetryRequest, second ClientHello).
 */
export interface IdentityContext {
  suite: number;
  serverName?: string;
  binding?: Uint8Array;
  /**
   * Responder: the initiator's MLS signature key. RFC 9420 forbids two leaves with one signature key, so a server
   * whose own key this is answers with a delegated one (PROTOCOL.md, "One key on both ends").
   */
  peerKey?: Uint8Array;
}

/**
 * Told what the peer's credential must be bound to: on a full handshake, before the peer's opening credential is
 * validated, the suite and the 32-byte binding of the peer's role (see IdentityContext); on a resumption, that the
 * credentials come from a stored session (their binding was checked when it was made).
 */
export interface PeerBinding {
  /** `ownKey`: our MLS signature public key on this connection (a server that shares our key delegates to it). */
  opening(o: { suite: number; context: Uint8Array; ownKey?: Uint8Array }): void;
  resumed(o?: { ownKey?: Uint8Array }): void;
}

export interface ConnectionOptions {
  /** MLS suites: the initiator offers the first; the responder accepts any listed. Default DEFAULT_SUITES. */
  suites?: readonly number[];
  /** Our MLS identity. Default: a fresh anonymous basic credential per connection. */
  identity?: IdentitySource;
  /** Called for every credential the peer presents (handshake and every commit). */
  validatePeer?: CredentialValidator;
  /** Told the connection's binding before validatePeer sees the peer's opening credential. */
  peerBinding?: PeerBinding;
  /**
   * Whether a commit may change the peer's credential identity (PROTOCOL.md, "The ConnectionUpdate policy"). Default
   * false.
   */
  allowIdentityChange?: boolean;
  aeadBackend?: AeadBackend;
  /** Records per traffic key before an automatic KeyUpdate (default: the AEAD's safe limit). */
  aeadLimit?: bigint;
  /** Cap on consecutive post-handshake handshake messages received without application data. Default 64. */
  maxHandshakeMessagesWithoutData?: number;
  /** Emit NSS key log lines as 'keylog' events. Off by default: they are secrets. */
  keylog?: boolean;
  /** Randomness source (tests inject a deterministic one). */
  randomBytes?: (n: number) => Uint8Array;
  /** The MLS crypto provider, random source and clock of this engine. Default: node:crypto (DEFAULT_MLS_CRYPTO). */
  mlsCrypto?: MlsCrypto;
  /**
   * Awaited before each expensive step (ClientHello, ServerHello, Resumption, ConnectionUpdate; our KeyPackages), so
   * the I/O layer can spread a burst of steps over event-loop turns (lib/node/loop-budget.ts). The core uses no
   * timers itself. Default: none (steps run as soon as their input is there).
   */
  yieldToLoop?: () => Promise<void>;
  /**
   * Runs `task` later, once the I/O layer's loop comes back (the node layer: setImmediate). The engine uses it to
   * keep an idle connection's MLS state compact (encoded, MlsSession.compact()) after its queue ran empty. The
   * core uses no timers itself. Default: none (the state stays as ts-mls objects).
   */
  deferIdle?: (task: () => void) => void;
  /**
   * Receives one line per protocol event (NODE_DEBUG=mlstls; README, "Debugging a connection"): messages sent and
   * received, states, epochs, updates and their races, resumption repairs, alerts with their reasons, record counts.
   * Never a secret or application data. Default: none (and no line is even formatted).
   */
  trace?: (line: string) => void;
}
