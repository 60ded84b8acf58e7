// Bulk transfer and backpressure over real TCP: the record layer's hot path.

import { expect } from "chai";
import { once } from "node:events";
import * as net from "node:net";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import * as mlstls from "../../lib/index.js";
import { Prng } from "../helpers/prng.js";
import { Cleanup, SERVED, TRUSTED, connectedPair, delay, deterministicBytes, listen, until } from "../helpers/sockets.js";

const QUIET = { autoKeyUpdate: false, autoConnectionUpdate: false } as const;
const MiB = 1 << 20;

/** The heap is measured after a full collection, so the figures are what is retained, not garbage. */
function collector(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

/** Heap plus Buffer memory after a full collection. V8 frees ArrayBuffer memory after the collection, in a later task. */
async function retained(gc: () => void): Promise<number> {
  gc();
  await delay(20);
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

describe("socket: streaming", () => {
  const cleanup = new Cleanup();

  it("echoes 64 MiB in random-sized writes byte-exact while both sides update", async function () {
    this.timeout(120_000);
    const { client, peer } = await connectedPair(cleanup, QUIET, QUIET);
    peer.pipe(peer);
    const TOTAL = 64 * MiB;
    const data = deterministicBytes(1, TOTAL);
    const rng = new Prng(64);

    let received = 0;
    let firstMismatch = -1;
    client.on("data", (d: Buffer) => {
      if (firstMismatch < 0 && !d.equals(data.subarray(received, received + d.length))) firstMismatch = received;
      received += d.length;
    });
    const events = { clientConn: new Set<string>(), peerConn: new Set<string>(), clientKeys: new Set<string>(), peerKeys: new Set<string>() };
    client.on("connectionUpdate", (e: mlstls.ConnectionUpdateEvent) => events.clientConn.add(e.initiatedBy));
    peer.on("connectionUpdate", (e: mlstls.ConnectionUpdateEvent) => events.peerConn.add(e.initiatedBy));
    client.on("keyUpdate", (e: mlstls.KeyUpdateEvent) => events.clientKeys.add(e.direction));
    peer.on("keyUpdate", (e: mlstls.KeyUpdateEvent) => events.peerKeys.add(e.direction));

    // Updates from both sides at seeded points of the transfer, concurrent ones included.
    const actions: (() => Promise<void>)[] = [
      () => client.connectionUpdate(),
      () => peer.connectionUpdate(),
      () => client.keyUpdate({ requestPeer: true }),
      () => peer.keyUpdate(),
      () => peer.keyUpdate({ requestPeer: true }),
      () => client.keyUpdate(),
    ];
    const marks = Array.from({ length: 24 }, () => rng.int(TOTAL)).sort((a, b) => a - b);
    const updates: Promise<void>[] = [];

    const started = performance.now();
    let off = 0;
    let next = 0;
    while (off < TOTAL) {
      const n = Math.min(TOTAL - off, rng.chance(0.3) ? rng.range(1, 2048) : rng.range(2049, 256 * 1024));
      const ok = client.write(data.subarray(off, off + n));
      off += n;
      while (next < marks.length && marks[next]! <= off) {
        updates.push(actions[next % actions.length]!());
        next++;
      }
      if (!ok) await once(client, "drain");
    }
    await Promise.all(updates);
    await until(() => received >= TOTAL, 60_000);
    const ms = performance.now() - started;

    expect(firstMismatch).to.equal(-1);
    expect(received).to.equal(TOTAL);
    expect([...events.clientConn].sort()).to.deep.equal(["local", "peer"]);
    expect([...events.peerConn].sort()).to.deep.equal(["local", "peer"]);
    expect([...events.clientKeys].sort()).to.deep.equal(["receive", "send"]);
    expect([...events.peerKeys].sort()).to.deep.equal(["receive", "send"]);
    expect(client.epoch).to.equal(peer.epoch);
    expect(client.epoch! >= 5n).to.equal(true);

    const closed = once(client, "close");
    client.end();
    await closed;
    console.log(`      64 MiB echo: ${ms.toFixed(0)} ms, ${((2 * 64) / (ms / 1000)).toFixed(0)} MiB/s through both directions`);
  });

  it("coalesces corked writes into full 16 KiB records", async () => {
    const server = cleanup.server(mlstls.createServer({ ...SERVED, ...QUIET }));
    const port = await listen(server);
    const received = new Promise<Buffer>((resolve) =>
      server.on("secureConnection", (s: mlstls.MlsTlsSocket) => {
        const parts: Buffer[] = [];
        s.on("data", (d: Buffer) => parts.push(d));
        s.on("end", () => resolve(Buffer.concat(parts)));
      }),
    );
    const raw = cleanup.stream(net.connect(port, "127.0.0.1"));
    const client = cleanup.stream(mlstls.connect({ socket: raw, ...TRUSTED, ...QUIET }));
    await once(client, "secureConnect");
    const records: number[] = [];
    const write = raw.write.bind(raw) as (chunk: Uint8Array, cb?: () => void) => boolean;
    (raw as unknown as { write: typeof write }).write = (chunk, cb) => {
      records.push(chunk.length);
      return write(chunk, cb);
    };
    const data = deterministicBytes(9, 1000 * 100);
    client.cork();
    for (let i = 0; i < 1000; i++) client.write(data.subarray(i * 100, (i + 1) * 100));
    client.uncork();
    await until(() => records.reduce((a, b) => a + b, 0) >= data.length);
    // 100000 bytes = 6 full records and one of 1696 bytes; each record adds 22 bytes (header, type, tag).
    expect(records).to.deep.equal([...Array(6).fill(16384 + 22), 100_000 - 6 * 16384 + 22]);
    client.end();
    expect((await received).equals(data)).to.equal(true);
  });

  it("keeps memory bounded when the reader pauses: write() returns false, then 'drain'", async function () {
    this.timeout(60_000);
    const gc = collector();
    const { client, peer } = await connectedPair(cleanup, QUIET, QUIET);
    const chunk = Buffer.alloc(64 * 1024, 0x5a);
    const base = await retained(gc);

    // The reader never reads: once the kernel buffers are full, the writer must be told to wait for good.
    let accepted = 0;
    let stalled = false;
    let rounds = 0;
    while (!stalled) {
      expect(rounds++).to.be.below(2000);
      while (client.write(chunk)) accepted += chunk.length;
      accepted += chunk.length;
      stalled = await Promise.race([once(client, "drain").then(() => false), delay(300).then(() => true)]);
    }
    let drained = false;
    client.once("drain", () => (drained = true));
    const peakStalled = (await retained(gc)) - base;
    await delay(200);
    expect(drained).to.equal(false);
    // The paused reader buffers about one TCP read, not everything the writer offered.
    expect(peer.readableLength).to.be.below(512 * 1024);
    expect(client.writableLength).to.be.at.most(client.writableHighWaterMark + chunk.length);

    // A slow reader: every 4 MiB it stops and, while the writer is blocked, the retained memory is sampled.
    // The writer follows write()/'drain' for 32 MiB more.
    const TOTAL = 32 * MiB;
    let read = 0;
    let drains = 0;
    let peak = 0;
    let samples = 0;
    peer.on("data", (d: Buffer) => {
      const before = Math.floor(read / (4 * MiB));
      read += d.length;
      if (Math.floor(read / (4 * MiB)) !== before) {
        peer.pause();
        void delay(50)
          .then(() => retained(gc))
          .then((r) => {
            peak = Math.max(peak, r - base);
            samples++;
            peer.resume();
          });
      }
    });
    await once(client, "drain");
    expect(drained).to.equal(true);
    let sent = 0;
    while (sent < TOTAL) {
      sent += chunk.length;
      if (!client.write(chunk)) {
        drains++;
        await once(client, "drain");
      }
    }
    await until(() => read === accepted + TOTAL, 30_000);
    expect(drains).to.be.above(10);
    expect(peakStalled).to.be.below(8 * MiB);
    expect(accepted).to.be.above(client.writableHighWaterMark);
    expect(samples).to.be.at.least(8);
    expect(peak).to.be.below(8 * MiB);
    console.log(
      `      backpressure: ${(accepted / MiB).toFixed(1)} MiB accepted before the writer stalled (kernel buffers); ` +
        `retained heap growth ${(Math.max(0, peakStalled) / MiB).toFixed(1)} MiB with the reader paused, ` +
        `peak ${(peak / MiB).toFixed(1)} MiB at ${samples} stops of a ${TOTAL / MiB} MiB slow read (${drains} drains)`,
    );
  });
});
