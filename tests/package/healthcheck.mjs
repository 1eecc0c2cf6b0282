// package.docker_healthcheck: scripts/docker-healthcheck.sh, the image's HEALTHCHECK, decides by transport.
// stdio (env unset, no flag) is healthy without a listener; HTTP (by env, by --transport http, by --http) is healthy
// only while GET /healthz answers 200 on the port it was given — checked against a real satwarden (SW_SERVER) on a
// free 127.0.0.1 port, then again after it stopped (must fail). Every wait is bounded.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SCRIPT = path.resolve(HERE, '..', '..', 'scripts', 'docker-healthcheck.sh');
const SERVER = process.env.SW_SERVER;
assert.ok(SERVER && fs.existsSync(SERVER), 'SW_SERVER names a built satwarden');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-healthcheck-'));
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));

function check(args, env = {}) {
  const f = path.join(work, 'cmdline');
  fs.writeFileSync(f, ['/usr/local/bin/satwarden', ...args].map((a) => `${a}\0`).join(''));
  const r = spawnSync('bash', [SCRIPT], { env: { PATH: '/usr/bin:/bin', SW_HEALTH_CMDLINE: f, ...env }, timeout: 10000 });
  return r.status;
}
const freePort = () => new Promise((resolve, reject) => {
  const s = net.createServer();
  s.once('error', reject);
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

const port = await freePort();
assert.equal(check([]), 0, 'stdio by default: healthy without a listener');
assert.equal(check(['--transport', 'stdio'], { SATWARDEN_TRANSPORT: 'http', SATWARDEN_PORT: String(port) }), 0, 'the flag beats the env');
assert.notEqual(check(['--transport', 'http', '--port', String(port)]), 0, 'HTTP with nothing listening is unhealthy');
assert.notEqual(check([], { SATWARDEN_TRANSPORT: 'http', SATWARDEN_PORT: String(port) }), 0, 'HTTP by env, nothing listening');

const home = path.join(work, 'home');
fs.mkdirSync(home);
const proc = spawn(SERVER, ['--transport', 'http', '--port', String(port)], {
  env: { PATH: '/usr/bin:/bin', HOME: home, XDG_DATA_HOME: home }, stdio: ['ignore', 'ignore', 'pipe'],
});
let err = '';
proc.stderr.on('data', (d) => { if (err.length < 20000) err += d; });
try {
  let ok = false;
  for (let i = 0; i < 50 && !ok; i++) {
    ok = check(['--transport', 'http', '--port', String(port)]) === 0;
    if (!ok) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(ok, `healthy once the HTTP server listens (stderr: ${err})`);
  assert.equal(check(['--http', `--port=${port}`]), 0, '--http and --port=N are understood');
  assert.equal(check([], { SATWARDEN_TRANSPORT: 'http', SATWARDEN_PORT: String(port) }), 0, 'HTTP by env');
} finally {
  proc.kill('SIGTERM');
}
let timer;
await Promise.race([new Promise((r) => proc.on('exit', r)), new Promise((r) => { timer = setTimeout(r, 35000); })]);
clearTimeout(timer);
assert.notEqual(check(['--transport', 'http', '--port', String(port)]), 0, 'unhealthy after the server stopped');
console.log('package.docker_healthcheck: ok');
