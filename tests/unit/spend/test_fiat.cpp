// Caps in a currency: conversions (integers, rounding toward refusing), the policy's JSON forms, tighten-only, and
// the ledger applying them at the caller's prices — the stricter of the sat and fiat caps wins, in both directions;
// no price → PRICE_UNAVAILABLE with nothing reserved; the prices are recorded with each payment.
#include <catch2/catch.hpp>

#include "helpers.h"

using namespace sw;
using namespace sw::spend;
using namespace spend_test;

namespace {

std::unique_ptr<Ledger> open_ledger(const std::string& path, const Policy& p, const Clock& c) {
  auto r = Ledger::open(path, p, c);
  if (!r.ok()) FAIL("open failed: " << r.error().code << " " << r.error().message);
  return std::move(r).value();
}

Prices usd(uint64_t dollars_per_btc, int64_t at = 0) {
  return {{"usd", Price{dollars_per_btc * 1'000'000, at, "prices.test"}}};
}

ReserveRequest priced(uint64_t amount_msat, const std::string& hash, const Prices& p, const std::string& domain = "") {
  ReserveRequest r = req(amount_msat, hash, domain);
  r.prices = p;
  return r;
}

}  // namespace

TEST_CASE("fiat: conversions are integer and round toward refusing") {
  // $100,000 per BTC: 1 sat = $0.001 = 1000 micros.
  const uint64_t price = 100'000ULL * 1'000'000;
  CHECK(fiat_to_msat_floor(5'000'000, price) == 5'000'000);   // $5 = 5,000 sats
  CHECK(msat_to_fiat_ceil(1'000, price) == 1'000);            // 1 sat = $0.001
  CHECK(msat_to_fiat_ceil(1, price / 2) == 1);  // 1 msat = half a micro at $50,000: up to 1, down to 0
  CHECK(msat_to_fiat_floor(1, price / 2) == 0);
  // An odd price: $3 per BTC. $1 = 1/3 BTC = 33,333,333,333.33 msat → floor.
  CHECK(fiat_to_msat_floor(1'000'000, 3'000'000) == 33'333'333'333ULL);
  // Large values do not overflow (the product needs 128 bits): 21M BTC at $100,000; beyond 64 bits it saturates.
  CHECK(msat_to_fiat_ceil(kMaxMsat, price) == 2'100'000'000'000'000'000ULL);
  CHECK(msat_to_fiat_ceil(kMaxMsat, 1'000'000'000ULL * 1'000'000) == UINT64_MAX);
  CHECK(fiat_to_msat_floor(UINT64_MAX, 1) == kMaxMsat);  // saturates
  CHECK(fiat_to_msat_floor(5, 0) == 0);                  // no price: nothing may be spent under it
}

TEST_CASE("fiat: amounts parse as exact decimals") {
  CHECK(*parse_fiat_amount("5") == 5'000'000);
  CHECK(*parse_fiat_amount("12.50") == 12'500'000);
  CHECK(*parse_fiat_amount("0.000001") == 1);
  for (const char* bad : {"", ".", "5.", ".5", "-1", "1e3", "5.0000001", "5,00", " 5", "0x10", "5usd"})
    CHECK_FALSE(parse_fiat_amount(bad));
  CHECK(is_currency_code("usd"));
  CHECK(is_currency_code("EUR"));
  CHECK_FALSE(is_currency_code("us"));
  CHECK_FALSE(is_currency_code("usdt"));
  CHECK_FALSE(is_currency_code("u$d"));
}

TEST_CASE("fiat: policy JSON forms, round trip, errors") {
  auto p = policy_from_json(json::parse(R"({"day_usd": 5, "max_eur": "0.50",
      "week": {"amount": 20.25, "currency": "USD"}, "hour_sats": 100,
      "domains": {"api.example.com": {"lifetime_usd": 1}}})"));
  REQUIRE(p);
  REQUIRE(p->global.fiat.size() == 3);
  CHECK(p->global.fiat[0] == FiatCap{"day", "usd", 5'000'000});
  CHECK(p->global.fiat[1] == FiatCap{"per_call", "eur", 500'000});
  CHECK(p->global.fiat[2] == FiatCap{"week", "usd", 20'250'000});
  CHECK(p->global.hour_msat == 100'000);
  CHECK(p->domains.at("api.example.com").fiat == std::vector<FiatCap>{{"lifetime", "usd", 1'000'000}});
  auto back = policy_from_json(policy_to_json(*p));
  REQUIRE(back);
  CHECK(*back == *p);
  for (const char* bad : {R"({"day_usd": -1})", R"({"day_usd": "five"})", R"({"day_usd": 1.0000001})",
                          R"({"day": {"amount": 5}})", R"({"day": {"amount": 5, "currency": "dollars"}})",
                          R"({"max_usd": 1, "per_call_usd": 2})", R"({"dayly_usd": 5})",
                          R"({"day": {"amount": 5, "currency": "usd", "extra": 1}})"}) {
    INFO(bad);
    auto r = policy_from_json(json::parse(bad));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "POLICY_INVALID");
  }
}

TEST_CASE("fiat: envelopes take a cap in a currency") {
  auto e = envelopes_from_json(json::parse(R"([{"name": "routeweiler", "cap": {"amount": 10, "currency": "usd"},
      "protocols": ["l402"], "ttl_seconds": 3600}, {"name": "b", "cap_eur": 2, "cap_sats": 500}])"),
                               1000);
  REQUIRE(e);
  REQUIRE(e->size() == 2);
  CHECK((*e)[0].fiat_cap == FiatCap{"lifetime", "usd", 10'000'000});
  CHECK((*e)[0].cap_msat == kMaxMsat);
  CHECK((*e)[1].fiat_cap == FiatCap{"lifetime", "eur", 2'000'000});
  CHECK((*e)[1].cap_msat == 500'000);
  CHECK_FALSE(envelopes_from_json(json::parse(R"([{"name": "x"}])"), 0));
  CHECK_FALSE(envelopes_from_json(json::parse(R"([{"name": "x", "cap_usd": 1, "cap_eur": 1}])"), 0));
}

TEST_CASE("fiat: tightening may lower or add a fiat cap, never raise or drop one") {
  Policy cur = bare_policy();
  cur.global.fiat = {{"day", "usd", 5'000'000}};
  Policy lower = cur;
  lower.global.fiat = {{"day", "usd", 4'000'000}, {"hour", "eur", 1'000'000}};
  CHECK(check_tighter(cur, lower));
  Policy higher = cur;
  higher.global.fiat = {{"day", "usd", 6'000'000}};
  auto r = check_tighter(cur, higher);
  REQUIRE_FALSE(r);
  CHECK(r.error().details["field"] == "global.day_usd");
  Policy dropped = cur;
  dropped.global.fiat.clear();
  CHECK_FALSE(check_tighter(cur, dropped));
  auto both = stricter_of(cur, lower);
  CHECK(both.global.fiat == std::vector<FiatCap>{{"day", "usd", 4'000'000}, {"hour", "eur", 1'000'000}});
}

TEST_CASE("fiat: the stricter of the sat and the fiat cap wins, in both directions") {
  TempDir dir;
  FakeClock clock;
  Policy p = bare_policy();
  p.global.day_msat = 10'000'000;                   // 10,000 sats a day
  p.global.fiat = {{"day", "usd", 5'000'000}};      // and $5 a day
  auto l = open_ledger(dir.ledger_at("fiat.db"), p, clock);

  SECTION("fiat stricter: at $100,000/BTC $5 = 5,000 sats < 10,000 sats") {
    REQUIRE(l->reserve(priced(4'000'000, hash_of(1), usd(100'000))));
    auto r = l->reserve(priced(2'000'000, hash_of(2), usd(100'000)));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "BUDGET_EXCEEDED");
    CHECK(r.error().details["limit_msat"] == 5'000'000);
    CHECK(r.error().details["limit_fiat"]["currency"] == "usd");
    CHECK(r.error().details["limit_fiat"]["amount"] == 5);
    CHECK(r.error().details["price"]["btc_price"] == 100000);
    CHECK(r.error().message.find("5.00 USD") != std::string::npos);
    CHECK(l->reserve(priced(1'000'000, hash_of(3), usd(100'000))));  // exactly up to the cap
  }
  SECTION("sat stricter: at $10,000/BTC $5 = 50,000 sats > 10,000 sats") {
    REQUIRE(l->reserve(priced(9'000'000, hash_of(1), usd(10'000))));
    auto r = l->reserve(priced(2'000'000, hash_of(2), usd(10'000)));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "BUDGET_EXCEEDED");
    CHECK(r.error().details["limit_msat"] == 10'000'000);
    CHECK_FALSE(r.error().details.contains("limit_fiat"));
  }
  SECTION("the price moves between two payments: the cap follows it") {
    REQUIRE(l->reserve(priced(3'000'000, hash_of(1), usd(100'000))));  // 3,000 sats = $3
    // The price doubles: $5 is now 2,500 sats, already less than what was spent.
    auto r = l->reserve(priced(100'000, hash_of(2), usd(200'000)));
    REQUIRE_FALSE(r);
    CHECK(r.error().details["limit_msat"] == 2'500'000);
    // It halves instead: $5 = 10,000 sats (the sat cap, equal); 3,000 spent, 6,000 more fit.
    CHECK(l->reserve(priced(6'000'000, hash_of(3), usd(50'000))));
  }
  SECTION("no price: PRICE_UNAVAILABLE, nothing reserved; another currency does not count") {
    auto r = l->reserve(req(1'000, hash_of(1)));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "PRICE_UNAVAILABLE");
    CHECK(r.error().details["currency"] == "usd");
    CHECK(r.error().message.find("nothing was paid") != std::string::npos);
    Prices eur = {{"eur", Price{90'000'000'000, 0, "x"}}};
    auto r2 = l->reserve(priced(1'000, hash_of(2), eur));
    REQUIRE_FALSE(r2);
    CHECK(r2.error().code == "PRICE_UNAVAILABLE");
    auto st = l->status();
    REQUIRE(st);
    CHECK(st->pending_count == 0);
  }
}

TEST_CASE("fiat: per-payment, domain and envelope caps in a currency") {
  TempDir dir;
  FakeClock clock;
  Policy p = bare_policy();
  p.global.fiat = {{"per_call", "usd", 1'000'000}};  // $1 per payment
  p.domains["*.example.com"].fiat = {{"lifetime", "eur", 2'000'000}};
  auto l = open_ledger(dir.ledger_at("fiat2.db"), p, clock);
  Envelope env;
  env.name = "routeweiler";
  env.cap_msat = kMaxMsat;
  env.fiat_cap = FiatCap{"lifetime", "usd", 3'000'000};
  REQUIRE(l->set_envelopes({env}));
  const Prices both = {{"usd", Price{100'000'000'000, 0, "x"}}, {"eur", Price{80'000'000'000, 0, "x"}}};

  auto big = l->reserve(priced(1'500'000, hash_of(1), both));  // 1,500 sats = $1.50 > $1
  REQUIRE_FALSE(big);
  CHECK(big.error().details["window"] == "per_call");
  CHECK(big.error().details["limit_fiat"]["amount"] == 1);

  // €2 at €80,000/BTC = 2,500 sats for *.example.com, ever.
  REQUIRE(l->reserve(priced(900'000, hash_of(2), both, "api.example.com")));
  REQUIRE(l->reserve(priced(900'000, hash_of(3), both, "api.example.com")));
  auto dom = l->reserve(priced(900'000, hash_of(4), both, "api.example.com"));
  REQUIRE_FALSE(dom);
  CHECK(dom.error().details["scope"] == "domain:*.example.com");
  CHECK(dom.error().details["limit_fiat"]["currency"] == "eur");
  // Only usd known: the domain's eur cap cannot be checked.
  auto no_eur = l->reserve(priced(100'000, hash_of(5), usd(100'000), "api.example.com"));
  REQUIRE_FALSE(no_eur);
  CHECK(no_eur.error().code == "PRICE_UNAVAILABLE");
  CHECK(no_eur.error().details["scope"] == "domain:*.example.com");
  // Elsewhere the eur price is not needed.
  REQUIRE(l->reserve(priced(100'000, hash_of(6), usd(100'000), "other.org")));

  // The envelope: $3 = 3,000 sats at $100,000.
  auto in_env = [&](uint64_t msat, int n) {
    ReserveRequest r = priced(msat, hash_of(n), both);
    r.envelope = "routeweiler";
    return l->reserve(r);
  };
  REQUIRE(in_env(900'000, 7));
  REQUIRE(in_env(900'000, 8));
  REQUIRE(in_env(900'000, 9));
  auto over = in_env(900'000, 10);
  REQUIRE_FALSE(over);
  CHECK(over.error().details["scope"] == "envelope:routeweiler");
  CHECK(over.error().details["limit_fiat"]["amount"] == 3);
}

TEST_CASE("fiat: the prices are recorded with each payment and used by status and the report") {
  TempDir dir;
  FakeClock clock;
  Policy p = bare_policy();
  p.global.fiat = {{"day", "usd", 5'000'000}};
  auto l = open_ledger(dir.ledger_at("fiat3.db"), p, clock);
  auto a = l->reserve(priced(2'000'000, hash_of(1), usd(100'000, 111)));
  REQUIRE(a);
  REQUIRE(l->mark_in_flight(a->id));
  REQUIRE(l->settle(a->id, 0, std::string(64, 'e'), 5));
  auto b = l->reserve(priced(1'000'000, hash_of(2), usd(50'000, 222)));
  REQUIRE(b);
  REQUIRE(l->mark_in_flight(b->id));
  REQUIRE(l->settle(b->id, 0, std::string(64, 'e'), 5));

  auto pa = l->get_payment(hash_of(1));
  REQUIRE(pa);
  REQUIRE(pa->fiat_rates.count("usd"));
  CHECK(pa->fiat_rates.at("usd").micros_per_btc == 100'000'000'000ULL);
  CHECK(pa->fiat_rates.at("usd").fetched_at == 111);
  json pj = to_json(*pa);
  CHECK(pj["fiat"][0]["currency"] == "usd");
  CHECK(pj["fiat"][0]["amount"] == 2);  // 2,000 sats at $100,000
  auto pb = l->get_payment(hash_of(2));
  REQUIRE(pb);
  CHECK(pb->fiat_rates.at("usd").micros_per_btc == 50'000'000'000ULL);

  // Status at $100,000: 3,000 sats spent = $3, the $5 cap = 5,000 sats.
  auto st = l->status(clock.now_unix(), usd(100'000));
  REQUIRE(st);
  const auto& day = st->global.windows[1];
  CHECK(day.window == "day");
  CHECK(day.limit_msat == 5'000'000);
  CHECK(day.remaining_msat == 2'000'000);
  REQUIRE(day.fiat.size() == 1);
  CHECK(day.fiat[0].spent_micros == 3'000'000);
  json sj = to_json(*st);
  CHECK(sj["global"]["windows"][1]["fiat"][0]["remaining"] == 2);
  // Without a price the cap is shown as such, and no sat equivalent is invented.
  auto st2 = l->status(clock.now_unix(), {});
  REQUIRE(st2);
  CHECK_FALSE(st2->global.windows[1].limit_msat);
  CHECK(to_json(*st2)["global"]["windows"][1]["fiat"][0]["price_unavailable"] == true);

  // The report values each payment at its own recorded price: $2 + $0.50.
  auto rep = l->report(0, clock.now_unix() + 1);
  REQUIRE(rep);
  CHECK(rep->total.settled_fiat_micros.at("usd") == 2'500'000);
  json rj = to_json(*rep);
  CHECK(rj["total"]["fiat"]["usd"]["settled_total"] == 2.5);
}
