// The security requirements of per-connection delegation (PROTOCOL.md, "RSA certificates: per-connection
// delegation"), each as a test: freshness (bound to one connection), no minting or extending with only the
// ephemeral key, certificates signed for another purpose refused, role confusion refused, lifetime caps, resumption
// after the lifetime re-authenticates, identity from the end-entity, binding failures fatal even with
// rejectUnauthorized: false.

import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { mintForTest, MAX_DELEGATION_VALIDITY_MS } from "../../lib/auth/delegation.js";
import { parsePemCertificates } from "../../lib/auth/identity.js";
import { PeerValidator, verifyX509Peer, type DelegationContext } from "../../lib/auth/verify.js";
import { MlsTlsError } from "../../lib/errors.js";
import { identityFromKeys, rawKeysOf, type LocalIdentity, type PeerCredential } from "../../lib/mls/index.js";
import type { SessionPersistence } from "../../lib/protocol/index.js";
import { Pair } from "../helpers/pair.js";
import { delegatorOf, rsaFixture } from "../helpers/rsa.js";
import { Cleanup, fixture } from "../helpers/sockets.js";

const ROOT = rsaFixture("root-ca.pem");
const ctx = (): Uint8Array => new Uint8Array(randomBytes(32));
const peerOf = (id: LocalIdentity): PeerCredential => ({ credential: id.credential, signaturePublicKey: id.signaturePublicKey });
const der = (name: string): Uint8Array[] => parsePemCertificates(rsaFixture(name)).map((c) => new Uint8Array(c.raw));

function verifyAs(peer: PeerCredential, d: DelegationContext | undefined, role: "server" | "client" = d?.role ?? "server") {
  return verifyX509Peer(peer, { ca: ROOT, host: role === "server" ? "localhost" : undefined, purpose: role, delegation: d });
}

/** A delegated credential: a delegation minted by `signer` for a fresh Ed25519 key, then `chain`. */
async function forged(
  signer: Parameters<typeof mintForTest>[0],
  chain: Uint8Array[],
  f: Omit<Parameters<typeof mintForTest>[3], "role" | "suite" | "context"> & Partial<Parameters<typeof mintForTest>[3]>,
): Promise<{ peer: PeerCredential; context: Uint8Array }> {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const context = f.context ?? ctx();
  const d = await mintForTest(signer, chain[0]!, publicKey, { role: "server", suite: 1, ...f, context });
  const raw = rawKeysOf(privateKey);
  return { peer: peerOf(identityFromKeys(1, { type: "x509", certificates: [d, ...chain] }, raw.publicKey, raw.privateKey!)), context };
}

/** PeerValidatorOptions' `now` for x509 mode (its type is the intersection of two option types). */
function clockOf(ms: () => number): Date & (() => Date) {
  return (() => new Date(ms())) as unknown as Date & (() => Date);
}

declare module "../../lib/auth/verify.js" {
  interface PeerValidator {
    validateAsync(peer: PeerCredential): Promise<boolean>;
  }
}
PeerValidator.prototype.validateAsync = async function (this: PeerValidator, peer: PeerCredential): Promise<boolean> {
  return this.validate(peer);
};

function code(r: { error: (Error & { code?: string }) | null }): string | undefined {
  return r.error?.code;
}

describe("per-connection delegation: the verifier", function () {
  this.timeout(30_000);
  const rsa2048 = delegatorOf("rsa2048");
  const rsaKey = createPrivateKey(rsa2048Key());
  function rsa2048Key(): Buffer {
    return rsaFixture("rsa2048.key");
  }

  it("accepts a delegation made for this connection, and shows the end-entity certificate as the peer's", async () => {
    const context = ctx();
    const id = await rsa2048.mint(1, "server", context);
    const r = verifyAs(peerOf(id), { role: "server", opening: { suite: 1, context } });
    expect(r.error).to.equal(null);
    expect(r.authorized).to.equal(true);
    expect((r.peerCertificate as { fingerprint256: string }).fingerprint256).to.equal(new X509Certificate(rsaFixture("rsa2048.pem")).fingerprint256);
    // Every suite this build runs can be delegated to (each scheme's key).
    for (const suite of [2, 3, 7]) {
      const other = await rsa2048.mint(suite, "server", context);
      expect(verifyAs(peerOf(other), { role: "server", opening: { suite, context } }).error).to.equal(null);
    }
  });

  it("freshness: a delegation made for another connection is refused", async () => {
    const id = await rsa2048.mint(1, "server", ctx());
    expect(code(verifyAs(peerOf(id), { role: "server", opening: { suite: 1, context: ctx() } }))).to.equal("ERR_MLSTLS_BAD_DELEGATION");
  });

  it("a delegation for another MLS suite than the connection's is refused", async () => {
    const context = ctx();
    const id = await rsa2048.mint(3, "server", context);
    expect(code(verifyAs(peerOf(id), { role: "server", opening: { suite: 1, context } }))).to.equal("ERR_MLSTLS_BAD_DELEGATION");
  });

  it("role confusion: a client's delegation is refused as a server's, and the other way round", async () => {
    const context = ctx();
    const asClient = await rsa2048.mint(1, "client", context);
    expect(code(verifyAs(peerOf(asClient), { role: "server", opening: { suite: 1, context } }))).to.equal("ERR_MLSTLS_BAD_DELEGATION");
    const asServer = await rsa2048.mint(1, "server", context);
    expect(code(verifyAs(peerOf(asServer), { role: "client", opening: { suite: 1, context } }))).to.equal("ERR_MLSTLS_BAD_DELEGATION");
  });

  it("fails closed without a connection to check against", async () => {
    const id = await rsa2048.mint(1, "server", ctx());
    expect(code(verifyAs(peerOf(id), undefined))).to.equal("ERR_MLSTLS_BAD_DELEGATION");
  });

  it("whoever holds only an ephemeral MLS key can neither mint nor extend a delegation", async () => {
    const context = ctx();
    const chain = der("rsa2048-chain.pem");
    // Minting: a delegation for the victim's certificate signed by any key but the victim's (here another RSA key).
    const minted = await forged(createPrivateKey(rsaFixture("rsa-other.key")), chain, { context });
    expect(code(verifyAs(minted.peer, { role: "server", opening: { suite: 1, context } }))).to.equal("ERR_MLSTLS_BAD_DELEGATION");
    // ... or by an ephemeral (Ed25519) key, under whatever label.
    const stolen = generateKeyPairSync("ed25519").privateKey;
    const minted2 = await forged(stolen, chain, { context, algorithm: { kind: "ed448" } });
    expect(code(verifyAs(minted2.peer, { role: "server", opening: { suite: 1, context } }))).to.equal("ERR_MLSTLS_BAD_DELEGATION");

    // Chaining: a second delegation under a genuine one, signed by the genuine delegation's (Ed25519) key.
    const genuine = await rsa2048.mint(1, "server", context);
    const genuineKey = createPrivateKey({
      key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), Buffer.from(genuine.signaturePrivateKey)]),
      format: "der",
      type: "pkcs8",
    });
    const certs = (genuine.credential as { certificates: Uint8Array[] }).certificates;
    const chained = await forged(genuineKey, certs, { context, algorithm: { kind: "ed448" } });
    expect(code(verifyAs(chained.peer, { role: "server", opening: { suite: 1, context } }))).to.equal("ERR_MLSTLS_BAD_DELEGATION");

    // Extending: the genuine delegation with a later notAfter (same length), its signature unchanged.
    const d = Buffer.from(certs[0]!);
    const x = new X509Certificate(d);
    const notAfter = new Date(x.validTo);
    const ut = (t: Date): string => t.toISOString().slice(2, 19).replace(/[-T:]/g, "") + "Z";
    const at = d.indexOf(Buffer.from(ut(notAfter)));
    expect(at).to.be.greaterThan(0);
    Buffer.from(ut(new Date(notAfter.getTime() + 3600_000))).copy(d, at);
    const extended = { credential: { type: "x509" as const, certificates: [d, ...certs.slice(1)] }, signaturePublicKey: genuine.signaturePublicKey };
    expect(code(verifyAs(extended, { role: "server", opening: { suite: 1, context } }))).to.equal("ERR_MLSTLS_BAD_DELEGATION");
  });

  it("a certificate the end-entity key signed in another shape is refused: extension not critical, another extension", async () => {
    const chain = der("rsa2048-chain.pem");
    for (const variant of ["non-critical", "extra-extension"] as const) {
      const f = await forged(rsaKey, chain, { variant });
      expect(code(verifyAs(f.peer, { role: "server", opening: { suite: 1, context: f.context } })), variant).to.equal("ERR_MLSTLS_BAD_DELEGATION");
    }
    // The control: the same, in the one allowed shape, binds.
    const ok = await forged(rsaKey, chain, {});
    expect(verifyAs(ok.peer, { role: "server", opening: { suite: 1, context: ok.context } }).error).to.equal(null);
  });

  describe("a certificate without the mlstls extension, issued by the end-entity key (a proxy certificate)", () => {
    const cleanup = new Cleanup();
    it("is refused: the end-entity is no CA", () => {
      const dir = cleanup.tmpdir();
      const keyFile = join(dir, "k.pem");
      const { privateKey, publicKey } = generateKeyPairSync("ed25519");
      writeFileSync(keyFile, privateKey.export({ type: "pkcs8", format: "pem" }));
      writeFileSync(join(dir, "ca.pem"), rsaFixture("rsa2048.pem"));
      writeFileSync(join(dir, "ca.key"), rsaFixture("rsa2048.key"));
      execFileSync("openssl", ["req", "-new", "-key", keyFile, "-subj", "/CN=localhost", "-out", join(dir, "r.csr")], { stdio: "ignore" });
      execFileSync(
        "openssl",
        ["x509", "-req", "-in", join(dir, "r.csr"), "-CA", join(dir, "ca.pem"), "-CAkey", join(dir, "ca.key"), "-days", "1", "-set_serial", "7", "-out", join(dir, "p.pem")],
        { stdio: "ignore" },
      );
      const proxy = new Uint8Array(new X509Certificate(execFileSync("cat", [join(dir, "p.pem")])).raw);
      const peer = { credential: { type: "x509" as const, certificates: [proxy, ...der("rsa2048-chain.pem")] }, signaturePublicKey: rawKeysOf(publicKey).publicKey };
      const r = verifyAs(peer, { role: "server", opening: { suite: 1, context: ctx() } });
      expect(r.authorized).to.equal(false);
      // Not a delegation: verified as an ordinary chain, where the end-entity cannot issue (OpenSSL's last error).
      expect(code(r)).to.be.oneOf(["INVALID_CA", "UNSPECIFIED"]);
      expect(r.error?.message).to.be.oneOf(["invalid CA certificate", "key usage does not include certificate signing"]);
    });
  });

  it("lifetime caps: more than an hour, past the end-entity's notAfter, expired and not yet valid are refused", async () => {
    const chain = der("rsa2048-chain.pem");
    const now = Math.floor(Date.now() / 1000) * 1000;
    const long = await forged(rsaKey, chain, { notBefore: now - 60_000, notAfter: now - 60_000 + MAX_DELEGATION_VALIDITY_MS + 1000 });
    expect(code(verifyAs(long.peer, { role: "server", opening: { suite: 1, context: long.context } }))).to.equal("ERR_MLSTLS_BAD_DELEGATION");
    const eeEnd = new Date(new X509Certificate(rsaFixture("rsa2048.pem")).validTo).getTime();
    const outliving = await forged(rsaKey, chain, { notBefore: eeEnd - 600_000, notAfter: eeEnd + 60_000 });
    expect(code(verifyAs(outliving.peer, { role: "server", opening: { suite: 1, context: outliving.context } }))).to.equal("ERR_MLSTLS_BAD_DELEGATION");
    const expired = await forged(rsaKey, chain, { notBefore: now - 1_200_000, notAfter: now - 600_000 });
    expect(code(verifyAs(expired.peer, { role: "server", opening: { suite: 1, context: expired.context } }))).to.equal("ERR_MLSTLS_DELEGATION_EXPIRED");
    const early = await forged(rsaKey, chain, { notBefore: now + 600_000, notAfter: now + 1_200_000 });
    expect(code(verifyAs(early.peer, { role: "server", opening: { suite: 1, context: early.context } }))).to.equal("ERR_MLSTLS_DELEGATION_EXPIRED");
    // Minted delegations: minutes, within the cap.
    const id = await rsa2048.mint(1, "server", ctx());
    const x = new X509Certificate((id.credential as { certificates: Uint8Array[] }).certificates[0]!);
    const span = new Date(x.validTo).getTime() - new Date(x.validFrom).getTime();
    expect(span).to.be.at.most(MAX_DELEGATION_VALIDITY_MS).and.at.least(60_000);
  });

  it("binding checks: another end-entity's hash, no digitalSignature usage, another MLS key, an end-entity MLS could use", async () => {
    const chain = der("rsa2048-chain.pem");
    const otherHash = await forged(rsaKey, chain, { endEntityHash: createHash("sha256").update(der("rsa-other.pem")[0]!).digest() });
    expect(code(verifyAs(otherHash.peer, { role: "server", opening: { suite: 1, context: otherHash.context } }))).to.equal("ERR_MLSTLS_BAD_DELEGATION");

    const nosig = await delegatorOf("rsa-nosig").mint(1, "server", otherHash.context);
    expect(code(verifyAs(peerOf(nosig), { role: "server", opening: { suite: 1, context: otherHash.context } }))).to.equal("ERR_MLSTLS_BAD_DELEGATION");

    const context = ctx();
    const id = await rsa2048.mint(1, "server", context);
    const swapped = { credential: id.credential, signaturePublicKey: rawKeysOf(generateKeyPairSync("ed25519").publicKey).publicKey };
    expect(code(verifyAs(swapped, { role: "server", opening: { suite: 1, context } }))).to.equal("ERR_MLSTLS_BAD_DELEGATION");

    // A P-256 end-entity (test/fixtures/certs) signs with MLS directly and may not delegate.
    const p256Key = createPrivateKey(fixture("p256.key"));
    const p256Chain = parsePemCertificates(fixture("p256-chain.pem")).map((c) => new Uint8Array(c.raw));
    const p256 = await forged(p256Key, p256Chain, { algorithm: { kind: "ecdsa-sha512" } });
    expect(code(verifyX509Peer(p256.peer, { ca: fixture("root-ca.pem"), host: "localhost", delegation: { role: "server", opening: { suite: 1, context: p256.context } } }))).to.equal(
      "ERR_MLSTLS_BAD_DELEGATION",
    );
  });

  it("binding failures are fatal even with rejectUnauthorized: false; chain failures are not", async () => {
    const v = new PeerValidator({ mode: "x509", ca: ROOT, host: "localhost", purpose: "server", rejectUnauthorized: false, peerRole: "server" });
    v.opening({ suite: 1, context: ctx() });
    const id = await rsa2048.mint(1, "server", ctx());
    const err = await v.validateAsync(peerOf(id)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(MlsTlsError);
    expect((err as MlsTlsError).code).to.equal("ERR_MLSTLS_BAD_CREDENTIAL");
    expect(((err as MlsTlsError).cause as { code: string }).code).to.equal("ERR_MLSTLS_BAD_DELEGATION");

    // An untrusted chain with a good binding passes as unauthorized, as node:tls does.
    const v2 = new PeerValidator({ mode: "x509", ca: fixture("root-ca.pem"), host: "localhost", purpose: "server", rejectUnauthorized: false, peerRole: "server" });
    const context = ctx();
    v2.opening({ suite: 1, context });
    expect(await v2.validateAsync(peerOf(await rsa2048.mint(1, "server", context)))).to.equal(true);
    expect(v2.authorized).to.equal(false);
    expect(v2.authorizationError).to.equal("UNABLE_TO_VERIFY_LEAF_SIGNATURE");
  });

  it("identity is the end-entity's: continuity across new delegations, a change of end-entity refused", async () => {
    const v = new PeerValidator({ mode: "x509", ca: ROOT, host: "localhost", purpose: "server", peerRole: "server" });
    const context = ctx();
    v.opening({ suite: 1, context });
    expect(await v.validateAsync(peerOf(await rsa2048.mint(1, "server", context)))).to.equal(true);
    // Another delegation (another MLS key) from the same end-entity continues the identity.
    expect(await v.validateAsync(peerOf(await rsa2048.mint(1, "server", context)))).to.equal(true);
    expect((v.getPeerCertificate() as { subject: { O: string } }).subject.O).to.equal("rsa2048");
    const other = await delegatorOf("rsa3072").mint(1, "server", context);
    const err = await v.validateAsync(peerOf(other)).then(
      () => undefined,
      (e: MlsTlsError) => e,
    );
    expect(err?.code).to.equal("ERR_MLSTLS_IDENTITY_CHANGED");
  });

  it("within a connection a delegation lasts as long as the connection; on resumption its lifetime is checked again", async () => {
    let clock = Date.now();
    const mk = () => new PeerValidator({ mode: "x509", ca: ROOT, host: "localhost", purpose: "server", peerRole: "server", now: clockOf(() => clock) });
    const context = ctx();
    const id = await rsa2048.mint(1, "server", context);
    const v = mk();
    v.opening({ suite: 1, context });
    expect(await v.validateAsync(peerOf(id))).to.equal(true);
    clock += 3600_000;
    // A ConnectionUpdate carries the same credential an hour later: the connection was authenticated at its opening.
    expect(await v.validateAsync(peerOf(id))).to.equal(true);
    // A resumption checks the stored credential's lifetime (not its context, which was the original connection's).
    const resumedLater = mk();
    resumedLater.resumed();
    const e = await resumedLater.validateAsync(peerOf(id)).then(
      () => undefined,
      (x: MlsTlsError) => x,
    );
    expect((e?.cause as { code: string }).code).to.equal("ERR_MLSTLS_DELEGATION_EXPIRED");
    clock -= 3600_000 - 60_000;
    const resumedSoon = mk();
    resumedSoon.resumed();
    expect(await resumedSoon.validateAsync(peerOf(id))).to.equal(true);
  });
});

class MemoryStore implements SessionPersistence {
  readonly map = new Map<string, Uint8Array>();
  async load(groupId: Uint8Array): Promise<Uint8Array | undefined> {
    return this.map.get(Buffer.from(groupId).toString("hex"));
  }
  async save(groupId: Uint8Array, session: Uint8Array): Promise<void> {
    this.map.set(Buffer.from(groupId).toString("hex"), Uint8Array.from(session));
  }
}

describe("per-connection delegation: the engines", function () {
  this.timeout(30_000);

  /** An RSA server and client (both delegating), with validators on a shared clock; resumable. */
  function world() {
    const store = new MemoryStore();
    const server = delegatorOf("rsa3072");
    const client = delegatorOf("rsa-client");
    let session: Uint8Array | undefined;
    const w = {
      /** The client's and the server's clocks. */
      clientClock: Date.now(),
      serverClock: Date.now(),
      pair(resume: boolean, extra: { serverSuites?: number[] } = {}) {
        const cv = new PeerValidator({ mode: "x509", ca: ROOT, host: "localhost", purpose: "server", peerRole: "server", now: clockOf(() => w.clientClock) });
        const sv = new PeerValidator({ mode: "x509", ca: ROOT, purpose: "client", peerRole: "client", now: clockOf(() => w.serverClock) });
        const p = new Pair({
          client: {
            serverName: "localhost",
            identity: ({ suite, binding }) => client.mint(suite, "client", binding!),
            validatePeer: cv.validate,
            peerBinding: cv,
            session: resume ? session : undefined,
            saveSession: (s) => {
              session = s;
            },
          },
          server: {
            suites: extra.serverSuites,
            identity: ({ suite, binding }) => server.mint(suite, "server", binding!),
            validatePeer: sv.validate,
            peerBinding: sv,
            sessions: store,
          },
        });
        return { p, cv, sv };
      },
    };
    return w;
  }

  it("an RSA client and an RSA server authenticate each other, also after a RetryRequest (the transcript binding)", async () => {
    const w = world();
    for (const serverSuites of [undefined, [7]]) {
      const { p, cv, sv } = w.pair(false, { serverSuites });
      await p.handshake();
      expect(p.client.errors.map((e) => e.message)).to.deep.equal([]);
      expect(p.server.errors.map((e) => e.message)).to.deep.equal([]);
      expect(cv.authorized && sv.authorized).to.equal(true);
      expect((sv.getPeerCertificate() as { subject: { CN: string } }).subject.CN).to.equal("rsa client");
      if (serverSuites !== undefined) expect(p.initiator.suite?.id).to.equal(7);
    }
  });

  it("resuming within the delegations' lifetime works; after it, each side refuses so that a full handshake re-authenticates", async () => {
    const w = world();
    const first = w.pair(false);
    await first.p.handshake();
    expect(first.p.client.errors).to.have.length(0);
    await first.p.settle();

    w.clientClock += 60_000;
    w.serverClock += 60_000;
    const soon = w.pair(true);
    await soon.p.handshake();
    expect(soon.p.client.errors.map((e) => e.message)).to.deep.equal([]);
    expect(soon.p.initiator.isResumed).to.equal(true);
    await soon.p.settle();

    // The client checks the stored server delegation first: refused locally (the socket then falls back).
    w.clientClock += 3600_000;
    const late = w.pair(true);
    await late.p.handshake();
    expect(late.p.client.errors[0]?.code).to.equal("ERR_MLSTLS_BAD_CREDENTIAL");
    expect((late.p.client.errors[0]?.cause as { code: string }).code).to.equal("ERR_MLSTLS_DELEGATION_EXPIRED");
  });

  it("a server resuming a session whose client delegation expired answers unknown_psk_identity (the client falls back)", async () => {
    const w = world();
    const first = w.pair(false);
    await first.p.handshake();
    await first.p.settle();
    // Only the server's clock is past the client's delegation.
    w.serverClock += 3600_000;
    const late = w.pair(true);
    await late.p.handshake();
    expect(late.p.server.errors[0]?.code).to.equal("ERR_MLSTLS_STALE_SESSION");
    expect(late.p.client.errors[0]?.alert).to.equal(115);
    expect(late.p.client.errors[0]?.remote).to.equal(true);
  });
});
