// node:tls parity of the authentication options: which `ca` verifies a client after SNI, how leniently `ca` is
// parsed, how a server completes its chain, SNI contexts without an identity, issuerCertificate links, and a
// `cert` without `key`. Each scenario runs with node:tls and with mlstls (helpers.ts, IMPLS) and expects the same
// outcome; node:tls is the contract. Facts from Node.js v20 (test-tls-sni-option, test-tls-sni-server-client,
// test-tls-invalid-key, test-x509-escaping; MIT license, Node.js contributors); the code is ours.

import { expect } from "chai";
import type * as net from "node:net";
import { Cleanup } from "../helpers/sockets.js";
import { IMPLS, agent, listenLocal, next, nodeFixture, type AnySocket } from "./helpers.js";

describe("node-compat: authentication parity", () => {
  const cleanup = new Cleanup();

  /** One client of `impl` against `server`; resolves with the server's socket once both sides are secure. */
  async function serverSide(
    impl: (typeof IMPLS)[number],
    server: net.Server,
    clientOptions: Record<string, unknown>,
  ): Promise<{ client: AnySocket; accepted: AnySocket }> {
    const port = await listenLocal(server);
    const accepted = next<[AnySocket]>(server, "secureConnection");
    const client = cleanup.stream(impl.connect({ ...impl.client, port, host: "127.0.0.1", rejectUnauthorized: false, ...clientOptions }));
    await next(client, "secureConnect");
    const [s] = await accepted;
    return { client, accepted: s };
  }

  describe("client certificates after SNI", () => {
    for (const impl of IMPLS) {
      for (const [sniCa, clientAgent, authorized] of [
        ["ca2", "agent5", true],
        ["ca2", "agent1", false],
        ["none", "agent1", false],
      ] as const) {
        it(`${impl.name}: the SNI context's ca (${sniCa}) decides on a client certificate of ${clientAgent}: authorized ${authorized}`, async () => {
          // The default context trusts ca1; the context for "agent3" trusts ca2, or nothing but the root store.
          const server = cleanup.server(impl.createServer(
            { ...agent("agent1"), ca: nodeFixture("ca1-cert.pem"), requestCert: true, rejectUnauthorized: false },
            (s) => s.end(),
          ));
          server.addContext!("agent3", { ...agent("agent3"), ...(sniCa === "ca2" ? { ca: nodeFixture("ca2-cert.pem") } : {}) });
          const { accepted } = await serverSide(impl, server, { ...agent(clientAgent), servername: "agent3" });
          expect(accepted.authorized).to.equal(authorized);
          if (!authorized) expect(accepted.authorizationError).to.equal("UNABLE_TO_VERIFY_LEAF_SIGNATURE");
        });
      }
    }
  });
});
