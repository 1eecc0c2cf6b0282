// The owner's approval as the paying tools see it: whether this client may be asked itself (elicitation), the
// approval arguments of a call (approval_wait / approval_id, or the modern era's input-required retry), and the
// input-required result that asks the question (declared in tools.h).
#include "tools.h"

namespace sw::tools {

bool client_may_approve(const Engine& engine, const mcp::CallContext& ctx) {
  const std::string mode = engine.config ? engine.config->approval_elicitation : "auto";
  return mode == "on" || (mode == "auto" && !caller_of(engine, ctx).hosted);
}


Result<mcp::InputRequired> input_required_for_approval(Engine& engine, const std::string& public_id) {
  if (!engine.ledger) return make_error("APPROVAL_UNAVAILABLE", "no ledger");
  auto ap = engine.ledger->get_approval(public_id);
  if (!ap) return ap.error();
  json params = approve::client_question(*ap);
  params["mode"] = "form";
  mcp::InputRequired in;
  in.input_requests = json{{"approval", {{"method", "elicitation/create"}, {"params", std::move(params)}}}};
  in.state = json{{"approval_id", ap->public_id}};
  const int64_t now = engine.clock ? engine.clock->now_unix() : Clock::system().now_unix();
  in.ttl_s = std::max<int64_t>(1, ap->expires_at - now);
  return in;
}

pay::ApprovalArgs approval_args(Engine& engine, const json& args, mcp::CallContext& ctx) {
  pay::ApprovalArgs a;
  std::string wait = engine.config ? engine.config->approval_wait : "wait";
  if (args.contains("approval_wait") && args["approval_wait"].is_string()) wait = args["approval_wait"].get<std::string>();
  a.wait = wait == "return" ? pay::ApprovalArgs::Wait::return_now : pay::ApprovalArgs::Wait::wait;
  if (args.contains("approval_id") && args["approval_id"].is_string()) a.approval_id = args["approval_id"].get<std::string>();
  const bool allowed = client_may_approve(engine, ctx);
  if (allowed && ctx.input_required_form) {
    // Modern era: the question goes out as an input-required result (see register_all); its retry answers here.
    a.wait = pay::ApprovalArgs::Wait::return_now;
    const json& st = ctx.request_state;
    if (!st.is_object() || !st.contains("approval_id") || !st["approval_id"].is_string()) return a;
    a.approval_id = st["approval_id"].get<std::string>();  // bound to these arguments; checked by the Payer too
    const json& resp = ctx.input_responses;
    if (!resp.is_object() || !resp.contains("approval") || !resp["approval"].is_object()) return a;  // ask again
    const json& r = resp["approval"];
    if (!r.contains("action") || !r["action"].is_string()) return a;
    const approve::ClientAnswer answer = approve::client_answer(r["action"].get<std::string>());
    a.wait = pay::ApprovalArgs::Wait::wait;  // decided at once: the ask below answers immediately
    a.ask_client = [answer](const spend::Approval&, const std::shared_ptr<std::atomic<bool>>&) -> Result<approve::ClientAnswer> {
      return answer;
    };
    return a;
  }
  if (!allowed || !ctx.elicit_until) return a;
  auto elicit = ctx.elicit_until;
  const Clock* clock = engine.clock;
  a.ask_client = [elicit, clock](const spend::Approval& ap,
                                 const std::shared_ptr<std::atomic<bool>>& stop) -> Result<approve::ClientAnswer> {
    const int64_t left = std::max<int64_t>(1, ap.expires_at - clock->now_unix());
    auto r = elicit(approve::client_question(ap), std::chrono::seconds(left), stop);
    if (!r) return r.error();
    return approve::client_answer(r->value("action", ""));
  };
  return a;
}

}  // namespace sw::tools
