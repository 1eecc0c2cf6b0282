// Shared test helpers for the spend tests: temp dirs under /tmp, an injectable clock, hash generator, and a
// read-only look at the ledger's raw rows (independent of the Ledger's own queries).
// Backends: the tests open ledgers at TempDir::ledger_at(name) — a SQLite file, or, when SW_TEST_PG_DIR names a
// running test PostgreSQL (scripts/pg-server.sh, the ctest fixture "pg"), a fresh schema per TempDir and name
// in it. Tests tagged [sqlite] are about the SQLite file itself and run on SQLite only.
#pragma once

#include <libpq-fe.h>
#include <sqlite3.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "spend/spend.h"

namespace spend_test {

// The test PostgreSQL's URL, "" when the tests run on SQLite.
inline std::string pg_url() {
  const char* dir = std::getenv("SW_TEST_PG_DIR");
  if (!dir || !*dir) return "";
  std::ifstream in(std::string(dir) + "/url");
  std::string url;
  std::getline(in, url);
  REQUIRE_FALSE(url.empty());
  return url;
}
inline bool on_postgres() { return !pg_url().empty(); }
inline bool is_pg(const std::string& location) { return location.rfind("postgresql://", 0) == 0; }

// Runs one statement on a PostgreSQL URL (test set-up: schemas); REQUIREs success; the rows as text.
inline std::vector<std::vector<std::string>> pg_rows(const std::string& url, const std::string& sql) {
  PGconn* c = PQconnectdb(url.c_str());
  REQUIRE(PQstatus(c) == CONNECTION_OK);
  PGresult* r = PQexec(c, sql.c_str());
  const auto st = PQresultStatus(r);
  INFO(sql << ": " << PQresultErrorMessage(r));
  REQUIRE((st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK));
  std::vector<std::vector<std::string>> out;
  for (int i = 0; i < PQntuples(r); ++i) {
    out.emplace_back();
    for (int j = 0; j < PQnfields(r); ++j) out.back().push_back(PQgetisnull(r, i, j) ? "" : PQgetvalue(r, i, j));
  }
  PQclear(r);
  PQfinish(c);
  return out;
}

// The rows of a query on a ledger location (file or URL), as text ("" for NULL).
inline std::vector<std::vector<std::string>> raw_rows(const std::string& location, const std::string& sql) {
  if (is_pg(location)) return pg_rows(location, sql);
  std::vector<std::vector<std::string>> out;
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(location.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
  while (sqlite3_step(st) == SQLITE_ROW) {
    out.emplace_back();
    for (int i = 0; i < sqlite3_column_count(st); ++i) {
      const unsigned char* t = sqlite3_column_text(st, i);
      out.back().push_back(t ? reinterpret_cast<const char*>(t) : "");
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

// What the ledger file holds, computed straight from its rows and its incremental aggregate.
struct RawSums {
  uint64_t rows = 0, settled = 0, non_final = 0;
  uint64_t settled_total = 0;    // amount + fee of settled rows
  uint64_t counted_total = 0;    // what counts against budgets (allowance until settled)
  uint64_t aggregate_total = 0;  // the ledger's own global lifetime aggregate row
};
inline RawSums raw_sums(const std::string& ledger_path) {
  RawSums r;
  auto one = [&](const char* sql) -> uint64_t {
    auto rows = raw_rows(ledger_path, sql);
    REQUIRE(rows.size() == 1);
    return std::stoull(rows[0][0]);
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
    for (const auto& schema : schemas_) {
      PGconn* c = PQconnectdb(pg_url().c_str());
      PQclear(PQexec(c, ("SET client_min_messages = warning; DROP SCHEMA IF EXISTS " + schema + " CASCADE").c_str()));
      PQfinish(c);
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // Where a test's ledger `name` lives: this directory's file, or on PostgreSQL a schema of its own (created on
  // first use, dropped with the TempDir), as a URL whose search_path selects it. Same name, same ledger.
  std::string ledger_at(const std::string& name) {
    const std::string url = pg_url();
    if (url.empty()) return file(name);
    std::string schema = "t_" + path_.substr(path_.rfind('_') + 1) + "_" + name;
    for (auto& ch : schema) ch = std::isalnum(static_cast<unsigned char>(ch)) ? static_cast<char>(std::tolower(ch)) : '_';
    if (std::find(schemas_.begin(), schemas_.end(), schema) == schemas_.end()) {
      pg_rows(url, "CREATE SCHEMA IF NOT EXISTS " + schema);
      schemas_.push_back(schema);
    }
    return url + "?options=-csearch_path%3D" + schema;
  }

 private:
  std::string path_;
  std::vector<std::string> schemas_;
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
