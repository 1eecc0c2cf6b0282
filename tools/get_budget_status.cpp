// get_budget_status — the spend policy's limits, what is spent and what remains, per window, domain and envelope.
#include "spend/spend.h"
#include "tools.h"

namespace sw::tools {
namespace {

json window_json(const spend::WindowStatus& w) {
  auto opt = [](const std::optional<uint64_t>& v, bool ceil) -> json {
    if (!v) return nullptr;
    return ceil ? msat_to_sat_ceil(*v) : *v / 1000;
  };
  return json{{"window", w.window},
              {"limit_sats", opt(w.limit_msat, false)},
              {"spent_sats", msat_to_sat_ceil(w.spent_msat)},
              {"remaining_sats", opt(w.remaining_msat, false)},
              {"limit_msat", w.limit_msat ? json(*w.limit_msat) : json(nullptr)},
              {"spent_msat", w.spent_msat},
              {"remaining_msat", w.remaining_msat ? json(*w.remaining_msat) : json(nullptr)},
              {"next_rolloff", w.next_rolloff ? json(*w.next_rolloff) : json(nullptr)}};
}

json scope_json(const spend::ScopeStatus& s) {
  json windows = json::array();
  for (const auto& w : s.windows) windows.push_back(window_json(w));
  return json{{"scope", s.scope},
              {"per_call_sats", s.per_call_msat ? json(*s.per_call_msat / 1000) : json(nullptr)},
              {"windows", windows},
              {"expires_at", s.expires_at ? json(*s.expires_at) : json(nullptr)}};
}

}  // namespace

json budget_status_json(const spend::StatusReport& r) {
  json domains = json::array(), envelopes = json::array();
  for (const auto& d : r.domains) domains.push_back(scope_json(d));
  for (const auto& e : r.envelopes) envelopes.push_back(scope_json(e));
  return json{{"now", r.now},
              {"global", scope_json(r.global)},
              {"domains", domains},
              {"envelopes", envelopes},
              {"pending_count", r.pending_count},
              {"unknown_count", r.unknown_count}};
}

namespace {
std::optional<mcp::Tool> make(Engine& engine) {
  if (!engine.ledger) return std::nullopt;
  Engine* e = &engine;
  return make_tool("get_budget_status", "Budget status",
                   "Show the spending limits satwarden enforces and what remains: per-payment cap, rolling hour/day/"
                   "week/month windows and lifetime cap, per-domain caps and hosted envelopes, with spent and "
                   "remaining amounts (sats) and when the oldest payment rolls off. Read-only.",
                   read_only_annotations("Budget status", false),
                   [e](const json&, mcp::CallContext&) -> mcp::ToolOutcome {
                     auto st = e->ledger->status();
                     if (!st) return mcp::ToolOutcome::failure(st.error());
                     return mcp::ToolOutcome::success(budget_status_json(*st));
                   });
}
}  // namespace
SW_REGISTER_TOOL(get_budget_status, make);
}  // namespace sw::tools
