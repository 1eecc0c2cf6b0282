// make_invoice — asks the wallet for an invoice to RECEIVE sats. Spends nothing.
#include "bolt11/bolt11.h"
#include "tools.h"

namespace sw::tools {
namespace {

std::optional<mcp::Tool> make(Engine& engine) {
  Engine* e = &engine;
  json ann{{"title", "Create an invoice"},
           {"readOnlyHint", false},
           {"destructiveHint", false},
           {"idempotentHint", false},
           {"openWorldHint", true}};
  return make_tool(
      "make_invoice", "Create an invoice",
      "Create a BOLT11 invoice in the connected wallet so someone can pay YOU amount_sats. Spends nothing.", ann,
      [e](const json& args, mcp::CallContext&) -> mcp::ToolOutcome {
        if (auto err = wallet_unavailable(*e)) return mcp::ToolOutcome::failure(*err);
        uint64_t sats = args.at("amount_sats").get<uint64_t>();
        wallet::MakeInvoiceParams p;
        p.amount_msat = sats * 1000;
        p.description = args.value("description", "");
        if (args.contains("expiry_seconds")) p.expiry_seconds = args["expiry_seconds"].get<uint64_t>();
        auto tx = e->wallet->make_invoice(p);
        if (!tx) return mcp::ToolOutcome::failure(tx.error());
        std::string invoice = tx->value("invoice", "");
        // Check what the wallet handed back before giving it to anyone: it must decode and match the request.
        auto inv = bolt11::decode(invoice);
        if (!inv)
          return mcp::ToolOutcome::failure(make_error("INVALID_WALLET_RESPONSE",
                                                      "the wallet returned an invoice that does not decode: " +
                                                          inv.error().message));
        if (!inv->amount_msat || *inv->amount_msat != p.amount_msat)
          return mcp::ToolOutcome::failure(
              make_error("INVALID_WALLET_RESPONSE", "the wallet returned an invoice for a different amount"));
        return mcp::ToolOutcome::success(json{{"invoice", invoice},
                                              {"payment_hash", inv->payment_hash},
                                              {"amount_sats", sats},
                                              {"amount_msat", p.amount_msat},
                                              {"description", inv->description ? json(*inv->description) : json(nullptr)},
                                              {"expires_at", inv->expires_at()}});
      });
}

}  // namespace
SW_REGISTER_TOOL(make_invoice, make);
}  // namespace sw::tools
