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
      "Decode and check a BOLT11 invoice (lnbc…, lntb…, lnbcrt…; lightning: prefix allowed): amount (msat, sats "
      "rounded up, and in the owner's currency when known), payment hash, description, payee, network, expiry "
      "and whether it has expired, route hints, features. Read-only: use it to inspect an invoice before paying.",
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
