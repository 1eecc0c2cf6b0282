// The owner's console (issue 15) in a real browser: Debian's Chromium, headless, driven by puppeteer-core, with
// axe-core for accessibility — against the interop world: MCP SDK client → satwarden (stdio) → relay →
// @getalby/sdk wallet, the world's paid API, and `satwarden console` in a process of its own on the same data
// directory (as beside Claude Desktop). Everything listens on 127.0.0.1.
//  - log in with the printed one-time link (a second use is refused); a paid fetch appears with its amount and
//    state; a purchase over the approval threshold appears live (SSE) and is approved by a click — the wallet pays
//    exactly once; another is denied by clicks — nothing paid;
//  - keyboard only: Tab / Shift+Tab reach a live approval's Approve and Deny (every stop shows its focus: an outline
//    or a box shadow), Enter approves — paid once —, Space opens the deny reason and Enter confirms — nothing paid;
//  - a browser notification for a new approval ("25 sats to 127.0.0.1", a Lightning address on the world's LNURL
//    service) when the permission is granted, none when it is denied or not yet asked (Notification wrapped to
//    record what the page makes);
//  - the budget has an hour and a day cap: the overview's gauges (<meter>) show what get_budget_status says, in
//    the screenshots and under axe; the spending chart by day and, with its toggle, by hour;
//  - a payment whose outcome is unknown (the wallet holds the request past the pay timeout) is highlighted with
//    what happens next, in the overview and in the payments table; the table filters by since and until;
//  - a cross-origin POST, a POST without the CSRF token, a foreign Host and an agent's bearer token are refused;
//  - binding the console beyond loopback without a TLS proxy's public URL is refused (CONSOLE_NOT_LOOPBACK);
//  - screenshots of every view (light and dark, desktop and phone width) saved as artifacts ($SW_ARTIFACTS);
//    axe-core reports no serious or critical violation on any of them; no console error, no CSP violation.
// Every wait is bounded.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import puppeteer from 'puppeteer-core';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { Cleanups, freePort, sleep, startHttp, waitFor, walletWorld } from '../world/satwarden.mjs';
import { startL402Server } from '../world/l402server.mjs';
import { startHostileLnurl } from '../world/lnurl.mjs';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const SERVER = process.env.SW_SERVER ?? '/work/main/build/src/app/satwarden';
const CHROMIUM = process.env.SW_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = process.env.SW_ARTIFACTS ?? '/tmp/satwarden-console-artifacts';
mkdirSync(ARTIFACTS, { recursive: true });

const cleanups = new Cleanups();
after(() => cleanups.run());

let w; // the world
before(async () => {
  const world = await walletWorld(cleanups);
  const api = await startL402Server({ lightning: world.ln });
  cleanups.add(() => api.close());
  const lnurl = await startHostileLnurl({ lightning: world.ln }); // its well-behaved addresses: a payee with a site name
  cleanups.add(() => lnurl.close());
  const dataHome = cleanups.tempDir('sw-console-');
  const env = {
    ...world.env, SATWARDEN_TOOLS: 'all', XDG_DATA_HOME: dataHome, SATWARDEN_FETCH_ALLOW: '127.0.0.1', SATWARDEN_NWC_PAY_TIMEOUT: '10',
    SATWARDEN_NWC_READ_TIMEOUT: '5', SATWARDEN_APPROVE_ABOVE_SATS: '20', SATWARDEN_APPROVAL_TIMEOUT: '120',
    SATWARDEN_HOUR_SATS: '400', SATWARDEN_DAY_SATS: '900', // window caps: the overview draws their gauges
    SATWARDEN_APPROVAL_ELICITATION: 'off', SATWARDEN_LOG_LEVEL: 'info', PATH: process.env.PATH,
  };
  // The agent's MCP server (stdio).
  const transport = new StdioClientTransport({ command: SERVER, env, stderr: 'pipe' });
  let serverLog = '';
  transport.stderr?.on('data', (d) => { serverLog = (serverLog + d).slice(-20000); });
  const client = new Client({ name: 'console-interop', version: '1' });
  await client.connect(transport);
  cleanups.add(() => client.close());
  // The owner's console: its own process on the same data directory.
  const port = await freePort();
  const consoleProc = spawn(SERVER, ['console', '--console-port', String(port)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let consoleLog = '';
  consoleProc.stdout.on('data', (d) => { out += d; });
  consoleProc.stderr.on('data', (d) => { consoleLog = (consoleLog + d).slice(-20000); });
  cleanups.add(() => new Promise((res) => {
    if (consoleProc.exitCode !== null) return res();
    const t = setTimeout(() => consoleProc.kill('SIGKILL'), 5000);
    consoleProc.once('exit', () => { clearTimeout(t); res(); });
    consoleProc.kill('SIGTERM');
  }));
  assert.ok(await waitFor(() => /login#\S+/.test(out), 15_000), `no login link printed: ${out}\n${consoleLog}`);
  const link = out.match(/(http:\/\/\S+\/login#\S+)/)[1];
  const base = `http://127.0.0.1:${port}`;
  assert.ok(link.startsWith(base + '/login#'), link);
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-dev-shm-usage'] });
  cleanups.add(() => browser.close());
  w = {
    ...world, api, lnurl, env, client, base, link, browser, port, dataHome,
    log: () => `--- server ---\n${serverLog}\n--- console ---\n${consoleLog}`,
    call: (name, args) => client.callTool({ name, arguments: args }, undefined, { timeout: 150_000 }),
    printLink: () => new Promise((resolve, reject) => {
      const p = spawn(SERVER, ['console', '--print-link', '--console-port', String(port)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let s = '';
      p.stdout.on('data', (d) => { s += d; });
      const t = setTimeout(() => { p.kill('SIGKILL'); reject(new Error('print-link hung')); }, 10_000);
      p.once('exit', (code) => { clearTimeout(t); code === 0 ? resolve(s.trim()) : reject(new Error(`print-link exit ${code}`)); });
    }),
  };
});

// A page that records console errors and CSP violations (in the default browser context, or in `context`).
async function newPage({ width = 1280, height = 900, dark = false, context = w.browser } = {}) {
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  await page.setViewport({ width, height });
  await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: dark ? 'dark' : 'light' }]);
  page.problems = problems;
  return page;
}

async function axeCheck(page, label) {
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `axe (${label}): serious/critical violations`);
}

const title = (page) => page.$eval('#view-title', (e) => e.textContent.trim());
const fmt = (n) => n.toLocaleString('en-US'); // as the page writes sats

// The overview's budget gauges against get_budget_status: one <meter> per capped window with its spent amount and
// limit, and in words what is spent, what is left and the next roll-off. Returns the capped windows.
async function checkGauges(page) {
  const budget = (await w.call('get_budget_status', {})).structuredContent;
  const capped = budget.global.windows.filter((x) => x.limit_sats != null);
  assert.deepEqual(capped.map((x) => x.window).sort(), ['day', 'hour'], JSON.stringify(budget.global.windows));
  assert.ok(await waitFor(() => page.$$eval('[aria-labelledby="budget-title"] .gauge meter', (m) => m.length === 2), 10_000),
    'two gauges drawn');
  const shown = await page.$$eval('[aria-labelledby="budget-title"] .gauge[data-window]', (gs) => gs.map((g) => {
    const m = g.querySelector('meter');
    return { window: g.dataset.window, text: g.textContent,
      meter: m && { value: m.value, min: m.min, max: m.max, label: m.getAttribute('aria-label') } };
  }));
  for (const win of capped) {
    const g = shown.find((x) => x.window === win.window);
    assert.ok(g && g.meter, `a gauge for the ${win.window}: ${JSON.stringify(shown)}`);
    assert.equal(g.meter.min, 0);
    assert.equal(g.meter.max, win.limit_sats, `${win.window}: the meter's scale is the cap`);
    assert.equal(g.meter.value, Math.min(win.spent_sats, win.limit_sats), `${win.window}: the meter shows what is spent`);
    assert.match(g.meter.label, new RegExp(`${fmt(win.spent_sats)} of ${fmt(win.limit_sats)} sats spent`));
    assert.ok(g.text.includes(`${fmt(win.spent_sats)} / ${fmt(win.limit_sats)} sats`), `${win.window}: ${g.text}`);
    assert.ok(g.text.includes(`${fmt(win.remaining_sats)} sats left`), `${win.window}: ${win.remaining_sats} left in ${g.text}`);
    if (win.next_rolloff != null) {
      const when = await page.evaluate((t) => fmtTime(t), win.next_rolloff);
      assert.ok(g.text.includes(`next roll-off ${when}`), `${win.window}: roll-off ${when} in ${g.text}`);
    }
  }
  return capped;
}

async function login(page, link) {
  await page.goto(link, { waitUntil: 'load' });
  assert.ok(await waitFor(async () => (await title(page).catch(() => '')) === 'Overview', 10_000),
    `not logged in: ${await page.content()}`);
  assert.ok(!page.url().includes('#') || page.url().endsWith('#/overview'), `the code left the address bar: ${page.url()}`);
}

test('login with the printed one-time link; the link works once', async () => {
  const page = await newPage();
  try {
    await login(page, w.link);
    const cookies = await page.cookies();
    const c = cookies.find((x) => x.name === 'sw_console');
    assert.ok(c && c.httpOnly && c.sameSite === 'Strict', JSON.stringify(cookies));
    // The same link again, in a fresh browser context: refused.
    const ctx = await w.browser.createBrowserContext();
    const p2 = await ctx.newPage();
    await p2.goto(w.link, { waitUntil: 'load' });
    assert.ok(await waitFor(async () => (await p2.$eval('#alert', (e) => e.textContent).catch(() => '')).includes('already used'), 5000));
    assert.equal(await title(p2), 'Log in');
    await ctx.close();
    assert.deepEqual(page.problems, []);
  } finally {
    await page.close();
  }
});

test('a paid fetch shows up with its amount and state; views, screenshots and accessibility', async () => {
  const r = await w.call('access_l402_resource', { url: `${w.api.url}/l402`, max_sats: 15 });
  assert.ok(!r.isError, `${r.content?.[0]?.text}\n${w.log()}`);
  const paid = r.structuredContent;
  const page = await newPage();
  try {
    await login(page, await w.printLink());
    // Payments view: the purchase with its amount (10 sats) and state.
    await page.goto(`${w.base}/#/payments`, { waitUntil: 'load' });
    assert.ok(await waitFor(async () => (await page.$$('#payments-body tr[data-payment-id]')).length >= 1, 10_000));
    const row = await page.$eval('#payments-body tr[data-payment-id]', (tr) => ({ state: tr.dataset.state,
      cells: [...tr.cells].map((c) => c.textContent.trim()) }));
    assert.equal(row.state, 'settled', JSON.stringify(row));
    assert.ok(row.cells.includes('10'), `the amount (10 sats) is shown: ${JSON.stringify(row.cells)}`);
    assert.ok(row.cells.some((c) => /^settled$/i.test(c)), JSON.stringify(row.cells));
    assert.ok(row.cells.some((c) => /^l402$/i.test(c)), JSON.stringify(row.cells));
    // What the page shows is what the tools return.
    const listed = (await w.call('list_payments', {})).structuredContent.payments;
    assert.equal(listed.length, 1);
    assert.equal(listed[0].amount_sats, 10);
    const id = listed[0].id;
    assert.ok(paid, 'paid');
    // The payment's own page: decoded invoice and timeline.
    await page.goto(`${w.base}/#/payments/${id}`, { waitUntil: 'load' });
    assert.ok(await waitFor(async () => /settled/i.test(await page.$eval('#view', (e) => e.textContent).catch(() => '')), 10_000));
    const detail = await page.$eval('#view', (e) => e.textContent);
    assert.match(detail, new RegExp(listed[0].payment_hash.slice(0, 12)));
    // The day window counts the amount and its routing fee (get_budget_status), and the overview shows that figure.
    const budget = (await w.call('get_budget_status', {})).structuredContent;
    const day = budget.global.windows.find((x) => x.window === 'day');
    assert.equal(day.spent_msat, listed[0].amount_msat + (listed[0].fee_msat ?? 0));
    await page.goto(`${w.base}/#/overview`, { waitUntil: 'load' });
    assert.ok(await waitFor(async () => (await page.$$('meter')).length > 0 || /spent/i.test(await page.$eval('#view', (e) => e.textContent)), 10_000));
    const overview = await page.$eval('#view', (e) => e.textContent);
    assert.ok(overview.includes(String(day.spent_sats)), `the overview shows ${day.spent_sats} sats spent`);
    const capped = await checkGauges(page);
    assert.ok(capped.every((x) => x.spent_sats > 0 && x.remaining_sats < x.limit_sats), 'the fetch counts in both windows');
    // The spending chart: the last 7 days by day; the toggle shows the last 48 hours by hour. Each adds up what
    // /api/spend returns for that period (settled payments with their fees).
    const chart = async (mode, days, label) => {
      const btn = `button[data-mode="${mode}"]`;
      await page.click(btn);
      assert.ok(await waitFor(async () => (await page.$eval(btn, (e) => e.getAttribute('aria-pressed'))) === 'true' &&
        (await page.$eval('#view .chart-wrap', (e) => e.textContent)).includes(`over the last ${label}`), 10_000), `chart: ${label}`);
      const data = await page.evaluate((q) => api('GET', `/api/spend?${q}`), `days=${days}&bucket=${mode}`);
      const sum = data.buckets.reduce((a, b) => a + b.total_sats, 0);
      assert.ok(sum >= 10, `the fetch is in the ${label} chart: ${sum}`);
      const c = await page.$eval('#view .chart-wrap', (e) => ({ total: e.querySelector(':scope > p').textContent,
        caption: e.querySelector('table caption').textContent, rows: e.querySelectorAll('table tbody tr').length,
        bars: e.querySelectorAll('svg rect.bar').length }));
      assert.ok(c.total.startsWith(`${fmt(sum)} sats spent over the last ${label}`), c.total);
      assert.equal(c.rows, data.buckets.length);
      assert.ok(c.bars >= 1);
      return c;
    };
    const byHour = await chart('hour', 2, '48 hours');
    assert.equal(byHour.rows, 48);
    assert.equal(byHour.caption, 'Spending over the last 48 hours, by hour, in sats');
    const byDay = await chart('day', 7, '7 days');
    assert.equal(byDay.rows, 7);
    // Every view in light and dark, desktop and phone: screenshot + axe.
    const views = [['overview', '#/overview', 'Overview'], ['payments', '#/payments', 'Payments'],
      ['payment', `#/payments/${id}`, null], ['policy', '#/policy', 'Policy']];
    for (const [dark, width] of [[false, 1280], [true, 1280], [false, 390], [true, 390]]) {
      await page.setViewport({ width, height: 900 });
      await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: dark ? 'dark' : 'light' }]);
      for (const [name, hash, h1] of views) {
        await page.goto(`${w.base}/${hash}`, { waitUntil: 'load' });
        await waitFor(async () => !(await page.$('.loading')), 5000);
        if (h1) assert.equal(await title(page), h1);
        await sleep(150);
        const label = `${name}-${dark ? 'dark' : 'light'}-${width > 500 ? 'desktop' : 'phone'}`;
        await page.screenshot({ path: join(ARTIFACTS, `${label}.png`), fullPage: true });
        await axeCheck(page, label);
        if (width < 500) {
          const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
          assert.ok(overflow <= 1, `${label}: the page scrolls sideways by ${overflow}px`);
        }
      }
    }
    // CSV export carries the same row.
    const cookie = (await page.cookies()).find((x) => x.name === 'sw_console');
    const csv = await (await fetch(`${w.base}/api/export.csv`, { headers: { Cookie: `sw_console=${cookie.value}` } })).text();
    assert.match(csv, new RegExp(`^${id},.*,${listed[0].payment_hash},10000,10,`, 'm'), csv);
    assert.deepEqual(page.problems, [], 'no console errors or CSP violations');
  } finally {
    await page.close();
  }
});

test('a payment over the threshold appears live, is approved by a click and paid exactly once; another is denied', async () => {
  const page = await newPage();
  try {
    await login(page, await w.printLink());
    const inv = w.ln.makeInvoice({ amountMsat: 50_000, description: 'a 50-sat report' });
    const before = w.ledger.payRequests.length;
    const pending = w.call('pay_invoice', { invoice: inv.invoice, max_sats: 60 });
    // The card appears without a reload (SSE).
    const card = () => page.$('[data-approval-id] [data-action="approve"]');
    assert.ok(await waitFor(async () => (await card()) !== null, 15_000), `no approval card appeared\n${w.log()}`);
    await page.screenshot({ path: join(ARTIFACTS, 'approval-waiting-light-desktop.png'), fullPage: true });
    await axeCheck(page, 'approval waiting');
    assert.equal(w.ledger.payRequests.length, before, 'nothing reached the wallet before the decision');
    await (await card()).click();
    const r = await pending;
    assert.ok(!r.isError, `${r.content?.[0]?.text}\n${w.log()}`);
    assert.equal(w.ledger.payRequestsFor(inv.paymentHash), 1, 'exactly one pay request');
    assert.equal(w.ledger.payCount(inv.paymentHash), 1);
    assert.ok(await waitFor(async () => !(await page.$(`[data-approval-id] [data-action="approve"]`)), 10_000),
      'the approved card left the waiting list');

    // Deny: the deny button asks for a reason first, then confirms.
    const inv2 = w.ln.makeInvoice({ amountMsat: 40_000, description: 'another report' });
    const pending2 = w.call('pay_invoice', { invoice: inv2.invoice, max_sats: 60 });
    assert.ok(await waitFor(async () => (await page.$('[data-approval-id] [data-action="deny"]')) !== null, 15_000));
    await page.click('[data-approval-id] [data-action="deny"]');
    const reason = await page.$('[data-approval-id] input, [data-approval-id] textarea');
    if (reason) await reason.type('not today');
    await page.click('[data-approval-id] [data-action="deny"]');
    const r2 = await pending2;
    assert.equal(r2.isError, true);
    assert.equal(JSON.parse(r2.content[0].text).error.code, 'APPROVAL_DENIED');
    assert.equal(w.ledger.payRequestsFor(inv2.paymentHash), 0, 'nothing paid after a denial');
    const released = (await w.call('list_payments', { state: 'released' })).structuredContent.payments;
    assert.ok(released.some((p) => p.payment_hash === inv2.paymentHash));
    assert.deepEqual(page.problems, []);
  } finally {
    await page.close();
  }
});

// Keyboard only: what has focus, and whether it shows (an outline or a box shadow, and :focus-visible).
const focused = (page) => page.evaluate(() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const cs = getComputedStyle(e);
  const card = e.closest('[data-approval-id]');
  return { tag: e.tagName.toLowerCase(), text: (e.textContent || e.name || '').trim().slice(0, 40), action: e.dataset.action ?? null,
    approval: card ? card.dataset.approvalId : null, visible: e.matches(':focus-visible'),
    outline: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0, shadow: cs.boxShadow !== 'none' };
});
const shiftTab = async (page) => {
  await page.keyboard.down('Shift');
  await page.keyboard.press('Tab');
  await page.keyboard.up('Shift');
};
// Presses Tab (at most 40 times) until `want` holds for what has focus; every stop on the way shows its focus.
async function tabTo(page, want, label) {
  const path = [];
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('Tab');
    const f = await focused(page);
    if (!f) continue;
    path.push(`${f.tag}:${f.text}`);
    assert.ok(f.visible && (f.outline || f.shadow), `focus is visible on ${JSON.stringify(f)} (on the way to ${label})`);
    if (want(f)) return f;
  }
  assert.fail(`Tab never reached ${label}: ${path.join(' → ')}`);
}

test('keyboard only: a live approval is reached with Tab, approved with Enter (paid once), another denied with Space and Enter', async () => {
  const page = await newPage();
  try {
    await login(page, await w.printLink());
    await page.bringToFront();
    // Approve: Tab to the card's Approve, on to Deny, Shift+Tab back, Enter.
    const inv = w.ln.makeInvoice({ amountMsat: 30_000, description: 'a 30-sat report, by keyboard' });
    const pending = w.call('pay_invoice', { invoice: inv.invoice, max_sats: 60 });
    assert.ok(await waitFor(async () => (await page.$('[data-approval-id] [data-action="approve"]')) !== null, 15_000),
      `no approval card appeared\n${w.log()}`);
    const id = await page.$eval('[data-approval-id]', (e) => e.dataset.approvalId);
    let f = await tabTo(page, (x) => x.approval === id && x.action === 'approve', 'Approve');
    assert.equal(f.text, 'Approve');
    await page.keyboard.press('Tab');
    f = await focused(page);
    assert.deepEqual([f.approval, f.action, f.visible && (f.outline || f.shadow)], [id, 'deny', true], JSON.stringify(f));
    await shiftTab(page);
    f = await focused(page);
    assert.deepEqual([f.approval, f.action], [id, 'approve'], JSON.stringify(f));
    await page.screenshot({ path: join(ARTIFACTS, 'approval-keyboard-focus-light-desktop.png'), fullPage: true });
    assert.equal(w.ledger.payRequestsFor(inv.paymentHash), 0, 'nothing reached the wallet before the decision');
    await page.keyboard.press('Enter');
    const r = await pending;
    assert.ok(!r.isError, `${r.content?.[0]?.text}\n${w.log()}`);
    assert.equal(w.ledger.payRequestsFor(inv.paymentHash), 1, 'exactly one pay request');
    assert.equal(w.ledger.payCount(inv.paymentHash), 1);
    assert.ok(await waitFor(async () => !(await page.$(`[data-approval-id="${id}"] [data-action="approve"]`)), 10_000),
      'the approved card left the waiting list');

    // Deny: Tab to Deny, Space opens the reason field (focus moves into it), type, Enter confirms.
    const inv2 = w.ln.makeInvoice({ amountMsat: 25_000, description: 'not this one, by keyboard' });
    const pending2 = w.call('pay_invoice', { invoice: inv2.invoice, max_sats: 60 });
    assert.ok(await waitFor(async () => (await page.$(`[data-approval-id]:not([data-approval-id="${id}"]) [data-action="deny"]`)) !== null,
      15_000), `no second approval card\n${w.log()}`);
    const id2 = await page.$eval(`[data-approval-id]:not([data-approval-id="${id}"])`, (e) => e.dataset.approvalId);
    f = await tabTo(page, (x) => x.approval === id2 && x.action === 'deny', 'Deny');
    await page.keyboard.press('Space');
    assert.ok(await waitFor(async () => (await focused(page))?.tag === 'input', 5000), 'the reason field has focus');
    f = await focused(page);
    assert.equal(f.approval, id2);
    assert.ok(f.visible && (f.outline || f.shadow), `focus is visible in the reason field: ${JSON.stringify(f)}`);
    await page.keyboard.type('not today');
    await page.keyboard.press('Enter');
    const r2 = await pending2;
    assert.equal(r2.isError, true, JSON.stringify(r2.structuredContent));
    assert.equal(JSON.parse(r2.content[0].text).error.code, 'APPROVAL_DENIED');
    assert.equal(w.ledger.payRequestsFor(inv2.paymentHash), 0, 'nothing paid after a denial');
    const released = (await w.call('list_payments', { state: 'released' })).structuredContent.payments;
    assert.ok(released.some((p) => p.payment_hash === inv2.paymentHash));
    assert.ok(await waitFor(async () => !(await page.$(`[data-approval-id="${id2}"]`)), 10_000), 'the denied card is gone');
    assert.deepEqual(page.problems, []);
  } finally {
    await page.close();
  }
});

// Records every Notification the page creates (then lets the browser's own constructor run).
function recordNotifications() {
  const Real = window.Notification;
  window.__notifications = [];
  if (!Real) return;
  window.Notification = class extends Real {
    constructor(title, options) {
      window.__notifications.push({ title, body: options?.body ?? null, tag: options?.tag ?? null });
      super(title, options);
    }
  };
}

test('a browser notification for a new approval when permitted (amount and site), none when denied or not yet asked', async () => {
  const pages = {};
  const contexts = [];
  try {
    for (const mode of ['granted', 'denied', 'default']) {
      const context = await w.browser.createBrowserContext();
      contexts.push(context);
      if (mode === 'granted') await context.overridePermissions(w.base, ['notifications']);
      if (mode === 'denied') await context.overridePermissions(w.base, []); // every permission not listed is denied
      const page = await newPage({ context });
      await page.evaluateOnNewDocument(recordNotifications);
      await login(page, await w.printLink());
      assert.equal(await page.evaluate(() => Notification.permission), mode);
      // Only while the browser has not been asked does the page offer to ask.
      assert.equal(await page.$eval('#notify-btn', (e) => !e.hidden), mode === 'default', `${mode}: the Enable notifications button`);
      // Before the payment: the page has its first list of approvals and its live stream.
      assert.ok(await waitFor(() => page.evaluate(() => S.seen !== null && document.querySelector('#live-status').textContent === 'Live'), 10_000), mode);
      pages[mode] = page;
    }
    // A 25-sat payment to a Lightning address on 127.0.0.1: over the approval threshold.
    const pending = w.call('pay_lightning_address', { address: w.lnurl.address('shop'), amount_sats: 25, max_sats: 30 });
    for (const [mode, page] of Object.entries(pages))
      assert.ok(await waitFor(async () => (await page.$('[data-approval-id] [data-action="approve"]')) !== null, 15_000),
        `${mode}: no approval card appeared\n${w.log()}`);
    const card = await pages.granted.$eval('[data-approval-id]', (e) => ({ id: e.dataset.approvalId, head: e.querySelector('h3').textContent }));
    assert.equal(card.head, '25 sats to 127.0.0.1');
    // The card is drawn after the notification is made: by now each page has made it or not.
    assert.deepEqual(await pages.granted.evaluate(() => window.__notifications),
      [{ title: 'satwarden: approval needed', body: '25 sats to 127.0.0.1', tag: `sw-approval-${card.id}` }]);
    assert.deepEqual(await pages.denied.evaluate(() => window.__notifications), [], 'denied: no notification');
    assert.deepEqual(await pages.default.evaluate(() => window.__notifications), [], 'not asked: no notification');
    // Approved from the page that was notified: paid once; no page notifies again (the list changed, nothing new).
    await pages.granted.click(`[data-approval-id="${card.id}"] [data-action="approve"]`);
    const r = await pending;
    assert.ok(!r.isError, `${r.content?.[0]?.text}\n${w.log()}`);
    assert.equal(w.ledger.payCount(r.structuredContent.payment_hash), 1);
    for (const [mode, page] of Object.entries(pages)) {
      assert.ok(await waitFor(async () => !(await page.$(`[data-approval-id="${card.id}"] [data-action="approve"]`)), 10_000), mode);
      assert.equal(await page.evaluate(() => window.__notifications.length), mode === 'granted' ? 1 : 0, mode);
      assert.deepEqual(page.problems, [], mode);
    }
  } finally {
    for (const c of contexts) await c.close();
  }
});

test('an unknown outcome is highlighted with what happens next, in the overview and the payments table', async () => {
  const page = await newPage();
  try {
    await login(page, await w.printLink());
    // The wallet holds the request past satwarden's pay timeout: the outcome is unknown.
    const inv = w.ln.makeInvoice({ amountMsat: 15_000, description: 'a slow wallet' });
    w.ledger.behaviour = { hold: { pay_invoice: true } };
    const r = await w.call('pay_invoice', { invoice: inv.invoice, max_sats: 20 });
    assert.equal(r.isError, true, JSON.stringify(r.structuredContent));
    assert.equal(JSON.parse(r.content[0].text).error.code, 'PAYMENT_OUTCOME_UNKNOWN', r.content[0].text);
    assert.equal(w.ledger.payRequestsFor(inv.paymentHash), 1);
    const unknown = (await w.call('list_payments', { state: 'unknown' })).structuredContent.payments;
    assert.equal(unknown.length, 1, JSON.stringify(unknown));
    const p = unknown[0];
    assert.equal(p.payment_hash, inv.paymentHash);
    const next = new RegExp(`What happens next: satwarden keeps asking the wallet; the budget stays held until it knows\\. ` +
      `If it never learns, decide with satwarden payments resolve ${p.id} --paid\\|--failed\\.`);

    // Overview: under "Outcome unknown", a card drawn apart from the others, with what happens next; the gauges
    // count the held amount as get_budget_status does.
    await page.goto(`${w.base}/#/overview`, { waitUntil: 'load' });
    const sel = `.unknown-card[data-payment-id="${p.id}"]`;
    assert.ok(await waitFor(async () => (await page.$(sel)) !== null, 10_000), 'the unknown payment is on the overview');
    const card = await page.$eval(sel, (e) => {
      const cs = getComputedStyle(e);
      const panel = getComputedStyle(document.querySelector('[aria-labelledby="budget-title"]'));
      return { text: e.textContent, bg: cs.backgroundColor, panelBg: panel.backgroundColor, left: cs.borderLeftWidth,
        section: e.closest('section').getAttribute('aria-labelledby'), badge: e.querySelector('.badge[data-state]')?.dataset.state,
        link: e.querySelector('a')?.getAttribute('href') };
    });
    assert.equal(card.section, 'unknown-title');
    assert.equal(card.badge, 'unknown');
    assert.equal(card.link, `#/payments/${p.id}`);
    assert.match(card.text, /^15 sats to an unnamed payee/);
    assert.match(card.text, next);
    assert.notEqual(card.bg, card.panelBg, 'the card is highlighted');
    assert.equal(card.left, '6px');
    assert.equal(await page.$eval('#unknown-count', (e) => e.textContent), '(1)');
    assert.doesNotMatch(await page.$eval('#unknown-box', (e) => e.textContent), /null/, 'no stray "null" after the cards');
    const [hour] = (await checkGauges(page)).filter((x) => x.window === 'hour');
    assert.ok(hour.spent_sats >= 10 + 50 + 15, `the held 15 sats count: ${JSON.stringify(hour)}`);
    await page.screenshot({ path: join(ARTIFACTS, 'unknown-light-desktop.png'), fullPage: true });
    await axeCheck(page, 'unknown on the overview');

    // Payments table: its row highlighted, followed by a row saying what happens next; other rows have none.
    await page.goto(`${w.base}/#/payments`, { waitUntil: 'load' });
    const rowSel = `#payments-body tr[data-payment-id="${p.id}"]`;
    assert.ok(await waitFor(async () => (await page.$(rowSel)) !== null, 10_000));
    const row = await page.$eval(rowSel, (tr) => {
      const other = document.querySelector('#payments-body tr[data-state="settled"]');
      const n = tr.nextElementSibling;
      return { cls: tr.className, bg: getComputedStyle(tr).backgroundColor, otherBg: getComputedStyle(other).backgroundColor,
        mark: getComputedStyle(tr.cells[0]).boxShadow, next: n && { for: n.dataset.nextFor, cls: n.className, text: n.textContent,
          span: n.cells[0].colSpan } };
    });
    assert.match(row.cls, /\brow-unknown\b/);
    assert.notEqual(row.bg, row.otherBg, 'the unknown row is highlighted');
    assert.notEqual(row.mark, 'none', 'and marked at its edge');
    assert.equal(row.next?.for, String(p.id), JSON.stringify(row));
    assert.match(row.next.cls, /\brow-unknown\b/);
    assert.equal(row.next.span, 8);
    assert.match(row.next.text, next);
    assert.equal((await page.$$('#payments-body tr[data-next-for]')).length, 1, 'only the unknown payment has a next-step row');
    for (const [dark, width] of [[false, 1280], [true, 390]]) {
      await page.setViewport({ width, height: 900 });
      await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: dark ? 'dark' : 'light' }]);
      await sleep(150);
      const label = `payments-unknown-${dark ? 'dark' : 'light'}-${width > 500 ? 'desktop' : 'phone'}`;
      const right = await page.$eval('#payments-body tr[data-next-for] .next-step', (e) => e.getBoundingClientRect().right);
      assert.ok(right <= width, `${label}: the next step is readable without scrolling sideways (right edge ${right})`);
      await page.screenshot({ path: join(ARTIFACTS, `${label}.png`), fullPage: true });
      await axeCheck(page, label);
    }
    // The state filter finds it.
    await page.setViewport({ width: 1280, height: 900 });
    await page.select('#f-state', 'unknown');
    await page.click('#payments-filter button[type="submit"]');
    assert.ok(await waitFor(async () => page.url().endsWith('#/payments?state=unknown') &&
      (await page.$$eval('#payments-body tr[data-payment-id]', (t) => t.map((x) => x.dataset.paymentId))).join() === String(p.id), 10_000));
    assert.deepEqual(page.problems, []);
  } finally {
    await page.close();
  }
});

test('the payments table filters by since and until (calendar days, until included)', async () => {
  const page = await newPage();
  try {
    await login(page, await w.printLink());
    const all = (await w.call('list_payments', {})).structuredContent.payments;
    assert.ok(all.length >= 3, JSON.stringify(all));
    await page.goto(`${w.base}/#/payments`, { waitUntil: 'load' });
    // Local calendar days as the date inputs take them, and the start of the day after today.
    const days = await page.evaluate(() => {
      const d = (off) => { const x = new Date(); x.setDate(x.getDate() + off); return x; };
      const iso = (x) => `${x.getFullYear()}-${String(x.getMonth() + 1).padStart(2, '0')}-${String(x.getDate()).padStart(2, '0')}`;
      const start = (x) => Math.floor(new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime() / 1000);
      return { today: iso(d(0)), yesterday: iso(d(-1)), tomorrow: iso(d(1)), startOfToday: start(d(0)), endOfToday: start(d(1)) };
    });
    const asked = [];
    page.on('request', (rq) => { if (rq.url().includes('/api/payments?')) asked.push(new URL(rq.url()).searchParams); });
    const filter = async (since, until) => {
      assert.ok(await waitFor(async () => (await page.$('#f-until')) !== null, 5000), 'an Until field');
      await page.$eval('#f-since', (e, v) => { e.value = v; }, since);
      await page.$eval('#f-until', (e, v) => { e.value = v; }, until);
      asked.length = 0;
      await page.click('#payments-filter button[type="submit"]');
      const want = [since && `since=${since}`, until && `until=${until}`].filter(Boolean).join('&');
      assert.ok(await waitFor(async () => page.url().endsWith(`#/payments?${want}`) && asked.length > 0 &&
        !(await page.$eval('#payments-summary', (e) => e.textContent)).startsWith('Loading'), 10_000), `filtered: ${want}`);
      await sleep(100);
      assert.equal(await page.$eval('#f-until', (e) => e.value), until, 'the field keeps its value');
      return { ids: await page.$$eval('#payments-body tr[data-payment-id]', (t) => t.map((x) => Number(x.dataset.paymentId))),
        text: await page.$eval('#payments-body', (e) => e.textContent), params: asked[asked.length - 1] };
    };
    // Until today: every payment (all were made today), and the API is asked up to the end of today.
    let f = await filter('', days.today);
    assert.deepEqual(f.ids.sort(), all.map((x) => x.id).sort());
    assert.equal(f.params.get('until'), String(days.endOfToday));
    assert.equal(f.params.get('since'), null);
    // Until yesterday: none.
    f = await filter('', days.yesterday);
    assert.deepEqual(f.ids, []);
    assert.match(f.text, /No payments match these filters/);
    assert.equal(f.params.get('until'), String(days.startOfToday));
    // Since and until today: every payment; since tomorrow: none.
    f = await filter(days.today, days.today);
    assert.equal(f.ids.length, all.length);
    assert.ok(Number(f.params.get('since')) < Number(f.params.get('until')));
    f = await filter(days.tomorrow, days.tomorrow);
    assert.deepEqual(f.ids, []);
    await page.screenshot({ path: join(ARTIFACTS, 'payments-filtered-light-desktop.png'), fullPage: true });
    await axeCheck(page, 'payments filtered');
    assert.deepEqual(page.problems, []);
  } finally {
    await page.close();
  }
});

test('refused: cross-origin POST, no CSRF token, foreign Host, an agent bearer token, no session', async () => {
  const page = await newPage();
  try {
    await login(page, await w.printLink());
    const cookie = (await page.cookies()).find((x) => x.name === 'sw_console');
    const jar = `sw_console=${cookie.value}`;
    const csrf = (await (await fetch(`${w.base}/api/session`, { headers: { Cookie: jar } })).json()).csrf;
    assert.ok(csrf);
    const tighten = (headers) => fetch(`${w.base}/api/policy/tighten`, {
      method: 'POST', headers: { Cookie: jar, 'Content-Type': 'application/json', ...headers }, body: JSON.stringify({ day_sats: 100 }),
    });
    // From another site (with the CSRF token even): refused.
    let r = await tighten({ Origin: 'http://evil.example', 'X-CSRF-Token': csrf });
    assert.equal(r.status, 403);
    assert.equal((await r.json()).error.code, 'CONSOLE_ORIGIN_REFUSED');
    // Same origin, no CSRF token: refused.
    r = await tighten({ Origin: w.base });
    assert.equal(r.status, 403);
    assert.equal((await r.json()).error.code, 'CONSOLE_CSRF_REFUSED');
    // No Origin at all on a change: refused.
    r = await tighten({ 'X-CSRF-Token': csrf });
    assert.equal(r.status, 403);
    // Nothing changed: the day cap is still the configured 900.
    assert.equal((await w.call('get_budget_status', {})).structuredContent.global.windows.find((x) => x.window === 'day').limit_sats, 900);
    // The page itself can (same origin + token): proves the refusals above were about origin and token only.
    r = await tighten({ Origin: w.base, 'X-CSRF-Token': csrf });
    assert.equal(r.status, 200, await r.text());
    assert.equal((await w.call('get_budget_status', {})).structuredContent.global.windows.find((x) => x.window === 'day').limit_sats, 100);
    r = await fetch(`${w.base}/api/policy/reset`, { method: 'POST', headers: { Cookie: jar, Origin: w.base, 'X-CSRF-Token': csrf } });
    assert.equal(r.status, 200);
    // DNS rebinding: a page on another name that resolves to 127.0.0.1 sends its own Host.
    const rebound = await new Promise((resolve, reject) => {
      const rq = http.request({ host: '127.0.0.1', port: w.port, path: '/api/overview',
        headers: { Host: `attacker.example:${w.port}`, Cookie: jar } }, (res) => {
        let b = '';
        res.on('data', (d) => { b += d; });
        res.on('end', () => resolve({ status: res.statusCode, body: b }));
      });
      rq.on('error', reject);
      rq.setTimeout(5000, () => rq.destroy(new Error('timeout')));
      rq.end();
    });
    assert.equal(rebound.status, 403);
    assert.equal(JSON.parse(rebound.body).error.code, 'CONSOLE_HOST_REFUSED');
    // An agent's bearer token never opens the console, with or without a session.
    for (const h of [{ Authorization: 'Bearer agent-token-0123456789abcdef' }, { Authorization: 'Bearer agent-token-0123456789abcdef', Cookie: jar }]) {
      r = await fetch(`${w.base}/api/overview`, { headers: h });
      assert.equal(r.status, 403);
      assert.equal((await r.json()).error.code, 'CONSOLE_BEARER_REFUSED');
    }
    // No session: 401, and the page shows the login panel.
    r = await fetch(`${w.base}/api/overview`);
    assert.equal(r.status, 401);
    const fresh = await w.browser.createBrowserContext();
    const p3 = await fresh.newPage();
    await p3.goto(`${w.base}/#/overview`, { waitUntil: 'load' });
    assert.ok(await waitFor(async () => (await p3.$eval('#view-title', (e) => e.textContent).catch(() => '')) === 'Log in', 5000));
    await p3.screenshot({ path: join(ARTIFACTS, 'login-light-desktop.png') });
    await axeCheck(p3, 'login');
    await fresh.close();
    // Security headers on the page.
    const head = await fetch(`${w.base}/`);
    assert.match(head.headers.get('content-security-policy'), /default-src 'none'; script-src 'self'/);
    assert.equal(head.headers.get('x-frame-options'), 'DENY');
  } finally {
    await page.close();
  }
});

test('--console-port beside the HTTP MCP server: the console answers there, MCP does not', async () => {
  const port = await freePort();
  const srv = await startHttp(SERVER, { env: { ...w.env, SATWARDEN_CONSOLE_PORT: String(port) }, cleanups });
  assert.ok(await waitFor(() => srv.stderr().includes(`owner's console at http://127.0.0.1:${port}/`), 10_000), srv.stderr());
  assert.ok(!/login#/.test(srv.stderr()), 'the login link is never logged');
  const link = await new Promise((resolve, reject) => {
    const p = spawn(SERVER, ['console', '--print-link'], { env: { ...w.env, SATWARDEN_CONSOLE_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'] });
    let s = '';
    p.stdout.on('data', (d) => { s += d; });
    const t = setTimeout(() => { p.kill('SIGKILL'); reject(new Error('print-link hung')); }, 10_000);
    p.once('exit', () => { clearTimeout(t); resolve(s.trim()); });
  });
  assert.ok(link.startsWith(`http://127.0.0.1:${port}/login#`), link);
  const page = await newPage();
  try {
    await login(page, link);
    // The console's listener serves no MCP: an MCP initialize sent as the console's own page sends a request
    // (same Origin, the session cookie, the CSRF token) passes every check and finds nothing there — 404 — while
    // the very same request is answered on the MCP listener. The MCP listener serves no console.
    const initialize = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'console-interop', version: '1' } } });
    const mcpHeaders = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };
    const session = (await page.cookies()).find((x) => x.name === 'sw_console');
    const csrf = await page.evaluate(() => S.csrf);
    assert.ok(session && csrf);
    let r = await fetch(`http://127.0.0.1:${port}/mcp`, { method: 'POST', body: initialize,
      headers: { ...mcpHeaders, Origin: `http://127.0.0.1:${port}`, Cookie: `sw_console=${session.value}`, 'X-CSRF-Token': csrf } });
    assert.equal(r.status, 404);
    assert.equal((await r.json()).error.code, 'NOT_FOUND');
    r = await fetch(srv.url, { method: 'POST', body: initialize, headers: mcpHeaders });
    assert.equal(r.status, 200);
    assert.match(await r.text(), /"serverInfo"/, 'the same request is an MCP initialize the MCP listener answers');
    assert.equal((await fetch(`http://127.0.0.1:${srv.port}/api/overview`)).status, 404);
    assert.deepEqual(page.problems, []);
    // From inside the page (the browser sets Origin and Sec-Fetch-Site itself): 404 too.
    assert.equal(await page.evaluate((body) => fetch('/mcp', { method: 'POST', body,
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': S.csrf } }).then((x) => x.status), initialize), 404);
    // SIGTERM while the page holds its live-update stream open: a clean exit.
    assert.ok(await waitFor(() => page.evaluate(() => document.querySelector('#live-status')?.textContent.includes('Live')), 5000));
    await srv.stop();
    const ex = await srv.exited;
    assert.equal(ex.code, 0, `exit ${ex.code} signal ${ex.signal}\n${srv.stderr()}`);
  } finally {
    await page.close();
    await srv.stop();
  }
});

test('the console beyond loopback without a TLS proxy is refused (CONSOLE_NOT_LOOPBACK); with its https:// URL it starts', async () => {
  const env = { PATH: process.env.PATH, XDG_DATA_HOME: cleanups.tempDir('sw-console-bind-') };
  // Runs satwarden to its exit (bounded), or until `ready` matches its stdout (then stops it).
  const run = (args, { ready, extraEnv = {} } = {}) => new Promise((resolve) => {
    const p = spawn(SERVER, args, { env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const t = setTimeout(() => p.kill('SIGKILL'), 15_000);
    p.stdout.on('data', (d) => { out += d; if (ready && ready.test(out)) p.kill('SIGTERM'); });
    p.stderr.on('data', (d) => { err += d; });
    p.once('exit', (code, signal) => { clearTimeout(t); resolve({ code, signal, out, err }); });
  });
  const listening = (host, port) => new Promise((resolve) => {
    const c = net.connect({ host, port }, () => { c.destroy(); resolve(true); });
    c.on('error', () => resolve(false));
    c.setTimeout(2000, () => { c.destroy(); resolve(false); });
  });
  const refusal = /the owner's console: the console listens beyond loopback \(console_host (\S+)\) only behind a TLS reverse proxy: set console_public_url/;
  // `satwarden console` on any address, a non-loopback literal, a name that merely starts like loopback.
  for (const host of ['0.0.0.0', '::', '192.0.2.1', '127.0.0.1.nip.io']) {
    const port = await freePort();
    const r = await run(['console', '--console-host', host, '--console-port', String(port)]);
    assert.equal(r.code, 2, `${host}: ${r.err}`);
    assert.equal(r.err.match(refusal)?.[1], host, r.err);
    assert.doesNotMatch(r.out, /login#/, 'no login link');
    assert.equal(await listening('127.0.0.1', port), false, `${host}: nothing listens`);
  }
  // The same through the environment, beside an HTTP MCP server: it does not start.
  const port = await freePort();
  let r = await run(['--transport', 'http', '--port', String(await freePort())],
    { extraEnv: { SATWARDEN_CONSOLE_PORT: String(port), SATWARDEN_CONSOLE_HOST: '0.0.0.0' } });
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, refusal);
  assert.doesNotMatch(r.err, /serving MCP/);
  // A public URL must be https:// (TLS at the proxy).
  r = await run(['console', '--console-host', '0.0.0.0', '--console-port', String(port), '--console-public-url', 'http://console.example.com']);
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, /must be the https:\/\/ origin of the TLS reverse proxy/);
  // With the https:// URL of a TLS proxy it starts (on this machine's non-loopback address, when it has one), the
  // login link names the public origin and the console answers under that name.
  const addr = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
  if (!addr) return; // no non-loopback address here: the refusals above are the test
  const p = spawn(SERVER, ['console', '--console-host', addr, '--console-port', String(port), '--console-public-url',
    'https://console.example.com'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => { out += d; });
  p.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((res) => p.once('exit', res));
  try {
    assert.ok(await waitFor(() => /login#/.test(out), 10_000), `${out}\n${err}`);
    assert.match(out, /^Log in \(one-time link, keep it private\): https:\/\/console\.example\.com\/login#\S+$/m);
    const status = await new Promise((resolve, reject) => {
      const rq = http.request({ host: addr, port, path: '/', headers: { Host: 'console.example.com' } }, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      rq.on('error', reject);
      rq.setTimeout(5000, () => rq.destroy(new Error('timeout')));
      rq.end();
    });
    assert.equal(status, 200);
  } finally {
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
    p.kill('SIGTERM');
    await exited;
    clearTimeout(t);
  }
});
