// Issue 8, finding 6: handshake messages over 16 KiB are split across records when sent (RFC 8446 §5.1 lets a
// handshake message span records), up to the 64 KiB a receiver accepts. Client certificate chains of several
// sizes through real sockets, with node:tls alongside for the same chains; the wire is checked record by record.

import { expect } from "chai";
import { once } from "node:events";
import * as net from "node:net";
import * as tls from "node:tls";
import * as mlstls from "../../lib/index.js";
import { Cleanup, SERVED, TRUSTED, listen } from "../helpers/sockets.js";
import { chainOfSize, fixture } from "./chains.js";

/** Record headers seen in a byte stream: [type, length] per record. */
function recordsOf(bytes: Buffer): [number, number][] {
  const out: [number, number][] = [];
  for (let off = 0; off + 5 <= bytes.length; ) {
    const len = bytes.readUInt16BE(off + 3);
    out.push([bytes[off]!, len]);
    off += 5 + len;
  }
  return out;
}

describe("hostile: handshake messages larger than a record (finding 6)", function () {
  this.timeout(30_000);
  const cleanup = new Cleanup();

  for (const kib of [10, 15.5, 20, 40, 62]) {
    it(`a ${kib} KiB client chain: handshake, a ConnectionUpdate carrying it, byte-exact data; node:tls agrees`, async () => {
      const chain = chainOfSize(kib * 1024);
      const server = cleanup.server(
        mlstls.createServer({ ...SERVED, requestCert: true, ca: chain.ca }, (s) => s.pipe(s)),
      );
      const fromClient: Buffer[] = [];
      server.on("connection", (raw: net.Socket) => raw.on("data", (d: Buffer) => fromClient.push(d)));
      const port = await listen(server);
      const accepted = once(server, "secureConnection") as Promise<[mlstls.MlsTlsSocket]>;
      const client = cleanup.stream(
        mlstls.connect({ ...TRUSTED, host: "127.0.0.1", port, key: chain.key, cert: chain.cert }),
      );
      await once(client, "secureConnect");
      const [peer] = await accepted;
      expect(peer.authorized).to.equal(true);
      // A commit with a fresh leaf carries the whole credential again, now under encryption.
      await client.connectionUpdate();
      await peer.connectionUpdate();
      const payload = Buffer.alloc(70_000, 7);
      payload.write("end marker", payload.length - 10);
      const echoed: Buffer[] = [];
      client.on("data", (d: Buffer) => echoed.push(d));
      client.write(payload);
      while (Buffer.concat(echoed).length < payload.length) await once(client, "data");
      expect(Buffer.concat(echoed).equals(payload)).to.equal(true);
      // Every record the client sent fits the record limits, and the ClientHello really was split.
      const records = recordsOf(Buffer.concat(fromClient));
      for (const [type, len] of records) expect(len, `record type ${type}`).to.be.at.most(type === 23 ? 16384 + 256 : 16384);
      const plaintextHandshake = records.filter(([t]) => t === 22).length;
      // The ClientHello is the chain plus about 400 bytes: one record up to 16 KiB, then one more per 16 KiB.
      if (kib <= 10) expect(plaintextHandshake).to.equal(1);
      else expect(plaintextHandshake).to.equal(Math.ceil((chain.der + 400) / 16384));

      // node:tls with the same client chain (its server presents the p256 fixture).
      const nodeServer = cleanup.server(
        tls.createServer(
          { key: fixture("p256.key"), cert: fixture("p256-chain.pem"), requestCert: true, ca: chain.ca },
          (s) => s.end("ok"),
        ),
      );
      const nodePort = await listen(nodeServer);
      const nodeClient = cleanup.stream(
        tls.connect({ port: nodePort, host: "127.0.0.1", ca: chain.ca, servername: "localhost", key: chain.key, cert: chain.cert }),
      );
      await once(nodeClient, "secureConnect");
      expect(nodeClient.authorized).to.equal(true);
    });
  }

  it("a chain whose ClientHello would exceed the 64 KiB receive limit fails on our side with a stable code", async () => {
    const chain = chainOfSize(70 * 1024);
    const server = cleanup.server(mlstls.createServer({ ...SERVED, requestCert: true, ca: chain.ca }));
    const serverErrors: Error[] = [];
    server.on("tlsClientError", (e: Error) => serverErrors.push(e));
    const port = await listen(server);
    const client = cleanup.stream(mlstls.connect({ ...TRUSTED, host: "127.0.0.1", port, key: chain.key, cert: chain.cert }));
    const [err] = (await once(client, "error")) as [Error & { code?: string }];
    expect(err.code).to.equal("ERR_MLSTLS_HANDSHAKE_MESSAGE_TOO_LARGE");
  });
});
