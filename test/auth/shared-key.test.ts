// One key and certificate on both ends (PROTOCOL.md, "One key on both ends"): RFC 9420 forbids two leaves with one
// signature key, so the server delegates to a fresh key for that connection. What must hold: it connects, both
// sides see the shared certificate, updates and resumption keep working; and a delegation by a key MLS signs with
// directly is accepted nowhere else (another key, no key of our own, a client delegating).

import { expect } from "chai";
import { randomBytes, X509Certificate } from "node:crypto";
import { Delegator } from "../../lib/auth/delegation.js";
import { identityFromPem } from "../../lib/auth/identity.js";
import { verifyX509Peer } from "../../lib/auth/verify.js";
import * as mlstls from "../../lib/index.js";
import type { LocalIdentity, PeerCredential } from "../../lib/mls/index.js";
import { Cleanup, fixture, listen, waitFor } from "../helpers/sockets.js";

const CA = fixture("root-ca.pem");
const KEYS = [
  ["Ed25519", "ed25519"],
  ["P-256", "p256"],
  ["P-384", "p384"],
] as const;
const peerOf = (id: LocalIdentity): PeerCredential => ({ credential: id.credential, signaturePublicKey: id.signaturePublicKey });

describe("one key on both ends", function () {
  this.timeout(20_000);
  const cleanup = new Cleanup();

  for (const [label, file] of KEYS) {
    const creds = { key: fixture(`${file}.key`), cert: fixture(`${file}-chain.pem`) };
    const leaf = new X509Certificate(fixture(`${file}.pem`));

    it(`${label}: connects, both ends authorized by the shared certificate; updates and resumption work`, async () => {
      const server = cleanup.server(
        mlstls.createServer({ ...creds, ca: CA, requestCert: true, rejectUnauthorized: true }, (s) => s.pipe(s)),
      );
      const served = new Promise<mlstls.MlsTlsSocket>((resolve) => server.once("secureConnection", resolve));
      const port = await listen(server);
      const opts = { ...creds, port, host: "127.0.0.1", ca: CA, servername: "localhost" };
      const c = cleanup.stream(mlstls.connect(opts));
      await waitFor(c, "secureConnect");
      const s = await served;
      expect(c.authorized).to.equal(true);
      expect(s.authorized).to.equal(true);
      // Both see the shared end-entity certificate, never the delegation.
      expect(c.getPeerCertificate().fingerprint256).to.equal(leaf.fingerprint256);
      expect(s.getPeerCertificate().fingerprint256).to.equal(leaf.fingerprint256);
      // The server's MLS key is not the shared one.
      expect(Buffer.from(c.peerCredential!.signaturePublicKey).equals(Buffer.from(s.peerCredential!.signaturePublicKey))).to.equal(false);
      await c.connectionUpdate();
      await s.connectionUpdate();
      c.write("ping");
      const [echo] = await waitFor<[Buffer]>(c, "data");
      expect(echo.toString()).to.equal("ping");
      const session = await new Promise<Buffer>((resolve) => (c.getSession() ? resolve(c.getSession()!) : c.once("session", resolve)));
      c.end();
      await waitFor(c, "close");
      const again = cleanup.stream(mlstls.connect({ ...opts, session: c.getSession() ?? session }));
      await waitFor(again, "secureConnect");
      expect(again.isSessionReused()).to.equal(true);
      expect(again.authorized).to.equal(true);
      again.end();
    });
  }

  it("a pinned-key identity has no certificate to delegate with: one on both ends is still refused", async () => {
    const id = mlstls.createIdentity({ name: "shared" });
    const server = cleanup.server(mlstls.createServer({ identity: id, fingerprints: [id.fingerprint] }));
    const refused = waitFor<[Error & { code?: string }]>(server, "tlsClientError");
    const port = await listen(server);
    const c = cleanup.stream(mlstls.connect({ identity: id, fingerprints: [id.fingerprint], port, host: "127.0.0.1" }));
    const [clientErr] = await waitFor<[Error & { code?: string; alert?: number }]>(c, "error");
    expect(clientErr.alert).to.equal(42);
    expect((await refused)[0].code).to.equal("ERR_MLSTLS_BAD_CREDENTIAL");
  });

  describe("the verifier accepts such a delegation only where it must", () => {
    const own = identityFromPem({ key: fixture("p256.key"), cert: fixture("p256-chain.pem") });
    const other = identityFromPem({ key: fixture("p384.key"), cert: fixture("p384-chain.pem") });
    const verify = (peer: PeerCredential, role: "server" | "client", context: Uint8Array, ownKey?: Uint8Array) =>
      verifyX509Peer(peer, {
        ca: CA,
        host: role === "server" ? "localhost" : undefined,
        purpose: role,
        delegation: { role, opening: { suite: 2, context }, ownKey },
      });

    it("from a server whose key is ours on this connection: yes", async () => {
      const context = new Uint8Array(randomBytes(32));
      const id = await Delegator.forSharedKey(own).mint(2, "server", context);
      expect(verify(peerOf(id), "server", context, own.signaturePublicKey).error).to.equal(null);
    });

    it("without a key of ours, with another key of ours, or for another connection: no", async () => {
      const context = new Uint8Array(randomBytes(32));
      const id = await Delegator.forSharedKey(own).mint(2, "server", context);
      expect(verify(peerOf(id), "server", context).error).to.have.property("code", "ERR_MLSTLS_BAD_DELEGATION");
      expect(verify(peerOf(id), "server", context, other.signaturePublicKey).error).to.have.property("code", "ERR_MLSTLS_BAD_DELEGATION");
      expect(verify(peerOf(id), "server", new Uint8Array(randomBytes(32)), own.signaturePublicKey).error).to.have.property(
        "code",
        "ERR_MLSTLS_BAD_DELEGATION",
      );
    });

    it("from a client (whose KeyPackage came first, so it never needs one): no", async () => {
      const context = new Uint8Array(randomBytes(32));
      const id = await Delegator.forSharedKey(own).mint(2, "client", context);
      expect(verify(peerOf(id), "client", context, own.signaturePublicKey).error).to.have.property("code", "ERR_MLSTLS_BAD_DELEGATION");
    });
  });
});
