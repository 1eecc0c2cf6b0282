// The payment ledger: opening it (a SQLite file or PostgreSQL, migrations), the policy and its run-time
// tightenings, envelopes. The rest of the Ledger is in the files ledger_impl.h lists.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "spend/approvals_internal.h"
#include "spend/schema.h"

#include "spend/ledger_impl.h"

namespace sw::spend {

namespace detail::ledger {

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

}  // namespace detail::ledger

Status Ledger::Impl::refresh_policy(Db& d) {
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

Status Ledger::Impl::write_overrides(Db& d, const std::optional<Policy>& p, int64_t now) {
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
  if (is_postgres_url(path)) return open_postgres(path, *norm, clock, opts);

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
  static_assert(kSchemaVersion == 9, "add a migration step (both backends) when bumping the schema version");
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

}  // namespace sw::spend
