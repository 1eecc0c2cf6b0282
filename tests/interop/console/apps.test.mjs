// MCP Apps (issue 15, 4): satwarden's ui:// resources rendered in headless Chromium inside a minimal host page
// whose host side is the ext-apps package's own AppBridge (@modelcontextprotocol/ext-apps, bundled for the browser
// with esbuild at test time) — an independent implementation of the postMessage protocol, which validates every
// message our apps send. The host forwards the apps' tools/call and resources/read to satwarden through the MCP SDK
// client (stdio, declaring the io.modelcontextprotocol/ui extension), refusing tools not visible to apps.
//  - tools/list: the app-only decide_approval_in_app is listed with visibility ["app"] to the extension client
//    only; the model-facing list (the package's isToolVisibilityAppOnly filter) and a plain client's list never
//    contain it, and a plain client cannot call it; _meta.ui appears only for the extension client.
//  - a payment over the threshold (approval_wait "return") links ui://satwarden/approval/<id>; the card (read
//    through the host) carries a nonce that the model-visible result does not; Approve in the app → the retry pays
//    exactly once; a wrong nonce decides nothing; Deny in the app → nothing paid.
//  - the budget app renders get_budget_status.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import puppeteer from 'puppeteer-core';
import { isToolVisibilityAppOnly } from '@modelcontextprotocol/ext-apps/app-bridge';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { Cleanups, sleep, waitFor, walletWorld } from '../world/satwarden.mjs';

const require = createRequire(import.meta.url);
const SERVER = process.env.SW_SERVER ?? '/work/main/build/src/app/satwarden';
const CHROMIUM = process.env.SW_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = process.env.SW_ARTIFACTS ?? '/tmp/satwarden-console-artifacts';
mkdirSync(ARTIFACTS, { recursive: true });
const UI = 'io.modelcontextprotocol/ui';
const MIME = 'text/html;profile=mcp-app';

const cleanups = new Cleanups();
after(() => cleanups.run());
let w;

async function mcpClient(env, { ui }) {
  const transport = new StdioClientTransport({ command: SERVER, env, stderr: 'pipe' });
  const log = { text: '' };
  transport.stderr?.on('data', (d) => { log.text = (log.text + d).slice(-20000); });
  const client = new Client({ name: ui ? 'apps-host' : 'plain-client', version: '1' },
    { capabilities: ui ? { extensions: { [UI]: { mimeTypes: [MIME] } } } : {} });
  await client.connect(transport);
  cleanups.add(() => client.close());
  return { client, log };
}

// The host page: AppBridge (bundled) + one sandboxed iframe. Node provides the MCP side via exposed functions.
const HOST_PAGE = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>test host</title></head>
<body><main id="wrap"></main><script type="module">
import { AppBridge, PostMessageTransport } from '/bridge.js';
window.hostLog = [];
window.showApp = async (html, toolInput, toolResult, theme) => {
  const wrap = document.getElementById('wrap');
  wrap.replaceChildren();
  const iframe = document.createElement('iframe');
  iframe.setAttribute('sandbox', 'allow-scripts allow-same-origin allow-forms');
  iframe.setAttribute('title', 'satwarden app');
  iframe.style.width = '520px';
  iframe.style.height = '200px';
  wrap.append(iframe);
  // The bridge listens before the app's document loads (its ui/initialize comes as soon as it runs).
  const bridge = new AppBridge(null, { name: 'satwarden-test-host', version: '1' },
    { serverTools: {}, serverResources: {} }, { hostContext: { theme, displayMode: 'inline' } });
  bridge.oncalltool = async (p) => JSON.parse(await window.mcpCallTool(JSON.stringify(p)));
  bridge.onreadresource = async (p) => JSON.parse(await window.mcpReadResource(JSON.stringify(p)));
  bridge.onsizechange = (p) => { if (p.height) iframe.style.height = p.height + 'px'; };
  let ready = false;
  bridge.oninitialized = () => { ready = true; };
  await bridge.connect(new PostMessageTransport(iframe.contentWindow, iframe.contentWindow));
  const loaded = new Promise((r) => { iframe.onload = r; });
  iframe.srcdoc = html;
  await loaded;
  for (let i = 0; i < 200 && !ready; i++) await new Promise((r) => setTimeout(r, 25));
  if (!ready) throw new Error('the app never sent ui/notifications/initialized');
  await bridge.sendToolInput({ arguments: toolInput });
  if (toolResult) await bridge.sendToolResult(toolResult);
  window.bridge = bridge;
  return true;
};
window.hostReady = true;
</script></body></html>`;

before(async () => {
  const world = await walletWorld(cleanups);
  const dataHome = cleanups.tempDir('sw-apps-');
  const env = {
    ...world.env, SATWARDEN_TOOLS: 'all', XDG_DATA_HOME: dataHome, SATWARDEN_NWC_PAY_TIMEOUT: '10', SATWARDEN_NWC_READ_TIMEOUT: '5',
    SATWARDEN_APPROVE_ABOVE_SATS: '20', SATWARDEN_APPROVAL_TIMEOUT: '120', SATWARDEN_LOG_LEVEL: 'info', PATH: process.env.PATH,
  };
  const host = await mcpClient(env, { ui: true });
  const plain = await mcpClient(env, { ui: false });
  const tools = (await host.client.listTools()).tools;
  // The browser bundle of the package's host side.
  const bundle = await esbuild.build({
    stdin: { contents: "export { AppBridge, PostMessageTransport } from '@modelcontextprotocol/ext-apps/app-bridge';",
      resolveDir: process.cwd() },
    bundle: true, format: 'esm', platform: 'browser', write: false, logLevel: 'silent',
  });
  const bridgeJs = bundle.outputFiles[0].text;
  const server = http.createServer((rq, rs) => {
    if (rq.url === '/bridge.js') { rs.writeHead(200, { 'Content-Type': 'text/javascript' }); rs.end(bridgeJs); return; }
    if (rq.url === '/') { rs.writeHead(200, { 'Content-Type': 'text/html' }); rs.end(HOST_PAGE); return; }
    rs.writeHead(404); rs.end();
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  cleanups.add(() => new Promise((r) => server.close(r)));
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-dev-shm-usage'] });
  cleanups.add(() => browser.close());
  const appCalls = [];
  w = {
    ...world, env, host, plain, tools, browser, appCalls,
    hostUrl: `http://127.0.0.1:${server.address().port}/`,
    logs: () => `--- host server ---\n${host.log.text}\n--- plain server ---\n${plain.log.text}`,
  };
});

// A page with the host loaded; the app's calls go to satwarden through the extension client.
async function hostPage() {
  const page = await w.browser.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(e.message));
  page.problems = problems;
  await page.exposeFunction('mcpCallTool', async (json) => {
    const p = JSON.parse(json);
    w.appCalls.push(p);
    // A host MUST refuse an app's call to a tool that is not visible to apps.
    const t = w.tools.find((x) => x.name === p.name);
    const vis = t?._meta?.ui?.visibility ?? ['model', 'app'];
    if (!t || !vis.includes('app')) throw new Error(`tool ${p.name} is not available to apps`);
    return JSON.stringify(await w.host.client.callTool({ name: p.name, arguments: p.arguments ?? {} }));
  });
  await page.exposeFunction('mcpReadResource', async (json) =>
    JSON.stringify(await w.host.client.readResource({ uri: JSON.parse(json).uri })));
  await page.setViewport({ width: 700, height: 700 });
  await page.goto(w.hostUrl, { waitUntil: 'load' });
  assert.ok(await waitFor(() => page.evaluate(() => window.hostReady === true), 10_000), 'host page ready');
  return page;
}

async function show(page, uri, toolInput, toolResult, theme = 'light') {
  const read = await w.host.client.readResource({ uri });
  assert.equal(read.contents.length, 1);
  assert.equal(read.contents[0].mimeType, MIME);
  await page.evaluate((html, ti, tr, th) => window.showApp(html, ti, tr, th), read.contents[0].text, toolInput, toolResult ?? null, theme);
  return page.frames().find((f) => f !== page.mainFrame());
}

test('tools/list: app-only tool and _meta.ui only for clients that declared the extension', async () => {
  const app = w.tools.find((t) => t.name === 'decide_approval_in_app');
  assert.ok(app, 'listed to the extension client');
  assert.deepEqual(app._meta.ui.visibility, ['app']);
  assert.equal(w.tools.find((t) => t.name === 'get_budget_status')._meta.ui.resourceUri, 'ui://satwarden/budget');
  assert.equal(w.tools.find((t) => t.name === 'pay_invoice')._meta.ui.resourceUri, 'ui://satwarden/approval');
  // What a host gives its model: the package's own visibility rule.
  const modelFacing = w.tools.filter((t) => !isToolVisibilityAppOnly(t));
  assert.ok(!modelFacing.some((t) => t.name === 'decide_approval_in_app'));
  assert.ok(modelFacing.some((t) => t.name === 'pay_invoice'));
  // A client without the extension: neither the tool nor any _meta.ui; calling it is an unknown tool.
  const plainTools = (await w.plain.client.listTools()).tools;
  assert.ok(!plainTools.some((t) => t.name === 'decide_approval_in_app'));
  assert.ok(plainTools.every((t) => !t._meta?.ui && !t._meta?.['ui/resourceUri']));
  assert.equal(plainTools.length, w.tools.length - 1);
  await assert.rejects(() => w.plain.client.callTool({ name: 'decide_approval_in_app',
    arguments: { approval_id: 'abcdef', nonce: 'x', decision: 'approve' } }), /Unknown tool/);
  // Its resource lists are unchanged (the ui:// views are listed to the extension client only).
  const uiListed = (await w.host.client.listResources()).resources.map((r) => r.uri);
  assert.ok(uiListed.includes('ui://satwarden/budget') && uiListed.includes('ui://satwarden/approval'));
  const plainListed = (await w.plain.client.listResources()).resources.map((r) => r.uri);
  assert.ok(plainListed.every((u) => !u.startsWith('ui://')), JSON.stringify(plainListed));
  const templates = (await w.host.client.listResourceTemplates()).resourceTemplates;
  assert.equal(templates.find((t) => t.uriTemplate === 'ui://satwarden/approval/{approval_id}')?.mimeType, MIME);
  // Its get_budget_status result is unchanged (no _meta.ui link).
  const r = await w.plain.client.callTool({ name: 'get_budget_status', arguments: {} });
  assert.equal(r._meta?.ui, undefined);
});

test('approve from the app: the card carries the nonce, the retry pays exactly once', async () => {
  const inv = w.ln.makeInvoice({ amountMsat: 50_000, description: 'a 50-sat report' });
  const args = { invoice: inv.invoice, max_sats: 60, approval_wait: 'return' };
  const r = await w.host.client.callTool({ name: 'pay_invoice', arguments: args });
  assert.equal(r.isError, true);
  const err = JSON.parse(r.content[0].text).error;
  assert.equal(err.code, 'APPROVAL_REQUIRED', JSON.stringify(err));
  const id = err.details.approval_id;
  assert.equal(r._meta?.ui?.resourceUri, `ui://satwarden/approval/${id}`);
  // The nonce is in the card only, never in what the model sees.
  const card = await w.host.client.readResource({ uri: `ui://satwarden/approval/${id}` });
  const nonce = JSON.parse(card.contents[0].text.match(/<script type="application\/json" id="sw-approval">(.*?)<\/script>/s)[1]).nonce;
  assert.ok(nonce && nonce.length >= 20);
  assert.ok(!JSON.stringify(r).includes(nonce), 'the nonce is not in the model-visible result');
  // A plain client (the person there may decide approvals: stdio) still cannot get a card through a host it is
  // not: it never sees the tool. A wrong nonce decides nothing.
  const wrong = await w.host.client.callTool({ name: 'decide_approval_in_app',
    arguments: { approval_id: id, nonce: 'A'.repeat(43), decision: 'approve' } });
  assert.equal(wrong.isError, true);
  assert.equal(JSON.parse(wrong.content[0].text).error.code, 'APPROVAL_NONCE_INVALID');
  assert.equal((await w.host.client.callTool({ name: 'list_approvals', arguments: {} })).structuredContent.approvals
    .find((a) => a.approval_id === id).state, 'pending');

  const page = await hostPage();
  try {
    const frame = await show(page, 'ui://satwarden/approval', args, r);
    const approveSel = `[data-approval-id="${id}"] [data-action="approve"]`;
    assert.ok(await waitFor(async () => (await frame.$(approveSel)) !== null, 10_000), `no card for ${id}`);
    await page.screenshot({ path: join(ARTIFACTS, 'mcp-app-approval.png') });
    assert.equal(w.ledger.payRequestsFor(inv.paymentHash), 0, 'nothing paid before the decision');
    await frame.click(approveSel);
    assert.ok(await waitFor(() => w.appCalls.some((c) => c.name === 'decide_approval_in_app' && c.arguments.approval_id === id), 10_000));
    assert.ok(await waitFor(async () => (await w.host.client.callTool({ name: 'list_approvals', arguments: {} }))
      .structuredContent.approvals.find((a) => a.approval_id === id)?.state === 'approved', 10_000), 'approved from the app');
    const call = w.appCalls.find((c) => c.name === 'decide_approval_in_app' && c.arguments.approval_id === id);
    assert.equal(call.arguments.nonce, nonce);
    // The agent's retry with the approval id pays, once.
    const paid = await w.host.client.callTool({ name: 'pay_invoice', arguments: { ...args, approval_id: id } }, undefined, { timeout: 60_000 });
    assert.ok(!paid.isError, paid.content?.[0]?.text);
    const again = await w.host.client.callTool({ name: 'pay_invoice', arguments: { ...args, approval_id: id } }, undefined, { timeout: 60_000 });
    assert.ok(again.isError || again.structuredContent, 'a second retry does not pay again');
    assert.equal(w.ledger.payRequestsFor(inv.paymentHash), 1, 'exactly one pay request');
    assert.equal(w.ledger.payCount(inv.paymentHash), 1);
    assert.deepEqual(page.problems, []);
  } finally {
    await page.close();
  }
});

test('deny from the app: nothing is paid', async () => {
  const inv = w.ln.makeInvoice({ amountMsat: 30_000, description: 'something else' });
  const args = { invoice: inv.invoice, max_sats: 60, approval_wait: 'return' };
  const r = await w.host.client.callTool({ name: 'pay_invoice', arguments: args });
  const id = JSON.parse(r.content[0].text).error.details.approval_id;
  const page = await hostPage();
  try {
    const frame = await show(page, 'ui://satwarden/approval', args, r, 'dark');
    const denySel = `[data-approval-id="${id}"] [data-action="deny"]`;
    assert.ok(await waitFor(async () => (await frame.$(denySel)) !== null, 10_000));
    await page.screenshot({ path: join(ARTIFACTS, 'mcp-app-approval-dark.png') });
    await frame.click(denySel);
    assert.ok(await waitFor(async () => (await w.host.client.callTool({ name: 'list_approvals', arguments: { state: 'all' } }))
      .structuredContent.approvals.find((a) => a.approval_id === id)?.state === 'denied', 10_000), 'denied from the app');
    const retry = await w.host.client.callTool({ name: 'pay_invoice', arguments: { ...args, approval_id: id } });
    assert.equal(retry.isError, true);
    assert.equal(w.ledger.payRequestsFor(inv.paymentHash), 0, 'nothing paid');
    assert.deepEqual(page.problems, []);
  } finally {
    await page.close();
  }
});

test('the budget app renders get_budget_status', async () => {
  const r = await w.host.client.callTool({ name: 'get_budget_status', arguments: {} });
  assert.equal(r._meta?.ui?.resourceUri, 'ui://satwarden/budget');
  const page = await hostPage();
  try {
    const frame = await show(page, 'ui://satwarden/budget', {}, r);
    assert.ok(await waitFor(async () => (await frame.$('[data-testid="window-day"]')) !== null, 10_000));
    const day = r.structuredContent.global.windows.find((x) => x.window === 'day');
    const text = await frame.$eval('[data-testid="window-day"]', (e) => e.textContent);
    assert.ok(text.includes(String(day.spent_sats)), text);
    await page.screenshot({ path: join(ARTIFACTS, 'mcp-app-budget.png') });
    assert.deepEqual(page.problems, []);
    await sleep(100);
  } finally {
    await page.close();
  }
});
