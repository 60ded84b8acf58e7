// Many clients at once, good and bad mixed: every good client gets its echo back byte-exact and its update
// confirmed, every bad one is reported through 'tlsClientError', and the server keeps running.

import { expect } from "chai";
import * as net from "node:net";
import * as mlstls from "../../lib/index.js";
import { Cleanup, SERVED, TRUSTED, deterministicBytes, listen } from "../helpers/sockets.js";

describe("server: concurrent good and bad clients", () => {
  const cleanup = new Cleanup();
  const raws: net.Socket[] = [];
  afterEach(() => raws.splice(0).forEach((r) => r.destroy()));

  it("serves 40 concurrent clients while 20 misbehaving ones fail on their own", async function () {
    this.timeout(60_000);
    const server = cleanup.server(
      mlstls.createServer({ ...SERVED, handshakeTimeout: 2000 }, (s) => {
        s.on("error", () => undefined);
        s.pipe(s);
      }),
    );
    const clientErrors: string[] = [];
    server.on("tlsClientError", (err: Error & { code?: string }) => clientErrors.push(err.code ?? "?"));
    const port = await listen(server);

    const good = Array.from({ length: 40 }, async (_, i) => {
      const payload = deterministicBytes(i, 32 * 1024 + i * 97);
      const c = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", ...TRUSTED }));
      const chunks: Buffer[] = [];
      let got = 0;
      const echoed = new Promise<void>((resolve, reject) => {
        c.on("data", (d: Buffer) => {
          chunks.push(d);
          got += d.length;
          if (got >= payload.length) resolve();
        });
        c.on("error", reject);
      });
      await new Promise<void>((resolve, reject) => {
        c.once("secureConnect", resolve);
        c.once("error", reject);
      });
      c.write(payload.subarray(0, payload.length >> 1));
      await (i % 2 === 0 ? c.connectionUpdate() : c.keyUpdate({ requestPeer: true }));
      c.write(payload.subarray(payload.length >> 1));
      await echoed;
      expect(Buffer.concat(chunks).equals(payload), `client ${i} echo`).to.equal(true);
      c.end();
    });

    const bad = Array.from({ length: 20 }, (_, i) => {
      const raw = net.connect(port, "127.0.0.1");
      raw.on("error", () => undefined);
      raw.resume(); // read (and drop) the alert, so the server's FIN is seen and the socket closes
      raws.push(raw);
      return new Promise<void>((resolve) => {
        raw.on("connect", () => {
          if (i % 4 === 0) raw.write(Buffer.from("GET / HTTP/1.1\r\n\r\n"));
          else if (i % 4 === 1) raw.write(Buffer.from([22, 3, 3, 0x40, 0x01])); // oversized record header
          else if (i % 4 === 2) raw.end(); // bare close before any byte
          // i % 4 === 3: stalls until the handshake timeout
        });
        raw.on("close", () => resolve());
      });
    });

    await Promise.all(good);
    await Promise.all(bad);
    expect(clientErrors).to.have.length(20);
    expect(new Set(clientErrors)).to.deep.equal(
      new Set(["ERR_SSL_HTTP_REQUEST", "ERR_MLSTLS_RECORD_OVERFLOW", "ECONNRESET", "ERR_TLS_HANDSHAKE_TIMEOUT"]),
    );
    // And it still serves.
    const last = cleanup.stream(mlstls.connect({ port, host: "127.0.0.1", ...TRUSTED }));
    await new Promise<void>((resolve, reject) => {
      last.once("secureConnect", resolve);
      last.once("error", reject);
    });
  });
});
