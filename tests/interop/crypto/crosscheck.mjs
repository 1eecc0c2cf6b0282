// Cross-check satwarden's crypto (through sw_crypto_cli) against nostr-tools 2.25.2, both directions:
//   NIP-44 v2: conversation key; nostr-tools encrypts -> we decrypt; we encrypt -> nostr-tools decrypts;
//              tampered nostr-tools payload -> we reject.
//   NIP-04:    both directions.
//   NIP-01:    nostr-tools finalizeEvent -> we verify (and reject a mutation); we sign -> nostr-tools
//              verifyEvent + identical serializeEvent/getEventHash (and rejects a mutation).
// Plaintexts and event strings mix ASCII, C0 controls, quotes/backslashes, 2/3/4-byte UTF-8, U+2028/2029;
// NIP-44/NIP-04 plaintext lengths are 1..65535 UTF-8 bytes (nostr-tools' long form >= 65536 is non-standard).
// Usage: node crosscheck.mjs <path to sw_crypto_cli> [cases=200]   (env SW_CROSSCHECK_SEED to replay)
// Prints "N passed, 0 failed"; exit code 1 on any mismatch.
import { spawnSync } from 'node:child_process';
import { finalizeEvent, verifyEvent, getPublicKey, getEventHash, serializeEvent, nip44, nip04 } from 'nostr-tools';

const cli = process.argv[2];
if (!cli) {
  console.error('usage: node crosscheck.mjs <sw_crypto_cli> [cases]');
  process.exit(2);
}
const CASES = Math.min(Math.max(parseInt(process.argv[3] ?? '200', 10) || 200, 1), 2000);
const seed = process.env.SW_CROSSCHECK_SEED ? Number(process.env.SW_CROSSCHECK_SEED) >>> 0
                                             : (Math.random() * 2 ** 32) >>> 0;

// mulberry32: small seeded PRNG so a failing run can be replayed (not for cryptographic use).
let state = seed;
function rnd() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const rint = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1));
const pick = (arr) => arr[rint(0, arr.length - 1)];
const hex = (u8) => Buffer.from(u8).toString('hex');
const utf8len = (s) => Buffer.byteLength(s, 'utf8');

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
function randomKey() {
  for (;;) {
    const k = new Uint8Array(32);
    for (let i = 0; i < 32; i++) k[i] = rint(0, 255);
    const v = BigInt('0x' + hex(k));
    if (v > 0n && v < N) return k;
  }
}

const POOLS = [
  () => String.fromCharCode(rint(0x20, 0x7e)),                          // printable ASCII
  () => pick(['"', '\\', '/', '\n', '\r', '\t', '\b', '\f', '\u0000', '\u0001', '\u001f', '\u007f']),
  () => pick(['é', 'ß', '\u00a0', 'Ω', 'ж']),                           // 2 bytes
  () => pick(['\u2028', '\u2029', '中', '文', '€', '\u30c4', '\ufeff']), // 3 bytes
  () => pick(['🦄', '😀', '𝄞', '\u{10ffff}']),                           // 4 bytes
];
// A string of exactly `bytes` UTF-8 bytes.
function randomText(bytes) {
  let s = '';
  let n = 0;
  while (n < bytes) {
    let piece = pick(POOLS)();
    // nostr-tools decodes with a default TextDecoder, which silently drops a LEADING U+FEFF (BOM); the spec
    // (and we) keep it. So a BOM is only generated after the first character.
    if (n + utf8len(piece) > bytes || (n === 0 && piece === '\ufeff')) piece = String.fromCharCode(rint(0x61, 0x7a));
    s += piece;
    n += utf8len(piece);
  }
  return s;
}
function randomLength(i) {
  const fixed = [1, 2, 31, 32, 33, 63, 64, 65, 255, 256, 257, 65535];
  if (i < fixed.length) return fixed[i];
  return rnd() < 0.6 ? rint(1, 600) : rint(601, 65535);
}
function randomTags() {
  const tags = [];
  const count = rint(0, 4);
  for (let i = 0; i < count; i++) {
    const t = [pick(['p', 'e', 'encryption', 'expiration', 't', 'x'])];
    const vals = rint(0, 3);
    for (let k = 0; k < vals; k++) t.push(randomText(rint(0, 40)));
    tags.push(t);
  }
  return tags;
}

// ---- phase 1: build every case (nostr-tools side computed now) and the CLI command list ----
const cmds = [];
const checks = [];  // (answers) => [ok, description]
function cmd(c) {
  cmds.push(c);
  return cmds.length - 1;
}

for (let i = 0; i < CASES; i++) {
  const a = randomKey(), b = randomKey();
  const aHex = hex(a), bHex = hex(b);
  const A = getPublicKey(a), B = getPublicKey(b);
  const ckJs = nip44.v2.utils.getConversationKey(a, B);

  const iPub = cmd({ op: 'pubkey', sk: aHex });
  checks.push((r) => [r[iPub].ok && r[iPub].result === A, `pubkey #${i}`]);

  const iCk = cmd({ op: 'nip44_conversation_key', sk: bHex, pk: A });
  checks.push((r) => [r[iCk].ok && r[iCk].result === hex(ckJs), `nip44 conversation key #${i}`]);

  // NIP-44: nostr-tools -> us
  const pt44 = randomText(randomLength(i));
  const payloadJs = nip44.v2.encrypt(pt44, ckJs);
  const iDec44 = cmd({ op: 'nip44_decrypt', sk: bHex, pk: A, payload: payloadJs });
  checks.push((r) => [r[iDec44].ok && r[iDec44].result === pt44, `nip44 js->sw #${i} (${utf8len(pt44)} bytes)`]);
  // tampered: flip one bit in the middle of the decoded payload
  const raw = Buffer.from(payloadJs, 'base64');
  raw[rint(1, raw.length - 1)] ^= 1 << rint(0, 7);
  const iTamper = cmd({ op: 'nip44_decrypt', sk: bHex, pk: A, payload: raw.toString('base64') });
  checks.push((r) => [!r[iTamper].ok && ['NIP44_INVALID_MAC'].includes(r[iTamper].code), `nip44 tamper #${i}`]);

  // NIP-44: us -> nostr-tools
  const pt44b = randomText(randomLength(CASES - 1 - i));
  const iEnc44 = cmd({ op: 'nip44_encrypt', sk: aHex, pk: B, plaintext: pt44b });
  checks.push((r) => {
    if (!r[iEnc44].ok) return [false, `nip44 sw encrypt #${i}: ${r[iEnc44].code}`];
    const ckB = nip44.v2.utils.getConversationKey(b, A);
    let out;
    try { out = nip44.v2.decrypt(r[iEnc44].result, ckB); } catch (e) { return [false, `nip44 sw->js #${i}: ${e.message}`]; }
    return [out === pt44b, `nip44 sw->js #${i} (${utf8len(pt44b)} bytes)`];
  });

  // NIP-04 both ways
  const pt04 = randomText(rnd() < 0.7 ? rint(1, 300) : rint(301, 65535));
  const payload04 = nip04.encrypt(a, B, pt04);
  const iDec04 = cmd({ op: 'nip04_decrypt', sk: bHex, pk: A, payload: payload04 });
  checks.push((r) => [r[iDec04].ok && r[iDec04].result === pt04, `nip04 js->sw #${i}`]);
  const pt04b = randomText(rint(1, 2000));
  const iEnc04 = cmd({ op: 'nip04_encrypt', sk: bHex, pk: A, plaintext: pt04b });
  checks.push((r) => {
    if (!r[iEnc04].ok) return [false, `nip04 sw encrypt #${i}: ${r[iEnc04].code}`];
    let out;
    try { out = nip04.decrypt(a, B, r[iEnc04].result); } catch (e) { return [false, `nip04 sw->js #${i}: ${e.message}`]; }
    return [out === pt04b, `nip04 sw->js #${i}`];
  });

  // Events: nostr-tools signs -> we verify; mutation rejected
  const tmpl = { kind: rint(0, 65535), created_at: rnd() < 0.9 ? rint(0, 2 ** 31) : rint(0, 2 ** 40),
                 tags: randomTags(), content: randomText(rint(0, 300)) };
  const evJs = finalizeEvent(structuredClone(tmpl), a);
  const iVer = cmd({ op: 'verify_event', event: evJs });
  checks.push((r) => [r[iVer].ok && r[iVer].valid === true, `event js->sw #${i} (${r[iVer].code})`]);
  const mutated = { ...evJs, content: evJs.content + pick([' ', '\u0001', '"', '🦄']) };
  const iVerBad = cmd({ op: 'verify_event', event: mutated });
  checks.push((r) => [r[iVerBad].ok && r[iVerBad].valid === false && r[iVerBad].code === 'EVENT_ID_MISMATCH',
                      `event js->sw mutation rejected #${i}`]);

  // Events: we sign -> nostr-tools verifies, same serialization and id
  const tmpl2 = { kind: rint(0, 65535), created_at: rint(0, 2 ** 31), tags: randomTags(),
                  content: randomText(rint(0, 300)) };
  const iSign = cmd({ op: 'sign_event', sk: bHex, event: tmpl2 });
  checks.push((r) => {
    if (!r[iSign].ok) return [false, `event sw sign #${i}: ${r[iSign].code}`];
    const ev = r[iSign].event;
    const sameSer = serializeEvent(ev) === r[iSign].serialized;
    const sameId = getEventHash(ev) === ev.id;
    const fields = ev.pubkey === B && ev.content === tmpl2.content && ev.kind === tmpl2.kind &&
                   ev.created_at === tmpl2.created_at && JSON.stringify(ev.tags) === JSON.stringify(tmpl2.tags);
    const ok = verifyEvent(structuredClone(ev));
    const bad = verifyEvent({ ...structuredClone(ev), created_at: ev.created_at + 1 });
    return [sameSer && sameId && fields && ok && !bad, `event sw->js #${i} ser=${sameSer} id=${sameId} fields=${fields} verify=${ok} mutated=${bad}`];
  });
}

// ---- phase 2: one CLI run, then evaluate ----
const input = cmds.map((c) => JSON.stringify(c)).join('\n') + '\n';
const proc = spawnSync(cli, [], { input, maxBuffer: 1 << 30, encoding: 'utf8' });
if (proc.error || proc.status !== 0) {
  console.error('sw_crypto_cli failed:', proc.error?.message ?? `exit ${proc.status}`, proc.stderr);
  process.exit(1);
}
const lines = proc.stdout.split('\n').filter((l) => l.length);
if (lines.length !== cmds.length) {
  console.error(`expected ${cmds.length} answers, got ${lines.length}`);
  process.exit(1);
}
const answers = lines.map((l) => JSON.parse(l));
let passed = 0, failed = 0;
for (const check of checks) {
  let ok, what;
  try { [ok, what] = check(answers); } catch (e) { ok = false; what = `exception ${e.message}`; }
  if (ok) passed++;
  else {
    failed++;
    if (failed <= 20) console.error('FAIL', what);
  }
}
console.log(`${passed} passed, ${failed} failed (seed ${seed}, ${CASES} cases)`);
process.exit(failed ? 1 : 0);
