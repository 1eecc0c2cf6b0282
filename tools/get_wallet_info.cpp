// get_wallet_info — what the connected NWC wallet says about itself, and the encryption satwarden uses with it.
#include <algorithm>

#include "tools.h"

namespace sw::tools {
namespace {

// NIP-47 get_budget: {used_budget, total_budget, renews_at?, renewal_period} in msat, or {} without a budget.
Result<json> wallet_budget_to_json(const json& r) {
  auto uint_field = [&](const char* k) -> std::optional<uint64_t> {
    if (!r.contains(k) || !r[k].is_number_integer() || r[k].get<int64_t>() < 0) return std::nullopt;
    return r[k].get<uint64_t>();
  };
  if (!r.is_object()) return make_error("INVALID_WALLET_RESPONSE", "get_budget reply is not an object");
  auto used = uint_field("used_budget");
  auto total = uint_field("total_budget");
  if (r.contains("used_budget") && !used)
    return make_error("INVALID_WALLET_RESPONSE", "get_budget: used_budget is not a whole, non-negative msat amount");
  if (r.contains("total_budget") && !total)
    return make_error("INVALID_WALLET_RESPONSE", "get_budget: total_budget is not a whole, non-negative msat amount");
  json renews = r.contains("renews_at") && r["renews_at"].is_number_integer() ? r["renews_at"] : json(nullptr);
  json period = r.contains("renewal_period") && r["renewal_period"].is_string() ? r["renewal_period"] : json(nullptr);
  uint64_t u = used.value_or(0);
  return json{{"used_sats", msat_to_sat_ceil(u)},
              {"used_msat", u},
              {"total_sats", total ? json(*total / 1000) : json(nullptr)},
              {"total_msat", total ? json(*total) : json(nullptr)},
              {"renews_at", renews},
              {"renewal_period", period}};
}

std::optional<mcp::Tool> make(Engine& engine) {
  Engine* e = &engine;
  return make_tool("get_wallet_info", "Wallet info",
                   "Show the connected Lightning wallet (Nostr Wallet Connect): alias, node id, network, which methods "
                   "this connection may use, the notifications it sends, the encryption in use (nip44_v2 or nip04), "
                   "and the budget the wallet itself enforces on this connection when it offers get_budget. Read-only.",
                   read_only_annotations("Wallet info", true), [e](const json&, mcp::CallContext&) -> mcp::ToolOutcome {
                     if (auto err = wallet_unavailable(*e)) return mcp::ToolOutcome::failure(*err);
                     auto info = e->wallet->get_info();
                     if (!info) return mcp::ToolOutcome::failure(info.error());
                     json out{{"alias", info->alias},
                              {"pubkey", info->pubkey},
                              {"network", info->network},
                              {"block_height", info->block_height},
                              {"methods", info->methods},
                              {"notifications", info->notifications},
                              {"encryption", info->encryption},
                              {"wallet_budget", nullptr}};
                     if (std::find(info->methods.begin(), info->methods.end(), "get_budget") != info->methods.end()) {
                       auto b = e->wallet->get_budget();
                       auto budget = b ? wallet_budget_to_json(*b) : Result<json>(b.error());
                       if (budget) out["wallet_budget"] = *budget;
                       else out["wallet_budget_error"] = budget.error().code + ": " + budget.error().message;
                     }
                     return mcp::ToolOutcome::success(std::move(out));
                   });
}

}  // namespace
SW_REGISTER_TOOL(get_wallet_info, make);
}  // namespace sw::tools
