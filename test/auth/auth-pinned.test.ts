// Pinned-key identities through sockets (SSH-style, no PKI): allow-lists of fingerprints and verifyPeer on both
// sides, identities saved and loaded as PEM, each key type; and what a client that pins nothing does with them.

import { expect } from "chai";
import type * as tls from "node:tls";
import { AlertDescription } from "../../lib/errors.js";
import { fingerprintOf, identityFromPem } from "../../lib/auth/identity.js";
import * as mlstls from "../../lib/index.js";
import { Cleanup, fixture, listen, waitFor } from "../helpers/sockets.js";
import { alertCode } from "../helpers/node-alerts.js";

type CodedError = Error & { code?: string; alert?: number };

/** Resolves on 'secureConnect' or the first 'error'. */
function attempt(socket: mlstls.MlsTlsSocket): Promise<{ socket: mlstls.MlsTlsSocket; error?: CodedError }> {
  return new Promise((resolve) => {
    socket.on("error", (error: CodedError) => resolve({ socket, error }));
    socket.once("secureConnect", () => resolve({ socket }));
  });
}

describe("auth pinned: identities without certificates", () => {
  const cleanup = new Cleanup();
  const serverId = mlstls.createIdentity({ name: "pinned server" });
  const clientId = mlstls.createIdentity({ name: "pinned client" });

  async function serve(options: mlstls.ServerOptions = {}): Promise<{ server: mlstls.Server; port: number }> {
    const server = cleanup.server(mlstls.createServer({ identity: serverId, ...options }));
    return { server, port: await listen(server) };
  }

  it("a client trusts the server by fingerprint, in each printed form or as its public PEM", async () => {
    const { port } = await serve();
    for (const pin of [serverId.fingerprint, serverId.fingerprint256, serverId.publicPem()]) {
      const { socket, error } = await attempt(
        cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", fingerprints: [mlstls.createIdentity().fingerprint, pin] })),
      );
      expect(error, pin).to.equal(undefined);
      expect(socket.authorized).to.equal(true);
      expect(socket.authorizationError).to.equal(null);
      expect(socket.getPeerCertificate()).to.deep.include({
        credentialType: "basic",
        identity: "pinned server",
        fingerprint: serverId.fingerprint,
        fingerprint256: serverId.fingerprint256,
        signatureScheme: "ed25519",
      });
      expect(socket.getPeerX509Certificate()).to.equal(undefined);
      socket.destroy();
    }
  });

  it("another server: ERR_MLSTLS_FINGERPRINT_MISMATCH on the client, access_denied at the server", async () => {
    const { server, port } = await serve();
    const serverErr = waitFor<[CodedError]>(server, "tlsClientError");
    const { error } = await attempt(cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", fingerprints: [clientId.fingerprint] })));
    expect(error?.code).to.equal("ERR_MLSTLS_FINGERPRINT_MISMATCH");
    expect(error?.message).to.contain(serverId.fingerprint);
    expect((await serverErr)[0]).to.include({ code: alertCode(AlertDescription.access_denied), alert: AlertDescription.access_denied });

    // rejectUnauthorized: false connects, unauthorized.
    const lax = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", fingerprints: [clientId.fingerprint], rejectUnauthorized: false }));
    await waitFor(lax, "secureConnect");
    expect(lax.authorized).to.equal(false);
    expect(lax.authorizationError).to.equal("ERR_MLSTLS_FINGERPRINT_MISMATCH");
  });

  it("verifyPeer decides: true, false (ERR_MLSTLS_PEER_REJECTED), or its own error, as is", async () => {
    const { port } = await serve();
    const seen: mlstls.PinnedPeerInfo[] = [];
    const ok = await attempt(
      cleanup.stream(
        mlstls.connect({
          port,
          host: "127.0.0.1",
          verifyPeer: async (info) => {
            seen.push(info);
            return info.fingerprint === serverId.fingerprint;
          },
        }),
      ),
    );
    expect(ok.error).to.equal(undefined);
    expect(ok.socket.authorized).to.equal(true);
    expect(seen.map((i) => [i.fingerprint, (i.certificate as mlstls.BasicPeerCertificate).identity])).to.deep.equal([[serverId.fingerprint, "pinned server"]]);

    const no = await attempt(cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", verifyPeer: () => false })));
    expect(no.error?.code).to.equal("ERR_MLSTLS_PEER_REJECTED");

    const mine = Object.assign(new Error("not on the guest list"), { code: "E_GUEST_LIST" });
    const own = await attempt(cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", verifyPeer: () => mine })));
    expect(own.error).to.equal(mine);
    const thrown = await attempt(cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", verifyPeer: () => { throw mine; } })));
    expect(thrown.error).to.equal(mine);

    // With an allow-list as well, both must accept.
    const both = await attempt(cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", fingerprints: [serverId.fingerprint], verifyPeer: () => false })));
    expect(both.error?.code).to.equal("ERR_MLSTLS_PEER_REJECTED");
  });

  it("a server authenticates clients by fingerprint, or with verifyPeer", async () => {
    const { server, port } = await serve({ fingerprints: [clientId.fingerprint] });
    const secure = waitFor<[mlstls.MlsTlsSocket]>(server, "secureConnection");
    const c = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", identity: clientId, fingerprints: [serverId.fingerprint] }));
    expect((await attempt(c)).error).to.equal(undefined);
    const [s] = await secure;
    expect(s.authorized).to.equal(true);
    expect(s.getPeerCertificate()).to.include({ identity: "pinned client", fingerprint: clientId.fingerprint });
    expect(s.getCertificate()).to.include({ identity: "pinned server" });
    expect(c.getCertificate()).to.include({ identity: "pinned client" });

    // An unknown client (here: the anonymous default) is refused at the server.
    const serverErr = waitFor<[CodedError]>(server, "tlsClientError");
    const anon = await attempt(cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", fingerprints: [serverId.fingerprint] })));
    expect(anon.error).to.include({ code: alertCode(AlertDescription.access_denied), alert: AlertDescription.access_denied });
    expect((await serverErr)[0].code).to.equal("ERR_MLSTLS_FINGERPRINT_MISMATCH");

    const { server: s2, port: p2 } = await serve({ verifyPeer: ({ peer }) => Buffer.from(peer.signaturePublicKey).equals(Buffer.from(clientId.signaturePublicKey)) });
    const secure2 = waitFor<[mlstls.MlsTlsSocket]>(s2, "secureConnection");
    expect((await attempt(cleanup.stream(mlstls.connect({ port: p2, host: "127.0.0.1", identity: clientId.toPem(), fingerprints: [serverId.fingerprint] })))).error).to.equal(undefined);
    expect((await secure2)[0].authorized).to.equal(true);
    const refused = waitFor<[CodedError]>(s2, "tlsClientError");
    await attempt(cleanup.stream(mlstls.connect({ port: p2, host: "127.0.0.1", fingerprints: [serverId.fingerprint] })));
    expect((await refused)[0].code).to.equal("ERR_MLSTLS_PEER_REJECTED");
  });

  it("identities survive a save and load as PEM: the same fingerprint pins the reloaded server", async () => {
    const saved = serverId.toPem();
    const { port } = await serve({ identity: saved });
    const pinned = mlstls.parsePublicIdentity(serverId.publicPem());
    const { socket, error } = await attempt(cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", fingerprints: [pinned.fingerprint] })));
    expect(error).to.equal(undefined);
    expect(socket.getPeerCertificate()).to.include({ fingerprint: mlstls.Identity.fromPem(saved).fingerprint });
  });

  for (const [suite, scheme] of [[2, "ecdsa_secp256r1_sha256"], [7, "ecdsa_secp384r1_sha384"]] as const) {
    it(`suite ${suite} identities end to end; a client offering another suite hears which ones the server has`, async () => {
      const server = mlstls.createIdentity({ suite, name: `server ${suite}` });
      const client = mlstls.createIdentity({ suite, name: `client ${suite}` });
      const { server: srv, port } = await serve({ identity: server, fingerprints: [client.fingerprint] });
      const secure = waitFor<[mlstls.MlsTlsSocket]>(srv, "secureConnection");
      // The client's identity decides the suite it offers.
      const { socket, error } = await attempt(cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", identity: client, fingerprints: [server.fingerprint] })));
      expect(error).to.equal(undefined);
      expect(socket.suite?.id).to.equal(suite);
      expect(socket.getPeerCertificate()).to.include({ signatureScheme: scheme });
      expect((await secure)[0].authorized).to.equal(true);

      // A default client offers this suite too: it negotiates it and is refused only for its (anonymous) identity.
      const denied = waitFor<[CodedError]>(srv, "tlsClientError");
      const anon = await attempt(cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", fingerprints: [server.fingerprint] })));
      expect(anon.error).to.include({ code: alertCode(AlertDescription.access_denied), alert: AlertDescription.access_denied });
      expect((await denied)[0].code).to.equal("ERR_MLSTLS_FINGERPRINT_MISMATCH");

      const serverErr = waitFor<[CodedError]>(srv, "tlsClientError");
      const wrong = await attempt(cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", ciphersuites: 1, fingerprints: [server.fingerprint] })));
      expect(wrong.error).to.include({ code: "ERR_MLSTLS_CIPHERSUITE_MISMATCH" });
      const [err] = await serverErr;
      expect(err.code).to.equal("ERR_MLSTLS_CIPHERSUITE_MISMATCH");
      // Each names both sides' suites: the server's identity can sign only for its own suite.
      const mlsScheme = suite === 2 ? "P256" : "P384";
      expect(err.message).to.match(new RegExp(`client offers MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519; .*can sign only for [A-Z0-9_]*_${mlsScheme}$`));
      expect(wrong.error!.message).to.match(new RegExp(`server asks for [A-Z0-9_]*_${mlsScheme} `));
    });
  }

  it("an X.509 server can be pinned by its identity fingerprint instead of a CA", async () => {
    const creds = { key: fixture("ed25519.key"), cert: fixture("ed25519-chain.pem") };
    const { port } = await serve({ identity: undefined, ...creds });
    const fingerprint = fingerprintOf(identityFromPem(creds));
    const { socket, error } = await attempt(cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", fingerprints: [fingerprint] })));
    expect(error).to.equal(undefined);
    expect(socket.authorized).to.equal(true);
    expect((socket.getPeerCertificate() as tls.PeerCertificate).subject.CN).to.equal("localhost");
  });
});

describe("auth pinned: a client that pins nothing verifies X.509, as node:tls", () => {
  const cleanup = new Cleanup();

  it("refuses an anonymous or pinned-key server with ERR_MLSTLS_X509_REQUIRED, or connects unauthorized", async () => {
    for (const options of [{}, { identity: mlstls.createIdentity() }]) {
      const server = cleanup.server(mlstls.createServer(options));
      const port = await listen(server);
      const serverErr = waitFor<[CodedError]>(server, "tlsClientError");
      const { error } = await attempt(cleanup.stream(mlstls.connect({ port, host: "localhost" })));
      expect(error?.code).to.equal("ERR_MLSTLS_X509_REQUIRED");
      expect(error?.message).to.match(/basic \(pinned-key\) credential/);
      expect((await serverErr)[0]).to.include({ code: alertCode(AlertDescription.unsupported_certificate), alert: AlertDescription.unsupported_certificate });

      const lax = cleanup.stream(mlstls.connect({ port, host: "localhost", rejectUnauthorized: false }));
      await waitFor(lax, "secureConnect");
      expect(lax.authorized).to.equal(false);
      expect(lax.authorizationError).to.equal("ERR_MLSTLS_X509_REQUIRED");
    }
  });

  it("NODE_TLS_REJECT_UNAUTHORIZED=0 turns the default off, with node's warning", async () => {
    const server = cleanup.server(mlstls.createServer());
    const port = await listen(server);
    const before = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    const warnings: string[] = [];
    // Captured rather than printed into the test report.
    const emitWarning = process.emitWarning;
    process.emitWarning = ((w: string | Error) => void warnings.push(String(w))) as typeof process.emitWarning;
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
    try {
      const c = cleanup.stream(mlstls.connect({ port, host: "localhost" }));
      await waitFor(c, "secureConnect");
      expect(c.authorized).to.equal(false);
      expect(c.authorizationError).to.equal("ERR_MLSTLS_X509_REQUIRED");
      // An explicit option still wins.
      const strict = cleanup.stream(mlstls.connect({ port, host: "localhost", rejectUnauthorized: true }));
      expect((await waitFor<[CodedError]>(strict, "error"))[0].code).to.equal("ERR_MLSTLS_X509_REQUIRED");
    } finally {
      if (before === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      else process.env.NODE_TLS_REJECT_UNAUTHORIZED = before;
      process.emitWarning = emitWarning;
    }
    expect(warnings.join("\n")).to.match(/NODE_TLS_REJECT_UNAUTHORIZED/);
  });
});
