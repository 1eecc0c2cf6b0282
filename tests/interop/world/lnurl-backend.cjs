// A lightning-backends backend for the `lnurl` package's server (tests/interop/world/lnurl.mjs): invoices come from
// the interop world's FakeLightning (the payee that knows the preimages), handed over through a global because
// the package instantiates backends from a path and JSON-clones their options.
const { LightningBackend } = require('lightning-backends');

class WorldBackend extends LightningBackend {
  static name = 'satwarden-world';

  constructor(options) {
    super(WorldBackend.name, options || {}, { defaultOptions: {}, requiredOptions: [] });
  }

  getNodeUri() { return Promise.resolve('020000000000000000000000000000000000000000000000000000000000000001@127.0.0.1:9735'); }
  openChannel() { return Promise.reject(new Error('not in this world')); }
  payInvoice() { return Promise.reject(new Error('not in this world')); }
  addInvoice(amount, extra) {
    const world = globalThis.__swLnurlWorld;
    const { descriptionHash } = extra || {};
    const made = world.lightning.makeInvoice({ amountMsat: amount, descriptionHash });
    world.invoices.push({ amount, descriptionHash, ...made });
    return Promise.resolve({ id: null, invoice: made.invoice });
  }
}

module.exports = WorldBackend;
