// decode_invoice — decodes and checks a BOLT11 invoice without paying it (no network, no wallet).
#include "bolt11/bolt11.h"
#include "tools.h"

namespace sw::tools {
namespace {

std::optional<mcp::Tool> make(Engine& engine) {
  const Clock* clock = engine.clock;
  Engine* e = &engine;
  return make_tool(
      "decode_invoice", "Decode a Lightning invoice",
      "Decode a BOLT11 Lightning invoice (lnbc…, lntb…, lntbs…, lnbcrt…, optionally prefixed with lightning:) and "
      "check its signature. Returns the amount (msat and sats rounded up), payment hash, description or its hash, "
      "payee node, network, creation and expiry times and whether it has expired, route hints, features, fallback "
      "addresses and metadata, and the amount in the owner's currency when a price source is configured. Read-only: pays nothing. Use it to inspect an invoice before paying.",
      read_only_annotations("Decode a Lightning invoice", false),
      [clock, e](const json& args, mcp::CallContext&) -> mcp::ToolOutcome {
        auto inv = bolt11::decode(args.at("invoice").get<std::string>());
        if (!inv) return mcp::ToolOutcome::failure(inv.error());
        json out = bolt11::to_json(*inv, clock->now_unix());
        // The amount in the owner's currencies, when a price source has a fresh price.
        if (inv->amount_msat)
          if (json f = fiat_equivalent(*inv->amount_msat, display_prices(*e)); !f.is_null()) out["fiat"] = f;
        return mcp::ToolOutcome::success(std::move(out));
      });
}

}  // namespace
SW_REGISTER_TOOL(decode_invoice, make);
}  // namespace sw::tools
