// SIGTERM drains (issue 14, part 4), against the real server in the interop world (relay, @getalby/sdk wallet
// over a fake Lightning ledger whose pay_invoice can be slowed or held):
//  - a payment on its way when SIGTERM arrives reaches its outcome and is answered to the agent; a new request
//    meanwhile gets 503 (and /readyz 503, /healthz 200); the process exits 0; the ledger says settled;
//  - a payment the wallet never answers: after shutdown_grace_seconds the server records it `unknown` (budget held,
//    reconciled at the next start) and exits; nothing is paid twice.
// Every wait is bounded; everything on 127.0.0.1.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Cleanups, sleep, startHttp, waitFor, walletWorld } from '../world/satwarden.mjs';

const SERVER = process.env.SW_SERVER ?? '/work/main/build/src/app/satwarden';
const cleanups = new Cleanups();
after(() => cleanups.run());

async function world(extraEnv = {}) {
  const { ln, ledger, env: walletEnv } = await walletWorld(cleanups);
  const dataHome = cleanups.tempDir('sw-shutdown-');
  const srv = await startHttp(SERVER, { cleanups, env: { HOME: dataHome, SATWARDEN_TOOLS: 'all', XDG_DATA_HOME: dataHome,
    SATWARDEN_NWC_PAY_TIMEOUT: '30', SATWARDEN_NWC_READ_TIMEOUT: '5', ...walletEnv, ...extraEnv } });
  const cli = (...args) => new Promise((resolve) => execFile(SERVER, [...args, '--data-dir', join(dataHome, 'satwarden')],
    { env: { PATH: process.env.PATH }, timeout: 15_000 }, (err, stdout, stderrOut) => resolve({ code: err ? err.code ?? 1 : 0, stdout, stderr: stderrOut })));
  return { ln, ledger, port: srv.port, url: srv.url, child: srv.child, exited: srv.exited, cli, log: srv.stderr };
}

async function agent(url) {
  const client = new Client({ name: 'shutdown-agent', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(url));
  cleanups.add(() => client.close().catch(() => {}));
  return client;
}

test('SIGTERM while a payment is on its way: it settles and is answered; new requests 503; exit 0', async () => {
  const w = await world();
  w.ledger.behaviour.delayMs = { pay_invoice: 1500 };
  const a = await agent(w.url);
  const inv = w.ln.makeInvoice({ amountMsat: 21_000, description: 'paid during shutdown' });
  const paying = a.callTool({ name: 'pay_invoice', arguments: { invoice: inv.invoice, max_sats: 50 } }, undefined, { timeout: 30_000 });
  assert.ok(await waitFor(() => w.ledger.payRequestsFor(inv.paymentHash) === 1), 'the wallet got the payment');
  w.child.kill('SIGTERM');
  assert.ok(await waitFor(() => w.log().includes('draining')), 'the server drains');
  // A new request while draining: 503, and /readyz says not ready; /healthz still answers.
  const fresh = await fetch(w.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'late', version: '1' } } }),
    signal: AbortSignal.timeout(5000) });
  assert.equal(fresh.status, 503);
  assert.equal((await fetch(`http://127.0.0.1:${w.port}/readyz`, { signal: AbortSignal.timeout(5000) })).status, 503);
  assert.equal((await fetch(`http://127.0.0.1:${w.port}/healthz`, { signal: AbortSignal.timeout(5000) })).status, 200);
  const r = await paying;
  assert.ok(!r.isError, `the payment on its way is answered: ${r.content?.[0]?.text}`);
  assert.equal(r.structuredContent.payment_hash, inv.paymentHash);
  const exit = await Promise.race([w.exited, sleep(15_000).then(() => null)]);
  assert.ok(exit, 'the server exited');
  assert.equal(exit.code, 0, w.log());
  assert.equal(w.ledger.payCount(inv.paymentHash), 1);
  const unknown = await w.cli('payments', 'unknown');
  assert.equal(unknown.code, 0, unknown.stderr);
  assert.ok(!unknown.stdout.includes(inv.paymentHash.slice(0, 16)), 'the settled payment is not unknown');
});

test('SIGTERM while the wallet never answers: after the grace period the payment is recorded unknown and the server exits', async () => {
  const w = await world({ SATWARDEN_SHUTDOWN_GRACE_SECONDS: '2' });
  w.ledger.behaviour.hold = { pay_invoice: true };
  const a = await agent(w.url);
  const inv = w.ln.makeInvoice({ amountMsat: 33_000, description: 'wallet silent at shutdown' });
  // Not awaited: once the server is gone, what the agent's call says does not matter here.
  a.callTool({ name: 'pay_invoice', arguments: { invoice: inv.invoice, max_sats: 50 } }, undefined, { timeout: 8_000 })
    .catch(() => {});
  assert.ok(await waitFor(() => w.ledger.payRequestsFor(inv.paymentHash) === 1), 'the wallet got the payment');
  const t0 = Date.now();
  w.child.kill('SIGTERM');
  const exit = await Promise.race([w.exited, sleep(15_000).then(() => null)]);
  assert.ok(exit, 'the server exited');
  assert.equal(exit.code, 0, w.log());
  const took = exit.at - t0;
  assert.ok(took >= 1900 && took < 8000, `exited after the 2 s grace period (${took} ms)`);
  assert.match(w.log(), /recording their payments unknown/);
  const unknown = await w.cli('payments', 'unknown');
  assert.equal(unknown.code, 0, unknown.stderr);
  assert.match(unknown.stdout, /33 sats/, `the interrupted payment is listed unknown:\n${unknown.stdout}`);
  assert.equal(w.ledger.payCount(inv.paymentHash), 0, 'nothing was executed');
});
