// Crash safety against the interop world: SIGKILL satwarden while a payment is in flight (after the request was
// published, before the wallet's reply), restart it, and show: no lost row, no second payment, and the right final
// state after reconciliation. (The windows "after reserve" and "after the reply, before settle" last microseconds
// and cannot be hit from outside; the ledger's unit tests cover those states' recovery: a stale `reserved` row is
// released as never sent, a stale `in_flight` one becomes `unknown` and is reconciled.)
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
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const roots = [];
after(() => { for (const d of roots) rmSync(d, { recursive: true, force: true }); });

test('SIGKILL between publish and reply: restart, reconcile to settled, never pay twice', async () => {
  const relay = await startRelay();
  const ln = new FakeLightning({ network: 'regtest' });
  const ledger = new FakeWalletLedger({ lightning: ln });
  const clientSecret = randomBytes(32).toString('hex');
  const wallet = await startAlbyWallet({ relayUrls: [relay.url], ledger, clientPubkey: getPublicKey(hexToBytes(clientSecret)), infoEncryption: 'nip44_v2' });
  const dataHome = mkdtempSync(join(tmpdir(), 'sw-crash-'));
  roots.push(dataHome);
  const env = { NWC_URL: nwcUrl({ walletPubkey: wallet.walletPubkey, relayUrls: [relay.url], clientSecret }), XDG_DATA_HOME: dataHome,
    SATWARDEN_NWC_PAY_TIMEOUT: '2', SATWARDEN_NWC_READ_TIMEOUT: '3', SATWARDEN_LOG_LEVEL: 'warning' };
  const connect = async () => {
    const transport = new StdioClientTransport({ command: SERVER, env, stderr: 'pipe' });
    const client = new Client({ name: 'crash', version: '1' });
    await client.connect(transport);
    return { client, transport };
  };
  try {
    const bill = ln.makeInvoice({ amountMsat: 4_000 });
    ledger.behaviour = { delayMs: { pay_invoice: 1500 } };
    const a = await connect();
    a.client.callTool({ name: 'pay_invoice', arguments: { invoice: bill.invoice } }).catch(() => {});
    await sleep(700); // the request is out; the wallet answers at 1.5 s
    process.kill(a.transport.pid, 'SIGKILL');
    await sleep(1500);
    assert.equal(ledger.payCount(bill.paymentHash), 1, 'the wallet paid while satwarden was dead');

    // Restart at once: the row is still in flight (younger than pay timeout + 5 s) — a retry must not pay.
    const b = await connect();
    const early = await b.client.callTool({ name: 'pay_invoice', arguments: { invoice: bill.invoice } });
    assert.equal(early.isError, true);
    assert.ok(['PAYMENT_IN_PROGRESS', 'PAYMENT_STATE_UNKNOWN', 'ALREADY_PAID'].includes(JSON.parse(early.content[0].text).error.code));
    await b.client.close();

    // Restart after the stale threshold: recovery marks it unknown, reconciliation asks the wallet → settled.
    await sleep(6000);
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
    wallet.close();
    await relay.close();
  }
});
