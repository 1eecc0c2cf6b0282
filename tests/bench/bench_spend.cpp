// bench_spend: what the spend ledger costs a payer, under concurrency, with synchronous=FULL (the product setting:
// every ledger call returns only after its commit is fsync'ed; concurrent calls share one commit).
//
// Modes (all run by default; --mode payers|saturation|race runs one):
//  1. payers — the issue target "a reservation + settle costs ≤ 0.5 ms at p99 with 32 concurrent payers".
//     --payers threads (32), each doing --payments payments (100): reserve → mark_in_flight → a simulated wallet
//     round trip (sleep --wallet-ms, default 17 ms = the measured NWC pay round trip over a local relay, spread
//     uniformly by ±--jitter, default 25 %, with random start offsets) → settle. Reports p50/p99/p99.9/max of
//     each ledger call as the payer sees it (waiting for the group commit + its fsync included) and of
//     "reserve+settle" = the sum of those two calls' own latencies (the wallet wait is not ledger time) and of
//     "reserve+in_flight+settle". This is the ledger cost per payment at a realistic load.
//  2. saturation — the same three calls back to back with zero think time (closed loop), 1 and --sat-threads (32)
//     threads, FULL and NORMAL (NORMAL for comparison only). With 32 threads this measures capacity
//     (payments/s); the latency it shows is queueing (≈ threads / throughput, Little's law), not the cost of
//     one call. With 1 thread it is the cost of one uncontended call.
//  3. race — --race-attempts (10,000) concurrent attempts from 32 threads against a 50,000-sat day cap, paying
//     through a fake wallet: prints how much was paid over the cap (must be 0 msat) and checks that the
//     ledger's count equals what the wallet paid, to the msat.
//  4. fleet — reservations per second and reserve+in_flight+settle latency with 1 and 3 instances (Ledger
//     objects, each with its own SQLite connection or PostgreSQL pool) on one SQLite file, and on one PostgreSQL
//     (its own, started with scripts/pg-server.sh in --dir with fsync on, unless --pg-url) in lock mode and in
//     serializable mode: --fleet-threads (12) closed-loop threads in all, --fleet-payments (150) each.
// Every run also prints the disk's fdatasync latency (4 KiB overwrite in a preallocated file, like a reused WAL)
// before and after, since each durable commit costs at least one of them, and the Ledger's own counters
// (commits, calls per commit, checkpoints off/on the payers' path).
// Standalone (no Catch). Every loop is bounded by the counts above.
// Usage: bench_spend [--dir D] [--mode M] [--payers N] [--payments N] [--wallet-ms MS] [--jitter F]
//                    [--sat-threads N] [--sat-payments N] [--race-attempts N]
//                    [--fleet-threads N] [--fleet-payments N] [--pg-url URL]
// (default dir: a fresh directory under /tmp, removed afterwards)
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "spend/spend.h"

using namespace sw;
using namespace sw::spend;
using Clk = std::chrono::steady_clock;

namespace {

struct Options {
  std::string dir, mode = "all";
  int payers = 32, payments = 100;
  double wallet_ms = 17.0, jitter = 0.25;
  int sat_threads = 32, sat_payments = 150, sat_single = 600;
  int race_attempts = 10'000;
  // fleet: every backend with 1 and 3 instances, this many threads in all, each for this many payments.
  int fleet_threads = 12, fleet_payments = 150;
  std::string pg_url;  // "" = start a PostgreSQL of its own (scripts/pg-server.sh, fsync on) in --dir
};

std::string hash_of(uint64_t n) {
  char buf[65];
  std::snprintf(buf, sizeof buf, "b%063llu", static_cast<unsigned long long>(n));
  return buf;
}

ReserveRequest req(uint64_t amount, uint64_t n) {
  ReserveRequest r;
  r.client = "bench";
  r.tool = "pay_invoice";
  r.protocol = "bolt11";
  r.invoice = "lnbc1bench";
  r.payment_hash = hash_of(n);
  r.amount_msat = amount;
  return r;
}

double us_since(Clk::time_point a, Clk::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

// Nearest-rank percentile of a sorted sample.
double pct(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size()) + 0.999999);
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

struct Dist {
  std::vector<double> v;
  void add(double x) { v.push_back(x); }
  void merge(const Dist& o) { v.insert(v.end(), o.v.begin(), o.v.end()); }
  std::string line() {
    std::sort(v.begin(), v.end());
    char buf[160];
    std::snprintf(buf, sizeof buf, "p50 %7.3f  p99 %7.3f  p99.9 %7.3f  max %7.3f ms  (n=%zu)", pct(v, 50) / 1000,
                  pct(v, 99) / 1000, pct(v, 99.9) / 1000, v.empty() ? 0.0 : v.back() / 1000, v.size());
    return buf;
  }
};

// fdatasync after overwriting one 4 KiB page of a preallocated 4 MiB file (what a commit to a reused WAL does).
std::string fsync_probe(const std::string& dir) {
  std::string f = dir + "/fsync_probe";
  int fd = ::open(f.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0600);
  if (fd < 0) return "fsync probe failed";
  std::vector<char> page(4096, 'x');
  for (int i = 0; i < 1024; ++i)
    if (::pwrite(fd, page.data(), page.size(), static_cast<off_t>(i) * 4096) != 4096) break;
  ::fsync(fd);
  Dist d;
  for (int i = 0; i < 300; ++i) {
    page[0] = static_cast<char>(i);
    if (::pwrite(fd, page.data(), page.size(), static_cast<off_t>(i % 1024) * 4096) != 4096) break;
    auto a = Clk::now();
    ::fdatasync(fd);
    d.add(us_since(a, Clk::now()));
  }
  ::close(fd);
  ::unlink(f.c_str());
  return "fdatasync " + d.line();
}

std::unique_ptr<Ledger> open_ledger(const std::string& path, const Policy& p, bool full) {
  LedgerOptions o;
  o.synchronous_full = full;
  auto l = Ledger::open(path, p, Clock::system(), o);
  if (!l.ok()) {
    std::fprintf(stderr, "open failed: %s\n", l.error().message.c_str());
    std::exit(1);
  }
  return std::move(*l);
}

Policy bench_policy() {
  Policy p;
  p.global.per_call_msat.reset();
  p.global.day_msat = kMaxMsat;  // a window cap is checked on every reservation
  return p;
}

void print_stats(const Ledger& l) {
  LedgerStats s = l.stats();
  std::printf("  ledger: %llu commits, %.2f calls/commit (max %llu), checkpoints: %llu background, %llu on a "
              "payer's path; WAL %lld frames at the end\n",
              static_cast<unsigned long long>(s.commits), s.commits ? double(s.jobs) / double(s.commits) : 0.0,
              static_cast<unsigned long long>(s.max_batch), static_cast<unsigned long long>(s.background_checkpoints),
              static_cast<unsigned long long>(s.inline_checkpoints), static_cast<long long>(s.wal_frames));
}

// ---- 1. concurrent payers with a wallet round trip between in_flight and settle
bool payers(const Options& o) {
  auto l = open_ledger(o.dir + "/payers.db", bench_policy(), true);
  Ledger& led = *l;
  struct PerThread {
    Dist reserve, in_flight, settle, reserve_settle, all3;
    size_t errors = 0;
  };
  std::vector<PerThread> per(static_cast<size_t>(o.payers));
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> ts;
  for (int t = 0; t < o.payers; ++t)
    ts.emplace_back([&, t] {
      PerThread& me = per[static_cast<size_t>(t)];
      std::mt19937_64 rng(1000 + static_cast<uint64_t>(t));
      std::uniform_real_distribution<double> wallet(o.wallet_ms * (1 - o.jitter), o.wallet_ms * (1 + o.jitter));
      std::uniform_real_distribution<double> offset(0, o.wallet_ms);
      ++ready;
      while (!go.load()) std::this_thread::yield();
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(offset(rng)));
      for (int i = 0; i < o.payments; ++i) {
        auto a = Clk::now();
        auto r = led.reserve(req(1000 + static_cast<uint64_t>(i), static_cast<uint64_t>(t) * 1'000'000 + i));
        auto b = Clk::now();
        if (!r.ok() || !led.mark_in_flight(r->id).ok()) {
          ++me.errors;
          continue;
        }
        auto c = Clk::now();
        std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(wallet(rng)));
        auto d = Clk::now();
        if (!led.settle(r->id, 0, std::string(64, 'a'), 17).ok()) {
          ++me.errors;
          continue;
        }
        auto e = Clk::now();
        me.reserve.add(us_since(a, b));
        me.in_flight.add(us_since(b, c));
        me.settle.add(us_since(d, e));
        me.reserve_settle.add(us_since(a, b) + us_since(d, e));
        me.all3.add(us_since(a, c) + us_since(d, e));
      }
    });
  while (ready.load() < o.payers) std::this_thread::yield();
  auto t0 = Clk::now();
  go = true;
  for (auto& t : ts) t.join();
  const double secs = std::chrono::duration<double>(Clk::now() - t0).count();
  PerThread all;
  for (auto& p : per) {
    all.reserve.merge(p.reserve);
    all.in_flight.merge(p.in_flight);
    all.settle.merge(p.settle);
    all.reserve_settle.merge(p.reserve_settle);
    all.all3.merge(p.all3);
    all.errors += p.errors;
  }
  std::printf("[payers] %d concurrent payers x %d payments, wallet round trip %.1f ms +-%.0f %%, synchronous=FULL: "
              "%.0f payments/s over %.1f s, %zu errors\n",
              o.payers, o.payments, o.wallet_ms, o.jitter * 100, double(all.all3.v.size()) / secs, secs, all.errors);
  std::printf("  reserve                  %s\n", all.reserve.line().c_str());
  std::printf("  mark_in_flight           %s\n", all.in_flight.line().c_str());
  std::printf("  settle                   %s\n", all.settle.line().c_str());
  std::printf("  reserve+settle           %s   (target p99 <= 0.5 ms)\n", all.reserve_settle.line().c_str());
  std::printf("  reserve+in_flight+settle %s\n", all.all3.line().c_str());
  print_stats(led);
  return all.errors == 0;
}

// ---- 2. saturation: zero think time
bool saturation(const Options& o) {
  bool ok = true;
  for (int nthreads : {1, o.sat_threads}) {
    for (bool full : {true, false}) {
      const int n = nthreads == 1 ? o.sat_single : o.sat_payments;
      auto l = open_ledger(o.dir + "/sat_" + std::to_string(nthreads) + (full ? "_full.db" : "_normal.db"),
                           bench_policy(), full);
      Ledger& led = *l;
      std::vector<Dist> cyc(static_cast<size_t>(nthreads)), res(static_cast<size_t>(nthreads));
      std::atomic<size_t> errors{0};
      std::atomic<int> ready{0};
      std::atomic<bool> go{false};
      std::vector<std::thread> ts;
      for (int t = 0; t < nthreads; ++t)
        ts.emplace_back([&, t] {
          ++ready;
          while (!go.load()) std::this_thread::yield();
          for (int i = 0; i < n; ++i) {
            auto a = Clk::now();
            auto r = led.reserve(req(1000 + static_cast<uint64_t>(i), static_cast<uint64_t>(t) * 1'000'000 + i));
            auto b = Clk::now();
            if (!r.ok() || !led.mark_in_flight(r->id).ok() || !led.settle(r->id, 0, std::string(64, 'a'), 1).ok()) {
              ++errors;
              continue;
            }
            auto c = Clk::now();
            res[static_cast<size_t>(t)].add(us_since(a, b));
            cyc[static_cast<size_t>(t)].add(us_since(a, c));
          }
        });
      while (ready.load() < nthreads) std::this_thread::yield();
      auto t0 = Clk::now();
      go = true;
      for (auto& t : ts) t.join();
      const double secs = std::chrono::duration<double>(Clk::now() - t0).count();
      Dist all_c, all_r;
      for (auto& v : cyc) all_c.merge(v);
      for (auto& v : res) all_r.merge(v);
      const double rate = double(all_c.v.size()) / secs;
      std::printf("[saturation] synchronous=%-6s %2d thread(s) x %d, zero think time: %.0f payments/s, %zu errors",
                  full ? "FULL" : "NORMAL", nthreads, n, rate, errors.load());
      if (nthreads > 1) std::printf(" (Little's law: %d / %.0f per s = %.2f ms in the system)", nthreads, rate,
                                    1000.0 * nthreads / rate);
      std::printf("\n  reserve+in_flight+settle %s\n  reserve alone            %s\n", all_c.line().c_str(),
                  all_r.line().c_str());
      print_stats(led);
      ok = ok && errors.load() == 0;
    }
  }
  return ok;
}

// ---- 3. 10,000 concurrent attempts against one budget
bool budget_race(const Options& o) {
  const int threads = 32, attempts = o.race_attempts;
  const uint64_t cap = 50'000'000;  // 50k sats vs ~10,000 × 25 sats asked
  Policy p;
  p.global.per_call_msat.reset();
  p.global.day_msat = cap;
  p.fee = {1'000, 5'000};
  auto l = open_ledger(o.dir + "/race.db", p, true);
  Ledger& led = *l;
  std::atomic<int> next{0};
  std::atomic<uint64_t> wallet_paid{0}, settled{0}, refused{0}, failed{0}, errors{0};
  auto t0 = Clk::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<uint64_t>(t) + 7);
      for (int i; (i = next.fetch_add(1)) < attempts;) {
        auto r = led.reserve(req(1 + rng() % 50'000, 50'000'000 + static_cast<uint64_t>(i)));
        if (!r.ok()) {
          if (r.error().code == "BUDGET_EXCEEDED") ++refused; else ++errors;
          continue;
        }
        if (!led.mark_in_flight(r->id).ok()) ++errors;
        if (rng() % 5 == 0) {
          if (led.fail(r->id, "NO_ROUTE").ok()) ++failed; else ++errors;
          continue;
        }
        uint64_t fee = rng() % (r->max_fee_msat + 1);
        wallet_paid += r->amount_msat + fee;
        if (led.settle(r->id, fee, std::string(64, 'a'), 1).ok()) ++settled; else ++errors;
      }
    });
  for (auto& t : ts) t.join();
  double secs = std::chrono::duration<double>(Clk::now() - t0).count();
  auto st = led.status();
  uint64_t spent = st.ok() ? st->global.windows[1].spent_msat : 0;
  uint64_t paid = wallet_paid.load();
  std::printf("[race] %d concurrent attempts, %d threads, day cap %llu msat, synchronous=FULL, %.2f s\n", attempts,
              threads, static_cast<unsigned long long>(cap), secs);
  std::printf("  settled %llu, failed %llu, refused %llu, errors %llu\n",
              static_cast<unsigned long long>(settled.load()), static_cast<unsigned long long>(failed.load()),
              static_cast<unsigned long long>(refused.load()), static_cast<unsigned long long>(errors.load()));
  std::printf("  wallet paid %llu msat, ledger counted %llu msat, left %llu msat, OVER BY %llu msat\n",
              static_cast<unsigned long long>(paid), static_cast<unsigned long long>(spent),
              static_cast<unsigned long long>(cap > paid ? cap - paid : 0),
              static_cast<unsigned long long>(paid > cap ? paid - cap : 0));
  print_stats(led);
  if (paid > cap || paid != spent || errors.load() != 0 || !st.ok()) {
    std::printf("  FAIL\n");
    return false;
  }
  return true;
}

// ---- 4. a fleet: reservations per second and reserve+settle latency, 1 and 3 instances (Ledger objects, each
// with its own connection or pool — on one SQLite file, or on one PostgreSQL in lock and serializable mode).
bool fleet(const Options& o) {
  std::string pg_url = o.pg_url, pg_dir;
  if (pg_url.empty()) {
    pg_dir = o.dir + "/pg";
    std::filesystem::permissions(o.dir, std::filesystem::perms::owner_all | std::filesystem::perms::group_exec |
                                            std::filesystem::perms::others_exec);
    const std::string cmd = std::string(SW_VECTORS_DIR) + "/../../scripts/pg-server.sh start " + pg_dir;
    FILE* f = ::popen(cmd.c_str(), "r");
    char line[512] = {0};
    if (!f || !std::fgets(line, sizeof line, f)) {
      std::fprintf(stderr, "fleet: could not start PostgreSQL\n");
      if (f) ::pclose(f);
      return false;
    }
    ::pclose(f);
    pg_url = line;
    while (!pg_url.empty() && (pg_url.back() == '\n' || pg_url.back() == ' ')) pg_url.pop_back();
  }
  struct Backend {
    const char* name;
    bool pg, serializable;
  };
  bool ok = true;
  int run = 0;
  for (Backend be : {Backend{"sqlite", false, false}, Backend{"postgres lock", true, false},
                     Backend{"postgres serializable", true, true}}) {
    for (int instances : {1, 3}) {
      std::string at;
      if (be.pg) {
        const std::string schema = "bench_" + std::to_string(++run);
        if (std::system(("psql -q '" + pg_url + "' -c 'CREATE SCHEMA " + schema + "' >/dev/null").c_str()) != 0)
          return false;
        at = pg_url + "?options=-csearch_path%3D" + schema;
      } else {
        at = o.dir + "/fleet_" + std::to_string(++run) + ".db";
      }
      std::vector<std::unique_ptr<Ledger>> fleet;
      for (int i = 0; i < instances; ++i) {
        LedgerOptions lo;
        lo.pg_serializable = be.serializable;
        lo.pg_max_connections = static_cast<size_t>((o.fleet_threads + instances - 1) / instances);
        lo.instance = "bench" + std::to_string(i);
        auto l = Ledger::open(at, bench_policy(), Clock::system(), lo);
        if (!l) {
          std::fprintf(stderr, "open failed: %s\n", l.error().message.c_str());
          return false;
        }
        fleet.push_back(std::move(*l));
      }
      const int nthreads = o.fleet_threads, n = o.fleet_payments;
      std::vector<Dist> cyc(static_cast<size_t>(nthreads));
      std::atomic<size_t> errors{0};
      std::atomic<int> ready{0};
      std::atomic<bool> go{false};
      std::vector<std::thread> ts;
      for (int t = 0; t < nthreads; ++t)
        ts.emplace_back([&, t] {
          Ledger& led = *fleet[static_cast<size_t>(t % instances)];
          ++ready;
          while (!go.load()) std::this_thread::yield();
          for (int i = 0; i < n; ++i) {
            auto a = Clk::now();
            auto r = led.reserve(req(1000 + static_cast<uint64_t>(i), static_cast<uint64_t>(t) * 1'000'000 + i));
            if (!r.ok() || !led.mark_in_flight(r->id).ok() || !led.settle(r->id, 0, std::string(64, 'a'), 1).ok()) {
              ++errors;
              continue;
            }
            cyc[static_cast<size_t>(t)].add(us_since(a, Clk::now()));
          }
        });
      while (ready.load() < nthreads) std::this_thread::yield();
      auto t0 = Clk::now();
      go = true;
      for (auto& t : ts) t.join();
      const double secs = std::chrono::duration<double>(Clk::now() - t0).count();
      Dist all;
      for (auto& v : cyc) all.merge(v);
      std::printf("[fleet] %-22s %d instance(s), %d threads x %d: %6.0f reservations/s, %zu errors\n"
                  "  reserve+in_flight+settle %s\n",
                  be.name, instances, nthreads, n, double(all.v.size()) / secs, errors.load(), all.line().c_str());
      ok = ok && errors.load() == 0;
    }
  }
  if (!pg_dir.empty())
    (void)std::system((std::string(SW_VECTORS_DIR) + "/../../scripts/pg-server.sh stop " + pg_dir).c_str());
  return ok;
}

bool parse_args(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return false;
    const char* v = argv[++i];
    char* end = nullptr;
    auto num = [&](auto& out) {
      double x = std::strtod(v, &end);
      if (!end || *end || x < 0) return false;
      out = static_cast<std::remove_reference_t<decltype(out)>>(x);
      return true;
    };
    bool ok = true;
    if (a == "--dir") o.dir = v;
    else if (a == "--mode") o.mode = v;
    else if (a == "--payers") ok = num(o.payers) && o.payers > 0;
    else if (a == "--payments") ok = num(o.payments) && o.payments > 0;
    else if (a == "--wallet-ms") ok = num(o.wallet_ms);
    else if (a == "--jitter") ok = num(o.jitter) && o.jitter <= 1;
    else if (a == "--sat-threads") ok = num(o.sat_threads) && o.sat_threads > 0;
    else if (a == "--sat-payments") ok = num(o.sat_payments) && o.sat_payments > 0;
    else if (a == "--race-attempts") ok = num(o.race_attempts) && o.race_attempts > 0;
    else if (a == "--fleet-threads") ok = num(o.fleet_threads) && o.fleet_threads > 0;
    else if (a == "--fleet-payments") ok = num(o.fleet_payments) && o.fleet_payments > 0;
    else if (a == "--pg-url") o.pg_url = v;
    else ok = false;
    if (!ok) return false;
  }
  return o.mode == "all" || o.mode == "payers" || o.mode == "saturation" || o.mode == "race" || o.mode == "fleet";
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse_args(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: bench_spend [--dir D] [--mode all|payers|saturation|race|fleet] [--payers N] [--payments N]\n"
                 "                   [--wallet-ms MS] [--jitter F] [--sat-threads N] [--sat-payments N]"
                 " [--race-attempts N]\n"
                 "                   [--fleet-threads N] [--fleet-payments N] [--pg-url postgres://…]\n");
    return 2;
  }
  bool own = false;
  if (o.dir.empty()) {
    std::string tmpl = "/tmp/bench_spend_XXXXXX";
    if (!mkdtemp(tmpl.data())) return 1;
    o.dir = tmpl;
    own = true;
  }
  set_log_level(LogLevel::error);
  std::printf("bench_spend: %u hardware threads, dir %s\n  disk before: %s\n", std::thread::hardware_concurrency(),
              o.dir.c_str(), fsync_probe(o.dir).c_str());
  bool ok = true;
  if (o.mode == "all" || o.mode == "payers") ok = payers(o) && ok;
  if (o.mode == "all" || o.mode == "saturation") ok = saturation(o) && ok;
  if (o.mode == "all" || o.mode == "race") ok = budget_race(o) && ok;
  if (o.mode == "all" || o.mode == "fleet") ok = fleet(o) && ok;
  std::printf("  disk after:  %s\n", fsync_probe(o.dir).c_str());
  if (own) {
    std::error_code ec;
    std::filesystem::remove_all(o.dir, ec);
  }
  return ok ? 0 : 1;
}
