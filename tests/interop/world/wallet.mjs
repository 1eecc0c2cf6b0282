// NWC wallet services for interop tests, built on independent implementations:
//  - startAlbyWallet: @getalby/sdk's NWCWalletService (answers NIP-44 or NIP-04, whichever the request names);
//    its info event can be replaced by our own to model a NIP-44-only wallet.
//  - startNip04Wallet: a NIP-04-only wallet written on nostr-tools (no `encryption` tag in its info event;
//    refuses NIP-44 requests with UNSUPPORTED_ENCRYPTION, as NIP-47 says).
// Both pay only invoices the FakeLightning payee knows the preimage of. `wallet.behaviour` can be changed
// between calls to inject faults: { delayMs: {method: ms}, error: {method: {code, message}},
// preimage: 'wrong'|'short'|'nonhex'|'long48', duplicateReplies: n, keysendOwnPreimage: bool,
// hold: {method: true} }. `hold` parks every request of that method, unanswered and unexecuted, until
// `ledger.release()`: then each is executed (paid, for pay_invoice) and answered — however late, whatever its
// NIP-47 `expiration` (a wallet slower than the client's timeout that does not honour expiration). Until then
// lookup_invoice answers NOT_FOUND for its payment hash, as a wallet with no record of it yet would.
// `ledger.payRequests` lists every pay_invoice request received ({paymentHash, at}), paid, held or refused.
// With `notifications: true` a wallet also announces and publishes NIP-47 payment notifications (the SDK's
// service sends none, so they are published with nostr-tools): kind 23197 (NIP-44) and/or 23196 (NIP-04).
import WebSocket from 'ws';
import { randomBytes, createHash } from 'node:crypto';

globalThis.WebSocket ??= WebSocket;
const { finalizeEvent, getPublicKey, verifyEvent } = await import('nostr-tools/pure');
const nip04 = await import('nostr-tools/nip04');
const nip44 = await import('nostr-tools/nip44');
const { SimplePool, useWebSocketImplementation } = await import('nostr-tools/pool');
useWebSocketImplementation(WebSocket);
const alby = await import('@getalby/sdk');

const hexToBytes = (h) => Uint8Array.from(Buffer.from(h, 'hex'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function badPreimage(kind, good) {
  if (kind === 'wrong') return randomBytes(32).toString('hex');
  if (kind === 'short') return good.slice(0, 40);
  if (kind === 'nonhex') return 'zz' + good.slice(2);
  if (kind === 'long48') return good + randomBytes(16).toString('hex');
  return good;
}

// The wallet's business logic (`methods` lists what it offers; get_budget only when listed), shared by both service implementations. Amounts in msat.
export class FakeWalletLedger {
  constructor({ lightning, balanceMsat = 100_000_000, network = 'regtest' }) {
    this.lightning = lightning;
    this.balanceMsat = balanceMsat;
    this.network = network;
    this.behaviour = {};
    this.payments = new Map(); // payment_hash → count of successful pays
    this.txs = [];
    this.requests = []; // [{method, encryption}]
    this.keysends = []; // [{pubkey, amount, preimage, tlv_records}] as received
    this.listeners = []; // (type, tx) => void, for notifications
    this.methods = METHODS; // what get_info and the info event announce
    this.budget = {}; // get_budget reply (msat); {} = no budget, as NIP-47 says
    this.payRequests = []; // [{paymentHash, at}]: every pay_invoice request received
    this.held = []; // resolvers of requests parked by behaviour.hold
  }
  // Executes and answers every request parked by behaviour.hold (and stops holding new ones only if the
  // caller clears behaviour.hold). Returns how many were released.
  release() {
    const held = this.held;
    this.held = [];
    for (const go of held) go();
    return held.length;
  }
  payRequestsFor(hash) { return this.payRequests.filter((r) => r.paymentHash === hash).length; }
  emit(type, tx) { for (const l of this.listeners) l(type, tx); }
  payCount(hash) { return this.payments.get(hash) ?? 0; }
  totalPaidMsat() { return this.txs.filter((t) => t.type === 'outgoing').reduce((a, t) => a + t.amount + t.fees_paid, 0); }

  async handle(method, params) {
    if (method === 'pay_invoice') {
      let paymentHash;
      try { paymentHash = this.lightning.decode(params.invoice).paymentHash; } catch { paymentHash = undefined; }
      this.payRequests.push({ paymentHash, at: Date.now() });
    }
    if (this.behaviour.hold?.[method]) await new Promise((go) => this.held.push(go));
    const delay = this.behaviour.delayMs?.[method];
    if (delay) await sleep(delay);
    const err = this.behaviour.error?.[method];
    if (err) return { result: undefined, error: err };
    switch (method) {
      case 'get_info':
        return { result: { alias: 'fake-wallet', color: '#3399ff', pubkey: '02'.padEnd(66, '1'), network: this.network,
          block_height: 800000, block_hash: '00'.repeat(32),
          methods: this.methods, notifications: this.notificationTypes ?? [] }, error: undefined };
      case 'get_budget':
        if (!this.methods.includes('get_budget')) return { result: undefined, error: { code: 'NOT_IMPLEMENTED', message: 'get_budget is not implemented' } };
        return { result: this.budget, error: undefined };
      case 'get_balance':
        return { result: { balance: this.balanceMsat }, error: undefined };
      case 'pay_invoice': {
        const d = this.lightning.decode(params.invoice);
        const inv = this.lightning.lookup(d.paymentHash);
        const amount = d.amountMsat ?? params.amount;
        if (!inv) return { result: undefined, error: { code: 'PAYMENT_FAILED', message: 'no route to the payee' } };
        if (inv.paid) return { result: undefined, error: { code: 'PAYMENT_FAILED', message: 'invoice already paid' } };
        if (amount > this.balanceMsat) return { result: undefined, error: { code: 'INSUFFICIENT_BALANCE', message: 'not enough funds' } };
        const fee = Math.ceil(amount / 1000); // 0.1 % routing fee, in msat
        this.balanceMsat -= amount + fee;
        inv.paid = true;
        this.payments.set(d.paymentHash, this.payCount(d.paymentHash) + 1);
        const now = Math.floor(Date.now() / 1000);
        this.txs.unshift({ type: 'outgoing', state: 'settled', invoice: params.invoice, description: inv.description,
          payment_hash: d.paymentHash, preimage: inv.preimage, amount, fees_paid: fee, created_at: now,
          settled_at: now, expires_at: inv.expiresAt });
        this.emit('payment_sent', this.txs[0]);
        return { result: { preimage: badPreimage(this.behaviour.preimage, inv.preimage), fees_paid: fee }, error: undefined };
      }
      case 'pay_keysend': {
        this.keysends.push(params);
        const amount = params.amount;
        if (!Number.isInteger(amount) || amount <= 0 || typeof params.pubkey !== 'string' || params.pubkey.length !== 66)
          return { result: undefined, error: { code: 'OTHER', message: 'bad keysend request' } };
        if (amount > this.balanceMsat) return { result: undefined, error: { code: 'INSUFFICIENT_BALANCE', message: 'not enough funds' } };
        const preimage = this.behaviour.keysendOwnPreimage || !params.preimage ? randomBytes(32).toString('hex') : params.preimage;
        const paymentHash = createHash('sha256').update(Buffer.from(preimage, 'hex')).digest('hex');
        const fee = Math.ceil(amount / 1000);
        this.balanceMsat -= amount + fee;
        this.payments.set(paymentHash, this.payCount(paymentHash) + 1);
        const now = Math.floor(Date.now() / 1000);
        this.txs.unshift({ type: 'outgoing', state: 'settled', invoice: '', description: '', payment_hash: paymentHash,
          preimage, amount, fees_paid: fee, created_at: now, settled_at: now });
        this.emit('payment_sent', this.txs[0]);
        return { result: { preimage: badPreimage(this.behaviour.preimage, preimage), fees_paid: fee }, error: undefined };
      }
      case 'make_invoice': {
        const { invoice, paymentHash } = this.lightning.makeInvoice({ amountMsat: params.amount,
          description: params.description ?? '', expirySec: params.expiry ?? 3600 });
        const now = Math.floor(Date.now() / 1000);
        const tx = { type: 'incoming', state: 'pending', invoice, description: params.description ?? '',
          payment_hash: paymentHash, amount: params.amount, fees_paid: 0, created_at: now,
          expires_at: now + (params.expiry ?? 3600) };
        this.txs.unshift(tx);
        return { result: tx, error: undefined };
      }
      case 'lookup_invoice': {
        const hash = params.payment_hash ?? (params.invoice ? this.lightning.decode(params.invoice).paymentHash : undefined);
        const tx = this.txs.find((t) => t.payment_hash === hash);
        if (!tx) return { result: undefined, error: { code: 'NOT_FOUND', message: 'invoice not found' } };
        return { result: tx, error: undefined };
      }
      case 'list_transactions': {
        let list = this.txs.filter((t) => (!params.type || t.type === params.type) &&
          (params.from === undefined || t.created_at >= params.from) && (params.until === undefined || t.created_at <= params.until));
        list = list.slice(params.offset ?? 0, (params.offset ?? 0) + (params.limit ?? 20));
        return { result: { transactions: list }, error: undefined };
      }
      default:
        return { result: undefined, error: { code: 'NOT_IMPLEMENTED', message: `${method} is not implemented` } };
    }
  }
}

const METHODS = ['pay_invoice', 'pay_keysend', 'get_balance', 'get_info', 'make_invoice', 'lookup_invoice', 'list_transactions'];
const NOTIFICATION_TYPES = ['payment_received', 'payment_sent'];

// Publishes a 13194 info event with exactly the given encryption tag (undefined → no tag), and the
// notifications capability + tag when asked.
async function publishInfo(pool, relayUrls, walletSecret, encryption, notifications = false, methods = METHODS) {
  const tags = encryption === undefined ? [] : [['encryption', encryption]];
  if (notifications) tags.push(['notifications', NOTIFICATION_TYPES.join(' ')]);
  const content = [...methods, ...(notifications ? ['notifications'] : [])].join(' ');
  const ev = finalizeEvent({ kind: 13194, created_at: Math.floor(Date.now() / 1000), tags, content }, hexToBytes(walletSecret));
  await Promise.any(pool.publish(relayUrls, ev));
}

// Publishes every payment notification of `ledger` to `clientPubkey`, as NIP-47 says: kind 23197 encrypted
// with NIP-44 v2 and/or kind 23196 encrypted with NIP-04, tagged ["p", client]. `copies` > 1 repeats it.
function startNotifier({ pool, relayUrls, ledger, walletSecret, clientPubkey, kinds }) {
  const sk = hexToBytes(walletSecret);
  const ck = nip44.v2.utils.getConversationKey(sk, clientPubkey);
  ledger.notificationTypes = NOTIFICATION_TYPES;
  const listener = async (type, tx) => {
    const body = JSON.stringify({ notification_type: type, notification: tx });
    for (const kind of kinds) {
      const content = kind === 23197 ? nip44.v2.encrypt(body, ck) : nip04.encrypt(sk, clientPubkey, body);
      const ev = finalizeEvent({ kind, created_at: Math.floor(Date.now() / 1000), tags: [['p', clientPubkey]], content }, sk);
      await Promise.allSettled(pool.publish(relayUrls, ev));
    }
  };
  ledger.listeners.push(listener);
  return () => { ledger.listeners = ledger.listeners.filter((l) => l !== listener); };
}

// Publishes a notification as `ledger`'s wallet would, but signed by another key (a forgery a client must drop)
// or by the wallet itself (to replay a past payment on demand). kind: 23196 | 23197.
export async function publishNotification({ relayUrls, signerSecret, walletSecret, clientPubkey, kind, type, tx }) {
  const pool = new SimplePool();
  const sk = hexToBytes(signerSecret ?? walletSecret);
  const body = JSON.stringify({ notification_type: type, notification: tx });
  const content = kind === 23197 ? nip44.v2.encrypt(body, nip44.v2.utils.getConversationKey(sk, clientPubkey))
    : nip04.encrypt(sk, clientPubkey, body);
  const ev = finalizeEvent({ kind, created_at: Math.floor(Date.now() / 1000), tags: [['p', clientPubkey]], content }, sk);
  await Promise.allSettled(pool.publish(relayUrls, ev));
  pool.close(relayUrls);
}

// @getalby/sdk wallet service. infoEncryption: 'nip44_v2' | 'nip04 nip44_v2' (Alby's own) | undefined (no tag).
export async function startAlbyWallet({ relayUrls, ledger, walletSecret = randomBytes(32).toString('hex'),
  clientPubkey, infoEncryption = 'alby', notifications = false }) {
  const svc = new alby.NWCWalletService({ relayUrls });
  const pool = new SimplePool();
  if (infoEncryption === 'alby' && !notifications) {
    await svc.publishWalletServiceInfoEvent(walletSecret, METHODS, []);
  } else {
    await publishInfo(pool, relayUrls, walletSecret, infoEncryption === 'alby' ? 'nip44_v2 nip04' : infoEncryption, notifications);
  }
  const stopNotes = notifications ? startNotifier({ pool, relayUrls, ledger, walletSecret, clientPubkey,
    kinds: infoEncryption === 'nip44_v2' ? [23197] : [23197, 23196] }) : () => {};
  const keypair = new alby.NWCWalletServiceKeyPair(walletSecret, clientPubkey);
  const call = (m) => async (p) => { ledger.requests.push({ method: m }); return ledger.handle(m, p ?? {}); };
  const unsub = await svc.subscribe(keypair, {
    getInfo: call('get_info'), getBalance: call('get_balance'), payInvoice: call('pay_invoice'),
    makeInvoice: call('make_invoice'), lookupInvoice: call('lookup_invoice'), listTransactions: call('list_transactions'),
    payKeysend: call('pay_keysend'),
  });
  return {
    walletPubkey: getPublicKey(hexToBytes(walletSecret)), walletSecret,
    close() { stopNotes(); unsub(); svc.close(); pool.close(relayUrls); },
  };
}

// A NIP-04-only wallet service on nostr-tools. Answers every request it can decrypt; NIP-44 requests get
// UNSUPPORTED_ENCRYPTION (encrypted with NIP-04, the only scheme it has).
export async function startNip04Wallet({ relayUrls, ledger, walletSecret = randomBytes(32).toString('hex'), clientPubkey,
  notifications = false, methods = METHODS }) {
  const sk = hexToBytes(walletSecret);
  const walletPubkey = getPublicKey(sk);
  const pool = new SimplePool();
  ledger.methods = methods;
  await publishInfo(pool, relayUrls, walletSecret, undefined, notifications, methods);
  const stopNotes = notifications ? startNotifier({ pool, relayUrls, ledger, walletSecret, clientPubkey, kinds: [23196] }) : () => {};
  const seen = new Set();
  const sub = pool.subscribeMany(relayUrls, { kinds: [23194], '#p': [walletPubkey], since: Math.floor(Date.now() / 1000) - 5 }, {
    onevent: async (ev) => {
      if (seen.has(ev.id) || !verifyEvent(ev) || ev.pubkey !== clientPubkey) return;
      seen.add(ev.id);
      const enc = ev.tags.find((t) => t[0] === 'encryption')?.[1] ?? 'nip04';
      let reply;
      if (enc !== 'nip04') {
        ledger.requests.push({ method: 'unknown', encryption: enc });
        reply = { result_type: 'unknown', error: { code: 'UNSUPPORTED_ENCRYPTION', message: 'this wallet only speaks nip04' }, result: null };
      } else {
        let req;
        try { req = JSON.parse(nip04.decrypt(sk, ev.pubkey, ev.content)); } catch { return; }
        ledger.requests.push({ method: req.method, encryption: enc });
        const { result, error } = await ledger.handle(req.method, req.params ?? {});
        reply = { result_type: req.method, error: error ?? null, result: result ?? null };
      }
      const out = finalizeEvent({ kind: 23195, created_at: Math.floor(Date.now() / 1000),
        tags: [['p', ev.pubkey], ['e', ev.id]], content: nip04.encrypt(sk, ev.pubkey, JSON.stringify(reply)) }, sk);
      const copies = 1 + (ledger.behaviour.duplicateReplies ?? 0);
      for (let i = 0; i < copies; i++) await Promise.allSettled(pool.publish(relayUrls, out));
    },
  });
  return { walletPubkey, walletSecret, close() { stopNotes(); sub.close(); pool.close(relayUrls); } };
}

// A third party that answers every request to `walletPubkey` first, with a reply signed by ITS OWN key
// (correct e/p tags, valid signature): a client must ignore it.
export async function startImpostor({ relayUrls, walletPubkey, clientSecretForEncryption }) {
  const sk = randomBytes(32);
  const pool = new SimplePool();
  const sub = pool.subscribeMany(relayUrls, { kinds: [23194], '#p': [walletPubkey], since: Math.floor(Date.now() / 1000) - 5 }, {
    onevent: async (ev) => {
      const ck = nip44.v2.utils.getConversationKey(sk, ev.pubkey);
      const reply = { result_type: 'pay_invoice', error: null, result: { preimage: '00'.repeat(32), balance: 1 } };
      const out = finalizeEvent({ kind: 23195, created_at: Math.floor(Date.now() / 1000),
        tags: [['p', ev.pubkey], ['e', ev.id]], content: nip44.v2.encrypt(JSON.stringify(reply), ck) }, sk);
      await Promise.allSettled(pool.publish(relayUrls, out));
    },
  });
  return { close() { sub.close(); pool.close(relayUrls); } };
}

export function nwcUrl({ walletPubkey, relayUrls, clientSecret }) {
  const relays = relayUrls.map((r) => `relay=${encodeURIComponent(r)}`).join('&');
  return `nostr+walletconnect://${walletPubkey}?${relays}&secret=${clientSecret}`;
}

export { getPublicKey, hexToBytes };
