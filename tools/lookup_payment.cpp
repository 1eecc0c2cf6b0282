// lookup_payment — the wallet's record of one payment or invoice, by payment hash or invoice.
// Hosted (bearer-token) callers may look up only payments satwarden made for them, and invoices (incoming).
#include "bolt11/bolt11.h"
#include "spend/spend.h"
#include "tools.h"

namespace sw::tools {
namespace {

std::optional<mcp::Tool> make(Engine& engine) {
  Engine* e = &engine;
  return make_tool(
      "lookup_payment", "Look up a payment",
      "Look up a payment or invoice in the connected wallet by payment_hash or invoice (give exactly one): state "
      "(pending/settled/failed…), amount, fees, preimage once settled. Use it to find out what happened to a payment "
      "whose outcome was unknown — never pay again instead. A caller authenticated with a bearer token (hosted "
      "HTTP) sees only payments satwarden made for that token and invoices it can name; another token's payment, "
      "or a payment made outside satwarden, answers NOT_FOUND like an unknown hash. Read-only.",
      read_only_annotations("Look up a payment", true), [e](const json& args, mcp::CallContext& ctx) -> mcp::ToolOutcome {
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
        const Caller who = caller_of(*e, ctx);
        const Error hidden = make_error("NOT_FOUND", "no payment or invoice with payment hash " + hash +
                                                         " that this caller may see");
        // Hosted: the newest ledger row for the hash must be this caller's. A hash satwarden never paid may be an
        // invoice (make_invoice), which is answered; an outgoing payment it did not make for this caller is not.
        bool in_ledger = false;
        if (who.hosted && e->ledger) {
          auto row = e->ledger->get_payment(hash);
          if (row) {
            if (row->client != who.client) return mcp::ToolOutcome::failure(hidden);
            in_ledger = true;
          } else if (row.error().code != "PAYMENT_NOT_FOUND") {
            return mcp::ToolOutcome::failure(row.error());
          }
        }
        if (auto err = wallet_unavailable(*e)) return mcp::ToolOutcome::failure(*err);
        auto tx = e->wallet->lookup_invoice(hash, invoice);
        if (!tx) return mcp::ToolOutcome::failure(tx.error());
        json t = transaction_to_json(*tx);
        if (who.hosted && !in_ledger && t["type"] != "incoming") return mcp::ToolOutcome::failure(hidden);
        return mcp::ToolOutcome::success(json{{"transaction", t}});
      });
}

}  // namespace
SW_REGISTER_TOOL(lookup_payment, make);
}  // namespace sw::tools
