// Tool profiles (satwarden's config `tools`: which registered tools MCP clients see) and the per-audience
// description text. tools/registry.cpp's register_all applies both to every tool it registers.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "mcp/mcp.h"

namespace sw::mcp {

const std::map<std::string, std::vector<std::string>>& tool_presets() {
  static const std::map<std::string, std::vector<std::string>> p = {
      // What most agents need: pay an invoice, a paid API or a Lightning address, look at an invoice first, see
      // the budget, follow up on a payment.
      {"pay", {"access_l402_resource", "pay_invoice", "pay_lightning_address", "decode_invoice", "get_budget_status",
               "lookup_payment"}},
      {"wallet", {"get_balance", "get_wallet_info", "make_invoice", "list_transactions", "pay_keysend",
                  "decode_invoice", "lookup_payment"}},
      {"budget", {"get_budget_status", "configure_budget", "list_payments", "spending_report", "list_approvals",
                  "forget_credentials"}},
      {"lnurl", {"pay_lightning_address", "pay_lnurl", "resolve_lightning_address"}},
      {"l402", {"access_l402_resource", "pay_l402_challenge", "forget_credentials"}},
  };
  return p;
}

bool ToolProfile::hides(const Tool& t) const {
  // App-only tools belong to the MCP Apps that call them, not to a profile.
  return !everything && !t.app_only() && !tools.count(t.name);
}

Result<ToolProfile> resolve_tool_profile(const std::vector<std::string>& entries,
                                         const std::function<bool(const std::string&)>& is_tool) {
  ToolProfile profile;
  for (const auto& entry : entries) {
    if (entry == "all") {
      profile.everything = true;
    } else if (auto it = tool_presets().find(entry); it != tool_presets().end()) {
      profile.tools.insert(it->second.begin(), it->second.end());
    } else if (is_tool(entry)) {
      profile.tools.insert(entry);
    } else {
      std::string presets;
      for (const auto& [n, l] : tool_presets()) presets += n + ", ";
      return make_error("CONFIG_INVALID", "tools: '" + entry + "' is neither a tool nor a preset (presets: " +
                                              presets + "all; or tool names as in tools/list)");
    }
  }
  return profile;
}

// Text meant for bearer-token callers only is written between {hosted} and {/hosted} in a description: kept (without
// the markers) when the server serves hosted callers, dropped otherwise — a stdio user's model never reads it.
std::string for_audience(const std::string& d, bool hosted) {
  std::string out;
  size_t at = 0;
  for (;;) {
    size_t open = d.find("{hosted}", at);
    if (open == std::string::npos) break;
    size_t close = d.find("{/hosted}", open);
    if (close == std::string::npos) break;
    out += d.substr(at, open - at);
    if (hosted) out += d.substr(open + 8, close - open - 8);
    at = close + 9;
  }
  out += d.substr(at);
  // Dropping a sentence may leave a double space.
  for (size_t p = out.find("  "); p != std::string::npos; p = out.find("  ")) out.erase(p, 1);
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace sw::mcp
