// The `mlstls` command as a user's shell runs it: a child process of node with the compiled main.js.
// Exit codes (0 ok, 1 failure, 2 usage) and the stderr lines documented for scripts are part of the contract.

import { expect } from "chai";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Identity, parsePublicIdentity } from "../../lib/index.js";
import { killAll, run } from "./run.js";

describe("cli: mlstls", function () {
  this.timeout(20000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "mlstls-cli-"));
  });
  after(async () => {
    await killAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe("keygen and fingerprint", () => {
    it("round-trips: keygen --out prints the fingerprint that fingerprint reads back from the private and public PEM", async () => {
      const key = join(dir, "id.pem");
      const pub = join(dir, "id.pub.pem");
      const k = run(["keygen", "--type", "p256", "--name", "alice", "--out", key, "--public-out", pub]);
      expect(await k.exit, k.stderr()).to.equal(0);
      const fp = k.stdout().trim();
      expect(fp).to.match(/^SHA256:[A-Za-z0-9+/]{43}$/);
      expect(statSync(key).mode & 0o777).to.equal(0o600);
      const id = Identity.fromPem(readFileSync(key, "utf8"));
      expect(id.fingerprint).to.equal(fp);
      expect(id.suite).to.equal(2);
      expect(id.name).to.equal("alice");
      expect(parsePublicIdentity(readFileSync(pub, "utf8")).fingerprint).to.equal(fp);
      for (const r of [key, pub].map((f) => run(["fingerprint", f]))) {
        expect(await r.exit).to.equal(0);
        expect(r.stdout()).to.equal(`${fp}\n`);
      }
    });

    it("keygen without --out writes the PEM to stdout and the fingerprint to stderr", async () => {
      const k = run(["keygen", "--type", "ed25519"]);
      expect(await k.exit).to.equal(0);
      const id = Identity.fromPem(k.stdout());
      expect(k.stderr()).to.equal(`fingerprint: ${id.fingerprint}\n`);
    });

    it("fingerprints an X.509 certificate chain as pinning does, and fails with a code on other files", async () => {
      const cert = new URL("../../../test/fixtures/certs/ed25519-chain.pem", import.meta.url);
      const junk = join(dir, "junk.txt");
      writeFileSync(junk, "hello");
      const [r, bad, missing] = [cert.pathname, junk, join(dir, "nope.pem")].map((f) => run(["fingerprint", f]));
      expect(await r!.exit, r!.stderr()).to.equal(0);
      expect(r!.stdout()).to.match(/^SHA256:[A-Za-z0-9+/]{43}\n$/);
      expect(r!.stderr()).to.include("certificate SHA-256 ");
      expect(await bad!.exit).to.equal(1);
      expect(bad!.stderr()).to.match(/^mlstls: error ERR_MLSTLS_INVALID_IDENTITY_PEM: /);
      expect(await missing!.exit).to.equal(1);
      expect(missing!.stderr()).to.match(/^mlstls: error ENOENT: /);
    });
  });

  describe("s_server and s_client", () => {
    afterEach(killAll);
    async function startServer(extra: string[] = []): Promise<{ port: number; fp: string; server: ReturnType<typeof run> }> {
      const key = join(dir, "server.pem");
      const k = run(["keygen", "--name", "cli-test server", "--out", key]);
      expect(await k.exit).to.equal(0);
      const server = run(["s_server", "--port", "0", "--host", "127.0.0.1", "--identity", key, "--echo", ...extra], { stdin: "keep-open" });
      const m = await server.waitFor(/^listening: 127\.0\.0\.1:(\d+)$/m);
      return { port: Number(m[1]), fp: k.stdout().trim(), server };
    }

    it("echoes stdin over a pinned connection and reports suite, peer, verification and updates on stderr", async () => {
      const { port, fp, server } = await startServer(["--alpn", "echo"]);
      const client = run(["s_client", `127.0.0.1:${port}`, "--fingerprint", fp, "--alpn", "echo", "--update-every", "0.2", "--key-update-every", "0.3"], {
        stdin: "keep-open",
      });
      client.child.stdin!.write("hello over mls\n");
      await client.waitFor(/--- connectionUpdate: epoch 2, started by local \(this side\) ---/);
      await client.waitFor(/--- keyUpdate: send key updated, update requested from the other side, started by local/);
      // The answer must arrive before we close: a peer that reads close_notify with the request owes no answer.
      await client.waitFor(/--- keyUpdate: receive key updated, started by local \(the peer answered our request\) ---/);
      client.child.stdin!.end("second line\n");
      expect(await client.exit, client.stderr()).to.equal(0);
      expect(client.stdout()).to.equal("hello over mls\nsecond line\n");
      const err = client.stderr();
      expect(err).to.include(`--- connected: 127.0.0.1:${port} ---`);
      expect(err).to.include("mls suite: MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519");
      expect(err).to.include("record protection: TLS_AES_128_GCM_SHA256");
      expect(err).to.include('peer: basic credential "cli-test server"');
      expect(err).to.include(`peer fingerprint: ${fp}`);
      expect(err).to.include("verification: OK");
      expect(err).to.include("epoch: 1");
      expect(err).to.include("alpn: echo");
      expect(err).to.match(/keyUpdate: receive key updated, started by local \(the peer answered our request\)/);
      expect(err).to.match(/closed\n$/);

      // The server saw the same connection, and the client's updates as started by the peer.
      await server.waitFor(/\[1\] --- connectionUpdate: epoch 2, started by peer ---/);
      expect(server.stderr()).to.include("[1] --- connection 1 from 127.0.0.1:");
      expect(server.stderr()).to.include("[1] verification: none (peer not verified)");
      server.child.kill("SIGTERM");
      expect(await server.exit).to.equal(0);
    });

    it("exits 1 with the error code when the pinned fingerprint does not match", async () => {
      const { port, server } = await startServer();
      const wrong = (await (async () => {
        const k = run(["keygen"]);
        await k.exit;
        return /fingerprint: (\S+)/.exec(k.stderr())![1]!;
      })());
      const client = run(["s_client", `127.0.0.1:${port}`, "--fingerprint", wrong], { stdin: "data\n" });
      expect(await client.exit).to.equal(1);
      expect(client.stderr()).to.match(/^mlstls: error ERR_MLSTLS_FINGERPRINT_MISMATCH: peer identity SHA256:\S+ is not among the pinned fingerprints$/m);
      expect(client.stdout()).to.equal("");
      await server.waitFor(/handshake failed with 127\.0\.0\.1:\d+: error ERR_SSL_TLSV1_ALERT_ACCESS_DENIED/);
      server.child.kill("SIGTERM");
      expect(await server.exit).to.equal(0);
    });

    it("exits 1 with ECONNREFUSED when nothing listens", async () => {
      // A port that was just free: listen, note it, close.
      const net = await import("node:net");
      const srv = net.createServer().listen(0, "127.0.0.1");
      await new Promise((r) => srv.once("listening", r));
      const port = (srv.address() as import("node:net").AddressInfo).port;
      await new Promise((r) => srv.close(r));
      const client = run(["s_client", `127.0.0.1:${port}`, "--fingerprint", `SHA256:${"A".repeat(43)}`]);
      expect(await client.exit).to.equal(1);
      expect(client.stderr()).to.match(/^mlstls: error ECONNREFUSED: /m);
    });
  });

  describe("usage errors exit 2", () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /^Usage: mlstls <command>/],
      [["frobnicate"], /^mlstls: usage error: unknown command "frobnicate"$/m],
      [["s_client"], /^mlstls: usage error: missing host:port$/m],
      [["s_client", "localhost"], /^mlstls: usage error: expected host:port/m],
      [["s_client", "127.0.0.1:1", "--update-every", "soon"], /^mlstls: usage error: --update-every takes a number of seconds/m],
      [["s_client", "127.0.0.1:1", "--key", "k.pem"], /^mlstls: usage error: --key and --cert go together$/m],
      [["s_client", "127.0.0.1:1", "--bogus"], /^mlstls: usage error: Unknown option '--bogus'/m],
      [["s_server", "--port", "70000"], /^mlstls: usage error: --port takes 0\.\.65535/m],
      [["keygen", "--type", "rsa"], /^mlstls: usage error: --type must be ed25519, p256 or p384/m],
      [["fingerprint"], /^mlstls: usage error: missing FILE$/m],
      [["decode", "a.pcap", "--port", "x"], /^mlstls: usage error: --port takes 0\.\.65535/m],
    ];
    // Started together (each is a node start-up), checked one by one.
    let runs: ReturnType<typeof run>[];
    let helps: ReturnType<typeof run>[];
    const helpCommands = ["s_client", "s_server", "keygen", "fingerprint", "decode", "bench"];
    before(() => {
      runs = cases.map(([args]) => run(args));
      helps = helpCommands.map((cmd) => run([cmd, "--help"]));
    });
    cases.forEach(([args, re], i) => {
      it(`mlstls ${args.join(" ") || "(no arguments)"}`, async () => {
        const r = runs[i]!;
        expect(await r.exit).to.equal(2);
        expect(r.stderr()).to.match(re);
        expect(r.stdout()).to.equal("");
      });
    });

    it("--help for every command goes to stdout with exit 0", async () => {
      for (const [i, cmd] of helpCommands.entries()) {
        const r = helps[i]!;
        expect(await r.exit).to.equal(0);
        expect(r.stdout()).to.match(new RegExp(`^Usage: mlstls ${cmd}`));
      }
    });
  });
});
