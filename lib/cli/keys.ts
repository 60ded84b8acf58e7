// `mlstls keygen` and `mlstls fingerprint`.

import { readFileSync, writeFileSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import { Identity, createIdentity, parsePublicIdentity } from "../index.js";
import { CliError, type Io, UsageError, parse } from "./common.js";
import { fingerprint256Of, fingerprintOf, mlsPublicKeyOf, suiteById } from "./internals.js";

export const KEYGEN_HELP = `Usage: mlstls keygen [--type ed25519|p256|p384] [--name NAME] [--out FILE] [--public-out FILE]

Creates a pinned-key identity (a signature key pair with an MLS basic credential) and writes it as an
"MLSTLS IDENTITY" PEM: to FILE (mode 0600) with --out, else to stdout. The fingerprint, the string a peer
pins with --fingerprint (or the 'fingerprints' option), is printed on stdout with --out, on stderr without.

  --type        key type: ed25519 (MLS suites 1 and 3, default), p256 (suite 2), p384 (suite 7)
  --name        the credential's identity text (default: a random UUID)
  --out         write the private identity PEM here instead of stdout
  --public-out  also write the shareable "MLSTLS PUBLIC IDENTITY" PEM here
`;

export const FINGERPRINT_HELP = `Usage: mlstls fingerprint FILE

Prints the identity fingerprint ("SHA256:<base64>") of FILE on stdout, one line, the form --fingerprint and the
'fingerprints' option accept. FILE may hold an "MLSTLS IDENTITY" PEM (private), an "MLSTLS PUBLIC IDENTITY" PEM,
or an X.509 certificate chain in PEM (leaf first, as given to --cert): an X.509 peer's identity fingerprint covers
its whole chain and its key. Details (type, name, colon-hex form; a certificate's own SHA-256) go to stderr.
`;

const TYPES: Record<string, number> = { ed25519: 1, p256: 2, p384: 7 };

export function keygen(args: string[], io: Io): number {
  const { values } = parse(
    "keygen",
    args,
    {
      type: { type: "string" },
      name: { type: "string" },
      out: { type: "string", short: "o" },
      "public-out": { type: "string" },
    },
    false,
  );
  if (values.help) {
    io.stdout.write(KEYGEN_HELP);
    return 0;
  }
  const suite = TYPES[(values.type ?? "ed25519").toLowerCase()];
  if (suite === undefined) throw new UsageError(`--type must be ed25519, p256 or p384, got ${JSON.stringify(values.type)}`, "keygen");
  if (values.name !== undefined && values.name.length === 0) throw new UsageError("--name must not be empty", "keygen");
  const id = createIdentity({ suite, name: values.name });
  if (values.out !== undefined) {
    writeFileSync(values.out, id.toPem(), { mode: 0o600 });
    io.stdout.write(`${id.fingerprint}\n`);
    io.stderr.write(`wrote ${values.out}: ${describeSuite(suite)} identity ${JSON.stringify(id.name)}\n`);
  } else {
    io.stdout.write(id.toPem());
    io.stderr.write(`fingerprint: ${id.fingerprint}\n`);
  }
  if (values["public-out"] !== undefined) {
    writeFileSync(values["public-out"], id.publicPem());
    io.stderr.write(`wrote ${values["public-out"]} (public identity)\n`);
  }
  return 0;
}

/** The suite's signature algorithm, from the suite table: "Ed25519", "ECDSA P-256", "ML-DSA-87", ... */
function describeSuite(suite: number): string {
  return suiteById(suite)?.signature.label ?? `suite ${suite}`;
}

export function readInput(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new CliError(err.code ?? "ERR_MLSTLS_CLI_READ", `cannot read ${path}: ${err.message}`);
  }
}

export function fingerprint(args: string[], io: Io): number {
  const { values, positionals } = parse("fingerprint", args, {}, true);
  if (values.help) {
    io.stdout.write(FINGERPRINT_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? "missing FILE" : "expected exactly one FILE", "fingerprint");
  const text = readInput(positionals[0]!).toString("latin1");
  if (/-----BEGIN MLSTLS IDENTITY-----/.test(text)) {
    const id = wrapConfig(() => Identity.fromPem(text));
    io.stdout.write(`${id.fingerprint}\n`);
    io.stderr.write(`private identity, ${describeSuite(id.suite)}, name ${JSON.stringify(id.name)}, ${id.fingerprint256}\n`);
    return 0;
  }
  if (/-----BEGIN MLSTLS PUBLIC IDENTITY-----/.test(text)) {
    const id = wrapConfig(() => parsePublicIdentity(text));
    io.stdout.write(`${id.fingerprint}\n`);
    io.stderr.write(`public identity, ${describeSuite(id.suite)}, ${id.fingerprint256}\n`);
    return 0;
  }
  const certs = [...text.matchAll(/-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n\t ]+?)-----END CERTIFICATE-----/g)];
  if (certs.length > 0) {
    const chain = certs.map((m) => Buffer.from(m[1]!.replace(/\s+/g, ""), "base64"));
    let leaf: X509Certificate;
    try {
      leaf = new X509Certificate(chain[0]!);
    } catch (e) {
      throw new CliError("ERR_MLSTLS_CLI_BAD_INPUT", `${positionals[0]}: unparseable certificate: ${(e as Error).message}`);
    }
    const key = mlsPublicKeyOf(leaf);
    if (key === undefined) {
      throw new CliError("ERR_MLSTLS_UNSUPPORTED_KEY", `${positionals[0]}: the certificate's key (${leaf.publicKey.asymmetricKeyType}) cannot be an MLS signature key (Ed25519, P-256, P-384)`);
    }
    const peer = { credential: { type: "x509" as const, certificates: chain.map((c) => new Uint8Array(c)) }, signaturePublicKey: key };
    io.stdout.write(`${fingerprintOf(peer)}\n`);
    io.stderr.write(
      `X.509 chain of ${chain.length}, leaf subject ${leaf.subject.replace(/\n/g, ", ")}\n` +
        `identity fingerprint ${fingerprint256Of(peer)}\ncertificate SHA-256 ${leaf.fingerprint256}\n`,
    );
    return 0;
  }
  throw new CliError("ERR_MLSTLS_INVALID_IDENTITY_PEM", `${positionals[0]}: no MLSTLS IDENTITY, MLSTLS PUBLIC IDENTITY or CERTIFICATE PEM block found`);
}

function wrapConfig<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    const err = e as { code?: string; message?: string };
    throw new CliError(err.code ?? "ERR_MLSTLS_INVALID_IDENTITY_PEM", err.message ?? String(e));
  }
}
