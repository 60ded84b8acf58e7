// Sessions as node:tls users know them: 'session', getSession(), connect({ session }), isSessionReused(); the
// peer's identity on resumed sockets; sessionKey, saveSession (write-ahead), the server's session options; the
// fallback to a full handshake; replacement of a live connection; fresh keys on every resumed connection.

import { expect } from "chai";
import { once } from "node:events";
import * as net from "node:net";
import * as mlstls from "../../lib/index.js";
import { CLIENT_MAGIC_HEX, Client, QUIET, ServerProcess, type Watched, codeOf, received } from "../helpers/resume-world.js";
import {
  Cleanup,
  SERVED,
  TRUSTED,
  delay,
  fixture,
  issueCertificate,
  listen,
  secureConnect,
  until,
  waitFor,
} from "../helpers/sockets.js";
import { alertCode } from "../helpers/node-alerts.js";

type CodedError = Error & { code?: string; alert?: number };

/** Resolves with the first 'error' of a socket that must not connect. */
function failure(w: Watched): Promise<CodedError> {
  return new Promise((resolve, reject) => {
    w.socket.once("error", resolve);
    w.socket.once("secureConnect", () => reject(new Error("connected")));
  });
}

describe("resumption on the socket: node:tls's session API", () => {
  const cleanup = new Cleanup();
  const procs: ServerProcess[] = [];
  const clients: Client[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroyAll();
    for (const p of procs.splice(0)) await p.close();
  });
  /** A server process behind a proxy, on `store` (default: a MemorySessionStore; "default": the Server's own). */
  async function start(
    options: mlstls.ServerOptions = {},
    store: mlstls.SessionStore | "default" = new mlstls.MemorySessionStore(),
  ): Promise<{ srv: ServerProcess; client: Client }> {
    const srv = await ServerProcess.start(store === "default" ? undefined : store, options);
    procs.push(srv);
    const client = new Client();
    clients.push(client);
    return { srv, client };
  }

  it("emits 'session' after the handshake and after every change that matters, and resumes from it", async () => {
    const { srv, client } = await start();
    const a = await client.connectSecure(srv.port);
    const sa = await srv.socketAt(0);
    const sessions: Buffer[] = [];
    a.socket.on("session", (s: Buffer) => sessions.push(s));
    // The first session came with the handshake, before 'secureConnect' (write-ahead of the key confirmation).
    const first = a.socket.getSession()!;
    expect(Buffer.isBuffer(first)).to.equal(true);
    expect(first.subarray(0, 4).toString("hex")).to.equal(CLIENT_MAGIC_HEX);
    expect(a.socket.isSessionReused()).to.equal(false);
    expect(sa.socket.isSessionReused()).to.equal(false);
    expect(sa.socket.getSession()).to.equal(undefined);

    await a.socket.connectionUpdate();
    await sa.socket.connectionUpdate();
    await until(() => sessions.length === 4);
    // Own update: before the ConnectionUpdate, after its confirmation; the server's: before our EpochKeyUpdate, after theirs.
    expect(a.socket.getSession()).to.equal(sessions[3]);
    a.socket.destroy();
    await until(() => sa.closed);

    const b = await client.connectSecure(srv.port, { session: a.socket.getSession() });
    const sb = await srv.socketAt(1);
    expect(b.socket.isSessionReused()).to.equal(true);
    expect(sb.socket.isSessionReused()).to.equal(true);
    expect(sb.socket.resumptionRepair).to.equal(1);
    expect(b.socket.epoch).to.equal(sb.socket.epoch);
    expect(b.socket.epoch).to.equal(a.socket.epoch! + 1n);
    // The peer's identity comes with the session, verified again: getPeerCertificate() is not empty.
    expect(b.socket.authorized).to.equal(true);
    expect(b.socket.getPeerCertificate()).to.deep.equal(a.socket.getPeerCertificate());
    // (This server verifies nothing, so, as node:tls, it shows no client certificate; the credential is there.)
    expect(sb.socket.getPeerCertificate()).to.deep.equal({});
    expect(Buffer.from(sb.socket.peerCredential!.signaturePublicKey)).to.deep.equal(Buffer.from(sa.socket.peerCredential!.signaturePublicKey));
    expect(b.socket.getCipher()).to.deep.equal(a.socket.getCipher());
    b.socket.write("up");
    sb.socket.write("down");
    await until(() => received(sb) === "up" && received(b) === "down");
  });

  it("emits 'session' only for a verified server", async () => {
    const { srv, client } = await start();
    const other = mlstls.createIdentity({ name: "someone else" });
    const w = client.connect(srv.port, { fingerprints: [other.fingerprint] });
    const err = await failure(w);
    expect(err.code).to.equal("ERR_MLSTLS_FINGERPRINT_MISMATCH");
    expect(client.session).to.equal(undefined);
  });

  it("re-verifies X.509 peers on resumption and shows their certificates, on both ends", async () => {
    const dir = cleanup.tmpdir();
    const srvCert = issueCertificate(dir, { subject: "/CN=localhost/O=resume server" });
    const cliCert = issueCertificate(dir, { subject: "/CN=resume client" });
    const ca = fixture("root-ca.pem");
    const { srv, client } = await start({ identity: undefined, key: srvCert.key, cert: srvCert.chain, ca, requestCert: true });
    const x509 = { fingerprints: undefined, ca, key: cliCert.key, cert: cliCert.chain, servername: "localhost" };
    const a = await client.connectSecure(srv.port, x509);
    a.socket.destroy();
    const b = await client.connectSecure(srv.port, { ...x509, session: client.session });
    const sb = await srv.socketAt(1);
    expect(b.socket.isSessionReused()).to.equal(true);
    expect(b.socket.authorized).to.equal(true);
    expect(b.socket.getPeerCertificate()).to.have.nested.property("subject.CN", "localhost");
    expect(b.socket.getPeerX509Certificate()?.subject).to.include("CN=localhost");
    expect(sb.socket.authorized).to.equal(true);
    expect(sb.socket.getPeerCertificate()).to.have.nested.property("subject.CN", "resume client");

    // The stored certificate is checked against today's trust: a client that no longer trusts the server's CA
    // does not resume; it falls back to a full handshake, which fails verification as usual.
    const c = client.connect(srv.port, { ...x509, ca: fixture("other-root-ca.pem"), session: client.session });
    const err = await failure(c);
    expect(err.code).to.equal("UNABLE_TO_GET_ISSUER_CERT_LOCALLY");
  });

  it("encrypts 'session' with sessionKey, decrypts `session` with it, and refuses another key before connecting", async () => {
    const { srv, client } = await start();
    const key = Buffer.alloc(32, 7);
    const a = await client.connectSecure(srv.port, { sessionKey: key });
    const sealed = a.socket.getSession()!;
    expect(sealed.subarray(0, 4).toString("latin1")).to.equal("MLSE");
    expect(Buffer.from(mlstls.decryptSession(sealed, key)).subarray(0, 4).toString("hex")).to.equal(CLIENT_MAGIC_HEX);
    a.socket.destroy();

    const b = await client.connectSecure(srv.port, { sessionKey: key, session: sealed });
    expect(b.socket.isSessionReused()).to.equal(true);
    expect(b.socket.getSession()!.subarray(0, 4).toString("latin1")).to.equal("MLSE");
    b.socket.destroy();

    let connections = 0;
    srv.server.on("connection", () => connections++);
    const wrongKey = Buffer.alloc(32, 8);
    expect(() => mlstls.connect({ port: srv.port, host: "127.0.0.1", ...TRUSTED, sessionKey: wrongKey, session: client.session }))
      .to.throw(mlstls.MlsTlsError)
      .with.property("code", "ERR_MLSTLS_BAD_SESSION");
    expect(() => mlstls.connect({ port: srv.port, host: "127.0.0.1", ...TRUSTED, sessionKey: Buffer.alloc(16) })).to.throw(TypeError);
    expect(() => mlstls.connect({ port: srv.port, host: "127.0.0.1", ...TRUSTED, session: "abc" as unknown as Buffer })).to.throw(TypeError);
    await delay(20);
    expect(connections).to.equal(0);
  });

  it("awaits saveSession before the message that depends on it is sent, and fails the connection if it rejects", async () => {
    const { srv, client } = await start();
    const stored: Buffer[] = [];
    let hold = false;
    let heldAt: number | undefined;
    const link = (): { c2s: number } => srv.proxy.links[srv.proxy.links.length - 1]!.counts;
    const a = await client.connectSecure(srv.port, {
      saveSession: async (s: Buffer) => {
        if (hold) {
          const at = link().c2s;
          heldAt ??= at;
          await delay(100);
          // Nothing left while the save was pending: the ConnectionUpdate waits for it.
          expect(link().c2s).to.equal(at);
        }
        stored.push(s);
      },
    });
    // The key confirmation has passed the proxy once the server is secure.
    await srv.socketAt(0);
    expect(stored).to.have.length(1);
    hold = true;
    const before = link().c2s;
    const t0 = Date.now();
    await a.socket.connectionUpdate();
    expect(Date.now() - t0).to.be.at.least(100);
    expect(heldAt).to.equal(before);
    expect(link().c2s).to.be.greaterThan(before);
    expect(stored).to.have.length(3);
    expect(a.socket.getSession()).to.equal(stored[2]);

    // A resumed connection first saves once the server said it stored its side (the Buffer it resumed from stays
    // valid until then): a save that rejects fails the connection with that error.
    const disk = new Error("disk full");
    const b = client.connect(srv.port, { session: a.socket.getSession(), saveSession: () => Promise.reject(disk) });
    expect((await waitFor<[Error]>(b.socket, "error"))[0]).to.equal(disk);
  });

  it("falls back to a full handshake on a new connection when the server no longer has the session", async () => {
    // The server's default store, with node's sessionTimeout option (seconds).
    const { srv, client } = await start({ sessionTimeout: 0.15 }, "default");
    const a = await client.connectSecure(srv.port);
    a.socket.destroy();
    const old = client.session!;
    await delay(250);

    const events: string[] = [];
    const b = client.connect(srv.port, { session: old });
    b.socket.on("connect", () => events.push("connect"));
    b.socket.on("secureConnect", () => events.push("secureConnect"));
    // Written before the handshake: held, and delivered over the connection that succeeds.
    b.socket.write("early");
    await once(b.socket, "secureConnect");
    const sb = await srv.socketAt(1);
    expect(events).to.deep.equal(["connect", "secureConnect"]);
    expect(b.socket.isSessionReused()).to.equal(false);
    expect(sb.socket.isSessionReused()).to.equal(false);
    expect(codeOf(srv.clientErrors[0])).to.equal("ERR_MLSTLS_UNKNOWN_SESSION");
    expect(srv.proxy.links).to.have.length(3);
    await until(() => received(sb) === "early");
    // The new session resumes.
    expect(client.session).to.not.equal(old);
    b.socket.destroy();
    const c = await client.connectSecure(srv.port, { session: client.session });
    expect(c.socket.isSessionReused()).to.equal(true);

    // Without the fallback, the refusal is the error.
    await delay(250);
    const d = client.connect(srv.port, { session: client.session, sessionFallback: false });
    const err = await failure(d);
    expect(err.code).to.equal(alertCode(115));
    expect(err.alert).to.equal(115);
    expect(err.message).to.match(/refused the session/);
    expect(d.socket.isSessionReused()).to.equal(false);
  });

  it("falls back over IPC too", async () => {
    const path = `${cleanup.tmpdir()}/server.sock`;
    const server = cleanup.server(mlstls.createServer({ ...SERVED, ...QUIET }));
    await listen(server, path);
    const errors: CodedError[] = [];
    server.on("tlsClientError", (e: CodedError) => errors.push(e));
    const a = cleanup.stream(await secureConnect({ path, ...QUIET }));
    await waitFor(a, "session");
    const session = a.getSession();
    a.destroy();
    const b = cleanup.stream(await secureConnect({ path, ...QUIET, session }));
    expect(b.isSessionReused()).to.equal(true);
    await waitFor(b, "session");
    const newer = b.getSession();
    b.destroy();
    // A server (on another path) that does not have the session refuses it: the client falls back over IPC.
    const other = `${cleanup.tmpdir()}/other.sock`;
    const fresh = cleanup.server(mlstls.createServer({ ...SERVED, ...QUIET }));
    await listen(fresh, other);
    const refused: CodedError[] = [];
    fresh.on("tlsClientError", (e: CodedError) => refused.push(e));
    const c = cleanup.stream(await secureConnect({ path: other, ...QUIET, session: newer }));
    expect(c.isSessionReused()).to.equal(false);
    expect(errors).to.deep.equal([]);
    expect(refused.map((e) => e.code)).to.deep.equal(["ERR_MLSTLS_UNKNOWN_SESSION"]);
  });

  it("resuming twice from one session Buffer sends the same commit: the second is the +0 repair and replaces the first", async () => {
    const server = cleanup.server(mlstls.createServer({ ...SERVED, ...QUIET }, (s) => s.on("error", () => undefined)));
    const port = await listen(server);
    const a = cleanup.stream(await secureConnect({ port, ...QUIET }));
    await waitFor(a, "session");
    const session = a.getSession()!;
    a.destroy();
    const hellos: Buffer[] = [];
    const resume = async (): Promise<mlstls.MlsTlsSocket> => {
      const raw = net.connect(port, "127.0.0.1");
      await once(raw, "connect");
      const write = raw.write.bind(raw) as (chunk: Buffer, ...rest: unknown[]) => boolean;
      raw.write = ((chunk: Buffer, ...rest: unknown[]) => {
        if (hellos.length < 2 && chunk[0] === 22) hellos.push(Buffer.from(chunk));
        return write(chunk, ...rest);
      }) as typeof raw.write;
      const s = cleanup.stream(mlstls.connect({ ...TRUSTED, ...QUIET, socket: raw, session }));
      await waitFor(s, "secureConnect");
      return s;
    };
    const b = await resume();
    const bErrors: CodedError[] = [];
    const replaced = new Promise<CodedError>((r) => b.on("error", (e: CodedError) => (bErrors.push(e), r(e))));
    const c = await resume();
    expect(b.isSessionReused() && c.isSessionReused()).to.equal(true);
    // The Resumption records differ only in their random (bytes 9-40): the commit is the same.
    expect(hellos).to.have.length(2);
    expect(hellos[0]!.length).to.equal(hellos[1]!.length);
    expect(Buffer.concat([hellos[0]!.subarray(0, 9), hellos[0]!.subarray(41)]).equals(Buffer.concat([hellos[1]!.subarray(0, 9), hellos[1]!.subarray(41)]))).to.equal(true);
    expect(hellos[0]!.subarray(9, 41).equals(hellos[1]!.subarray(9, 41))).to.equal(false);
    // The server ended b's connection for c (access_denied on the wire).
    expect(await replaced).to.include({ code: alertCode(49), alert: 49 });
  });

  it("cannot fall back over a caller's stream: the refusal is the error", async () => {
    const { srv, client } = await start();
    const a = await client.connectSecure(srv.port);
    await srv.socketAt(0); // the server stores the session at key confirmation
    a.socket.destroy();
    const session = client.session!;
    await srv.server.sessionStore.delete(srv.sessionIds()[0]!);
    const raw = net.connect(srv.port, "127.0.0.1");
    await once(raw, "connect");
    const b = client.connect(0, { socket: raw, session });
    const err = await failure(b);
    expect(err.code).to.equal(alertCode(115));
    expect(err.alert).to.equal(115);
    expect(codeOf(srv.clientErrors[0])).to.equal("ERR_MLSTLS_UNKNOWN_SESSION");
  });

  it("maxSessions caps the default store", async () => {
    const { srv, client } = await start({ maxSessions: 1 }, "default");
    const a = await client.connectSecure(srv.port);
    const first = client.session!;
    const other = new Client();
    clients.push(other);
    await other.connectSecure(srv.port);
    a.socket.destroy();
    const b = await client.connectSecure(srv.port, { session: first });
    expect(b.socket.isSessionReused()).to.equal(false);
    expect(codeOf(srv.clientErrors[0])).to.equal("ERR_MLSTLS_UNKNOWN_SESSION");
  });

  it("checks the server's session options", () => {
    expect(() => mlstls.createServer({ sessionStore: {} as mlstls.SessionStore })).to.throw(TypeError);
    expect(() => mlstls.createServer({ sessionTimeout: 0 })).to.throw(RangeError);
    expect(() => mlstls.createServer({ maxSessions: 0.5 })).to.throw(RangeError);
    const store = new mlstls.MemorySessionStore();
    expect(mlstls.createServer({ sessionStore: store }).sessionStore).to.equal(store);
    expect(mlstls.createServer().sessionStore).to.be.instanceOf(mlstls.MemorySessionStore);
    expect(mlstls.ERROR_ALERTS.ERR_MLSTLS_SESSION_REPLACED).to.equal("access_denied");
    expect(mlstls.ERROR_CODES).to.include("ERR_MLSTLS_SESSION_REPLACED");
  });

  it("a resumption replaces the session's live connection, which gets ERR_MLSTLS_SESSION_REPLACED", async () => {
    const { srv, client } = await start();
    const a = await client.connectSecure(srv.port);
    const sa = await srv.socketAt(0);
    // The client resumes while its old connection is still up (e.g. it wrongly believes it is dead).
    const b = await client.connectSecure(srv.port, { session: client.session });
    const sb = await srv.socketAt(1);
    await until(() => sa.closed && a.closed);
    expect(codeOf(sa.errors[0])).to.equal("ERR_MLSTLS_SESSION_REPLACED");
    expect(sa.hadError).to.equal(true);
    // The old client hears why: a fatal access_denied alert.
    expect(codeOf(a.errors[0])).to.equal(alertCode(49));
    expect((a.errors[0] as CodedError).alert).to.equal(49);
    expect(a.ended).to.equal(false);
    b.socket.write("still");
    await until(() => received(sb) === "still");
    expect(b.socket.epoch).to.equal(sb.socket.epoch);
  });

  it("gives every resumed connection fresh keys, also when the server is in the client's epoch (+0)", async () => {
    const { srv, client } = await start();
    const serverSecrets: string[] = [];
    srv.server.on("keylog", (line: Buffer) => {
      const [label, , secret] = line.toString("latin1").trim().split(" ");
      if (label!.includes("TRAFFIC_SECRET")) serverSecrets.push(secret!);
    });
    let cur = await client.connectSecure(srv.port);
    await srv.socketAt(0);
    const repairs: (number | undefined)[] = [];
    for (let i = 0; i < 3; i++) {
      // The server applies the client's update, but its EpochKeyUpdate never arrives: the client resumes from
      // state 2 with the same commit, and the server has nothing new to apply.
      const link = srv.proxy.links[srv.proxy.links.length - 1]!;
      const base = link.counts.s2c;
      srv.proxy.decide = (dir, index, l) => (l === link && dir === "s2c" && index === base ? "cut-both" : "forward");
      const sa = srv.sockets[srv.sockets.length - 1]!;
      void cur.socket.connectionUpdate().catch(() => undefined);
      const c = cur;
      await until(() => c.closed && sa.closed);
      srv.proxy.decide = () => "forward";
      const n = srv.sockets.length;
      const r = await client.connectSecure(srv.port, { session: client.session });
      const rs = await srv.socketAt(n);
      repairs.push(rs.socket.resumptionRepair);
      expect(r.socket.epoch).to.equal(rs.socket.epoch);
      cur = r;
    }
    // And plain resumptions from the default state.
    for (let i = 0; i < 2; i++) {
      cur.socket.destroy();
      const n = srv.sockets.length;
      cur = await client.connectSecure(srv.port, { session: client.session });
      repairs.push((await srv.socketAt(n)).socket.resumptionRepair);
    }
    expect(repairs).to.deep.equal([0, 0, 0, 1, 1]);
    // 6 connections, 2 traffic secrets each at least: none repeats, on either side.
    expect(client.secrets.length).to.be.at.least(12);
    expect(new Set(client.secrets).size).to.equal(client.secrets.length);
    expect(new Set(serverSecrets).size).to.equal(serverSecrets.length);
  });
});

describe("resumption on the socket: servers without a Server", () => {
  const cleanup = new Cleanup();

  it("server sockets made directly share the one-live-connection rule through their store", async () => {
    const store = new mlstls.MemorySessionStore();
    const socks: mlstls.MlsTlsSocket[] = [];
    const raw = cleanup.server(
      net.createServer({ allowHalfOpen: true }, (c) => {
        const s = new mlstls.MlsTlsSocket(c, { isServer: true, identity: SERVED.identity, sessionStore: store });
        s.on("error", () => undefined);
        socks.push(s);
      }),
    );
    const port = await listen(raw);
    const a = cleanup.stream(await secureConnect({ port, ...QUIET }));
    await waitFor(a, "session");
    const replaced = waitFor<[CodedError]>(a, "error");
    const b = cleanup.stream(await secureConnect({ port, ...QUIET, session: a.getSession() }));
    expect(b.isSessionReused()).to.equal(true);
    const [err] = await replaced;
    expect(err.alert).to.equal(49);
    for (const s of socks) s.destroy();
  });
});
