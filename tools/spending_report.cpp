// spending_report — totals by domain and by UTC day, with fees, over a time range.
#include "spend/spend.h"
#include "tools.h"

namespace sw::tools {
namespace {

json bucket_json(const spend::ReportBucket& b) {
  return json{{"settled_count", b.settled_count},     {"settled_sats", msat_to_sat_ceil(b.settled_amount_msat)},
              {"settled_amount_msat", b.settled_amount_msat}, {"settled_fee_msat", b.settled_fee_msat},
              {"pending_count", b.pending_count},     {"pending_msat", b.pending_msat},
              {"unknown_count", b.unknown_count},     {"failed_count", b.failed_count},
              {"released_count", b.released_count}};
}

std::optional<mcp::Tool> make(Engine& engine) {
  if (!engine.ledger) return std::nullopt;
  Engine* e = &engine;
  return make_tool(
      "spending_report", "Spending report",
      "Report what was spent between since and until (default: the last 30 days): totals, per domain and per UTC "
      "day, with fees and counts of pending, unknown and failed payments. Read-only.",
      read_only_annotations("Spending report", false), [e](const json& args, mcp::CallContext&) -> mcp::ToolOutcome {
        int64_t now = e->clock->now_unix();
        int64_t until = args.contains("until") ? args["until"].get<int64_t>() : now + 1;
        int64_t since = args.contains("since") ? args["since"].get<int64_t>() : now - 30 * 86400;
        if (since >= until)
          return mcp::ToolOutcome::failure(make_error("INVALID_ARGUMENTS", "since must be before until", json{{"field", "since"}}));
        auto r = e->ledger->report(since, until);
        if (!r) return mcp::ToolOutcome::failure(r.error());
        json by_domain = json::array(), by_day = json::array();
        for (const auto& [d, b] : r->by_domain) {
          json j = bucket_json(b);
          j["domain"] = d;
          by_domain.push_back(j);
        }
        for (const auto& [d, b] : r->by_day) {
          json j = bucket_json(b);
          j["day"] = d;
          by_day.push_back(j);
        }
        return mcp::ToolOutcome::success(json{{"since", r->since},
                                              {"until", r->until},
                                              {"total", bucket_json(r->total)},
                                              {"by_domain", by_domain},
                                              {"by_day", by_day}});
      });
}

}  // namespace
SW_REGISTER_TOOL(spending_report, make);
}  // namespace sw::tools
