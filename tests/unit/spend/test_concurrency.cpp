// Concurrency: many threads, two Ledger objects on one file, and real processes racing for one budget.
// The invariant: what the (fake) wallet paid equals what the ledger records as settled, and never exceeds the cap.
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <random>
#include <thread>

#include "helpers.h"

using namespace sw;
using namespace sw::spend;
using namespace spend_test;

namespace {

struct Outcome {
  std::atomic<uint64_t> wallet_paid_msat{0};  // amount + fee actually "sent" by the fake wallet
  std::atomic<uint64_t> settled{0}, failed{0}, refused{0}, other_errors{0};
  std::mutex mu;
  std::vector<std::string> other_codes;
};

// One client: reserve → in_flight → (settle | fail) at random, like the wallet layer would.
void client(Ledger& l, Outcome& out, int thread_no, int attempts, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<uint64_t> amount(1, 40'000);
  for (int i = 0; i < attempts; ++i) {
    auto rq = req(amount(rng), hash_of(static_cast<uint64_t>(thread_no) * 1'000'000 + static_cast<uint64_t>(i)));
    auto r = l.reserve(rq);
    if (!r.ok()) {
      if (r.error().code == "BUDGET_EXCEEDED") {
        ++out.refused;
      } else {
        ++out.other_errors;
        std::lock_guard lk(out.mu);
        out.other_codes.push_back(r.error().code + ": " + r.error().message);
      }
      continue;
    }
    if (!l.mark_in_flight(r->id).ok()) {
      ++out.other_errors;
      continue;
    }
    if (rng() % 10 < 7) {
      uint64_t fee = rng() % (r->max_fee_msat + 1);
      out.wallet_paid_msat += r->amount_msat + fee;  // the wallet paid before the ledger hears of it
      if (l.settle(r->id, fee, std::string(64, 'a'), 1).ok()) ++out.settled; else ++out.other_errors;
    } else {
      if (l.fail(r->id, "NO_ROUTE").ok()) ++out.failed; else ++out.other_errors;
    }
  }
}

// Independent of the Ledger's own queries: raw SQL over the file.

Policy race_policy(uint64_t day_cap) {
  Policy p;
  p.global.per_call_msat.reset();
  p.global.day_msat = day_cap;
  p.fee = {1'000, 10'000};
  return p;
}

}  // namespace

TEST_CASE("16 threads x 500 attempts never overspend a day cap, and the ledger matches the wallet") {
  TempDir dir;
  FakeClock clock;
  const uint64_t cap = 20'000'000;  // 20k sats; 8000 attempts averaging ~20 sats would need ~160k
  auto path = dir.ledger_at("l.db");
  auto opened = Ledger::open(path, race_policy(cap), clock);
  REQUIRE(opened.ok());
  auto& l = **opened;
  Outcome out;
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) threads.emplace_back(client, std::ref(l), std::ref(out), t, 500, 1234 + t);
  for (auto& t : threads) t.join();
  INFO("other errors: " << out.other_errors.load() << (out.other_codes.empty() ? "" : " first: " + out.other_codes[0]));
  CHECK(out.other_errors == 0);
  CHECK(out.refused > 0);
  CHECK(out.settled > 100);
  auto s = raw_sums(path);
  CHECK(s.aggregate_total == s.counted_total);
  CHECK(s.non_final == 0);
  CHECK(s.counted_total == s.settled_total);
  CHECK(s.settled_total <= cap);
  CHECK(s.settled_total == out.wallet_paid_msat.load());
  // The budget was actually used up (each request is at most 40 sats + 1 % or 1 sat of allowance).
  CHECK(cap - s.settled_total < 41'000);
  auto st = l.status();
  REQUIRE(st.ok());
  CHECK(st->global.windows[1].spent_msat == s.settled_total);
}

TEST_CASE("two Ledger objects on the same file race for one budget") {
  TempDir dir;
  FakeClock clock;
  const uint64_t cap = 8'000'000;
  auto path = dir.ledger_at("l.db");
  auto a = Ledger::open(path, race_policy(cap), clock);
  auto b = Ledger::open(path, race_policy(cap), clock);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  Outcome out;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back(client, std::ref(t % 2 ? **a : **b), std::ref(out), t, 300, 99 + t);
  for (auto& t : threads) t.join();
  INFO("first other error: " << (out.other_codes.empty() ? "" : out.other_codes[0]));
  CHECK(out.other_errors == 0);
  CHECK(out.refused > 0);
  auto s = raw_sums(path);
  CHECK(s.aggregate_total == s.counted_total);
  CHECK(s.settled_total <= cap);
  CHECK(s.settled_total == out.wallet_paid_msat.load());
  CHECK(cap - s.settled_total < 41'000);
}

TEST_CASE("separate processes race for one budget and one invoice") {
  TempDir dir;
  const uint64_t cap = 3'000'000;
  auto path = dir.ledger_at("l.db");
  {
    FakeClock clock;
    auto init = Ledger::open(path, race_policy(cap), clock);  // create the schema up front
    REQUIRE(init.ok());
  }
  constexpr int kProcs = 4;
  std::vector<pid_t> kids;
  for (int k = 0; k < kProcs; ++k) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // Child: its own Ledger; pays a shared invoice once (only one process may win it), then random ones.
      FakeClock clock;
      auto l = Ledger::open(path, race_policy(cap), clock);
      if (!l.ok()) _exit(2);
      uint64_t paid = 0, shared_wins = 0, errors = 0;
      auto shared = (*l)->reserve(req(1'000, hash_of(424242, 'b')));
      if (shared.ok()) {
        if (!(*l)->mark_in_flight(shared->id).ok() || !(*l)->settle(shared->id, 0, std::string(64, 'a'), 1).ok())
          ++errors;
        paid += 1'000;
        ++shared_wins;
      } else if (shared.error().code != "ALREADY_PAID" && shared.error().code != "PAYMENT_IN_PROGRESS") {
        ++errors;
      }
      std::mt19937_64 rng(77 + static_cast<uint64_t>(k));
      for (int i = 0; i < 150; ++i) {
        auto r = (*l)->reserve(req(1 + rng() % 40'000, hash_of(static_cast<uint64_t>(k) * 100'000 + i)));
        if (!r.ok()) {
          if (r.error().code != "BUDGET_EXCEEDED") ++errors;
          continue;
        }
        if (!(*l)->mark_in_flight(r->id).ok()) ++errors;
        uint64_t fee = rng() % (r->max_fee_msat + 1);
        paid += r->amount_msat + fee;
        if (!(*l)->settle(r->id, fee, std::string(64, 'a'), 1).ok()) ++errors;
      }
      std::ofstream(dir.file("child" + std::to_string(k))) << paid << " " << shared_wins << " " << errors;
      l = make_error("X", "close");  // close the ledger before exiting
      _exit(0);
    }
    kids.push_back(pid);
  }
  // Bounded wait: kill stragglers after 120 s.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  for (pid_t pid : kids) {
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        FAIL("child process timed out");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  uint64_t paid = 0, wins = 0;
  for (int k = 0; k < kProcs; ++k) {
    std::ifstream in(dir.file("child" + std::to_string(k)));
    uint64_t p = 0, w = 0, e = 99;
    in >> p >> w >> e;
    CHECK(e == 0);
    paid += p;
    wins += w;
  }
  CHECK(wins == 1);  // the shared invoice was paid exactly once
  auto s = raw_sums(path);
  CHECK(s.aggregate_total == s.counted_total);
  CHECK(s.settled_total <= cap);
  CHECK(s.settled_total == paid);
  CHECK(cap - s.settled_total < 41'000);
}
