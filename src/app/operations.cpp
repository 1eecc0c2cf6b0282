// /readyz and /metrics: see operations.h.
#include "app/operations.h"

#include "metrics/metrics.h"

namespace sw::app {

transport::Readiness readiness(spend::Ledger& ledger, wallet::NwcWallet* wallet) {
  transport::Readiness r;
  r.ready = true;
  auto fail = [&](const char* name, std::string why) {
    r.ready = false;
    r.checks[name] = std::move(why);
  };
  // A cheap read (probes come every few seconds; the metrics' totals scan the payments).
  if (auto st = ledger.ping(); st) r.checks["ledger"] = "ok";
  else fail("ledger", st.error().code + ": " + st.error().message);
  if (!wallet) {
    r.checks["wallet"] = "not configured (NWC_URL unset)";
    return r;
  }
  size_t connected = 0;
  const auto states = wallet->relay_states();
  for (const auto& [url, state] : states)
    if (state == "connected") ++connected;
  if (connected) r.checks["relay"] = "ok (" + std::to_string(connected) + " of " + std::to_string(states.size()) + " connected)";
  else fail("relay", "none of the wallet's " + std::to_string(states.size()) + " relays is connected");
  if (!connected) {
    r.checks["wallet_info"] = "unknown (no relay)";
    r.ready = false;
  } else if (wallet->ensure_info(std::chrono::milliseconds(250))) {
    r.checks["wallet_info"] = "ok";
  } else {
    fail("wallet_info", "the wallet's info event has not been read yet");
  }
  return r;
}

std::string metrics_text(spend::Ledger& ledger, wallet::NwcWallet* wallet) {
  metrics::Text t;
  t.family("satwarden_up", "gauge", "1 while the server runs");
  t.sample("satwarden_up", {}, 1);
  auto m = ledger.metrics();
  t.family("satwarden_ledger_up", "gauge", "1 when the ledger answered this scrape");
  t.sample("satwarden_ledger_up", {}, m ? 1 : 0);
  if (m) {
    t.family("satwarden_payments", "gauge", "Payments in the ledger by protocol and state");
    for (const auto& p : m->payments) t.sample("satwarden_payments", {{"protocol", p.protocol}, {"state", p.state}}, double(p.count));
    t.family("satwarden_paid_msat_total", "counter", "Amounts of settled payments, msat, by protocol");
    for (const auto& p : m->payments)
      if (p.state == "settled") t.sample("satwarden_paid_msat_total", {{"protocol", p.protocol}}, double(p.amount_msat));
    t.family("satwarden_fees_paid_msat_total", "counter", "Routing fees of settled payments, msat, by protocol");
    for (const auto& p : m->payments)
      if (p.state == "settled") t.sample("satwarden_fees_paid_msat_total", {{"protocol", p.protocol}}, double(p.fee_msat));
    t.family("satwarden_purchases", "gauge", "Purchases (paid-for credentials) by state");
    t.sample("satwarden_purchases", {{"state", "pending"}}, double(m->purchases_pending));
    t.sample("satwarden_purchases", {{"state", "usable"}}, double(m->purchases_usable));
    t.family("satwarden_approvals_waiting", "gauge", "Payments waiting for the owner's approval");
    t.sample("satwarden_approvals_waiting", {}, double(m->approvals_waiting));
  }
  if (auto st = ledger.status(); st) {
    auto scope_rows = [&](const char* family, auto value_of) {
      auto one = [&](const spend::ScopeStatus& s) {
        for (const auto& w : s.windows)
          if (auto v = value_of(w)) t.sample(family, {{"scope", s.scope}, {"window", w.window}}, double(*v));
      };
      one(st->global);
      for (const auto& s : st->domains) one(s);
      for (const auto& s : st->envelopes) one(s);
    };
    t.family("satwarden_budget_limit_msat", "gauge", "Budget cap per scope and window, msat (windows with a cap)");
    scope_rows("satwarden_budget_limit_msat", [](const spend::WindowStatus& w) { return w.limit_msat; });
    t.family("satwarden_budget_spent_msat", "gauge", "Spent (settled and held) per scope and window, msat");
    scope_rows("satwarden_budget_spent_msat",
               [](const spend::WindowStatus& w) { return std::optional<uint64_t>(w.spent_msat); });
    t.family("satwarden_budget_remaining_msat", "gauge", "Left to spend per scope and window, msat (windows with a cap)");
    scope_rows("satwarden_budget_remaining_msat", [](const spend::WindowStatus& w) { return w.remaining_msat; });
    t.family("satwarden_payments_pending", "gauge", "Payments reserved, in flight or with an unknown outcome");
    t.sample("satwarden_payments_pending", {}, double(st->pending_count));
    t.family("satwarden_payments_unknown", "gauge", "Payments whose outcome is not known yet (budget held)");
    t.sample("satwarden_payments_unknown", {}, double(st->unknown_count));
  }
  if (wallet) {
    t.family("satwarden_relay_connected", "gauge", "1 when the wallet's relay is connected, by relay and state");
    for (const auto& [url, state] : wallet->relay_states())
      t.sample("satwarden_relay_connected", {{"relay", url}, {"state", state}}, state == "connected" ? 1 : 0);
  }
  metrics::process().tool_calls.render(t, "satwarden_tool_call_duration_seconds",
                                       "MCP tool calls by tool and outcome (ok or the error code), seconds");
  metrics::process().wallet_requests.render(t, "satwarden_wallet_request_duration_seconds",
                                            "NIP-47 wallet round trips by method and outcome, seconds");
  return t.take();
}

}  // namespace sw::app
