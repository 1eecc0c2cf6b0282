// Paying paywalls end to end, against independent implementations, all on 127.0.0.1:
//   MCP SDK client → satwarden (stdio and Streamable HTTP) → L402/MPP API built on `macaroon` + `bolt11` (npm),
//   paid through a real relay (@nostr-relay/core) and an @getalby/sdk wallet service.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import http from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startRelay } from '../world/relay.mjs';
import { FakeLightning } from '../world/lightning.mjs';
import { FakeWalletLedger, startAlbyWallet, nwcUrl, getPublicKey, hexToBytes } from '../world/wallet.mjs';
import { startL402Server } from '../world/l402server.mjs';

const SERVER = process.env.SW_SERVER ?? '/work/main/build/src/app/satwarden';
const roots = [];
after(() => { for (const d of roots) rmSync(d, { recursive: true, force: true }); });

async function freePort() {
  return new Promise((res) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
}

async function world({ http = false } = {}) {
  const relay = await startRelay();
  const ln = new FakeLightning({ network: 'regtest' });
  const ledger = new FakeWalletLedger({ lightning: ln });
  const clientSecret = randomBytes(32).toString('hex');
  const wallet = await startAlbyWallet({ relayUrls: [relay.url], ledger, clientPubkey: getPublicKey(hexToBytes(clientSecret)), infoEncryption: 'nip44_v2' });
  const api = await startL402Server({ lightning: ln });
  const dataHome = mkdtempSync(join(tmpdir(), 'sw-l402-'));
  roots.push(dataHome);
  const env = { NWC_URL: nwcUrl({ walletPubkey: wallet.walletPubkey, relayUrls: [relay.url], clientSecret }), SATWARDEN_TOOLS: 'all', XDG_DATA_HOME: dataHome,
    SATWARDEN_FETCH_ALLOW: '127.0.0.1', SATWARDEN_NWC_PAY_TIMEOUT: '5', SATWARDEN_NWC_READ_TIMEOUT: '5', SATWARDEN_LOG_LEVEL: 'warning' };
  const client = new Client({ name: 'l402-interop', version: '1' });
  let child;
  if (http) {
    const port = await freePort();
    child = spawn(SERVER, ['--transport', 'http', '--port', String(port), '--log-level', 'info'], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    await new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error('server did not start')), 5000);
      child.stderr.on('data', (d) => { if (d.toString().includes('serving MCP')) { clearTimeout(t); res(); } });
    });
    await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`)));
  } else {
    await client.connect(new StdioClientTransport({ command: SERVER, env, stderr: 'pipe' }));
  }
  const call = (name, args, opts) => client.callTool({ name, arguments: args }, undefined, opts);
  return { ln, ledger, api, client, call, dataHome,
    async close() { await client.close(); child?.kill('SIGTERM'); wallet.close(); await api.close(); await relay.close(); } };
}

const errorOf = (r) => { assert.equal(r.isError, true, `expected an error, got ${JSON.stringify(r).slice(0, 400)}`); return JSON.parse(r.content[0].text).error; };
const ok = (r) => { assert.ok(!r.isError, `unexpected error: ${r.content?.[0]?.text}`); return r.structuredContent; };
const paidCount = (ledger) => ledger.txs.filter((t) => t.type === 'outgoing').length;

// A pass-through proxy in front of the paid API that can revoke credentials: a request whose Authorization is in
// `revoked` reaches the API without it, so the API answers with a fresh challenge, as for an expired token.
async function startRevokingProxy(target) {
  const upstream = new URL(target);
  const revoked = new Set();
  const server = http.createServer((req, res) => {
    const headers = { ...req.headers, host: upstream.host };
    if (revoked.has(headers.authorization)) delete headers.authorization;
    const up = http.request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on('error', () => { res.writeHead(502); res.end(); });
    req.pipe(up);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, revoked,
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }) };
}

test('L402 (current token= form): pay once, then reuse the cached credential; progress reported', async () => {
  const w = await world();
  try {
    const progress = [];
    const r = ok(await w.call('access_l402_resource', { url: `${w.api.url}/l402`, max_sats: 20, include_credential: true }, { onprogress: (p) => progress.push(p) }));
    assert.equal(r.status, 200);
    assert.equal(r.paid, true);
    assert.equal(r.protocol, 'L402');
    assert.equal(r.amount_sats, 10);
    assert.equal(JSON.parse(r.body).paid, true);
    assert.equal(createHash('sha256').update(Buffer.from(r.preimage, 'hex')).digest('hex'), r.payment_hash);
    assert.match(r.credential.headerValue, /^L402 [A-Za-z0-9+/=]+:[0-9a-f]{64}$/);
    assert.ok(progress.length >= 3, `progress events: ${progress.length}`);
    const again = ok(await w.call('access_l402_resource', { url: `${w.api.url}/l402` }));
    assert.equal(again.status, 200);
    assert.equal(again.paid, false);
    assert.equal(again.used_cached_token, true);
    assert.equal(paidCount(w.ledger), 1, 'paid exactly once');
    assert.equal(typeof again.purchase_id, 'number', 'served from the recorded purchase');
    assert.equal(again.purchase_id, r.purchase_id);
    assert.equal(r.binding, 'verified');
    const mode = statSync(join(w.dataHome, 'satwarden', 'ledger.sqlite')).mode & 0o777;
    assert.equal(mode, 0o600, 'credentials live in the 0600 ledger');
  } finally { await w.close(); }
});

test("Aperture's double LSAT + L402 header; an MPP Lightning charge (single-use credential)", async () => {
  const w = await world();
  try {
    const a = ok(await w.call('access_l402_resource', { url: `${w.api.url}/aperture` }));
    assert.equal(a.status, 200);
    assert.equal(a.protocol, 'L402');
    assert.equal(a.amount_sats, 5);
    const m = ok(await w.call('access_l402_resource', { url: `${w.api.url}/mpp` }));
    assert.equal(m.status, 200);
    assert.equal(m.protocol, 'MPP');
    assert.equal(m.amount_sats, 7);
    assert.equal(m.credential, null);
    assert.ok(m.headers['payment-receipt']);
    // MPP credentials are never replayed: a second access pays a new challenge.
    const m2 = ok(await w.call('access_l402_resource', { url: `${w.api.url}/mpp` }));
    assert.equal(m2.paid, true);
    assert.notEqual(m2.payment_hash, m.payment_hash);
  } finally { await w.close(); }
});

test('two prices against max_sats; malformed challenge; unbound macaroon; expired invoice; still 402 after paying', async () => {
  const w = await world();
  try {
    // Lean by default: a paid call without include_credential returns neither the preimage nor the credential.
    const lean = ok(await w.call('access_l402_resource', { url: `${w.api.url}/cheap`, max_sats: 2 }));
    assert.equal(lean.amount_sats, 1);
    assert.equal(lean.paid, true);
    assert.equal(lean.preimage, null);
    assert.equal(lean.credential, null);
    assert.match(lean.payment_hash, /^[0-9a-f]{64}$/);
    const big = errorOf(await w.call('access_l402_resource', { url: `${w.api.url}/pricey`, max_sats: 100 }));
    assert.equal(big.code, 'AMOUNT_EXCEEDS_MAX');
    assert.match(big.message, /5000 sats/);
    const bad = errorOf(await w.call('access_l402_resource', { url: `${w.api.url}/malformed` }));
    assert.ok(['INVALID_CHALLENGE', 'NO_CHALLENGE', 'UNSUPPORTED_CHALLENGE'].includes(bad.code), bad.code);
    assert.match(bad.message, /nothing was paid/);
    assert.equal(errorOf(await w.call('access_l402_resource', { url: `${w.api.url}/mismatch` })).code, 'MACAROON_NOT_BOUND');
    assert.equal(errorOf(await w.call('access_l402_resource', { url: `${w.api.url}/expired` })).code, 'INVOICE_EXPIRED');
    const still = errorOf(await w.call('access_l402_resource', { url: `${w.api.url}/always402` }));
    assert.equal(still.code, 'STILL_PAYMENT_REQUIRED');
    assert.equal(paidCount(w.ledger), 2, 'only /cheap and /always402 were paid');
  } finally { await w.close(); }
});

test('redirects are returned, not followed; the SSRF guard refuses metadata and private addresses', async () => {
  const w = await world();
  try {
    const r = ok(await w.call('access_l402_resource', { url: `${w.api.url}/redirect` }));
    assert.equal(r.status, 302);
    assert.equal(r.headers.location, '/l402');
    assert.equal(r.paid, false);
    for (const u of ['http://169.254.169.254/latest/meta-data/', 'http://10.0.0.1/', 'http://[::ffff:127.0.0.2]/', 'http://0x7f.1/']) {
      const e = errorOf(await w.call('access_l402_resource', { url: u }));
      assert.equal(e.code, 'URL_FORBIDDEN', u);
    }
  } finally { await w.close(); }
});

test('pay_l402_challenge: L402 header usable as-is; MPP spec credential echoes the challenge', async () => {
  const w = await world();
  try {
    const res = await fetch(`${w.api.url}/l402`);
    const h = res.headers.get('www-authenticate');
    const token = /token="([^"]+)"/.exec(h)[1];
    const invoice = /invoice="([^"]+)"/.exec(h)[1];
    const p = ok(await w.call('pay_l402_challenge', { invoice: ` ${invoice}\n`, macaroon: token }));
    assert.equal(p.protocol, 'L402');
    assert.equal(p.authorization_header, `L402 ${token}:${p.preimage}`);
    assert.equal(p.usage.headerName, 'Authorization');
    assert.equal((await fetch(`${w.api.url}/l402`, { headers: { authorization: p.authorization_header } })).status, 200);
    // The same invoice again: never paid twice.
    assert.equal(errorOf(await w.call('pay_l402_challenge', { invoice, macaroon: token })).code, 'ALREADY_PAID');

    const mres = await fetch(`${w.api.url}/mpp`);
    const mh = mres.headers.get('www-authenticate');
    const req = JSON.parse(Buffer.from(/request="([^"]+)"/.exec(mh)[1], 'base64url').toString());
    const m = ok(await w.call('pay_l402_challenge', { invoice: req.methodDetails.invoice, macaroon: '', challenge_header: mh }));
    assert.equal(m.protocol, 'MPP');
    assert.match(m.authorization_header, /^Payment [A-Za-z0-9_-]+$/);
    const cred = JSON.parse(Buffer.from(m.authorization_header.slice(8), 'base64url').toString());
    assert.equal(cred.challenge.request, /request="([^"]+)"/.exec(mh)[1], 'request echoed byte for byte');
    assert.equal((await fetch(`${w.api.url}/mpp`, { headers: { authorization: m.authorization_header } })).status, 200);
  } finally { await w.close(); }
});

test('over Streamable HTTP: a paid fetch end to end', async () => {
  const w = await world({ http: true });
  try {
    const r = ok(await w.call('access_l402_resource', { url: `${w.api.url}/l402` }));
    assert.equal(r.status, 200);
    assert.equal(r.paid, true);
    const status = ok(await w.call('get_budget_status', {}));
    assert.ok(status.global.windows.length >= 1);
    const list = ok(await w.call('list_payments', {}));
    assert.equal(list.payments[0].payment_hash, r.payment_hash);
    assert.equal(list.payments[0].state, 'settled');
    assert.equal(list.payments[0].protocol, 'l402');
    assert.equal(list.payments[0].domain, '127.0.0.1');
  } finally { await w.close(); }
});

test('a cached L402 credential survives 402s that do not refuse it; a refusal where it worked drops it (paid once more)', async () => {
  const w = await world();
  const proxy = await startRevokingProxy(w.api.url);
  try {
    const first = ok(await w.call('access_l402_resource', { url: `${w.api.url}/l402`, max_sats: 20 }));
    assert.equal(first.paid, true);
    // An MPP-only endpoint on the same origin: the L402 credential is not sent there (only where it worked), the
    // MPP charge is paid, and the L402 credential stays.
    const m = ok(await w.call('access_l402_resource', { url: `${w.api.url}/mpp`, max_sats: 20 }));
    assert.equal(m.protocol, 'MPP');
    assert.equal(m.paid, true);
    const back = ok(await w.call('access_l402_resource', { url: `${w.api.url}/l402` }));
    assert.equal(back.paid, false, 'no second payment for /l402 after the MPP 402');
    assert.equal(back.used_cached_token, true);
    assert.equal(paidCount(w.ledger), 2);
    // Another service on the same origin (Aperture-style: the macaroon names its service): the /l402 credential
    // was never good for /aperture, so it is not sent there and is kept.
    const ap = ok(await w.call('access_l402_resource', { url: `${w.api.url}/aperture`, max_sats: 20 }));
    assert.equal(ap.paid, true);
    for (const path of ['/l402', '/aperture', '/l402', '/aperture']) {
      const r = ok(await w.call('access_l402_resource', { url: `${w.api.url}${path}` }));
      assert.equal(r.paid, false, `${path}: its own credential is reused`);
      assert.equal(r.used_cached_token, true);
    }
    assert.equal(paidCount(w.ledger), 3, 'no ping-pong between the two services');

    // Through the proxy (another origin): pay, then the server revokes that credential. The refusal comes where
    // the credential was paid for: it is dropped and paid for once more, and the new one is reused.
    const p1 = ok(await w.call('access_l402_resource', { url: `${proxy.url}/l402`, max_sats: 20, include_credential: true }));
    assert.equal(p1.paid, true);
    proxy.revoked.add(p1.credential.headerValue);
    const p2 = ok(await w.call('access_l402_resource', { url: `${proxy.url}/l402`, max_sats: 20 }));
    assert.equal(p2.paid, true, 'a refused credential is replaced');
    assert.notEqual(p2.payment_hash, p1.payment_hash);
    assert.match(p2.message, /refused and dropped/);
    const p3 = ok(await w.call('access_l402_resource', { url: `${proxy.url}/l402` }));
    assert.equal(p3.paid, false);
    assert.equal(p3.used_cached_token, true);
    assert.equal(paidCount(w.ledger), 5);
    // forget_credentials: the proxy origin holds one usable credential (p2; p1 was refused), the API origin two
    // (/l402 and /aperture; the MPP one was single-use). Forgotten, they are bought again on the next call.
    const f1 = ok(await w.call('forget_credentials', { origin: proxy.url }));
    assert.equal(f1.forgotten, 1);
    const f2 = ok(await w.call('forget_credentials', {}));
    assert.equal(f2.forgotten, 2);
    const rebuy = ok(await w.call('access_l402_resource', { url: `${w.api.url}/l402`, max_sats: 20 }));
    assert.equal(rebuy.paid, true, 'a forgotten credential is bought again');
    assert.equal(paidCount(w.ledger), 6);
  } finally { await proxy.close(); await w.close(); }
});
