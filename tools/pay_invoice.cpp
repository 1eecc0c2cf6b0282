// pay_invoice — pays a BOLT11 invoice from the connected wallet, within max_sats and the spend policy.
#include "pay/pay.h"
#include "purchase/purchase.h"
#include "tools.h"

namespace sw::tools {
namespace {

std::optional<mcp::Tool> make(Engine& engine) {
  if (!engine.payer) return std::nullopt;
  Engine* e = &engine;
  mcp::Tool tool = make_tool(
      "pay_invoice", "Pay a Lightning invoice",
      "Pay a BOLT11 Lightning invoice from the owner's wallet. Refuses invoices without an amount, expired ones, "
      "ones for another network, and any costing more than max_sats (sats, rounded up) or the remaining budget. "
      "Never pays the same invoice twice. Returns the preimage (proof of payment), amount and fee. If the outcome "
      "is unknown (e.g. the wallet timed out) do NOT pay again: use lookup_payment.",
      paying_annotations("Pay a Lightning invoice"), [e](const json& args, mcp::CallContext& ctx) -> mcp::ToolOutcome {
        return idempotent(*e, args, ctx, "pay_invoice", [&](const purchase::IdempotentContext& ic) {
        if (auto err = wallet_unavailable(*e)) return mcp::ToolOutcome::failure(*err);
        pay::PayRequest rq;
        rq.idempotency = ic.ref;
        rq.resume = ic.resume;
        rq.approval = approval_args(*e, args, ctx);
        rq.invoice = args.at("invoice").get<std::string>();
        rq.max_sats = args.contains("max_sats") ? args["max_sats"].get<uint64_t>() : e->config->default_max_sats;
        rq.client = ctx.client;
        rq.envelope = ctx.envelope;
        rq.tool = "pay_invoice";
        rq.protocol = "bolt11";
        rq.progress = progress_of(ctx, 3);
        rq.cancelled = [&ctx] { return ctx.cancelled(); };
        auto paid = e->payer->pay(rq);
        if (!paid) return mcp::ToolOutcome::failure(paid.error());
        uint64_t sats = msat_to_sat_ceil(paid->amount_msat);
        return mcp::ToolOutcome::success(json{
            {"success", true},
            {"payment_hash", paid->payment_hash},
            {"preimage", paid->preimage},
            {"amount_sats", sats},
            {"amount_msat", paid->amount_msat},
            {"fee_msat", paid->fee_msat},
            {"fee_reported", paid->fee_reported},
            {"description", paid->invoice.description ? json(*paid->invoice.description) : json(nullptr)},
            {"latency_ms", paid->latency_ms},
            {"message", "paid " + std::to_string(sats) + " sats (fee " + std::to_string(paid->fee_msat) +
                            " msat); preimage verified against the payment hash"}});
        });
      });
  // MCP Apps hosts show the approval card with this tool's calls (a payment may wait for the owner).
  tool.ui = json{{"resourceUri", "ui://satwarden/approval"}};
  return tool;
}

}  // namespace
SW_REGISTER_TOOL(pay_invoice, make);
}  // namespace sw::tools
