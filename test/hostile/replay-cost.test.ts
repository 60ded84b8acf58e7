// Issue 8, finding 5: a replayed ClientHello must not cost the server a full parse of a large client chain each
// time. The leaf's key binding is checked before the rest of the chain is parsed, node's presentation objects are
// built only on demand, and a chain that verified moments ago is not parsed again; none of this may change a
// verdict. The CPU figures are in `npm run bench:resources`; this is a smoke run of the same code, no timing.

import { expect } from "chai";
import { X509Certificate, createPublicKey } from "node:crypto";
import { verifyX509Peer } from "../../lib/auth/verify.js";
import type { PeerCredential } from "../../lib/mls/index.js";
import { cpuPerReplay } from "../bench/replay-cost.js";
import { chainOfSize, fixture } from "./chains.js";

function credentialOf(pem: Buffer): PeerCredential {
  const certs = pem.toString().match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!.map((p) => new Uint8Array(new X509Certificate(p).raw));
  const jwk = createPublicKey(fixture("ed25519.key")).export({ format: "jwk" });
  return { credential: { type: "x509", certificates: certs }, signaturePublicKey: new Uint8Array(Buffer.from(jwk.x!, "base64url")) };
}

describe("hostile: replayed ClientHellos with large chains (finding 5)", function () {
  this.timeout(30_000);

  it("a remembered chain keeps every verdict: expiry, purpose, key binding, the trust store", () => {
    const chain = chainOfSize(40 * 1024);
    const peer = credentialOf(chain.cert);
    const ca = [fixture("root-ca.pem")];
    const ok = verifyX509Peer(peer, { ca, purpose: "client" });
    expect(ok.error).to.equal(null);
    expect(verifyX509Peer(peer, { ca, purpose: "client" }).error).to.equal(null);
    // The remembered verdict is not used past the leaf's expiry (2124) ...
    expect(verifyX509Peer(peer, { ca, purpose: "client", now: new Date("2125-01-01") }).error?.code).to.equal("CERT_HAS_EXPIRED");
    // ... nor for another trust store ...
    expect(verifyX509Peer(peer, { ca: [fixture("other-root-ca.pem")], purpose: "client" }).error?.code).to.equal("UNABLE_TO_GET_ISSUER_CERT_LOCALLY");
    // ... and the key binding is checked every time, before anything else.
    const other = { ...peer, signaturePublicKey: new Uint8Array(32).fill(1) };
    expect(verifyX509Peer(other, { ca, purpose: "client" }).error?.code).to.equal("ERR_MLSTLS_CERT_KEY_MISMATCH");
    // The presentation object is still there for whoever asks, complete with its issuer.
    const detailed = ok.peerCertificate as { issuerCertificate?: { subject?: unknown } };
    expect(detailed.issuerCertificate?.subject).to.not.equal(undefined);
  });

  it("the replay measurement runs (figures in npm run bench:resources)", async () => {
    const ms = await cpuPerReplay(20 * 1024, 5);
    expect(ms).to.be.greaterThan(0);
  });
});
