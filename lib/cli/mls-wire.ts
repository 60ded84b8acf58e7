// Read-only decoding of the MLS structures that travel in MLS-TLS handshake messages (RFC 9420 §6, §10, §12.4.3.1),
// for `mlstls decode`: what a capture shows without any key. Independent of ts-mls on purpose: a debugging tool
// must describe what is on the wire even when it is malformed or from another implementation. Only DecodeError
// escapes.

import { createHash, X509Certificate } from "node:crypto";
import { fingerprintOf, suiteById } from "./internals.js";
import { DecodeError, Reader, hex } from "./reader.js";

export const WIRE_FORMATS: Record<number, string> = {
  1: "mls_public_message",
  2: "mls_private_message",
  3: "mls_welcome",
  4: "mls_group_info",
  5: "mls_key_package",
};

const CONTENT_TYPES: Record<number, string> = { 1: "application", 2: "proposal", 3: "commit" };

/** mlstls's private-use extensions (PROTOCOL.md §3). */
export const EXT_SERVER_NAME = 0xf001;
export const EXT_ALPN_OFFER = 0xf002;
export const EXT_ALPN_SELECTED = 0xf003;

export function suiteLabel(id: number): string {
  const s = suiteById(id);
  return s === undefined ? `suite ${id} (unknown)` : `suite ${id} ${s.name}`;
}

function mlsHeader(r: Reader): number {
  const version = r.u16("MLSMessage version");
  if (version !== 1) r.fail(`MLSMessage version ${version} (expected 1, mls10)`);
  return r.u16("MLSMessage wire_format");
}

export interface CredentialView {
  type: "basic" | "x509" | "other";
  lines: string[];
  fingerprint?: string;
}

function describeCredential(r: Reader, signatureKey: Uint8Array): CredentialView {
  const type = r.u16("credential type");
  if (type === 1) {
    const identity = r.vec("basic identity");
    const text = Buffer.from(identity).toString("utf8");
    const printable = /^[\x20-\x7e\u00a0-\uffff]*$/.test(text) && !text.includes("\ufffd");
    const fp = safeFingerprint({ credential: { type: "basic", identity }, signaturePublicKey: signatureKey });
    return {
      type: "basic",
      fingerprint: fp,
      lines: [`credential: basic, identity ${printable ? JSON.stringify(text) : hex(identity, 32)}`, `fingerprint: ${fp ?? "(not a canonical signature key)"}`],
    };
  }
  if (type === 2) {
    const certs: Uint8Array[] = [];
    const list = r.vecReader("x509 certificates");
    while (!list.done) certs.push(list.vec("cert_data"));
    const lines = [`credential: x509, chain of ${certs.length} certificate${certs.length === 1 ? "" : "s"}`];
    const leaf = certs[0];
    if (leaf !== undefined) {
      try {
        const c = new X509Certificate(leaf);
        lines.push(`subject: ${c.subject.replace(/\n/g, ", ")}`);
        if (c.subjectAltName) lines.push(`subjectAltName: ${c.subjectAltName}`);
        lines.push(`issuer: ${c.issuer.replace(/\n/g, ", ")}`);
        lines.push(`certificate SHA-256: ${c.fingerprint256}`);
      } catch {
        lines.push("leaf certificate: unparseable DER");
      }
    }
    const fp = safeFingerprint({ credential: { type: "x509", certificates: certs }, signaturePublicKey: signatureKey });
    lines.push(`fingerprint: ${fp ?? "(not a canonical signature key)"}`);
    return { type: "x509", fingerprint: fp, lines };
  }
  // Unknown credential types cannot be skipped: their content's shape is unknown.
  r.fail(`unknown credential type ${type}`);
}

function safeFingerprint(peer: Parameters<typeof fingerprintOf>[0]): string | undefined {
  try {
    return fingerprintOf(peer);
  } catch {
    return undefined;
  }
}

function u16List(r: Reader, field: string): number[] {
  const l = r.vecReader(field);
  const out: number[] = [];
  while (!l.done) out.push(l.u16(field));
  return out;
}

function decodeServerName(data: Uint8Array): string {
  const r = new Reader(data, "server_name");
  const list = r.sub(r.u16("list length"), "ServerNameList");
  const names: string[] = [];
  while (!list.done) {
    const t = list.u8("name_type");
    const n = list.bytesN(list.u16("name length"), "host_name");
    names.push(t === 0 ? Buffer.from(n).toString("latin1") : `(name type ${t})`);
  }
  if (!r.done) r.fail("trailing bytes");
  return names.join(", ");
}

function decodeProtocols(data: Uint8Array): string {
  const r = new Reader(data, "ALPN");
  const list = r.sub(r.u16("list length"), "ProtocolNameList");
  const names: string[] = [];
  while (!list.done) names.push(JSON.stringify(Buffer.from(list.bytesN(list.u8("name length"), "protocol")).toString("latin1")));
  if (!r.done) r.fail("trailing bytes");
  return names.join(", ");
}

function extensionLines(r: Reader, where: string): string[] {
  const l = r.vecReader(`${where} extensions`);
  const lines: string[] = [];
  while (!l.done) {
    const type = l.u16("extension type");
    const data = l.vec("extension data");
    let text: string;
    try {
      if (type === EXT_SERVER_NAME) text = `server_name (0xf001): ${decodeServerName(data)}`;
      else if (type === EXT_ALPN_OFFER) text = `ALPN offer (0xf002): ${decodeProtocols(data)}`;
      else if (type === EXT_ALPN_SELECTED) text = `ALPN selected (0xf003): ${decodeProtocols(data)}`;
      else text = `extension 0x${type.toString(16).padStart(4, "0")}: ${data.length} bytes`;
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      text = `extension 0x${type.toString(16)}: malformed (${e.message})`;
    }
    lines.push(`${where} ${text}`);
  }
  return lines;
}

export interface KeyPackageView {
  suite: number;
  lines: string[];
  credential: CredentialView;
  /** The KeyPackageRef (RFC 9420 §5.2), for matching the Welcome's recipient; undefined for unknown suites. */
  ref?: Uint8Array;
}

/** RFC 9420 §5.2 RefHash(label, value) = Hash(struct { opaque label<V>; opaque value<V>; }). */
function refHash(hash: string, label: string, value: Uint8Array): Uint8Array {
  const l = Buffer.from(label);
  return createHash(hash).update(varint(l.length)).update(l).update(varint(value.length)).update(value).digest();
}

function varint(n: number): Uint8Array {
  if (n < 64) return Uint8Array.of(n);
  if (n < 16384) return Uint8Array.of(0x40 | (n >> 8), n & 0xff);
  return Uint8Array.of(0x80 | (n >>> 24), (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
}

/** MLSMessage(mls_key_package) from a ClientHello. */
export function describeKeyPackage(message: Uint8Array): KeyPackageView {
  const r = new Reader(message, "KeyPackage");
  const wf = mlsHeader(r);
  if (wf !== 5) r.fail(`expected mls_key_package, got ${WIRE_FORMATS[wf] ?? `wire_format ${wf}`}`);
  const kpStart = r.pos;
  const version = r.u16("KeyPackage version");
  const suite = r.u16("cipher_suite");
  r.vec("init_key");
  // LeafNode
  r.vec("encryption_key");
  const signatureKey = r.vec("signature_key");
  const credential = describeCredential(r, signatureKey);
  const caps = r;
  const versions = u16List(caps, "capabilities.versions");
  const suites = u16List(caps, "capabilities.cipher_suites");
  const exts = u16List(caps, "capabilities.extensions");
  u16List(caps, "capabilities.proposals");
  const creds = u16List(caps, "capabilities.credentials");
  const source = r.u8("leaf_node_source");
  const lines = [
    `KeyPackage: ${suiteLabel(suite)}${version === 1 ? "" : ` (version ${version})`}`,
    ...credential.lines,
    `signature key: ${signatureKey.length} bytes ${hex(signatureKey, 8)}`,
    `capabilities: versions [${versions.join(", ")}], suites [${suites.join(", ")}], extensions [${exts.map((e) => "0x" + e.toString(16)).join(", ")}], credentials [${creds.join(", ")}]`,
  ];
  if (source === 1) {
    const nb = r.u64("lifetime.not_before");
    const na = r.u64("lifetime.not_after");
    const iso = (v: bigint) => (v < 8640000000000n ? new Date(Number(v) * 1000).toISOString() : v.toString());
    lines.push(`lifetime: ${iso(nb)} .. ${iso(na)}`);
  } else if (source === 3) r.vec("parent_hash");
  else if (source !== 2) r.fail(`unknown leaf_node_source ${source}`);
  lines.push(...extensionLines(r, "leaf"));
  r.vec("leaf signature");
  lines.push(...extensionLines(r, "KeyPackage"));
  r.vec("KeyPackage signature");
  if (!r.done) r.fail(`${r.remaining} trailing bytes after the KeyPackage`);
  const params = suiteById(suite);
  const ref = params === undefined ? undefined : refHash(params.hash, "MLS 1.0 KeyPackage Reference", message.subarray(kpStart));
  return { suite, lines, credential, ref };
}

export interface WelcomeView {
  suite: number;
  lines: string[];
  recipients: Uint8Array[];
}

/** MLSMessage(mls_welcome) from a ServerHello. Everything but the recipients is encrypted to the KeyPackage. */
export function describeWelcome(message: Uint8Array): WelcomeView {
  const r = new Reader(message, "Welcome");
  const wf = mlsHeader(r);
  if (wf !== 3) r.fail(`expected mls_welcome, got ${WIRE_FORMATS[wf] ?? `wire_format ${wf}`}`);
  const suite = r.u16("cipher_suite");
  const secrets = r.vecReader("secrets");
  const recipients: Uint8Array[] = [];
  while (!secrets.done) {
    recipients.push(secrets.vec("new_member"));
    secrets.vec("kem_output");
    secrets.vec("ciphertext");
  }
  const info = r.vec("encrypted_group_info");
  if (!r.done) r.fail(`${r.remaining} trailing bytes after the Welcome`);
  return {
    suite,
    recipients,
    lines: [
      `Welcome: ${suiteLabel(suite)}, ${recipients.length} recipient${recipients.length === 1 ? "" : "s"}, encrypted GroupInfo ${info.length} bytes`,
    ],
  };
}

export interface PrivateMessageView {
  epoch: bigint;
  contentType: string;
  groupId: Uint8Array;
  lines: string[];
}

/** MLSMessage(mls_private_message): a ConnectionUpdate's or Resumption's commit. Sender and content are encrypted. */
export function describePrivateMessage(message: Uint8Array): PrivateMessageView {
  const r = new Reader(message, "MLSMessage");
  const wf = mlsHeader(r);
  if (wf !== 2) {
    return { epoch: -1n, contentType: "?", groupId: new Uint8Array(0), lines: [`MLS ${WIRE_FORMATS[wf] ?? `wire_format ${wf}`} (not a PrivateMessage: refused by mlstls's commit policy)`] };
  }
  const groupId = r.vec("group_id");
  const epoch = r.u64("epoch");
  const ct = r.u8("content_type");
  const aad = r.vec("authenticated_data");
  r.vec("encrypted_sender_data");
  const ciphertext = r.vec("ciphertext");
  if (!r.done) r.fail(`${r.remaining} trailing bytes after the PrivateMessage`);
  const contentType = CONTENT_TYPES[ct] ?? `content type ${ct}`;
  return {
    epoch,
    contentType,
    groupId,
    lines: [
      `PrivateMessage: ${contentType} in epoch ${epoch}, group ${hex(groupId, 16)}, ${ciphertext.length} bytes encrypted` +
        (aad.length > 0 ? `, ${aad.length} bytes authenticated data` : ""),
    ],
  };
}
