// bench_spend: the spend ledger under concurrency.
//  1. latency of one payment's ledger work (reserve → mark_in_flight → settle, three durable commits) alone and
//     with 32 concurrent threads, p50/p99, for synchronous=FULL (the product setting) and NORMAL (comparison only).
//     With 32 callers the latency is mostly queueing: p50 ≈ 32 / throughput (Little's law);
//  2. 10,000 concurrent attempts (32 threads) against a small day budget: prints how much was over (must be 0).
// Standalone (no Catch). Usage: bench_spend [dir]   (default: a fresh directory under /tmp, removed afterwards)
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "spend/spend.h"

using namespace sw;
using namespace sw::spend;
using Clk = std::chrono::steady_clock;

namespace {

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

double pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

double fsync_us(const std::string& dir) {
  std::string f = dir + "/fsync_probe";
  int fd = ::open(f.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
  if (fd < 0) return -1;
  std::vector<double> t;
  for (int i = 0; i < 200; ++i) {
    if (::write(fd, "0123456789abcdef", 16) != 16) break;
    auto a = Clk::now();
    ::fsync(fd);
    t.push_back(std::chrono::duration<double, std::micro>(Clk::now() - a).count());
  }
  ::close(fd);
  ::unlink(f.c_str());
  return pct(t, 50);
}

struct LatencyResult {
  double cycle_p50, cycle_p99, reserve_p50, reserve_p99, ops_per_s;
  size_t cycles, errors;
};

LatencyResult latency(const std::string& path, bool full, int threads, int per_thread) {
  Policy p;
  p.global.per_call_msat.reset();
  p.global.day_msat = kMaxMsat;  // a window cap is checked on every reservation
  LedgerOptions o;
  o.synchronous_full = full;
  auto l = Ledger::open(path, p, Clock::system(), o);
  if (!l.ok()) {
    std::fprintf(stderr, "open failed: %s\n", l.error().message.c_str());
    std::exit(1);
  }
  Ledger& led = **l;
  std::vector<std::vector<double>> cyc(static_cast<size_t>(threads)), res(static_cast<size_t>(threads));
  std::atomic<size_t> errors{0};
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  auto t0 = Clk::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      ++ready;
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < per_thread; ++i) {
        auto a = Clk::now();
        auto r = led.reserve(req(1000 + static_cast<uint64_t>(i), static_cast<uint64_t>(t) * 1'000'000 + i));
        auto b = Clk::now();
        if (!r.ok() || !led.mark_in_flight(r->id).ok() || !led.settle(r->id, 0, std::string(64, 'a'), 1).ok()) {
          ++errors;
          continue;
        }
        auto c = Clk::now();
        res[static_cast<size_t>(t)].push_back(std::chrono::duration<double, std::micro>(b - a).count());
        cyc[static_cast<size_t>(t)].push_back(std::chrono::duration<double, std::micro>(c - a).count());
      }
    });
  while (ready.load() < threads) std::this_thread::yield();
  t0 = Clk::now();
  go = true;
  for (auto& t : ts) t.join();
  double secs = std::chrono::duration<double>(Clk::now() - t0).count();
  std::vector<double> all_c, all_r;
  for (auto& v : cyc) all_c.insert(all_c.end(), v.begin(), v.end());
  for (auto& v : res) all_r.insert(all_r.end(), v.begin(), v.end());
  LatencyResult out{};
  out.cycles = all_c.size();
  out.errors = errors.load();
  out.ops_per_s = static_cast<double>(out.cycles) / secs;
  out.cycle_p50 = pct(all_c, 50);
  out.cycle_p99 = pct(all_c, 99);
  out.reserve_p50 = pct(all_r, 50);
  out.reserve_p99 = pct(all_r, 99);
  return out;
}

void budget_race(const std::string& path, int threads, int attempts) {
  const uint64_t cap = 50'000'000;  // 50k sats vs ~10,000 × 25 sats asked
  Policy p;
  p.global.per_call_msat.reset();
  p.global.day_msat = cap;
  p.fee = {1'000, 5'000};
  auto l = Ledger::open(path, p);
  if (!l.ok()) std::exit(1);
  Ledger& led = **l;
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
  std::printf("budget race: %d attempts, %d threads, cap %llu msat, %.2f s\n", attempts, threads,
              static_cast<unsigned long long>(cap), secs);
  std::printf("  settled %llu, failed %llu, refused %llu, errors %llu\n",
              static_cast<unsigned long long>(settled.load()), static_cast<unsigned long long>(failed.load()),
              static_cast<unsigned long long>(refused.load()), static_cast<unsigned long long>(errors.load()));
  std::printf("  wallet paid %llu msat, ledger counted %llu msat, left %llu msat, OVER BY %llu msat\n",
              static_cast<unsigned long long>(paid), static_cast<unsigned long long>(spent),
              static_cast<unsigned long long>(cap > paid ? cap - paid : 0),
              static_cast<unsigned long long>(paid > cap ? paid - cap : 0));
  if (paid > cap || paid != spent || errors.load() != 0) {
    std::printf("  FAIL\n");
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  bool own = false;
  if (argc > 1) {
    dir = argv[1];
  } else {
    std::string tmpl = "/tmp/bench_spend_XXXXXX";
    if (!mkdtemp(tmpl.data())) return 1;
    dir = tmpl;
    own = true;
  }
  set_log_level(LogLevel::error);
  const int threads = 32, per_thread = 150;
  std::printf("bench_spend: %u hardware threads, fsync p50 on %s: %.0f us\n", std::thread::hardware_concurrency(),
              dir.c_str(), fsync_us(dir));
  for (int nthreads : {1, threads}) {
    for (bool full : {true, false}) {
      const int n = nthreads == 1 ? 600 : per_thread;
      auto r = latency(dir + "/lat_" + std::to_string(nthreads) + (full ? "_full.db" : "_normal.db"), full, nthreads,
                       n);
      std::printf(
          "synchronous=%-6s %2d thread(s) x %d: reserve+in_flight+settle p50 %.3f ms p99 %.3f ms | reserve alone "
          "p50 %.3f ms p99 %.3f ms | %.0f payments/s, %zu errors\n",
          full ? "FULL" : "NORMAL", nthreads, n, r.cycle_p50 / 1000, r.cycle_p99 / 1000, r.reserve_p50 / 1000,
          r.reserve_p99 / 1000, r.ops_per_s, r.errors);
    }
  }
  budget_race(dir + "/race.db", threads, 10'000);
  if (own) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  return 0;
}
