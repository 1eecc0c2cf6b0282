// get_budget_status — the spend policy's limits, what is spent and what remains, per window, domain and envelope.
#include <algorithm>

#include "spend/spend.h"
#include "tools.h"

namespace sw::tools {
namespace {

// How many of `client`'s rows are in `state` (paged; a client rarely has many in flight).
Result<uint64_t> count_rows(spend::Ledger& ledger, const std::string& client, spend::State state) {
  spend::ListQuery q;
  q.client = client;
  q.state = state;
  q.limit = 500;
  uint64_t n = 0;
  for (;;) {
    auto page = ledger.list_payments(q);
    if (!page) return page.error();
    n += page->items.size();
    if (!page->next_cursor) return n;
    q.cursor = page->next_cursor;
  }
}

}  // namespace

Result<json> budget_status_for(Engine& e, const mcp::CallContext& ctx) {
  const Caller who = caller_of(e, ctx);
  const spend::Prices prices = display_prices(e);
  auto st = e.ledger->status(e.clock->now_unix(), prices);
  if (!st) return st.error();
  const spend::Policy policy = e.ledger->policy();
  // What this caller may pay with: the policy's protocols, narrowed by its envelope's.
  std::vector<std::string> protocols = policy.protocols;
  if (!who.envelope.empty()) {
    std::optional<spend::Envelope> env;
    for (const auto& x : e.ledger->envelopes())
      if (x.name == who.envelope) env = x;
    if (!env) {
      protocols.clear();  // an unknown envelope refuses every payment (ENVELOPE_UNKNOWN)
    } else if (env->protocols) {
      std::erase_if(protocols, [&](const std::string& p) {
        return std::find(env->protocols->begin(), env->protocols->end(), p) == env->protocols->end();
      });
    }
  }
  if (who.hosted) {
    // A token holder sees the shared limits it is subject to (global, domains, policy) and its own envelope and
    // payments only; other tokens' envelopes and in-flight payments are not its business.
    std::erase_if(st->envelopes, [&](const spend::ScopeStatus& s) {
      return who.envelope.empty() || s.scope != "envelope:" + who.envelope;
    });
    auto pending_reserved = count_rows(*e.ledger, who.client, spend::State::reserved);
    auto pending_flight = count_rows(*e.ledger, who.client, spend::State::in_flight);
    auto unknown = count_rows(*e.ledger, who.client, spend::State::unknown);
    if (!pending_reserved) return pending_reserved.error();
    if (!pending_flight) return pending_flight.error();
    if (!unknown) return unknown.error();
    st->unknown_count = *unknown;
    st->pending_count = *pending_reserved + *pending_flight + *unknown;
  }
  json out = spend::to_json(*st, spend::StatusFormat::budget_status);
  out["policy"] = spend::policy_to_json(policy);
  if (e.prices) {
    // The BTC prices the fiat figures use (none: the price source has no fresh price; fiat caps then refuse).
    json p = json::array();
    for (const auto& [cur, price] : prices) p.push_back(spend::price_json(cur, price));
    out["prices"] = p;
  }
  out["caller"] = json{{"client", who.client},
                       {"envelope", who.envelope.empty() ? json(nullptr) : json(who.envelope)},
                       {"scope", who.hosted ? "client:" + who.client : std::string("all")},
                       {"protocols", protocols}};
  return out;
}

namespace {

std::optional<mcp::Tool> make(Engine& engine) {
  if (!engine.ledger) return std::nullopt;
  Engine* e = &engine;
  mcp::Tool tool = make_tool(
      "get_budget_status", "Budget status",
      "Show the spending limits and what remains: per-payment cap, rolling hour/day/week/month windows, lifetime, "
      "per-domain caps and envelopes — spent and remaining (sats, and the owner's currency for caps set in one), "
      "and when the oldest payment rolls off; `policy` is the effective policy and `caller` which protocols this "
      "caller may use.{hosted} Global and domain windows count every client's spending. A caller authenticated "
      "with a bearer token (hosted HTTP) sees only its own envelope and its own pending/unknown counts; the owner "
      "(stdio, tokenless loopback HTTP) sees every envelope.{/hosted} Read-only.",
      read_only_annotations("Budget status", false),
      [e](const json&, mcp::CallContext& ctx) -> mcp::ToolOutcome {
        auto out = budget_status_for(*e, ctx);
        if (!out) return mcp::ToolOutcome::failure(out.error());
        mcp::ToolOutcome o = mcp::ToolOutcome::success(std::move(*out));
        if (ctx.ui_apps) o.meta = json{{"ui", {{"resourceUri", "ui://satwarden/budget"}}}};
        return o;
      });
  // MCP Apps hosts show the budget card with this tool's results.
  tool.ui = json{{"resourceUri", "ui://satwarden/budget"}};
  return tool;
}
}  // namespace
SW_REGISTER_TOOL(get_budget_status, make);
}  // namespace sw::tools
