// Re-key node's test fixtures: every certificate whose key mlstls cannot sign with (RSA; in ed25519 mode every
// key) gets a fresh key of the chosen type, and is re-issued by its (re-keyed) issuer with the same subject,
// issuer, serial, validity and extensions (SKI/AKI recomputed). Private key files that held the old key get the
// new key in the same container format and with the same passphrase ('password'). Uses the openssl CLI.
//
// usage: node rekey.mjs p256|ed25519 <srcFixturesDir> <outFixturesDir>
import { execFileSync } from "node:child_process";
import { X509Certificate, createPrivateKey, createPublicKey } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [mode, src, out] = process.argv.slice(2);
if (!["p256", "ed25519"].includes(mode)) throw new Error("mode p256|ed25519");
rmSync(out, { recursive: true, force: true });
cpSync(src, out, { recursive: true });
const DIRS = ["keys", "0-dns"].map((d) => join(out, d));
const work = mkdtempSync(join(tmpdir(), "rekey-"));
const openssl = (args, input) => { try { return execFileSync("openssl", args, { input, stdio: ["pipe", "pipe", "pipe"] }); } catch (e) { throw new Error(`openssl ${args.join(" ")}: ${e.stderr}`); } };
const PASS = "password";

const files = DIRS.flatMap((d) => readdirSync(d).map((f) => join(d, f))).filter((f) => statSync(f).isFile());
const text = new Map(files.map((f) => [f, readFileSync(f, "latin1")]));

// Certificates, by fingerprint.
const certs = new Map(); // fp -> { pem, x509, files: [] }
const CERT_RE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g;
for (const [f, t] of text) {
  for (const m of t.match(CERT_RE) ?? []) {
    let x;
    try { x = new X509Certificate(m); } catch { continue; }
    const fp = x.fingerprint256;
    if (!certs.has(fp)) certs.set(fp, { pem: m, x509: x, files: [] });
    certs.get(fp).files.push(f);
  }
}

// Private and public key files, by the SPKI DER of their public key.
const spki = (k) => (k.type === "public" ? k : createPublicKey(k)).export({ type: "spki", format: "der" }).toString("base64");
const keyFiles = []; // { file, kind: 'private'|'public', spki, format }
for (const [f, t] of text) {
  if (/-----BEGIN CERTIFICATE/.test(t) || !/-----BEGIN [A-Z ]*KEY-----/.test(t)) continue;
  let pub;
  let kind = "private";
  try {
    pub = spki(createPrivateKey({ key: t, passphrase: PASS }));
  } catch {
    try { pub = spki(createPublicKey(t)); kind = "public"; } catch { continue; }
  }
  const format = /BEGIN ENCRYPTED PRIVATE KEY/.test(t) ? "pkcs8-enc"
    : /Proc-Type: 4,ENCRYPTED/.test(t) ? "trad-enc"
    : /BEGIN (RSA|EC) PRIVATE KEY/.test(t) ? "trad"
    : /BEGIN PRIVATE KEY/.test(t) ? "pkcs8"
    : "spki";
  keyFiles.push({ file: f, kind, spki: pub, format });
}

const needsRekey = (x) => mode === "ed25519" ? x.publicKey.asymmetricKeyType !== "ed25519"
  : !(x.publicKey.asymmetricKeyType === "ec" && x.publicKey.asymmetricKeyDetails.namedCurve === "prime256v1");

// New key per old public key (so every file holding one key keeps holding one key).
const newKeys = new Map(); // old spki -> path of new private key (pkcs8, unencrypted)
function newKeyFor(oldSpki) {
  if (!newKeys.has(oldSpki)) {
    const p = join(work, `k${newKeys.size}.pem`);
    openssl(mode === "p256" ? ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", p]
      : ["genpkey", "-algorithm", "ed25519", "-out", p]);
    newKeys.set(oldSpki, p);
  }
  return newKeys.get(oldSpki);
}
// The signing key currently valid for an old public key: the new one, or the original file's.
function signingKeyFor(oldSpki) {
  if (newKeys.has(oldSpki)) return newKeys.get(oldSpki);
  const kf = keyFiles.find((k) => k.kind === "private" && k.spki === oldSpki);
  if (!kf) return null;
  const p = join(work, `orig-${Math.random().toString(36).slice(2)}.pem`);
  writeFileSync(p, createPrivateKey({ key: text.get(kf.file), passphrase: PASS }).export({ type: "pkcs8", format: "pem" }));
  return p;
}

// Issuer of each certificate (among the fixtures), and topological order.
const entries = [...certs.entries()];
for (const [, c] of entries) {
  c.spki = spki(c.x509.publicKey);
  c.issuer = null;
  for (const [fp2, c2] of entries) {
    try {
      if (c.x509.checkIssued(c2.x509) && c.x509.verify(c2.x509.publicKey)) { c.issuer = fp2; break; }
    } catch { /* unsupported */ }
  }
}
const done = new Map(); // old fp -> { pem, keyPath }
const DN_FIELDS = ["countryName", "stateOrProvinceName", "localityName", "organizationName", "organizationalUnitName",
  "commonName", "emailAddress", "serialNumber", "givenName", "surname", "title", "name", "initials", "pseudonym",
  "generationQualifier", "dnQualifier", "domainComponent", "streetAddress", "postalCode", "businessCategory"];
const stamp = (d) => new Date(d).toISOString().replace(/[-:T]/g, "").replace(/\.\d+Z$/, "Z").slice(0, 14) + "Z";
let unsigned = 0;

function process1(fp, depth = 0) {
  if (done.has(fp)) return done.get(fp);
  const c = certs.get(fp);
  const self = c.issuer === fp;
  let issuerRes = null;
  if (!self && c.issuer) issuerRes = process1(c.issuer, depth + 1);
  const rekey = needsRekey(c.x509);
  const issuerChanged = issuerRes !== null && issuerRes.changed;
  if (!rekey && !issuerChanged) {
    const r = { pem: c.pem, keyPath: signingKeyFor(c.spki), changed: false };
    done.set(fp, r);
    return r;
  }
  if (!self && !c.issuer) {
    // Issuer not among the fixtures (0-dns: "CN=ca.example.com"): a stand-in issuer with the same name, so the
    // issuer field stays; the tests that use such a certificate do not verify it.
    const sk = join(work, `standin-${unsigned}.key`);
    const sc = join(work, `standin-${unsigned}.pem`);
    unsigned++;
    openssl(mode === "p256" ? ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", sk]
      : ["genpkey", "-algorithm", "ed25519", "-out", sk]);
    openssl(["req", "-x509", "-new", "-key", sk, "-subj", "/" + c.x509.issuer.split("\n").join("/"), "-days", "36500", "-out", sc]);
    issuerRes = { pem: readFileSync(sc, "latin1"), keyPath: sk, changed: true };
  }
  const keyPath = rekey ? newKeyFor(c.spki) : signingKeyFor(c.spki);
  if (keyPath === null) throw new Error(`no key for ${c.files}`);
  const d = mkdtempSync(join(work, "ca-"));
  // A v1 certificate (no extensions) stays v1: OpenSSL treats a v1 self-signed root as a CA, a v3 one without
  // basicConstraints not.
  const issuerHasSki = !self && /Subject Key Identifier/.test(openssl(["x509", "-noout", "-text"], issuerRes.pem).toString());
  const v1 = /Version: 1 /.test(openssl(["x509", "-noout", "-text"], c.pem).toString());
  writeFileSync(join(d, "index.txt"), "");
  writeFileSync(join(d, "serial"), c.x509.serialNumber + "\n");
  writeFileSync(join(d, "ca.cnf"), [
    "[ca]", "default_ca = d", "[d]", `database = ${d}/index.txt`, `serial = ${d}/serial`, `new_certs_dir = ${d}`,
    "default_md = default", "policy = pol", "unique_subject = no", "copy_extensions = copy", "email_in_dn = yes",
    "preserve = yes", ...(v1 ? [] : ["x509_extensions = ext"]),
    "[pol]", ...DN_FIELDS.map((n) => `${n} = optional`),
    "[ext]", "subjectKeyIdentifier = hash", ...(self || !issuerHasSki ? [] : ["authorityKeyIdentifier = keyid"]), "",
  ].join("\n"));
  writeFileSync(join(d, "old.pem"), c.pem);
  openssl(["x509", "-x509toreq", "-in", join(d, "old.pem"), "-key", keyPath, "-copy_extensions", "copyall", "-out", join(d, "req.csr")]);
  const args = ["ca", "-batch", "-config", join(d, "ca.cnf"), "-in", join(d, "req.csr"), "-out", join(d, "new.pem"), "-notext",
    "-startdate", stamp(c.x509.validFrom), "-enddate", stamp(c.x509.validTo), "-utf8", "-multivalue-rdn"];
  if (self) args.push("-selfsign", "-keyfile", keyPath);
  else {
    writeFileSync(join(d, "issuer.pem"), issuerRes.pem);
    args.push("-cert", join(d, "issuer.pem"), "-keyfile", issuerRes.keyPath);
  }
  openssl(args);
  const pem = readFileSync(join(d, "new.pem"), "latin1").match(CERT_RE)[0];
  const nx = new X509Certificate(pem);
  if (nx.subject !== c.x509.subject || nx.issuer !== c.x509.issuer || nx.subjectAltName !== c.x509.subjectAltName
    || nx.serialNumber !== c.x509.serialNumber || nx.validTo !== c.x509.validTo || nx.ca !== c.x509.ca) {
    throw new Error(`re-issued certificate differs for ${c.files}:\n${nx.subject}\n${c.x509.subject}\n${nx.issuer}\n${c.x509.issuer}`);
  }
  const r = { pem, keyPath, changed: true };
  done.set(fp, r);
  return r;
}
for (const [fp] of entries) process1(fp);

// Rewrite certificate files block by block.
for (const [f, t] of text) {
  if (!/-----BEGIN CERTIFICATE-----/.test(t)) continue;
  const nt = t.replace(CERT_RE, (m) => {
    let fp;
    try { fp = new X509Certificate(m).fingerprint256; } catch { return m; }
    const r = done.get(fp);
    return r && r.changed ? r.pem + (m.endsWith("\n") ? "" : "") : m;
  });
  if (nt !== t) writeFileSync(f, nt, "latin1");
}
// Rewrite key files in their original container format.
let keyCount = 0;
for (const k of keyFiles) {
  const p = newKeys.get(k.spki);
  if (!p) continue;
  const key = createPrivateKey(readFileSync(p));
  const ed = key.asymmetricKeyType === "ed25519";
  let pem;
  if (k.kind === "public") pem = createPublicKey(key).export({ type: "spki", format: "pem" });
  else if (k.format === "pkcs8-enc" || (ed && k.format === "trad-enc")) pem = key.export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: PASS });
  else if (k.format === "trad-enc") pem = key.export({ type: "sec1", format: "pem", cipher: "aes-256-cbc", passphrase: PASS });
  else if (k.format === "trad" && !ed) pem = key.export({ type: "sec1", format: "pem" });
  else pem = key.export({ type: "pkcs8", format: "pem" });
  writeFileSync(k.file, pem);
  keyCount++;
}
rmSync(work, { recursive: true, force: true });
console.log(`${mode}: ${[...done.values()].filter((r) => r.changed).length} certificates re-issued, ${newKeys.size} new keys, ${keyCount} key files rewritten, ${unsigned} stand-in issuers`);
