// `satwarden doctor` against the interop world (a real relay on @nostr-relay/core, wallet services on @getalby/sdk
// and nostr-tools): a healthy world, a dead relay, a NIP-04-only wallet, a wallet without pay_invoice, the 1-sat pay
// test (and a wallet that refuses to pay itself), an insecure saved connection. All on 127.0.0.1, bounded.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay } from '../world/relay.mjs';
import { FakeLightning } from '../world/lightning.mjs';
import { FakeWalletLedger, startAlbyWallet, startNip04Wallet, nwcUrl, getPublicKey, hexToBytes } from '../world/wallet.mjs';
import { run } from './walletauth.mjs';

const tmpRoots = [];
after(() => { for (const d of tmpRoots) rmSync(d, { recursive: true, force: true }); });
const freePort = () => new Promise((res) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });

async function world({ kind = 'alby', methods, deadRelay = false } = {}) {
  const relay = await startRelay();
  const ln = new FakeLightning({ network: 'regtest' });
  const ledger = new FakeWalletLedger({ lightning: ln });
  const clientSecret = randomBytes(32).toString('hex');
  const clientPubkey = getPublicKey(hexToBytes(clientSecret));
  const wallet = kind === 'nip04'
    ? await startNip04Wallet({ relayUrls: [relay.url], ledger, clientPubkey, methods })
    : await startAlbyWallet({ relayUrls: [relay.url], ledger, clientPubkey, infoEncryption: 'nip44_v2' });
  const dead = deadRelay ? `ws://127.0.0.1:${await freePort()}` : undefined;
  const relays = dead ? [dead, relay.url] : [relay.url];
  const root = mkdtempSync(join(tmpdir(), 'sw-doctor-'));
  tmpRoots.push(root);
  const env = { SATWARDEN_DATA_DIR: join(root, 'data'), SATWARDEN_DAY_SATS: '5000',
    NWC_URL: nwcUrl({ walletPubkey: wallet.walletPubkey, relayUrls: relays, clientSecret }),
    SATWARDEN_NWC_PAY_TIMEOUT: '5' };
  return { relay, ln, ledger, wallet, clientSecret, env, dead, root,
    async close() { wallet.close(); await relay.close(); } };
}

async function doctor(w, args = [], env = {}) {
  const merged = Object.fromEntries(Object.entries({ ...w.env, ...env }).filter(([, v]) => v !== undefined));
  const r = await run(['doctor', '--timeout', '3', ...args], { env: merged, limitMs: 60_000 });
  assert.ok(!r.stdout.includes(w.clientSecret) && !r.stderr.includes(w.clientSecret), 'doctor printed the secret');
  return r;
}
const jsonOf = (r) => JSON.parse(r.stdout);
const check = (report, id) => report.checks.filter((c) => c.check === id);

test('doctor: a healthy world passes every check (text and JSON)', async () => {
  const w = await world();
  try {
    const r = await doctor(w, ['--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const rep = jsonOf(r);
    assert.equal(rep.ok, true);
    for (const id of ['config', 'connection', 'relay', 'info_event', 'encryption', 'methods', 'get_info', 'get_balance', 'budget', 'approvals'])
      assert.deepEqual(check(rep, id).map((c) => c.status), ['ok'], `${id}: ${JSON.stringify(check(rep, id))}`);
    assert.match(check(rep, 'get_balance')[0].what, /100000 sats/);
    assert.match(check(rep, 'encryption')[0].what, /nip44_v2/);
    assert.match(check(rep, 'budget')[0].what, /per call 1000 sats, day 5000 sats/);
    assert.equal(rep.summary.fail, 0);

    const text = await doctor(w);
    assert.equal(text.code, 0);
    assert.match(text.stdout, new RegExp(`^ok    relay ${w.relay.url} connects and answers$`, 'm'));
    assert.doesNotMatch(text.stdout, /^FAIL/m);

    // Without a window cap: a warning, still exit 0.
    const nocap = await doctor(w, [], { SATWARDEN_DAY_SATS: undefined });
    assert.equal(nocap.code, 0);
    assert.match(nocap.stdout, /^warn  caps \(configured\): per call 1000 sats only; nothing bounds the total over time  set SATWARDEN_DAY_SATS/m);
  } finally {
    await w.close();
  }
});

test('doctor: a dead relay is a FAIL line naming it (the live one still works), exit 1', async () => {
  const w = await world({ deadRelay: true });
  try {
    const r = await doctor(w);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, new RegExp(`^FAIL  relay ${w.dead} does not connect.*  check the URL`, 'm'));
    assert.match(r.stdout, new RegExp(`^ok    relay ${w.relay.url} connects`, 'm'));
    assert.match(r.stdout, /^ok    get_balance: 100000 sats$/m);
  } finally {
    await w.close();
  }
});

test('doctor: a NIP-04-only wallet is a warning; a wallet without pay_invoice is a FAIL', async () => {
  const w = await world({ kind: 'nip04' });
  try {
    const r = await doctor(w, ['--json']);
    assert.equal(r.code, 0, r.stdout);
    const enc = check(jsonOf(r), 'encryption');
    assert.equal(enc[0].status, 'warn');
    assert.match(enc[0].what, /only NIP-04/);
    assert.equal(check(jsonOf(r), 'get_info')[0].status, 'ok');
  } finally {
    await w.close();
  }
  const noPay = await world({ kind: 'nip04', methods: ['get_balance', 'get_info', 'make_invoice', 'lookup_invoice', 'list_transactions'] });
  try {
    const r = await doctor(noPay);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /^FAIL  the wallet does not offer pay_invoice on this connection/m);
  } finally {
    await noPay.close();
  }
});

test('doctor --pay-test: a 1-sat invoice of the wallet paid through the same wallet; a refusal is reported', async () => {
  const w = await world();
  try {
    const r = await doctor(w, ['--pay-test']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^ok    paid the wallet's own 1-sat invoice in \d+ ms, fee \d+ msat, preimage verified \(ledger payment \d+, client doctor\)$/m);
    const incoming = w.ledger.txs.find((t) => t.type === 'incoming' && t.amount === 1000);
    assert.ok(incoming, 'make_invoice was not called');
    assert.equal(w.ledger.payCount(incoming.payment_hash), 1);

    w.ledger.behaviour.error = { pay_invoice: { code: 'PAYMENT_FAILED', message: 'self-payments are not allowed' } };
    const refused = await doctor(w, ['--pay-test']);
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /^FAIL  pay test: PAYMENT_FAILED: .*self-payments are not allowed.*  many wallets refuse to pay their own invoices/m);
  } finally {
    await w.close();
  }
});

test('doctor: no connection, and a saved connection others can read, are FAILs', async () => {
  const root = mkdtempSync(join(tmpdir(), 'sw-doctor-'));
  tmpRoots.push(root);
  const data = join(root, 'data');
  const w = { env: { SATWARDEN_DATA_DIR: data }, clientSecret: randomBytes(32).toString('hex') };
  const none = await doctor(w);
  assert.equal(none.code, 1);
  assert.match(none.stdout, /^FAIL  no wallet connection .*  run `satwarden connect`/m);

  mkdirSync(data, { mode: 0o700 });
  const walletPubkey = getPublicKey(randomBytes(32));
  writeFileSync(join(data, 'nwc-connection'), nwcUrl({ walletPubkey, relayUrls: ['ws://127.0.0.1:9'], clientSecret: w.clientSecret }) + '\n', { mode: 0o644 });
  const open = await doctor(w);
  assert.equal(open.code, 1);
  assert.match(open.stdout, /^FAIL  secret file .*nwc-connection is accessible to group or others \(0644\)  chmod 600/m);
  assert.match(open.stdout, /^FAIL  the saved wallet connection is unusable: .*SECRET|^FAIL  the saved wallet connection is unusable: .*accessible to group or others/m);
});
