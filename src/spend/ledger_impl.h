// Internal: the Ledger's implementation shared by its files — the Impl (connections, the SQLite group commit and
// checkpointer, the PostgreSQL transaction runner, the policy cache), the payment-row helpers and the budget
// totals. Which file holds what: ledger.cpp (open, policy, envelopes), commit.cpp (group commit, checkpoints),
// reserve.cpp (reservations and state transitions), reconcile.cpp (recovery, leases, reconciliation),
// totals.cpp (budget sums and windows), queries.cpp (status, lists, reports, JSON), schema.cpp (migrations),
// purchases.cpp, approvals.cpp, metrics.cpp.
// Thread-safety and errors: as spend.h says of the Ledger; everything here runs inside Impl::run/read/run_row.
#pragma once

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "spend/db.h"
#include "spend/pg.h"
#include "spend/spend.h"

namespace sw::spend {
namespace detail::ledger {

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
    "wallet_said_at, resolved_by, request_id, fiat_rates";

bool is_hex64(const std::string& s);
// An error code as stored: at most 64 characters of [A-Z0-9_] (others become '_').
std::string clean_code(std::string_view code);
Result<std::string> normalize_domain(std::string_view raw);
uint64_t sat_add(uint64_t a, uint64_t b);  // saturating
Payment read_payment(const Stmt& s);        // a row selected as kCols

// ---- budget totals (totals.cpp)
constexpr int64_t kBucket = 3600;
constexpr int64_t kLifetime = INT64_MIN;
constexpr unsigned kLifetimeBit = 1u << 4;
int64_t floor_div(int64_t a, int64_t b);
int64_t counted_of(State st, int64_t amount, std::optional<int64_t> fee, int64_t max_fee);
Status add_totals(Db& db, int64_t created_at, const std::string& domain, const std::string& envelope, int64_t delta);
Status rebuild_totals(Db& db);
struct Totals {
  uint64_t window[4] = {0, 0, 0, 0};
  uint64_t lifetime = 0;
};
struct Filter {
  enum Kind { none, domain_exact, domain_suffix, envelope } kind = none;
  std::string value;  // domain, ".suffix" or envelope name
};
Filter domain_filter(const std::string& pattern);
unsigned caps_mask(const Caps& c);
Result<Totals> sum_counted(Db& db, int64_t now, const Filter& f, unsigned mask);
Error budget_error(const std::string& scope, const std::string& window, uint64_t limit, uint64_t spent,
                   uint64_t requested, uint64_t amount, uint64_t fee_allowance, std::optional<int64_t> rolloff);
Result<Ok> check_scope(Db& db, int64_t now, const Caps& caps, const Filter& f, const std::string& scope,
                       uint64_t requested, uint64_t amount, uint64_t fee);
Result<std::vector<WindowStatus>> window_status(Db& db, int64_t now, const Caps& caps, const Filter& f);

// The cap a run-time tightening set for an envelope (envelope_tightenings), if any (ledger.cpp).
Result<std::optional<uint64_t>> envelope_tightening(Db& d, const std::string& name);

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

}  // namespace detail::ledger

using namespace detail::ledger;  // the implementation files' own vocabulary (internal header)

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

  void submit(const JobPtr& job);

  // The leader's own checkpoint at the WAL's hard bound. A background checkpoint running at the same moment
  // holds the checkpoint lock (SQLITE_BUSY): wait for it to end and try once more, so the bound holds.
  void inline_checkpoint();

  // Cached prepared statements for transaction control (sqlite3_exec would re-parse them every time).
  int control(Db& d, const std::string& sql);

  static void fail_all(const std::vector<JobPtr>& batch, const Error& e);

  // Runs one batch in one transaction. True when the WAL has reached the bound at which the leader must
  // checkpoint itself.
  bool run_batch(const std::vector<JobPtr>& batch);

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
  static int wal_hook(void* arg, sqlite3*, const char*, int frames);

  static int64_t now_ns();

  // A checkpoint is due: the WAL has reached checkpoint_frames since it last restarted, and no checkpoint has
  // been seen to cover every frame since the last commit.
  bool checkpoint_due() const;

  // mark: the WAL reached the next mark (from the hook); otherwise a leader leaving the ledger idle, which
  // wakes the checkpointer only for a due checkpoint.
  void wake_checkpointer(bool mark);

  void start_checkpointer();

  void stop_checkpointer();

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

  void checkpointer();

  // One background checkpoint (ck_mu held on entry and exit, released around the checkpoint itself).
  void checkpoint_once(std::unique_lock<std::mutex>& lk);

  // ---- policy overrides (called inside a transaction)
  Status refresh_policy(Db& d);

  Status write_overrides(Db& d, const std::optional<Policy>& p, int64_t now);

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
  Status apply(Db& d, int64_t id, const Change& c, int64_t now, std::optional<State> expect = std::nullopt);

  // Records what the wallet said about a payment. only_unknown: a non-final answer (pending, NOT_FOUND, a lookup
  // error) is recorded only while the row is still unknown — a lookup that finishes after a notification settled
  // the row must not write "NOT_FOUND" over it (ILLEGAL_TRANSITION then).
  Status note_said(Db& d, int64_t id, const std::string& said, int64_t now, bool only_unknown = false);

  Status transition(int64_t id, const Change& c);

  // ---- reservation (inside the transaction)
  Result<Reservation> reserve_in_txn(Db& d, const ReserveRequest& rq, const std::string& domain,
                                     const std::string& hash, int64_t now);

  Result<Payment> one_payment(Db& d, const std::string& where, const std::function<void(Stmt&)>& binder);
};

}  // namespace sw::spend
