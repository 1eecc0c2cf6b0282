// Owner approvals through the signed webhook and through MCP elicitation (issue 12, 4c and 4d), against the interop
// world: MCP SDK client → satwarden (stdio) → real relay → @getalby/sdk wallet over a FakeWalletLedger. Every
// payment here is over the approval threshold (SATWARDEN_APPROVE_ABOVE_SATS=10), so nothing may reach the wallet
// before the owner decides; the wallet's own request log is checked before and after each decision.
//  - webhook: a node receiver checks every message's HMAC signature and timestamp; the approve link (a POST) pays
//    exactly once, opening it (GET) decides nothing, a second use is refused; the deny link (the HTML form) denies;
//    a forged, stale or missing signature on /approvals/decision is 401 and decides nothing; a signed decision for
//    another amount is APPROVAL_MISMATCH, the right one pays.
//  - elicitation: the SDK client's ElicitRequestSchema handler accepts (paid once), declines or cancels
//    (APPROVAL_DENIED, nothing paid); while it is still asking, the CLI approves and the client is sent
//    notifications/cancelled for the question (the SDK aborts the handler's signal); a bearer-token HTTP caller is
//    not asked (approval_elicitation auto).
// Everything listens on 127.0.0.1; every wait is bounded.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { startRelay } from '../world/relay.mjs';
import { FakeLightning } from '../world/lightning.mjs';
import { FakeWalletLedger, startAlbyWallet, nwcUrl, getPublicKey, hexToBytes } from '../world/wallet.mjs';

const SERVER = process.env.SW_SERVER ?? '/work/main/build/src/app/satwarden';
const SECRET = 'whsec-' + randomBytes(18).toString('hex');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const roots = [];
after(() => { for (const d of roots) rmSync(d, { recursive: true, force: true }); });

async function waitFor(pred, ms = 10_000, stepMs = 50) {
  const end = Date.now() + ms;
  for (;;) {
    if (await pred()) return true;
    if (Date.now() >= end) return false;
    await sleep(stepMs);
  }
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); }),
  ]);
}

// How a receiver checks a message (the README's recipe): HMAC-SHA256(secret, timestamp + "." + raw body), hex,
// compared in constant time; the timestamp within 5 minutes of now.
function verify(secret, timestamp, signature, raw) {
  if (!/^\d+$/.test(timestamp ?? '') || !signature?.startsWith('v1=')) return false;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false;
  const mac = createHmac('sha256', secret).update(`${timestamp}.${raw}`).digest('hex');
  const got = Buffer.from(signature.slice(3));
  return got.length === mac.length && timingSafeEqual(got, Buffer.from(mac));
}
const sign = (secret, ts, raw) => 'v1=' + createHmac('sha256', secret).update(`${ts}.${raw}`).digest('hex');

// The owner's webhook receiver: records every message with whether its signature checked out.
async function startReceiver(secret) {
  const messages = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => { raw += d; if (raw.length > 1 << 20) req.destroy(); });
    req.on('end', () => {
      const ok = verify(secret, req.headers['x-satwarden-timestamp'], req.headers['x-satwarden-signature'], raw);
      let body = null;
      try { body = JSON.parse(raw); } catch {}
      messages.push({ ok, body, raw, contentType: req.headers['content-type'], path: req.url });
      res.writeHead(ok ? 204 : 401).end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}/hooks/satwarden`,
    messages,
    of: (type, id) => messages.filter((m) => m.body?.type === type && (!id || m.body.approval?.approval_id === id)),
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
  };
}

// One world per test: relay, wallet, lightning, a data directory, the webhook receiver.
async function world() {
  const relay = await startRelay();
  const ln = new FakeLightning({ network: 'regtest' });
  const ledger = new FakeWalletLedger({ lightning: ln });
  const clientSecret = randomBytes(32).toString('hex');
  const wallet = await startAlbyWallet({ relayUrls: [relay.url], ledger, clientPubkey: getPublicKey(hexToBytes(clientSecret)),
    infoEncryption: 'nip44_v2' });
  const receiver = await startReceiver(SECRET);
  const dataHome = mkdtempSync(join(tmpdir(), 'sw-approvals-'));
  roots.push(dataHome);
  const env = { NWC_URL: nwcUrl({ walletPubkey: wallet.walletPubkey, relayUrls: [relay.url], clientSecret }), SATWARDEN_TOOLS: 'all', XDG_DATA_HOME: dataHome,
    SATWARDEN_NWC_PAY_TIMEOUT: '10', SATWARDEN_NWC_READ_TIMEOUT: '5', SATWARDEN_LOG_LEVEL: 'info',
    SATWARDEN_APPROVE_ABOVE_SATS: '10', SATWARDEN_APPROVAL_TIMEOUT: '120', PATH: process.env.PATH };
  const servers = [];
  const procs = [];
  const wrap = (client, logRef, extra = {}) => {
    const s = {
      client, ...extra,
      log: () => logRef.text,
      call: (name, args, opts) => client.callTool({ name, arguments: args }, undefined, { timeout: 60_000, ...opts }),
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
  // satwarden over stdio; with `webhook`, its approvals-only listener on a port of its choosing.
  const start = async ({ webhook = false, elicit = null, extra = {} } = {}) => {
    const wenv = webhook ? { SATWARDEN_APPROVAL_WEBHOOK_URL: receiver.url, SATWARDEN_APPROVAL_WEBHOOK_SECRET: SECRET } : {};
    const transport = new StdioClientTransport({ command: SERVER, args: ['--port', '0'], env: { ...env, ...wenv, ...extra },
      stderr: 'pipe' });
    const logRef = { text: '' };
    transport.stderr?.on('data', (d) => { logRef.text = (logRef.text + d.toString()).slice(-8000); });
    const client = new Client({ name: 'approvals-interop', version: '1' }, elicit ? { capabilities: { elicitation: {} } } : {});
    if (elicit) client.setRequestHandler(ElicitRequestSchema, elicit);
    await client.connect(transport);
    return wrap(client, logRef);
  };
  // satwarden over Streamable HTTP with a bearer token.
  const startHttp = async ({ elicit, webhook = false, extra = {} }) => {
    const token = 'tok-' + randomBytes(16).toString('hex');
    const wenv = webhook ? { SATWARDEN_APPROVAL_WEBHOOK_URL: receiver.url, SATWARDEN_APPROVAL_WEBHOOK_SECRET: SECRET } : {};
    const proc = spawn(SERVER, ['--transport', 'http', '--port', '0'], { env: { ...env, SATWARDEN_TOKENS: token, ...wenv, ...extra },
      stdio: ['ignore', 'ignore', 'pipe'] });
    procs.push(proc);
    const logRef = { text: '' };
    const port = await withTimeout(new Promise((resolve, reject) => {
      proc.stderr.on('data', (d) => {
        logRef.text = (logRef.text + d.toString()).slice(-8000);
        const m = /serving MCP on http:\/\/127\.0\.0\.1:(\d+)\/mcp/.exec(logRef.text);
        if (m) resolve(Number(m[1]));
      });
      proc.on('exit', (code) => reject(new Error(`satwarden exited (${code}): ${logRef.text}`)));
    }), 10_000, 'satwarden http start');
    const transport = new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`),
      { requestInit: { headers: { Authorization: `Bearer ${token}` } } });
    const client = new Client({ name: 'approvals-interop-http', version: '1' }, { capabilities: { elicitation: {} } });
    client.setRequestHandler(ElicitRequestSchema, elicit);
    await client.connect(transport);
    return wrap(client, logRef, { base: `http://127.0.0.1:${port}` });
  };
  // The owner's terminal: `satwarden approvals …` on the same data directory.
  const cli = (...args) => new Promise((resolve) => {
    execFile(SERVER, ['approvals', ...args, '--data-dir', join(dataHome, 'satwarden')], { env: { PATH: process.env.PATH }, timeout: 15_000 },
      (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr }));
  });
  return {
    ln, ledger, receiver, start, startHttp, cli, dataHome,
    invoice: (sats, description = 'approvals interop') => ln.makeInvoice({ amountMsat: sats * 1000, description }),
    async close() {
      for (const s of servers) await s.close();
      for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
      ledger.release();
      wallet.close();
      await receiver.close();
      await relay.close();
    },
  };
}

// ------------------------------------------------------------------ webhook

test('webhook: signed approval.requested; opening the link decides nothing; the approve link pays exactly once and works once', async () => {
  const w = await world();
  try {
    const s = await w.start({ webhook: true });
    const inv = w.invoice(50, 'a 50-sat report');
    const call = s.call('pay_invoice', { invoice: inv.invoice, max_sats: 100 });

    assert.ok(await waitFor(() => w.receiver.of('approval.requested').length === 1), `no webhook message\n${s.log()}`);
    const msg = w.receiver.of('approval.requested')[0];
    assert.equal(msg.ok, true, 'the signature and timestamp check out');
    assert.equal(msg.contentType, 'application/json');
    assert.equal(msg.path, '/hooks/satwarden');
    const b = msg.body;
    assert.equal(b.approval.amount_msat, 50_000);
    assert.equal(b.approval.payment_hash, inv.paymentHash);
    assert.equal(b.approval.state, 'pending');
    assert.equal(b.approval.tool, 'pay_invoice');
    assert.match(b.summary, /50 sats/);
    assert.equal(typeof b.expires_at, 'number');
    const base = /^(http:\/\/127\.0\.0\.1:\d+)\/approvals\/decide\?token=[A-Za-z0-9_-]{43}$/.exec(b.approve_url)?.[1];
    assert.ok(base, `approve_url ${b.approve_url}`);
    assert.match(b.deny_url, /^http:\/\/127\.0\.0\.1:\d+\/approvals\/decide\?token=[A-Za-z0-9_-]{43}$/);
    assert.notEqual(b.approve_url, b.deny_url);
    assert.equal(b.decision_url, `${base}/approvals/decision`);
    assert.ok(!/"code"/.test(msg.raw), 'the one-time code is not in the webhook message');
    assert.equal(w.ledger.payRequests.length, 0, 'nothing reached the wallet before the decision');

    // A link preview or a mail scanner opens the link: a confirmation page, nothing decided.
    for (let i = 0; i < 2; i++) {
      const page = await fetch(b.approve_url);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type'), /text\/html/);
      assert.equal(page.headers.get('cache-control'), 'no-store');
      const html = await page.text();
      assert.match(html, /<form method="post"/);
      assert.match(html, /Approve this payment/);
      assert.match(html, new RegExp(b.approval.approval_id));
    }
    const head = await fetch(b.approve_url, { method: 'PUT' });
    assert.equal(head.status, 405);
    await sleep(700);  // longer than the waiting call's ledger poll
    assert.equal(w.ledger.payRequests.length, 0, 'opening the link paid nothing');
    const listed = s.ok(await s.call('list_approvals', {}));
    assert.equal(listed.approvals.find((a) => a.approval_id === b.approval.approval_id)?.state, 'pending');

    // The owner presses Approve (the page's POST; here as a script would, JSON back).
    const res = await fetch(b.approve_url, { method: 'POST' });
    assert.equal(res.status, 200);
    const decided = await res.json();
    assert.equal(decided.decision, 'approved');
    assert.equal(decided.approval.decided_by, 'webhook');

    const paid = s.ok(await call);
    assert.equal(paid.payment_hash, inv.paymentHash);
    assert.equal(w.ledger.payRequestsFor(inv.paymentHash), 1, 'exactly one pay request after the approval');
    assert.equal(w.ledger.payCount(inv.paymentHash), 1);

    // Single use: the same link, or the deny link, changes nothing now.
    const again = await fetch(b.approve_url, { method: 'POST' });
    assert.equal(again.status, 409);
    assert.equal((await again.json()).error.code, 'APPROVAL_DECIDED');
    const deny = await fetch(b.deny_url, { method: 'POST' });
    assert.equal(deny.status, 409);
    assert.equal((await fetch(b.approve_url)).status, 409, 'the page says it is decided');
    const unknown = await fetch(`${base}/approvals/decide?token=${'A'.repeat(43)}`, { method: 'POST' });
    assert.equal(unknown.status, 404);
    assert.equal((await unknown.json()).error.code, 'APPROVAL_NOT_FOUND');

    // The owner hears the outcome, signed too.
    assert.ok(await waitFor(() => w.receiver.of('approval.paid').length === 1), 'approval.paid is posted');
    assert.equal(w.receiver.of('approval.approved').length, 1);
    assert.ok(w.receiver.messages.every((m) => m.ok), 'every message is signed');
    assert.equal(w.ledger.payRequests.length, 1, 'one pay request in all');
  } finally {
    await w.close();
  }
});

test('webhook: the deny link (the page\'s form) denies — APPROVAL_DENIED, nothing paid, budget released', async () => {
  const w = await world();
  try {
    const s = await w.start({ webhook: true });
    const inv = w.invoice(40);
    const call = s.call('pay_invoice', { invoice: inv.invoice, max_sats: 100 });
    assert.ok(await waitFor(() => w.receiver.of('approval.requested').length === 1), `no webhook message\n${s.log()}`);
    const b = w.receiver.of('approval.requested')[0].body;
    const page = await (await fetch(b.deny_url)).text();
    assert.match(page, /Deny this payment/);
    const token = new URL(b.deny_url).searchParams.get('token');
    // As the browser submits the page's form: urlencoded body, relative action "decide".
    const res = await fetch(new URL('decide', b.deny_url), { method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token, reason: 'not today' }).toString() });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /text\/html/);
    assert.match(await res.text(), /Denied/);
    const err = s.errorOf(await call);
    assert.equal(err.code, 'APPROVAL_DENIED', err.message);
    assert.match(err.message, /not today/);
    await sleep(300);
    assert.equal(w.ledger.payRequests.length, 0, 'nothing reached the wallet');
    assert.ok(await waitFor(() => w.receiver.of('approval.denied').length === 1));
    assert.equal((await fetch(b.approve_url, { method: 'POST' })).status, 409, 'the approve link is void too');
  } finally {
    await w.close();
  }
});

test('webhook: signed decisions — forged, stale or missing signature 401 (nothing decided); wrong amount APPROVAL_MISMATCH; the right one pays', async () => {
  const w = await world();
  try {
    const s = await w.start({ webhook: true });
    const inv = w.invoice(60);
    const call = s.call('pay_invoice', { invoice: inv.invoice, max_sats: 100 });
    assert.ok(await waitFor(() => w.receiver.of('approval.requested').length === 1), `no webhook message\n${s.log()}`);
    const b = w.receiver.of('approval.requested')[0].body;
    const id = b.approval.approval_id;
    const post = (body, { secret = SECRET, ts = Math.floor(Date.now() / 1000), sig } = {}) => {
      const raw = JSON.stringify(body);
      const headers = { 'content-type': 'application/json', 'x-satwarden-timestamp': String(ts) };
      const signature = sig === undefined ? sign(secret, ts, raw) : sig;
      if (signature !== null) headers['x-satwarden-signature'] = signature;
      return fetch(b.decision_url, { method: 'POST', headers, body: raw });
    };
    const good = { approval_id: id, decision: 'approve', amount_msat: 60_000, payment_hash: inv.paymentHash };

    const forged = await post(good, { secret: 'not-the-secret-at-all' });
    assert.equal(forged.status, 401);
    assert.equal((await forged.json()).error.code, 'SIGNATURE_INVALID');
    const missing = await post(good, { sig: null });
    assert.equal(missing.status, 401);
    const stale = await post(good, { ts: Math.floor(Date.now() / 1000) - 400 });
    assert.equal(stale.status, 401);
    assert.equal((await stale.json()).error.code, 'SIGNATURE_STALE');
    // A valid signature over another body does not carry over.
    const raw = JSON.stringify(good);
    const ts = Math.floor(Date.now() / 1000);
    const swapped = await fetch(b.decision_url, { method: 'POST', headers: { 'content-type': 'application/json',
      'x-satwarden-timestamp': String(ts), 'x-satwarden-signature': sign(SECRET, ts, raw) },
      body: JSON.stringify({ ...good, decision: 'deny' }) });
    assert.equal(swapped.status, 401);
    await sleep(400);
    assert.equal(s.ok(await s.call('list_approvals', {})).approvals.find((a) => a.approval_id === id)?.state, 'pending',
      'nothing was decided');
    assert.equal(w.ledger.payRequests.length, 0);

    const wrong = await post({ ...good, amount_msat: 61_000 });
    assert.equal(wrong.status, 422);
    assert.equal((await wrong.json()).error.code, 'APPROVAL_MISMATCH');
    const otherHash = await post({ ...good, payment_hash: 'ab'.repeat(32) });
    assert.equal((await otherHash.json()).error.code, 'APPROVAL_MISMATCH');
    const noAmount = await post({ approval_id: id, decision: 'approve', payment_hash: inv.paymentHash });
    assert.equal(noAmount.status, 400);
    assert.equal(w.ledger.payRequests.length, 0, 'refused decisions paid nothing');

    const right = await post(good);
    assert.equal(right.status, 200);
    assert.equal((await right.json()).decision, 'approved');
    s.ok(await call);
    assert.equal(w.ledger.payRequestsFor(inv.paymentHash), 1, 'paid exactly once');
    assert.equal(w.ledger.payCount(inv.paymentHash), 1);
    const replay = await post(good);
    assert.equal(replay.status, 409, 'a replayed decision changes nothing');
    assert.equal(w.ledger.payRequests.length, 1);
  } finally {
    await w.close();
  }
});

test('webhook on an HTTP server with bearer tokens: the links need no token (/mcp still does); the approval routes are rate-limited', async () => {
  const w = await world();
  try {
    const s = await w.startHttp({ webhook: true, elicit: async () => ({ action: 'decline' }) });
    const inv = w.invoice(45);
    const call = s.call('pay_invoice', { invoice: inv.invoice, max_sats: 100 });
    assert.ok(await waitFor(() => w.receiver.of('approval.requested').length === 1), `no webhook message\n${s.log()}`);
    const b = w.receiver.of('approval.requested')[0].body;
    assert.ok(b.approve_url.startsWith(`${s.base}/approvals/decide?token=`), 'the links name the MCP listener');
    assert.equal((await fetch(`${s.base}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: '{}' })).status, 401, '/mcp still needs the bearer token');
    assert.equal(w.ledger.payRequests.length, 0);
    const res = await fetch(b.approve_url, { method: 'POST' });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(s.ok(await call).payment_hash, inv.paymentHash);
    assert.equal(w.ledger.payRequestsFor(inv.paymentHash), 1);
    // 60 requests a minute per address: the burst beyond is 429 with Retry-After, before any lookup.
    const statuses = [];
    for (let i = 0; i < 70; i++) {
      const r = await fetch(`${s.base}/approvals/decide?token=${'B'.repeat(43)}`);
      statuses.push(r.status);
      if (r.status === 429) assert.ok(Number(r.headers.get('retry-after')) >= 1);
      await r.arrayBuffer();
    }
    assert.ok(statuses.includes(429), `no 429 in ${statuses.join(',')}`);
    assert.ok(statuses.slice(0, 55).every((x) => x === 404), 'unknown tokens are 404 until the limit');
    assert.equal((await fetch(`${s.base}/healthz`)).status, 200, 'the rest of the listener is not limited');
  } finally {
    await w.close();
  }
});

test('config: a webhook URL without a secret of 16+ characters is refused at start-up', async () => {
  const r = await new Promise((resolve) => execFile(SERVER, ['--data-dir', mkdtempSync(join(tmpdir(), 'sw-approvals-cfg-'))],
    { env: { PATH: process.env.PATH, SATWARDEN_APPROVAL_WEBHOOK_URL: 'http://127.0.0.1:9/hook',
      SATWARDEN_APPROVAL_WEBHOOK_SECRET: 'short' }, timeout: 10_000 },
    (err, stdout, stderr) => resolve({ code: err?.code, stderr })));
  assert.equal(r.code, 2);
  assert.match(r.stderr, /approval_webhook_secret.*at least 16 characters/);
  assert.ok(!r.stderr.includes('short'), 'the secret is not echoed');
});

// ------------------------------------------------------------------ elicitation

// An elicitation handler whose answer the test sets; records what it was asked and whether the server withdrew it.
function asker() {
  const a = { asked: [], withdrawn: 0, answer: null, paidBefore: [] };
  a.handler = (ledger) => async (request, extra) => {
    a.asked.push(request);
    a.paidBefore.push(ledger.payRequests.length);
    if (a.answer === 'hold') {
      // Still deciding: wait for the server to withdraw the question (notifications/cancelled aborts the signal).
      await withTimeout(new Promise((resolve) => {
        if (extra.signal.aborted) return resolve();
        extra.signal.addEventListener('abort', resolve, { once: true });
      }), 20_000, 'notifications/cancelled for the elicitation');
      a.withdrawn++;
      return { action: 'cancel' };
    }
    return a.answer;
  };
  return a;
}

for (const [action, expectPaid] of [['accept', true], ['decline', false], ['cancel', false]]) {
  test(`elicitation: ${action} → ${expectPaid ? 'paid exactly once' : 'APPROVAL_DENIED, nothing paid'}`, async () => {
    const w = await world();
    try {
      const a = asker();
      a.answer = action === 'accept' ? { action: 'accept', content: {} } : { action };
      const s = await w.start({ elicit: a.handler(w.ledger) });
      const inv = w.invoice(30, 'thirty sats of data');
      const r = await s.call('pay_invoice', { invoice: inv.invoice, max_sats: 100 });
      assert.equal(a.asked.length, 1, 'the person was asked once');
      assert.deepEqual(a.paidBefore, [0], 'nothing reached the wallet before the answer');
      const p = a.asked[0].params;
      assert.equal(a.asked[0].method, 'elicitation/create');
      assert.match(p.message, /30 sats/);
      assert.match(p.message, /thirty sats of data/);
      assert.match(p.message, /approval [2-9A-Z]+/);
      assert.equal(p.requestedSchema.type, 'object');
      if (expectPaid) {
        assert.equal(s.ok(r).payment_hash, inv.paymentHash);
        assert.equal(w.ledger.payRequestsFor(inv.paymentHash), 1);
        assert.equal(w.ledger.payCount(inv.paymentHash), 1);
      } else {
        const err = s.errorOf(r);
        assert.equal(err.code, 'APPROVAL_DENIED', err.message);
        assert.match(err.message, action === 'cancel' ? /dismissed/ : /declined/);
        await sleep(300);
        assert.equal(w.ledger.payRequests.length, 0, 'nothing reached the wallet');
      }
    } finally {
      await w.close();
    }
  });
}

test('elicitation: the CLI approves while the client is still asking → paid once, and the question is withdrawn (notifications/cancelled)', async () => {
  const w = await world();
  try {
    const a = asker();
    a.answer = 'hold';
    const s = await w.start({ elicit: a.handler(w.ledger) });
    const inv = w.invoice(25);
    const call = s.call('pay_invoice', { invoice: inv.invoice, max_sats: 100 });
    assert.ok(await waitFor(() => a.asked.length === 1), `the client was not asked\n${s.log()}`);
    const id = /approval ([2-9A-Z]+)\)/.exec(a.asked[0].params.message)?.[1];
    assert.ok(id, a.asked[0].params.message);
    assert.equal(w.ledger.payRequests.length, 0);
    const listed = await w.cli('list');
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`${id}\\s+pending`));
    const r = await w.cli('approve', id);
    assert.equal(r.code, 0, r.stderr);
    const paid = s.ok(await call);
    assert.equal(paid.payment_hash, inv.paymentHash);
    assert.equal(w.ledger.payRequestsFor(inv.paymentHash), 1);
    assert.ok(await waitFor(() => a.withdrawn === 1, 5000), 'the client was told the question is void');
    assert.equal(a.asked.length, 1);
    const again = await w.cli('approve', id);
    assert.notEqual(again.code, 0, 'a second decision is refused');
    assert.equal(w.ledger.payRequests.length, 1, 'one pay request in all');
  } finally {
    await w.close();
  }
});

test('elicitation: a bearer-token HTTP caller is not asked under approval_elicitation auto (the owner decides elsewhere)', async () => {
  const w = await world();
  try {
    const a = asker();
    a.answer = { action: 'accept', content: {} };  // a client that would say yes to anything
    const s = await w.startHttp({ elicit: a.handler(w.ledger) });
    const inv = w.invoice(35);
    const call = s.call('pay_invoice', { invoice: inv.invoice, max_sats: 100 });
    let id;
    assert.ok(await waitFor(async () => {
      const l = await w.cli('list', '--json');
      id = l.code === 0 ? JSON.parse(l.stdout)[0]?.approval_id : undefined;
      return !!id;
    }, 10_000, 200), `no approval waits\n${s.log()}`);
    await sleep(500);
    assert.equal(a.asked.length, 0, 'the MCP client was not asked');
    assert.equal(w.ledger.payRequests.length, 0);
    const r = await w.cli('deny', id, '--reason', 'hosted callers ask the owner');
    assert.equal(r.code, 0, r.stderr);
    const err = s.errorOf(await call);
    assert.equal(err.code, 'APPROVAL_DENIED', err.message);
    assert.equal(a.asked.length, 0);
    assert.equal(w.ledger.payRequests.length, 0);
  } finally {
    await w.close();
  }
});
