// A fake Lightning network for interop tests: a payee node that signs real BOLT11 invoices with the
// third-party `bolt11` package and remembers their preimages, so a wallet can "pay" only invoices whose
// preimage it can actually produce. No network I/O.
import { createHash, randomBytes } from 'node:crypto';
import bolt11 from 'bolt11';

export const NETWORKS = {
  mainnet: { bech32: 'bc', pubKeyHash: 0x00, scriptHash: 0x05, validWitnessVersions: [0, 1] },
  testnet: { bech32: 'tb', pubKeyHash: 0x6f, scriptHash: 0xc4, validWitnessVersions: [0, 1] },
  signet: { bech32: 'tbs', pubKeyHash: 0x6f, scriptHash: 0xc4, validWitnessVersions: [0, 1] },
  regtest: { bech32: 'bcrt', pubKeyHash: 0x6f, scriptHash: 0xc4, validWitnessVersions: [0, 1] },
};

export const sha256hex = (buf) => createHash('sha256').update(buf).digest('hex');

export class FakeLightning {
  constructor({ network = 'regtest', nodeKey = randomBytes(32).toString('hex') } = {}) {
    this.network = network;
    this.nodeKey = nodeKey;
    this.invoices = new Map(); // payment_hash → { invoice, preimage, amountMsat, paid, createdAt, expiresAt, description }
  }

  // Returns { invoice, paymentHash, preimage }. amountMsat may be undefined for an amountless invoice.
  // descriptionHash (hex): an `h` field instead of `d` (LNURL-pay invoices commit to the service's metadata).
  makeInvoice({ amountMsat, description = 'satwarden interop', descriptionHash, expirySec = 3600, timestamp, network } = {}) {
    const preimage = randomBytes(32);
    const paymentHash = sha256hex(preimage);
    const ts = timestamp ?? Math.floor(Date.now() / 1000);
    const net = network ?? this.network;
    const req = {
      network: NETWORKS[net],
      timestamp: ts,
      tags: [
        { tagName: 'payment_hash', data: paymentHash },
        { tagName: 'payment_secret', data: randomBytes(32).toString('hex') },
        descriptionHash ? { tagName: 'purpose_commit_hash', data: descriptionHash } : { tagName: 'description', data: description },
        { tagName: 'expire_time', data: expirySec },
      ],
    };
    if (amountMsat !== undefined) req.millisatoshis = String(amountMsat);
    const invoice = bolt11.sign(bolt11.encode(req), this.nodeKey).paymentRequest;
    this.invoices.set(paymentHash, {
      invoice, preimage: preimage.toString('hex'), amountMsat, paid: false, createdAt: ts,
      expiresAt: ts + expirySec, description,
    });
    return { invoice, paymentHash, preimage: preimage.toString('hex') };
  }

  decode(invoice) {
    const d = bolt11.decode(invoice);
    const tag = (n) => d.tags.find((t) => t.tagName === n)?.data;
    return {
      paymentHash: tag('payment_hash'),
      amountMsat: d.millisatoshis !== null && d.millisatoshis !== undefined ? Number(d.millisatoshis) : undefined,
      expiresAt: d.timeExpireDate,
      description: tag('description'),
    };
  }

  lookup(paymentHash) {
    return this.invoices.get(paymentHash);
  }
}
