// Bearer token → budget envelope, end to end over Streamable HTTP, against independent implementations, all on
// 127.0.0.1:
//   @modelcontextprotocol/sdk client (and raw fetch) → satwarden --transport http with a config file binding four
//   tokens to envelopes → NWC over a real relay (@nostr-relay/core) → @getalby/sdk wallet service paying invoices
//   signed with `bolt11` (FakeLightning); an L402/MPP API on `macaroon` for the l402 envelope.
// The global policy comes partly from the environment (SATWARDEN_DAY_SATS beats the file's day_sats,
// SATWARDEN_FEE_BASE_MSAT, SATWARDEN_PROTOCOLS), so the test also shows the new policy variables are enforced.
// Isolation between tokens: an L402 credential paid from one token's budget is never used by another token (nor
// an owner-only credential from an older, origin-keyed cache file); a token sees only its own payments, spending
// and envelope, and the ledger resources show a token only its own view. The owner's view comes from a second
// satwarden on stdio over the same data directory (the ledger is shared between processes).
// Every wait is bounded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { startRelay } from '../world/relay.mjs';
import { FakeLightning } from '../world/lightning.mjs';
import { FakeWalletLedger, startAlbyWallet, nwcUrl, getPublicKey, hexToBytes } from '../world/wallet.mjs';
import { startL402Server } from '../world/l402server.mjs';

const SERVER = process.env.SW_SERVER ?? '/work/main/build/src/app/satwarden';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The policy the server runs with. The config file says day_sats 5000; the environment says 650 and wins.
const FILE_DAY_SATS = 5000;
const ENV_DAY_SATS = 650;
const FEE_BASE_MSAT = 2000;   // SATWARDEN_FEE_BASE_MSAT (default would be 10000)
const FEE_PPM = 5000;         // default
const feeAllowance = (msat) => Math.max(FEE_BASE_MSAT, Math.ceil((msat * FEE_PPM) / 1e6));
const walletFee = (msat) => Math.ceil(msat / 1000); // FakeWalletLedger charges 0.1 %

const TOKENS = {
  a: randomBytes(24).toString('hex'),  // envelope env-a: 300 sats, bolt11 only
  b: randomBytes(24).toString('hex'),  // envelope env-b: 1000 sats, l402 only
  c: randomBytes(24).toString('hex'),  // envelope env-c: expires 1 s after start-up (ttl_seconds)
  d: randomBytes(24).toString('hex'),  // no envelope: only the global policy
};

const W = {};          // the world: relay, lightning, wallet, api, server, clients
const roots = [];
const clients = [];

async function freePort() {
  return new Promise((res) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
}

// Starts satwarden; resolves once it logs that it is serving, rejects if it exits or takes over 10 s.
function startServer({ args, env }) {
  const child = spawn(SERVER, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const ready = new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error(`satwarden did not start within 10 s: ${stderr}`)), 10_000);
    child.stderr.on('data', (d) => {
      stderr += d.toString();
      if (stderr.includes('serving MCP')) { clearTimeout(t); res(); }
    });
    child.once('exit', (code) => { clearTimeout(t); rej(new Error(`satwarden exited with ${code}: ${stderr}`)); });
  });
  return { child, ready, stderr: () => stderr };
}

// Runs satwarden to completion (a start-up error); at most 10 s.
function runToExit({ args, env }) {
  return new Promise((res, rej) => {
    const child = spawn(SERVER, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const t = setTimeout(() => { child.kill('SIGKILL'); rej(new Error('satwarden did not exit within 10 s')); }, 10_000);
    child.once('exit', (code) => { clearTimeout(t); res({ code, stdout: out, stderr: err }); });
  });
}

async function connect(token) {
  const client = new Client({ name: 'envelope-interop', version: '1' });
  const transport = new StreamableHTTPClientTransport(new URL(W.mcpUrl),
    { requestInit: { headers: { Authorization: `Bearer ${token}` } } });
  await client.connect(transport, { timeout: 10_000 });
  clients.push(client);
  return { client, transport, call: (name, args = {}) => client.callTool({ name, arguments: args }, undefined, { timeout: 20_000 }) };
}

const errorOf = (r) => { assert.equal(r.isError, true, `expected an error, got ${JSON.stringify(r).slice(0, 400)}`); return JSON.parse(r.content[0].text).error; };
const ok = (r) => { assert.ok(!r.isError, `unexpected error: ${r.content?.[0]?.text}`); return r.structuredContent; };
const scopeOf = (status, name) => status.envelopes.find((e) => e.scope === `envelope:${name}`);
const windowOf = (scope, w) => scope.windows.find((x) => x.window === w);

function baseEnv(dataHome) {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dataHome, SATWARDEN_TOOLS: 'all', XDG_DATA_HOME: dataHome, XDG_CONFIG_HOME: dataHome };
}

before(async () => {
  W.relay = await startRelay();
  W.ln = new FakeLightning({ network: 'regtest' });
  W.wl = new FakeWalletLedger({ lightning: W.ln });
  const clientSecret = randomBytes(32).toString('hex');
  W.wallet = await startAlbyWallet({ relayUrls: [W.relay.url], ledger: W.wl,
    clientPubkey: getPublicKey(hexToBytes(clientSecret)), infoEncryption: 'nip44_v2' });
  W.api = await startL402Server({ lightning: W.ln });
  W.root = mkdtempSync(join(tmpdir(), 'sw-envelope-'));
  roots.push(W.root);
  W.configPath = join(W.root, 'config.json');
  writeFileSync(W.configPath, JSON.stringify({
    policy: { day_sats: FILE_DAY_SATS, protocols: ['bolt11', 'l402', 'mpp'] },
    envelopes: [
      { name: 'env-a', cap_sats: 300, protocols: ['bolt11'] },
      { name: 'env-b', cap_sats: 1000, protocols: ['l402'] },
      { name: 'env-c', cap_sats: 1000, ttl_seconds: 1 },
    ],
    tokens: [
      { token: TOKENS.a, label: 'agent-a', envelope: 'env-a' },
      { token: TOKENS.b, label: 'agent-b', envelope: 'env-b' },
      { token: TOKENS.c, label: 'agent-c', envelope: 'env-c' },
      { token: TOKENS.d, label: 'agent-d' },
    ],
  }), { mode: 0o600 });
  // An L402 credential cached by an older satwarden, whose cache file was keyed by origin only (format 1): it was
  // paid out of band here (the fake Lightning node knows every preimage). Only the stdio owner may use it.
  {
    const r = await fetch(`${W.api.url}/l402`, { signal: AbortSignal.timeout(5000) });
    const h = r.headers.get('www-authenticate');
    await r.body?.cancel();
    const token = /token="([^"]+)"/.exec(h)[1];
    const { paymentHash } = W.ln.decode(/invoice="([^"]+)"/.exec(h)[1]);
    W.legacyCredential = `L402 ${token}:${W.ln.lookup(paymentHash).preimage}`;
    W.apiOrigin = new URL(W.api.url).origin;
    W.dataDir = join(W.root, 'satwarden');
    mkdirSync(W.dataDir, { mode: 0o700 });
    writeFileSync(join(W.dataDir, 'l402-tokens.json'),
      JSON.stringify({ version: 1, tokens: { [W.apiOrigin]: W.legacyCredential } }), { mode: 0o600 });
  }
  W.policyEnv = {
    SATWARDEN_FETCH_ALLOW: '127.0.0.1',
    SATWARDEN_NWC_PAY_TIMEOUT: '5',
    SATWARDEN_NWC_READ_TIMEOUT: '5',
    // The new policy variables under test:
    SATWARDEN_DAY_SATS: String(ENV_DAY_SATS),
    SATWARDEN_FEE_BASE_MSAT: String(FEE_BASE_MSAT),
    SATWARDEN_PROTOCOLS: 'bolt11,l402',  // the file allows mpp too; the environment takes it away
  };
  W.env = {
    ...baseEnv(W.root),
    ...W.policyEnv,
    NWC_URL: nwcUrl({ walletPubkey: W.wallet.walletPubkey, relayUrls: [W.relay.url], clientSecret }),
  };
  W.port = await freePort();
  W.mcpUrl = `http://127.0.0.1:${W.port}/mcp`;
  W.server = startServer({ args: ['--transport', 'http', '--port', String(W.port), '--config', W.configPath,
    '--log-level', 'info'], env: W.env });
  await W.server.ready;
  W.startedAt = Date.now();
  // The owner: satwarden on stdio over the same data directory and config (no wallet: it only reads here).
  W.owner = new Client({ name: 'envelope-owner', version: '1' });
  await W.owner.connect(new StdioClientTransport({ command: SERVER, args: ['--config', W.configPath],
    env: { ...baseEnv(W.root), ...W.policyEnv, SATWARDEN_LOG_LEVEL: 'warning' }, stderr: 'pipe' }), { timeout: 10_000 });
  clients.push(W.owner);
  W.ownerCall = (name, args = {}) => W.owner.callTool({ name, arguments: args }, undefined, { timeout: 20_000 });
});

after(async () => {
  for (const c of clients) await c.close().catch(() => {});
  if (W.server) {
    const exited = new Promise((r) => { if (W.server.child.exitCode !== null) r(); else W.server.child.once('exit', r); });
    W.server.child.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    if (W.server.child.exitCode === null) W.server.child.kill('SIGKILL');
  }
  W.wallet?.close();
  await W.api?.close();
  await W.relay?.close();
  for (const d of roots) rmSync(d, { recursive: true, force: true });
});

test('a bad policy value in the environment stops start-up with an error naming the variable', async () => {
  const dataHome = mkdtempSync(join(tmpdir(), 'sw-envelope-bad-'));
  roots.push(dataHome);
  for (const [name, value, expect] of [
    ['SATWARDEN_DAY_SATS', 'lots', /SATWARDEN_DAY_SATS must be a whole number of sats/],
    ['SATWARDEN_PROTOCOLS', 'bolt11,lnurl', /SATWARDEN_PROTOCOLS: unknown protocol 'lnurl'/],
    ['SATWARDEN_DENY_DOMAINS', 'evil.example,,x', /SATWARDEN_DENY_DOMAINS has an empty entry/],
  ]) {
    const r = await runToExit({ args: ['--transport', 'http', '--port', '0'], env: { ...baseEnv(dataHome), [name]: value } });
    assert.equal(r.code, 2, `${name}=${value}: exit code`);
    assert.match(r.stderr, expect);
    assert.equal(r.stdout, '', 'nothing on stdout');
  }
});

test('no token or a wrong token → 401 with WWW-Authenticate: Bearer; the SDK client cannot connect', async () => {
  const init = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  const post = (extra) => fetch(W.mcpUrl, { method: 'POST', headers: { ...headers, ...extra }, body: init, signal: AbortSignal.timeout(5000) });

  let r = await post({});
  assert.equal(r.status, 401);
  assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="satwarden"');
  await r.body?.cancel();
  for (const bad of [`Bearer ${randomBytes(24).toString('hex')}`, `Bearer ${TOKENS.a.slice(0, -1)}`, `Bearer ${TOKENS.a}x`,
    `Basic ${Buffer.from(`agent-a:${TOKENS.a}`).toString('base64')}`, `Bearer`]) {
    r = await post({ authorization: bad });
    assert.equal(r.status, 401, bad.slice(0, 12));
    assert.match(r.headers.get('www-authenticate'), /^Bearer realm="satwarden"/);
    await r.body?.cancel();
  }
  r = await post({ authorization: `Bearer ${randomBytes(24).toString('hex')}` });
  assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="satwarden", error="invalid_token"');
  await r.body?.cancel();
  // GET (the SSE stream) and the legacy /sse endpoint are guarded the same way.
  r = await fetch(W.mcpUrl, { headers: { accept: 'text/event-stream' }, signal: AbortSignal.timeout(5000) });
  assert.equal(r.status, 401);
  await r.body?.cancel();
  r = await fetch(`http://127.0.0.1:${W.port}/sse`, { headers: { accept: 'text/event-stream' }, signal: AbortSignal.timeout(5000) });
  assert.equal(r.status, 401);
  await r.body?.cancel();
  // A right token → 200.
  r = await post({ authorization: `Bearer ${TOKENS.d}` });
  assert.equal(r.status, 200);
  assert.ok(r.headers.get('mcp-session-id'));
  await r.body?.cancel();

  const client = new Client({ name: 'envelope-interop-wrong', version: '1' });
  const transport = new StreamableHTTPClientTransport(new URL(W.mcpUrl),
    { requestInit: { headers: { Authorization: `Bearer ${randomBytes(24).toString('hex')}` } } });
  await assert.rejects(client.connect(transport, { timeout: 5000 }), /401|Unauthorized/);
  await client.close().catch(() => {});
  assert.equal(W.wl.requests.filter((q) => q.method === 'pay_invoice').length, 0, 'nothing reached the wallet');
});

test('get_budget_status shows the effective policy: the env day cap over the file; a token sees its own envelope', async () => {
  W.a = await connect(TOKENS.a);
  const st = ok(await W.a.call('get_budget_status'));
  const day = windowOf(st.global, 'day');
  assert.equal(day.limit_sats, ENV_DAY_SATS, `SATWARDEN_DAY_SATS (${ENV_DAY_SATS}) beats the file's ${FILE_DAY_SATS}`);
  assert.equal(day.limit_msat, ENV_DAY_SATS * 1000);
  assert.equal(day.spent_msat, 0);
  assert.equal(st.global.per_call_sats, 1000);
  assert.equal(windowOf(st.global, 'hour').limit_sats, null);
  // The effective policy, not just the caps: fee allowance and protocols from the environment, day cap in msat.
  assert.deepEqual(st.policy.fee, { base_msat: FEE_BASE_MSAT, ppm: FEE_PPM });
  assert.deepEqual(st.policy.protocols, ['bolt11', 'l402']);
  assert.equal(st.policy.day_msat, ENV_DAY_SATS * 1000);
  assert.equal(st.policy.per_call_msat, 1_000_000);
  assert.equal(st.policy.allow_domains, null);
  assert.deepEqual(st.policy.deny_domains, []);
  assert.deepEqual(st.policy.domains, {});
  assert.deepEqual(st.caller, { client: 'agent-a', envelope: 'env-a', scope: 'client:agent-a', protocols: ['bolt11'] });
  // Only its own envelope: the other tokens' budgets are not A's business.
  assert.deepEqual(st.envelopes.map((e) => e.scope), ['envelope:env-a']);
  assert.equal(windowOf(scopeOf(st, 'env-a'), 'lifetime').limit_sats, 300);
  // The owner (stdio) sees every envelope and the same policy.
  const all = ok(await W.ownerCall('get_budget_status'));
  assert.deepEqual(all.envelopes.map((e) => e.scope).sort(), ['envelope:env-a', 'envelope:env-b', 'envelope:env-c']);
  assert.equal(windowOf(scopeOf(all, 'env-b'), 'lifetime').limit_sats, 1000);
  assert.ok(scopeOf(all, 'env-c').expires_at > 0);
  assert.deepEqual(all.policy, st.policy);
  assert.equal(all.caller.scope, 'all');
});

test('token A pays within its envelope, then BUDGET_EXCEEDED names the envelope and what remains', async () => {
  const first = W.ln.makeInvoice({ amountMsat: 200_000, description: 'a-1' });
  const p1 = ok(await W.a.call('pay_invoice', { invoice: first.invoice, max_sats: 250 }));
  assert.equal(p1.preimage, first.preimage);
  assert.equal(p1.amount_msat, 200_000);
  assert.equal(p1.fee_msat, walletFee(200_000));
  const spentA = 200_000 + walletFee(200_000);  // 200.2 sats: settled amount + actual fee

  // 100 sats + the 2-sat fee allowance do not fit into the 99.8 sats left.
  const second = W.ln.makeInvoice({ amountMsat: 100_000, description: 'a-2' });
  const e = errorOf(await W.a.call('pay_invoice', { invoice: second.invoice, max_sats: 250 }));
  assert.equal(e.code, 'BUDGET_EXCEEDED');
  assert.equal(e.details.scope, 'envelope:env-a');
  assert.equal(e.details.limit_msat, 300_000);
  assert.equal(e.details.spent_msat, spentA);
  assert.equal(e.details.remaining_msat, 300_000 - spentA);
  assert.equal(e.details.remaining_sats, 99);
  assert.equal(e.details.fee_allowance_msat, FEE_BASE_MSAT, 'SATWARDEN_FEE_BASE_MSAT reached the ledger');
  assert.equal(e.details.requested_msat, 100_000 + FEE_BASE_MSAT);
  assert.match(e.message, /envelope:env-a/);
  assert.match(e.message, /99 sats remain/);
  assert.equal(W.wl.payCount(second.paymentHash), 0, 'the refused invoice never reached the wallet');

  // What does fit is still paid: 97 sats + 2 sats allowance = 99 sats ≤ 99.8 sats.
  const third = W.ln.makeInvoice({ amountMsat: 97_000, description: 'a-3' });
  assert.equal(ok(await W.a.call('pay_invoice', { invoice: third.invoice, max_sats: 100 })).preimage, third.preimage);
  W.spentA = spentA + 97_000 + walletFee(97_000);
  const st = ok(await W.a.call('get_budget_status'));
  const lt = windowOf(scopeOf(st, 'env-a'), 'lifetime');
  assert.equal(lt.spent_msat, W.spentA);
  assert.equal(lt.remaining_msat, 300_000 - W.spentA);
  // And now even a 1-sat invoice is over (1 + 2 sats allowance > 2.7 sats left).
  const tiny = W.ln.makeInvoice({ amountMsat: 1_000, description: 'a-4' });
  const e2 = errorOf(await W.a.call('pay_invoice', { invoice: tiny.invoice }));
  assert.equal(e2.code, 'BUDGET_EXCEEDED');
  assert.equal(e2.details.scope, 'envelope:env-a');
  assert.equal(e2.details.remaining_msat, 300_000 - W.spentA);
});

test('an envelope refuses a protocol it does not allow (PROTOCOL_NOT_ALLOWED), before paying', async () => {
  // A is bolt11-only: an L402 paywall is refused at the reservation.
  const e = errorOf(await W.a.call('access_l402_resource', { url: `${W.api.url}/l402`, max_sats: 50 }));
  assert.equal(e.code, 'PROTOCOL_NOT_ALLOWED');
  assert.equal(e.details.scope, 'envelope:env-a');
  assert.equal(e.details.protocol, 'l402');
  assert.match(e.message, /envelope 'env-a'/);
  // B is l402-only: a plain invoice is refused.
  W.b = await connect(TOKENS.b);
  const inv = W.ln.makeInvoice({ amountMsat: 5_000, description: 'b-bolt11' });
  const e2 = errorOf(await W.b.call('pay_invoice', { invoice: inv.invoice }));
  assert.equal(e2.code, 'PROTOCOL_NOT_ALLOWED');
  assert.equal(e2.details.scope, 'envelope:env-b');
  assert.equal(e2.details.protocol, 'bolt11');
  assert.equal(W.wl.payCount(inv.paymentHash), 0);
  assert.equal(W.api.stats.paid['/l402'] ?? 0, 0, 'the paywall was never passed');
});

test("token B's envelope is unaffected by A's spending; B pays an L402 paywall within its own envelope", async () => {
  const before = ok(await W.b.call('get_budget_status'));
  const ltB = windowOf(scopeOf(before, 'env-b'), 'lifetime');
  assert.equal(ltB.spent_msat, 0);
  assert.equal(ltB.remaining_sats, 1000);
  assert.equal(scopeOf(before, 'env-a'), undefined, "A's envelope is not shown to B");
  assert.equal(windowOf(scopeOf(ok(await W.ownerCall('get_budget_status')), 'env-a'), 'lifetime').remaining_msat,
    300_000 - W.spentA);

  const r = ok(await W.b.call('access_l402_resource', { url: `${W.api.url}/l402`, max_sats: 50 }));
  assert.equal(r.status, 200);
  assert.equal(r.paid, true);
  assert.equal(W.api.stats.paid['/l402'], 1);
  W.spentB = 10_000 + walletFee(10_000);
  W.l402Hash = r.payment_hash;
  const after = ok(await W.b.call('get_budget_status'));
  assert.equal(windowOf(scopeOf(after, 'env-b'), 'lifetime').spent_msat, W.spentB);
  const owner = ok(await W.ownerCall('get_budget_status'));
  assert.equal(windowOf(scopeOf(owner, 'env-a'), 'lifetime').spent_msat, W.spentA, "B's payment is not A's");
  assert.equal(windowOf(scopeOf(owner, 'env-b'), 'lifetime').spent_msat, W.spentB);
});

test("B's cached L402 credential is B's alone: A (l402 not allowed) and D (own budget) must pay for themselves", async () => {
  const paidBefore = W.api.stats.paid['/l402'];
  // A's envelope forbids l402: refused at the reservation, and the paywall is not passed with B's credential.
  const e = errorOf(await W.a.call('access_l402_resource', { url: `${W.api.url}/l402`, max_sats: 50 }));
  assert.equal(e.code, 'PROTOCOL_NOT_ALLOWED');
  assert.equal(e.details.scope, 'envelope:env-a');
  assert.equal(W.api.stats.paid['/l402'], paidBefore, 'A got nothing from the paywall');
  // D (no envelope, l402 allowed globally) pays its own credential; neither B's nor the owner's old one is used.
  W.d = await connect(TOKENS.d);
  const d1 = ok(await W.d.call('access_l402_resource', { url: `${W.api.url}/l402`, max_sats: 50 }));
  assert.equal(d1.status, 200);
  assert.equal(d1.paid, true, 'D paid for its own credential');
  assert.equal(d1.used_cached_token, false);
  assert.notEqual(d1.payment_hash, W.l402Hash);
  W.spentDl402 = 10_000 + walletFee(10_000);
  W.l402HashD = d1.payment_hash;
  // From then on each token reuses its own credential.
  const d2 = ok(await W.d.call('access_l402_resource', { url: `${W.api.url}/l402` }));
  assert.equal(d2.used_cached_token, true);
  assert.equal(d2.paid, false);
  const b2 = ok(await W.b.call('access_l402_resource', { url: `${W.api.url}/l402` }));
  assert.equal(b2.used_cached_token, true);
  assert.equal(b2.paid, false);
  assert.equal(W.wl.payCount(W.l402HashD), 1);
  assert.equal(W.wl.payCount(W.l402Hash), 1);
  // Credentials live in the 0600 ledger, keyed by token label and envelope; the old origin-only file was imported
  // once (for the stdio owner: see the last test) and renamed.
  assert.equal(statSync(join(W.dataDir, 'ledger.sqlite')).mode & 0o777, 0o600);
  assert.ok(!existsSync(join(W.dataDir, 'l402-tokens.json')), 'the old credential file was imported');
  assert.ok(existsSync(join(W.dataDir, 'l402-tokens.json.imported')));
});

test("an MPP-only 402 on the same origin does not evict B's L402 credential (no second payment for /l402)", async () => {
  const paymentsBefore = W.wl.txs.filter((t) => t.type === 'outgoing').length;
  // B's L402 credential is not sent to /mpp (it never worked there); the answer offers only MPP, which is not
  // allowed here: nothing is paid, and the L402 credential stays.
  const e = errorOf(await W.b.call('access_l402_resource', { url: `${W.api.url}/mpp`, max_sats: 50 }));
  assert.equal(e.code, 'PROTOCOL_NOT_ALLOWED');
  assert.equal(e.details.protocol, 'mpp');
  const again = ok(await W.b.call('access_l402_resource', { url: `${W.api.url}/l402`, max_sats: 50 }));
  assert.equal(again.status, 200);
  assert.equal(again.paid, false, 'the L402 credential survived the MPP 402');
  assert.equal(again.used_cached_token, true);
  assert.equal(W.wl.txs.filter((t) => t.type === 'outgoing').length, paymentsBefore, 'nothing more was paid');
});

test('an expired envelope is refused (ENVELOPE_EXPIRED)', async () => {
  const wait = W.startedAt + 1100 - Date.now();  // ttl_seconds: 1, counted from start-up
  if (wait > 0) await sleep(wait);
  const c = await connect(TOKENS.c);
  const inv = W.ln.makeInvoice({ amountMsat: 1_000, description: 'c' });
  const e = errorOf(await c.call('pay_invoice', { invoice: inv.invoice }));
  assert.equal(e.code, 'ENVELOPE_EXPIRED');
  assert.equal(e.details.envelope, 'env-c');
  assert.match(e.message, /env-c/);
  assert.equal(W.wl.payCount(inv.paymentHash), 0);
});

test('the global day window set by SATWARDEN_DAY_SATS is enforced across tokens (BUDGET_EXCEEDED naming the window)', async () => {
  const big = W.ln.makeInvoice({ amountMsat: 300_000, description: 'd-1' });
  ok(await W.d.call('pay_invoice', { invoice: big.invoice, max_sats: 300 }));
  W.spentD = 300_000 + walletFee(300_000);
  const dayTotal = W.spentA + W.spentB + W.spentDl402 + W.spentD;  // every token counts against the global window
  const over = W.ln.makeInvoice({ amountMsat: 45_000, description: 'd-2' });
  assert.ok(dayTotal + 45_000 + FEE_BASE_MSAT > ENV_DAY_SATS * 1000, 'the test amounts exceed the env cap');
  assert.ok(dayTotal + 45_000 + FEE_BASE_MSAT < FILE_DAY_SATS * 1000, "…but not the file's cap");
  const e = errorOf(await W.d.call('pay_invoice', { invoice: over.invoice, max_sats: 100 }));
  assert.equal(e.code, 'BUDGET_EXCEEDED');
  assert.equal(e.details.scope, 'global');
  assert.equal(e.details.window, 'day');
  assert.equal(e.details.limit_msat, ENV_DAY_SATS * 1000);
  assert.equal(e.details.spent_msat, dayTotal);
  assert.equal(e.details.remaining_msat, ENV_DAY_SATS * 1000 - dayTotal);
  assert.match(e.message, new RegExp(`global day cap is ${ENV_DAY_SATS} sats`));
  assert.equal(W.wl.payCount(over.paymentHash), 0);
  const st = ok(await W.d.call('get_budget_status'));
  assert.equal(windowOf(st.global, 'day').spent_msat, dayTotal);
  assert.equal(windowOf(st.global, 'day').remaining_msat, ENV_DAY_SATS * 1000 - dayTotal);
});

test('SATWARDEN_PROTOCOLS takes mpp away from the file policy: an MPP paywall is refused', async () => {
  const e = errorOf(await W.d.call('access_l402_resource', { url: `${W.api.url}/mpp`, max_sats: 50 }));
  assert.equal(e.code, 'PROTOCOL_NOT_ALLOWED');
  assert.equal(e.details.scope, 'global');
  assert.equal(e.details.protocol, 'mpp');
  assert.deepEqual(e.details.allowed, ['bolt11', 'l402']);
  assert.equal(W.api.stats.paid['/mpp'] ?? 0, 0);
});

test("a session belongs to its token: A's session id with B's token → 404", async () => {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 99, method: 'tools/call', params: { name: 'get_budget_status', arguments: {} } });
  const r = await fetch(W.mcpUrl, { method: 'POST', body, signal: AbortSignal.timeout(5000), headers: {
    'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18',
    'mcp-session-id': W.a.transport.sessionId, authorization: `Bearer ${TOKENS.b}` } });
  assert.equal(r.status, 404);
  await r.body?.cancel();
});

test('the ledger records each token label as client and its envelope; the wallet paid exactly what settled', async () => {
  // The owner's view (stdio): every client's rows.
  const list = ok(await W.ownerCall('list_payments', { limit: 50 }));
  assert.equal(list.scope, 'all');
  const rows = list.payments;
  // Refusals never reach the ledger as rows; the five payments that were made do.
  assert.equal(rows.length, 5, JSON.stringify(rows.map((p) => [p.client, p.state])));
  for (const p of rows) assert.equal(p.state, 'settled');
  const by = (client) => rows.filter((p) => p.client === client);
  assert.equal(by('agent-a').length, 2);
  for (const p of by('agent-a')) { assert.equal(p.envelope, 'env-a'); assert.equal(p.protocol, 'bolt11'); }
  assert.equal(by('agent-b').length, 1);
  assert.equal(by('agent-b')[0].envelope, 'env-b');
  assert.equal(by('agent-b')[0].protocol, 'l402');
  assert.equal(by('agent-b')[0].domain, '127.0.0.1');
  assert.equal(by('agent-b')[0].payment_hash, W.l402Hash);
  assert.equal(by('agent-d').length, 2);
  for (const p of by('agent-d')) assert.equal(p.envelope, '');
  assert.deepEqual(by('agent-d').map((p) => p.protocol).sort(), ['bolt11', 'l402']);
  assert.equal(by('agent-c').length, 0);

  // Ledger = wallet, to the msat: in total and payment by payment.
  const settled = rows.reduce((s, p) => s + p.amount_msat + p.fee_msat, 0);
  assert.equal(settled, W.spentA + W.spentB + W.spentDl402 + W.spentD);
  assert.equal(W.wl.totalPaidMsat(), settled);
  const out = W.wl.txs.filter((t) => t.type === 'outgoing');
  assert.equal(out.length, rows.length);
  for (const t of out) {
    const row = rows.find((p) => p.payment_hash === t.payment_hash);
    assert.ok(row, `wallet payment ${t.payment_hash} is in the ledger`);
    assert.equal(row.amount_msat, t.amount);
    assert.equal(row.fee_msat, t.fees_paid);
    assert.equal(W.wl.payCount(t.payment_hash), 1);
  }
  // The envelopes' totals agree with the rows.
  const st = ok(await W.ownerCall('get_budget_status'));
  assert.equal(windowOf(scopeOf(st, 'env-a'), 'lifetime').spent_msat, by('agent-a').reduce((s, p) => s + p.amount_msat + p.fee_msat, 0));
  assert.equal(windowOf(scopeOf(st, 'env-b'), 'lifetime').spent_msat, W.spentB);
  assert.equal(windowOf(scopeOf(st, 'env-c'), 'lifetime').spent_msat, 0);
  assert.equal(st.pending_count, 0);
  W.rows = rows;
});

test('each token sees only its own payments and spending; another token\'s payment cannot be looked up', async () => {
  const mine = (client) => W.rows.filter((p) => p.client === client).map((p) => p.payment_hash).sort();
  for (const [name, conn, label] of [['a', W.a, 'agent-a'], ['b', W.b, 'agent-b'], ['d', W.d, 'agent-d']]) {
    const list = ok(await conn.call('list_payments', { limit: 50 }));
    assert.equal(list.scope, `client:${label}`, name);
    assert.deepEqual(list.payments.map((p) => p.payment_hash).sort(), mine(label), `${label} sees exactly its own rows`);
    // A filter naming someone else finds nothing instead of widening the view.
    const other = label === 'agent-a' ? 'agent-b' : 'agent-a';
    assert.deepEqual(ok(await conn.call('list_payments', { client: other })).payments, []);
    const rep = ok(await conn.call('spending_report', {}));
    assert.equal(rep.scope, `client:${label}`);
    const own = W.rows.filter((p) => p.client === label);
    assert.equal(rep.total.settled_count, own.length);
    assert.equal(rep.total.settled_amount_msat, own.reduce((s, p) => s + p.amount_msat, 0));
    assert.equal(rep.total.settled_fee_msat, own.reduce((s, p) => s + p.fee_msat, 0));
  }
  const all = ok(await W.ownerCall('spending_report', {}));
  assert.equal(all.scope, 'all');
  assert.equal(all.total.settled_count, W.rows.length);
  assert.equal(ok(await W.ownerCall('spending_report', { client: 'agent-d' })).total.settled_count, 2);

  // lookup_payment: B's L402 payment (its preimage is half of B's credential) is not A's to see.
  const e = errorOf(await W.a.call('lookup_payment', { payment_hash: W.l402Hash }));
  assert.equal(e.code, 'NOT_FOUND');
  assert.doesNotMatch(JSON.stringify(e), /preimage"\s*:\s*"[0-9a-f]{64}/);
  const own = ok(await W.b.call('lookup_payment', { payment_hash: W.l402Hash }));
  assert.equal(own.transaction.payment_hash, W.l402Hash);
  assert.equal(own.transaction.type, 'outgoing');
  // The wallet is shared: list_transactions shows a token only the payments satwarden made for it.
  for (const [conn, label] of [[W.a, 'agent-a'], [W.d, 'agent-d']]) {
    const txs = ok(await conn.call('list_transactions', { limit: 50 })).transactions;
    assert.deepEqual(txs.map((t) => t.payment_hash).sort(), mine(label), label);
  }
});

test('the ledger resources show each token its own view; the owner reads everything', async () => {
  assert.ok(W.a.client.getServerCapabilities()?.resources);
  // Token A cannot read token B's payment: it looks exactly like a missing one.
  await assert.rejects(W.a.client.readResource({ uri: `satwarden://payments/${W.l402Hash}` }, { timeout: 5000 }),
    /-32002|not found/i);
  // Token B reads its own.
  const own = JSON.parse((await W.b.client.readResource({ uri: `satwarden://payments/${W.l402Hash}` }, { timeout: 5000 })).contents[0].text);
  assert.equal(own.client, 'agent-b');
  assert.equal(own.payment_hash, W.l402Hash);
  // satwarden://spending is get_budget_status for the reader: A sees only its own envelope.
  const aSpending = JSON.parse((await W.a.client.readResource({ uri: 'satwarden://spending' }, { timeout: 5000 })).contents[0].text);
  assert.deepEqual(aSpending.envelopes.map((e) => e.scope), ['envelope:env-a']);
  assert.equal(aSpending.caller.client, 'agent-a');
  assert.deepEqual(aSpending, { ...ok(await W.a.call('get_budget_status')), now: aSpending.now });
  // The owner on stdio reads everything.
  assert.ok(W.owner.getServerCapabilities()?.resources);
  const r = await W.owner.readResource({ uri: `satwarden://payments/${W.l402Hash}` }, { timeout: 5000 });
  const row = JSON.parse(r.contents[0].text);
  assert.equal(row.client, 'agent-b');
  assert.equal(row.payment_hash, W.l402Hash);
  const spending = JSON.parse((await W.owner.readResource({ uri: 'satwarden://spending' }, { timeout: 5000 })).contents[0].text);
  assert.equal(spending.envelopes.length, 3);
  assert.equal(spending.policy.fee.base_msat, FEE_BASE_MSAT);
});

test("the old origin-only credential is used by the stdio owner alone, without paying", async () => {
  const before = W.wl.txs.filter((t) => t.type === 'outgoing').length;
  const r = ok(await W.owner.callTool({ name: 'access_l402_resource', arguments: { url: `${W.api.url}/l402` } },
    undefined, { timeout: 20_000 }));
  assert.equal(r.status, 200);
  assert.equal(r.used_cached_token, true);
  assert.equal(r.paid, false);
  assert.equal(W.wl.txs.filter((t) => t.type === 'outgoing').length, before);
});
