// Local identities: node:tls key + cert as MLS x509 credentials, and pinned-key identities with PEM and fingerprints.

import { expect } from "chai";
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { inspect } from "node:util";
import {
  createIdentity,
  fingerprint256Of,
  fingerprintOf,
  Identity,
  identityForSuite,
  identityFromPem,
  mlsPublicKeyOf,
  MlsTlsConfigError,
  parseFingerprint,
  parsePublicIdentity,
  suitesForKey,
} from "../../lib/auth/identity.js";
import type { PeerCredential } from "../../lib/mls/index.js";

const fixture = (name: string): Buffer => readFileSync(new URL(`../../../test/fixtures/certs/${name}`, import.meta.url));

function throwsCode(fn: () => unknown, code: string, pattern?: RegExp): MlsTlsConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected ${code}`).to.be.instanceOf(TypeError);
  expect(caught).to.have.property("code", code);
  if (pattern !== undefined) expect((caught as Error).message).to.match(pattern);
  return caught as MlsTlsConfigError;
}

/** The documented fingerprint input, encoded independently of lib/identity.ts. */
function referenceFingerprint(peer: PeerCredential): Buffer {
  const vec = (b: Uint8Array): Buffer => {
    const n = b.length;
    const len = n < 64 ? Buffer.of(n) : n < 16384 ? Buffer.of(0x40 | (n >> 8), n & 0xff) : Buffer.of(0x80 | (n >>> 24), (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
    return Buffer.concat([len, b]);
  };
  const scheme = peer.signaturePublicKey.length === 32 ? 0x0807 : peer.signaturePublicKey.length === 65 ? 0x0403 : 0x0503;
  const c = peer.credential;
  const credential =
    c.type === "basic"
      ? Buffer.concat([Buffer.of(0, 1), vec(c.identity)])
      : Buffer.concat([Buffer.of(0, 2), vec(Buffer.concat(c.certificates.map((d) => vec(d))))]);
  const input = Buffer.concat([vec(Buffer.from("mlstls identity fingerprint v1")), Buffer.of(scheme >> 8, scheme & 0xff), vec(peer.signaturePublicKey), credential]);
  return createHash("sha256").update(input).digest();
}

describe("identity: key + cert PEM", () => {
  for (const [name, suite, keyLen] of [
    ["ed25519", 1, 32],
    ["p256", 2, 65],
    ["p384", 7, 97],
  ] as const) {
    it(`maps ${name} to MLS suite ${suite}, with the certificate's key as the MLS signature key`, () => {
      const id = identityFromPem({ key: fixture(`${name}.key`), cert: fixture(`${name}-chain.pem`) });
      expect(id.suite).to.equal(suite);
      expect(id.credential.type).to.equal("x509");
      const certs = (id.credential as { certificates: Uint8Array[] }).certificates;
      expect(certs).to.have.length(2);
      const leaf = new X509Certificate(certs[0]!);
      expect(leaf.subject).to.contain("CN=localhost");
      expect(new X509Certificate(certs[1]!).subject).to.contain("intermediate CA");
      expect(id.signaturePublicKey).to.have.length(keyLen);
      expect(Buffer.from(id.signaturePublicKey).equals(Buffer.from(mlsPublicKeyOf(leaf)!))).to.equal(true);
      expect(suitesForKey(fixture(`${name}.key`))).to.deep.equal(suite === 1 ? [1, 3] : [suite]);
      expect(suitesForKey(fixture(`${name}.pem`))).to.deep.equal(suite === 1 ? [1, 3] : [suite]);
    });
  }

  it("accepts SEC1 and encrypted PKCS#8 keys, KeyObjects, and Ed25519 for suite 3", () => {
    const key = createPrivateKey(fixture("p256.key"));
    const sec1 = key.export({ type: "sec1", format: "pem" });
    const encrypted = key.export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "hunter2" });
    const a = identityFromPem({ key: sec1, cert: fixture("p256-chain.pem") });
    const b = identityFromPem({ key: encrypted, cert: fixture("p256-chain.pem"), passphrase: "hunter2" });
    const c = identityFromPem({ key, cert: fixture("p256-chain.pem").toString() });
    expect(Buffer.from(a.signaturePrivateKey).equals(Buffer.from(b.signaturePrivateKey))).to.equal(true);
    expect(Buffer.from(a.signaturePublicKey).equals(Buffer.from(c.signaturePublicKey))).to.equal(true);
    expect(suitesForKey(encrypted, "hunter2")).to.deep.equal([2]);
    const ed3 = identityFromPem({ key: fixture("ed25519.key"), cert: fixture("ed25519.pem"), suite: 3 });
    expect(ed3.suite).to.equal(3);
    expect(identityForSuite(ed3, 1).suite).to.equal(1);
  });

  it("refuses a certificate that is not the key's: ERR_MLSTLS_KEY_CERT_MISMATCH", () => {
    throwsCode(() => identityFromPem({ key: fixture("mismatch.key"), cert: fixture("p256-chain.pem") }), "ERR_MLSTLS_KEY_CERT_MISMATCH", /different public key/);
    // A chain given in the wrong order is the same mistake.
    const reversed = Buffer.concat([fixture("intermediate-ca.pem"), fixture("p256.pem")]);
    throwsCode(() => identityFromPem({ key: fixture("p256.key"), cert: reversed }), "ERR_MLSTLS_KEY_CERT_MISMATCH");
    throwsCode(() => identityFromPem({ key: fixture("ed25519.key"), cert: fixture("p256.pem") }), "ERR_MLSTLS_KEY_CERT_MISMATCH", /ECDSA P-256.*Ed25519/);
  });

  it("refuses key types no MLS suite here can use: ERR_MLSTLS_UNSUPPORTED_KEY naming the supported ones", () => {
    const rsa = throwsCode(() => identityFromPem({ key: fixture("rsa.key"), cert: fixture("rsa-chain.pem") }), "ERR_MLSTLS_UNSUPPORTED_KEY");
    expect(rsa.message).to.match(/rsa/).and.match(/Ed25519 \(MLS suites 1 and 3\), ECDSA P-256 \(suite 2\) or ECDSA P-384 \(suite 7\)/);
    const p521 = generateKeyPairSync("ec", { namedCurve: "P-521" }).privateKey;
    throwsCode(() => identityFromPem({ key: p521, cert: fixture("p256.pem") }), "ERR_MLSTLS_UNSUPPORTED_KEY", /P-521 \(MLS suite 5/);
    const ed448 = generateKeyPairSync("ed448").privateKey;
    throwsCode(() => identityFromPem({ key: ed448, cert: fixture("p256.pem") }), "ERR_MLSTLS_UNSUPPORTED_KEY", /Ed448/);
    expect(suitesForKey(fixture("rsa.key"))).to.deep.equal([]);
    expect(suitesForKey(p521)).to.deep.equal([]);
  });

  it("refuses a suite the key cannot sign for, and malformed options", () => {
    throwsCode(() => identityFromPem({ key: fixture("ed25519.key"), cert: fixture("ed25519.pem"), suite: 2 }), "ERR_MLSTLS_KEY_SUITE_MISMATCH", /suite 2 .*Ed25519.*1 .*3 /);
    throwsCode(() => identityForSuite(identityFromPem({ key: fixture("p256.key"), cert: fixture("p256.pem") }), 7), "ERR_MLSTLS_KEY_SUITE_MISMATCH");
    throwsCode(() => identityFromPem({ key: fixture("p256.key"), cert: "not a certificate" }), "ERR_INVALID_ARG_VALUE", /no PEM certificate/);
    throwsCode(() => identityFromPem({ key: fixture("p256.key"), cert: 42 as unknown as string }), "ERR_INVALID_ARG_TYPE");
    const key = createPrivateKey(fixture("p256.key"));
    throwsCode(() => identityFromPem({ key: { ...key } as never, cert: fixture("p256.pem") }), "ERR_INVALID_ARG_TYPE");
    throwsCode(() => identityFromPem({ key: createPublicKey(key), cert: fixture("p256.pem") }), "ERR_INVALID_ARG_VALUE", /private key/);
  });
});

describe("identity: pinned identities", () => {
  it("createIdentity makes a basic credential for suite 1 by default, with printable fingerprints", () => {
    const id = createIdentity({ name: "alice" });
    expect(id.suite).to.equal(1);
    expect(id.credential).to.deep.equal({ type: "basic", identity: new TextEncoder().encode("alice") });
    expect(id.name).to.equal("alice");
    expect(id.signaturePublicKey).to.have.length(32);
    expect(id.fingerprint).to.match(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(id.fingerprint256).to.match(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const digest = referenceFingerprint(id);
    expect(id.fingerprint).to.equal("SHA256:" + digest.toString("base64").replace(/=$/, ""));
    expect(id.fingerprint256.replace(/:/g, "")).to.equal(digest.toString("hex").toUpperCase());
    expect(fingerprintOf({ credential: id.credential, signaturePublicKey: id.signaturePublicKey })).to.equal(id.fingerprint);
    // Without a name: a random UUID, different each time.
    const anon = createIdentity();
    expect(anon.name).to.match(/^[0-9a-f-]{36}$/);
    expect(createIdentity().fingerprint).to.not.equal(anon.fingerprint);
  });

  for (const [suite, keyLen] of [
    [2, 65],
    [3, 32],
    [7, 97],
  ] as const) {
    it(`creates suite ${suite} identities and round-trips them through PEM`, () => {
      const id = createIdentity({ suite, name: `s${suite}` });
      expect(id.signaturePublicKey).to.have.length(keyLen);
      const pem = id.toPem();
      expect(pem).to.match(/^-----BEGIN MLSTLS IDENTITY-----\n[A-Za-z0-9+/=\n]+-----END MLSTLS IDENTITY-----\n$/);
      const back = Identity.fromPem(pem);
      expect(back.suite).to.equal(suite);
      expect(back.fingerprint).to.equal(id.fingerprint);
      expect(Buffer.from(back.signaturePrivateKey).equals(Buffer.from(id.signaturePrivateKey))).to.equal(true);
      expect(back.credential).to.deep.equal(id.credential);
    });
  }

  it("shares only the public part, which pins to the same fingerprint", () => {
    const id = createIdentity({ name: "server-1" });
    const pub = id.publicPem();
    expect(pub).to.match(/^-----BEGIN MLSTLS PUBLIC IDENTITY-----\n/);
    const shared = parsePublicIdentity(pub);
    expect(shared.fingerprint).to.equal(id.fingerprint);
    expect(shared.fingerprint256).to.equal(id.fingerprint256);
    expect(shared.suite).to.equal(1);
    expect(shared).to.not.have.property("signaturePrivateKey");
    expect(pub.length).to.be.lessThan(id.toPem().length);
    expect(parsePublicIdentity(id.toPem()).fingerprint).to.equal(id.fingerprint);
    throwsCode(() => Identity.fromPem(pub), "ERR_MLSTLS_INVALID_IDENTITY_PEM", /no private key/);
  });

  it("refuses malformed, tampered and foreign PEM with ERR_MLSTLS_INVALID_IDENTITY_PEM", () => {
    const id = createIdentity({ suite: 2, name: "x" });
    const body = Buffer.from(id.toPem().split("\n").slice(1, -2).join(""), "base64");
    const wrap = (b: Buffer) => `-----BEGIN MLSTLS IDENTITY-----\n${b.toString("base64")}\n-----END MLSTLS IDENTITY-----\n`;
    throwsCode(() => Identity.fromPem("hello"), "ERR_MLSTLS_INVALID_IDENTITY_PEM", /no "MLSTLS IDENTITY"/);
    throwsCode(() => Identity.fromPem(fixture("p256.key")), "ERR_MLSTLS_INVALID_IDENTITY_PEM");
    throwsCode(() => Identity.fromPem(wrap(body.subarray(0, body.length - 1))), "ERR_MLSTLS_INVALID_IDENTITY_PEM", /truncated/);
    throwsCode(() => Identity.fromPem(wrap(Buffer.concat([body, Buffer.of(0)]))), "ERR_MLSTLS_INVALID_IDENTITY_PEM", /trailing/);
    const wrongVersion = Buffer.from(body);
    wrongVersion[0] = 2;
    throwsCode(() => Identity.fromPem(wrap(wrongVersion)), "ERR_MLSTLS_INVALID_IDENTITY_PEM", /version/);
    // The public key no longer belongs to the private key.
    const tampered = Buffer.from(body);
    tampered[body.length - 40] ^= 1;
    throwsCode(() => Identity.fromPem(wrap(tampered)), "ERR_MLSTLS_INVALID_IDENTITY_PEM", /does not match/);
    // Suite 7 with a P-256 key.
    const wrongSuite = Buffer.from(body);
    wrongSuite[2] = 7;
    throwsCode(() => Identity.fromPem(wrap(wrongSuite)), "ERR_MLSTLS_INVALID_IDENTITY_PEM");
  });

  it("keeps the private key out of inspection and JSON, and switches between suites of one scheme", () => {
    const id = createIdentity({ name: "secret-holder" });
    const priv = Buffer.from(id.signaturePrivateKey).toString("hex");
    expect(Object.keys(id)).to.not.include("signaturePrivateKey");
    expect(inspect(id, { depth: 5 })).to.contain(id.fingerprint);
    expect(inspect(id, { depth: 5 })).to.not.contain(priv);
    expect(JSON.stringify(id)).to.contain("secret-holder");
    expect(JSON.stringify(id)).to.not.contain(priv);
    const three = id.forSuite(3);
    expect(three.suite).to.equal(3);
    expect(three.fingerprint).to.equal(id.fingerprint);
    throwsCode(() => id.forSuite(2), "ERR_MLSTLS_KEY_SUITE_MISMATCH");
    throwsCode(() => createIdentity({ suite: 5 }), "ERR_INVALID_ARG_VALUE", /unsupported MLS ciphersuite 5/);
    throwsCode(() => createIdentity({ name: "" }), "ERR_INVALID_ARG_VALUE");
    throwsCode(() => Identity.from({ ...id, signaturePrivateKey: createIdentity().signaturePrivateKey }), "ERR_INVALID_ARG_VALUE", /does not match/);
  });

  it("fingerprints cover the credential and key, and parse in both printed forms", () => {
    const id = createIdentity({ name: "bob" });
    const other = createIdentity({ name: "bob" });
    expect(other.fingerprint).to.not.equal(id.fingerprint);
    const renamed = { credential: { type: "basic" as const, identity: new TextEncoder().encode("bobby") }, signaturePublicKey: id.signaturePublicKey };
    expect(fingerprintOf(renamed)).to.not.equal(id.fingerprint);
    const digest = referenceFingerprint(id);
    expect(parseFingerprint(id.fingerprint).equals(digest)).to.equal(true);
    expect(parseFingerprint(id.fingerprint + "=").equals(digest)).to.equal(true);
    expect(parseFingerprint(id.fingerprint256).equals(digest)).to.equal(true);
    expect(parseFingerprint(id.fingerprint256.toLowerCase()).equals(digest)).to.equal(true);
    expect(parseFingerprint(digest.toString("hex")).equals(digest)).to.equal(true);
    for (const bad of ["", "SHA256:abc", "SHA1:" + digest.toString("base64"), digest.toString("hex").slice(2), "AB:CD"]) {
      throwsCode(() => parseFingerprint(bad), "ERR_INVALID_ARG_VALUE");
    }
    // A suite that does not fit the key is an error; one that does gives the same fingerprint.
    expect(fingerprintOf(id, 3)).to.equal(id.fingerprint);
    expect(fingerprint256Of(id, 1)).to.equal(id.fingerprint256);
    throwsCode(() => fingerprintOf(id, 2), "ERR_MLSTLS_KEY_SUITE_MISMATCH");
    // X.509 credentials have fingerprints too (pinning a certificate-holding peer).
    const x = identityFromPem({ key: fixture("p384.key"), cert: fixture("p384-chain.pem") });
    expect(fingerprintOf(x)).to.equal("SHA256:" + referenceFingerprint(x).toString("base64").replace(/=$/, ""));
  });
});
