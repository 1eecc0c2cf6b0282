// Mints the L402 identifier-layout vectors (tests/vectors/l402-identifiers.json) with third-party code:
// lsat-js 2.0.6 (Identifier, Lsat, Caveat, getRawMacaroon — the library boltwall is built on), the `macaroon`
// package 3.0.4 it uses, and `bolt11` 1.4.1 for the invoice in lsat-js's challenge. Everything is deterministic
// (fixed keys, hashes, token ids and timestamp), so the output is byte-stable.
//   node l402/mint_lsat_vectors.mjs            writes ../vectors/l402-identifiers.json
//   node l402/mint_lsat_vectors.mjs --check    regenerates in memory and fails if the committed file differs
//                                              (registered as the ctest interop.l402.lsat_vectors)
// satwarden's reading of each case is asserted by tests/unit/macaroon (l402_binding) and tests/unit/challenge.
// Each case also records what lsat-js itself reads from the identifier (`lsat_js_reads`): lsat-js is lenient
// (it reads a trailing newline, 133 hex characters, base64 text), satwarden deliberately is not.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import bolt11 from 'bolt11';
import lsatjs from 'lsat-js';
import macaroon from 'macaroon';

const { Identifier, Lsat, Caveat, getRawMacaroon } = lsatjs;

const here = dirname(fileURLToPath(import.meta.url));
const vectorsDir = join(here, '..', '..', 'vectors');
const outPath = join(vectorsDir, 'l402-identifiers.json');

const sha256 = (b) => createHash('sha256').update(b).digest();
const fill = (byte) => Buffer.alloc(32, byte);

const ROOT_KEY = sha256(Buffer.from('satwarden l402-identifiers root key'));
// BOLT 11's example node key (the same key tests/vectors/l402.json signs with).
const NODE_KEY = 'e126f68f7eafcc8b74f54d269fe206be715000f94dac067d1c04a8ca3b2db734';
const TIMESTAMP = 1700000000;

function invoiceFor(paymentHashHex, sats) {
  const req = {
    satoshis: sats,
    timestamp: TIMESTAMP,
    tags: [
      { tagName: 'payment_hash', data: paymentHashHex },
      { tagName: 'payment_secret', data: fill(0x11).toString('hex') },
      { tagName: 'description', data: 'lsat-js identifier vector' },
      { tagName: 'expire_time', data: 3600 },
    ],
  };
  return bolt11.sign(bolt11.encode(req), NODE_KEY).paymentRequest;
}

// A macaroon from the `macaroon` package with the given identifier (string or bytes), base64 of V2 binary.
function mintRaw(identifier, { version = 2, caveats = [] } = {}) {
  const m = macaroon.newMacaroon({ version, rootKey: ROOT_KEY, identifier, location: 'https://lsat.example' });
  for (const c of caveats) m.addFirstPartyCaveat(c);  // at most two: the package's export buffer doubles per caveat
  return getRawMacaroon(m);
}

// What lsat-js makes of the identifier: the payment hash it reads, or its error.
function lsatJsReads(rawMacaroon) {
  try {
    return { payment_hash_hex: Lsat.fromMacaroon(rawMacaroon).paymentHash };
  } catch (e) {
    return { error: String(e.message).slice(0, 160) };
  }
}

const identifierHex = (rawMacaroon) => Buffer.from(macaroon.importMacaroon(rawMacaroon).identifier).toString('hex');

function bound(name, mintedBy, rawMacaroon, layout, paymentHashHex, extra = {}) {
  return {
    name,
    minted_by: mintedBy,
    macaroon_base64: rawMacaroon,
    identifier_hex: identifierHex(rawMacaroon),
    expect: { binding: 'bound', layout, payment_hash_hex: paymentHashHex },
    lsat_js_reads: lsatJsReads(rawMacaroon),
    ...extra,
  };
}

function unreadable(name, mintedBy, identifier, why, extra = {}) {
  const raw = mintRaw(identifier);
  return {
    name,
    minted_by: mintedBy,
    macaroon_base64: raw,
    identifier_hex: identifierHex(raw),
    expect: { binding: 'unreadable', why },
    lsat_js_reads: lsatJsReads(raw),
    ...extra,
  };
}

function build() {
  const cases = [];
  const LSAT = 'lsat-js 2.0.6 Identifier + macaroon 3.0.4';

  // 1. lsat-js's own layout: Identifier.toString() = 132 lower-case hex characters.
  const pre1 = fill(0x01);
  const ph1 = sha256(pre1).toString('hex');
  const id1 = new Identifier({ paymentHash: Buffer.from(ph1, 'hex'), tokenId: fill(0xa1) });
  cases.push(bound('lsat-js hex identifier, no caveats', LSAT, mintRaw(id1.toString(), { version: 1 }), 'hex', ph1,
                   { preimage_hex: pre1.toString('hex') }));

  // 2. The same layout with lsat-js caveats and lsat-js's own challenge header (quoted macaroon and invoice).
  const pre2 = fill(0x02);
  const ph2 = sha256(pre2).toString('hex');
  const id2 = new Identifier({ paymentHash: Buffer.from(ph2, 'hex'), tokenId: fill(0xa2) });
  const inv2 = invoiceFor(ph2, 21);
  const lsat2 = Lsat.fromMacaroon(mintRaw(id2.toString(), { version: 1 }), inv2);
  lsat2.addFirstPartyCaveat(new Caveat({ condition: 'expiration', value: 1900000000000 }));
  lsat2.addFirstPartyCaveat(new Caveat({ condition: 'services', value: 'weather:0' }));
  cases.push(bound('lsat-js hex identifier with caveats and its challenge', 'lsat-js 2.0.6 Lsat', lsat2.baseMacaroon,
                   'hex', ph2, {
                     preimage_hex: pre2.toString('hex'),
                     caveats: lsat2.getCaveats().map((c) => c.encode()),
                     invoice: inv2,
                     challenge: lsat2.toChallenge(),
                   }));

  // 3. Upper-case hex (hex is case-insensitive; read the same).
  const pre3 = fill(0x03);
  const ph3 = sha256(pre3).toString('hex');
  const id3 = new Identifier({ paymentHash: Buffer.from(ph3, 'hex'), tokenId: fill(0xa3) });
  cases.push(bound('upper-case hex identifier', LSAT, mintRaw(id3.toString().toUpperCase()), 'hex', ph3));

  // 4. lsat-js's Identifier written as raw bytes (Identifier.encode()): the binary layout.
  const pre4 = fill(0x04);
  const ph4 = sha256(pre4).toString('hex');
  const id4 = new Identifier({ paymentHash: Buffer.from(ph4, 'hex'), tokenId: fill(0xa4) });
  cases.push(bound('lsat-js Identifier.encode() bytes (binary layout)', LSAT, mintRaw(id4.encode()), 'binary', ph4));

  // 5. Aperture's binary layout, the macaroon from tests/vectors/l402.json (generated to Aperture's conventions).
  const ap = JSON.parse(readFileSync(join(vectorsDir, 'l402.json'), 'utf8'));
  cases.push(bound('Aperture binary identifier (tests/vectors/l402.json)', 'tests/vectors/l402.json (Aperture layout)',
                   ap.macaroon_v2_base64_std, 'binary', ap.payment_hash_hex));

  // 6. Serialization does not matter: the same identifiers in a base64 V2 JSON macaroon (some servers send
  //    base64(JSON.stringify(exportJSON()))): "i" for the hex text, "i64" for the binary bytes.
  for (const [label, ident, layout, ph] of [['hex', id1.toString(), 'hex', ph1], ['binary', id4.encode(), 'binary', ph4]]) {
    const m = macaroon.newMacaroon({ version: 2, rootKey: ROOT_KEY, identifier: ident, location: 'https://lsat.example' });
    const json = JSON.stringify(m.exportJSON());
    cases.push({
      name: `${label} identifier in a V2 JSON macaroon`,
      minted_by: 'macaroon 3.0.4 exportJSON',
      macaroon_base64: Buffer.from(json).toString('base64'),
      macaroon_json: json,
      identifier_hex: Buffer.from(m.identifier).toString('hex'),
      expect: { binding: 'bound', layout, payment_hash_hex: ph },
    });
  }

  // Unreadable: never a guessed hash.
  const hex1 = id1.toString();
  const bin1 = id1.encode();
  const MAC = 'macaroon 3.0.4 (identifier written by this script)';
  cases.push(unreadable('hex layout with version 1', MAC, '0001' + hex1.slice(4), 'version 1'));
  cases.push(unreadable('hex layout, 131 characters', MAC, hex1.slice(0, 131), '131 bytes'));
  cases.push(unreadable('hex layout, 133 characters', MAC, hex1 + '0', '133 bytes'));
  cases.push(unreadable('hex layout with a non-hex character', MAC, hex1.slice(0, 70) + 'g' + hex1.slice(71),
                        'not all of them are hex digits'));
  cases.push(unreadable('hex layout with a trailing newline', MAC, hex1 + '\n', '133 bytes'));
  cases.push(unreadable('hex layout with a 0x prefix', MAC, '0x' + hex1, '134 bytes'));
  cases.push(unreadable('hex layout padded with spaces', MAC, ' ' + hex1 + ' ', '134 bytes'));
  cases.push(unreadable('binary layout with version 1', MAC, Buffer.concat([Buffer.from([0, 1]), bin1.subarray(2)]),
                        'version 1'));
  cases.push(unreadable('binary layout with version 256', MAC, Buffer.concat([Buffer.from([1, 0]), bin1.subarray(2)]),
                        'version 256'));
  cases.push(unreadable('binary layout, 65 bytes', MAC, bin1.subarray(0, 65), '65 bytes'));
  cases.push(unreadable('binary layout, 67 bytes', MAC, Buffer.concat([bin1, Buffer.from([0])]), '67 bytes'));
  cases.push(unreadable('base64 text of the 66 bytes', MAC, bin1.toString('base64'), '88 bytes'));
  const jsonId = JSON.stringify({ version: 0, paymentHash: ph1, tokenId: fill(0xa1).toString('hex') });
  cases.push(unreadable('JSON identifier naming a payment hash', MAC, jsonId, `${Buffer.byteLength(jsonId)} bytes`));
  cases.push(unreadable('opaque UUID identifier', MAC, '6f1c2a7e-3b9d-4c1e-9a55-2f0d8e4b7c61', '36 bytes'));

  return {
    description: 'L402 macaroon identifier layouts and the payment hash each binds to. GENERATED by ' +
      'tests/interop/l402/mint_lsat_vectors.mjs with lsat-js 2.0.6, macaroon 3.0.4 and bolt11 1.4.1; do not edit.',
    layouts: {
      binary: '66 bytes: uint16 BE version 0 | payment_hash (32) | token_id (32) (Aperture l402/identifier.go)',
      hex: 'the same 66 bytes as 132 hex characters (lsat-js Identifier.toString(), boltwall)',
    },
    root_key_hex: ROOT_KEY.toString('hex'),
    expect_fields: 'binding: bound (layout, payment_hash_hex) | unreadable (why: a phrase the error message ' +
      'contains); lsat_js_reads: what lsat-js Lsat.fromMacaroon reads, for contrast',
    cases,
  };
}

const text = JSON.stringify(build(), null, 1) + '\n';
if (process.argv.includes('--check')) {
  const committed = readFileSync(outPath, 'utf8');
  if (committed !== text) {
    const a = committed.split('\n');
    const b = text.split('\n');
    let i = 0;
    while (i < a.length && a[i] === b[i]) ++i;
    console.error(`l402-identifiers.json differs from what lsat-js mints now, first at line ${i + 1}:`);
    console.error(`  committed: ${(a[i] ?? '<end>').slice(0, 200)}`);
    console.error(`  minted:    ${(b[i] ?? '<end>').slice(0, 200)}`);
    process.exit(1);
  }
  console.log(`l402-identifiers.json matches lsat-js output (${build().cases.length} cases)`);
} else {
  writeFileSync(outPath, text);
  console.log(`wrote ${outPath}`);
}
