// The private-use MLS extensions that carry TLS's SNI and ALPN (see PROTOCOL.md,
// "SNI and ALPN as MLS extensions"), and their TLS-format bodies (RFC 6066 ServerNameList, RFC 7301
// ProtocolNameList).

import type { ClientState, Extension } from "ts-mls";
import { mlsTlsError } from "../errors.js";

/** What the initiator offers besides its KeyPackage (PROTOCOL.md, "SNI and ALPN as MLS extensions"). */
export interface HelloExtensions {
  serverName?: string;
  alpnProtocols?: string[];
}

/**
 * Private-use extension types (RFC 9420 §17.3, 0xF000–0xFFFF) that carry TLS's SNI and ALPN (PROTOCOL.md, "SNI and
 * ALPN as MLS extensions").
 * Their data is the TLS wire format: RFC 6066 ServerNameList with one host_name, RFC 7301 ProtocolNameList.
 */
export const MLSTLS_EXTENSION_TYPES = Object.freeze({
  /** KeyPackage extension, signed by the initiator: ServerNameList with exactly one host_name. */
  serverName: 0xf001,
  /** KeyPackage extension, signed by the initiator: ProtocolNameList of the offered protocols. */
  alpnOffer: 0xf002,
  /** GroupContext extension, so it enters the key schedule: ProtocolNameList with the one selected protocol. */
  alpnSelected: 0xf003,
});


// ---------------------------------------------------------------------------------------------------------------
// TLS-format extension bodies (RFC 6066 ServerNameList, RFC 7301 ProtocolNameList)

export const utf8 = new TextEncoder();
export const utf8Strict = new TextDecoder("utf-8", { fatal: true });
export const latin1 = new TextDecoder("latin1");

export function isHostName(s: string): boolean {
  // RFC 6066: ASCII, no trailing dot; we also refuse controls and spaces.
  return s.length >= 1 && s.length <= 255 && /^[\x21-\x7e]+$/.test(s) && !s.endsWith(".");
}

export function encodeServerName(name: string): Uint8Array {
  if (!isHostName(name)) throw new TypeError(`invalid server name: ${JSON.stringify(name)}`);
  const host = utf8.encode(name);
  const out = new Uint8Array(5 + host.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, 3 + host.length);
  out[2] = 0; // host_name
  v.setUint16(3, host.length);
  out.set(host, 5);
  return out;
}

export function decodeServerName(data: Uint8Array): string {
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length < 5 || v.getUint16(0) !== data.length - 2 || data[2] !== 0 || v.getUint16(3) !== data.length - 5) {
    throw mlsTlsError("ERR_MLSTLS_DECODE_ERROR", "server_name extension must hold exactly one host_name");
  }
  const name = data.length - 5 > 255 ? "" : latin1.decode(data.subarray(5));
  if (!isHostName(name)) throw mlsTlsError("ERR_MLSTLS_ILLEGAL_PARAMETER", "server_name extension holds an invalid host name");
  return name;
}

export function encodeProtocolList(names: readonly string[]): Uint8Array {
  if (names.length === 0) throw new TypeError("ALPN protocol list must not be empty");
  const encoded = names.map((n) => {
    const b = utf8.encode(n);
    if (typeof n !== "string" || b.length < 1 || b.length > 255) throw new TypeError(`invalid ALPN protocol name: ${JSON.stringify(n)}`);
    return b;
  });
  const total = encoded.reduce((s, b) => s + 1 + b.length, 0);
  if (total > 0xffff) throw new TypeError("ALPN protocol list too long");
  const out = new Uint8Array(2 + total);
  new DataView(out.buffer).setUint16(0, total);
  let o = 2;
  for (const b of encoded) {
    out[o++] = b.length;
    out.set(b, o);
    o += b.length;
  }
  return out;
}

export function decodeProtocolList(data: Uint8Array): string[] {
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length < 2 || v.getUint16(0) !== data.length - 2) {
    throw mlsTlsError("ERR_MLSTLS_DECODE_ERROR", "malformed ALPN protocol list");
  }
  const names: string[] = [];
  let o = 2;
  while (o < data.length) {
    const len = data[o++]!;
    if (len === 0 || o + len > data.length) throw mlsTlsError("ERR_MLSTLS_DECODE_ERROR", "malformed ALPN protocol list");
    try {
      names.push(utf8Strict.decode(data.subarray(o, o + len)));
    } catch (e) {
      throw mlsTlsError("ERR_MLSTLS_ILLEGAL_PARAMETER", "ALPN protocol name is not UTF-8", { cause: e });
    }
    o += len;
  }
  if (names.length === 0) throw mlsTlsError("ERR_MLSTLS_ILLEGAL_PARAMETER", "empty ALPN protocol list");
  return names;
}

export function extensionNumber(e: Extension): number | undefined {
  return typeof e.extensionType === "number" ? e.extensionType : undefined;
}


export function alpnFromContext(state: ClientState): string | null {
  const ext = state.groupContext.extensions.find((e) => extensionNumber(e) === MLSTLS_EXTENSION_TYPES.alpnSelected);
  if (ext === undefined) return null;
  const names = decodeProtocolList(ext.extensionData);
  if (names.length !== 1) throw mlsTlsError("ERR_MLSTLS_ILLEGAL_PARAMETER", "selected ALPN must name exactly one protocol");
  return names[0]!;
}
