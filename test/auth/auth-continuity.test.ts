// The peer's identity must stay the same across ConnectionUpdates, end to end over sockets. A ConnectionUpdate
// whose new leaf carries another identity is refused with a fatal alert; a renewed certificate for the same names
// continues the identity; allowIdentityRotation lets a verified new identity in.
//
// The engine's own updates never change the credential, so the misbehaving peer here is a real MlsTlsSocket whose
// MLS session has its next commit replaced: built with ts-mls from the session's own state, with a different
// credential in its leaf, signed with the leaf's key. Everything else on the wire is the genuine protocol.

import { expect } from "chai";
import {
  createCommit,
  decodeGroupState,
  defaultAuthenticationService,
  defaultKeyPackageEqualityConfig,
  defaultKeyRetentionConfig,
  defaultLifetimeConfig,
  defaultPaddingConfig,
  encodeGroupState,
  encodeMlsMessage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  type CiphersuiteName,
  type ClientState,
  type Credential,
} from "ts-mls";
import type * as tls from "node:tls";
import { X509Certificate } from "node:crypto";
import { suiteById } from "../../lib/suites.js";
import { AlertDescription } from "../../lib/errors.js";
import { fingerprintOf } from "../../lib/auth/identity.js";
import * as mlstls from "../../lib/index.js";
import type { MlsSession } from "../../lib/mls/index.js";
import { Cleanup, fixture, issueCertificate, listen, waitFor } from "../helpers/sockets.js";
import { alertCode } from "../helpers/node-alerts.js";

const ROOT = fixture("root-ca.pem");
type CodedError = Error & { code?: string; alert?: number };

/** DER certificates of a PEM chain, leaf first. */
function ders(pem: Buffer): Uint8Array[] {
  return [...pem.toString().matchAll(/-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/g)].map(
    (m) => new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ""), "base64")),
  );
}

/**
 * Makes the socket's next ConnectionUpdate carry `credential` in its leaf. The commit is made from the session's
 * current state with ts-mls, like any commit, and handed to the engine in the form of its own pending updates.
 */
async function nextUpdateCarries(socket: mlstls.MlsTlsSocket, credential: Credential): Promise<void> {
  const session = (socket as unknown as { engine: { session: MlsSession } }).engine.session;
  const decoded = decodeGroupState(session.encode(), 3);
  if (decoded === undefined) throw new Error("cannot decode the session");
  const state: ClientState = {
    ...decoded[0],
    clientConfig: {
      keyRetentionConfig: { ...defaultKeyRetentionConfig, retainKeysForEpochs: 1 },
      lifetimeConfig: defaultLifetimeConfig,
      keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
      paddingConfig: defaultPaddingConfig,
      authService: defaultAuthenticationService,
    },
  };
  const index = state.privatePath.leafIndex * 2;
  const own = state.ratchetTree[index];
  if (own?.nodeType !== "leaf") throw new Error("no own leaf");
  state.ratchetTree = state.ratchetTree.slice();
  state.ratchetTree[index] = { nodeType: "leaf", leaf: { ...own.leaf, credential } };
  const impl = await getCiphersuiteImpl(getCiphersuiteFromName(suiteById(session.suite)!.name as CiphersuiteName));
  const result = await createCommit({ state, cipherSuite: impl }, {});
  const commit = encodeMlsMessage(result.commit);
  const next = encodeGroupState(result.newState);
  // PendingUpdate.encode()'s layout: 'P', version 1, u32 commit length, commit, state.
  const pending = new Uint8Array(6 + commit.length + next.length);
  pending.set([0x50, 1]);
  new DataView(pending.buffer).setUint32(2, commit.length);
  pending.set(commit, 6);
  pending.set(next, 6 + commit.length);
  session.createUpdate = async () => session.decodePendingUpdate(pending);
  // The client made its next update in advance when it saved its session: replace that one too.
  const engine = (socket as unknown as { engine: { nextUpdate?: { discard(): void } } }).engine;
  engine.nextUpdate?.discard();
  engine.nextUpdate = undefined;
}

describe("auth continuity: the peer's identity across ConnectionUpdates", function () {
  this.timeout(30_000);
  const cleanup = new Cleanup();

  it("an anonymous client whose update renames it is refused: ERR_MLSTLS_IDENTITY_CHANGED and a fatal alert", async () => {
    const serverId = mlstls.createIdentity({ name: "server" });
    const server = cleanup.server(mlstls.createServer({ identity: serverId }));
    const port = await listen(server);
    const secure = waitFor<[mlstls.MlsTlsSocket]>(server, "secureConnection");
    const c = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", fingerprints: [serverId.fingerprint] }));
    await waitFor(c, "secureConnect");
    const [s] = await secure;
    // (This server verifies no one, so, as node:tls, getPeerCertificate() is {}: read the MLS credential.)
    const before = fingerprintOf(s.peerCredential!);

    // A genuine update first: same credential, new leaf key material.
    await c.connectionUpdate();
    expect(s.epoch).to.equal(2n);

    await nextUpdateCarries(c, { credentialType: "basic", identity: new TextEncoder().encode("someone else") });
    const serverErr = waitFor<[CodedError]>(s, "error");
    const clientErr = waitFor<[CodedError]>(c, "error");
    const update = c.connectionUpdate().catch((e: unknown) => e as CodedError);
    const [err] = await serverErr;
    expect(err.code).to.equal("ERR_MLSTLS_IDENTITY_CHANGED");
    expect(err.message).to.contain(before).and.contain("someone else");
    expect((await clientErr)[0]).to.include({ code: alertCode(AlertDescription.bad_certificate), alert: AlertDescription.bad_certificate });
    expect(await update).to.have.property("code", alertCode(AlertDescription.bad_certificate));
    // The verdict and the certificate stay those of the identity that was accepted.
    expect(fingerprintOf(s.peerCredential!)).to.equal(before);
  });

  it("a pinned server whose update changes its credential is refused by the client, even when both are pinned", async () => {
    const serverId = mlstls.createIdentity({ name: "server" });
    const renamed = { credential: { type: "basic" as const, identity: new TextEncoder().encode("server, renamed") }, signaturePublicKey: serverId.signaturePublicKey };
    const server = cleanup.server(mlstls.createServer({ identity: serverId }));
    const port = await listen(server);
    const secure = waitFor<[mlstls.MlsTlsSocket]>(server, "secureConnection");
    // Both fingerprints are acceptable, so only the change of identity is at stake.
    const c = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", fingerprints: [serverId.fingerprint, fingerprintOf(renamed)] }));
    await waitFor(c, "secureConnect");
    const [s] = await secure;
    await nextUpdateCarries(s, { credentialType: "basic", identity: renamed.credential.identity });
    const clientErr = waitFor<[CodedError]>(c, "error");
    const serverErr = waitFor<[CodedError]>(s, "error");
    void s.connectionUpdate().catch(() => {});
    expect((await clientErr)[0].code).to.equal("ERR_MLSTLS_IDENTITY_CHANGED");
    expect((await serverErr)[0]).to.include({ code: alertCode(AlertDescription.bad_certificate), alert: AlertDescription.bad_certificate });
  });

  describe("x509 client certificates (requestCert)", () => {
    let dir: string;
    let renewed: Buffer;
    let otherName: Buffer;
    let selfSigned: Buffer;
    before(function () {
      this.timeout(30_000);
      dir = cleanup.tmpdir();
      // Certificates for the client's own key (fixture p256.key): one renewing its identity, one naming another.
      renewed = issueCertificate(dir, { key: fixture("p256.key"), subject: "/CN=localhost/O=mlstls fixtures" }).chain;
      otherName = issueCertificate(dir, { key: fixture("p256.key"), subject: "/CN=other.test/O=mlstls fixtures", san: "DNS:other.test" }).chain;
      selfSigned = issueCertificate(dir, { key: fixture("p256.key"), subject: "/CN=localhost/O=mlstls fixtures", selfSigned: true }).chain;
    });

    async function pair(serverOptions: mlstls.ServerOptions): Promise<{ c: mlstls.MlsTlsSocket; s: mlstls.MlsTlsSocket }> {
      const server = cleanup.server(
        mlstls.createServer({ key: fixture("depth1.key"), cert: fixture("depth1-chain.pem"), ca: ROOT, requestCert: true, ...serverOptions }),
      );
      const port = await listen(server);
      const secure = waitFor<[mlstls.MlsTlsSocket]>(server, "secureConnection");
      const c = cleanup.stream(mlstls.connect({ port, host: "localhost", ca: ROOT, key: fixture("p256.key"), cert: fixture("p256-chain.pem") }));
      await waitFor(c, "secureConnect");
      const [s] = await secure;
      expect(s.authorized).to.equal(true);
      return { c, s };
    }

    it("a renewed certificate for the same names continues the identity", async () => {
      const { c, s } = await pair({});
      const first = s.getPeerX509Certificate()!;
      await nextUpdateCarries(c, { credentialType: "x509", certificates: ders(renewed) });
      await c.connectionUpdate();
      expect(s.epoch).to.equal(2n);
      const now = s.getPeerX509Certificate()!;
      expect(now.fingerprint256).to.equal(new X509Certificate(renewed).fingerprint256);
      expect(now.serialNumber).to.not.equal(first.serialNumber);
      expect([s.authorized, s.authorizationError]).to.deep.equal([true, null]);
      // The data path still works in the new epoch.
      c.write("after renewal");
      expect((await waitFor<[Buffer]>(s, "data"))[0].toString()).to.equal("after renewal");
    });

    it("a valid certificate with other names is refused with a fatal alert, unless allowIdentityRotation", async () => {
      const { c, s } = await pair({});
      await nextUpdateCarries(c, { credentialType: "x509", certificates: ders(otherName) });
      const serverErr = waitFor<[CodedError]>(s, "error");
      const clientErr = waitFor<[CodedError]>(c, "error");
      void c.connectionUpdate().catch(() => {});
      const [err] = await serverErr;
      expect(err.code).to.equal("ERR_MLSTLS_IDENTITY_CHANGED");
      expect(err.message).to.contain("other.test");
      expect((await clientErr)[0]).to.include({ code: alertCode(AlertDescription.bad_certificate), alert: AlertDescription.bad_certificate });

      const rotating = await pair({ allowIdentityRotation: true });
      await nextUpdateCarries(rotating.c, { credentialType: "x509", certificates: ders(otherName) });
      await rotating.c.connectionUpdate();
      expect((rotating.s.getPeerCertificate() as tls.PeerCertificate).subject.CN).to.equal("other.test");
      expect(rotating.s.authorized).to.equal(true);
    });

    it("a renewal must verify like the first certificate: node's code, or the key mismatch", async () => {
      // Same key and names, but self-signed: the server's verification error, exactly as for a first certificate.
      let { c, s } = await pair({});
      await nextUpdateCarries(c, { credentialType: "x509", certificates: ders(selfSigned) });
      let serverErr = waitFor<[CodedError]>(s, "error");
      const clientErr = waitFor<[CodedError]>(c, "error");
      void c.connectionUpdate().catch(() => {});
      expect((await serverErr)[0]).to.include({ code: "DEPTH_ZERO_SELF_SIGNED_CERT", message: "self-signed certificate" });
      expect((await clientErr)[0]).to.include({ code: alertCode(AlertDescription.unknown_ca), alert: AlertDescription.unknown_ca });

      // Someone else's valid certificate, same names: the key binding refuses it (it is checked first).
      ({ c, s } = await pair({ allowIdentityRotation: true }));
      await nextUpdateCarries(c, { credentialType: "x509", certificates: ders(fixture("p384-chain.pem")) });
      serverErr = waitFor<[CodedError]>(s, "error");
      const alerted = waitFor<[CodedError]>(c, "error");
      void c.connectionUpdate().catch(() => {});
      expect((await serverErr)[0].code).to.equal("ERR_MLSTLS_CERT_KEY_MISMATCH");
      expect((await alerted)[0]).to.include({ alert: AlertDescription.bad_certificate });
    });
  });
});
