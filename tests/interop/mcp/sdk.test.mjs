// Interop: satwarden's MCP server driven by the official TypeScript SDK client (@modelcontextprotocol/sdk 1.32.2)
// over stdio, Streamable HTTP and the legacy HTTP+SSE transport, plus raw HTTP / raw stdio probes of the
// transport rules the SDK does not exercise.
//
// Env: SW_TESTSERVER = satwarden_testserver (the real server + the test-only `test_slow` tool),
//      SW_SERVER = satwarden (for its --version), SW_VECTORS_DIR = tests/vectors (defaults to ../vectors).
// Run from tests/interop: node --test mcp/sdk.test.mjs. Every wait is bounded.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { McpError, EmptyResultSchema } from '@modelcontextprotocol/sdk/types.js';
import Ajv from 'ajv';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const TESTSERVER = process.env.SW_TESTSERVER;
const SERVER = process.env.SW_SERVER;
const VECTORS = process.env.SW_VECTORS_DIR ?? path.join(HERE, '..', '..', 'vectors');
if (!TESTSERVER || !fs.existsSync(TESTSERVER)) throw new Error('SW_TESTSERVER must name the satwarden_testserver binary');

const bolt11 = JSON.parse(fs.readFileSync(path.join(VECTORS, 'bolt11.json'), 'utf8'));
// "Please send $3 for a cup of coffee to the same peer, within one minute" (BOLT 11 example).
const VECTOR = bolt11.valid.find((v) => v.expected.description === '1 cup coffee');
assert.ok(VECTOR, 'the 1-cup-coffee vector is in tests/vectors/bolt11.json');

const EXPECTED_VERSION = SERVER ? execFileSync(SERVER, ['--version'], { encoding: 'utf8', timeout: 5000 }).trim().split(/\s+/).pop() : null;

// ------------------------------------------------------------------------------------------------ helpers

const DATA_HOME = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-mcp-it-'));
process.on('exit', () => fs.rmSync(DATA_HOME, { recursive: true, force: true }));

function serverEnv(extra = {}) {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: DATA_HOME, SATWARDEN_TOOLS: 'all', XDG_DATA_HOME: DATA_HOME, ...extra };
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A free loopback port: the config refuses --port 0, so ask the kernel for one, release it and pass it on.
// (A tiny race with other processes remains; startHttpServer retries on a bind failure.)
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

// Starts `--transport http` on a free port and waits for the start-up log line on stderr.
async function startHttpServer(args = [], env = {}) {
  let lastErr;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startHttpServerOnce(await freePort(), args, env);
    } catch (e) {
      lastErr = e;
      if (!/HTTP_BIND_FAILED|cannot bind/.test(String(e.message))) throw e;
    }
  }
  throw lastErr;
}

async function startHttpServerOnce(port, args, env) {
  const proc = spawn(TESTSERVER, ['--transport', 'http', '--port', String(port), '--log-level', 'info', ...args], {
    env: serverEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  proc.stdout.on('data', (d) => (stdout += d));
  await withTimeout(
    new Promise((resolve, reject) => {
      proc.stderr.on('data', (d) => {
        stderr += d;
        const m = /serving MCP on http:\/\/127\.0\.0\.1:(\d+)\/mcp/.exec(stderr);
        if (m) {
          assert.equal(Number(m[1]), port, 'the server listens on the port it was given');
          resolve();
        }
      });
      proc.on('exit', (code) => reject(new Error(`server exited (${code}) before listening: ${stderr}`)));
    }),
    5000,
    'HTTP server start',
  ).catch((e) => {
    proc.kill('SIGKILL');
    throw e;
  });
  return {
    proc,
    port,
    base: `http://127.0.0.1:${port}`,
    get stdout() {
      return stdout;
    },
    // SIGTERM, then SIGKILL after a short grace: idle keep-alive connections held by this process's fetch pool
    // can delay a graceful exit (see the 'HTTP shutdown' test, which checks that separately).
    async stop() {
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await withTimeout(exited, 1500, 'HTTP server exit').catch(async () => {
        proc.kill('SIGKILL');
        await withTimeout(exited, 2000, 'HTTP server kill').catch(() => {});
      });
    },
  };
}

// Wraps an SDK transport and records every message in both directions (the SDK does not expose the raw
// initialize result, nor whether a response arrived for a cancelled request).
class Tap {
  constructor(inner) {
    this.inner = inner;
    this.received = [];
    this.sent = [];
  }
  async start() {
    this.inner.onmessage = (m, extra) => {
      this.received.push({ at: Date.now(), msg: m });
      this.onmessage?.(m, extra);
    };
    this.inner.onerror = (e) => this.onerror?.(e);
    this.inner.onclose = () => this.onclose?.();
    return this.inner.start();
  }
  send(m, opts) {
    this.sent.push({ at: Date.now(), msg: m });
    return this.inner.send(m, opts);
  }
  close() {
    return this.inner.close();
  }
  setProtocolVersion(v) {
    this.inner.setProtocolVersion?.(v);
  }
  get sessionId() {
    return this.inner.sessionId;
  }
  initializeResult() {
    const req = this.sent.find((e) => e.msg.method === 'initialize');
    assert.ok(req, 'initialize was sent');
    const res = this.received.find((e) => e.msg.id === req.msg.id);
    assert.ok(res, 'initialize was answered');
    return res.msg.result;
  }
  responsesTo(id) {
    return this.received.filter((e) => e.msg.id === id && ('result' in e.msg || 'error' in e.msg));
  }
}

// The tool error payload: content[0].text is {"error":{"code","message","details"?}}.
function toolError(result) {
  assert.equal(result.isError, true, `expected isError, got ${JSON.stringify(result)}`);
  assert.ok(Array.isArray(result.content) && result.content[0]?.type === 'text', 'error has a text block');
  const body = JSON.parse(result.content[0].text);
  assert.ok(body.error && typeof body.error.code === 'string', `error body has a code: ${result.content[0].text}`);
  return body.error;
}

function makeAjv(schema) {
  const is2020 = typeof schema.$schema === 'string' && schema.$schema.includes('2020-12');
  const ajv = is2020 ? new Ajv2020({ strict: false, allErrors: true }) : new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  return ajv;
}

// ------------------------------------------------------------------------------------------------ SDK suites

const TRANSPORTS = {
  stdio: async () => {
    const t = new StdioClientTransport({
      command: TESTSERVER,
      args: ['--transport', 'stdio', '--log-level', 'warning'],
      env: serverEnv(),
      stderr: 'pipe',
    });
    return { transport: t, stop: async () => {} };
  },
  'streamable-http': async () => {
    const srv = await startHttpServer();
    return { transport: new StreamableHTTPClientTransport(new URL(`${srv.base}/mcp`)), stop: () => srv.stop() };
  },
  'legacy-sse': async () => {
    const srv = await startHttpServer();
    return { transport: new SSEClientTransport(new URL(`${srv.base}/sse`)), stop: () => srv.stop() };
  },
};

for (const [kind, make] of Object.entries(TRANSPORTS)) {
  describe(`SDK client over ${kind}`, { timeout: 30000 }, () => {
    let client;
    let tap;
    let stop;
    let tools;

    before(async () => {
      const made = await make();
      stop = made.stop;
      tap = new Tap(made.transport);
      client = new Client({ name: 'satwarden-interop', version: '1.0.0' }, { capabilities: {} });
      await withTimeout(client.connect(tap), 5000, 'connect');
    });

    after(async () => {
      await withTimeout(client.close(), 5000, 'close').catch(() => {});
      await stop();
    });

    it('initialize: serverInfo, protocolVersion, capabilities, instructions', () => {
      const info = client.getServerVersion();
      assert.equal(info.name, 'satwarden');
      assert.equal(typeof info.version, 'string');
      if (EXPECTED_VERSION) assert.equal(info.version, EXPECTED_VERSION);
      assert.match(info.title ?? '', /^satwarden\b.+/, 'serverInfo.title is sent on 2025-06-18+');
      const init = tap.initializeResult();
      assert.equal(init.protocolVersion, '2025-11-25');
      const caps = client.getServerCapabilities();
      assert.ok(caps.tools, 'tools capability');
      assert.ok(caps.logging, 'logging capability');
      const instr = client.getInstructions();
      assert.equal(typeof instr, 'string');
      assert.match(instr, /budget/);
      assert.match(instr, /decode_invoice/, 'instructions mention decode_invoice when it is registered');
    });

    it('tools/list: decode_invoice with schemas and annotations; test_slow', async () => {
      const res = await withTimeout(client.listTools(), 3000, 'listTools');
      tools = Object.fromEntries(res.tools.map((t) => [t.name, t]));
      const d = tools.decode_invoice;
      assert.ok(d, `decode_invoice listed (got ${Object.keys(tools).join(', ')})`);
      assert.equal(d.inputSchema.type, 'object');
      assert.deepEqual(d.inputSchema.required, ['invoice']);
      assert.equal(d.inputSchema.additionalProperties, false);
      assert.equal(d.outputSchema?.type, 'object');
      assert.ok(d.outputSchema.properties.payment_hash, 'outputSchema describes payment_hash');
      assert.equal(d.annotations?.readOnlyHint, true);
      assert.equal(typeof d.description, 'string');
      assert.ok(d.description.length > 10);
      assert.ok(tools.test_slow, 'test_slow listed');
      assert.equal(tools.test_slow.inputSchema.properties.ms.type, 'integer');
      assert.equal(res.nextCursor, undefined, 'one page with the default page size');
    });

    it('tools/call decode_invoice: structuredContent matches outputSchema and the vector', async () => {
      assert.ok(tools, 'tools/list ran first');
      const res = await withTimeout(
        client.callTool({ name: 'decode_invoice', arguments: { invoice: VECTOR.invoice } }),
        3000,
        'decode_invoice',
      );
      assert.notEqual(res.isError, true, JSON.stringify(res));
      const sc = res.structuredContent;
      assert.ok(sc, 'structuredContent present');
      const ajv = makeAjv(tools.decode_invoice.outputSchema);
      const validate = ajv.compile(tools.decode_invoice.outputSchema);
      assert.ok(validate(sc), `outputSchema violations: ${JSON.stringify(validate.errors)}`);
      const e = VECTOR.expected;
      assert.equal(sc.amount_msat, e.amount_msat);
      assert.equal(sc.amount_sats, 250000);
      assert.equal(sc.payment_hash, e.payment_hash);
      assert.equal(sc.payment_secret, e.payment_secret);
      assert.equal(sc.description, '1 cup coffee');
      assert.equal(sc.description_hash, null);
      assert.equal(sc.payee, e.payee_pubkey);
      assert.equal(sc.created_at, e.timestamp);
      assert.equal(sc.expiry_seconds, 60);
      assert.equal(sc.expires_at, e.timestamp + 60);
      assert.equal(sc.expired, true, 'a 2017 invoice with a one-minute expiry has expired');
      assert.equal(sc.network, 'mainnet');
      assert.equal(sc.min_final_cltv_expiry_delta, 18);
      // Older clients read the text block: it must carry the same JSON.
      assert.equal(res.content[0].type, 'text');
      assert.deepEqual(JSON.parse(res.content[0].text), sc);
    });

    it('tools/call with bad arguments → isError INVALID_ARGUMENTS naming the field', async () => {
      const missing = toolError(await client.callTool({ name: 'decode_invoice', arguments: {} }));
      assert.equal(missing.code, 'INVALID_ARGUMENTS');
      assert.match(missing.message, /invoice/);

      const wrongType = toolError(await client.callTool({ name: 'decode_invoice', arguments: { invoice: 42 } }));
      assert.equal(wrongType.code, 'INVALID_ARGUMENTS');
      assert.match(wrongType.message, /invoice/);

      const extra = toolError(
        await client.callTool({ name: 'decode_invoice', arguments: { invoice: VECTOR.invoice, colour: 'red' } }),
      );
      assert.equal(extra.code, 'INVALID_ARGUMENTS');
      assert.match(JSON.stringify(extra), /colour/, 'the extra property is named');
    });

    it('tools/call with an invalid invoice → isError INVALID_INVOICE', async () => {
      const bad = bolt11.invalid[0].invoice;
      const err = toolError(await client.callTool({ name: 'decode_invoice', arguments: { invoice: bad } }));
      assert.equal(err.code, 'INVALID_INVOICE');
      const garbage = toolError(
        await client.callTool({ name: 'decode_invoice', arguments: { invoice: 'lnbc1notaninvoice' } }),
      );
      assert.equal(garbage.code, 'INVALID_INVOICE');
    });

    it('tools/call of an unknown tool → JSON-RPC error -32602', async () => {
      await assert.rejects(
        client.callTool({ name: 'no_such_tool', arguments: {} }),
        (e) => e instanceof McpError && e.code === -32602 && /no_such_tool/.test(e.message),
      );
    });

    it('ping and decode_invoice answer promptly while test_slow runs', async () => {
      const t0 = Date.now();
      const slow = client.callTool({ name: 'test_slow', arguments: { ms: 3000 } }, undefined, { timeout: 10000 });
      await sleep(150);
      let t = Date.now();
      await withTimeout(client.ping(), 1000, 'ping during slow call');
      const pingMs = Date.now() - t;
      t = Date.now();
      const dec = await withTimeout(
        client.callTool({ name: 'decode_invoice', arguments: { invoice: VECTOR.invoice } }),
        1000,
        'decode during slow call',
      );
      const decMs = Date.now() - t;
      assert.ok(Date.now() - t0 < 2500, 'the slow call was still running during the probes');
      const res = await withTimeout(slow, 6000, 'test_slow result');
      assert.ok(pingMs < 200, `ping took ${pingMs} ms`);
      assert.ok(decMs < 200, `decode_invoice took ${decMs} ms`);
      assert.equal(dec.structuredContent.payment_hash, VECTOR.expected.payment_hash);
      assert.deepEqual(res.structuredContent, { slept_ms: 3000 });
      assert.ok(Date.now() - t0 >= 3000, 'test_slow really slept');
    });

    it('progress notifications reach onprogress, increasing, with total', async () => {
      const seen = [];
      const res = await withTimeout(
        client.callTool({ name: 'test_slow', arguments: { ms: 300 } }, undefined, { onprogress: (p) => seen.push(p) }),
        5000,
        'test_slow with progress',
      );
      assert.deepEqual(res.structuredContent, { slept_ms: 300 });
      assert.ok(seen.length >= 5, `got ${seen.length} progress notifications`);
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i].progress > seen[i - 1].progress, 'strictly increasing');
      assert.ok(seen.every((p) => p.total === 300));
      // The SDK dispatches notifications asynchronously and drops a progress handler when the response lands, so
      // the final progress may not reach onprogress; the raw messages show what the server sent.
      const req = tap.sent.findLast((e) => e.msg.method === 'tools/call');
      const sent = tap.received.filter(
        (e) => e.msg.method === 'notifications/progress' && e.msg.params.progressToken === req.msg.params._meta.progressToken,
      );
      assert.equal(sent.at(-1).msg.params.progress, 300, 'the last progress equals the total');
      assert.equal(sent.at(-1).msg.params.message, 'slept 300 ms');
    });

    it('cancel via AbortController: call rejected, no response, progress stops, session stays usable', async () => {
      const ac = new AbortController();
      const seen = [];
      const sentBefore = tap.sent.length;
      const call = client.callTool({ name: 'test_slow', arguments: { ms: 5000 } }, undefined, {
        signal: ac.signal,
        onprogress: (p) => seen.push({ at: Date.now(), p }),
        timeout: 10000,
      });
      await withTimeout(
        (async () => {
          for (let i = 0; i < 100 && seen.length < 3; i++) await sleep(20);
        })(),
        3000,
        'first progress',
      );
      assert.ok(seen.length >= 3, 'the call was running (progress seen) before the abort');
      const abortAt = Date.now();
      ac.abort('test abort');
      await assert.rejects(withTimeout(call, 1000, 'aborted call settles'));
      const req = tap.sent.slice(sentBefore).find((e) => e.msg.method === 'tools/call');
      assert.ok(req, 'the tools/call was sent');
      const cancel = tap.sent.find((e) => e.msg.method === 'notifications/cancelled' && e.msg.params.requestId === req.msg.id);
      assert.ok(cancel, 'the SDK sent notifications/cancelled');
      // The session stays usable right away.
      const quick = await withTimeout(client.callTool({ name: 'test_slow', arguments: { ms: 50 } }), 2000, 'next call');
      assert.deepEqual(quick.structuredContent, { slept_ms: 50 });
      await sleep(500);
      // The server sends no response to a cancelled request and stops its progress.
      assert.equal(tap.responsesTo(req.msg.id).length, 0, 'no response to the cancelled request');
      const token = req.msg.params._meta.progressToken;
      const late = tap.received.filter(
        (e) => e.msg.method === 'notifications/progress' && e.msg.params.progressToken === token && e.at > abortAt + 150,
      );
      assert.equal(late.length, 0, `progress kept coming after the cancel (${late.length})`);
    });

    it('logging/setLevel: accepted, governs notifications/message, rejects unknown levels', async () => {
      const logsFor = (id) =>
        tap.received.filter((e) => e.msg.method === 'notifications/message' && e.msg.params.logger === 'test_slow' && e.at >= id);
      await withTimeout(client.setLoggingLevel('debug'), 2000, 'setLevel debug');
      let t = Date.now();
      // onprogress makes Streamable HTTP answer on an SSE stream, where the related log notification rides.
      await client.callTool({ name: 'test_slow', arguments: { ms: 30 } }, undefined, { onprogress: () => {} });
      await sleep(50);
      const debugLogs = logsFor(t);
      assert.equal(debugLogs.length, 1, 'one debug log notification at level debug');
      assert.equal(debugLogs[0].msg.params.level, 'debug');
      assert.deepEqual(debugLogs[0].msg.params.data, { ms: 30 });

      await withTimeout(client.setLoggingLevel('warning'), 2000, 'setLevel warning');
      t = Date.now();
      await client.callTool({ name: 'test_slow', arguments: { ms: 30 } }, undefined, { onprogress: () => {} });
      await sleep(50);
      assert.equal(logsFor(t).length, 0, 'no debug log above the threshold');

      await assert.rejects(
        client.request({ method: 'logging/setLevel', params: { level: 'loud' } }, EmptyResultSchema),
        (e) => e instanceof McpError && e.code === -32602,
      );
    });
  });
}

// ------------------------------------------------------------------------------------------------ raw HTTP

// One HTTP request with full control over headers (fetch forbids setting Host). Bounded.
// Bodies go with Content-Length (as fetch and the SDK send them) unless `chunked` is set.
function rawHttp(port, { method = 'POST', path: p = '/mcp', headers = {}, body, chunked = false } = {}, timeoutMs = 3000) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          method,
          path: p,
          agent: false,
          headers: {
            ...(data !== undefined ? { 'Content-Type': 'application/json' } : {}),
            ...(data !== undefined && !chunked ? { 'Content-Length': Buffer.byteLength(data) } : {}),
            Accept: 'application/json, text/event-stream',
            ...headers,
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d) => (text += d));
          res.on('end', () => {
            let json;
            try {
              json = text ? JSON.parse(text) : undefined;
            } catch {
              json = undefined;
            }
            resolve({ status: res.statusCode, headers: res.headers, text, json });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      if (data !== undefined && chunked) {
        for (let i = 0; i < data.length; i += 1000) req.write(data.slice(i, i + 1000));
      } else if (data !== undefined) req.write(data);
      req.end();
    }),
    timeoutMs,
    `${method} ${p}`,
  );
}

let nextId = 1000;
const rpc = (method, params) => ({ jsonrpc: '2.0', id: nextId++, method, ...(params ? { params } : {}) });
const initParams = (v = '2025-11-25') => ({
  protocolVersion: v,
  capabilities: {},
  clientInfo: { name: 'raw-http-test', version: '0.0.1' },
});

async function rawSession(port, version = '2025-11-25', headers = {}) {
  const r = await rawHttp(port, { body: rpc('initialize', initParams(version)), headers });
  assert.equal(r.status, 200, r.text);
  const sid = r.headers['mcp-session-id'];
  assert.match(sid ?? '', /^[\x21-\x7e]{16,}$/, 'a visible-ASCII session id');
  const h = { 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': r.json.result.protocolVersion, ...headers };
  const n = await rawHttp(port, { body: { jsonrpc: '2.0', method: 'notifications/initialized' }, headers: h });
  assert.equal(n.status, 202);
  return { sid, headers: h, init: r.json.result };
}

describe('raw Streamable HTTP', { timeout: 30000 }, () => {
  let srv;
  before(async () => {
    srv = await startHttpServer(['--max-body-bytes', '8192', '--tools-page-size', '1']);
  });
  after(async () => srv && (await srv.stop()));

  it('foreign Origin → 403; loopback Origin → 200', async () => {
    const bad = await rawHttp(srv.port, { body: rpc('initialize', initParams()), headers: { Origin: 'http://evil.example' } });
    assert.equal(bad.status, 403);
    assert.equal(bad.headers['mcp-session-id'], undefined, 'no session for a refused request');
    const good = await rawHttp(srv.port, {
      body: rpc('initialize', initParams()),
      headers: { Origin: `http://localhost:${srv.port}` },
    });
    assert.equal(good.status, 200);
  });

  it('foreign Host header → 403; localhost Host → 200', async () => {
    const bad = await rawHttp(srv.port, { body: rpc('initialize', initParams()), headers: { Host: `evil.example:${srv.port}` } });
    assert.equal(bad.status, 403);
    const good = await rawHttp(srv.port, { body: rpc('initialize', initParams()), headers: { Host: `localhost:${srv.port}` } });
    assert.equal(good.status, 200);
  });

  it('session rules: 400 without session id, 404 unknown, 400 bad MCP-Protocol-Version, 202 notification, DELETE → 404', async () => {
    const s = await rawSession(srv.port);
    const noSid = await rawHttp(srv.port, { body: rpc('ping') });
    assert.equal(noSid.status, 400);
    const unknown = await rawHttp(srv.port, {
      body: rpc('ping'),
      headers: { 'Mcp-Session-Id': 'ffffffffffffffffffffffffffffffff', 'MCP-Protocol-Version': '2025-11-25' },
    });
    assert.equal(unknown.status, 404);
    const badVer = await rawHttp(srv.port, { body: rpc('ping'), headers: { ...s.headers, 'MCP-Protocol-Version': '1999-01-01' } });
    assert.equal(badVer.status, 400);
    const ok = await rawHttp(srv.port, { body: rpc('ping'), headers: s.headers });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json.result, {});
    const note = await rawHttp(srv.port, {
      body: { jsonrpc: '2.0', method: 'notifications/roots/list_changed' },
      headers: s.headers,
    });
    assert.equal(note.status, 202);
    assert.equal(note.text, '');
    const del = await rawHttp(srv.port, { method: 'DELETE', headers: s.headers });
    assert.ok(del.status === 200 || del.status === 204, `DELETE → ${del.status}`);
    const after = await rawHttp(srv.port, { body: rpc('ping'), headers: s.headers });
    assert.equal(after.status, 404);
  });

  it('body over --max-body-bytes → 413; just under → 200', async () => {
    const s = await rawSession(srv.port);
    const small = rpc('ping', { _meta: { pad: 'x'.repeat(7000) } });
    const okr = await rawHttp(srv.port, { body: small, headers: s.headers });
    assert.equal(okr.status, 200, okr.text);
    const big = rpc('ping', { _meta: { pad: 'x'.repeat(9000) } });
    const r = await rawHttp(srv.port, { body: big, headers: s.headers });
    assert.equal(r.status, 413);
  });

  it('a chunked body over --max-body-bytes is refused too (411/413), not read without limit', async () => {
    const s = await rawSession(srv.port);
    const big = rpc('ping', { _meta: { pad: 'x'.repeat(20000) } });
    const r = await rawHttp(srv.port, { body: big, headers: s.headers, chunked: true });
    assert.ok(r.status === 413 || r.status === 411, `chunked ${JSON.stringify(big).length}-byte body → ${r.status}`);
  });

  it('garbage JSON → -32700; batch → -32600', async () => {
    const s = await rawSession(srv.port);
    const g = await rawHttp(srv.port, { body: '{"jsonrpc": "2.0", "id": 1, "method": ', headers: s.headers });
    assert.equal(g.status, 400);
    assert.equal(g.json?.error?.code, -32700);
    const b = await rawHttp(srv.port, { body: [rpc('ping'), rpc('ping')], headers: s.headers });
    assert.equal(b.status, 400);
    assert.equal(b.json?.error?.code, -32600);
  });

  it('tools/list pagination with --tools-page-size 1: nextCursor walk; invalid cursor → -32602', async () => {
    const s = await rawSession(srv.port);
    const names = [];
    let cursor;
    let pages = 0;
    for (; pages < 100; pages++) {
      const r = await rawHttp(srv.port, { body: rpc('tools/list', cursor ? { cursor } : {}), headers: s.headers });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.result.tools.length, 1, 'page size 1');
      names.push(r.json.result.tools[0].name);
      cursor = r.json.result.nextCursor;
      if (cursor === undefined) break;
      assert.equal(typeof cursor, 'string');
    }
    assert.ok(pages < 100, 'the walk ended');
    assert.ok(names.includes('decode_invoice') && names.includes('test_slow'), names.join(','));
    assert.equal(new Set(names).size, names.length, 'no tool twice');
    for (const bad of ['bogus', 'dG9vbHM6OTk5OTk=' /* tools:99999 */, 42]) {
      const r = await rawHttp(srv.port, { body: rpc('tools/list', { cursor: bad }), headers: s.headers });
      assert.equal(r.json?.error?.code, -32602, `cursor ${bad}: ${r.text}`);
    }
  });

  it('version negotiation: 2024-11-05 echoed (no outputSchema / structuredContent); unknown → 2025-11-25', async () => {
    const old = await rawSession(srv.port, '2024-11-05');
    assert.equal(old.init.protocolVersion, '2024-11-05');
    assert.equal(old.init.serverInfo.title, undefined, 'no serverInfo.title before 2025-06-18');
    const names = [];
    const schemas = [];
    let cursor;
    for (let i = 0; i < 100; i++) {
      const r = await rawHttp(srv.port, { body: rpc('tools/list', cursor ? { cursor } : {}), headers: old.headers });
      for (const t of r.json.result.tools) {
        names.push(t.name);
        schemas.push(t.outputSchema);
      }
      cursor = r.json.result.nextCursor;
      if (!cursor) break;
    }
    assert.ok(names.includes('decode_invoice'));
    assert.ok(schemas.every((x) => x === undefined), 'no outputSchema for 2024-11-05');
    const call = await rawHttp(srv.port, {
      body: rpc('tools/call', { name: 'decode_invoice', arguments: { invoice: VECTOR.invoice } }),
      headers: old.headers,
    });
    assert.equal(call.status, 200);
    assert.equal(call.json.result.structuredContent, undefined, 'no structuredContent for 2024-11-05');
    assert.equal(JSON.parse(call.json.result.content[0].text).payment_hash, VECTOR.expected.payment_hash);

    const cur = await rawSession(srv.port, '2025-06-18');
    assert.equal(cur.init.protocolVersion, '2025-06-18');
    const call2 = await rawHttp(srv.port, {
      body: rpc('tools/call', { name: 'decode_invoice', arguments: { invoice: VECTOR.invoice } }),
      headers: cur.headers,
    });
    assert.equal(call2.json.result.structuredContent.payment_hash, VECTOR.expected.payment_hash);

    const future = await rawHttp(srv.port, { body: rpc('initialize', initParams('1999-01-01')) });
    assert.equal(future.status, 200);
    assert.equal(future.json.result.protocolVersion, '2025-11-25');
  });

  it('a cancelled JSON-mode call ends its POST promptly (202) and frees the request', async () => {
    const s = await rawSession(srv.port);
    const id = nextId++;
    const t0 = Date.now();
    const pending = rawHttp(
      srv.port,
      { body: { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'test_slow', arguments: { ms: 4000 } } }, headers: { ...s.headers, Accept: 'application/json' } },
      8000,
    );
    await sleep(200);
    const c = await rawHttp(srv.port, {
      body: { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'test' } },
      headers: s.headers,
    });
    assert.equal(c.status, 202);
    const r = await pending;
    const took = Date.now() - t0;
    assert.ok(took < 1500, `the cancelled POST took ${took} ms to end`);
    assert.ok(r.status === 202 || r.status === 200, `status ${r.status}`);
    assert.equal(r.json?.result, undefined, 'no result for a cancelled request');
  });

  it('a cancelled SSE-mode call (with progressToken) ends its stream promptly', async () => {
    const s = await rawSession(srv.port);
    const id = nextId++;
    const t0 = Date.now();
    const pending = rawHttp(
      srv.port,
      {
        body: { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'test_slow', arguments: { ms: 4000 }, _meta: { progressToken: 'p1' } } },
        headers: s.headers,
      },
      8000,
    );
    await sleep(200);
    await rawHttp(srv.port, {
      body: { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id } },
      headers: s.headers,
    });
    const r = await pending;
    const took = Date.now() - t0;
    assert.ok(took < 1500, `the cancelled SSE stream took ${took} ms to end`);
    assert.match(r.headers['content-type'] ?? '', /text\/event-stream/);
    assert.match(r.text, /notifications\/progress/, 'progress was streamed before the cancel');
    assert.doesNotMatch(r.text, /"result"/, 'no response for a cancelled request');
  });
});

describe('raw HTTP with bearer tokens', { timeout: 20000 }, () => {
  const TOKEN = 'tok-interop-0123456789abcdef';
  let srv;
  before(async () => {
    srv = await startHttpServer([], { SATWARDEN_TOKENS: TOKEN });
  });
  after(async () => srv && (await srv.stop()));

  it('401 + WWW-Authenticate without or with a wrong token; 200 with it', async () => {
    const none = await rawHttp(srv.port, { body: rpc('initialize', initParams()) });
    assert.equal(none.status, 401);
    assert.match(none.headers['www-authenticate'] ?? '', /^Bearer\b/);
    const wrong = await rawHttp(srv.port, {
      body: rpc('initialize', initParams()),
      headers: { Authorization: 'Bearer tok-interop-0123456789abcdeX' },
    });
    assert.equal(wrong.status, 401);
    assert.match(wrong.headers['www-authenticate'] ?? '', /invalid_token/);
    const ok = await rawSession(srv.port, '2025-11-25', { Authorization: `Bearer ${TOKEN}` });
    const ping = await rawHttp(srv.port, { body: rpc('ping'), headers: ok.headers });
    assert.equal(ping.status, 200);
    // A session is bound to its token: the same session id without the token is refused.
    const { Authorization: _drop, ...noAuth } = ok.headers;
    const stolen = await rawHttp(srv.port, { body: rpc('ping'), headers: noAuth });
    assert.equal(stolen.status, 401);
  });

  it('the SDK Streamable HTTP client works with the token', async () => {
    const client = new Client({ name: 'tok', version: '1' });
    const t = new StreamableHTTPClientTransport(new URL(`${srv.base}/mcp`), {
      requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } },
    });
    await withTimeout(client.connect(t), 5000, 'connect with token');
    const res = await withTimeout(client.listTools(), 3000, 'listTools');
    assert.ok(res.tools.some((x) => x.name === 'test_slow'));
    await client.close();
  });
});

describe('HTTP shutdown', { timeout: 20000 }, () => {
  it('SIGTERM exits promptly (< 5 s, code 0) despite a connected SDK client and an idle keep-alive connection', async () => {
    const srv = await startHttpServer();
    const client = new Client({ name: 'shutdown', version: '1' });
    try {
      await withTimeout(client.connect(new StreamableHTTPClientTransport(new URL(`${srv.base}/mcp`))), 5000, 'connect');
      await withTimeout(client.ping(), 2000, 'ping');
      // Node's fetch keeps this connection open and idle in its pool afterwards.
      const r = await withTimeout(fetch(`${srv.base}/healthz`), 2000, 'healthz');
      assert.equal(r.status, 200);
      await r.text();
      const exited = new Promise((res) => srv.proc.once('exit', (code, signal) => res({ code, signal })));
      const t0 = Date.now();
      srv.proc.kill('SIGTERM');
      const how = await withTimeout(exited, 5000, 'graceful exit after SIGTERM').catch((e) => {
        srv.proc.kill('SIGKILL');
        throw e;
      });
      assert.deepEqual(how, { code: 0, signal: null });
      assert.ok(Date.now() - t0 < 5000);
    } finally {
      await withTimeout(client.close(), 3000, 'client close').catch(() => {});
      await srv.stop();
    }
  });
});

// ------------------------------------------------------------------------------------------------ raw stdio

// Spawns the stdio server, writes `lines` (strings or objects) with an optional per-line delay, closes stdin and
// collects stdout/stderr until exit.
function rawStdio(script, timeoutMs = 10000) {
  const proc = spawn(TESTSERVER, ['--transport', 'stdio', '--log-level', 'debug'], {
    env: serverEnv(),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => (stdout += d));
  proc.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((r) => proc.on('exit', (code) => r(code)));
  const write = (x) => proc.stdin.write((typeof x === 'string' ? x : JSON.stringify(x)) + '\n');
  // Complete lines only: a long line (tools/list is ~40 KB) arrives in several chunks while waitFor polls.
  const lines = () => stdout.slice(0, stdout.lastIndexOf('\n') + 1).split('\n').filter((l) => l.length > 0);
  const parsed = () => lines().map((l) => JSON.parse(l));
  const waitFor = async (pred, ms, what) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const hit = parsed().find(pred);
      if (hit) return hit;
      await sleep(10);
    }
    throw new Error(`stdio: timed out waiting for ${what}; stdout=${stdout}`);
  };
  return withTimeout(
    (async () => {
      await script({ write, waitFor, parsed });
      const tEnd = Date.now();
      proc.stdin.end();
      const code = await exited;
      return { code, stdout, stderr, lines: lines(), exitMs: Date.now() - tEnd };
    })(),
    timeoutMs,
    'raw stdio session',
  ).finally(() => proc.exitCode === null && proc.kill('SIGKILL'));
}

describe('raw stdio', { timeout: 30000 }, () => {
  it('stdout carries only JSON-RPC lines, even with debug logging and bad input', async () => {
    const r = await rawStdio(async ({ write, waitFor }) => {
      write(rpc('initialize', initParams()));
      write({ jsonrpc: '2.0', method: 'notifications/initialized' });
      write(rpc('tools/list'));
      write(rpc('tools/call', { name: 'decode_invoice', arguments: { invoice: VECTOR.invoice } }));
      write(rpc('tools/call', { name: 'decode_invoice', arguments: { invoice: 'lnbc1garbage' } }));
      write(rpc('tools/call', { name: 'test_slow', arguments: { ms: 100 }, _meta: { progressToken: 7 } }));
      write(rpc('logging/setLevel', { level: 'debug' }));
      write('this is not json');
      write([rpc('ping')]);
      write(rpc('no/such/method'));
      const last = rpc('ping');
      write(last);
      await waitFor((m) => m.id === last.id, 3000, 'last ping');
      await waitFor((m) => m.result?.structuredContent?.slept_ms === 100, 3000, 'test_slow result');
    });
    assert.equal(r.code, 0);
    assert.ok(r.lines.length >= 12, `expected at least 12 stdout lines, got ${r.lines.length}`);
    for (const line of r.lines) {
      let m;
      assert.doesNotThrow(() => (m = JSON.parse(line)), `stdout line is JSON: ${line}`);
      assert.equal(m.jsonrpc, '2.0', line);
      assert.ok(!Array.isArray(m));
    }
    const msgs = r.lines.map((l) => JSON.parse(l));
    assert.ok(msgs.some((m) => m.error?.code === -32700), 'parse error answered');
    assert.ok(msgs.some((m) => m.error?.code === -32600), 'batch refused');
    assert.ok(msgs.some((m) => m.error?.code === -32601), 'unknown method');
    assert.ok(msgs.some((m) => m.method === 'notifications/progress' && m.params.progressToken === 7));
    assert.ok(r.stderr.length > 0, 'logs went to stderr');
  });

  it('notifications/cancelled really stops the running tool (its request id is freed at once)', async () => {
    const r = await rawStdio(async ({ write, waitFor }) => {
      write(rpc('initialize', initParams()));
      write({ jsonrpc: '2.0', method: 'notifications/initialized' });
      const slowId = 'slow-1';
      write({ jsonrpc: '2.0', id: slowId, method: 'tools/call', params: { name: 'test_slow', arguments: { ms: 5000 }, _meta: { progressToken: 'c' } } });
      await waitFor((m) => m.method === 'notifications/progress' && m.params.progressToken === 'c', 2000, 'progress');
      write({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: slowId, reason: 'test' } });
      await sleep(200);
      // While a request is in flight its id is taken (-32600). The tool checks cancellation every 25 ms, so
      // by now the id must be free again — proof that the cancelled call stopped rather than ran on silently.
      write({ jsonrpc: '2.0', id: slowId, method: 'tools/call', params: { name: 'test_slow', arguments: { ms: 1 } } });
      const again = await waitFor((m) => m.id === slowId, 2000, 'reused id answered');
      assert.equal(again.error, undefined, `the cancelled call still held its id: ${JSON.stringify(again)}`);
      assert.deepEqual(again.result.structuredContent, { slept_ms: 1 });
    });
    const answers = r.lines.map((l) => JSON.parse(l)).filter((m) => m.id === 'slow-1');
    assert.equal(answers.length, 1, 'exactly one response: the cancelled call got none');
    assert.ok(r.exitMs < 2000, `exit took ${r.exitMs} ms`);
  });

  it('in-flight id reuse is refused while the first call runs (the probe above can fail)', async () => {
    await rawStdio(async ({ write, waitFor }) => {
      write(rpc('initialize', initParams()));
      write({ jsonrpc: '2.0', id: 'dup', method: 'tools/call', params: { name: 'test_slow', arguments: { ms: 400 } } });
      await sleep(50);
      write({ jsonrpc: '2.0', id: 'dup', method: 'tools/call', params: { name: 'test_slow', arguments: { ms: 1 } } });
      const first = await waitFor((m) => m.id === 'dup', 2000, 'dup answer');
      assert.equal(first.error?.code, -32600);
      const ok = await waitFor((m) => m.id === 'dup' && m.result, 3000, 'first call result');
      assert.deepEqual(ok.result.structuredContent, { slept_ms: 400 });
    });
  });
});
