// Schema migrations on ledger files written with an older schema (built here by hand, as that version wrote
// them). v1 → v2(→ v3): every row and column survives, the double-pay guard, budgets, persisted tightenings and
// the CHECK constraints keep working, and the new partial indexes / CHECKs contain no long IN list.
// v2 → v3: every row of every table survives and the new envelope_anchors table starts empty and works.
#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "helpers.h"

using namespace sw;
using namespace sw::spend;
using namespace spend_test;

namespace {

// The v1 schema exactly as migration step 0 created it (frozen: this is the format of existing files).
const char* kV1Schema =
    "CREATE TABLE payments ("
    "  id INTEGER PRIMARY KEY,"
    "  client TEXT NOT NULL DEFAULT '',"
    "  envelope TEXT NOT NULL DEFAULT '',"
    "  domain TEXT NOT NULL DEFAULT '',"
    "  tool TEXT NOT NULL DEFAULT '',"
    "  protocol TEXT NOT NULL CHECK (protocol IN ('bolt11','l402','mpp','keysend')),"
    "  invoice TEXT NOT NULL DEFAULT '',"
    "  payment_hash TEXT NOT NULL,"
    "  amount_msat INTEGER NOT NULL CHECK (amount_msat > 0),"
    "  max_fee_msat INTEGER NOT NULL CHECK (max_fee_msat >= 0),"
    "  fee_msat INTEGER CHECK (fee_msat IS NULL OR fee_msat >= 0),"
    "  state TEXT NOT NULL CHECK (state IN ('reserved','in_flight','settled','failed','released','unknown')),"
    "  error_code TEXT,"
    "  preimage TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  settled_at INTEGER,"
    "  latency_ms INTEGER"
    ");"
    "CREATE UNIQUE INDEX payments_live_hash ON payments(payment_hash)"
    "  WHERE state IN ('reserved','in_flight','settled','unknown');"
    "CREATE INDEX payments_hash ON payments(payment_hash);"
    "CREATE INDEX payments_counted ON payments(created_at, amount_msat, fee_msat, max_fee_msat, state, domain,"
    "  envelope) WHERE state IN ('reserved','in_flight','settled','unknown');"
    "CREATE INDEX payments_counted_domain ON payments(domain, created_at, state)"
    "  WHERE state IN ('reserved','in_flight','settled','unknown');"
    "CREATE INDEX payments_state ON payments(state, updated_at);"
    "CREATE INDEX payments_created ON payments(created_at);"
    "CREATE TABLE spend_totals ("
    "  scope TEXT NOT NULL,"
    "  bucket INTEGER NOT NULL,"
    "  counted_msat INTEGER NOT NULL,"
    "  PRIMARY KEY (scope, bucket)"
    ") WITHOUT ROWID;"
    "CREATE TABLE policy_overrides ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  rev INTEGER NOT NULL,"
    "  policy_json TEXT,"
    "  updated_at INTEGER NOT NULL"
    ");";

// The v2 schema as migration steps 0 and 1 left it (frozen: this is the format of existing files).
const char* kV2Schema =
    "CREATE TABLE payments ("
    "  id INTEGER PRIMARY KEY,"
    "  client TEXT NOT NULL DEFAULT '',"
    "  envelope TEXT NOT NULL DEFAULT '',"
    "  domain TEXT NOT NULL DEFAULT '',"
    "  tool TEXT NOT NULL DEFAULT '',"
    "  protocol TEXT NOT NULL"
    "    CHECK (protocol = 'bolt11' OR protocol = 'l402' OR protocol = 'mpp' OR protocol = 'keysend'),"
    "  invoice TEXT NOT NULL DEFAULT '',"
    "  payment_hash TEXT NOT NULL,"
    "  amount_msat INTEGER NOT NULL CHECK (amount_msat > 0),"
    "  max_fee_msat INTEGER NOT NULL CHECK (max_fee_msat >= 0),"
    "  fee_msat INTEGER CHECK (fee_msat IS NULL OR fee_msat >= 0),"
    "  state TEXT NOT NULL CHECK (state = 'reserved' OR state = 'in_flight' OR state = 'settled' OR"
    "    state = 'failed' OR state = 'released' OR state = 'unknown'),"
    "  error_code TEXT,"
    "  preimage TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  settled_at INTEGER,"
    "  latency_ms INTEGER,"
    "  counted INTEGER NOT NULL CHECK (counted = (state NOT IN ('failed','released')))"
    ");"
    "CREATE UNIQUE INDEX payments_live_hash ON payments(payment_hash) WHERE counted = 1;"
    "CREATE INDEX payments_hash ON payments(payment_hash);"
    "CREATE INDEX payments_counted ON payments(created_at, amount_msat, fee_msat, max_fee_msat, domain, envelope)"
    "  WHERE counted = 1;"
    "CREATE INDEX payments_counted_domain ON payments(domain, created_at) WHERE counted = 1;"
    "CREATE INDEX payments_state ON payments(state, updated_at);"
    "CREATE INDEX payments_created ON payments(created_at);"
    "CREATE TABLE spend_totals ("
    "  scope TEXT NOT NULL,"
    "  bucket INTEGER NOT NULL,"
    "  counted_msat INTEGER NOT NULL,"
    "  PRIMARY KEY (scope, bucket)"
    ") WITHOUT ROWID;"
    "CREATE TABLE policy_overrides ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  rev INTEGER NOT NULL,"
    "  policy_json TEXT,"
    "  updated_at INTEGER NOT NULL"
    ");";

class RawDb {
 public:
  explicit RawDb(const std::string& path) { REQUIRE(sqlite3_open(path.c_str(), &db_) == SQLITE_OK); }
  ~RawDb() { sqlite3_close(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;
  int exec(const std::string& sql) { return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr); }
  // All rows of a query, columns joined with '|', rows with '\n'.
  std::string dump(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
    std::string out;
    while (sqlite3_step(st) == SQLITE_ROW) {
      for (int c = 0; c < sqlite3_column_count(st); ++c) {
        const unsigned char* t = sqlite3_column_text(st, c);
        out += (c ? "|" : "") + (t ? std::string(reinterpret_cast<const char*>(t)) : std::string("NULL"));
      }
      out += "\n";
    }
    sqlite3_finalize(st);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

constexpr const char* kAllColumns =
    "SELECT id, client, envelope, domain, tool, protocol, invoice, payment_hash, amount_msat, max_fee_msat, "
    "fee_msat, state, error_code, preimage, created_at, updated_at, settled_at, latency_ms FROM payments ORDER BY id";

}  // namespace

TEST_CASE("a v1 ledger file is migrated (v2, v3, v4, v5) with every row, guard, budget and tightening intact", "[sqlite]") {
  TempDir dir;
  FakeClock clock;  // now = 1'700'000'000
  const int64_t now = clock.now_unix();
  auto path = dir.ledger_at("ledger.db");
  std::string before;
  {
    RawDb raw(path);
    REQUIRE(raw.exec("PRAGMA journal_mode=WAL") == SQLITE_OK);
    REQUIRE(raw.exec(kV1Schema) == SQLITE_OK);
    auto row = [&](int id, const std::string& state, const std::string& hash, int64_t amount, int64_t max_fee,
                   const std::string& fee, const std::string& domain) {
      return "INSERT INTO payments VALUES (" + std::to_string(id) + ", 'c', '', '" + domain +
             "', 'pay_invoice', 'bolt11', 'lnbc1x', '" + hash + "', " + std::to_string(amount) + ", " +
             std::to_string(max_fee) + ", " + fee + ", '" + state + "', NULL, " +
             (state == "settled" ? "'" + std::string(64, 'e') + "'" : std::string("NULL")) + ", " +
             std::to_string(now - 100 * id) + ", " + std::to_string(now - 50 * id) + ", " +
             (state == "settled" ? std::to_string(now - 40) : std::string("NULL")) + ", " +
             (state == "settled" ? std::string("17") : std::string("NULL")) + ");";
    };
    REQUIRE(raw.exec(row(1, "settled", hash_of(1), 10'000, 100, "7", "api.example.com")) == SQLITE_OK);
    REQUIRE(raw.exec(row(2, "failed", hash_of(2), 20'000, 200, "NULL", "")) == SQLITE_OK);
    REQUIRE(raw.exec(row(3, "released", hash_of(3), 30'000, 300, "NULL", "")) == SQLITE_OK);
    REQUIRE(raw.exec(row(4, "unknown", hash_of(4), 40'000, 400, "NULL", "")) == SQLITE_OK);
    REQUIRE(raw.exec(row(5, "in_flight", hash_of(5), 50'000, 500, "NULL", "api.example.com")) == SQLITE_OK);
    REQUIRE(raw.exec(row(6, "reserved", hash_of(6), 60'000, 600, "NULL", "")) == SQLITE_OK);
    // A v1 ledger had a failed attempt and a later live one for the same invoice: both rows must survive.
    REQUIRE(raw.exec(row(7, "failed", hash_of(5), 50'000, 500, "NULL", "api.example.com")) == SQLITE_OK);
    REQUIRE(raw.exec("INSERT INTO spend_totals VALUES ('g', -9223372036854775808, 123)") == SQLITE_OK);  // stale
    REQUIRE(raw.exec("INSERT INTO policy_overrides VALUES (1, 3, '{\"day_sats\": 300}', 1)") == SQLITE_OK);
    REQUIRE(raw.exec("PRAGMA user_version=1") == SQLITE_OK);
    before = raw.dump(kAllColumns);
  }
  REQUIRE_FALSE(before.empty());

  auto opened = Ledger::open(path, bare_policy(), clock);
  REQUIRE(opened.ok());
  Ledger& l = **opened;
  {
    RawDb raw(path);
    CHECK(raw.dump("PRAGMA user_version") == "9\n");  // v1 → v2 → … → v9
    CHECK(raw.dump(kAllColumns) == before);  // every row and column, ids included
    // No IN list of more than two constants is left in the table's CHECKs or the partial indexes.
    std::string sql = raw.dump("SELECT sql FROM sqlite_master WHERE tbl_name = 'payments' AND sql IS NOT NULL");
    CHECK(sql.find("IN ('reserved'") == std::string::npos);
    CHECK(sql.find("IN ('bolt11'") == std::string::npos);
    CHECK(sql.find("WHERE counted = 1") != std::string::npos);
    // `counted` was derived from the state, and the database keeps the two consistent.
    // ids 1-7: settled, failed, released, unknown, in_flight, reserved, failed
    CHECK(raw.dump("SELECT group_concat(counted, '') FROM (SELECT counted FROM payments ORDER BY id)") ==
          "1001110\n");
    CHECK(raw.exec("UPDATE payments SET counted = 0 WHERE id = 6") != SQLITE_OK);
    CHECK(raw.exec("UPDATE payments SET state = 'failed' WHERE id = 6") != SQLITE_OK);  // counted must follow
    CHECK(raw.dump("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'payments'"
                   " AND name LIKE 'payments_%'") == "6\n");
    // The constraints are still enforced by the database itself.
    CHECK(raw.exec("UPDATE payments SET state = 'bogus' WHERE id = 6") != SQLITE_OK);
    CHECK(raw.exec("UPDATE payments SET protocol = 'smoke' WHERE id = 6") != SQLITE_OK);
    CHECK(raw.exec("UPDATE payments SET amount_msat = 0 WHERE id = 6") != SQLITE_OK);
    CHECK(raw.exec("UPDATE payments SET state = 'reserved' WHERE id = 7") != SQLITE_OK);  // #5 is live: unique
    CHECK(raw.dump(kAllColumns) == before);
  }

  // The persisted tightening survived.
  CHECK(l.policy().global.day_msat == std::optional<uint64_t>(300'000));
  // Totals were rebuilt from the rows: settled 10,007 + unknown 40,400 + in_flight 50,500 + reserved 60,600.
  auto st = l.status();
  REQUIRE(st.ok());
  CHECK(st->global.windows[1].spent_msat == 161'507);
  CHECK(st->pending_count == 3);
  CHECK(st->unknown_count == 1);
  // The double-pay guard reads the migrated rows.
  auto a = l.reserve(req(1'000, hash_of(1)));
  REQUIRE_FALSE(a.ok());
  CHECK(a.error().code == "ALREADY_PAID");
  auto u = l.reserve(req(1'000, hash_of(4)));
  REQUIRE_FALSE(u.ok());
  CHECK(u.error().code == "PAYMENT_STATE_UNKNOWN");
  auto f = l.reserve(req(1'000, hash_of(5)));
  REQUIRE_FALSE(f.ok());
  CHECK(f.error().code == "PAYMENT_IN_PROGRESS");
  auto again = l.reserve(req(1'000, hash_of(2)));  // failed before: may be paid again
  REQUIRE(again.ok());
  // The migrated in_flight row settles normally and its counted amount follows.
  REQUIRE(l.settle(5, 20, std::string(64, 'f'), 9).ok());
  auto st2 = l.status();
  REQUIRE(st2.ok());
  CHECK(st2->global.windows[1].spent_msat == 161'507 - 500 + 20 + 1'000 + again->max_fee_msat);
  // Budget checks use the migrated rows: 300,000 msat day cap.
  auto over = l.reserve(req(140'000, hash_of(9)));
  REQUIRE_FALSE(over.ok());
  CHECK(over.error().code == "BUDGET_EXCEEDED");
  opened = make_error("X", "close");
  auto reopened = Ledger::open(path, bare_policy(), clock);  // v3 → v3: nothing to do
  REQUIRE(reopened.ok());
  auto p = (*reopened)->get_payment_by_id(5);
  REQUIRE(p.ok());
  CHECK(p->state == State::settled);
  CHECK(p->fee_msat == std::optional<uint64_t>(20));
}

TEST_CASE("a v2 ledger file is migrated to v3, v4 and v5 with every row intact and empty envelope_anchors, purchases, idempotency and envelope-tightening tables", "[sqlite]") {
  TempDir dir;
  FakeClock clock;  // now = 1'700'000'000
  const int64_t now = clock.now_unix();
  auto path = dir.ledger_at("ledger.db");
  std::string before, overrides_before;
  {
    RawDb raw(path);
    REQUIRE(raw.exec("PRAGMA journal_mode=WAL") == SQLITE_OK);
    REQUIRE(raw.exec(kV2Schema) == SQLITE_OK);
    auto row = [&](int id, const std::string& state, const std::string& hash, int64_t amount, int64_t max_fee,
                   const std::string& fee, const std::string& envelope, const std::string& domain) {
      const bool settled = state == "settled";
      return "INSERT INTO payments VALUES (" + std::to_string(id) + ", 'c', '" + envelope + "', '" + domain +
             "', 'pay_invoice', 'l402', 'lnbc1x', '" + hash + "', " + std::to_string(amount) + ", " +
             std::to_string(max_fee) + ", " + fee + ", '" + state + "', " +
             (state == "failed" ? std::string("'NO_ROUTE'") : std::string("NULL")) + ", " +
             (settled ? "'" + std::string(64, 'e') + "'" : std::string("NULL")) + ", " +
             std::to_string(now - 100 * id) + ", " + std::to_string(now - 50 * id) + ", " +
             (settled ? std::to_string(now - 40) : std::string("NULL")) + ", " +
             (settled ? std::string("17") : std::string("NULL")) + ", " +
             (state == "failed" || state == "released" ? "0" : "1") + ");";
    };
    REQUIRE(raw.exec(row(1, "settled", hash_of(1), 10'000, 100, "7", "team-a", "api.example.com")) == SQLITE_OK);
    REQUIRE(raw.exec(row(2, "failed", hash_of(2), 20'000, 200, "NULL", "team-a", "")) == SQLITE_OK);
    REQUIRE(raw.exec(row(3, "released", hash_of(3), 30'000, 300, "NULL", "", "")) == SQLITE_OK);
    REQUIRE(raw.exec(row(4, "unknown", hash_of(4), 40'000, 400, "NULL", "team-a", "")) == SQLITE_OK);
    REQUIRE(raw.exec(row(5, "in_flight", hash_of(5), 50'000, 500, "NULL", "", "api.example.com")) == SQLITE_OK);
    REQUIRE(raw.exec(row(6, "reserved", hash_of(6), 60'000, 600, "NULL", "team-b", "")) == SQLITE_OK);
    REQUIRE(raw.exec(row(7, "failed", hash_of(5), 50'000, 500, "NULL", "", "api.example.com")) == SQLITE_OK);
    REQUIRE(raw.exec("INSERT INTO spend_totals VALUES ('g', -9223372036854775808, 123)") == SQLITE_OK);  // stale
    REQUIRE(raw.exec("INSERT INTO policy_overrides VALUES (1, 4, '{\"day_sats\": 300}', 1)") == SQLITE_OK);
    REQUIRE(raw.exec("PRAGMA user_version=2") == SQLITE_OK);
    before = raw.dump(kAllColumns + std::string());
    overrides_before = raw.dump("SELECT * FROM policy_overrides");
  }
  REQUIRE(before.size() > 7 * 64);

  auto opened = Ledger::open(path, bare_policy(), clock);
  REQUIRE(opened.ok());
  Ledger& l = **opened;
  {
    RawDb raw(path);
    CHECK(raw.dump("PRAGMA user_version") == std::to_string(Ledger::kSchemaVersion) + "\n");
    CHECK(raw.dump("PRAGMA user_version") == "9\n");
    CHECK(raw.dump(kAllColumns) == before);
    CHECK(raw.dump("SELECT count(*) FROM envelope_tightenings") == "0\n");  // v5
    CHECK(raw.dump("SELECT count(*) FROM approvals") == "0\n");             // v6
    // v4: the new columns are empty for old rows; the new tables exist and are empty.
    CHECK(raw.dump("SELECT count(*) FROM payments WHERE request_expires_at IS NOT NULL OR wallet_said IS NOT NULL"
                   " OR resolved_by IS NOT NULL") == "0\n");
    CHECK(raw.dump("SELECT count(*) FROM purchases") == "0\n");
    CHECK(raw.dump("SELECT count(*) FROM idempotency_keys") == "0\n");  // every row and column, ids included
    CHECK(raw.dump("SELECT group_concat(counted, '') FROM (SELECT counted FROM payments ORDER BY id)") ==
          "1001110\n");
    CHECK(raw.dump("SELECT * FROM policy_overrides") == overrides_before);
    CHECK(raw.dump("SELECT count(*) FROM envelope_anchors") == "0\n");
    CHECK(raw.dump("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'payments'"
                   " AND name LIKE 'payments_%'") == "6\n");
    CHECK(raw.exec("INSERT INTO envelope_anchors VALUES ('x', 0, 1)") != SQLITE_OK);  // ttl must be > 0
  }
  CHECK(l.policy().global.day_msat == std::optional<uint64_t>(300'000));
  // The migrated rows still count (totals rebuilt; the stale 123 is gone): 10,007 + 40,400 + 50,500 + 60,600.
  auto st = l.status();
  REQUIRE(st.ok());
  CHECK(st->global.windows[1].spent_msat == 161'507);
  auto dup = l.reserve(req(1'000, hash_of(1)));
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.error().code == "ALREADY_PAID");

  // The new table works: a ttl envelope is anchored at now, and its budget reads the migrated rows.
  auto envs = envelopes_from_json(json::parse(R"([{"name":"team-a","cap_sats":60,"ttl_seconds":3600}])"), now);
  REQUIRE(envs.ok());
  REQUIRE(l.set_envelopes(*envs).ok());
  {
    RawDb raw(path);
    CHECK(raw.dump("SELECT name, ttl_seconds, anchored_at FROM envelope_anchors") ==
          "team-a|3600|" + std::to_string(now) + "\n");
    CHECK(raw.dump(kAllColumns) == before);
  }
  auto st2 = l.status();
  REQUIRE(st2.ok());
  REQUIRE(st2->envelopes.size() == 1);
  CHECK(st2->envelopes[0].windows[0].spent_msat == 10'007 + 40'400);  // team-a's counted rows
  CHECK(st2->envelopes[0].expires_at == now + 3600);
  auto rq = req(10'000, hash_of(20));
  rq.envelope = "team-a";
  auto over = l.reserve(rq);  // 50,407 + 10,000 > 60,000
  REQUIRE_FALSE(over.ok());
  CHECK(over.error().code == "BUDGET_EXCEEDED");
  opened = make_error("X", "close");
  auto reopened = Ledger::open(path, bare_policy(), clock);  // v3 → v3: nothing to do
  REQUIRE(reopened.ok());
  RawDb raw(path);
  CHECK(raw.dump(kAllColumns) == before);
  CHECK(raw.dump("SELECT count(*) FROM envelope_anchors") == "1\n");
}
