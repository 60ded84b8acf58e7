// tlsSocket.setKeyCert(context): node's way to choose a socket's key and certificate late, typically a server's
// from its ALPNCallback. The engine asks for its identity only after the ALPN choice (and, on a client, when it
// builds the ClientHello), so a context set by then is the one the connection uses.

import { mlsTlsError } from "../errors.js";
import { type SecureContext, toSecureContext } from "../auth/secure-context.js";
import { anonymousIdentity, type LocalIdentity } from "../mls/index.js";
import type { IdentityContext, IdentitySource } from "../protocol/index.js";
import { describeSuiteList } from "../auth/identity.js";

export class KeyCertOverride {
  private context: SecureContext | undefined;
  /** Whether the connection's identity came from setKeyCert(). */
  used = false;

  /** node's setKeyCert(): a SecureContext, or options for one (createSecureContext's, with key and cert). */
  set(context: unknown): void {
    this.context = toSecureContext(context, "setKeyCert's context");
  }

  get isSet(): boolean {
    return this.context !== undefined;
  }

  /**
   * The suites a server accepts while wrapped: what `servable` says, or, for a fixed identity, its suite (as the
   * engine derives it when it is given the identity itself rather than a function).
   */
  servable(
    base: IdentitySource | undefined,
    servable: ((serverName: string | undefined) => Promise<readonly number[] | undefined>) | undefined,
  ): ((serverName: string | undefined) => Promise<readonly number[] | undefined>) | undefined {
    if (servable !== undefined || base === undefined || typeof base === "function") return servable;
    return async () => [base.suite];
  }

  /**
   * The identity source for the engine: the setKeyCert() context when one was set in time, else `base` (and, with
   * nothing configured, the engine's anonymous identity, as without this wrapper).
   */
  wrap(base: IdentitySource | undefined, role: "client" | "server"): IdentitySource {
    return async (ctx: IdentityContext): Promise<LocalIdentity> => {
      const chosen = this.context;
      if (chosen !== undefined) {
        const id = await chosen.identityForConnection(ctx.suite, role, ctx.binding, ctx.peerKey);
        // A client offers only what its key signs for: another suite's identity makes it drop this one.
        const other = chosen.servableSuites?.[0];
        if (id === undefined && role === "client" && other !== undefined) return chosen.identityFor(other)!;
        if (id === undefined) {
          throw mlsTlsError(
            "ERR_MLSTLS_CIPHERSUITE_MISMATCH",
            `setKeyCert()'s key cannot sign for the connection's MLS suite ${describeSuiteList([ctx.suite])}; ` +
              `it signs for ${describeSuiteList(chosen.servableSuites ?? [])}`,
          );
        }
        this.used = true;
        return id;
      }
      if (base === undefined) return anonymousIdentity(ctx.suite);
      return typeof base === "function" ? base(ctx) : base;
    };
  }
}
