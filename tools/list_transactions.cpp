// list_transactions — the wallet's recent transactions, newest first.
#include "tools.h"

namespace sw::tools {
namespace {

std::optional<mcp::Tool> make(Engine& engine) {
  Engine* e = &engine;
  return make_tool("list_transactions", "List wallet transactions",
                   "List the connected wallet's transactions, newest first (optionally a time range, type, page). "
                   "Read-only.",
                   read_only_annotations("List wallet transactions", true),
                   [e](const json& args, mcp::CallContext&) -> mcp::ToolOutcome {
                     if (auto err = wallet_unavailable(*e)) return mcp::ToolOutcome::failure(*err);
                     wallet::ListParams p;
                     if (args.contains("from")) p.from = args["from"].get<int64_t>();
                     if (args.contains("until")) p.until = args["until"].get<int64_t>();
                     p.limit = args.value("limit", 20);
                     if (args.contains("offset")) p.offset = args["offset"].get<int>();
                     p.unpaid = args.value("unpaid", false);
                     p.type = args.value("type", "");
                     if (p.from && p.until && *p.from > *p.until)
                       return mcp::ToolOutcome::failure(
                           make_error("INVALID_ARGUMENTS", "from is after until", json{{"field", "from"}}));
                     auto res = e->wallet->list_transactions(p);
                     if (!res) return mcp::ToolOutcome::failure(res.error());
                     json list = json::array();
                     if (res->contains("transactions") && (*res)["transactions"].is_array())
                       for (const auto& tx : (*res)["transactions"]) list.push_back(transaction_to_json(tx));
                     return mcp::ToolOutcome::success(json{{"transactions", list}});
                   });
}

}  // namespace
SW_REGISTER_TOOL(list_transactions, make);
}  // namespace sw::tools
