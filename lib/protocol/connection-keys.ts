// What a connection's keys are bound to, and the secrets derived from it once per connection: both endpoints'
// randoms and the transcript of the opening messages (PROTOCOL.md, "Fresh randoms in every key" and "Suite
// negotiation"), the per-epoch traffic secrets, and the RFC 8446 §7.5 exporter.

import { createHash } from "node:crypto";
import { mlsTlsError } from "../errors.js";
import type { MlsSession } from "../mls/index.js";
import type { SuiteParams } from "../suites.js";
import {
  EXPORTER_MASTER_LABEL,
  applicationTrafficSecrets,
  connectionContext,
  deriveSecret,
  hkdfExpandLabel,
  zeroize,
} from "./key-schedule.js";
import { type HandshakeMessage, encodeHandshake } from "./messages.js";

/** MLS exporter label for the connection's RFC 8446 §7.5-style exporter master secret. */
export const EXPORTER_SECRET_LABEL = "mlstls exporter";

export class ConnectionKeys {
  suite: SuiteParams | undefined;
  clientRandom: Uint8Array | undefined;
  serverRandom: Uint8Array | undefined;
  /** Opening handshake messages, until the keys are bound to their hash. */
  private transcript: Uint8Array[] = [];
  private transcriptHash: Uint8Array | undefined;
  private exporterSecret: Uint8Array | undefined;

  /**
   * Adds an opening message (ClientHello, RetryRequest, Resumption) to the transcript the connection's keys are
   * bound to, in the order sent and received; both ends add the same messages, so tampering with any of them gives
   * the two ends different keys and key confirmation fails.
   */
  addToTranscript(msg: HandshakeMessage): void {
    if (this.transcriptHash !== undefined) throw mlsTlsError("ERR_MLSTLS_INTERNAL", "the transcript is already bound");
    this.transcript.push(encodeHandshake(msg));
  }

  /** SHA-256 of the opening messages so far (before the keys are bound): what a responder's delegation signs. */
  openingDigest(): Uint8Array {
    if (this.transcriptHash !== undefined) throw mlsTlsError("ERR_MLSTLS_INTERNAL", "the transcript is already bound");
    const h = createHash("sha256");
    for (const m of this.transcript) h.update(m);
    return new Uint8Array(h.digest());
  }

  /** The MLS exporter context (ConnectionContext v2, key-schedule.ts); binds the transcript on first use. */
  context(): Uint8Array {
    if (this.transcriptHash === undefined) {
      const h = createHash(this.suite!.hash);
      for (const m of this.transcript) h.update(m);
      this.transcriptHash = new Uint8Array(h.digest());
      this.transcript = [];
    }
    return connectionContext(this.clientRandom!, this.serverRandom!, this.transcriptHash);
  }

  /** An epoch's traffic secrets: MLS exporter over the context, then RFC 8446's labels. */
  async epochSecrets(session: MlsSession): Promise<{ client: Uint8Array; server: Uint8Array }> {
    const s = this.suite!;
    const master = await session.exportSecret(EXPORTER_MASTER_LABEL, this.context(), s.hashLen);
    const out = applicationTrafficSecrets(s, master);
    zeroize(master);
    return out;
  }

  /** Derived once, at the connection's first epoch; returned for the key log (the caller must not keep it). */
  async deriveExporterSecret(session: MlsSession): Promise<Uint8Array> {
    const s = this.suite!;
    this.exporterSecret = await session.exportSecret(EXPORTER_SECRET_LABEL, this.context(), s.hashLen);
    return this.exporterSecret;
  }

  /**
   * RFC 8446 §7.5 keying material exporter over the connection's exporter secret (derived once per connection
   * from the handshake epoch, so the value is stable across updates, as node:tls users expect).
   */
  exportKeyingMaterial(length: number, label: string, context?: Uint8Array): Uint8Array {
    const s = this.suite;
    if (this.exporterSecret === undefined || s === undefined) {
      throw mlsTlsError("ERR_TLS_INVALID_STATE", "TLS socket connection must be securely established");
    }
    const secret = deriveSecret(s.hash, this.exporterSecret, label, new Uint8Array(0));
    // HKDF-Expand-Label(Derive-Secret(Secret, label, ""), "exporter", Hash(context_value), length).
    const ctxHash = new Uint8Array(createHash(s.hash).update(context ?? new Uint8Array(0)).digest());
    const out = hkdfExpandLabel(s.hash, secret, "exporter", ctxHash, length);
    zeroize(secret);
    return out;
  }

  wipe(): void {
    zeroize(this.exporterSecret);
    this.exporterSecret = undefined;
  }
}
