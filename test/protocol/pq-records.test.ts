// Record vectors for every post-quantum suite (the record layer follows each suite's hash and AEAD: PROTOCOL.md,
// "Post-quantum suites"). Two sources, neither of them the code under test:
// - record_kat.json (sandbox-quantum/mls-tls, see test/fixtures/README.md) covers SHA-384 + AES-256-GCM (its
//   suite 7), SHA-512 + AES-256-GCM (its 78) and SHA-512 + ChaCha20-Poly1305 (its 6), which our suites 79, 81/83/85/87
//   and 82/84/86/88 use;
// - record_kat_pq.json, computed with @noble alone by test/helpers/record-kat-noble.ts, has a vector for each of our
//   post-quantum suite ids, among them the one combination no independent file has: SHA-384 + ChaCha20 (suite 80).
//   The generator itself is checked against record_kat.json first.

import { expect } from "chai";
import { readFileSync } from "node:fs";
import { applicationTrafficSecrets } from "../../lib/protocol/key-schedule.js";
import { ContentType, RecordDeframer, RecordProtection } from "../../lib/protocol/records/record-layer.js";
import { suiteById, SUITES, type SuiteParams } from "../../lib/suites.js";
import { sealRecordsNoble } from "../helpers/record-kat-noble.js";

interface Vector {
  suite: number;
  client_secret: string;
  server_secret: string;
  c2s: string[];
  s2c: string[];
}
interface KatFile {
  plaintexts: { c2s: string[]; s2c: string[] };
  vectors: Vector[];
}
const load = (name: string): KatFile => JSON.parse(readFileSync(new URL(`../../../test/fixtures/${name}`, import.meta.url), "utf8")) as KatFile;
const INDEPENDENT = load("record_kat.json");
const OURS = load("record_kat_pq.json");
/** record_kat.json's suite ids for a (hash, AEAD) pair (see test/fixtures/README.md). */
const INDEPENDENT_BY_PARAMS: Record<string, number> = { "sha384/aes-256-gcm": 7, "sha512/aes-256-gcm": 78, "sha512/chacha20-poly1305": 6 };
const INDEPENDENT_PARAMS: Record<number, [SuiteParams["hash"], SuiteParams["aead"]]> = {
  7: ["sha384", "aes-256-gcm"],
  78: ["sha512", "aes-256-gcm"],
  6: ["sha512", "chacha20-poly1305"],
};
const h = (s: string) => Uint8Array.from(Buffer.from(s, "hex"));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const PQ = SUITES.filter((s) => s.postQuantum && s.mlsSupported);

function check(s: SuiteParams, v: Vector, plaintexts: KatFile["plaintexts"]): void {
  for (const [dir, secret, records, pts] of [
    ["c2s", applicationTrafficSecrets(s, h(v.client_secret)).client, v.c2s, plaintexts.c2s],
    ["s2c", applicationTrafficSecrets(s, h(v.server_secret)).server, v.s2c, plaintexts.s2c],
  ] as const) {
    const send = new RecordProtection(s);
    send.install(secret);
    records.forEach((rec, i) => expect(hex(send.seal(ContentType.application_data, Buffer.from(pts[i]!))), `${s.id} ${dir}[${i}]`).to.equal(rec));
    const recv = new RecordProtection(s);
    recv.install(secret);
    const d = new RecordDeframer();
    d.push(Buffer.concat(records.map(h)));
    for (const pt of pts) {
      const { type, content } = recv.open(d.next()!);
      expect(type).to.equal(ContentType.application_data);
      expect(Buffer.from(content).toString()).to.equal(pt);
    }
  }
}

describe("record-layer: post-quantum suites", () => {
  it("the @noble reference sealer reproduces record_kat.json for the combinations it shares with our PQ suites", () => {
    for (const v of INDEPENDENT.vectors.filter((x) => INDEPENDENT_PARAMS[x.suite] !== undefined)) {
      const [hash, aead] = INDEPENDENT_PARAMS[v.suite]!;
      expect(sealRecordsNoble(hash, aead, h(v.client_secret), "c2s", INDEPENDENT.plaintexts.c2s), `${v.suite}`).to.deep.equal(v.c2s);
      expect(sealRecordsNoble(hash, aead, h(v.server_secret), "s2c", INDEPENDENT.plaintexts.s2c), `${v.suite}`).to.deep.equal(v.s2c);
    }
  });

  it("record_kat_pq.json has one vector per post-quantum suite", () => {
    expect(OURS.vectors.map((v) => v.suite)).to.deep.equal(PQ.map((s) => s.id));
  });

  for (const s of PQ) {
    it(`${s.id} ${s.name} (${s.hash}, ${s.aead}): seals and opens its record_kat_pq.json vector byte-exact`, () => {
      check(s, OURS.vectors.find((v) => v.suite === s.id)!, OURS.plaintexts);
    });
    const independent = INDEPENDENT_BY_PARAMS[`${s.hash}/${s.aead}`];
    if (independent !== undefined) {
      it(`${s.id}: reproduces the independent record_kat.json vector of the same hash and AEAD (its suite ${independent})`, () => {
        check(s, INDEPENDENT.vectors.find((v) => v.suite === independent)!, INDEPENDENT.plaintexts);
      });
    }
  }

  it("suite 80 (SHA-384 + ChaCha20-Poly1305), the combination no independent file covers, is a real one", () => {
    expect(suiteById(80)).to.include({ hash: "sha384", aead: "chacha20-poly1305" });
    expect(Object.keys(INDEPENDENT_BY_PARAMS)).to.not.include("sha384/chacha20-poly1305");
  });
});
