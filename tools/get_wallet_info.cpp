// get_wallet_info — what the connected NWC wallet says about itself, and the encryption satwarden uses with it.
#include "tools.h"

namespace sw::tools {
namespace {

std::optional<mcp::Tool> make(Engine& engine) {
  Engine* e = &engine;
  return make_tool("get_wallet_info", "Wallet info",
                   "Show the connected Lightning wallet (Nostr Wallet Connect): alias, node id, network, which methods "
                   "this connection may use, and the encryption in use (nip44_v2 or nip04). Read-only.",
                   read_only_annotations("Wallet info", true), [e](const json&, mcp::CallContext&) -> mcp::ToolOutcome {
                     if (auto err = wallet_unavailable(*e)) return mcp::ToolOutcome::failure(*err);
                     auto info = e->wallet->get_info();
                     if (!info) return mcp::ToolOutcome::failure(info.error());
                     return mcp::ToolOutcome::success(json{{"alias", info->alias},
                                                           {"pubkey", info->pubkey},
                                                           {"network", info->network},
                                                           {"block_height", info->block_height},
                                                           {"methods", info->methods},
                                                           {"notifications", info->notifications},
                                                           {"encryption", info->encryption}});
                   });
}

}  // namespace
SW_REGISTER_TOOL(get_wallet_info, make);
}  // namespace sw::tools
