// Paywall::access end to end against a scripted paid API and wallet: one purchase per scope, the pending purchase
// followed to an outcome (never paid twice), credentials sent only where they worked, refused ones dropped.
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "helpers.h"

using namespace sw;
using namespace purchase_test;

namespace {

std::string l402_header(const Offer& o) { return "L402 " + o.macaroon + ":" + o.preimage; }

spend::Purchase purchase_of(World& w, const std::string& hash) {
  auto p = w.ledger->purchase_by_payment(hash);
  REQUIRE(p);
  REQUIRE(p->has_value());
  return **p;
}

}  // namespace

TEST_CASE("paywall: pays once for the vector's challenge, then reuses the credential") {
  World w;
  auto first = w.access("/weather");
  INFO((first ? first->message : first.error().code + ": " + first.error().message));
  REQUIRE(first);
  CHECK(first->paid);
  CHECK_FALSE(first->used_credential);
  CHECK(first->protocol == "L402");
  CHECK(first->amount_msat == 10'000);
  CHECK(first->fee_msat == 3);
  CHECK(first->payment_hash == w.offers[0].payment_hash);
  CHECK(first->binding == "verified");
  CHECK(first->response.status == 200);
  CHECK(first->response.body == "data for /weather");
  // The credential sent is exactly the vector's Authorization header.
  CHECK(first->authorization == w.l402["authorization_headers"]["l402"].get<std::string>());
  REQUIRE(w.api.seen.size() == 2);
  CHECK(w.api.seen[0].authorization.empty());
  CHECK(w.api.seen[0].status == 402);
  CHECK(w.api.seen[1].authorization == l402_header(w.offers[0]));
  CHECK(w.api.seen[1].status == 200);
  auto p = purchase_of(w, first->payment_hash);
  CHECK(p.id == first->purchase_id);
  CHECK(p.state == spend::PurchaseState::usable);
  CHECK(p.service == "weather");
  CHECK(p.valid_until == std::optional<int64_t>(1900000000));
  CHECK(p.owner == w.owner);
  // The preimage stays out of the message.
  CHECK(first->message.find(w.offers[0].preimage) == std::string::npos);

  for (int i = 0; i < 3; ++i) {
    auto again = w.access("/weather");
    REQUIRE(again);
    CHECK_FALSE(again->paid);
    CHECK(again->used_credential);
    CHECK(again->purchase_id == p.id);
    CHECK(again->response.status == 200);
    CHECK(again->message.find("nothing was paid") != std::string::npos);
  }
  CHECK(w.wallet.pay_calls == 1);
  // Each reuse is one request, straight with the credential.
  CHECK(w.api.seen.size() == 5);
  CHECK(w.api.seen.back().authorization == l402_header(w.offers[0]));
  // And after a restart.
  w.restart();
  auto later = w.access("/weather");
  REQUIRE(later);
  CHECK(later->used_credential);
  CHECK(w.wallet.pay_calls == 1);
}

TEST_CASE("paywall: the credential of a service is used on its other paths without paying") {
  World w;
  REQUIRE(w.access("/weather"));
  const size_t before = w.api.seen.size();
  // /forecast: not where it was bought, so first asked without it; its 402 names the same service.
  auto r = w.access("/forecast");
  REQUIRE(r);
  CHECK_FALSE(r->paid);
  CHECK(r->used_credential);
  CHECK(r->response.body == "data for /forecast");
  REQUIRE(w.api.seen.size() == before + 2);
  CHECK(w.api.seen[before].authorization.empty());
  CHECK(w.api.seen[before + 1].authorization == l402_header(w.offers[0]));
  // Accepted there: now presented at once.
  auto again = w.access("/forecast");
  REQUIRE(again);
  CHECK(again->used_credential);
  CHECK(w.api.seen.size() == before + 3);
  CHECK(w.wallet.pay_calls == 1);
}

TEST_CASE("paywall: wallet timeout → PAYMENT_OUTCOME_UNKNOWN → PAYMENT_PENDING, never a second pay, settled → reuse") {
  World w;
  w.wallet.timeout_after_paying = true;
  w.wallet.lookup_answer = "NOT_FOUND";  // the wallet paid but has no record yet
  auto first = w.access("/weather");
  REQUIRE_FALSE(first);
  CHECK(first.error().code == "PAYMENT_OUTCOME_UNKNOWN");
  CHECK(first.error().message.find("will not pay again") != std::string::npos);
  CHECK(w.wallet.pay_calls == 1);
  const std::string hash = w.offers[0].payment_hash;
  auto p = purchase_of(w, hash);
  CHECK(p.state == spend::PurchaseState::pending);
  CHECK(w.payment(hash).state == spend::State::unknown);

  // At once, and later (a restart in between): PAYMENT_PENDING naming the first payment; the wallet is asked,
  // nothing is paid.
  for (int round = 0; round < 3; ++round) {
    INFO("round " << round);
    if (round == 2) w.restart();
    w.clock->advance(30);
    const int lookups = w.wallet.lookups;
    auto again = w.access("/weather");
    REQUIRE_FALSE(again);
    CHECK(again.error().code == "PAYMENT_PENDING");
    CHECK(again.error().details["payment_hash"] == hash);
    CHECK(again.error().details["since"] == p.created_at);
    CHECK(again.error().details["wallet_said"] == "NOT_FOUND");
    CHECK(again.error().message.find("Nothing new was paid") != std::string::npos);
    CHECK(w.wallet.lookups == lookups + 1);
    CHECK(w.wallet.pay_calls == 1);
  }
  CHECK(w.payment(hash).state == spend::State::unknown);
  CHECK(purchase_of(w, hash).state == spend::PurchaseState::pending);

  // The wallet now reports it settled: the same URL is served with that purchase's credential, nothing paid.
  w.wallet.lookup_answer = "settled";
  auto served = w.access("/weather");
  INFO((served ? served->message : served.error().code + ": " + served.error().message));
  REQUIRE(served);
  CHECK_FALSE(served->paid);
  CHECK(served->used_credential);
  CHECK(served->purchase_id == p.id);
  CHECK(served->response.status == 200);
  CHECK(w.api.seen.back().authorization == l402_header(w.offers[0]));
  CHECK(w.wallet.pay_calls == 1);
  auto row = w.payment(hash);
  CHECK(row.state == spend::State::settled);
  CHECK(row.resolved_by == "wallet");
  CHECK(purchase_of(w, hash).state == spend::PurchaseState::usable);
  // From now on presented directly.
  const size_t n = w.api.seen.size();
  REQUIRE(w.access("/weather"));
  CHECK(w.api.seen.size() == n + 1);
  CHECK(w.wallet.pay_calls == 1);
}

TEST_CASE("paywall: an unknown payment the wallet then reports failed is bought again") {
  World w;
  w.wallet.pay_error = make_error("WALLET_TIMEOUT", "no reply");  // not paid at all
  auto first = w.access("/weather");
  REQUIRE_FALSE(first);
  CHECK(first.error().code == "PAYMENT_OUTCOME_UNKNOWN");
  w.wallet.pay_error.reset();
  // The wallet looks the first payment up and says it failed: nothing was paid, so buying again is right.
  w.wallet.executed.insert(w.offers[0].payment_hash);  // known to the wallet…
  w.wallet.lookup_answer = "failed";                    // …as failed
  auto second = w.access("/weather");
  INFO((second ? second->message : second.error().code + ": " + second.error().message));
  REQUIRE(second);
  CHECK(second->paid);
  CHECK(second->payment_hash == w.offers[1].payment_hash);
  CHECK(purchase_of(w, w.offers[0].payment_hash).state == spend::PurchaseState::failed);
  CHECK(purchase_of(w, w.offers[1].payment_hash).state == spend::PurchaseState::usable);
  CHECK(w.wallet.pay_calls == 2);
}

TEST_CASE("paywall: a credential refused with 401 where it worked is dropped, and bought again") {
  World w;
  auto first = w.access("/weather");
  REQUIRE(first);
  const int64_t old_id = first->purchase_id;
  w.api.revoked.insert(w.offers[0].payment_hash);  // the server expired it
  const size_t before = w.api.seen.size();
  auto second = w.access("/weather");
  INFO((second ? second->message : second.error().code + ": " + second.error().message));
  REQUIRE(second);
  CHECK(second->paid);
  CHECK(second->payment_hash == w.offers[1].payment_hash);
  CHECK(second->response.status == 200);
  CHECK(second->message.find("refused and dropped") != std::string::npos);
  // Sequence: the old credential (401), the request without it (402), the new credential (200).
  REQUIRE(w.api.seen.size() == before + 3);
  CHECK(w.api.seen[before].authorization == l402_header(w.offers[0]));
  CHECK(w.api.seen[before].status == 401);
  CHECK(w.api.seen[before + 1].authorization.empty());
  CHECK(w.api.seen[before + 2].authorization == l402_header(w.offers[1]));
  auto old = w.ledger->get_purchase(old_id);
  REQUIRE(old);
  CHECK(old->state == spend::PurchaseState::refused);
  CHECK(w.wallet.pay_calls == 2);
  // The new one is what is used from now on.
  auto third = w.access("/weather");
  REQUIRE(third);
  CHECK(third->used_credential);
  CHECK(third->purchase_id == second->purchase_id);
  CHECK(w.wallet.pay_calls == 2);
}

TEST_CASE("paywall: an MPP-only path after an L402 purchase on the same origin is bought, without the L402 credential") {
  World w;
  REQUIRE(w.access("/weather"));
  auto r = w.access("/mpp");
  INFO((r ? r->message : r.error().code + ": " + r.error().message));
  REQUIRE(r);
  CHECK(r->paid);
  CHECK(r->protocol == "MPP");
  CHECK(r->payment_hash == w.offers[1].payment_hash);
  CHECK(r->response.status == 200);
  CHECK(r->response.body == "data for /mpp");
  for (const auto& s : w.api.seen)
    if (s.path == "/mpp") CHECK(s.authorization.rfind("L402", 0) == std::string::npos);
  // MPP credentials are single use: consumed, never presented again.
  CHECK(purchase_of(w, w.offers[1].payment_hash).state == spend::PurchaseState::consumed);
  // The L402 credential is still good where it was bought.
  auto back = w.access("/weather");
  REQUIRE(back);
  CHECK(back->used_credential);
  CHECK(w.wallet.pay_calls == 2);
  // MPP credentials are never kept: the next /mpp access is a new charge, asked for without any credential.
  const size_t before = w.api.seen.size();
  auto next = w.access("/mpp");
  REQUIRE(next);
  CHECK(next->paid);
  CHECK(next->payment_hash == w.offers[2].payment_hash);
  REQUIRE(w.api.seen.size() > before);
  CHECK(w.api.seen[before].authorization.empty());
  CHECK(w.wallet.pay_calls == 3);
}

TEST_CASE("paywall: an idempotent replay (never_pay) uses what was bought but never buys") {
  World w;
  auto refused = w.access("/weather", /*never_pay=*/true);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == "IDEMPOTENT_REPLAY_WOULD_PAY");
  CHECK(refused.error().message.find("nothing was paid") != std::string::npos);
  CHECK(w.wallet.pay_calls == 0);
  auto page = w.ledger->list_payments({});
  REQUIRE(page);
  CHECK(page->items.empty());

  auto bought = w.access("/weather");
  REQUIRE(bought);
  CHECK(bought->paid);
  auto replay = w.access("/weather", true);
  REQUIRE(replay);
  CHECK(replay->used_credential);
  CHECK(w.wallet.pay_calls == 1);
  // Its credential refused: a replay still does not buy again.
  w.api.revoked.insert(bought->payment_hash);
  refused = w.access("/weather", true);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == "IDEMPOTENT_REPLAY_WOULD_PAY");
  CHECK(w.wallet.pay_calls == 1);
}

TEST_CASE("paywall: purchases are per owner") {
  World w;
  REQUIRE(w.access("/weather"));
  w.owner = spend::Owner{"agent", "", true};  // a hosted caller with the same label: another owner
  auto r = w.access("/weather");
  REQUIRE(r);
  CHECK(r->paid);
  CHECK(r->payment_hash == w.offers[1].payment_hash);
  // Its first request went without the other owner's credential.
  bool sent_other = false;
  for (size_t i = 2; i < w.api.seen.size(); ++i) sent_other |= w.api.seen[i].authorization == l402_header(w.offers[0]);
  CHECK_FALSE(sent_other);
  CHECK(w.wallet.pay_calls == 2);
}

TEST_CASE("paywall: two concurrent calls for one scope make one payment, the second waits and uses it") {
  World w;
  w.wallet.gated = true;  // the first payment hangs in the wallet until the gate opens
  Result<purchase::AccessResult> first = make_error("NOT_RUN", ""), second = make_error("NOT_RUN", "");
  std::thread t1([&] { first = w.access("/weather"); });
  while (w.ledger->status()->pending_count == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // The first call's payment is in flight: the second call's 402 finds its pending purchase and waits.
  std::thread t2([&] { second = w.access("/weather"); });
  while (w.api.seen_count() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  w.wallet.open_gate();
  t1.join();
  t2.join();
  INFO((second ? second->message : second.error().code + ": " + second.error().message));
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first->paid);
  CHECK_FALSE(second->paid);
  CHECK(second->used_credential);
  CHECK(second->purchase_id == first->purchase_id);
  CHECK(second->response.status == 200);
  CHECK(w.wallet.pay_calls == 1);
}

TEST_CASE("paywall: a concurrent call that cannot wait for the first payment gets PAYMENT_PENDING, nothing paid") {
  World w;
  w.paywall_options.wait_for_inflight_s = 1;
  w.restart();
  w.wallet.gated = true;
  Result<purchase::AccessResult> first = make_error("NOT_RUN", "");
  std::thread t1([&] { first = w.access("/weather"); });
  while (w.ledger->status()->pending_count == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto second = w.access("/weather");  // waits about a second, then answers
  w.wallet.open_gate();
  t1.join();
  REQUIRE_FALSE(second);
  CHECK(second.error().code == "PAYMENT_PENDING");
  CHECK(second.error().details["payment_hash"] == w.offers[0].payment_hash);
  REQUIRE(first);
  CHECK(first->paid);
  CHECK(w.wallet.pay_calls == 1);
}

TEST_CASE("paywall: a service credential refused on another path of the service is kept, and that path is bought") {
  World w;
  auto first = w.access("/weather");
  REQUIRE(first);
  // The server no longer takes it (say, a capability it lacks at /forecast): refused at /forecast, where it never
  // worked. The clean answer (402) decides: /forecast is bought; the credential stays where it worked.
  w.api.revoked.insert(w.offers[0].payment_hash);
  auto r = w.access("/forecast");
  INFO((r ? r->message : r.error().code + ": " + r.error().message));
  REQUIRE(r);
  CHECK(r->paid);
  CHECK(r->response.status == 200);
  CHECK(r->response.body == "data for /forecast");
  auto old = w.ledger->get_purchase(first->purchase_id);
  REQUIRE(old);
  CHECK(old->state == spend::PurchaseState::usable);
  CHECK(w.wallet.pay_calls == 2);
  // The new credential serves /forecast from now on.
  auto again = w.access("/forecast");
  REQUIRE(again);
  CHECK(again->used_credential);
  CHECK(again->purchase_id == r->purchase_id);
  CHECK(w.wallet.pay_calls == 2);
}

TEST_CASE("paywall: a credential imported from the old token file is used origin-wide, and dropped when refused") {
  World w;
  w.api.next = 1;  // offer 0 was bought back then: the server issues fresh invoices
  // Origins are kept as Url::origin() spells them (with the port), as the old token file did.
  auto added = w.ledger->import_credential(w.owner, "https://api.example.com:443", {}, l402_header(w.offers[0]));
  REQUIRE(added);
  REQUIRE(*added);
  auto r = w.access("/forecast");
  REQUIRE(r);
  CHECK(r->used_credential);
  CHECK_FALSE(r->paid);
  REQUIRE(w.api.seen.size() == 1);
  CHECK(w.api.seen[0].authorization == l402_header(w.offers[0]));
  // Refused: dropped, and the scope is bought.
  w.api.revoked.insert(w.offers[0].payment_hash);
  auto bought = w.access("/weather");
  INFO((bought ? bought->message : bought.error().code + ": " + bought.error().message));
  REQUIRE(bought);
  CHECK(bought->paid);
  CHECK(bought->payment_hash == w.offers[1].payment_hash);
  auto live = w.ledger->live_purchases(w.owner, "https://api.example.com:443");
  REQUIRE(live);
  REQUIRE(live->size() == 1);
  CHECK(live->front().payment_hash == w.offers[1].payment_hash);
  CHECK(w.wallet.pay_calls == 1);
}
