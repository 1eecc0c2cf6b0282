// pay_keysend — a spontaneous payment to a node id (no invoice), within max_sats and the spend policy.
#include "pay/pay.h"
#include "purchase/purchase.h"
#include "tools.h"

namespace sw::tools {
namespace {

std::optional<mcp::Tool> make(Engine& engine) {
  if (!engine.payer) return std::nullopt;
  Engine* e = &engine;
  mcp::Tool tool = make_tool(
      "pay_keysend", "Send a keysend payment",
      "Send sats straight to a Lightning node id (keysend: no invoice), from the owner's wallet, within max_sats "
      "(default: the configured cap) and the remaining budget. satwarden chooses the preimage, so the payment has a "
      "payment hash before it is sent: it is recorded, reconciled and never sent twice under that hash. There is no "
      "proof of payment from the payee with keysend. If the outcome is unknown (e.g. the wallet timed out) do NOT "
      "send again: check lookup_payment with the returned payment_hash.",
      paying_annotations("Send a keysend payment"), [e](const json& args, mcp::CallContext& ctx) -> mcp::ToolOutcome {
        return idempotent(*e, args, ctx, "pay_keysend", [&](const purchase::IdempotentContext& ic) -> mcp::ToolOutcome {
        if (auto err = wallet_unavailable(*e)) return mcp::ToolOutcome::failure(*err);
        pay::KeysendRequest rq;
        rq.destination = args.at("destination").get<std::string>();
        rq.amount_sats = args.at("amount_sats").get<uint64_t>();
        rq.max_sats = args.contains("max_sats") ? args["max_sats"].get<uint64_t>() : e->config->default_max_sats;
        if (args.contains("tlv_records"))
          for (const auto& t : args["tlv_records"])
            rq.tlv_records.push_back({t.at("type").get<uint64_t>(), ascii_lower(t.at("value").get<std::string>())});
        rq.client = ctx.client;
        rq.envelope = ctx.envelope;
        rq.tool = "pay_keysend";
        rq.progress = progress_of(ctx, 3);
        rq.cancelled = [&ctx] { return ctx.cancelled(); };
        rq.idempotency = ic.ref;
        rq.resume = ic.resume;
        rq.approval = approval_args(*e, args, ctx);
        auto paid = e->payer->keysend(rq);
        if (!paid) return mcp::ToolOutcome::failure(paid.error());
        uint64_t sats = msat_to_sat_ceil(paid->amount_msat);
        return mcp::ToolOutcome::success(json{
            {"success", true},
            {"destination", ascii_lower(rq.destination)},
            {"payment_hash", paid->payment_hash},
            {"preimage", paid->preimage},
            {"preimage_from_wallet", paid->wallet_preimage},
            {"amount_sats", sats},
            {"amount_msat", paid->amount_msat},
            {"fee_msat", paid->fee_msat},
            {"fee_reported", paid->fee_reported},
            {"latency_ms", paid->latency_ms},
            {"message", "sent " + std::to_string(sats) + " sats by keysend (fee " + std::to_string(paid->fee_msat) +
                            " msat)"}});
        });
      });
  // MCP Apps hosts show the approval card with this tool's calls (a payment may wait for the owner).
  tool.ui = json{{"resourceUri", "ui://satwarden/approval"}};
  return tool;
}

}  // namespace
SW_REGISTER_TOOL(pay_keysend, make);
}  // namespace sw::tools
