// A boltwall-like paywall for interop tests, built on lsat-js 2.0.6 (the library boltwall is built on) and the
// `macaroon` package it uses; FakeLightning signs the invoices. Serves on 127.0.0.1 only.
// Like boltwall, it mints each macaroon with an lsat-js Identifier written as 132 hex characters (the "hex"
// identifier layout), issues the challenge with Lsat#toChallenge() (`LSAT macaroon="…", invoice="…"`) and
// accepts a credential only the way boltwall does: the Authorization header must contain "LSAT", Lsat.fromToken()
// must read it, the preimage must hash to the payment hash lsat-js reads from the identifier, the macaroon's
// signature must verify with the root key, and its `services` caveat must name the route.
// Endpoints (price in sats):
//   /weather  (4)   the lsat-js challenge, macaroon bound to the invoice
//   /forecast (6)   the same, another service
//   /crossed  (4)   an lsat-js macaroon bound to this route's invoice, offered with an invoice /forecast issued
//                   (another route's invoice: the macaroon is not bound to it)
//   /opaque   (2)   a macaroon whose identifier is an opaque id (a UUID: no payment hash can be read from it);
//                   the server remembers which payment hash each id stands for
// stats: { challenges: {path: n}, accepted: [{path, authorization}], rejected: {path: n} }.
import http from 'node:http';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import lsatjs from 'lsat-js';
import macaroon from 'macaroon';

const { Identifier, Lsat, Caveat, getRawMacaroon } = lsatjs;
const sha256hex = (b) => createHash('sha256').update(b).digest('hex');

export async function startLsatServer({ lightning, host = '127.0.0.1' }) {
  const rootKey = randomBytes(32);
  const stats = { challenges: {}, accepted: [], rejected: {} };
  const opaque = new Map(); // opaque identifier → payment hash
  const bump = (o, k) => { o[k] = (o[k] ?? 0) + 1; };
  const prices = { '/weather': 4, '/forecast': 6, '/crossed': 4, '/opaque': 2 };

  // boltwall's createLsat: an lsat-js Identifier as hex text, version 1 macaroon, then caveats.
  function mintLsat(paymentHash, service, invoice) {
    const id = new Identifier({ paymentHash: Buffer.from(paymentHash, 'hex'), tokenId: randomBytes(32) });
    const m = macaroon.newMacaroon({ version: 1, rootKey, identifier: id.toString(), location: 'boltwall-like' });
    const lsat = Lsat.fromMacaroon(getRawMacaroon(m), invoice);
    lsat.addFirstPartyCaveat(new Caveat({ condition: 'services', value: `${service}:0` }));
    // lsat-js expiration caveats are in milliseconds since the epoch.
    lsat.addFirstPartyCaveat(new Caveat({ condition: 'expiration', value: Date.now() + 3_600_000 }));
    return lsat;
  }

  function signatureAndService(rawMac, service) {
    try {
      macaroon.importMacaroon(rawMac).verify(rootKey, (caveat) => {
        const [k, v] = caveat.split('=');
        if (k === 'services') return v.split(',').some((s) => s.split(':')[0] === service) ? null : 'service not covered';
        if (k === 'expiration') return Number(v) > Date.now() ? null : 'expired';
        return 'unknown caveat';
      });
      return true;
    } catch {
      return false;
    }
  }

  function accepts(authz, path) {
    if (!authz || !authz.includes('LSAT')) return false;  // boltwall: no LSAT in the header → a new challenge
    const service = path.slice(1);
    if (path === '/opaque') {
      const m = /^LSAT ([^:\s]+):([0-9a-f]{64})$/.exec(authz);
      if (!m || !signatureAndService(m[1], service)) return false;
      const id = Buffer.from(macaroon.importMacaroon(m[1]).identifier).toString('utf8');
      return opaque.get(id) === sha256hex(Buffer.from(m[2], 'hex'));
    }
    let lsat;
    try { lsat = Lsat.fromToken(authz); } catch { return false; }  // also checks the preimage against the id
    if (lsat.isExpired() || !lsat.isSatisfied()) return false;
    return signatureAndService(lsat.baseMacaroon, service);
  }

  const server = http.createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const authz = req.headers.authorization;
    const sats = prices[path];
    if (sats === undefined) { res.writeHead(404); return res.end('not found'); }
    if (accepts(authz, path)) {
      stats.accepted.push({ path, authorization: authz });
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ resource: path, paid: true }));
    }
    if (authz) bump(stats.rejected, path);
    bump(stats.challenges, path);
    const inv = lightning.makeInvoice({ amountMsat: sats * 1000, description: path });
    let header;
    if (path === '/crossed') {
      const other = lightning.makeInvoice({ amountMsat: prices['/forecast'] * 1000, description: '/forecast' });
      header = `LSAT macaroon="${mintLsat(inv.paymentHash, 'crossed', inv.invoice).baseMacaroon}", invoice="${other.invoice}"`;
    } else if (path === '/opaque') {
      const id = randomUUID();
      opaque.set(id, inv.paymentHash);
      const m = macaroon.newMacaroon({ version: 1, rootKey, identifier: id, location: 'boltwall-like' });
      m.addFirstPartyCaveat('services=opaque:0');
      header = `LSAT macaroon="${getRawMacaroon(m)}", invoice="${inv.invoice}"`;
    } else {
      header = mintLsat(inv.paymentHash, path.slice(1), inv.invoice).toChallenge();
    }
    res.writeHead(402, { 'www-authenticate': header, 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'payment required' }));
  });
  await new Promise((r) => server.listen(0, host, r));
  const { port } = server.address();
  return { url: `http://${host}:${port}`, stats, close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }) };
}
