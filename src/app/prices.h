// The price source of a running server (src/price) wired to the payer: which currencies it quotes (the fiat caps'
// and price_currencies), its background refresh, and the start-up checks (a fiat cap needs a price source).
#pragma once

#include <memory>

#include "common/common.h"
#include "config/config.h"
#include "pay/pay.h"
#include "price/price.h"
#include "spend/spend.h"

namespace sw::app {
// Starts the Source (its refresh thread) and hands the payer its quotes; null (no error) without price_source.
// The payer keeps a pointer to it: the caller keeps the Source alive while anything can still pay (destroying it
// joins its thread). Errors: a fiat cap (policy or envelope) with no price source, a bad price_source/price_path.
Result<std::shared_ptr<price::Source>> start_prices(const config::Config& cfg, spend::Ledger& ledger, pay::Payer& payer);
}  // namespace sw::app
