// A real Nostr relay for interop tests: the @nostr-relay/core engine (verifies ids and signatures, relays
// ephemeral kinds without storing them, rejects expired events) over `ws`, with a small in-memory repository.
// Listens on 127.0.0.1 only. Library use: startRelay({port}) → {url, port, close()}.
// CLI use: node relay.mjs [port] → prints "READY <port>"; exits on SIGTERM or when stdin closes.
import { WebSocketServer } from 'ws';
import { NostrRelay } from '@nostr-relay/core';
import { EventRepository } from '@nostr-relay/common';

export class MemoryRepository extends EventRepository {
  constructor() { super(); this.events = new Map(); }
  isSearchSupported() { return false; }
  upsert(event) {
    const replaceable = event.kind === 0 || event.kind === 3 || (event.kind >= 10000 && event.kind < 20000);
    if (this.events.has(event.id)) return { isDuplicate: true };
    if (replaceable) {
      for (const [id, e] of this.events) {
        if (e.kind === event.kind && e.pubkey === event.pubkey) {
          if (e.created_at > event.created_at) return { isDuplicate: true };
          this.events.delete(id);
        }
      }
    }
    this.events.set(event.id, event);
    return { isDuplicate: false };
  }
  find(filter) {
    const out = [];
    for (const e of this.events.values()) {
      if (filter.ids && !filter.ids.includes(e.id)) continue;
      if (filter.authors && !filter.authors.includes(e.pubkey)) continue;
      if (filter.kinds && !filter.kinds.includes(e.kind)) continue;
      if (filter.since !== undefined && e.created_at < filter.since) continue;
      if (filter.until !== undefined && e.created_at > filter.until) continue;
      let tagsOk = true;
      for (const [k, v] of Object.entries(filter)) {
        if (k[0] !== '#' || !Array.isArray(v)) continue;
        if (!e.tags.some((t) => t[0] === k.slice(1) && v.includes(t[1]))) tagsOk = false;
      }
      if (tagsOk) out.push(e);
    }
    out.sort((a, b) => b.created_at - a.created_at);
    return out.slice(0, filter.limit ?? out.length);
  }
  async destroy() {}
}

export async function startRelay({ port = 0, host = '127.0.0.1' } = {}) {
  const relay = new NostrRelay(new MemoryRepository());
  const wss = new WebSocketServer({ port, host });
  await new Promise((res, rej) => { wss.once('listening', res); wss.once('error', rej); });
  wss.on('connection', (ws, req) => {
    relay.handleConnection(ws, req.socket.remoteAddress);
    ws.on('message', async (data) => {
      let msg;
      try { msg = JSON.parse(data.toString()); } catch { return; }
      try { await relay.handleMessage(ws, msg); } catch { /* the engine answers protocol errors itself */ }
    });
    ws.on('close', () => relay.handleDisconnect(ws));
    ws.on('error', () => {});
  });
  const actual = wss.address().port;
  return {
    url: `ws://${host}:${actual}`,
    port: actual,
    close: () => new Promise((res) => {
      for (const c of wss.clients) c.terminate();
      wss.close(() => res());
    }),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {  // CLI use (tests/interop/relay/relay.mjs adds AUTH/TLS)
  const r = await startRelay({ port: Number(process.argv[2] ?? 0) });
  process.stdout.write(`READY ${r.port}\n`);
  const stop = async () => { await r.close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.stdin.on('end', stop);
  process.stdin.resume();
}
