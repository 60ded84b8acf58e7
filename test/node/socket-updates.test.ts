// The MLS additions on the socket: connectionUpdate(), keyUpdate(), `epoch`, their events, and the automatic policies.

import { expect } from "chai";
import * as mlstls from "../../lib/index.js";
import { Cleanup, SERVED, TRUSTED, connectedPair, delay, listen, until, waitFor } from "../helpers/sockets.js";

const QUIET = { autoKeyUpdate: false, autoConnectionUpdate: false } as const;

describe("socket: connectionUpdate and keyUpdate", () => {
  const cleanup = new Cleanup();

  it("runs updates from either side, with events on both and a stable exporter", async () => {
    const { client, peer } = await connectedPair(cleanup, QUIET, QUIET);
    const clientConn: mlstls.ConnectionUpdateEvent[] = [];
    const peerConn: mlstls.ConnectionUpdateEvent[] = [];
    const clientKeys: mlstls.KeyUpdateEvent[] = [];
    const peerKeys: mlstls.KeyUpdateEvent[] = [];
    client.on("connectionUpdate", (e: mlstls.ConnectionUpdateEvent) => clientConn.push(e));
    peer.on("connectionUpdate", (e: mlstls.ConnectionUpdateEvent) => peerConn.push(e));
    client.on("keyUpdate", (e: mlstls.KeyUpdateEvent) => clientKeys.push(e));
    peer.on("keyUpdate", (e: mlstls.KeyUpdateEvent) => peerKeys.push(e));
    const ekm = client.exportKeyingMaterial(32, "EXPERIMENTAL-stable");
    const e0 = client.epoch!;

    await client.connectionUpdate();
    expect(client.epoch).to.equal(e0 + 1n);
    await peer.connectionUpdate();
    await until(() => clientConn.length === 2);
    expect(peer.epoch).to.equal(e0 + 2n);
    expect(client.epoch).to.equal(e0 + 2n);
    expect(clientConn).to.deep.equal([
      { epoch: e0 + 1n, initiatedBy: "local" },
      { epoch: e0 + 2n, initiatedBy: "peer" },
    ]);
    expect(peerConn).to.deep.equal([
      { epoch: e0 + 1n, initiatedBy: "peer" },
      { epoch: e0 + 2n, initiatedBy: "local" },
    ]);

    await client.keyUpdate({ requestPeer: true });
    await peer.keyUpdate();
    // Nagle and delayed ACKs may hold this lone small record for ~40 ms, as with node:tls.
    await until(() => clientKeys.length === 3);
    expect(clientKeys).to.deep.equal([
      { direction: "send", requested: true, automatic: false },
      { direction: "receive", requested: false, automatic: false },
      { direction: "receive", requested: false, automatic: false },
    ]);
    expect(peerKeys).to.deep.equal([
      { direction: "receive", requested: true, automatic: false },
      { direction: "send", requested: false, automatic: false },
      { direction: "send", requested: false, automatic: false },
    ]);
    expect(client.exportKeyingMaterial(32, "EXPERIMENTAL-stable").equals(ekm)).to.equal(true);
    expect(peer.exportKeyingMaterial(32, "EXPERIMENTAL-stable").equals(ekm)).to.equal(true);

    // Data still flows both ways under the new keys.
    client.write("after");
    expect(((await waitFor<[Buffer]>(peer, "data"))[0]).toString()).to.equal("after");
  });

  it("settles concurrent updates from both sides in the same epoch", async () => {
    const { client, peer } = await connectedPair(cleanup, QUIET, QUIET);
    const e0 = client.epoch!;
    await Promise.all([client.connectionUpdate(), peer.connectionUpdate(), client.connectionUpdate(), peer.keyUpdate({ requestPeer: true })]);
    await until(() => client.epoch === peer.epoch);
    expect(client.epoch! > e0).to.equal(true);
  });

  it("waits for the handshake when called before it, and rejects once destroyed", async () => {
    const server = cleanup.server(mlstls.createServer({ ...SERVED, ...QUIET }));
    const port = await listen(server);
    const c = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", ...TRUSTED, ...QUIET }));
    await c.connectionUpdate();
    expect(c.epoch).to.equal(2n);
    c.destroy();
    const err = await c.keyUpdate().then(
      () => null,
      (e: unknown) => e as mlstls.MlsTlsError,
    );
    expect(err?.code).to.equal("ERR_MLSTLS_CLOSED");

    const early = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", ...TRUSTED, ...QUIET }));
    const pending = early.connectionUpdate().then(
      () => null,
      (e: unknown) => e as Error,
    );
    early.destroy();
    expect(await pending).to.be.instanceOf(Error);
  });

  it("updates automatically by bytes and records sent, and marks policy KeyUpdates automatic", async () => {
    const { client, peer } = await connectedPair(cleanup, QUIET, {
      autoKeyUpdate: { records: 8 },
      autoConnectionUpdate: { bytes: 512 * 1024 },
    });
    const keys: mlstls.KeyUpdateEvent[] = [];
    const conns: mlstls.ConnectionUpdateEvent[] = [];
    client.on("keyUpdate", (e: mlstls.KeyUpdateEvent) => keys.push(e));
    client.on("connectionUpdate", (e: mlstls.ConnectionUpdateEvent) => conns.push(e));
    let got = 0;
    const all = new Promise<void>((resolve) => peer.on("data", (d: Buffer) => (got += d.length) === 2 << 20 && resolve()));
    for (let i = 0; i < 32; i++) client.write(Buffer.alloc(64 * 1024, i));
    await all;
    await until(() => client.epoch === peer.epoch && conns.length >= 2);
    const sent = keys.filter((k) => k.direction === "send");
    // 128 full records: a KeyUpdate every 8, except where a new epoch already brought fresh keys.
    expect(sent.length).to.be.within(8, 16);
    expect(sent.every((k) => k.automatic)).to.equal(true);
    // One at 512 KiB; the 1.5 MiB sealed while it was in flight call for one more once it is confirmed.
    expect(conns.filter((c) => c.initiatedBy === "local").length).to.equal(2);
  });

  it("updates on the interval only while sending, so idle connections stay quiet", async () => {
    const { client, peer } = await connectedPair(cleanup, QUIET, {
      autoKeyUpdate: { intervalMs: 60 },
      autoConnectionUpdate: false,
    });
    peer.resume();
    const keys: mlstls.KeyUpdateEvent[] = [];
    client.on("keyUpdate", (e: mlstls.KeyUpdateEvent) => keys.push(e));
    await delay(250);
    expect(keys).to.deep.equal([]);
    client.write("some data");
    await delay(250);
    expect(keys.length).to.equal(1);
    expect(keys[0]).to.deep.equal({ direction: "send", requested: false, automatic: true });
    await delay(250);
    expect(keys.length).to.equal(1);
  });

  it("keeps updating automatically while the peer only receives, past the engine's flood cap", async () => {
    const { client, peer } = await connectedPair(cleanup, QUIET, { autoKeyUpdate: false, autoConnectionUpdate: { bytes: 64 * 1024 } });
    peer.resume();
    let updates = 0;
    client.on("connectionUpdate", () => updates++);
    const errors: Error[] = [];
    client.on("error", (e) => errors.push(e));
    peer.on("error", (e) => errors.push(e));
    const burst = Buffer.alloc(128 * 1024, 3);
    // The peer answers each commit with an EpochKeyUpdate and never sends data; the engine's cap of 64 handshake
    // messages without data counts only what the peer starts, so the policy need not hold back.
    for (let i = 0; i < 80 && updates < 70; i++) {
      const before = updates;
      client.write(burst);
      await until(() => updates > before);
    }
    expect(errors).to.deep.equal([]);
    expect(updates).to.be.at.least(70);
    expect(client.destroyed).to.equal(false);
  });

  it("documents its default policies", () => {
    expect(mlstls.DEFAULT_AUTO_KEY_UPDATE).to.deep.equal({ bytes: 2 ** 30, intervalMs: 600_000 });
    expect(mlstls.DEFAULT_AUTO_CONNECTION_UPDATE).to.deep.equal({ intervalMs: 3_600_000 });
  });
});
