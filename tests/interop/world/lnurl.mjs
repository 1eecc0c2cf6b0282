// LNURL-pay services for the interop world, on 127.0.0.1:
//  - startLnurlService: the `lnurl` package's own server (an independent LNURL-pay implementation) with a backend
//    that asks the world's FakeLightning for invoices (world/lnurl-backend.cjs), plus a Lightning address
//    (LUD-16 /.well-known/lnurlp/<name>) that serves that server's pay request;
//  - startHostileLnurl: a hand-written service whose /.well-known/lnurlp/<variant> misbehaves in one way each
//    (see VARIANTS), and a well-behaved "aes" variant whose success action is encrypted with node:crypto.
import http from 'node:http';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const lnurl = require('lnurl');
const BACKEND = join(dirname(fileURLToPath(import.meta.url)), 'lnurl-backend.cjs');

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}
const sha256hex = (s) => createHash('sha256').update(Buffer.from(s, 'utf8')).digest('hex');
const json = (res, status, body) => { res.writeHead(status, { 'Content-Type': 'application/json' }); res.end(JSON.stringify(body)); };

export async function startLnurlService({ lightning, name = 'alice', metadata = '[["text/plain","Tips for alice"],["text/identifier","alice@example"]]',
  commentAllowed = 100, minSendable = 1000, maxSendable = 1_000_000 } = {}) {
  const world = { lightning, invoices: [] };
  globalThis.__swLnurlWorld = world;
  const probe = http.createServer();
  const port = await listen(probe);
  await new Promise((r) => probe.close(r));
  const server = lnurl.createServer({
    host: '127.0.0.1', port, url: `http://127.0.0.1:${port}`, endpoint: '/lnurl',
    lightning: { backend: { path: BACKEND }, config: {} },
    store: { backend: 'memory' },
    payRequest: { commentAllowed, metadata },
  });
  await server.onReady();
  // What the service saw of each payment (the package's own event): the amount and the payer's comment.
  world.actions = [];
  server.on('payRequest:action:processed', ({ params }) => world.actions.push({ amount: Number(params.amount), comment: params.comment }));
  const link = (successAction) => server.generateNewUrl('payRequest',
    { minSendable, maxSendable, metadata, commentAllowed, ...(successAction ? { successAction: JSON.stringify(successAction) } : {}) },
    { uses: 0 });
  const plain = await link({ tag: 'message', message: 'Thank you for the tip!' });
  const withUrl = await link({ tag: 'url', description: 'Your receipt', url: 'https://receipts.example/r/42' });
  // The Lightning address: its well-known document is the lnurl server's own pay request.
  const addr = http.createServer(async (req, res) => {
    if (req.url !== `/.well-known/lnurlp/${name}`) return json(res, 404, { status: 'ERROR', reason: 'no such user' });
    const r = await fetch(plain.url);
    json(res, r.status, await r.json());
  });
  const addrPort = await listen(addr);
  return {
    world, invoices: world.invoices, actions: () => world.actions, metadata,
    link: plain, urlLink: withUrl,
    address: `${name}@127.0.0.1:${addrPort}`,
    close: async () => { await server.close().catch(() => {}); await new Promise((r) => addr.close(r)); },
  };
}

// Each variant misbehaves in one way; "aes" behaves and encrypts its success action with the preimage.
export const VARIANTS = ['hashmismatch', 'amountmismatch', 'range', 'httpcallback', 'privatecallback', 'redirect',
  'error', 'cberror', 'huge', 'aes', 'notpay'];

export async function startHostileLnurl({ lightning }) {
  const metadata = '[["text/plain","hostile test service"]]';
  const hits = [];
  let port = 0;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, `http://127.0.0.1:${port}`);
    hits.push(url.pathname);
    const wk = url.pathname.match(/^\/\.well-known\/lnurlp\/([a-z]+)$/);
    if (wk) {
      const v = wk[1];
      const base = { tag: 'payRequest', callback: `http://127.0.0.1:${port}/cb/${v}`, minSendable: 1000, maxSendable: 10_000_000, metadata };
      if (v === 'range') return json(res, 200, { ...base, minSendable: 1000, maxSendable: 5000 });
      if (v === 'httpcallback') return json(res, 200, { ...base, callback: 'http://lnurl.example.com/cb' });
      if (v === 'privatecallback') return json(res, 200, { ...base, callback: 'https://10.11.12.13/cb' });
      if (v === 'redirect') { res.writeHead(302, { Location: 'http://10.0.0.1/.well-known/lnurlp/x' }); return res.end(); }
      if (v === 'error') return json(res, 200, { status: 'ERROR', reason: 'this user does not accept payments' });
      if (v === 'huge') return json(res, 200, { ...base, metadata: JSON.stringify([['text/plain', 'x'.repeat(100_000)]]) });
      if (v === 'notpay') return json(res, 200, { tag: 'withdrawRequest', callback: base.callback, k1: 'ab', maxWithdrawable: 1000, minWithdrawable: 1000, defaultDescription: 'x' });
      return json(res, 200, base);
    }
    const cb = url.pathname.match(/^\/cb\/([a-z]+)$/);
    if (cb) {
      const v = cb[1];
      const amount = Number(url.searchParams.get('amount'));
      if (v === 'cberror') return json(res, 200, { status: 'ERROR', reason: 'no route to the recipient' });
      if (v === 'hashmismatch') {
        const inv = lightning.makeInvoice({ amountMsat: amount, descriptionHash: sha256hex(metadata + ' ') });
        return json(res, 200, { pr: inv.invoice, routes: [] });
      }
      if (v === 'amountmismatch') {
        const inv = lightning.makeInvoice({ amountMsat: amount + 1000, descriptionHash: sha256hex(metadata) });
        return json(res, 200, { pr: inv.invoice, routes: [] });
      }
      const inv = lightning.makeInvoice({ amountMsat: amount, descriptionHash: sha256hex(metadata) });
      if (v === 'aes') {
        // LUD-10 with node:crypto: AES-256-CBC, key = the preimage, PKCS#7, base64.
        const iv = randomBytes(16);
        const c = createCipheriv('aes-256-cbc', Buffer.from(inv.preimage, 'hex'), iv);
        const ciphertext = Buffer.concat([c.update('Your code: 7319-BETA', 'utf8'), c.final()]).toString('base64');
        return json(res, 200, { pr: inv.invoice, routes: [], successAction: { tag: 'aes', description: 'Your voucher',
          ciphertext, iv: iv.toString('base64') } });
      }
      return json(res, 200, { pr: inv.invoice, routes: [] });
    }
    json(res, 404, { status: 'ERROR', reason: 'not found' });
  });
  port = await listen(server);
  return {
    port, hits,
    address: (v) => `${v}@127.0.0.1:${port}`,
    close: () => new Promise((r) => server.close(r)),
  };
}
