// Interop: form-mode elicitation (server → client elicitation/create) driven by the official TypeScript SDK client
// (@modelcontextprotocol/sdk 1.32.2) over stdio, Streamable HTTP and the legacy HTTP+SSE transport.
//
// Env: SW_ELICIT_SERVER = satwarden_elicit_server (tests/interop/mcp/elicit_server.cpp: sw_mcp + sw_transport and
// one test-only tool, `test_elicit`, that elicits and returns the answer). No production tool elicits yet.
// Run from tests/interop: node --test mcp/elicit.test.mjs. Every wait is bounded; servers listen on 127.0.0.1.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const SERVER = process.env.SW_ELICIT_SERVER;
if (!SERVER || !fs.existsSync(SERVER)) throw new Error('SW_ELICIT_SERVER must name the satwarden_elicit_server binary');

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

// Starts the server over HTTP on a port of its choosing (127.0.0.1) and waits for its start-up line.
async function startHttpServer() {
  const proc = spawn(SERVER, ['--transport', 'http', '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const port = await withTimeout(
    new Promise((resolve, reject) => {
      proc.stderr.on('data', (d) => {
        stderr += d;
        const m = /serving MCP on http:\/\/127\.0\.0\.1:(\d+)\/mcp/.exec(stderr);
        if (m) resolve(Number(m[1]));
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
    base: `http://127.0.0.1:${port}`,
    async stop() {
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await withTimeout(exited, 3000, 'HTTP server exit').catch(async () => {
        proc.kill('SIGKILL');
        await withTimeout(exited, 2000, 'HTTP server kill').catch(() => {});
      });
    },
  };
}

// A fetch that records each POST's JSON-RPC body and, once answered, its status and Content-Type (the entry is
// made before the answer: the tool's result can reach the client on another stream before this POST's 202 does).
function recordingFetch(log) {
  return async (url, init) => {
    const entry = { body: null, status: null, contentType: null };
    if ((init?.method ?? 'GET') === 'POST') {
      try {
        entry.body = JSON.parse(init.body);
      } catch {}
      log.push(entry);
    }
    const res = await fetch(url, init);
    entry.status = res.status;
    entry.contentType = res.headers.get('content-type') ?? '';
    return res;
  };
}

// Waits (at most 2 s) until every recorded POST has its answer.
async function settled(posts) {
  for (let i = 0; i < 40 && posts.some((p) => p.status === null); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(posts.every((p) => p.status !== null), 'every POST was answered');
  return posts;
}

const TRANSPORTS = {
  stdio: async () => ({
    transport: new StdioClientTransport({ command: SERVER, args: ['--transport', 'stdio'], stderr: 'pipe' }),
    stop: async () => {},
  }),
  'streamable-http': async (posts) => {
    const srv = await startHttpServer();
    const transport = new StreamableHTTPClientTransport(new URL(`${srv.base}/mcp`), { fetch: recordingFetch(posts) });
    return { transport, stop: () => srv.stop() };
  },
  'legacy-sse': async (posts) => {
    const srv = await startHttpServer();
    const transport = new SSEClientTransport(new URL(`${srv.base}/sse`), { fetch: recordingFetch(posts) });
    return { transport, stop: () => srv.stop() };
  },
};

for (const [kind, make] of Object.entries(TRANSPORTS)) {
  describe(`elicitation over ${kind}`, { timeout: 30000 }, () => {
    let client;
    let stop;
    const posts = [];
    const asked = [];  // every elicitation/create the client received
    let answer = null; // what the handler does next: a result object, or an Error to throw

    before(async () => {
      const made = await make(posts);
      stop = made.stop;
      client = new Client({ name: 'satwarden-elicit-interop', version: '1.0.0' }, { capabilities: { elicitation: {} } });
      client.setRequestHandler(ElicitRequestSchema, async (request) => {
        asked.push(request);
        if (answer instanceof Error) throw answer;
        return answer;
      });
      await withTimeout(client.connect(made.transport), 5000, 'connect');
    });

    after(async () => {
      await withTimeout(client.close(), 5000, 'close').catch(() => {});
      await stop();
    });

    async function ask(result, args = {}) {
      answer = result;
      const before = asked.length;
      const res = await withTimeout(client.callTool({ name: 'test_elicit', arguments: args }), 10000, 'test_elicit');
      assert.equal(asked.length, before + 1, 'the client was asked exactly once');
      return { res, request: asked[asked.length - 1] };
    }

    it('accept: the request is form mode with the schema; the answer and content come back', async () => {
      const { res, request } = await ask(
        { action: 'accept', content: { approve: true, note: 'ok', tier: 'high' } },
        { message: 'Approve paying 600 sats to example.com for X?' },
      );
      assert.notEqual(res.isError, true, JSON.stringify(res));
      assert.deepEqual(res.structuredContent, { answer: { action: 'accept', content: { approve: true, note: 'ok', tier: 'high' } } });
      assert.equal(request.method, 'elicitation/create');
      assert.equal(request.params.mode, 'form', 'mode is sent on 2025-11-25');
      assert.equal(request.params.message, 'Approve paying 600 sats to example.com for X?');
      assert.equal(request.params.requestedSchema.type, 'object');
      assert.equal(request.params.requestedSchema.properties.approve.type, 'boolean');
      assert.deepEqual(request.params.requestedSchema.required, ['approve']);
    });

    it('decline', async () => {
      const { res } = await ask({ action: 'decline' });
      assert.deepEqual(res.structuredContent, { answer: { action: 'decline' } });
    });

    it('cancel', async () => {
      const { res } = await ask({ action: 'cancel' });
      assert.deepEqual(res.structuredContent, { answer: { action: 'cancel' } });
    });

    it('a client-side error becomes ELICITATION_FAILED with its message', async () => {
      const { res } = await ask(new Error('no dialog available'));
      assert.equal(res.isError, true);
      const body = JSON.parse(res.content[0].text);
      assert.equal(body.error.code, 'ELICITATION_FAILED');
      assert.match(body.error.message, /no dialog available/);
    });

    it('content that breaks the requested schema is refused by the server', async () => {
      // The SDK passes content through unchecked unless the handler validates it; the server does not.
      const { res } = await ask({ action: 'accept', content: { approve: 'yes' } });
      assert.equal(res.isError, true);
      assert.equal(JSON.parse(res.content[0].text).error.code, 'ELICITATION_FAILED');
    });

    if (kind === 'streamable-http') {
      it('HTTP: the tools/call POST turned into SSE for the request; the client answered with a 202 POST', async () => {
        await settled(posts);
        const calls = posts.filter((p) => p.body?.method === 'tools/call');
        assert.ok(calls.length >= 5, `tools/call POSTs recorded (${calls.length})`);
        for (const c of calls) assert.match(c.contentType, /^text\/event-stream/, JSON.stringify(c));
        const answers = posts.filter((p) => p.body && 'id' in p.body && !('method' in p.body));
        assert.ok(answers.length >= 5, `response POSTs recorded (${answers.length})`);
        for (const a of answers) {
          assert.match(String(a.body.id), /^sw-e-\d+$/, 'server ids are strings of their own');
          assert.equal(a.status, 202);
        }
      });
    }
    if (kind === 'legacy-sse') {
      it('legacy SSE: the client answered with POSTs to the session endpoint, 202', async () => {
        await settled(posts);
        const answers = posts.filter((p) => p.body && 'id' in p.body && !('method' in p.body));
        assert.ok(answers.length >= 5, `response POSTs recorded (${answers.length})`);
        for (const a of answers) assert.equal(a.status, 202);
      });
    }
  });
}

describe('a client without the elicitation capability', { timeout: 15000 }, () => {
  it('is never asked: the tool sees no elicit function', async () => {
    const transport = new StdioClientTransport({ command: SERVER, args: ['--transport', 'stdio'], stderr: 'pipe' });
    const client = new Client({ name: 'satwarden-elicit-interop', version: '1.0.0' }, { capabilities: {} });
    await withTimeout(client.connect(transport), 5000, 'connect');
    try {
      const res = await withTimeout(client.callTool({ name: 'test_elicit', arguments: {} }), 5000, 'test_elicit');
      assert.deepEqual(res.structuredContent, { elicit: 'absent' });
    } finally {
      await withTimeout(client.close(), 5000, 'close').catch(() => {});
    }
  });
});
