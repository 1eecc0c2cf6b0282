// Concurrency against the interop world (integration counterpart of the ledger's unit tests): 180 tool calls in
// two concurrent waves — 10 invoices the wallet cannot pay, then every invoice asked for twice at once, plus
// keysends — against a day cap that only part of them fit. Shows: settled totals never exceed the window, no invoice is paid twice, definite failures
// release their reservation, nothing is left pending, and the ledger's sum equals what the wallet paid, to the msat.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
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

const DAY_CAP_MSAT = 200_000;
const FEE_BASE_MSAT = 1_000;

test('180 concurrent payment calls against a 200-sat day cap: never over, never twice, ledger = wallet', async () => {
  const relay = await startRelay();
  const ln = new FakeLightning({ network: 'regtest' });
  const stranger = new FakeLightning({ network: 'regtest' }); // invoices the wallet has no route to
  const ledger = new FakeWalletLedger({ lightning: ln });
  ledger.behaviour = { delayMs: { pay_invoice: 30, pay_keysend: 30 } }; // keep many payments in flight together
  const clientSecret = randomBytes(32).toString('hex');
  const wallet = await startAlbyWallet({ relayUrls: [relay.url], ledger, clientPubkey: getPublicKey(hexToBytes(clientSecret)), infoEncryption: 'nip44_v2' });
  const dataHome = mkdtempSync(join(tmpdir(), 'sw-budget-'));
  roots.push(dataHome);
  const transport = new StdioClientTransport({ command: SERVER, stderr: 'pipe', env: {
    NWC_URL: nwcUrl({ walletPubkey: wallet.walletPubkey, relayUrls: [relay.url], clientSecret }), SATWARDEN_TOOLS: 'all', XDG_DATA_HOME: dataHome,
    SATWARDEN_DAY_SATS: String(DAY_CAP_MSAT / 1000), SATWARDEN_FEE_BASE_MSAT: String(FEE_BASE_MSAT), SATWARDEN_FEE_PPM: '0',
    SATWARDEN_NWC_PAY_TIMEOUT: '20', SATWARDEN_LOG_LEVEL: 'warning' } });
  const client = new Client({ name: 'budget', version: '1' });
  await client.connect(transport);
  const call = (name, args) => client.callTool({ name, arguments: args }, undefined, { timeout: 60_000 });
  try {
    const payable = Array.from({ length: 70 }, (_, i) => ln.makeInvoice({ amountMsat: 7_000 + i }));
    const unpayable = Array.from({ length: 10 }, () => stranger.makeInvoice({ amountMsat: 5_000 }));
    // Phase 1 (fits the cap): 10 unpayable invoices, each must fail definitely and release its reservation, while
    // 10 payable ones settle. Phase 2: everything else at once, twice per invoice, plus keysends — past the cap.
    const phase1 = [...unpayable.map((b) => call('pay_invoice', { invoice: b.invoice })),
      ...payable.slice(0, 10).map((b) => call('pay_invoice', { invoice: b.invoice }))];
    const r1 = await Promise.all(phase1);
    for (const r of r1.slice(0, 10)) assert.equal(JSON.parse(r.content[0].text).error?.code, 'PAYMENT_FAILED');
    for (const r of r1.slice(10)) assert.ok(!r.isError, r.content?.[0]?.text);
    const calls = [];
    for (const b of payable.slice(10)) calls.push(call('pay_invoice', { invoice: b.invoice }), call('pay_invoice', { invoice: b.invoice }));
    for (let i = 0; i < 30; i++) calls.push(call('pay_keysend', { destination: '03864ef025fde8fb587d989186ce6a4a186895ee44a926bfc370e2c366597a3f8f', amount_sats: 3 }));
    const results = [...r1.slice(10), ...(await Promise.all(calls))];

    const codes = {};
    let successes = 0;
    for (const r of results) {
      if (!r.isError) { successes++; continue; }
      const code = JSON.parse(r.content[0].text).error.code;
      codes[code] = (codes[code] ?? 0) + 1;
    }
    const diag = JSON.stringify(codes);
    const allowed = new Set(['BUDGET_EXCEEDED', 'ALREADY_PAID', 'PAYMENT_IN_PROGRESS']);
    for (const c of Object.keys(codes)) assert.ok(allowed.has(c), `unexpected refusal ${c}: ${JSON.stringify(codes)}`);
    assert.ok(codes.BUDGET_EXCEEDED > 0, 'the cap was actually reached');
    assert.ok(successes > 10, `some phase-2 payments went through: ${diag}`);

    // No invoice paid twice; every wallet payment is a settled ledger row and vice versa.
    for (const b of payable) assert.ok(ledger.payCount(b.paymentHash) <= 1, 'paid twice');
    const rows = [];
    for (let cursor, page = 0; page < 10; page++) {  // bounded: 180 calls make at most ~120 rows
      const r = (await call('list_payments', { limit: 200, ...(cursor ? { cursor } : {}) })).structuredContent;
      rows.push(...r.payments);
      cursor = r.next_cursor;
      if (!cursor) break;
    }
    const settled = rows.filter((p) => p.state === 'settled');
    assert.equal(settled.length, successes);
    assert.equal(rows.filter((p) => ['reserved', 'in_flight', 'unknown'].includes(p.state)).length, 0, 'nothing left pending');
    assert.equal(rows.filter((p) => p.state === 'failed').length, 10, 'the unpayable ones are failed rows (not counted)');
    const walletOut = ledger.txs.filter((t) => t.type === 'outgoing');
    assert.equal(walletOut.length, settled.length);
    const ledgerMsat = settled.reduce((a, p) => a + p.amount_msat + p.fee_msat, 0);
    assert.equal(ledgerMsat, ledger.totalPaidMsat(), 'ledger = wallet, to the msat');
    assert.ok(ledgerMsat <= DAY_CAP_MSAT, `spent ${ledgerMsat} msat over the ${DAY_CAP_MSAT} msat cap`);
    for (const p of settled) {
      const tx = walletOut.find((t) => t.payment_hash === p.payment_hash);
      assert.ok(tx, 'settled row the wallet never paid');
      assert.equal(p.amount_msat, tx.amount);
      assert.equal(p.fee_msat, tx.fees_paid);
    }
    const day = async () => (await call('get_budget_status', {})).structuredContent.global.windows.find((w) => w.window === 'day');
    const d1 = await day();
    assert.equal(d1.spent_msat, ledgerMsat);
    assert.equal(d1.remaining_msat, DAY_CAP_MSAT - ledgerMsat);
    // Settling returned each payment's unused fee allowance; spend what is left, one 3-sat keysend at a time,
    // until refused: the window then holds less than one more (3,000 msat + 1,000 allowance).
    let refused = false;
    for (let i = 0; i < 20 && !refused; i++) {
      const r = await call('pay_keysend', { destination: '03864ef025fde8fb587d989186ce6a4a186895ee44a926bfc370e2c366597a3f8f', amount_sats: 3 });
      refused = r.isError && JSON.parse(r.content[0].text).error.code === 'BUDGET_EXCEEDED';
    }
    assert.ok(refused, 'refused once the window is full');
    const d2 = await day();
    assert.ok(d2.remaining_msat < 3_000 + FEE_BASE_MSAT, `remaining ${d2.remaining_msat}`);
    assert.ok(d2.spent_msat <= DAY_CAP_MSAT);
    assert.equal(d2.spent_msat, ledger.totalPaidMsat(), 'ledger = wallet, to the msat, at the end too');
  } finally {
    await client.close();
    wallet.close();
    await relay.close();
  }
});
