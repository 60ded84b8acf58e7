// MlsTlsSocket and connect() over real TCP: node:tls's properties, methods, argument forms and client-side errors.

import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { X509Certificate, generateKeyPairSync } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { join } from "node:path";
import { Duplex } from "node:stream";
import * as tls from "node:tls";
import * as mlstls from "../../lib/index.js";
import {
  Cleanup,
  SERVED,
  SERVER_IDENTITY,
  TRUSTED,
  connectedPair,
  delay,
  listen,
  secureConnect,
  selfSignedCert,
  waitFor,
} from "../helpers/sockets.js";
import { alertCode } from "../helpers/node-alerts.js";

type Sock = mlstls.MlsTlsSocket;

describe("socket: node:tls surface", () => {
  const cleanup = new Cleanup();

  it("has node:tls's properties before and after the handshake", async () => {
    const server = cleanup.server(mlstls.createServer({ ...SERVED, ALPNProtocols: ["b", "a"] }));
    const port = await listen(server);
    const serverSide = waitFor<[Sock]>(server, "secureConnection");
    const c = cleanup.stream(
      mlstls.connect({ port, host: "127.0.0.1", servername: "example.test", ALPNProtocols: ["a", "b"], ...TRUSTED }),
    );
    const events: string[] = [];
    c.on("connect", () => events.push("connect"));
    c.on("secureConnect", () => events.push("secureConnect"));

    expect(c).to.be.instanceOf(Duplex);
    expect((c as unknown as { _handle?: unknown })._handle).to.equal(undefined);
    expect(c.encrypted).to.equal(true);
    expect(c.authorized).to.equal(false);
    expect(c.authorizationError).to.equal(null);
    expect(c.alpnProtocol).to.equal(null);
    expect(c.servername).to.equal(null);
    expect(c.connecting).to.equal(true);
    expect(c.secureConnecting).to.equal(true);
    expect(c.getCipher()).to.equal(undefined);
    expect(c.getPeerCertificate()).to.deep.equal({});
    expect(c.getCertificate()).to.deep.equal({});
    expect(c.getPeerX509Certificate()).to.equal(undefined);
    expect(c.epoch).to.equal(undefined);
    expect(c.getSession()).to.equal(undefined);
    expect(c.isSessionReused()).to.equal(false);
    // node's error: a plain Error named "Error", with the code.
    expect(() => c.exportKeyingMaterial(32, "EXPERIMENTAL-test"))
      .to.throw(Error, "TLS socket connection must be securely established")
      .with.property("code", "ERR_TLS_INVALID_STATE");

    await waitFor(c, "secureConnect");
    const [s] = await serverSide;
    expect(events).to.deep.equal(["connect", "secureConnect"]);
    expect(c.connecting).to.equal(false);
    expect(c.secureConnecting).to.equal(false);
    // The client pinned the server's identity; the server verifies no one without requestCert, as node.
    expect(c.authorized).to.equal(true);
    expect(c.authorizationError).to.equal(null);
    expect(s.authorized).to.equal(false);
    expect(s.authorizationError).to.equal(null);
    expect(c.alpnProtocol).to.equal("b"); // the server's preference, as OpenSSL chooses
    expect(s.alpnProtocol).to.equal("b");
    expect(c.servername).to.equal("example.test");
    expect(s.servername).to.equal("example.test");
    expect(c.getProtocol()).to.equal("TLSv1.3");
    expect(c.getCipher()).to.deep.equal({
      name: "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519",
      standardName: "TLS_AES_128_GCM_SHA256",
      version: "TLSv1.3",
    });
    expect(s.getCipher()).to.deep.equal(c.getCipher());
    expect(c.remoteAddress).to.equal("127.0.0.1");
    expect(c.remotePort).to.equal(port);
    expect(c.remoteFamily).to.equal("IPv4");
    expect(c.localAddress).to.equal("127.0.0.1");
    expect(s.remotePort).to.equal(c.localPort);
    expect(c.address()).to.deep.include({ address: "127.0.0.1", port: c.localPort });
    expect(c.epoch).to.be.a("bigint");
    expect(c.epoch).to.equal(s.epoch);

    const cert = c.getPeerCertificate() as mlstls.BasicPeerCertificate;
    expect(cert.credentialType).to.equal("basic");
    expect(cert.identity).to.equal("mlstls test server");
    expect(cert.fingerprint).to.equal(SERVER_IDENTITY.fingerprint);
    expect(cert.fingerprint256).to.match(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(s.getCertificate()).to.deep.equal(cert);
    // As node:tls: a server that asked for no client certificate shows none, and an anonymous client has none
    // to show; the MLS leaf's credential is still there.
    expect(s.getPeerCertificate()).to.deep.equal({});
    expect(c.getCertificate()).to.deep.equal({});
    expect(Buffer.from(s.peerCredential!.signaturePublicKey).equals(cert.pubkey)).to.equal(false);
    expect(c.getPeerX509Certificate()).to.equal(undefined);
    expect(c.getX509Certificate()).to.equal(undefined);

    const ctx = Buffer.from("context");
    const ekm = c.exportKeyingMaterial(48, "EXPERIMENTAL-test", ctx);
    expect(ekm).to.be.instanceOf(Buffer);
    expect(ekm.length).to.equal(48);
    expect(ekm.equals(s.exportKeyingMaterial(48, "EXPERIMENTAL-test", ctx))).to.equal(true);
    expect(ekm.equals(c.exportKeyingMaterial(48, "EXPERIMENTAL-other", ctx))).to.equal(false);
  });

  it("describes an X.509 credential with node's certificate object", async () => {
    const dir = cleanup.tmpdir();
    const { privateKey } = generateKeyPairSync("ed25519");
    writeFileSync(join(dir, "key.pem"), privateKey.export({ type: "pkcs8", format: "pem" }));
    execFileSync("openssl", ["req", "-x509", "-key", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "1", "-subj", "/CN=mls.test"], {
      stdio: "ignore",
    });
    const pem = readFileSync(join(dir, "cert.pem"));
    const cert = new X509Certificate(pem);
    const { client, peer } = await connectedPair(
      cleanup,
      { identity: undefined, key: readFileSync(join(dir, "key.pem")), cert: pem },
      { ca: pem, servername: "mls.test", fingerprints: undefined },
    );
    expect(client.authorized).to.equal(true);
    const peerCert = client.getPeerCertificate() as tls.PeerCertificate;
    expect(peerCert).to.deep.equal(cert.toLegacyObject());
    expect(peerCert.subject.CN).to.equal("mls.test");
    expect(peerCert.fingerprint256).to.equal(cert.fingerprint256);
    const detailed = client.getPeerCertificate(true) as tls.DetailedPeerCertificate;
    // Self-signed: node links the certificate to itself.
    expect(detailed.issuerCertificate).to.equal(detailed);
    expect(client.getPeerX509Certificate()?.fingerprint256).to.equal(cert.fingerprint256);
    expect(peer.getX509Certificate()?.fingerprint256).to.equal(cert.fingerprint256);
    expect(peer.getCertificate()).to.deep.equal(cert.toLegacyObject());
  });

  it("reports alpnProtocol false and servername false when none was used", async () => {
    const server = cleanup.server(mlstls.createServer(SERVED));
    const port = await listen(server);
    const serverSide = waitFor<[Sock]>(server, "secureConnection");
    const c = cleanup.stream(await secureConnect({ port, host: "127.0.0.1" }));
    const [s] = await serverSide;
    expect(c.alpnProtocol).to.equal(false);
    expect(s.alpnProtocol).to.equal(false);
    // An IP address is never sent as a server name.
    expect(c.servername).to.equal(false);
    expect(s.servername).to.equal(false);
  });

  it("accepts connect()'s argument forms, options winning over positional ones", async () => {
    const server = cleanup.server(mlstls.createServer(SERVED, (s) => s.end("hi")));
    const port = await listen(server);
    const hello = (make: (cb: () => void) => Sock): Promise<string> =>
      new Promise((resolve, reject) => {
        let secure = false;
        let text = "";
        const c = cleanup.stream(make(() => (secure = true)));
        c.on("data", (d: Buffer) => (text += d.toString()));
        c.on("end", () => resolve(secure ? text : "no callback"));
        c.on("error", reject);
      });
    expect(await hello((cb) => mlstls.connect(port, "127.0.0.1", TRUSTED, cb))).to.equal("hi");
    expect(await hello((cb) => mlstls.connect(port, { host: "127.0.0.1", ...TRUSTED }, cb))).to.equal("hi");
    expect(await hello((cb) => mlstls.connect(String(port), "invalid.invalid", { host: "127.0.0.1", ...TRUSTED }, cb))).to.equal("hi");
    expect(await hello((cb) => mlstls.connect({ port, host: "127.0.0.1", ...TRUSTED }, cb))).to.equal("hi");
    // Without options the client verifies the server as X.509 and refuses its pinned-key identity: it did reach it.
    const bare = cleanup.stream(mlstls.connect(port, "127.0.0.1", () => {}));
    expect((await waitFor<[Error & { code: string }]>(bare, "error"))[0].code).to.equal("ERR_MLSTLS_X509_REQUIRED");

    const dir = cleanup.tmpdir();
    const ipc = cleanup.server(mlstls.createServer(SERVED, (s) => s.end("over ipc")));
    await listen(ipc, join(dir, "mlstls.sock"));
    expect(await hello((cb) => mlstls.connect(join(dir, "mlstls.sock"), TRUSTED, cb))).to.equal("over ipc");
  });

  it("sends a default servername of `host`, but never an IP address", async () => {
    const server = cleanup.server(mlstls.createServer(SERVED));
    const port = await listen(server);
    const names: (string | false | null)[] = [];
    server.on("secureConnection", (s: Sock) => names.push(s.servername));
    cleanup.stream(await secureConnect({ port, host: "localhost" }));
    cleanup.stream(await secureConnect({ port, host: "127.0.0.1" }));
    cleanup.stream(await secureConnect({ port, host: "127.0.0.1", servername: "named.test" }));
    await delay(50);
    expect(names).to.deep.equal(["localhost", false, "named.test"]);
  });

  it("buffers writes made before the handshake and keeps their order", async () => {
    const server = cleanup.server(mlstls.createServer(SERVED));
    const port = await listen(server);
    const received = new Promise<string>((resolve) => {
      server.on("secureConnection", (s: Sock) => {
        let text = "";
        s.on("data", (d: Buffer) => (text += d.toString()));
        s.on("end", () => resolve(text));
      });
    });
    const c = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", ...TRUSTED }));
    const callbacks: string[] = [];
    c.write("a", () => callbacks.push("a"));
    c.write(Buffer.from("b"), () => callbacks.push("b"));
    c.write(new Uint8Array([0x63]), () => callbacks.push("c"));
    expect(c.bytesWritten).to.equal(3);
    c.on("secureConnect", () => c.end("d"));
    expect(await received).to.equal("abcd");
    expect(callbacks).to.deep.equal(["a", "b", "c"]);
  });

  it("counts bytesRead and bytesWritten as node:tls does: application bytes only", async () => {
    const { client, peer } = await connectedPair(cleanup);
    expect(client.bytesWritten).to.equal(0);
    expect(peer.bytesRead).to.equal(0);
    client.write(Buffer.alloc(1000));
    await waitFor(peer, "data");
    await delay(20);
    expect(peer.bytesRead).to.equal(1000);
    expect(client.bytesWritten).to.equal(1000);
    peer.write(Buffer.alloc(70_000));
    let got = 0;
    await new Promise<void>((resolve) => client.on("data", (d: Buffer) => (got += d.length) === 70_000 && resolve()));
    expect(client.bytesRead).to.equal(70_000);
    expect(peer.bytesWritten).to.equal(70_000);
  });

  it("emits 'keylog' lines only to listeners, on the socket and the server", async () => {
    const server = cleanup.server(mlstls.createServer(SERVED));
    const port = await listen(server);
    const serverLines: [Buffer, Sock][] = [];
    server.on("keylog", (line: Buffer, s: Sock) => serverLines.push([line, s]));
    const serverSide = waitFor<[Sock]>(server, "secureConnection");
    const c = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", ...TRUSTED }));
    const lines: Buffer[] = [];
    c.on("keylog", (line: Buffer) => lines.push(line));
    await waitFor(c, "secureConnect");
    const [s] = await serverSide;
    await c.keyUpdate({ requestPeer: true });
    const re = /^(CLIENT_TRAFFIC_SECRET_\d+|SERVER_TRAFFIC_SECRET_\d+|EXPORTER_SECRET) ([0-9a-f]{64}) [0-9a-f]+\n$/;
    expect(lines.length).to.be.at.least(5);
    for (const l of lines) expect(l.toString()).to.match(re);
    const random = re.exec(lines[0]!.toString())![2];
    expect(serverLines.length).to.be.at.least(3);
    for (const [l, sock] of serverLines) {
      expect(re.exec(l.toString())![2]).to.equal(random);
      expect(sock).to.equal(s);
    }
    // As in node:tls, a listener attached after the handshake gets the lines of key material made from then on:
    // here the KeyUpdate's new send and receive secrets.
    const quiet = cleanup.stream(await secureConnect({ port }));
    const late: Buffer[] = [];
    quiet.on("keylog", (l: Buffer) => late.push(l));
    await quiet.keyUpdate({ requestPeer: true });
    expect(late.length).to.equal(2);
    for (const l of late) expect(l.toString()).to.match(/^(CLIENT|SERVER)_TRAFFIC_SECRET_[1-9]\d* /);
  });

  it("negotiates the suite from `ciphersuites` and rejects unknown names up front", async () => {
    const chacha = "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519";
    const { client, peer } = await connectedPair(cleanup, {}, { ciphersuites: chacha });
    expect(client.getCipher()).to.deep.equal({ name: chacha, standardName: "TLS_CHACHA20_POLY1305_SHA256", version: "TLSv1.3" });
    expect(peer.getCipher()?.name).to.equal(chacha);
    expect(() => mlstls.connect({ port: 1, ciphersuites: "TLS_AES_128_GCM_SHA256" })).to.throw(TypeError, /unsupported MLS ciphersuite/);
    expect(() => mlstls.createServer({ ciphersuites: "nope" })).to.throw(TypeError);
    expect(mlstls.DEFAULT_CIPHERSUITES.split(":")).to.deep.equal([...mlstls.DEFAULT_SUITES]);
    expect(mlstls.getCiphers()).to.include(chacha);
  });

  it("fails a client whose suite the server does not accept, on both ends", async () => {
    const server = cleanup.server(mlstls.createServer({ ...SERVED, ciphersuites: "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519" }));
    const port = await listen(server);
    const serverErr = waitFor<[Error & { code: string }]>(server, "tlsClientError");
    const c = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", ciphersuites: "MLS_128_DHKEMP256_AES128GCM_SHA256_P256", ...TRUSTED }));
    const [err] = await waitFor<[mlstls.MlsTlsError]>(c, "error");
    // The server's RetryRequest named its suite, so the client's own error can say what to configure.
    expect(err.code).to.equal("ERR_MLSTLS_CIPHERSUITE_MISMATCH");
    expect(err.alert).to.equal(40); // handshake_failure, sent to the server
    expect(err.message).to.contain("server asks for MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519");
    expect((await serverErr)[0].code).to.equal("ERR_MLSTLS_CIPHERSUITE_MISMATCH");
  });

  it("fails when no ALPN protocol is common (no_application_protocol)", async () => {
    const server = cleanup.server(mlstls.createServer({ ...SERVED, ALPNProtocols: ["h2"] }));
    const port = await listen(server);
    const serverErr = waitFor<[Error & { code: string }]>(server, "tlsClientError");
    const c = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", ALPNProtocols: ["http/1.1"], ...TRUSTED }));
    const [err] = await waitFor<[mlstls.MlsTlsError]>(c, "error");
    expect(err.alert).to.equal(120);
    expect((await serverErr)[0].code).to.equal("ERR_MLSTLS_NO_APPLICATION_PROTOCOL");
  });

  it("lets ALPNCallback choose, or reject with no_application_protocol", async () => {
    const offered: string[][] = [];
    const server = cleanup.server(
      mlstls.createServer({
        ...SERVED,
        ALPNCallback: ({ protocols }) => {
          offered.push(protocols);
          return protocols.includes("x") ? "x" : undefined;
        },
      }),
    );
    const port = await listen(server);
    const c = cleanup.stream(await secureConnect({ port, ALPNProtocols: Buffer.from("\x01y\x01x", "latin1") }));
    expect(c.alpnProtocol).to.equal("x");
    expect(offered).to.deep.equal([["y", "x"]]);
    const refused = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", ALPNProtocols: ["z"], ...TRUSTED }));
    expect((await waitFor<[mlstls.MlsTlsError]>(refused, "error"))[0].alert).to.equal(120);
  });

  it("forwards setNoDelay, setKeepAlive, ref and unref to the TCP socket", async () => {
    const server = cleanup.server(mlstls.createServer(SERVED));
    const port = await listen(server);
    const raw = cleanup.stream(net.connect(port, "127.0.0.1"));
    const calls: string[] = [];
    for (const m of ["setNoDelay", "setKeepAlive", "ref", "unref"] as const) {
      const orig = raw[m].bind(raw) as (...a: unknown[]) => unknown;
      (raw as unknown as Record<string, unknown>)[m] = (...a: unknown[]) => {
        calls.push(`${m}(${a.join(",")})`);
        return orig(...a);
      };
    }
    const c = cleanup.stream(mlstls.connect({ socket: raw, ...TRUSTED }));
    expect(c.setNoDelay(true)).to.equal(c);
    expect(c.setKeepAlive(true, 1000)).to.equal(c);
    expect(c.unref()).to.equal(c);
    expect(c.ref()).to.equal(c);
    expect(calls).to.deep.equal(["setNoDelay(true)", "setKeepAlive(true,1000)", "unref()", "ref()"]);
    await waitFor(c, "secureConnect");
  });

  it("emits 'timeout' after idling, refreshed by traffic, without destroying", async () => {
    const { client, peer } = await connectedPair(cleanup);
    peer.on("data", (d: Buffer) => peer.write(d));
    client.on("data", () => {});
    let timeouts = 0;
    client.setTimeout(600, () => timeouts++);
    expect(client.timeout).to.equal(600);
    for (let i = 0; i < 12; i++) {
      client.write("ping");
      await delay(50);
    }
    expect(timeouts).to.equal(0);
    await waitFor(client, "timeout", 5000);
    expect(client.destroyed).to.equal(false);
    client.setTimeout(0);
    expect(client.timeout).to.equal(undefined);
  });

  it("passes net options through and applies highWaterMark to the socket", async () => {
    const server = cleanup.server(mlstls.createServer({ ...SERVED, highWaterMark: 4096 }));
    const port = await listen(server);
    const serverSide = waitFor<[Sock]>(server, "secureConnection");
    const c = cleanup.stream(
      await secureConnect({ port, host: "localhost", family: 4, localAddress: "127.0.0.1", highWaterMark: 1024, noDelay: false }),
    );
    expect(c.remoteAddress).to.equal("127.0.0.1");
    expect(c.localAddress).to.equal("127.0.0.1");
    expect(c.readableHighWaterMark).to.equal(1024);
    expect(c.writableHighWaterMark).to.equal(1024);
    const [s] = await serverSide;
    expect(s.readableHighWaterMark).to.equal(4096);
  });

  it("applies the `timeout` connect option", async () => {
    const server = cleanup.server(mlstls.createServer(SERVED));
    const port = await listen(server);
    const c = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", timeout: 100, ...TRUSTED }));
    expect(c.timeout).to.equal(100);
    await waitFor(c, "timeout", 5000);
  });

  it("runs over an existing stream: a STARTTLS-style upgrade with new TLSSocket on the server", async () => {
    const plain = cleanup.server(
      net.createServer((raw) => {
        raw.once("data", (line: Buffer) => {
          expect(line.toString()).to.equal("STARTTLS\n");
          raw.write("GO\n", () => {
            const secure = cleanup.stream(new mlstls.TLSSocket(raw, { isServer: true, ...SERVED }));
            secure.on("secure", () => secure.pipe(secure));
          });
        });
      }),
    );
    const port = await listen(plain);
    const raw = cleanup.stream(net.connect(port, "127.0.0.1"));
    await waitFor(raw, "connect");
    raw.write("STARTTLS\n");
    await waitFor(raw, "data");
    const c = cleanup.stream(await secureConnect({ socket: raw }));
    c.write("upgraded");
    const [echo] = await waitFor<[Buffer]>(c, "data");
    expect(echo.toString()).to.equal("upgraded");
    expect(c.remotePort).to.equal(port);
  });

  it("exports node:tls's entry points and the documented error codes", () => {
    expect(mlstls.TLSSocket).to.equal(mlstls.MlsTlsSocket);
    expect(mlstls.checkServerIdentity).to.equal(tls.checkServerIdentity);
    for (const code of ["ERR_MLSTLS_TRUNCATED", "ERR_MLSTLS_PEER_ALERT", "ERR_MLSTLS_BAD_RECORD_MAC", "ERR_TLS_HANDSHAKE_TIMEOUT", "ECONNRESET", "ABORT_ERR"]) {
      expect(mlstls.ERROR_CODES).to.include(code);
    }
    expect(new Set(mlstls.ERROR_CODES).size).to.equal(mlstls.ERROR_CODES.length);
  });

  it("aborts with ABORT_ERR when the signal fires", async () => {
    const server = cleanup.server(mlstls.createServer(SERVED));
    const port = await listen(server);
    const ac = new AbortController();
    const c = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", signal: ac.signal, ...TRUSTED }));
    const errP = waitFor<[Error & { code: string }]>(c, "error");
    const closeP = waitFor<[boolean]>(c, "close");
    ac.abort();
    const [err] = await errP;
    expect(err.name).to.equal("AbortError");
    expect(err.code).to.equal("ABORT_ERR");
    expect((await closeP)[0]).to.equal(true);

    const pre = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", signal: AbortSignal.abort(), ...TRUSTED }));
    expect((await waitFor<[Error & { code: string }]>(pre, "error"))[0].code).to.equal("ABORT_ERR");
  });
});

describe("socket: client errors before the handshake", () => {
  const cleanup = new Cleanup();

  it("passes connection errors through (ECONNREFUSED)", async () => {
    const probe = net.createServer();
    const port = await listen(probe);
    await new Promise((r) => probe.close(r));
    const c = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1" }));
    const closeP = waitFor<[boolean]>(c, "close");
    const [err] = await waitFor<[Error & { code: string }]>(c, "error");
    expect(err.code).to.equal("ECONNREFUSED");
    expect((await closeP)[0]).to.equal(true);
  });

  it("reports a server that hangs up as node:tls does (ECONNRESET, host, port)", async () => {
    const server = cleanup.server(net.createServer((raw) => raw.resume().end()));
    const port = await listen(server);
    const c = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1" }));
    const [err] = await waitFor<[Error & { code: string; host: string; port: number }]>(c, "error");
    expect(err.code).to.equal("ECONNRESET");
    expect(err.message).to.equal("Client network socket disconnected before secure TLS connection was established");
    expect(err.host).to.equal("127.0.0.1");
    expect(err.port).to.equal(port);
  });

  it("says so when the server speaks vanilla TLS", async () => {
    const creds = selfSignedCert(cleanup.tmpdir());
    const vanilla = cleanup.server(tls.createServer(creds));
    const vanillaErr = waitFor<[Error & { code: string }]>(vanilla, "tlsClientError");
    const port = await listen(vanilla);
    const c = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1" }));
    const [err] = await waitFor<[mlstls.MlsTlsError]>(c, "error");
    // node's code for the alert, as node:tls reports it; ours explains it.
    expect(err.code).to.equal(alertCode(10));
    expect(err.alert).to.equal(10);
    expect(err.message).to.match(/vanilla TLS/);
    expect((await vanillaErr)[0].code).to.equal("ERR_SSL_UNEXPECTED_MESSAGE");
  });
});
