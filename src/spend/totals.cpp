// The ledger's budget totals: spend_totals per scope and hour bucket, window and lifetime sums exact to the
// second, the cap checks of a reservation and the windows of a status report.


#include "spend/ledger_impl.h"

namespace sw::spend {

namespace detail::ledger {

// ---- budget totals
// Each row counts amount + actual fee (settled) or amount + fee allowance (reserved/in_flight/unknown).
// Scanning every counted row on each reservation is O(history), so the counted amounts are also kept
// aggregated in spend_totals per scope ("g" global, "d:<reversed domain>", "e:<envelope>") and per hour
// bucket, plus one lifetime row per scope (bucket = kLifetime). Every insert/transition applies the delta of
// its row in the same transaction; open() rebuilds the table from the rows (the source of truth).
// A window sum = the buckets strictly after the bucket holding the window start + the rows of that boundary
// bucket that are inside the window (at most one hour of rows), so it stays exact to the second.

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

// Recomputes spend_totals from the payment rows. When the table already holds exactly that (the usual case at
// start-up), nothing is written: opening an unchanged ledger leaves the file untouched.
Status rebuild_totals(Db& db) {
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
  {
    std::map<std::pair<std::string, int64_t>, int64_t> have;
    auto st = db.prepare("SELECT scope, bucket, counted_msat FROM spend_totals");
    if (!st) return db_error(db, "prepare");
    int rc;
    while ((rc = st->step()) == kRow)
      if (int64_t v = st->i64(2); v != 0) have[{st->text(0), st->i64(1)}] = v;
    if (rc != kDone) return db_error(db, "totals rebuild", rc);
    std::erase_if(acc, [](const auto& kv) { return kv.second == 0; });
    if (have == acc) return ok_status();
  }
  if (int rc = db.exec("DELETE FROM spend_totals"); rc != kOk) return db_error(db, "totals rebuild", rc);
  for (const auto& [key, v] : acc) {
    auto ins = db.prepare("INSERT INTO spend_totals(scope, bucket, counted_msat) VALUES (?1, ?2, ?3)");
    if (!ins) return db_error(db, "prepare");
    ins->bind(1, key.first).bind(2, key.second).bind(3, v);
    if (int rc = ins->run(); rc != kDone) return db_error(db, "totals rebuild", rc);
  }
  return ok_status();
}

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

}  // namespace detail::ledger

}  // namespace sw::spend
