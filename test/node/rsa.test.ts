// RSA (and RSA-PSS, P-521, Ed448) certificates through per-connection delegation (PROTOCOL.md, "RSA certificates:
// per-connection delegation"), end to end over real sockets: servers and clients configured with nothing but key
// and cert (+ ca) connect both ways, node:tls given the same files decides the same, and identity (subject, SAN,
// getPeerCertificate(), checkServerIdentity, pinning through checkServerIdentity) is the end-entity's.

import { expect } from "chai";
import { once } from "node:events";
import * as tls from "node:tls";
import { X509Certificate } from "node:crypto";
import * as mlstls from "../../lib/index.js";
import { Cleanup, listen } from "../helpers/sockets.js";
import { delegatorOf, rsaFixture } from "../helpers/rsa.js";
import { verificationErrorOf } from "../../lib/auth/verify.js";

const ROOT = rsaFixture("root-ca.pem");
const INTERMEDIATE = rsaFixture("intermediate-ca.pem");

type Outcome = { error?: Error & { code?: string }; socket: tls.TLSSocket | mlstls.MlsTlsSocket };

function attempt<T extends tls.TLSSocket | mlstls.MlsTlsSocket>(socket: T): Promise<Outcome> {
  return new Promise((resolve) => {
    socket.on("error", (error: Error) => resolve({ socket, error }));
    socket.once("secureConnect", () => resolve({ socket }));
  });
}

const SERVERS = [
  ["RSA-2048, issued by the root", "rsa2048"],
  ["RSA-3072, with an intermediate", "rsa3072"],
  ["RSA-4096, with an intermediate", "rsa4096"],
  ["RSA-PSS, with an intermediate", "rsapss"],
  ["ECDSA P-521 (suite not run)", "p521"],
  ["Ed448 (suites not run)", "ed448"],
] as const;

describe("RSA certificates: per-connection delegation, end to end", function () {
  this.timeout(60_000);
  const cleanup = new Cleanup();

  for (const [what, name] of SERVERS) {
    it(`a server with a ${what} certificate serves mlstls clients with nothing but key and cert; node:tls agrees`, async () => {
      const key = rsaFixture(`${name}.key`);
      const cert = rsaFixture(`${name}-chain.pem`);
      const server = cleanup.server(mlstls.createServer({ key, cert }, (s) => s.end("hello")));
      const port = await listen(server);
      const client = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", servername: "localhost", ca: ROOT }));
      const r = await attempt(client);
      expect(r.error, r.error?.message).to.equal(undefined);
      expect(client.authorized).to.equal(true);
      const [data] = (await once(client, "data")) as [Buffer];
      expect(data.toString()).to.equal("hello");

      // The identity is the end-entity's: node:tls shows the same certificate object for the same files.
      const nodeServer = cleanup.server(tls.createServer({ key, cert }, (s) => s.end("hello")));
      const nodePort = await listen(nodeServer);
      const nodeClient = cleanup.stream(tls.connect({ port: nodePort, host: "127.0.0.1", servername: "localhost", ca: ROOT }));
      const n = await attempt(nodeClient);
      expect(n.error, n.error?.message).to.equal(undefined);
      expect(client.getPeerCertificate()).to.deep.equal(nodeClient.getPeerCertificate());
      const ours = client.getPeerCertificate(true) as tls.DetailedPeerCertificate;
      const theirs = nodeClient.getPeerCertificate(true);
      expect(ours.issuerCertificate?.fingerprint256).to.equal(theirs.issuerCertificate?.fingerprint256);
      expect(client.getPeerX509Certificate()?.fingerprint256).to.equal(new X509Certificate(rsaFixture(`${name}.pem`)).fingerprint256);
    });
  }

  it("an RSA client certificate authenticates to a requestCert server (and an RSA server at once), both with key and cert only", async () => {
    let seen: mlstls.MlsTlsSocket | undefined;
    const server = cleanup.server(
      mlstls.createServer(
        { key: rsaFixture("rsa2048.key"), cert: rsaFixture("rsa2048-chain.pem"), ca: ROOT, requestCert: true, rejectUnauthorized: true },
        (s) => {
          seen = s;
          s.end("ok");
        },
      ),
    );
    const port = await listen(server);
    const client = cleanup.stream(
      mlstls.connect({
        port,
        host: "127.0.0.1",
        servername: "localhost",
        ca: ROOT,
        key: rsaFixture("rsa-client.key"),
        cert: rsaFixture("rsa-client-chain.pem"),
      }),
    );
    const r = await attempt(client);
    expect(r.error, r.error?.message).to.equal(undefined);
    await once(client, "data");
    expect(seen?.authorized).to.equal(true);
    const peer = seen!.getPeerCertificate() as tls.PeerCertificate;
    expect(peer.subject.CN).to.equal("rsa client");
    expect(peer.fingerprint256).to.equal(new X509Certificate(rsaFixture("rsa-client.pem")).fingerprint256);
    // Our own certificate, as the client shows it: the end-entity, not the delegation.
    expect(client.getCertificate()).to.have.property("fingerprint256", peer.fingerprint256);
    expect(client.getX509Certificate()?.subject).to.equal("CN=rsa client");
  });

  // A server that presents a delegation its certificate's key really signed, but for another connection or for the
  // other role: the client refuses, even with rejectUnauthorized: false, and the server hears bad_certificate.
  for (const [what, mint] of [
    ["made for another connection", (suite: number) => delegatorOf("rsa2048").mint(suite, "server", new Uint8Array(32))],
    ["made for a client", (suite: number, binding: Uint8Array) => delegatorOf("rsa2048").mint(suite, "client", binding)],
  ] as const) {
    it(`a server delegation ${what} is refused, even with rejectUnauthorized: false`, async () => {
      const server = cleanup.server(
        mlstls.createServer({ identity: ({ suite, binding }: { suite: number; binding?: Uint8Array }) => mint(suite, binding!) }),
      );
      const errors: Error[] = [];
      server.on("tlsClientError", (e: Error) => errors.push(e));
      const port = await listen(server);
      for (const rejectUnauthorized of [true, false]) {
        const client = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", servername: "localhost", ca: ROOT, rejectUnauthorized }));
        const r = await attempt(client);
        expect(r.error, `rejectUnauthorized: ${rejectUnauthorized}`).to.not.equal(undefined);
        expect(verificationErrorOf(r.error)?.code ?? r.error?.code).to.equal("ERR_MLSTLS_BAD_DELEGATION");
      }
    });
  }

  it("an RSA client's delegation made for a server (role confusion) is refused by a requestCert server", async () => {
    const server = cleanup.server(mlstls.createServer({ key: rsaFixture("rsa2048.key"), cert: rsaFixture("rsa2048-chain.pem"), ca: ROOT, requestCert: true }));
    const port = await listen(server);
    const refused = new Promise<Error>((resolve) => server.once("tlsClientError", resolve));
    const client = cleanup.stream(
      mlstls.connect({
        port,
        host: "127.0.0.1",
        servername: "localhost",
        ca: ROOT,
        identity: ({ suite, binding }: { suite: number; binding?: Uint8Array }) => delegatorOf("rsa-client").mint(suite, "server", binding!),
      }),
    );
    client.on("error", () => {});
    const err = await refused;
    expect(verificationErrorOf(err)?.code ?? (err as { code?: string }).code).to.equal("ERR_MLSTLS_BAD_DELEGATION");
  });

  it("pinning the end-entity through checkServerIdentity works as with node:tls (the delegation is never seen)", async () => {
    const server = cleanup.server(mlstls.createServer({ key: rsaFixture("rsa3072.key"), cert: rsaFixture("rsa3072-chain.pem") }, (s) => s.end()));
    const port = await listen(server);
    const pinned = new X509Certificate(rsaFixture("rsa3072.pem")).fingerprint256;
    const seen: string[] = [];
    const checkServerIdentity = (host: string, cert: tls.PeerCertificate): Error | undefined => {
      seen.push(cert.fingerprint256);
      return cert.fingerprint256 === pinned ? tls.checkServerIdentity(host, cert) : new Error("pin mismatch");
    };
    const ok = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", servername: "localhost", ca: ROOT, checkServerIdentity }));
    expect((await attempt(ok)).error).to.equal(undefined);
    expect(seen).to.deep.equal([pinned]);
  });
});
