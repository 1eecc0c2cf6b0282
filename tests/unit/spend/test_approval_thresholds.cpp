// Approval thresholds are tighten-only, like caps: check_tighter refuses raising or removing approve_above_msat
// (global and per domain) and turning approve_new_domains off; stricter_of takes the lower threshold; the JSON
// forms (number / "none" / null, sats or msat, not both); Ledger::tighten and tighten_envelope lower a threshold,
// never raise it, and the lowering survives a restart.
#include <catch2/catch.hpp>

#include "helpers.h"
#include "spend/spend.h"

using namespace sw;
using namespace sw::spend;
using spend_test::FakeClock;
using spend_test::hash_of;
using spend_test::TempDir;

namespace {

Policy norm(Policy p) {
  auto r = normalize_policy(std::move(p));
  REQUIRE(r);
  return *r;
}

using V = std::vector<std::string>;

V loosened(const Policy& cur, const Policy& prop) {
  auto s = check_tighter(norm(cur), norm(prop));
  if (s) return {};
  CHECK(s.error().code == "POLICY_LOOSEN_REFUSED");
  return s.error().details.at("fields").get<V>();
}

Policy with_threshold(std::optional<uint64_t> msat) {
  Policy p;
  p.global.approve_above_msat = msat;
  return p;
}

std::string code_of(const Status& s) { return s ? std::string("OK") : s.error().code; }

}  // namespace

TEST_CASE("thresholds: check_tighter refuses raising or removing a threshold and turning approve_new_domains off") {
  CHECK(loosened(with_threshold(500'000), with_threshold(400'000)).empty());
  CHECK(loosened(with_threshold(500'000), with_threshold(500'000)).empty());
  CHECK(loosened(with_threshold(500'000), with_threshold(0)).empty());
  CHECK(loosened(with_threshold(std::nullopt), with_threshold(100'000)).empty());  // adding one tightens
  CHECK(loosened(with_threshold(500'000), with_threshold(500'001)) == V{"global.approve_above_msat"});
  CHECK(loosened(with_threshold(500'000), with_threshold(std::nullopt)) == V{"global.approve_above_msat"});
  CHECK(loosened(with_threshold(0), with_threshold(1)) == V{"global.approve_above_msat"});

  Policy dom;
  dom.domains["*.example.com"].approve_above_msat = 100'000;
  Policy higher = dom;
  higher.domains["*.example.com"].approve_above_msat = 200'000;
  CHECK(loosened(dom, higher) == V{"domains.*.example.com.approve_above_msat"});
  Policy removed = dom;
  removed.domains["*.example.com"].approve_above_msat.reset();
  CHECK(loosened(dom, removed) == V{"domains.*.example.com.approve_above_msat"});
  Policy lower = dom;
  lower.domains["*.example.com"].approve_above_msat = 50'000;
  CHECK(loosened(dom, lower).empty());

  Policy on;
  on.approve_new_domains = true;
  Policy off;
  CHECK(loosened(on, off) == V{"approve_new_domains"});
  CHECK(loosened(off, on).empty());
  CHECK(loosened(on, on).empty());
}

TEST_CASE("thresholds: stricter_of takes the lower threshold and approve_new_domains from either") {
  Policy a = with_threshold(500'000), b = with_threshold(300'000);
  CHECK(stricter_of(a, b).global.approve_above_msat == std::optional<uint64_t>(300'000));
  CHECK(stricter_of(b, a).global.approve_above_msat == std::optional<uint64_t>(300'000));
  CHECK(stricter_of(with_threshold(std::nullopt), b).global.approve_above_msat == std::optional<uint64_t>(300'000));
  CHECK(stricter_of(a, with_threshold(std::nullopt)).global.approve_above_msat == std::optional<uint64_t>(500'000));
  CHECK_FALSE(stricter_of(with_threshold(std::nullopt), with_threshold(std::nullopt)).global.approve_above_msat);
  CHECK(stricter_of(a, with_threshold(0)).global.approve_above_msat == std::optional<uint64_t>(0));
  Policy on;
  on.approve_new_domains = true;
  CHECK(stricter_of(on, Policy{}).approve_new_domains);
  CHECK(stricter_of(Policy{}, on).approve_new_domains);
  CHECK_FALSE(stricter_of(Policy{}, Policy{}).approve_new_domains);
  Policy d1, d2;
  d1.domains["*.example.com"].approve_above_msat = 100'000;
  d2.domains["*.example.com"].approve_above_msat = 70'000;
  CHECK(stricter_of(d1, d2).domains.at("*.example.com").approve_above_msat == std::optional<uint64_t>(70'000));
}

TEST_CASE("thresholds: policy_from_json takes a number, \"none\" or null, refuses other strings and both units") {
  auto p = policy_from_json(json{{"approve_above_sats", 500}});
  REQUIRE(p);
  CHECK(p->global.approve_above_msat == std::optional<uint64_t>(500'000));
  p = policy_from_json(json{{"approve_above_sats", 0}});
  REQUIRE(p);
  CHECK(p->global.approve_above_msat == std::optional<uint64_t>(0));
  p = policy_from_json(json{{"approve_above_msat", 1'500}});
  REQUIRE(p);
  CHECK(p->global.approve_above_msat == std::optional<uint64_t>(1'500));
  for (const json& none : {json("none"), json("None"), json(nullptr)}) {
    INFO(none.dump());
    p = policy_from_json(json{{"approve_above_sats", none}});
    REQUIRE(p);
    CHECK_FALSE(p->global.approve_above_msat);
  }
  CHECK_FALSE(policy_from_json(json::object())->global.approve_above_msat);  // default: never
  for (const json& bad : {json("500"), json("never"), json(""), json(-1), json(1.5), json(true)}) {
    INFO(bad.dump());
    auto r = policy_from_json(json{{"approve_above_sats", bad}});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "POLICY_INVALID");
  }
  for (const json& both : {json{{"approve_above_sats", 1}, {"approve_above_msat", 1000}},
                           json{{"approve_above_sats", "none"}, {"approve_above_msat", 1000}},
                           json{{"approve_above_sats", 5}, {"approve_above_msat", "none"}}}) {
    INFO(both.dump());
    auto r = policy_from_json(both);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "POLICY_INVALID");
  }
  // approve_new_domains is a boolean.
  p = policy_from_json(json{{"approve_new_domains", true}});
  REQUIRE(p);
  CHECK(p->approve_new_domains);
  CHECK_FALSE(policy_from_json(json{{"approve_new_domains", "yes"}}));
  // Per domain, and the round trip through policy_to_json.
  p = policy_from_json(json{{"approve_above_sats", 500},
                            {"approve_new_domains", true},
                            {"domains", {{"*.example.com", {{"approve_above_sats", 20}}}}}});
  REQUIRE(p);
  CHECK(p->domains.at("*.example.com").approve_above_msat == std::optional<uint64_t>(20'000));
  auto back = policy_from_json(policy_to_json(*p));
  REQUIRE(back);
  CHECK(*back == *p);
  CHECK_FALSE(policy_from_json(json{{"domains", {{"*.example.com", {{"approve_above_sats", "lots"}}}}}}));
  // Envelopes.
  auto envs = envelopes_from_json(json::array({json{{"name", "a"}, {"cap_sats", 10}, {"approve_above_sats", 3}},
                                               json{{"name", "b"}, {"cap_sats", 10}, {"approve_above_sats", "none"}},
                                               json{{"name", "c"}, {"cap_sats", 10}}}),
                                  1'700'000'000);
  REQUIRE(envs);
  CHECK(envs->at(0).approve_above_msat == std::optional<uint64_t>(3'000));
  CHECK_FALSE(envs->at(1).approve_above_msat);
  CHECK_FALSE(envs->at(2).approve_above_msat);
  CHECK_FALSE(envelopes_from_json(json::array({json{{"name", "a"}, {"cap_sats", 10}, {"approve_above_sats", "x"}}}),
                                  1'700'000'000));
}

TEST_CASE("thresholds: Ledger::tighten lowers the threshold, never raises or removes it, and it survives a restart") {
  TempDir tmp;
  FakeClock clock;
  Policy configured = spend_test::bare_policy();
  configured.global.approve_above_msat = 500'000;
  auto l = Ledger::open(tmp.ledger_at("ledger.sqlite"), configured, clock);
  REQUIRE(l);
  auto& ledger = *l;
  Policy p = ledger->policy();
  p.global.approve_above_msat = 300'000;
  REQUIRE(ledger->tighten(p));
  CHECK(ledger->policy().global.approve_above_msat == std::optional<uint64_t>(300'000));
  p.global.approve_above_msat = 400'000;
  CHECK(code_of(ledger->tighten(p)) == "POLICY_LOOSEN_REFUSED");
  p.global.approve_above_msat.reset();
  CHECK(code_of(ledger->tighten(p)) == "POLICY_LOOSEN_REFUSED");
  p = ledger->policy();
  p.approve_new_domains = true;
  REQUIRE(ledger->tighten(p));
  p.approve_new_domains = false;
  CHECK(code_of(ledger->tighten(p)) == "POLICY_LOOSEN_REFUSED");
  CHECK(ledger->policy().global.approve_above_msat == std::optional<uint64_t>(300'000));
  CHECK(ledger->policy().approve_new_domains);
  // The reservation follows the tightened threshold: 350 sats now needs approval.
  ReserveRequest rq = spend_test::req(350'000, hash_of(1));
  auto rr = ledger->reserve(rq);
  REQUIRE_FALSE(rr);
  CHECK(rr.error().code == "APPROVAL_UNAVAILABLE");
  // A restart with the looser configuration keeps the tightening (the stricter wins).
  ledger.reset();
  auto again = Ledger::open(tmp.ledger_at("ledger.sqlite"), configured, clock);
  REQUIRE(again);
  CHECK((*again)->policy().global.approve_above_msat == std::optional<uint64_t>(300'000));
  CHECK((*again)->policy().approve_new_domains);
  CHECK((*again)->configured_policy().global.approve_above_msat == std::optional<uint64_t>(500'000));
  // The owner's reset brings back the configured values.
  REQUIRE((*again)->reset_policy_overrides());
  CHECK((*again)->policy().global.approve_above_msat == std::optional<uint64_t>(500'000));
  CHECK_FALSE((*again)->policy().approve_new_domains);
}

TEST_CASE("thresholds: tighten_envelope lowers an envelope's threshold, never raises it, and binds that envelope only") {
  TempDir tmp;
  FakeClock clock;
  Policy configured = spend_test::bare_policy();
  auto l = Ledger::open(tmp.ledger_at("ledger.sqlite"), configured, clock);
  REQUIRE(l);
  auto& ledger = *l;
  REQUIRE(ledger->set_envelopes({Envelope{"team-a", 1'000'000, std::nullopt, std::nullopt, std::nullopt, 100'000},
                                 Envelope{"team-b", 1'000'000, std::nullopt, std::nullopt, std::nullopt, std::nullopt}}));
  uint64_t n = 1;
  auto needs_approval = [&](uint64_t amount, const std::string& env) {
    ReserveRequest rq = spend_test::req(amount, hash_of(n++));
    if (!env.empty()) rq.envelope = env;
    rq.approval = ApprovalTerms{};
    auto r = ledger->reserve(rq);
    REQUIRE(r);
    REQUIRE(ledger->release(r->id));
    return r->approval.has_value();
  };
  CHECK_FALSE(needs_approval(60'000, "team-a"));
  REQUIRE(ledger->tighten_envelope("team-a", std::nullopt, 50'000));
  CHECK(needs_approval(60'000, "team-a"));
  CHECK_FALSE(needs_approval(50'000, "team-a"));
  CHECK_FALSE(needs_approval(60'000, "team-b"));
  CHECK_FALSE(needs_approval(60'000, ""));
  // Raising it again (above 50, or above the configured 100) is refused; lowering further works.
  CHECK(code_of(ledger->tighten_envelope("team-a", std::nullopt, 80'000)) == "POLICY_LOOSEN_REFUSED");
  CHECK(code_of(ledger->tighten_envelope("team-a", std::nullopt, 200'000)) == "POLICY_LOOSEN_REFUSED");
  REQUIRE(ledger->tighten_envelope("team-a", std::nullopt, 30'000));
  CHECK(needs_approval(40'000, "team-a"));
  // An envelope without a threshold of its own: any first value lowers; later only lower ones.
  REQUIRE(ledger->tighten_envelope("team-b", std::nullopt, 500'000));
  CHECK(code_of(ledger->tighten_envelope("team-b", std::nullopt, 2'000'000)) == "POLICY_LOOSEN_REFUSED");
  CHECK_FALSE(needs_approval(500'000, "team-b"));
  CHECK(needs_approval(500'001, "team-b"));
  // Nothing to tighten, or an unknown envelope.
  CHECK(code_of(ledger->tighten_envelope("team-a", std::nullopt, std::nullopt)) == "INVALID_ARGUMENT");
  CHECK(code_of(ledger->tighten_envelope("nobody", std::nullopt, 1)) == "ENVELOPE_UNKNOWN");
  // Survives a restart with the configuration unchanged.
  ledger.reset();
  auto again = Ledger::open(tmp.ledger_at("ledger.sqlite"), configured, clock);
  REQUIRE(again);
  ledger = std::move(*again);
  REQUIRE(ledger->set_envelopes({Envelope{"team-a", 1'000'000, std::nullopt, std::nullopt, std::nullopt, 100'000},
                                 Envelope{"team-b", 1'000'000, std::nullopt, std::nullopt, std::nullopt, std::nullopt}}));
  CHECK(needs_approval(40'000, "team-a"));
  CHECK(code_of(ledger->tighten_envelope("team-a", std::nullopt, 35'000)) == "POLICY_LOOSEN_REFUSED");
  // The owner sees them (satwarden policy show): thresholds only, and no cap tightening was recorded.
  auto shown = ledger->envelope_threshold_tightenings();
  REQUIRE(shown);
  CHECK(*shown == std::map<std::string, uint64_t>{{"team-a", 30'000}, {"team-b", 500'000}});
  auto caps = ledger->envelope_tightenings();
  REQUIRE(caps);
  CHECK(caps->empty());
}

TEST_CASE("thresholds: an envelope threshold above the global one is refused as a loosening") {
  TempDir tmp;
  FakeClock clock;
  Policy configured = spend_test::bare_policy();
  configured.global.approve_above_msat = 500'000;
  auto l = Ledger::open(tmp.ledger_at("ledger.sqlite"), configured, clock);
  REQUIRE(l);
  REQUIRE((*l)->set_envelopes({Envelope{"team-a", 10'000'000, std::nullopt, std::nullopt, std::nullopt, std::nullopt}}));
  CHECK(code_of((*l)->tighten_envelope("team-a", std::nullopt, 600'000)) == "POLICY_LOOSEN_REFUSED");
  REQUIRE((*l)->tighten_envelope("team-a", std::nullopt, 400'000));
  CHECK((*l)->policy().global.approve_above_msat == std::optional<uint64_t>(500'000));  // global untouched
}

TEST_CASE("thresholds: lowering only an envelope's threshold does not pin its cap") {
  TempDir tmp;
  FakeClock clock;
  Policy configured = spend_test::bare_policy();
  auto l = Ledger::open(tmp.ledger_at("ledger.sqlite"), configured, clock);
  REQUIRE(l);
  REQUIRE((*l)->set_envelopes({Envelope{"team-a", 1'000'000, std::nullopt, std::nullopt, std::nullopt, std::nullopt}}));
  REQUIRE((*l)->tighten_envelope("team-a", std::nullopt, 10'000));
  auto t = (*l)->envelope_tightenings();
  REQUIRE(t);
  CHECK(t->count("team-a") == 0);  // no cap was lowered
  // The owner raises the envelope's cap in the configuration: it applies (the token only lowered the threshold).
  REQUIRE((*l)->set_envelopes({Envelope{"team-a", 5'000'000, std::nullopt, std::nullopt, std::nullopt, std::nullopt}}));
  ReserveRequest rq = spend_test::req(3'000'000, hash_of(7));
  rq.envelope = "team-a";
  rq.approval = ApprovalTerms{};
  auto r = (*l)->reserve(rq);
  INFO((r ? std::string() : r.error().code + ": " + r.error().message));
  REQUIRE(r);
  CHECK(r->approval);  // the lowered threshold still applies
  auto st = (*l)->status();
  REQUIRE(st);
  REQUIRE(st->envelopes.size() == 1);
  CHECK(st->envelopes[0].windows[0].limit_msat == std::optional<uint64_t>(5'000'000));
  // A cap lowered later is recorded as before, and a threshold-only tightening after it keeps it.
  REQUIRE((*l)->tighten_envelope("team-a", 4'000'000, std::nullopt));
  REQUIRE((*l)->tighten_envelope("team-a", std::nullopt, 5'000));
  t = (*l)->envelope_tightenings();
  REQUIRE(t);
  CHECK(t->at("team-a") == 4'000'000);
}
