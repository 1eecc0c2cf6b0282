// get_balance — the wallet's spendable balance (not the satwarden budget: see get_budget_status for that).
#include "tools.h"

namespace sw::tools {
namespace {

std::optional<mcp::Tool> make(Engine& engine) {
  Engine* e = &engine;
  return make_tool("get_balance", "Wallet balance",
                   "Get the connected wallet's spendable balance in sats (and msat). This is the wallet's balance, "
                   "not the spending budget satwarden enforces. Read-only.",
                   read_only_annotations("Wallet balance", true), [e](const json&, mcp::CallContext&) -> mcp::ToolOutcome {
                     if (auto err = wallet_unavailable(*e)) return mcp::ToolOutcome::failure(*err);
                     auto bal = e->wallet->get_balance_msat();
                     if (!bal) return mcp::ToolOutcome::failure(bal.error());
                     return mcp::ToolOutcome::success(json{{"balance_sats", *bal / 1000}, {"balance_msat", *bal}});
                   });
}

}  // namespace
SW_REGISTER_TOOL(get_balance, make);
}  // namespace sw::tools
