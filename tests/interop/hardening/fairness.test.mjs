// Fair sharing between bearer tokens on one instance (issue 14, part 3), against the real server
// (satwarden_testserver = satwarden + the test-only `test_slow` tool, which waits like a payment does), over raw
// HTTP and the official SDK client on 127.0.0.1:
//  - one token at its session cap (max_sessions_per_token) gets 429 with what to do; another token still opens
//    sessions and calls tools;
//  - one token starts 100 slow calls at once: its share runs (token_calls_in_flight), the rest are refused at once
//    with RATE_LIMITED (nothing paid); meanwhile another token's `ping` is answered within 50 ms and its tool calls
//    run; slow calls never hold the HTTP workers (they run on the worker pool);
//  - calls per minute: over the limit → RATE_LIMITED with retry_after_s; the other token unaffected.
// Every wait is bounded.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import http from 'node:http';
import { Cleanups, startHttp } from '../world/satwarden.mjs';

const SERVER = process.env.SW_TESTSERVER ?? '/work/main/build/tests/interop/mcp/satwarden_testserver';
const VECTORS = process.env.SW_VECTORS_DIR ?? new URL('../../vectors', import.meta.url).pathname;
const INVOICE = JSON.parse(readFileSync(join(VECTORS, 'bolt11.json'), 'utf8')).valid[1].invoice;
const TOKENS = ['fair-token-aaaaaaaaaaaaaaaa', 'fair-token-bbbbbbbbbbbbbbbb'];
const cleanups = new Cleanups();
after(() => cleanups.run());

async function startServer(extraEnv = {}) {
  const dataHome = cleanups.tempDir('sw-fair-');
  return startHttp(SERVER, { cleanups, env: { HOME: dataHome, SATWARDEN_TOOLS: 'all', XDG_DATA_HOME: dataHome, SATWARDEN_TOKENS: TOKENS.join(','), ...extraEnv } });
}

// A keep-alive HTTP client for one token: post(body, sid?) → {status, headers, json, ms}.
function clientFor(port, token) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  cleanups.add(async () => agent.destroy());
  const post = (body, sid) => new Promise((resolve, reject) => {
    const t0 = performance.now();
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
      authorization: `Bearer ${token}`, host: `127.0.0.1:${port}` };
    if (sid) headers['mcp-session-id'] = sid;
    if (sid) headers['mcp-protocol-version'] = '2025-11-25';
    const req = http.request({ host: '127.0.0.1', port, path: '/mcp', method: 'POST', agent, headers, timeout: 20_000 }, (res) => {
      let data = '';
      res.on('data', (d) => { data += d; });
      res.on('end', () => {
        let json = null;
        try { json = JSON.parse(data); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, json, text: data, ms: performance.now() - t0 });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
  return {
    post,
    async session() {
      const r = await post({ jsonrpc: '2.0', id: 0, method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'fair', version: '1' } } });
      if (r.status !== 200) return { status: r.status, r };
      const sid = r.headers['mcp-session-id'];
      const n = await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, sid);
      assert.equal(n.status, 202);
      return { status: 200, sid };
    },
  };
}

const callTool = (id, name, args) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });
const errorCode = (r) => (r.json?.result?.isError ? JSON.parse(r.json.result.content[0].text).error.code : null);

test('one token at its session cap: 429 with what to do; another token is unaffected', async () => {
  const srv = await startServer({ SATWARDEN_MAX_SESSIONS_PER_TOKEN: '5' });
  const a = clientFor(srv.port, TOKENS[0]);
  const b = clientFor(srv.port, TOKENS[1]);
  const mine = [];
  for (let i = 0; i < 5; i++) {
    const s = await a.session();
    assert.equal(s.status, 200);
    mine.push(s.sid);
  }
  const over = await a.session();
  assert.equal(over.status, 429);
  assert.match(over.r.json.error.message, /max_sessions_per_token/);
  assert.ok(over.r.headers['retry-after']);
  for (let i = 0; i < 5; i++) {
    const s = await b.session();
    assert.equal(s.status, 200, 'the other token still opens sessions');
    const r = await b.post(callTool(1, 'decode_invoice', { invoice: INVOICE }), s.sid);
    assert.equal(r.status, 200);
    assert.ok(r.json.result.structuredContent, 'and calls tools');
  }
  // Ending one session frees a slot for the first token.
  const del = await new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: srv.port, path: '/mcp', method: 'DELETE',
      headers: { authorization: `Bearer ${TOKENS[0]}`, 'mcp-session-id': mine[0] } }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.on('error', reject);
    req.end();
  });
  assert.equal(del, 200);
  assert.equal((await a.session()).status, 200);
});

test('100 slow calls from one token: its share runs, the rest are refused at once; another token\'s ping within 50 ms', async () => {
  const srv = await startServer({ SATWARDEN_TOKEN_CALLS_IN_FLIGHT: '8', SATWARDEN_HTTP_THREADS: '8' });
  const a = clientFor(srv.port, TOKENS[0]);
  const b = clientFor(srv.port, TOKENS[1]);
  const sa = await a.session();
  const sb = await b.session();
  // 100 slow calls at once (2 s each), each on its own connection. With 8 HTTP workers, slow calls that held
  // workers would starve everyone; they run on the worker pool instead.
  const slow = [];
  for (let i = 0; i < 100; i++) slow.push(a.post(callTool(100 + i, 'test_slow', { ms: 2000 }), sa.sid));
  await new Promise((r) => setTimeout(r, 300));  // the calls are in
  const pings = [];
  for (let i = 0; i < 20; i++) {
    const r = await b.post({ jsonrpc: '2.0', id: 1000 + i, method: 'ping' }, sb.sid);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.result, {});
    pings.push(r.ms);
  }
  pings.sort((x, y) => x - y);
  assert.ok(pings[pings.length - 1] < 50, `another token's ping answered within 50 ms (slowest ${pings[pings.length - 1].toFixed(1)} ms)`);
  const quick = await b.post(callTool(2000, 'decode_invoice', { invoice: INVOICE }), sb.sid);
  assert.ok(quick.ms < 200, `another token's tool call runs meanwhile (${quick.ms.toFixed(1)} ms)`);
  assert.ok(quick.json.result.structuredContent);
  const theirOwn = await b.post(callTool(2001, 'test_slow', { ms: 50 }), sb.sid);
  assert.equal(errorCode(theirOwn), null, 'the other token\'s slow call is not refused');

  const results = await Promise.all(slow);
  const done = results.filter((r) => r.json?.result && !r.json.result.isError).length;
  const limited = results.filter((r) => errorCode(r) === 'RATE_LIMITED');
  assert.equal(done + limited.length, 100, 'every call answered: done or RATE_LIMITED');
  assert.equal(done, 8, 'exactly the token\'s share ran');
  const e = JSON.parse(limited[0].json.result.content[0].text).error;
  assert.match(e.message, /nothing was paid/);
  assert.ok(e.details.retry_after_s >= 1);
  // Refused at once, not after waiting for a slot.
  assert.ok(Math.min(...limited.map((r) => r.ms)) < 1000);
});

test('calls per minute: over the limit → RATE_LIMITED with retry_after_s; the other token is unaffected', async () => {
  const srv = await startServer({ SATWARDEN_TOKEN_CALLS_PER_MINUTE: '10' });
  const a = clientFor(srv.port, TOKENS[0]);
  const b = clientFor(srv.port, TOKENS[1]);
  const sa = await a.session();
  const sb = await b.session();
  for (let i = 0; i < 10; i++) {
    const r = await a.post(callTool(i, 'decode_invoice', { invoice: INVOICE }), sa.sid);
    assert.equal(errorCode(r), null);
  }
  const over = await a.post(callTool(11, 'decode_invoice', { invoice: INVOICE }), sa.sid);
  assert.equal(errorCode(over), 'RATE_LIMITED');
  const e = JSON.parse(over.json.result.content[0].text).error;
  assert.ok(e.details.retry_after_s >= 1 && e.details.retry_after_s <= 61, JSON.stringify(e));
  assert.match(e.message, /call again in \d+ s/);
  // ping is not a tool call: still answered.
  const ping = await a.post({ jsonrpc: '2.0', id: 12, method: 'ping' }, sa.sid);
  assert.deepEqual(ping.json.result, {});
  const other = await b.post(callTool(13, 'decode_invoice', { invoice: INVOICE }), sb.sid);
  assert.equal(errorCode(other), null);
});
