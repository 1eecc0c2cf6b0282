// resolve_lightning_address — read-only: what a Lightning address or LNURL-pay link accepts (range, description,
// comments), so an agent can quote before paying. Nothing is reserved or paid.
#include "lnurl/lnurl.h"
#include "tools.h"

namespace sw::tools {
namespace {
std::optional<mcp::Tool> make(Engine& engine) {
  if (!engine.lnurl) return std::nullopt;
  Engine* e = &engine;
  return make_tool(
      "resolve_lightning_address", "Look up a Lightning address",
      "Look up a Lightning address (name@domain) or an LNURL-pay link without paying: the smallest and largest "
      "amount it accepts (sats), its description, whether it takes a comment and how long, and the domain whose "
      "budget and caps would apply. Read-only; contacts the recipient's service.",
      read_only_annotations("Look up a Lightning address", true),
      [e](const json& args, mcp::CallContext& ctx) -> mcp::ToolOutcome {
        auto t = lnurl::parse_target(args.at("target").get<std::string>(),
                                     e->config ? e->config->fetch_allow : std::vector<std::string>{});
        if (!t) return mcp::ToolOutcome::failure(t.error());
        auto pr = e->lnurl->resolve(*t, [&ctx] { return ctx.cancelled(); });
        if (!pr) return mcp::ToolOutcome::failure(pr.error());
        const uint64_t min_sats = (pr->min_msat + 999) / 1000, max_sats = pr->max_msat / 1000;
        const std::string shown = t->kind == "address" ? t->address : t->domain;
        const spend::Prices prices = display_prices(*e);
        json out{
            {"kind", t->kind},
            {"target", shown},
            {"domain", t->domain},
            {"min_sats", min_sats},
            {"max_sats", max_sats},
            {"min_msat", pr->min_msat},
            {"max_msat", pr->max_msat},
            {"description", pr->description},
            {"long_description", pr->long_description.empty() ? json(nullptr) : json(pr->long_description)},
            {"identifier", pr->identifier.empty() ? json(nullptr) : json(pr->identifier)},
            {"comment_allowed", pr->comment_allowed},
            {"message", shown + " accepts " + std::to_string(min_sats) + " to " + std::to_string(max_sats) + " sats" +
                            (pr->comment_allowed ? ", with a comment of up to " + std::to_string(pr->comment_allowed) +
                                                       " characters"
                                                 : std::string(", no comment")) +
                            "; pay it with " + (t->kind == "address" ? "pay_lightning_address" : "pay_lnurl")}};
        // The range in the owner's currencies, when a price source has a fresh price.
        if (!prices.empty())
          out["fiat"] = {{"min", fiat_equivalent(pr->min_msat, prices)}, {"max", fiat_equivalent(pr->max_msat, prices)}};
        return mcp::ToolOutcome::success(std::move(out));
      });
}
}  // namespace
SW_REGISTER_TOOL(resolve_lightning_address, make);
}  // namespace sw::tools
