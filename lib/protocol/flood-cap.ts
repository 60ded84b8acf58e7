// Caps on what a peer can make us do for free after the handshake (PROTOCOL.md, deviations 9 and 18): handshake
// messages it starts on its own without sending data, and empty records in a row.

import { mlsTlsError } from "../errors.js";
import type { HandshakeMessage } from "./messages.js";

export const DEFAULT_MAX_HANDSHAKE_WITHOUT_DATA = 64;
/** Empty application-data records in a row before it is a flood (rustls and BoGo cap them at 32 too). */
export const MAX_EMPTY_RECORDS = 32;

export class FloodCap {
  private handshakeWithoutData = 0;
  private emptyRecordsInARow = 0;
  /** We sent update_requested and the peer's answering KeyUpdate has not arrived yet. */
  private awaitingKeyUpdateAnswer = false;

  constructor(private readonly maxHandshakeWithoutData = DEFAULT_MAX_HANDSHAKE_WITHOUT_DATA) {}

  /** Application data with bytes: the only thing that resets the counts. */
  data(): void {
    this.emptyRecordsInARow = 0;
    this.handshakeWithoutData = 0;
  }

  /** An empty application-data record: costs us a decryption and carries nothing. */
  emptyRecord(): void {
    if (++this.emptyRecordsInARow > MAX_EMPTY_RECORDS) {
      throw mlsTlsError("ERR_MLSTLS_EMPTY_RECORD_FLOOD", `more than ${MAX_EMPTY_RECORDS} empty records in a row`);
    }
  }

  handshakeRecord(): void {
    this.emptyRecordsInARow = 0;
  }

  /** We asked the peer for a KeyUpdate: its answer is not unsolicited. */
  requestedKeyUpdate(): void {
    this.awaitingKeyUpdateAnswer = true;
  }

  /**
   * Counts what the peer starts on its own (ConnectionUpdates, which cost us MLS work, and KeyUpdates), not the
   * EpochKeyUpdates that finish a flow or the KeyUpdate that answers our own request: a peer that only receives data
   * must be able to confirm any number of our updates.
   */
  handshakeMessage(msg: HandshakeMessage): void {
    if (msg.type === "epoch_key_update") return;
    if (msg.type === "key_update" && this.awaitingKeyUpdateAnswer) {
      this.awaitingKeyUpdateAnswer = false;
      return;
    }
    if (++this.handshakeWithoutData > this.maxHandshakeWithoutData) {
      throw mlsTlsError(
        "ERR_MLSTLS_HANDSHAKE_FLOOD",
        `more than ${this.maxHandshakeWithoutData} post-handshake messages without application data`,
      );
    }
  }
}
