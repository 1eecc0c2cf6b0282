// The operator's endpoints of the HTTP listener, built from the engine's parts (internal to src/app):
// readiness (GET /readyz) and the Prometheus metrics (GET /metrics). The transport serves them (transport.h,
// HttpServe); this file decides what they say.
// Thread-safety: both may be called from any HTTP worker at once (the ledger and the wallet are thread-safe).
#pragma once

#include <string>

#include "spend/spend.h"
#include "transport/transport.h"
#include "wallet/nwc_wallet.h"

namespace sw::app {

// Ready when the ledger answers a read, and — when a wallet is configured — at least one of its relays is
// connected and its info event has been read (waiting for that at most 250 ms). `wallet` may be null (no NWC_URL:
// the paying tools explain how to set one; the instance is still ready to serve everything else).
transport::Readiness readiness(spend::Ledger& ledger, wallet::NwcWallet* wallet);

// The text exposition: ledger totals (payments by protocol and state, sats and fees paid, purchases, approvals
// waiting), budget limits/spent/remaining per scope and window, relay states, and the process's histograms
// (tool-call and wallet round-trip latency). Amounts in msat, as the ledger keeps them.
std::string metrics_text(spend::Ledger& ledger, wallet::NwcWallet* wallet);

}  // namespace sw::app
