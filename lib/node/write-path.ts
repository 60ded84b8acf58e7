// The write path's record coalescing: application writes become full 16 KiB records, copying only the pieces
// that straddle a record boundary, and stopping at each automatic-update threshold so the update lands there.

import { type Connection, MAX_PLAINTEXT } from "../protocol/index.js";
import type { UpdatePolicies } from "./update-policy.js";

export type Chunk = { chunk: Buffer };

/** Hands `chunks` to the engine as full records; returns the plaintext bytes written. */
export function sealChunks(engine: Connection, chunks: readonly Chunk[], policies: UpdatePolicies): number {
  let total = 0;
  let carry: Buffer[] = [];
  let carryLen = 0;
  const flushCarry = (): void => {
    seal(engine, carry.length === 1 ? carry[0]! : Buffer.concat(carry, carryLen), policies);
    carry = [];
    carryLen = 0;
  };
  for (const { chunk } of chunks) {
    total += chunk.length;
    let off = 0;
    if (carryLen > 0) {
      off = Math.min(chunk.length, MAX_PLAINTEXT - carryLen);
      carry.push(chunk.subarray(0, off));
      carryLen += off;
      if (carryLen < MAX_PLAINTEXT) continue;
      flushCarry();
    }
    const rest = chunk.length - off;
    const whole = rest - (rest % MAX_PLAINTEXT);
    if (whole > 0) {
      seal(engine, chunk.subarray(off, off + whole), policies);
      off += whole;
    }
    if (off < chunk.length) {
      carry.push(chunk.subarray(off));
      carryLen = chunk.length - off;
    }
  }
  if (carryLen > 0) flushCarry();
  return total;
}

function seal(engine: Connection, data: Buffer, policies: UpdatePolicies): void {
  if (!policies.active) {
    engine.write(data);
    return;
  }
  for (let off = 0; off < data.length; ) {
    const room = policies.room();
    const n = Math.min(data.length - off, Math.max(1, Math.ceil(room / MAX_PLAINTEXT)) * MAX_PLAINTEXT);
    engine.write(data.subarray(off, off + n));
    off += n;
    policies.noteSent(n, Math.ceil(n / MAX_PLAINTEXT));
  }
}
