// list_transactions — the wallet's recent transactions, newest first. Hosted (bearer-token) callers see only the
// payments satwarden made for them.
#include "spend/spend.h"
#include "tools.h"

namespace sw::tools {
namespace {

std::optional<mcp::Tool> make(Engine& engine) {
  Engine* e = &engine;
  return make_tool(
      "list_transactions", "List wallet transactions",
      "List the connected wallet's transactions, newest first (optionally a time range, type, page).{hosted} The "
      "owner (stdio, tokenless loopback HTTP) sees every transaction of the wallet. A caller authenticated with a "
      "bearer token (hosted HTTP) sees only outgoing payments satwarden made for that token (the wallet is shared; "
      "other tokens' payments and the owner's other activity are left out), so a page may hold fewer than `limit` "
      "entries: keep paging with offset.{/hosted} Read-only.",
      read_only_annotations("List wallet transactions", true),
      [e](const json& args, mcp::CallContext& ctx) -> mcp::ToolOutcome {
        if (auto err = wallet_unavailable(*e)) return mcp::ToolOutcome::failure(*err);
        const Caller who = caller_of(*e, ctx);
        wallet::ListParams p;
        if (args.contains("from")) p.from = args["from"].get<int64_t>();
        if (args.contains("until")) p.until = args["until"].get<int64_t>();
        p.limit = args.value("limit", 20);
        if (args.contains("offset")) p.offset = args["offset"].get<int>();
        p.unpaid = args.value("unpaid", false);
        p.type = args.value("type", "");
        if (p.from && p.until && *p.from > *p.until)
          return mcp::ToolOutcome::failure(make_error("INVALID_ARGUMENTS", "from is after until", json{{"field", "from"}}));
        if (who.hosted && p.type == "incoming") return mcp::ToolOutcome::success(json{{"transactions", json::array()}});
        auto res = e->wallet->list_transactions(p);
        if (!res) return mcp::ToolOutcome::failure(res.error());
        json list = json::array();
        if (res->contains("transactions") && (*res)["transactions"].is_array())
          for (const auto& tx : (*res)["transactions"]) {
            json t = transaction_to_json(tx);
            if (who.hosted) {
              if (t["type"] != "outgoing" || !t["payment_hash"].is_string() || !e->ledger) continue;
              auto row = e->ledger->get_payment(t["payment_hash"].get<std::string>());
              if (!row || row->client != who.client) continue;
            }
            list.push_back(std::move(t));
          }
        return mcp::ToolOutcome::success(json{{"transactions", list}});
      });
}

}  // namespace
SW_REGISTER_TOOL(list_transactions, make);
}  // namespace sw::tools
