// Errors in node's own shapes, so that code written against node:tls sees the same `code`, class and message:
// ERR_INVALID_ARG_TYPE's "... Received ..." suffix, ERR_OUT_OF_RANGE, ERR_TLS_* errors named plain `Error`.
// Every configuration error thrown from lib/node carries a stable `code` (see README "Errors").

import { inspect } from "node:util";

type ErrorClass = ErrorConstructor | TypeErrorConstructor | RangeErrorConstructor;

/** An error of `Cls` with node's `code` property, named as node names its errors (e.g. "TypeError"). */
export function codeError(code: string, message: string, props: Record<string, unknown> = {}, Cls: ErrorClass = Error): Error {
  return Object.assign(new Cls(message), { code }, props);
}

export { describeReceived, invalidArgType } from "../errors.js";

/** node's ERR_INVALID_ARG_VALUE (a TypeError). */
export function invalidArgValue(name: string, value: unknown, reason = "is invalid"): TypeError {
  const kind = name.includes(".") ? "property" : "argument";
  return codeError(
    "ERR_INVALID_ARG_VALUE",
    `The ${kind} '${name}' ${reason}. Received ${inspect(value)}`,
    {},
    TypeError,
  ) as TypeError;
}

/** node's ERR_OUT_OF_RANGE (a RangeError). */
export function outOfRange(name: string, range: string, value: unknown): RangeError {
  return codeError(
    "ERR_OUT_OF_RANGE",
    `The value of "${name}" is out of range. It must be ${range}. Received ${inspect(value)}`,
    {},
    RangeError,
  ) as RangeError;
}

/** node's ERR_TLS_INVALID_STATE: a plain Error, as node's. */
export function invalidState(): Error {
  return codeError("ERR_TLS_INVALID_STATE", "TLS socket connection must be securely established");
}

/** AbortSignal's error, as net and tls report it. */
export class AbortError extends Error {
  readonly code = "ABORT_ERR";
  constructor(cause: unknown) {
    super("The operation was aborted", { cause });
    this.name = "AbortError";
  }
}
