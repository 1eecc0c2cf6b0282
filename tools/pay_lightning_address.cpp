// pay_lightning_address — pay name@domain (LUD-16) through sw::lnurl (resolve → quote → invoice checks → the
// payment engine → success action). pay_lnurl.cpp is the same flow for an LNURL; both use pay_lnurl_target.
#include "lnurl/lnurl.h"
#include "pay/pay.h"
#include "purchase/purchase.h"
#include "tools.h"

namespace sw::tools {

mcp::ToolOutcome pay_lnurl_target(Engine& engine, const json& args, mcp::CallContext& ctx, const char* tool,
                                  const std::string& target) {
  Engine* e = &engine;
  return idempotent(engine, args, ctx, tool, [&](const purchase::IdempotentContext& ic) -> mcp::ToolOutcome {
    if (auto err = wallet_unavailable(*e)) return mcp::ToolOutcome::failure(*err);
    auto t = lnurl::parse_target(target, e->config ? e->config->fetch_allow : std::vector<std::string>{});
    if (!t) return mcp::ToolOutcome::failure(t.error());
    lnurl::Payments::PayArgs a;
    a.target = *t;
    a.amount_msat = args.at("amount_sats").get<uint64_t>() * 1000;
    a.max_sats = args.contains("max_sats") ? args["max_sats"].get<uint64_t>() : e->config->default_max_sats;
    if (args.contains("comment")) a.comment = args["comment"].get<std::string>();
    a.client = ctx.client;
    a.envelope = ctx.envelope;
    a.tool = tool;
    a.progress = progress_of(ctx, 4);
    a.cancelled = [&ctx] { return ctx.cancelled(); };
    a.idempotency = ic.ref;
    a.resume = ic.resume;
    a.approval = approval_args(*e, args, ctx);
    if (a.amount_msat / 1000 > a.max_sats)
      return mcp::ToolOutcome::failure(make_error(
          "AMOUNT_EXCEEDS_MAX", "amount_sats " + std::to_string(a.amount_msat / 1000) + " is above max_sats " +
                                    std::to_string(a.max_sats) + "; nothing was paid: raise max_sats or send less"));
    auto paid = e->lnurl->pay(a);
    if (!paid) return mcp::ToolOutcome::failure(paid.error());
    const auto& o = paid->outcome;
    const uint64_t sats = msat_to_sat_ceil(o.amount_msat);
    json sa = nullptr;
    if (paid->success) {
      const auto& s = *paid->success;
      sa = json{{"tag", s.tag}};
      for (const auto& [k, v] : {std::pair<const char*, const std::string*>{"message", &s.message}, {"url", &s.url},
                                 {"description", &s.description}, {"text", &s.text}, {"problem", &s.problem}})
        if (!v->empty()) sa[k] = *v;
    }
    const std::string shown = t->kind == "address" ? t->address : t->domain;
    std::string message = "paid " + std::to_string(sats) + " sats to " + shown + " (fee " + std::to_string(o.fee_msat) +
                          " msat); preimage verified against the payment hash";
    if (paid->success && !paid->success->message.empty()) message += "; the service says: " + paid->success->message;
    if (paid->success && !paid->success->url.empty())
      message += "; the service offers a link (not opened): " + paid->success->url;
    if (!paid->request && a.resume) message = "already paid (idempotent replay): " + message;
    return mcp::ToolOutcome::success(json{
        {"success", true},
        {"target", shown},
        {"domain", t->domain},
        {"payment_hash", o.payment_hash},
        {"preimage", o.preimage},
        {"amount_sats", sats},
        {"amount_msat", o.amount_msat},
        {"fee_msat", o.fee_msat},
        {"fee_reported", o.fee_reported},
        {"description", paid->request ? json(paid->request->description) : json(nullptr)},
        {"latency_ms", o.latency_ms},
        {"success_action", sa},
        {"replayed", !paid->request && static_cast<bool>(a.resume)},
        {"message", message}});
  });
}

namespace {
std::optional<mcp::Tool> make(Engine& engine) {
  if (!engine.lnurl || !engine.payer) return std::nullopt;
  Engine* e = &engine;
  mcp::Tool tool = make_tool(
      "pay_lightning_address", "Pay a Lightning address",
      "Send amount_sats to a Lightning address (name@domain, LUD-16) from the owner's wallet, with an optional "
      "comment when the recipient accepts one. satwarden asks the address's service for an invoice and refuses it "
      "unless it is for exactly that amount and commits to the service's own description; the amount must be "
      "within what the service accepts and within max_sats and the budget (the address's domain counts as the "
      "payee domain for caps, allow/deny lists and approvals). Returns the preimage and any message the service "
      "sends back (a link it offers is shown, never opened). An amount outside the accepted range is refused "
      "with the range. If the outcome is unknown, check with lookup_payment; never pay again instead.",
      paying_annotations("Pay a Lightning address"), [e](const json& args, mcp::CallContext& ctx) {
        return pay_lnurl_target(*e, args, ctx, "pay_lightning_address", args.at("address").get<std::string>());
      });
  tool.ui = json{{"resourceUri", "ui://satwarden/approval"}};
  return tool;
}
}  // namespace
SW_REGISTER_TOOL(pay_lightning_address, make);
}  // namespace sw::tools
