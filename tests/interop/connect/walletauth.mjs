// The wallet side of `satwarden connect` for the interop tests, and a bounded runner for satwarden's commands.
// approveWalletAuth reads the nostr+walletauth:// request with @getalby/sdk's own parser (NWAClient.parseWalletAuthUrl,
// what Alby Go / Alby Hub use), starts a wallet service for the app key it names (a fresh wallet key, as Alby Hub
// makes one per connection) and publishes that wallet's info event (kind 13194) p-tagged to the app key — with the
// request's `state` echoed (NWC-08) or not (Alby today), and optional `relay` tags.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { startAlbyWallet, startNip04Wallet, getPublicKey, hexToBytes } from '../world/wallet.mjs';

globalThis.WebSocket ??= WebSocket;
const { finalizeEvent } = await import('nostr-tools/pure');
const { SimplePool, useWebSocketImplementation } = await import('nostr-tools/pool');
useWebSocketImplementation(WebSocket);
const alby = await import('@getalby/sdk');

export const SERVER = process.env.SW_SERVER ?? '/work/main/build/src/app/satwarden';
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Runs `satwarden ...args` with exactly `env` (plus PATH); `onStdout(text)` sees the output so far. Killed after
// `limitMs`. Resolves {code, signal, stdout, stderr}.
export function run(args, { env = {}, limitMs = 60_000, onStdout } = {}) {
  const child = spawn(SERVER, args, { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; onStdout?.(stdout); });
  child.stderr.on('data', (d) => { stderr += d; });
  const killer = setTimeout(() => child.kill('SIGKILL'), limitMs);
  return new Promise((res) => child.once('exit', (code, signal) => {
    clearTimeout(killer);
    res({ code, signal, stdout, stderr });
  }));
}

// Starts `satwarden connect ...args` and resolves {uri, done} as soon as it printed the walletauth link
// (done: the promise of the process's end, as run() resolves it).
export async function startConnect(args, env, limitMs = 60_000) {
  let gotUri;
  const uriSeen = new Promise((res) => { gotUri = res; });
  const done = run(['connect', ...args], {
    env, limitMs, onStdout: (out) => { const m = out.match(/^nostr\+walletauth:\/\/\S+$/m); if (m) gotUri(m[0]); },
  });
  const uri = await Promise.race([uriSeen, done.then((r) => { throw new Error(`connect ended early: ${JSON.stringify(r)}`); })]);
  return { uri, done };
}

// The request as a wallet reads it: Alby's parser, plus NWC-08's state (not in Alby's parser) from the query.
export function readRequest(uri) {
  const opts = alby.NWAClient.parseWalletAuthUrl(uri);
  const state = new URL(uri.replace(/^nostr\+walletauth:\/\//, 'http://')).searchParams.get('state');
  return { ...opts, state };
}

// Approves `uri` as a wallet would. kind: 'alby' (NIP-44 + NIP-04, @getalby/sdk service) | 'nip04'.
// echoState: put the request's state in the info event; relayTags: NWC-08 relays the client must switch to
// (the service listens there too); state: override the echoed state (a spoof).
export async function approveWalletAuth(uri, { ledger, kind = 'alby', echoState = true, relayTags = [], state,
  methods = ['pay_invoice', 'pay_keysend', 'get_balance', 'get_info', 'make_invoice', 'lookup_invoice', 'list_transactions'],
  walletSecret = randomBytes(32).toString('hex') } = {}) {
  const req = readRequest(uri);
  const relayUrls = [...new Set([...req.relayUrls, ...relayTags])];
  const wallet = kind === 'nip04'
    ? await startNip04Wallet({ relayUrls, ledger, walletSecret, clientPubkey: req.appPubkey, methods })
    : await startAlbyWallet({ relayUrls, ledger, walletSecret, clientPubkey: req.appPubkey });
  ledger.methods = methods;
  await sleep(1100);  // the per-connection info event must be newer than the one the service published at start
  const tags = [['p', req.appPubkey, req.relayUrls[0]]];
  if (kind !== 'nip04') tags.push(['encryption', 'nip44_v2 nip04']);
  if (echoState) tags.push(['state', state ?? req.state]);
  for (const r of relayTags) tags.push(['relay', r]);
  const ev = finalizeEvent({ kind: 13194, created_at: Math.floor(Date.now() / 1000), tags, content: methods.join(' ') },
    hexToBytes(walletSecret));
  const pool = new SimplePool();
  await Promise.any(pool.publish(relayUrls, ev));
  pool.close(relayUrls);
  return { req, wallet, walletPubkey: getPublicKey(hexToBytes(walletSecret)) };
}

// Publishes a 13194 p-tagged to `appPubkey` from a key that is not the approving wallet's (a spoof with a wrong state).
export async function spoofApproval(relayUrls, appPubkey, state) {
  const ev = finalizeEvent({ kind: 13194, created_at: Math.floor(Date.now() / 1000),
    tags: [['p', appPubkey], ['state', state]], content: 'pay_invoice get_info' }, randomBytes(32));
  const pool = new SimplePool();
  await Promise.any(pool.publish(relayUrls, ev));
  pool.close(relayUrls);
}
