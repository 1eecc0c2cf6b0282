// Internal: the ledger's SQL connection, one interface over two backends — SQLite (SqliteDb: one sqlite3
// connection with a prepared-statement cache) and PostgreSQL (PgDb: one libpq connection; pg.cpp).
// The ledger's SQL is written once in the dialect both accept: `?N` parameters (PgDb sends them as `$N`),
// ON CONFLICT upserts, no SQLite-only functions. `INDEXED BY` hints are kept for SQLite and dropped for PostgreSQL.
// Not thread-safe: one thread uses a connection at a time (the SQLite group-commit leader, or the holder of a
// pooled PostgreSQL connection).
// Errors: step()/run()/exec() return kRow / kDone / kOk or a backend code that Db::error() turns into the
// ledger's error: LEDGER_BUSY (lock contention, serialization failure), LEDGER_UNAVAILABLE (PostgreSQL
// unreachable), else LEDGER_ERROR naming the step and the database's message.
// Hand-written rather than a wrapper library because the project stack allows only the SQLite C API and libpq.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/common.h"

struct sqlite3;
struct sqlite3_stmt;

namespace sw::spend::detail {

// Result codes, equal to SQLite's SQLITE_OK / SQLITE_ROW / SQLITE_DONE (SQLite's own error codes pass through).
constexpr int kOk = 0, kRow = 100, kDone = 101;
// PostgreSQL outcomes (above SQLite's extended codes' range of use here).
constexpr int kPgError = 0x10000, kPgBusy = 0x10001, kPgUnavailable = 0x10002, kPgConstraint = 0x10003;

class StmtImpl {
 public:
  virtual ~StmtImpl() = default;
  virtual void bind_i64(int i, int64_t v) = 0;
  virtual void bind_text(int i, const std::string& v) = 0;
  virtual void bind_null(int i) = 0;
  virtual int step() = 0;
  virtual void reset() = 0;  // ready for another execution, parameters unbound
  virtual bool is_null(int c) const = 0;
  virtual int64_t i64(int c) const = 0;
  virtual std::string text(int c) const = 0;
};

// A cached prepared statement, reset and unbound when the handle goes out of scope.
class Stmt {
 public:
  explicit Stmt(StmtImpl* s) : s_(s) {}
  ~Stmt() { s_->reset(); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, int64_t v) {
    s_->bind_i64(i, v);
    return *this;
  }
  Stmt& bind(int i, const std::string& v) {
    s_->bind_text(i, v);
    return *this;
  }
  Stmt& bind_null(int i) {
    s_->bind_null(i);
    return *this;
  }
  Stmt& bind_opt(int i, const std::optional<int64_t>& v) { return v ? bind(i, *v) : bind_null(i); }

  // kRow, kDone or an error code (bind errors are reported here too).
  int step() { return s_->step(); }
  // Runs to completion; kDone on success.
  int run() {
    int rc;
    while ((rc = step()) == kRow) {
    }
    return rc;
  }
  // Resets and unbinds for another execution.
  void rewind() { s_->reset(); }

  bool is_null(int c) const { return s_->is_null(c); }
  int64_t i64(int c) const { return s_->i64(c); }
  std::optional<int64_t> opt_i64(int c) const { return is_null(c) ? std::nullopt : std::optional<int64_t>(i64(c)); }
  std::string text(int c) const { return s_->text(c); }

 private:
  StmtImpl* s_;
};

class Db {
 public:
  virtual ~Db() = default;
  // Prepares once and caches by SQL text. nullopt + last_error() on failure.
  virtual std::optional<Stmt> prepare(const std::string& sql) = 0;
  // Executes statements without results (several, separated by ';'). kOk or an error code.
  virtual int exec(const std::string& sql) = 0;
  virtual std::string last_error() const = 0;
  // The id of the row the last INSERT created.
  virtual int64_t last_insert_id() = 0;
  // Rows changed by the last INSERT/UPDATE/DELETE.
  virtual int changes() const = 0;
  virtual bool in_transaction() const = 0;
  virtual bool postgres() const = 0;
  // The ledger's error for a failed call (see the header comment).
  virtual Error error(std::string_view what, int rc) = 0;
};

class SqliteDb final : public Db {
 public:
  SqliteDb() = default;
  ~SqliteDb() override;
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  // Opens read-write (creating if needed). Returns an error message or "".
  std::string open(const std::string& path);
  sqlite3* handle() { return db_; }

  std::optional<Stmt> prepare(const std::string& sql) override;
  int exec(const std::string& sql) override;
  std::string last_error() const override;
  int64_t last_insert_id() override;
  int changes() const override;
  bool in_transaction() const override;
  bool postgres() const override { return false; }
  Error error(std::string_view what, int rc) override;

 private:
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, std::unique_ptr<StmtImpl>> cache_;
};

// The ledger's error for a failed call: LEDGER_BUSY for SQLITE_BUSY/LOCKED (extended codes too) and PostgreSQL
// lock/serialization conflicts, LEDGER_UNAVAILABLE when PostgreSQL cannot be reached, else LEDGER_ERROR naming
// the step and the database's message.
inline Error db_error(Db& db, std::string_view what, int rc = 1) { return db.error(what, rc); }

}  // namespace sw::spend::detail
