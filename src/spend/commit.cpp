// SQLite group commit (callers share one transaction and one fsync, each in its own savepoint) and the WAL
// checkpointer that keeps checkpoints off the payers' path.


#include "spend/ledger_impl.h"

namespace sw::spend {

void Ledger::Impl::submit(const JobPtr& job) {
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

void Ledger::Impl::inline_checkpoint() {
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

int Ledger::Impl::control(Db& d, const std::string& sql) {
  auto st = d.prepare(sql);
  if (!st) return SQLITE_ERROR;
  int rc = st->run();
  return rc == kDone ? kOk : rc;
}

void Ledger::Impl::fail_all(const std::vector<JobPtr>& batch, const Error& e) {
  for (const JobPtr& j : batch) j->failure = e;
}

bool Ledger::Impl::run_batch(const std::vector<JobPtr>& batch) {
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

int Ledger::Impl::wal_hook(void* arg, sqlite3*, const char*, int frames) {
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

int64_t Ledger::Impl::now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool Ledger::Impl::checkpoint_due() const {
  const uint64_t seq = commit_seq.load();
  return wal_frames.load() >= opts.checkpoint_frames && clean_seq.load() != seq;
}

void Ledger::Impl::wake_checkpointer(bool mark) {
  std::lock_guard lk(ck_mu);
  if (mark) ck_mark.store(true, std::memory_order_relaxed);
  if (ck_wanted.load(std::memory_order_relaxed) || (!mark && !checkpoint_due())) return;
  ck_wanted.store(true, std::memory_order_relaxed);
  ck_cv.notify_one();
}

void Ledger::Impl::start_checkpointer() {
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

void Ledger::Impl::stop_checkpointer() {
  if (!ck_thread.joinable()) return;
  {
    std::lock_guard lk(ck_mu);
    ck_stop = true;
  }
  ck_cv.notify_one();
  ck_thread.join();
}

void Ledger::Impl::checkpointer() {
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

void Ledger::Impl::checkpoint_once(std::unique_lock<std::mutex>& lk) {
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

}  // namespace sw::spend
