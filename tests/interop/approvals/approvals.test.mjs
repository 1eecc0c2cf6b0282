// Owner approvals from the terminal and from the owner's Nostr client (issue 12, 4a and 4b), against the interop
// world: MCP SDK client → satwarden (stdio) → real relay (@nostr-relay/core) → @getalby/sdk wallet over a
// FakeWalletLedger, and the world's paid API (world/l402server.mjs). Everything listens on 127.0.0.1.
//  - CLI (`satwarden approvals list --json | approve ID | deny ID`, same data directory, beside the running
//    server): approved → paid once; denied → APPROVAL_DENIED, nothing paid, the reservation released; nobody
//    answers → APPROVAL_TIMEOUT; under the threshold → paid without asking; approval_wait "return" →
//    APPROVAL_REQUIRED with the approval id, the CLI approves, the same call again pays exactly once.
//  - Nostr, NIP-17 (nostr-tools nip17/nip59 as the owner's client): the request arrives gift-wrapped from
//    satwarden's notification key (the npub it logs), says what is asked and carries the code; a reply from
//    another key, a wrong code, a replayed wrap and a reused code change nothing; `approve CODE` pays;
//    `deny CODE reason` denies with the reason; the owner hears the outcomes.
//  - Nostr, NIP-04 fallback (owner_dm nip04): request and reply as kind-4 DMs; approve pays.
//  - access_l402_resource with approve_new_domains: the first purchase from the domain waits; a second call for
//    the same URL while the first waits joins it (no second approval, no second payment); approved → one payment;
//    a later purchase from the same domain needs no approval.
// In every case the wallet's own request log shows no pay request before the decision and exactly one after it
// (none when denied or timed out). Every wait is bounded.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { generateSecretKey, getPublicKey as nostrPublicKey, finalizeEvent, verifyEvent, nip04, nip17, nip19, nip59 } from 'nostr-tools';
import { startRelay } from '../world/relay.mjs';
import { FakeLightning } from '../world/lightning.mjs';
import { FakeWalletLedger, startAlbyWallet, nwcUrl, getPublicKey, hexToBytes } from '../world/wallet.mjs';
import { startL402Server } from '../world/l402server.mjs';

const SERVER = process.env.SW_SERVER ?? '/work/main/build/src/app/satwarden';
const WAIT_MS = 10_000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => Math.floor(Date.now() / 1000);
const roots = [];
after(() => { for (const d of roots) rmSync(d, { recursive: true, force: true }); });

async function waitFor(pred, ms = WAIT_MS, stepMs = 50) {
  const end = Date.now() + ms;
  for (;;) {
    if (await pred()) return true;
    if (Date.now() >= end) return false;
    await sleep(stepMs);
  }
}

// One world per test: relay, wallet, lightning, the paid API, a data directory.
async function world({ env: worldEnv = {} } = {}) {
  const relay = await startRelay();
  const ln = new FakeLightning({ network: 'regtest' });
  const ledger = new FakeWalletLedger({ lightning: ln });
  const clientSecret = randomBytes(32).toString('hex');
  const wallet = await startAlbyWallet({ relayUrls: [relay.url], ledger, clientPubkey: getPublicKey(hexToBytes(clientSecret)),
    infoEncryption: 'nip44_v2' });
  const api = await startL402Server({ lightning: ln });
  const dataHome = mkdtempSync(join(tmpdir(), 'sw-approvals-nostr-'));
  roots.push(dataHome);
  const dataDir = join(dataHome, 'satwarden');
  const env = { NWC_URL: nwcUrl({ walletPubkey: wallet.walletPubkey, relayUrls: [relay.url], clientSecret }), SATWARDEN_TOOLS: 'all', XDG_DATA_HOME: dataHome,
    SATWARDEN_NWC_PAY_TIMEOUT: '10', SATWARDEN_NWC_READ_TIMEOUT: '5', SATWARDEN_LOG_LEVEL: 'info',
    SATWARDEN_FETCH_ALLOW: '127.0.0.1', SATWARDEN_APPROVAL_TIMEOUT: '60', PATH: process.env.PATH, ...worldEnv };
  const servers = [];
  const sockets = [];
  const start = async (extra = {}) => {
    const transport = new StdioClientTransport({ command: SERVER, env: { ...env, ...extra }, stderr: 'pipe' });
    const logRef = { text: '' };
    transport.stderr?.on('data', (d) => { logRef.text = (logRef.text + d.toString()).slice(-16000); });
    const client = new Client({ name: 'approvals-nostr-interop', version: '1' });
    await client.connect(transport);
    const s = {
      client,
      log: () => logRef.text,
      call: (name, args, opts) => client.callTool({ name, arguments: args }, undefined, { timeout: 90_000, ...opts }),
      ok(r) {
        assert.ok(!r.isError, `unexpected error: ${r.content?.[0]?.text}\n--- satwarden stderr ---\n${logRef.text}`);
        return r.structuredContent;
      },
      errorOf(r) {
        assert.equal(r.isError, true, `expected an error, got ${JSON.stringify(r.structuredContent ?? r).slice(0, 600)}`);
        return JSON.parse(r.content[0].text).error;
      },
      close: () => client.close().catch(() => {}),
    };
    servers.push(s);
    return s;
  };
  // The owner's terminal: `satwarden approvals …` on the same data directory.
  const cli = (...args) => new Promise((resolve) => {
    execFile(SERVER, ['approvals', ...args, '--data-dir', dataDir], { env: { PATH: process.env.PATH }, timeout: 15_000 },
      (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr }));
  });
  const listed = async (all = false) => {
    const r = await cli('list', '--json', ...(all ? ['--all'] : []));
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  // The owner's Nostr client: a raw NIP-01 connection to the relay.
  const ownerClient = async () => {
    const ws = new WebSocket(relay.url);
    await new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); });
    sockets.push(ws);
    const events = [];
    const oks = new Map();
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      if (m[0] === 'EVENT') events.push(m[2]);
      else if (m[0] === 'OK') oks.get(m[1])?.(m);
    });
    return {
      subscribe(filter) { ws.send(JSON.stringify(['REQ', 'sub-' + randomBytes(4).toString('hex'), filter])); },
      publish(ev) {
        return new Promise((res, rej) => {
          const t = setTimeout(() => rej(new Error('no OK from the relay')), WAIT_MS);
          oks.set(ev.id, (m) => { clearTimeout(t); res({ ok: m[2], message: m[3] }); });
          ws.send(JSON.stringify(['EVENT', ev]));
        });
      },
      // The next event matching `pred` (consumed), or throws after WAIT_MS.
      async next(pred, what) {
        const end = Date.now() + WAIT_MS;
        for (;;) {
          const i = events.findIndex(pred);
          if (i >= 0) return events.splice(i, 1)[0];
          if (Date.now() > end) throw new Error(`the owner's client got no ${what}`);
          await sleep(20);
        }
      },
      pending: () => events.length,
    };
  };
  return {
    ln, ledger, api, start, cli, listed, ownerClient, dataDir,
    invoice: (sats, description = 'approvals interop') => ln.makeInvoice({ amountMsat: sats * 1000, description }),
    async close() {
      for (const s of servers) await s.close();
      for (const ws of sockets) ws.terminate();
      ledger.release();
      wallet.close();
      await api.close();
      await relay.close();
    },
  };
}

// The approval of the payment with this hash, as the CLI lists it (bounded wait for it to appear).
async function approvalOf(w, hash, { all = false } = {}) {
  let found;
  const ok = await waitFor(async () => {
    found = (await w.listed(all)).find((a) => a.payment_hash === hash);
    return !!found;
  }, WAIT_MS, 100);
  assert.ok(ok, `no approval listed for ${hash}`);
  return found;
}

// ------------------------------------------------------------------ the terminal

test('CLI: over the threshold → approved from the terminal → paid exactly once', async () => {
  const w = await world({ env: { SATWARDEN_APPROVE_ABOVE_SATS: '10' } });
  try {
    const s = await w.start();
    const inv = w.invoice(50, 'a 50-sat report');
    const call = s.call('pay_invoice', { invoice: inv.invoice, max_sats: 100 });
    const a = await approvalOf(w, inv.paymentHash);
    assert.equal(a.state, 'pending');
    assert.equal(a.amount_msat, 50_000);
    assert.equal(a.tool, 'pay_invoice');
    assert.ok(!('code' in a), 'the CLI listing carries no code');
    await sleep(600);  // longer than the waiting call's ledger poll
    assert.equal(w.ledger.payRequests.length, 0, 'nothing reached the wallet before the decision');

    const r = await w.cli('approve', a.approval_id);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`${a.approval_id} approved`));
    const paid = s.ok(await call);
    assert.equal(paid.payment_hash, inv.paymentHash);
    assert.equal(w.ledger.payRequestsFor(inv.paymentHash), 1, 'exactly one pay request after the approval');
    assert.equal(w.ledger.payCount(inv.paymentHash), 1);

    const after = (await w.listed(true)).find((x) => x.approval_id === a.approval_id);
    assert.equal(after.state, 'used');
    assert.equal(after.decided_by, 'cli');
    // A second approval of a used one changes nothing.
    const again = await w.cli('approve', a.approval_id);
    assert.notEqual(again.code, 0);
    assert.equal(w.ledger.payRequests.length, 1);
  } finally {
    await w.close();
  }
});

test('CLI: denied from the terminal → APPROVAL_DENIED, nothing paid, the budget released', async () => {
  const w = await world({ env: { SATWARDEN_APPROVE_ABOVE_SATS: '10' } });
  try {
    const s = await w.start();
    const inv = w.invoice(40);
    const call = s.call('pay_invoice', { invoice: inv.invoice, max_sats: 100 });
    const a = await approvalOf(w, inv.paymentHash);
    const r = await w.cli('deny', a.approval_id, '--reason', 'not today');
    assert.equal(r.code, 0, r.stderr);
    const err = s.errorOf(await call);
    assert.equal(err.code, 'APPROVAL_DENIED', err.message);
    assert.match(err.message, /not today/);
    await sleep(600);
    assert.equal(w.ledger.payRequests.length, 0, 'nothing reached the wallet');
    const released = s.ok(await s.call('list_payments', { state: 'released' })).payments;
    assert.equal(released.length, 1);
    assert.equal(released[0].payment_hash, inv.paymentHash);
    assert.equal(released[0].error_code, 'APPROVAL_DENIED');
    assert.equal(s.ok(await s.call('list_payments', { state: 'reserved' })).payments.length, 0, 'nothing held');
    // Approving it afterwards changes nothing.
    assert.notEqual((await w.cli('approve', a.approval_id)).code, 0);
    assert.equal(w.ledger.payRequests.length, 0);
  } finally {
    await w.close();
  }
});

test('CLI: nobody answers → APPROVAL_TIMEOUT, nothing paid, released', async () => {
  const w = await world({ env: { SATWARDEN_APPROVE_ABOVE_SATS: '10', SATWARDEN_APPROVAL_TIMEOUT: '15' } });
  try {
    const s = await w.start();
    const inv = w.invoice(30);
    const t0 = Date.now();
    const err = s.errorOf(await s.call('pay_invoice', { invoice: inv.invoice, max_sats: 100 }));
    assert.equal(err.code, 'APPROVAL_TIMEOUT', err.message);
    assert.ok(Date.now() - t0 >= 13_000, 'it waited for the approval timeout');
    assert.equal(w.ledger.payRequests.length, 0, 'nothing reached the wallet');
    const a = (await w.listed(true)).find((x) => x.payment_hash === inv.paymentHash);
    assert.equal(a.state, 'expired');
    assert.notEqual((await w.cli('approve', a.approval_id)).code, 0, 'an expired approval cannot be approved');
    const released = s.ok(await s.call('list_payments', { state: 'released' })).payments;
    assert.equal(released[0]?.error_code, 'APPROVAL_TIMEOUT');
    assert.equal(w.ledger.payRequests.length, 0);
  } finally {
    await w.close();
  }
});

test('under the threshold: paid without asking', async () => {
  const w = await world({ env: { SATWARDEN_APPROVE_ABOVE_SATS: '10' } });
  try {
    const s = await w.start();
    const inv = w.invoice(5);
    const paid = s.ok(await s.call('pay_invoice', { invoice: inv.invoice, max_sats: 10 }));
    assert.equal(paid.payment_hash, inv.paymentHash);
    assert.equal(w.ledger.payCount(inv.paymentHash), 1);
    assert.deepEqual(await w.listed(true), [], 'no approval was created');
  } finally {
    await w.close();
  }
});

test('approval_wait "return": APPROVAL_REQUIRED with the id at once; CLI approves; the same call again pays exactly once', async () => {
  const w = await world({ env: { SATWARDEN_APPROVE_ABOVE_SATS: '10' } });
  try {
    const s = await w.start();
    const inv = w.invoice(25);
    const args = { invoice: inv.invoice, max_sats: 100, approval_wait: 'return' };
    const first = s.errorOf(await s.call('pay_invoice', args));
    assert.equal(first.code, 'APPROVAL_REQUIRED', first.message);
    const id = first.details.approval_id;
    assert.match(id, /^[0-9A-Z]+$/);
    assert.ok(!JSON.stringify(first).match(/"code"\s*:\s*"[0-9A-Z]{8}"/), 'no one-time code in the result');
    // Asking again before the decision: still APPROVAL_REQUIRED for the same approval, nothing sent.
    const second = s.errorOf(await s.call('pay_invoice', args));
    assert.equal(second.code, 'APPROVAL_REQUIRED');
    assert.equal(second.details.approval_id, id);
    assert.equal((await w.listed()).length, 1, 'one approval');
    assert.equal(w.ledger.payRequests.length, 0);

    assert.equal((await w.cli('approve', id)).code, 0);
    const paid = s.ok(await s.call('pay_invoice', { ...args, approval_id: id }));
    assert.equal(paid.payment_hash, inv.paymentHash);
    assert.equal(w.ledger.payRequestsFor(inv.paymentHash), 1);
    assert.equal(w.ledger.payCount(inv.paymentHash), 1);
    // And once more: the invoice is paid; nothing new reaches the wallet.
    const third = s.errorOf(await s.call('pay_invoice', args));
    assert.equal(third.code, 'ALREADY_PAID', third.message);
    assert.equal(w.ledger.payRequests.length, 1, 'exactly one pay request in all');
  } finally {
    await w.close();
  }
});

// ------------------------------------------------------------------ the owner's Nostr client

// Starts satwarden with the owner's npub and returns the notification key it logs (the owner follows it).
async function startWithOwner(w, ownerSk, extra = {}) {
  const s = await w.start({ SATWARDEN_OWNER_NPUB: nip19.npubEncode(nostrPublicKey(ownerSk)), ...extra });
  let m;
  assert.ok(await waitFor(() => (m = /approval requests go to the owner over Nostr \((nip17|nip04)\) from (npub1[0-9a-z]+)/.exec(s.log()))),
    `no notification npub logged\n${s.log()}`);
  const decoded = nip19.decode(m[2]);
  assert.equal(decoded.type, 'npub');
  return { s, mode: m[1], pk: decoded.data };
}

const codeIn = (text) => /`approve ([0-9A-Z]{8})`/.exec(text)?.[1];

test('NIP-17: the owner reads the request in a nostr-tools client; other keys, wrong codes and replays change nothing; `approve CODE` pays once; `deny CODE reason` denies', async () => {
  const w = await world({ env: { SATWARDEN_APPROVE_ABOVE_SATS: '10' } });
  try {
    const ownerSk = generateSecretKey();
    const { s, mode, pk } = await startWithOwner(w, ownerSk);
    assert.equal(mode, 'nip17');
    const owner = await w.ownerClient();
    owner.subscribe({ kinds: [1059], '#p': [nostrPublicKey(ownerSk)] });
    const wraps = [];
    // The next private message from satwarden to the owner (unwrapped), whose text matches `re`.
    const nextDm = async (re, what) => {
      const wrap = await owner.next((e) => {
        if (e.kind !== 1059 || !verifyEvent(e)) return false;
        try { return re.test(nip17.unwrapEvent(e, ownerSk).content); } catch { return false; }
      }, what);
      wraps.push(wrap);
      const rumor = nip17.unwrapEvent(wrap, ownerSk);
      assert.equal(rumor.pubkey, pk, 'from the notification key satwarden logged');
      assert.equal(rumor.kind, 14);
      return rumor;
    };
    const reply = async (text, sk = ownerSk) => {
      const wrap = nip17.wrapEvent(sk, { publicKey: pk }, text);
      assert.equal((await owner.publish(wrap)).ok, true);
      return wrap;
    };

    const inv = w.invoice(50, 'a 50-sat report');
    const call = s.call('pay_invoice', { invoice: inv.invoice, max_sats: 100 });
    const req = await nextDm(/approval needed/, 'approval request');
    const code = codeIn(req.content);
    assert.ok(code, `a code in the request: ${req.content}`);
    assert.match(req.content, /50 sats/);
    assert.match(req.content, /pay_invoice/);
    assert.match(req.content, /a 50-sat report/);
    assert.match(req.content, /until \d\d:\d\d UTC|until \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    assert.match(req.content, new RegExp('`deny ' + code + '`'));
    const a = await approvalOf(w, inv.paymentHash);
    assert.match(req.content, new RegExp(`id ${a.approval_id}`));
    assert.ok(!s.log().includes(code), 'the code is not in satwarden\'s log');

    // Someone else's key, with the right code: ignored (no answer, nothing decided).
    await reply(`approve ${code}`, generateSecretKey());
    // The owner with a wrong code: told so, nothing decided.
    const wrong = code.split('').reverse().join('') === code ? 'ZZZZZZZZ' : code.split('').reverse().join('');
    await reply(`approve ${wrong}`);
    await nextDm(/No approval has that code/, 'answer to a wrong code');
    await sleep(600);
    assert.equal(w.ledger.payRequests.length, 0, 'nothing reached the wallet');
    assert.equal((await w.listed()).find((x) => x.approval_id === a.approval_id)?.state, 'pending', 'still pending');

    // The owner approves, typed loosely.
    const approveWrap = await reply(`  Approve: ${code.toLowerCase()} `);
    const paid = s.ok(await call);
    assert.equal(paid.payment_hash, inv.paymentHash);
    assert.equal(w.ledger.payRequestsFor(inv.paymentHash), 1, 'exactly one pay request after the approval');
    assert.equal(w.ledger.payCount(inv.paymentHash), 1);
    const approvedMsg = await nextDm(/^Approved/, 'approved message');
    assert.match(approvedMsg.content, new RegExp(`id ${a.approval_id}, via nostr`));
    await nextDm(/^Paid/, 'paid message');
    const decided = (await w.listed(true)).find((x) => x.approval_id === a.approval_id);
    assert.equal(decided.decided_by, 'nostr');
    assert.equal(decided.state, 'used');

    // A second payment waits; replays of the first approval do nothing to it.
    const inv2 = w.invoice(60, 'a 60-sat report');
    const call2 = s.call('pay_invoice', { invoice: inv2.invoice, max_sats: 100 });
    const req2 = await nextDm(/approval needed/, 'second approval request');
    const code2 = codeIn(req2.content);
    assert.ok(code2 && code2 !== code);
    await owner.publish(approveWrap);  // the same wrap again (the relay may call it a duplicate): nothing happens
    await reply(`approve ${code}`);  // the first code, reused in a new message
    await nextDm(/already used/, 'answer to a reused code');
    await sleep(600);
    assert.equal(w.ledger.payRequestsFor(inv2.paymentHash), 0, 'the second payment was not sent');
    const a2 = await approvalOf(w, inv2.paymentHash);
    assert.equal(a2.state, 'pending');

    // The owner denies it with a reason.
    await reply(`deny ${code2} too much for today`);
    const err = s.errorOf(await call2);
    assert.equal(err.code, 'APPROVAL_DENIED', err.message);
    assert.match(err.message, /too much for today/);
    const deniedMsg = await nextDm(/^Denied/, 'denied message');
    assert.match(deniedMsg.content, /nothing was paid/);
    // Approving it afterwards, from Nostr: already denied, nothing paid.
    await reply(`yes ${code2}`);
    await nextDm(/already denied/, 'answer to a decided code');
    await sleep(300);
    assert.equal(w.ledger.payRequests.length, 1, 'one pay request in all');
    assert.equal((await w.listed(true)).find((x) => x.approval_id === a2.approval_id)?.decided_by, 'nostr');
    assert.ok(!s.log().includes(code2), 'no code in the log');
  } finally {
    await w.close();
  }
});

test('NIP-04 fallback (owner_dm nip04): the request as a kind-4 DM; `approve CODE` over NIP-04 pays once', async () => {
  const w = await world({ env: { SATWARDEN_APPROVE_ABOVE_SATS: '10' } });
  try {
    const ownerSk = generateSecretKey();
    const ownerPk = nostrPublicKey(ownerSk);
    const { s, mode, pk } = await startWithOwner(w, ownerSk, { SATWARDEN_OWNER_DM: 'nip04' });
    assert.equal(mode, 'nip04');
    const owner = await w.ownerClient();
    owner.subscribe({ kinds: [4], '#p': [ownerPk], authors: [pk] });
    const nextDm = async (re, what) => {
      const ev = await owner.next((e) => {
        if (e.kind !== 4 || e.pubkey !== pk || !verifyEvent(e)) return false;
        try { return re.test(nip04.decrypt(ownerSk, pk, e.content)); } catch { return false; }
      }, what);
      return nip04.decrypt(ownerSk, pk, ev.content);
    };
    const inv = w.invoice(45);
    const call = s.call('pay_invoice', { invoice: inv.invoice, max_sats: 100 });
    const text = await nextDm(/approval needed/, 'approval request');
    const code = codeIn(text);
    assert.ok(code, text);
    await sleep(300);
    assert.equal(w.ledger.payRequests.length, 0);
    const ev = finalizeEvent({ kind: 4, created_at: now(), tags: [['p', pk]],
      content: nip04.encrypt(ownerSk, pk, `approve ${code}`) }, ownerSk);
    assert.equal((await owner.publish(ev)).ok, true);
    const paid = s.ok(await call);
    assert.equal(paid.payment_hash, inv.paymentHash);
    assert.equal(w.ledger.payRequestsFor(inv.paymentHash), 1);
    assert.equal(w.ledger.payCount(inv.paymentHash), 1);
    await nextDm(/^Approved .*via nip04/, 'approved message');
    await nextDm(/^Paid/, 'paid message');
    const a = (await w.listed(true)).find((x) => x.payment_hash === inv.paymentHash);
    assert.equal(a.decided_by, 'nip04');
    // The same event again: a duplicate, nothing happens.
    await owner.publish(ev);
    await sleep(500);
    assert.equal(w.ledger.payRequests.length, 1);
  } finally {
    await w.close();
  }
});

test('start-up: owner_npub that is not a key stops satwarden with a clear message', async () => {
  const dataHome = mkdtempSync(join(tmpdir(), 'sw-approvals-nostr-'));
  roots.push(dataHome);
  const run = (env) => new Promise((resolve) => {
    execFile(SERVER, [], { env: { PATH: process.env.PATH, SATWARDEN_TOOLS: 'all', XDG_DATA_HOME: dataHome, ...env }, timeout: 10_000 },
      (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, stderr }));
  });
  const bad = await run({ SATWARDEN_OWNER_NPUB: 'npub1notakey', SATWARDEN_OWNER_RELAYS: 'ws://127.0.0.1:9' });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /owner_npub/);
  const noRelay = await run({ SATWARDEN_OWNER_NPUB: nip19.npubEncode(nostrPublicKey(generateSecretKey())) });
  assert.equal(noRelay.code, 2);
  assert.match(noRelay.stderr, /no relay to reach the owner/);
});

// ------------------------------------------------------------------ a new domain

test('access_l402_resource with approve_new_domains: the first purchase waits; a second call for the URL joins it; approved → one payment; the domain is known afterwards', async () => {
  const w = await world({ env: { SATWARDEN_APPROVE_NEW_DOMAINS: 'true' } });
  try {
    const s = await w.start();
    const url = `${w.api.url}/l402`;
    const first = s.call('access_l402_resource', { url, max_sats: 20 });
    let pending;
    assert.ok(await waitFor(async () => (pending = await w.listed()).length === 1, WAIT_MS, 100), 'one approval waits');
    const a = pending[0];
    assert.equal(a.tool, 'access_l402_resource');
    assert.equal(a.domain, '127.0.0.1');
    assert.match(a.reasons.join(' '), /first|new/i);

    // The same URL again while the first call waits: no second approval, no payment.
    const second = s.call('access_l402_resource', { url, max_sats: 20 });
    await sleep(1500);
    const all = await w.listed(true);
    assert.equal(all.length, 1, `still one approval: ${JSON.stringify(all)}`);
    assert.equal(w.ledger.payRequests.length, 0, 'nothing reached the wallet before the decision');

    assert.equal((await w.cli('approve', a.approval_id)).code, 0);
    const served = s.ok(await first);
    assert.equal(served.status, 200);
    // The joined call is served too: whichever of the two wakes first pays, the other uses that purchase.
    const r2 = s.ok(await second);
    assert.equal(r2.status, 200);
    assert.equal(Number(served.paid) + Number(r2.paid), 1, 'one of them paid');
    assert.equal(w.ledger.payRequests.length, 1, 'exactly one pay request');
    assert.equal(w.ledger.payRequestsFor(a.payment_hash), 1);
    assert.equal(w.ledger.payCount(a.payment_hash), 1);

    // Served again from the purchase, and another path of the now-known domain needs no approval.
    const again = s.ok(await s.call('access_l402_resource', { url }));
    assert.equal(again.status, 200);
    assert.equal(again.paid, false);
    const cheap = s.ok(await s.call('access_l402_resource', { url: `${w.api.url}/cheap`, max_sats: 5 }));
    assert.equal(cheap.status, 200);
    assert.equal(cheap.paid, true);
    assert.equal((await w.listed(true)).length, 1, 'no new approval for a known domain');
    assert.equal(w.ledger.payRequests.length, 2);
  } finally {
    await w.close();
  }
});
