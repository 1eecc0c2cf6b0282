#include "spend/db.h"

#include <sqlite3.h>

namespace sw::spend::detail {

static_assert(kOk == SQLITE_OK && kRow == SQLITE_ROW && kDone == SQLITE_DONE, "result codes mirror SQLite's");

namespace {

class SqliteStmt final : public StmtImpl {
 public:
  explicit SqliteStmt(sqlite3_stmt* s) : s_(s) {}
  ~SqliteStmt() override { sqlite3_finalize(s_); }

  void bind_i64(int i, int64_t v) override { keep(sqlite3_bind_int64(s_, i, v)); }
  void bind_text(int i, const std::string& v) override {
    keep(sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  void bind_null(int i) override { keep(sqlite3_bind_null(s_, i)); }
  int step() override { return bind_rc_ != SQLITE_OK ? bind_rc_ : sqlite3_step(s_); }
  void reset() override {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
    bind_rc_ = SQLITE_OK;
  }
  bool is_null(int c) const override { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  int64_t i64(int c) const override { return sqlite3_column_int64(s_, c); }
  std::string text(int c) const override {
    const unsigned char* p = sqlite3_column_text(s_, c);
    if (!p) return {};
    return std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(s_, c)));
  }

 private:
  void keep(int rc) {
    if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  }
  sqlite3_stmt* s_;
  int bind_rc_ = SQLITE_OK;
};

}  // namespace

SqliteDb::~SqliteDb() {
  cache_.clear();  // finalizes every statement before the connection closes
  if (db_) sqlite3_close_v2(db_);
}

std::string SqliteDb::open(const std::string& path) {
  // NOMUTEX: the Ledger serializes every use of this connection itself.
  int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    if (db_) sqlite3_close_v2(db_);
    db_ = nullptr;
    return msg.empty() ? "cannot open" : msg;
  }
  sqlite3_extended_result_codes(db_, 1);
  return "";
}

std::optional<Stmt> SqliteDb::prepare(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) return std::optional<Stmt>(std::in_place, it->second.get());
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &s, nullptr);
  if (rc != SQLITE_OK || !s) {
    if (s) sqlite3_finalize(s);
    return std::nullopt;
  }
  auto [pos, _] = cache_.emplace(sql, std::make_unique<SqliteStmt>(s));
  return std::optional<Stmt>(std::in_place, pos->second.get());
}

int SqliteDb::exec(const std::string& sql) { return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr); }
std::string SqliteDb::last_error() const { return db_ ? sqlite3_errmsg(db_) : "no database"; }
int64_t SqliteDb::last_insert_id() { return sqlite3_last_insert_rowid(db_); }
int SqliteDb::changes() const { return sqlite3_changes(db_); }
bool SqliteDb::in_transaction() const { return db_ && !sqlite3_get_autocommit(db_); }

Error SqliteDb::error(std::string_view what, int rc) {
  if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
    return make_error("LEDGER_BUSY", std::string("ledger is busy (") + std::string(what) + ")");
  return make_error("LEDGER_ERROR", std::string("ledger ") + std::string(what) + " failed: " + last_error());
}

}  // namespace sw::spend::detail
