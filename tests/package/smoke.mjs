// package.smoke: the released tarball works on its own. It is checked against its .sha256, unpacked into a fresh
// directory under the system temp dir (outside the source and build trees), its binary is checked to need nothing
// but glibc (ldd), and then run from yet another directory with a minimal environment (no LD_LIBRARY_PATH, no
// SATWARDEN_HTTP_MODULE, HOME in a temp dir): MCP over stdio — initialize, tools/list, a decode_invoice call checked
// against the BOLT 11 vector — and the HTTP transport, which the release links in, answering GET /healthz.
//
// Env: SW_DIST_DIR (dist/), SW_VERSION, SW_VECTORS_DIR. Without the tarball (scripts/package.sh not run) the test
// exits 77, which ctest reports as skipped. Every wait is bounded.
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const DIST = process.env.SW_DIST_DIR;
const VERSION = process.env.SW_VERSION;
const VECTORS = process.env.SW_VECTORS_DIR;
assert.ok(DIST && VERSION && VECTORS, 'SW_DIST_DIR, SW_VERSION and SW_VECTORS_DIR are set by ctest');
const NAME = `satwarden-${VERSION}-linux-x86_64`;
const TARBALL = path.join(DIST, `${NAME}.tar.gz`);
if (!fs.existsSync(TARBALL)) {
  console.log(`SKIP: ${TARBALL} does not exist; run scripts/package.sh first (CI does, in .ci/run)`);
  process.exit(77);
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-package-smoke-'));
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));

// 1. The checksum file matches the tarball.
const [want, file] = fs.readFileSync(`${TARBALL}.sha256`, 'utf8').trim().split(/\s+/);
assert.equal(file, `${NAME}.tar.gz`, 'the .sha256 names the tarball');
assert.equal(crypto.createHash('sha256').update(fs.readFileSync(TARBALL)).digest('hex'), want, 'sha256 matches');

// 2. Unpack; exactly one top directory with the binary and the documents.
const unpack = path.join(work, 'unpacked');
fs.mkdirSync(unpack);
execFileSync('tar', ['-xzf', TARBALL, '-C', unpack], { timeout: 30000 });
assert.deepEqual(fs.readdirSync(unpack), [NAME]);
const BIN = path.join(unpack, NAME, 'bin', 'satwarden');
for (const f of ['README.md', 'LICENSE', 'SECURITY.md']) assert.ok(fs.existsSync(path.join(unpack, NAME, f)), f);
assert.ok(fs.statSync(BIN).mode & 0o111, 'the binary is executable');

// 3. Only glibc's own libraries are needed.
const GLIBC = /^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|\/lib64\/ld-linux-x86-64\.so\.2)$/;
const ldd = execFileSync('ldd', [BIN], { encoding: 'utf8', timeout: 10000 });
const libs = ldd.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter(Boolean);
assert.ok(libs.includes('libc.so.6'), `ldd lists libc: ${ldd}`);
for (const lib of libs) assert.match(lib, GLIBC, `the packaged binary needs ${lib}, which is not glibc:\n${ldd}`);

// A minimal environment: nothing from the build (no LD_LIBRARY_PATH, no module override), HOME and data in temp.
const runDir = path.join(work, 'elsewhere');
const home = path.join(work, 'home');
fs.mkdirSync(runDir);
fs.mkdirSync(home);
const ENV = { PATH: '/usr/bin:/bin', HOME: home, XDG_DATA_HOME: path.join(home, 'data'), XDG_CONFIG_HOME: path.join(home, 'config') };

const out = execFileSync(BIN, ['--version'], { cwd: runDir, env: ENV, encoding: 'utf8', timeout: 5000 });
assert.equal(out.trim().split(/\s+/).pop(), VERSION, `--version says ${out.trim()}`);

function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([
    promise.finally(() => clearTimeout(t)),
    new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`timed out after ${ms} ms: ${what}`)), ms); }),
  ]);
}

// 4. stdio: newline-delimited JSON-RPC.
const bolt11 = JSON.parse(fs.readFileSync(path.join(VECTORS, 'bolt11.json'), 'utf8'));
const VECTOR = bolt11.valid.find((v) => v.expected.description === '1 cup coffee');
assert.ok(VECTOR, 'the 1-cup-coffee vector is in bolt11.json');

const proc = spawn(BIN, [], { cwd: runDir, env: ENV, stdio: ['pipe', 'pipe', 'pipe'] });
let stderr = '';
proc.stderr.on('data', (d) => { if (stderr.length < 20000) stderr += d; });
const waiting = new Map();
let buf = '';
proc.stdout.on('data', (d) => {
  buf += d;
  for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
    const line = buf.slice(0, nl);
    buf = buf.slice(nl + 1);
    if (!line.trim()) continue;
    const msg = JSON.parse(line);  // stdout must carry JSON-RPC only
    if (msg.id !== undefined && waiting.has(msg.id)) {
      waiting.get(msg.id)(msg);
      waiting.delete(msg.id);
    }
  }
});
let nextId = 1;
function request(method, params) {
  const id = nextId++;
  const p = new Promise((resolve) => waiting.set(id, resolve));
  proc.stdin.write(JSON.stringify({ jsonrpc: '2.0', id, method, params }) + '\n');
  return withTimeout(p, 5000, method);
}

const names = [];
try {
  const init = await request('initialize', {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'satwarden-package-smoke', version: '1' },
  });
  assert.equal(init.result?.serverInfo?.name, 'satwarden', JSON.stringify(init));
  assert.equal(init.result.serverInfo.version, VERSION);
  proc.stdin.write(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) + '\n');

  let cursor;
  for (let page = 0; page < 20; page++) {
    const list = await request('tools/list', cursor ? { cursor } : {});
    assert.ok(Array.isArray(list.result?.tools), JSON.stringify(list));
    names.push(...list.result.tools.map((t) => t.name));
    cursor = list.result.nextCursor;
    if (!cursor) break;
  }
  assert.ok(names.includes('decode_invoice'), `decode_invoice is listed (got ${names.join(', ')})`);

  const call = await request('tools/call', { name: 'decode_invoice', arguments: { invoice: VECTOR.invoice } });
  assert.notEqual(call.result?.isError, true, JSON.stringify(call));
  const sc = call.result.structuredContent;
  assert.equal(sc.amount_msat, VECTOR.expected.amount_msat);
  assert.equal(sc.payment_hash, VECTOR.expected.payment_hash);
  assert.equal(sc.description, '1 cup coffee');
  assert.equal(sc.payee, VECTOR.expected.payee_pubkey);
  assert.equal(sc.expires_at, VECTOR.expected.timestamp + 60);
} catch (e) {
  console.error(`server stderr:\n${stderr}`);
  throw e;
} finally {
  proc.stdin.end();
}
const code = await withTimeout(new Promise((r) => proc.on('exit', (c, s) => r(c ?? s))), 10000, 'stdio server exit');
assert.equal(code, 0, `the stdio server exits 0 at end of input (stderr: ${stderr})`);

// 5. The wallet path: libwebsockets (and OpenSSL) are linked in, not loaded. With a wallet connection pointing at a
// minimal WebSocket listener on 127.0.0.1, the server must complete the handshake and send its first Nostr
// message (a JSON array) — enough to show the relay pool runs from the tarball alone.
function masked(buf) {  // one client frame (always masked): {opcode, payload} or null if incomplete
  if (buf.length < 2) return null;
  let len = buf[1] & 0x7f;
  let off = 2;
  if (len === 126) { if (buf.length < 4) return null; len = buf.readUInt16BE(2); off = 4; }
  else if (len === 127) { if (buf.length < 10) return null; len = Number(buf.readBigUInt64BE(2)); off = 10; }
  if (!(buf[1] & 0x80) || buf.length < off + 4 + len) return null;
  const mask = buf.subarray(off, off + 4);
  const payload = Buffer.from(buf.subarray(off + 4, off + 4 + len));
  for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i % 4];
  return { opcode: buf[0] & 0x0f, payload };
}
const relay = http.createServer((_, res) => { res.writeHead(426); res.end(); });
const firstMessage = new Promise((resolve) => {
  relay.on('upgrade', (req, socket) => {
    const accept = crypto.createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    let rx = Buffer.alloc(0);
    socket.on('data', (d) => {
      rx = Buffer.concat([rx, d]);
      const f = masked(rx);
      if (f && f.opcode === 1) resolve(f.payload.toString('utf8'));
    });
    socket.on('error', () => {});
  });
});
await new Promise((r) => relay.listen(0, '127.0.0.1', r));
const relayUrl = `ws://127.0.0.1:${relay.address().port}`;
// An x-only key from the BOLT 11 vector's payee and a fixed client secret: no wallet answers, none is needed.
const nwc = `nostr+walletconnect://${VECTOR.expected.payee_pubkey.slice(2)}?relay=${encodeURIComponent(relayUrl)}&secret=${'11'.repeat(32)}`;
const walletProc = spawn(BIN, [], { cwd: runDir, env: { ...ENV, NWC_URL: nwc }, stdio: ['pipe', 'ignore', 'pipe'] });
let walletErr = '';
walletProc.stderr.on('data', (d) => { if (walletErr.length < 20000) walletErr += d; });
try {
  walletProc.stdin.write(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {
    protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'satwarden-package-smoke', version: '1' } } }) + '\n');
  walletProc.stdin.write(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) + '\n');
  walletProc.stdin.write(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'get_balance', arguments: {} } }) + '\n');
  const text = await withTimeout(firstMessage, 10000, `the server's first relay message (stderr: ${walletErr})`);
  assert.ok(Array.isArray(JSON.parse(text)), `a Nostr message is a JSON array: ${text.slice(0, 200)}`);
} finally {
  walletProc.kill('SIGKILL');
  relay.closeAllConnections?.();
  relay.close();
}

// 6. HTTP: linked into the release binary (which names no build tree); /healthz on a free loopback port.
assert.ok(!fs.readFileSync(BIN).includes('src/app/libsatwarden_http.so'), 'the binary names no build-tree HTTP module');
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}
function get(port, p) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}
const port = await freePort();
const web = spawn(BIN, ['--transport', 'http', '--port', String(port)], { cwd: runDir, env: ENV, stdio: ['ignore', 'ignore', 'pipe'] });
let webErr = '';
web.stderr.on('data', (d) => { if (webErr.length < 20000) webErr += d; });
try {
  let res;
  for (let i = 0; i < 50 && !res; i++) {  // up to ~5 s for the listener
    res = await get(port, '/healthz').catch(() => null);
    if (!res) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(res, `GET /healthz answered (stderr: ${webErr})`);
  assert.equal(res.status, 200, res.body);
} finally {
  web.kill('SIGTERM');
}
await withTimeout(new Promise((r) => web.on('exit', r)), 35000, 'http server exit');
console.log(`package.smoke: ${NAME} ok (stdio: ${names.length} tools, decode_invoice; http: /healthz)`);
