// list_approvals — what is waiting for the owner's approval (read-only; never the one-time codes). A bearer-token
// caller sees only its own approvals.
#include "approve/approve.h"
#include "tools.h"

namespace sw::tools {

Result<json> approvals_for(Engine& engine, const mcp::CallContext& ctx, bool open_only, size_t limit) {
  if (!engine.ledger) return make_error("LEDGER_ERROR", "no ledger");
  if (engine.approvals) engine.approvals->sweep();  // the expired ones show as expired, their budget released
  spend::ApprovalQuery q;
  q.pending_only = open_only;
  q.limit = limit;
  const Caller who = caller_of(engine, ctx);
  if (who.hosted) {
    q.client = who.client;
    q.envelope = who.envelope;
  }
  auto list = engine.ledger->list_approvals(q);
  if (!list) return list.error();
  json items = json::array();
  size_t pending = 0;
  for (const auto& a : *list) {
    items.push_back(spend::to_json(a));
    if (a.state == spend::ApprovalState::pending) ++pending;
  }
  json channels = engine.approvals ? json(engine.approvals->channel_names()) : json::array();
  std::string msg = items.empty() ? (open_only ? "nothing is waiting for the owner's approval" : "no approvals yet")
                                  : std::to_string(pending) + " waiting for the owner; the owner decides with "
                                                              "`satwarden approvals approve|deny ID`" +
                                        (channels.empty() ? std::string() : " or through " + json_dump(channels));
  return json{{"approvals", items}, {"channels", channels}, {"message", msg}};
}

namespace {

std::optional<mcp::Tool> make(Engine& engine) {
  if (!engine.ledger) return std::nullopt;
  Engine* e = &engine;
  return make_tool(
      "list_approvals", "Payments waiting for the owner",
      "List payments that wait for (or recently got) the owner's approval: approval id, state, amount, domain, "
      "purpose and expiry. Read-only: no tool can approve; the owner decides outside the agent (CLI, their Nostr "
      "client, a webhook, or the MCP client's own prompt). Use it to tell the user what is waiting.",
      read_only_annotations("Payments waiting for the owner", false),
      [e](const json& args, mcp::CallContext& ctx) -> mcp::ToolOutcome {
        const bool open_only = args.value("state", "open") == "open";
        const size_t limit = args.contains("limit") ? args["limit"].get<size_t>() : 20;
        auto out = approvals_for(*e, ctx, open_only, limit);
        if (!out) return mcp::ToolOutcome::failure(out.error());
        return mcp::ToolOutcome::success(std::move(*out));
      });
}

}  // namespace
SW_REGISTER_TOOL(list_approvals, make);
}  // namespace sw::tools
