// SNI: the server's identity follows the client's server_name, through addContext() (node's patterns, the last
// match wins) or SNICallback (which replaces them), and setSecureContext() swaps the default for new connections.

import { expect } from "chai";
import type * as tls from "node:tls";
import * as mlstls from "../../lib/index.js";
import { Cleanup, fixture, listen, waitFor } from "../helpers/sockets.js";

const ROOT = fixture("root-ca.pem");
type CodedError = Error & { code?: string; alert?: number };

function attempt(socket: mlstls.MlsTlsSocket): Promise<{ socket: mlstls.MlsTlsSocket; error?: CodedError }> {
  return new Promise((resolve) => {
    socket.on("error", (error: CodedError) => resolve({ socket, error }));
    socket.once("secureConnect", () => resolve({ socket }));
  });
}

describe("auth sni: the identity follows the client's server_name", () => {
  const cleanup = new Cleanup();
  const ids = {
    default: mlstls.createIdentity({ name: "default" }),
    a: mlstls.createIdentity({ name: "a" }),
    wild: mlstls.createIdentity({ name: "wild" }),
    newer: mlstls.createIdentity({ name: "newer" }),
  };
  const pins = Object.values(ids).map((i) => i.fingerprint);

  /** The name of the identity the server presented to a client sending `servername`. */
  async function presented(port: number, servername: string | undefined): Promise<string> {
    const { socket, error } = await attempt(
      cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", ...(servername === undefined ? {} : { servername }), fingerprints: pins })),
    );
    if (error !== undefined) throw error;
    socket.destroy();
    return (socket.getPeerCertificate() as mlstls.BasicPeerCertificate).identity;
  }

  it("addContext: exact names and node's wildcards, the last match winning; the default otherwise", async () => {
    const server = cleanup.server(mlstls.createServer({ identity: ids.default }));
    server.addContext("a.test", { identity: ids.a });
    server.addContext("*.wild.test", mlstls.createSecureContext({ identity: ids.wild }));
    const port = await listen(server);
    const seen: Record<string, string> = {};
    for (const name of ["a.test", "x.wild.test", "y.x.wild.test", "wild.test", "A.test", "b.test", undefined]) {
      seen[String(name)] = await presented(port, name);
    }
    // As node: "*" stands for one label, and matching is case-sensitive on the name as sent.
    expect(seen).to.deep.equal({
      "a.test": "a",
      "x.wild.test": "wild",
      "y.x.wild.test": "default",
      "wild.test": "default",
      "A.test": "default",
      "b.test": "default",
      undefined: "default",
    });
    // Added while listening: applies to the next connection, ahead of the older entry.
    server.addContext("a.test", { identity: ids.newer });
    expect(await presented(port, "a.test")).to.equal("newer");
  });

  it("addContext with certificates: each name its own key and suite; a suite no identity has is refused", async () => {
    const server = cleanup.server(mlstls.createServer({ key: fixture("ed25519.key"), cert: fixture("ed25519-chain.pem") }));
    server.addContext("www.example.test", { key: fixture("wildcard.key"), cert: fixture("wildcard-chain.pem") });
    const port = await listen(server);
    // The wildcard certificate's key is P-256, so its clients offer suite 2.
    const www = await attempt(cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", servername: "www.example.test", ca: ROOT, ciphersuites: 2 })));
    expect(www.error).to.equal(undefined);
    expect(www.socket.authorized).to.equal(true);
    expect((www.socket.getPeerCertificate() as tls.PeerCertificate).subject.CN).to.equal("*.example.test");
    const local = await attempt(cleanup.stream(mlstls.connect({ port, host: "localhost", ca: ROOT })));
    expect(local.error).to.equal(undefined);
    expect((local.socket.getPeerCertificate() as tls.PeerCertificate).subjectaltname).to.contain("DNS:localhost");

    // Suite 2 for a name whose identity is Ed25519: refused with both sides' suites named.
    let serverErr = waitFor<[CodedError]>(server, "tlsClientError");
    const wrong = await attempt(cleanup.stream(mlstls.connect({ port, host: "localhost", ca: ROOT, ciphersuites: 2 })));
    expect(wrong.error).to.include({ code: "ERR_MLSTLS_CIPHERSUITE_MISMATCH" });
    expect(wrong.error!.message).to.match(/server asks for MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 /);
    let [err] = await serverErr;
    expect(err.code).to.equal("ERR_MLSTLS_CIPHERSUITE_MISMATCH");
    expect(err.message).to.match(/client offers MLS_128_DHKEMP256_AES128GCM_SHA256_P256; .*identity for "localhost" can sign only for MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519$/);
    // A default client reaches either name with no option: P-256 for www, Ed25519 for localhost.
    const auto = await attempt(cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", servername: "www.example.test", ca: ROOT })));
    expect(auto.error).to.equal(undefined);
    expect(auto.socket.suite?.id).to.equal(2);
    // Suite 7: no identity at all can serve it.
    serverErr = waitFor<[CodedError]>(server, "tlsClientError");
    await attempt(cleanup.stream(mlstls.connect({ port, host: "localhost", ca: ROOT, ciphersuites: 7 })));
    [err] = await serverErr;
    expect(err.code).to.equal("ERR_MLSTLS_CIPHERSUITE_MISMATCH");
  });

  it("SNICallback chooses (synchronously or later), and replaces the addContext entries as in node", async () => {
    const asked: string[] = [];
    const server = cleanup.server(
      mlstls.createServer({
        identity: ids.default,
        SNICallback: (name, cb) => {
          asked.push(name);
          if (name === "a.test") cb(null, mlstls.createSecureContext({ identity: ids.a }));
          else if (name === "later.test") setTimeout(() => cb(null, mlstls.createSecureContext({ identity: ids.wild })), 10);
          else cb(null);
        },
      }),
    );
    server.addContext("other.test", { identity: ids.newer });
    const port = await listen(server);
    expect(await presented(port, "a.test")).to.equal("a");
    expect(await presented(port, "later.test")).to.equal("wild");
    expect(await presented(port, "other.test")).to.equal("default");
    // No server name: no callback, as node.
    expect(await presented(port, undefined)).to.equal("default");
    expect(asked).to.deep.equal(["a.test", "later.test", "other.test"]);
  });

  it("an SNICallback error reaches 'tlsClientError' as is, and the client's connection is dropped (ECONNRESET), as node's", async () => {
    const refusal = Object.assign(new Error("unknown host"), { code: "E_UNKNOWN_HOST" });
    const server = cleanup.server(
      mlstls.createServer({
        identity: ids.default,
        SNICallback: (name, cb) => {
          if (name === "throws.test") throw refusal;
          if (name === "junk.test") cb(null, { key: "not a key" } as never);
          else cb(refusal);
        },
      }),
    );
    const port = await listen(server);
    for (const [name, expected] of [["refused.test", refusal], ["throws.test", refusal]] as const) {
      const serverErr = waitFor<[CodedError, mlstls.MlsTlsSocket]>(server, "tlsClientError");
      const { error } = await attempt(cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", servername: name, fingerprints: pins })));
      expect(error, name).to.include({ code: "ECONNRESET", message: "Client network socket disconnected before secure TLS connection was established" });
      const [err, socket] = await serverErr;
      expect(err, name).to.equal(expected);
      expect(socket).to.be.instanceOf(mlstls.MlsTlsSocket);
    }
    // An answer that is not a SecureContext (here, options for one) is node's "Invalid SNI context", without a code.
    const serverErr = waitFor<[CodedError]>(server, "tlsClientError");
    await attempt(cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", servername: "junk.test", fingerprints: pins })));
    const [invalid] = await serverErr;
    expect(invalid.message).to.equal("Invalid SNI context");
    expect(invalid.code).to.equal(undefined);
  });

  it("setSecureContext() replaces the default identity for new connections", async () => {
    const server = cleanup.server(mlstls.createServer({ identity: ids.default }));
    const port = await listen(server);
    expect(await presented(port, "x.test")).to.equal("default");
    server.setSecureContext({ identity: ids.newer });
    expect(await presented(port, "x.test")).to.equal("newer");
    expect(() => server.setSecureContext({ key: fixture("p256.key") })).to.throw(TypeError).with.property("code", "ERR_INVALID_ARG_VALUE");
    expect(await presented(port, "x.test")).to.equal("newer");
  });
});
