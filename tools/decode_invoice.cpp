// decode_invoice — decodes and checks a BOLT11 invoice without paying it (no network, no wallet).
#include "bolt11/bolt11.h"
#include "tools.h"

namespace sw::tools {
namespace {

std::optional<mcp::Tool> make(Engine& engine) {
  const Clock* clock = engine.clock;
  return make_tool(
      "decode_invoice", "Decode a Lightning invoice",
      "Decode a BOLT11 Lightning invoice (lnbc…, lntb…, lntbs…, lnbcrt…, optionally prefixed with lightning:) and "
      "check its signature. Returns the amount (msat and sats rounded up), payment hash, description or its hash, "
      "payee node, network, creation and expiry times and whether it has expired, route hints, features, fallback "
      "addresses and metadata. Read-only: pays nothing. Use it to inspect an invoice before paying.",
      read_only_annotations("Decode a Lightning invoice", false),
      [clock](const json& args, mcp::CallContext&) -> mcp::ToolOutcome {
        auto inv = bolt11::decode(args.at("invoice").get<std::string>());
        if (!inv) return mcp::ToolOutcome::failure(inv.error());
        return mcp::ToolOutcome::success(bolt11::to_json(*inv, clock->now_unix()));
      });
}

}  // namespace
SW_REGISTER_TOOL(decode_invoice, make);
}  // namespace sw::tools
