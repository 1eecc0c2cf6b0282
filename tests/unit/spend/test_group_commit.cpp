// Group commit and checkpointing: calls that share one transaction succeed or fail on their own, refused calls
// write nothing, WAL checkpoints run on the background thread when the WAL gets a quiet moment, and the WAL
// stays bounded under a sustained concurrent load — with every committed payment still there after a reopen.
#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>

#include "helpers.h"

using namespace sw;
using namespace sw::spend;
using namespace spend_test;

namespace {

constexpr uint64_t kFrameBytes = 24 + 4096;  // WAL frame header + default page size
constexpr uint64_t kWalHeader = 32;

std::unique_ptr<Ledger> open_with(const std::string& path, const Policy& p, const Clock& c, LedgerOptions o) {
  auto r = Ledger::open(path, p, c, o);
  if (!r.ok()) FAIL("open failed: " << r.error().code << " " << r.error().message);
  return std::move(r).value();
}

uint64_t wal_bytes(const std::string& path) {
  std::error_code ec;
  auto n = std::filesystem::file_size(path + "-wal", ec);
  return ec ? 0 : static_cast<uint64_t>(n);
}

// Independent of the Ledger: raw SQL over the file.

// Releases every waiting thread at once so their calls pile up in the group-commit queue.
class Gate {
 public:
  explicit Gate(int n) : n_(n) {}
  void arrive_and_wait() {
    std::unique_lock lk(mu_);
    if (--n_ == 0) cv_.notify_all();
    cv_.wait(lk, [&] { return n_ <= 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_;
};

}  // namespace

TEST_CASE("a refused reservation and a read commit nothing, a payment commits once per call", "[sqlite]") {
  TempDir dir;
  FakeClock clock;
  Policy p = bare_policy();
  p.global.day_msat = 5'000;
  auto l = open_with(dir.ledger_at("l.db"), p, clock, {});
  const uint64_t base = l->stats().commits, jobs_base = l->stats().jobs;
  auto r = l->reserve(req(4'000, hash_of(1)));
  REQUIRE(r.ok());
  REQUIRE(l->mark_in_flight(r->id).ok());
  REQUIRE(l->settle(r->id, 0, std::string(64, 'a'), 5).ok());
  CHECK(l->stats().commits == base + 3);
  CHECK(l->stats().jobs == jobs_base + 3);

  auto refused = l->reserve(req(2'000, hash_of(2)));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == "BUDGET_EXCEEDED");
  auto dup = l->reserve(req(10, hash_of(1)));
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.error().code == "ALREADY_PAID");
  auto again = l->mark_in_flight(r->id);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == "ILLEGAL_TRANSITION");
  REQUIRE(l->status().ok());
  REQUIRE(l->get_payment(hash_of(1)).ok());
  CHECK(l->stats().commits == base + 3);  // none of these wrote anything
  auto rows = raw_sums(dir.ledger_at("l.db"));
  CHECK(rows.rows == 1);
  CHECK(rows.counted_total == 4'000);
  CHECK(rows.aggregate_total == 4'000);
}

TEST_CASE("calls sharing one group commit succeed or fail on their own", "[sqlite]") {
  TempDir dir;
  FakeClock clock;
  auto path = dir.ledger_at("l.db");
  auto l = open_with(path, bare_policy(), clock, {});
  constexpr int kThreads = 24;  // even: half race for one shared invoice, half pay their own
  uint64_t expected_rows = 0;
  // Repeat (bounded) until at least one commit carried several calls; with 24 released at once that is the
  // first round in practice.
  for (int round = 0; round < 10 && (round == 0 || l->stats().max_batch < 2); ++round) {
    Gate gate(kThreads);
    std::atomic<int> shared_ok{0}, shared_busy{0}, own_ok{0}, other{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; ++t)
      ts.emplace_back([&, t] {
        const bool shared = t % 2 == 0;
        auto rq = req(100 + static_cast<uint64_t>(t),
                      shared ? hash_of(1'000 + static_cast<uint64_t>(round), 'c')
                             : hash_of(static_cast<uint64_t>(round) * 100 + static_cast<uint64_t>(t), 'd'));
        gate.arrive_and_wait();
        auto r = l->reserve(rq);
        if (r.ok())
          ++(shared ? shared_ok : own_ok);
        else if (shared && r.error().code == "PAYMENT_IN_PROGRESS")
          ++shared_busy;
        else
          ++other;
      });
    for (auto& t : ts) t.join();
    CHECK(shared_ok == 1);
    CHECK(shared_busy == kThreads / 2 - 1);
    CHECK(own_ok == kThreads / 2);
    CHECK(other == 0);
    expected_rows += kThreads / 2 + 1;
  }
  CHECK(l->stats().max_batch >= 2);
  auto rows = raw_sums(path);
  CHECK(rows.rows == expected_rows);
  CHECK(rows.aggregate_total == rows.counted_total);
  auto st = l->status();
  REQUIRE(st.ok());
  CHECK(st->pending_count == expected_rows);
}

TEST_CASE("WAL checkpoints run in the background when the WAL gets a quiet moment, the WAL restarts", "[sqlite]") {
  TempDir dir;
  FakeClock clock;
  auto path = dir.ledger_at("l.db");
  LedgerOptions o;
  o.checkpoint_frames = 40;
  o.wal_max_frames = 100'000;  // the bound never triggers here: only the background thread checkpoints
  auto l = open_with(path, bare_policy(), clock, o);
  uint64_t max_wal = 0;
  for (int i = 0; i < 150; ++i) {
    auto r = l->reserve(req(1'000, hash_of(static_cast<uint64_t>(i))));
    REQUIRE(r.ok());
    REQUIRE(l->mark_in_flight(r->id).ok());
    REQUIRE(l->settle(r->id, 0, std::string(64, 'a'), 1).ok());
    max_wal = std::max(max_wal, wal_bytes(path));
    // A quiet moment: no call until the due checkpoint (if any) is done, retries included (bounded wait).
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (l->stats().checkpoint_pending && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    REQUIRE_FALSE(l->stats().checkpoint_pending);
  }
  auto s = l->stats();
  CHECK(s.background_checkpoints >= 3);
  CHECK(s.inline_checkpoints == 0);
  // 450 commits of several pages each would make a WAL of thousands of frames without restarts; restarted
  // after each checkpoint it never holds much more than checkpoint_frames plus one commit.
  CHECK(max_wal <= kWalHeader + (static_cast<uint64_t>(o.checkpoint_frames) + 40) * kFrameBytes);
  l.reset();
  auto again = open_with(path, bare_policy(), clock, o);
  auto rows = raw_sums(path);
  CHECK(rows.settled == 150);
  CHECK(rows.counted_total == 150'000);
  CHECK(rows.aggregate_total == rows.counted_total);
}

TEST_CASE("under a sustained concurrent load the WAL stays bounded and nothing committed is lost", "[sqlite]") {
  TempDir dir;
  FakeClock clock;
  auto path = dir.ledger_at("l.db");
  LedgerOptions o;
  o.checkpoint_frames = 50;
  o.wal_max_frames = 200;
  Policy p = bare_policy();
  p.fee = {1'000, 0};
  auto l = open_with(path, p, clock, o);
  constexpr int kThreads = 8, kPayments = 60;
  std::atomic<uint64_t> settled{0}, failed{0}, errors{0};
  std::atomic<bool> done{false};
  std::atomic<uint64_t> max_wal{0};
  std::thread watcher([&] {  // samples the WAL size while the payers run (bounded by their end)
    while (!done.load()) {
      uint64_t w = wal_bytes(path), m = max_wal.load();
      if (w > m) max_wal.store(w);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<uint64_t>(t) + 5);
      for (int i = 0; i < kPayments; ++i) {
        auto r = l->reserve(req(1 + rng() % 5'000, hash_of(static_cast<uint64_t>(t) * 10'000 + i, 'e')));
        if (!r.ok() || !l->mark_in_flight(r->id).ok()) {
          ++errors;
          continue;
        }
        if (rng() % 4 == 0) {
          if (l->fail(r->id, "NO_ROUTE").ok()) ++failed; else ++errors;
        } else {
          if (l->settle(r->id, rng() % 1'000, std::string(64, 'a'), 1).ok()) ++settled; else ++errors;
        }
      }
    });
  for (auto& t : ts) t.join();
  done = true;
  watcher.join();
  CHECK(errors == 0);
  auto s = l->stats();
  CHECK(s.background_checkpoints + s.inline_checkpoints >= 1);
  CHECK(s.jobs == static_cast<uint64_t>(kThreads) * kPayments * 3);
  INFO("max WAL " << max_wal.load() << " bytes, " << s.commits << " commits, " << s.background_checkpoints
                  << " background / " << s.inline_checkpoints << " inline checkpoints");
  // Bounded: wal_max_frames, plus what commits add before a leader's checkpoint lets the WAL restart (a
  // background checkpoint that holds the checkpoint lock can make one leader's attempt wait for the next).
  CHECK(max_wal <= kWalHeader + (static_cast<uint64_t>(o.wal_max_frames) + 200) * kFrameBytes);
  const uint64_t before = raw_sums(path).counted_total;
  l.reset();
  auto again = open_with(path, p, clock, o);
  auto rows = raw_sums(path);
  CHECK(rows.rows == static_cast<uint64_t>(kThreads) * kPayments);
  CHECK(rows.settled == settled.load());
  CHECK(rows.counted_total == before);
  CHECK(rows.aggregate_total == rows.counted_total);
  auto st = again->status();
  REQUIRE(st.ok());
  CHECK(st->global.windows[1].spent_msat == rows.counted_total);
}
