// Lightning addresses and LNURL-pay (issue 16, part 1) against an independent LNURL server — the `lnurl` npm
// package's own server, with a backend that asks the interop world's payee for invoices — and a hostile service:
// MCP SDK client → satwarden (stdio) → relay → @getalby/sdk wallet. Everything on 127.0.0.1 (allow-listed, so
// plain http is accepted there only).
//  - pay_lnurl (bech32 lnurl1… from the package), pay_lightning_address (name@host), resolve_lightning_address:
//    paid once, preimage verified, ledger = wallet, the comment reaches the service, message and url success
//    actions shown (the url never fetched), the aes one decrypted (encrypted by node:crypto);
//  - hostile: description hash mismatch, amount mismatch, amount out of range, an http callback, a callback on a
//    private address, a redirect, an ERROR answer (both steps), a huge metadata field, not a pay request — each
//    refused with its code, nothing paid;
//  - approvals apply: over the threshold the payment waits; the owner approves from the terminal; paid once.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { Cleanups, walletWorld } from '../world/satwarden.mjs';
import { startLnurlService, startHostileLnurl } from '../world/lnurl.mjs';

const SERVER = process.env.SW_SERVER ?? '/work/main/build/src/app/satwarden';
const cleanups = new Cleanups();
after(() => cleanups.run());
let w;

before(async () => {
  const world = await walletWorld(cleanups);
  const svc = await startLnurlService({ lightning: world.ln });
  cleanups.add(() => svc.close());
  const hostile = await startHostileLnurl({ lightning: world.ln });
  cleanups.add(() => hostile.close());
  const dataHome = cleanups.tempDir('sw-lnurl-');
  const env = { ...world.env, SATWARDEN_TOOLS: 'all', XDG_DATA_HOME: dataHome, SATWARDEN_FETCH_ALLOW: '127.0.0.1', SATWARDEN_NWC_PAY_TIMEOUT: '10',
    SATWARDEN_NWC_READ_TIMEOUT: '5', SATWARDEN_APPROVE_ABOVE_SATS: '500', SATWARDEN_APPROVAL_ELICITATION: 'off',
    SATWARDEN_LOG_LEVEL: 'info', PATH: process.env.PATH };
  const transport = new StdioClientTransport({ command: SERVER, env, stderr: 'pipe' });
  let log = '';
  transport.stderr?.on('data', (d) => { log = (log + d).slice(-20000); });
  const client = new Client({ name: 'lnurl-interop', version: '1' });
  await client.connect(transport);
  cleanups.add(() => client.close());
  w = { ...world, svc, hostile, client, env, dataHome, log: () => log,
    call: (name, args) => client.callTool({ name, arguments: args }, undefined, { timeout: 60_000 }),
    errorOf: (r) => { assert.equal(r.isError, true, JSON.stringify(r.structuredContent ?? r).slice(0, 400)); return JSON.parse(r.content[0].text).error; },
    ok: (r) => { assert.ok(!r.isError, `${r.content?.[0]?.text}\n${log}`); return r.structuredContent; },
  };
});

const sha256 = (hex) => createHash('sha256').update(Buffer.from(hex, 'hex')).digest('hex');

test('pay an LNURL from the lnurl package: paid once, preimage verified, comment delivered, message shown', async () => {
  const before = w.ledger.payRequests.length;
  const out = w.ok(await w.call('pay_lnurl', { lnurl: w.svc.link.encoded, amount_sats: 21, max_sats: 50, comment: 'thanks!' }));
  assert.equal(out.amount_sats, 21);
  assert.equal(out.amount_msat, 21_000);
  assert.equal(sha256(out.preimage), out.payment_hash);
  assert.equal(out.domain, '127.0.0.1');
  assert.deepEqual(out.success_action, { tag: 'message', message: 'Thank you for the tip!' });
  assert.equal(w.ledger.payRequests.length, before + 1);
  assert.equal(w.ledger.payCount(out.payment_hash), 1);
  // The invoice the service issued committed to its metadata; the ledger row matches the wallet's payment.
  const issued = w.svc.invoices.find((i) => i.paymentHash === out.payment_hash);
  assert.ok(issued);
  assert.equal(issued.amount, 21_000);
  assert.equal(issued.descriptionHash, createHash('sha256').update(w.svc.metadata).digest('hex'));
  assert.deepEqual(w.svc.actions().at(-1), { amount: 21_000, comment: 'thanks!' }, 'the service got the amount and the comment');
  const row = w.ok(await w.call('list_payments', {})).payments.find((p) => p.payment_hash === out.payment_hash);
  assert.equal(row.state, 'settled');
  assert.equal(row.amount_msat, 21_000);
  assert.equal(row.tool, 'pay_lnurl');
});

test('a Lightning address: resolve, then pay; a url success action is shown, never fetched', async () => {
  const info = w.ok(await w.call('resolve_lightning_address', { target: w.svc.address }));
  assert.equal(info.kind, 'address');
  assert.equal(info.min_sats, 1);
  assert.equal(info.max_sats, 1000);
  assert.equal(info.description, 'Tips for alice');
  assert.equal(info.identifier, 'alice@example');
  assert.equal(info.comment_allowed, 100);
  const out = w.ok(await w.call('pay_lightning_address', { address: w.svc.address, amount_sats: 5, max_sats: 10 }));
  assert.equal(out.target, w.svc.address);
  assert.equal(w.ledger.payCount(out.payment_hash), 1);
  // The same idempotency key twice: one payment; the second answer is the first's (no new invoice is asked for).
  const asked = w.svc.invoices.length;
  const k1 = w.ok(await w.call('pay_lightning_address', { address: w.svc.address, amount_sats: 4, idempotency_key: 'tip-42' }));
  const k2 = w.ok(await w.call('pay_lightning_address', { address: w.svc.address, amount_sats: 4, idempotency_key: 'tip-42' }));
  assert.equal(k2.payment_hash, k1.payment_hash);
  assert.equal(w.ledger.payCount(k1.payment_hash), 1);
  assert.equal(w.svc.invoices.length, asked + 1, 'one invoice asked for');
  // A comment the service would refuse is refused before anything is asked.
  const long = w.errorOf(await w.call('pay_lightning_address', { address: w.svc.address, amount_sats: 5, comment: 'x'.repeat(101) }));
  assert.equal(long.code, 'COMMENT_NOT_ALLOWED');
  // The url success action (lnurl package link): shown, not fetched (receipts.example does not even resolve).
  const u = w.ok(await w.call('pay_lnurl', { lnurl: w.svc.urlLink.url.replace('http://', 'lnurlp://'), amount_sats: 3 }));
  assert.equal(u.success_action.tag, 'url');
  assert.equal(u.success_action.url, 'https://receipts.example/r/42');
  assert.match(u.message, /not opened/);
});

test('an aes success action is decrypted with the preimage (encrypted by node:crypto)', async () => {
  const out = w.ok(await w.call('pay_lightning_address', { address: w.hostile.address('aes'), amount_sats: 7 }));
  assert.equal(out.success_action.tag, 'aes');
  assert.equal(out.success_action.text, 'Your code: 7319-BETA');
  assert.equal(out.success_action.description, 'Your voucher');
});

test('hostile services: every misbehaviour is refused with a clear error and nothing is paid', async () => {
  const cases = [
    ['hashmismatch', 'LNURL_INVOICE_MISMATCH', /metadata/],
    ['amountmismatch', 'LNURL_INVOICE_MISMATCH', /not the 10000 msat/],
    ['range', 'AMOUNT_OUT_OF_RANGE', /1 to 5 sats/],
    ['httpcallback', 'URL_FORBIDDEN', /only https/],
    ['privatecallback', 'URL_FORBIDDEN', /./],
    ['redirect', 'LNURL_BAD_RESPONSE', /redirect/],
    ['error', 'LNURL_ERROR', /does not accept payments/],
    ['cberror', 'LNURL_ERROR', /no route/],
    ['huge', 'LNURL_BAD_RESPONSE', /metadata/],
    ['notpay', 'LNURL_NOT_PAY', /withdrawRequest/],
  ];
  for (const [variant, code, msg] of cases) {
    const before = w.ledger.payRequests.length;
    const e = w.errorOf(await w.call('pay_lightning_address', { address: w.hostile.address(variant), amount_sats: 10, max_sats: 20 }));
    assert.equal(e.code, code, `${variant}: ${JSON.stringify(e)}`);
    assert.match(e.message, msg, variant);
    assert.match(e.message, /nothing was paid/, `${variant} says nothing was paid`);
    assert.equal(w.ledger.payRequests.length, before, `${variant}: nothing reached the wallet`);
  }
  // The out-of-range amount was refused before the callback was called.
  assert.ok(!w.hostile.hits.includes('/cb/range'));
  // Targets that are not addresses or LNURLs.
  for (const bad of ['not an address', 'alice@', 'lnurl1qqqqqq', 'alice@evil.example/x', 'http://lnurl.example.com/pay']) {
    const e = w.errorOf(await w.call('resolve_lightning_address', { target: bad }));
    assert.ok(['LNURL_INVALID', 'URL_FORBIDDEN'].includes(e.code), `${bad}: ${e.code}`);
  }
  // The ledger reserved nothing for any of them.
  const rows = w.ok(await w.call('list_payments', { limit: 200 })).payments;
  assert.ok(rows.every((p) => p.state === 'settled'), JSON.stringify(rows.map((p) => p.state)));
});

test('approvals apply: over the threshold the payment waits for the owner, then is paid once', async () => {
  const before = w.ledger.payRequests.length;
  const pending = w.call('pay_lightning_address', { address: w.svc.address, amount_sats: 600, max_sats: 700 });
  const cli = (...args) => new Promise((resolve) => execFile(SERVER, ['approvals', ...args], { env: w.env, timeout: 15_000 },
    (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr })));
  let approval;
  for (let i = 0; i < 100 && !approval; i++) {
    const r = await cli('list', '--json');
    approval = JSON.parse(r.stdout || '[]').find((a) => a.state === 'pending');
    if (!approval) await new Promise((res) => setTimeout(res, 100));
  }
  assert.ok(approval, 'an approval is waiting');
  assert.equal(approval.amount_sats, 600);
  assert.equal(approval.domain, '127.0.0.1');
  assert.match(approval.purpose, /alice@127\.0\.0\.1/);
  assert.equal(w.ledger.payRequests.length, before, 'nothing sent before the decision');
  assert.equal((await cli('approve', approval.approval_id)).code, 0);
  const out = w.ok(await pending);
  assert.equal(out.amount_sats, 600);
  assert.equal(w.ledger.payRequests.length, before + 1);
  assert.equal(w.ledger.payCount(out.payment_hash), 1);
});
