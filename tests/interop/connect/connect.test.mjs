// `satwarden connect` against wallets that read its nostr+walletauth:// request with @getalby/sdk's parser and
// approve it over a real relay (@nostr-relay/core); then the real server, over stdio with no NWC_URL, pays through
// the saved connection. And the failures: a spoofed answer with the wrong state, a wallet that never answers.
// All on 127.0.0.1; every wait is bounded.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { startRelay } from '../world/relay.mjs';
import { FakeLightning } from '../world/lightning.mjs';
import { FakeWalletLedger, getPublicKey, hexToBytes } from '../world/wallet.mjs';
import { SERVER, startConnect, approveWalletAuth, spoofApproval, readRequest, run } from './walletauth.mjs';

const tmpRoots = [];
after(() => { for (const d of tmpRoots) rmSync(d, { recursive: true, force: true }); });
function dataDir() {
  const d = mkdtempSync(join(tmpdir(), 'sw-connect-'));
  tmpRoots.push(d);
  return join(d, 'data');
}

// The saved connection, read back: nostr+walletconnect://<wallet>?relay=…&secret=…
function savedConnection(dir) {
  const path = join(dir, 'nwc-connection');
  const text = readFileSync(path, 'utf8').trim();
  const u = new URL(text.replace(/^nostr\+walletconnect:\/\//, 'http://'));
  return { path, text, mode: statSync(path).mode & 0o777, walletPubkey: u.host, relays: u.searchParams.getAll('relay'),
    secret: u.searchParams.get('secret'), lud16: u.searchParams.get('lud16') };
}

test('connect: the wallet reads the request, approves with the state; the server pays through the saved connection', async () => {
  const relay = await startRelay();
  const ln = new FakeLightning({ network: 'regtest' });
  const ledger = new FakeWalletLedger({ lightning: ln });
  const data = dataDir();
  let wallet;
  try {
    const env = { SATWARDEN_DATA_DIR: data };
    const { uri, done } = await startConnect(['--relay', relay.url, '--name', 'interop agent', '--max-sats', '5000',
      '--budget-renewal', 'weekly', '--timeout', '30'], env);
    // What a wallet sees, through Alby's own parser.
    const req = readRequest(uri);
    assert.match(req.appPubkey, /^[0-9a-f]{64}$/);
    assert.deepEqual(req.relayUrls, [relay.url]);
    assert.equal(req.name, 'interop agent');
    for (const m of ['pay_invoice', 'get_balance', 'get_info', 'make_invoice', 'lookup_invoice', 'list_transactions'])
      assert.ok(req.requestMethods.includes(m), `request_methods lacks ${m}: ${req.requestMethods}`);
    assert.deepEqual(req.notificationTypes, ['payment_received', 'payment_sent']);
    assert.equal(req.maxAmount, 5_000_000);  // msat
    assert.equal(req.budgetRenewal, 'weekly');
    assert.match(req.state, /^[0-9a-f]{32,}$/);

    const approved = await approveWalletAuth(uri, { ledger });
    wallet = approved.wallet;
    const r = await done;
    assert.equal(r.code, 0, `connect failed: ${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /\u2588/);  // the QR code was drawn
    assert.match(r.stdout, /state matched/);

    const saved = savedConnection(data);
    assert.equal(saved.mode, 0o600);
    assert.equal(saved.walletPubkey, approved.walletPubkey);
    assert.deepEqual(saved.relays, [relay.url]);
    assert.equal(getPublicKey(hexToBytes(saved.secret)), req.appPubkey);  // the app key, generated locally
    assert.ok(!r.stdout.includes(saved.secret) && !r.stderr.includes(saved.secret), 'the secret was printed');

    // The server, with no NWC_URL, uses it.
    const transport = new StdioClientTransport({ command: SERVER, env: { PATH: process.env.PATH, SATWARDEN_DATA_DIR: data,
      SATWARDEN_NWC_READ_TIMEOUT: '5', SATWARDEN_NWC_PAY_TIMEOUT: '5' }, stderr: 'pipe' });
    let stderr = '';
    transport.stderr?.on('data', (d) => { stderr += d.toString(); });
    const client = new Client({ name: 'connect-interop', version: '1' });
    await client.connect(transport);
    try {
      const bill = ln.makeInvoice({ amountMsat: 21_000, description: 'paid through the saved connection' });
      const paid = await client.callTool({ name: 'pay_invoice', arguments: { invoice: bill.invoice, max_sats: 30 } });
      assert.ok(!paid.isError, `pay_invoice failed: ${paid.content?.[0]?.text}`);
      assert.equal(paid.structuredContent.preimage, bill.preimage);
      assert.equal(ledger.payCount(bill.paymentHash), 1);
    } finally {
      await client.close();
    }
    assert.match(stderr, /from saved connection .*nwc-connection/);
    assert.ok(!stderr.includes(saved.secret));

    // A second connect refuses to replace it without --force; the file is unchanged.
    const again = await run(['connect', '--relay', relay.url, '--timeout', '2', '--no-qr'], { env });
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already saved/);
    assert.equal(savedConnection(data).text, saved.text);
  } finally {
    wallet?.close();
    await relay.close();
  }
});

test('connect: an Alby-style answer without state, NIP-04 only, moving to the relay its `relay` tag names', async () => {
  const relayA = await startRelay();
  const relayB = await startRelay();
  const ln = new FakeLightning({ network: 'regtest' });
  const ledger = new FakeWalletLedger({ lightning: ln });
  const data = dataDir();
  let wallet;
  try {
    const { uri, done } = await startConnect(['--relay', relayA.url, '--timeout', '30', '--no-qr'], { SATWARDEN_DATA_DIR: data });
    const approved = await approveWalletAuth(uri, { ledger, kind: 'nip04', echoState: false, relayTags: [relayB.url] });
    wallet = approved.wallet;
    const r = await done;
    assert.equal(r.code, 0, `connect failed: ${r.stdout}\n${r.stderr}`);
    assert.doesNotMatch(r.stdout, /\u2588/);  // --no-qr
    const saved = savedConnection(data);
    assert.equal(saved.walletPubkey, approved.walletPubkey);
    assert.deepEqual(saved.relays, [relayB.url]);  // NWC-08: the wallet's relays replace the request's
    // get_info went through the new connection (NIP-04): the wallet saw it.
    assert.ok(ledger.requests.some((q) => q.method === 'get_info' && q.encryption === 'nip04'));
  } finally {
    wallet?.close();
    await relayA.close();
    await relayB.close();
  }
});

test('connect: a spoofed answer (wrong state) is ignored; no approval → clear timeout, exit 1, nothing saved', async () => {
  const relay = await startRelay();
  const data = dataDir();
  try {
    const started = Date.now();
    const { uri, done } = await startConnect(['--relay', relay.url, '--timeout', '3', '--no-qr'], { SATWARDEN_DATA_DIR: data });
    const req = readRequest(uri);
    await spoofApproval([relay.url], req.appPubkey, 'ff'.repeat(16));
    const r = await done;
    assert.equal(r.code, 1);
    assert.ok(Date.now() - started < 15_000, 'the timeout was not honoured');
    assert.match(r.stderr, /no approval from a wallet within 3 s/);
    assert.match(r.stderr, /Nothing was saved/);
    assert.match(r.stderr, /ignored: its state does not match/);
    assert.equal(existsSync(join(data, 'nwc-connection')), false);
  } finally {
    await relay.close();
  }
});
