// configure_budget — lets the agent TIGHTEN the spend policy (never loosen it). Persisted across restarts.
// Policy authority: only the owner (stdio, tokenless loopback HTTP) tightens the global/domain policy, which
// binds every caller; a bearer-token caller may only lower its own envelope's cap (lifetime_sats) and its
// envelope's approval threshold (approve_above_sats).
#include "spend/spend.h"
#include "tools.h"

namespace sw::tools {
namespace {

std::optional<mcp::Tool> make(Engine& engine) {
  if (!engine.ledger) return std::nullopt;
  Engine* e = &engine;
  json ann{{"title", "Tighten the budget"},
           {"readOnlyHint", false},
           {"destructiveHint", false},
           {"idempotentHint", true},
           {"openWorldHint", false}};
  return make_tool(
      "configure_budget", "Tighten the budget",
      "Tighten the spending policy: lower the per-payment cap (max_sats) or the hour/day/week/month/lifetime caps "
      "(sats), deny more domains, lower the approval threshold (approve_above_sats: payments above it wait for the "
      "owner) or require approval for new domains. Only tightening is allowed; anything that would loosen the owner's policy is "
      "refused with POLICY_LOOSEN_REFUSED. Changes persist across restarts.{hosted} A caller with a bearer token "
      "(hosted HTTP) cannot change the policy that binds everyone: it may only lower its own envelope's cap "
      "(lifetime_sats) and approval threshold (approve_above_sats).{/hosted}",
      ann, [e](const json& args, mcp::CallContext& ctx) -> mcp::ToolOutcome {
        if (args.empty())
          return mcp::ToolOutcome::failure(make_error("INVALID_ARGUMENTS", "give at least one setting to tighten"));
        const Caller who = caller_of(*e, ctx);
        if (who.hosted) {
          std::vector<std::string> other;
          for (auto& [k, v] : args.items())
            if (k != "lifetime_sats" && k != "approve_above_sats") other.push_back(k);
          if (who.envelope.empty() || !other.empty())
            return mcp::ToolOutcome::failure(make_error(
                "POLICY_AUTHORITY",
                who.envelope.empty()
                    ? "only the owner changes the spend policy, and this token has no budget envelope of its own to "
                      "tighten; nothing was changed"
                    : "only the owner changes the spend policy that binds every caller; this token may only lower its "
                      "own envelope's cap (lifetime_sats) and approval threshold (approve_above_sats); nothing was "
                      "changed",
                json{{"envelope", who.envelope.empty() ? json(nullptr) : json(who.envelope)}, {"refused", other}}));
          std::optional<uint64_t> cap, threshold;
          if (args.contains("lifetime_sats")) cap = args["lifetime_sats"].get<uint64_t>() * 1000;
          if (args.contains("approve_above_sats")) threshold = args["approve_above_sats"].get<uint64_t>() * 1000;
          if (auto st = e->ledger->tighten_envelope(who.envelope, cap, threshold); !st)
            return mcp::ToolOutcome::failure(st.error());
          std::string what;
          if (cap) what = "cap lowered to " + std::to_string(*cap / 1000) + " sats";
          if (threshold)
            what += std::string(what.empty() ? "" : ", ") + "approval needed above " + std::to_string(*threshold / 1000) +
                    " sats";
          return mcp::ToolOutcome::success(json{{"policy", spend::policy_to_json(e->ledger->policy())},
                                                {"message", "envelope '" + who.envelope + "': " + what + "; saved"}});
        }
        spend::Policy p = e->ledger->policy();
        auto sats = [&](const char* key) { return args[key].get<uint64_t>() * 1000; };
        if (args.contains("max_sats")) p.global.per_call_msat = sats("max_sats");
        if (args.contains("hour_sats")) p.global.hour_msat = sats("hour_sats");
        if (args.contains("day_sats")) p.global.day_msat = sats("day_sats");
        if (args.contains("week_sats")) p.global.week_msat = sats("week_sats");
        if (args.contains("month_sats")) p.global.month_msat = sats("month_sats");
        if (args.contains("lifetime_sats")) p.global.lifetime_msat = sats("lifetime_sats");
        if (args.contains("approve_above_sats")) p.global.approve_above_msat = sats("approve_above_sats");
        if (args.contains("approve_new_domains")) p.approve_new_domains = args["approve_new_domains"].get<bool>();
        if (args.contains("deny_domains"))
          for (const auto& d : args["deny_domains"]) p.deny_domains.push_back(d.get<std::string>());
        auto norm = spend::normalize_policy(p);
        if (!norm) return mcp::ToolOutcome::failure(norm.error());
        if (auto st = e->ledger->tighten(*norm); !st) return mcp::ToolOutcome::failure(st.error());
        return mcp::ToolOutcome::success(
            json{{"policy", spend::policy_to_json(e->ledger->policy())}, {"message", "policy tightened and saved"}});
      });
}

}  // namespace
SW_REGISTER_TOOL(configure_budget, make);
}  // namespace sw::tools
