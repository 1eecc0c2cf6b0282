// Helpers shared by the interop tests that run the real satwarden over HTTP in the interop world: a free loopback
// port, an HTTP server process started and stopped (bounded waits), cleanups run in reverse order, and a wallet
// world (relay, fake Lightning, @getalby/sdk wallet service) with the NWC_URL pointing satwarden at it.
import net from 'node:net';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay } from './relay.mjs';
import { FakeLightning } from './lightning.mjs';
import { FakeWalletLedger, startAlbyWallet, nwcUrl, getPublicKey, hexToBytes } from './wallet.mjs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A free 127.0.0.1 port (the config refuses --port 0: ask the kernel, release it, pass it on).
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// Polls `pred` (sync or async) every 25 ms until true or `ms` passed; returns whether it became true.
export async function waitFor(pred, ms = 10_000) {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) return false;
    await sleep(25);
  }
  return true;
}

// Things to undo after a test file: add(fn) in setup order, run() undoes them newest first (errors ignored).
export class Cleanups {
  constructor() { this.fns = []; }
  add(fn) { this.fns.push(fn); }
  tempDir(prefix) {
    const d = mkdtempSync(join(tmpdir(), prefix));
    this.add(() => rmSync(d, { recursive: true, force: true }));
    return d;
  }
  async run() {
    for (const fn of this.fns.reverse()) { try { await fn(); } catch { /* best effort */ } }
    this.fns = [];
  }
}

// Starts `bin --transport http --port P` with exactly `env` (plus PATH) and waits for "serving MCP" on stderr.
// Returns {port, url, child, stderr(), exited (a promise of {code, signal, at}), stop()}; stop() sends SIGTERM and
// SIGKILLs after 5 s. Registered with `cleanups`.
export async function startHttp(bin, { env = {}, args = [], cleanups } = {}) {
  const port = await freePort();
  const child = spawn(bin, ['--transport', 'http', '--port', String(port), ...args], {
    env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((res) => child.once('exit', (code, signal) => res({ code, signal, at: Date.now() })));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.kill('SIGTERM');
    await exited;
    clearTimeout(t);
  };
  cleanups?.add(stop);
  const up = await Promise.race([waitFor(() => stderr.includes('serving MCP')), exited.then(() => false)]);
  if (!up) throw new Error(`satwarden did not start: ${stderr}`);
  return { port, url: new URL(`http://127.0.0.1:${port}/mcp`), child, stderr: () => stderr, exited, stop };
}

// The wallet side of the world: a relay, fake Lightning, the wallet's ledger and its NWC service; `env` carries
// NWC_URL for satwarden. Registered with `cleanups`.
export async function walletWorld(cleanups) {
  const relay = await startRelay();
  cleanups.add(() => relay.close());
  const ln = new FakeLightning({ network: 'regtest' });
  const ledger = new FakeWalletLedger({ lightning: ln });
  cleanups.add(async () => ledger.release());
  const clientSecret = randomBytes(32).toString('hex');
  const wallet = await startAlbyWallet({ relayUrls: [relay.url], ledger, clientPubkey: getPublicKey(hexToBytes(clientSecret)),
    infoEncryption: 'nip44_v2' });
  cleanups.add(async () => wallet.close());
  const env = { NWC_URL: nwcUrl({ walletPubkey: wallet.walletPubkey, relayUrls: [relay.url], clientSecret }) };
  return { relay, ln, ledger, wallet, env };
}
