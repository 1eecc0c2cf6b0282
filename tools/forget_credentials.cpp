// forget_credentials — drops the caller's reusable paywall credentials (all origins, or one).
#include "fetch/fetch.h"
#include "spend/spend.h"
#include "tools.h"

namespace sw::tools {
namespace {

std::optional<mcp::Tool> make(Engine& engine) {
  if (!engine.ledger || !engine.paywall) return std::nullopt;
  Engine* e = &engine;
  return make_tool(
      "forget_credentials", "Forget paywall credentials",
      "Forget the credentials this caller bought from paywalls (L402), for one origin or all. The next call to "
      "such a resource buys access again. Purchases whose payment is still pending are kept (forgetting them could "
      "pay twice). Only the caller's own credentials are affected.",
      json{{"title", "Forget paywall credentials"}, {"readOnlyHint", false}, {"destructiveHint", true},
           {"idempotentHint", true}, {"openWorldHint", false}},
      [e](const json& args, mcp::CallContext& ctx) -> mcp::ToolOutcome {
        std::optional<std::string> origin;
        if (args.contains("origin")) {
          std::string text = args["origin"].get<std::string>();
          auto url = fetch::parse_url(text.find("://") == std::string::npos ? "https://" + text : text);
          if (!url)
            return mcp::ToolOutcome::failure(make_error(
                "INVALID_ARGUMENTS", "origin must be scheme://host[:port] or a URL: " + url.error().message,
                json{{"field", "origin"}}));
          origin = url->origin();
        }
        const Caller who = caller_of(*e, ctx);
        auto n = e->ledger->forget_purchases(spend::Owner{who.client, who.envelope, who.hosted}, origin);
        if (!n) return mcp::ToolOutcome::failure(n.error());
        return mcp::ToolOutcome::success(json{
            {"forgotten", *n},
            {"origin", origin ? json(*origin) : json(nullptr)},
            {"message", "forgot " + std::to_string(*n) + " credential(s)" + (origin ? " for " + *origin : "") +
                            "; nothing was paid or refunded"}});
      });
}

}  // namespace
SW_REGISTER_TOOL(forget_credentials, make);
}  // namespace sw::tools
