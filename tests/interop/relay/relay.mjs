// A real third-party Nostr relay for the relay-pool interop test: the @nostr-relay/core 0.0.40 engine (verifies
// event ids and signatures, relays ephemeral kinds without storing them, implements NIP-42 AUTH verification)
// over `ws` 8, with a small in-memory event repository. Listens on 127.0.0.1 only.
//
//   node relay.mjs <port|0> [--auth] [--tls CERT KEY]
//     prints "READY <port>" once listening; exits on SIGTERM or when stdin closes.
//     --auth : NIP-42 on (challenge sent on connect); REQ and EVENT from unauthenticated clients are refused with
//              "auth-required:" (CLOSED / OK false) — the engine itself checks the kind-22242 event (challenge,
//              relay URL host 127.0.0.1 or localhost, signature, created_at).
//     --tls  : wss:// with the given PEM certificate and key.
//   stdin commands (one per line): PAUSE (stop reading every connected client socket: no PONGs, no answers;
//   later connections are served normally),
//   RESUME, DROP (terminate every client connection), COUNT (prints "CLIENTS <n>").
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import readline from 'node:readline';
import { WebSocketServer } from 'ws';
import { NostrRelay } from '@nostr-relay/core';
import { MemoryRepository } from '../world/relay.mjs';

// The in-memory event repository is shared with the interop world's relay.

// Refuses REQ/EVENT until the client authenticated (the engine alone only guards DMs).
class RequireAuthPlugin {
  async handleMessage(ctx, message, next) {
    if (!ctx.pubkey && message[0] === 'REQ') {
      ctx.sendMessage(['CLOSED', message[1], 'auth-required: this relay needs NIP-42 AUTH']);
      return { messageType: 'REQ', events: [] };
    }
    if (!ctx.pubkey && message[0] === 'EVENT') {
      ctx.sendMessage(['OK', message[1]?.id ?? '', false, 'auth-required: this relay needs NIP-42 AUTH']);
      return { messageType: 'EVENT', success: false };
    }
    return next();
  }
}

const args = process.argv.slice(2);
const port = Number(args[0] ?? 0);
const auth = args.includes('--auth');
const tlsAt = args.indexOf('--tls');
const tls = tlsAt >= 0 ? { cert: fs.readFileSync(args[tlsAt + 1]), key: fs.readFileSync(args[tlsAt + 2]) } : null;

const relay = new NostrRelay(new MemoryRepository(), {
  hostname: auth ? '127.0.0.1' : undefined,
  logLevel: 3,  // errors only: keep the test output clean
});
if (auth) relay.register(new RequireAuthPlugin());

const server = tls ? https.createServer(tls) : http.createServer();
const wss = new WebSocketServer({ server });
wss.on('connection', (ws, req) => {
  relay.handleConnection(ws, req.socket.remoteAddress);
  ws.on('message', async (data) => {
    let msg;
    try { msg = JSON.parse(data.toString()); } catch { return; }
    if (!Array.isArray(msg)) return;
    try { await relay.handleMessage(ws, msg); } catch { /* malformed input: the engine may throw; ignore */ }
  });
  ws.on('close', () => relay.handleDisconnect(ws));
  ws.on('error', () => {});
});
// The AUTH check compares the event's relay-tag host with `hostname`; listen where that host resolves.
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`READY ${server.address().port}\n`);
});

const stop = () => {
  for (const c of wss.clients) c.terminate();
  server.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = line.trim();
  if (cmd === 'PAUSE') { for (const c of wss.clients) c._socket.pause(); }
  else if (cmd === 'RESUME') { for (const c of wss.clients) c._socket.resume(); }
  else if (cmd === 'DROP') { for (const c of wss.clients) c.terminate(); }
  else if (cmd === 'COUNT') process.stdout.write(`CLIENTS ${wss.clients.size}\n`);
});
