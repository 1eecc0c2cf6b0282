// The operator's endpoints against the real server in the interop world (issue 14, part 4): GET /metrics scraped
// and parsed by an independent Prometheus text-format parser (npm prom2javascript 0.2.0), its values
// checked against the ledger (get_budget_status) and the wallet's own record after a paid fetch by an agent
// (bearer token, official MCP SDK client over Streamable HTTP); who may scrape (the metrics token: yes; an
// agent's token: 403; none: 401); GET /readyz ready with a live relay and the wallet's info, 503 once the relay
// is gone. Everything on 127.0.0.1; every wait bounded.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import prom2javascript from 'prom2javascript';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startL402Server } from '../world/l402server.mjs';
import { Cleanups, sleep, startHttp, walletWorld } from '../world/satwarden.mjs';

const SERVER = process.env.SW_SERVER ?? '/work/main/build/src/app/satwarden';
const AGENT_TOKEN = 'agent-token-' + randomBytes(12).toString('hex');
const METRICS_TOKEN = 'metrics-token-' + randomBytes(12).toString('hex');
const cleanups = new Cleanups();
after(() => cleanups.run());

async function get(port, path, token) {
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { headers, signal: AbortSignal.timeout(5000) });
  return { status: r.status, type: r.headers.get('content-type'), text: await r.text() };
}

// name → {type, data: [{labels, value} | {labels, buckets, count, sum}]}, from the independent parser.
// (parse-prometheus-text-format 1.1.1 was tried first: it drops the labels of histogram series and merges them.)
async function scrape(text) {
  return prom2javascript.getMetricsFromIterator(text.split('\n')[Symbol.iterator]());
}
const value = (fams, name, labels = {}) => {
  const f = fams[name];
  assert.ok(f, `metric family ${name} present`);
  const m = f.data.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
  return m === undefined ? undefined : Number(m.value);
};

test('/metrics matches the ledger and the wallet after a paid fetch; only the operator may scrape; /readyz follows the relay', async () => {
  const { relay, ln, ledger, env: walletEnv } = await walletWorld(cleanups);
  const api = await startL402Server({ lightning: ln });
  cleanups.add(() => api.close());
  const dataHome = cleanups.tempDir('sw-ops-');
  const srv = await startHttp(SERVER, { cleanups, env: { HOME: dataHome, SATWARDEN_TOOLS: 'all', XDG_DATA_HOME: dataHome,
    SATWARDEN_TOKENS: AGENT_TOKEN, SATWARDEN_METRICS_TOKEN: METRICS_TOKEN, SATWARDEN_FETCH_ALLOW: '127.0.0.1',
    SATWARDEN_DAY_SATS: '1000', SATWARDEN_NWC_PAY_TIMEOUT: '10', SATWARDEN_NWC_READ_TIMEOUT: '5',
    SATWARDEN_LOG_FORMAT: 'json', SATWARDEN_LOG_LEVEL: 'debug', ...walletEnv } });
  const { port } = srv;

  // Who may scrape.
  assert.equal((await get(port, '/metrics')).status, 401, 'no token: 401');
  assert.equal((await get(port, '/metrics', AGENT_TOKEN)).status, 403, "an agent's token: 403");
  assert.equal((await get(port, '/metrics', 'metrics-token-wrong-wrong-wrong')).status, 401);
  const before = await get(port, '/metrics', METRICS_TOKEN);
  assert.equal(before.status, 200);
  assert.match(before.type, /^text\/plain; version=0\.0\.4/);

  // Ready once the relay is up and the wallet's info is read (bounded wait: the relay connects in the background).
  let ready;
  for (let i = 0; i < 100; i++) {
    ready = await get(port, '/readyz');
    if (ready.status === 200) break;
    await sleep(100);
  }
  assert.equal(ready.status, 200, ready.text);
  const rj = JSON.parse(ready.text);
  assert.equal(rj.ready, true);
  assert.equal(rj.checks.ledger, 'ok');
  assert.match(rj.checks.relay, /^ok/);
  assert.equal(rj.checks.wallet_info, 'ok');

  // An agent pays for a resource.
  const client = new Client({ name: 'ops-agent', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`),
    { requestInit: { headers: { authorization: `Bearer ${AGENT_TOKEN}` } } }));
  const r = await client.callTool({ name: 'access_l402_resource', arguments: { url: `${api.url}/l402`, max_sats: 20 } });
  assert.ok(!r.isError, r.content?.[0]?.text);
  assert.equal(r.structuredContent.status, 200);
  const hash = r.structuredContent.payment?.payment_hash ?? r.structuredContent.payment_hash;
  assert.match(hash ?? '', /^[0-9a-f]{64}$/, JSON.stringify(r.structuredContent).slice(0, 400));
  const status = (await client.callTool({ name: 'get_budget_status', arguments: {} })).structuredContent;
  // JSON logs: one object per line; the paid fetch's lines carry the request id its ledger row records.
  const row = (await client.callTool({ name: 'lookup_payment', arguments: { payment_hash: hash } })).structuredContent;
  const rid = row.ledger?.request_id ?? row.request_id;
  assert.match(rid ?? '', /^[0-9a-f]{16}$/, `the ledger row names its request: ${JSON.stringify(row).slice(0, 300)}`);
  const lines = srv.stderr().split('\n').filter((l) => l.trim());
  const parsed = lines.map((l) => { try { return JSON.parse(l); } catch { assert.fail(`not a JSON log line: ${l}`); } });
  for (const p of parsed) assert.ok(p.ts && p.level && p.logger && typeof p.message === 'string');
  const mine = parsed.filter((p) => p.request_id === rid);
  assert.ok(mine.some((p) => p.logger === 'fetch' && /-> 402/.test(p.message)), 'the 402 is logged with the request id');
  assert.ok(mine.some((p) => p.logger === 'fetch' && /-> 200/.test(p.message)), 'and the paid 200');
  assert.ok(!srv.stderr().includes(AGENT_TOKEN) && !srv.stderr().includes(METRICS_TOKEN), 'no token in the logs');
  const day = status.global.windows.find((w) => w.window === 'day');
  await client.close();

  const page = await get(port, '/metrics', METRICS_TOKEN);
  assert.equal(page.status, 200);
  const fams = await scrape(page.text);
  // Ledger totals.
  assert.equal(value(fams, 'satwarden_payments', { protocol: 'l402', state: 'settled' }), 1);
  const paidMsat = value(fams, 'satwarden_paid_msat_total', { protocol: 'l402' });
  assert.equal(paidMsat, 10_000, 'the 10-sat resource, in msat');
  const walletPaid = [...ledger.payments.keys()].length;
  assert.equal(walletPaid, 1, 'the wallet paid once');
  assert.equal(ledger.payCount(hash), 1);
  assert.equal(value(fams, 'satwarden_budget_spent_msat', { scope: 'global', window: 'day' }), day.spent_msat,
    'spent per window as get_budget_status says');
  assert.equal(value(fams, 'satwarden_budget_limit_msat', { scope: 'global', window: 'day' }), 1_000_000);
  assert.equal(value(fams, 'satwarden_budget_remaining_msat', { scope: 'global', window: 'day' }), day.remaining_msat);
  assert.equal(value(fams, 'satwarden_approvals_waiting'), 0);
  assert.equal(value(fams, 'satwarden_purchases', { state: 'usable' }), 1, 'the credential bought is usable');
  assert.equal(value(fams, 'satwarden_relay_connected', { relay: relay.url }), 1);
  assert.equal(value(fams, 'satwarden_http_sessions', { token: 'token-1' }) >= 0, true);
  // Histograms (parsed as such by the independent parser).
  const tools = fams.satwarden_tool_call_duration_seconds;
  assert.equal(tools.type, 'histogram');
  const fetchCalls = tools.data.find((m) => m.labels.tool === 'access_l402_resource' && m.labels.outcome === 'ok');
  assert.ok(fetchCalls, 'the paid fetch is in the tool-call histogram');
  assert.equal(Number(fetchCalls.count), 1);
  assert.equal(Number(fetchCalls.buckets['+Inf']), 1);
  // (JavaScript lists integer-like keys first: order the bounds by value, +Inf last.)
  const bounds = Object.keys(fetchCalls.buckets).sort((a, b) => (a === '+Inf' ? Infinity : Number(a)) - (b === '+Inf' ? Infinity : Number(b)));
  for (let i = 1; i < bounds.length; i++)
    assert.ok(Number(fetchCalls.buckets[bounds[i]]) >= Number(fetchCalls.buckets[bounds[i - 1]]), 'buckets are cumulative');
  const budgetCalls = tools.data.find((m) => m.labels.tool === 'get_budget_status');
  assert.equal(Number(budgetCalls.count), 1);
  const pays = fams.satwarden_wallet_request_duration_seconds.data.find((m) => m.labels.method === 'pay_invoice' && m.labels.outcome === 'ok');
  assert.ok(pays, 'the wallet round trip is in the wallet histogram');
  assert.equal(Number(pays.count), 1);
  assert.ok(Number(pays.sum) > 0 && Number(pays.sum) < 10);

  // The relay goes away: /readyz says so within a few seconds.
  await relay.close();
  let down;
  for (let i = 0; i < 100; i++) {
    down = await get(port, '/readyz');
    if (down.status === 503) break;
    await sleep(100);
  }
  assert.equal(down.status, 503, down.text);
  assert.match(JSON.parse(down.text).checks.relay, /none of the wallet's 1 relays is connected/);
  // /healthz stays alive.
  assert.equal((await get(port, '/healthz')).status, 200);
});
