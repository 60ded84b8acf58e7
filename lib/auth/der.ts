// The one DER reader of lib/auth (X.509 facts in x509.ts, delegation certificates in delegation.ts): strict, and
// small on purpose. It rejects high tag numbers, indefinite and non-minimal lengths, and anything running past
// its parent; callers check tags with expectTag(). Errors are DerError, which each caller turns into its own.

export class DerError extends Error {}

export interface Tlv {
  tag: number;
  /** Start of the contents. */
  start: number;
  end: number;
  /** Start of the header. */
  from: number;
}

export function readTlv(b: Uint8Array, pos: number, limit: number): Tlv {
  if (pos + 2 > limit) throw new DerError("truncated");
  const tag = b[pos]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError("high tag numbers are not used in certificates");
  let len = b[pos + 1]!;
  let p = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > limit) throw new DerError("bad length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[p++]!;
    if (len < 0x80 || (n > 1 && b[pos + 2] === 0)) throw new DerError("non-minimal length");
  }
  if (p + len > limit) throw new DerError("truncated");
  return { tag, start: p, end: p + len, from: pos };
}

/** The TLVs inside a constructed one, in order. */
export function children(b: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let p = parent.start; p < parent.end; ) {
    const t = readTlv(b, p, parent.end);
    out.push(t);
    p = t.end;
  }
  return out;
}

export function expectTag(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (t === undefined || t.tag !== tag) throw new DerError(`expected ${what}`);
  return t;
}
