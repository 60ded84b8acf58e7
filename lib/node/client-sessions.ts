// Sessions at the socket level: the registry that keeps one live connection per server session, the client's
// 'session' Buffers (encrypted with `sessionKey` when given), and when a refused session falls back.

import type { NonSharedBuffer } from "node:buffer";
import { AlertDescription, type MlsTlsError } from "../errors.js";
import { type Connection, Initiator } from "../protocol/index.js";
import { SessionRegistry } from "../sessions/registry.js";
import { type SessionStore, encryptSession } from "../sessions/store.js";

/** One registry per store: sockets (and servers) sharing a store share its one-live-connection rule. */
const registries = new WeakMap<SessionStore, SessionRegistry>();
export function registryFor(store: SessionStore): SessionRegistry {
  let r = registries.get(store);
  if (r === undefined) {
    r = new SessionRegistry(store);
    registries.set(store, r);
  }
  return r;
}

/** A 'session' Buffer from the engine's blob: as is, or encrypted with `sessionKey` (the blob is then wiped). */
export function sessionBuffer(blob: Uint8Array, key: Uint8Array | undefined): NonSharedBuffer {
  // The engine's session blobs are never shared memory.
  if (key === undefined) return Buffer.from(blob.buffer as ArrayBuffer, blob.byteOffset, blob.length);
  const out = Buffer.from(encryptSession(blob, key));
  blob.fill(0);
  return out;
}

/** The server's answer to a Resumption it cannot use: unknown, stale or too far ahead (all unknown_psk_identity). */
export function refusedSession(err: MlsTlsError, engine: Connection | undefined): boolean {
  return (
    err.remote &&
    err.alert === AlertDescription.unknown_psk_identity &&
    engine instanceof Initiator &&
    engine.awaitingResumptionAccept
  );
}
