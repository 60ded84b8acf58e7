// Buffer reuse on the record path (seal's record pool, the deframer's copy of straddling records): reuse must never
// change a byte of what is sent or received.

import { expect } from "chai";
import { AEAD_TAG_LEN, type AeadBackend } from "../../lib/protocol/records/aead.js";
import { suiteById, type SuiteParams } from "../../lib/suites.js";
import {
  ContentType,
  MAX_PLAINTEXT,
  RECORD_HEADER_LEN,
  RecordDeframer,
  RecordProtection,
  releaseRecord,
} from "../../lib/protocol/records/record-layer.js";
import { Prng } from "../helpers/prng.js";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

function suite(id: number): SuiteParams {
  const s = suiteById(id);
  if (s === undefined) throw new Error(`no suite ${id}`);
  return s;
}

function keyed(s: SuiteParams, secret: Uint8Array, backend: AeadBackend = "node"): RecordProtection {
  const p = new RecordProtection(s, { backend });
  p.install(secret);
  return p;
}

describe("record buffer reuse", () => {
  describe("releaseRecord", () => {
    it("reuses a released record's buffer, and the next records are still exact", () => {
      const s = suite(1);
      const rng = new Prng(71);
      const secret = rng.bytes(s.hashLen);
      const node = keyed(s, secret);
      const noble = keyed(s, secret, "noble");
      const first = node.seal(ContentType.application_data, rng.bytes(MAX_PLAINTEXT));
      noble.seal(ContentType.application_data, new Uint8Array(MAX_PLAINTEXT));
      releaseRecord(first);
      // Shorter than the last one: stale bytes of the old record would show past its end.
      const content = rng.bytes(9000);
      const second = node.seal(ContentType.application_data, content, 7);
      expect(second.buffer).to.equal(first.buffer);
      expect(hex(second)).to.equal(hex(noble.seal(ContentType.application_data, content, 7)));
    });

    it("hands a buffer out once even if it is released twice", () => {
      const p = keyed(suite(3), new Prng(72).bytes(32));
      const r = p.seal(ContentType.application_data, new Uint8Array(MAX_PLAINTEXT));
      releaseRecord(r);
      releaseRecord(r);
      const a = p.seal(ContentType.application_data, new Uint8Array(MAX_PLAINTEXT));
      const b = p.seal(ContentType.application_data, new Uint8Array(MAX_PLAINTEXT));
      expect(a.buffer).to.not.equal(b.buffer);
    });

    it("ignores buffers it did not make", () => {
      const foreign = new Uint8Array(RECORD_HEADER_LEN + MAX_PLAINTEXT + 1 + AEAD_TAG_LEN);
      releaseRecord(foreign);
      releaseRecord(Buffer.alloc(10));
      const r = keyed(suite(1), new Prng(73).bytes(32)).seal(ContentType.application_data, new Uint8Array(MAX_PLAINTEXT));
      expect(r.buffer).to.not.equal(foreign.buffer);
    });
  });

  describe("RecordDeframer.recycle", () => {
    it("yields the same records for any chunking when every record is recycled after use", () => {
      const rng = new Prng(74);
      const s = suite(1);
      const secret = rng.bytes(s.hashLen);
      const send = keyed(s, secret);
      const contents = Array.from({ length: 12 }, () => rng.bytes(rng.pick([MAX_PLAINTEXT, rng.int(MAX_PLAINTEXT), 1])));
      const stream = Buffer.concat(contents.map((c) => send.seal(ContentType.application_data, c)));
      for (const maxChunk of [7, 1000, 5000, 20_000]) {
        const recv = keyed(s, secret);
        const d = new RecordDeframer();
        const got: string[] = [];
        for (let pos = 0; pos < stream.length; ) {
          const n = Math.min(stream.length - pos, rng.range(1, maxChunk));
          d.push(stream.subarray(pos, pos + n));
          pos += n;
          for (let r = d.next(); r !== null; r = d.next()) {
            got.push(hex(recv.open(r).content));
            d.recycle(r);
          }
        }
        expect(got).to.deep.equal(contents.map(hex));
      }
    });

    it("reuses the copy of a straddling record once it is recycled, and only then", () => {
      const d = new RecordDeframer();
      const record = (fill: number): Uint8Array => {
        const r = new Uint8Array(RECORD_HEADER_LEN + 1000).fill(fill);
        r.set([23, 3, 3, 1000 >> 8, 1000 & 0xff]);
        return r;
      };
      const split = (r: Uint8Array): void => {
        d.push(r.subarray(0, 600));
        d.push(r.subarray(600));
      };
      split(record(1));
      const a = d.next()!;
      split(record(2));
      const b = d.next()!;
      expect(b.fragment.buffer).to.not.equal(a.fragment.buffer);
      expect(a.fragment.every((x) => x === 1)).to.equal(true);
      d.recycle(b);
      split(record(3));
      const c = d.next()!;
      expect(c.fragment.buffer).to.equal(b.fragment.buffer);
      expect(c.fragment.every((x) => x === 3)).to.equal(true);
    });
  });
});
