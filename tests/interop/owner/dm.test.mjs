// satwarden's DM codec (through sw_dm_cli) against nostr-tools 2.25.2, both directions:
//   NIP-17/NIP-59: nostr-tools nip17.wrapEvent / nip59.wrapEvent -> we open; we wrap -> nostr-tools unwraps (and the
//   wrap/seal layers are checked by hand: signatures, kinds, tags, backdating); a seal whose signer differs from the
//   rumor's author is refused on both sides; tampered or misaddressed wraps are refused.
//   NIP-04 kind-4 DMs both directions; NIP-19 npub both directions.
// Usage: node --test dm.test.mjs   (env SW_DM_CLI = path to sw_dm_cli)
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { randomBytes } from 'node:crypto';
import { generateSecretKey, getPublicKey, finalizeEvent, verifyEvent, nip04, nip17, nip19, nip44, nip59 } from 'nostr-tools';

const CLI = process.env.SW_DM_CLI;
assert.ok(CLI, 'SW_DM_CLI must name the sw_dm_cli binary');

// One persistent driver process; answers come back in order.
const child = spawn(CLI, [], { stdio: ['pipe', 'pipe', 'inherit'] });
const waiting = [];
readline.createInterface({ input: child.stdout }).on('line', (l) => waiting.shift()?.(JSON.parse(l)));
function call(cmd) {
  return new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error(`no answer to ${cmd.op} in 10 s`)), 10_000);
    waiting.push((a) => { clearTimeout(t); res(a); });
    child.stdin.write(JSON.stringify(cmd) + '\n');
  });
}
after(() => child.stdin.end());

const hex = (u8) => Buffer.from(u8).toString('hex');
const now = () => Math.floor(Date.now() / 1000);
const TWO_DAYS = 2 * 24 * 3600;

const PIECES = ['a', 'Z', ' ', '"', '\\', '/', '\n', '\t', '\u0001', '\u001f', '\u007f', 'é', 'ж', '€', '中', '\u2028',
  '\u2029', '🦄', '𝄞', 'approve ', 'deny ', '7F3K', '{', '}', '[', ']'];
function randomText(maxPieces) {
  const n = 1 + Math.floor(Math.random() * maxPieces);
  let s = '';
  for (let i = 0; i < n; i++) s += PIECES[Math.floor(Math.random() * PIECES.length)];
  return s;
}

test('nostr-tools nip17.wrapEvent -> satwarden opens (sender, text, rumor id, created_at, tags)', async () => {
  const ours = generateSecretKey();
  const owner = generateSecretKey();
  for (let i = 0; i < 40; i++) {
    const text = i === 0 ? 'approve 7F3K' : randomText(i < 30 ? 20 : 400);
    const wrap = nip17.wrapEvent(owner, { publicKey: getPublicKey(ours) }, text,
      i % 5 === 1 ? 'subject line' : undefined, i % 7 === 2 ? { eventId: 'ab'.repeat(32) } : undefined);
    const expected = nip59.unwrapEvent(wrap, ours);  // the independent reading of the same wrap
    const a = await call({ op: 'open', sk: hex(ours), event: wrap });
    assert.equal(a.ok, true, `case ${i}: ${a.code} ${a.message}`);
    assert.equal(a.dm.kind, 14);
    assert.equal(a.dm.sender, getPublicKey(owner));
    assert.equal(a.dm.content, text);
    assert.equal(a.dm.id, expected.id);
    assert.equal(a.dm.created_at, expected.created_at);
    assert.deepEqual(a.dm.tags, expected.tags);
    assert.equal(a.dm.wrap_id, wrap.id);
  }
});

test('satwarden wraps -> nostr-tools unwraps; the layers have the NIP-59 shape', async () => {
  const ours = generateSecretKey();
  const owner = generateSecretKey();
  const ownerPk = getPublicKey(owner);
  const wrapPubkeys = new Set();
  for (let i = 0; i < 40; i++) {
    const text = i === 0 ? 'Payment of 2100 sats to api.example: reply `approve 7F3K` or `deny 7F3K`' : randomText(i < 30 ? 20 : 400);
    const a = await call({ op: 'wrap', sk: hex(ours), pk: ownerPk, text });
    assert.equal(a.ok, true, `case ${i}: ${a.code} ${a.message}`);
    const wrap = a.wrap;
    assert.equal(wrap.kind, 1059);
    assert.equal(verifyEvent(structuredClone(wrap)), true, 'wrap signature');
    assert.deepEqual(wrap.tags, [['p', ownerPk]]);
    assert.notEqual(wrap.pubkey, getPublicKey(ours));
    wrapPubkeys.add(wrap.pubkey);
    assert.ok(wrap.created_at <= now() + 1 && wrap.created_at >= now() - TWO_DAYS - 5, 'wrap created_at backdated <= 2 days');

    const rumor = nip17.unwrapEvent(structuredClone(wrap), owner);
    assert.equal(rumor.kind, 14);
    assert.equal(rumor.pubkey, getPublicKey(ours));
    assert.equal(rumor.content, text);
    assert.deepEqual(rumor.tags, [['p', ownerPk]]);
    assert.equal(rumor.id, a.rumor.id);
    assert.equal(rumor.sig, undefined, 'a rumor is never signed');
    assert.ok(Math.abs(rumor.created_at - now()) <= 5, 'rumor created_at is the real time');

    const seal = JSON.parse(nip44.v2.decrypt(wrap.content, nip44.v2.utils.getConversationKey(owner, wrap.pubkey)));
    assert.equal(seal.kind, 13);
    assert.equal(seal.pubkey, getPublicKey(ours));
    assert.deepEqual(seal.tags, []);
    assert.equal(verifyEvent(seal), true, 'seal signature');
    assert.ok(seal.created_at <= now() + 1 && seal.created_at >= now() - TWO_DAYS - 5, 'seal created_at backdated');
  }
  assert.equal(wrapPubkeys.size, 40, 'a fresh ephemeral key for every wrap');
});

test('a seal signed by another key than the rumor claims is refused (both directions)', async () => {
  const ours = generateSecretKey();
  const owner = generateSecretKey();
  const mallory = generateSecretKey();
  // nostr-tools builds the forgery: a rumor from the owner's key, sealed and signed by mallory.
  const rumor = nip59.createRumor({ kind: 14, content: 'approve 7F3K', tags: [['p', getPublicKey(ours)]] }, owner);
  const seal = nip59.createSeal(rumor, mallory, getPublicKey(ours));
  const forged = nip59.createWrap(seal, getPublicKey(ours));
  const a = await call({ op: 'open', sk: hex(ours), event: forged });
  assert.equal(a.ok, false);
  assert.equal(a.code, 'DM_SENDER_MISMATCH');
  // Control: the same rumor sealed by its author opens.
  const honest = nip59.createWrap(nip59.createSeal(rumor, owner, getPublicKey(ours)), getPublicKey(ours));
  const b = await call({ op: 'open', sk: hex(ours), event: honest });
  assert.equal(b.ok, true, `${b.code}`);
  assert.equal(b.dm.sender, getPublicKey(owner));

  // satwarden builds the same forgery: nostr-tools refuses it too (and accepts the honest one).
  const c = await call({ op: 'seal_as', sk: hex(mallory), author: getPublicKey(owner), pk: getPublicKey(ours), text: 'approve 7F3K' });
  assert.equal(c.ok, true);
  assert.throws(() => nip59.unwrapEvent(c.wrap, ours), /does not match seal pubkey/);
  const d = await call({ op: 'open', sk: hex(ours), event: c.wrap });
  assert.equal(d.code, 'DM_SENDER_MISMATCH');
});

test('tampered, misaddressed and wrongly-kinded nostr-tools wraps are refused', async () => {
  const ours = generateSecretKey();
  const owner = generateSecretKey();
  const wrap = nip17.wrapEvent(owner, { publicKey: getPublicKey(ours) }, 'deny 7F3K');
  const tampered = { ...wrap, content: wrap.content.slice(0, 50) + (wrap.content[50] === 'A' ? 'B' : 'A') + wrap.content.slice(51) };
  assert.equal((await call({ op: 'open', sk: hex(ours), event: tampered })).code, 'DM_INVALID_EVENT');
  const other = generateSecretKey();
  const notOurs = await call({ op: 'open', sk: hex(other), event: wrap });
  assert.equal(notOurs.code, 'DM_DECRYPT_FAILED');
  // Tampered ciphertext re-signed by a fresh key (valid wrap signature): the NIP-44 MAC fails.
  const resigned = finalizeEvent({ kind: 1059, created_at: wrap.created_at, tags: wrap.tags, content: tampered.content }, generateSecretKey());
  assert.equal((await call({ op: 'open', sk: hex(ours), event: resigned })).code, 'DM_DECRYPT_FAILED');
  // A kind-1 rumor (not a DM) inside a proper seal and wrap.
  const note = nip59.wrapEvent({ kind: 1, content: 'hello', tags: [] }, owner, getPublicKey(ours));
  assert.equal((await call({ op: 'open', sk: hex(ours), event: note })).code, 'DM_WRONG_KIND');
  // A kind-4 DM handed to the gift-wrap opener.
  const k4 = finalizeEvent({ kind: 4, created_at: now(), tags: [['p', getPublicKey(ours)]], content: nip04.encrypt(owner, getPublicKey(ours), 'x') }, owner);
  assert.equal((await call({ op: 'open', sk: hex(ours), event: k4 })).code, 'DM_WRONG_KIND');
});

test('NIP-04 kind-4 DMs both directions', async () => {
  const ours = generateSecretKey();
  const owner = generateSecretKey();
  for (let i = 0; i < 30; i++) {
    let text = i === 0 ? 'approve 7F3K' : randomText(i < 20 ? 20 : 300);
    // nostr-tools -> us
    const ev = finalizeEvent({ kind: 4, created_at: now(), tags: [['p', getPublicKey(ours)]],
      content: nip04.encrypt(owner, getPublicKey(ours), text) }, owner);
    const a = await call({ op: 'nip04_open', sk: hex(ours), event: ev });
    assert.equal(a.ok, true, `case ${i}: ${a.code}`);
    assert.equal(a.dm.kind, 4);
    assert.equal(a.dm.content, text);
    assert.equal(a.dm.sender, getPublicKey(owner));
    assert.equal(a.dm.id, ev.id);
    // us -> nostr-tools
    const b = await call({ op: 'nip04_make', sk: hex(ours), pk: getPublicKey(owner), text });
    assert.equal(b.ok, true, `case ${i}: ${b.code}`);
    assert.equal(b.event.kind, 4);
    assert.equal(verifyEvent(structuredClone(b.event)), true);
    assert.deepEqual(b.event.tags, [['p', getPublicKey(owner)]]);
    assert.equal(nip04.decrypt(owner, getPublicKey(ours), b.event.content), text);
  }
  // A kind 4 p-tagged to someone else is not opened as ours.
  const stranger = generateSecretKey();
  const ev = finalizeEvent({ kind: 4, created_at: now(), tags: [['p', getPublicKey(stranger)]],
    content: nip04.encrypt(owner, getPublicKey(stranger), 'hi') }, owner);
  assert.equal((await call({ op: 'nip04_open', sk: hex(ours), event: ev })).code, 'DM_NOT_ADDRESSED');
});

test('npub encoding and parsing agree with nostr-tools nip19', async () => {
  for (let i = 0; i < 50; i++) {
    const pk = getPublicKey(generateSecretKey());
    const a = await call({ op: 'npub', pk });
    assert.equal(a.result, nip19.npubEncode(pk));
    const b = await call({ op: 'parse_pubkey', s: nip19.npubEncode(pk) });
    assert.equal(b.result, pk);
    const c = await call({ op: 'parse_pubkey', s: pk.toUpperCase() });
    assert.equal(c.result, pk);
  }
  const bad = await call({ op: 'parse_pubkey', s: nip19.nsecEncode(randomBytes(32)) });
  assert.equal(bad.code, 'INVALID_PUBLIC_KEY');
});
