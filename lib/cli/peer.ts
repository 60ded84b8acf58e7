// `mlstls s_client` and `mlstls s_server`: openssl's s_client/s_server for MLS-TLS. Data goes through stdin and
// stdout untouched; everything the tool has to say goes to stderr, as stable `key: value` lines (README
// "Command line").

import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import {
  connect,
  createIdentity,
  createServer,
  Identity,
  type ConnectOptions,
  type ConnectionUpdateEvent,
  type KeyUpdateEvent,
  type MlsTlsSocket,
  type ServerOptions,
} from "../index.js";
import { CliError, EXIT_FAILURE, EXIT_OK, type Io, UsageError, alpnList, errorLine, hostPort, parse, port, seconds } from "./common.js";
import { readInput } from "./keys.js";

export const S_CLIENT_HELP = `Usage: mlstls s_client HOST:PORT [options]

Connects with MLS-TLS, then copies stdin to the connection and the connection to stdout, like openssl s_client.
At EOF on stdin the client sends close_notify and waits for the server to close. Status goes to stderr:
the MLS suite, the record protection, the peer's identity, the verification result, the epoch, and a block for
every update (with who started it).

  --servername NAME      server name sent to the server (SNI) and checked in its certificate (default: HOST
                         unless it is an IP address)
  --ca FILE              trust anchors (PEM) for an X.509 server (default: node's root certificates)
  --fingerprint FP       pin the server's identity fingerprint (repeatable; "SHA256:..." or hex)
  --insecure             connect even if verification fails, and report the failure (rejectUnauthorized: false)
  --key FILE --cert FILE our X.509 key and certificate chain (PEM), for servers that request one
  --identity FILE        our pinned-key identity ("MLSTLS IDENTITY" PEM, from mlstls keygen)
  --alpn a,b             ALPN protocols to offer, in order
  --ciphersuites LIST    MLS suites (names or ids, colon-separated); the client offers the first (default: the
                         one its key implies, else 1). Needed to reach a P-256 (2) or P-384 (7) server
  --update-every SEC     call connectionUpdate() every SEC seconds (decimals allowed)
  --key-update-every SEC call keyUpdate({ requestPeer: true }) every SEC seconds (decimals allowed)
  --session FILE         resume the session stored in FILE if it exists; store every new session there (the file
                         holds private keys: it is written with mode 0600)
  --keylog FILE          append NSS key log lines (PROTOCOL.md "Key log") to FILE, for mlstls decode --keylog
  --quiet                print only errors on stderr

Exit status: 0 the connection closed cleanly, 1 connection, handshake or verification failure (the line
"mlstls: error <CODE>: <message>" names it), 2 usage error.
`;

export const S_SERVER_HELP = `Usage: mlstls s_server [options]

Accepts MLS-TLS connections. Received data goes to stdout and stdin goes to every open connection, like openssl
s_server; with --echo each connection gets its own data back instead. Status goes to stderr: "listening:
HOST:PORT" once ready, then for each connection its suite, record protection, peer, verification result, epoch
and every update (with who started it). Stop it with SIGINT or SIGTERM (exit 0).

  --port N               port (default 4433; 0 picks a free one, see the "listening:" line)
  --host H               address to listen on (default: all addresses, as node)
  --key FILE --cert FILE X.509 key and certificate chain (PEM)
  --identity FILE        pinned-key identity ("MLSTLS IDENTITY" PEM); without any of these an ephemeral Ed25519
                         identity is made and its fingerprint printed
  --ca FILE              trust anchors (PEM) for client certificates (with --request-cert)
  --request-cert         ask for and verify a client certificate (X.509)
  --fingerprint FP       accept only clients with this identity fingerprint (repeatable)
  --alpn a,b             ALPN protocols the server accepts, in preference order
  --ciphersuites LIST    MLS suites accepted (names or ids, colon-separated; default: all the key can sign for)
  --echo                 send each connection's data back to it
  --update-every SEC     call connectionUpdate() on every connection every SEC seconds
  --key-update-every SEC call keyUpdate({ requestPeer: true }) on every connection every SEC seconds
  --keylog FILE          append NSS key log lines of every connection to FILE
  --quiet                print only "listening:" and errors on stderr

Exit status: 0 after SIGINT/SIGTERM, 1 the server could not start (e.g. EADDRINUSE), 2 usage error.
`;

function readPem(file: string | undefined): Buffer | undefined {
  return file === undefined ? undefined : readInput(file);
}

function fmtSubject(s: unknown): string {
  if (s === null || typeof s !== "object") return String(s ?? "");
  return Object.entries(s as Record<string, unknown>)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join("+") : String(v)}`)
    .join(", ");
}

/** The status lines of a secure socket, shared by both commands. */
export function statusLines(s: MlsTlsSocket): string[] {
  const c = s.getCipher();
  const lines = [
    `protocol: ${s.getProtocol()}`,
    `mls suite: ${c?.name ?? "-"}`,
    `record protection: ${c?.standardName ?? "-"}`,
    `epoch: ${s.epoch}`,
  ];
  const peer = s.getPeerCertificate();
  if (peer.credentialType === "basic") {
    lines.push(`peer: basic credential ${JSON.stringify(peer.identity)}`, `peer san: -`, `peer fingerprint: ${String(peer.fingerprint)}`);
  } else if (peer.subject !== undefined) {
    lines.push(
      `peer: x509 subject ${fmtSubject(peer.subject)}`,
      `peer san: ${typeof peer.subjectaltname === "string" ? peer.subjectaltname : "-"}`,
      `peer issuer: ${fmtSubject(peer.issuer)}`,
      `peer fingerprint: ${String(peer.fingerprint256)} (certificate SHA-256)`,
    );
  } else {
    lines.push("peer: none (not verified)");
  }
  lines.push(
    s.authorized
      ? "verification: OK"
      : s.authorizationError
        ? `verification: FAILED ${String((s.authorizationError as { code?: string }).code ?? s.authorizationError)}`
        : "verification: none (peer not verified)",
  );
  lines.push(`alpn: ${s.alpnProtocol || "-"}`, `session reused: ${s.isSessionReused() ? "yes" : "no"}`);
  return lines;
}

/** The lines repeated at every update: what may have changed (epoch, keys, the peer's credential) and the verdict. */
function updateLines(s: MlsTlsSocket): string[] {
  return statusLines(s).filter((l) => !/^(protocol|alpn|session reused):/.test(l));
}

/** Prints update blocks for one socket; returns a function that stops its timers. */
function watchUpdates(
  s: MlsTlsSocket,
  print: (lines: string[]) => void,
  prefix: string,
  opts: { updateEvery?: number; keyUpdateEvery?: number; onError: (e: unknown) => void },
): () => void {
  // KeyUpdate events do not say whether they answer a request; the order does (RFC 8446 §4.6.3).
  let peerAsked = false;
  let weAsked = false;
  s.on("connectionUpdate", (e: ConnectionUpdateEvent) => {
    const who = e.initiatedBy === "local" ? "local (this side)" : "peer";
    print([`${prefix}--- connectionUpdate: epoch ${e.epoch}, started by ${who} ---`, ...updateLines(s).map((l) => prefix + l)]);
  });
  s.on("keyUpdate", (e: KeyUpdateEvent) => {
    let who: string;
    if (e.direction === "receive") {
      who = !e.requested && weAsked ? "local (the peer answered our request)" : "peer";
      if (!e.requested) weAsked = false;
      peerAsked = e.requested;
    } else if (!e.requested && peerAsked) {
      who = "peer (we answered its request)";
      peerAsked = false;
    } else {
      who = e.automatic ? "local (automatic)" : "local (this side)";
      if (e.requested) weAsked = true;
    }
    const what = `${e.direction} key updated${e.requested ? ", update requested from the other side" : ""}`;
    print([`${prefix}--- keyUpdate: ${what}, started by ${who} ---`, ...updateLines(s).map((l) => prefix + l)]);
  });
  const timers: NodeJS.Timeout[] = [];
  if (opts.updateEvery !== undefined) {
    timers.push(setInterval(() => void s.connectionUpdate().catch(opts.onError), opts.updateEvery * 1000));
  }
  if (opts.keyUpdateEvery !== undefined) {
    timers.push(setInterval(() => void s.keyUpdate({ requestPeer: true }).catch(opts.onError), opts.keyUpdateEvery * 1000));
  }
  return () => timers.forEach(clearInterval);
}

function keylogTo(file: string | undefined): ((line: Buffer) => void) | undefined {
  if (file === undefined) return undefined;
  return (line: Buffer) => appendFileSync(file, line, { mode: 0o600 });
}

export function sClient(args: string[], io: Io, stdin: NodeJS.ReadableStream): Promise<number> | number {
  const { values, positionals } = parse(
    "s_client",
    args,
    {
      servername: { type: "string" },
      ca: { type: "string" },
      fingerprint: { type: "string", multiple: true },
      insecure: { type: "boolean" },
      key: { type: "string" },
      cert: { type: "string" },
      identity: { type: "string" },
      alpn: { type: "string" },
      ciphersuites: { type: "string" },
      "update-every": { type: "string" },
      "key-update-every": { type: "string" },
      session: { type: "string" },
      keylog: { type: "string" },
      quiet: { type: "boolean", short: "q" },
    },
    true,
  );
  if (values.help) {
    io.stdout.write(S_CLIENT_HELP);
    return EXIT_OK;
  }
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])}`, "s_client");
  const { host, port: p } = hostPort("s_client", positionals[0]);
  if ((values.key === undefined) !== (values.cert === undefined)) throw new UsageError("--key and --cert go together", "s_client");
  if (values.identity !== undefined && values.key !== undefined) throw new UsageError("--identity and --key/--cert exclude each other", "s_client");
  if (values.ca !== undefined && values.fingerprint !== undefined) throw new UsageError("--ca and --fingerprint exclude each other", "s_client");
  const updateEvery = seconds("s_client", "update-every", values["update-every"]);
  const keyUpdateEvery = seconds("s_client", "key-update-every", values["key-update-every"]);
  const quiet = values.quiet === true;
  const print = (lines: string[]) => {
    if (!quiet) io.stderr.write(lines.map((l) => l + "\n").join(""));
  };

  const opts: ConnectOptions = {
    host,
    port: p,
    ALPNProtocols: alpnList(values.alpn),
    rejectUnauthorized: values.insecure !== true,
  };
  if (values.servername !== undefined) opts.servername = values.servername;
  if (values.ciphersuites !== undefined) opts.ciphersuites = values.ciphersuites;
  if (values.ca !== undefined) opts.ca = readPem(values.ca);
  if (values.fingerprint !== undefined) opts.fingerprints = values.fingerprint;
  if (values.key !== undefined) {
    opts.key = readPem(values.key);
    opts.cert = readPem(values.cert);
  }
  if (values.identity !== undefined) opts.identity = readPem(values.identity)!.toString("latin1");
  const sessionFile = values.session;
  if (sessionFile !== undefined) {
    if (existsSync(sessionFile)) opts.session = readFileSync(sessionFile);
    opts.saveSession = (buf: Buffer) => writeFileSync(sessionFile, buf, { mode: 0o600 });
  }

  return new Promise<number>((resolve) => {
    let failed: unknown;
    let stop = (): void => undefined;
    let finished = false;
    const finish = (code: number) => {
      if (finished) return;
      finished = true;
      stop();
      stdin.unpipe?.();
      (stdin as NodeJS.ReadableStream & { pause?: () => void }).pause?.();
      resolve(code);
    };
    let socket: MlsTlsSocket;
    try {
      socket = connect(opts);
    } catch (e) {
      // Configuration errors (a bad key file, an unsupported key type, a malformed fingerprint).
      throw new CliError((e as { code?: string }).code ?? "ERR_MLSTLS_CLI_CONFIG", (e as Error).message);
    }
    const log = keylogTo(values.keylog);
    if (log !== undefined) socket.on("keylog", log);
    print([`connecting: ${host}:${p}`]);
    socket.on("secureConnect", () => {
      print([`--- connected: ${socket.remoteAddress}:${socket.remotePort} ---`, ...statusLines(socket), "---"]);
      stop = watchUpdates(socket, print, "", {
        updateEvery,
        keyUpdateEvery,
        onError: (e) => {
          if ((e as { code?: string }).code !== "ERR_MLSTLS_CLOSED") io.stderr.write(errorLine(e) + "\n");
        },
      });
    });
    socket.on("data", (d: Buffer) => io.stdout.write(d));
    socket.on("error", (e) => {
      failed ??= e;
    });
    socket.on("close", () => {
      if (failed !== undefined) {
        io.stderr.write(errorLine(failed) + "\n");
        finish(EXIT_FAILURE);
      } else {
        print(["closed"]);
        finish(EXIT_OK);
      }
    });
    stdin.pipe(socket);
  });
}

export function sServer(args: string[], io: Io, stdin: NodeJS.ReadableStream, signals: NodeJS.EventEmitter): Promise<number> | number {
  const { values, positionals } = parse(
    "s_server",
    args,
    {
      port: { type: "string", short: "p" },
      host: { type: "string" },
      key: { type: "string" },
      cert: { type: "string" },
      identity: { type: "string" },
      ca: { type: "string" },
      "request-cert": { type: "boolean" },
      fingerprint: { type: "string", multiple: true },
      alpn: { type: "string" },
      ciphersuites: { type: "string" },
      echo: { type: "boolean" },
      "update-every": { type: "string" },
      "key-update-every": { type: "string" },
      keylog: { type: "string" },
      quiet: { type: "boolean", short: "q" },
    },
    false,
  );
  if (values.help) {
    io.stdout.write(S_SERVER_HELP);
    return EXIT_OK;
  }
  void positionals;
  const listenPort = port("s_server", values.port, 4433);
  if ((values.key === undefined) !== (values.cert === undefined)) throw new UsageError("--key and --cert go together", "s_server");
  if (values.identity !== undefined && values.key !== undefined) throw new UsageError("--identity and --key/--cert exclude each other", "s_server");
  const updateEvery = seconds("s_server", "update-every", values["update-every"]);
  const keyUpdateEvery = seconds("s_server", "key-update-every", values["key-update-every"]);
  const quiet = values.quiet === true;
  const print = (lines: string[]) => {
    if (!quiet) io.stderr.write(lines.map((l) => l + "\n").join(""));
  };

  const opts: ServerOptions = { ALPNProtocols: alpnList(values.alpn) };
  let identityNote: string;
  if (values.key !== undefined) {
    opts.key = readPem(values.key);
    opts.cert = readPem(values.cert);
    identityNote = `identity: x509 from ${values.cert}`;
  } else {
    const pem = values.identity !== undefined ? readPem(values.identity)!.toString("latin1") : undefined;
    const id = pem !== undefined ? wrap(() => Identity.fromPem(pem)) : createIdentity({ name: "mlstls s_server" });
    opts.identity = id;
    identityNote = `identity: ${pem !== undefined ? "" : "ephemeral "}basic ${JSON.stringify(id.name)} fingerprint ${id.fingerprint}`;
  }
  if (values.ca !== undefined) opts.ca = readPem(values.ca);
  if (values.ciphersuites !== undefined) opts.ciphersuites = values.ciphersuites;
  if (values["request-cert"]) opts.requestCert = true;
  if (values.fingerprint !== undefined) opts.fingerprints = values.fingerprint;

  const sockets = new Set<MlsTlsSocket>();
  let n = 0;
  let server: ReturnType<typeof createServer>;
  try {
    server = createServer(opts, (s) => {
      const id = ++n;
      const prefix = `[${id}] `;
      sockets.add(s);
      print([`${prefix}--- connection ${id} from ${s.remoteAddress}:${s.remotePort} ---`, ...statusLines(s).map((l) => prefix + l), `${prefix}---`]);
      const stop = watchUpdates(s, print, prefix, {
        updateEvery,
        keyUpdateEvery,
        onError: (e) => {
          if ((e as { code?: string }).code !== "ERR_MLSTLS_CLOSED") io.stderr.write(prefix + errorLine(e) + "\n");
        },
      });
      if (values.echo) s.pipe(s);
      else s.on("data", (d: Buffer) => io.stdout.write(d));
      let err: unknown;
      s.on("error", (e) => {
        err = e;
      });
      s.on("close", () => {
        stop();
        sockets.delete(s);
        if (err !== undefined && (err as { code?: string }).code !== "ERR_MLSTLS_TRUNCATED") io.stderr.write(prefix + errorLine(err) + "\n");
        print([`${prefix}closed${err !== undefined ? ` (${String((err as { code?: string }).code ?? "error")})` : ""}`]);
      });
    });
  } catch (e) {
    throw new CliError((e as { code?: string }).code ?? "ERR_MLSTLS_CLI_CONFIG", (e as Error).message);
  }
  const log = keylogTo(values.keylog);
  if (log !== undefined) server.on("keylog", (line: Buffer) => log(line));
  server.on("tlsClientError", (e: unknown, s: { remoteAddress?: string; remotePort?: number }) => {
    io.stderr.write(`handshake failed with ${s?.remoteAddress ?? "?"}:${s?.remotePort ?? "?"}: ${errorLine(e).replace(/^mlstls: /, "")}\n`);
  });
  if (!values.echo) {
    stdin.on("data", (d: Buffer) => {
      for (const s of sockets) s.write(d);
    });
  }

  return new Promise<number>((resolve) => {
    const stop = () => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve(EXIT_OK));
      (stdin as NodeJS.ReadableStream & { pause?: () => void }).pause?.();
    };
    signals.once("SIGINT", stop);
    signals.once("SIGTERM", stop);
    server.on("error", (e) => {
      io.stderr.write(errorLine(e) + "\n");
      resolve(EXIT_FAILURE);
    });
    server.listen(listenPort, values.host, () => {
      const a = server.address();
      const where = typeof a === "object" && a !== null ? `${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}` : String(a);
      io.stderr.write(`listening: ${where}\n`);
      print([identityNote]);
    });
  });
}

function wrap<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw new CliError((e as { code?: string }).code ?? "ERR_MLSTLS_INVALID_IDENTITY_PEM", (e as Error).message);
  }
}
