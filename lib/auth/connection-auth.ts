// What one connection gets from its configuration: the MLS suites to offer or accept, our identity for it (on
// servers, chosen by SNI: SNICallback, else the addContext() entries) and a PeerValidator of its own (whom we trust:
// `ca`, rejectUnauthorized and the pinning options), so each connection has its own verdict and identity-continuity
// record. Resolved once per configuration (clientAuth, serverAuth), so that every mistake throws at createServer()
// / connect() time, never at the first handshake. The SecureContexts it draws on are secure-context.ts.

import { applyPostQuantum, parseSuiteList, suiteById, type PostQuantumMode } from "../suites.js";
import type { IdentitySource } from "../protocol/index.js";
import { MlsTlsError, mlsTlsError } from "../errors.js";
import { describeSuiteList, withPostQuantum } from "./identity.js";
import { checkPostQuantumSuites, type CredentialValidator, type LocalIdentity } from "../mls/index.js";
import { validatorFromTlsOptions, type CheckServerIdentity, type PeerValidator, type VerifyPeerCallback } from "./verify.js";
import { type IdentityOption, SecureContext, type SecureContextOptions, present, toSecureContext } from "./secure-context.js";

// ---------------------------------------------------------------------------------------------------------------
// Option types

/** Options both roles use to decide who they are and whom they trust. */
export interface AuthOptions extends Omit<SecureContextOptions, "identity"> {
  /**
   * Our MLS identity: an Identity or its PEM (pinned keys), or a function choosing one per connection
   * ({suite, serverName}). Default: `key` + `cert`, else an anonymous basic credential.
   */
  identity?: IdentityOption | IdentitySource;
  /** From mlstls.createSecureContext(); when given, key, cert, passphrase, ca and identity are ignored (as node). */
  secureContext?: SecureContext;
  /** Refuse a peer that fails verification. Default true (clients: false if NODE_TLS_REJECT_UNAUTHORIZED=0). */
  rejectUnauthorized?: boolean;
  /**
   * Pinned mode: the peer's identity fingerprint must be one of these ("SHA256:<base64>", colon hex, or an
   * "MLSTLS PUBLIC IDENTITY" PEM). Replaces X.509 verification.
   */
  fingerprints?: readonly string[];
  /** Pinned mode: decides on the peer (true/undefined accepts, false or an Error refuses). With fingerprints, both must accept. */
  verifyPeer?: VerifyPeerCallback;
  /** Let the peer's identity change in a later credential (ConnectionUpdate). Default false. */
  allowIdentityRotation?: boolean;
  /** node's allowPartialTrustChain: certificates in `ca` are anchors even if not self-signed. */
  allowPartialTrustChain?: boolean;
  /** Low-level: one more check for every credential the peer presents, after mlstls's verification accepted it. */
  validatePeer?: CredentialValidator;
  ciphersuites?: string | number | readonly (string | number)[];
  /**
   * Post-quantum key exchange (README, "Post-quantum"). false (default): the suites of `ciphersuites` as they are.
   * 'prefer': post-quantum suites first (X-Wing first; a client sends its KeyPackage in the ClientHello, so no extra
   * round trip with either kind of server). 'require': only post-quantum suites. Needs @noble/post-quantum.
   */
  postQuantum?: PostQuantumMode;
}

/** `ciphersuites` and `postQuantum` as one suite list; ERR_MLSTLS_PQ_UNAVAILABLE if a post-quantum suite cannot run. */
function configuredSuites(o: AuthOptions): number[] {
  const listed = parseSuiteList(o.ciphersuites);
  let suites: number[];
  try {
    suites = applyPostQuantum(listed, o.postQuantum, o.ciphersuites !== undefined);
  } catch (e) {
    throw e instanceof TypeError ? mlsTlsError("ERR_INVALID_ARG_VALUE", e.message) : e;
  }
  checkPostQuantumSuites(suites);
  return suites;
}

export interface ClientAuthOptions extends AuthOptions {
  /** Default tls.checkServerIdentity; called with (servername || host || "localhost", certificate). */
  checkServerIdentity?: CheckServerIdentity;
  /** As the user gave it to connect(): the first choice of name for the hostname check. */
  servername?: string;
  host?: string;
}

/**
 * node's SNICallback: answer with an mlstls SecureContext (from createSecureContext), or nothing (the default
 * identity). As node's, anything else fails the handshake with "Invalid SNI context", and an error drops the
 * connection without an alert.
 */
export type SNICallback = (
  servername: string,
  callback: (err: Error | null, context?: SecureContext | { context: SecureContext } | null) => void,
) => void;

export interface ServerAuthOptions extends AuthOptions {
  /** Verify client certificates (X.509 mode). Default false: clients are not verified, authorized stays false. */
  requestCert?: boolean;
  SNICallback?: SNICallback;
}

// ---------------------------------------------------------------------------------------------------------------
// Errors that keep their own identity through the engine

/** MlsTlsErrors wrapping an error of the user's (SNICallback) that the socket reports as is, as node does. */
const passThrough = new WeakSet<MlsTlsError>();

/**
 * Wraps an error thrown by a user callback so that it fails the connection (with `code`'s alert) and the socket
 * reports the user's error itself.
 */
export function wrapUserError(
  e: unknown,
  what: string,
  code: "ERR_MLSTLS_HANDSHAKE_FAILURE" | "ERR_MLSTLS_INTERNAL" | "ERR_MLSTLS_SNI_FAILED" = "ERR_MLSTLS_HANDSHAKE_FAILURE",
): MlsTlsError {
  const err = e instanceof Error ? e : new Error(String(e));
  const wrapped = mlsTlsError(code, `${what} failed: ${err.message}`, { cause: err });
  passThrough.add(wrapped);
  return wrapped;
}

/** The user's own error inside an engine error (SNICallback's), or undefined. */
export function userErrorOf(err: unknown): Error | undefined {
  return err instanceof MlsTlsError && passThrough.has(err) ? (err.cause as Error) : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Per-configuration resolution

/** What one connection gets: the suites to offer/accept, our identity, and its own validator. */
export interface ConnectionAuth {
  suites: number[];
  identity: IdentitySource | undefined;
  /** Server: the suites our identity for a server_name can sign for (undefined: any). */
  servableSuites?: (serverName: string | undefined) => Promise<readonly number[] | undefined>;
  validator: PeerValidator;
  validatePeer: CredentialValidator;
}

/** A resolved configuration; connection() is cheap and called once per connection. */
export interface AuthConfig {
  connection(): ConnectionAuth;
}

/** Marks the resolved configuration a Server or connect() hands to the sockets it makes. */
export const kAuth: unique symbol = Symbol("mlstls.auth");

let warnedRejectUnauthorized = false;

/** node's getAllowUnauthorized(): NODE_TLS_REJECT_UNAUTHORIZED=0 turns client verification off, with a warning. */
function clientRejectDefault(): boolean {
  if (process.env.NODE_TLS_REJECT_UNAUTHORIZED !== "0") return true;
  if (!warnedRejectUnauthorized) {
    warnedRejectUnauthorized = true;
    process.emitWarning(
      "Setting the NODE_TLS_REJECT_UNAUTHORIZED environment variable to '0' makes TLS connections " +
        "and HTTPS requests insecure by disabling certificate verification.",
    );
  }
  return false;
}

function identityParts(o: AuthOptions): { ctx: SecureContext; fn: IdentitySource | undefined } {
  if (o === null || typeof o !== "object") throw mlsTlsError("ERR_INVALID_ARG_TYPE", "options must be an object");
  if (typeof o.identity === "function") {
    if (present(o.key) || present(o.cert)) {
      throw mlsTlsError("ERR_INVALID_ARG_VALUE", "identity and key/cert are alternatives; give one of them");
    }
    const ctx = o.secureContext !== undefined ? toSecureContext(o.secureContext, "secureContext") : new SecureContext({ ca: o.ca, pfx: o.pfx });
    return { ctx, fn: o.identity };
  }
  if (o.secureContext !== undefined && o.secureContext !== null) return { ctx: toSecureContext(o.secureContext, "secureContext"), fn: undefined };
  return {
    ctx: new SecureContext({ key: o.key, cert: o.cert, passphrase: o.passphrase, ca: o.ca, pfx: o.pfx, identity: o.identity as IdentityOption | undefined }),
    fn: undefined,
  };
}

/** The configured suites our identity can serve; an explicit list that leaves none is a configuration error. */
function servableOf(configured: number[], explicit: boolean, servable: number[] | undefined, whose: string): number[] {
  if (servable === undefined) return configured;
  const usable = withPostQuantum(servable);
  const out = configured.filter((s) => usable.includes(s));
  if (out.length === 0 && explicit) {
    throw mlsTlsError(
      "ERR_MLSTLS_KEY_SUITE_MISMATCH",
      `${whose} key can sign only for MLS suites ${describeSuiteList(servable)}, but ciphersuites allows ${describeSuiteList(configured)}`,
    );
  }
  return out;
}

function composeValidator(validator: PeerValidator, user: CredentialValidator | undefined): CredentialValidator {
  if (user === undefined) return validator.validate;
  return async (peer) => (await validator.validate(peer)) && (await user(peer)) === true;
}

function checkFunction(v: unknown, name: string): void {
  if (v !== undefined && typeof v !== "function") throw mlsTlsError("ERR_INVALID_ARG_TYPE", `${name} must be a function`);
}

/** A client's configuration: one validator per connect() (its hostname is the connection's). */
export function clientAuth(o: ClientAuthOptions): AuthConfig {
  const configured = configuredSuites(o);
  const { ctx, fn } = identityParts(o);
  checkFunction(o.validatePeer, "validatePeer");
  const suites = fn !== undefined ? configured : servableOf(configured, o.ciphersuites !== undefined, ctx.servableSuites, "the client's");
  // The engine offers every suite in `suites` (all of them ones our key signs for) and asks for the identity of
  // each suite it sends a KeyPackage for.
  const identity: IdentitySource | undefined =
    fn ??
    (ctx.hasIdentity
      ? async ({ suite, binding }: { suite: number; binding?: Uint8Array }) =>
          (await ctx.identityForConnection(suite, "client", binding)) ?? ctx.identityFor(suites[0]!)!
      : undefined);
  const rejectUnauthorized = o.rejectUnauthorized ?? clientRejectDefault();
  const make = (): PeerValidator =>
    validatorFromTlsOptions("client", {
      ca: ctx.trust,
      rejectUnauthorized,
      servername: o.servername,
      host: o.host,
      checkServerIdentity: o.checkServerIdentity,
      allowPartialTrustChain: o.allowPartialTrustChain,
      fingerprints: o.fingerprints,
      verifyPeer: o.verifyPeer,
      allowIdentityRotation: o.allowIdentityRotation,
    });
  // Built now so that bad trust options throw from connect(); the first connection uses it.
  let first: PeerValidator | undefined = make();
  return {
    connection() {
      const validator = first ?? make();
      first = undefined;
      return { suites, identity, validator, validatePeer: composeValidator(validator, o.validatePeer) };
    },
  };
}

/** A server_name pattern from addContext(), as node builds it. */
export interface SniEntry {
  pattern: RegExp;
  context: SecureContext;
}

/**
 * A server's configuration. `sni` returns the addContext() entries at the time of each handshake, so contexts
 * added later apply to later connections, as in node.
 */
export function serverAuth(o: ServerAuthOptions, sni: () => readonly SniEntry[] = () => []): AuthConfig {
  const configured = configuredSuites(o);
  const explicit = o.ciphersuites !== undefined;
  // Post-quantum suites are served by keys of their signature scheme only when configured (withPostQuantum).
  const pqConfigured = configured.some((s) => suiteById(s)?.postQuantum === true);
  const { ctx, fn } = identityParts(o);
  checkFunction(o.validatePeer, "validatePeer");
  checkFunction(o.SNICallback, "SNICallback");
  if (fn === undefined) servableOf(configured, explicit, ctx.servableSuites, "the server's");
  const sniCallback = o.SNICallback;

  const make = (): PeerValidator =>
    validatorFromTlsOptions("server", {
      ca: ctx.trust,
      rejectUnauthorized: o.rejectUnauthorized !== false,
      requestCert: o.requestCert === true,
      allowPartialTrustChain: o.allowPartialTrustChain,
      fingerprints: o.fingerprints,
      verifyPeer: o.verifyPeer,
      allowIdentityRotation: o.allowIdentityRotation,
    });
  make();

  const fromCallback = (name: string, cb: SNICallback): Promise<SecureContext | undefined> =>
    new Promise((resolve, reject) => {
      let called = false;
      const done = (err: Error | null, c?: SecureContext | { context: SecureContext } | null): void => {
        if (called) return;
        called = true;
        if (err) {
          reject(wrapUserError(err, "SNICallback", "ERR_MLSTLS_SNI_FAILED"));
          return;
        }
        if (c === undefined || c === null) {
          resolve(undefined);
          return;
        }
        // As node: a SecureContext (or an object whose `context` is one), anything else is "Invalid SNI context",
        // an Error without a code.
        const sc = c instanceof SecureContext ? c : (c as { context?: unknown }).context;
        if (sc instanceof SecureContext) resolve(sc);
        else reject(wrapUserError(new Error("Invalid SNI context"), "SNICallback's context", "ERR_MLSTLS_SNI_FAILED"));
      };
      try {
        cb(name, done);
      } catch (e) {
        if (!called) {
          called = true;
          reject(wrapUserError(e, "SNICallback", "ERR_MLSTLS_SNI_FAILED"));
        }
      }
    });

  /** node's default SNICallback: the last added pattern that matches. */
  const fromEntries = (name: string): SecureContext | undefined => {
    const entries = sni();
    for (let i = entries.length - 1; i >= 0; i--) if (entries[i]!.pattern.test(name)) return entries[i]!.context;
    return undefined;
  };

  /** The context SNI picks for a server name (as node: SNI runs only when the client sent a name). */
  const pick = async (serverName: string | undefined): Promise<{ chosen: SecureContext; whose: string }> => {
    if (serverName) {
      const picked = sniCallback !== undefined ? await fromCallback(serverName, sniCallback) : fromEntries(serverName);
      if (picked !== undefined) return { chosen: picked, whose: `the server's identity for "${serverName}"` };
    }
    return { chosen: ctx, whose: "the server's identity" };
  };

  const chooseIdentity = async (
    picked: Promise<{ chosen: SecureContext; whose: string }>,
    suite: number,
    binding: Uint8Array | undefined,
    peerKey: Uint8Array | undefined,
  ): Promise<LocalIdentity> => {
    let { chosen, whose } = await picked;
    // As node (OpenSSL keeps the certificate it has when the SNI context brings none): a context without an
    // identity serves the default one. Its `ca` still verifies the client (useTrust above).
    if (!chosen.hasIdentity && chosen !== ctx) ({ chosen, whose } = { chosen: ctx, whose: "the server's identity" });
    const servable = chosen.servableSuites;
    if (servable === undefined) {
      // A server that configures SNI but has no certificate for this name, not even a default one, fails as
      // node's does (OpenSSL: "passed a null parameter"), rather than serve an anonymous identity nobody asked for.
      throw mlsTlsError(
        "ERR_MLSTLS_HANDSHAKE_FAILURE",
        `passed a null parameter: ${whose} has no certificate (SNI chose a context without one, and the server has none)`,
      );
    }
    const id = await chosen.identityForConnection(suite, "server", binding, peerKey);
    if (id === undefined) {
      throw mlsTlsError(
        "ERR_MLSTLS_CIPHERSUITE_MISMATCH",
        `the client offered MLS suite ${describeSuiteList([suite])}, but ${whose} can sign only for ${describeSuiteList(servable)}`,
      );
    }
    return id;
  };

  return {
    connection() {
      const entries = sni();
      const validator = make();
      let suites = configured;
      let identity: IdentitySource | undefined = fn;
      let servableSuites: ConnectionAuth["servableSuites"];
      if (fn === undefined) {
        if (sniCallback === undefined && entries.length === 0 && !ctx.hasIdentity) {
          // Nothing configured: the engine's anonymous identity for whatever suite the client offers.
          identity = undefined;
        } else {
          // One SNI decision per connection: choosing the suite and then the identity both ask for it.
          let picked: { name: string | undefined; p: Promise<{ chosen: SecureContext; whose: string }> } | undefined;
          const pickOnce = (name: string | undefined): Promise<{ chosen: SecureContext; whose: string }> => {
            if (picked === undefined || picked.name !== name) {
              // The client's certificate is checked against the chosen context's `ca`, as node's SNI does.
              const p = pick(name).then((r) => (validator.useTrust(r.chosen.trust), r));
              picked = { name, p };
            }
            return picked.p;
          };
          identity = ({ suite, serverName, binding, peerKey }) => chooseIdentity(pickOnce(serverName), suite, binding, peerKey);
          servableSuites = async (serverName) => {
            const picked = (await pickOnce(serverName)).chosen;
            const servable = (picked.hasIdentity ? picked : ctx).servableSuites;
            return servable === undefined || !pqConfigured ? servable : withPostQuantum(servable);
          };
          if (sniCallback === undefined) {
            // Accept only suites some identity can serve, so a client offering another suite hears so at once.
            const all = [ctx, ...entries.map((e) => e.context)].map((c) => c.servableSuites);
            if (!all.includes(undefined)) {
              const union = new Set(pqConfigured ? withPostQuantum(all.flatMap((s) => s!)) : all.flatMap((s) => s!));
              suites = configured.filter((s) => union.has(s));
            }
          }
        }
      }
      return { suites, identity, servableSuites, validator, validatePeer: composeValidator(validator, o.validatePeer) };
    },
  };
}
