import { expect } from "chai";
import { createHash } from "node:crypto";
import type { HashName, SuiteParams } from "../../lib/suites.js";
import { suiteById } from "../../lib/suites.js";
import {
  EXPORTER_MASTER_LABEL,
  applicationTrafficSecrets,
  connectionContext,
  deriveSecret,
  encodeHkdfLabel,
  hkdfExpand,
  hkdfExpandLabel,
  hkdfExtract,
  nextTrafficSecret,
  trafficKeys,
  zeroize,
} from "../../lib/protocol/key-schedule.js";
import { deriveSecretNoble, hkdfExpandLabelNoble, hkdfExpandNoble, hkdfExtractNoble } from "../helpers/noble-hkdf.js";
import { Prng } from "../helpers/prng.js";

const h = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/[\s:]/g, ""), "hex"));
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const spaced = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
const EMPTY = new Uint8Array(0);

function suite(id: number): SuiteParams {
  const s = suiteById(id);
  if (s === undefined) throw new Error(`no suite ${id}`);
  return s;
}

// RFC 8448 "Example Handshake Traces for TLS 1.3", §3 "Simple 1-RTT Handshake"
// (TLS_AES_128_GCM_SHA256, so SHA-256 like MLS suite 1). Values copied from the RFC's trace.
const RFC8448 = {
  // {client} construct a ClientHello handshake message (196 octets)
  clientHello: h(`01 00 00 c0 03 03 cb 34 ec b1 e7 81 63 ba 1c 38 c6 da cb 19 6a 6d ff a2 1a 8d 99 12 ec 18
    a2 ef 62 83 02 4d ec e7 00 00 06 13 01 13 03 13 02 01 00 00 91 00 00 00 0b 00 09 00 00 06 73 65 72 76 65
    72 ff 01 00 01 00 00 0a 00 14 00 12 00 1d 00 17 00 18 00 19 01 00 01 01 01 02 01 03 01 04 00 23 00 00 00
    33 00 26 00 24 00 1d 00 20 99 38 1d e5 60 e4 bd 43 d2 3d 8e 43 5a 7d ba fe b3 c0 6e 51 c1 3c ae 4d 54 13
    69 1e 52 9a af 2c 00 2b 00 03 02 03 04 00 0d 00 20 00 1e 04 03 05 03 06 03 02 03 08 04 08 05 08 06 04 01
    05 01 06 01 02 01 04 02 05 02 06 02 02 02 00 2d 00 02 01 01 00 1c 00 02 40 01`),
  // {server} construct a ServerHello handshake message (90 octets)
  serverHello: h(`02 00 00 56 03 03 a6 af 06 a4 12 18 60 dc 5e 6e 60 24 9c d3 4c 95 93 0c 8a c5 cb 14 34 da
    c1 55 77 2e d3 e2 69 28 00 13 01 00 00 2e 00 33 00 24 00 1d 00 20 c9 82 88 76 11 20 95 fe 66 76 2b db f7
    c6 72 e1 56 d6 cc 25 3b 83 3d f1 dd 69 b1 b0 4e 75 1f 0f 00 2b 00 02 03 04`),
  // {server} extract secret "early": salt 0, IKM 32 zero octets
  earlySecret: "33ad0a1c607ec03b09e6cd9893680ce210adf300aa1f2660e1b22e10f170f92a",
  // {server} derive secret for handshake "tls13 derived" (hash of the empty string)
  derivedEarly: "6f2615a108c702c5678f54fc9dbab69716c076189c48250cebeac3576c3611ba",
  derivedInfo: h(`00 20 0d 74 6c 73 31 33 20 64 65 72 69 76 65 64 20 e3 b0 c4 42 98 fc 1c 14 9a fb f4 c8 99
    6f b9 24 27 ae 41 e4 64 9b 93 4c a4 95 99 1b 78 52 b8 55`),
  // {server} extract secret "handshake": IKM = the x25519 shared secret
  ecdhe: h("8bd4054fb55b9d63fdfbacf9f04b9f0d35e6d63f537563efd46272900f89492d"),
  handshakeSecret: "1dc826e93606aa6fdc0aadc12f741b01046aa6b99f691ed221a9f0ca043fbeac",
  // Transcript-Hash(ClientHello, ServerHello)
  helloHash: "860c06edc07858ee8e78f0e7428c58edd6b43f2ca3e6e95f02ed063cf0e1cad8",
  clientHsTraffic: "b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21",
  serverHsTraffic: "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38",
  // {server} derive secret for master "tls13 derived", then extract secret "master" with 32 zero octets
  derivedHandshake: "43de77e0c77713859a944db9db2590b53190a65b3ee2e4f12dd7a0bb7ce254b4",
  masterSecret: "18df06843d13a08bf2a449844c5f8a478001bc4d4c627984d5a41da8d0402919",
  // Transcript-Hash(ClientHello ... server Finished)
  serverFinishedHash: h("9608102a0f1ccc6db6250b7b7e417b1a000eaada3daae4777a7686c9ff83df13"),
  capInfo: h(`00 20 12 74 6c 73 31 33 20 63 20 61 70 20 74 72 61 66 66 69 63 20 96 08 10 2a 0f 1c cc 6d
    b6 25 0b 7b 7e 41 7b 1a 00 0e aa da 3d aa e4 77 7a 76 86 c9 ff 83 df 13`),
  clientApTraffic: "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5",
  serverApTraffic: "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643",
  exporterMaster: "fe22f881176eda18eb8f44529e6792c50c9a3f89452f68d8ae311b4309d3cf50",
  // {server} calculate finished "tls13 finished"
  serverFinishedKey: "008d3b66f816ea559f96b537e885c31fc068bf492c652f01f288a1d8cdc19fc8",
  // derive ... traffic keys: "key info" and "iv info" are the HkdfLabels
  keyInfo: "00 10 09 74 6c 73 31 33 20 6b 65 79 00",
  ivInfo: "00 0c 08 74 6c 73 31 33 20 69 76 00",
  serverHsKey: "3fce516009c21727d0f2e4e86ee403bc",
  serverHsIv: "5d313eb2671276ee13000b30",
  clientHsKey: "dbfaa693d1762c5b666af5d950258d01",
  clientHsIv: "5bd3c71b836e0b76bb73265f",
  serverApKey: "9f02283b6c9c07efc26bb9f2ac92e356",
  serverApIv: "cf782b88dd83549aadf1e984",
  clientApKey: "17422dda596ed5d9acd890e3c63f5051",
  clientApIv: "5b78923dee08579033e523d9",
};

describe("key-schedule", () => {
  describe("RFC 8448 §3 Simple 1-RTT Handshake", () => {
    const sha: HashName = "sha256";
    const zeros32 = new Uint8Array(32);

    it("the copied handshake messages have the RFC's lengths and transcript hash", () => {
      expect(RFC8448.clientHello.length).to.equal(196);
      expect(RFC8448.serverHello.length).to.equal(90);
      const th = createHash("sha256").update(RFC8448.clientHello).update(RFC8448.serverHello).digest();
      expect(hex(th)).to.equal(RFC8448.helloHash);
    });

    it("HKDF-Extract: early, handshake and master secrets (empty salt = zeros)", () => {
      expect(hex(hkdfExtract(sha, EMPTY, zeros32))).to.equal(RFC8448.earlySecret);
      expect(hex(hkdfExtract(sha, zeros32, zeros32))).to.equal(RFC8448.earlySecret);
      expect(hex(hkdfExtract(sha, h(RFC8448.derivedEarly), RFC8448.ecdhe))).to.equal(RFC8448.handshakeSecret);
      expect(hex(hkdfExtract(sha, h(RFC8448.derivedHandshake), zeros32))).to.equal(RFC8448.masterSecret);
    });

    it("Derive-Secret over the empty transcript ('derived'), with the RFC's HkdfLabel", () => {
      expect(hex(deriveSecret(sha, h(RFC8448.earlySecret), "derived", EMPTY))).to.equal(RFC8448.derivedEarly);
      expect(hex(deriveSecret(sha, h(RFC8448.handshakeSecret), "derived", EMPTY))).to.equal(RFC8448.derivedHandshake);
      const emptyHash = createHash("sha256").digest();
      expect(hex(encodeHkdfLabel("derived", emptyHash, 32))).to.equal(hex(RFC8448.derivedInfo));
    });

    it("Derive-Secret over ClientHello‖ServerHello: handshake traffic secrets", () => {
      const msgs = Buffer.concat([RFC8448.clientHello, RFC8448.serverHello]);
      const hs = h(RFC8448.handshakeSecret);
      expect(hex(deriveSecret(sha, hs, "c hs traffic", msgs))).to.equal(RFC8448.clientHsTraffic);
      expect(hex(deriveSecret(sha, hs, "s hs traffic", msgs))).to.equal(RFC8448.serverHsTraffic);
      expect(hex(deriveSecretNoble(sha, hs, "s hs traffic", msgs))).to.equal(RFC8448.serverHsTraffic);
    });

    it("HKDF-Expand-Label with the transcript hash: application traffic and exporter secrets", () => {
      const ms = h(RFC8448.masterSecret);
      const th = RFC8448.serverFinishedHash;
      expect(hex(encodeHkdfLabel("c ap traffic", th, 32))).to.equal(hex(RFC8448.capInfo));
      expect(hex(hkdfExpandLabel(sha, ms, "c ap traffic", th, 32))).to.equal(RFC8448.clientApTraffic);
      expect(hex(hkdfExpandLabel(sha, ms, "s ap traffic", th, 32))).to.equal(RFC8448.serverApTraffic);
      expect(hex(hkdfExpandLabel(sha, ms, "exp master", th, 32))).to.equal(RFC8448.exporterMaster);
      expect(hex(hkdfExpandLabelNoble(sha, ms, "c ap traffic", th, 32))).to.equal(RFC8448.clientApTraffic);
    });

    it("HKDF-Expand-Label with an empty context: the finished key", () => {
      const key = hkdfExpandLabel(sha, h(RFC8448.serverHsTraffic), "finished", EMPTY, 32);
      expect(hex(key)).to.equal(RFC8448.serverFinishedKey);
    });

    it("trafficKeys: key/iv of all four traffic secrets, with the RFC's key info / iv info", () => {
      expect(spaced(encodeHkdfLabel("key", EMPTY, 16))).to.equal(RFC8448.keyInfo);
      expect(spaced(encodeHkdfLabel("iv", EMPTY, 12))).to.equal(RFC8448.ivInfo);
      const s1 = suite(1); // SHA-256 + AES-128-GCM, like TLS_AES_128_GCM_SHA256
      const cases: [string, string, string][] = [
        [RFC8448.serverHsTraffic, RFC8448.serverHsKey, RFC8448.serverHsIv],
        [RFC8448.clientHsTraffic, RFC8448.clientHsKey, RFC8448.clientHsIv],
        [RFC8448.serverApTraffic, RFC8448.serverApKey, RFC8448.serverApIv],
        [RFC8448.clientApTraffic, RFC8448.clientApKey, RFC8448.clientApIv],
      ];
      for (const [secret, key, iv] of cases) {
        const k = trafficKeys(s1, h(secret));
        expect(hex(k.key)).to.equal(key);
        expect(hex(k.iv)).to.equal(iv);
      }
    });
  });

  describe("node:crypto and @noble/hashes agree", () => {
    const hashes: HashName[] = ["sha256", "sha384", "sha512"];

    it("on random extract/expand/expand-label/derive-secret inputs", () => {
      const rng = new Prng(0x5eed_0001);
      for (let i = 0; i < 150; i++) {
        const hash = hashes[i % 3]!;
        const salt = rng.bytes(rng.int(80));
        const ikm = rng.bytes(rng.int(100));
        const prk = hkdfExtract(hash, salt, ikm);
        expect(hex(prk)).to.equal(hex(hkdfExtractNoble(hash, salt, ikm)));
        const info = rng.bytes(rng.int(120));
        const len = rng.range(0, 300);
        expect(hex(hkdfExpand(hash, prk, info, len))).to.equal(hex(hkdfExpandNoble(hash, prk, info, len)));
        const label = "x".repeat(rng.int(40));
        const ctx = rng.bytes(rng.int(256));
        expect(hex(hkdfExpandLabel(hash, prk, label, ctx, len))).to.equal(
          hex(hkdfExpandLabelNoble(hash, prk, label, ctx, len)),
        );
        const msgs = rng.bytes(rng.int(500));
        expect(hex(deriveSecret(hash, prk, label, msgs))).to.equal(hex(deriveSecretNoble(hash, prk, label, msgs)));
      }
    });

    it("HKDF-Expand output is a prefix-consistent stream", () => {
      const prk = new Prng(7).bytes(48);
      const long = hkdfExpand("sha384", prk, EMPTY, 200);
      expect(hex(hkdfExpand("sha384", prk, EMPTY, 49))).to.equal(hex(long.subarray(0, 49)));
    });
  });

  describe("record-layer secrets", () => {
    for (const id of [1, 3, 7]) {
      const s = suite(id);
      it(`suite ${id}: application traffic secrets, KeyUpdate and key sizes`, () => {
        const master = new Prng(id).bytes(s.hashLen);
        const { client, server } = applicationTrafficSecrets(s, master);
        const zeros = new Uint8Array(s.hashLen);
        expect(hex(client)).to.equal(hex(hkdfExpandLabelNoble(s.hash, master, "c ap traffic", zeros, s.hashLen)));
        expect(hex(server)).to.equal(hex(hkdfExpandLabelNoble(s.hash, master, "s ap traffic", zeros, s.hashLen)));
        expect(hex(client)).not.to.equal(hex(server));
        const next = nextTrafficSecret(s, client);
        expect(next.length).to.equal(s.hashLen);
        expect(hex(next)).to.equal(hex(hkdfExpandLabelNoble(s.hash, client, "traffic upd", EMPTY, s.hashLen)));
        const k = trafficKeys(s, next);
        expect(k.key.length).to.equal(s.keyLen);
        expect(k.iv.length).to.equal(12);
      });
    }
  });

  describe("connectionContext", () => {
    const cr = new Prng(1).bytes(32);
    const sr = new Prng(2).bytes(32);
    const th = new Prng(3).bytes(32);

    it("is the documented length-prefixed encoding", () => {
      const tag = Buffer.from("mlstls connection v2", "ascii");
      const expected = Buffer.concat([Buffer.from([tag.length]), tag, Buffer.from([32]), cr, Buffer.from([32]), sr, Buffer.from([32]), th]);
      expect(hex(connectionContext(cr, sr, th))).to.equal(hex(expected));
      expect(EXPORTER_MASTER_LABEL).to.equal("mlstls master");
    });

    it("depends on both randoms, their order, and the transcript hash", () => {
      const base = hex(connectionContext(cr, sr, th));
      expect(hex(connectionContext(sr, cr, th))).not.to.equal(base);
      const cr2 = Uint8Array.from(cr);
      cr2[31] = cr2[31]! ^ 1;
      expect(hex(connectionContext(cr2, sr, th))).not.to.equal(base);
      const th2 = Uint8Array.from(th);
      th2[0] = th2[0]! ^ 1;
      expect(hex(connectionContext(cr, sr, th2))).not.to.equal(base);
    });

    it("rejects randoms that are not 32 bytes and an empty transcript hash", () => {
      expect(() => connectionContext(new Uint8Array(31), sr, th)).to.throw(TypeError);
      expect(() => connectionContext(cr, new Uint8Array(33), th)).to.throw(TypeError);
      expect(() => connectionContext(cr, sr, new Uint8Array(0))).to.throw(TypeError);
    });
  });

  describe("argument checks and zeroize", () => {
    it("rejects HKDF-Expand lengths beyond 255*Nh and oversized labels/contexts", () => {
      const prk = new Uint8Array(32);
      expect(hkdfExpand("sha256", prk, EMPTY, 255 * 32).length).to.equal(255 * 32);
      expect(() => hkdfExpand("sha256", prk, EMPTY, 255 * 32 + 1)).to.throw(RangeError);
      expect(() => hkdfExpand("sha256", prk, EMPTY, -1)).to.throw(RangeError);
      expect(() => hkdfExpandLabel("sha256", prk, "a".repeat(250), EMPTY, 32)).to.throw(RangeError);
      expect(() => hkdfExpandLabel("sha256", prk, "a", new Uint8Array(256), 32)).to.throw(RangeError);
    });

    it("zeroize clears every buffer and skips undefined", () => {
      const a = Uint8Array.of(1, 2, 3);
      const b = Uint8Array.of(4, 5);
      zeroize(a, undefined, b);
      expect(Array.from(a)).to.deep.equal([0, 0, 0]);
      expect(Array.from(b)).to.deep.equal([0, 0]);
    });
  });
});
