// decide_approval_in_app — the approve/deny buttons of satwarden's MCP App approval card (ui://satwarden/approval).
// App-only (visibility ["app"]): listed to and callable by MCP Apps clients only, whose hosts never offer it to
// the model; and it needs the per-approval nonce that only the approval's UI resource carries (approve::Hub).
#include "approve/approve.h"
#include "spend/spend.h"
#include "tools.h"

namespace sw::tools {
namespace {

std::optional<mcp::Tool> make(Engine& engine) {
  if (!engine.ledger || !engine.approvals) return std::nullopt;
  Engine* e = &engine;
  json ann{{"title", "Decide an approval (app)"},
           {"readOnlyHint", false},
           {"destructiveHint", false},
           {"idempotentHint", false},
           {"openWorldHint", false}};
  mcp::Tool tool = make_tool(
      "decide_approval_in_app", "Decide an approval (app)",
      "Used by satwarden's approval card in MCP Apps hosts only: the owner's approve or deny of one payment waiting "
      "for approval, with the nonce the card carries. Not for the model.",
      ann, [e](const json& args, mcp::CallContext& ctx) -> mcp::ToolOutcome {
        if (!client_may_approve(*e, ctx))
          return mcp::ToolOutcome::failure(make_error(
              "APPROVAL_FORBIDDEN",
              "approvals are decided by the owner: this client may not decide them (config approval_elicitation); "
              "nothing was decided or paid"));
        const std::string id = args["approval_id"].get<std::string>();
        const bool approve = args["decision"].get<std::string>() == "approve";
        auto a = e->approvals->decide_from_app(id, args["nonce"].get<std::string>(), approve,
                                               args.value("reason", std::string()));
        if (!a) return mcp::ToolOutcome::failure(a.error());
        return mcp::ToolOutcome::success(
            json{{"approval", spend::to_json(*a)},
                 {"message", approve ? "approved: the waiting payment goes ahead (once)"
                                     : "denied: nothing is paid and the budget is released"}});
      });
  tool.ui = json{{"resourceUri", "ui://satwarden/approval"}, {"visibility", json::array({"app"})}};
  return tool;
}

}  // namespace
SW_REGISTER_TOOL(decide_approval_in_app, make);
}  // namespace sw::tools
