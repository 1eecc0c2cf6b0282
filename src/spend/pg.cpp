#include "spend/pg.h"
#include "spend/spend.h"

#include <dlfcn.h>
#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

namespace sw::spend::detail {

namespace {

// libpq is dlopen()ed on first use (src/spend/CMakeLists.txt): a server on the embedded SQLite ledger never maps
// it. The entry points below are all the backend calls.
#define SW_PQ_FUNCTIONS(X)                                                                                  \
  X(PQconnectdbParams) X(PQstatus) X(PQerrorMessage) X(PQfinish) X(PQexec) X(PQresultStatus) \
  X(PQntuples) X(PQgetisnull) X(PQgetvalue) X(PQgetlength) X(PQclear) X(PQcmdTuples) X(PQresultErrorMessage)   \
  X(PQresultErrorField) X(PQtransactionStatus) X(PQprepare) X(PQexecPrepared)

#ifndef SW_PQ_SONAME
#error "SW_PQ_SONAME (the SONAME of the libpq we compile against) is set by src/spend/CMakeLists.txt"
#endif

struct PqApi {
#define SW_PQ_MEMBER(f) decltype(&::f) f = nullptr;
  SW_PQ_FUNCTIONS(SW_PQ_MEMBER)
#undef SW_PQ_MEMBER
};

const PqApi* g_pq = nullptr;
// Only called with a live connection, which exists only after pq_api() succeeded.
const PqApi& pq() { return *g_pq; }

// Loads libpq once for the life of the process. Null (and `why`) when it cannot be loaded.
const PqApi* pq_api(std::string& why) {
  static std::string error;
  static const PqApi* api = []() -> const PqApi* {
    void* h = ::dlopen(SW_PQ_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* e = ::dlerror();
      error = std::string("cannot load ") + SW_PQ_SONAME + " (install libpq5): " + (e ? e : "dlopen failed");
      return nullptr;
    }
    static PqApi a;
    bool ok = true;
#define SW_PQ_RESOLVE(f)                                       \
  a.f = reinterpret_cast<decltype(&::f)>(::dlsym(h, #f));      \
  if (!a.f) {                                                  \
    ok = false;                                                \
    error = std::string(SW_PQ_SONAME) + " has no " #f;         \
  }
    SW_PQ_FUNCTIONS(SW_PQ_RESOLVE)
#undef SW_PQ_RESOLVE
    if (!ok) return nullptr;
    g_pq = &a;
    return g_pq;
  }();
  if (!api) why = error;
  return api;
}

}  // namespace

std::string redact_postgres_url(std::string_view url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return "postgresql://…";
  const size_t start = scheme + 3;
  // The user info ends at the last '@' before the query: a password may hold an unencoded '@' or '/' (err towards
  // hiding more, never less).
  const size_t end = url.find('?', start);
  const size_t at = url.substr(0, end == std::string_view::npos ? url.size() : end).rfind('@');
  std::string out(url.substr(0, start));
  if (at != std::string_view::npos && at >= start) {
    std::string_view userinfo = url.substr(start, at - start);
    const size_t colon = userinfo.find(':');
    out += colon == std::string_view::npos ? std::string(userinfo) : std::string(userinfo.substr(0, colon)) + ":***";
    out += url.substr(at, std::min(url.size(), url.find('?', at)) - at);
  } else {
    out += url.substr(start, std::min(url.size(), url.find('?', start)) - start);
  }
  // Query parameters may carry a password (?password=…): never shown.
  if (url.find('?', start) != std::string_view::npos) out += "?…";
  return out;
}

std::string translate_sql(std::string_view sql, std::vector<bool>& params) {
  std::string out;
  out.reserve(sql.size() + 16);
  int next = 0;
  auto use = [&](int n) {
    if (params.size() < static_cast<size_t>(n)) params.resize(static_cast<size_t>(n), false);
    params[static_cast<size_t>(n - 1)] = true;
  };
  for (size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (c == '\'') {  // a string literal, copied as it is ('' inside stays paired)
      const size_t end = sql.find('\'', i + 1);
      const size_t stop = end == std::string_view::npos ? sql.size() : end + 1;
      out += sql.substr(i, stop - i);
      i = stop - 1;
      continue;
    }
    if (c == '?') {
      size_t j = i + 1;
      int n = 0;
      while (j < sql.size() && std::isdigit(static_cast<unsigned char>(sql[j]))) n = n * 10 + (sql[j++] - '0');
      if (j == i + 1) n = ++next;
      use(n);
      out += '$';
      out += std::to_string(n);
      i = j - 1;
      continue;
    }
    if ((c == 'I' || c == 'i') && sql.substr(i, 11) == "INDEXED BY " &&
        (i == 0 || !std::isalnum(static_cast<unsigned char>(sql[i - 1])))) {
      size_t j = i + 11;
      while (j < sql.size() && (std::isalnum(static_cast<unsigned char>(sql[j])) || sql[j] == '_')) ++j;
      i = j - 1;
      continue;
    }
    out += c;
  }
  return out;
}

namespace {

constexpr Oid kTextOid = 25;

class PgStmt final : public StmtImpl {
 public:
  PgStmt(PgDb& db, std::string name, std::string sql, std::vector<bool> used)
      : db_(db), name_(std::move(name)), sql_(std::move(sql)), used_(std::move(used)) {
    values_.resize(used_.size());
    types_.assign(used_.size(), 0);
    for (size_t i = 0; i < used_.size(); ++i)
      if (!used_[i]) types_[i] = kTextOid;  // not mentioned: any type does, text needs no inference
  }
  ~PgStmt() override { clear(); }

  void bind_i64(int i, int64_t v) override { set(i, std::to_string(v)); }
  void bind_text(int i, const std::string& v) override { set(i, v); }
  void bind_null(int i) override {
    if (i >= 1 && static_cast<size_t>(i) <= values_.size()) values_[static_cast<size_t>(i - 1)].reset();
  }
  int step() override {
    if (!res_) {
      if (bad_bind_) return kPgError;
      // Prepared once per connection (parsed and planned once, not on every call — ~12 statements make a
      // reservation, all while the writers' lock is held).
      if (!prepared_) {
        PGresult* p = pq().PQprepare(db_.handle(), name_.c_str(), sql_.c_str(), static_cast<int>(types_.size()),
                                     types_.data());
        const int prc = db_.classify(p);
        if (p) pq().PQclear(p);
        if (prc != kDone && prc != kRow) return prc;
        prepared_ = true;
      }
      std::vector<const char*> vals(values_.size(), nullptr);
      for (size_t i = 0; i < values_.size(); ++i)
        if (values_[i]) vals[i] = values_[i]->c_str();
      res_ = pq().PQexecPrepared(db_.handle(), name_.c_str(), static_cast<int>(vals.size()), vals.data(), nullptr,
                                 nullptr, 0);
      const int rc = db_.classify(res_);
      if (rc != kDone && rc != kRow) return rc;
      rows_ = pq().PQresultStatus(res_) == PGRES_TUPLES_OK ? pq().PQntuples(res_) : 0;
      row_ = -1;
    }
    if (row_ + 1 < rows_) {
      ++row_;
      return kRow;
    }
    row_ = rows_;
    return kDone;
  }
  void reset() override {
    clear();
    for (auto& v : values_) v.reset();
    bad_bind_ = false;
  }
  bool is_null(int c) const override { return !res_ || row_ < 0 || row_ >= rows_ || pq().PQgetisnull(res_, row_, c); }
  int64_t i64(int c) const override {
    if (is_null(c)) return 0;
    const char* v = pq().PQgetvalue(res_, row_, c);
    if (v[0] == 't' && v[1] == 0) return 1;  // boolean
    if (v[0] == 'f' && v[1] == 0) return 0;
    return std::strtoll(v, nullptr, 10);
  }
  std::string text(int c) const override {
    if (is_null(c)) return {};
    return std::string(pq().PQgetvalue(res_, row_, c), static_cast<size_t>(pq().PQgetlength(res_, row_, c)));
  }

 private:
  void set(int i, std::string v) {
    if (i < 1 || static_cast<size_t>(i) > values_.size()) {
      bad_bind_ = true;
      return;
    }
    values_[static_cast<size_t>(i - 1)] = std::move(v);
  }
  void clear() {
    if (res_) pq().PQclear(res_);
    res_ = nullptr;
    rows_ = 0;
    row_ = -1;
  }
  PgDb& db_;
  std::string name_;  // the prepared statement's name on this connection
  bool prepared_ = false;
  std::string sql_;
  std::vector<bool> used_;
  std::vector<std::optional<std::string>> values_;
  std::vector<Oid> types_;
  PGresult* res_ = nullptr;
  int rows_ = 0, row_ = -1;
  bool bad_bind_ = false;
};

}  // namespace

PgDb::~PgDb() {
  cache_.clear();
  if (conn_) pq().PQfinish(conn_);
}

std::string PgDb::connect(const std::string& url) {
  if (std::string why; !pq_api(why)) return why;
  // Keywords in order, later ones win: our defaults first, then everything the URL says.
  const char* keys[] = {"connect_timeout", "application_name", "keepalives_idle", "keepalives_interval",
                        "keepalives_count", "dbname", nullptr};
  const char* vals[] = {"5", "satwarden", "10", "5", "3", url.c_str(), nullptr};
  conn_ = pq().PQconnectdbParams(keys, vals, 1);
  if (!conn_ || pq().PQstatus(conn_) != CONNECTION_OK) {
    std::string msg = conn_ ? pq().PQerrorMessage(conn_) : "out of memory";
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    if (conn_) pq().PQfinish(conn_);
    conn_ = nullptr;
    return msg.empty() ? "cannot connect" : msg;
  }
  // A lock or statement that waits this long means something is wrong: give the caller LEDGER_BUSY instead.
  // Notices ("relation already exists, skipping") would go to stderr: only warnings and errors are sent.
  if (exec("SET lock_timeout = '15s'; SET statement_timeout = '30s'; SET idle_in_transaction_session_timeout = "
           "'60s'; SET client_min_messages = warning; SET plan_cache_mode = force_custom_plan") != kOk)
    return last_error_;
  return "";
}

bool PgDb::healthy() const {
  return conn_ && pq().PQstatus(conn_) == CONNECTION_OK && pq().PQtransactionStatus(conn_) == PQTRANS_IDLE;
}

int PgDb::classify(void* result) {
  auto* res = static_cast<PGresult*>(result);
  const ExecStatusType st = res ? pq().PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    const char* n = res ? pq().PQcmdTuples(res) : "";
    changes_ = (n && *n) ? std::atoi(n) : 0;
    return st == PGRES_TUPLES_OK ? kRow : kDone;
  }
  last_error_ = res ? pq().PQresultErrorMessage(res) : (conn_ ? pq().PQerrorMessage(conn_) : "no connection");
  while (!last_error_.empty() && (last_error_.back() == '\n' || last_error_.back() == ' ')) last_error_.pop_back();
  const char* code = res ? pq().PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  const std::string sqlstate = code ? code : "";
  if (!conn_ || pq().PQstatus(conn_) != CONNECTION_OK || sqlstate.rfind("08", 0) == 0 || sqlstate == "57P01" ||
      sqlstate == "57P02" || sqlstate == "57P03" || (sqlstate.empty() && !res))
    return kPgUnavailable;
  if (sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "55P03" || sqlstate == "57014") return kPgBusy;
  if (sqlstate.rfind("23", 0) == 0) return kPgConstraint;
  return kPgError;
}

std::optional<Stmt> PgDb::prepare(const std::string& sql) {
  if (!conn_) {
    last_error_ = "no connection";
    return std::nullopt;
  }
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    std::vector<bool> used;
    std::string pg = translate_sql(sql, used);
    std::string name = "sw" + std::to_string(cache_.size() + 1);
    it = cache_.emplace(sql, std::make_unique<PgStmt>(*this, std::move(name), std::move(pg), std::move(used))).first;
  }
  return std::optional<Stmt>(std::in_place, it->second.get());
}

int PgDb::exec(const std::string& sql) {
  if (!conn_) return kPgUnavailable;
  std::vector<bool> used;
  const std::string pg = translate_sql(sql, used);
  PGresult* res = pq().PQexec(conn_, pg.c_str());
  int rc = classify(res);
  if (res) pq().PQclear(res);
  return rc == kRow ? kOk : rc == kDone ? kOk : rc;
}

int64_t PgDb::last_insert_id() {
  PGresult* res = pq().PQexec(conn_, "SELECT lastval()");
  int64_t id = 0;
  if (res && pq().PQresultStatus(res) == PGRES_TUPLES_OK && pq().PQntuples(res) == 1)
    id = std::strtoll(pq().PQgetvalue(res, 0, 0), nullptr, 10);
  if (res) pq().PQclear(res);
  return id;
}

bool PgDb::in_transaction() const {
  if (!conn_) return false;
  const auto t = pq().PQtransactionStatus(conn_);
  return t == PQTRANS_INTRANS || t == PQTRANS_ACTIVE;  // INERROR: the transaction is lost (rolled back)
}

bool PgDb::transaction_failed() const { return conn_ && pq().PQtransactionStatus(conn_) == PQTRANS_INERROR; }

Error PgDb::error(std::string_view what, int rc) {
  if (rc == kPgUnavailable)
    return make_error("LEDGER_UNAVAILABLE", "the ledger database (PostgreSQL) cannot be reached (" +
                                                std::string(what) + "); satwarden pays nothing it has not recorded "
                                                "there first — retry when it is back");
  if (rc == kPgBusy)
    return make_error("LEDGER_BUSY", std::string("ledger is busy (") + std::string(what) + "); retry shortly");
  return make_error("LEDGER_ERROR", std::string("ledger ") + std::string(what) + " failed: " + last_error_);
}

PgPool::PgPool(std::string url, size_t max_connections, std::chrono::milliseconds acquire_timeout)
    : url_(std::move(url)), max_(std::max<size_t>(1, max_connections)), timeout_(acquire_timeout) {}

PgPool::~PgPool() = default;

void PgPool::wake_first() {
  if (!waiters_.empty()) waiters_.front()->cv.notify_one();
}

size_t PgPool::waiting() {
  std::lock_guard lk(mu_);
  return waiters_.size();
}

Result<std::unique_ptr<PgDb>> PgPool::acquire() {
  std::unique_lock lk(mu_);
  if (!waiters_.empty() || !available()) {
    Waiter me;
    waiters_.push_back(&me);
    const bool served = me.cv.wait_until(lk, std::chrono::steady_clock::now() + timeout_,
                                         [&] { return waiters_.front() == &me && available(); });
    waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &me));
    wake_first();  // served: another connection may be free too; timed out: the next in line may be servable
    if (!served) return make_error("LEDGER_BUSY", "every ledger database connection is in use; retry shortly");
  }
  ++out_;
  if (!idle_.empty()) {
    auto db = std::move(idle_.back());
    idle_.pop_back();
    if (db->healthy()) return db;
  }
  lk.unlock();
  auto db = std::make_unique<PgDb>();
  if (std::string err = db->connect(url_); !err.empty()) {
    lk.lock();
    --out_;
    wake_first();
    return make_error("LEDGER_UNAVAILABLE", "the ledger database (PostgreSQL) cannot be reached: " + err +
                                                "; satwarden pays nothing it has not recorded there first — retry "
                                                "when it is back");
  }
  return db;
}

void PgPool::release(std::unique_ptr<PgDb> db) {
  std::lock_guard lk(mu_);
  --out_;
  if (db && db->healthy()) idle_.push_back(std::move(db));
  wake_first();
}

}  // namespace sw::spend::detail

namespace sw::spend {
bool is_postgres_url(std::string_view s) {
  return s.rfind("postgres://", 0) == 0 || s.rfind("postgresql://", 0) == 0;
}
}  // namespace sw::spend
