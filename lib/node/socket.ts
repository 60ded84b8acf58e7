// MlsTlsSocket: the stream.Duplex that node:tls users see, a thin adapter between a transport (usually a TCP
// net.Socket) and the sans-I/O engine. Transport bytes go to engine.receive(); engine output goes to the
// transport; decrypted data is pushed to the readable side; writes are coalesced into full records. This file is the
// socket's life: handshake, data path, updates and close. Its node:tls query surface (getCipher,
// getPeerCertificate, ...) is tls-socket-surface.ts, its net.Socket half transport-socket.ts.
//
// Lifecycle rules that keep it a drop-in for tls.TLSSocket (see README "Migrating from node:tls"):
// - Writes before the handshake are held and flushed once the engine is established.
// - A write callback runs only once the transport accepted the ciphertext of that write.
// - end() sends close_notify, then FIN. A FIN without close_notify ends the socket as in node:tls (no 'error'),
//   with `truncated` set.
// - Before the handshake, errors on server sockets go to the server's 'tlsClientError'; client sockets get node's
//   ECONNRESET "Client network socket disconnected before secure TLS connection was established".

import type * as net from "node:net";
import { Socket as NetSocket } from "node:net";
import type { Duplex } from "node:stream";
import { debuglog } from "node:util";
import { MlsTlsError } from "../errors.js";
import {
  type ConnectionCallbacks,
  type ConnectionEvent,
  Initiator,
  MAX_PLAINTEXT,
  Responder,
  type SessionPersistence,
  releaseRecord,
} from "../protocol/index.js";
import { type AuthConfig, clientAuth, kAuth, serverAuth, wrapUserError } from "../auth/connection-auth.js";
import { refusedSession, registryFor, sessionBuffer } from "./client-sessions.js";
import { asServerError } from "./openssl-errors.js";
import { explainClientHandshakeError, explainUntrusted, surface, surfaceRejection } from "./handshake-errors.js";
import { AbortError, codeError, invalidArgType } from "./node-errors.js";
import {
  type ConnectionUpdateEvent,
  type KeyUpdateEvent,
  type MlsTlsSocketOptions,
  alpnNames,
  alpnSelector,
  checkSessionStore,
  clientSessionOf,
  kAccepted,
  kReconnect,
  wireServerName,
} from "./options.js";
import { UpdatePolicies } from "./update-policy.js";
import { deferIdle, yieldToLoop } from "./loop-budget.js";
import { type Chunk, sealChunks } from "./write-path.js";
import type { Transport } from "./transport-socket.js";
import { TlsSocketSurface } from "./tls-socket-surface.js";

// The option types and the update defaults were defined here before; they stay importable from this module.
export * from "./options.js";
export { DEFAULT_AUTO_CONNECTION_UPDATE, DEFAULT_AUTO_KEY_UPDATE, type UpdatePolicy } from "./update-policy.js";

/** NODE_DEBUG=mlstls (README, "Debugging a connection"). */
const traceLog = debuglog("mlstls");

/** How long a closing transport may take to flush our last records before it is destroyed. */
const LINGER_MS = 2_000;
/**
 * Received bytes the engine may hold unprocessed (README "Limits and their defaults"): 256 KiB plus one
 * protected record (5-byte header + 2^14 + 256), so a full record always fits on top of a busy queue.
 */
export const MAX_QUEUED_INPUT = 256 * 1024 + 5 + MAX_PLAINTEXT + 256;

type WriteCallback = (error?: Error | null) => void;


function ignore(): void {}

function destroyedError(): Error {
  return codeError("ERR_STREAM_DESTROYED", "Cannot call write after a stream was destroyed");
}

export class MlsTlsSocket extends TlsSocketSurface {

  /** The server for 'keylog' (and 'tlsClientError' when it accepted us); `server` may be reassigned (node's http does). */
  private readonly owner: net.Server | undefined;
  /**
   * Whether an mlstls server accepted this socket. Only then does a failed handshake go to the server's
   * 'tlsClientError'; a TLSSocket made by hand with `server:` reports it on its own 'error', as node's does.
   */
  private readonly accepted: boolean;
  private readonly auth: AuthConfig;
  private readonly alpn: string[] | undefined;
  private engineFailed = false;
  private tlsErrorEmitted = false;
  private eofPushed = false;
  private transportEof = false;
  private pausedTransport = false;
  /** The transport is paused because the engine holds MAX_QUEUED_INPUT unprocessed bytes; resumed when it is idle. */
  private inputHeld = false;
  /** The write held back until the handshake completes. */
  private held: { chunks: Chunk[]; cb: WriteCallback } | undefined;
  /** The write whose ciphertext the transport has not accepted yet. */
  private inflight: { cb: WriteCallback; bytes: number } | undefined;
  /** Collects engine output during a synchronous write, so the batch goes out in one corked write. */
  private batch: Uint8Array[] | undefined;
  private corkedForTick = false;
  private afterSecure: (() => void)[] = [];
  private handshakeTimer: NodeJS.Timeout | undefined;
  private readonly updates = new UpdatePolicies(() => this.engine);
  /** Server: this connection's hold on its session in the store. */
  private persistence: (SessionPersistence & { release(): void }) | undefined;
  private connectEmitted = false;
  /** A server's failed handshake: close the transport once our alert is out, not after the peer's FIN. */
  private abortiveClose = false;
  /** The epoch when the engine last changed it or was stopped, for `epoch` after close. */
  private lastEpoch: bigint | undefined;
  private readonly onAbort: (() => void) | undefined;
  /** Our transport listeners, removed on destroy so a lingering transport does not keep this socket alive. */
  private readonly transportListeners = {
    error: (err: Error): void => this.onTransportError(err),
    close: (): void => this.onTransportClose(),
    data: (chunk: Buffer): void => this.onTransportData(chunk),
    end: (): void => this.onTransportEof(),
    connect: (): void => {
      if (this.destroyed) return;
      // As in start(): now that the handle has them, so that they stay readable after the transport is gone.
      void this.transport.remoteAddress;
      void this.transport.localAddress;
      // Once per socket: the new connection of a session fallback is not announced again.
      if (!this.connectEmitted) {
        this.connectEmitted = true;
        this.emit("connect");
        this.emit("ready");
      }
      this.start();
    },
  };

  constructor(transport?: Duplex | null, options: MlsTlsSocketOptions = {}) {
    if (options === null || typeof options !== "object") throw invalidArgType("options", "of type object", options);
    if (transport !== undefined && transport !== null && typeof (transport as Duplex).write !== "function") {
      throw invalidArgType("socket", "an instance of stream.Duplex", transport);
    }
    // As node's TLSSocket: without a socket, one is made here and connected later with connect().
    const own = transport === undefined || transport === null;
    const t: Duplex = own ? new NetSocket({ allowHalfOpen: true }) : transport;
    // As node: a stream given by the caller brings its own allowHalfOpen and the option is ignored; the option
    // applies to a socket made here (and our server and connect() pass their own choice).
    // Made by hand (`new TLSSocket(...)`), not by connect() or a server, which pass their resolved configuration.
    const handMade = options[kAuth] === undefined;
    const userStream = !own && handMade;
    const userNetSocket = userStream && t instanceof NetSocket;
    super(
      t,
      {
        allowHalfOpen: userStream ? (t as Duplex).allowHalfOpen === true : options.allowHalfOpen === true,
        // 'close' is emitted by _destroy with node's hadError argument.
        emitClose: false,
        autoDestroy: true,
        decodeStrings: true,
        highWaterMark: options.highWaterMark,
        readableHighWaterMark: options.readableHighWaterMark,
        writableHighWaterMark: options.writableHighWaterMark,
      },
      options,
    );
    if (userNetSocket) (t as NetSocket).allowHalfOpen = true;
    this.owner = options.server;
    this.accepted = options[kAccepted] === true;
    // Configuration errors surface here, synchronously, not at the first handshake.
    this.auth = options[kAuth] ?? (this.isServer ? serverAuth(options) : clientAuth(options));
    this.alpn = alpnNames(options.ALPNProtocols);
    if (this.isServer) {
      if (options.sessionStore !== undefined) checkSessionStore(options.sessionStore);
    } else {
      this.resumeFrom = clientSessionOf(options);
    }

    // As node's TLSSocket made by hand (not by connect() or a server, which hand their sockets over to the caller):
    // its errors are also emitted as '_tlsError', and one that nobody listens for does not throw.
    if (handMade) this.on("error", (err: Error) => this.emit("_tlsError", err));

    // As in node:tls, a 'keylog' listener added at any time turns key logging on from then on.
    this.on("newListener", (event: string | symbol) => {
      if (event === "keylog") this.engine?.setKeylog(true);
    });

    t.on("error", this.transportListeners.error);
    t.on("close", this.transportListeners.close);
    if (this.transport.connecting === true || (t instanceof NetSocket && t.pending && !t.destroyed)) {
      // Connecting, or not connected yet (connect() will): the handshake starts once it is.
      t.once("connect", this.transportListeners.connect);
      // A client on its own connection (mlstls.connect()) makes its ClientHello (KeyPackages: key pairs and
      // signatures) while TCP connects instead of after: the transport queues it until connected, and the
      // handshake gains up to a round trip (issue 11). Deferred as below, for listeners attached right after.
      if (!this.isServer && this.transport.connecting === true && options[kReconnect] !== undefined) {
        process.nextTick(() => this.start());
      }
    } else {
      // Deferred so that listeners attached right after construction (e.g. 'keylog') are in place.
      process.nextTick(() => this.start());
    }

    const signal = options.signal;
    if (signal !== undefined) {
      const onAbort = (): void => {
        this.destroy(new AbortError(signal.reason));
      };
      this.onAbort = onAbort;
      if (signal.aborted) process.nextTick(onAbort);
      else signal.addEventListener("abort", onAbort, { once: true });
    }
  }

  // ------------------------------------------------------------------ MLS additions

  /** The current MLS epoch; undefined before the handshake. */
  get epoch(): bigint | undefined {
    if (!this.secure) return undefined;
    const engine = this.engine;
    // A dead engine has wiped its MLS state: report the epoch it had (still available after close, as getPeerCertificate()).
    return engine !== undefined && engine.failed === undefined ? engine.epoch : this.lastEpoch;
  }

  /** An MLS commit (post-compromise security); resolves once both sides are in the new epoch. */
  connectionUpdate(): Promise<void> {
    return this.whenSecure()
      .then((engine) => engine.connectionUpdate())
      .catch(surfaceRejection);
  }

  /** A TLS 1.3 KeyUpdate (forward secrecy); with requestPeer, resolves once the peer's answer arrived. */
  keyUpdate(options: { requestPeer?: boolean } = {}): Promise<void> {
    return this.whenSecure()
      .then((engine) => engine.keyUpdate({ requestPeer: options.requestPeer === true }))
      .catch(surfaceRejection);
  }

  // ------------------------------------------------------------------ stream.Duplex implementation

  override _read(): void {
    if (this.pausedTransport) {
      this.pausedTransport = false;
      if (!this.inputHeld) this.transport.resume();
    }
  }

  // With onread nothing is ever pushed, so _read() is not called again: pause() and resume() stop and restart
  // reading from the transport themselves, as net's do with onread.
  override pause(): this {
    super.pause();
    if (this.opts.onread !== undefined && !this.pausedTransport && this.secure) {
      this.pausedTransport = true;
      this.transport.pause();
    }
    return this;
  }

  override resume(): this {
    super.resume();
    if (this.opts.onread !== undefined) this._read();
    return this;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: WriteCallback): void {
    this.writeChunks([{ chunk }], cb);
  }

  override _writev(chunks: Chunk[], cb: WriteCallback): void {
    this.writeChunks(chunks, cb);
  }

  override _final(cb: WriteCallback): void {
    const finish = (): void => {
      const engine = this.engine!;
      this.updates.stop();
      if (engine.failed !== undefined) {
        cb(engine.failed);
        return;
      }
      engine.close();
      const t = this.transport;
      if (t.destroyed || t.writableEnded) {
        cb();
        return;
      }
      t.end(() => cb());
    };
    if (this.secure) finish();
    else this.afterSecure.push(finish);
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    clearTimeout(this.idleTimer);
    clearTimeout(this.handshakeTimer);
    this.idleTimer = undefined;
    this.updates.stop();
    this.afterSecure = [];
    if (this.onAbort !== undefined) this.opts.signal?.removeEventListener("abort", this.onAbort);

    const held = this.held;
    this.held = undefined;
    held?.cb(err ?? destroyedError());
    // An abort fails the write in flight now; otherwise it completes when the transport has flushed it.
    if (err !== null && !this.engineFailed && this.inflight !== undefined) {
      const f = this.inflight;
      this.inflight = undefined;
      f.cb(err);
    }

    const engine = this.engine;
    // Flush when there is something the peer should still read: our fatal alert, or a clean goodbye. A peer that
    // does not speak TLS gets nothing: its connection is dropped at once, unread input and all, as node's is.
    const flush = (this.engineFailed && engine?.failed?.code !== "ERR_MLSTLS_NOT_TLS") || (err === null && this.secure);
    if (engine !== undefined) {
      if (this.secure && engine.failed === undefined) this.lastEpoch = engine.epoch;
      // A graceful destroy() says goodbye with close_notify, so the peer sees a clean end rather than truncation.
      if (err === null && this.secure && engine.failed === undefined && !engine.isWriteClosed) engine.close();
      engine.destroy(err ?? undefined);
    }
    const persistence = this.persistence;
    this.persistence = undefined;
    // The session is free for a resumption once this engine's last store write is done.
    if (persistence !== undefined) void (engine?.whenIdle() ?? Promise.resolve()).then(() => persistence.release());
    this.closeTransport(flush);
    cb(err);
    const hadError = err !== null;
    // After the 'error' that destroy() schedules from cb(err), as net.Socket orders them.
    process.nextTick(() => this.emit("close", hadError));
  }

  // ------------------------------------------------------------------ internals

  private whenSecure(): Promise<Initiator | Responder> {
    if (this.destroyed) {
      return Promise.reject(this.engine?.failed ?? new MlsTlsError("ERR_MLSTLS_CLOSED", "socket is destroyed"));
    }
    if (this.secure) return Promise.resolve(this.engine!);
    return new Promise((resolve, reject) => {
      const onClose = (): void => reject(this.engine?.failed ?? new MlsTlsError("ERR_MLSTLS_CLOSED", "socket closed before the handshake completed"));
      this.once("close", onClose);
      this.afterSecure.push(() => {
        this.removeListener("close", onClose);
        resolve(this.engine!);
      });
    });
  }

  /** NODE_DEBUG=mlstls: one line per protocol event, tagged with this connection's addresses. */
  private traceTo(): (line: string) => void {
    const t = this.transport;
    // Read per line: a client's engine starts while its transport is still connecting (no addresses yet).
    return (line) => traceLog("%s %s", `${t.localPort ?? "?"}>${t.remoteAddress ?? "?"}:${t.remotePort ?? "?"}`, line);
  }

  private start(): void {
    // net.Socket learns its addresses from the live handle and keeps them once asked: ask now, so that they stay
    // readable after a failed handshake destroyed the transport (a 'tlsClientError' listener logs them).
    void this.transport.remoteAddress;
    void this.transport.localAddress;
    if (this.destroyed || this.engine !== undefined) return;
    const o = this.opts;
    const keylog = this.listenerCount("keylog") > 0 || (this.owner?.listenerCount("keylog") ?? 0) > 0;
    const auth = this.auth.connection();
    this.validator = auth.validator;
    this.noIdentity = auth.identity === undefined;
    // setKeyCert() can still choose the identity: already called, or (node's use) from a server's ALPNCallback.
    const late = this.keyCert.isSet || (this.isServer && o.ALPNCallback !== undefined);
    const common = {
      suites: auth.suites,
      identity: late ? this.keyCert.wrap(auth.identity, this.isServer ? "server" : "client") : auth.identity,
      servableSuites: late ? this.keyCert.servable(auth.identity, auth.servableSuites) : auth.servableSuites,
      validatePeer: auth.validatePeer,
      // What a delegated peer credential must be bound to (PROTOCOL.md, "RSA certificates: per-connection delegation").
      peerBinding: auth.validator,
      // The validator keeps the peer's identity stable (renewed certificates continue it); the engine's own check
      // compares credentials byte for byte and would refuse every renewal before the validator saw it.
      allowIdentityChange: true,
      keylog,
      yieldToLoop,
      deferIdle,
      trace: traceLog.enabled ? this.traceTo() : undefined,
    };
    // After a session fallback, the failed engine is not ours any more: nothing of it may reach the new transport.
    let engine: Initiator | Responder | undefined;
    const cb: ConnectionCallbacks = {
      send: (bytes) => {
        if (this.engine === engine) this.onEngineSend(bytes);
      },
      event: (ev) => {
        if (this.engine !== engine) return;
        try {
          this.onEngineEvent(ev);
        } catch (e) {
          // A throwing user listener must not become a protocol failure: surface it as node would, uncaught.
          process.nextTick(() => {
            throw e;
          });
        }
      },
    };
    if (this.isServer) {
      const selectAlpn = o.ALPNCallback === undefined ? undefined : alpnSelector(o.ALPNCallback, this);
      const store = o.sessionStore;
      if (store !== undefined) {
        this.persistence = registryFor(store).persistenceFor({
          replace: () => this.replaceBySession(),
          storeError: (err) => this.owner?.emit("sessionStoreError", err, this),
        });
      }
      engine = new Responder({ ...common, alpnProtocols: this.alpn, selectAlpn, sessions: this.persistence }, cb);
      this.engine = engine;
      const ms = o.handshakeTimeout ?? 0;
      if (ms > 0 && Number.isFinite(ms)) {
        this.handshakeTimer = setTimeout(() => {
          this.failHandshake(codeError("ERR_TLS_HANDSHAKE_TIMEOUT", "TLS handshake timeout"));
        }, ms).unref();
      }
    } else {
      const initiator: Initiator = new Initiator(
        {
          ...common,
          serverName: wireServerName(this.sniOverride ?? o.servername),
          alpnProtocols: this.alpn,
          session: this.resumeFrom,
          saveSession: (blob) => this.onSession(blob, initiator),
        },
        cb,
      );
      engine = initiator;
      this.engine = engine;
    }
    if (this.maxFragment !== MAX_PLAINTEXT) engine.setMaxSendFragment(this.maxFragment);
    this.transport.on("data", this.transportListeners.data);
    this.transport.on("end", this.transportListeners.end);
    if (this.engine instanceof Initiator) this.engine.start();
  }

  private onTransportData(chunk: Buffer): void {
    if (this.destroyed) return;
    this.idleTimer?.refresh();
    const engine = this.engine!;
    // Input backpressure: a busy engine (MLS work) queues what arrives, so a flooding peer could make it hold
    // unbounded input. Give it only up to the cap; the rest goes back to the transport, paused until the engine
    // is idle again. Nothing is lost, and the transport stops reading from the kernel (TCP flow control).
    const room = MAX_QUEUED_INPUT - engine.queuedInput;
    if (chunk.length <= room) {
      engine.receive(chunk);
      return;
    }
    if (room > 0) engine.receive(chunk.subarray(0, room));
    const t = this.transport;
    t.pause();
    t.unshift(chunk.subarray(Math.max(room, 0)));
    if (this.inputHeld) return;
    this.inputHeld = true;
    void engine.whenIdle().then(() => {
      this.inputHeld = false;
      // Only our own transport, still attached (closeTransport() takes over), and not paused for the reader (_read()).
      if (this.transport !== t || this.destroyed || this.pausedTransport) return;
      if (t.listeners("data").includes(this.transportListeners.data)) t.resume();
    });
  }

  private onEngineSend(bytes: Uint8Array): void {
    if (this.batch !== undefined) {
      this.batch.push(bytes);
      return;
    }
    const t = this.transport;
    if (t.destroyed || t.writableEnded) return;
    this.idleTimer?.refresh();
    // Engine messages from one task (e.g. EpochKeyUpdate then ConnectionUpdate) leave in one syscall.
    if (!this.corkedForTick) {
      this.corkedForTick = true;
      t.cork();
      process.nextTick(() => {
        this.corkedForTick = false;
        this.guardTransport(() => t.uncork());
      });
    }
    this.guardTransport(() => t.write(bytes));
  }

  private onEngineEvent(ev: ConnectionEvent): void {
    switch (ev.type) {
      case "data": {
        if (this.destroyed || this.eofPushed) return;
        const d = ev.data;
        this.plainRead += d.length;
        if (this.opts.onread !== undefined) {
          this.deliverOnread(d);
          return;
        }
        if (!this.push(Buffer.from(d.buffer, d.byteOffset, d.length)) && !this.pausedTransport) {
          this.pausedTransport = true;
          this.transport.pause();
        }
        return;
      }
      case "handshake":
        this.onSecure();
        return;
      case "end":
        if (this.eofPushed || this.destroyed) return;
        this.pushEof();
        return;
      case "keyUpdate": {
        if (ev.direction === "send") this.updates.onNewSendKeys();
        const out: KeyUpdateEvent = {
          direction: ev.direction,
          requested: ev.requested,
          automatic: ev.automatic || this.updates.policyKeyUpdate,
        };
        this.emit("keyUpdate", out);
        return;
      }
      case "connectionUpdate": {
        this.lastEpoch = ev.epoch;
        // The peer's new leaf was verified again: a renewal may change the verdict (rejectUnauthorized: false).
        this.recordVerdict();
        // A new epoch means new send keys as well.
        this.updates.onConnectionUpdate(ev.initiatedBy);
        const out: ConnectionUpdateEvent = { epoch: ev.epoch, initiatedBy: ev.initiatedBy };
        this.emit("connectionUpdate", out);
        return;
      }
      case "keylog": {
        const line = Buffer.from(ev.line, "latin1");
        this.emit("keylog", line);
        if (this.isServer) this.owner?.emit("keylog", line, this);
        return;
      }
      case "error":
        this.engineFailed = true;
        if (this.secure) this.destroy(surface(ev.error));
        else if (ev.error.remote && ev.error.code === "ERR_MLSTLS_CLOSED") this.failHandshake(this.hangUpError());
        else if (this.canFallBack(ev.error)) this.fallBack();
        else this.failHandshake(this.isServer ? asServerError(surface(ev.error)) : explainUntrusted(surface(explainClientHandshakeError(ev.error, this.engine as Initiator)), this.validator));
        return;
    }
  }

  /** net's onread: data is copied into the caller's buffer and handed to its callback, no 'data' events. */
  private deliverOnread(d: Uint8Array): void {
    const { buffer, callback } = this.opts.onread!;
    for (let off = 0; off < d.length && !this.destroyed; ) {
      const buf = typeof buffer === "function" ? buffer() : buffer;
      const n = Math.min(buf.length, d.length - off);
      buf.set(d.subarray(off, off + n));
      off += n;
      if (callback.call(this, n, buf) === false && !this.pausedTransport) {
        this.pausedTransport = true;
        this.transport.pause();
      }
    }
  }

  private onSecure(): void {
    const engine = this.engine!;
    this.secure = true;
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    this.lastEpoch = engine.epoch;
    // The resumed session's keys live on in the engine; this copy is no longer needed.
    this.resumeFrom?.fill(0);
    this.resumeFrom = undefined;
    this.alpnProtocol = engine.alpnProtocol ?? false;
    this.servername = (this.isServer ? (engine as Responder).serverName : this.sniOverride || this.opts.servername) || false;
    this.ownCredential = engine.ownCredential;
    this.recordVerdict();
    this.updates.start(this.opts.autoKeyUpdate, this.opts.autoConnectionUpdate);

    // Held writes first, so they precede anything written from a 'secureConnect' listener.
    const held = this.held;
    this.held = undefined;
    if (held !== undefined) this.sendChunks(held.chunks, held.cb);
    const waiting = this.afterSecure;
    this.afterSecure = [];
    for (const fn of waiting) fn();

    this.emit("secure");
    if (!this.isServer) this.emit("secureConnect");
  }

  /**
   * node's authorized / authorizationError from the validator, which saw every credential the engine accepted.
   * Servers without requestCert or pinning verify nothing: authorized false, authorizationError null, as node.
   */
  private recordVerdict(): void {
    const v = this.validator;
    this.authorized = v?.authorized ?? false;
    this.authorizationError = (v?.authorizationError ?? null) as unknown as Error;
  }

  /**
   * A session the server refused (unknown_psk_identity), or whose stored server credential no longer verifies,
   * can only be replaced by a full handshake, on a new connection (the first one is spoiled by the alert).
   */
  private canFallBack(err: MlsTlsError): boolean {
    if (this.isServer || this.resumeFrom === undefined || this.destroyed) return false;
    if (this.opts.sessionFallback === false || this.opts[kReconnect] === undefined) return false;
    const engine = this.engine as Initiator;
    const untrusted = err.code === "ERR_MLSTLS_BAD_CREDENTIAL" && !err.remote && engine.notStarted;
    return untrusted || refusedSession(err, engine);
  }

  /** Starts over with a full handshake on a new transport; the socket, its buffered writes and listeners stay. */
  private fallBack(): void {
    this.resumeFrom?.fill(0);
    this.resumeFrom = undefined;
    this.closeTransport(false);
    this.engine = undefined;
    this.engineFailed = false;
    this.transportEof = false;
    const t = this.opts[kReconnect]!() as Transport;
    this.transport = t;
    t.on("error", this.transportListeners.error);
    t.on("close", this.transportListeners.close);
    if (t.connecting === true) t.once("connect", this.transportListeners.connect);
    else process.nextTick(() => this.start());
  }

  /**
   * The engine's write-ahead point: the session goes to 'session' listeners and saveSession before the message
   * that depends on it is sent. Node emits 'session' only for a verified peer; the engine saves only after the
   * peer's credential was validated.
   */
  private async onSession(blob: Uint8Array, engine: Initiator): Promise<void> {
    // A connection that is gone sends nothing more, so its later states need not be saved; its earlier saved
    // state stays consistent with what it sent.
    if (this.destroyed || this.engine !== engine || engine.failed !== undefined) return;
    const out = sessionBuffer(blob, this.opts.sessionKey);
    this.lastSession = out;
    try {
      this.emit("session", out);
    } catch (e) {
      // As for other events: a throwing listener is the application's bug, not a protocol failure.
      process.nextTick(() => {
        throw e;
      });
    }
    const save = this.opts.saveSession;
    if (save === undefined) return;
    try {
      await save(out);
    } catch (e) {
      throw wrapUserError(e, "saveSession", "ERR_MLSTLS_INTERNAL");
    }
  }

  /**
   * A Resumption of our session was accepted on another connection (SessionRegistry's policy): close with
   * ERR_MLSTLS_SESSION_REPLACED, alerting the peer in case it is still there, and resolve once our engine is idle.
   */
  private replaceBySession(): Promise<void> {
    const engine = this.engine;
    if (engine === undefined) return Promise.resolve();
    engine.abort(new MlsTlsError("ERR_MLSTLS_SESSION_REPLACED", "a resumption of this connection's session replaced it"));
    return engine.whenIdle();
  }

  /** Every failure before the handshake completed ends here. */
  private failHandshake(err: Error): void {
    if (this.destroyed) return;
    // As node: a server socket's servername is known from the ClientHello, also when SNI then fails the handshake.
    if (this.isServer && this.servername === null) this.servername = (this.engine as Responder | undefined)?.serverName || null;
    if (this.isServer && this.owner !== undefined && this.accepted) {
      // As node: the server hears about it, the socket closes without an 'error' nobody listens for. It is
      // destroyed first (node's listeners see `destroyed`), and its TCP connection closes as soon as our alert
      // is flushed, without waiting for a peer that may never stop sending (a junk or slow client).
      this.abortiveClose = true;
      this.destroy();
      if (!this.tlsErrorEmitted) {
        this.tlsErrorEmitted = true;
        this.owner.emit("tlsClientError", err, this);
      }
    } else {
      this.destroy(err);
    }
  }

  /** A caller's stream may throw from write() (e.g. a Duplex without _write): that is its failure, not ours. */
  private guardTransport(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.onTransportError(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private onTransportError(err: Error): void {
    if (this.destroyed) return;
    // After the peer's FIN, and our 'end', the connection is over for it: writing our goodbye may meet a reset
    // (EPIPE, ECONNRESET), which is no news to report.
    if (this.transportEof && this.secure && this.readableEnded) {
      this.destroy();
      return;
    }
    if (this.secure) this.destroy(err);
    else this.failHandshake(err);
  }

  private onTransportClose(): void {
    if (this.destroyed) return;
    // After close_notify the readable side already ended; the socket closes once it is consumed and finished.
    if (this.eofPushed) return;
    // Closed under us after the handshake, with no FIN and no error (the transport was destroyed by its owner):
    // as node's TLSSocket, this socket is destroyed in the same 'close' event, so the transport's later 'close'
    // listeners see it destroyed.
    if (this.secure && !this.transportEof) {
      this.destroy();
      return;
    }
    this.onTransportEof();
  }

  /** FIN (or a close without FIN): clean only if close_notify came first. */
  private onTransportEof(): void {
    if (this.transportEof) return;
    this.transportEof = true;
    const engine = this.engine;
    // Records received before the FIN may still be in the engine's queue.
    void (engine === undefined ? Promise.resolve() : engine.whenIdle()).then(() => {
      // A session fallback moved on to a new transport meanwhile.
      if (this.destroyed || this.eofPushed || this.engine !== engine) return;
      if (!this.secure) {
        this.failHandshake(this.hangUpError());
        return;
      }
      // As node:tls: a plain end. Whoever cares that no close_notify came reads `truncated` (README).
      this.truncated = true;
      this.pushEof();
    });
  }

  private pushEof(): void {
    this.eofPushed = true;
    // As net's onread: the read that finds EOF asks for a buffer too (programs that count buffers see it).
    const onread = this.opts.onread;
    if (typeof onread?.buffer === "function") onread.buffer();
    this.push(null);
    // As net does at EOF: with nothing left to read, 'end' is emitted even if nobody reads, so
    // allowHalfOpen: false ends our side and the socket can close.
    if (this.readableLength === 0) this.read(0);
  }

  /** The peer went away (FIN, or close_notify) before the handshake completed: node's ECONNRESET. */
  private hangUpError(): Error {
    return this.isServer ? codeError("ECONNRESET", "socket hang up") : this.disconnectedError();
  }

  private disconnectedError(): Error {
    const t = this.opts.connectTarget ?? {};
    return codeError(
      "ECONNRESET",
      "Client network socket disconnected before secure TLS connection was established",
      { path: t.path, host: t.host, port: t.port, localAddress: t.localAddress },
    );
  }

  private writeChunks(chunks: Chunk[], cb: WriteCallback): void {
    if (!this.secure) {
      this.held = { chunks, cb };
      return;
    }
    this.sendChunks(chunks, cb);
  }

  private sendChunks(chunks: Chunk[], cb: WriteCallback): void {
    const engine = this.engine!;
    const t = this.transport;
    if (t.destroyed || t.writableEnded) {
      cb(codeError("EPIPE", "This socket has been ended by the other party"));
      return;
    }
    this.batch = [];
    let bytes = 0;
    let error: unknown;
    try {
      bytes = sealChunks(engine, chunks, this.updates);
    } catch (e) {
      error = e;
    }
    const records = this.batch;
    this.batch = undefined;
    if (records.length > 0) {
      this.idleTimer?.refresh();
      this.inflight = { cb: error === undefined ? cb : () => cb(error as Error), bytes };
      // A plain net.Socket is done with a write's buffers once it calls back without error, so the records' buffers
      // can be reused; other streams (a PassThrough, say) may still hold them.
      const recycle = Object.getPrototypeOf(t) === NetSocket.prototype;
      this.guardTransport(() => {
        t.cork();
        const last = records.length - 1;
        for (let i = 0; i < last; i++) t.write(records[i]!);
        t.write(records[last]!, (err?: Error | null) => {
          if (recycle && err == null) for (const r of records) releaseRecord(r);
          this.onFlushed(err);
        });
        t.uncork();
      });
    } else {
      process.nextTick(cb, error as Error | undefined);
    }
  }

  private onFlushed(err?: Error | null): void {
    const f = this.inflight;
    if (f === undefined) return;
    this.inflight = undefined;
    if (err == null) this.plainDone += f.bytes;
    f.cb(err ?? null);
  }

  /** Closes the transport: flushing what we wrote (alert, close_notify) first, unless this is an abort. */
  private closeTransport(flush: boolean): void {
    const t = this.transport;
    const l = this.transportListeners;
    t.removeListener("close", l.close);
    t.removeListener("data", l.data);
    t.removeListener("end", l.end);
    t.removeListener("connect", l.connect);
    t.removeListener("error", l.error);
    // Late transport errors (a reset while lingering) have nobody left to tell.
    t.on("error", ignore);
    this.pausedTransport = false;
    if (t.destroyed) return;
    if (!flush || t.connecting === true) {
      t.destroy();
      return;
    }
    // Read and drop whatever still arrives: closing with unread input would reset the connection and could
    // destroy our last records in flight. The peer's FIN then closes the transport, or the linger timer does.
    t.resume();
    if (this.abortiveClose) t.once("finish", () => t.destroy());
    if (!t.writableEnded) t.end();
    const timer = setTimeout(() => t.destroy(), LINGER_MS).unref();
    t.once("close", () => clearTimeout(timer));
    // The transport stays referenced (unless the user unref'd the socket): net.Server counts it as a connection
    // until it closes, and an unreferenced one could let the process exit before server.close() calls back.
  }
}

