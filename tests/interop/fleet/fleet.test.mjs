// A fleet (issue 14): three real satwarden HTTP instances on one real PostgreSQL 15 (Debian's, started here in a
// temporary directory by scripts/pg-server.sh) and one wallet, in the interop world (relay, @getalby/sdk wallet
// service, the L402 API). Agents are the official MCP SDK client over Streamable HTTP.
//  - 3 instances × 100 concurrent paid fetches against one day cap: 0 msat over, wallet spend = ledger, to the msat;
//  - the same purchase asked of two instances at once: one payment;
//  - one instance SIGKILLed while its payment is with the wallet: another settles it, nothing is paid twice;
//  - PostgreSQL stopped: LEDGER_UNAVAILABLE, nothing reaches the wallet, /readyz 503; back by itself after restart.
// Everything on 127.0.0.1; every wait bounded.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startL402Server } from '../world/l402server.mjs';
import { Cleanups, sleep, startHttp, waitFor, walletWorld } from '../world/satwarden.mjs';

const SERVER = process.env.SW_SERVER ?? '/work/main/build/src/app/satwarden';
const PG = join(dirname(fileURLToPath(import.meta.url)), '../../../scripts/pg-server.sh');
const TOKEN = 'fleet-agent-' + randomBytes(12).toString('hex');
const cleanups = new Cleanups();
after(() => cleanups.run());

let world, api, pgDir, pgUrl;
before(async () => {
  pgDir = cleanups.tempDir('sw-fleet-pg-');
  chmodSync(pgDir, 0o711); // the server runs as `postgres` when the tests run as root
  pgUrl = execFileSync(PG, ['start', join(pgDir, 'pg')], { encoding: 'utf8' }).trim();
  cleanups.add(() => execFileSync(PG, ['stop', join(pgDir, 'pg')]));
  world = await walletWorld(cleanups);
  api = await startL402Server({ lightning: world.ln });
  cleanups.add(() => api.close());
});

// One database schema per test: a fresh ledger shared by that test's instances.
function schemaUrl(name) {
  execFileSync('psql', [pgUrl, '-q', '-c', `CREATE SCHEMA ${name}`], { stdio: 'ignore' });
  return `${pgUrl}?options=-csearch_path%3D${name}`;
}
const sql = (url, q) => execFileSync('psql', [url, '-At', '-c', q], { encoding: 'utf8' }).trim();

async function instance(ledgerUrl, name, extra = {}) {
  const dataHome = cleanups.tempDir('sw-fleet-');
  const srv = await startHttp(SERVER, { cleanups, env: { HOME: dataHome, SATWARDEN_TOOLS: 'all', XDG_DATA_HOME: dataHome,
    SATWARDEN_LEDGER_URL: ledgerUrl, SATWARDEN_INSTANCE_ID: name, SATWARDEN_TOKENS: TOKEN,
    SATWARDEN_FETCH_ALLOW: '127.0.0.1', SATWARDEN_TOKEN_CALLS_IN_FLIGHT: '200', SATWARDEN_TOKEN_CALLS_PER_MINUTE: '100000',
    SATWARDEN_NWC_PAY_TIMEOUT: '10', SATWARDEN_NWC_READ_TIMEOUT: '5', ...world.env, ...extra } });
  const client = new Client({ name: `fleet-agent-${name}`, version: '1' });
  await client.connect(new StreamableHTTPClientTransport(srv.url,
    { requestInit: { headers: { authorization: `Bearer ${TOKEN}` } } }));
  cleanups.add(() => client.close().catch(() => {}));
  return { srv, client, name };
}
const code = (r) => (r.isError ? JSON.parse(r.content[0].text).error?.code : undefined);
const fetchItem = (inst, n) => inst.client.callTool(
  { name: 'access_l402_resource', arguments: { url: `${api.url}/item/${n}`, max_sats: 20 } }, undefined, { timeout: 60_000 });

test('3 instances × 100 concurrent paid fetches on one day cap: never over, wallet = ledger to the msat', async () => {
  const url = schemaUrl('cap');
  const fleet = [];
  for (const n of ['a', 'b', 'c']) fleet.push(await instance(url, n, { SATWARDEN_DAY_SATS: '600' }));
  const walletBefore = world.ledger.totalPaidMsat();
  const calls = [];
  fleet.forEach((inst, i) => { for (let k = 0; k < 100; k++) calls.push(fetchItem(inst, i * 1000 + k)); });
  const results = await Promise.all(calls);
  const ok = results.filter((r) => !r.isError);
  const codes = results.filter((r) => r.isError).map(code);
  assert.ok(ok.length >= 20, `some fetches were paid (${ok.length})`);
  assert.ok(codes.length > 0 && codes.every((c) => c === 'BUDGET_EXCEEDED'), `the rest hit the cap: ${[...new Set(codes)]}`);
  for (const r of ok) assert.equal(r.structuredContent.status, 200);
  const walletSpent = world.ledger.totalPaidMsat() - walletBefore;
  assert.ok(walletSpent <= 600_000, `0 msat over the cap (wallet paid ${walletSpent} msat)`);
  const ledgerSpent = Number(sql(url, "SELECT COALESCE(SUM(amount_msat + fee_msat), 0) FROM payments WHERE state = 'settled'"));
  assert.equal(ledgerSpent, walletSpent, 'ledger = wallet, to the msat');
  assert.equal(sql(url, "SELECT COUNT(*) FROM payments WHERE state NOT IN ('settled', 'released', 'failed')"), '0');
  // Which instance got how much of the cap is a race (not asserted); every instance sees the same shared budget.
  for (const inst of fleet) {
    const st = (await inst.client.callTool({ name: 'get_budget_status', arguments: {} })).structuredContent;
    assert.equal(st.global.windows.find((w) => w.window === 'day').spent_msat, walletSpent);
  }
  for (const inst of fleet) await inst.srv.stop();
});

test('the same purchase asked of two instances at once is paid once', async () => {
  const url = schemaUrl('dedupe');
  const a = await instance(url, 'a');
  const b = await instance(url, 'b');
  const before = world.ledger.payRequests.length;
  world.ledger.behaviour = { delayMs: { pay_invoice: 400 } };
  const [ra, rb] = await Promise.all([fetchItem(a, 777777), fetchItem(b, 777777)]);
  world.ledger.behaviour = {};
  const outcomes = [ra, rb].map((r) => (r.isError ? code(r) : r.structuredContent.status));
  assert.ok(outcomes.includes(200), `one of them got the resource: ${outcomes}`);
  assert.equal(world.ledger.payRequests.length - before, 1, 'one pay_invoice reached the wallet');
  assert.equal(sql(url, "SELECT COUNT(*) FROM payments WHERE state = 'settled'"), '1');
  // Whichever did not pay can now use the credential the other bought: no second payment.
  const again = await fetchItem(b, 777777);
  assert.equal(again.isError, undefined, JSON.stringify(again.content).slice(0, 300));
  assert.equal(again.structuredContent.status, 200);
  assert.equal(world.ledger.payRequests.length - before, 1, 'still one payment');
  await a.srv.stop();
  await b.srv.stop();
});

test('an instance SIGKILLed mid-payment: another one settles it, nothing is paid twice', async () => {
  const url = schemaUrl('kill');
  const fast = { SATWARDEN_NWC_PAY_TIMEOUT: '2' }; // stale after 17 s; maintenance every 8 s
  const keeper = await instance(url, 'keeper', fast); // first: holds the maintenance lease
  const victim = await instance(url, 'victim', fast);
  const bill = world.ln.makeInvoice({ amountMsat: 4_000 });
  world.ledger.behaviour = { delayMs: { pay_invoice: 1500 } };
  victim.client.callTool({ name: 'pay_invoice', arguments: { invoice: bill.invoice } }).catch(() => {});
  assert.ok(await waitFor(() => world.ledger.payRequests.some((p) => p.paymentHash === bill.paymentHash), 5000),
    'the request reached the wallet');
  victim.srv.child.kill('SIGKILL');
  await victim.srv.exited;
  assert.ok(await waitFor(() => world.ledger.payCount(bill.paymentHash) === 1, 5000), 'the wallet paid while it was dead');
  world.ledger.behaviour = {};
  // A retry through the surviving instance is refused while the outcome is open (never paid again)...
  const early = await keeper.client.callTool({ name: 'pay_invoice', arguments: { invoice: bill.invoice } });
  assert.ok(['PAYMENT_IN_PROGRESS', 'PAYMENT_STATE_UNKNOWN', 'ALREADY_PAID'].includes(code(early)), code(early));
  // ...and the survivor brings the row to its outcome (wallet notification, or recovery + reconciliation).
  const settled = await waitFor(() => sql(url, `SELECT state FROM payments WHERE payment_hash = '${bill.paymentHash}'`) === 'settled', 45_000);
  assert.ok(settled, `final state ${sql(url, `SELECT state, error_code, resolved_by FROM payments WHERE payment_hash = '${bill.paymentHash}'`)}`);
  const late = await keeper.client.callTool({ name: 'pay_invoice', arguments: { invoice: bill.invoice } });
  assert.equal(code(late), 'ALREADY_PAID');
  assert.equal(world.ledger.payCount(bill.paymentHash), 1, 'paid exactly once');
  await keeper.srv.stop();
});

test('PostgreSQL stopped: LEDGER_UNAVAILABLE, nothing reaches the wallet, /readyz 503; recovers after restart', async () => {
  const url = schemaUrl('outage');
  const inst = await instance(url, 'solo');
  const readyz = async () => (await fetch(`http://127.0.0.1:${inst.srv.port}/readyz`, { signal: AbortSignal.timeout(5000) })).status;
  assert.ok(await waitFor(async () => (await readyz()) === 200, 10_000), 'ready with the database up');
  const port = pgUrl.split(':').pop().split('/')[0];
  execFileSync(PG, ['stop', join(pgDir, 'pg')]);
  const before = world.ledger.payRequests.length;
  const bill = world.ln.makeInvoice({ amountMsat: 3_000 });
  const down = await inst.client.callTool({ name: 'pay_invoice', arguments: { invoice: bill.invoice } });
  assert.equal(code(down), 'LEDGER_UNAVAILABLE');
  assert.match(JSON.parse(down.content[0].text).error.message, /pays nothing it has not recorded/);
  const fetched = await fetchItem(inst, 424242);
  assert.equal(code(fetched), 'LEDGER_UNAVAILABLE');
  assert.equal(world.ledger.payRequests.length, before, 'nothing was sent to the wallet');
  assert.equal(await readyz(), 503);
  assert.equal((await fetch(`http://127.0.0.1:${inst.srv.port}/healthz`)).status, 200, 'still alive');

  execFileSync(PG, ['start', join(pgDir, 'pg'), port]);
  assert.ok(await waitFor(async () => (await readyz()) === 200, 10_000), 'ready again');
  const up = await inst.client.callTool({ name: 'pay_invoice', arguments: { invoice: bill.invoice } });
  assert.equal(up.isError, undefined, JSON.stringify(up.content).slice(0, 300));
  assert.equal(world.ledger.payCount(bill.paymentHash), 1);
  assert.ok(!inst.srv.stderr().includes(TOKEN), 'no token in the logs');
  await inst.srv.stop();
});
