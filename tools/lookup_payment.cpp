// lookup_payment — one payment or invoice, by payment hash or invoice: satwarden's own ledger first (state, what
// the wallet last said, what happens next), then the wallet's record. Hosted (bearer-token) callers may look up
// only payments satwarden made for them, and invoices (incoming).
#include "bolt11/bolt11.h"
#include "pay/pay.h"
#include "spend/spend.h"
#include "tools.h"

namespace sw::tools {
namespace {

json ledger_view(const spend::Payment& p, int64_t now) {
  std::string next;
  switch (p.state) {
    case spend::State::settled:
      next = p.resolved_by == "owner" ? "paid (the owner resolved it as paid); nothing more to do"
                                      : "paid; nothing more to do";
      break;
    case spend::State::failed:
    case spend::State::released:
      next = "not paid: the budget was released. To try again, pay a fresh invoice (a paywall issues one with its "
             "next 402)";
      break;
    case spend::State::unknown:
      next = "the outcome is not known yet, so the amount stays reserved. satwarden asks the wallet about every "
             "minute and settles it as soon as the wallet reports (the owner can also resolve it with `satwarden "
             "payments resolve " + std::to_string(p.id) + " --paid|--failed`). Do not pay it again";
      break;
    default:
      next = "being paid right now by another call: wait for that call's result";
  }
  auto opt = [](const auto& v) { return v ? json(*v) : json(nullptr); };
  return json{{"state", spend::state_name(p.state)},
              {"amount_sats", msat_to_sat_ceil(p.amount_msat)},
              {"fee_msat", opt(p.fee_msat)},
              {"created_at", p.created_at},
              {"updated_at", p.updated_at},
              {"error_code", p.error_code.empty() ? json(nullptr) : json(p.error_code)},
              {"wallet_said", p.wallet_said.empty() ? json(nullptr) : json(p.wallet_said)},
              {"wallet_said_at", opt(p.wallet_said_at)},
              {"resolved_by", p.resolved_by.empty() ? json(nullptr) : json(p.resolved_by)},
              {"request_id", p.request_id.empty() ? json(nullptr) : json(p.request_id)},
              {"request_expires_at", opt(p.request_expires_at)},
              {"next_check_at", p.state == spend::State::unknown ? json(now + 60) : json(nullptr)},
              {"fiat", spend::fiat_json(p)},  // the BTC prices recorded with it and its value at them
              {"what_next", next}};
}

std::optional<mcp::Tool> make(Engine& engine) {
  Engine* e = &engine;
  return make_tool(
      "lookup_payment", "Look up a payment",
      "Look up a payment by payment_hash or invoice (give one): satwarden's record (state, what the wallet last "
      "said, what happens next) and the wallet's (amount, fees, preimage once settled). Use it when an outcome "
      "was unknown — never pay again instead.{hosted} A caller authenticated with a bearer token (hosted HTTP) "
      "sees only payments satwarden made for that token and invoices it can name; another token's payment, or a "
      "payment made outside satwarden, answers NOT_FOUND like an unknown hash.{/hosted} Read-only.",
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
        // The ledger first: a payment satwarden made is never answered with a bare NOT_FOUND. Hosted: the newest
        // row for the hash must be this caller's. A hash satwarden never paid may be an invoice (make_invoice),
        // which is answered; an outgoing payment it did not make for this caller is not.
        std::optional<spend::Payment> row;
        if (e->ledger) {
          auto r = e->ledger->get_payment(hash);
          if (r) {
            if (who.hosted && r->client != who.client) return mcp::ToolOutcome::failure(hidden);
            row = *r;
          } else if (r.error().code != "PAYMENT_NOT_FOUND") {
            return mcp::ToolOutcome::failure(r.error());
          }
        }
        if (row && row->state == spend::State::unknown && e->payer && e->wallet) {
          if (auto fresh = e->payer->refresh(hash)) row = *fresh;  // asks the wallet now
        }
        if (row) {
          json out{{"ledger", ledger_view(*row, e->clock->now_unix())}};
          if (e->wallet) {
            auto tx = e->wallet->lookup_invoice(hash, invoice);
            if (tx) out["transaction"] = transaction_to_json(*tx);
          }
          return mcp::ToolOutcome::success(out);
        }
        if (auto err = wallet_unavailable(*e)) return mcp::ToolOutcome::failure(*err);
        auto tx = e->wallet->lookup_invoice(hash, invoice);
        if (!tx) return mcp::ToolOutcome::failure(tx.error());
        json t = transaction_to_json(*tx);
        if (who.hosted && t["type"] != "incoming") return mcp::ToolOutcome::failure(hidden);
        return mcp::ToolOutcome::success(json{{"transaction", t}});
      });
}

}  // namespace
SW_REGISTER_TOOL(lookup_payment, make);
}  // namespace sw::tools
