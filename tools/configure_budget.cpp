// configure_budget — lets the agent TIGHTEN the spend policy (never loosen it). Persisted across restarts.
// Policy authority: only the owner (stdio, tokenless loopback HTTP) tightens the global/domain policy, which
// binds every caller; a bearer-token caller may only lower its own envelope's cap (lifetime_sats).
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
      "(sats), or deny more domains. Only tightening is allowed; anything that would loosen the owner's policy is "
      "refused with POLICY_LOOSEN_REFUSED. Changes persist across restarts. A caller with a bearer token (hosted "
      "HTTP) cannot change the policy that binds everyone: it may only lower its own envelope's cap (lifetime_sats).",
      ann, [e](const json& args, mcp::CallContext& ctx) -> mcp::ToolOutcome {
        if (args.empty())
          return mcp::ToolOutcome::failure(make_error("INVALID_ARGUMENTS", "give at least one setting to tighten"));
        const Caller who = caller_of(*e, ctx);
        if (who.hosted) {
          std::vector<std::string> other;
          for (auto& [k, v] : args.items())
            if (k != "lifetime_sats") other.push_back(k);
          if (who.envelope.empty() || !other.empty() || !args.contains("lifetime_sats"))
            return mcp::ToolOutcome::failure(make_error(
                "POLICY_AUTHORITY",
                who.envelope.empty()
                    ? "only the owner changes the spend policy, and this token has no budget envelope of its own to "
                      "tighten; nothing was changed"
                    : "only the owner changes the spend policy that binds every caller; this token may only lower its "
                      "own envelope's cap (lifetime_sats); nothing was changed",
                json{{"envelope", who.envelope.empty() ? json(nullptr) : json(who.envelope)}, {"refused", other}}));
          if (auto st = e->ledger->tighten_envelope(who.envelope, args["lifetime_sats"].get<uint64_t>() * 1000); !st)
            return mcp::ToolOutcome::failure(st.error());
          return mcp::ToolOutcome::success(
              json{{"policy", spend::policy_to_json(e->ledger->policy())},
                   {"message", "the cap of envelope '" + who.envelope + "' was lowered to " +
                                   std::to_string(args["lifetime_sats"].get<uint64_t>()) + " sats and saved"}});
        }
        spend::Policy p = e->ledger->policy();
        auto sats = [&](const char* key) { return args[key].get<uint64_t>() * 1000; };
        if (args.contains("max_sats")) p.global.per_call_msat = sats("max_sats");
        if (args.contains("hour_sats")) p.global.hour_msat = sats("hour_sats");
        if (args.contains("day_sats")) p.global.day_msat = sats("day_sats");
        if (args.contains("week_sats")) p.global.week_msat = sats("week_sats");
        if (args.contains("month_sats")) p.global.month_msat = sats("month_sats");
        if (args.contains("lifetime_sats")) p.global.lifetime_msat = sats("lifetime_sats");
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
