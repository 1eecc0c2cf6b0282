// Fees within caps (issue 10 item 9): a routing fee the wallet reports above the reserved allowance is booked as
// spent, shown in the status, and the windows it pushed past their cap refuse payments until they have room.
#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include "helpers.h"

using namespace sw;
using namespace sw::spend;
using namespace spend_test;

namespace {

ReserveRequest req(uint64_t n, uint64_t sats) {
  ReserveRequest r;
  r.client = "t";
  r.tool = "pay_invoice";
  r.protocol = "bolt11";
  r.payment_hash = hash_of(n);
  r.amount_msat = sats * 1000;
  return r;
}

}  // namespace

TEST_CASE("fees above the allowance are booked, reported, and close the windows they overfill") {
  TempDir tmp;
  FakeClock clock;
  Policy p;
  p.global.per_call_msat = std::nullopt;
  p.global.day_msat = 100'000;  // 100 sats a day
  p.fee = FeeAllowance{0, 0};   // the owner forced a zero allowance
  auto opened = Ledger::open(tmp.ledger_at("l.sqlite"), p, clock);
  REQUIRE(opened);
  Ledger& l = **opened;

  // Two 50-sat payments fit the cap exactly (no allowance is reserved).
  auto a = l.reserve(req(1, 50));
  auto b = l.reserve(req(2, 50));
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->max_fee_msat == 0);
  REQUIRE(l.mark_in_flight(a->id));
  REQUIRE(l.mark_in_flight(b->id));
  // The wallet reports 5 sats and 5.2 sats of routing fees: booked as they were spent.
  REQUIRE(l.settle(a->id, 5'000, std::string(64, 'e'), 10));
  REQUIRE(l.settle(b->id, 5'200, std::string(64, 'e'), 10));
  auto st = l.status();
  REQUIRE(st);
  CHECK(st->global.windows[1].spent_msat == 110'200);  // the cap is exceeded by the excess fees, not hidden
  CHECK(st->global.windows[1].remaining_msat == std::optional<uint64_t>(0));
  CHECK(st->fee_excess_count == 2);
  CHECK(st->fee_excess_msat == 10'200);
  CHECK(st->fee_excess_last_at == std::optional<int64_t>(clock.now_unix()));
  CHECK(raw_sums(tmp.ledger_at("l.sqlite")).settled_total == 110'200);
  json j = to_json(*st);
  CHECK(j["fee_excess"]["excess_msat"] == 10'200);

  // Nothing more is paid in that window, not even 1 sat, until it has room again.
  auto refused = l.reserve(req(3, 1));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == "BUDGET_EXCEEDED");
  clock.advance(86'400);  // both rows roll off
  auto later = l.reserve(req(4, 1));
  CHECK(later);
  // The excess is reported over the last 30 days.
  clock.advance(30 * 86'400);
  auto old = l.status();
  REQUIRE(old);
  CHECK(old->fee_excess_count == 0);
}

TEST_CASE("with an allowance, parallel payments overshoot a cap only by fees above their own allowance") {
  TempDir tmp;
  FakeClock clock;
  Policy p;
  p.global.per_call_msat = std::nullopt;
  p.global.day_msat = 100'000;
  p.fee = FeeAllowance{1'000, 0};  // 1 sat reserved per payment
  auto opened = Ledger::open(tmp.ledger_at("l.sqlite"), p, clock);
  REQUIRE(opened);
  Ledger& l = **opened;
  // 100 parallel 1-sat purchases: each reserves 2 sats (amount + allowance), so at most 50 fit.
  std::vector<std::thread> ts;
  std::atomic<int> ok{0}, steps_failed{0};  // Catch2 assertions are not thread-safe: checked after the join
  for (int i = 0; i < 100; ++i)
    ts.emplace_back([&, i] {
      auto r = l.reserve(req(100 + i, 1));
      if (!r) return;
      ++ok;
      if (!l.mark_in_flight(r->id)) ++steps_failed;
      // Half the wallet's fees stay inside the allowance; the others exceed it by 200 msat.
      if (!l.settle(r->id, i % 2 ? 800 : 1'200, std::string(64, 'e'), 1)) ++steps_failed;
    });
  for (auto& t : ts) t.join();
  CHECK(steps_failed.load() == 0);
  // About 50 fit (fees below the allowance free room, fees above it take some): never more than the cap allows.
  CHECK(ok.load() >= 45);
  CHECK(ok.load() <= 55);
  auto st = l.status();
  REQUIRE(st);
  const uint64_t spent = st->global.windows[1].spent_msat;
  // Whatever the interleaving: at most the excess of the fees above their allowance over the cap.
  CHECK(spent <= 100'000 + st->fee_excess_msat);
  CHECK(st->fee_excess_msat <= 50 * 200);
  CHECK(spent == raw_sums(tmp.ledger_at("l.sqlite")).settled_total);
}
