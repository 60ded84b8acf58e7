import { expect } from "chai";
import { fork } from "node:child_process";
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  DEFAULT_MAX_STORE_BYTES,
  FileSessionStore,
  MemorySessionStore,
  decryptSession,
  encryptSession,
} from "../../lib/sessions/store.js";

describe("session stores: memory", () => {
  it("expires sessions after sessionTimeout", async () => {
    let t = 1000;
    const s = new MemorySessionStore({ sessionTimeout: 10, now: () => t });
    await s.set("aa", Uint8Array.of(1));
    t += 9999;
    expect(await s.get("aa")).to.deep.equal(Uint8Array.of(1));
    await s.set("aa", Uint8Array.of(2)); // a save refreshes the TTL
    t += 9999;
    expect(await s.get("aa")).to.deep.equal(Uint8Array.of(2));
    t += 1;
    expect(await s.get("aa")).to.equal(undefined);
    expect(s.size).to.equal(0);
  });

  it("caps its size, dropping the least recently saved", async () => {
    const s = new MemorySessionStore({ maxSessions: 2 });
    await s.set("01", Uint8Array.of(1));
    await s.set("02", Uint8Array.of(2));
    await s.set("01", Uint8Array.of(3));
    await s.set("03", Uint8Array.of(4));
    expect(await s.get("02")).to.equal(undefined);
    expect(await s.get("01")).to.deep.equal(Uint8Array.of(3));
    expect(s.size).to.equal(2);
  });

  it("keeps its own copies", async () => {
    const s = new MemorySessionStore();
    const v = Uint8Array.of(1, 2, 3);
    await s.set("aa", v);
    v.fill(0);
    const got = (await s.get("aa"))!;
    expect(got).to.deep.equal(Uint8Array.of(1, 2, 3));
    got.fill(9);
    expect(await s.get("aa")).to.deep.equal(Uint8Array.of(1, 2, 3));
  });

  it("caps its bytes as well as its count (issue 8, finding 3): the least recently saved go first", async () => {
    // Each entry is charged its length + id length + 128.
    const s = new MemorySessionStore({ maxBytes: 3 * (1000 + 2 + 128) });
    for (const id of ["01", "02", "03"]) await s.set(id, new Uint8Array(1000).fill(1));
    expect(s.size).to.equal(3);
    await s.set("04", new Uint8Array(1500).fill(2)); // needs room: 01 and 02 go
    expect(await s.get("01")).to.equal(undefined);
    expect(await s.get("02")).to.equal(undefined);
    expect((await s.get("03"))?.length).to.equal(1000);
    expect((await s.get("04"))?.length).to.equal(1500);
    expect(s.bytes).to.be.at.most(3 * (1000 + 2 + 128));
    // Bigger than the whole budget: not kept, and it does not flush the others either.
    await s.set("05", new Uint8Array(5000));
    expect(await s.get("05")).to.equal(undefined);
    expect(s.size).to.equal(2);
  });

  it("has a byte budget by default, so a flood of large sessions cannot take unbounded memory", async () => {
    expect(DEFAULT_MAX_STORE_BYTES).to.equal(64 * 1024 * 1024);
    const s = new MemorySessionStore();
    const big = new Uint8Array(56 * 1024);
    for (let i = 0; i < 1500; i++) await s.set(i.toString(16).padStart(4, "0"), big);
    expect(s.bytes).to.be.at.most(DEFAULT_MAX_STORE_BYTES);
    expect(s.size).to.be.lessThan(1500);
    expect(() => new MemorySessionStore({ maxBytes: 0 })).to.throw(RangeError);
  });

  it("sweeps expired sessions on every save and on demand, zeroing them", async () => {
    let t = 0;
    const s = new MemorySessionStore({ sessionTimeout: 10, now: () => t });
    for (const id of ["01", "02"]) await s.set(id, Uint8Array.of(7));
    t = 10_000;
    await s.set("03", Uint8Array.of(8));
    expect(s.size).to.equal(1);
    t = 20_000;
    expect(s.sweep()).to.equal(1);
    expect(s.size).to.equal(0);
    expect(s.bytes).to.equal(0);
  });
});

describe("session stores: file", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "mlstls-store-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("round-trips, deletes, and survives a new instance (a restarted process)", async () => {
    const a = new FileSessionStore(dir);
    await a.set("beef", Uint8Array.of(1, 2, 3));
    const b = new FileSessionStore(dir);
    expect(await b.get("beef")).to.deep.equal(Uint8Array.of(1, 2, 3));
    await b.delete("beef");
    expect(await a.get("beef")).to.equal(undefined);
    await b.delete("beef");
  });

  it("applies writes to one id in call order", async () => {
    const s = new FileSessionStore(dir);
    await Promise.all(Array.from({ length: 20 }, (_, i) => s.set("aa", Uint8Array.of(i))));
    expect(await s.get("aa")).to.deep.equal(Uint8Array.of(19));
  });

  it("expires sessions and removes leftovers of interrupted writes", async () => {
    let t = 5000;
    await writeFile(join(dir, ".aa.0123.tmp"), "torn");
    const s = new FileSessionStore(dir, { sessionTimeout: 1, now: () => t });
    await s.set("aa", Uint8Array.of(7));
    expect((await readdir(dir)).filter((n) => n.endsWith(".tmp"))).to.deep.equal([]);
    t += 1000;
    expect(await s.get("aa")).to.equal(undefined);
  });


  const sessionFiles = async () => (await readdir(dir)).filter((n) => n.endsWith(".session")).sort();

  it("caps the number of files, removing the least recently saved (issue 8, finding 4)", async () => {
    const s = new FileSessionStore(dir, { maxSessions: 3 });
    for (const id of ["01", "02", "03", "04", "05"]) await s.set(id, Uint8Array.of(1));
    await s.set("03", Uint8Array.of(2)); // saved again: now the most recent
    await s.set("06", Uint8Array.of(3));
    expect(await sessionFiles()).to.deep.equal(["03.session", "05.session", "06.session"]);
    expect(s.size).to.equal(3);
  });

  it("keeps a disk budget in bytes; a session bigger than the budget is not written", async () => {
    // Each file is charged header (25) + blob + 128.
    const per = 25 + 2000 + 128;
    const s = new FileSessionStore(dir, { maxBytes: 2 * per + 10 });
    for (const id of ["0a", "0b", "0c"]) await s.set(id, new Uint8Array(2000).fill(5));
    expect(await sessionFiles()).to.deep.equal(["0b.session", "0c.session"]);
    expect(s.bytes).to.equal(2 * per);
    let onDisk = 0;
    for (const n of await sessionFiles()) onDisk += (await stat(join(dir, n))).size;
    expect(onDisk).to.be.at.most(2 * per);
    await s.set("0b", new Uint8Array(100_000));
    expect(await s.get("0b")).to.equal(undefined, "the older save of 0b must not be resumed instead");
    expect(await sessionFiles()).to.deep.equal(["0c.session"]);
  });

  it("sweeps expired files on every write and on demand, also those a previous process left", async () => {
    let t = 1_000_000;
    const a = new FileSessionStore(dir, { sessionTimeout: 10, now: () => t });
    await a.set("01", Uint8Array.of(1));
    await a.set("02", Uint8Array.of(2));
    t += 5_000;
    await a.set("03", Uint8Array.of(3));
    t += 5_000; // 01 and 02 expired, 03 not
    await a.set("04", Uint8Array.of(4));
    expect(await sessionFiles()).to.deep.equal(["03.session", "04.session"]);
    t += 10_000;
    expect(await a.sweep()).to.equal(2);
    expect(await sessionFiles()).to.deep.equal([]);
    // A restarted process removes what expired while it was down, and applies its bounds to what it finds.
    for (const id of ["05", "06", "07"]) await a.set(id, Uint8Array.of(5));
    t += 1;
    const b = new FileSessionStore(dir, { sessionTimeout: 10, maxSessions: 2, now: () => t });
    expect(await b.get("05")).to.equal(undefined);
    expect(await b.get("07")).to.deep.equal(Uint8Array.of(5));
    expect(await sessionFiles()).to.deep.equal(["06.session", "07.session"]);
    t += 20_000;
    const c = new FileSessionStore(dir, { sessionTimeout: 10, now: () => t });
    expect(await c.sweep()).to.equal(0); // the first use already removed them
    expect(await sessionFiles()).to.deep.equal([]);
  });

  it("a flood of saves stays inside the budget (the 278 files/s of the finding)", async () => {
    const s = new FileSessionStore(dir, { maxSessions: 50, maxBytes: 40 * 1024 });
    await Promise.all(Array.from({ length: 300 }, (_, i) => s.set(i.toString(16).padStart(4, "0"), new Uint8Array(1024))));
    const files = await sessionFiles();
    expect(files.length).to.be.at.most(35);
    expect(s.size).to.equal(files.length);
  });

  it("refuses ids that are not hex (no path tricks)", async () => {
    const s = new FileSessionStore(dir);
    expect(() => s.set("../x", Uint8Array.of(1))).to.throw(TypeError);
  });

  it("survives kill -9 in the middle of writes: always the old or the new session, never a torn one", async function () {
    this.timeout(60000);
    const writer = fileURLToPath(new URL("../helpers/store-writer.js", import.meta.url));
    let seen = 0;
    for (const delay of [5, 13, 29, 41, 67, 97, 151, 211]) {
      const child = fork(writer, [dir], { stdio: "ignore" });
      await new Promise<void>((resolve) => child.once("message", () => resolve()));
      await new Promise((r) => setTimeout(r, delay));
      child.kill("SIGKILL");
      await new Promise((r) => child.once("exit", r));
      const v = await new FileSessionStore(dir).get("abcd");
      if (v !== undefined) {
        seen++;
        // Value n is 256 KiB + (n mod 7) * 1000 bytes, every one equal to n mod 251: a torn write breaks either.
        const extra = v.length - 256 * 1024;
        expect(extra >= 0 && extra <= 6000 && extra % 1000 === 0, `torn length ${v.length} after ${delay} ms`).to.equal(true);
        const first = v[0]!;
        expect(v.every((b) => b === first), `torn session after ${delay} ms`).to.equal(true);
      }
    }
    expect(seen, "some writes completed before the kills").to.be.greaterThan(0);
  });
});

describe("session blobs: encryption at rest", () => {
  const key = new Uint8Array(32).fill(7);
  it("round-trips and hides the content", () => {
    const blob = new Uint8Array(100).fill(42);
    const sealed = encryptSession(blob, key);
    expect(Buffer.from(sealed).includes(Buffer.from(blob.subarray(0, 16)))).to.equal(false);
    expect(decryptSession(sealed, key)).to.deep.equal(blob);
    expect(Buffer.from(encryptSession(blob, key)).equals(Buffer.from(sealed))).to.equal(false);
  });
  it("refuses a wrong key, a flipped bit and garbage with ERR_MLSTLS_BAD_SESSION", () => {
    const sealed = encryptSession(Uint8Array.of(1, 2, 3), key);
    expect(() => decryptSession(sealed, new Uint8Array(32))).to.throw().with.property("code", "ERR_MLSTLS_BAD_SESSION");
    for (let i = 0; i < sealed.length; i++) {
      const t = Uint8Array.from(sealed);
      t[i]! ^= 1;
      expect(() => decryptSession(t, key)).to.throw().with.property("code", "ERR_MLSTLS_BAD_SESSION");
    }
    expect(() => decryptSession(Uint8Array.of(1), key)).to.throw().with.property("code", "ERR_MLSTLS_BAD_SESSION");
    expect(() => encryptSession(Uint8Array.of(1), new Uint8Array(16))).to.throw(TypeError);
  });
});
