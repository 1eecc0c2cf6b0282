// Internal: the PostgreSQL side of the ledger's Db (db.h) — one libpq connection (PgDb) and a bounded pool of
// them (PgPool). Each statement is prepared once per connection (PQprepare/PQexecPrepared) with `?N` rewritten to
// `$N` (types inferred by the server; a parameter a statement does not mention is declared text so that it needs
// no inference).
// Thread-safety: a PgDb is used by one thread at a time; PgPool is safe to share.
// Errors: connection failures and lost connections are LEDGER_UNAVAILABLE (the pool reconnects on the next
// acquire); serialization failures, deadlocks and lock timeouts LEDGER_BUSY; anything else LEDGER_ERROR.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "spend/db.h"

struct pg_conn;

namespace sw::spend::detail {

// The URL without its password (for logs and errors): postgresql://user:***@host/db.
std::string redact_postgres_url(std::string_view url);
// SQLite-dialect statement → PostgreSQL: `?N` → `$N` (a bare `?` takes the next number), `INDEXED BY name`
// dropped; string literals are left alone. `params` gets, per parameter number from 1, whether it is used.
std::string translate_sql(std::string_view sql, std::vector<bool>& params);

class PgDb final : public Db {
 public:
  ~PgDb() override;
  // Connects (connect_timeout 5 s unless the URL sets one). "" or the error (without the password).
  std::string connect(const std::string& url);
  bool healthy() const;

  std::optional<Stmt> prepare(const std::string& sql) override;
  int exec(const std::string& sql) override;
  std::string last_error() const override { return last_error_; }
  int64_t last_insert_id() override;
  int changes() const override { return changes_; }
  bool in_transaction() const override;
  bool transaction_failed() const;  // inside a transaction that an error aborted (only ROLLBACK works)
  bool postgres() const override { return true; }
  Error error(std::string_view what, int rc) override;

  // For PgStmt: classifies a finished command (result may be null) into kDone/kRow/kPg*.
  int classify(void* result);
  pg_conn* handle() { return conn_; }
  void set_changes(int n) { changes_ = n; }

 private:
  pg_conn* conn_ = nullptr;
  std::string last_error_;
  int changes_ = 0;
  std::unordered_map<std::string, std::unique_ptr<StmtImpl>> cache_;
};

// A bounded pool of connections to one database.
class PgPool {
 public:
  PgPool(std::string url, size_t max_connections, std::chrono::milliseconds acquire_timeout);
  ~PgPool();
  // A connection, new or idle; LEDGER_UNAVAILABLE when the database cannot be reached, LEDGER_BUSY when every
  // connection stayed in use for the whole acquire timeout. Waiters are served first come, first served: a call
  // in a busy instance waits for the calls queued before it, never for every later arrival that happens to grab a
  // connection first (with 100 payments over 8 connections, an unordered wait let some calls starve past the
  // timeout while the others finished).
  Result<std::unique_ptr<PgDb>> acquire();
  // Returns a connection; an unhealthy one (lost, or left inside a transaction) is closed instead.
  void release(std::unique_ptr<PgDb> db);
  size_t max_connections() const { return max_; }
  size_t waiting();  // calls queued for a connection (for tests)

 private:
  struct Waiter {
    std::condition_variable cv;
  };
  bool available() const { return !idle_.empty() || out_ < max_; }
  void wake_first();  // under mu_: the first waiter checks whether its turn has come
  std::string url_;
  size_t max_;
  std::chrono::milliseconds timeout_;
  std::mutex mu_;
  std::deque<Waiter*> waiters_;  // in arrival order; each on its own stack frame in acquire()
  std::vector<std::unique_ptr<PgDb>> idle_;
  size_t out_ = 0;  // connections handed out
};

}  // namespace sw::spend::detail
