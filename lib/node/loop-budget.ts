// A budget per event-loop turn for the engines' expensive steps (issue 11). Every MLS step (a ClientHello, a
// ServerHello, a ConnectionUpdate) is a chain of synchronous crypto that ends only when the step does; when a
// burst of sockets becomes readable in one poll phase, those chains ran back to back and stalled the loop for
// hundreds of milliseconds. The engine (which may not use timers) awaits `yieldToLoop()` before each such step;
// here that resumes the step from a setImmediate callback, but only while the current turn has spent less than
// its budget. Past it, the step waits for the next turn, after the loop has polled for I/O again: timers fire,
// data flows, and handshakes keep completing at the same total rate.
//
// Node drains the microtask queue after each setImmediate callback, so the time between two callbacks of one
// turn is the time the resumed steps took. Immediates queued during a turn's check phase run in the next turn,
// in order: the turn marker queued by the first step of a turn runs before the steps deferred from it.

import { performance } from "node:perf_hooks";

/** Milliseconds of engine steps per loop turn. One step can overrun it by its own length (1-3 ms). */
export const LOOP_BUDGET_MS = 8;

let turnStart: number | undefined;

function endTurn(): void {
  turnStart = undefined;
}

function resume(resolve: () => void): void {
  const now = performance.now();
  if (turnStart === undefined) {
    turnStart = now;
    setImmediate(endTurn);
  } else if (now - turnStart >= LOOP_BUDGET_MS) {
    setImmediate(resume, resolve);
    return;
  }
  resolve();
}

/** Resolves in a later loop turn phase, within this turn's budget or the next turn's. */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resume, resolve));
}

/**
 * Runs `task` later, within the same budget as the engines' MLS steps: for their idle work (compacting a session's
 * state, ~0.1 ms each), so that many connections going idle in one turn do not stall it either.
 */
export function deferIdle(task: () => void): void {
  void yieldToLoop().then(task);
}
