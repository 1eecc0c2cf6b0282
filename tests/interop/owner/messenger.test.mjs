// sw::owner::Messenger (through sw_owner_cli) against a real relay (@nostr-relay/core, world/relay.mjs) and
// nostr-tools 2.25.2 as the owner's Nostr client, all on 127.0.0.1:
//   NIP-17 mode: our DM reaches the owner's client and unwraps to our notification key; the owner's reply reaches
//   the handler; a stranger's message is ignored; the same wrap from two relays, and the same rumor wrapped again,
//   are delivered once; a stale message (real time before start) is ignored; an owner reply over NIP-04 is read too.
//   NIP-04 mode: both directions. The notification key file is 0600 and reused across restarts.
// Every wait is bounded (5 s per expected line).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import readline from 'node:readline';
import net from 'node:net';
import WebSocket from 'ws';
import { generateSecretKey, getPublicKey, finalizeEvent, verifyEvent, nip04, nip17, nip19, nip59 } from 'nostr-tools';
import { startRelay } from '../world/relay.mjs';

const CLI = process.env.SW_OWNER_CLI;
assert.ok(CLI, 'SW_OWNER_CLI must name the sw_owner_cli binary');
const WAIT_MS = 5000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => Math.floor(Date.now() / 1000);
const cleanups = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

async function deadRelayUrl() {
  const port = await new Promise((res) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
  return `ws://127.0.0.1:${port}`;
}

// satwarden's side: one sw_owner_cli process.
async function startMessenger({ keyFile, owner, relays, mode = 'nip17' }) {
  const args = ['--key-file', keyFile, '--owner', owner, '--mode', mode, '--send-timeout-ms', '3000'];
  for (const r of relays) args.push('--relay', r);
  const child = spawn(CLI, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d.toString(); });
  const lines = [];
  let wake = null;
  readline.createInterface({ input: child.stdout }).on('line', (l) => { lines.push(JSON.parse(l)); wake?.(); });
  const exited = new Promise((res) => child.on('exit', res));
  // Next line matching `pred` (consumed), or throws after WAIT_MS.
  async function next(pred, what) {
    const end = Date.now() + WAIT_MS;
    for (;;) {
      const i = lines.findIndex(pred);
      if (i >= 0) return lines.splice(i, 1)[0];
      const left = end - Date.now();
      if (left <= 0) throw new Error(`no ${what} from sw_owner_cli within ${WAIT_MS} ms; stderr:\n${stderr.slice(-2000)}`);
      await new Promise((res) => { wake = res; setTimeout(res, Math.min(left, 100)); });
    }
  }
  const ready = await next((l) => l.op === 'ready' || l.op === 'error', 'ready line');
  assert.equal(ready.op, 'ready', JSON.stringify(ready));
  const m = {
    pubkey: ready.pubkey, npub: ready.npub, startedAt: ready.started_at, lines,
    messages: () => lines.filter((l) => l.op === 'message'),
    nextMessage: () => next((l) => l.op === 'message', 'owner message'),
    async send(text) { child.stdin.write(JSON.stringify({ op: 'send', text }) + '\n'); return next((l) => l.op === 'sent', 'send answer'); },
    async stats() { child.stdin.write('{"op":"stats"}\n'); return next((l) => l.op === 'stats', 'stats'); },
    // Polls stats until pred holds (bounded).
    async statsUntil(pred, what) {
      const end = Date.now() + WAIT_MS;
      for (;;) {
        const s = await m.stats();
        if (pred(s)) return s;
        if (Date.now() > end) throw new Error(`stats never showed ${what}: ${JSON.stringify(s)}`);
        await sleep(50);
      }
    },
    async stop() { child.stdin.end(); const t = setTimeout(() => child.kill('SIGKILL'), 3000); await exited; clearTimeout(t); },
  };
  cleanups.push(() => m.stop());
  return m;
}

// The owner's side: a raw NIP-01 client over ws.
async function ownerClient(url) {
  const ws = new WebSocket(url);
  await new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); });
  const events = [];
  const oks = new Map();
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    if (m[0] === 'EVENT') events.push(m[2]);
    else if (m[0] === 'OK') oks.get(m[1])?.(m);
  });
  const c = {
    subscribe(id, filter) { ws.send(JSON.stringify(['REQ', id, filter])); },
    publish(ev) {
      return new Promise((res, rej) => {
        const t = setTimeout(() => rej(new Error('no OK from relay')), WAIT_MS);
        oks.set(ev.id, (m) => { clearTimeout(t); res({ ok: m[2], message: m[3] }); });
        ws.send(JSON.stringify(['EVENT', ev]));
      });
    },
    async nextEvent(pred) {
      const end = Date.now() + WAIT_MS;
      for (;;) {
        const i = events.findIndex(pred);
        if (i >= 0) return events.splice(i, 1)[0];
        if (Date.now() > end) throw new Error('owner client got no matching event');
        await sleep(20);
      }
    },
    close() { ws.terminate(); },
  };
  cleanups.push(async () => c.close());
  return c;
}

async function world({ mode = 'nip17', relays = 1, dead = false } = {}) {
  const live = [];
  for (let i = 0; i < relays; i++) {
    const r = await startRelay();
    live.push(r);
    cleanups.push(() => r.close());
  }
  const dir = mkdtempSync(join(tmpdir(), 'sw-owner-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const ownerSk = generateSecretKey();
  const urls = live.map((r) => r.url);
  if (dead) urls.unshift(await deadRelayUrl());
  const keyFile = join(dir, 'notification.key');
  const m = await startMessenger({ keyFile, owner: nip19.npubEncode(getPublicKey(ownerSk)), relays: urls, mode });
  const clients = [];
  for (const r of live) clients.push(await ownerClient(r.url));
  return { live, urls, dir, keyFile, ownerSk, ownerPk: getPublicKey(ownerSk), m, clients, client: clients[0] };
}

// The owner's client writes a NIP-17 DM the way nip17.wrapEvent does, keeping the rumor (to know its id).
function ownerDm(ownerSk, toPk, text, { createdAt } = {}) {
  const rumor = nip59.createRumor({ kind: 14, content: text, tags: [['p', toPk]], ...(createdAt ? { created_at: createdAt } : {}) }, ownerSk);
  const wrap = nip59.createWrap(nip59.createSeal(rumor, ownerSk, toPk), toPk);
  return { rumor, wrap };
}

test('NIP-17: our DM reaches the owner; the owner replies; strangers, duplicates, re-wraps and stale messages are not delivered', async () => {
  const w = await world({ mode: 'nip17', relays: 2 });
  const { m, ownerSk, ownerPk } = w;
  assert.equal(statSync(w.keyFile).mode & 0o777, 0o600, 'notification key file is 0600');
  assert.equal(nip19.decode(m.npub).data, m.pubkey);
  assert.notEqual(m.pubkey, ownerPk);

  // satwarden -> owner (the owner's client reads its inbox on relay 1)
  w.client.subscribe('inbox', { kinds: [1059], '#p': [ownerPk] });
  const text = 'Payment of 2100 sats to api.example.com. Reply `approve 7F3K` or `deny 7F3K`.';
  const sent = await m.send(text);
  assert.equal(sent.ok, true, JSON.stringify(sent));
  const wrap = await w.client.nextEvent((e) => e.kind === 1059);
  assert.equal(verifyEvent(wrap), true);
  const rumor = nip17.unwrapEvent(wrap, ownerSk);
  assert.equal(rumor.pubkey, m.pubkey);
  assert.equal(rumor.content, text);
  assert.equal(rumor.kind, 14);
  assert.deepEqual(rumor.tags, [['p', ownerPk]]);

  // owner -> satwarden with nostr-tools' own NIP-17 helper (a reply: it carries an e tag)
  const reply = nip17.wrapEvent(ownerSk, { publicKey: m.pubkey }, 'approve 7F3K', undefined, { eventId: rumor.id });
  assert.equal((await w.clients[0].publish(reply)).ok, true);
  const got = await m.nextMessage();
  assert.equal(got.text, 'approve 7F3K');
  assert.equal(got.sender, ownerPk);
  assert.equal(got.channel, 'nip17');
  assert.ok(Math.abs(got.created_at - now()) <= 5);

  // A stranger writes first, then the owner: only the owner's message is delivered.
  const stranger = generateSecretKey();
  assert.equal((await w.clients[0].publish(nip17.wrapEvent(stranger, { publicKey: m.pubkey }, 'approve 7F3K'))).ok, true);
  const second = ownerDm(ownerSk, m.pubkey, 'deny 7F3K');
  assert.equal((await w.clients[0].publish(second.wrap)).ok, true);
  const got2 = await m.nextMessage();
  assert.equal(got2.text, 'deny 7F3K');
  assert.equal(got2.event_id, second.rumor.id);
  let s = await m.statsUntil((x) => x.not_owner >= 1, 'the stranger ignored');
  assert.equal(s.not_owner, 1);

  // The same wrap on the second relay, and the same rumor wrapped anew: delivered once.
  const before = (await m.stats()).duplicates;
  assert.equal((await w.clients[1].publish(second.wrap)).ok, true);
  const rewrapped = nip59.createWrap(nip59.createSeal(second.rumor, ownerSk, m.pubkey), m.pubkey);
  assert.notEqual(rewrapped.id, second.wrap.id);
  assert.equal((await w.clients[1].publish(rewrapped)).ok, true);
  s = await m.statsUntil((x) => x.duplicates >= before + 2, 'two duplicates');

  // Stale: the rumor's real time is an hour before the messenger started (the wrap looks fresh enough).
  const old = ownerDm(ownerSk, m.pubkey, 'approve OLD0', { createdAt: m.startedAt - 3600 });
  assert.equal((await w.clients[0].publish(old.wrap)).ok, true);
  s = await m.statsUntil((x) => x.stale >= 1, 'the stale message ignored');

  // A seal by the stranger claiming the owner's authorship.
  const forged = nip59.createRumor({ kind: 14, content: 'approve 7F3K', tags: [['p', m.pubkey]] }, ownerSk);
  const forgedWrap = nip59.createWrap(nip59.createSeal(forged, stranger, m.pubkey), m.pubkey);
  assert.equal((await w.clients[0].publish(forgedWrap)).ok, true);
  s = await m.statsUntil((x) => x.invalid >= 1, 'the forged seal refused');

  // The owner answers from a NIP-04 client: read as well, channel nip04.
  const k4 = finalizeEvent({ kind: 4, created_at: now(), tags: [['p', m.pubkey]], content: nip04.encrypt(ownerSk, m.pubkey, 'approve 9QQQ') }, ownerSk);
  assert.equal((await w.clients[0].publish(k4)).ok, true);
  const got3 = await m.nextMessage();
  assert.equal(got3.text, 'approve 9QQQ');
  assert.equal(got3.channel, 'nip04');
  assert.equal(got3.event_id, k4.id);

  // Nothing else was delivered.
  await sleep(200);
  assert.deepEqual(m.messages(), []);
  s = await m.stats();
  assert.equal(s.delivered, 3);
  assert.equal(s.not_owner, 1);
  assert.equal(s.dropped, 0);
});

test('NIP-17: a message arriving while satwarden was down is read after a restart with the same key', async () => {
  const w = await world({ mode: 'nip17' });
  const pk = w.m.pubkey;
  await w.m.stop();
  const { rumor, wrap } = ownerDm(w.ownerSk, pk, 'approve LATE');
  assert.equal((await w.client.publish(wrap)).ok, true);
  // @nostr-relay/core caches a filter's results for 1 s (filterResultCacheTtl) without invalidating them on new
  // events; a restart within the same second sends the identical filter and would get the cached, empty answer.
  await sleep(1100);
  const m2 = await startMessenger({ keyFile: w.keyFile, owner: w.ownerPk, relays: w.urls });
  assert.equal(m2.pubkey, pk, 'the notification key is reused');
  // Its rumor is newer than the restart minus the skew: delivered (a relay replays stored events on subscribe).
  const got = await m2.nextMessage();
  assert.equal(got.text, 'approve LATE');
  assert.equal(got.event_id, rumor.id);
});

test('send succeeds when one relay of two is down', async () => {
  const w = await world({ mode: 'nip17', dead: true });
  w.client.subscribe('inbox', { kinds: [1059], '#p': [w.ownerPk] });
  const sent = await w.m.send('hello from satwarden');
  assert.equal(sent.ok, true, JSON.stringify(sent));
  const wrap = await w.client.nextEvent((e) => e.kind === 1059);
  assert.equal(nip17.unwrapEvent(wrap, w.ownerSk).content, 'hello from satwarden');
});

test('send fails in bounded time when no relay is up', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sw-owner-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const m = await startMessenger({ keyFile: join(dir, 'k'), owner: getPublicKey(generateSecretKey()), relays: [await deadRelayUrl()] });
  const t0 = Date.now();
  const sent = await m.send('nobody hears this');
  assert.equal(sent.ok, false);
  assert.match(sent.code, /^RELAY_(UNREACHABLE|TIMEOUT)$/);
  assert.ok(Date.now() - t0 < 4500);
});

test('NIP-04 mode: both directions; a stranger is not delivered; a copy from a second relay is delivered once', async () => {
  const w = await world({ mode: 'nip04', relays: 2 });
  const { m, ownerSk, ownerPk } = w;
  w.client.subscribe('dms', { kinds: [4], '#p': [ownerPk] });
  const sent = await m.send('Reply `approve 7F3K` or `deny 7F3K`');
  assert.equal(sent.ok, true, JSON.stringify(sent));
  const ev = await w.client.nextEvent((e) => e.kind === 4);
  assert.equal(verifyEvent(ev), true);
  assert.equal(ev.pubkey, m.pubkey);
  assert.deepEqual(ev.tags, [['p', ownerPk]]);
  assert.equal(nip04.decrypt(ownerSk, m.pubkey, ev.content), 'Reply `approve 7F3K` or `deny 7F3K`');

  const stranger = generateSecretKey();
  const bad = finalizeEvent({ kind: 4, created_at: now(), tags: [['p', m.pubkey]], content: nip04.encrypt(stranger, m.pubkey, 'approve 7F3K') }, stranger);
  assert.equal((await w.client.publish(bad)).ok, true);
  const reply = finalizeEvent({ kind: 4, created_at: now(), tags: [['p', m.pubkey], ['e', ev.id]], content: nip04.encrypt(ownerSk, m.pubkey, 'deny 7F3K') }, ownerSk);
  assert.equal((await w.client.publish(reply)).ok, true);
  const got = await m.nextMessage();
  assert.equal(got.text, 'deny 7F3K');
  assert.equal(got.channel, 'nip04');
  assert.equal(got.sender, ownerPk);
  assert.equal(got.event_id, reply.id);
  // The same event from the second relay: still once.
  assert.equal((await w.clients[1].publish(reply)).ok, true);
  await m.statsUntil((x) => x.duplicates >= 1, 'the copy from the second relay recognised');
  assert.deepEqual(m.messages(), []);
  assert.equal((await m.stats()).delivered, 1);
});
