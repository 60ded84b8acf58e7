// Authentication options are checked when they are given: createServer(), connect(), createSecureContext() and
// addContext() throw synchronously, before any connection exists; nothing waits for the first handshake.

import { expect } from "chai";
import { X509Certificate, createPrivateKey, generateKeyPairSync } from "node:crypto";
import * as net from "node:net";
import * as tls from "node:tls";
import { createIdentity } from "../../lib/auth/identity.js";
import * as mlstls from "../../lib/index.js";
import { Cleanup, fixture, listen, waitFor } from "../helpers/sockets.js";
import { rsaFixture } from "../helpers/rsa.js";

const ROOT = fixture("root-ca.pem");
const P256 = { key: fixture("p256.key"), cert: fixture("p256-chain.pem") };

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code ?? `no code: ${(e as Error).message}`;
  }
  return undefined;
}

describe("auth config: mistakes throw at configuration time", () => {
  const cleanup = new Cleanup();

  it("the same errors from createServer, connect, createSecureContext and addContext, without connecting", async () => {
    // connect() must throw before it opens a connection: count what arrives.
    let connections = 0;
    const probe = cleanup.server(net.createServer((s) => (connections++, s.destroy())));
    const port = await listen(probe);
    // A key type no MLS suite signs with and that cannot delegate (RSA, RSA-PSS, P-521 and Ed448 delegate).
    const k1 = generateKeyPairSync("ec", { namedCurve: "secp256k1" }).privateKey.export({ type: "pkcs8", format: "pem" });
    const unsupported = { key: k1, cert: fixture("p256-chain.pem") };
    const cases: [string, Record<string, unknown>, string][] = [
      ["key of another certificate", { key: fixture("p256.key"), cert: fixture("ed25519-chain.pem") }, "ERR_MLSTLS_KEY_CERT_MISMATCH"],
      // A certificate of the key's type that is another key's: node's own error (OpenSSL's), as node:tls reports it.
      ["a key with no certificate", { key: fixture("mismatch.key"), cert: fixture("p256-chain.pem") }, "ERR_OSSL_X509_KEY_VALUES_MISMATCH"],
      // Its certificate is a P-256 one (another EC key's), which node reports first; a secp256k1 key with its own
      // certificate gets ERR_MLSTLS_UNSUPPORTED_KEY (test/node/helpful-errors.test.ts).
      ["secp256k1 key (no MLS suite, no delegation)", unsupported, "ERR_OSSL_X509_KEY_VALUES_MISMATCH"],
      ["RSA key of another certificate", { key: fixture("rsa.key"), cert: fixture("p256-chain.pem") }, "ERR_MLSTLS_KEY_CERT_MISMATCH"],
      ["two keys that delegate", { key: [fixture("rsa.key"), rsaFixture("rsa2048.key")], cert: [fixture("rsa-chain.pem"), rsaFixture("rsa2048-chain.pem")] }, "ERR_INVALID_ARG_VALUE"],
      ["P-256 key, only Ed25519 suites allowed", { ...P256, ciphersuites: "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519" }, "ERR_MLSTLS_KEY_SUITE_MISMATCH"],
      ["Ed25519 identity, only suite 7 allowed", { identity: createIdentity(), ciphersuites: 7 }, "ERR_MLSTLS_KEY_SUITE_MISMATCH"],
      ["key without cert", { key: fixture("p256.key") }, "ERR_INVALID_ARG_VALUE"],
      // (A cert without key is accepted by createServer/connect as node:tls accepts it, with a warning: see
      // test/node-compat/dropin.test.ts.)
      ["identity and key/cert", { ...P256, identity: createIdentity() }, "ERR_INVALID_ARG_VALUE"],
      ["pfx", { pfx: Buffer.from("pfx") }, "ERR_INVALID_ARG_VALUE"],
      // (A ca without certificates is accepted and trusts nothing, as node:tls: see test/node-compat/auth-parity.test.ts.)
      ["ca of the wrong type", { ca: [42] }, "ERR_INVALID_ARG_TYPE"],
      ["a fingerprint that is none", { fingerprints: ["SHA256:nope"] }, "ERR_INVALID_ARG_VALUE"],
      ["verifyPeer not a function", { verifyPeer: true }, "ERR_INVALID_ARG_TYPE"],
      ["validatePeer not a function", { validatePeer: 1 }, "ERR_INVALID_ARG_TYPE"],
      ["identity of the wrong type", { identity: 42 }, "ERR_INVALID_ARG_TYPE"],
      ["a public identity as our identity", { identity: createIdentity().publicPem() }, "ERR_MLSTLS_INVALID_IDENTITY_PEM"],
      ["a node:tls SecureContext", { secureContext: tls.createSecureContext() }, "ERR_INVALID_ARG_TYPE"],
      ["two keys of one type", { key: [fixture("p256.key"), fixture("depth1.key")], cert: [fixture("p256-chain.pem"), fixture("depth1-chain.pem")] }, "ERR_INVALID_ARG_VALUE"],
      ["a cert no key belongs to", { key: [fixture("p256.key")], cert: [fixture("p256-chain.pem"), fixture("ed25519-chain.pem")] }, "ERR_MLSTLS_KEY_CERT_MISMATCH"],
    ];
    for (const [name, options, code] of cases) {
      expect(codeOf(() => mlstls.createServer(options)), `createServer: ${name}`).to.equal(code);
      expect(codeOf(() => mlstls.connect({ port, host: "127.0.0.1", ...options })), `connect: ${name}`).to.equal(code);
      if (!("fingerprints" in options || "verifyPeer" in options || "validatePeer" in options || "ciphersuites" in options || "secureContext" in options)) {
        expect(codeOf(() => mlstls.createSecureContext(options)), `createSecureContext: ${name}`).to.equal(code);
        expect(codeOf(() => mlstls.createServer().addContext("a.test", options)), `addContext: ${name}`).to.equal(code);
      }
    }
    expect(codeOf(() => mlstls.createServer({ SNICallback: "x" as never })), "SNICallback").to.equal("ERR_INVALID_ARG_TYPE");
    expect(codeOf(() => mlstls.connect({ port, checkServerIdentity: 1 as never })), "checkServerIdentity").to.equal("ERR_INVALID_ARG_TYPE");
    expect(codeOf(() => mlstls.createServer().addContext("", P256)), "addContext without a name").to.equal("ERR_TLS_REQUIRED_SERVER_NAME");
    // Configuration errors are TypeErrors with a stable code, like node's argument errors.
    expect(() => mlstls.createServer({ key: fixture("p256.key"), cert: fixture("ed25519-chain.pem") })).to.throw(mlstls.MlsTlsConfigError, /different public key/);
    await new Promise((r) => setTimeout(r, 50));
    expect(connections).to.equal(0);
  });

  it("encrypted keys: passphrase as in node:tls, with node:tls's errors", () => {
    const encrypted = createPrivateKey(fixture("p256.key")).export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "s3cret" });
    const cert = fixture("p256-chain.pem");
    for (const passphrase of ["wrong", undefined]) {
      const nodeCode = codeOf(() => tls.createSecureContext({ key: encrypted, cert, passphrase }));
      expect(nodeCode).to.match(/^ERR_OSSL_/);
      expect(codeOf(() => mlstls.createServer({ key: encrypted, cert, passphrase })), String(passphrase)).to.equal(nodeCode);
    }
    expect(mlstls.createSecureContext({ key: encrypted, cert, passphrase: "s3cret" }).servableSuites).to.deep.equal([2]);
    // node's per-key form {pem, passphrase}.
    expect(mlstls.createSecureContext({ key: [{ pem: encrypted, passphrase: "s3cret" }], cert: [cert] }).identities).to.have.length(1);
  });

  it("createSecureContext: one parse, used as `secureContext` on both sides", async () => {
    const serverContext = mlstls.createSecureContext({ key: fixture("ed25519.key"), cert: fixture("ed25519-chain.pem") });
    expect(serverContext).to.be.instanceOf(mlstls.SecureContext);
    expect(serverContext.context).to.equal(serverContext);
    expect(serverContext.servableSuites).to.deep.equal([1, 3]);
    // As in node, secureContext replaces key, cert and ca given beside it.
    const server = cleanup.server(mlstls.createServer({ secureContext: serverContext, key: Buffer.from("never parsed") }));
    const port = await listen(server);
    const clientContext = mlstls.createSecureContext({ ca: ROOT });
    const c = cleanup.stream(mlstls.connect({ port, host: "localhost", secureContext: clientContext }));
    await waitFor(c, "secureConnect");
    expect(c.authorized).to.equal(true);
  });

  it("key arrays: one identity per key type, and the server accepts the suites of all of them", async () => {
    const server = cleanup.server(
      mlstls.createServer({
        key: [fixture("p384.key"), fixture("ed25519.key")],
        // Paired by key, not by position.
        cert: [fixture("ed25519-chain.pem"), fixture("p384-chain.pem")],
      }),
    );
    const port = await listen(server);
    for (const [suite, leaf] of [[1, "ed25519.pem"], [7, "p384.pem"], [3, "ed25519.pem"]] as const) {
      const c = cleanup.stream(mlstls.connect({ port, host: "localhost", ca: ROOT, ciphersuites: suite }));
      await waitFor(c, "secureConnect");
      expect(c.suite?.id).to.equal(suite);
      expect(c.getPeerX509Certificate()?.fingerprint256).to.equal(new X509Certificate(fixture(leaf)).fingerprint256);
      c.destroy();
    }
    const serverErr = waitFor<[Error & { code: string }]>(server, "tlsClientError");
    const refused = cleanup.stream(mlstls.connect({ port, host: "localhost", ca: ROOT, ciphersuites: 2 }));
    // Both ends say what the other has: the client hears the server's suite from its RetryRequest.
    const [clientErr] = await waitFor<[mlstls.MlsTlsError]>(refused, "error");
    expect(clientErr.code).to.equal("ERR_MLSTLS_CIPHERSUITE_MISMATCH");
    expect(clientErr.message).to.match(/server asks for MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 .*it offers MLS_128_DHKEMP256_AES128GCM_SHA256_P256\)/);
    const [err] = await serverErr;
    expect(err.code).to.equal("ERR_MLSTLS_CIPHERSUITE_MISMATCH");
    expect(err.message).to.match(/client offers MLS_128_DHKEMP256_AES128GCM_SHA256_P256; .*can sign only for /);
    expect(err.message.slice(err.message.indexOf("sign only for"))).to.contain("_P384").and.to.contain("_Ed25519");
  });

  it("key arrays: a default client reaches each identity's suite (Ed25519, P-384) with no option", async () => {
    const server = cleanup.server(
      mlstls.createServer({ key: [fixture("p384.key"), fixture("ed25519.key")], cert: [fixture("ed25519-chain.pem"), fixture("p384-chain.pem")] }),
    );
    const port = await listen(server);
    const c = cleanup.stream(mlstls.connect({ port, host: "localhost", ca: ROOT }));
    await waitFor(c, "secureConnect");
    // The client's first preference the server can sign for, with the KeyPackage the ClientHello carried.
    expect(c.suite?.id).to.equal(1);
  });

  it("a client's key decides the suite it offers", async () => {
    const server = cleanup.server(mlstls.createServer({ key: fixture("p384.key"), cert: fixture("p384-chain.pem"), ca: ROOT, requestCert: true }));
    const port = await listen(server);
    // No ciphersuites option: the P-384 client certificate makes the client offer suite 7.
    const c = cleanup.stream(mlstls.connect({ port, host: "localhost", ca: ROOT, key: fixture("depth3.key"), cert: fixture("depth3-chain.pem") }));
    await waitFor(c, "secureConnect");
    expect(c.getCipher()?.name).to.equal("MLS_256_DHKEMP384_AES256GCM_SHA384_P384");
  });

  it("lists the new codes in ERROR_CODES", () => {
    for (const code of [
      "ERR_MLSTLS_KEY_CERT_MISMATCH",
      "ERR_MLSTLS_UNSUPPORTED_KEY",
      "ERR_MLSTLS_KEY_SUITE_MISMATCH",
      "ERR_MLSTLS_INVALID_IDENTITY_PEM",
      "ERR_MLSTLS_CERT_KEY_MISMATCH",
      "ERR_MLSTLS_X509_REQUIRED",
      "ERR_MLSTLS_FINGERPRINT_MISMATCH",
      "ERR_MLSTLS_PEER_REJECTED",
      "ERR_MLSTLS_UNSUPPORTED_CERTIFICATE",
      "ERR_MLSTLS_IDENTITY_CHANGED",
      "ERR_TLS_CERT_ALTNAME_INVALID",
      "ERR_TLS_REQUIRED_SERVER_NAME",
      "CERT_HAS_EXPIRED",
      "DEPTH_ZERO_SELF_SIGNED_CERT",
      "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      "SELF_SIGNED_CERT_IN_CHAIN",
      "UNSPECIFIED",
    ]) {
      expect(mlstls.ERROR_CODES).to.include(code);
    }
    expect(new Set(mlstls.ERROR_CODES).size).to.equal(mlstls.ERROR_CODES.length);
    expect(mlstls.rootCertificates).to.equal(tls.rootCertificates);
  });
});
