// Mistakes get errors that say what to do: a client with neither `fingerprints` nor `ca` for a pinned-key
// server is told which option to give and the server's fingerprint; an RSA key is refused with the key types
// MLS can sign with.

import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as mlstls from "../../lib/index.js";
import { Cleanup, SERVED, SERVER_IDENTITY } from "../helpers/sockets.js";
import { listenLocal, next } from "../node-compat/helpers.js";

describe("helpful errors for common mistakes", () => {
  const cleanup = new Cleanup();

  it("a client without fingerprints or ca, at a pinned-key server: names both options and the fingerprint", async () => {
    const server = cleanup.server(mlstls.createServer(SERVED));
    const port = await listenLocal(server);
    const c = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1" }));
    const [err] = await next<[Error & { code?: string }]>(c, "error");
    expect(err.code).to.equal("ERR_MLSTLS_X509_REQUIRED");
    expect(err.message).to.include(`fingerprints: ["${SERVER_IDENTITY.fingerprint}"]`);
    expect(err.message).to.include("`ca`");
  });

  it("a key type MLS cannot sign with and cannot delegate from (secp256k1): refused at createServer(), naming the ones it can", () => {
    const dir = cleanup.tmpdir();
    const key = join(dir, "k1.key");
    const cert = join(dir, "k1.crt");
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1", "-nodes", "-keyout", key, "-out", cert, "-subj", "/CN=k1", "-days", "1"], { stdio: "ignore" });
    let err: (Error & { code?: string }) | undefined;
    try {
      mlstls.createServer({ key: readFileSync(key), cert: readFileSync(cert) });
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect(err?.code).to.equal("ERR_MLSTLS_UNSUPPORTED_KEY");
    expect(err?.message).to.include("Ed25519");
    expect(err?.message).to.include("P-256");
  });
});
