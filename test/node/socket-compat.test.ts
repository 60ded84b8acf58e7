// The rest of node:tls's TLSSocket surface: setServername, setSession, getEphemeralKeyInfo, getFinished,
// setMaxSendFragment and renegotiate behave as node:tls's do on a TLS 1.3 socket (checked against Node 20).

import { expect } from "chai";
import * as net from "node:net";
import * as mlstls from "../../lib/index.js";
import { Cleanup, SERVED, TRUSTED, connectedPair, listen, waitFor } from "../helpers/sockets.js";

type Sock = mlstls.MlsTlsSocket;

describe("socket: the rest of the TLSSocket surface", () => {
  const cleanup = new Cleanup();

  it("setServername before the handshake sets the server name the server sees; after it, or on a server, it throws", async () => {
    const server = cleanup.server(mlstls.createServer(SERVED));
    const port = await listen(server);
    const serverSide = waitFor<[Sock]>(server, "secureConnection");
    const c = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", ...TRUSTED }));
    c.setServername("late.example");
    await waitFor(c, "secureConnect");
    const [s] = await serverSide;
    expect(s.servername).to.equal("late.example");
    expect(c.servername).to.equal("late.example");
    expect(() => c.setServername("again.example")).to.throw().with.property("code", "ERR_TLS_INVALID_STATE");
    expect(() => s.setServername("x")).to.throw().with.property("code", "ERR_TLS_SNI_FROM_SERVER");
  });

  it("setSession before the handshake resumes, like connect({ session })", async () => {
    const server = cleanup.server(mlstls.createServer(SERVED));
    const port = await listen(server);
    const first = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", ...TRUSTED }));
    let session: Buffer | undefined;
    first.on("session", (b: Buffer) => (session = b));
    await waitFor(first, "secureConnect");
    // As in node:tls with TLS 1.3, the session follows the handshake.
    await waitFor(first, "session");
    expect(session).to.be.instanceOf(Buffer);
    first.destroy();
    const again = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", ...TRUSTED }));
    again.setSession(session!);
    await waitFor(again, "secureConnect");
    expect(again.isSessionReused()).to.equal(true);
    expect(() => again.setSession(session!)).to.throw().with.property("code", "ERR_TLS_INVALID_STATE");
  });

  it("getEphemeralKeyInfo names the suite's key exchange on a client, null on a server", async () => {
    const { client, peer } = await connectedPair(cleanup);
    expect(client.getEphemeralKeyInfo()).to.deep.equal({ type: "ECDH", name: "X25519", size: 253 });
    expect(peer.getEphemeralKeyInfo()).to.equal(null);
    const fresh = new mlstls.MlsTlsSocket(new net.Socket(), { ...TRUSTED });
    expect(fresh.getEphemeralKeyInfo()).to.deep.equal({});
    fresh.destroy();
  });

  it("getFinished and getPeerFinished are undefined: MLS-TLS has no Finished message", async () => {
    const { client, peer } = await connectedPair(cleanup);
    expect(client.getFinished()).to.equal(undefined);
    expect(peer.getPeerFinished()).to.equal(undefined);
  });

  it("setMaxSendFragment caps record size within 512..16384, as node's returns true/false", async () => {
    const { client, peer } = await connectedPair(cleanup);
    expect(client.setMaxSendFragment(100)).to.equal(false);
    expect(client.setMaxSendFragment(20000)).to.equal(false);
    expect(client.setMaxSendFragment(1000)).to.equal(true);
    // 10000 bytes in records of at most 1000: the peer's reads arrive in pieces no larger than that.
    const pieces: number[] = [];
    peer.on("data", (d: Buffer) => pieces.push(d.length));
    client.write(Buffer.alloc(10_000, 7));
    const start = Date.now();
    while (pieces.reduce((a, b) => a + b, 0) < 10_000 && Date.now() - start < 5000) await new Promise((r) => setTimeout(r, 5));
    expect(pieces.reduce((a, b) => a + b, 0)).to.equal(10_000);
    expect(Math.max(...pieces)).to.be.at.most(1000);
  });

  it("renegotiate returns false and reports ERR_SSL_WRONG_SSL_VERSION, as node:tls does for TLS 1.3", async () => {
    const { client } = await connectedPair(cleanup);
    let err: (Error & { code?: string }) | null = null;
    const done = new Promise<void>((resolve) => {
      const ret = client.renegotiate({}, (e) => {
        err = e;
        resolve();
      });
      expect(ret).to.equal(false);
    });
    await done;
    expect(err).to.have.property("code", "ERR_SSL_WRONG_SSL_VERSION");
  });
});
