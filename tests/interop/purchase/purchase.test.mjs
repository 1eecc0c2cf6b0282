// Purchases against the interop world (issue 10): MCP SDK client → satwarden (stdio) → paid APIs (the `macaroon`
// + `bolt11` API of world/l402server.mjs and the lsat-js paywall of world/lsatserver.mjs) → real relay →
// @getalby/sdk wallet service over a FakeWalletLedger. Everything on 127.0.0.1.
// What is shown, each time from the wallet's side too (which pay requests it received, for which payment hash;
// ledger = wallet to the msat):
//  - a wallet slower than the pay timeout never makes satwarden buy the same scope twice: PAYMENT_OUTCOME_UNKNOWN,
//    then PAYMENT_PENDING (no wallet request), then the first purchase's credential — also across kill -9;
//  - concurrent calls for one scope make one payment;
//  - NOT_FOUND from lookup_invoice is "not yet", never "failed", and lookup_payment answers from the ledger;
//  - macaroon binding with lsat-js's hex identifiers, and the l402_unbound setting;
//  - idempotency keys over the wire; duplicate challenge parameters refused.
// The wallet's `hold` behaviour parks pay requests until the test releases them: the "slow wallet" is
// deterministic, not a race against a timer.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { startRelay } from '../world/relay.mjs';
import { FakeLightning } from '../world/lightning.mjs';
import { FakeWalletLedger, startAlbyWallet, nwcUrl, getPublicKey, hexToBytes } from '../world/wallet.mjs';
import { startL402Server } from '../world/l402server.mjs';
import { startLsatServer } from '../world/lsatserver.mjs';

const SERVER = process.env.SW_SERVER ?? '/work/main/build/src/app/satwarden';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sha256hex = (hex) => createHash('sha256').update(Buffer.from(hex, 'hex')).digest('hex');
const roots = [];
after(() => { for (const d of roots) rmSync(d, { recursive: true, force: true }); });

// Polls `pred` every `stepMs` until it holds or `ms` have passed; returns whether it held.
async function waitFor(pred, ms = 10_000, stepMs = 50) {
  const end = Date.now() + ms;
  for (;;) {
    if (await pred()) return true;
    if (Date.now() >= end) return false;
    await sleep(stepMs);
  }
}

// One world per test: relay, wallet (holding nothing by default), both paid APIs and a data dir shared by every
// satwarden started in it (restarts see the same ledger).
async function world({ payTimeout = 1 } = {}) {
  const relay = await startRelay();
  const ln = new FakeLightning({ network: 'regtest' });
  const ledger = new FakeWalletLedger({ lightning: ln });
  const clientSecret = randomBytes(32).toString('hex');
  const wallet = await startAlbyWallet({ relayUrls: [relay.url], ledger, clientPubkey: getPublicKey(hexToBytes(clientSecret)),
    infoEncryption: 'nip44_v2' });
  const api = await startL402Server({ lightning: ln });
  const lsat = await startLsatServer({ lightning: ln });
  const dataHome = mkdtempSync(join(tmpdir(), 'sw-purchase-'));
  roots.push(dataHome);
  const env = { NWC_URL: nwcUrl({ walletPubkey: wallet.walletPubkey, relayUrls: [relay.url], clientSecret }), SATWARDEN_TOOLS: 'all', XDG_DATA_HOME: dataHome,
    SATWARDEN_FETCH_ALLOW: '127.0.0.1', SATWARDEN_NWC_PAY_TIMEOUT: String(payTimeout), SATWARDEN_NWC_READ_TIMEOUT: '3',
    SATWARDEN_LOG_LEVEL: 'warning' };
  const servers = [];
  // Spawns satwarden over stdio. `s.call` calls a tool; `s.ok` / `s.errorOf` unwrap a result and, when it is not
  // what was expected, fail with the server's recent stderr.
  const start = async (extra = {}) => {
    const transport = new StdioClientTransport({ command: SERVER, env: { ...env, ...extra }, stderr: 'pipe' });
    let log = '';
    transport.stderr?.on('data', (d) => { log = (log + d.toString()).slice(-4000); });
    const client = new Client({ name: 'purchase-interop', version: '1' });
    await client.connect(transport);
    const s = {
      client, pid: transport.pid,
      call: (name, args, opts) => client.callTool({ name, arguments: args }, undefined, { timeout: 60_000, ...opts }),
      ok(r) {
        assert.ok(!r.isError, `unexpected error: ${r.content?.[0]?.text}\n--- satwarden stderr ---\n${log}`);
        return r.structuredContent;
      },
      errorOf(r) {
        assert.equal(r.isError, true, `expected an error, got ${JSON.stringify(r.structuredContent ?? r).slice(0, 600)}`);
        return JSON.parse(r.content[0].text).error;
      },
      kill() { process.kill(transport.pid, 'SIGKILL'); },
      close: () => client.close().catch(() => {}),
    };
    servers.push(s);
    return s;
  };
  const settledMsat = async (s) => {
    const list = s.ok(await s.call('list_payments', { state: 'settled' }));
    return list.payments.reduce((a, p) => a + p.amount_msat + p.fee_msat, 0);
  };
  return {
    ln, ledger, api, lsat, start, settledMsat,
    async close() {
      for (const s of servers) await s.close();
      ledger.release();  // nothing stays parked in the wallet
      wallet.close();
      await api.close();
      await lsat.close();
      await relay.close();
    },
  };
}

// The preimage of an accepted `L402|LSAT <macaroon>:<preimage>` credential.
const preimageOf = (authorization) => /:([0-9a-f]{64})$/.exec(authorization)?.[1];

test('a wallet slower than the pay timeout: PAYMENT_OUTCOME_UNKNOWN → PAYMENT_PENDING (no wallet request) → the first purchase is served, nothing new paid', async () => {
  const w = await world({ payTimeout: 1 });
  try {
    const s = await w.start();
    const url = `${w.api.url}/l402`;
    w.ledger.behaviour = { hold: { pay_invoice: true } };

    const first = s.errorOf(await s.call('access_l402_resource', { url, max_sats: 20 }));
    assert.equal(first.code, 'PAYMENT_OUTCOME_UNKNOWN', first.message);
    const hash = first.details.payment_hash;
    assert.match(hash, /^[0-9a-f]{64}$/);
    assert.equal(w.ledger.payRequests.length, 1, 'one pay request reached the wallet');
    assert.equal(w.ledger.payRequestsFor(hash), 1);
    assert.equal(w.ledger.payCount(hash), 0, 'the wallet holds it: not paid yet');

    // At once: the server answers with a fresh 402 (new invoice, new hash); satwarden must not pay it.
    const retry = s.errorOf(await s.call('access_l402_resource', { url, max_sats: 20 }));
    assert.equal(retry.code, 'PAYMENT_PENDING', retry.message);
    assert.equal(retry.details.payment_hash, hash, 'PAYMENT_PENDING names the first payment');
    assert.match(retry.message, /Nothing new was paid/);
    assert.equal(w.api.stats.challenges['/l402'], 2, 'the retry did get a new invoice');
    assert.equal(w.ledger.payRequests.length, 1, 'the wallet received no new pay request');

    // lookup_payment: the ledger's view (the wallet has no record yet), never a bare NOT_FOUND.
    const look = s.ok(await s.call('lookup_payment', { payment_hash: hash }));
    assert.equal(look.ledger.state, 'unknown');
    assert.equal(look.ledger.wallet_said, 'NOT_FOUND');
    assert.match(look.ledger.what_next, /Do not pay it again/);

    // The wallet executes the held request, late.
    w.ledger.behaviour = {};
    assert.equal(w.ledger.release(), 1);
    assert.ok(await waitFor(() => w.ledger.payCount(hash) === 1), 'the wallet paid the first request');

    const served = s.ok(await s.call('access_l402_resource', { url, max_sats: 20 }));
    assert.equal(served.status, 200);
    assert.equal(JSON.parse(served.body).paid, true);
    assert.equal(served.paid, false, 'nothing paid by this call');
    assert.equal(served.used_cached_token, true);
    assert.equal(typeof served.purchase_id, 'number');
    const accepted = w.api.stats.accepted.filter((a) => a.path === '/l402');
    assert.equal(accepted.length, 1);
    assert.equal(sha256hex(preimageOf(accepted[0].authorization)), hash, "served with the first payment's credential");

    const again = s.ok(await s.call('access_l402_resource', { url }));
    assert.equal(again.status, 200);
    assert.equal(again.paid, false);
    assert.equal(again.purchase_id, served.purchase_id, 'the same purchase');
    assert.equal(w.ledger.payRequests.length, 1, 'one pay request in all');
    assert.equal(w.ledger.payCount(hash), 1);
    assert.equal(await w.settledMsat(s), w.ledger.totalPaidMsat(), 'ledger = wallet, to the msat');
    const settled = s.ok(await s.call('lookup_payment', { payment_hash: hash }));
    assert.equal(settled.ledger.state, 'settled');
  } finally {
    await w.close();
  }
});

test('kill -9 while the pay request is at the wallet: after restart PAYMENT_PENDING (no wallet request), served with the first credential once the wallet paid', async () => {
  // A pay timeout of 3 s leaves the test ample time to kill satwarden while its request is still out.
  const w = await world({ payTimeout: 3 });
  try {
    const url = `${w.api.url}/l402`;
    w.ledger.behaviour = { hold: { pay_invoice: true } };
    const a = await w.start();
    const outcome = a.call('access_l402_resource', { url, max_sats: 20 })
      .then(() => 'answered', (e) => (/closed/i.test(String(e)) ? 'died' : `failed: ${e}`));
    assert.ok(await waitFor(() => w.ledger.payRequests.length === 1, 10_000), 'the pay request reached the wallet');
    const hash = w.ledger.payRequests[0].paymentHash;
    a.kill();
    assert.equal(await outcome, 'died');

    // Restart at once. The row is still in flight (a crash leftover younger than the stale threshold): the retry
    // gets a fresh 402, follows the pending purchase and answers PAYMENT_PENDING; nothing is sent.
    const b = await w.start();
    const early = b.errorOf(await b.call('access_l402_resource', { url, max_sats: 20 }));
    assert.equal(early.code, 'PAYMENT_PENDING', early.message);
    assert.equal(early.details.payment_hash, hash);
    assert.equal(w.ledger.payRequests.length, 1, 'no new pay request after the restart');

    // The wallet pays the original request late (satwarden is another process by now).
    w.ledger.behaviour = {};
    assert.equal(w.ledger.release(), 1);
    assert.ok(await waitFor(() => w.ledger.payCount(hash) === 1));

    // Once the leftover is stale (pay timeout + 15 s) it is recovered as unknown and looked up: settled.
    let state;
    const settled = await waitFor(async () => {
      state = b.ok(await b.call('lookup_payment', { payment_hash: hash })).ledger.state;
      return state === 'settled';
    }, 30_000, 1000);
    assert.ok(settled, `the payment settles after recovery (last state ${state})`);

    const served = b.ok(await b.call('access_l402_resource', { url, max_sats: 20 }));
    assert.equal(served.status, 200);
    assert.equal(served.paid, false);
    assert.equal(served.used_cached_token, true);
    const accepted = w.api.stats.accepted.filter((x) => x.path === '/l402');
    assert.equal(accepted.length, 1);
    assert.equal(sha256hex(preimageOf(accepted[0].authorization)), hash, "the first payment's credential");
    assert.equal(w.ledger.payRequests.length, 1, 'one pay request in all');
    assert.equal(await w.settledMsat(b), w.ledger.totalPaidMsat(), 'ledger = wallet, to the msat');
  } finally {
    await w.close();
  }
});

test('kill -9 after PAYMENT_OUTCOME_UNKNOWN: after restart PAYMENT_PENDING, then served once the wallet paid', async () => {
  const w = await world({ payTimeout: 1 });
  try {
    const url = `${w.api.url}/l402`;
    w.ledger.behaviour = { hold: { pay_invoice: true } };
    const a = await w.start();
    const first = a.errorOf(await a.call('access_l402_resource', { url, max_sats: 20 }));
    assert.equal(first.code, 'PAYMENT_OUTCOME_UNKNOWN', first.message);
    const hash = first.details.payment_hash;
    a.kill();
    assert.ok(await waitFor(() => { try { process.kill(a.pid, 0); return false; } catch { return true; } }), 'the process is gone');

    const b = await w.start();
    const pending = b.errorOf(await b.call('access_l402_resource', { url, max_sats: 20 }));
    assert.equal(pending.code, 'PAYMENT_PENDING', pending.message);
    assert.equal(pending.details.payment_hash, hash);
    assert.equal(w.ledger.payRequests.length, 1);

    w.ledger.behaviour = {};
    assert.equal(w.ledger.release(), 1);
    assert.ok(await waitFor(() => w.ledger.payCount(hash) === 1));
    const served = b.ok(await b.call('access_l402_resource', { url, max_sats: 20 }));
    assert.equal(served.status, 200);
    assert.equal(served.paid, false);
    assert.equal(served.used_cached_token, true);
    assert.equal(sha256hex(preimageOf(w.api.stats.accepted.at(-1).authorization)), hash);
    assert.equal(w.ledger.payRequests.length, 1, 'one pay request in all');
    assert.equal(await w.settledMsat(b), w.ledger.totalPaidMsat(), 'ledger = wallet, to the msat');
  } finally {
    await w.close();
  }
});

test('concurrent calls for one scope make one payment; every call gets the resource', async () => {
  const w = await world({ payTimeout: 5 });
  try {
    const s = await w.start();
    // Two calls at the same moment: both get a 402 with their own invoice; one buys, the other uses its purchase.
    const url = `${w.api.url}/l402`;
    const pair = await Promise.all([0, 1].map(() => s.call('access_l402_resource', { url, max_sats: 20 })));
    const [r1, r2] = pair.map((r) => s.ok(r));
    for (const r of [r1, r2]) {
      assert.equal(r.status, 200);
      assert.equal(JSON.parse(r.body).paid, true);
    }
    assert.equal([r1, r2].filter((r) => r.paid).length, 1, 'exactly one call paid');
    const payer = r1.paid ? r1 : r2;
    const other = r1.paid ? r2 : r1;
    assert.equal(other.used_cached_token, true);
    assert.equal(other.purchase_id, payer.purchase_id, 'the other call used the same purchase');
    assert.equal(w.ledger.payRequests.length, 1, 'the wallet received one pay request');
    assert.equal(w.ledger.payRequestsFor(payer.payment_hash), 1);
    assert.ok(w.api.stats.challenges['/l402'] >= 2, 'both calls were challenged (two invoices)');

    // Staggered: the second call arrives while the first one's pay request is at a slow wallet.
    w.ledger.behaviour = { delayMs: { pay_invoice: 1500 } };
    const url2 = `${w.api.url}/aperture`;
    const p1 = s.call('access_l402_resource', { url: url2, max_sats: 20 });
    assert.ok(await waitFor(() => w.ledger.payRequests.length === 2, 10_000));
    const p2 = s.call('access_l402_resource', { url: url2, max_sats: 20 });
    const [a1, a2] = (await Promise.all([p1, p2])).map((r) => s.ok(r));
    assert.equal(a1.paid, true);
    assert.equal(a2.paid, false, 'the second call waited for the first one and paid nothing');
    assert.equal(a2.used_cached_token, true);
    assert.equal(a2.purchase_id, a1.purchase_id);
    assert.equal(a2.status, 200);

    // A burst of five for a third scope.
    w.ledger.behaviour = {};
    const burst = (await Promise.all([0, 1, 2, 3, 4].map(() => s.call('access_l402_resource', { url: `${w.api.url}/cheap` }))))
      .map((r) => s.ok(r));
    assert.ok(burst.every((r) => r.status === 200));
    assert.equal(burst.filter((r) => r.paid).length, 1);
    assert.equal(new Set(burst.map((r) => r.purchase_id)).size, 1);

    assert.equal(w.ledger.payRequests.length, 3, 'one pay request per scope');
    assert.equal(w.ledger.txs.filter((t) => t.type === 'outgoing').length, 3);
    assert.equal(await w.settledMsat(s), w.ledger.totalPaidMsat(), 'ledger = wallet, to the msat');
  } finally {
    await w.close();
  }
});

test('NOT_FOUND while the request can still execute is "not yet" (wallet declared to honour expiration): the late payment is settled, never sent twice', async () => {
  const w = await world({ payTimeout: 2 });
  try {
    const s = await w.start({ SATWARDEN_WALLET_HONOURS_EXPIRATION: 'true' });
    const bill = w.ln.makeInvoice({ amountMsat: 21_000 });
    w.ledger.behaviour = { hold: { pay_invoice: true } };
    const first = s.errorOf(await s.call('pay_invoice', { invoice: bill.invoice }));
    assert.equal(first.code, 'PAYMENT_OUTCOME_UNKNOWN', first.message);
    assert.equal(first.details.payment_hash, bill.paymentHash);

    // The wallet has no record of it (NOT_FOUND): lookup_payment answers from the ledger.
    const look = s.ok(await s.call('lookup_payment', { payment_hash: bill.paymentHash }));
    assert.equal(look.ledger.state, 'unknown', 'NOT_FOUND before the request expired is not a failure');
    assert.equal(look.ledger.wallet_said, 'NOT_FOUND');
    assert.equal(typeof look.ledger.wallet_said_at, 'number');
    assert.ok(look.ledger.request_expires_at > Math.floor(Date.now() / 1000), 'the request can still execute');
    assert.match(look.ledger.what_next, /Do not pay it again/);
    const byInvoice = s.ok(await s.call('lookup_payment', { invoice: bill.invoice }));
    assert.equal(byInvoice.ledger.state, 'unknown');

    // A retry asks the wallet again (NOT_FOUND) and refuses; nothing is sent.
    const retry = s.errorOf(await s.call('pay_invoice', { invoice: bill.invoice }));
    assert.equal(retry.code, 'PAYMENT_STATE_UNKNOWN', retry.message);
    assert.equal(w.ledger.payRequestsFor(bill.paymentHash), 1, 'never sent twice');
    const status = s.ok(await s.call('get_budget_status', {}));
    assert.equal(status.unknown_count, 1, 'the budget stays held');

    // The wallet pays the original request late.
    w.ledger.behaviour = {};
    assert.equal(w.ledger.release(), 1);
    assert.ok(await waitFor(() => w.ledger.payCount(bill.paymentHash) === 1));
    const done = s.ok(await s.call('lookup_payment', { payment_hash: bill.paymentHash }));
    assert.equal(done.ledger.state, 'settled');
    assert.equal(done.ledger.fee_msat, w.ledger.txs[0].fees_paid, "the wallet's fee is booked");
    assert.equal(done.transaction.state, 'settled');
    assert.equal(s.errorOf(await s.call('pay_invoice', { invoice: bill.invoice })).code, 'ALREADY_PAID');
    assert.equal(w.ledger.payRequestsFor(bill.paymentHash), 1, 'never sent twice');
    assert.equal(await w.settledMsat(s), w.ledger.totalPaidMsat(), 'ledger = wallet, to the msat');
    assert.equal(w.ledger.totalPaidMsat(), 21_000 + 21);
    assert.equal(s.ok(await s.call('get_budget_status', {})).unknown_count, 0);
  } finally {
    await w.close();
  }
});

test('NOT_FOUND after the request expired, wallet not known to honour expiration: still unknown and PAYMENT_PENDING; the late payment is served and booked', async () => {
  const w = await world({ payTimeout: 1 });
  try {
    const s = await w.start();
    const url = `${w.api.url}/l402`;
    w.ledger.behaviour = { hold: { pay_invoice: true } };
    const first = s.errorOf(await s.call('access_l402_resource', { url, max_sats: 20 }));
    assert.equal(first.code, 'PAYMENT_OUTCOME_UNKNOWN', first.message);
    const hash = first.details.payment_hash;
    const look0 = s.ok(await s.call('lookup_payment', { payment_hash: hash }));
    const expires = look0.ledger.request_expires_at;
    assert.equal(typeof expires, 'number');
    // Past the request's expiration plus the grace period (5 s).
    const waitMs = (expires + 6) * 1000 - Date.now();
    assert.ok(waitMs < 20_000, `expiration ${expires} is near`);
    await sleep(Math.max(0, waitMs));

    const look = s.ok(await s.call('lookup_payment', { payment_hash: hash }));
    assert.equal(look.ledger.state, 'unknown', 'silence is not failure');
    assert.equal(look.ledger.wallet_said, 'NOT_FOUND');
    assert.ok(look.ledger.wallet_said_at > expires, 'asked after the expiration');
    assert.match(look.ledger.what_next, /payments resolve/);
    const pending = s.errorOf(await s.call('access_l402_resource', { url, max_sats: 20 }));
    assert.equal(pending.code, 'PAYMENT_PENDING', pending.message);
    assert.equal(pending.details.payment_hash, hash);
    assert.equal(w.ledger.payRequests.length, 1, 'nothing sent again');

    w.ledger.behaviour = {};
    assert.equal(w.ledger.release(), 1);
    assert.ok(await waitFor(() => w.ledger.payCount(hash) === 1));
    const served = s.ok(await s.call('access_l402_resource', { url, max_sats: 20 }));
    assert.equal(served.status, 200);
    assert.equal(served.paid, false);
    assert.equal(sha256hex(preimageOf(w.api.stats.accepted.at(-1).authorization)), hash);
    const done = s.ok(await s.call('lookup_payment', { payment_hash: hash }));
    assert.equal(done.ledger.state, 'settled');
    assert.equal(done.ledger.resolved_by, 'wallet');
    assert.equal(w.ledger.payRequests.length, 1, 'never sent twice');
    assert.equal(await w.settledMsat(s), w.ledger.totalPaidMsat(), 'ledger = wallet, to the msat');
  } finally {
    await w.close();
  }
});

test('lsat-js macaroons (hex identifier): another route\'s invoice → MACAROON_NOT_BOUND, nothing sent; bound → paid, binding verified; unreadable identifier → l402_unbound', async () => {
  const w = await world({ payTimeout: 5 });
  try {
    const s = await w.start();
    const crossed = s.errorOf(await s.call('access_l402_resource', { url: `${w.lsat.url}/crossed`, max_sats: 20 }));
    assert.equal(crossed.code, 'MACAROON_NOT_BOUND', crossed.message);
    assert.match(crossed.message, /nothing was paid/);
    assert.equal(w.ledger.payRequests.length, 0, 'the wallet received no request');

    const r = s.ok(await s.call('access_l402_resource', { url: `${w.lsat.url}/weather`, max_sats: 20, include_credential: true }));
    assert.equal(r.status, 200, JSON.stringify(r).slice(0, 400));
    assert.equal(r.paid, true);
    assert.equal(r.binding, 'verified');
    assert.equal(r.amount_sats, 4);
    assert.equal(w.ledger.payRequestsFor(r.payment_hash), 1);
    assert.equal(w.ledger.payRequests.length, 1);
    const accepted = w.lsat.stats.accepted.filter((a) => a.path === '/weather');
    assert.equal(accepted.length, 1, 'the lsat-js server accepted the credential');
    assert.equal(sha256hex(preimageOf(accepted[0].authorization)), r.payment_hash);
    // Presented with the challenge's scheme: lsat-js (like boltwall) accepts only "LSAT …".
    assert.match(accepted[0].authorization, /^LSAT /);
    assert.equal(r.credential.headerValue, accepted[0].authorization);
    const again = s.ok(await s.call('access_l402_resource', { url: `${w.lsat.url}/weather` }));
    assert.equal(again.status, 200);
    assert.equal(again.paid, false, 'the lsat-js credential is reused');
    assert.equal(again.purchase_id, r.purchase_id);
    assert.equal(w.lsat.stats.accepted.at(-1).authorization, accepted[0].authorization, 'the same LSAT credential');

    const unbound = s.errorOf(await s.call('access_l402_resource', { url: `${w.lsat.url}/opaque`, max_sats: 20 }));
    assert.equal(unbound.code, 'MACAROON_UNBOUND', unbound.message);
    assert.match(unbound.message, /nothing was paid/);
    assert.equal(w.ledger.payRequests.length, 1, 'nothing sent for the unreadable identifier');
    await s.close();

    const allow = await w.start({ SATWARDEN_L402_UNBOUND: 'allow' });
    const paid = allow.ok(await allow.call('access_l402_resource', { url: `${w.lsat.url}/opaque`, max_sats: 20 }));
    assert.equal(paid.status, 200);
    assert.equal(paid.paid, true);
    assert.equal(paid.binding, 'unverified');
    assert.match(paid.message, /could not be verified/);
    assert.equal(w.ledger.payRequestsFor(paid.payment_hash), 1);
    // A readable identifier that does not match is refused whatever the setting.
    const still = allow.errorOf(await allow.call('access_l402_resource', { url: `${w.lsat.url}/crossed`, max_sats: 20 }));
    assert.equal(still.code, 'MACAROON_NOT_BOUND', still.message);
    assert.equal(w.ledger.payRequests.length, 2);
    assert.equal(await w.settledMsat(allow), w.ledger.totalPaidMsat(), 'ledger = wallet, to the msat');
  } finally {
    await w.close();
  }
});

test('idempotency keys over the wire: one payment per key, IDEMPOTENCY_KEY_REUSED, PAYMENT_PENDING then the settled outcome', async () => {
  const w = await world({ payTimeout: 1 });
  try {
    const s = await w.start();
    const bill = w.ln.makeInvoice({ amountMsat: 3_000 });
    const a1 = s.ok(await s.call('pay_invoice', { invoice: bill.invoice, idempotency_key: 'order-1' }));
    assert.equal(a1.preimage, bill.preimage);
    const a2 = s.ok(await s.call('pay_invoice', { invoice: bill.invoice, idempotency_key: 'order-1' }));
    assert.deepEqual(a2, a1, 'the same key returns the first outcome');
    assert.equal(w.ledger.payRequestsFor(bill.paymentHash), 1, 'one wallet payment');

    const other = w.ln.makeInvoice({ amountMsat: 3_000 });
    const reused = s.errorOf(await s.call('pay_invoice', { invoice: other.invoice, idempotency_key: 'order-1' }));
    assert.equal(reused.code, 'IDEMPOTENCY_KEY_REUSED', reused.message);
    assert.equal(w.ledger.payRequestsFor(other.paymentHash), 0, 'nothing sent for the other invoice');
    const reusedTool = s.errorOf(await s.call('access_l402_resource', { url: `${w.api.url}/cheap`, idempotency_key: 'order-1' }));
    assert.equal(reusedTool.code, 'IDEMPOTENCY_KEY_REUSED', 'another tool with the same key');

    // pay_invoice with a key after an unknown outcome: PAYMENT_PENDING, then the settled outcome (nothing re-sent).
    const bill2 = w.ln.makeInvoice({ amountMsat: 4_000 });
    w.ledger.behaviour = { hold: { pay_invoice: true } };
    const p1 = s.errorOf(await s.call('pay_invoice', { invoice: bill2.invoice, idempotency_key: 'order-2' }));
    assert.equal(p1.code, 'PAYMENT_OUTCOME_UNKNOWN', p1.message);
    const p2 = s.errorOf(await s.call('pay_invoice', { invoice: bill2.invoice, idempotency_key: 'order-2' }));
    assert.equal(p2.code, 'PAYMENT_PENDING', p2.message);
    assert.equal(p2.details.payment_hash, bill2.paymentHash);
    w.ledger.behaviour = {};
    assert.equal(w.ledger.release(), 1);
    assert.ok(await waitFor(() => w.ledger.payCount(bill2.paymentHash) === 1));
    const p3 = s.ok(await s.call('pay_invoice', { invoice: bill2.invoice, idempotency_key: 'order-2' }));
    assert.equal(p3.success, true);
    assert.equal(p3.payment_hash, bill2.paymentHash);
    assert.equal(p3.preimage, bill2.preimage);
    assert.equal(p3.amount_msat, 4_000);
    const p4 = s.ok(await s.call('pay_invoice', { invoice: bill2.invoice, idempotency_key: 'order-2' }));
    assert.deepEqual(p4, p3);
    assert.equal(w.ledger.payRequestsFor(bill2.paymentHash), 1);

    // access_l402_resource with a key after an unknown outcome.
    const url = `${w.api.url}/l402`;
    w.ledger.behaviour = { hold: { pay_invoice: true } };
    const k1 = s.errorOf(await s.call('access_l402_resource', { url, max_sats: 20, idempotency_key: 'fetch-1' }));
    assert.equal(k1.code, 'PAYMENT_OUTCOME_UNKNOWN', k1.message);
    const hash = k1.details.payment_hash;
    const k2 = s.errorOf(await s.call('access_l402_resource', { url, max_sats: 20, idempotency_key: 'fetch-1' }));
    assert.equal(k2.code, 'PAYMENT_PENDING', k2.message);
    assert.equal(k2.details.payment_hash, hash);
    assert.equal(w.ledger.payRequestsFor(hash), 1);
    assert.equal(w.ledger.payRequests.length, 3, 'nothing new sent');
    w.ledger.behaviour = {};
    assert.equal(w.ledger.release(), 1);
    assert.ok(await waitFor(() => w.ledger.payCount(hash) === 1));
    const k3 = s.ok(await s.call('access_l402_resource', { url, max_sats: 20, idempotency_key: 'fetch-1' }));
    assert.equal(k3.status, 200);
    assert.equal(k3.paid, false, 'the replay pays nothing');
    assert.equal(k3.used_cached_token, true);
    assert.equal(sha256hex(preimageOf(w.api.stats.accepted.at(-1).authorization)), hash, "the key's payment's credential");
    const k4 = s.ok(await s.call('access_l402_resource', { url, max_sats: 20, idempotency_key: 'fetch-1' }));
    assert.deepEqual(k4, k3, 'the settled outcome is kept for the key');
    assert.equal(w.ledger.payRequests.length, 3, 'one wallet request per key');
    assert.equal(await w.settledMsat(s), w.ledger.totalPaidMsat(), 'ledger = wallet, to the msat');
  } finally {
    await w.close();
  }
});

test('a challenge with duplicate parameters (two macaroon=, two invoice=, token= vs macaroon=) → INVALID_CHALLENGE, nothing paid', async () => {
  const w = await world({ payTimeout: 5 });
  try {
    const s = await w.start();
    for (const path of ['/dup-macaroon?bound=first', '/dup-macaroon?bound=last', '/dup-invoice?bound=first',
      '/dup-invoice?bound=last', '/dup-token']) {
      const e = s.errorOf(await s.call('access_l402_resource', { url: `${w.api.url}${path}`, max_sats: 20 }));
      assert.equal(e.code, 'INVALID_CHALLENGE', `${path}: ${e.message}`);
      assert.match(e.message, /nothing was paid/, path);
    }
    assert.equal(w.ledger.payRequests.length, 0, 'the wallet received no request');
    const list = s.ok(await s.call('list_payments', {}));
    assert.equal(list.payments.length, 0, 'nothing was even reserved');
  } finally {
    await w.close();
  }
});
