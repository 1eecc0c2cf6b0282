// The purchase state machine and idempotency keys (schema v4), through the Ledger API only: what a purchase is
// in each state, what blocks a second purchase of the same scope, restarts in every state, and the owner's and
// the wallet's decisions on payments whose outcome is unknown (resolve_by_owner, record_lookup).
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "helpers.h"
#include "spend/spend.h"

using namespace sw;
using namespace sw::spend;
using spend_test::FakeClock;
using spend_test::hash_of;
using spend_test::TempDir;

namespace {

const char* kOrigin = "https://api.example.com";
const char* kPre = "478da96e1b88fc94c9ded5ca8a1f6bca50751b40beb1e5f75ea0b5ba09397a35";

Owner owner(const std::string& client = "agent", const std::string& envelope = "", bool hosted = false) {
  return Owner{client, envelope, hosted};
}

PurchaseDraft draft(const Owner& o, const std::string& path = "/weather", const std::string& service = "",
                    const std::string& protocol = "l402", const std::string& origin = kOrigin) {
  PurchaseDraft d;
  d.owner = o;
  d.origin = origin;
  d.path = path;
  d.service = service;
  d.protocol = protocol;
  d.challenge = protocol == "l402" ? "bWFjYXJvb24=" : "{\"id\":\"c1\"}";
  d.binding = protocol == "l402" ? "verified" : "";
  return d;
}

// Fee allowance 1 sat (so resolve_by_owner's default fee is visible), no per-call cap.
Policy test_policy() {
  Policy p;
  p.global.per_call_msat.reset();
  p.fee.base_msat = 1'000;
  p.fee.ppm = 0;
  return p;
}

// One ledger file that can be closed and reopened (a restart), with a clock the test moves.
struct Fixture {
  TempDir tmp;  // first: removed after the ledger is closed
  FakeClock clock;
  Policy policy = test_policy();
  std::unique_ptr<Ledger> ledger;
  uint64_t next_hash = 1;

  Fixture() { open(); }
  void open() {
    auto l = Ledger::open(tmp.ledger_at("ledger.sqlite"), policy, clock);
    REQUIRE(l);
    ledger = std::move(*l);
    REQUIRE(ledger->set_envelopes({Envelope{"team-a", 1'000'000'000, std::nullopt, std::nullopt, std::nullopt},
                                   Envelope{"team-b", 1'000'000'000, std::nullopt, std::nullopt, std::nullopt}}));
  }
  void restart() {
    ledger.reset();
    open();
  }

  ReserveRequest rq(const std::optional<PurchaseDraft>& d, uint64_t amount_msat = 10'000) {
    ReserveRequest r;
    r.client = d ? d->owner.client : "agent";
    if (d && !d->owner.envelope.empty()) r.envelope = d->owner.envelope;
    r.domain = "api.example.com";
    r.tool = "access_l402_resource";
    r.protocol = d ? d->protocol : "bolt11";
    r.invoice = "lnbc100n1test";
    r.payment_hash = hash_of(next_hash++);
    r.amount_msat = amount_msat;
    r.purchase = d;
    return r;
  }

  // Reserves a purchase; returns the reservation.
  Reservation buy(const PurchaseDraft& d) {
    auto r = ledger->reserve(rq(d));
    INFO((r ? std::string() : r.error().code + ": " + r.error().message));
    REQUIRE(r);
    return *r;
  }
  Purchase purchase_of(const Reservation& r) {
    auto p = ledger->purchase_by_payment(r.payment_hash);
    REQUIRE(p);
    REQUIRE(p->has_value());
    return **p;
  }
  void settle(const Reservation& r, uint64_t fee = 0) {
    REQUIRE(ledger->mark_in_flight(r.id, clock.now_unix() + 70));
    REQUIRE(ledger->settle(r.id, fee, kPre, 5));
  }
  void make_unknown(const Reservation& r) {
    REQUIRE(ledger->mark_in_flight(r.id, clock.now_unix() + 70));
    REQUIRE(ledger->mark_unknown(r.id, "WALLET_TIMEOUT"));
  }
  PurchaseState state(int64_t purchase_id) {
    auto p = ledger->get_purchase(purchase_id);
    REQUIRE(p);
    return p->state;
  }
  // Whether the owner may buy `d` now (a reservation with a fresh hash); released again so it leaves no trace.
  std::string try_buy(const PurchaseDraft& d) {
    auto r = ledger->reserve(rq(d));
    if (!r) return r.error().code;
    REQUIRE(ledger->release(r->id));
    return "OK";
  }
  size_t live_count(const Owner& o, const std::string& origin = kOrigin) {
    auto l = ledger->live_purchases(o, origin);
    REQUIRE(l);
    return l->size();
  }
};

}  // namespace

// ---------------------------------------------------------------- the life cycle

TEST_CASE("purchase: written pending with its reservation, usable once the payment settles") {
  Fixture f;
  PurchaseDraft d = draft(owner(), "/weather", "weather");
  d.valid_until = f.clock.now_unix() + 3600;
  auto r = f.buy(d);
  Purchase p = f.purchase_of(r);
  CHECK(p.state == PurchaseState::pending);
  CHECK(p.owner == owner());
  CHECK(p.origin == kOrigin);
  CHECK(p.path == "/weather");
  CHECK(p.service == "weather");
  CHECK(p.protocol == "l402");
  CHECK(p.challenge == d.challenge);
  CHECK(p.binding == "verified");
  CHECK(p.paths == std::vector<std::string>{"/weather"});
  CHECK(p.valid_until == d.valid_until);
  CHECK(p.payment_id == r.id);
  CHECK(p.payment_hash == r.payment_hash);
  CHECK(p.amount_msat == 10'000);
  CHECK(p.payment_state == State::reserved);
  CHECK(p.preimage.empty());
  CHECK(p.created_at == f.clock.now_unix());
  REQUIRE(f.live_count(owner()) == 1);

  REQUIRE(f.ledger->mark_in_flight(r.id, f.clock.now_unix() + 70));
  CHECK(f.state(p.id) == PurchaseState::pending);
  f.clock.advance(3);
  REQUIRE(f.ledger->settle(r.id, 2, kPre, 5));
  auto after = f.ledger->get_purchase(p.id);
  REQUIRE(after);
  CHECK(after->state == PurchaseState::usable);
  CHECK(after->payment_state == State::settled);
  CHECK(after->preimage == kPre);
  CHECK(after->updated_at == f.clock.now_unix());
  // to_json never carries the challenge material or the preimage.
  const std::string j = to_json(*after).dump();
  CHECK(j.find(kPre) == std::string::npos);
  CHECK(j.find(d.challenge) == std::string::npos);
  CHECK(to_json(*after)["state"] == "usable");
}

TEST_CASE("purchase: a refused reservation writes no purchase (same transaction)") {
  Fixture f;
  f.policy.global.per_call_msat = 5'000;
  f.restart();
  auto rq = f.rq(draft(owner()));
  auto r = f.ledger->reserve(rq);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "BUDGET_EXCEEDED");
  auto p = f.ledger->purchase_by_payment(rq.payment_hash);
  REQUIRE(p);
  CHECK_FALSE(p->has_value());
  CHECK(f.live_count(owner()) == 0);
  // Nothing blocks the scope afterwards.
  f.policy.global.per_call_msat.reset();
  f.restart();
  CHECK(f.try_buy(draft(owner())) == "OK");
}

TEST_CASE("purchase: a failed or released payment makes its purchase failed, and frees the scope") {
  for (bool released : {false, true}) {
    INFO((released ? "released" : "failed"));
    Fixture f;
    auto r = f.buy(draft(owner()));
    auto p = f.purchase_of(r);
    if (released) {
      REQUIRE(f.ledger->release(r.id));
    } else {
      REQUIRE(f.ledger->mark_in_flight(r.id, f.clock.now_unix() + 70));
      REQUIRE(f.ledger->fail(r.id, "PAYMENT_FAILED"));
    }
    CHECK(f.state(p.id) == PurchaseState::failed);
    CHECK(f.live_count(owner()) == 0);
    CHECK(f.try_buy(draft(owner())) == "OK");
  }
}

TEST_CASE("purchase: one per owner and scope while pending or usable (PURCHASE_EXISTS, nothing reserved)") {
  Fixture f;
  auto first = f.buy(draft(owner(), "/weather", "weather"));
  auto p = f.purchase_of(first);

  auto blocked = [&](const PurchaseDraft& d, PurchaseState expect) {
    auto rq = f.rq(d);
    auto r = f.ledger->reserve(rq);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "PURCHASE_EXISTS");
    CHECK(r.error().details["purchase_id"] == p.id);
    CHECK(r.error().details["purchase_state"] == purchase_state_name(expect));
    CHECK(r.error().details["payment_hash"] == first.payment_hash);
    CHECK(r.error().message.find("nothing was paid") != std::string::npos);
    // Nothing was reserved for the second one.
    auto row = f.ledger->get_payment(rq.payment_hash);
    REQUIRE_FALSE(row);
    CHECK(row.error().code == "PAYMENT_NOT_FOUND");
  };
  SECTION("while pending: the same path, the same service on another path, another protocol on the same path") {
    blocked(draft(owner(), "/weather"), PurchaseState::pending);
    blocked(draft(owner(), "/forecast", "weather"), PurchaseState::pending);
    blocked(draft(owner(), "/weather", "", "mpp"), PurchaseState::pending);
    // Another path of another (or no) service on the same origin, and the same path on another origin, are other
    // scopes.
    CHECK(f.try_buy(draft(owner(), "/forecast")) == "OK");
    CHECK(f.try_buy(draft(owner(), "/forecast", "maps")) == "OK");
    CHECK(f.try_buy(draft(owner(), "/weather", "weather", "l402", "https://other.example.com")) == "OK");
    auto st = f.ledger->status();
    REQUIRE(st);
    CHECK(st->pending_count == 1);
  }
  SECTION("while in flight or unknown") {
    f.make_unknown(first);
    blocked(draft(owner(), "/weather"), PurchaseState::pending);
    blocked(draft(owner(), "/x", "weather"), PurchaseState::pending);
  }
  SECTION("while usable") {
    f.settle(first);
    blocked(draft(owner(), "/weather"), PurchaseState::usable);
    blocked(draft(owner(), "/forecast", "weather"), PurchaseState::usable);
  }
}

TEST_CASE("purchase: the scope is free again after failed, refused, expired, consumed or forgotten") {
  struct Case {
    const char* name;
    PurchaseState expect;
  };
  for (const Case& c : {Case{"failed", PurchaseState::failed}, Case{"refused", PurchaseState::refused},
                        Case{"expired", PurchaseState::expired}, Case{"consumed", PurchaseState::consumed},
                        Case{"forgotten", PurchaseState::forgotten}}) {
    INFO(c.name);
    Fixture f;
    PurchaseDraft d = draft(owner(), "/weather", "weather");
    d.valid_until = f.clock.now_unix() + 100;
    auto r = f.buy(d);
    auto p = f.purchase_of(r);
    switch (c.expect) {
      case PurchaseState::failed:
        REQUIRE(f.ledger->mark_in_flight(r.id, f.clock.now_unix() + 70));
        REQUIRE(f.ledger->fail(r.id, "PAYMENT_FAILED"));
        break;
      case PurchaseState::refused:
      case PurchaseState::consumed:
        f.settle(r);
        REQUIRE(f.ledger->set_purchase_state(p.id, c.expect));
        break;
      case PurchaseState::expired:
        f.settle(r);
        f.clock.advance(100);
        break;
      case PurchaseState::forgotten: {
        f.settle(r);
        auto n = f.ledger->forget_purchases(owner(), std::string(kOrigin));
        REQUIRE(n);
        CHECK(*n == 1);
        break;
      }
      default:
        FAIL("unexpected case");
    }
    CHECK(f.try_buy(draft(owner(), "/weather")) == "OK");
    CHECK(f.try_buy(draft(owner(), "/forecast", "weather")) == "OK");
    CHECK(f.state(p.id) == c.expect);
    CHECK(f.live_count(owner()) == 0);
  }
}

TEST_CASE("purchase: another owner (client, envelope, hosted) is independent") {
  Fixture f;
  const Owner a = owner("agent"), b = owner("other"), env = owner("agent", "team-a"), env2 = owner("agent", "team-b"),
              hosted = owner("agent", "", true);
  auto ra = f.buy(draft(a));
  f.settle(ra);
  for (const Owner& o : {b, env, env2, hosted}) {
    INFO(o.client << "/" << o.envelope << "/" << o.hosted);
    CHECK(f.live_count(o) == 0);  // never sees a's purchase
    auto r = f.buy(draft(o));     // and may buy the same scope
    CHECK(f.purchase_of(r).owner == o);
    CHECK(f.live_count(o) == 1);
    // …but only once.
    auto again = f.ledger->reserve(f.rq(draft(o)));
    REQUIRE_FALSE(again);
    CHECK(again.error().code == "PURCHASE_EXISTS");
  }
  CHECK(f.live_count(a) == 1);
  // Forgetting is per owner too.
  auto n = f.ledger->forget_purchases(b, std::nullopt);
  REQUIRE(n);
  CHECK(*n == 0);  // b's purchase is pending: kept
  CHECK(f.live_count(a) == 1);
  CHECK(f.live_count(b) == 1);
}

TEST_CASE("purchase: valid_until expires a usable credential, never a pending one") {
  Fixture f;
  const int64_t t0 = f.clock.now_unix();
  PurchaseDraft d = draft(owner());
  d.valid_until = t0 + 100;
  auto r = f.buy(d);
  auto p = f.purchase_of(r);
  f.make_unknown(r);
  // Past valid_until while pending: it still blocks (its payment may still settle).
  f.clock.set(t0 + 200);
  CHECK(f.state(p.id) == PurchaseState::pending);
  CHECK(f.try_buy(draft(owner())) == "PURCHASE_EXISTS");
  // It settles late: usable, and at once expired.
  REQUIRE(f.ledger->record_lookup(r.id, LookupOutcome{LookupOutcome::Kind::settled, "settled", 1, kPre, ""}));
  CHECK(f.state(p.id) == PurchaseState::expired);
  CHECK(f.try_buy(draft(owner())) == "OK");

  // A usable one: live up to the second before valid_until, expired from it on.
  Fixture g;
  PurchaseDraft e = draft(owner());
  e.valid_until = g.clock.now_unix() + 100;
  auto r2 = g.buy(e);
  g.settle(r2);
  auto p2 = g.purchase_of(r2);
  g.clock.advance(99);
  CHECK(g.live_count(owner()) == 1);
  CHECK(g.try_buy(draft(owner())) == "PURCHASE_EXISTS");
  g.clock.advance(1);
  CHECK(g.live_count(owner()) == 0);
  CHECK(g.state(p2.id) == PurchaseState::expired);
  CHECK(g.try_buy(draft(owner())) == "OK");
}

TEST_CASE("purchase: set_purchase_state allows only usable → refused | consumed | forgotten | expired") {
  Fixture f;
  auto r = f.buy(draft(owner(), "/a"));
  auto pending = f.purchase_of(r);
  REQUIRE(f.ledger->mark_in_flight(r.id, f.clock.now_unix() + 70));

  auto illegal = [&](int64_t id, PurchaseState to) {
    INFO("to " << purchase_state_name(to));
    auto before = f.state(id);
    auto st = f.ledger->set_purchase_state(id, to);
    REQUIRE_FALSE(st);
    CHECK(st.error().code == "ILLEGAL_TRANSITION");
    CHECK(f.state(id) == before);
  };
  // pending (payment in flight) → anything else: refused.
  for (auto to : {PurchaseState::usable, PurchaseState::refused, PurchaseState::expired, PurchaseState::failed,
                  PurchaseState::consumed, PurchaseState::forgotten})
    illegal(pending.id, to);
  CHECK(f.ledger->set_purchase_state(pending.id, PurchaseState::pending));  // no change: fine

  // pending whose payment failed → failed is allowed (it is what the purchase already is).
  REQUIRE(f.ledger->fail(r.id, "PAYMENT_FAILED"));
  CHECK(f.ledger->set_purchase_state(pending.id, PurchaseState::failed));
  CHECK(f.state(pending.id) == PurchaseState::failed);
  for (auto to : {PurchaseState::pending, PurchaseState::usable, PurchaseState::refused, PurchaseState::forgotten})
    illegal(pending.id, to);

  // usable → each allowed end state; every end state is final.
  for (auto end : {PurchaseState::refused, PurchaseState::consumed, PurchaseState::forgotten, PurchaseState::expired}) {
    INFO("usable → " << purchase_state_name(end));
    auto rr = f.buy(draft(owner(), "/u"));
    f.settle(rr);
    auto p = f.purchase_of(rr);
    REQUIRE(p.state == PurchaseState::usable);
    illegal(p.id, PurchaseState::pending);
    illegal(p.id, PurchaseState::failed);
    REQUIRE(f.ledger->set_purchase_state(p.id, end));
    CHECK(f.state(p.id) == end);
    for (auto to : {PurchaseState::pending, PurchaseState::usable, PurchaseState::refused, PurchaseState::consumed,
                    PurchaseState::forgotten, PurchaseState::expired, PurchaseState::failed})
      if (to != end) illegal(p.id, to);
  }
  auto missing = f.ledger->set_purchase_state(9999, PurchaseState::refused);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == "PURCHASE_NOT_FOUND");
}

TEST_CASE("purchase: purchase_accepted_at extends where the credential covers (newest 32 paths)") {
  Fixture f;
  auto r = f.buy(draft(owner(), "/weather"));
  f.settle(r);
  auto p = f.purchase_of(r);
  CHECK_FALSE(p.covers("/other", ""));
  CHECK(f.try_buy(draft(owner(), "/other")) == "OK");
  REQUIRE(f.ledger->purchase_accepted_at(p.id, "/other"));
  auto q = f.ledger->get_purchase(p.id);
  REQUIRE(q);
  CHECK(q->paths == std::vector<std::string>{"/weather", "/other"});
  CHECK(q->covers("/other", ""));
  CHECK(f.try_buy(draft(owner(), "/other")) == "PURCHASE_EXISTS");
  // Accepted again: moved to the newest place, not repeated.
  REQUIRE(f.ledger->purchase_accepted_at(p.id, "/weather"));
  q = f.ledger->get_purchase(p.id);
  CHECK(q->paths == std::vector<std::string>{"/other", "/weather"});
  // At most 32 kept, the oldest dropped; the purchase's own path stays covered.
  for (int i = 0; i < 40; ++i) REQUIRE(f.ledger->purchase_accepted_at(p.id, "/p" + std::to_string(i)));
  q = f.ledger->get_purchase(p.id);
  REQUIRE(q->paths.size() == 32);
  CHECK(q->paths.front() == "/p8");
  CHECK(q->paths.back() == "/p39");
  CHECK_FALSE(q->covers("/p7", ""));
  CHECK_FALSE(q->covers("/other", ""));
  CHECK(q->covers("/p8", ""));
  CHECK(q->covers("/weather", ""));
  CHECK(f.try_buy(draft(owner(), "/p7")) == "OK");
  CHECK(f.try_buy(draft(owner(), "/p8")) == "PURCHASE_EXISTS");
  auto missing = f.ledger->purchase_accepted_at(9999, "/x");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == "PURCHASE_NOT_FOUND");
}

TEST_CASE("purchase: forget_purchases drops usable credentials and keeps pending ones") {
  Fixture f;
  const std::string other_origin = "https://other.example.com";
  auto pend = f.buy(draft(owner(), "/a"));
  auto use = f.buy(draft(owner(), "/b"));
  f.settle(use);
  auto elsewhere = f.buy(draft(owner(), "/a", "", "l402", other_origin));
  f.settle(elsewhere);
  auto theirs = f.buy(draft(owner("other"), "/b"));
  f.settle(theirs);

  auto n = f.ledger->forget_purchases(owner(), std::string(kOrigin));
  REQUIRE(n);
  CHECK(*n == 1);
  CHECK(f.state(f.purchase_of(use).id) == PurchaseState::forgotten);
  CHECK(f.state(f.purchase_of(pend).id) == PurchaseState::pending);
  CHECK(f.state(f.purchase_of(elsewhere).id) == PurchaseState::usable);
  CHECK(f.state(f.purchase_of(theirs).id) == PurchaseState::usable);
  // The pending one still blocks its scope; the forgotten one does not.
  CHECK(f.try_buy(draft(owner(), "/a")) == "PURCHASE_EXISTS");
  CHECK(f.try_buy(draft(owner(), "/b")) == "OK");

  n = f.ledger->forget_purchases(owner(), std::nullopt);  // every origin
  REQUIRE(n);
  CHECK(*n == 1);
  CHECK(f.state(f.purchase_of(elsewhere).id) == PurchaseState::forgotten);
  CHECK(f.state(f.purchase_of(pend).id) == PurchaseState::pending);
  CHECK(f.state(f.purchase_of(theirs).id) == PurchaseState::usable);

  // The owner's CLI: every owner's usable credentials (here: the other client's), pending still kept.
  n = f.ledger->forget_all_purchases(std::string("https://nowhere.example"));
  REQUIRE(n);
  CHECK(*n == 0);
  n = f.ledger->forget_all_purchases(std::nullopt);
  REQUIRE(n);
  CHECK(*n == 1);
  CHECK(f.state(f.purchase_of(theirs).id) == PurchaseState::forgotten);
  CHECK(f.state(f.purchase_of(pend).id) == PurchaseState::pending);
}

TEST_CASE("purchase: import_credential (pre-v4 token file) — usable, deduplicated, \"*\" covers the origin") {
  Fixture f;
  const std::string header = "L402 bWFj:" + std::string(kPre);
  auto added = f.ledger->import_credential(owner(), kOrigin, {}, header);
  REQUIRE(added);
  CHECK(*added);
  added = f.ledger->import_credential(owner(), kOrigin, {}, header);
  REQUIRE(added);
  CHECK_FALSE(*added);  // the same credential again: skipped
  auto live = f.ledger->live_purchases(owner(), kOrigin);
  REQUIRE(live);
  REQUIRE(live->size() == 1);
  const Purchase& p = live->front();
  CHECK(p.state == PurchaseState::usable);
  CHECK(p.path == "*");
  CHECK(p.binding == "imported");
  CHECK(p.challenge == header);  // the kept header is what gets presented
  CHECK(p.payment_id == 0);
  CHECK(p.covers("/anything", ""));
  CHECK(f.try_buy(draft(owner(), "/anything")) == "PURCHASE_EXISTS");
  CHECK(f.try_buy(draft(owner(), "/anything", "", "l402", "https://other.example.com")) == "OK");
  // Another owner imports the same header independently; other owners do not see it.
  CHECK(f.live_count(owner("other")) == 0);
  added = f.ledger->import_credential(owner("other"), kOrigin, {"/x"}, header);
  REQUIRE(added);
  CHECK(*added);
  live = f.ledger->live_purchases(owner("other"), kOrigin);
  REQUIRE(live->size() == 1);
  CHECK(live->front().path == "/x");
  CHECK_FALSE(live->front().covers("/y", ""));
  CHECK(f.try_buy(draft(owner("other"), "/y")) == "OK");
  // Known paths: the newest 32 kept.
  std::vector<std::string> many;
  for (int i = 0; i < 40; ++i) many.push_back("/q" + std::to_string(i));
  added = f.ledger->import_credential(owner("third"), kOrigin, many, header);
  REQUIRE(added);
  live = f.ledger->live_purchases(owner("third"), kOrigin);
  REQUIRE(live->size() == 1);
  CHECK(live->front().paths.size() == 32);
  CHECK(live->front().covers("/q39", ""));
  CHECK_FALSE(live->front().covers("/q0", ""));
  // Imported credentials are forgettable like any usable one.
  auto n = f.ledger->forget_purchases(owner(), std::nullopt);
  REQUIRE(n);
  CHECK(*n == 1);
  CHECK(f.live_count(owner()) == 0);
}

TEST_CASE("purchase: a restart in each state keeps it") {
  const std::vector<std::string> states = {"pending-reserved", "pending-unknown", "usable", "refused", "expired",
                                           "failed",           "consumed",        "forgotten", "imported"};
  for (const auto& s : states) {
    INFO(s);
    Fixture f;
    PurchaseDraft d = draft(owner("agent", "team-a"), "/weather", "weather");
    d.valid_until = f.clock.now_unix() + 500;
    int64_t id = 0;
    if (s == "imported") {
      REQUIRE(*f.ledger->import_credential(d.owner, kOrigin, {"/weather"}, "L402 x:y"));
      id = f.ledger->live_purchases(d.owner, kOrigin)->front().id;
    } else {
      auto r = f.buy(d);
      id = f.purchase_of(r).id;
      if (s == "pending-unknown") f.make_unknown(r);
      if (s == "failed") REQUIRE(f.ledger->release(r.id));
      if (s == "usable" || s == "refused" || s == "expired" || s == "consumed" || s == "forgotten") f.settle(r);
      if (s == "refused") REQUIRE(f.ledger->set_purchase_state(id, PurchaseState::refused));
      if (s == "consumed") REQUIRE(f.ledger->set_purchase_state(id, PurchaseState::consumed));
      if (s == "forgotten") REQUIRE(f.ledger->set_purchase_state(id, PurchaseState::forgotten));
      if (s == "expired") {
        f.clock.advance(500);
        REQUIRE(f.state(id) == PurchaseState::expired);
      }
    }
    auto before = f.ledger->get_purchase(id);
    REQUIRE(before);
    f.restart();
    auto after = f.ledger->get_purchase(id);
    REQUIRE(after);
    CHECK(purchase_state_name(after->state) == std::string(purchase_state_name(before->state)));
    CHECK(after->owner == before->owner);
    CHECK(after->paths == before->paths);
    CHECK(after->service == before->service);
    CHECK(after->challenge == before->challenge);
    CHECK(after->preimage == before->preimage);
    CHECK(after->payment_state == before->payment_state);
    CHECK(after->valid_until == before->valid_until);
    const bool live = s == "pending-reserved" || s == "pending-unknown" || s == "usable" || s == "imported";
    CHECK(f.live_count(d.owner) == (live ? 1u : 0u));
    CHECK(f.try_buy(draft(d.owner, "/weather")) == (live ? "PURCHASE_EXISTS" : "OK"));
  }
}

// ---------------------------------------------------------------- idempotency keys

TEST_CASE("idempotency: begin fresh, then existing, other parameters or tool are IDEMPOTENCY_KEY_REUSED") {
  Fixture f;
  const IdempotencyRef ref{owner(), "k-1"};
  auto b = f.ledger->begin_idempotent(ref, "pay_invoice", "h1");
  REQUIRE(b);
  CHECK(b->kind == IdempotencyBegin::Kind::fresh);
  CHECK(b->record.tool == "pay_invoice");
  CHECK(b->record.params_sha256 == "h1");
  CHECK_FALSE(b->record.finished);
  auto rec = f.ledger->get_idempotent(ref);
  REQUIRE(rec);
  REQUIRE(rec->has_value());
  CHECK((*rec)->tool == "pay_invoice");
  CHECK((*rec)->payment_id == 0);
  CHECK((*rec)->created_at == f.clock.now_unix());

  f.clock.advance(5);
  b = f.ledger->begin_idempotent(ref, "pay_invoice", "h1");
  REQUIRE(b);
  CHECK(b->kind == IdempotencyBegin::Kind::existing);
  CHECK(b->record.created_at == f.clock.now_unix() - 5);

  auto other_params = f.ledger->begin_idempotent(ref, "pay_invoice", "h2");
  REQUIRE_FALSE(other_params);
  CHECK(other_params.error().code == "IDEMPOTENCY_KEY_REUSED");
  CHECK(other_params.error().message.find("other parameters") != std::string::npos);
  auto other_tool = f.ledger->begin_idempotent(ref, "pay_keysend", "h1");
  REQUIRE_FALSE(other_tool);
  CHECK(other_tool.error().code == "IDEMPOTENCY_KEY_REUSED");
  CHECK(other_tool.error().message.find("pay_invoice") != std::string::npos);
  // The stored record is unchanged by the refusals.
  rec = f.ledger->get_idempotent(ref);
  CHECK((*rec)->params_sha256 == "h1");
  CHECK((*rec)->tool == "pay_invoice");

  // Keys belong to one owner.
  for (const Owner& o : {owner("other"), owner("agent", "team-a"), owner("agent", "", true)}) {
    auto mine = f.ledger->begin_idempotent(IdempotencyRef{o, "k-1"}, "pay_keysend", "zz");
    REQUIRE(mine);
    CHECK(mine->kind == IdempotencyBegin::Kind::fresh);
  }
  // Key length 1..255.
  CHECK(f.ledger->begin_idempotent(IdempotencyRef{owner(), ""}, "pay_invoice", "h").error().code == "INVALID_ARGUMENT");
  CHECK(f.ledger->begin_idempotent(IdempotencyRef{owner(), std::string(256, 'k')}, "pay_invoice", "h").error().code ==
        "INVALID_ARGUMENT");
  CHECK(f.ledger->begin_idempotent(IdempotencyRef{owner(), std::string(255, 'k')}, "pay_invoice", "h"));
  // Persisted.
  f.restart();
  b = f.ledger->begin_idempotent(ref, "pay_invoice", "h1");
  REQUIRE(b);
  CHECK(b->kind == IdempotencyBegin::Kind::existing);
}

TEST_CASE("idempotency: the key is linked to the payment in the reservation's transaction") {
  Fixture f;
  const IdempotencyRef ref{owner(), "k"};
  REQUIRE(f.ledger->begin_idempotent(ref, "access_l402_resource", "h"));

  SECTION("linked on success") {
    auto rq = f.rq(draft(owner()));
    rq.idempotency = ref;
    auto r = f.ledger->reserve(rq);
    REQUIRE(r);
    auto rec = f.ledger->get_idempotent(ref);
    REQUIRE(rec);
    REQUIRE(rec->has_value());
    CHECK((*rec)->payment_id == r->id);
    CHECK((*rec)->payment_hash == r->payment_hash);
    // A second payment cannot take the same key, and then nothing is reserved or bought.
    auto rq2 = f.rq(draft(owner(), "/other"));
    rq2.idempotency = ref;
    auto r2 = f.ledger->reserve(rq2);
    REQUIRE_FALSE(r2);
    CHECK(r2.error().code == "IDEMPOTENCY_KEY_REUSED");
    CHECK_FALSE(f.ledger->get_payment(rq2.payment_hash));
    auto none = f.ledger->purchase_by_payment(rq2.payment_hash);
    REQUIRE(none);
    CHECK_FALSE(none->has_value());
    CHECK(f.try_buy(draft(owner(), "/other")) == "OK");
    // …nor can a key that was never begun, or another owner's key.
    auto rq3 = f.rq(std::nullopt);
    rq3.idempotency = IdempotencyRef{owner("other"), "k"};
    auto r3 = f.ledger->reserve(rq3);
    REQUIRE_FALSE(r3);
    CHECK(r3.error().code == "IDEMPOTENCY_KEY_REUSED");
    CHECK_FALSE(f.ledger->get_payment(rq3.payment_hash));
  }
  SECTION("not linked when the reservation is refused") {
    f.policy.global.per_call_msat = 1;
    f.restart();
    auto rq = f.rq(draft(owner()));
    rq.idempotency = ref;
    auto r = f.ledger->reserve(rq);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "BUDGET_EXCEEDED");
    auto rec = f.ledger->get_idempotent(ref);
    REQUIRE(rec);
    REQUIRE(rec->has_value());
    CHECK((*rec)->payment_id == 0);
  }
  SECTION("not linked when the purchase already exists") {
    f.buy(draft(owner()));
    auto rq = f.rq(draft(owner()));
    rq.idempotency = ref;
    auto r = f.ledger->reserve(rq);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "PURCHASE_EXISTS");
    CHECK((*f.ledger->get_idempotent(ref))->payment_id == 0);
  }
}

TEST_CASE("idempotency: finish stores the outcome, abandon only without a payment") {
  Fixture f;
  const IdempotencyRef a{owner(), "a"}, b{owner(), "b"};
  REQUIRE(f.ledger->begin_idempotent(a, "pay_invoice", "h"));
  REQUIRE(f.ledger->begin_idempotent(b, "pay_invoice", "h"));
  // a: no payment — abandoned, the key is free again (even for other parameters).
  REQUIRE(f.ledger->abandon_idempotent(a));
  auto rec = f.ledger->get_idempotent(a);
  REQUIRE(rec);
  CHECK_FALSE(rec->has_value());
  auto again = f.ledger->begin_idempotent(a, "pay_keysend", "other");
  REQUIRE(again);
  CHECK(again->kind == IdempotencyBegin::Kind::fresh);

  // b: a payment is linked — abandon keeps it, finish stores the outcome.
  auto rq = f.rq(std::nullopt);
  rq.idempotency = b;
  auto r = f.ledger->reserve(rq);
  REQUIRE(r);
  REQUIRE(f.ledger->abandon_idempotent(b));
  rec = f.ledger->get_idempotent(b);
  REQUIRE(rec);
  REQUIRE(rec->has_value());
  CHECK_FALSE((*rec)->finished);
  const json outcome{{"isError", false}, {"structured", {{"paid", true}, {"amount_sats", 10}}}};
  f.clock.advance(7);
  REQUIRE(f.ledger->finish_idempotent(b, outcome));
  f.restart();
  rec = f.ledger->get_idempotent(b);
  REQUIRE(rec);
  REQUIRE(rec->has_value());
  CHECK((*rec)->finished);
  CHECK((*rec)->outcome == outcome);
  CHECK((*rec)->payment_id == r->id);
  CHECK((*rec)->updated_at == f.clock.now_unix());
  auto begun = f.ledger->begin_idempotent(b, "pay_invoice", "h");
  REQUIRE(begun);
  CHECK(begun->kind == IdempotencyBegin::Kind::existing);
  CHECK(begun->record.finished);
  CHECK(begun->record.outcome == outcome);
  REQUIRE(f.ledger->abandon_idempotent(b));
  CHECK(f.ledger->get_idempotent(b)->has_value());
}

TEST_CASE("idempotency: prune deletes old keys but keeps those whose payment is unresolved") {
  Fixture f;
  const int64_t t0 = f.clock.now_unix();
  auto key = [&](const std::string& k) {
    IdempotencyRef ref{owner(), k};
    REQUIRE(f.ledger->begin_idempotent(ref, "pay_invoice", "h"));
    return ref;
  };
  auto linked = [&](const std::string& k) {
    auto ref = key(k);
    auto rq = f.rq(std::nullopt);
    rq.idempotency = ref;
    auto r = f.ledger->reserve(rq);
    REQUIRE(r);
    return *r;
  };
  key("bare");
  auto settled = linked("settled");
  f.settle(settled);
  auto failed = linked("failed");
  REQUIRE(f.ledger->release(failed.id));
  auto reserved = linked("reserved");
  auto in_flight = linked("in_flight");
  REQUIRE(f.ledger->mark_in_flight(in_flight.id, t0 + 70));
  auto unknown = linked("unknown");
  f.make_unknown(unknown);
  f.clock.advance(100);
  key("young");

  auto n = f.ledger->prune_idempotency(t0 + 50);
  REQUIRE(n);
  CHECK(*n == 3);  // bare, settled, failed
  auto has = [&](const std::string& k) {
    auto r = f.ledger->get_idempotent(IdempotencyRef{owner(), k});
    REQUIRE(r);
    return r->has_value();
  };
  CHECK_FALSE(has("bare"));
  CHECK_FALSE(has("settled"));
  CHECK_FALSE(has("failed"));
  CHECK(has("reserved"));
  CHECK(has("in_flight"));
  CHECK(has("unknown"));
  CHECK(has("young"));
  // Once the payment is resolved, its key goes with the next prune.
  REQUIRE(f.ledger->resolve_by_owner(unknown.id, false));
  n = f.ledger->prune_idempotency(t0 + 50);
  REQUIRE(n);
  CHECK(*n == 1);
  CHECK_FALSE(has("unknown"));
  CHECK(has("reserved"));
  CHECK(has("young"));
}

// ---------------------------------------------------------------- unknown outcomes: the owner and the wallet

TEST_CASE("resolve_by_owner: only from unknown, recorded as the owner's decision") {
  Fixture f;
  // Allowance = 1 sat (test_policy).
  auto r = f.buy(draft(owner()));
  auto p = f.purchase_of(r);
  REQUIRE(r.max_fee_msat == 1'000);
  auto illegal = [&](int64_t id) {
    for (bool paid : {true, false}) {
      auto st = f.ledger->resolve_by_owner(id, paid);
      REQUIRE_FALSE(st);
      CHECK(st.error().code == "ILLEGAL_TRANSITION");
    }
  };
  illegal(r.id);  // reserved
  REQUIRE(f.ledger->mark_in_flight(r.id, f.clock.now_unix() + 70));
  illegal(r.id);  // in flight: the paying call decides
  REQUIRE(f.ledger->mark_unknown(r.id, "WALLET_TIMEOUT"));
  f.clock.advance(30);

  SECTION("paid, fee unknown: the reserved allowance is booked") {
    REQUIRE(f.ledger->resolve_by_owner(r.id, true));
    auto row = f.ledger->get_payment_by_id(r.id);
    REQUIRE(row);
    CHECK(row->state == State::settled);
    CHECK(row->fee_msat == std::optional<uint64_t>(1'000));
    CHECK(row->counted_msat() == 11'000);
    CHECK(row->resolved_by == "owner");
    CHECK(row->settled_at == f.clock.now_unix());
    CHECK(f.state(p.id) == PurchaseState::usable);
    illegal(r.id);  // final
  }
  SECTION("paid, fee given") {
    REQUIRE(f.ledger->resolve_by_owner(r.id, true, 7));
    auto row = f.ledger->get_payment_by_id(r.id);
    REQUIRE(row);
    CHECK(row->fee_msat == std::optional<uint64_t>(7));
    CHECK(row->resolved_by == "owner");
  }
  SECTION("failed: the budget is released, the purchase failed") {
    REQUIRE(f.ledger->resolve_by_owner(r.id, false));
    auto row = f.ledger->get_payment_by_id(r.id);
    REQUIRE(row);
    CHECK(row->state == State::failed);
    CHECK(row->error_code == "OWNER_RESOLVED");
    CHECK(row->resolved_by == "owner");
    CHECK(row->counted_msat() == 0);
    auto st = f.ledger->status();
    REQUIRE(st);
    CHECK(st->pending_count == 0);
    CHECK(f.state(p.id) == PurchaseState::failed);
    illegal(r.id);
  }
  // Settled and failed rows by their paying call are not the owner's to change.
  auto s = f.buy(draft(owner(), "/s"));
  f.settle(s);
  illegal(s.id);
  CHECK(f.ledger->get_payment_by_id(s.id)->resolved_by.empty());
  auto missing = f.ledger->resolve_by_owner(9999, true);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == "PAYMENT_NOT_FOUND");
}

TEST_CASE("record_lookup: notes what the wallet said on pending and errors, transitions on settled and failed") {
  Fixture f;
  auto r = f.buy(draft(owner()));
  auto p = f.purchase_of(r);
  f.make_unknown(r);
  const int64_t t0 = f.clock.now_unix();

  f.clock.advance(10);
  REQUIRE(f.ledger->record_lookup(r.id, LookupOutcome{LookupOutcome::Kind::pending, "NOT_FOUND", {}, "", ""}));
  auto row = f.ledger->get_payment_by_id(r.id);
  REQUIRE(row);
  CHECK(row->state == State::unknown);
  CHECK(row->wallet_said == "NOT_FOUND");
  CHECK(row->wallet_said_at == t0 + 10);
  CHECK(row->resolved_by.empty());
  CHECK(f.state(p.id) == PurchaseState::pending);

  f.clock.advance(10);
  REQUIRE(f.ledger->record_lookup(r.id, Result<LookupOutcome>(make_error("WALLET_TIMEOUT", "no reply"))));
  row = f.ledger->get_payment_by_id(r.id);
  CHECK(row->state == State::unknown);
  CHECK(row->wallet_said.find("WALLET_TIMEOUT") != std::string::npos);
  CHECK(row->wallet_said_at == t0 + 20);

  f.clock.advance(10);
  REQUIRE(f.ledger->record_lookup(r.id, LookupOutcome{LookupOutcome::Kind::pending, "", {}, "", ""}));
  row = f.ledger->get_payment_by_id(r.id);
  CHECK(row->wallet_said == "pending");
  CHECK(row->wallet_said_at == t0 + 30);

  SECTION("settled, with the wallet's fee and preimage") {
    f.clock.advance(10);
    REQUIRE(f.ledger->record_lookup(r.id, LookupOutcome{LookupOutcome::Kind::settled, "settled", 3, kPre, ""}));
    row = f.ledger->get_payment_by_id(r.id);
    CHECK(row->state == State::settled);
    CHECK(row->fee_msat == std::optional<uint64_t>(3));
    CHECK(row->preimage == kPre);
    CHECK(row->resolved_by == "wallet");
    CHECK(row->wallet_said == "settled");
    CHECK(row->wallet_said_at == t0 + 40);
    CHECK(f.state(p.id) == PurchaseState::usable);
    // Final: a later verdict is refused.
    auto st = f.ledger->record_lookup(r.id, LookupOutcome{LookupOutcome::Kind::failed, "failed", {}, "", "X"});
    REQUIRE_FALSE(st);
    CHECK(st.error().code == "ILLEGAL_TRANSITION");
    CHECK(f.ledger->get_payment_by_id(r.id)->state == State::settled);
  }
  SECTION("settled without a fee: the allowance is booked") {
    REQUIRE(f.ledger->record_lookup(r.id, LookupOutcome{LookupOutcome::Kind::settled, "settled", {}, kPre, ""}));
    row = f.ledger->get_payment_by_id(r.id);
    CHECK(row->fee_msat == std::optional<uint64_t>(r.max_fee_msat));
  }
  SECTION("failed") {
    f.clock.advance(10);
    REQUIRE(f.ledger->record_lookup(
        r.id, LookupOutcome{LookupOutcome::Kind::failed, "NOT_FOUND", {}, "", "NOT_FOUND_AFTER_EXPIRATION"}));
    row = f.ledger->get_payment_by_id(r.id);
    CHECK(row->state == State::failed);
    CHECK(row->error_code == "NOT_FOUND_AFTER_EXPIRATION");
    CHECK(row->resolved_by == "wallet");
    CHECK(row->wallet_said == "NOT_FOUND");
    CHECK(row->wallet_said_at == t0 + 40);
    CHECK(row->counted_msat() == 0);
    CHECK(f.state(p.id) == PurchaseState::failed);
    CHECK(f.try_buy(draft(owner())) == "OK");
  }
}

TEST_CASE("record_lookup: a settled or failed verdict for a row that is not unknown is ILLEGAL_TRANSITION") {
  Fixture f;
  auto r = f.buy(draft(owner()));
  REQUIRE(f.ledger->mark_in_flight(r.id, f.clock.now_unix() + 70));
  // In flight: the paying call decides, not the wallet's lookup.
  auto st = f.ledger->record_lookup(r.id, LookupOutcome{LookupOutcome::Kind::settled, "settled", 1, kPre, ""});
  REQUIRE_FALSE(st);
  CHECK(st.error().code == "ILLEGAL_TRANSITION");
  st = f.ledger->record_lookup(r.id, LookupOutcome{LookupOutcome::Kind::failed, "failed", {}, "", "PAYMENT_FAILED"});
  REQUIRE_FALSE(st);
  CHECK(st.error().code == "ILLEGAL_TRANSITION");
  auto row = f.ledger->get_payment_by_id(r.id);
  REQUIRE(row);
  CHECK(row->state == State::in_flight);
  CHECK(row->resolved_by.empty());
}
