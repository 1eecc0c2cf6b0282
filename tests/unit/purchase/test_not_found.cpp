// Payer::lookup: a NOT_FOUND from lookup_invoice never concludes "failed" while the original pay request can
// still execute (before request_expires_at + grace), and after that only for a wallet known to honour NIP-47
// `expiration`. Other wallet answers decide as they say.
#include <catch2/catch.hpp>

#include "helpers.h"

using namespace sw;
using namespace purchase_test;

namespace {

// Pays offer 1 with a wallet that pays but whose reply is lost: the row is left `unknown`.
struct Unknown {
  World w;
  Offer offer;
  int64_t sent_at = 0;
  int64_t expires_at = 0;

  explicit Unknown(pay::PayerOptions o) : w(o) {
    offer = w.offers[1];
    w.wallet.timeout_after_paying = true;
    w.wallet.lookup_answer = "NOT_FOUND";  // paid, but the wallet has no record (yet)
    sent_at = w.clock->now_unix();
    pay::PayRequest rq;
    rq.invoice = offer.invoice;
    rq.max_sats = 100;
    rq.client = "agent";
    rq.tool = "pay_invoice";
    auto r = w.payer->pay(rq);
    REQUIRE_FALSE(r);
    REQUIRE(r.error().code == "PAYMENT_OUTCOME_UNKNOWN");
    auto row = w.payment(offer.payment_hash);
    REQUIRE(row.state == spend::State::unknown);
    REQUIRE(row.request_expires_at);
    expires_at = *row.request_expires_at;
  }
  spend::LookupOutcome lookup() {
    auto r = w.payer->lookup(offer.payment_hash);
    REQUIRE(r);
    return *r;
  }
};

pay::PayerOptions opts(bool honours, int64_t grace = 5) {
  pay::PayerOptions o;
  o.pay_timeout_s = 60;
  o.not_found_grace_s = grace;
  o.wallet_honours_expiration = honours;
  return o;
}

}  // namespace

TEST_CASE("NOT_FOUND: the row records until when the request can execute (pay timeout + 10 s)") {
  Unknown u(opts(false));
  CHECK(u.expires_at == u.sent_at + 60 + 10);
  CHECK(u.w.wallet.pays() == 1);
}

TEST_CASE("NOT_FOUND before request_expires_at + grace is pending, whatever the wallet") {
  for (bool honours : {false, true}) {
    INFO("wallet_honours_expiration " << honours);
    Unknown u(opts(honours));
    for (int64_t t : {u.sent_at, u.expires_at, u.expires_at + 4}) {
      INFO("at expiration " << (t - u.expires_at));
      u.w.clock->set(t);
      auto out = u.lookup();
      CHECK(out.kind == spend::LookupOutcome::Kind::pending);
      CHECK(out.said == "NOT_FOUND");
      auto sum = u.w.payer->reconcile();
      REQUIRE(sum);
      CHECK(sum->pending == 1);
      CHECK(sum->failed == 0);
      auto row = u.w.payment(u.offer.payment_hash);
      CHECK(row.state == spend::State::unknown);
      CHECK(row.wallet_said == "NOT_FOUND");
      CHECK(row.wallet_said_at == t);
    }
  }
}

TEST_CASE("NOT_FOUND after request_expires_at + grace: still pending unless the wallet honours expiration") {
  SECTION("a wallet not known to honour expiration: the budget stays held, however late") {
    Unknown u(opts(false));
    for (int64_t t : {u.expires_at + 5, u.expires_at + 3600, u.expires_at + 30 * 86400}) {
      u.w.clock->set(t);
      auto out = u.lookup();
      CHECK(out.kind == spend::LookupOutcome::Kind::pending);
      CHECK(out.said == "NOT_FOUND");
      REQUIRE(u.w.payer->reconcile());
      CHECK(u.w.payment(u.offer.payment_hash).state == spend::State::unknown);
    }
    auto st = u.w.ledger->status();
    REQUIRE(st);
    CHECK(st->unknown_count == 1);
    // The wallet reports late: settled, never sent again.
    u.w.wallet.lookup_answer = "settled";
    auto row = u.w.payer->refresh(u.offer.payment_hash);
    REQUIRE(row);
    CHECK(row->state == spend::State::settled);
    CHECK(row->resolved_by == "wallet");
    CHECK(row->preimage == u.offer.preimage);
    CHECK(u.w.wallet.pays() == 1);
  }
  SECTION("a wallet that honours expiration: failed from expiration + grace on, not a second earlier") {
    Unknown u(opts(true));
    u.w.clock->set(u.expires_at + 4);
    CHECK(u.lookup().kind == spend::LookupOutcome::Kind::pending);
    u.w.clock->set(u.expires_at + 5);
    auto out = u.lookup();
    CHECK(out.kind == spend::LookupOutcome::Kind::failed);
    CHECK(out.error_code == "NOT_FOUND_AFTER_EXPIRATION");
    CHECK(out.said == "NOT_FOUND");
    auto sum = u.w.payer->reconcile();
    REQUIRE(sum);
    CHECK(sum->failed == 1);
    auto row = u.w.payment(u.offer.payment_hash);
    CHECK(row.state == spend::State::failed);
    CHECK(row.error_code == "NOT_FOUND_AFTER_EXPIRATION");
    CHECK(row.resolved_by == "wallet");
    CHECK(row.counted_msat() == 0);
  }
  SECTION("the grace period is the configured one") {
    Unknown u(opts(true, 30));
    u.w.clock->set(u.expires_at + 29);
    CHECK(u.lookup().kind == spend::LookupOutcome::Kind::pending);
    u.w.clock->set(u.expires_at + 30);
    CHECK(u.lookup().kind == spend::LookupOutcome::Kind::failed);
  }
}

TEST_CASE("NOT_FOUND for a row without a recorded expiry (pre-v4): its last update + pay timeout + 15 s + grace") {
  World w(opts(true));
  const Offer& o = w.offers[1];
  spend::ReserveRequest rr;
  rr.client = "agent";
  rr.tool = "pay_invoice";
  rr.protocol = "bolt11";
  rr.invoice = o.invoice;
  rr.payment_hash = o.payment_hash;
  rr.amount_msat = 10'000;
  auto r = w.ledger->reserve(rr);
  REQUIRE(r);
  REQUIRE(w.ledger->mark_in_flight(r->id));  // no request_expires_at
  REQUIRE(w.ledger->mark_unknown(r->id, "WALLET_TIMEOUT"));
  const int64_t t = w.payment(o.payment_hash).updated_at;
  REQUIRE_FALSE(w.payment(o.payment_hash).request_expires_at);
  w.clock->set(t + 60 + 15 + 5 - 1);
  auto out = w.payer->lookup(o.payment_hash);
  REQUIRE(out);
  CHECK(out->kind == spend::LookupOutcome::Kind::pending);
  w.clock->set(t + 60 + 15 + 5);
  out = w.payer->lookup(o.payment_hash);
  REQUIRE(out);
  CHECK(out->kind == spend::LookupOutcome::Kind::failed);
}

TEST_CASE("lookup: the wallet's own answers decide, a lookup error is an error, recorded as such") {
  Unknown u(opts(false));
  u.w.wallet.lookup_answer = "pending";
  auto out = u.lookup();
  CHECK(out.kind == spend::LookupOutcome::Kind::pending);
  CHECK(out.said == "pending");

  u.w.wallet.lookup_error = make_error("WALLET_TIMEOUT", "no reply");
  auto err = u.w.payer->lookup(u.offer.payment_hash);
  REQUIRE_FALSE(err);
  CHECK(err.error().code == "WALLET_TIMEOUT");
  auto row = u.w.payer->refresh(u.offer.payment_hash);
  REQUIRE(row);
  CHECK(row->state == spend::State::unknown);
  CHECK(row->wallet_said.find("WALLET_TIMEOUT") != std::string::npos);
  u.w.wallet.lookup_error.reset();

  u.w.wallet.lookup_answer = "failed";
  out = u.lookup();
  CHECK(out.kind == spend::LookupOutcome::Kind::failed);
  CHECK(out.error_code == "PAYMENT_FAILED");

  u.w.wallet.lookup_answer = "settled";
  out = u.lookup();
  CHECK(out.kind == spend::LookupOutcome::Kind::settled);
  CHECK(out.preimage == u.offer.preimage);
  CHECK(out.fee_msat == std::optional<uint64_t>(3));
}

TEST_CASE("a payment whose outcome is unknown is never sent again, before or after its expiration") {
  Unknown u(opts(false));
  pay::PayRequest rq;
  rq.invoice = u.offer.invoice;
  rq.max_sats = 100;
  rq.client = "agent";
  rq.tool = "pay_invoice";
  // (The invoice itself is valid for an hour.)
  for (int64_t t : {u.sent_at + 1, u.expires_at + 600}) {
    u.w.clock->set(t);
    auto again = u.w.payer->pay(rq);
    REQUIRE_FALSE(again);
    CHECK(again.error().code == "PAYMENT_STATE_UNKNOWN");
    CHECK(u.w.wallet.pay_calls == 1);
  }
  // Once the wallet says it settled, a retry is ALREADY_PAID — still nothing sent.
  u.w.wallet.lookup_answer = "settled";
  auto again = u.w.payer->pay(rq);
  REQUIRE_FALSE(again);
  CHECK(again.error().code == "ALREADY_PAID");
  CHECK(u.w.wallet.pay_calls == 1);
  auto row = u.w.payment(u.offer.payment_hash);
  CHECK(row.state == spend::State::settled);
  REQUIRE(row.fee_msat);
  CHECK(row.amount_msat + *row.fee_msat == 10'000 + 3);  // ledger = wallet, to the msat
}
