// The opening flight's plaintext handshake records, for tests that read or rewrite them on the wire.

import { ContentType, encodePlaintextRecord } from "../../lib/protocol/records/record-layer.js";
import { decodeHandshake, encodeHandshake, type HandshakeMessage } from "../../lib/protocol/messages.js";

/** The handshake message of a plaintext record (one message per record in the opening flight), if it is one. */
export function plaintextMessage(record: Uint8Array): HandshakeMessage | undefined {
  if (record[0] !== ContentType.handshake) return undefined;
  try {
    return decodeHandshake(record.subarray(5));
  } catch {
    return undefined;
  }
}

/** A plaintext handshake record carrying `msg`. */
export function record(msg: HandshakeMessage): Uint8Array {
  return encodePlaintextRecord(ContentType.handshake, encodeHandshake(msg));
}
