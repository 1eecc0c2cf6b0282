// Budgets in fiat against the interop world (relay, @getalby/sdk wallet service, FakeLightning) and a local price
// server the test drives: its BTC price, its failures, its staleness. satwarden runs over stdio with a $5 day cap
// and an 8,000-sat day cap; the price decides which one is stricter.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { startRelay } from '../world/relay.mjs';
import { FakeLightning } from '../world/lightning.mjs';
import { FakeWalletLedger, startAlbyWallet, nwcUrl, getPublicKey, hexToBytes } from '../world/wallet.mjs';

const SERVER = process.env.SW_SERVER ?? '/work/main/build/src/app/satwarden';
const roots = [];
after(() => { for (const d of roots) rmSync(d, { recursive: true, force: true }); });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A ticker shaped like Coinbase's spot price: GET /v2/prices/BTC-USD/spot → {"data":{"amount":"…","currency":"USD"}}.
async function startPriceServer() {
  const state = { usd: '100000.00', mode: 'ok', requests: 0 };
  const srv = createServer((req, res) => {
    state.requests++;
    const m = /^\/v2\/prices\/BTC-([A-Z]{3})\/spot$/.exec(req.url);
    if (!m) { res.writeHead(404).end(); return; }
    if (state.mode === 'error') { res.writeHead(503, { 'content-type': 'text/plain' }).end('maintenance'); return; }
    if (state.mode === 'garbage') { res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":{"amount":"soon"}}'); return; }
    const price = state[m[1].toLowerCase()];
    if (!price) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ data: { amount: price, base: 'BTC', currency: m[1] } }));
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return { state, url: `http://127.0.0.1:${srv.address().port}`, close: () => new Promise((r) => srv.close(r)) };
}

const MAX_AGE_S = 2;

test('fiat caps: the stricter cap wins both ways, the price moves, a failing source refuses, the rate is recorded', async () => {
  const prices = await startPriceServer();
  const relay = await startRelay();
  const ln = new FakeLightning({ network: 'regtest' });
  const ledger = new FakeWalletLedger({ lightning: ln });
  const clientSecret = randomBytes(32).toString('hex');
  const wallet = await startAlbyWallet({ relayUrls: [relay.url], ledger, clientPubkey: getPublicKey(hexToBytes(clientSecret)), infoEncryption: 'nip44_v2' });
  const dataHome = mkdtempSync(join(tmpdir(), 'sw-fiat-'));
  roots.push(dataHome);
  let stderr = '';
  const transport = new StdioClientTransport({ command: SERVER, stderr: 'pipe', env: {
    NWC_URL: nwcUrl({ walletPubkey: wallet.walletPubkey, relayUrls: [relay.url], clientSecret }), SATWARDEN_TOOLS: 'all', XDG_DATA_HOME: dataHome,
    SATWARDEN_DAY_SATS: '8000', SATWARDEN_DAY_FIAT: '5 usd', SATWARDEN_MAX_SATS: '100000',
    SATWARDEN_FEE_BASE_MSAT: '1000', SATWARDEN_FEE_PPM: '0',
    SATWARDEN_PRICE_SOURCE: `${prices.url}/v2/prices/BTC-{CURRENCY}/spot`, SATWARDEN_PRICE_PATH: '/data/amount',
    SATWARDEN_PRICE_MAX_AGE_SECONDS: String(MAX_AGE_S), SATWARDEN_PRICE_REFRESH_SECONDS: '3600',
    SATWARDEN_FETCH_ALLOW: '127.0.0.1', SATWARDEN_LOG_LEVEL: 'info' } });
  transport.stderr?.on('data', (d) => { stderr += d; });
  const client = new Client({ name: 'fiat', version: '1' });
  await client.connect(transport);
  const call = (name, args) => client.callTool({ name, arguments: args }, undefined, { timeout: 60_000 });
  const errorOf = (r) => JSON.parse(r.content[0].text).error;
  const pay = (sats) => {
    const inv = ln.makeInvoice({ amountMsat: sats * 1000 });
    return call('pay_invoice', { invoice: inv.invoice, max_sats: 100000 }).then((r) => ({ r, inv }));
  };
  const setPrice = async (usd) => { prices.state.usd = usd; prices.state.mode = 'ok'; await sleep((MAX_AGE_S + 1) * 1000 + 300); };
  try {
    // $100,000 per BTC: $5 = 5,000 sats, stricter than 8,000 sats.
    const a = await pay(3000);
    assert.ok(!a.r.isError, a.r.content?.[0]?.text);
    const la = (await call('lookup_payment', { payment_hash: a.inv.paymentHash })).structuredContent;
    const fa = la.ledger.fiat;
    assert.ok(Array.isArray(fa), JSON.stringify(la));
    assert.equal(fa[0].currency, 'usd');
    assert.equal(fa[0].btc_price, 100000);

    // The wallet charges 0.1 % routing fee: a counts 3,003 sats; b needs 2,500 + 1 (fee allowance): 5,504 > 5,000.
    const b = await pay(2500);
    assert.ok(b.r.isError);
    const eb = errorOf(b.r);
    assert.equal(eb.code, 'BUDGET_EXCEEDED', eb.message);
    assert.equal(eb.details.limit_fiat.currency, 'usd');
    assert.equal(eb.details.limit_fiat.amount, 5);
    assert.equal(eb.details.limit_sats, 5000);
    assert.match(eb.message, /5\.00 USD/);
    assert.equal(ledger.payCount(b.inv.paymentHash), 0, 'nothing paid');

    const status = (await call('get_budget_status', {})).structuredContent;
    const day = status.global.windows.find((w) => w.window === 'day');
    assert.equal(day.limit_sats, 5000, JSON.stringify(day));
    assert.equal(day.fiat[0].currency, 'usd');
    assert.equal(day.fiat[0].amount, 5);
    assert.equal(day.fiat[0].spent, 3.003);
    assert.equal(status.prices[0].btc_price, 100000);

    // The price falls to $20,000: $5 = 25,000 sats, so the 8,000-sat cap is the stricter one now.
    await setPrice('20000.00');
    const c = await pay(2500);  // 3,003 + 2,501 = 5,504 sats: fits 8,000
    assert.ok(!c.r.isError, c.r.content?.[0]?.text);
    const lc = (await call('lookup_payment', { payment_hash: c.inv.paymentHash })).structuredContent;
    assert.equal(lc.ledger.fiat[0].btc_price, 20000, 'each payment records the price it was checked at');
    const d = await pay(3000);  // 3,003 + 2,502.5 + 3,001 > 8,000 sats
    assert.ok(d.r.isError);
    const ed = errorOf(d.r);
    assert.equal(ed.code, 'BUDGET_EXCEEDED', ed.message);
    assert.equal(ed.details.limit_sats, 8000);
    assert.equal(ed.details.limit_fiat, undefined, 'the sat cap decided');

    // The source fails: after the maximum age nothing is paid under the dollar cap.
    prices.state.mode = 'error';
    await sleep((MAX_AGE_S + 1) * 1000 + 300);
    const e = await pay(100);
    assert.ok(e.r.isError);
    const ee = errorOf(e.r);
    assert.equal(ee.code, 'PRICE_UNAVAILABLE', ee.message);
    assert.match(ee.message, /nothing was paid/);
    assert.match(ee.message, /503/);
    assert.equal(ee.next_step.action, 'retry_later');
    assert.equal(ledger.payCount(e.inv.paymentHash), 0);

    // A nonsense answer is no price either.
    prices.state.mode = 'garbage';
    const g = await pay(100);
    assert.equal(errorOf(g.r).code, 'PRICE_UNAVAILABLE');
    const stNoPrice = (await call('get_budget_status', {})).structuredContent;
    assert.equal(stNoPrice.global.windows.find((w) => w.window === 'day').fiat[0].price_unavailable, true);

    // Back at $100,000: 5,505.5 sats spent are $5.5055 — over $5, so even 100 sats are refused by the dollar cap.
    await setPrice('100000.00');
    const h = await pay(100);
    assert.ok(h.r.isError);
    assert.equal(errorOf(h.r).details.limit_fiat?.currency, 'usd');

    // What the wallet paid is what the ledger settled, and the report values it at the recorded prices:
    // 3,003 sats (fee included) at $100,000 = $3.003, and 2,502.5 sats at $20,000 = $0.5005.
    const rows = (await call('list_payments', { state: 'settled' })).structuredContent.payments;
    assert.equal(rows.length, 2);
    assert.equal(ledger.payCount(a.inv.paymentHash), 1);
    assert.equal(ledger.payCount(c.inv.paymentHash), 1);
    const rep = (await call('spending_report', {})).structuredContent;
    const usdTotal = rep.total?.fiat?.usd?.settled_total ?? rep.report?.total?.fiat?.usd?.settled_total;
    assert.ok(Math.abs(usdTotal - 3.5035) < 1e-9, JSON.stringify(rep).slice(0, 600));
    assert.ok(prices.state.requests < 50, `bounded price fetches: ${prices.state.requests}`);
    assert.ok(!stderr.includes(clientSecret), 'the NWC secret never reaches the log');
  } finally {
    await client.close();
    await wallet.close?.();
    await relay.close?.();
    await prices.close();
  }
});

test('a cap in a currency without a price source stops satwarden at start-up with a clear message', async () => {
  const dataHome = mkdtempSync(join(tmpdir(), 'sw-fiat-'));
  roots.push(dataHome);
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(SERVER, [], { input: '', timeout: 20_000, env: { SATWARDEN_TOOLS: 'all', XDG_DATA_HOME: dataHome, SATWARDEN_DAY_FIAT: '5 usd', PATH: process.env.PATH } });
  assert.equal(r.status, 2, r.stderr?.toString());
  assert.match(r.stderr.toString(), /price_source/);
  const bad = spawnSync(SERVER, [], { input: '', timeout: 20_000, env: { SATWARDEN_TOOLS: 'all', XDG_DATA_HOME: dataHome, SATWARDEN_DAY_FIAT: '5 dollars', PATH: process.env.PATH } });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr.toString(), /SATWARDEN_DAY_FIAT|day_fiat/);
});
