// Several Ledger objects on one ledger (instances of a fleet): leases, per-instance shutdown recovery, a shared
// cap under concurrent load; on PostgreSQL ([postgres]) also migrations by instances starting together, from an
// empty database and from the previous schema, SERIALIZABLE mode, the database going away and coming back, and
// the connection pool serving its waiters in arrival order.
#include <sys/stat.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdlib>
#include <random>
#include <thread>

#include "helpers.h"
#include "spend/pg.h"
#include "spend/schema.h"

using namespace sw::spend;
using namespace spend_test;

namespace {

std::unique_ptr<Ledger> open_as(const std::string& at, const std::string& instance, const Policy& p,
                                const sw::Clock& clock, LedgerOptions o = {}) {
  o.instance = instance;
  auto r = Ledger::open(at, p, clock, o);
  INFO((r.ok() ? std::string() : r.error().message));
  REQUIRE(r.ok());
  return std::move(*r);
}

Policy day_cap(uint64_t cap_msat) {
  Policy p = bare_policy();
  p.global.day_msat = cap_msat;
  return p;
}

std::string pg_script() { return std::string(SW_VECTORS_DIR) + "/../../scripts/pg-server.sh"; }

int sh(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// Three instances, each with its own threads, reserve and settle against one day cap: nothing over the cap, and
// what the "wallet" paid equals what the ledger holds, to the msat.
void race_fleet(const std::string& at, const LedgerOptions& o) {
  FakeClock clock;
  constexpr uint64_t kCap = 2'000'000;
  std::vector<std::unique_ptr<Ledger>> fleet;
  for (int i = 0; i < 3; ++i) fleet.push_back(open_as(at, "i" + std::to_string(i), day_cap(kCap), clock, o));
  std::atomic<uint64_t> paid{0}, refused{0}, errors{0};
  std::atomic<uint64_t> next{1};
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i)
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, i, t] {
        std::minstd_rand rng(static_cast<unsigned>(i * 16 + t));
        for (int k = 0; k < 40; ++k) {
          const uint64_t amount = 10'000 + rng() % 60'000;
          auto r = fleet[static_cast<size_t>(i)]->reserve(req(amount, hash_of(next++)));
          if (!r) {
            (r.error().code == "BUDGET_EXCEEDED" ? refused : errors)++;
            continue;
          }
          auto& l = *fleet[static_cast<size_t>((i + k) % 3)];  // another instance may finish it
          if (!l.mark_in_flight(r->id) || !l.settle(r->id, 0, std::string(64, 'a'), 1)) {
            errors++;
            continue;
          }
          paid += amount;
        }
      });
  for (auto& th : threads) th.join();
  CHECK(errors == 0);
  CHECK(refused > 0);  // the cap was reached
  CHECK(paid <= kCap);
  auto sums = raw_sums(at);
  CHECK(sums.settled_total == paid.load());
  CHECK(sums.counted_total == paid.load());
  CHECK(sums.aggregate_total == paid.load());
  for (auto& l : fleet) {
    auto st = l->status();
    REQUIRE(st);
    CHECK(st->global.windows.at(1).spent_msat == paid.load());
  }
}

}  // namespace

TEST_CASE("fleet: three instances on one ledger never overspend a shared day cap") {
  TempDir tmp;
  race_fleet(tmp.ledger_at("fleet"), {});
}

TEST_CASE("fleet: one lease holder at a time, a lease expires and is taken over, the holder renews it") {
  TempDir tmp;
  FakeClock clock;
  const std::string at = tmp.ledger_at("lease");
  auto a = open_as(at, "a", bare_policy(), clock);
  auto b = open_as(at, "b", bare_policy(), clock);
  CHECK(*a->try_lease("maintenance", 60));
  CHECK_FALSE(*b->try_lease("maintenance", 60));
  clock.advance(30);
  CHECK(*a->try_lease("maintenance", 60));  // renewed: now + 60
  clock.advance(59);
  CHECK_FALSE(*b->try_lease("maintenance", 60));
  clock.advance(1);  // expired (a died or stopped renewing)
  CHECK(*b->try_lease("maintenance", 60));
  CHECK_FALSE(*a->try_lease("maintenance", 60));
  CHECK(*a->try_lease("other", 60));  // leases are by name
}

TEST_CASE("fleet: a shutting-down instance records only its own running payments unknown") {
  TempDir tmp;
  FakeClock clock;
  const std::string at = tmp.ledger_at("shutdown");
  auto a = open_as(at, "a", bare_policy(), clock);
  auto b = open_as(at, "b", bare_policy(), clock);
  auto ra = a->reserve(req(1000, hash_of(1)));
  auto rb = b->reserve(req(1000, hash_of(2)));
  auto fa = a->reserve(req(1000, hash_of(3)));
  auto fb = b->reserve(req(1000, hash_of(4)));
  REQUIRE((ra && rb && fa && fb));
  REQUIRE(a->mark_in_flight(fa->id));
  REQUIRE(b->mark_in_flight(fb->id));
  CHECK(a->get_payment_by_id(ra->id)->state == State::reserved);
  auto rec = a->recover_after_crash(clock.now_unix(), 0, "SHUTDOWN", true);
  REQUIRE(rec);
  CHECK(rec->released == 1);
  CHECK(rec->marked_unknown == 1);
  CHECK(a->get_payment_by_id(ra->id)->state == State::released);
  CHECK(a->get_payment_by_id(fa->id)->state == State::unknown);
  CHECK(a->get_payment_by_id(rb->id)->state == State::reserved);   // b's: untouched
  CHECK(a->get_payment_by_id(fb->id)->state == State::in_flight);  // b's: untouched
  // A crash recovery (any instance's stale rows) does take b's once they are stale.
  clock.advance(100);
  rec = a->recover_after_crash(clock.now_unix(), 30);
  REQUIRE(rec);
  CHECK(rec->released == 1);
  CHECK(rec->marked_unknown == 1);
}

TEST_CASE("postgres: instances starting together migrate once, from an empty database and from schema v7",
          "[.][postgres]") {
  TempDir tmp;
  FakeClock clock;
  SECTION("empty database") {
    const std::string at = tmp.ledger_at("fresh");
    std::vector<std::thread> ts;
    std::atomic<int> ok{0};
    for (int i = 0; i < 4; ++i)
      ts.emplace_back([&, i] {
        auto r = Ledger::open(at, bare_policy(), clock, LedgerOptions{.instance = "s" + std::to_string(i)});
        if (r) ++ok;
      });
    for (auto& t : ts) t.join();
    CHECK(ok == 4);
    CHECK(raw_rows(at, "SELECT version FROM satwarden_schema")[0][0] == std::to_string(Ledger::kSchemaVersion));
  }
  SECTION("a v7 database with a payment in it") {
    const std::string at = tmp.ledger_at("v7");
    std::string ddl = "BEGIN;";
    for (size_t v = 0; v < 7; ++v) ddl += std::string(sw::spend::detail::pg_migrations()[v]);
    ddl +=
        "CREATE TABLE satwarden_schema (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);"
        "INSERT INTO satwarden_schema VALUES (1, 7);"
        "INSERT INTO payments(client, protocol, payment_hash, amount_msat, max_fee_msat, fee_msat, state, created_at,"
        " updated_at, counted, request_id) VALUES ('old', 'bolt11', '" +
        hash_of(7) + "', 5000, 100, 20, 'settled', 1699999000, 1699999000, 1, 'r-7');COMMIT;";
    pg_rows(at, ddl);
    std::vector<std::thread> ts;
    std::atomic<int> ok{0};
    for (int i = 0; i < 3; ++i)
      ts.emplace_back([&] {
        if (Ledger::open(at, day_cap(10'000), clock)) ++ok;
      });
    for (auto& t : ts) t.join();
    REQUIRE(ok == 3);
    CHECK(raw_rows(at, "SELECT version FROM satwarden_schema")[0][0] == std::to_string(Ledger::kSchemaVersion));
    auto l = open_as(at, "x", day_cap(10'000), clock);
    auto p = l->get_payment(hash_of(7));
    REQUIRE(p);
    CHECK(p->amount_msat == 5000);
    CHECK(p->request_id == "r-7");
    CHECK(raw_rows(at, "SELECT instance FROM payments")[0][0] == "");
    // The budget totals were rebuilt from the row: 5020 of 10000 spent today.
    auto r = l->reserve(req(5000, hash_of(8)));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "BUDGET_EXCEEDED");
    CHECK(l->reserve(req(4980, hash_of(8))));
    CHECK(l->reserve(req(1, hash_of(7))).error().code == "ALREADY_PAID");
  }
}

TEST_CASE("postgres: SERIALIZABLE mode holds the shared cap too (conflicts are retried)", "[.][postgres]") {
  TempDir tmp;
  LedgerOptions o;
  o.pg_serializable = true;
  race_fleet(tmp.ledger_at("serial"), o);
}

TEST_CASE("postgres: while the database is down paying calls get LEDGER_UNAVAILABLE, it recovers by itself",
          "[.][postgres]") {
  // A server of its own (the shared one serves the other tests meanwhile).
  TempDir tmp;
  const std::string dir = tmp.file("pg");
  ::chmod(tmp.path().c_str(), 0711);  // the server runs as `postgres` when the tests run as root
  REQUIRE(sh("SW_PG_FSYNC=off " + pg_script() + " start " + dir + " >/dev/null") == 0);
  struct Stop {
    std::string dir;
    ~Stop() { sh(pg_script() + " stop " + dir + " >/dev/null 2>&1"); }
  } stop{dir};
  std::string url;
  {
    std::ifstream in(dir + "/url");
    std::getline(in, url);
  }
  const std::string port = url.substr(url.rfind(':') + 1, url.rfind('/') - url.rfind(':') - 1);
  FakeClock clock;
  LedgerOptions o;
  o.pg_acquire_timeout_ms = 2000;
  auto l = open_as(url, "a", day_cap(1'000'000), clock, o);
  auto before = l->reserve(req(1000, hash_of(1)));
  REQUIRE(before);

  REQUIRE(sh(pg_script() + " stop " + dir + " >/dev/null") == 0);
  auto r = l->reserve(req(1000, hash_of(2)));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "LEDGER_UNAVAILABLE");
  CHECK(r.error().message.find("pays nothing it has not recorded") != std::string::npos);
  auto m = l->mark_in_flight(before->id);  // must not be sent: it could not be recorded in flight
  REQUIRE_FALSE(m);
  CHECK(m.error().code == "LEDGER_UNAVAILABLE");
  CHECK_FALSE(l->ping());

  REQUIRE(sh(pg_script() + " start " + dir + " " + port + " >/dev/null") == 0);
  CHECK(l->ping());
  auto after = l->reserve(req(1000, hash_of(2)));
  REQUIRE(after);
  CHECK(l->get_payment_by_id(before->id)->state == State::reserved);  // never marked in flight
  CHECK(raw_sums(url).rows == 2);
}

TEST_CASE("postgres: the connection pool serves waiters first come, first served, and a timed-out one leaves the queue",
          "[.][postgres]") {
  TempDir tmp;
  using sw::spend::detail::PgPool;
  using namespace std::chrono_literals;
  const std::string url = tmp.ledger_at("pool");
  auto wait_queued = [](PgPool& pool, size_t n) {
    for (int i = 0; i < 500 && pool.waiting() < n; ++i) std::this_thread::sleep_for(10ms);
    REQUIRE(pool.waiting() == n);
  };
  SECTION("a caller arriving when a connection comes back queues behind those already waiting") {
    PgPool pool(url, 1, 10s);
    auto held = pool.acquire();
    REQUIRE(held);
    std::mutex mu;
    std::vector<std::string> order;
    auto take = [&](const std::string& who) {  // no Catch2 assertion here: it runs on other threads too
      auto c = pool.acquire();
      {
        std::lock_guard lk(mu);
        order.push_back(c ? who : who + " failed: " + c.error().code);
      }
      if (!c) return;
      std::this_thread::sleep_for(50ms);
      pool.release(std::move(*c));
    };
    std::thread b(take, "b");
    wait_queued(pool, 1);
    std::thread c(take, "c");
    wait_queued(pool, 2);
    // Released and asked for again at once: the old wait let this caller take it back before b or c woke.
    pool.release(std::move(*held));
    take("again");
    b.join();
    c.join();
    CHECK(order == std::vector<std::string>{"b", "c", "again"});
    CHECK(pool.waiting() == 0);
  }
  SECTION("a waiter that times out gets LEDGER_BUSY and does not hold up the one behind it") {
    PgPool pool(url, 1, 300ms);
    auto held = pool.acquire();
    REQUIRE(held);
    auto first = pool.acquire();  // waits its 300 ms alone
    REQUIRE_FALSE(first);
    CHECK(first.error().code == "LEDGER_BUSY");
    CHECK(pool.waiting() == 0);
    std::atomic<bool> got{false};
    std::thread late([&] {
      auto c = pool.acquire();
      got = static_cast<bool>(c);
      if (c) pool.release(std::move(*c));
    });
    wait_queued(pool, 1);
    pool.release(std::move(*held));
    late.join();
    CHECK(got);
  }
}
