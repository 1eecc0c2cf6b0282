// Ledger totals for monitoring (Ledger::metrics, served as Prometheus gauges by /metrics).
#include "spend/db.h"
#include "spend/spend.h"

namespace sw::spend {

using detail::Db;
using detail::db_error;
using detail::kDone;
using detail::kOk;
using detail::kRow;

Result<LedgerMetrics> Ledger::metrics() {
  LedgerMetrics m;
  auto st = read_txn([&](Db& d) -> Status {
    m = LedgerMetrics{};
    auto p = d.prepare(
        "SELECT protocol, state, COUNT(*), COALESCE(SUM(amount_msat), 0),"
        " COALESCE(SUM(CASE WHEN state = 'settled' THEN fee_msat ELSE 0 END), 0)"
        " FROM payments GROUP BY protocol, state ORDER BY protocol, state");
    if (!p) return db_error(d, "prepare");
    int rc;
    while ((rc = p->step()) == kRow)
      m.payments.push_back({p->text(0), p->text(1), static_cast<uint64_t>(p->i64(2)), static_cast<uint64_t>(p->i64(3)),
                            static_cast<uint64_t>(p->i64(4))});
    if (rc != kDone) return db_error(d, "read", rc);
    p.reset();
    auto q = d.prepare(
        "SELECT (SELECT COUNT(*) FROM purchases WHERE state = 'pending'),"
        " (SELECT COUNT(*) FROM purchases WHERE state = 'usable'),"
        " (SELECT COUNT(*) FROM approvals WHERE state = 'pending')");
    if (!q) return db_error(d, "prepare");
    if ((rc = q->step()) != kRow) return db_error(d, "read", rc);
    m.purchases_pending = static_cast<uint64_t>(q->i64(0));
    m.purchases_usable = static_cast<uint64_t>(q->i64(1));
    m.approvals_waiting = static_cast<uint64_t>(q->i64(2));
    return ok_status();
  });
  if (!st) return st.error();
  return m;
}

Status Ledger::ping() {
  return read_txn([](Db& d) -> Status {
    auto q = d.prepare("SELECT 1");
    if (!q) return db_error(d, "prepare");
    if (int rc = q->step(); rc != kRow) return db_error(d, "read", rc);
    return ok_status();
  });
}

}  // namespace sw::spend
