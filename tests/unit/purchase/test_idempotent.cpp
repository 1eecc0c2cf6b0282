// run_idempotent: one outcome per (owner, idempotency key), Stripe's model, around a paying body that goes through
// the real payer and ledger.
#include <catch2/catch.hpp>

#include "helpers.h"

using namespace sw;
using namespace purchase_test;

namespace {

// A pay_invoice-like body that counts its runs and pays through the payer (linking the key to the reservation).
struct Tool {
  World& w;
  int runs = 0, replays = 0;
  std::optional<spend::Payment> last_resume;
  explicit Tool(World& world) : w(world) {}

  purchase::CallOutcome pay(const purchase::IdempotentContext& ctx, const std::string& invoice, uint64_t max_sats) {
    ++runs;
    if (ctx.replay) ++replays;
    last_resume = ctx.resume;
    pay::PayRequest rq;
    rq.invoice = invoice;
    rq.max_sats = max_sats;
    rq.client = w.owner.client;
    rq.envelope = w.owner.envelope;
    rq.tool = "pay_invoice";
    rq.idempotency = ctx.ref;
    rq.resume = ctx.resume;
    auto r = w.payer->pay(rq);
    purchase::CallOutcome out;
    if (!r) {
      out.is_error = true;
      out.error = r.error();
      return out;
    }
    out.structured = json{{"payment_hash", r->payment_hash}, {"preimage", r->preimage}, {"amount_msat", r->amount_msat}};
    return out;
  }

  purchase::CallOutcome call(const std::optional<std::string>& key, const std::string& invoice, uint64_t max_sats = 100,
                             const std::string& tool = "pay_invoice") {
    json args{{"invoice", invoice}, {"max_sats", max_sats}};
    if (key) args["idempotency_key"] = *key;
    return purchase::run_idempotent(*w.ledger, w.payer.get(), w.owner, key, tool, args,
                                    [&](const purchase::IdempotentContext& ctx) { return pay(ctx, invoice, max_sats); });
  }
};

}  // namespace

TEST_CASE("idempotent: without a key the body runs every time") {
  World w;
  Tool t(w);
  auto a = t.call(std::nullopt, w.offers[1].invoice);
  CHECK_FALSE(a.is_error);
  auto b = t.call(std::nullopt, w.offers[1].invoice);
  REQUIRE(b.is_error);
  CHECK(b.error.code == "ALREADY_PAID");  // the payment-hash guard, not the key
  CHECK(t.runs == 2);
}

TEST_CASE("idempotent: the same key returns the first outcome and never pays again") {
  World w;
  Tool t(w);
  auto first = t.call("key-1", w.offers[1].invoice);
  REQUIRE_FALSE(first.is_error);
  CHECK(first.structured["payment_hash"] == w.offers[1].payment_hash);
  for (int i = 0; i < 3; ++i) {
    auto again = t.call("key-1", w.offers[1].invoice);
    REQUIRE_FALSE(again.is_error);
    CHECK(again.structured == first.structured);
  }
  CHECK(t.runs == 1);
  CHECK(w.wallet.pay_calls == 1);
  // The stored outcome survives a restart.
  w.restart();
  auto later = t.call("key-1", w.offers[1].invoice);
  REQUIRE_FALSE(later.is_error);
  CHECK(later.structured == first.structured);
  CHECK(t.runs == 1);
  // The same key of another owner is another key.
  w.owner = spend::Owner{"other", "", false};
  auto theirs = t.call("key-1", w.offers[2].invoice);
  REQUIRE_FALSE(theirs.is_error);
  CHECK(theirs.structured["payment_hash"] == w.offers[2].payment_hash);
  CHECK(t.runs == 2);
  CHECK(w.wallet.pay_calls == 2);
}

TEST_CASE("idempotent: the same key with other arguments or another tool is IDEMPOTENCY_KEY_REUSED, nothing run") {
  World w;
  Tool t(w);
  REQUIRE_FALSE(t.call("key-1", w.offers[1].invoice).is_error);
  auto other_invoice = t.call("key-1", w.offers[2].invoice);
  REQUIRE(other_invoice.is_error);
  CHECK(other_invoice.error.code == "IDEMPOTENCY_KEY_REUSED");
  auto other_cap = t.call("key-1", w.offers[1].invoice, 99);
  REQUIRE(other_cap.is_error);
  CHECK(other_cap.error.code == "IDEMPOTENCY_KEY_REUSED");
  auto other_tool = t.call("key-1", w.offers[1].invoice, 100, "pay_keysend");
  REQUIRE(other_tool.is_error);
  CHECK(other_tool.error.code == "IDEMPOTENCY_KEY_REUSED");
  CHECK(t.runs == 1);
  CHECK(w.wallet.pay_calls == 1);
}

TEST_CASE("idempotent: an outcome reached before any reservation is not stored, the key stays free") {
  World w;
  Tool t(w);
  auto refused = t.call("key-1", w.offers[1].invoice, 5);  // 10 sats > max_sats 5: refused before reserving
  REQUIRE(refused.is_error);
  CHECK(refused.error.code == "AMOUNT_EXCEEDS_MAX");
  auto rec = w.ledger->get_idempotent(spend::IdempotencyRef{w.owner, "key-1"});
  REQUIRE(rec);
  CHECK_FALSE(rec->has_value());
  // The same key may now be used for the corrected call (other arguments), and it runs.
  auto ok = t.call("key-1", w.offers[1].invoice, 100);
  REQUIRE_FALSE(ok.is_error);
  CHECK(t.runs == 2);
  CHECK(w.wallet.pay_calls == 1);
  rec = w.ledger->get_idempotent(spend::IdempotencyRef{w.owner, "key-1"});
  REQUIRE(rec);
  REQUIRE(rec->has_value());
  CHECK((*rec)->finished);
  CHECK((*rec)->payment_hash == w.offers[1].payment_hash);
}

TEST_CASE("idempotent: a definite failure after reserving is the key's outcome") {
  World w;
  Tool t(w);
  w.wallet.pay_error = make_error("INSUFFICIENT_BALANCE", "no funds");
  auto first = t.call("key-1", w.offers[1].invoice);
  REQUIRE(first.is_error);
  CHECK(first.error.code == "INSUFFICIENT_BALANCE");
  w.wallet.pay_error.reset();
  auto again = t.call("key-1", w.offers[1].invoice);
  REQUIRE(again.is_error);
  CHECK(again.error.code == "INSUFFICIENT_BALANCE");
  CHECK(t.runs == 1);
  CHECK(w.wallet.pay_calls == 1);
}

TEST_CASE("idempotent: unknown outcome → PAYMENT_PENDING while unknown → replay with resume once settled") {
  World w;
  Tool t(w);
  w.wallet.timeout_after_paying = true;
  w.wallet.lookup_answer = "NOT_FOUND";
  auto first = t.call("key-1", w.offers[1].invoice);
  REQUIRE(first.is_error);
  CHECK(first.error.code == "PAYMENT_OUTCOME_UNKNOWN");
  CHECK(w.wallet.pay_calls == 1);

  auto pending = t.call("key-1", w.offers[1].invoice);
  REQUIRE(pending.is_error);
  CHECK(pending.error.code == "PAYMENT_PENDING");
  CHECK(pending.error.details["payment_hash"] == w.offers[1].payment_hash);
  CHECK(t.runs == 1);
  CHECK(w.wallet.pay_calls == 1);

  w.wallet.lookup_answer = "settled";
  auto replay = t.call("key-1", w.offers[1].invoice);
  REQUIRE_FALSE(replay.is_error);
  CHECK(replay.structured["payment_hash"] == w.offers[1].payment_hash);
  CHECK(replay.structured["preimage"] == w.offers[1].preimage);
  CHECK(t.runs == 2);
  CHECK(t.replays == 1);
  REQUIRE(t.last_resume);
  CHECK(t.last_resume->state == spend::State::settled);
  CHECK(w.wallet.pay_calls == 1);  // rebuilt from the ledger row, nothing sent
  // The settled outcome is now the stored one.
  auto stored = t.call("key-1", w.offers[1].invoice);
  REQUIRE_FALSE(stored.is_error);
  CHECK(stored.structured == replay.structured);
  CHECK(t.runs == 2);
}

TEST_CASE("idempotent: unknown outcome the wallet then reports failed → PAYMENT_FAILED, nothing paid") {
  World w;
  Tool t(w);
  w.wallet.pay_error = make_error("WALLET_TIMEOUT", "no reply");  // the request never executed…
  auto first = t.call("key-1", w.offers[1].invoice);
  REQUIRE(first.is_error);
  CHECK(first.error.code == "PAYMENT_OUTCOME_UNKNOWN");
  w.wallet.executed.insert(w.offers[1].payment_hash);  // …and the wallet's record says it failed
  w.wallet.lookup_answer = "failed";
  auto again = t.call("key-1", w.offers[1].invoice);
  REQUIRE(again.is_error);
  CHECK(again.error.code == "PAYMENT_FAILED");
  CHECK(again.error.message.find("nothing was paid") != std::string::npos);
  CHECK(w.payment(w.offers[1].payment_hash).state == spend::State::failed);
  auto stored = t.call("key-1", w.offers[1].invoice);
  REQUIRE(stored.is_error);
  CHECK(stored.error.code == "PAYMENT_FAILED");
  CHECK(t.runs == 1);
  CHECK(w.wallet.pay_calls == 1);
}
