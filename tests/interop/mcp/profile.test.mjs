// Tool profiles, seen the way a client sees them (the official TypeScript SDK against the real binary): the default
// profile's model-visible part of tools/list — names, descriptions and input schemas, the part every model call
// carries — stays under 2,000 tokens (characters / 4); a tool outside the profile is neither listed nor callable;
// `SATWARDEN_TOOLS=all` lists everything; text about bearer-token scoping reaches only hosted (token) callers.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Cleanups, startHttp } from '../world/satwarden.mjs';

const SERVER = process.env.SW_SERVER ?? '/work/main/build/src/app/satwarden';
const TOKEN_BUDGET = 2000;
const roots = [];
const cleanups = new Cleanups();
after(async () => { await cleanups.run(); for (const d of roots) rmSync(d, { recursive: true, force: true }); });

function home() {
  const d = mkdtempSync(join(tmpdir(), 'sw-profile-'));
  roots.push(d);
  return d;
}

async function stdio(env = {}) {
  const dataHome = home();
  const transport = new StdioClientTransport({ command: SERVER, stderr: 'pipe',
    env: { PATH: process.env.PATH, XDG_DATA_HOME: dataHome, SATWARDEN_LOG_LEVEL: 'warning', ...env } });
  const client = new Client({ name: 'profile', version: '1' });
  await client.connect(transport);
  cleanups.add(() => client.close());
  return client;
}

async function allTools(client) {
  const tools = [];
  let cursor;
  for (let page = 0; page < 20; page++) {  // bounded
    const r = await client.listTools(cursor ? { cursor } : {});
    tools.push(...r.tools);
    cursor = r.nextCursor;
    if (!cursor) break;
  }
  return tools;
}

const visibleChars = (tools) => tools.reduce((n, t) =>
  n + t.name.length + (t.description ?? '').length + JSON.stringify(t.inputSchema ?? {}).length, 0);

test('the default profile: the tools most agents need, under 2,000 tokens, nothing else callable', async () => {
  const c = await stdio();
  const tools = await allTools(c);
  const names = tools.map((t) => t.name).sort();
  assert.deepEqual(names, ['access_l402_resource', 'decode_invoice', 'get_budget_status', 'lookup_payment',
    'pay_invoice', 'pay_lightning_address']);
  const chars = visibleChars(tools);
  const tokens = Math.ceil(chars / 4);
  console.log(`default profile: ${tools.length} tools, ${chars} model-visible characters ≈ ${tokens} tokens`);
  assert.ok(tokens < TOKEN_BUDGET, `the default profile costs ${tokens} tokens (budget ${TOKEN_BUDGET})`);
  // Over stdio the caller is the owner: no text about bearer-token scoping.
  for (const t of tools) assert.doesNotMatch(t.description, /bearer token|hosted HTTP|\{hosted\}/, t.name);
  // A tool outside the profile does not exist for this client.
  await assert.rejects(c.callTool({ name: 'list_payments', arguments: {} }), /Unknown tool/);
  // A profile tool works.
  const st = await c.callTool({ name: 'get_budget_status', arguments: {} });
  assert.ok(!st.isError);
});

test('SATWARDEN_TOOLS: presets and names combine; all lists everything; a bad entry stops start-up', async () => {
  const all = await allTools(await stdio({ SATWARDEN_TOOLS: 'all' }));
  assert.ok(all.length >= 19, `all: ${all.length}`);
  assert.ok(!all.some((t) => t.name === 'decide_approval_in_app'), 'app-only tools stay out of plain clients');
  const mixed = (await allTools(await stdio({ SATWARDEN_TOOLS: 'wallet,spending_report' }))).map((t) => t.name);
  assert.ok(mixed.includes('get_balance') && mixed.includes('spending_report') && mixed.includes('make_invoice'));
  assert.ok(!mixed.includes('access_l402_resource'));
  const bad = spawnSync(SERVER, [], { input: '', timeout: 20_000,
    env: { PATH: process.env.PATH, XDG_DATA_HOME: home(), SATWARDEN_TOOLS: 'pay,pay_everything' } });
  assert.equal(bad.status, 2, bad.stderr.toString());
  assert.match(bad.stderr.toString(), /pay_everything/);
  assert.match(bad.stderr.toString(), /presets/);
});

test('hosted callers (bearer tokens) read the scoping rules that apply to them', async () => {
  const token = 'profile-token-0123456789abcdef';
  const srv = await startHttp(SERVER, { cleanups, env: { HOME: home(), XDG_DATA_HOME: home(), SATWARDEN_TOKENS: token } });
  const client = new Client({ name: 'profile-http', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(srv.url,
    { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
  cleanups.add(() => client.close());
  const tools = await allTools(client);
  const status = tools.find((t) => t.name === 'get_budget_status');
  assert.match(status.description, /bearer token/);
  assert.doesNotMatch(status.description, /\{\/?hosted\}/);
});
