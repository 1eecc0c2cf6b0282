// Shared test helpers for the spend tests: temp dirs under /tmp, an injectable clock, hash generator, and a
// read-only look at the ledger file's raw rows (independent of the Ledger's own queries).
#pragma once

#include <sqlite3.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <string>

#include "spend/spend.h"

namespace spend_test {

// What the ledger file holds, computed straight from its rows and its incremental aggregate.
struct RawSums {
  uint64_t rows = 0, settled = 0, non_final = 0;
  uint64_t settled_total = 0;    // amount + fee of settled rows
  uint64_t counted_total = 0;    // what counts against budgets (allowance until settled)
  uint64_t aggregate_total = 0;  // the ledger's own global lifetime aggregate row
};
inline RawSums raw_sums(const std::string& ledger_path) {
  RawSums r;
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(ledger_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  auto one = [&](const char* sql) -> uint64_t {
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    auto v = static_cast<uint64_t>(sqlite3_column_int64(st, 0));
    sqlite3_finalize(st);
    return v;
  };
  r.rows = one("SELECT COUNT(*) FROM payments");
  r.settled = one("SELECT COUNT(*) FROM payments WHERE state = 'settled'");
  r.non_final = one("SELECT COUNT(*) FROM payments WHERE state IN ('reserved','in_flight','unknown')");
  r.settled_total = one("SELECT COALESCE(SUM(amount_msat + fee_msat), 0) FROM payments WHERE state = 'settled'");
  r.counted_total = one(
      "SELECT COALESCE(SUM(amount_msat + COALESCE(fee_msat, max_fee_msat)), 0) FROM payments"
      " WHERE state IN ('reserved','in_flight','settled','unknown')");
  r.aggregate_total = one(
      "SELECT COALESCE(SUM(counted_msat), 0) FROM spend_totals WHERE scope = 'g' AND bucket = -9223372036854775808");
  sqlite3_close(db);
  return r;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/sw_spend_test_XXXXXX";
    char* p = mkdtemp(tmpl.data());
    REQUIRE(p != nullptr);
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

class FakeClock final : public sw::Clock {
 public:
  explicit FakeClock(int64_t t = 1'700'000'000) : t_(t) {}
  int64_t now_unix() const override { return t_.load(); }
  void set(int64_t t) { t_.store(t); }
  void advance(int64_t s) { t_.fetch_add(s); }

 private:
  std::atomic<int64_t> t_;
};

inline std::string hash_of(uint64_t n, char prefix = 'a') {
  char buf[65];
  std::snprintf(buf, sizeof buf, "%c%063llu", prefix, static_cast<unsigned long long>(n));
  return buf;
}

inline sw::spend::ReserveRequest req(uint64_t amount_msat, const std::string& hash, const std::string& domain = "",
                                     const std::string& protocol = "bolt11") {
  sw::spend::ReserveRequest r;
  r.client = "test";
  r.domain = domain;
  r.tool = "pay_invoice";
  r.protocol = protocol;
  r.invoice = "lnbc1test";
  r.payment_hash = hash;
  r.amount_msat = amount_msat;
  return r;
}

// No fee allowance, no per-call cap: makes window arithmetic exact in tests.
inline sw::spend::Policy bare_policy() {
  sw::spend::Policy p;
  p.global.per_call_msat.reset();
  p.fee.base_msat = 0;
  p.fee.ppm = 0;
  return p;
}

}  // namespace spend_test
