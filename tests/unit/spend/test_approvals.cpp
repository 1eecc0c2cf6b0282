// The owner's approvals in the ledger (schema v6), through the Ledger API with an injected clock: which payments
// need approval (thresholds at/above, the lowest of global/domain/envelope, new domains), the state machine
// (pending → approved → used | denied | expired), restarts while pending, how a decision names its approval (id,
// code, approve/deny token) and is bound to the amount, hash and payee, secrets never in to_json, and 100
// purchases awaiting approval holding the budget exactly.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "helpers.h"
#include "spend/spend.h"

using namespace sw;
using namespace sw::spend;
using spend_test::FakeClock;
using spend_test::hash_of;
using spend_test::TempDir;

namespace {

const char* kPayee = "02aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
constexpr int64_t kTtl = 300;

// No fee allowance, no per-call cap; approval above 10 sats.
Policy approval_policy() {
  Policy p = spend_test::bare_policy();
  p.global.approve_above_msat = 10'000;
  return p;
}

std::string code_of(const Status& s) { return s ? std::string("OK") : s.error().code; }
template <class T>
std::string code_of(const Result<T>& r) {
  return r ? std::string("OK") : r.error().code;
}

struct Fixture {
  TempDir tmp;  // first: removed after the ledger is closed
  FakeClock clock;
  Policy policy;
  std::vector<Envelope> envelopes;
  std::unique_ptr<Ledger> ledger;
  uint64_t next_hash = 1;

  explicit Fixture(Policy p = approval_policy(), std::vector<Envelope> envs = {})
      : policy(std::move(p)), envelopes(std::move(envs)) {
    open();
  }
  void open() {
    auto l = Ledger::open(tmp.ledger_at("ledger.sqlite"), policy, clock);
    REQUIRE(l);
    ledger = std::move(*l);
    if (!envelopes.empty()) REQUIRE(ledger->set_envelopes(envelopes));
  }
  void restart() {
    ledger.reset();
    open();
  }

  ReserveRequest rq(uint64_t amount_msat, const std::string& domain = "", bool with_terms = true,
                    const std::optional<std::string>& envelope = std::nullopt) {
    ReserveRequest r = spend_test::req(amount_msat, hash_of(next_hash++), domain);
    r.envelope = envelope;
    if (with_terms) r.approval = ApprovalTerms{kTtl, kPayee, "a test purchase"};
    return r;
  }
  Reservation reserve(const ReserveRequest& r) {
    auto res = ledger->reserve(r);
    INFO((res ? std::string() : res.error().code + ": " + res.error().message));
    REQUIRE(res);
    return *res;
  }
  Payment payment(int64_t id) {
    auto p = ledger->get_payment_by_id(id);
    REQUIRE(p);
    return *p;
  }
  Approval approval(const std::string& public_id) {
    auto a = ledger->get_approval(public_id);
    REQUIRE(a);
    return *a;
  }
  uint64_t spent_today() {
    auto st = ledger->status();
    REQUIRE(st);
    for (const auto& w : st->global.windows)
      if (w.window == "day") return w.spent_msat;
    FAIL("no day window in the status");
    return 0;
  }
  Result<Approval> decide(const std::string& public_id, bool approve, const std::string& channel = "cli") {
    ApprovalDecision d;
    d.public_id = public_id;
    d.approve = approve;
    d.channel = channel;
    return ledger->decide_approval(d);
  }
};

}  // namespace

// ---------------------------------------------------------------- which payments need approval

TEST_CASE("approvals: at or below the threshold no approval, above it pending, budget held, nothing may be sent") {
  Fixture f;
  auto at = f.reserve(f.rq(10'000));
  CHECK_FALSE(at.approval);
  CHECK_FALSE(at.approval_secrets);
  CHECK(f.ledger->mark_in_flight(at.id));

  auto above = f.reserve(f.rq(10'001));
  REQUIRE(above.approval);
  REQUIRE(above.approval_secrets);
  const Approval& a = *above.approval;
  CHECK(a.state == ApprovalState::pending);
  CHECK(a.payment_id == above.id);
  CHECK(a.amount_msat == 10'001);
  CHECK(a.payment_hash == above.payment_hash);
  CHECK(a.payee == kPayee);
  CHECK(a.purpose == "a test purchase");
  CHECK(a.expires_at == f.clock.now_unix() + kTtl);
  REQUIRE(a.reasons.size() == 1);
  CHECK(a.reasons[0].find("approval threshold") != std::string::npos);
  CHECK(a.public_id.size() == 6);
  CHECK(above.approval_secrets->code.size() == 8);
  CHECK(above.approval_secrets->approve_token.size() == 43);
  CHECK(above.approval_secrets->deny_token != above.approval_secrets->approve_token);
  // The budget is held like any reservation.
  CHECK(f.payment(above.id).state == State::reserved);
  CHECK(f.spent_today() == 10'000 + 10'001);
  // Nothing may be sent before the owner decides.
  auto refused = f.ledger->mark_in_flight(above.id);
  CHECK(code_of(refused) == "APPROVAL_REQUIRED");
  CHECK(f.payment(above.id).state == State::reserved);
  CHECK(f.approval(a.public_id).state == ApprovalState::pending);
}

TEST_CASE("approvals: a threshold of 0 asks for every payment, none asks for none") {
  Policy p = approval_policy();
  p.global.approve_above_msat = 0;
  Fixture f(p);
  auto r = f.reserve(f.rq(1));
  REQUIRE(r.approval);
  CHECK(r.approval->reasons.at(0).find("every payment") != std::string::npos);

  p.global.approve_above_msat.reset();
  Fixture g(p);
  CHECK_FALSE(g.reserve(g.rq(1'000'000'000)).approval);
}

TEST_CASE("approvals: without ApprovalTerms a payment that needs approval is refused and nothing is reserved") {
  Fixture f;
  auto r = f.ledger->reserve(f.rq(20'000, "", /*with_terms=*/false));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "APPROVAL_UNAVAILABLE");
  CHECK(r.error().message.find("nothing was paid") != std::string::npos);
  CHECK(spend_test::raw_sums(f.tmp.ledger_at("ledger.sqlite")).rows == 0);
  CHECK(f.spent_today() == 0);
  auto all = f.ledger->list_approvals(ApprovalQuery{false, std::nullopt, std::nullopt, 100});
  REQUIRE(all);
  CHECK(all->empty());
  // A payment below the threshold needs no terms.
  CHECK_FALSE(f.reserve(f.rq(5'000, "", false)).approval);
}

TEST_CASE("approvals: the lowest of the global, domain and envelope thresholds applies") {
  Policy p = approval_policy();
  p.global.approve_above_msat = 50'000;
  p.domains["*.example.com"].approve_above_msat = 20'000;
  Envelope env{"team-a", 1'000'000'000, std::nullopt, std::nullopt, std::nullopt, 10'000};
  Fixture f(p, {env});
  // 15 sats: above the envelope's 10, below the domain's 20 and the global 50.
  auto in_env = f.reserve(f.rq(15'000, "api.example.com", true, "team-a"));
  REQUIRE(in_env.approval);
  CHECK(in_env.approval->reasons.at(0).find("team-a") != std::string::npos);
  CHECK(in_env.approval->envelope == "team-a");
  CHECK_FALSE(f.reserve(f.rq(15'000, "api.example.com")).approval);
  // 25 sats without the envelope: the domain's threshold (20) for its domain, the global one (50) elsewhere.
  auto in_domain = f.reserve(f.rq(25'000, "api.example.com"));
  REQUIRE(in_domain.approval);
  CHECK(in_domain.approval->reasons.at(0).find("*.example.com") != std::string::npos);
  CHECK_FALSE(f.reserve(f.rq(25'000, "api.other.org")).approval);
  CHECK_FALSE(f.reserve(f.rq(25'000)).approval);
  // 60 sats: above the global one everywhere.
  auto global = f.reserve(f.rq(60'000, "api.other.org"));
  REQUIRE(global.approval);
  CHECK(global.approval->reasons.at(0).find("the policy") != std::string::npos);
  // An envelope threshold above the policy's does not loosen it: the lower (domain, 20) still applies.
  Envelope loose{"team-b", 1'000'000'000, std::nullopt, std::nullopt, std::nullopt, 1'000'000};
  Fixture g(p, {loose});
  CHECK(g.reserve(g.rq(25'000, "api.example.com", true, "team-b")).approval);
  CHECK_FALSE(g.reserve(g.rq(15'000, "api.example.com", true, "team-b")).approval);
}

TEST_CASE("approvals: approve_new_domains asks for the first payment to a domain, not after one settled") {
  Policy p = approval_policy();
  p.global.approve_above_msat.reset();
  p.approve_new_domains = true;
  Fixture f(p);
  auto first = f.reserve(f.rq(1'000, "api.example.com"));
  REQUIRE(first.approval);
  CHECK(first.approval->reasons.at(0) == "first payment to api.example.com");
  // Still new while the first one is only reserved (not settled).
  CHECK(f.reserve(f.rq(1'000, "api.example.com")).approval);
  REQUIRE(f.decide(first.approval->public_id, true));
  REQUIRE(f.ledger->mark_in_flight(first.id));
  REQUIRE(f.ledger->settle(first.id, 0, "", 5));
  CHECK_FALSE(f.reserve(f.rq(1'000, "api.example.com")).approval);
  // Another domain is new; a plain invoice (no domain) is not domain-scoped.
  CHECK(f.reserve(f.rq(1'000, "b.example.com")).approval);
  CHECK_FALSE(f.reserve(f.rq(1'000, "")).approval);
  // A payment that failed does not make the domain known.
  auto c = f.reserve(f.rq(1'000, "c.example.com"));
  REQUIRE(c.approval);
  REQUIRE(f.decide(c.approval->public_id, true));
  REQUIRE(f.ledger->mark_in_flight(c.id));
  REQUIRE(f.ledger->fail(c.id, "PAYMENT_FAILED"));
  CHECK(f.reserve(f.rq(1'000, "c.example.com")).approval);
}

// ---------------------------------------------------------------- the state machine

TEST_CASE("approvals: approve lets the payment be sent once (approved → used, single use)") {
  Fixture f;
  auto r = f.reserve(f.rq(20'000));
  REQUIRE(r.approval);
  f.clock.advance(10);
  auto a = f.decide(r.approval->public_id, true, "cli");
  REQUIRE(a);
  CHECK(a->state == ApprovalState::approved);
  CHECK(a->decided_by == "cli");
  CHECK(a->decided_at == std::optional<int64_t>(f.clock.now_unix()));
  CHECK(f.payment(r.id).state == State::reserved);  // approved, not yet sent
  REQUIRE(f.ledger->mark_in_flight(r.id));
  CHECK(f.approval(r.approval->public_id).state == ApprovalState::used);
  CHECK(f.payment(r.id).state == State::in_flight);
  // Single use: the approval cannot carry a second send, nor be decided again.
  CHECK(code_of(f.ledger->mark_in_flight(r.id)) == "APPROVAL_USED");
  CHECK(code_of(f.decide(r.approval->public_id, true)) == "APPROVAL_DECIDED");
  REQUIRE(f.ledger->settle(r.id, 0, "", 5));
  CHECK(f.approval(r.approval->public_id).state == ApprovalState::used);
  CHECK(f.spent_today() == 20'000);
}

TEST_CASE("approvals: deny releases the payment with APPROVAL_DENIED and frees the budget") {
  Fixture f;
  auto r = f.reserve(f.rq(20'000));
  REQUIRE(r.approval);
  CHECK(f.spent_today() == 20'000);
  ApprovalDecision d;
  d.public_id = r.approval->public_id;
  d.approve = false;
  d.channel = "cli";
  d.reason = "too expensive";
  auto a = f.ledger->decide_approval(d);
  REQUIRE(a);
  CHECK(a->state == ApprovalState::denied);
  CHECK(a->reason == "too expensive");
  CHECK(a->payment_state == State::released);
  Payment p = f.payment(r.id);
  CHECK(p.state == State::released);
  CHECK(p.error_code == "APPROVAL_DENIED");
  CHECK(f.spent_today() == 0);
  CHECK(code_of(f.ledger->mark_in_flight(r.id)) == "APPROVAL_DENIED");
  // The same invoice may be asked for again (the released row no longer guards it), with a new approval.
  ReserveRequest again = f.rq(20'000);
  again.payment_hash = r.payment_hash;
  auto r2 = f.reserve(again);
  REQUIRE(r2.approval);
  CHECK(r2.approval->public_id != r.approval->public_id);
}

TEST_CASE("approvals: a long or malformed denial reason is stored cut at a character boundary, as valid UTF-8") {
  Fixture f;
  auto deny = [&](const std::string& reason) {
    auto r = f.reserve(f.rq(20'000));
    REQUIRE(r.approval);
    ApprovalDecision d;
    d.public_id = r.approval->public_id;
    d.channel = "cli";
    d.reason = reason;
    auto a = f.ledger->decide_approval(d);
    REQUIRE(a);
    CHECK_NOTHROW(to_json(*a).dump());  // a cut inside a character made every strict dump throw
    return a->reason;
  };
  CHECK(deny(std::string(299, 'x') + "\xC3\xA9") == std::string(299, 'x'));              // é over the 300th byte
  CHECK(deny(std::string(298, 'x') + "\xC3\xA9tail") == std::string(298, 'x') + "\xC3\xA9");  // ends at 300
  CHECK(deny("ok \xFF\xFE bytes") == "ok ?? bytes");
  CHECK(deny("tr\xC3\xA8s cher") == "tr\xC3\xA8s cher");
}

TEST_CASE("approvals: expiry releases the payment, a decision afterwards is refused") {
  Fixture f;
  auto r = f.reserve(f.rq(20'000));
  auto r_other = f.reserve(f.rq(30'000));
  REQUIRE(r.approval);
  f.clock.advance(kTtl - 1);
  auto none = f.ledger->expire_approvals();
  REQUIRE(none);
  CHECK(none->empty());
  f.clock.advance(1);  // now == expires_at
  auto expired = f.ledger->expire_approvals();
  REQUIRE(expired);
  CHECK(expired->size() == 2);
  auto a = f.approval(r.approval->public_id);
  CHECK(a.state == ApprovalState::expired);
  CHECK(a.decided_by == "timeout");
  Payment p = f.payment(r.id);
  CHECK(p.state == State::released);
  CHECK(p.error_code == "APPROVAL_TIMEOUT");
  CHECK(f.spent_today() == 0);
  CHECK(code_of(f.decide(r.approval->public_id, true)) == "APPROVAL_DECIDED");
  CHECK(code_of(f.ledger->mark_in_flight(r.id)) == "APPROVAL_TIMEOUT");
  (void)r_other;
}

TEST_CASE("approvals: a decision that arrives after the expiry (before any sweep) expires it instead") {
  Fixture f;
  auto r = f.reserve(f.rq(20'000));
  REQUIRE(r.approval);
  f.clock.advance(kTtl + 5);
  auto late = f.decide(r.approval->public_id, true);
  REQUIRE_FALSE(late);
  CHECK(late.error().code == "APPROVAL_EXPIRED");
  CHECK(f.approval(r.approval->public_id).state == ApprovalState::expired);
  CHECK(f.payment(r.id).state == State::released);
  CHECK(f.payment(r.id).error_code == "APPROVAL_TIMEOUT");
  CHECK(f.spent_today() == 0);
}

TEST_CASE("approvals: an approval granted but not used before its expiry cannot send") {
  Fixture f;
  auto r = f.reserve(f.rq(20'000));
  REQUIRE(r.approval);
  f.clock.advance(kTtl - 10);
  auto a = f.decide(r.approval->public_id, true);
  REQUIRE(a);
  // Approving near the end keeps it open at least a minute for the paying call to come back.
  CHECK(a->expires_at >= f.clock.now_unix() + 60);
  f.clock.set(a->expires_at);
  CHECK(code_of(f.ledger->mark_in_flight(r.id)) == "APPROVAL_TIMEOUT");
  CHECK(f.payment(r.id).state == State::reserved);
  auto swept = f.ledger->expire_approvals();
  REQUIRE(swept);
  REQUIRE(swept->size() == 1);
  CHECK(swept->at(0).state == ApprovalState::expired);
  CHECK(swept->at(0).decided_by == "cli");  // who approved is kept
  CHECK(f.payment(r.id).state == State::released);
}

TEST_CASE("approvals: a restart keeps a pending approval, it can still be decided, and expires in time") {
  Fixture f;
  auto r = f.reserve(f.rq(20'000));
  auto r2 = f.reserve(f.rq(30'000));
  REQUIRE(r.approval);
  REQUIRE(r2.approval);
  // A crash-leftover reservation without an approval is released by recovery; the waiting ones are not.
  auto plain = f.reserve(f.rq(5'000));
  CHECK_FALSE(plain.approval);
  f.clock.advance(100);
  f.restart();
  auto rec = f.ledger->recover_after_crash(f.clock.now_unix(), 30);
  REQUIRE(rec);
  CHECK(rec->released == 1);
  CHECK(f.payment(plain.id).state == State::released);
  CHECK(f.payment(r.id).state == State::reserved);
  CHECK(f.payment(r2.id).state == State::reserved);
  CHECK(f.approval(r.approval->public_id).state == ApprovalState::pending);
  CHECK(f.spent_today() == 50'000);
  auto open = f.ledger->list_approvals(ApprovalQuery{});
  REQUIRE(open);
  CHECK(open->size() == 2);
  // Approved after the restart, by its code: sent once.
  ApprovalDecision d;
  d.code = r.approval_secrets->code;
  d.approve = true;
  d.channel = "nostr";
  REQUIRE(f.ledger->decide_approval(d));
  REQUIRE(f.ledger->mark_in_flight(r.id));
  // The other one expires after a second restart, past its time: recovery and the sweep release it.
  f.clock.advance(kTtl);
  f.restart();
  rec = f.ledger->recover_after_crash(f.clock.now_unix(), 30);
  REQUIRE(rec);
  CHECK(rec->marked_unknown == 1);  // r: in flight when the process stopped
  CHECK(f.payment(r2.id).state == State::released);
  auto swept = f.ledger->expire_approvals();
  REQUIRE(swept);
  REQUIRE(swept->size() == 1);
  CHECK(swept->at(0).public_id == r2.approval->public_id);
  CHECK(f.approval(r2.approval->public_id).state == ApprovalState::expired);
  CHECK(f.approval(r.approval->public_id).state == ApprovalState::used);
  CHECK(code_of(f.decide(r2.approval->public_id, true)) == "APPROVAL_DECIDED");
}

TEST_CASE("approvals: decisions by code and by the approve/deny tokens") {
  Fixture f;
  SECTION("code, case-insensitive and with spaces") {
    auto r = f.reserve(f.rq(20'000));
    std::string typed = r.approval_secrets->code;
    for (auto& c : typed) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    typed.insert(4, " ");
    ApprovalDecision d;
    d.code = typed;
    d.approve = false;
    d.channel = "nip04";
    auto a = f.ledger->decide_approval(d);
    REQUIRE(a);
    CHECK(a->state == ApprovalState::denied);
    CHECK(a->decided_by == "nip04");
  }
  SECTION("the approve token approves whatever `approve` says") {
    auto r = f.reserve(f.rq(20'000));
    ApprovalDecision d;
    d.token = r.approval_secrets->approve_token;
    d.approve = false;
    d.channel = "webhook";
    auto a = f.ledger->decide_approval(d);
    REQUIRE(a);
    CHECK(a->state == ApprovalState::approved);
    CHECK(a->decided_by == "webhook");
  }
  SECTION("the deny token denies") {
    auto r = f.reserve(f.rq(20'000));
    ApprovalDecision d;
    d.token = r.approval_secrets->deny_token;
    d.approve = true;
    d.channel = "webhook";
    auto a = f.ledger->decide_approval(d);
    REQUIRE(a);
    CHECK(a->state == ApprovalState::denied);
    CHECK(f.payment(r.id).state == State::released);
  }
  SECTION("a wrong code, token or id is APPROVAL_NOT_FOUND and changes nothing") {
    auto r = f.reserve(f.rq(20'000));
    ApprovalDecision d;
    d.code = "ZZZZZZZZ";
    d.approve = true;
    d.channel = "nostr";
    CHECK(code_of(f.ledger->decide_approval(d)) == "APPROVAL_NOT_FOUND");
    d.code.clear();
    d.token = std::string(43, 'A');
    CHECK(code_of(f.ledger->decide_approval(d)) == "APPROVAL_NOT_FOUND");
    CHECK(code_of(f.decide("XXXXXX", true)) == "APPROVAL_NOT_FOUND");
    // The public id is not the code: the code channel does not accept it.
    d.token.clear();
    d.code = r.approval->public_id;
    CHECK(code_of(f.ledger->decide_approval(d)) == "APPROVAL_NOT_FOUND");
    CHECK(f.approval(r.approval->public_id).state == ApprovalState::pending);
  }
  SECTION("a decision names its approval exactly once and names its channel") {
    auto r = f.reserve(f.rq(20'000));
    ApprovalDecision d;
    d.public_id = r.approval->public_id;
    d.code = r.approval_secrets->code;
    d.approve = true;
    d.channel = "cli";
    CHECK(code_of(f.ledger->decide_approval(d)) == "INVALID_ARGUMENT");
    d.code.clear();
    d.channel.clear();
    CHECK(code_of(f.ledger->decide_approval(d)) == "INVALID_ARGUMENT");
    CHECK(f.approval(r.approval->public_id).state == ApprovalState::pending);
  }
}

TEST_CASE("approvals: a decision for another amount, invoice or payee is APPROVAL_MISMATCH and it stays pending") {
  Fixture f;
  auto r = f.reserve(f.rq(20'000));
  REQUIRE(r.approval);
  auto base = [&] {
    ApprovalDecision d;
    d.public_id = r.approval->public_id;
    d.approve = true;
    d.channel = "elicitation";
    return d;
  };
  auto d = base();
  d.amount_msat = 20'001;
  CHECK(code_of(f.ledger->decide_approval(d)) == "APPROVAL_MISMATCH");
  d = base();
  d.payment_hash = hash_of(999);
  CHECK(code_of(f.ledger->decide_approval(d)) == "APPROVAL_MISMATCH");
  d = base();
  d.payee = "03bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
  CHECK(code_of(f.ledger->decide_approval(d)) == "APPROVAL_MISMATCH");
  // A deny for another amount does not release it either.
  d = base();
  d.approve = false;
  d.amount_msat = 1;
  CHECK(code_of(f.ledger->decide_approval(d)) == "APPROVAL_MISMATCH");
  CHECK(f.approval(r.approval->public_id).state == ApprovalState::pending);
  CHECK(f.payment(r.id).state == State::reserved);
  CHECK(code_of(f.ledger->mark_in_flight(r.id)) == "APPROVAL_REQUIRED");
  // What the owner was shown, exactly (hash and payee case-insensitive): accepted.
  d = base();
  d.amount_msat = 20'000;
  d.payment_hash = r.payment_hash;
  d.payee = std::string(kPayee);
  for (auto& c : *d.payee) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto ok = f.ledger->decide_approval(d);
  REQUIRE(ok);
  CHECK(ok->state == ApprovalState::approved);
}

TEST_CASE("approvals: the first valid decision wins, a second one is APPROVAL_DECIDED naming the first") {
  Fixture f;
  auto r = f.reserve(f.rq(20'000));
  REQUIRE(f.decide(r.approval->public_id, false, "nostr"));
  auto second = f.decide(r.approval->public_id, true, "cli");
  REQUIRE_FALSE(second);
  CHECK(second.error().code == "APPROVAL_DECIDED");
  CHECK(second.error().details.value("state", "") == "denied");
  CHECK(second.error().details.value("decided_by", "") == "nostr");
  ApprovalDecision t;
  t.token = r.approval_secrets->approve_token;
  t.channel = "webhook";
  CHECK(code_of(f.ledger->decide_approval(t)) == "APPROVAL_DECIDED");
  CHECK(f.approval(r.approval->public_id).state == ApprovalState::denied);
  CHECK(f.payment(r.id).state == State::released);

  auto r2 = f.reserve(f.rq(20'000));
  REQUIRE(f.decide(r2.approval->public_id, true, "webhook"));
  CHECK(code_of(f.decide(r2.approval->public_id, false, "cli")) == "APPROVAL_DECIDED");
  CHECK(f.approval(r2.approval->public_id).state == ApprovalState::approved);
  CHECK(f.payment(r2.id).state == State::reserved);
}

TEST_CASE("approvals: to_json and the listings never carry the code or the tokens") {
  Fixture f;
  auto r = f.reserve(f.rq(20'000, "api.example.com"));
  REQUIRE(r.approval_secrets);
  const auto& sec = *r.approval_secrets;
  auto check_clean = [&](const Approval& a) {
    const std::string j = json_dump(to_json(a));
    CHECK(j.find(sec.code) == std::string::npos);
    CHECK(j.find(sec.approve_token) == std::string::npos);
    CHECK(j.find(sec.deny_token) == std::string::npos);
    CHECK(j.find("code") == std::string::npos);
    CHECK(j.find("token") == std::string::npos);
    CHECK(j.find(a.public_id) != std::string::npos);
  };
  check_clean(*r.approval);
  check_clean(f.approval(r.approval->public_id));
  auto list = f.ledger->list_approvals(ApprovalQuery{});
  REQUIRE(list);
  REQUIRE(list->size() == 1);
  check_clean(list->at(0));
  REQUIRE(f.decide(r.approval->public_id, true));
  check_clean(f.approval(r.approval->public_id));
  // The ledger file holds only digests of the secrets.
  for (const auto& row : spend_test::raw_rows(f.tmp.ledger_at("ledger.sqlite"), "SELECT * FROM approvals"))
    for (const auto& v : row) {
      CHECK(v.find(sec.code) == std::string::npos);
      CHECK(v.find(sec.approve_token) == std::string::npos);
      CHECK(v.find(sec.deny_token) == std::string::npos);
    }
}

TEST_CASE("approvals: list_approvals filters by caller and by open state") {
  Envelope env{"team-a", 1'000'000'000, std::nullopt, std::nullopt, std::nullopt, std::nullopt};
  Fixture f(approval_policy(), {env});
  auto mine = f.rq(20'000, "", true, "team-a");
  mine.client = "agent-a";
  auto a = f.reserve(mine);
  auto theirs = f.rq(20'000);
  theirs.client = "agent-b";
  auto b = f.reserve(theirs);
  REQUIRE(f.decide(b.approval->public_id, false));
  auto q = ApprovalQuery{};
  q.client = "agent-a";
  q.envelope = "team-a";
  auto l = f.ledger->list_approvals(q);
  REQUIRE(l);
  REQUIRE(l->size() == 1);
  CHECK(l->at(0).public_id == a.approval->public_id);
  q.client = "agent-b";
  q.envelope = "";
  l = f.ledger->list_approvals(q);
  REQUIRE(l);
  CHECK(l->empty());  // denied: not open
  q.pending_only = false;
  l = f.ledger->list_approvals(q);
  REQUIRE(l);
  REQUIRE(l->size() == 1);
  CHECK(l->at(0).state == ApprovalState::denied);
}

// ---------------------------------------------------------------- the budget, exactly

TEST_CASE("approvals: 100 purchases awaiting approval hold the budget exactly") {
  Policy p = approval_policy();
  p.fee.base_msat = 1'000;  // allowance 1 sat per payment
  p.fee.ppm = 0;
  constexpr uint64_t kAmount = 20'000, kFee = 1'000, kN = 100;
  p.global.day_msat = kN * (kAmount + kFee);
  Fixture f(p);
  std::vector<Reservation> held;
  for (uint64_t i = 0; i < kN; ++i) {
    auto r = f.reserve(f.rq(kAmount, "api.example.com"));
    REQUIRE(r.approval);
    CHECK(r.max_fee_msat == kFee);
    held.push_back(r);
  }
  CHECK(f.spent_today() == kN * (kAmount + kFee));
  auto sums = spend_test::raw_sums(f.tmp.ledger_at("ledger.sqlite"));
  CHECK(sums.rows == kN);
  CHECK(sums.non_final == kN);
  CHECK(sums.counted_total == kN * (kAmount + kFee));
  CHECK(sums.aggregate_total == sums.counted_total);
  // The 101st does not fit, even 1 msat of it, and leaves no approval behind.
  auto over = f.ledger->reserve(f.rq(1, "api.example.com"));
  REQUIRE_FALSE(over);
  CHECK(over.error().code == "BUDGET_EXCEEDED");
  auto open = f.ledger->list_approvals(ApprovalQuery{true, std::nullopt, std::nullopt, 500});
  REQUIRE(open);
  CHECK(open->size() == kN);
  // Deny every one: everything is given back.
  for (const auto& r : held) REQUIRE(f.decide(r.approval->public_id, false));
  CHECK(f.spent_today() == 0);
  sums = spend_test::raw_sums(f.tmp.ledger_at("ledger.sqlite"));
  CHECK(sums.rows == kN);
  CHECK(sums.non_final == 0);
  CHECK(sums.counted_total == 0);
  CHECK(sums.aggregate_total == 0);
  open = f.ledger->list_approvals(ApprovalQuery{true, std::nullopt, std::nullopt, 500});
  REQUIRE(open);
  CHECK(open->empty());
  // The budget is whole again: 100 more fit exactly, the 101st does not.
  for (uint64_t i = 0; i < kN; ++i) CHECK(f.reserve(f.rq(kAmount, "api.example.com")).approval);
  CHECK(f.spent_today() == kN * (kAmount + kFee));
  CHECK(code_of(f.ledger->reserve(f.rq(1, "api.example.com"))) == "BUDGET_EXCEEDED");
}

TEST_CASE("approvals: concurrent decisions from several channels — exactly one wins, the rest change nothing") {
  Fixture f;
  for (int round = 0; round < 5; ++round) {
    auto r = f.reserve(f.rq(20'000));
    REQUIRE(r.approval);
    constexpr int kThreads = 8;
    std::vector<std::thread> ts;
    std::vector<std::string> codes(kThreads);
    std::vector<int> approved(kThreads, 0);
    for (int i = 0; i < kThreads; ++i)
      ts.emplace_back([&, i] {
        ApprovalDecision d;
        if (i % 3 == 0)
          d.code = r.approval_secrets->code;
        else if (i % 3 == 1)
          d.token = (i % 2) ? r.approval_secrets->approve_token : r.approval_secrets->deny_token;
        else
          d.public_id = r.approval->public_id;
        d.approve = i % 2 == 1;
        d.channel = "channel-" + std::to_string(i);
        auto a = f.ledger->decide_approval(d);
        codes[i] = code_of(a);
        if (a) approved[i] = a->state == ApprovalState::approved ? 1 : 0;
      });
    for (auto& t : ts) t.join();
    int wins = 0, winner = -1;
    for (int i = 0; i < kThreads; ++i) {
      if (codes[i] == "OK") {
        ++wins;
        winner = i;
      } else {
        CHECK(codes[i] == "APPROVAL_DECIDED");
      }
    }
    REQUIRE(wins == 1);
    auto a = f.approval(r.approval->public_id);
    CHECK(a.decided_by == "channel-" + std::to_string(winner));
    CHECK((a.state == ApprovalState::approved) == (approved[winner] == 1));
    CHECK(f.payment(r.id).state == (approved[winner] ? State::reserved : State::released));
    if (approved[winner]) {
      // Two paying calls race for it: one sends, the other is refused.
      std::string c1, c2;
      std::thread t1([&] { c1 = code_of(f.ledger->mark_in_flight(r.id)); });
      std::thread t2([&] { c2 = code_of(f.ledger->mark_in_flight(r.id)); });
      t1.join();
      t2.join();
      CHECK(((c1 == "OK") != (c2 == "OK")));
      CHECK((c1 == "APPROVAL_USED" || c2 == "APPROVAL_USED"));
      REQUIRE(f.ledger->settle(r.id, 0, "", 5));
    }
  }
  auto sums = spend_test::raw_sums(f.tmp.ledger_at("ledger.sqlite"));
  CHECK(sums.non_final == 0);
  CHECK(sums.aggregate_total == sums.counted_total);
}
