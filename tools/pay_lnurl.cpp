// pay_lnurl — pay an LNURL-pay link (LUD-01 lnurl1…, LUD-17 lnurlp://…): the flow of pay_lightning_address.cpp.
#include "tools.h"

namespace sw::tools {
namespace {
std::optional<mcp::Tool> make(Engine& engine) {
  if (!engine.lnurl || !engine.payer) return std::nullopt;
  Engine* e = &engine;
  mcp::Tool tool = make_tool(
      "pay_lnurl", "Pay an LNURL",
      "Send amount_sats to an LNURL-pay link (bech32 lnurl1…, lnurlp://…, or its https URL) from the owner's "
      "wallet, with an optional comment when the service accepts one. Same checks as pay_lightning_address: an "
      "invoice for exactly the amount, committing to the service's description; within the accepted range, "
      "max_sats and the budget (the link's domain is the payee domain). Returns the preimage and any message the "
      "service sends back (links shown, never opened). If the outcome is unknown, check with lookup_payment.",
      paying_annotations("Pay an LNURL"), [e](const json& args, mcp::CallContext& ctx) {
        return pay_lnurl_target(*e, args, ctx, "pay_lnurl", args.at("lnurl").get<std::string>());
      });
  tool.ui = json{{"resourceUri", "ui://satwarden/approval"}};
  return tool;
}
}  // namespace
SW_REGISTER_TOOL(pay_lnurl, make);
}  // namespace sw::tools
