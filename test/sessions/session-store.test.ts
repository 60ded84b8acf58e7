import { expect } from "chai";
import { fork } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
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
