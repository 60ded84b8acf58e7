// Data flow and transports, as node's own tls tests check them. The behaviours come from these files of Node.js
// v20.11.1 (test/parallel/; MIT license, Node.js contributors): test-tls-starttls-server, test-tls-interleave,
// test-tls-invoke-queued, test-tls-reuse-host-from-socket, test-tls-generic-stream (its transport half; the rest
// inspects node's native handle). The code is ours; each scenario runs with node:tls and with mlstls.

import { expect } from "chai";
import * as net from "node:net";
import { Duplex } from "node:stream";
import { Cleanup } from "../helpers/sockets.js";
import { IMPLS, agent, listenLocal, next, nodeFixture, readAll, type AnySocket } from "./helpers.js";

/** Two Duplex streams wired back to back: what one writes, the other reads. */
function duplexPair(): [Duplex, Duplex] {
  const make = (): Duplex & { other?: Duplex } => new Duplex({
    read() {},
    write(chunk, _enc, cb) {
      (this as Duplex & { other: Duplex }).other.push(chunk);
      cb();
    },
    final(cb) {
      (this as Duplex & { other: Duplex }).other.push(null);
      cb();
    },
  });
  const a = make();
  const b = make();
  a.other = b;
  b.other = a;
  return [a, b];
}

describe("node-compat: data and transports", () => {
  const cleanup = new Cleanup();

  describe("test-tls-starttls-server", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: a server-mode TLSSocket on an accepted TCP socket asks SNICallback and emits 'secure'`, async () => {
        const names: string[] = [];
        const secure = new Promise<void>((resolve) => {
          const server = cleanup.server(net.createServer((s) => {
            const t = cleanup.stream(new impl.TLSSocket(s, {
              isServer: true,
              server,
              secureContext: impl.createSecureContext(agent("agent1")),
              SNICallback: (name: string, cb: (err: Error | null, ctx: unknown) => void) => {
                names.push(name);
                cb(null, null);
              },
            }));
            t.on("secure", () => {
              t.end();
              resolve();
            });
          }));
          void listenLocal(server).then((port) => {
            const c = cleanup.stream(impl.connect({ ...impl.client, port, host: "127.0.0.1", servername: "test.test", rejectUnauthorized: false }));
            c.on("secureConnect", () => c.end());
            c.on("error", () => {});
          });
        });
        await secure;
        expect(names).to.deep.equal(["test.test"]);
      });
    }
  });

  describe("test-tls-interleave", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: separate server writes arrive in order while the client writes too`, async () => {
        const writes = ["some server data", "and a separate packet", "and one more"];
        const server = cleanup.server(impl.createServer({ key: nodeFixture("rsa_private.pem"), cert: nodeFixture("rsa_cert.crt") }, (s) => {
          s.resume();
          for (const w of writes) s.write(w);
        }));
        const port = await listenLocal(server);
        const c = cleanup.stream(impl.connect({ ...impl.client, port, host: "127.0.0.1", rejectUnauthorized: false }));
        await next(c, "secureConnect");
        c.write("some client data");
        let got = "";
        await new Promise<void>((resolve) => {
          c.on("data", (d: Buffer) => {
            got += d.toString();
            if (got.length >= writes.join("").length) resolve();
          });
        });
        expect(got).to.equal(writes.join(""));
      });
    }
  });

  describe("test-tls-invoke-queued", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: writes queued from a write callback all arrive, and every callback runs, before destroy`, async () => {
        const callbacks: string[] = [];
        const server = cleanup.server(impl.createServer(agent("agent1"), (s) => {
          s.write("hello ", () => {
            callbacks.push("hello");
            s.write("world!", () => {
              callbacks.push("world");
              s.destroy();
            });
            s.write(" gosh", () => callbacks.push("gosh"));
          });
        }));
        const port = await listenLocal(server);
        const c = cleanup.stream(impl.connect({ ...impl.client, port, host: "127.0.0.1", rejectUnauthorized: false }));
        c.on("error", () => {});
        expect(await readAll(c)).to.equal("hello world! gosh");
        expect(callbacks.slice(0, 2)).to.deep.equal(["hello", "world"]);
      });
    }
  });

  describe("test-tls-reuse-host-from-socket", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: connect({ socket }) over an already connected TCP socket, with no host or port`, async () => {
        const server = cleanup.server(impl.createServer(agent("agent1")));
        const port = await listenLocal(server);
        const raw = cleanup.stream(net.connect(port, "127.0.0.1"));
        await next(raw, "connect");
        const c = cleanup.stream(impl.connect({ ...impl.client, socket: raw, rejectUnauthorized: false }));
        await next(c, "secureConnect");
        expect(c.encrypted).to.equal(true);
      });
    }
  });

  describe("test-tls-generic-stream", () => {
    for (const impl of IMPLS) {
      it(`${impl.name}: client and server TLSSockets over an in-memory Duplex pair exchange data both ways`, async () => {
        const [clientSide, serverSide] = duplexPair();
        const server = cleanup.stream(new impl.TLSSocket(serverSide, { isServer: true, ...agent("agent1") })) as AnySocket;
        const client = cleanup.stream(impl.connect({ ...impl.client, socket: clientSide, rejectUnauthorized: false }));
        server.on("data", (d: Buffer) => server.end(`echo:${d.toString()}`));
        await next(client, "secureConnect");
        client.write("ping");
        expect(await readAll(client)).to.equal("echo:ping");
      });
    }
  });
});
