// package.mcpb / package.server_json: the release metadata as scripts/package.sh renders it.
//   node validate.mjs mcpb         manifest.json passes the official `mcpb validate` (@anthropic-ai/mcpb, pinned in
//                                  package.json); a manifest broken on purpose must fail it (the check can fail);
//                                  every environment variable it sets is one satwarden knows (`satwarden --help`)
//   node validate.mjs server-json  server.json validates against the registry's schema (server.schema.2025-12-11.json,
//                                  see README.md here) with ajv; broken copies must not
// With dist/ from scripts/package.sh present, the manifest inside the .mcpb and dist/server.json are checked too
// (the bundle's hash in server.json must match the .mcpb). Env: SW_SERVER (a built satwarden, for --help).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const DIST = process.env.SW_DIST_DIR ?? path.join(ROOT, 'dist');
const mode = process.argv[2];
assert.ok(mode === 'mcpb' || mode === 'server-json', 'usage: node validate.mjs mcpb|server-json');

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-package-validate-'));
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));
execFileSync(path.join(ROOT, 'scripts', 'package.sh'), ['--render', work], { stdio: 'inherit', timeout: 30000 });
const version = /^project\(satwarden VERSION ([0-9.]+)/m.exec(fs.readFileSync(path.join(ROOT, 'CMakeLists.txt'), 'utf8'))[1];

function mcpbValidate(file) {
  const r = spawnSync(process.execPath, [path.join(HERE, 'node_modules', '@anthropic-ai', 'mcpb', 'dist', 'cli', 'cli.js'), 'validate', file],
    { encoding: 'utf8', timeout: 60000 });
  return { ok: r.status === 0, text: `${r.stdout}${r.stderr}` };
}

if (mode === 'mcpb') {
  const file = path.join(work, 'manifest.json');
  const manifest = JSON.parse(fs.readFileSync(file, 'utf8'));
  const r = mcpbValidate(file);
  assert.ok(r.ok, `mcpb validate rejected the manifest:\n${r.text}`);
  console.log(r.text.trim());
  assert.equal(manifest.manifest_version, '0.3');
  assert.equal(manifest.version, version);
  assert.equal(manifest.server.type, 'binary');
  assert.deepEqual(manifest.compatibility.platforms, ['linux']);
  assert.equal(manifest.user_config.nwc_url.sensitive, true, 'the wallet connection is marked sensitive');

  // Every ${user_config.X} exists, every user_config entry is used, every variable is satwarden's.
  const env = manifest.server.mcp_config.env;
  const used = new Set();
  for (const v of Object.values(env)) for (const m of v.matchAll(/\$\{user_config\.([a-z_]+)\}/g)) used.add(m[1]);
  assert.deepEqual([...used].sort(), Object.keys(manifest.user_config).sort(), 'user_config and env refer to each other');
  const server = process.env.SW_SERVER;
  assert.ok(server && fs.existsSync(server), 'SW_SERVER names a built satwarden');
  const help = execFileSync(server, ['--help'], { encoding: 'utf8', timeout: 5000 });
  for (const name of Object.keys(env)) assert.match(help, new RegExp(`\\b${name}\\b`), `satwarden --help knows ${name}`);

  // The check can fail: an unknown manifest version and a user_config entry without its title must be refused.
  for (const [what, broken] of [
    ['manifest_version 9.9', { ...manifest, manifest_version: '9.9' }],
    ['user_config without title', { ...manifest, user_config: { ...manifest.user_config, nwc_url: { type: 'string', description: 'x' } } }],
  ]) {
    const f = path.join(work, 'broken.json');
    fs.writeFileSync(f, JSON.stringify(broken));
    assert.equal(mcpbValidate(f).ok, false, `mcpb validate accepted a manifest with ${what}`);
  }

  // The shipped bundle, when scripts/package.sh has run: its manifest is this one, its binary is under server/.
  const bundle = path.join(DIST, `satwarden-${version}.mcpb`);
  if (fs.existsSync(bundle)) {
    const inside = execFileSync('unzip', ['-p', bundle, 'manifest.json'], { encoding: 'utf8', timeout: 10000 });
    assert.deepEqual(JSON.parse(inside), manifest, 'the .mcpb carries the rendered manifest');
    const listing = execFileSync('unzip', ['-Z1', bundle], { encoding: 'utf8', timeout: 10000 }).split('\n');
    assert.ok(listing.includes(manifest.server.entry_point), `the bundle holds ${manifest.server.entry_point}`);
    const f = path.join(work, 'bundled-manifest.json');
    fs.writeFileSync(f, inside);
    assert.ok(mcpbValidate(f).ok, 'mcpb validate accepts the bundled manifest');
    console.log(`checked ${bundle} too`);
  }
} else {
  const schema = JSON.parse(fs.readFileSync(path.join(HERE, 'server.schema.2025-12-11.json'), 'utf8'));
  const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false })  // the schema's anyOf-of-required idiom;
  addFormats(ajv);
  const validate = ajv.compile(schema);
  const check = (doc, what) => {
    const ok = validate(doc);
    assert.ok(ok, `${what} violates the registry schema: ${JSON.stringify(validate.errors, null, 1)}`);
  };
  const doc = JSON.parse(fs.readFileSync(path.join(work, 'server.json'), 'utf8'));
  check(doc, 'server.json');
  assert.equal(doc.$schema, schema.$id, 'server.json names the schema it is checked against');
  assert.equal(doc.version, version);
  assert.deepEqual(doc.packages.map((p) => p.registryType).sort(), ['mcpb', 'oci']);
  const auth = doc.remotes[0].headers.find((h) => h.name === 'Authorization');
  assert.ok(auth && auth.isRequired && auth.isSecret, 'the HTTP remote asks for the bearer token as a required secret');
  const nwc = doc.packages.find((p) => p.registryType === 'oci').environmentVariables.find((e) => e.name === 'NWC_URL');
  assert.ok(nwc && nwc.isSecret, 'NWC_URL is a secret input');

  // The check can fail: a description over 100 characters, a two-slash name and an mcpb without a valid hash.
  const mcpbIdx = doc.packages.findIndex((p) => p.registryType === 'mcpb');
  for (const [what, broken] of [
    ['a 101-character description', { ...doc, description: 'x'.repeat(101) }],
    ['a name with two slashes', { ...doc, name: 'io.github.a/b/c' }],
    ['an mcpb hash that is not hex', { ...doc, packages: doc.packages.map((p, i) => (i === mcpbIdx ? { ...p, fileSha256: 'nothex' } : p)) }],
  ]) assert.equal(validate(broken), false, `the schema accepted ${what}`);

  const shipped = path.join(DIST, 'server.json');
  const bundle = path.join(DIST, `satwarden-${version}.mcpb`);
  if (fs.existsSync(shipped) && fs.existsSync(bundle)) {
    const d = JSON.parse(fs.readFileSync(shipped, 'utf8'));
    check(d, 'dist/server.json');
    const sha = crypto.createHash('sha256').update(fs.readFileSync(bundle)).digest('hex');
    assert.equal(d.packages.find((p) => p.registryType === 'mcpb').fileSha256, sha, 'dist/server.json has the bundle hash');
    console.log(`checked ${shipped} too`);
  }
}
console.log(`package ${mode}: ok`);
