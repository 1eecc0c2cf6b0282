// nostr-tools side of the crypto benchmark (see bench_crypto.cpp for the contract and run_crypto.sh for the
// table). Same keys, plaintext, message and event as bench_crypto.cpp; prints the same CHECK/RESULT lines.
// Usage: node bench_crypto.mjs [--seconds S] [--warmup S] [--interop DIR]
//   DIR = the tests/interop folder holding node_modules (default: ../interop next to this file).
// APIs timed (nostr-tools 2.25.2, pure-JS build, i.e. the default `nostr-tools` entry point):
//   nip44.v2.encrypt / nip44.v2.decrypt / nip44.v2.utils.getConversationKey,
//   schnorr.sign / schnorr.verify from the @noble/curves copy nostr-tools itself depends on (its own
//   node_modules), finalizeEvent / verifyEvent for whole events.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const fail = (what) => { console.error(`bench_crypto.mjs: ${what} failed`); process.exit(1); };
const args = process.argv.slice(2);
let seconds = 0.5, warmup = 0.15;
let interop = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'interop');
const clampSecs = (v) => { const d = Number(v); return d > 0 ? Math.min(d, 5) : 0.5; };
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--seconds' && i + 1 < args.length) seconds = clampSecs(args[++i]);
  else if (args[i] === '--warmup' && i + 1 < args.length) warmup = clampSecs(args[++i]);
  else if (args[i] === '--interop' && i + 1 < args.length) interop = args[++i];
  else { console.error('usage: node bench_crypto.mjs [--seconds S] [--warmup S] [--interop DIR]'); process.exit(2); }
}

// Resolve packages the way Node does (nearest node_modules upwards): nostr-tools from the interop folder, its
// @noble dependencies from nostr-tools' own folder first, so we time exactly the copies nostr-tools runs on.
function pkgDir(fromDir, name) {
  for (let d = path.resolve(fromDir); ; d = path.dirname(d)) {
    const cand = path.join(d, 'node_modules', name);
    if (fs.existsSync(path.join(cand, 'package.json'))) return cand;
    if (path.dirname(d) === d) fail(`cannot find ${name} from ${fromDir}`);
  }
}
const version = (dir) => JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
const ntDir = pkgDir(interop, 'nostr-tools');
const curvesDir = pkgDir(ntDir, '@noble/curves');
const hashesDir = pkgDir(ntDir, '@noble/hashes');
const load = (p) => import(pathToFileURL(p).href);
const nt = await load(path.join(ntDir, 'lib', 'esm', 'index.js'));
const { schnorr } = await load(path.join(curvesDir, 'secp256k1.js'));
const { sha256 } = await load(path.join(hashesDir, 'sha2.js'));
const { hexToBytes, bytesToHex } = await load(path.join(hashesDir, 'utils.js'));
const { nip44, finalizeEvent, verifyEvent, getPublicKey } = nt;
const ntVersion = version(ntDir), curvesVersion = version(curvesDir);

console.log(`INFO\truntime\tnode ${process.version}; nostr-tools ${ntVersion}; @noble/curves ${curvesVersion}`);

// Fixed benchmark-only keys, identical to bench_crypto.cpp.
const skA = hexToBytes('7f7ff03d123792d6ac594bfa67bf6d0c0ab55b6b1fdb6249303fe861f1ccba9a');
const skB = hexToBytes('3b8a7f1c5d2e4f6a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a');
const pubA = getPublicKey(skA);
const pubB = getPublicKey(skB);
const kCreatedAt = 1700000000, kKind = 23194;

function genText(n) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[(i * 7 + 3) % alphabet.length];
  return s;
}

const conv = nip44.v2.utils.getConversationKey(skA, pubB);
console.log(`CHECK\tconv_key_sha256\t${bytesToHex(sha256(conv)).slice(0, 16)}`);
const plaintext = genText(1024);
const msg32 = sha256(new TextEncoder().encode('satwarden bench message'));
const pubABytes = hexToBytes(pubA);
const content = genText(400);
const template = () => ({ kind: kKind, created_at: kCreatedAt, tags: [['p', pubB]], content });
const signedEv = finalizeEvent(template(), skA);
// verifyEvent caches its verdict on the object under a Symbol; always hand it a fresh plain copy.
const freshCopy = (e) => ({ id: e.id, pubkey: e.pubkey, created_at: e.created_at, kind: e.kind,
  tags: e.tags, content: e.content, sig: e.sig });
if (!verifyEvent(freshCopy(signedEv))) fail('verifyEvent');
console.log(`CHECK\tevent_id\t${signedEv.id}`);
const sig64 = schnorr.sign(msg32, skA);
const enc0 = nip44.v2.encrypt(plaintext, conv);
console.log(`CHECK\tnip44_payload_chars\t${enc0.length}`);

function runFor(op, secs) {
  const kMaxIters = 50_000_000;
  let iters = 0, batch = 1, el = 0;
  const t0 = process.hrtime.bigint();
  while (iters < kMaxIters) {  // same loop as run_for() in bench_crypto.cpp
    const before = el;
    for (let i = 0; i < batch; i++) if (!op()) fail('self-check inside the timed loop');
    iters += batch;
    el = Number(process.hrtime.bigint() - t0) / 1e9;
    if (el >= secs) break;
    if (el - before < secs / 50 && batch < 2 ** 20) batch *= 2;
  }
  return { ops: el > 0 ? iters / el : 0, iters, el };
}
function bench(name, op) {
  runFor(op, warmup);
  const r = runFor(op, seconds);
  console.log(`RESULT\t${name}\t${r.ops.toFixed(1)}\t${r.iters}\t${r.el.toFixed(3)}`);
}

// Same operations, same order as bench_crypto.cpp.
bench('nip44_encdec_1k', () => {
  const enc = nip44.v2.encrypt(plaintext, conv);  // fresh random nonce (default)
  const dec = nip44.v2.decrypt(enc, conv);
  return dec.length === plaintext.length;
});
bench('nip44_conv_key', () => nip44.v2.utils.getConversationKey(skA, pubB).length === 32);
bench('schnorr_sign32', () => schnorr.sign(msg32, skA).length === 64);
bench('schnorr_verify32', () => schnorr.verify(sig64, msg32, pubABytes));
bench('event_sign', () => finalizeEvent(template(), skA).sig.length === 128);
bench('event_verify', () => verifyEvent(freshCopy(signedEv)));
