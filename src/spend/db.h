// Internal: a thin RAII layer over one sqlite3 connection with a prepared-statement cache.
// Not thread-safe by itself; the Ledger lets exactly one thread (the group-commit leader) touch it at a time.
// Hand-written rather than a wrapper library because the project stack allows only the SQLite C API.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/common.h"

namespace sw::spend::detail {

class Db;

// A cached prepared statement, reset and unbound when the handle goes out of scope.
class Stmt {
 public:
  Stmt(Db& db, sqlite3_stmt* s) : db_(db), s_(s) {}
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, int64_t v);
  Stmt& bind(int i, const std::string& v);
  Stmt& bind_null(int i);
  Stmt& bind_opt(int i, const std::optional<int64_t>& v) { return v ? bind(i, *v) : bind_null(i); }

  // SQLITE_ROW, SQLITE_DONE or an error code (bind errors are reported here too).
  int step();
  // Runs to completion; SQLITE_DONE on success.
  int run();
  // Resets and unbinds for another execution.
  void rewind();

  bool is_null(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  int64_t i64(int c) const { return sqlite3_column_int64(s_, c); }
  std::optional<int64_t> opt_i64(int c) const { return is_null(c) ? std::nullopt : std::optional<int64_t>(i64(c)); }
  std::string text(int c) const;

 private:
  Db& db_;
  sqlite3_stmt* s_;
  int bind_rc_ = SQLITE_OK;
};

class Db {
 public:
  Db() = default;
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Opens read-write (creating if needed). Returns an error message or "".
  std::string open(const std::string& path);
  sqlite3* handle() { return db_; }

  // Prepares once and caches by SQL text. nullopt + last_error() on failure.
  std::optional<Stmt> prepare(const std::string& sql);
  // Executes statements without results.
  int exec(const std::string& sql);
  std::string last_error() const { return db_ ? sqlite3_errmsg(db_) : "no database"; }
  int64_t last_insert_id() const { return sqlite3_last_insert_rowid(db_); }
  int changes() const { return sqlite3_changes(db_); }
  bool in_transaction() const { return db_ && !sqlite3_get_autocommit(db_); }

 private:
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

// The ledger's error for a failed SQLite call: LEDGER_BUSY for SQLITE_BUSY/LOCKED (extended codes too), else
// LEDGER_ERROR naming the step and SQLite's message.
Error db_error(Db& db, std::string_view what, int rc = SQLITE_ERROR);

}  // namespace sw::spend::detail
