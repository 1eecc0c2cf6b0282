// Crash recovery, leases for fleet maintenance, and reconciliation of payments whose outcome is unknown.


#include "spend/ledger_impl.h"

namespace sw::spend {

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

}  // namespace sw::spend
