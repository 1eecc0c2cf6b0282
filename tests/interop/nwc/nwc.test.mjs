// satwarden's wallet half against independent implementations, all on 127.0.0.1:
//   MCP client = @modelcontextprotocol/sdk (stdio) → satwarden → NWC over a real relay (@nostr-relay/core) →
//   wallet services on @getalby/sdk or nostr-tools, paying invoices signed with the `bolt11` package.
// Every wait is bounded; reply timeouts are 2-3 s so the fault cases stay fast.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { startRelay } from '../world/relay.mjs';
import { FakeLightning } from '../world/lightning.mjs';
import { FakeWalletLedger, startAlbyWallet, startNip04Wallet, startImpostor, publishNotification, nwcUrl, getPublicKey, hexToBytes } from '../world/wallet.mjs';

const SERVER = process.env.SW_SERVER ?? '/work/main/build/src/app/satwarden';
const tmpRoots = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function freePort() {
  return new Promise((res) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
}

// A world: relays, a wallet service of the given kind, and a satwarden connected to it over stdio.
async function world({ kind = 'alby-nip44', relays = 1, deadRelay = false, env = {}, network = 'regtest', notifications = false, methods } = {}) {
  const live = [];
  for (let i = 0; i < relays; i++) live.push(await startRelay());
  const relayUrls = live.map((r) => r.url);
  const ln = new FakeLightning({ network: 'regtest' });
  const ledger = new FakeWalletLedger({ lightning: ln, network });
  const clientSecret = randomBytes(32).toString('hex');
  const clientPubkey = getPublicKey(hexToBytes(clientSecret));
  let wallet;
  if (kind === 'nip04') wallet = await startNip04Wallet({ relayUrls, ledger, clientPubkey, notifications, methods });
  else wallet = await startAlbyWallet({ relayUrls, ledger, clientPubkey, notifications, infoEncryption: kind === 'alby-both' ? 'alby' : 'nip44_v2' });
  const uriRelays = deadRelay ? [`ws://127.0.0.1:${await freePort()}`, ...relayUrls] : relayUrls;
  const dataHome = mkdtempSync(join(tmpdir(), 'sw-nwc-'));
  tmpRoots.push(dataHome);
  const transport = new StdioClientTransport({
    command: SERVER,
    env: { NWC_URL: nwcUrl({ walletPubkey: wallet.walletPubkey, relayUrls: uriRelays, clientSecret }), SATWARDEN_TOOLS: 'all', XDG_DATA_HOME: dataHome,
      SATWARDEN_NWC_READ_TIMEOUT: '3', SATWARDEN_NWC_PAY_TIMEOUT: '3', SATWARDEN_LOG_LEVEL: 'warning', ...env },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (d) => { stderr += d.toString(); });
  const client = new Client({ name: 'nwc-interop', version: '1' });
  await client.connect(transport);
  const call = async (name, args = {}) => client.callTool({ name, arguments: args });
  return {
    ln, ledger, wallet, client, call, relays: live, relayUrls, clientSecret, clientPubkey, stderr: () => stderr,
    async close() { await client.close(); wallet.close(); for (const r of live) await r.close(); },
  };
}

const errorOf = (r) => { assert.equal(r.isError, true, `expected an error, got ${JSON.stringify(r).slice(0, 300)}`); return JSON.parse(r.content[0].text).error; };
const ok = (r) => { assert.ok(!r.isError, `unexpected error: ${r.content?.[0]?.text}`); return r.structuredContent; };

after(() => { for (const d of tmpRoots) rmSync(d, { recursive: true, force: true }); });

test('NIP-44 wallet: info, balance, invoice, lookup, list, pay with a verified preimage', async () => {
  const w = await world({ kind: 'alby-nip44' });
  try {
    const info = ok(await w.call('get_wallet_info'));
    assert.equal(info.encryption, 'nip44_v2');
    assert.equal(info.network, 'regtest');
    const bal = ok(await w.call('get_balance'));
    assert.equal(bal.balance_msat, 100_000_000);
    assert.equal(bal.balance_sats, 100_000);
    const inv = ok(await w.call('make_invoice', { amount_sats: 21, description: 'coffee' }));
    assert.equal(inv.amount_msat, 21_000);
    assert.match(inv.invoice, /^lnbcrt/);
    const look = ok(await w.call('lookup_payment', { payment_hash: inv.payment_hash }));
    assert.equal(look.transaction.payment_hash, inv.payment_hash);
    assert.equal(look.transaction.amount_sats, 21);

    const bill = w.ln.makeInvoice({ amountMsat: 12_345, description: 'api call' });
    const paid = ok(await w.call('pay_invoice', { invoice: bill.invoice, max_sats: 20 }));
    assert.equal(paid.preimage, bill.preimage);
    assert.equal(createHash('sha256').update(Buffer.from(paid.preimage, 'hex')).digest('hex'), bill.paymentHash);
    assert.equal(paid.amount_sats, 13); // 12.345 sats rounded up
    assert.equal(paid.fee_msat, 13);
    assert.equal(w.ledger.payCount(bill.paymentHash), 1);

    const list = ok(await w.call('list_transactions', { type: 'outgoing' }));
    assert.equal(list.transactions[0].payment_hash, bill.paymentHash);
    // Never pays twice: the same invoice again is refused by the ledger, the wallet sees no second request.
    const again = errorOf(await w.call('pay_invoice', { invoice: bill.invoice, max_sats: 20 }));
    assert.equal(again.code, 'ALREADY_PAID');
    assert.equal(w.ledger.payCount(bill.paymentHash), 1);
  } finally { await w.close(); }
});

test('Alby info event offering both encryptions → nip44_v2; NIP-04-only wallet → nip04', async () => {
  const both = await world({ kind: 'alby-both' });
  try {
    assert.equal(ok(await both.call('get_wallet_info')).encryption, 'nip44_v2');
  } finally { await both.close(); }
  const legacy = await world({ kind: 'nip04' });
  try {
    assert.equal(ok(await legacy.call('get_wallet_info')).encryption, 'nip04');
    assert.equal(ok(await legacy.call('get_balance')).balance_sats, 100_000);
    const bill = legacy.ln.makeInvoice({ amountMsat: 5_000 });
    assert.equal(ok(await legacy.call('pay_invoice', { invoice: bill.invoice })).preimage, bill.preimage);
    assert.ok(legacy.ledger.requests.every((r) => r.encryption === 'nip04'));
  } finally { await legacy.close(); }
});

test('refusals before paying: over max_sats, no amount, expired, wrong network', async () => {
  const w = await world({ kind: 'alby-nip44' });
  try {
    const big = w.ln.makeInvoice({ amountMsat: 50_000_000 });
    const e1 = errorOf(await w.call('pay_invoice', { invoice: big.invoice, max_sats: 100 }));
    assert.equal(e1.code, 'AMOUNT_EXCEEDS_MAX');
    assert.match(e1.message, /50000 sats/);
    const any = w.ln.makeInvoice({ amountMsat: undefined });
    assert.equal(errorOf(await w.call('pay_invoice', { invoice: any.invoice })).code, 'INVOICE_NO_AMOUNT');
    const old = w.ln.makeInvoice({ amountMsat: 1000, timestamp: Math.floor(Date.now() / 1000) - 7200, expirySec: 60 });
    assert.equal(errorOf(await w.call('pay_invoice', { invoice: old.invoice })).code, 'INVOICE_EXPIRED');
    const main = w.ln.makeInvoice({ amountMsat: 1000, network: 'mainnet' });
    const e4 = errorOf(await w.call('pay_invoice', { invoice: main.invoice }));
    assert.equal(e4.code, 'NETWORK_MISMATCH');
    assert.equal(w.ledger.requests.filter((r) => r.method === 'pay_invoice').length, 0, 'nothing reached the wallet');
  } finally { await w.close(); }
});

test('every NIP-47 error code maps to a stable code', async () => {
  const w = await world({ kind: 'alby-nip44' });
  const map = { RATE_LIMITED: 'WALLET_RATE_LIMITED', NOT_IMPLEMENTED: 'WALLET_NOT_IMPLEMENTED',
    INSUFFICIENT_BALANCE: 'INSUFFICIENT_BALANCE', QUOTA_EXCEEDED: 'WALLET_QUOTA_EXCEEDED', RESTRICTED: 'WALLET_RESTRICTED',
    UNAUTHORIZED: 'WALLET_UNAUTHORIZED', INTERNAL: 'WALLET_INTERNAL', UNSUPPORTED_ENCRYPTION: 'WALLET_UNSUPPORTED_ENCRYPTION',
    PAYMENT_FAILED: 'PAYMENT_FAILED', NOT_FOUND: 'NOT_FOUND', OTHER: 'WALLET_OTHER', SOMETHING_NEW: 'WALLET_OTHER' };
  try {
    for (const [nip47, ours] of Object.entries(map)) {
      w.ledger.behaviour = { error: { get_balance: { code: nip47, message: `because ${nip47}` } } };
      const e = errorOf(await w.call('get_balance'));
      assert.equal(e.code, ours, nip47);
      assert.match(e.message, new RegExp(nip47));
    }
  } finally { await w.close(); }
});

test('definite payment failure releases the budget; the same invoice can then be paid', async () => {
  const w = await world({ kind: 'alby-nip44' });
  try {
    const bill = w.ln.makeInvoice({ amountMsat: 3_000 });
    w.ledger.behaviour = { error: { pay_invoice: { code: 'PAYMENT_FAILED', message: 'no route' } } };
    const e = errorOf(await w.call('pay_invoice', { invoice: bill.invoice }));
    assert.equal(e.code, 'PAYMENT_FAILED');
    assert.match(e.message, /nothing was paid/);
    w.ledger.behaviour = {};
    assert.equal(ok(await w.call('pay_invoice', { invoice: bill.invoice })).preimage, bill.preimage);
  } finally { await w.close(); }
});

test('late reply → WALLET_TIMEOUT for reads; for pay the outcome is unknown and never paid twice', async () => {
  const w = await world({ kind: 'alby-nip44' });
  try {
    w.ledger.behaviour = { delayMs: { get_balance: 4000 } };
    const t0 = Date.now();
    const e = errorOf(await w.call('get_balance'));
    assert.equal(e.code, 'WALLET_TIMEOUT');
    assert.ok(Date.now() - t0 < 3900, 'gave up at the 3 s read timeout');
    const bill = w.ln.makeInvoice({ amountMsat: 2_000 });
    w.ledger.behaviour = { delayMs: { pay_invoice: 4000 } };
    const p = errorOf(await w.call('pay_invoice', { invoice: bill.invoice }));
    assert.equal(p.code, 'PAYMENT_OUTCOME_UNKNOWN');
    assert.match(p.message, /Do not pay this invoice again/);
    await sleep(1500); // the wallet pays late
    w.ledger.behaviour = {};
    const again = errorOf(await w.call('pay_invoice', { invoice: bill.invoice }));
    assert.ok(['ALREADY_PAID', 'PAYMENT_STATE_UNKNOWN'].includes(again.code), again.code);
    assert.equal(w.ledger.payCount(bill.paymentHash), 1, 'paid exactly once');
  } finally { await w.close(); }
});

test('wrong, short, non-hex and 48-byte preimages are reported as invalid', async () => {
  const w = await world({ kind: 'alby-nip44' });
  try {
    for (const kind of ['wrong', 'short', 'nonhex', 'long48']) {
      w.ledger.behaviour = { preimage: kind };
      const bill = w.ln.makeInvoice({ amountMsat: 1_000 });
      const e = errorOf(await w.call('pay_invoice', { invoice: bill.invoice }));
      assert.equal(e.code, 'WALLET_INVALID_PREIMAGE', kind);
      assert.match(e.message, /invalid preimage/);
      assert.ok(!e.message.includes(bill.preimage), 'no preimage in messages');
    }
  } finally { await w.close(); }
});

test('two relays with one down: requests still succeed', async () => {
  const w = await world({ kind: 'alby-nip44', deadRelay: true });
  try {
    assert.equal(ok(await w.call('get_balance')).balance_sats, 100_000);
    const bill = w.ln.makeInvoice({ amountMsat: 1_000 });
    assert.equal(ok(await w.call('pay_invoice', { invoice: bill.invoice })).preimage, bill.preimage);
  } finally { await w.close(); }
});

test('two live relays: the reply arrives twice and is used once', async () => {
  const w = await world({ kind: 'nip04', relays: 2 });
  try {
    w.ledger.behaviour = { duplicateReplies: 2 };
    for (let i = 0; i < 3; i++) assert.equal(ok(await w.call('get_balance')).balance_sats, 100_000);
  } finally { await w.close(); }
});

test('a reply signed by another key is ignored', async () => {
  const w = await world({ kind: 'alby-nip44' });
  const imp = await startImpostor({ relayUrls: w.relayUrls, walletPubkey: w.wallet.walletPubkey });
  try {
    const bill = w.ln.makeInvoice({ amountMsat: 1_000 });
    const paid = ok(await w.call('pay_invoice', { invoice: bill.invoice }));
    assert.equal(paid.preimage, bill.preimage, 'the impostor\'s all-zero preimage was not used');
  } finally { imp.close(); await w.close(); }
});

test('a relay restarted mid-request: the client reconnects, resubscribes and gets the reply', async () => {
  const w = await world({ kind: 'alby-nip44', env: { SATWARDEN_NWC_READ_TIMEOUT: '8' } });
  try {
    assert.equal(ok(await w.call('get_balance')).balance_sats, 100_000);
    // Restart the relay on the same port while a request is outstanding and the wallet has not answered yet.
    const port = w.relays[0].port;
    w.ledger.behaviour = { delayMs: { get_balance: 2500 } };
    const pending = w.call('get_balance');
    await sleep(500);
    await w.relays[0].close();
    w.relays[0] = await startRelay({ port });
    const r = await pending;
    // Either the reply made it through the restarted relay (resubscribed), or a clear timeout naming the method.
    if (r.isError) assert.equal(errorOf(r).code, 'WALLET_TIMEOUT');
    else assert.equal(r.structuredContent.balance_sats, 100_000);
    // After the restart the connection is usable again.
    w.ledger.behaviour = {};
    assert.equal(ok(await w.call('get_balance')).balance_sats, 100_000);
  } finally { await w.close(); }
});

test('no relay reachable: a clear error naming the relays, quickly', async () => {
  const dead = `ws://127.0.0.1:${await freePort()}`;
  const dataHome = mkdtempSync(join(tmpdir(), 'sw-nwc-'));
  tmpRoots.push(dataHome);
  const secret = randomBytes(32).toString('hex');
  const walletPub = getPublicKey(randomBytes(32));
  const transport = new StdioClientTransport({ command: SERVER, stderr: 'pipe',
    env: { NWC_URL: nwcUrl({ walletPubkey: walletPub, relayUrls: [dead], clientSecret: secret }), SATWARDEN_TOOLS: 'all', XDG_DATA_HOME: dataHome,
      SATWARDEN_NWC_READ_TIMEOUT: '2' } });
  const client = new Client({ name: 'x', version: '1' });
  await client.connect(transport);
  try {
    const e = errorOf(await client.callTool({ name: 'get_balance', arguments: {} }));
    assert.equal(e.code, 'RELAY_UNREACHABLE');
    assert.ok(e.message.includes(dead), e.message);
    assert.ok(!e.message.includes(secret));
  } finally { await client.close(); }
});

test('without NWC_URL every wallet tool explains how to set it', async () => {
  const dataHome = mkdtempSync(join(tmpdir(), 'sw-nwc-'));
  tmpRoots.push(dataHome);
  const transport = new StdioClientTransport({ command: SERVER, env: { SATWARDEN_TOOLS: 'all', XDG_DATA_HOME: dataHome }, stderr: 'pipe' });
  const client = new Client({ name: 'x', version: '1' });
  await client.connect(transport);
  try {
    for (const [name, args] of [['get_wallet_info', {}], ['get_balance', {}], ['make_invoice', { amount_sats: 1 }],
      ['lookup_payment', { payment_hash: '00'.repeat(32) }], ['list_transactions', {}], ['pay_invoice', { invoice: 'lnbcrt1x' }]]) {
      const e = errorOf(await client.callTool({ name, arguments: args }));
      assert.equal(e.code, 'WALLET_NOT_CONFIGURED', name);
      assert.match(e.message, /NWC_URL/);
    }
  } finally { await client.close(); }
});

// ---------------------------------------------------------------- pay_keysend

const NODE = '03864ef025fde8fb587d989186ce6a4a186895ee44a926bfc370e2c366597a3f8f';
const sha256hex = (hex) => createHash('sha256').update(Buffer.from(hex, 'hex')).digest('hex');

for (const kind of ['alby-nip44', 'nip04']) {
  test(`pay_keysend through a ${kind} wallet: satwarden's preimage, ledger row, budget`, async () => {
    const w = await world({ kind });
    try {
      const r = ok(await w.call('pay_keysend', { destination: NODE, amount_sats: 42,
        tlv_records: [{ type: 7629169, value: '68656c6c6f' }] }));
      assert.equal(w.ledger.keysends.length, 1);
      const sent = w.ledger.keysends[0];
      assert.equal(sent.pubkey, NODE);
      assert.equal(sent.amount, 42_000);
      assert.deepEqual(sent.tlv_records, [{ type: 7629169, value: '68656c6c6f' }]);
      assert.match(sent.preimage, /^[0-9a-f]{64}$/);
      assert.equal(r.preimage, sent.preimage);
      assert.equal(r.payment_hash, sha256hex(sent.preimage));
      assert.equal(r.preimage_from_wallet, false);
      assert.equal(r.amount_sats, 42);
      assert.equal(r.fee_msat, 42);
      const row = ok(await w.call('list_payments', {})).payments.find((p) => p.payment_hash === r.payment_hash);
      assert.equal(row.state, 'settled');
      assert.equal(row.protocol, 'keysend');
      assert.equal(row.amount_msat, 42_000);
      assert.equal(w.ledger.payCount(r.payment_hash), 1);
      // Over the per-call cap: refused before anything reaches the wallet.
      const big = errorOf(await w.call('pay_keysend', { destination: NODE, amount_sats: 2_000, max_sats: 5_000 }));
      assert.equal(big.code, 'BUDGET_EXCEEDED');
      assert.equal(w.ledger.keysends.length, 1);
    } finally { await w.close(); }
  });
}

test('pay_keysend: a wallet that substitutes its own preimage is booked as spent and says so', async () => {
  const w = await world({ kind: 'alby-nip44' });
  try {
    w.ledger.behaviour = { keysendOwnPreimage: true };
    const r = ok(await w.call('pay_keysend', { destination: NODE, amount_sats: 7 }));
    assert.equal(r.preimage_from_wallet, true);
    const status = ok(await w.call('get_budget_status', {}));
    assert.equal(status.pending_count, 0);
    const row = ok(await w.call('list_payments', {})).payments.find((p) => p.payment_hash === r.payment_hash);
    assert.equal(row.state, 'settled');
  } finally { await w.close(); }
});

test('pay_keysend: wallet errors map; bad destinations are refused before sending', async () => {
  const w = await world({ kind: 'alby-nip44' });
  try {
    w.ledger.behaviour = { error: { pay_keysend: { code: 'INSUFFICIENT_BALANCE', message: 'broke' } } };
    assert.equal(errorOf(await w.call('pay_keysend', { destination: NODE, amount_sats: 3 })).code, 'INSUFFICIENT_BALANCE');
    w.ledger.behaviour = {};
    const offCurve = '02' + 'f'.repeat(64);
    assert.equal(errorOf(await w.call('pay_keysend', { destination: offCurve, amount_sats: 3 })).code, 'INVALID_ARGUMENT');
    const malformed = await w.call('pay_keysend', { destination: 'abc', amount_sats: 3 });
    assert.equal(malformed.isError, true);
    assert.equal(w.ledger.keysends.length, 0);
  } finally { await w.close(); }
});

// ---------------------------------------------------------------- notifications (23196 / 23197)

async function waitForState(w, hash, state, ms) {
  let row;
  for (const end = Date.now() + ms; Date.now() < end; await sleep(100)) {
    row = ok(await w.call('list_payments', {})).payments.find((p) => p.payment_hash === hash);
    if (row?.state === state) return row;
  }
  return row;
}

for (const kind of ['alby-nip44', 'nip04']) {
  test(`payment_sent notification (${kind === 'nip04' ? 'kind 23196, NIP-04' : 'kind 23197, NIP-44'}) settles a timed-out payment without a lookup`, async () => {
    const w = await world({ kind, notifications: true });
    try {
      const info = ok(await w.call('get_wallet_info'));
      assert.deepEqual(info.notifications, ['payment_received', 'payment_sent']);
      const bill = w.ln.makeInvoice({ amountMsat: 3_000 });
      w.ledger.behaviour = { delayMs: { pay_invoice: 3500 } }; // the pay timeout is 3 s
      assert.equal(errorOf(await w.call('pay_invoice', { invoice: bill.invoice })).code, 'PAYMENT_OUTCOME_UNKNOWN');
      // A forged payment_sent (another key, correct tags and the real preimage) must change nothing.
      await publishNotification({ relayUrls: w.relayUrls, signerSecret: randomBytes(32).toString('hex'), clientPubkey: w.clientPubkey,
        kind: kind === 'nip04' ? 23196 : 23197, type: 'payment_sent',
        tx: { type: 'outgoing', state: 'settled', payment_hash: bill.paymentHash, preimage: bill.preimage, amount: 3000, fees_paid: 3 } });
      await sleep(300);
      const forged = ok(await w.call('list_payments', {})).payments.find((p) => p.payment_hash === bill.paymentHash);
      assert.equal(forged.state, 'unknown');
      // The wallet pays at 3.5 s and notifies; the row settles long before the next reconciliation cycle (8 s).
      const row = await waitForState(w, bill.paymentHash, 'settled', 3000);
      assert.equal(row?.state, 'settled');
      assert.equal(row.fee_msat, 3);
      assert.equal(w.ledger.requests.filter((r) => r.method === 'lookup_invoice').length, 0, 'settled by the notification, not a lookup');
      assert.equal(w.ledger.payCount(bill.paymentHash), 1);
      w.ledger.behaviour = {};
      assert.equal(errorOf(await w.call('pay_invoice', { invoice: bill.invoice })).code, 'ALREADY_PAID');
    } finally { await w.close(); }
  });
}

// ---------------------------------------------------------------- get_budget (where the wallet lists it)

test('get_wallet_info includes the wallet-side budget only when the wallet lists get_budget', async () => {
  const withBudget = await world({ kind: 'nip04', methods: ['pay_invoice', 'get_balance', 'get_info', 'lookup_invoice', 'get_budget'] });
  try {
    withBudget.ledger.budget = { used_budget: 10_500, total_budget: 100_999, renews_at: 1_800_000_000, renewal_period: 'monthly' };
    const info = ok(await withBudget.call('get_wallet_info'));
    assert.ok(info.methods.includes('get_budget'));
    assert.deepEqual(info.wallet_budget, { used_sats: 11, used_msat: 10_500, total_sats: 100, total_msat: 100_999,
      renews_at: 1_800_000_000, renewal_period: 'monthly' });
    assert.equal(withBudget.ledger.requests.filter((r) => r.method === 'get_budget').length, 1);
    withBudget.ledger.budget = {}; // NIP-47: no budget on this connection
    const none = ok(await withBudget.call('get_wallet_info'));
    assert.equal(none.wallet_budget.total_msat, null);
    withBudget.ledger.budget = { used_budget: -5, total_budget: 'lots' };
    const bad = ok(await withBudget.call('get_wallet_info'));
    assert.equal(bad.wallet_budget, null);
    assert.match(bad.wallet_budget_error, /^INVALID_WALLET_RESPONSE/);
  } finally { await withBudget.close(); }
  const without = await world({ kind: 'alby-nip44' });
  try {
    const info = ok(await without.call('get_wallet_info'));
    assert.equal(info.wallet_budget, null);
    assert.equal(without.ledger.requests.filter((r) => r.method === 'get_budget').length, 0, 'not asked when not listed');
  } finally { await without.close(); }
});
