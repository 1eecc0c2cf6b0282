// Crash safety against the interop world: SIGKILL satwarden at each step of a payment, restart it, and show: no
// lost row, no second payment, and the right final state after reconciliation.
//  - after the request was published, before the wallet's reply: killed from outside while the wallet holds it;
//  - after reserve, after the in_flight mark (before publishing) and after the wallet's reply (before settle): these
//    windows last microseconds, so the server kills itself there (SATWARDEN_FAILPOINT, a test-build hook).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { startRelay } from '../world/relay.mjs';
import { FakeLightning } from '../world/lightning.mjs';
import { FakeWalletLedger, startAlbyWallet, nwcUrl, getPublicKey, hexToBytes } from '../world/wallet.mjs';

const SERVER = process.env.SW_SERVER ?? '/work/main/build/src/app/satwarden';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const roots = [];
after(() => { for (const d of roots) rmSync(d, { recursive: true, force: true }); });

test('SIGKILL between publish and reply: restart, reconcile to settled, never pay twice', async () => {
  const w = await crashWorld({ payTimeout: 2 });
  const { ln, ledger } = w;
  const connect = () => w.start();
  try {
    const bill = ln.makeInvoice({ amountMsat: 4_000 });
    ledger.behaviour = { delayMs: { pay_invoice: 1500 } };
    const a = await connect();
    a.client.callTool({ name: 'pay_invoice', arguments: { invoice: bill.invoice } }).catch(() => {});
    await sleep(700); // the request is out; the wallet answers at 1.5 s
    process.kill(a.transport.pid, 'SIGKILL');
    await sleep(1500);
    assert.equal(ledger.payCount(bill.paymentHash), 1, 'the wallet paid while satwarden was dead');

    // Restart at once: the row is still in flight (younger than pay timeout + 15 s) — a retry must not pay.
    const b = await connect();
    const early = await b.client.callTool({ name: 'pay_invoice', arguments: { invoice: bill.invoice } });
    assert.equal(early.isError, true);
    assert.ok(['PAYMENT_IN_PROGRESS', 'PAYMENT_STATE_UNKNOWN', 'ALREADY_PAID'].includes(JSON.parse(early.content[0].text).error.code));
    await b.client.close();

    // Restart after the stale threshold: recovery marks it unknown, reconciliation asks the wallet → settled.
    await sleep(17_000);
    const c = await connect();
    let row;
    for (let i = 0; i < 50; i++) {
      const list = await c.client.callTool({ name: 'list_payments', arguments: {} });
      row = list.structuredContent.payments.find((p) => p.payment_hash === bill.paymentHash);
      if (row?.state === 'settled') break;
      await sleep(100);
    }
    assert.equal(row.state, 'settled', `final state ${row?.state}`);
    assert.equal(row.amount_msat, 4_000);
    const again = await c.client.callTool({ name: 'pay_invoice', arguments: { invoice: bill.invoice } });
    assert.equal(JSON.parse(again.content[0].text).error.code, 'ALREADY_PAID');
    assert.equal(ledger.payCount(bill.paymentHash), 1, 'paid exactly once');
    const status = await c.client.callTool({ name: 'get_budget_status', arguments: {} });
    assert.equal(status.structuredContent.unknown_count, 0);
    await c.client.close();
  } finally {
    await w.close();
  }
});

// One world per test: a relay, an Alby wallet, a data dir; `start(extraEnv)` spawns satwarden over stdio.
async function crashWorld({ payTimeout = 1 } = {}) {
  const relay = await startRelay();
  const ln = new FakeLightning({ network: 'regtest' });
  const ledger = new FakeWalletLedger({ lightning: ln });
  const clientSecret = randomBytes(32).toString('hex');
  const wallet = await startAlbyWallet({ relayUrls: [relay.url], ledger, clientPubkey: getPublicKey(hexToBytes(clientSecret)), infoEncryption: 'nip44_v2' });
  const dataHome = mkdtempSync(join(tmpdir(), 'sw-crash-'));
  roots.push(dataHome);
  // A row older than the pay timeout + 15 s cannot belong to a live call and is recovered.
  const env = { NWC_URL: nwcUrl({ walletPubkey: wallet.walletPubkey, relayUrls: [relay.url], clientSecret }), SATWARDEN_TOOLS: 'all', XDG_DATA_HOME: dataHome,
    SATWARDEN_NWC_PAY_TIMEOUT: String(payTimeout), SATWARDEN_NWC_READ_TIMEOUT: '3', SATWARDEN_LOG_LEVEL: 'warning' };
  const start = async (extra = {}) => {
    const transport = new StdioClientTransport({ command: SERVER, env: { ...env, ...extra }, stderr: 'pipe' });
    const client = new Client({ name: 'crash', version: '1' });
    await client.connect(transport);
    return { client, transport };
  };
  return { ln, ledger, start, env, async close() { wallet.close(); await relay.close(); } };
}

async function rowOf(client, hash) {
  const list = await client.callTool({ name: 'list_payments', arguments: {} });
  return list.structuredContent.payments.filter((p) => p.payment_hash === hash);
}

// Calls pay_invoice on a server that dies at `failpoint`; resolves once the process is gone.
async function payAndDie(w, failpoint, invoice) {
  const a = await w.start({ SATWARDEN_FAILPOINT: failpoint });
  const pid = a.transport.pid;
  // The SDK rejects the call with "Connection closed" as soon as the process is gone.
  const outcome = await a.client.callTool({ name: 'pay_invoice', arguments: { invoice } }, undefined, { timeout: 5000 })
    .then(() => 'answered', (e) => (/closed/i.test(String(e)) ? 'died' : `failed: ${e}`));
  assert.equal(outcome, 'died', `the server should have died at ${failpoint}`);
  assert.throws(() => process.kill(pid, 0), 'the process is gone');
}

for (const [failpoint, walletPays, afterRecovery] of [
  ['after_reserve', false, 'released'],  // never left the process: released without asking the wallet
  // Marked in flight, not sent: unknown → the wallet has no such payment. Concluded "failed" only because this
  // world's wallet is declared to honour NIP-47 expiration (the default keeps it unknown: see the next test).
  ['after_in_flight', false, 'failed'],
  ['after_reply', true, 'settled'],      // paid, reply received, not yet recorded: unknown → lookup → settled
]) {
  test(`SIGKILL ${failpoint.replace(/_/g, ' ')}: restart → ${afterRecovery}, never paid twice`, async () => {
    const w = await crashWorld();
    try {
      const bill = w.ln.makeInvoice({ amountMsat: 5_000 });
      await payAndDie(w, failpoint, bill.invoice);
      await sleep(300);
      assert.equal(w.ledger.payCount(bill.paymentHash), walletPays ? 1 : 0);

      // At once: the row is young, so it may still belong to a live call — a retry must not pay.
      const b = await w.start();
      const [young] = await rowOf(b.client, bill.paymentHash);
      assert.ok(young, 'the row survived the crash');
      assert.equal(young.state, failpoint === 'after_reserve' ? 'reserved' : 'in_flight');
      const early = await b.client.callTool({ name: 'pay_invoice', arguments: { invoice: bill.invoice } });
      assert.equal(early.isError, true);
      assert.equal(JSON.parse(early.content[0].text).error.code, 'PAYMENT_IN_PROGRESS');
      await b.client.close();

      // After the stale threshold a restart recovers it (and reconciles with the wallet where needed).
      await sleep(16_500);
      const c = await w.start({ SATWARDEN_WALLET_HONOURS_EXPIRATION: 'true' });
      let rows;
      for (let i = 0; i < 50; i++) {
        rows = await rowOf(c.client, bill.paymentHash);
        if (rows[0]?.state === afterRecovery) break;
        await sleep(100);
      }
      assert.equal(rows.length, 1, 'exactly one row for the payment');
      assert.equal(rows[0].state, afterRecovery);
      const status = await c.client.callTool({ name: 'get_budget_status', arguments: {} });
      assert.equal(status.structuredContent.pending_count, 0);
      if (walletPays) {
        assert.equal(rows[0].amount_msat, 5_000);
        const again = await c.client.callTool({ name: 'pay_invoice', arguments: { invoice: bill.invoice } });
        assert.equal(JSON.parse(again.content[0].text).error.code, 'ALREADY_PAID');
      } else {
        // Nothing was paid, so the agent may pay now — exactly once.
        const paid = await c.client.callTool({ name: 'pay_invoice', arguments: { invoice: bill.invoice } });
        assert.ok(!paid.isError, paid.content?.[0]?.text);
        assert.equal(paid.structuredContent.preimage, bill.preimage);
      }
      assert.equal(w.ledger.payCount(bill.paymentHash), 1, 'paid exactly once');
      const spent = (await c.client.callTool({ name: 'list_payments', arguments: { state: 'settled' } })).structuredContent.payments;
      assert.equal(spent.reduce((a, p) => a + p.amount_msat + p.fee_msat, 0), w.ledger.totalPaidMsat(), 'ledger = wallet, to the msat');
      await c.client.close();
    } finally {
      await w.close();
    }
  });
}

test('SIGKILL after in flight, wallet not known to honour expiration: NOT_FOUND keeps the budget held until the owner resolves it', async () => {
  const w = await crashWorld();
  try {
    const bill = w.ln.makeInvoice({ amountMsat: 7_000 });
    await payAndDie(w, 'after_in_flight', bill.invoice);
    await sleep(16_500);  // past the stale threshold and the request's expiration
    const c = await w.start();
    let rows;
    for (let i = 0; i < 50; i++) {
      rows = await rowOf(c.client, bill.paymentHash);
      if (rows[0]?.state === 'unknown') break;
      await sleep(100);
    }
    assert.equal(rows[0].state, 'unknown', 'silence is not failure');
    const look = await c.client.callTool({ name: 'lookup_payment', arguments: { payment_hash: bill.paymentHash } });
    assert.ok(!look.isError, look.content?.[0]?.text);
    assert.equal(look.structuredContent.ledger.state, 'unknown');
    assert.equal(look.structuredContent.ledger.wallet_said, 'NOT_FOUND');
    assert.match(look.structuredContent.ledger.what_next, /payments resolve/);
    const retry = await c.client.callTool({ name: 'pay_invoice', arguments: { invoice: bill.invoice } });
    assert.equal(retry.isError, true);
    assert.equal(JSON.parse(retry.content[0].text).error.code, 'PAYMENT_STATE_UNKNOWN');
    const status = await c.client.callTool({ name: 'get_budget_status', arguments: {} });
    assert.equal(status.structuredContent.unknown_count, 1, 'the budget stays held');
    await c.client.close();
    // The owner decides (the server may keep running: the ledger is shared).
    const env = { ...w.env };
    const out = execFileSync(SERVER, ['payments', 'resolve', String(rows[0].id), '--failed'], { env, encoding: 'utf8' });
    assert.match(out, /resolved as failed/);
    const d = await w.start();
    const [after] = await rowOf(d.client, bill.paymentHash);
    assert.equal(after.state, 'failed');
    const paid = await d.client.callTool({ name: 'pay_invoice', arguments: { invoice: bill.invoice } });
    assert.ok(!paid.isError, paid.content?.[0]?.text);
    assert.equal(w.ledger.payCount(bill.paymentHash), 1, 'paid exactly once');
    await d.client.close();
  } finally {
    await w.close();
  }
});
