import { expect } from "chai";
import {
  createCommit,
  decodeGroupState,
  defaultAuthenticationService,
  defaultKeyPackageEqualityConfig,
  defaultKeyRetentionConfig,
  defaultLifetimeConfig,
  defaultPaddingConfig,
  encodeMlsMessage,
  generateKeyPackage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  nobleCryptoProvider,
  type CiphersuiteImpl,
  type CiphersuiteName,
  type ClientConfig,
  type ClientState,
} from "ts-mls";
import { createContentCommitSignature } from "ts-mls/framedContent.js";
import { protect } from "ts-mls/messageProtection.js";
import { encryptSenderData } from "ts-mls/privateMessage.js";
import { MlsTlsError } from "../../lib/errors.js";
import {
  MLSTLS_EXTENSION_TYPES,
  MlsSession,
  acceptKeyPackage,
  createKeyPackage,
  generateIdentity,
  identityFromKeys,
  inspectKeyPackage,
  joinFromWelcome,
  MlsCrypto,
  type CredentialValidator,
  type HelloExtensions,
  type LocalIdentity,
  type PeerCredential,
} from "../../lib/mls/index.js";
import { suiteById } from "../../lib/suites.js";

const LABEL = "mlstls test";
const CTX = new Uint8Array([1, 2, 3]);

async function expectCode(p: Promise<unknown> | (() => unknown), code: string): Promise<MlsTlsError> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(MlsTlsError);
    expect((e as MlsTlsError).code, (e as Error).message).to.equal(code);
    if (process.env.MLSTLS_SHOW) console.log("        ->", (e as Error).message);
    return e as MlsTlsError;
  }
  expect.fail(`expected ${code}, but nothing was thrown`);
}

async function sameExporter(a: MlsSession, b: MlsSession): Promise<Uint8Array> {
  const x = await a.exportSecret(LABEL, CTX, 32);
  const y = await b.exportSecret(LABEL, CTX, 32);
  expect(x).to.deep.equal(y);
  return x;
}

interface Pair {
  client: MlsSession;
  server: MlsSession;
  clientId: LocalIdentity;
  serverId: LocalIdentity;
}

async function handshake(
  suite = 1,
  opts: { ext?: HelloExtensions; alpn?: string | null; clientId?: LocalIdentity; serverId?: LocalIdentity } = {},
): Promise<Pair> {
  const clientId = opts.clientId ?? (await generateIdentity(suite));
  const serverId = opts.serverId ?? (await generateIdentity(suite, { type: "basic", identity: new TextEncoder().encode("server") }));
  const { message, pending } = await createKeyPackage(clientId, opts.ext ?? {});
  const offer = await inspectKeyPackage(message, [suite]);
  const { session: server, welcome } = await acceptKeyPackage(offer, serverId, { alpnProtocol: opts.alpn ?? null });
  const client = await joinFromWelcome(pending, welcome, {});
  return { client, server, clientId, serverId };
}

// --- access to the raw ts-mls state of a session, to build hostile commits as a malicious peer would ---------

const testConfig: ClientConfig = {
  keyRetentionConfig: { ...defaultKeyRetentionConfig, retainKeysForEpochs: 1 },
  lifetimeConfig: defaultLifetimeConfig,
  keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
  paddingConfig: defaultPaddingConfig,
  authService: defaultAuthenticationService,
};

function rawState(s: MlsSession): ClientState {
  const decoded = decodeGroupState(s.encode(), 3);
  if (decoded === undefined) throw new Error("cannot decode session");
  return { ...decoded[0], clientConfig: testConfig };
}

async function implFor(suite: number): Promise<CiphersuiteImpl> {
  return getCiphersuiteImpl(getCiphersuiteFromName(suiteById(suite)!.name as CiphersuiteName));
}

describe("mls-session", function () {
  this.timeout(20000);

  describe("compact sessions", () => {
    it("a compact session and a compact pending update stay the same: encoding, exporter, commits", async () => {
      const { client, server } = await handshake();
      const encoded = client.encode();
      const secret = await client.exportSecret(LABEL, CTX, 32);
      const epoch = client.epoch;
      client.compact();
      server.compact();
      expect(client.isCompact && server.isCompact).to.equal(true);
      // Reading the epoch does not decode the state.
      expect(client.epoch).to.equal(epoch);
      expect(client.isCompact).to.equal(true);
      expect(await client.exportSecret(LABEL, CTX, 32)).to.deep.equal(secret);
      expect(client.isCompact).to.equal(false);
      expect(client.encode()).to.deep.equal(encoded);
      client.compact();
      const update = await client.createUpdate();
      const after = update.encodeAfter();
      update.compact();
      expect(update.encodeAfter()).to.deep.equal(after);
      update.compact();
      const next = await server.processUpdate(update.commit);
      const applied = update.apply();
      await sameExporter(applied, next);
      applied.compact();
      applied.dispose();
      await expectCode(applied.exportSecret(LABEL, CTX, 32), "ERR_TLS_INVALID_STATE");
    });
  });

  describe("handshake", () => {
    for (const suite of [1, 2, 3, 7]) {
      it(`adds and joins with suite ${suite}; both export the same secret`, async () => {
        const t0 = performance.now();
        const { client, server, clientId, serverId } = await handshake(suite);
        const ms = performance.now() - t0;
        expect(client.suite).to.equal(suite);
        expect(server.suite).to.equal(suite);
        expect(client.epoch).to.equal(server.epoch);
        expect(client.groupId).to.deep.equal(server.groupId);
        expect(server.ownLeafIndex).to.equal(0);
        expect(client.ownLeafIndex).to.equal(1);
        expect(client.peerLeafIndex).to.equal(0);
        expect(server.peerLeafIndex).to.equal(1);
        expect(client.peerCredential).to.deep.equal({ credential: serverId.credential, signaturePublicKey: serverId.signaturePublicKey });
        expect(server.peerCredential).to.deep.equal({ credential: clientId.credential, signaturePublicKey: clientId.signaturePublicKey });
        expect(client.ownCredential).to.deep.equal(server.peerCredential);
        expect(client.alpnProtocol).to.equal(null);
        const secret = await sameExporter(client, server);
        expect(secret.length).to.equal(32);
        expect(await client.exportSecret("other", CTX, 32)).to.not.deep.equal(secret);
        if (process.env.MLSTLS_TIMINGS) console.log(`      suite ${suite} handshake ${ms.toFixed(1)} ms`);
      });
    }

    it("carries SNI and ALPN offers in the KeyPackage and the ALPN choice in the GroupContext", async () => {
      const clientId = await generateIdentity(1);
      const serverId = await generateIdentity(1);
      const { message, pending } = await createKeyPackage(clientId, { serverName: "example.com", alpnProtocols: ["h2", "http/1.1"] });
      expect(pending.alpnProtocols).to.deep.equal(["h2", "http/1.1"]);
      const offer = await inspectKeyPackage(message, [2, 1]);
      expect(offer.suite).to.equal(1);
      expect(offer.serverName).to.equal("example.com");
      expect(offer.alpnProtocols).to.deep.equal(["h2", "http/1.1"]);
      expect(offer.peer.signaturePublicKey).to.deep.equal(clientId.signaturePublicKey);
      const { session: server, welcome } = await acceptKeyPackage(offer, serverId, { alpnProtocol: "http/1.1" });
      const client = await joinFromWelcome(pending, welcome);
      expect(server.alpnProtocol).to.equal("http/1.1");
      expect(client.alpnProtocol).to.equal("http/1.1");
      await sameExporter(client, server);
    });

    it("reports no SNI and no ALPN when none were offered", async () => {
      const { message } = await createKeyPackage(await generateIdentity(1));
      const offer = await inspectKeyPackage(message, [1]);
      expect(offer.serverName).to.equal(undefined);
      expect(offer.alpnProtocols).to.deep.equal([]);
    });

    it("refuses to select an ALPN protocol the client did not offer", async () => {
      const { message } = await createKeyPackage(await generateIdentity(1), { alpnProtocols: ["h2"] });
      const offer = await inspectKeyPackage(message, [1]);
      let err: unknown;
      try {
        await acceptKeyPackage(offer, await generateIdentity(1), { alpnProtocol: "spdy/3" });
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(TypeError);
    });

    it("names both sides' suites on a ciphersuite mismatch", async () => {
      const { message } = await createKeyPackage(await generateIdentity(3));
      const e = await expectCode(inspectKeyPackage(message, [1, 2]), "ERR_MLSTLS_CIPHERSUITE_MISMATCH");
      expect(e.message).to.contain("MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519 (3)");
      expect(e.message).to.contain("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 (1)");
      expect(e.message).to.contain("MLS_128_DHKEMP256_AES128GCM_SHA256_P256 (2)");
      expect(e.alert).to.equal(40);
      // A suite no one knows (GREASE-like) is named by its number.
      const odd = message.slice();
      odd[6] = 0x0a;
      odd[7] = 0x0a;
      const e2 = await expectCode(inspectKeyPackage(odd, [1]), "ERR_MLSTLS_CIPHERSUITE_MISMATCH");
      expect(e2.message).to.contain("0x0a0a");
    });

    it("rejects undecodable, wrong-kind, trailing-byte and forged KeyPackages", async () => {
      const id = await generateIdentity(1);
      const { message } = await createKeyPackage(id);
      await expectCode(inspectKeyPackage(new Uint8Array([1, 2, 3]), [1]), "ERR_MLSTLS_DECODE_ERROR");
      await expectCode(inspectKeyPackage(message.subarray(0, message.length - 5), [1]), "ERR_MLSTLS_DECODE_ERROR");
      await expectCode(inspectKeyPackage(Uint8Array.from([...message, 0]), [1]), "ERR_MLSTLS_DECODE_ERROR");
      const { welcome } = await acceptKeyPackage(await inspectKeyPackage(message, [1]), await generateIdentity(1));
      await expectCode(inspectKeyPackage(welcome, [1]), "ERR_MLSTLS_DECODE_ERROR");
      const forged = message.slice();
      forged[forged.length - 3]! ^= 0x01; // inside the KeyPackage signature
      await expectCode(inspectKeyPackage(forged, [1]), "ERR_MLSTLS_BAD_CREDENTIAL");
    });

    it("calls the validator for the client's KeyPackage and the server's credential", async () => {
      const clientId = await generateIdentity(2);
      const serverId = await generateIdentity(2, { type: "x509", certificates: [new Uint8Array([0x30, 0x01, 0x00])] });
      const seenByServer: PeerCredential[] = [];
      const seenByClient: PeerCredential[] = [];
      const { message, pending } = await createKeyPackage(clientId);
      const offer = await inspectKeyPackage(message, [2], (p) => (seenByServer.push(p), true));
      const { welcome } = await acceptKeyPackage(offer, serverId);
      await joinFromWelcome(pending, welcome, { validate: (p) => (seenByClient.push(p), true) });
      expect(seenByServer).to.deep.equal([{ credential: clientId.credential, signaturePublicKey: clientId.signaturePublicKey }]);
      // Called once per distinct credential, and never for our own leaf.
      expect(seenByClient).to.deep.equal([{ credential: serverId.credential, signaturePublicKey: serverId.signaturePublicKey }]);
      expect(serverId.signaturePublicKey.length).to.equal(65);
    });

    it("fails with BAD_CREDENTIAL when a validator refuses, and passes a validator's own MlsTlsError on", async () => {
      const clientId = await generateIdentity(1);
      const { message, pending } = await createKeyPackage(clientId);
      await expectCode(inspectKeyPackage(message, [1], () => false), "ERR_MLSTLS_BAD_CREDENTIAL");
      const offer = await inspectKeyPackage(message, [1]);
      const { welcome } = await acceptKeyPackage(offer, await generateIdentity(1));
      await expectCode(joinFromWelcome(pending, welcome, { validate: async () => false }), "ERR_MLSTLS_BAD_CREDENTIAL");
      const mine = new MlsTlsError("ERR_MLSTLS_BAD_CREDENTIAL", "certificate expired");
      const e = await expectCode(
        joinFromWelcome(pending, welcome, {
          validate: () => {
            throw mine;
          },
        }),
        "ERR_MLSTLS_BAD_CREDENTIAL",
      );
      expect(e).to.equal(mine);
      // A failed join leaves the KeyPackage usable.
      const client = await joinFromWelcome(pending, welcome);
      expect(client.epoch).to.equal(1n);
      // ...but only once.
      await expectCode(joinFromWelcome(pending, welcome), "ERR_TLS_INVALID_STATE");
    });

    it("rejects a Welcome that was made for another KeyPackage", async () => {
      const a = await createKeyPackage(await generateIdentity(1));
      const b = await createKeyPackage(await generateIdentity(1));
      const { welcome } = await acceptKeyPackage(await inspectKeyPackage(a.message, [1]), await generateIdentity(1));
      const e = await expectCode(joinFromWelcome(b.pending, welcome), "ERR_MLSTLS_MLS_REJECTED");
      expect(e.cause).to.be.instanceOf(Error);
      await expectCode(joinFromWelcome(b.pending, a.message), "ERR_MLSTLS_DECODE_ERROR");
    });

    it("accepts an identity from existing keys in each documented encoding", async () => {
      for (const suite of [1, 2, 7]) {
        const g = await generateIdentity(suite);
        const id = identityFromKeys(suite, g.credential, g.signaturePublicKey, g.signaturePrivateKey);
        expect(id.signaturePublicKey).to.deep.equal(g.signaturePublicKey);
        const other = await generateIdentity(suite);
        expect(() => identityFromKeys(suite, g.credential, other.signaturePublicKey, g.signaturePrivateKey)).to.throw(TypeError);
      }
      const ed = await generateIdentity(1);
      const pkcs8 = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20, ...ed.signaturePrivateKey]);
      expect(identityFromKeys(3, ed.credential, ed.signaturePublicKey, pkcs8).signaturePrivateKey).to.deep.equal(ed.signaturePrivateKey);
      const p = await generateIdentity(2);
      const compressed = Uint8Array.from([2 + (p.signaturePublicKey[64]! & 1), ...p.signaturePublicKey.subarray(1, 33)]);
      expect(identityFromKeys(2, p.credential, compressed, p.signaturePrivateKey).signaturePublicKey).to.deep.equal(p.signaturePublicKey);
      // An Ed25519 identity serves suite 3 as well as suite 1; a P-256 one does not.
      const { message } = await createKeyPackage(await generateIdentity(3));
      const offer = await inspectKeyPackage(message, [3]);
      await expectCode(acceptKeyPackage(offer, p), "ERR_MLSTLS_CIPHERSUITE_MISMATCH");
    });
  });

  describe("updates", () => {
    it("an update applied by one side and processed by the other ends in the same epoch (both directions)", async () => {
      const { client, server } = await handshake(1);
      const before = await sameExporter(client, server);

      const t0 = performance.now();
      const u = await client.createUpdate();
      expect(u.newEpoch).to.equal(2n);
      const client2 = u.apply();
      const server2 = await server.processUpdate(u.commit, {});
      const ms = performance.now() - t0;
      expect(client2.epoch).to.equal(2n);
      expect(server2.epoch).to.equal(2n);
      const after = await sameExporter(client2, server2);
      expect(after).to.not.deep.equal(before);
      // The old sessions stay usable until disposed.
      expect(await client.exportSecret(LABEL, CTX, 32)).to.deep.equal(before);
      client.dispose();
      server.dispose();
      await expectCode(client.exportSecret(LABEL, CTX, 32), "ERR_TLS_INVALID_STATE");

      const v = await server2.createUpdate();
      const server3 = v.apply();
      const client3 = await client2.processUpdate(v.commit, {});
      expect(server3.epoch).to.equal(3n);
      await sameExporter(client3, server3);
      expect(client3.peerCredential).to.deep.equal(client2.peerCredential);
      if (process.env.MLSTLS_TIMINGS) console.log(`      update create+apply+process ${ms.toFixed(1)} ms`);
    });

    it("race: the responder discards its pending update, processes the initiator's, and both end equal", async () => {
      const { client, server } = await handshake(1);
      const mine = await server.createUpdate();
      const theirs = await client.createUpdate();
      // The loser drops its commit first: the old state must survive that (zeroing trap in the notes).
      mine.discard();
      expect(() => mine.apply()).to.throw(MlsTlsError);
      const server2 = await server.processUpdate(theirs.commit, {});
      const client2 = theirs.apply();
      expect(server2.epoch).to.equal(client2.epoch);
      await sameExporter(client2, server2);
      // The initiator ignores the loser's commit; a stale commit is refused anyway.
      await expectCode(client2.processUpdate(mine.commit, {}), "ERR_MLSTLS_WRONG_EPOCH");
      // The loser re-issues from the new epoch.
      const again = await server2.createUpdate();
      const client3 = await client2.processUpdate(again.commit, {});
      await sameExporter(client3, again.apply());
    });

    it("resumption +2: the responder applies its pending commit, then the initiator's next one", async () => {
      const { client, server } = await handshake(1);
      const pending = await server.createUpdate();
      // The initiator processed the responder's commit and updated again before the connection broke.
      const client2 = await client.processUpdate(pending.commit, {});
      const u = await client2.createUpdate();
      const client3 = u.apply();
      const peek = MlsSession.peekCommitEpoch(u.commit);
      expect(peek.epoch).to.equal(server.epoch + 1n);
      const server2 = pending.apply();
      const server3 = await server2.processUpdate(u.commit, {});
      expect(server3.epoch).to.equal(server.epoch + 2n);
      await sameExporter(client3, server3);
    });

    it("keeps working across a change of crypto provider, per session, with no global switch", async () => {
      const { client, server } = await handshake(3);
      const noble = new MlsCrypto({ provider: "noble" });
      // The client's session continues under the noble provider; the server's stays on node:crypto.
      const clientNoble = MlsSession.decode(client.encode(), noble);
      const u = await clientNoble.createUpdate();
      const server2 = await server.processUpdate(u.commit, {});
      await sameExporter(u.apply(), server2);
      // A whole handshake with a noble client and a node:crypto server.
      const clientId = await generateIdentity(3, undefined, noble);
      const serverId = await generateIdentity(3);
      const { message, pending } = await createKeyPackage(clientId, {}, noble);
      const offer = await inspectKeyPackage(message, [3]);
      const { session: s, welcome } = await acceptKeyPackage(offer, serverId);
      await sameExporter(await joinFromWelcome(pending, welcome), s);
    });

    it("is deterministic under an injected random source and clock: the same seed gives the same bytes", async () => {
      // ts-mls checks KeyPackage lifetimes against its own clock, so the fixed time is the real one, taken once.
      const fixedNow = Date.now();
      const run = async () => {
        let counter = 0;
        const randomBytes = (n: number): Uint8Array => {
          const out = new Uint8Array(n);
          for (let i = 0; i < n; i++) out[i] = (counter++ * 131 + 7) & 0xff;
          return out;
        };
        const crypto = new MlsCrypto({ randomBytes, now: () => fixedNow });
        // Ed25519 signatures are deterministic; node's ECDSA draws its nonces from OpenSSL (suites 2 and 7 differ).
        const clientId = await generateIdentity(1, undefined, crypto);
        const serverId = await generateIdentity(1, undefined, crypto);
        const { message, pending } = await createKeyPackage(clientId, { serverName: "example.test" }, crypto);
        const offer = await inspectKeyPackage(message, [1], undefined, crypto);
        const { session: server, welcome } = await acceptKeyPackage(offer, serverId, { crypto });
        const client = await joinFromWelcome(pending, welcome);
        const update = await client.createUpdate();
        return { message, welcome, commit: update.commit, server: server.encode() };
      };
      const a = await run();
      const b = await run();
      expect(Buffer.from(a.message).equals(Buffer.from(b.message))).to.equal(true);
      expect(Buffer.from(a.welcome).equals(Buffer.from(b.welcome))).to.equal(true);
      expect(Buffer.from(a.commit).equals(Buffer.from(b.commit))).to.equal(true);
      expect(Buffer.from(a.server).equals(Buffer.from(b.server))).to.equal(true);
    });

    it("allows only one commit per epoch state", async () => {
      const { server } = await handshake(1);
      const u = await server.createUpdate();
      expect(server.commitIssued).to.equal(true);
      await expectCode(server.createUpdate(), "ERR_TLS_INVALID_STATE");
      u.discard();
      await expectCode(server.createUpdate(), "ERR_TLS_INVALID_STATE");
    });

    it("encodes and decodes sessions mid-flow, including a pending update", async () => {
      const { client, server } = await handshake(1, { ext: { alpnProtocols: ["h2"] }, alpn: "h2" });
      const pending = await server.createUpdate();
      const sBytes = server.encode();
      const pBytes = pending.encode();
      const cBytes = client.encode();
      expect(sBytes.length).to.be.lessThan(4000);

      const server1 = MlsSession.decode(sBytes);
      const client1 = MlsSession.decode(cBytes);
      expect(server1.commitIssued).to.equal(true);
      expect(server1.alpnProtocol).to.equal("h2");
      expect(server1.peerCredential).to.deep.equal(server.peerCredential);
      await sameExporter(server1, client1);
      const restored = MlsSession.decode(server.encode()).decodePendingUpdate(pBytes);
      expect(restored.commit).to.deep.equal(pending.commit);
      expect(restored.newEpoch).to.equal(2n);

      const client2 = await client1.processUpdate(restored.commit, {});
      const server2 = restored.apply();
      await sameExporter(client2, server2);
      await sameExporter(client2, pending.apply());

      // A pending update only fits the session it was made from.
      await expectCode(() => client2.decodePendingUpdate(pBytes), "ERR_TLS_INVALID_STATE");
      await expectCode(() => MlsSession.decode(sBytes.subarray(0, 100)), "ERR_MLSTLS_DECODE_ERROR");
      await expectCode(() => MlsSession.decode(Uint8Array.from([...sBytes, 0])), "ERR_MLSTLS_DECODE_ERROR");
      await expectCode(() => MlsSession.decode(pBytes), "ERR_MLSTLS_DECODE_ERROR");
    });

    it("peeks group id and epoch of a commit without state", async () => {
      const { client, server } = await handshake(1);
      const u = await client.createUpdate();
      const peek = MlsSession.peekCommitEpoch(u.commit);
      expect(peek.epoch).to.equal(1n);
      expect(peek.groupId).to.deep.equal(server.groupId);
      await expectCode(() => MlsSession.peekCommitEpoch(new Uint8Array([0, 1, 0, 2, 9])), "ERR_MLSTLS_DECODE_ERROR");
      await expectCode(() => MlsSession.peekCommitEpoch(Uint8Array.from([...u.commit, 0])), "ERR_MLSTLS_DECODE_ERROR");
    });
  });

  describe("ConnectionUpdate policy", () => {
    let pair: Pair;
    let impl: CiphersuiteImpl;
    before(async () => {
      pair = await handshake(1);
      impl = await implFor(1);
    });

    it("rejects a commit with an Add proposal", async () => {
      const third = await generateKeyPackage({ credentialType: "basic", identity: new Uint8Array([7]) }, {
        versions: ["mls10"],
        ciphersuites: ["MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519"],
        extensions: [],
        proposals: [],
        credentials: ["basic", "x509"],
      }, { notBefore: 0n, notAfter: 2n ** 62n }, [], impl);
      const r = await createCommit(
        { state: rawState(pair.client), cipherSuite: impl },
        { extraProposals: [{ proposalType: "add", add: { keyPackage: third.publicPackage } }] },
      );
      const e = await expectCode(pair.server.processUpdate(encodeMlsMessage(r.commit), {}), "ERR_MLSTLS_COMMIT_POLICY");
      expect(e.message).to.contain("add");
    });

    it("rejects a commit with a Remove proposal", async () => {
      const r = await createCommit({ state: rawState(pair.client), cipherSuite: impl }, { extraProposals: [{ proposalType: "remove", remove: { removed: 0 } }] });
      const e = await expectCode(pair.server.processUpdate(encodeMlsMessage(r.commit), {}), "ERR_MLSTLS_COMMIT_POLICY");
      expect(e.message).to.contain("remove");
    });

    it("rejects a GroupContextExtensions commit (which ts-mls sends without a path)", async () => {
      const r = await createCommit(
        { state: rawState(pair.client), cipherSuite: impl },
        { extraProposals: [{ proposalType: "group_context_extensions", groupContextExtensions: { extensions: [] } }] },
      );
      await expectCode(pair.server.processUpdate(encodeMlsMessage(r.commit), {}), "ERR_MLSTLS_COMMIT_POLICY");
    });

    it("rejects an empty commit without an UpdatePath", async () => {
      // ts-mls never builds one, so build it by hand: signed and encrypted by the peer, no proposals, no path.
      const st = rawState(pair.client);
      const { framedContent, signature } = await createContentCommitSignature(
        st.groupContext,
        "mls_private_message",
        { proposals: [], path: undefined },
        { senderType: "member", leafIndex: st.privatePath.leafIndex },
        new Uint8Array(),
        st.signaturePrivateKey,
        impl.signature,
      );
      const { privateMessage } = await protect(
        st.keySchedule.senderDataSecret,
        new Uint8Array(),
        st.groupContext,
        st.secretTree,
        { ...framedContent, auth: { contentType: "commit", signature, confirmationTag: new Uint8Array(32) } },
        st.privatePath.leafIndex,
        st.clientConfig.paddingConfig,
        impl,
      );
      const bytes = encodeMlsMessage({ version: "mls10", wireformat: "mls_private_message", privateMessage });
      const e = await expectCode(pair.server.processUpdate(bytes, {}), "ERR_MLSTLS_COMMIT_POLICY");
      expect(e.message).to.contain("UpdatePath");
    });

    it("rejects a PublicMessage commit", async () => {
      const r = await createCommit({ state: rawState(pair.client), cipherSuite: impl }, { wireAsPublicMessage: true });
      await expectCode(pair.server.processUpdate(encodeMlsMessage(r.commit), {}), "ERR_MLSTLS_COMMIT_POLICY");
    });

    it("rejects our own commit reflected back", async () => {
      const u = await pair.server.createUpdate();
      const e = await expectCode(pair.server.processUpdate(u.commit, {}), "ERR_MLSTLS_COMMIT_POLICY");
      expect(e.message).to.contain("own leaf");
      // The old state is still fine for the peer's commit afterwards.
      const c = await pair.client.createUpdate();
      const s2 = await pair.server.processUpdate(c.commit, {});
      await sameExporter(s2, c.apply());
      u.discard();
      pair = await handshake(1);
    });

    it("rejects a commit from a leaf that is neither ours nor the peer's", async () => {
      const st = rawState(pair.client);
      const ciphertext = new Uint8Array(120).fill(0x55);
      const encryptedSenderData = await encryptSenderData(
        st.keySchedule.senderDataSecret,
        { leafIndex: 5, generation: 0, reuseGuard: new Uint8Array(4) as never },
        { groupId: st.groupContext.groupId, epoch: st.groupContext.epoch, contentType: "commit" },
        ciphertext,
        impl,
      );
      const bytes = encodeMlsMessage({
        version: "mls10",
        wireformat: "mls_private_message",
        privateMessage: { groupId: st.groupContext.groupId, epoch: st.groupContext.epoch, contentType: "commit", authenticatedData: new Uint8Array(), encryptedSenderData, ciphertext },
      });
      const e = await expectCode(pair.server.processUpdate(bytes, {}), "ERR_MLSTLS_COMMIT_POLICY");
      expect(e.message).to.contain("leaf 5");
    });

    it("rejects garbage, truncated and trailing-byte messages", async () => {
      const u = await pair.client.createUpdate();
      await expectCode(pair.server.processUpdate(new Uint8Array(), {}), "ERR_MLSTLS_DECODE_ERROR");
      await expectCode(pair.server.processUpdate(new Uint8Array(64).fill(0xff), {}), "ERR_MLSTLS_DECODE_ERROR");
      await expectCode(pair.server.processUpdate(u.commit.subarray(0, u.commit.length - 1), {}), "ERR_MLSTLS_DECODE_ERROR");
      await expectCode(pair.server.processUpdate(Uint8Array.from([...u.commit, 0]), {}), "ERR_MLSTLS_DECODE_ERROR");
      const flipped = u.commit.slice();
      flipped[flipped.length - 20]! ^= 0x80; // inside the AEAD ciphertext
      const e = await expectCode(pair.server.processUpdate(flipped, {}), "ERR_MLSTLS_MLS_REJECTED");
      expect(e.cause).to.not.equal(undefined);
      // Not a commit at all: a Welcome.
      const { message } = await createKeyPackage(await generateIdentity(1));
      const { welcome } = await acceptKeyPackage(await inspectKeyPackage(message, [1]), await generateIdentity(1));
      await expectCode(pair.server.processUpdate(welcome, {}), "ERR_MLSTLS_COMMIT_POLICY");
      u.discard();
      pair = await handshake(1);
    });

    it("rejects commits for another epoch or another group", async () => {
      const { client, server } = pair;
      const u = await client.createUpdate();
      const server2 = await server.processUpdate(u.commit, {});
      await expectCode(server2.processUpdate(u.commit, {}), "ERR_MLSTLS_WRONG_EPOCH");
      const other = await handshake(1);
      const v = await other.client.createUpdate();
      const e = await expectCode(server.processUpdate(v.commit, {}), "ERR_MLSTLS_WRONG_EPOCH");
      expect(e.message).to.contain("another MLS group");
      pair = { ...pair, client: u.apply(), server: server2 };
    });

    it("rejects an identity change unless the policy allows it", async () => {
      const st = rawState(pair.client);
      const own = st.ratchetTree[st.privatePath.leafIndex * 2];
      if (own?.nodeType !== "leaf") throw new Error("no own leaf");
      const renamed = { credentialType: "basic" as const, identity: new TextEncoder().encode("someone else") };
      st.ratchetTree = st.ratchetTree.slice();
      st.ratchetTree[st.privatePath.leafIndex * 2] = { nodeType: "leaf", leaf: { ...own.leaf, credential: renamed } };
      const r = await createCommit({ state: st, cipherSuite: impl }, {});
      const bytes = encodeMlsMessage(r.commit);
      await expectCode(pair.server.processUpdate(bytes, {}), "ERR_MLSTLS_IDENTITY_CHANGED");
      const seen: PeerCredential[] = [];
      const validate: CredentialValidator = (p) => (seen.push(p), true);
      const server2 = await pair.server.processUpdate(bytes, { allowIdentityChange: true, validate });
      expect(server2.peerCredential.credential).to.deep.equal({ type: "basic", identity: renamed.identity });
      expect(seen.map((p) => p.credential)).to.deep.equal([{ type: "basic", identity: renamed.identity }]);
    });

    it("rejects an update whose new leaf the validator refuses", async () => {
      const u = await pair.client.createUpdate();
      await expectCode(pair.server.processUpdate(u.commit, { validate: () => false }), "ERR_MLSTLS_BAD_CREDENTIAL");
      const server2 = await pair.server.processUpdate(u.commit, { validate: () => true });
      await sameExporter(server2, u.apply());
    });
  });
});
