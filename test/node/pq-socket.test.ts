// The `postQuantum` option through real sockets (README, "Post-quantum"): 'require' on both ends settles on X-Wing
// and both report it in getCipher(); 'prefer' reaches classical servers without an extra round trip; a side that
// requires post-quantum refuses one that has none; a 64 MiB echo with updates from both sides; and a missing
// optional package is a configuration error that says what to install.

import { expect } from "chai";
import { once } from "node:events";
import * as mlstls from "../../lib/index.js";
import { setPqLoaderForTests } from "../../lib/mls/pq.js";
import { Cleanup, listen, SERVED, TRUSTED, waitFor } from "../helpers/sockets.js";

const XWING = "MLS_256_XWING_AES256GCM_SHA512_Ed25519";
type CodedError = Error & { code?: string };

describe("socket: post-quantum suites", function () {
  this.timeout(30000);
  const cleanup = new Cleanup();

  it("connect({ postQuantum: 'require' }) reaches a server configured the same way: both report X-Wing", async () => {
    const server = cleanup.server(mlstls.createServer({ ...SERVED, postQuantum: "require" }, (s) => s.end("pq")));
    const port = await listen(server);
    const serverSide = once(server, "secureConnection");
    const c = cleanup.stream(mlstls.connect({ ...TRUSTED, port, host: "127.0.0.1", postQuantum: "require" }));
    await waitFor(c, "secureConnect");
    const [s] = (await serverSide) as [mlstls.MlsTlsSocket];
    expect(c.getCipher()).to.deep.equal({ name: XWING, standardName: "TLS_AES_256_GCM_SHA384", version: "TLSv1.3" });
    expect(s.getCipher()?.name).to.equal(XWING);
    expect(c.authorized).to.equal(true);
    expect(String((await once(c, "data"))[0])).to.equal("pq");
  });

  it("a pinned ML-DSA-87 server: both ends name its signature scheme, from the suite table", async () => {
    const identity = mlstls.createIdentity({ suite: 87, name: "pinned ml-dsa" });
    const server = cleanup.server(mlstls.createServer({ identity, postQuantum: "require" }));
    const port = await listen(server);
    const serverSide = once(server, "secureConnection");
    const c = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", fingerprints: [identity.fingerprint], postQuantum: "require" }));
    await waitFor(c, "secureConnect");
    const [s] = (await serverSide) as [mlstls.MlsTlsSocket];
    expect(c.suite?.id).to.equal(87);
    expect(c.getSharedSigalgs()).to.deep.equal(["mldsa87"]);
    expect(c.getEphemeralKeyInfo()).to.deep.equal({ type: "KEM", name: "X-Wing", size: 768 });
    expect(s.getSharedSigalgs()).to.deep.equal(["mldsa87"]);
    expect(c.getPeerCertificate()).to.include({ credentialType: "basic", signatureScheme: "mldsa87" });
  });

  it("'prefer' gets X-Wing from a 'prefer' server and suite 1 from a default server, one ClientHello each", async () => {
    for (const [serverOpts, expected] of [[{ postQuantum: "prefer" as const }, XWING], [{}, "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519"]] as const) {
      const server = cleanup.server(mlstls.createServer({ ...SERVED, ...serverOpts }));
      const port = await listen(server);
      let hellos = 0;
      server.on("connection", (raw) => raw.on("data", (d: Buffer) => (hellos += d[0] === 22 && d[5] === 0xe0 ? 1 : 0)));
      const c = cleanup.stream(mlstls.connect({ ...TRUSTED, port, host: "127.0.0.1", postQuantum: "prefer" }));
      await waitFor(c, "secureConnect");
      expect(c.getCipher()?.name).to.equal(expected);
      expect(hellos, "no RetryRequest").to.equal(1);
    }
  });

  it("a client that requires post-quantum refuses a classical server, and a requiring server refuses a classical client", async () => {
    const classical = cleanup.server(mlstls.createServer({ ...SERVED }));
    const p1 = await listen(classical);
    const c1 = cleanup.stream(mlstls.connect({ ...TRUSTED, port: p1, host: "127.0.0.1", postQuantum: "require" }));
    const [e1] = await waitFor<[CodedError]>(c1, "error");
    expect(e1.code).to.equal("ERR_MLSTLS_CIPHERSUITE_MISMATCH");

    const requiring = cleanup.server(mlstls.createServer({ ...SERVED, postQuantum: "require" }));
    const p2 = await listen(requiring);
    const serverErr = waitFor<[CodedError]>(requiring, "tlsClientError");
    const c2 = cleanup.stream(mlstls.connect({ ...TRUSTED, port: p2, host: "127.0.0.1" }));
    c2.on("error", () => undefined);
    const [e2] = await serverErr;
    expect(e2.code).to.equal("ERR_MLSTLS_CIPHERSUITE_MISMATCH");
  });

  it("64 MiB echo over X-Wing with ConnectionUpdates and KeyUpdates from both sides", async () => {
    const serverSockets: mlstls.MlsTlsSocket[] = [];
    const quiet = { autoKeyUpdate: false, autoConnectionUpdate: false } as const;
    const server = cleanup.server(
      mlstls.createServer({ ...SERVED, ...quiet, postQuantum: "require" }, (s) => {
        serverSockets.push(s);
        s.pipe(s);
      }),
    );
    const port = await listen(server);
    const c = cleanup.stream(mlstls.connect({ ...TRUSTED, ...quiet, port, host: "127.0.0.1", postQuantum: "require" }));
    await waitFor(c, "secureConnect");
    const total = 64 * 1024 * 1024;
    const data = Buffer.alloc(total);
    for (let i = 0; i < total; i += 4) data.writeUInt32BE(i, i);
    const got: Buffer[] = [];
    let n = 0;
    const done = new Promise<void>((resolve) =>
      c.on("data", (d: Buffer) => {
        got.push(d);
        n += d.length;
        if (n >= total) resolve();
      }),
    );
    const piece = total / 8;
    for (let i = 0; i < 8; i++) {
      c.write(data.subarray(i * piece, (i + 1) * piece));
      if (i === 1) await c.connectionUpdate();
      if (i === 3) await serverSockets[0]!.connectionUpdate();
      if (i === 5) await c.keyUpdate({ requestPeer: true });
      if (i === 6) await serverSockets[0]!.keyUpdate();
    }
    await done;
    expect(Buffer.concat(got).equals(data)).to.equal(true);
    expect(c.getCipher()?.name).to.equal(XWING);
  });

  describe("without the optional package", () => {
    const missing = Object.assign(new Error("Cannot find package '@noble/post-quantum' imported from mlstls"), { code: "ERR_MODULE_NOT_FOUND" });
    beforeEach(() =>
      setPqLoaderForTests(() => {
        throw missing;
      }),
    );
    afterEach(() => setPqLoaderForTests(undefined));

    it("naming a post-quantum suite or postQuantum is ERR_MLSTLS_PQ_UNAVAILABLE, naming the package to install", () => {
      const attempts: [string, () => unknown][] = [
        ["connect postQuantum", () => mlstls.connect({ port: 1, host: "127.0.0.1", postQuantum: "prefer" })],
        ["createServer ciphersuites", () => mlstls.createServer({ ...SERVED, ciphersuites: XWING })],
        ["createServer require", () => mlstls.createServer({ ...SERVED, postQuantum: "require" })],
        ["createIdentity ML-DSA", () => mlstls.createIdentity({ suite: 87 })],
      ];
      for (const [what, attempt] of attempts) {
        let err: CodedError | undefined;
        try {
          attempt();
        } catch (e) {
          err = e as CodedError;
        }
        expect(err, what).to.be.instanceOf(TypeError);
        expect(err!.code, what).to.equal("ERR_MLSTLS_PQ_UNAVAILABLE");
        expect(err!.message, what).to.contain("npm install --save-exact @noble/post-quantum@0.5.2");
        expect(err!.cause, what).to.equal(missing);
      }
    });

    it("classical connections are unaffected", async () => {
      const server = cleanup.server(mlstls.createServer({ ...SERVED }, (s) => s.end("classical")));
      const port = await listen(server);
      const c = cleanup.stream(mlstls.connect({ ...TRUSTED, port, host: "127.0.0.1" }));
      await waitFor(c, "secureConnect");
      expect(c.getCipher()?.name).to.equal("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519");
    });
  });
});
