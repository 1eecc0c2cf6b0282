// Interop: satwarden driven by an independent MODERN-era client — @modelcontextprotocol/client 2.4.0, the
// TypeScript SDK's v2 line that implements MCP 2026-07-28 — over Streamable HTTP and stdio, against the interop
// world (real relay @nostr-relay/core, @getalby/sdk wallet service over a fake Lightning ledger, the world's
// L402 API). The client negotiates the era itself (server/discover; no initialize), so every request below is
// stateless with per-request _meta. Per transport:
//  - discover: auto negotiation picks 2026-07-28; the server's identity and capabilities come from server/discover;
//  - tools/list, and decode_invoice on the BOLT 11 spec vector;
//  - subscriptions/listen on the spending view and one payment: acknowledged with what satwarden honours, then
//    notifications/resources/updated when a paid fetch changes them;
//  - a paid fetch through the world (access_l402_resource: 402 → pay over NWC → 200), paid once;
//  - the owner's approval as an input-required round trip: the client's elicitation handler sees the question,
//    accepts → the same call pays once; declines → APPROVAL_DENIED, nothing reaches the wallet.
// A 2025-era client (the v1 SDK) on the same HTTP listener still works (dual era). Every wait is bounded.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as LegacyHttp } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startL402Server } from '../world/l402server.mjs';
import { Cleanups, startHttp, waitFor, walletWorld } from '../world/satwarden.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SERVER = process.env.SW_SERVER ?? '/work/main/build/src/app/satwarden';
const VECTORS = process.env.SW_VECTORS_DIR ?? path.join(HERE, '..', '..', 'vectors');
const cleanups = new Cleanups();
after(() => cleanups.run());

const bolt11 = JSON.parse(fs.readFileSync(path.join(VECTORS, 'bolt11.json'), 'utf8'));
const VECTOR = bolt11.valid.find((v) => v.expected.description === '1 cup coffee');

async function world() {
  const { ln, ledger, env: walletEnv } = await walletWorld(cleanups);
  const api = await startL402Server({ lightning: ln });
  cleanups.add(() => api.close());
  const dataHome = cleanups.tempDir('sw-modern-');
  const env = { SATWARDEN_TOOLS: 'all', XDG_DATA_HOME: dataHome, HOME: dataHome, SATWARDEN_NWC_PAY_TIMEOUT: '10', SATWARDEN_NWC_READ_TIMEOUT: '5',
    SATWARDEN_FETCH_ALLOW: '127.0.0.1', SATWARDEN_APPROVE_ABOVE_SATS: '100', SATWARDEN_APPROVAL_TIMEOUT: '60',
    PATH: process.env.PATH, ...walletEnv };
  return {
    ln, ledger, api, env,
    invoice: (sats, description = 'modern interop') => ln.makeInvoice({ amountMsat: sats * 1000, description }),
    http: async () => (await startHttp(SERVER, { env, cleanups })).url,
    stdio: () => new StdioClientTransport({ command: SERVER, args: [], env, stderr: 'ignore' }),
  };
}

// A modern client that answers the owner's approval question with `answer` ('accept' | 'decline'), recording
// every question, and collecting resources/updated notifications.
async function modernClient(transport, { answer = 'accept', mode = 'auto' } = {}) {
  const client = new Client({ name: 'satwarden-modern-interop', version: '1.0.0' },
    { capabilities: { elicitation: { form: {} } }, versionNegotiation: { mode } });
  const questions = [];
  const updates = [];
  client.setRequestHandler('elicitation/create', async (req) => {
    questions.push(req.params);
    return answer === 'accept' ? { action: 'accept', content: {} } : { action: 'decline' };
  });
  client.setNotificationHandler('notifications/resources/updated', (n) => { updates.push(n.params); });
  await client.connect(transport);
  return { client, questions, updates };
}

const text = (r) => r.content?.[0]?.text ?? '';
function ok(r) {
  assert.ok(!r.isError, `unexpected error: ${text(r)}`);
  return r.structuredContent;
}
function errorOf(r) {
  assert.equal(r.isError, true, `expected an error, got ${JSON.stringify(r.structuredContent ?? r).slice(0, 400)}`);
  return JSON.parse(text(r)).error;
}

async function exercise(w, transportFactory, label) {
  const { client, questions, updates } = await modernClient(transportFactory());
  try {
    // discover → the modern era, no initialize.
    assert.equal(client.getNegotiatedProtocolVersion(), '2026-07-28', `${label}: negotiated era`);
    assert.equal(client.getServerVersion()?.name, 'satwarden');
    assert.equal(client.getServerCapabilities()?.resources?.subscribe, true);

    const tools = (await client.listTools()).tools.map((t) => t.name);
    for (const t of ['decode_invoice', 'pay_invoice', 'access_l402_resource', 'get_budget_status', 'list_approvals'])
      assert.ok(tools.includes(t), `${label}: tools/list has ${t}`);

    const decoded = ok(await client.callTool({ name: 'decode_invoice', arguments: { invoice: VECTOR.invoice } }));
    assert.equal(decoded.payment_hash, VECTOR.expected.payment_hash);
    assert.equal(decoded.description, '1 cup coffee');

    // Subscribe to the spending view; a paid fetch changes it.
    const sub = await client.listen({ resourceSubscriptions: ['satwarden://spending', 'satwarden://no-such'], toolsListChanged: true });
    assert.deepEqual(sub.honoredFilter, { resourceSubscriptions: ['satwarden://spending'] }, `${label}: honoured filter`);

    const url = `${w.api.url}/l402`;
    const before = w.api.stats.paid['/l402'] ?? 0;
    const fetched = ok(await client.callTool({ name: 'access_l402_resource', arguments: { url, max_sats: 20 } }));
    assert.equal(fetched.status, 200, `${label}: the paid API answered 200`);
    assert.equal((w.api.stats.paid['/l402'] ?? 0) - before, 1);
    assert.ok(await waitFor(() => updates.some((u) => u.uri === 'satwarden://spending')),
      `${label}: resources/updated for the spending view after the payment`);

    // One payment's resource: subscribe before paying; the update comes when it settles.
    const approved = w.invoice(150, `${label}: over the approval threshold`);
    const sub2 = await client.listen({ resourceSubscriptions: [`satwarden://payments/${approved.paymentHash}`] });
    assert.deepEqual(sub2.honoredFilter.resourceSubscriptions, [`satwarden://payments/${approved.paymentHash}`]);

    // The owner's approval as an input-required round trip: the client's handler is asked, accepts, pays once.
    const paid = ok(await client.callTool({ name: 'pay_invoice', arguments: { invoice: approved.invoice, max_sats: 200 } },
      { timeout: 60_000 }));
    assert.equal(paid.payment_hash, approved.paymentHash);
    assert.equal(questions.length, 1, `${label}: one question for the approval`);
    assert.equal(questions[0].mode ?? 'form', 'form');
    assert.match(questions[0].message, /150/, `${label}: the question says the amount`);
    assert.equal(w.ledger.payRequestsFor(approved.paymentHash), 1, `${label}: paid exactly once`);
    assert.ok(await waitFor(() => updates.some((u) => u.uri === `satwarden://payments/${approved.paymentHash}`)),
      `${label}: resources/updated for the payment`);
    const stored = JSON.parse((await client.readResource({ uri: `satwarden://payments/${approved.paymentHash}` })).contents[0].text);
    assert.equal(stored.state, 'settled');

    await sub.close();
    await sub2.close();
  } finally {
    await client.close().catch(() => {});
  }

  // Declined in the client → denied, nothing reaches the wallet.
  const { client: c2, questions: q2 } = await modernClient(transportFactory(), { answer: 'decline', mode: { pin: '2026-07-28' } });
  try {
    const inv = w.invoice(120, `${label}: declined`);
    const err = errorOf(await c2.callTool({ name: 'pay_invoice', arguments: { invoice: inv.invoice, max_sats: 200 } },
      { timeout: 60_000 }));
    assert.equal(err.code, 'APPROVAL_DENIED');
    assert.match(err.message, /not paid|nothing was paid|no payment/i);
    assert.equal(q2.length, 1);
    assert.equal(w.ledger.payRequestsFor(inv.paymentHash), 0, `${label}: a declined payment never reaches the wallet`);
  } finally {
    await c2.close().catch(() => {});
  }
}

test('modern client over Streamable HTTP: discover, list, decode, listen, paid fetch, approval via input-required', async () => {
  const w = await world();
  try {
    const url = await w.http();
    await exercise(w, () => new StreamableHTTPClientTransport(url), 'http');
    // The same listener still serves a 2025-era client (initialize + session).
    const legacy = new LegacyClient({ name: 'legacy', version: '1' });
    await legacy.connect(new LegacyHttp(url));
    assert.equal(legacy.getServerVersion()?.name, 'satwarden');
    const r = await legacy.callTool({ name: 'decode_invoice', arguments: { invoice: VECTOR.invoice } });
    assert.equal(r.structuredContent.payment_hash, VECTOR.expected.payment_hash);
    await legacy.close();
  } finally {
    await cleanups.run();
  }
});

test('modern client over stdio: discover, list, decode, listen, paid fetch, approval via input-required', async () => {
  const w = await world();
  try {
    await exercise(w, () => w.stdio(), 'stdio');
  } finally {
    await cleanups.run();
  }
});
