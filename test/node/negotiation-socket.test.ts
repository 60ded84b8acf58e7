// Suite negotiation through real sockets: a default mlstls client (no `ciphersuites`) reaches servers whose X.509
// certificate or pinned identity is Ed25519, P-256 or P-384, and a tampering TCP proxy that alters the offer makes
// the handshake fail on both ends instead of settling on another suite.

import { expect } from "chai";
import { once } from "node:events";
import * as net from "node:net";
import * as mlstls from "../../lib/index.js";
import { ContentType, encodePlaintextRecord } from "../../lib/protocol/records/record-layer.js";
import { decodeHandshake, encodeHandshake } from "../../lib/protocol/messages.js";
import { Cleanup, fixture, listen, waitFor } from "../helpers/sockets.js";

const ROOT = fixture("root-ca.pem");
type CodedError = Error & { code?: string };
// node:tls's getEphemeralKeyInfo() for the same curves (an ECDHE handshake with each group).
const KEY_INFO = {
  ed25519: { type: "ECDH", name: "X25519", size: 253 },
  p256: { type: "ECDH", name: "prime256v1", size: 256 },
  p384: { type: "ECDH", name: "secp384r1", size: 384 },
};
const SIGALG = { ed25519: "ed25519", p256: "ecdsa_secp256r1_sha256", p384: "ecdsa_secp384r1_sha384" } as const;

describe("socket: suite negotiation", () => {
  const cleanup = new Cleanup();

  for (const [key, suite] of [["ed25519", 1], ["p256", 2], ["p384", 7]] as const) {
    it(`a default client reaches an X.509 ${key} server`, async () => {
      const server = cleanup.server(mlstls.createServer({ key: fixture(`${key}.key`), cert: fixture(`${key}-chain.pem`) }, (s) => s.end("hi")));
      const port = await listen(server);
      const c = cleanup.stream(mlstls.connect({ port, host: "localhost", ca: ROOT }));
      await waitFor(c, "secureConnect");
      expect(c.authorized).to.equal(true);
      expect(c.getCipher()).to.include({ name: suiteName(suite) });
      expect(c.getSharedSigalgs()).to.deep.equal([SIGALG[key]]);
      expect(c.getEphemeralKeyInfo()).to.deep.equal(KEY_INFO[key]);
      expect(String((await once(c, "data"))[0])).to.equal("hi");
    });

    it(`a default client reaches a pinned ${key} server`, async () => {
      const identity = mlstls.createIdentity({ suite, name: `pinned ${key}` });
      const server = cleanup.server(mlstls.createServer({ identity }));
      const port = await listen(server);
      const c = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", fingerprints: [identity.fingerprint] }));
      await waitFor(c, "secureConnect");
      expect(c.suite?.id).to.equal(suite);
    });
  }

  it("a proxy that strips a KeyPackage from the ClientHello gets both ends to fail, not to settle", async () => {
    const server = cleanup.server(
      mlstls.createServer({ key: [fixture("ed25519.key"), fixture("p256.key")], cert: [fixture("ed25519-chain.pem"), fixture("p256-chain.pem")] }),
    );
    const port = await listen(server);
    const serverErr = waitFor<[CodedError]>(server, "tlsClientError");
    // The proxy rewrites the client's first record (the ClientHello) without its first (Ed25519) KeyPackage.
    const proxy = cleanup.server(
      net.createServer((down) => {
        const up = net.connect(port, "127.0.0.1");
        for (const s of [down, up]) s.on("error", () => {});
        let first = true;
        down.on("data", (chunk: Buffer) => {
          if (!first) return void up.write(chunk);
          first = false;
          const hello = decodeHandshake(chunk.subarray(5));
          if (hello.type !== "client_hello") throw new Error("not a ClientHello");
          up.write(encodePlaintextRecord(ContentType.handshake, encodeHandshake({ ...hello, keyPackages: hello.keyPackages.slice(1) })));
        });
        up.pipe(down);
        down.on("close", () => up.destroy());
        up.on("close", () => down.destroy());
      }),
    );
    const proxyPort = await listen(proxy);
    const c = cleanup.stream(mlstls.connect({ port: proxyPort, host: "localhost", ca: ROOT }));
    const errors: CodedError[] = [];
    c.on("error", (e: CodedError) => errors.push(e));
    const [err] = await serverErr;
    expect(err.code).to.equal("ERR_MLSTLS_BAD_RECORD_MAC");
    expect(err.message).to.contain("key confirmation failed");
    await waitFor(c, "close");
    expect(errors.map((e) => e.code)).to.deep.equal(["ERR_MLSTLS_BAD_RECORD_MAC"]);
  });
});

function suiteName(id: number): string {
  return ["", "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519", "MLS_128_DHKEMP256_AES128GCM_SHA256_P256", "", "", "", "", "MLS_256_DHKEMP384_AES256GCM_SHA384_P384"][id]!;
}
