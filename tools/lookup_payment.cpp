// lookup_payment — the wallet's record of one payment or invoice, by payment hash or invoice.
#include "bolt11/bolt11.h"
#include "tools.h"

namespace sw::tools {
namespace {

std::optional<mcp::Tool> make(Engine& engine) {
  Engine* e = &engine;
  return make_tool(
      "lookup_payment", "Look up a payment",
      "Look up a payment or invoice in the connected wallet by payment_hash or invoice (give exactly one): state "
      "(pending/settled/failed…), amount, fees, preimage once settled. Use it to find out what happened to a payment "
      "whose outcome was unknown — never pay again instead. Read-only.",
      read_only_annotations("Look up a payment", true), [e](const json& args, mcp::CallContext&) -> mcp::ToolOutcome {
        bool by_hash = args.contains("payment_hash"), by_invoice = args.contains("invoice");
        if (by_hash == by_invoice)
          return mcp::ToolOutcome::failure(make_error(
              "INVALID_ARGUMENTS", "give exactly one of payment_hash or invoice", json{{"field", "payment_hash"}}));
        std::string hash, invoice;
        if (by_hash) {
          hash = args["payment_hash"].get<std::string>();
          hash = ascii_lower(hash);
        } else {
          invoice = std::string(trim(args["invoice"].get<std::string>()));
          auto inv = bolt11::decode(invoice);
          if (!inv) return mcp::ToolOutcome::failure(inv.error());
          hash = inv->payment_hash;  // wallets index by hash; the invoice itself is not needed
          invoice.clear();
        }
        if (auto err = wallet_unavailable(*e)) return mcp::ToolOutcome::failure(*err);
        auto tx = e->wallet->lookup_invoice(hash, invoice);
        if (!tx) return mcp::ToolOutcome::failure(tx.error());
        return mcp::ToolOutcome::success(json{{"transaction", transaction_to_json(*tx)}});
      });
}

}  // namespace
SW_REGISTER_TOOL(lookup_payment, make);
}  // namespace sw::tools
