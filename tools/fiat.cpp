// Amounts in the owner's currency next to sats (decode_invoice, resolve_lightning_address, budget status): the
// price source's last fresh prices. Shared by the tools; no fetching here (the source refreshes in the background).
#include "price/price.h"
#include "tools.h"

namespace sw::tools {

spend::Prices display_prices(const Engine& engine) {
  if (!engine.prices) return {};
  std::vector<std::string> currencies;
  if (engine.config) currencies = engine.config->price_currencies;
  if (engine.ledger)
    for (const auto& c : engine.ledger->fiat_currencies()) currencies.push_back(c);
  return engine.prices->fresh(currencies);
}

json fiat_equivalent(uint64_t msat, const spend::Prices& prices) {
  if (prices.empty()) return nullptr;
  json j = json::object();
  for (const auto& [cur, p] : prices) j[cur] = spend::fiat_amount_json(spend::msat_to_fiat_ceil(msat, p.micros_per_btc));
  return j;
}

}  // namespace sw::tools
