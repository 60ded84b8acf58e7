// The one byte codec of lib/: a Writer and a Reader for the fixed-width integers and length-prefixed vectors of
// our own formats (persisted sessions, identity PEMs, fingerprints). Two vector forms: `vec`, RFC 9420 §2.1.2's
// variable-length prefix (MLS structs), and `opaque32`, a uint32 length (the session formats).
//
// Both take `fail`, which builds the error to throw: this floor cannot import errors.ts, and each format has its
// own error code (ERR_MLSTLS_BAD_SESSION, ERR_MLSTLS_INVALID_IDENTITY_PEM, ...).

import { concat } from "./bytes.js";

export type CodecFailure = (message: string) => Error;

export class Writer {
  readonly #parts: Uint8Array[] = [];
  constructor(private readonly fail: CodecFailure) {}

  u8(v: number): this {
    this.#parts.push(Uint8Array.of(v));
    return this;
  }
  u16(v: number): this {
    this.#parts.push(Uint8Array.of((v >>> 8) & 0xff, v & 0xff));
    return this;
  }
  u32(v: number): this {
    this.#parts.push(Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff));
    return this;
  }
  /** RFC 9420 variable-length vector: a 1, 2 or 4 byte length prefix, then the bytes. */
  vec(b: Uint8Array): this {
    const n = b.length;
    if (n < 0x40) this.#parts.push(Uint8Array.of(n));
    else if (n < 0x4000) this.#parts.push(Uint8Array.of(0x40 | (n >> 8), n & 0xff));
    else if (n < 0x40000000) this.#parts.push(Uint8Array.of(0x80 | (n >>> 24), (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff));
    else throw this.fail("vector too long");
    this.#parts.push(b);
    return this;
  }
  /** A uint32 length, then the bytes; undefined is written as empty. */
  opaque32(b: Uint8Array | undefined): this {
    this.u32(b?.length ?? 0);
    if (b !== undefined) this.#parts.push(b);
    return this;
  }
  finish(): Uint8Array {
    return concat(...this.#parts);
  }
}

export class Reader {
  #pos = 0;
  constructor(
    private readonly b: Uint8Array,
    private readonly fail: CodecFailure,
  ) {}

  #take(n: number): Uint8Array {
    if (this.#pos + n > this.b.length) throw this.fail("truncated");
    const out = this.b.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }
  u8(): number {
    return this.#take(1)[0]!;
  }
  u16(): number {
    const t = this.#take(2);
    return (t[0]! << 8) | t[1]!;
  }
  u32(): number {
    const t = this.#take(4);
    return ((t[0]! << 24) | (t[1]! << 16) | (t[2]! << 8) | t[3]!) >>> 0;
  }
  /** RFC 9420 variable-length vector, minimal prefix required; a copy. */
  vec(): Uint8Array {
    const first = this.u8();
    const prefix = first >> 6;
    let n = first & 0x3f;
    if (prefix === 3) throw this.fail("invalid vector length prefix");
    const extra = prefix === 0 ? 0 : prefix === 1 ? 1 : 3;
    for (let i = 0; i < extra; i++) n = n * 256 + this.u8();
    if ((prefix === 1 && n < 0x40) || (prefix === 2 && n < 0x4000)) throw this.fail("non-minimal vector length");
    return new Uint8Array(this.#take(n));
  }
  /** A uint32 length, then the bytes; a copy. */
  opaque32(): Uint8Array {
    return new Uint8Array(this.#take(this.u32()));
  }
  get done(): boolean {
    return this.#pos === this.b.length;
  }
  end(): void {
    if (!this.done) throw this.fail("trailing bytes");
  }
}
