// Commits a genuine peer would never send: valid MLS, from the right member and epoch, but carrying proposals a
// ConnectionUpdate must not have (or sent as a PublicMessage). (A commit removing its own committer is not listed:
// ts-mls refuses to build one.) Built with ts-mls from a copy of a live engine's
// MLS state, for the hostile-peer tests; lib/ never makes these.

import {
  createCommit,
  decodeGroupState,
  defaultAuthenticationService,
  defaultCapabilities,
  defaultCryptoProvider,
  defaultKeyPackageEqualityConfig,
  defaultKeyRetentionConfig,
  defaultLifetime,
  defaultLifetimeConfig,
  defaultPaddingConfig,
  encodeMlsMessage,
  generateKeyPackage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
} from "ts-mls";
import type { ClientState, Proposal } from "ts-mls";
import type { MlsSession } from "../../lib/mls/session.js";

export type ForeignCommitKind = "remove-peer" | "add" | "group-context-extensions" | "reinit" | "custom" | "public-message";

export const FOREIGN_COMMIT_KINDS: readonly ForeignCommitKind[] = [
  "remove-peer",
  "add",
  "group-context-extensions",
  "reinit",
  "custom",
  "public-message",
];

/** An MLSMessage commit made from `session`'s state (not applied to it). */
export async function foreignCommit(session: MlsSession, kind: ForeignCommitKind): Promise<Uint8Array> {
  const encoded = session.encode();
  const decoded = decodeGroupState(encoded, 3);
  if (decoded === undefined) throw new Error("cannot decode the engine's MLS state");
  const state: ClientState = {
    ...decoded[0],
    clientConfig: {
      keyRetentionConfig: defaultKeyRetentionConfig,
      lifetimeConfig: defaultLifetimeConfig,
      keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
      paddingConfig: defaultPaddingConfig,
      authService: defaultAuthenticationService,
    },
  };
  const impl = await getCiphersuiteImpl(getCiphersuiteFromName(state.groupContext.cipherSuite), defaultCryptoProvider);
  const peer = session.peerLeafIndex;
  let proposals: Proposal[] = [];
  switch (kind) {
    case "remove-peer":
      proposals = [{ proposalType: "remove", remove: { removed: peer } }];
      break;
    case "add": {
      const kp = await generateKeyPackage(
        { credentialType: "basic", identity: new TextEncoder().encode("intruder") },
        defaultCapabilities(),
        defaultLifetime,
        [],
        impl,
      );
      proposals = [{ proposalType: "add", add: { keyPackage: kp.publicPackage } }];
      break;
    }
    case "group-context-extensions":
      proposals = [{ proposalType: "group_context_extensions", groupContextExtensions: { extensions: [] } }];
      break;
    case "reinit":
      proposals = [
        {
          proposalType: "reinit",
          reinit: { groupId: state.groupContext.groupId, version: "mls10", cipherSuite: state.groupContext.cipherSuite, extensions: [] },
        },
      ];
      break;
    case "custom":
      proposals = [{ proposalType: 0xf0f0, proposalData: Uint8Array.of(1, 2, 3) }];
      break;
    case "public-message":
      break;
  }
  const result = await createCommit(
    { state, cipherSuite: impl },
    { extraProposals: proposals, wireAsPublicMessage: kind === "public-message" },
  );
  return encodeMlsMessage(result.commit);
}
