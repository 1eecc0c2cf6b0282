// The payment ledger: SQLite schema and migrations, group-committed transactions, reservation checks, state
// machine, crash recovery, reconciliation and queries.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <variant>

#include <sqlite3.h>

#include <random>

#include "spend/db.h"
#include "spend/pg.h"
#include "spend/schema.h"
#include "spend/approvals_internal.h"
#include "spend/purchases_internal.h"
#include "spend/spend.h"

namespace sw::spend {

namespace {

using detail::Db;
using detail::Stmt;
using detail::db_error;
using detail::kDone;
using detail::kOk;
using detail::kRow;

constexpr Window kWindows[] = {Window::hour, Window::day, Window::week, Window::month};
// Rows that count against budgets (counts_against_budget). Schema v2 stores that as a column, `counted` (1/0,
// tied to `state` by a CHECK), which changes only when a row becomes failed/released: the partial indexes
// that serve the double-pay guard and the budget sums are conditioned on it, so SQLite does not rewrite them
// on reserved → in_flight → settled (it rewrites a partial index whenever a column its condition names is
// assigned). v1 conditioned them on `state IN (4 states)`, which also made SQLite build a temporary b-tree
// (an 86 KB page-cache allocation, ~20 page faults) for each evaluation: ≈ 13 page faults, 5 index pages and
// ≈ 30 % of the CPU of every ledger call. No v2 condition or CHECK has an IN list of more than two constants.
constexpr const char* kCounted = "counted = 1";
constexpr const char* kCols =
    "id, client, envelope, domain, tool, protocol, invoice, payment_hash, amount_msat, max_fee_msat, fee_msat, "
    "state, error_code, preimage, created_at, updated_at, settled_at, latency_ms, request_expires_at, wallet_said, "
    "wallet_said_at, resolved_by, request_id";

bool is_hex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// Error codes from wallets are stored and shown; keep them short and boring.
std::string clean_code(std::string_view code) {
  std::string out;
  for (char c : code.substr(0, 64)) {
    if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_') out += c;
    else if (c >= 'a' && c <= 'z') out += static_cast<char>(c - 'a' + 'A');
    else out += '_';
  }
  return out.empty() ? "UNSPECIFIED" : out;
}

Result<std::string> normalize_domain(std::string_view raw) {
  std::string d = ascii_lower(trim(raw));
  if (!d.empty() && d.back() == '.') d.pop_back();
  if (d.size() > 253) return make_error("INVALID_ARGUMENT", "domain is too long");
  for (char c : d)
    if (static_cast<unsigned char>(c) <= 0x20 || c == '*' || c == '/' || static_cast<unsigned char>(c) >= 0x7f)
      return make_error("INVALID_ARGUMENT", "domain has an invalid character");
  return d;
}

uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

Payment read_payment(const Stmt& s) {
  Payment p;
  p.id = s.i64(0);
  p.client = s.text(1);
  p.envelope = s.text(2);
  p.domain = s.text(3);
  p.tool = s.text(4);
  p.protocol = s.text(5);
  p.invoice = s.text(6);
  p.payment_hash = s.text(7);
  p.amount_msat = static_cast<uint64_t>(s.i64(8));
  p.max_fee_msat = static_cast<uint64_t>(s.i64(9));
  if (!s.is_null(10)) p.fee_msat = static_cast<uint64_t>(s.i64(10));
  p.state = parse_state(s.text(11)).value_or(State::unknown);
  p.error_code = s.text(12);
  p.preimage = s.text(13);
  p.created_at = s.i64(14);
  p.updated_at = s.i64(15);
  p.settled_at = s.opt_i64(16);
  p.latency_ms = s.opt_i64(17);
  p.request_expires_at = s.opt_i64(18);
  p.wallet_said = s.text(19);
  p.wallet_said_at = s.opt_i64(20);
  p.resolved_by = s.text(21);
  p.request_id = s.text(22);
  return p;
}

// ---- budget totals
// Each row counts amount + actual fee (settled) or amount + fee allowance (reserved/in_flight/unknown).
// Scanning every counted row on each reservation is O(history), so the counted amounts are also kept
// aggregated in spend_totals per scope ("g" global, "d:<reversed domain>", "e:<envelope>") and per hour
// bucket, plus one lifetime row per scope (bucket = kLifetime). Every insert/transition applies the delta of
// its row in the same transaction; open() rebuilds the table from the rows (the source of truth).
// A window sum = the buckets strictly after the bucket holding the window start + the rows of that boundary
// bucket that are inside the window (at most one hour of rows), so it stays exact to the second.
constexpr int64_t kBucket = 3600;
constexpr int64_t kLifetime = INT64_MIN;

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0); }

std::string reversed(std::string_view s) { return std::string(s.rbegin(), s.rend()); }

int64_t counted_of(State st, int64_t amount, std::optional<int64_t> fee, int64_t max_fee) {
  return counts_against_budget(st) ? amount + fee.value_or(max_fee) : 0;
}

std::vector<std::string> scopes_of(const std::string& domain, const std::string& envelope) {
  std::vector<std::string> s = {"g"};
  if (!domain.empty()) s.push_back("d:" + reversed(domain));
  if (!envelope.empty()) s.push_back("e:" + envelope);
  return s;
}

Status add_totals(Db& db, int64_t created_at, const std::string& domain, const std::string& envelope,
                  int64_t delta) {
  if (delta == 0) return ok_status();
  static const std::string kUpsert =
      "INSERT INTO spend_totals(scope, bucket, counted_msat) VALUES (?1, ?2, ?3)"
      " ON CONFLICT(scope, bucket) DO UPDATE SET counted_msat = spend_totals.counted_msat + excluded.counted_msat";
  auto st = db.prepare(kUpsert);
  if (!st) return db_error(db, "prepare");
  for (const auto& scope : scopes_of(domain, envelope)) {
    for (int64_t bucket : {floor_div(created_at, kBucket), kLifetime}) {
      st->bind(1, scope).bind(2, bucket).bind(3, delta);
      int rc = st->run();
      st->rewind();
      if (rc != kDone) return db_error(db, "totals update", rc);
    }
  }
  return ok_status();
}

// Recomputes spend_totals from the payment rows.
Status rebuild_totals(Db& db) {
  if (int rc = db.exec("DELETE FROM spend_totals"); rc != kOk) return db_error(db, "totals rebuild", rc);
  std::map<std::pair<std::string, int64_t>, int64_t> acc;
  {
    auto st = db.prepare(std::string("SELECT created_at, domain, envelope, amount_msat + COALESCE(fee_msat, "
                                     "max_fee_msat) FROM payments WHERE ") + kCounted);
    if (!st) return db_error(db, "prepare");
    int rc;
    while ((rc = st->step()) == kRow) {
      int64_t c = st->i64(3);
      for (const auto& scope : scopes_of(st->text(1), st->text(2))) {
        acc[{scope, floor_div(st->i64(0), kBucket)}] += c;
        acc[{scope, kLifetime}] += c;
      }
    }
    if (rc != kDone) return db_error(db, "totals rebuild", rc);
  }
  for (const auto& [key, v] : acc) {
    auto ins = db.prepare("INSERT INTO spend_totals(scope, bucket, counted_msat) VALUES (?1, ?2, ?3)");
    if (!ins) return db_error(db, "prepare");
    ins->bind(1, key.first).bind(2, key.second).bind(3, v);
    if (int rc = ins->run(); rc != kDone) return db_error(db, "totals rebuild", rc);
  }
  return ok_status();
}

struct Totals {
  uint64_t window[4] = {0, 0, 0, 0};
  uint64_t lifetime = 0;
};

struct Filter {
  enum Kind { none, domain_exact, domain_suffix, envelope } kind = none;
  std::string value;  // domain, ".suffix" or envelope name
};

Filter domain_filter(const std::string& pattern) {
  if (pattern.rfind("*.", 0) == 0) return {Filter::domain_suffix, pattern.substr(1)};
  return {Filter::domain_exact, pattern};
}

// SQL condition on spend_totals.scope (parameters ?10/?11) and on payment rows (?12/?13) for a filter.
std::string scope_sql(const Filter& f) {
  return f.kind == Filter::domain_suffix ? "scope >= ?10 AND scope < ?11" : "scope = ?10";
}
std::string row_sql(const Filter& f) {
  switch (f.kind) {
    case Filter::none: return "";
    case Filter::domain_exact: return " AND domain = ?12";
    case Filter::domain_suffix: return " AND length(domain) > ?13 AND substr(domain, length(domain) - ?13 + 1) = ?12";
    case Filter::envelope: return " AND envelope = ?12";
  }
  return "";
}
void bind_filter(Stmt& st, const Filter& f, bool scope, bool rows) {
  if (scope) {
    switch (f.kind) {
      case Filter::none: st.bind(10, std::string("g")); break;
      case Filter::domain_exact: st.bind(10, "d:" + reversed(f.value)); break;
      case Filter::domain_suffix: {
        std::string lo = "d:" + reversed(f.value), hi = lo;
        hi.back() = static_cast<char>(hi.back() + 1);  // the suffix starts with '.', so no overflow
        st.bind(10, lo).bind(11, hi);
        break;
      }
      case Filter::envelope: st.bind(10, "e:" + f.value); break;
    }
  }
  if (rows && f.kind != Filter::none) {
    st.bind(12, f.value);
    if (f.kind == Filter::domain_suffix) st.bind(13, static_cast<int64_t>(f.value.size()));
  }
}

constexpr unsigned kLifetimeBit = 1u << 4;
unsigned caps_mask(const Caps& c) {
  unsigned m = 0;
  for (int i = 0; i < 4; ++i)
    if (c.window(kWindows[i])) m |= 1u << i;
  if (c.lifetime_msat) m |= kLifetimeBit;
  return m;
}

Result<uint64_t> nonneg(Db& db, int64_t v) {
  if (v < 0) return make_error("LEDGER_ERROR", "ledger totals are inconsistent; restart to rebuild them");
  (void)db;
  return static_cast<uint64_t>(v);
}

// The budget-sum statements for each filter kind (built once: the statement cache is keyed by SQL text).
std::string lifetime_sql(Filter::Kind k) {
  return "SELECT COALESCE(SUM(counted_msat), 0) FROM spend_totals WHERE " + scope_sql(Filter{k, {}}) +
         " AND bucket = ?1";
}
std::string buckets_sql(Filter::Kind k) {
  return "SELECT COALESCE(SUM(counted_msat), 0) FROM spend_totals WHERE " + scope_sql(Filter{k, {}}) +
         " AND bucket > ?1";
}
std::string boundary_sql(Filter::Kind k) {
  return std::string("SELECT COALESCE(SUM(amount_msat + COALESCE(fee_msat, max_fee_msat)), 0) FROM payments"
                     " INDEXED BY payments_counted WHERE ") +
         kCounted + " AND created_at > ?1 AND created_at < ?2" + row_sql(Filter{k, {}});
}

// Sums for the windows in `mask` (bits 0-3) and the lifetime (bit 4).
Result<Totals> sum_counted(Db& db, int64_t now, const Filter& f, unsigned mask) {
  Totals t;
  if (mask & kLifetimeBit) {
    static const std::string kSql[4] = {lifetime_sql(Filter::none), lifetime_sql(Filter::domain_exact),
                                        lifetime_sql(Filter::domain_suffix), lifetime_sql(Filter::envelope)};
    auto st = db.prepare(kSql[f.kind]);
    if (!st) return db_error(db, "prepare");
    st->bind(1, kLifetime);
    bind_filter(*st, f, true, false);
    int rc = st->step();
    if (rc != kRow) return db_error(db, "budget query", rc);
    auto v = nonneg(db, st->i64(0));
    if (!v) return v.error();
    t.lifetime = *v;
  }
  for (int i = 0; i < 4; ++i) {
    if (!(mask & (1u << i))) continue;
    const int64_t cut = now - window_seconds(kWindows[i]);  // inside: created_at > cut
    const int64_t b0 = floor_div(cut, kBucket);
    static const std::string kFull[4] = {buckets_sql(Filter::none), buckets_sql(Filter::domain_exact),
                                         buckets_sql(Filter::domain_suffix), buckets_sql(Filter::envelope)};
    auto full = db.prepare(kFull[f.kind]);
    if (!full) return db_error(db, "prepare");
    full->bind(1, b0);
    bind_filter(*full, f, true, false);
    int rc = full->step();
    if (rc != kRow) return db_error(db, "budget query", rc);
    int64_t sum = full->i64(0);
    full.reset();
    static const std::string kPart[4] = {boundary_sql(Filter::none), boundary_sql(Filter::domain_exact),
                                         boundary_sql(Filter::domain_suffix), boundary_sql(Filter::envelope)};
    auto part = db.prepare(kPart[f.kind]);
    if (!part) return db_error(db, "prepare");
    part->bind(1, cut).bind(2, (b0 + 1) * kBucket);
    bind_filter(*part, f, false, true);
    rc = part->step();
    if (rc != kRow) return db_error(db, "budget query", rc);
    auto v = nonneg(db, sum + part->i64(0));
    if (!v) return v.error();
    t.window[i] = *v;
  }
  return t;
}

// created_at of the oldest counted row inside window i (its roll-off is that + the window), if any.
Result<std::optional<int64_t>> oldest_in_window(Db& db, int64_t now, const Filter& f, int i) {
  const char* index = f.kind == Filter::domain_exact ? "payments_counted_domain" : "payments_counted";
  auto st = db.prepare(std::string("SELECT created_at FROM payments INDEXED BY ") + index + " WHERE " + kCounted +
                       " AND created_at > ?1" + row_sql(f) + " ORDER BY created_at LIMIT 1");
  if (!st) return db_error(db, "prepare");
  st->bind(1, now - window_seconds(kWindows[i]));
  bind_filter(*st, f, false, true);
  int rc = st->step();
  if (rc == kDone) return std::optional<int64_t>{};
  if (rc != kRow) return db_error(db, "budget query", rc);
  return std::optional<int64_t>{st->i64(0)};
}

Error budget_error(const std::string& scope, const std::string& window, uint64_t limit, uint64_t spent,
                   uint64_t requested, uint64_t amount, uint64_t fee_allowance, std::optional<int64_t> rolloff) {
  uint64_t remaining = spent >= limit ? 0 : limit - spent;
  json d = {{"scope", scope},
            {"window", window},
            {"limit_sats", msat_to_sat_ceil(limit)},
            {"spent_sats", msat_to_sat_ceil(spent)},
            {"remaining_sats", remaining / 1000},  // rounded down: never promise more than is left
            {"requested_sats", msat_to_sat_ceil(requested)},
            {"limit_msat", limit},
            {"spent_msat", spent},
            {"remaining_msat", remaining},
            {"requested_msat", requested},
            {"amount_msat", amount},
            {"fee_allowance_msat", fee_allowance}};
  if (rolloff) d["next_rolloff"] = *rolloff;
  std::string msg;
  if (window == "per_call") {
    msg = "Payment of " + std::to_string(msat_to_sat_ceil(amount)) + " sats exceeds the " + scope + " per-call cap of " +
          std::to_string(msat_to_sat_ceil(limit)) + " sats.";
  } else {
    msg = "Budget exceeded: the " + scope + " " + window + " cap is " + std::to_string(msat_to_sat_ceil(limit)) +
          " sats, " + std::to_string(msat_to_sat_ceil(spent)) + " sats are spent or reserved, " +
          std::to_string(remaining / 1000) + " sats remain; this payment needs " +
          std::to_string(msat_to_sat_ceil(requested)) + " sats (amount plus fee allowance).";
  }
  return make_error("BUDGET_EXCEEDED", msg, std::move(d));
}

// Checks `requested` against every configured window/lifetime cap of one scope.
Result<Ok> check_scope(Db& db, int64_t now, const Caps& caps, const Filter& f, const std::string& scope,
                       uint64_t requested, uint64_t amount, uint64_t fee) {
  const unsigned mask = caps_mask(caps);
  if (!mask) return Ok{};
  auto t = sum_counted(db, now, f, mask);
  if (!t) return t.error();
  for (int i = 0; i < 4; ++i) {
    const auto& lim = caps.window(kWindows[i]);
    if (lim && sat_add(t->window[i], requested) > *lim) {
      auto old = oldest_in_window(db, now, f, i);
      if (!old) return old.error();
      std::optional<int64_t> roll;
      if (*old) roll = **old + window_seconds(kWindows[i]);
      return budget_error(scope, window_name(kWindows[i]), *lim, t->window[i], requested, amount, fee, roll);
    }
  }
  if (caps.lifetime_msat && sat_add(t->lifetime, requested) > *caps.lifetime_msat)
    return budget_error(scope, "lifetime", *caps.lifetime_msat, t->lifetime, requested, amount, fee, std::nullopt);
  return Ok{};
}

Result<std::vector<WindowStatus>> window_status(Db& db, int64_t now, const Caps& caps, const Filter& f) {
  auto t = sum_counted(db, now, f, 0x1f);
  if (!t) return t.error();
  std::vector<WindowStatus> out;
  for (int i = 0; i < 4; ++i) {
    WindowStatus ws;
    ws.window = window_name(kWindows[i]);
    ws.limit_msat = caps.window(kWindows[i]);
    ws.spent_msat = t->window[i];
    if (ws.limit_msat) ws.remaining_msat = t->window[i] >= *ws.limit_msat ? 0 : *ws.limit_msat - t->window[i];
    if (t->window[i] > 0) {
      auto old = oldest_in_window(db, now, f, i);
      if (!old) return old.error();
      if (*old) ws.next_rolloff = **old + window_seconds(kWindows[i]);
    }
    out.push_back(ws);
  }
  WindowStatus lt;
  lt.window = "lifetime";
  lt.limit_msat = caps.lifetime_msat;
  lt.spent_msat = t->lifetime;
  if (lt.limit_msat) lt.remaining_msat = t->lifetime >= *lt.limit_msat ? 0 : *lt.limit_msat - t->lifetime;
  out.push_back(lt);
  return out;
}

// "YYYY-MM-DD" (UTC) of a day number (days since 1970-01-01).
std::string utc_day(int64_t day) {
  const time_t t = static_cast<time_t>(day * 86400);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

json opt_json(const std::optional<uint64_t>& v) { return v ? json(*v) : json(nullptr); }
json opt_json(const std::optional<int64_t>& v) { return v ? json(*v) : json(nullptr); }

json scope_json(const ScopeStatus& s) {
  json w = json::array();
  for (const auto& ws : s.windows)
    w.push_back({{"window", ws.window},
                 {"limit_msat", opt_json(ws.limit_msat)},
                 {"limit_sats", ws.limit_msat ? json(msat_to_sat_ceil(*ws.limit_msat)) : json(nullptr)},
                 {"spent_msat", ws.spent_msat},
                 {"spent_sats", msat_to_sat_ceil(ws.spent_msat)},
                 {"remaining_msat", opt_json(ws.remaining_msat)},
                 {"remaining_sats", ws.remaining_msat ? json(*ws.remaining_msat / 1000) : json(nullptr)},
                 {"next_rolloff", opt_json(ws.next_rolloff)}});
  json j = {{"scope", s.scope}, {"per_call_msat", opt_json(s.per_call_msat)}, {"windows", w}};
  if (s.expires_at) j["expires_at"] = *s.expires_at;
  return j;
}

json bucket_json(const ReportBucket& b) {
  return {{"settled_count", b.settled_count},   {"settled_amount_msat", b.settled_amount_msat},
          {"settled_fee_msat", b.settled_fee_msat}, {"settled_total_sats", msat_to_sat_ceil(b.settled_amount_msat + b.settled_fee_msat)},
          {"pending_count", b.pending_count},   {"pending_msat", b.pending_msat},
          {"unknown_count", b.unknown_count},   {"failed_count", b.failed_count},
          {"released_count", b.released_count}};
}

}  // namespace

// ---------------------------------------------------------------- free functions
uint64_t Payment::counted_msat() const {
  if (!counts_against_budget(state)) return 0;
  return amount_msat + fee_msat.value_or(max_fee_msat);
}

json to_json(const Payment& p, bool include_preimage) {
  json j = {{"id", p.id},
            {"client", p.client},
            {"envelope", p.envelope},
            {"domain", p.domain},
            {"tool", p.tool},
            {"protocol", p.protocol},
            {"invoice", p.invoice},
            {"payment_hash", p.payment_hash},
            {"amount_msat", p.amount_msat},
            {"amount_sats", msat_to_sat_ceil(p.amount_msat)},
            {"max_fee_msat", p.max_fee_msat},
            {"fee_msat", opt_json(p.fee_msat)},
            {"state", state_name(p.state)},
            {"error_code", p.error_code.empty() ? json(nullptr) : json(p.error_code)},
            {"created_at", p.created_at},
            {"updated_at", p.updated_at},
            {"settled_at", opt_json(p.settled_at)},
            {"latency_ms", opt_json(p.latency_ms)}};
  if (include_preimage) j["preimage"] = p.preimage.empty() ? json(nullptr) : json(p.preimage);
  if (!p.request_id.empty()) j["request_id"] = p.request_id;
  return j;
}

json to_json(const StatusReport& s) {
  json d = json::array(), e = json::array();
  for (const auto& x : s.domains) d.push_back(scope_json(x));
  for (const auto& x : s.envelopes) e.push_back(scope_json(x));
  return {{"now", s.now},          {"global", scope_json(s.global)},     {"domains", d},
          {"envelopes", e},        {"pending_count", s.pending_count}, {"unknown_count", s.unknown_count},
          {"fee_excess", {{"count", s.fee_excess_count}, {"excess_msat", s.fee_excess_msat},
                          {"last_at", opt_json(s.fee_excess_last_at)}}}};
}

json to_json(const SpendReport& r) {
  json d = json::object(), day = json::object();
  for (const auto& [k, b] : r.by_domain) d[k] = bucket_json(b);
  for (const auto& [k, b] : r.by_day) day[k] = bucket_json(b);
  return {{"since", r.since}, {"until", r.until}, {"total", bucket_json(r.total)}, {"by_domain", d}, {"by_day", day}};
}

// The cap a run-time tightening set for an envelope (envelope_tightenings), if any.
Result<std::optional<uint64_t>> envelope_tightening(Db& d, const std::string& name) {
  auto st = d.prepare("SELECT cap_msat FROM envelope_tightenings WHERE name = ?1");
  if (!st) return db_error(d, "prepare");
  st->bind(1, name);
  int rc = st->step();
  if (rc == kDone) return std::optional<uint64_t>{};
  if (rc != kRow) return db_error(d, "read", rc);
  return std::optional<uint64_t>(static_cast<uint64_t>(st->i64(0)));
}

// ---------------------------------------------------------------- Impl
// A ledger call waiting for (or running in) a group-committed transaction. Shared between the caller and the
// leader that runs it, so the leader may still signal it after the caller has returned.
struct Job {
  enum State { waiting, lead, done };
  std::function<bool(Db&)> fn;   // runs inside the batch transaction; false → its work is rolled back
  std::optional<Error> failure;  // set when the transaction as a whole failed
  // waiting → lead (handed the leader role) | done. Each job has its own mutex and condition variable so a
  // wake-up touches only its thread; the signaller releases the mutex before notifying, so the woken thread
  // does not block on it again. (Not std::atomic::wait: libstdc++ spins with sched_yield before sleeping,
  // which starves the leader when 32 waiters share 2 cores.)
  std::mutex mu;
  std::condition_variable cv;
  State state = waiting;  // guarded by mu

  void signal(State s) {
    {
      std::lock_guard lk(mu);
      state = s;
    }
    cv.notify_one();
  }
  State wait() {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return state != waiting; });
    return state;
  }
};
using JobPtr = std::shared_ptr<Job>;

// WAL checkpoints. SQLite's automatic checkpoint runs inside the COMMIT of whichever caller crosses 1000 WAL
// frames (two extra fsyncs plus page copies on a payer's path). Instead the writer connection's WAL hook wakes a
// background thread with its own connection, which checkpoints (PASSIVE: never blocks a writer) from
// opts.checkpoint_frames on. The WAL restarts from its start at the next write after a checkpoint that
// backfilled every frame. Under a sustained write load a background checkpoint may never catch the last frames,
// so at opts.wal_max_frames the committing leader checkpoints inline: WAL growth stays bounded.

struct Ledger::Impl {
  Impl(std::string p, const Clock& c, LedgerOptions o) : path(std::move(p)), clock(c), opts(o) {
    opts.checkpoint_frames = std::max(1, opts.checkpoint_frames);
    opts.wal_max_frames = std::max(opts.checkpoint_frames, opts.wal_max_frames);
    ck_trigger = opts.checkpoint_frames;
  }
  ~Impl() { stop_checkpointer(); }

  std::string path;  // the SQLite file, or the PostgreSQL URL without its password
  const Clock& clock;
  LedgerOptions opts;
  detail::SqliteDb db;  // SQLite: the one connection the group-commit leader uses
  // PostgreSQL: a bounded pool; every call runs in its own transaction on one of its connections (run_pg).
  std::unique_ptr<detail::PgPool> pg;
  std::string instance;  // this Ledger's instance id (payments.instance; leases' holder)

  mutable std::mutex pol_mu;
  Policy configured;
  std::shared_ptr<const Policy> effective;  // replaced (never mutated) so readers can hold a snapshot
  int64_t overrides_rev = -1;  // rev of policy_overrides last merged; -1 forces a reload
  std::vector<Envelope> envs;

  // Group commit: callers queue jobs; the first caller to find no leader becomes the leader, runs a batch of
  // queued jobs in one BEGIN IMMEDIATE transaction (each job in its own savepoint when there are several) and
  // commits once (one fsync for the whole batch). After the commit it first hands the leader role to the
  // oldest waiting job, if any (so the next batch starts at once), then wakes the finished callers, each
  // through its own condition variable (no thundering herd; q_mu is not held while waking them).
  std::mutex q_mu;
  std::deque<JobPtr> queue;
  bool leader = false;

  // Counters (LedgerStats).
  std::atomic<uint64_t> n_commits{0}, n_jobs{0}, n_max_batch{0}, n_bg_ckpt{0}, n_inline_ckpt{0};
  std::atomic<int> wal_frames{0};

  // Background checkpointer.
  detail::SqliteDb ckdb;
  std::thread ck_thread;
  std::mutex ck_mu;
  std::condition_variable ck_cv;
  bool ck_stop = false;                // guarded by ck_mu
  bool ck_in_progress = false;         // the checkpointer is inside sqlite3_wal_checkpoint_v2; guarded by ck_mu
  std::condition_variable ck_idle_cv;  // signalled when ck_in_progress turns false
  uint64_t wal_epoch = 0;              // WAL restarts seen by the hook; guarded by ck_mu
  std::atomic<bool> ck_wanted{false};  // the checkpointer is woken or busy; written under ck_mu
  std::atomic<bool> ck_mark{false};    // the WAL reached ck_trigger since the last attempt; written under ck_mu
  std::atomic<bool> batch_active{false};  // a leader is running a batch (or its own checkpoint) on `db`
  std::atomic<int64_t> last_batch_ns{0};  // steady clock when the last batch ended
  std::atomic<int> ck_trigger{0};      // WAL frames at which the hook wakes the checkpointer; written under ck_mu
  std::atomic<uint64_t> commit_seq{0};  // writing commits of `db` (bumped by the hook after wal_frames)
  std::atomic<uint64_t> clean_seq{~uint64_t{0}};  // commit_seq when a checkpoint was known to cover every frame

  void submit(const JobPtr& job) {
    std::unique_lock lk(q_mu);
    queue.push_back(job);
    if (leader) {
      lk.unlock();
      if (job->wait() == Job::done) return;
      lk.lock();  // handed the leader role; our job is at the front of the queue
    } else {
      leader = true;
    }
    std::vector<JobPtr> batch;
    for (bool own_done = false; !own_done;) {
      batch.clear();
      const size_t cap = std::max<size_t>(1, opts.max_batch);
      while (!queue.empty() && batch.size() < cap) {
        batch.push_back(std::move(queue.front()));
        queue.pop_front();
      }
      lk.unlock();
      batch_active.store(true);
      const bool wal_full = run_batch(batch);
      own_done = std::find(batch.begin(), batch.end(), job) != batch.end();
      if (wal_full) {
        // The WAL reached its hard bound: checkpoint here (the connection is ours until the role is handed
        // on), after releasing this batch's other callers, whose commit is already durable.
        for (const JobPtr& j : batch)
          if (j != job) j->signal(Job::done);
        inline_checkpoint();
      }
      last_batch_ns.store(now_ns(), std::memory_order_relaxed);
      batch_active.store(false);  // seq_cst: pairs with the checkpointer giving up (no lost wake-up)
      JobPtr next;
      lk.lock();
      if (own_done) {
        if (queue.empty())
          leader = false;
        else
          next = queue.front();
      }
      lk.unlock();
      if (next) next->signal(Job::lead);  // first, so that the next batch starts at once
      if (!wal_full)
        for (const JobPtr& j : batch)
          if (j != job) j->signal(Job::done);
      if (own_done && !next && ck_thread.joinable() && checkpoint_due() && !ck_wanted.load())
        wake_checkpointer(false);  // the ledger may be idle now
      if (!own_done) lk.lock();
    }
  }

  // The leader's own checkpoint at the WAL's hard bound. A background checkpoint running at the same moment
  // holds the checkpoint lock (SQLITE_BUSY): wait for it to end and try once more, so the bound holds.
  void inline_checkpoint() {
    int rc = sqlite3_wal_checkpoint_v2(db.handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    if ((rc & 0xff) == SQLITE_BUSY && ck_thread.joinable()) {
      {
        std::unique_lock lk(ck_mu);
        ck_idle_cv.wait_for(lk, std::chrono::seconds(2), [&] { return !ck_in_progress; });
      }
      rc = sqlite3_wal_checkpoint_v2(db.handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    }
    if (rc == kOk) n_inline_ckpt.fetch_add(1, std::memory_order_relaxed);
  }

  // Cached prepared statements for transaction control (sqlite3_exec would re-parse them every time).
  int control(Db& d, const std::string& sql) {
    auto st = d.prepare(sql);
    if (!st) return SQLITE_ERROR;
    int rc = st->run();
    return rc == kDone ? kOk : rc;
  }

  static void fail_all(const std::vector<JobPtr>& batch, const Error& e) {
    for (const JobPtr& j : batch) j->failure = e;
  }

  // Runs one batch in one transaction. True when the WAL has reached the bound at which the leader must
  // checkpoint itself.
  bool run_batch(const std::vector<JobPtr>& batch) {
    static const std::string kBegin = "BEGIN IMMEDIATE", kCommit = "COMMIT", kRollback = "ROLLBACK",
                             kSavepoint = "SAVEPOINT sw_job", kRelease = "RELEASE sw_job",
                             kRollbackTo = "ROLLBACK TO sw_job";
    int rc = control(db, kBegin);
    if (rc != kOk) {
      fail_all(batch, db_error(db, "begin", rc));
      return false;
    }
    const int64_t changes_before = sqlite3_total_changes64(db.handle());
    // A single job needs no savepoint: when it fails, the whole transaction is rolled back.
    const bool savepoints = batch.size() > 1;
    bool any_ok = false;
    for (const JobPtr& j : batch) {
      if (savepoints && (rc = control(db, kSavepoint)) != kOk) {
        j->failure = db_error(db, "savepoint", rc);
        continue;
      }
      bool ok = false;
      try {
        ok = j->fn(db);
      } catch (const std::exception&) {
        j->failure = make_error("LEDGER_ERROR", "internal error in ledger operation");
      }
      if (!db.in_transaction()) {  // SQLite aborted the whole transaction (I/O error, disk full, ...)
        fail_all(batch, make_error("LEDGER_ERROR", "ledger transaction aborted: " + db.last_error()));
        return false;
      }
      any_ok = any_ok || ok;
      if (savepoints) {
        if (!ok) control(db, kRollbackTo);
        control(db, kRelease);
      }
    }
    if (!any_ok) {  // nothing to keep (e.g. a refused reservation): no commit, no fsync
      rc = control(db, kRollback);
      if (rc != kOk && db.in_transaction()) fail_all(batch, db_error(db, "rollback", rc));
      return false;
    }
    rc = control(db, kCommit);
    if (rc != kOk) {
      Error e = db_error(db, "commit", rc);
      if (db.in_transaction()) control(db, kRollback);
      fail_all(batch, e);
      return false;
    }
    if (sqlite3_total_changes64(db.handle()) == changes_before) return false;  // read-only: wrote nothing
    n_commits.fetch_add(1, std::memory_order_relaxed);
    n_jobs.fetch_add(batch.size(), std::memory_order_relaxed);
    uint64_t mb = n_max_batch.load(std::memory_order_relaxed);
    while (batch.size() > mb && !n_max_batch.compare_exchange_weak(mb, batch.size())) {
    }
    // Bounded WAL growth: the leader checkpoints only when the background checkpointer could not (or is
    // unavailable).
    return wal_frames.load(std::memory_order_relaxed) >=
           (ck_thread.joinable() ? opts.wal_max_frames : opts.checkpoint_frames);
  }

  // Runs f(Db&) → Result<T> in a (group-committed) transaction; returns after the commit.
  template <class T, class F>
  Result<T> run(F&& f) {
    if (pg) return run_pg<T>(f, PgTxn::locked);
    std::optional<Result<T>> out;
    auto job = std::make_shared<Job>();
    job->fn = [&](Db& d) {
      out.emplace(f(d));
      return out->ok();
    };
    submit(job);
    if (job->failure) return *job->failure;
    if (!out) return make_error("LEDGER_ERROR", "ledger operation did not run");
    return std::move(*out);
  }

  // PostgreSQL: f in its own transaction on a pooled connection. Writers are serialized fleet-wide either by
  // the ledger_lock row (lock mode, the default: every call takes it FOR UPDATE, as SQLite's BEGIN IMMEDIATE
  // serializes writers on one file — every reservation reads the global budget scope anyway) or by SERIALIZABLE
  // isolation, where a conflicting transaction fails with 40001 and is run again (LedgerOptions::pg_serializable;
  // tests/bench compares both). A transaction is retried only when it certainly did not commit: a failed BEGIN,
  // a serialization failure or deadlock (LEDGER_BUSY) — never a COMMIT whose outcome was lost with the connection.
  // A read-only call: on PostgreSQL without the writers' lock (a consistent snapshot is enough for what it
  // returns; it decides nothing it then writes). On SQLite the same as run().
  template <class T, class F>
  Result<T> read(F&& f) {
    if (pg) return run_pg<T>(f, PgTxn::read_only);
    return run<T>(f);
  }
  // A write confined to one payment row that checks the row's state in its own UPDATE (apply(): `WHERE id AND
  // state = from`, one row changed or ILLEGAL_TRANSITION) plus upserts of the budget totals: on PostgreSQL
  // without the writers' lock (row locks order it), so settling never queues behind reservations.
  template <class T, class F>
  Result<T> run_row(F&& f) {
    if (pg) return run_pg<T>(f, PgTxn::row);
    return run<T>(f);
  }

  enum class PgTxn { locked, row, read_only };
  template <class T, class F>
  Result<T> run_pg(F&& f, PgTxn kind) {
    const bool writer = kind != PgTxn::read_only;
    const int attempts = opts.pg_serializable ? 40 : 4;
    thread_local std::minstd_rand jitter(std::random_device{}());
    for (int attempt = 1;; ++attempt) {
      auto conn = pg->acquire();
      if (!conn) return conn.error();
      detail::PgDb& d = **conn;
      std::optional<Result<T>> out;
      bool retry = false;
      int rc = d.exec(!writer                 ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
                      : opts.pg_serializable ? "BEGIN ISOLATION LEVEL SERIALIZABLE"
                                             : "BEGIN");
      if (rc == kOk && kind == PgTxn::locked && !opts.pg_serializable)
        rc = d.exec("SELECT id FROM ledger_lock WHERE id = 1 FOR UPDATE");
      if (rc != kOk) {
        out.emplace(d.error("begin", rc));
        retry = rc == detail::kPgBusy || rc == detail::kPgUnavailable;  // nothing ran yet
      } else {
        try {
          out.emplace(f(d));
        } catch (const std::exception&) {
          out.emplace(make_error("LEDGER_ERROR", "internal error in ledger operation"));
        }
        if (out->ok()) {
          rc = d.exec("COMMIT");
          if (rc != kOk) {
            out.emplace(d.error("commit", rc));
            retry = rc == detail::kPgBusy;  // a serialization failure at commit: rolled back
          } else {
            n_commits.fetch_add(1, std::memory_order_relaxed);
            n_jobs.fetch_add(1, std::memory_order_relaxed);
          }
        } else {
          retry = out->error().code == "LEDGER_BUSY";
        }
      }
      if (d.in_transaction() || d.transaction_failed()) d.exec("ROLLBACK");
      pg->release(std::move(*conn));
      if (!retry || attempt >= attempts) return std::move(*out);
      const int cap_ms = std::min(50, 1 << std::min(attempt, 6));
      std::this_thread::sleep_for(std::chrono::microseconds(500 + jitter() % (1000u * static_cast<unsigned>(cap_ms))));
    }
  }

  // ---- background checkpoints
  // Runs inside every writing COMMIT of `db` (in the leader): records the WAL size and wakes the checkpointer
  // when the WAL reaches the next mark. Takes ck_mu only when the WAL restarted or a mark was reached.
  static int wal_hook(void* arg, sqlite3*, const char*, int frames) {
    auto* im = static_cast<Impl*>(arg);
    if (frames < im->wal_frames.exchange(frames)) {  // the WAL restarted
      std::lock_guard lk(im->ck_mu);
      ++im->wal_epoch;
      im->ck_trigger.store(im->opts.checkpoint_frames, std::memory_order_relaxed);
    }
    im->commit_seq.fetch_add(1);
    if (frames >= im->ck_trigger.load(std::memory_order_relaxed) && !im->ck_mark.load(std::memory_order_relaxed))
      im->wake_checkpointer(true);
    return kOk;
  }

  static int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  // A checkpoint is due: the WAL has reached checkpoint_frames since it last restarted, and no checkpoint has
  // been seen to cover every frame since the last commit.
  bool checkpoint_due() const {
    const uint64_t seq = commit_seq.load();
    return wal_frames.load() >= opts.checkpoint_frames && clean_seq.load() != seq;
  }

  // mark: the WAL reached the next mark (from the hook); otherwise a leader leaving the ledger idle, which
  // wakes the checkpointer only for a due checkpoint.
  void wake_checkpointer(bool mark) {
    std::lock_guard lk(ck_mu);
    if (mark) ck_mark.store(true, std::memory_order_relaxed);
    if (ck_wanted.load(std::memory_order_relaxed) || (!mark && !checkpoint_due())) return;
    ck_wanted.store(true, std::memory_order_relaxed);
    ck_cv.notify_one();
  }

  void start_checkpointer() {
    // Without a second connection the leader checkpoints at checkpoint_frames (SQLite's default cadence).
    if (!ckdb.open(path).empty()) return;
    sqlite3_busy_timeout(ckdb.handle(), std::max(0, opts.busy_timeout_ms));  // PASSIVE checkpoints never wait
    // The checkpoint's own fsyncs (WAL before copying, database after) follow this connection's setting.
    if (ckdb.exec(opts.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL") != kOk)
      return;
    // A connection opens the WAL only when it first reads the database; until then a checkpoint is a no-op.
    if (ckdb.exec("SELECT count(*) FROM sqlite_master") != kOk) return;
    ck_thread = std::thread([this] { checkpointer(); });
  }

  void stop_checkpointer() {
    if (!ck_thread.joinable()) return;
    {
      std::lock_guard lk(ck_mu);
      ck_stop = true;
    }
    ck_cv.notify_one();
    ck_thread.join();
  }

  // A PASSIVE checkpoint copies the frames committed before it started (two fsyncs: WAL, then database) and
  // never blocks a writer; commits made meanwhile are left behind. Once one has covered every frame, the next
  // write restarts the WAL from its start. So while a checkpoint is due the checkpointer waits for a quiet
  // moment — no batch running and none for kQuiet — and checkpoints then, again until one covers every frame.
  // If none comes within kQuietWait it checkpoints anyway when the WAL has reached its next mark (every
  // checkpoint_frames: progress under a load that never pauses), else it goes back to sleep until the leader
  // of the running batch wakes it again. Waiting for quiet keeps its fsyncs from competing with the payers'
  // own (a concurrent fsync lengthens a commit's) and makes a checkpoint likely to cover every frame. A WAL
  // that never gets a quiet moment is bounded by the leader's own checkpoint at wal_max_frames.
  static constexpr std::chrono::microseconds kQuiet{1000}, kQuietWait{50'000};

  void checkpointer() {
    using std::chrono::nanoseconds;
    const int64_t quiet_ns = nanoseconds(kQuiet).count(), wait_ns = nanoseconds(kQuietWait).count();
    std::unique_lock lk(ck_mu);
    for (;;) {
      ck_cv.wait(lk, [&] { return ck_stop || ck_wanted.load(std::memory_order_relaxed); });
      int64_t deadline = now_ns() + wait_ns;
      for (;;) {
        if (ck_stop) return;
        const bool mark = ck_mark.load(std::memory_order_relaxed);
        if (!mark && !checkpoint_due()) break;  // nothing (left) to do
        const int64_t now = now_ns(), since = now - last_batch_ns.load(std::memory_order_relaxed);
        const bool active = batch_active.load();
        if ((!active && since >= quiet_ns) || (mark && now >= deadline)) {
          const uint64_t seq = commit_seq.load();
          checkpoint_once(lk);
          // Still due although nothing was committed meanwhile (e.g. another process holds the checkpoint
          // lock): pause before trying again rather than spin.
          if (checkpoint_due() && commit_seq.load() == seq &&
              ck_cv.wait_for(lk, kQuietWait, [&] { return ck_stop; }))
            return;
          deadline = now_ns() + wait_ns;
          continue;
        }
        if (now >= deadline) {
          if (active) {
            // Sleep until the running batch's leader wakes us. Store, then load (the leader stores
            // batch_active, then loads ck_wanted; all seq_cst): one of the two sees the other's store, so the
            // wake-up cannot be lost.
            ck_wanted.store(false);
            if (batch_active.load()) break;
            ck_wanted.store(true);  // that batch has just ended: keep waiting for quiet
          }
          deadline = now + wait_ns;
        }
        const int64_t pause = active ? quiet_ns : std::min(quiet_ns - since, deadline - now);
        ck_cv.wait_for(lk, nanoseconds(std::max<int64_t>(pause, 1000)), [&] { return ck_stop; });
      }
      ck_wanted.store(false);
    }
  }

  // One background checkpoint (ck_mu held on entry and exit, released around the checkpoint itself).
  void checkpoint_once(std::unique_lock<std::mutex>& lk) {
    ck_mark.store(false, std::memory_order_relaxed);
    const uint64_t epoch = wal_epoch;
    ck_in_progress = true;
    lk.unlock();
    const uint64_t seq = commit_seq.load();
    int log = -1, done = -1;
    const int rc = sqlite3_wal_checkpoint_v2(ckdb.handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    // Every frame our commits wrote up to `seq` is covered (a commit after `seq` makes commit_seq differ).
    if (rc == kOk && log >= 0 && done == log && log >= wal_frames.load()) clean_seq.store(seq);
    lk.lock();
    ck_in_progress = false;
    ck_idle_cv.notify_all();
    if (rc == kOk) n_bg_ckpt.fetch_add(1, std::memory_order_relaxed);
    if (wal_epoch == epoch)  // else the WAL restarted meanwhile and the hook has reset the mark
      ck_trigger.store(std::max(log, wal_frames.load()) + opts.checkpoint_frames, std::memory_order_relaxed);
  }

  // ---- policy overrides (called inside a transaction)
  Status refresh_policy(Db& d) {
    static const std::string kSql = "SELECT rev, policy_json FROM policy_overrides WHERE id = 1";
    auto st = d.prepare(kSql);
    if (!st) return db_error(d, "prepare");
    int rc = st->step();
    if (rc != kRow && rc != kDone) return db_error(d, "policy read", rc);
    int64_t rev = rc == kRow ? st->i64(0) : 0;
    {
      std::lock_guard lk(pol_mu);
      if (rev == overrides_rev) return ok_status();
    }
    std::optional<Policy> over;
    if (rc == kRow && !st->is_null(1)) {
      json j = json::parse(st->text(1), nullptr, false);
      if (j.is_discarded()) return make_error("LEDGER_ERROR", "persisted policy tightenings are unreadable");
      auto p = policy_from_json(j);
      if (!p) return make_error("LEDGER_ERROR", "persisted policy tightenings are invalid: " + p.error().message);
      over = *p;
    }
    auto eff = std::make_shared<const Policy>(over ? stricter_of(configured, *over) : configured);
    std::lock_guard lk(pol_mu);
    effective = std::move(eff);
    overrides_rev = rev;
    return ok_status();
  }

  Status write_overrides(Db& d, const std::optional<Policy>& p, int64_t now) {
    auto st = d.prepare(
        "INSERT INTO policy_overrides(id, rev, policy_json, updated_at) VALUES (1, 1, ?1, ?2) "
        "ON CONFLICT(id) DO UPDATE SET rev = policy_overrides.rev + 1, policy_json = excluded.policy_json, "
        "updated_at = excluded.updated_at");
    if (!st) return db_error(d, "prepare");
    if (p)
      st->bind(1, json_dump(policy_to_json(*p)));
    else
      st->bind_null(1);
    st->bind(2, now);
    int rc = st->run();
    if (rc != kDone) return db_error(d, "policy write", rc);
    return ok_status();
  }

  // ---- state transitions
  struct Change {
    State to;
    std::optional<std::string> error_code;
    std::optional<int64_t> fee_msat;
    std::optional<std::string> preimage;
    std::optional<int64_t> settled_at;
    std::optional<int64_t> latency_ms;
    std::optional<int64_t> request_expires_at = std::nullopt;
    std::optional<std::string> resolved_by = std::nullopt;
  };

  // Inside a transaction: checks the transition from the row's current state and applies it.
  Status apply(Db& d, int64_t id, const Change& c, int64_t now, std::optional<State> expect = std::nullopt) {
    static const std::string kSel =
        "SELECT state, max_fee_msat, amount_msat, fee_msat, created_at, domain, envelope FROM payments WHERE id = ?1";
    auto sel = d.prepare(kSel);
    if (!sel) return db_error(d, "prepare");
    sel->bind(1, id);
    int rc = sel->step();
    if (rc == kDone) return make_error("PAYMENT_NOT_FOUND", "no payment with id " + std::to_string(id));
    if (rc != kRow) return db_error(d, "read", rc);
    auto from = parse_state(sel->text(0));
    const int64_t max_fee = sel->i64(1), amount = sel->i64(2), created_at = sel->i64(4);
    const std::optional<int64_t> old_fee = sel->opt_i64(3);
    const std::string domain = sel->text(5), envelope = sel->text(6);
    sel.reset();
    if (!from) return make_error("LEDGER_ERROR", "payment has an unrecognised state");
    if (expect && *from != *expect)
      return make_error("ILLEGAL_TRANSITION", "payment changed state meanwhile",
                        {{"id", id}, {"from", state_name(*from)}, {"to", state_name(c.to)}});
    if (!transition_allowed(*from, c.to))
      return make_error("ILLEGAL_TRANSITION",
                        std::string("payment ") + std::to_string(id) + " cannot go from " + state_name(*from) +
                            " to " + state_name(c.to),
                        {{"id", id}, {"from", state_name(*from)}, {"to", state_name(c.to)}});
    if (c.fee_msat && *c.fee_msat > max_fee)
      log(LogLevel::warning, "spend",
          "payment " + std::to_string(id) + " settled with a fee of " + std::to_string(*c.fee_msat) +
              " msat, above its allowance of " + std::to_string(max_fee) + " msat: the excess is booked as spent, "
              "and windows it pushes past their cap refuse payments until they have room again");
    // Assign only the columns this change sets: SQLite rewrites every index that holds (or whose condition
    // names) an assigned column, even when the value stays the same (mark_in_flight then touches 2 pages, not 5).
    const bool counted_changes = counts_against_budget(*from) != counts_against_budget(c.to);
    const unsigned mask = (c.error_code ? 1u : 0u) | (c.fee_msat ? 2u : 0u) | (c.preimage ? 4u : 0u) |
                          (c.settled_at ? 8u : 0u) | (c.latency_ms ? 16u : 0u) | (counted_changes ? 32u : 0u) |
                          (c.request_expires_at ? 64u : 0u) | (c.resolved_by ? 128u : 0u);
    static const std::vector<std::string> kUpdates = [] {
      std::vector<std::string> v;
      for (unsigned m = 0; m < 256; ++m) {
        std::string sql = "UPDATE payments SET state = ?1, updated_at = ?2";
        if (m & 1u) sql += ", error_code = ?3";
        if (m & 2u) sql += ", fee_msat = ?4";
        if (m & 4u) sql += ", preimage = ?5";
        if (m & 8u) sql += ", settled_at = ?6";
        if (m & 16u) sql += ", latency_ms = ?7";
        if (m & 32u) sql += ", counted = ?10";
        if (m & 64u) sql += ", request_expires_at = ?11";
        if (m & 128u) sql += ", resolved_by = ?12";
        v.push_back(sql + " WHERE id = ?8 AND state = ?9");
      }
      return v;
    }();
    auto up = d.prepare(kUpdates[mask]);
    if (!up) return db_error(d, "prepare");
    up->bind(1, std::string(state_name(c.to))).bind(2, now);
    if (c.error_code) up->bind(3, *c.error_code);
    if (c.fee_msat) up->bind(4, *c.fee_msat);
    if (c.preimage) up->bind(5, *c.preimage);
    if (c.settled_at) up->bind(6, *c.settled_at);
    if (c.latency_ms) up->bind(7, *c.latency_ms);
    if (counted_changes) up->bind(10, int64_t{counts_against_budget(c.to) ? 1 : 0});
    if (c.request_expires_at) up->bind(11, *c.request_expires_at);
    if (c.resolved_by) up->bind(12, *c.resolved_by);
    up->bind(8, id).bind(9, std::string(state_name(*from)));
    rc = up->run();
    if (rc != kDone) return db_error(d, "update", rc);
    if (d.changes() != 1) return make_error("LEDGER_ERROR", "payment row did not update");
    const int64_t delta = counted_of(c.to, amount, c.fee_msat ? c.fee_msat : old_fee, max_fee) -
                          counted_of(*from, amount, old_fee, max_fee);
    return add_totals(d, created_at, domain, envelope, delta);
  }

  // Records what the wallet said about a payment. only_unknown: a non-final answer (pending, NOT_FOUND, a lookup
  // error) is recorded only while the row is still unknown — a lookup that finishes after a notification settled
  // the row must not write "NOT_FOUND" over it (ILLEGAL_TRANSITION then).
  Status note_said(Db& d, int64_t id, const std::string& said, int64_t now, bool only_unknown = false) {
    static const std::string kAny = "UPDATE payments SET wallet_said = ?1, wallet_said_at = ?2 WHERE id = ?3";
    static const std::string kUnknown = kAny + " AND state = 'unknown'";
    auto st = d.prepare(only_unknown ? kUnknown : kAny);
    if (!st) return db_error(d, "prepare");
    st->bind(1, said.substr(0, 120)).bind(2, now).bind(3, id);
    if (int rc = st->run(); rc != kDone) return db_error(d, "update", rc);
    if (only_unknown && d.changes() != 1)
      return make_error("ILLEGAL_TRANSITION", "payment " + std::to_string(id) + " is no longer unknown",
                        {{"id", id}});
    return ok_status();
  }

  Status transition(int64_t id, const Change& c) {
    int64_t now = clock.now_unix();
    return run_row<Ok>([&](Db& d) -> Status { return apply(d, id, c, now); });
  }

  // ---- reservation (inside the transaction)
  Result<Reservation> reserve_in_txn(Db& d, const ReserveRequest& rq, const std::string& domain,
                                     const std::string& hash, int64_t now) {
    if (auto s = refresh_policy(d); !s) return s.error();
    std::shared_ptr<const Policy> pol_snap;
    std::optional<Envelope> env;
    {
      std::lock_guard lk(pol_mu);
      pol_snap = effective;
      if (rq.envelope) {
        for (const auto& e : envs)
          if (e.name == *rq.envelope) env = e;
      }
    }
    const Policy& pol = *pol_snap;
    // 1. Double-pay guard.
    static const std::string kGuard =
        std::string("SELECT id, state FROM payments WHERE payment_hash = ?1 AND ") + kCounted +
        " ORDER BY id DESC LIMIT 1";
    auto g = d.prepare(kGuard);
    if (!g) return db_error(d, "prepare");
    g->bind(1, hash);
    int rc = g->step();
    if (rc == kRow) {
      int64_t pid = g->i64(0);
      std::string st = g->text(1);
      json det = {{"payment_id", pid}, {"state", st}};
      if (st == "settled")
        return make_error("ALREADY_PAID", "this invoice (payment hash) has already been paid", det);
      if (st == "unknown")
        return make_error("PAYMENT_STATE_UNKNOWN",
                          "an earlier attempt to pay this invoice has an unknown outcome; it will be reconciled "
                          "before any retry",
                          det);
      return make_error("PAYMENT_IN_PROGRESS", "a payment of this invoice is already in progress", det);
    }
    if (rc != kDone) return db_error(d, "double-pay check", rc);
    g.reset();
    // 1b. One purchase per scope while one is pending or usable (same transaction as the reservation).
    if (rq.purchase)
      if (auto st = detail::check_no_live_purchase(d, *rq.purchase, now); !st) return st.error();

    // 2. Envelope existence, expiry, protocol (its cap as tightened at run time, if it was).
    if (env) {
      auto t = envelope_tightening(d, env->name);
      if (!t) return t.error();
      if (*t && **t < env->cap_msat) env->cap_msat = **t;
    }
    if (rq.envelope) {
      if (!env)
        return make_error("ENVELOPE_UNKNOWN", "no budget envelope named '" + *rq.envelope + "'",
                          {{"envelope", *rq.envelope}});
      if (env->expires_at && now >= *env->expires_at)
        return make_error("ENVELOPE_EXPIRED", "budget envelope '" + env->name + "' has expired",
                          {{"envelope", env->name}, {"expired_at", *env->expires_at}});
      if (env->protocols &&
          std::find(env->protocols->begin(), env->protocols->end(), rq.protocol) == env->protocols->end())
        return make_error("PROTOCOL_NOT_ALLOWED",
                          "protocol " + rq.protocol + " is not allowed in budget envelope '" + env->name + "'",
                          {{"scope", "envelope:" + env->name}, {"protocol", rq.protocol}});
    }
    // 3. Protocol and domain lists.
    if (std::find(pol.protocols.begin(), pol.protocols.end(), rq.protocol) == pol.protocols.end())
      return make_error("PROTOCOL_NOT_ALLOWED", "protocol " + rq.protocol + " is not allowed by the spend policy",
                        {{"scope", "global"}, {"protocol", rq.protocol}, {"allowed", pol.protocols}});
    if (!domain.empty()) {
      for (const auto& p : pol.deny_domains)
        if (domain_matches(p, domain))
          return make_error("DOMAIN_NOT_ALLOWED", "payments to " + domain + " are denied by the spend policy",
                            {{"domain", domain}, {"reason", "denied"}, {"pattern", p}});
      if (pol.allow_domains &&
          std::none_of(pol.allow_domains->begin(), pol.allow_domains->end(),
                       [&](const std::string& p) { return domain_matches(p, domain); }))
        return make_error("DOMAIN_NOT_ALLOWED", domain + " is not in the spend policy's allowed domains",
                          {{"domain", domain}, {"reason", "not_allowed"}});
    }
    // 4. Per-call caps.
    const uint64_t fee = pol.fee.for_amount(rq.amount_msat);
    const uint64_t requested = rq.amount_msat + fee;
    std::vector<std::pair<std::string, const Caps*>> domain_caps;
    if (!domain.empty())
      for (const auto& [pat, caps] : pol.domains)
        if (domain_matches(pat, domain)) domain_caps.emplace_back(pat, &caps);
    if (pol.global.per_call_msat && rq.amount_msat > *pol.global.per_call_msat)
      return budget_error("global", "per_call", *pol.global.per_call_msat, 0, rq.amount_msat, rq.amount_msat, fee,
                          std::nullopt);
    for (const auto& [pat, caps] : domain_caps)
      if (caps->per_call_msat && rq.amount_msat > *caps->per_call_msat)
        return budget_error("domain:" + pat, "per_call", *caps->per_call_msat, 0, rq.amount_msat, rq.amount_msat,
                            fee, std::nullopt);
    // 5. Windows and lifetime: global, then each matching domain entry, then the envelope.
    if (auto c = check_scope(d, now, pol.global, Filter{}, "global", requested, rq.amount_msat, fee); !c)
      return c.error();
    for (const auto& [pat, caps] : domain_caps)
      if (auto c = check_scope(d, now, *caps, domain_filter(pat), "domain:" + pat, requested, rq.amount_msat, fee);
          !c)
        return c.error();
    if (env) {
      auto t = sum_counted(d, now, Filter{Filter::envelope, env->name}, kLifetimeBit);
      if (!t) return t.error();
      if (sat_add(t->lifetime, requested) > env->cap_msat)
        return budget_error("envelope:" + env->name, "lifetime", env->cap_msat, t->lifetime, requested,
                            rq.amount_msat, fee, std::nullopt);
    }
    // 6. Insert.
    static const std::string kInsert =
        "INSERT INTO payments(client, envelope, domain, tool, protocol, invoice, payment_hash, amount_msat,"
        " max_fee_msat, state, created_at, updated_at, counted, request_id, instance) VALUES (?1, ?2, ?3, ?4, ?5,"
        " ?6, ?7, ?8, ?9, 'reserved', ?10, ?10, 1, ?11, ?12)";
    auto ins = d.prepare(kInsert);
    if (!ins) return db_error(d, "prepare");
    ins->bind(1, rq.client).bind(2, rq.envelope.value_or("")).bind(3, domain).bind(4, rq.tool).bind(5, rq.protocol);
    ins->bind(6, rq.invoice).bind(7, hash).bind(8, static_cast<int64_t>(rq.amount_msat));
    ins->bind(9, static_cast<int64_t>(fee)).bind(10, now).bind(11, rq.request_id).bind(12, instance);
    rc = ins->run();
    if (rc != kDone) return db_error(d, "insert", rc);
    const int64_t new_id = d.last_insert_id();
    if (auto t = add_totals(d, now, domain, rq.envelope.value_or(""), static_cast<int64_t>(requested)); !t)
      return t.error();
    if (rq.purchase)
      if (auto st = detail::insert_purchase(d, *rq.purchase, new_id, now); !st) return st.error();
    if (rq.idempotency)
      if (auto st = detail::link_idempotency(d, *rq.idempotency, new_id, now); !st) return st.error();
    Reservation r;
    r.id = new_id;
    r.payment_hash = hash;
    r.amount_msat = rq.amount_msat;
    r.max_fee_msat = fee;
    // 7. The owner's approval, when the policy asks for it (bound to this row, same transaction).
    auto reasons = detail::approval_reasons(d, pol, env, domain, rq.amount_msat);
    if (!reasons) return reasons.error();
    if (!reasons->empty()) {
      if (!rq.approval)
        return make_error("APPROVAL_UNAVAILABLE",
                          "this payment needs the owner's approval (" + (*reasons)[0] +
                              "), but no approval channel is running; nothing was paid",
                          {{"reasons", *reasons}});
      auto made = detail::insert_approval(d, new_id, *reasons, *rq.approval, now);
      if (!made) return made.error();
      r.approval_secrets = made->second;
      auto a = detail::read_approval(d, made->first);
      if (!a) return a.error();
      r.approval = *a;
    }
    return r;
  }

  Result<Payment> one_payment(Db& d, const std::string& where, const std::function<void(Stmt&)>& binder) {
    auto st = d.prepare(std::string("SELECT ") + kCols + " FROM payments WHERE " + where);
    if (!st) return db_error(d, "prepare");
    binder(*st);
    int rc = st->step();
    if (rc == kDone) return make_error("PAYMENT_NOT_FOUND", "no such payment in the ledger");
    if (rc != kRow) return db_error(d, "read", rc);
    return read_payment(*st);
  }
};

// ---------------------------------------------------------------- Ledger
Ledger::Ledger(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Ledger::~Ledger() = default;
const std::string& Ledger::path() const { return impl_->path; }
const std::string& Ledger::instance() const { return impl_->instance; }
Status Ledger::txn(const std::function<Status(Db&)>& f) { return impl_->run<Ok>(f); }
Status Ledger::read_txn(const std::function<Status(Db&)>& f) { return impl_->read<Ok>(f); }
int64_t Ledger::now() const { return impl_->clock.now_unix(); }

LedgerStats Ledger::stats() const {
  const Impl& im = *impl_;
  LedgerStats s;
  s.commits = im.n_commits.load(std::memory_order_relaxed);
  s.jobs = im.n_jobs.load(std::memory_order_relaxed);
  s.max_batch = im.n_max_batch.load(std::memory_order_relaxed);
  s.background_checkpoints = im.n_bg_ckpt.load(std::memory_order_relaxed);
  s.inline_checkpoints = im.n_inline_ckpt.load(std::memory_order_relaxed);
  s.wal_frames = im.wal_frames.load(std::memory_order_relaxed);
  s.checkpoint_pending = im.ck_wanted.load() || im.checkpoint_due();
  return s;
}

Result<std::unique_ptr<Ledger>> Ledger::open(const std::string& path, const Policy& configured, const Clock& clock,
                                             LedgerOptions opts) {
  if (path.empty()) return make_error("INVALID_ARGUMENT", "ledger path is empty");
  auto norm = normalize_policy(configured);
  if (!norm) return norm.error();
  if (detail::is_postgres_url(path)) return open_postgres(path, *norm, clock, opts);

  // Create the file ourselves so it is 0600 from the first byte (SQLite would use 0644 & ~umask). SQLite gives
  // the -wal/-shm files the main file's mode; they are re-checked below anyway.
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return make_error("LEDGER_ERROR", "cannot create the ledger file: " + std::string(std::strerror(errno)));
  struct stat sb {};
  if (fstat(fd, &sb) == 0 && (sb.st_mode & 077) != 0 && fchmod(fd, 0600) != 0) {
    int e = errno;
    ::close(fd);
    return make_error("LEDGER_ERROR", "cannot restrict the ledger file's mode: " + std::string(std::strerror(e)));
  }
  ::close(fd);

  // Memory (process-wide, effective only before SQLite's first use): no up-front page-cache bulk of 20 pages
  // (~87 KB per connection); cache pages are allocated one by one as they are needed.
  static std::once_flag sqlite_memory_config;
  std::call_once(sqlite_memory_config, [] { sqlite3_config(SQLITE_CONFIG_PAGECACHE, nullptr, 0, 0); });
  auto impl = std::make_unique<Impl>(path, clock, opts);
  detail::SqliteDb& db = impl->db;
  if (std::string err = db.open(path); !err.empty())
    return make_error("LEDGER_ERROR", "cannot open the ledger: " + err);
  sqlite3_busy_timeout(db.handle(), std::max(0, opts.busy_timeout_ms));

  {
    auto st = db.prepare("PRAGMA journal_mode=WAL");
    if (!st) return db_error(db, "prepare");
    int rc = st->step();
    if (rc != kRow || ascii_lower(st->text(0)) != "wal") return db_error(db, "enabling WAL", rc);
  }
  if (int rc = db.exec(opts.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
      rc != kOk)
    return db_error(db, "setting synchronous", rc);

  // Migrations, all in one IMMEDIATE transaction so two processes starting together do not race.
  if (int rc = db.exec("BEGIN IMMEDIATE"); rc != kOk) return db_error(db, "begin", rc);
  auto migrate = [&]() -> Status {
    auto st = db.prepare("PRAGMA user_version");
    if (!st) return db_error(db, "prepare");
    int rc = st->step();
    if (rc != kRow) return db_error(db, "reading the schema version", rc);
    const int64_t version = st->i64(0);
    st.reset();  // a statement left active would lock the tables a migration drops
    const auto& steps = detail::sqlite_migrations();
    if (version > static_cast<int64_t>(steps.size()))
      return make_error("LEDGER_SCHEMA_TOO_NEW", "the ledger was written by a newer satwarden (schema v" +
                                                     std::to_string(version) + ")");
    for (size_t v = static_cast<size_t>(version); v < steps.size(); ++v) {
      if ((rc = db.exec(steps[v])) != kOk) return db_error(db, "migration", rc);
      if ((rc = db.exec("PRAGMA user_version=" + std::to_string(v + 1))) != kOk)
        return db_error(db, "migration", rc);
    }
    return rebuild_totals(db);
  };
  if (auto s = migrate(); !s) {
    db.exec("ROLLBACK");
    return s.error();
  }
  if (int rc = db.exec("COMMIT"); rc != kOk) {
    db.exec("ROLLBACK");
    return db_error(db, "commit", rc);
  }
  for (const char* suffix : {"-wal", "-shm"}) {
    std::string side = path + suffix;
    struct stat ss {};
    if (::stat(side.c_str(), &ss) == 0 && (ss.st_mode & 077) != 0) ::chmod(side.c_str(), 0600);
  }
  // Checkpoints leave the payers' path (see Impl::checkpointer): the hook replaces SQLite's auto-checkpoint.
  sqlite3_wal_hook(db.handle(), &Impl::wal_hook, impl.get());
  impl->start_checkpointer();

  return finish_open(std::move(impl), *norm);
}

Result<std::unique_ptr<Ledger>> Ledger::finish_open(std::unique_ptr<Impl> impl, const Policy& configured) {
  if (impl->opts.instance.empty()) {
    std::random_device rd;
    char buf[17];
    std::snprintf(buf, sizeof buf, "%08x%08x", rd(), rd());
    impl->instance = buf;
  } else {
    impl->instance = impl->opts.instance.substr(0, 64);
  }
  impl->configured = configured;
  impl->effective = std::make_shared<const Policy>(configured);
  std::unique_ptr<Ledger> ledger(new Ledger(std::move(impl)));
  Impl& im = *ledger->impl_;
  auto loaded = im.run<Ok>([&](Db& d) -> Status { return im.refresh_policy(d); });
  if (!loaded) return loaded.error();
  static_assert(kSchemaVersion == 8, "add a migration step (both backends) when bumping the schema version");
  return ledger;
}

// PostgreSQL: migrations in one transaction under an advisory lock (instances starting together migrate once;
// the others wait, then find the schema current). The budget totals are rebuilt from the rows only after a
// migration, with the tables locked against writers (in a fleet, every other instance keeps them exact).
Result<std::unique_ptr<Ledger>> Ledger::open_postgres(const std::string& url, const Policy& configured,
                                                      const Clock& clock, LedgerOptions opts) {
  auto impl = std::make_unique<Impl>(detail::redact_postgres_url(url), clock, opts);
  impl->pg = std::make_unique<detail::PgPool>(url, opts.pg_max_connections,
                                              std::chrono::milliseconds(std::max(1, opts.pg_acquire_timeout_ms)));
  auto conn = impl->pg->acquire();
  if (!conn) return conn.error();
  detail::PgDb& db = **conn;
  auto migrate = [&]() -> Status {
    int rc = db.exec("BEGIN");
    if (rc == kOk) rc = db.exec("SELECT pg_advisory_xact_lock(" + std::to_string(detail::kPgMigrationLock) + ")");
    if (rc == kOk)
      rc = db.exec("CREATE TABLE IF NOT EXISTS satwarden_schema (id INTEGER PRIMARY KEY CHECK (id = 1), "
                   "version INTEGER NOT NULL)");
    if (rc != kOk) return db_error(db, "migration", rc);
    auto st = db.prepare("SELECT version FROM satwarden_schema WHERE id = 1");
    if (!st) return db_error(db, "prepare");
    rc = st->step();
    if (rc != kRow && rc != kDone) return db_error(db, "reading the schema version", rc);
    const int64_t version = rc == kRow ? st->i64(0) : 0;
    st.reset();
    const auto& steps = detail::pg_migrations();
    if (version > static_cast<int64_t>(steps.size()))
      return make_error("LEDGER_SCHEMA_TOO_NEW", "the ledger was written by a newer satwarden (schema v" +
                                                     std::to_string(version) + ")");
    if (version == static_cast<int64_t>(steps.size())) return ok_status();
    for (size_t v = static_cast<size_t>(version); v < steps.size(); ++v)
      if (*steps[v] && (rc = db.exec(steps[v])) != kOk) return db_error(db, "migration", rc);
    auto set = db.prepare(
        "INSERT INTO satwarden_schema(id, version) VALUES (1, ?1) ON CONFLICT(id) DO UPDATE SET version = "
        "excluded.version");
    if (!set) return db_error(db, "prepare");
    if ((rc = set->bind(1, static_cast<int64_t>(steps.size())).run()) != kDone) return db_error(db, "migration", rc);
    set.reset();
    if ((rc = db.exec("LOCK TABLE payments, spend_totals IN EXCLUSIVE MODE")) != kOk)
      return db_error(db, "migration", rc);
    return rebuild_totals(db);
  };
  auto st = migrate();
  if (st) {
    if (int rc = db.exec("COMMIT"); rc != kOk) st = db_error(db, "commit", rc);
  }
  if (db.in_transaction() || db.transaction_failed()) db.exec("ROLLBACK");
  impl->pg->release(std::move(*conn));
  if (!st) return st.error();
  return finish_open(std::move(impl), configured);
}

Policy Ledger::policy() const {
  // Pick up tightenings made by other processes (cheap: one row read; re-parsed only when its rev changed).
  // On a database error the last known policy is returned.
  Impl& im = *impl_;
  (void)im.read<Ok>([&](Db& d) -> Status { return im.refresh_policy(d); });
  std::lock_guard lk(impl_->pol_mu);
  return *impl_->effective;
}

Policy Ledger::configured_policy() const {
  std::lock_guard lk(impl_->pol_mu);
  return impl_->configured;
}

Status Ledger::tighten(const Policy& proposed) {
  auto norm = normalize_policy(proposed);
  if (!norm) return norm.error();
  Impl& im = *impl_;
  const int64_t now = im.clock.now_unix();
  auto r = im.run<Ok>([&](Db& d) -> Status {
    if (auto s = im.refresh_policy(d); !s) return s.error();
    Policy cur;
    {
      std::lock_guard lk(im.pol_mu);
      cur = *im.effective;
    }
    if (auto s = check_tighter(cur, *norm); !s) return s.error();
    if (auto s = im.write_overrides(d, *norm, now); !s) return s.error();
    std::lock_guard lk(im.pol_mu);
    im.effective = std::make_shared<const Policy>(stricter_of(im.configured, *norm));
    im.overrides_rev = -1;  // re-read the new rev on next use (also covers a failed commit)
    return ok_status();
  });
  if (!r) {
    std::lock_guard lk(im.pol_mu);
    im.overrides_rev = -1;
    return r.error();
  }
  log(LogLevel::notice, "spend", "spend policy tightened");
  return ok_status();
}

Status Ledger::reset_policy_overrides() {
  Impl& im = *impl_;
  const int64_t now = im.clock.now_unix();
  auto r = im.run<Ok>([&](Db& d) -> Status {
    if (auto s = im.write_overrides(d, std::nullopt, now); !s) return s.error();
    if (int rc = d.exec("DELETE FROM envelope_tightenings"); rc != kOk) return db_error(d, "reset", rc);
    std::lock_guard lk(im.pol_mu);
    im.effective = std::make_shared<const Policy>(im.configured);
    im.overrides_rev = -1;
    return ok_status();
  });
  if (!r) return r.error();
  log(LogLevel::notice, "spend", "persisted spend policy tightenings cleared by the operator");
  return ok_status();
}

Status Ledger::set_envelopes(std::vector<Envelope> envelopes) {
  std::vector<std::string> names;
  for (auto& e : envelopes) {
    if (e.name.empty()) return make_error("POLICY_INVALID", "envelope names must be non-empty");
    if (e.cap_msat > kMaxMsat) return make_error("POLICY_INVALID", "envelope cap is too large");
    if (e.protocols)
      for (auto& p : *e.protocols) {
        p = ascii_lower(p);
        if (std::find(all_protocols().begin(), all_protocols().end(), p) == all_protocols().end())
          return make_error("POLICY_INVALID", "envelope protocols: unknown protocol");
      }
    if (e.ttl_seconds && (*e.ttl_seconds <= 0 || *e.ttl_seconds > (int64_t{1} << 40)))
      return make_error("POLICY_INVALID", "envelope ttl_seconds must be a positive integer");
    names.push_back(e.name);
  }
  std::sort(names.begin(), names.end());
  if (std::adjacent_find(names.begin(), names.end()) != names.end())
    return make_error("POLICY_INVALID", "envelope names must be unique");

  // ttl_seconds envelopes: expires_at = anchored_at + ttl, from the persisted anchor (created the first time a
  // name is seen; re-anchored at now when the configured ttl changed). All anchors in one transaction.
  Impl& im = *impl_;
  struct Anchored {
    std::string name;
    std::optional<int64_t> old_ttl;  // nullopt: a new anchor
    int64_t ttl = 0, anchored_at = 0;
  };
  std::vector<Anchored> changed;
  if (std::any_of(envelopes.begin(), envelopes.end(), [](const Envelope& e) { return e.ttl_seconds.has_value(); })) {
    const int64_t now = im.clock.now_unix();
    auto r = im.run<Ok>([&](Db& d) -> Status {
      changed.clear();
      auto sel = d.prepare("SELECT ttl_seconds, anchored_at FROM envelope_anchors WHERE name = ?1");
      if (!sel) return db_error(d, "prepare");
      auto put = d.prepare(
          "INSERT INTO envelope_anchors(name, ttl_seconds, anchored_at) VALUES (?1, ?2, ?3) "
          "ON CONFLICT(name) DO UPDATE SET ttl_seconds = excluded.ttl_seconds, anchored_at = excluded.anchored_at");
      if (!put) return db_error(d, "prepare");
      for (auto& e : envelopes) {
        if (!e.ttl_seconds) continue;
        sel->rewind();
        sel->bind(1, e.name);
        int rc = sel->step();
        if (rc != kRow && rc != kDone) return db_error(d, "envelope anchor read", rc);
        std::optional<int64_t> old_ttl;
        int64_t anchored_at = now;
        if (rc == kRow) {
          old_ttl = sel->i64(0);
          anchored_at = sel->i64(1);
        }
        sel->rewind();
        if (!old_ttl || *old_ttl != *e.ttl_seconds) {
          anchored_at = now;
          put->rewind();
          put->bind(1, e.name).bind(2, *e.ttl_seconds).bind(3, now);
          if (rc = put->run(); rc != kDone) return db_error(d, "envelope anchor write", rc);
          changed.push_back({e.name, old_ttl, *e.ttl_seconds, now});
        }
        e.expires_at = anchored_at + *e.ttl_seconds;
      }
      return ok_status();
    });
    if (!r) return r.error();
  }
  for (const auto& a : changed) {
    if (a.old_ttl)
      log(LogLevel::notice, "spend",
          "budget envelope '" + a.name + "': ttl_seconds changed from " + std::to_string(*a.old_ttl) + " to " +
              std::to_string(a.ttl) + " by the operator; its lifetime restarts now (expires at " +
              std::to_string(a.anchored_at + a.ttl) + ")");
    else
      log(LogLevel::info, "spend",
          "budget envelope '" + a.name + "' first seen: expires at " + std::to_string(a.anchored_at + a.ttl));
  }
  std::lock_guard lk(im.pol_mu);
  im.envs = std::move(envelopes);
  return ok_status();
}

Status Ledger::tighten_envelope(const std::string& name, std::optional<uint64_t> cap_msat,
                                std::optional<uint64_t> approve_above_msat) {
  Impl& im = *impl_;
  std::optional<Envelope> env;
  {
    std::lock_guard lk(im.pol_mu);
    for (const auto& e : im.envs)
      if (e.name == name) env = e;
  }
  if (!env) return make_error("ENVELOPE_UNKNOWN", "no budget envelope named '" + name + "'", {{"envelope", name}});
  if (!cap_msat && !approve_above_msat) return make_error("INVALID_ARGUMENT", "nothing to tighten");
  const int64_t now = im.clock.now_unix();
  auto r = im.run<Ok>([&](Db& d) -> Status {
    auto t = envelope_tightening(d, name);
    if (!t) return t.error();
    const uint64_t current = *t ? std::min(**t, env->cap_msat) : env->cap_msat;
    if (cap_msat && *cap_msat > current)
      return make_error("POLICY_LOOSEN_REFUSED",
                        "envelope '" + name + "' has a cap of " + std::to_string(current / 1000) +
                            " sats; it can only be lowered",
                        {{"field", "envelope.cap_msat"}, {"fields", json::array({"envelope.cap_msat"})}});
    if (approve_above_msat) {
      // The threshold in force for this envelope: the lowest of the configured one, the policy's global one
      // and an earlier tightening. Raising it would loosen.
      auto cur = detail::envelope_threshold(d, name, env->approve_above_msat);
      if (!cur) return cur.error();
      std::optional<uint64_t> in_force = *cur;
      {
        std::lock_guard lk(im.pol_mu);
        const auto& g = im.effective->global.approve_above_msat;
        if (g && (!in_force || *g < *in_force)) in_force = g;
      }
      if (in_force && *approve_above_msat > *in_force)
        return make_error("POLICY_LOOSEN_REFUSED",
                          "envelope '" + name + "' needs approval above " + std::to_string(*in_force / 1000) +
                              " sats; the threshold can only be lowered",
                          {{"field", "envelope.approve_above_msat"},
                           {"fields", json::array({"envelope.approve_above_msat"})}});
    }
    auto st = d.prepare(
        "INSERT INTO envelope_tightenings(name, cap_msat, updated_at, approve_above_msat) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT(name) DO UPDATE SET cap_msat = CASE WHEN excluded.cap_msat < envelope_tightenings.cap_msat "
        "THEN excluded.cap_msat ELSE envelope_tightenings.cap_msat END, updated_at = excluded.updated_at, "
        "approve_above_msat = CASE WHEN excluded.approve_above_msat IS NULL THEN envelope_tightenings.approve_above_msat "
        "WHEN envelope_tightenings.approve_above_msat IS NULL THEN excluded.approve_above_msat "
        "WHEN excluded.approve_above_msat < envelope_tightenings.approve_above_msat THEN excluded.approve_above_msat "
        "ELSE envelope_tightenings.approve_above_msat END");
    if (!st) return db_error(d, "prepare");
    // Only the threshold lowered: no cap tightening is recorded (kMaxMsat stands for "none"; MIN keeps an earlier
    // one), so the owner's configured cap keeps applying as configured, raised or not.
    st->bind(1, name).bind(2, static_cast<int64_t>(cap_msat ? std::min(*cap_msat, current) : kMaxMsat)).bind(3, now);
    if (approve_above_msat)
      st->bind(4, static_cast<int64_t>(*approve_above_msat));
    else
      st->bind_null(4);
    if (int rc = st->run(); rc != kDone) return db_error(d, "write", rc);
    return ok_status();
  });
  if (!r) return r.error();
  log(LogLevel::notice, "spend", "envelope '" + name + "' tightened at run time");
  return ok_status();
}

Result<std::map<std::string, uint64_t>> Ledger::envelope_tightenings() {
  std::map<std::string, uint64_t> out;
  auto r = impl_->read<Ok>([&](Db& d) -> Status {
    out.clear();
    auto st = d.prepare("SELECT name, cap_msat FROM envelope_tightenings WHERE cap_msat < ?1 ORDER BY name");
    if (!st) return db_error(d, "prepare");
    st->bind(1, static_cast<int64_t>(kMaxMsat));  // rows that only lowered the approval threshold have no cap
    int rc;
    while ((rc = st->step()) == kRow) out[st->text(0)] = static_cast<uint64_t>(st->i64(1));
    if (rc != kDone) return db_error(d, "read", rc);
    return ok_status();
  });
  if (!r) return r.error();
  return out;
}

std::vector<Envelope> Ledger::envelopes() const {
  std::lock_guard lk(impl_->pol_mu);
  return impl_->envs;
}

Result<Reservation> Ledger::reserve(const ReserveRequest& request) {
  ReserveRequest rq = request;
  if (rq.request_id.empty()) rq.request_id = current_request_id();  // read here, on the calling thread
  rq.protocol = ascii_lower(rq.protocol);
  if (std::find(all_protocols().begin(), all_protocols().end(), rq.protocol) == all_protocols().end())
    return make_error("INVALID_ARGUMENT", "unknown protocol (expected bolt11, keysend, l402 or mpp)");
  std::string hash = ascii_lower(rq.payment_hash);
  if (!is_hex64(hash)) return make_error("INVALID_ARGUMENT", "payment_hash must be 64 hex characters");
  if (rq.amount_msat == 0) return make_error("INVALID_ARGUMENT", "amount must be positive");
  if (rq.amount_msat > kMaxMsat) return make_error("INVALID_ARGUMENT", "amount is larger than 21 million BTC");
  if (rq.envelope && rq.envelope->empty()) return make_error("INVALID_ARGUMENT", "envelope name is empty");
  auto domain = normalize_domain(rq.domain);
  if (!domain) return domain.error();
  Impl& im = *impl_;
  const int64_t now = im.clock.now_unix();
  return im.run<Reservation>([&](Db& d) { return im.reserve_in_txn(d, rq, *domain, hash, now); });
}

Status Ledger::mark_in_flight(int64_t id, std::optional<int64_t> request_expires_at) {
  Impl& im = *impl_;
  const int64_t now = im.clock.now_unix();
  return im.run<Ok>([&](Db& d) -> Status {
    if (auto st = detail::consume_approval(d, id, now); !st) return st.error();
    return im.apply(d, id, {State::in_flight, {}, {}, {}, {}, {}, request_expires_at}, now);
  });
}

Status Ledger::release_if_reserved(int64_t id, const std::string& error_code) {
  const int64_t now = impl_->clock.now_unix();
  return impl_->run<Ok>([&](Db& d) { return release_in_txn(d, id, error_code, now); });
}

Status Ledger::release_in_txn(Db& d, int64_t id, const std::string& error_code, int64_t now) {
  return impl_->apply(d, id, {State::released, clean_code(error_code), {}, {}, {}, {}}, now, State::reserved);
}

Status Ledger::resolve_by_owner(int64_t id, bool paid, std::optional<uint64_t> fee_msat) {
  Impl& im = *impl_;
  const int64_t now = im.clock.now_unix();
  if (fee_msat && *fee_msat > kMaxMsat) return make_error("INVALID_ARGUMENT", "fee is too large");
  return im.run<Ok>([&](Db& d) -> Status {
    Impl::Change c{paid ? State::settled : State::failed, {}, {}, {}, {}, {}, std::nullopt, std::string("owner")};
    if (paid) {
      std::optional<int64_t> fee;
      if (fee_msat) fee = static_cast<int64_t>(*fee_msat);
      if (!fee) {  // not known: the reserved allowance stays booked (never under-count)
        auto st = d.prepare("SELECT max_fee_msat FROM payments WHERE id = ?1");
        if (!st) return db_error(d, "prepare");
        st->bind(1, id);
        if (st->step() != kRow) return make_error("PAYMENT_NOT_FOUND", "no payment with id " + std::to_string(id));
        fee = st->i64(0);
      }
      c.fee_msat = fee;
      c.settled_at = now;
    } else {
      c.error_code = std::string("OWNER_RESOLVED");
    }
    return im.apply(d, id, c, now, State::unknown);
  });
}

Status Ledger::settle(int64_t id, uint64_t fee_msat, const std::string& preimage_hex, int64_t latency_ms) {
  std::string pre = ascii_lower(preimage_hex);
  if (!pre.empty() && !is_hex64(pre)) return make_error("INVALID_ARGUMENT", "preimage must be 64 hex characters");
  if (fee_msat > kMaxMsat) return make_error("INVALID_ARGUMENT", "fee is too large");
  Impl::Change c{State::settled, {}, static_cast<int64_t>(fee_msat), {}, impl_->clock.now_unix(), latency_ms};
  if (!pre.empty()) c.preimage = pre;
  return impl_->transition(id, c);
}

Status Ledger::fail(int64_t id, const std::string& error_code, std::optional<int64_t> latency_ms) {
  return impl_->transition(id, {State::failed, clean_code(error_code), {}, {}, {}, latency_ms});
}

Status Ledger::release(int64_t id) { return impl_->transition(id, {State::released, {}, {}, {}, {}, {}}); }

Status Ledger::mark_unknown(int64_t id, const std::string& error_code) {
  return impl_->transition(id, {State::unknown, clean_code(error_code), {}, {}, {}, {}});
}

Result<RecoverySummary> Ledger::recover_after_crash(int64_t now, int64_t stale_after_s, const std::string& cause,
                                                   bool this_instance_only) {
  const int64_t cut = now - std::max<int64_t>(0, stale_after_s);
  // ?9: this instance's rows only, or (NULL) every instance's.
  const std::optional<std::string> only =
      this_instance_only ? std::optional<std::string>(impl_->instance) : std::nullopt;
  auto r = impl_->run<RecoverySummary>([&](Db& d) -> Result<RecoverySummary> {
    RecoverySummary s;
    std::vector<int64_t> stale;
    {
      // A reservation waiting for the owner (an open approval that has not expired) is not a crash leftover:
      // approvals survive restarts; expire_approvals() releases it when its time is up.
      auto sel = d.prepare(
          "SELECT id FROM payments WHERE state = 'reserved' AND updated_at <= ?1 AND (CAST(?9 AS TEXT) IS NULL OR instance = ?9)"
          " AND id NOT IN (SELECT payment_id FROM approvals WHERE open = 1 AND expires_at > ?2)");
      if (!sel) return db_error(d, "prepare");
      sel->bind(1, cut).bind(2, now);
      if (only) sel->bind(9, *only);
      int rc;
      while ((rc = sel->step()) == kRow) stale.push_back(sel->i64(0));
      if (rc != kDone) return db_error(d, "recovery", rc);
    }
    for (int64_t id : stale) {  // one by one so the budget totals follow
      if (auto st = impl_->apply(d, id, {State::released, cause + "_NEVER_SENT", {}, {}, {}, {}}, now,
                                 State::reserved);
          !st)
        return st.error();
      ++s.released;
    }
    // in_flight → unknown does not change what counts, so one statement does it.
    auto unk = d.prepare(
        "UPDATE payments SET state = 'unknown', error_code = ?3, updated_at = ?1"
        " WHERE state = 'in_flight' AND updated_at <= ?2 AND (CAST(?9 AS TEXT) IS NULL OR instance = ?9)");
    if (!unk) return db_error(d, "prepare");
    unk->bind(1, now).bind(2, cut).bind(3, cause + "_INTERRUPTED");
    if (only) unk->bind(9, *only);
    if (int rc = unk->run(); rc != kDone) return db_error(d, "recovery", rc);
    s.marked_unknown = static_cast<size_t>(d.changes());
    return s;
  });
  if (r && (r->released || r->marked_unknown))
    log(LogLevel::warning, "spend",
        ascii_lower(cause) + " recovery: released " + std::to_string(r->released) + " unsent reservation(s), " +
            std::to_string(r->marked_unknown) + " interrupted payment(s) need reconciliation");
  return r;
}

Result<bool> Ledger::try_lease(const std::string& name, int64_t ttl_s) {
  Impl& im = *impl_;
  const int64_t now = im.clock.now_unix();
  return im.run<bool>([&](Db& d) -> Result<bool> {
    auto st = d.prepare(
        "INSERT INTO leases(name, holder, expires_at) VALUES (?1, ?2, ?3) ON CONFLICT(name) DO UPDATE SET"
        " holder = excluded.holder, expires_at = excluded.expires_at"
        " WHERE leases.holder = excluded.holder OR leases.expires_at <= ?4");
    if (!st) return db_error(d, "prepare");
    st->bind(1, name).bind(2, im.instance).bind(3, now + std::max<int64_t>(1, ttl_s)).bind(4, now);
    if (int rc = st->run(); rc != kDone) return db_error(d, "lease", rc);
    return d.changes() == 1;
  });
}

Status Ledger::record_lookup(int64_t id, const Result<LookupOutcome>& out) {
  Impl& im = *impl_;
  const int64_t now = im.clock.now_unix();
  // What the wallet said, kept on the row for lookup_payment (a final answer is recorded with the transition).
  auto note = [&](const std::string& said) {
    return im.run<Ok>([&](Db& d) -> Status { return im.note_said(d, id, said, now, true); });
  };
  if (!out) return note("lookup failed: " + clean_code(out.error().code));
  if (out->kind == LookupOutcome::Kind::pending) return note(out->said.empty() ? "pending" : out->said);
  if (out->kind == LookupOutcome::Kind::settled) {
    std::string pre = ascii_lower(out->preimage);
    return im.run<Ok>([&](Db& d) -> Status {
      std::optional<int64_t> fee;
      if (out->fee_msat && *out->fee_msat <= kMaxMsat) fee = static_cast<int64_t>(*out->fee_msat);
      if (!fee) {  // fee unknown: keep the reserved allowance as the fee (never under-count)
        auto st = d.prepare("SELECT max_fee_msat FROM payments WHERE id = ?1");
        if (!st) return db_error(d, "prepare");
        st->bind(1, id);
        if (st->step() != kRow) return make_error("PAYMENT_NOT_FOUND", "payment vanished");
        fee = st->i64(0);
      }
      Impl::Change c{State::settled, {}, fee, {}, now, {}, std::nullopt, std::string("wallet")};
      if (is_hex64(pre)) c.preimage = pre;
      if (auto st = im.apply(d, id, c, now, State::unknown); !st) return st;
      return im.note_said(d, id, out->said.empty() ? "settled" : out->said, now);
    });
  }
  std::string code = clean_code(out->error_code.empty() ? "RECONCILED_FAILED" : out->error_code);
  return im.run<Ok>([&](Db& d) -> Status {
    if (auto st = im.apply(d, id, {State::failed, code, {}, {}, {}, {}, std::nullopt, std::string("wallet")}, now,
                           State::unknown);
        !st)
      return st;
    return im.note_said(d, id, out->said.empty() ? "failed" : out->said, now);
  });
}

Result<ReconcileSummary> Ledger::reconcile(const Lookup& lookup) {
  Impl& im = *impl_;
  auto rows = im.read<std::vector<std::pair<int64_t, std::string>>>(
      [&](Db& d) -> Result<std::vector<std::pair<int64_t, std::string>>> {
        auto st = d.prepare("SELECT id, payment_hash FROM payments WHERE state = 'unknown' ORDER BY id");
        if (!st) return db_error(d, "prepare");
        std::vector<std::pair<int64_t, std::string>> out;
        int rc;
        while ((rc = st->step()) == kRow) out.emplace_back(st->i64(0), st->text(1));
        if (rc != kDone) return db_error(d, "read", rc);
        return out;
      });
  if (!rows) return rows.error();
  ReconcileSummary sum;
  for (const auto& [id, hash] : *rows) {
    ++sum.examined;
    Result<LookupOutcome> out = make_error("LOOKUP_FAILED", "lookup threw");
    try {
      out = lookup(hash);  // no lock held: the lookup may take a network round trip
    } catch (const std::exception&) {
    }
    auto applied = record_lookup(id, out);
    if (!applied && applied.error().code != "ILLEGAL_TRANSITION") return applied.error();
    if (!out)
      ++sum.lookup_errors;
    else if (out->kind == LookupOutcome::Kind::pending)
      ++sum.pending;
    else if (applied && out->kind == LookupOutcome::Kind::settled)
      ++sum.settled;
    else if (applied)
      ++sum.failed;
  }
  if (sum.settled || sum.failed)
    log(LogLevel::notice, "spend",
        "reconciled " + std::to_string(sum.settled) + " settled, " + std::to_string(sum.failed) + " failed, " +
            std::to_string(sum.pending) + " still pending");
  return sum;
}

Result<StatusReport> Ledger::status() { return status(impl_->clock.now_unix()); }

Result<StatusReport> Ledger::status(int64_t now) {
  Impl& im = *impl_;
  return im.read<StatusReport>([&](Db& d) -> Result<StatusReport> {
    if (auto s = im.refresh_policy(d); !s) return s.error();
    Policy pol;
    std::vector<Envelope> envs;
    {
      std::lock_guard lk(im.pol_mu);
      pol = *im.effective;
      envs = im.envs;
    }
    StatusReport rep;
    rep.now = now;
    auto g = window_status(d, now, pol.global, Filter{});
    if (!g) return g.error();
    rep.global = {"global", pol.global.per_call_msat, *g, std::nullopt};
    for (const auto& [pat, caps] : pol.domains) {
      auto t = window_status(d, now, caps, domain_filter(pat));
      if (!t) return t.error();
      rep.domains.push_back({"domain:" + pat, caps.per_call_msat, *t, std::nullopt});
    }
    for (auto e : envs) {
      auto tight = envelope_tightening(d, e.name);
      if (!tight) return tight.error();
      if (*tight && **tight < e.cap_msat) e.cap_msat = **tight;
      auto t = sum_counted(d, now, Filter{Filter::envelope, e.name}, kLifetimeBit);
      if (!t) return t.error();
      WindowStatus ws;
      ws.window = "lifetime";
      ws.limit_msat = e.cap_msat;
      ws.spent_msat = t->lifetime;
      ws.remaining_msat = t->lifetime >= e.cap_msat ? 0 : e.cap_msat - t->lifetime;
      rep.envelopes.push_back({"envelope:" + e.name, std::nullopt, {ws}, e.expires_at});
    }
    auto st = d.prepare(
        "SELECT state, COUNT(*) FROM payments WHERE state IN ('reserved','in_flight','unknown') GROUP BY state");
    if (!st) return db_error(d, "prepare");
    int rc;
    while ((rc = st->step()) == kRow) {
      auto n = static_cast<uint64_t>(st->i64(1));
      rep.pending_count += n;
      if (st->text(0) == "unknown") rep.unknown_count = n;
    }
    if (rc != kDone) return db_error(d, "read", rc);
    st.reset();
    auto fx = d.prepare(
        "SELECT COUNT(*), COALESCE(SUM(fee_msat - max_fee_msat), 0), MAX(updated_at) FROM payments"
        " WHERE counted = 1 AND fee_msat > max_fee_msat AND created_at > ?1");
    if (!fx) return db_error(d, "prepare");
    fx->bind(1, now - window_seconds(Window::month));
    if ((rc = fx->step()) != kRow) return db_error(d, "read", rc);
    rep.fee_excess_count = static_cast<uint64_t>(fx->i64(0));
    rep.fee_excess_msat = static_cast<uint64_t>(fx->i64(1));
    rep.fee_excess_last_at = fx->opt_i64(2);
    return rep;
  });
}

Result<Page> Ledger::list_payments(const ListQuery& q) {
  if (q.limit == 0 || q.limit > 500) return make_error("INVALID_ARGUMENT", "limit must be between 1 and 500");
  std::optional<int64_t> before;
  if (q.cursor) {
    const std::string& c = *q.cursor;
    bool ok = c.size() >= 2 && c.size() <= 20 && c[0] == 'p';
    for (size_t i = 1; ok && i < c.size(); ++i) ok = c[i] >= '0' && c[i] <= '9';
    if (!ok) return make_error("INVALID_CURSOR", "cursor is not one this server issued");
    before = std::stoll(c.substr(1));
  }
  std::string sql = std::string("SELECT ") + kCols + " FROM payments WHERE 1 = 1";
  std::vector<std::variant<int64_t, std::string>> args;
  auto add = [&](const char* clause, std::variant<int64_t, std::string> v) {
    args.push_back(std::move(v));
    sql += std::string(" AND ") + clause + " ?" + std::to_string(args.size());
  };
  if (q.since) add("created_at >=", *q.since);
  if (q.domain) {
    auto dn = normalize_domain(*q.domain);
    if (!dn) return dn.error();
    add("domain =", *dn);
  }
  if (q.client) add("client =", *q.client);
  if (q.envelope) add("envelope =", *q.envelope);
  if (q.state) add("state =", std::string(state_name(*q.state)));
  if (before) add("id <", *before);
  args.push_back(static_cast<int64_t>(q.limit + 1));
  sql += " ORDER BY id DESC LIMIT ?" + std::to_string(args.size());
  return impl_->read<Page>([&](Db& d) -> Result<Page> {
    auto st = d.prepare(sql);
    if (!st) return db_error(d, "prepare");
    for (size_t i = 0; i < args.size(); ++i) {
      if (auto* n = std::get_if<int64_t>(&args[i]))
        st->bind(static_cast<int>(i + 1), *n);
      else
        st->bind(static_cast<int>(i + 1), std::get<std::string>(args[i]));
    }
    Page page;
    int rc;
    while ((rc = st->step()) == kRow) page.items.push_back(read_payment(*st));
    if (rc != kDone) return db_error(d, "read", rc);
    if (page.items.size() > q.limit) {
      page.items.pop_back();
      page.next_cursor = "p" + std::to_string(page.items.back().id);
    }
    return page;
  });
}

Result<SpendReport> Ledger::report(int64_t since, int64_t until) {
  if (until < since) return make_error("INVALID_ARGUMENT", "report range ends before it starts");
  return impl_->read<SpendReport>([&](Db& d) -> Result<SpendReport> {
    SpendReport rep;
    rep.since = since;
    rep.until = until;
    auto add = [](ReportBucket& b, const std::string& state, uint64_t n, uint64_t amount, uint64_t fee,
                  uint64_t counted) {
      if (state == "settled") {
        b.settled_count += n;
        b.settled_amount_msat += amount;
        b.settled_fee_msat += fee;
      } else if (state == "failed") {
        b.failed_count += n;
      } else if (state == "released") {
        b.released_count += n;
      } else {
        b.pending_count += n;
        b.pending_msat += counted;
        if (state == "unknown") b.unknown_count += n;
      }
    };
    for (int pass = 0; pass < 2; ++pass) {
      // Days are grouped by number (created_at / 86400, both dialects) and named here.
      std::string key = pass == 0 ? "domain" : "created_at / 86400";
      auto st = d.prepare("SELECT " + key +
                          ", state, COUNT(*), SUM(amount_msat), SUM(COALESCE(fee_msat, 0)),"
                          " SUM(amount_msat + COALESCE(fee_msat, max_fee_msat)) FROM payments"
                          " WHERE created_at >= ?1 AND created_at < ?2 GROUP BY 1, 2");
      if (!st) return db_error(d, "prepare");
      st->bind(1, since).bind(2, until);
      int rc;
      while ((rc = st->step()) == kRow) {
        std::string k = pass == 0 ? st->text(0) : utc_day(st->i64(0)), state = st->text(1);
        auto n = static_cast<uint64_t>(st->i64(2)), amount = static_cast<uint64_t>(st->i64(3)),
             fee = static_cast<uint64_t>(st->i64(4)), counted = static_cast<uint64_t>(st->i64(5));
        add(pass == 0 ? rep.by_domain[k] : rep.by_day[k], state, n, amount, fee, counted);
        if (pass == 0) add(rep.total, state, n, amount, fee, counted);
      }
      if (rc != kDone) return db_error(d, "report", rc);
    }
    return rep;
  });
}

Result<Payment> Ledger::get_payment(const std::string& payment_hash) {
  std::string hash = ascii_lower(payment_hash);
  if (!is_hex64(hash)) return make_error("INVALID_ARGUMENT", "payment_hash must be 64 hex characters");
  Impl& im = *impl_;
  return im.read<Payment>([&](Db& d) {
    return im.one_payment(d, "payment_hash = ?1 ORDER BY id DESC LIMIT 1", [&](Stmt& s) { s.bind(1, hash); });
  });
}

Result<Payment> Ledger::get_payment_by_id(int64_t id) {
  Impl& im = *impl_;
  return im.read<Payment>([&](Db& d) { return im.one_payment(d, "id = ?1", [&](Stmt& s) { s.bind(1, id); }); });
}

}  // namespace sw::spend
