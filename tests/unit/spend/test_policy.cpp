#include <catch2/catch.hpp>

#include "helpers.h"

using namespace sw;
using namespace sw::spend;

namespace {

Policy norm(Policy p) {
  auto r = normalize_policy(std::move(p));
  REQUIRE(r.ok());
  return *r;
}

// The loosened fields check_tighter reports, or {} when it accepts.
std::vector<std::string> loosened(const Policy& cur, const Policy& prop) {
  auto s = check_tighter(norm(cur), norm(prop));
  if (s.ok()) return {};
  CHECK(s.error().code == "POLICY_LOOSEN_REFUSED");
  CHECK(s.error().details.at("field") == s.error().details.at("fields").at(0));
  return s.error().details.at("fields").get<std::vector<std::string>>();
}

using V = std::vector<std::string>;

}  // namespace

TEST_CASE("domain patterns: exact and *.suffix, never the apex") {
  CHECK(domain_matches("api.example.com", "api.example.com"));
  CHECK_FALSE(domain_matches("api.example.com", "x.api.example.com"));
  CHECK(domain_matches("*.example.com", "api.example.com"));
  CHECK(domain_matches("*.example.com", "a.b.example.com"));
  CHECK_FALSE(domain_matches("*.example.com", "example.com"));
  CHECK_FALSE(domain_matches("*.example.com", "badexample.com"));
  CHECK_FALSE(domain_matches("*.example.com", ""));
}

TEST_CASE("fee allowance is max(base, ceil(amount*ppm/1e6)) without overflow") {
  FeeAllowance f{10'000, 5'000};
  CHECK(f.for_amount(1'000) == 10'000);            // base wins
  CHECK(f.for_amount(10'000'000) == 50'000);       // 0.5 %
  CHECK(f.for_amount(10'000'001) == 50'001);       // rounded up
  FeeAllowance g{0, 1'000'000};
  CHECK(g.for_amount(kMaxMsat) == kMaxMsat);       // no 64-bit overflow at the top
  FeeAllowance h{0, 1};
  CHECK(h.for_amount(1) == 1);                     // any positive fraction rounds up to 1 msat
}

TEST_CASE("normalize_policy lowercases, dedupes and rejects bad input") {
  Policy p;
  p.allow_domains = V{"API.Example.com.", "api.example.com", "*.Foo.org"};
  p.deny_domains = {"Bad.COM"};
  p.protocols = {"L402", "bolt11", "bolt11"};
  p.domains["Shop.Example.com"].day_msat = 5;
  auto n = normalize_policy(p);
  REQUIRE(n.ok());
  CHECK(*n->allow_domains == V{"*.foo.org", "api.example.com"});
  CHECK(n->deny_domains == V{"bad.com"});
  CHECK(n->protocols == V{"bolt11", "l402"});
  CHECK(n->domains.count("shop.example.com") == 1);

  Policy bad;
  bad.deny_domains = {"a.*.com"};
  CHECK(normalize_policy(bad).error().code == "POLICY_INVALID");
  Policy bad2;
  bad2.protocols = {"onchain"};
  CHECK(normalize_policy(bad2).error().code == "POLICY_INVALID");
  Policy bad3;
  bad3.global.day_msat = kMaxMsat + 1;
  CHECK(normalize_policy(bad3).error().code == "POLICY_INVALID");
}

TEST_CASE("tighten-only: every cap field") {
  const char* names[] = {"per_call_msat", "hour_msat", "day_msat", "week_msat", "month_msat", "lifetime_msat"};
  auto field = [](Caps& c, int i) -> std::optional<uint64_t>& {
    switch (i) {
      case 0: return c.per_call_msat;
      case 1: return c.hour_msat;
      case 2: return c.day_msat;
      case 3: return c.week_msat;
      case 4: return c.month_msat;
      default: return c.lifetime_msat;
    }
  };
  for (int i = 0; i < 6; ++i) {
    INFO(names[i]);
    Policy cur;
    field(cur.global, i) = 5000;
    Policy lower = cur, higher = cur, removed = cur;
    field(lower.global, i) = 4000;
    field(higher.global, i) = 6000;
    field(removed.global, i).reset();
    CHECK(loosened(cur, lower).empty());
    CHECK(loosened(cur, cur).empty());
    CHECK(loosened(cur, higher) == V{std::string("global.") + names[i]});
    CHECK(loosened(cur, removed) == V{std::string("global.") + names[i]});

    // Adding a cap where there was none is tightening; also inside a domain entry.
    Policy none;
    field(none.global, 0).reset();
    Policy added = none;
    field(added.global, i) = 1;
    CHECK(loosened(none, added).empty());
    Policy dcur;
    field(dcur.domains["x.com"], i) = 100;
    Policy dhigh = dcur;
    field(dhigh.domains["x.com"], i) = 101;
    CHECK(loosened(dcur, dhigh) == V{std::string("domains.x.com.") + names[i]});
  }
}

TEST_CASE("tighten-only: domains, lists, protocols, fee") {
  Policy cur;
  cur.domains["shop.com"].day_msat = 1000;
  Policy dropped = cur;
  dropped.domains.clear();
  CHECK(loosened(cur, dropped) == V{"domains.shop.com"});
  Policy added = cur;
  added.domains["other.com"].hour_msat = 5;
  CHECK(loosened(cur, added).empty());

  // allow list
  Policy open;  // no allow list
  Policy allow = open;
  allow.allow_domains = V{"*.example.com", "a.org"};
  CHECK(loosened(open, allow).empty());
  CHECK(loosened(allow, open) == V{"allow_domains"});
  Policy fewer = allow;
  fewer.allow_domains = V{"a.org"};
  CHECK(loosened(allow, fewer).empty());
  Policy narrower = allow;
  narrower.allow_domains = V{"api.example.com", "*.x.example.com"};
  CHECK(loosened(allow, narrower).empty());
  Policy more = allow;
  more.allow_domains->push_back("b.org");
  CHECK(loosened(allow, more) == V{"allow_domains"});
  Policy broader = fewer;
  broader.allow_domains = V{"*.org"};
  CHECK(loosened(fewer, broader) == V{"allow_domains"});
  Policy nothing = allow;
  nothing.allow_domains = V{};  // allow no domain at all: strictest
  CHECK(loosened(allow, nothing).empty());
  CHECK(loosened(nothing, open) == V{"allow_domains"});

  // deny list
  Policy deny;
  deny.deny_domains = {"a.evil.com"};
  Policy more_deny = deny;
  more_deny.deny_domains.push_back("b.com");
  CHECK(loosened(deny, more_deny).empty());
  CHECK(loosened(more_deny, deny) == V{"deny_domains"});
  Policy wider_deny;
  wider_deny.deny_domains = {"*.evil.com"};
  CHECK(loosened(deny, wider_deny).empty());
  CHECK(loosened(wider_deny, deny) == V{"deny_domains"});

  // protocols
  Policy fewer_protos;
  fewer_protos.protocols = {"bolt11"};
  CHECK(loosened(Policy{}, fewer_protos).empty());
  CHECK(loosened(fewer_protos, Policy{}) == V{"protocols"});

  // fee allowance: reserving more is stricter
  Policy fee_up, fee_down;
  fee_up.fee.base_msat = 20'000;
  fee_down.fee.ppm = 1;
  CHECK(loosened(Policy{}, fee_up).empty());
  CHECK(loosened(Policy{}, fee_down) == V{"fee.ppm"});
  CHECK(loosened(fee_up, Policy{}) == V{"fee.base_msat"});

  // several at once: all are named
  Policy multi = cur;
  multi.global.per_call_msat.reset();
  multi.domains.clear();
  auto f = loosened(cur, multi);
  CHECK(f == V{"global.per_call_msat", "domains.shop.com"});
}

TEST_CASE("stricter_of takes the stricter of every field") {
  Policy a, b;
  a.global.per_call_msat = 500;
  b.global.per_call_msat = 900;
  b.global.day_msat = 7000;
  a.domains["x.com"].hour_msat = 10;
  b.domains["x.com"].hour_msat = 5;
  b.domains["y.com"].week_msat = 1;
  a.allow_domains = V{"*.example.com", "z.org"};
  b.allow_domains = V{"api.example.com", "*.net"};
  a.deny_domains = {"bad.com"};
  b.deny_domains = {"worse.com"};
  a.protocols = {"bolt11", "l402"};
  b.protocols = {"l402", "mpp"};
  a.fee = {1, 10};
  b.fee = {100, 1};
  Policy s = stricter_of(norm(a), norm(b));
  CHECK(s.global.per_call_msat == 500u);
  CHECK(s.global.day_msat == 7000u);
  CHECK(s.domains["x.com"].hour_msat == 5u);
  CHECK(s.domains["y.com"].week_msat == 1u);
  CHECK(*s.allow_domains == V{"api.example.com"});
  CHECK(s.deny_domains == V{"bad.com", "worse.com"});
  CHECK(s.protocols == V{"l402"});
  CHECK(s.fee == FeeAllowance{100, 10});
  // Disjoint allow lists intersect to "no domain allowed", never to "no allow list".
  Policy c, d;
  c.allow_domains = V{"a.com"};
  d.allow_domains = V{"b.com"};
  auto cd = stricter_of(norm(c), norm(d));
  REQUIRE(cd.allow_domains.has_value());
  CHECK(cd.allow_domains->empty());
  // The result is at least as strict as each input.
  CHECK(check_tighter(norm(a), s).ok());
  CHECK(check_tighter(norm(b), s).ok());
}

TEST_CASE("policy JSON: sats and msat keys, null removes, round trip, errors") {
  auto p = policy_from_json(json::parse(R"({
    "max_sats": 2000, "day_sats": 10000, "hour_msat": 1500000, "lifetime_sats": null,
    "fee": {"base_msat": 3000, "ppm": 1000},
    "allow_domains": ["*.Example.com"], "deny_domains": ["evil.example.com"],
    "protocols": ["l402", "bolt11"],
    "domains": {"api.example.com": {"max_sats": 100, "week_sats": 700}}
  })"));
  REQUIRE(p.ok());
  CHECK(p->global.per_call_msat == 2'000'000u);
  CHECK(p->global.day_msat == 10'000'000u);
  CHECK(p->global.hour_msat == 1'500'000u);
  CHECK_FALSE(p->global.lifetime_msat);
  CHECK(p->fee == FeeAllowance{3000, 1000});
  CHECK(*p->allow_domains == V{"*.example.com"});
  CHECK(p->domains.at("api.example.com").per_call_msat == 100'000u);
  CHECK(p->domains.at("api.example.com").week_msat == 700'000u);
  auto back = policy_from_json(policy_to_json(*p));
  REQUIRE(back.ok());
  CHECK(*back == *p);

  auto dflt = policy_from_json(json::object());
  REQUIRE(dflt.ok());
  CHECK(dflt->global.per_call_msat == 1'000'000u);
  CHECK_FALSE(dflt->allow_domains);
  auto nocap = policy_from_json(json{{"max_sats", nullptr}});
  REQUIRE(nocap.ok());
  CHECK_FALSE(nocap->global.per_call_msat);

  CHECK(policy_from_json(json{{"day_sats", -1}}).error().code == "POLICY_INVALID");
  CHECK(policy_from_json(json{{"day_sats", "10"}}).error().code == "POLICY_INVALID");
  CHECK(policy_from_json(json{{"day_sats", 1}, {"day_msat", 1}}).error().code == "POLICY_INVALID");
  CHECK(policy_from_json(json{{"dayz_sats", 1}}).error().code == "POLICY_INVALID");
  CHECK(policy_from_json(json{{"protocols", {"lnurl"}}}).error().code == "POLICY_INVALID");
  CHECK(policy_from_json(json{{"domains", {{"x.com", {{"bogus", 1}}}}}}).error().code == "POLICY_INVALID");
  CHECK(policy_from_json(json{{"fee", {{"ppm", 2000000}}}}).error().code == "POLICY_INVALID");
  CHECK(policy_from_json(json::array()).error().code == "POLICY_INVALID");
}

TEST_CASE("envelopes JSON") {
  auto e = envelopes_from_json(json::parse(R"([
    {"name": "team-a", "cap_sats": 5000, "ttl_seconds": 3600, "protocols": ["L402"]},
    {"name": "team-b", "cap_msat": 700, "expires_at": 1800000000}
  ])"),
                               1'700'000'000);
  REQUIRE(e.ok());
  REQUIRE(e->size() == 2);
  CHECK((*e)[0].cap_msat == 5'000'000u);
  CHECK((*e)[0].expires_at == 1'700'003'600);  // provisional; Ledger::set_envelopes() anchors it
  CHECK((*e)[0].ttl_seconds == 3600);
  CHECK_FALSE((*e)[1].ttl_seconds);
  CHECK(*(*e)[0].protocols == V{"l402"});
  CHECK((*e)[1].cap_msat == 700u);
  CHECK((*e)[1].expires_at == 1'800'000'000);
  CHECK_FALSE((*e)[1].protocols);
  CHECK(envelopes_from_json(json::parse(R"([{"name":"a","cap_sats":1},{"name":"a","cap_sats":2}])"), 0)
            .error()
            .code == "POLICY_INVALID");
  CHECK(envelopes_from_json(json::parse(R"([{"name":"a"}])"), 0).error().code == "POLICY_INVALID");
  CHECK(envelopes_from_json(json::parse(R"([{"name":"a","cap_sats":1,"ttl_seconds":-5}])"), 0).error().code ==
        "POLICY_INVALID");
}

TEST_CASE("state machine table") {
  using S = State;
  CHECK(transition_allowed(S::reserved, S::in_flight));
  CHECK(transition_allowed(S::reserved, S::released));
  CHECK(transition_allowed(S::reserved, S::failed));
  CHECK_FALSE(transition_allowed(S::reserved, S::settled));
  CHECK_FALSE(transition_allowed(S::reserved, S::unknown));
  CHECK(transition_allowed(S::in_flight, S::settled));
  CHECK(transition_allowed(S::in_flight, S::unknown));
  CHECK(transition_allowed(S::unknown, S::settled));
  CHECK(transition_allowed(S::unknown, S::failed));
  CHECK_FALSE(transition_allowed(S::unknown, S::released));
  for (S fin : {S::settled, S::failed, S::released})
    for (S to : {S::reserved, S::in_flight, S::settled, S::failed, S::released, S::unknown})
      CHECK_FALSE(transition_allowed(fin, to));
  CHECK(counts_against_budget(S::unknown));
  CHECK_FALSE(counts_against_budget(S::released));
  CHECK(parse_state("in_flight") == S::in_flight);
  CHECK_FALSE(parse_state("paid"));
}
