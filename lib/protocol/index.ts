// The sans-I/O protocol core's public API: what the layers above (the Node adapter, sessions, tools) may use.
// Bytes and events in, bytes and events out; no sockets, streams or timers below this line.

export {
  Connection,
  type ConnectionCallbacks,
  type ConnectionEvent,
  type ConnectionOptions,
  type IdentitySource,
  type IdentityContext,
  type PeerBinding,
} from "./connection.js";
export { Initiator, type InitiatorOptions } from "./initiator.js";
export { Responder, type ClientHelloInfo, type ResponderOptions, type SessionPersistence } from "./responder.js";
export { MAX_PLAINTEXT, releaseRecord } from "./records/record-layer.js";
export { trafficKeys } from "./key-schedule.js";
export { createAead, AEAD_TAG_LEN, type Aead } from "./records/aead.js";
