// Resumptions the server must refuse, each with its own code: a replayed Resumption, one three or more epochs
// ahead, one for a deleted session, one behind the server. A refusal never disturbs the session's live
// connection, and the legitimate client still resumes afterwards.

import { expect } from "chai";
import { once } from "node:events";
import * as net from "node:net";
import * as mlstls from "../../lib/index.js";
import { Client, ServerProcess, type Watched, codeOf, received } from "../helpers/resume-world.js";
import { until } from "../helpers/sockets.js";
import { alertCode } from "../helpers/node-alerts.js";

type CodedError = Error & { code?: string; alert?: number };

/** A store whose content a test can copy and restore, as from a backup. */
class MapStore implements mlstls.SessionStore {
  readonly map = new Map<string, Uint8Array>();
  async get(id: string): Promise<Uint8Array | undefined> {
    const v = this.map.get(id);
    return v === undefined ? undefined : Uint8Array.from(v);
  }
  async set(id: string, session: Uint8Array): Promise<void> {
    this.map.set(id, Uint8Array.from(session));
  }
  async delete(id: string): Promise<void> {
    this.map.delete(id);
  }
  snapshot(): Map<string, Uint8Array> {
    return new Map([...this.map].map(([k, v]) => [k, Uint8Array.from(v)]));
  }
  restore(s: Map<string, Uint8Array>): void {
    this.map.clear();
    for (const [k, v] of s) this.map.set(k, Uint8Array.from(v));
  }
}

function failure(w: Watched): Promise<CodedError> {
  return new Promise((resolve, reject) => {
    w.socket.once("error", resolve);
    w.socket.once("secureConnect", () => reject(new Error("connected")));
  });
}

/** Data both ways, byte-exact, on a client connection and its server side. */
async function exchange(c: Watched, s: Watched, tag: string): Promise<void> {
  const up = received(s) + `up ${tag};`;
  const down = received(c) + `down ${tag};`;
  c.socket.write(`up ${tag};`);
  s.socket.write(`down ${tag};`);
  await until(() => received(s) === up && received(c) === down);
}

describe("resumption refusals", () => {
  const procs: ServerProcess[] = [];
  const clients: Client[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroyAll();
    for (const p of procs.splice(0)) await p.close();
  });
  async function start(): Promise<{ srv: ServerProcess; client: Client; store: MapStore }> {
    const store = new MapStore();
    const srv = await ServerProcess.start(store);
    procs.push(srv);
    const client = new Client();
    clients.push(client);
    return { srv, client, store };
  }

  it("a replayed Resumption: ERR_MLSTLS_RESUMPTION_REPLAYED, and the live connection it copies is untouched", async () => {
    const { srv, client } = await start();
    const a = await client.connectSecure(srv.port);
    await srv.socketAt(0);
    a.socket.destroy();

    // The attacker records the client's bytes on the next connection: its first record is the Resumption.
    const captured: Buffer[] = [];
    srv.proxy.server.once("connection", () => {
      srv.proxy.links[srv.proxy.links.length - 1]!.client.on("data", (d: Buffer) => captured.push(d));
    });
    const b = await client.connectSecure(srv.port, { session: client.session });
    const sb = await srv.socketAt(1);
    const bytes = Buffer.concat(captured);
    const resumption = bytes.subarray(0, 5 + bytes.readUInt16BE(3));
    expect(resumption[0]).to.equal(22);

    for (let i = 0; i < 2; i++) {
      const raw = net.connect(srv.port, "127.0.0.1");
      const answer: Buffer[] = [];
      raw.on("data", (d: Buffer) => answer.push(d));
      raw.on("error", () => undefined);
      raw.write(resumption);
      await once(raw, "close");
      expect(codeOf(srv.clientErrors[i])).to.equal("ERR_MLSTLS_RESUMPTION_REPLAYED");
      // A plaintext fatal alert: handshake_failure (40).
      expect([...Buffer.concat(answer)]).to.deep.equal([21, 3, 3, 0, 2, 2, 40]);
    }
    expect(sb.closed).to.equal(false);
    await exchange(b, sb, "after the replays");
    await b.socket.connectionUpdate();
    await exchange(b, sb, "after an update");
    expect(b.socket.epoch).to.equal(sb.socket.epoch);

    // The legitimate client resumes again, and the recorded Resumption is still refused.
    b.socket.destroy();
    const c = await client.connectSecure(srv.port, { session: client.session });
    const sc = await srv.socketAt(2);
    await exchange(c, sc, "resumed again");
    const raw = net.connect(srv.port, "127.0.0.1");
    raw.on("error", () => undefined);
    raw.resume();
    raw.write(resumption);
    await once(raw, "close");
    expect(codeOf(srv.clientErrors[2])).to.equal("ERR_MLSTLS_RESUMPTION_REPLAYED");
    expect(sc.closed).to.equal(false);
  });

  it("a Resumption three or more epochs ahead (the server restored an old backup): ERR_MLSTLS_EPOCH_GAP", async () => {
    const { srv, client, store } = await start();
    const a = await client.connectSecure(srv.port);
    const sa = await srv.socketAt(0);
    const backup = store.snapshot();
    for (let i = 0; i < 3; i++) await a.socket.connectionUpdate();
    a.socket.destroy();
    await until(() => sa.closed);
    const latest = store.snapshot();
    store.restore(backup);

    const b = client.connect(srv.port, { session: client.session, sessionFallback: false });
    const err = await failure(b);
    expect(err.code).to.equal(alertCode(115));
    expect(err.alert).to.equal(115);
    expect(codeOf(srv.clientErrors[0])).to.equal("ERR_MLSTLS_EPOCH_GAP");

    // With the server's real state back, the same client session resumes: the refusal cost it nothing.
    store.restore(latest);
    const c = await client.connectSecure(srv.port, { session: client.session, sessionFallback: false });
    const sc = await srv.socketAt(1);
    expect(c.socket.isSessionReused()).to.equal(true);
    expect(c.socket.epoch).to.equal(sc.socket.epoch);
    await exchange(c, sc, "after the gap");

    // By default the client gets over an unrepairable session with a full handshake.
    c.socket.destroy();
    await until(() => sc.closed);
    store.restore(backup);
    const d = await client.connectSecure(srv.port, { session: client.session });
    expect(d.socket.isSessionReused()).to.equal(false);
    expect(codeOf(srv.clientErrors[1])).to.equal("ERR_MLSTLS_EPOCH_GAP");
    await exchange(d, await srv.socketAt(2), "after a full handshake");
  });

  it("a Resumption for a deleted session: ERR_MLSTLS_UNKNOWN_SESSION, then a full handshake by default", async () => {
    const { srv, client, store } = await start();
    const a = await client.connectSecure(srv.port);
    await srv.socketAt(0);
    a.socket.destroy();
    const [id] = [...store.map.keys()];
    await srv.server.sessionStore.delete(id!);

    const b = client.connect(srv.port, { session: client.session, sessionFallback: false });
    const err = await failure(b);
    expect(err.alert).to.equal(115);
    expect(codeOf(srv.clientErrors[0])).to.equal("ERR_MLSTLS_UNKNOWN_SESSION");

    const c = await client.connectSecure(srv.port, { session: client.session });
    const sc = await srv.socketAt(1);
    expect(c.socket.isSessionReused()).to.equal(false);
    expect(codeOf(srv.clientErrors[1])).to.equal("ERR_MLSTLS_UNKNOWN_SESSION");
    await exchange(c, sc, "new session");
    // The new session is a session like any other.
    c.socket.destroy();
    const d = await client.connectSecure(srv.port, { session: client.session });
    expect(d.socket.isSessionReused()).to.equal(true);
    await exchange(d, await srv.socketAt(2), "resumed");
  });

  it("a Resumption behind the server (an old copy of the session): ERR_MLSTLS_STALE_SESSION, live connection untouched", async () => {
    const { srv, client } = await start();
    const a = await client.connectSecure(srv.port);
    const sa = await srv.socketAt(0);
    const old = client.session;
    await a.socket.connectionUpdate();
    await a.socket.connectionUpdate();
    // A second copy of the application (or an https.Agent's cache) tries the old session while `a` is live.
    const b = client.connect(srv.port, { session: old, sessionFallback: false });
    const err = await failure(b);
    expect(err.alert).to.equal(115);
    expect(codeOf(srv.clientErrors[0])).to.equal("ERR_MLSTLS_STALE_SESSION");
    expect(sa.closed).to.equal(false);
    await exchange(a, sa, "still live");
    expect(a.socket.epoch).to.equal(sa.socket.epoch);
  });
});
