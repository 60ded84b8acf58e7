// A bounds-checked cursor over bytes for the CLI's decoders (pcap, pcapng, IP/TCP, TLS records, MLS structures).
// Every read past the end throws DecodeError, the one error type the decoders let escape: callers turn it into
// a printed diagnosis, so malformed input can never crash the tool with anything else.

export class DecodeError extends Error {
  override name = "DecodeError";
}

export class Reader {
  private view: DataView;
  pos = 0;
  littleEndian = false;

  constructor(
    readonly bytes: Uint8Array,
    private readonly what = "input",
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  get done(): boolean {
    return this.pos >= this.bytes.length;
  }

  fail(msg: string): never {
    throw new DecodeError(`${this.what}: ${msg} (at byte ${this.pos})`);
  }

  private need(n: number, field: string): void {
    if (n < 0 || this.pos + n > this.bytes.length) {
      this.fail(`truncated ${field}: needs ${n} bytes, ${this.remaining} left`);
    }
  }

  u8(field = "uint8"): number {
    this.need(1, field);
    return this.bytes[this.pos++]!;
  }

  u16(field = "uint16"): number {
    this.need(2, field);
    const v = this.view.getUint16(this.pos, this.littleEndian);
    this.pos += 2;
    return v;
  }

  u24(field = "uint24"): number {
    this.need(3, field);
    const b = this.bytes;
    const v = (b[this.pos]! << 16) | (b[this.pos + 1]! << 8) | b[this.pos + 2]!;
    this.pos += 3;
    return v;
  }

  u32(field = "uint32"): number {
    this.need(4, field);
    const v = this.view.getUint32(this.pos, this.littleEndian);
    this.pos += 4;
    return v;
  }

  u64(field = "uint64"): bigint {
    this.need(8, field);
    const v = this.view.getBigUint64(this.pos, this.littleEndian);
    this.pos += 8;
    return v;
  }

  bytesN(n: number, field = "bytes"): Uint8Array {
    this.need(n, field);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  rest(): Uint8Array {
    return this.bytesN(this.remaining);
  }

  skip(n: number, field = "bytes"): void {
    this.need(n, field);
    this.pos += n;
  }

  /** RFC 9420 §2.1.2 variable-length integer (1, 2 or 4 bytes; minimum encoding). */
  varint(field = "length"): number {
    const first = this.u8(field);
    const prefix = first >> 6;
    if (prefix === 0) return first & 0x3f;
    if (prefix === 1) {
      const v = ((first & 0x3f) << 8) | this.u8(field);
      if (v < 64) this.fail(`non-minimal varint in ${field}`);
      return v;
    }
    if (prefix === 2) {
      const v = (((first & 0x3f) << 24) >>> 0) + (this.u8(field) << 16) + (this.u8(field) << 8) + this.u8(field);
      if (v < 16384) this.fail(`non-minimal varint in ${field}`);
      return v;
    }
    this.fail(`invalid varint prefix in ${field}`);
  }

  /** An MLS opaque<V>: varint length, then the bytes. */
  vec(field = "vector"): Uint8Array {
    const n = this.varint(field);
    return this.bytesN(n, field);
  }

  /** A sub-reader over an MLS vector<V> of structures. */
  vecReader(field = "vector"): Reader {
    const r = new Reader(this.vec(field), `${this.what}/${field}`);
    r.littleEndian = this.littleEndian;
    return r;
  }

  /** A sub-reader over the next n bytes. */
  sub(n: number, field: string): Reader {
    const r = new Reader(this.bytesN(n, field), `${this.what}/${field}`);
    r.littleEndian = this.littleEndian;
    return r;
  }
}

export function hex(b: Uint8Array, max = Infinity): string {
  const s = Buffer.from(b.subarray(0, Math.min(b.length, max))).toString("hex");
  return b.length > max ? `${s}…` : s;
}

/** A short preview of bytes: printable ASCII as is, the rest as '.', with the hex of the first bytes. */
export function preview(b: Uint8Array, max = 32): string {
  const head = b.subarray(0, Math.min(b.length, max));
  let text = "";
  for (const c of head) text += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : ".";
  const more = b.length > max ? "…" : "";
  return `${hex(head)}${more} "${text}${more}"`;
}
