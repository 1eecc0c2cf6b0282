// A paid HTTP API for interop tests, built on third-party libraries: `macaroon` (npm) mints and verifies V2
// macaroons, FakeLightning (the `bolt11` package) signs invoices. Serves on 127.0.0.1 only.
// Endpoints (price in sats):
//   /free                     200, no payment
//   /l402          (10)       current form: L402 version="0", token="…", invoice="…"
//   /aperture      (5)        Aperture's two lines: LSAT macaroon=…, invoice=…  +  L402 macaroon=…, invoice=…
//   /mpp           (7)        MPP "Payment" challenge, Lightning charge (draft-httpauth-payment / lightning-charge)
//   /cheap (1)  /pricey (5000) two prices
//   /malformed                a challenge that cannot be parsed
//   /mismatch      (3)        macaroon bound to a different payment hash than the invoice's
//   /expired       (3)        invoice already expired
//   /always402     (2)        answers 402 even to a valid credential
//   /redirect                 302 → /l402
//   /dup-macaroon  (3)        one L402 challenge with two macaroon= parameters (?bound=first|last says which of
//                             them is bound to the invoice; the other is bound to another payment hash)
//   /dup-invoice   (3)        one L402 challenge with two invoice= parameters (?bound=first|last: which invoice the
//                             macaroon is bound to; the other is a second invoice, for another payment hash)
//   /dup-token     (3)        token= and macaroon= with different values (token= bound, macaroon= not)
// stats.accepted lists every credential the API accepted: [{path, authorization}].
import http from 'node:http';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import macaroon from 'macaroon';

const sha256 = (b) => createHash('sha256').update(b).digest();
const b64url = (buf) => Buffer.from(buf).toString('base64url');

// RFC 8785 for the flat string/object values we emit (no numbers, no arrays): sorted keys, JSON strings.
function jcs(v) {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + jcs(v[k])).join(',') + '}';
}

export async function startL402Server({ lightning, host = '127.0.0.1' }) {
  const rootKey = randomBytes(32);
  const mppSecret = randomBytes(32);
  const stats = { challenges: {}, paid: {}, rejected: {}, accepted: [] };
  const mppIssued = new Map(); // id → { paymentHash, used }
  const bump = (o, k) => { o[k] = (o[k] ?? 0) + 1; };

  function mint(paymentHashHex, service) {
    const id = Buffer.concat([Buffer.from([0, 0]), Buffer.from(paymentHashHex, 'hex'), randomBytes(32)]);
    const m = macaroon.newMacaroon({ identifier: id, location: 'lsat', rootKey, version: 2 });
    m.addFirstPartyCaveat(`services=${service}:0`);
    return Buffer.from(m.exportBinary()).toString('base64');
  }

  // Like Aperture: signature chain, the `services` caveat must name this endpoint, and the preimage must hash
  // to the payment hash inside the identifier.
  function verifyL402(authz, service) {
    const m = /^(?:L402|LSAT)\s+([^:\s]+):([0-9a-f]{64})$/.exec(authz ?? '');
    if (!m) return false;
    try {
      const mac = macaroon.importMacaroon(m[1]);
      mac.verify(rootKey, (caveat) => {
        const [k, v] = caveat.split('=');
        if (k !== 'services') return null;
        return v.split(',').some((s) => s.split(':')[0] === service) ? null : 'service not covered';
      });
      const ident = Buffer.from(mac.identifier);
      return ident.length === 66 && sha256(Buffer.from(m[2], 'hex')).equals(ident.subarray(2, 34));
    } catch {
      return false;
    }
  }

  function mppChallenge(sats, inv) {
    const request = b64url(jcs({ amount: String(sats), currency: 'sat', description: 'interop resource',
      methodDetails: { invoice: inv.invoice, network: lightning.network, paymentHash: inv.paymentHash } }));
    const realm = 'interop.local';
    const expires = new Date(Date.now() + 600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const id = b64url(createHmac('sha256', mppSecret).update([realm, 'lightning', 'charge', request, expires, '', ''].join('|')).digest());
    mppIssued.set(id, { paymentHash: inv.paymentHash, used: false });
    return `Payment id="${id}", realm="${realm}", method="lightning", intent="charge", request="${request}", expires="${expires}"`;
  }

  function verifyMpp(authz) {
    const m = /^Payment\s+([A-Za-z0-9_-]+)$/.exec(authz ?? '');
    if (!m) return false;
    let cred;
    try { cred = JSON.parse(Buffer.from(m[1], 'base64url').toString('utf8')); } catch { return false; }
    const issued = mppIssued.get(cred?.challenge?.id);
    const pre = cred?.payload?.preimage;
    if (!issued || issued.used || typeof pre !== 'string' || !/^[0-9a-f]{64}$/.test(pre)) return false;
    if (sha256(Buffer.from(pre, 'hex')).toString('hex') !== issued.paymentHash) return false;
    issued.used = true; // single use
    return { reference: issued.paymentHash, challengeId: cred.challenge.id };
  }

  const prices = { '/l402': 10, '/aperture': 5, '/mpp': 7, '/cheap': 1, '/pricey': 5000, '/mismatch': 3, '/expired': 3, '/always402': 2,
    '/dup-macaroon': 3, '/dup-invoice': 3, '/dup-token': 3 };

  const server = http.createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const authz = req.headers.authorization;
    const ok = (body, extra = {}) => { bump(stats.paid, path); if (authz) stats.accepted.push({ path, authorization: authz }); res.writeHead(200, { 'content-type': 'application/json', ...extra }); res.end(JSON.stringify(body)); };
    const challenge = (headers) => {
      bump(stats.challenges, path);
      if (authz) bump(stats.rejected, path);
      res.writeHead(402, { 'www-authenticate': headers, 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify({ error: 'payment required' }));
    };
    if (path === '/free') return ok({ free: true });
    if (path === '/redirect') { res.writeHead(302, { location: '/l402' }); return res.end(); }
    if (path === '/malformed') return challenge('L402 macaroon=, invoice');
    // /item/<n>: as many distinct 10-sat resources as a test needs (each its own L402 service, so its own purchase).
    const sats = prices[path] ?? (/^\/item\/\d{1,6}$/.test(path) ? 10 : undefined);
    if (sats === undefined) { res.writeHead(404); return res.end('not found'); }

    if (path === '/mpp') {
      const r = verifyMpp(authz);
      if (r) return ok({ resource: path, paid: true }, { 'payment-receipt': b64url(JSON.stringify({ status: 'success', method: 'lightning', timestamp: new Date().toISOString(), ...r })) });
      const inv = lightning.makeInvoice({ amountMsat: sats * 1000, description: path });
      return challenge(mppChallenge(sats, inv));
    }
    if (path !== '/always402' && verifyL402(authz, path.slice(1))) return ok({ resource: path, paid: true });

    const expired = path === '/expired';
    const inv = lightning.makeInvoice({ amountMsat: sats * 1000, description: path,
      timestamp: expired ? Math.floor(Date.now() / 1000) - 7200 : undefined, expirySec: expired ? 600 : 3600 });
    const macHash = path === '/mismatch' ? randomBytes(32).toString('hex') : inv.paymentHash;
    const mac = mint(macHash, path.slice(1));
    if (path.startsWith('/dup-')) {
      const boundFirst = new URL(req.url, 'http://x').searchParams.get('bound') !== 'last';
      const order = (bound, other) => (boundFirst ? [bound, other] : [other, bound]);
      if (path === '/dup-macaroon') {
        const [a, b] = order(mac, mint(randomBytes(32).toString('hex'), path.slice(1)));
        return challenge(`L402 macaroon="${a}", macaroon="${b}", invoice="${inv.invoice}"`);
      }
      if (path === '/dup-invoice') {
        const other = lightning.makeInvoice({ amountMsat: sats * 1000, description: path });
        const [a, b] = order(inv.invoice, other.invoice);
        return challenge(`L402 macaroon="${mac}", invoice="${a}", invoice="${b}"`);
      }
      const other = mint(randomBytes(32).toString('hex'), path.slice(1));
      return challenge(`L402 version="0", token="${mac}", macaroon="${other}", invoice="${inv.invoice}"`);
    }
    if (path === '/aperture')
      return challenge([`LSAT macaroon="${mac}", invoice="${inv.invoice}"`, `L402 macaroon="${mac}", invoice="${inv.invoice}"`]);
    if (path === '/l402') return challenge(`L402 version="0", token="${mac}", invoice="${inv.invoice}"`);
    return challenge(`L402 macaroon="${mac}", invoice="${inv.invoice}"`);
  });
  await new Promise((r) => server.listen(0, host, r));
  const { port } = server.address();
  return { url: `http://${host}:${port}`, stats, close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }) };
}
