// The package's entry points as users load them: require("mlstls"), import mlstls from "mlstls" and
// import * as mlstls from "mlstls" (and the same for mlstls/https and mlstls/http2) give the very same objects,
// the CommonJS form works where Node cannot require() ES modules (Node < 20.19), and the module object is
// assignable where node:tls's is. Loaded by the package's own name, through package.json's "exports".
// (.ci/pack-check does the same from a packed tarball.)

import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
/** Imported by name at run time only: the compiler must not resolve the package's own (built) types here. */
const PKG: string = "mlstls";
const load = (sub = ""): Promise<Record<string, unknown> & { default: Record<string, unknown> }> => import(PKG + sub);

describe("packaging: CommonJS and ES module entries", () => {
  it("require, default import and namespace import give the same objects (one class of each)", async () => {
    const cjs = require("mlstls") as Record<string, unknown>;
    const esm = await load();
    expect(esm.default).to.equal(cjs);
    for (const name of ["connect", "createServer", "Server", "MlsTlsSocket", "TLSSocket", "MlsTlsError", "SecureContext", "Identity"]) {
      expect(cjs[name], name).to.be.a("function");
      expect(esm[name], name).to.equal(cjs[name]);
    }
    for (const sub of ["https", "http2"]) {
      const c = require(`mlstls/${sub}`) as Record<string, unknown>;
      const e = await load(`/${sub}`);
      expect(e.default, sub).to.equal(c);
      expect(e.connect ?? e.request, sub).to.equal(c.connect ?? c.request);
    }
    // The https module's servers are made with the main module's classes, not a copy of them.
    const https = require("mlstls/https") as { globalAgent: unknown; Agent: new () => unknown };
    expect(https.globalAgent).to.be.instanceOf(https.Agent);
  });

  it("the module object is assignable as node:tls's (tls.DEFAULT_MAX_VERSION = ...)", async () => {
    const cjs = require("mlstls") as Record<string, unknown>;
    const before = cjs.DEFAULT_MAX_VERSION;
    expect(before).to.equal("TLSv1.3");
    cjs.DEFAULT_MAX_VERSION = "TLSv1.3";
    cjs.DEFAULT_ECDH_CURVE = "auto";
    // ...except rootCertificates, read-only as node's (test-tls-root-certificates).
    expect(() => {
      cjs.rootCertificates = 0;
    }).to.throw(TypeError);
    const { default: mod } = await load();
    expect(() => {
      mod.DEFAULT_CIPHERS = mod.DEFAULT_CIPHERS;
    }).to.not.throw();
  });

  it("require('mlstls') works where Node cannot require() ES modules, and handshakes", function () {
    this.timeout(30_000);
    // Node >= 20.19 can require() ES modules; without that (as on Node 20.0-20.18) only a CommonJS build loads.
    const flags = process.allowedNodeEnvironmentFlags.has("--no-experimental-require-module") ? ["--no-experimental-require-module"] : [];
    const script = `
      const mlstls = require("mlstls");
      const https = require("mlstls/https");
      const identity = mlstls.createIdentity({ name: "cjs", suite: 2 });
      const server = mlstls.createServer({ identity }, (s) => s.pipe(s));
      server.listen(0, "127.0.0.1", () => {
        const c = mlstls.connect({ port: server.address().port, host: "127.0.0.1", fingerprints: [identity.fingerprint], ciphersuites: mlstls.getCiphers().find((n) => n.endsWith("P256")) }, () => c.end("ok"));
        let got = "";
        c.on("data", (d) => (got += d));
        c.on("close", () => { server.close(); process.stdout.write(got + " " + typeof https.createServer); });
      });`;
    const out = execFileSync(process.execPath, [...flags, "-e", script], { cwd: new URL("../../..", import.meta.url), encoding: "utf8" });
    expect(out).to.equal("ok function");
  });
});
