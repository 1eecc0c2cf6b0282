#include <sqlite3.h>
#include <sys/stat.h>

#include <cctype>
#include <functional>
#include <random>

#include <catch2/catch.hpp>

#include "helpers.h"

using namespace sw;
using namespace sw::spend;
using namespace spend_test;

namespace {

std::unique_ptr<Ledger> open_ledger(const std::string& path, const Policy& p, const Clock& c) {
  auto r = Ledger::open(path, p, c);
  if (!r.ok()) FAIL("open failed: " << r.error().code << " " << r.error().message);
  return std::move(r).value();
}

// reserve → in_flight → settle, returning the id.
int64_t pay(Ledger& l, const ReserveRequest& rq, uint64_t fee = 0) {
  auto r = l.reserve(rq);
  if (!r.ok()) FAIL("reserve failed: " << r.error().code << " " << r.error().message);
  REQUIRE(l.mark_in_flight(r->id).ok());
  REQUIRE(l.settle(r->id, fee, std::string(64, 'e'), 12).ok());
  return r->id;
}

int file_mode(const std::string& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 0777);
}

}  // namespace

TEST_CASE("ledger file and its WAL side files are mode 0600, WAL + FULL + current schema", "[sqlite]") {
  TempDir dir;
  FakeClock clock;
  auto path = dir.ledger_at("ledger.db");
  auto l = open_ledger(path, bare_policy(), clock);
  pay(*l, req(1000, hash_of(1)));
  CHECK(file_mode(path) == 0600);
  CHECK(file_mode(path + "-wal") == 0600);
  CHECK(file_mode(path + "-shm") == 0600);

  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  auto scalar = [&](const char* sql) {
    sqlite3_stmt* s = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql, -1, &s, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(s) == SQLITE_ROW);
    std::string v = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return v;
  };
  CHECK(scalar("PRAGMA journal_mode") == "wal");
  CHECK(scalar("PRAGMA user_version") == std::to_string(Ledger::kSchemaVersion));
  CHECK(scalar("SELECT preimage FROM payments WHERE id = 1") == std::string(64, 'e'));
  sqlite3_close(db);
}

TEST_CASE("a pre-existing world-readable ledger file is tightened to 0600", "[sqlite]") {
  TempDir dir;
  FakeClock clock;
  auto path = dir.ledger_at("ledger.db");
  FILE* f = std::fopen(path.c_str(), "w");
  REQUIRE(f);
  std::fclose(f);
  ::chmod(path.c_str(), 0644);
  auto l = open_ledger(path, bare_policy(), clock);
  CHECK(file_mode(path) == 0600);
}

TEST_CASE("a ledger from a newer schema is refused", "[sqlite]") {
  TempDir dir;
  FakeClock clock;
  auto path = dir.ledger_at("ledger.db");
  { auto l = open_ledger(path, bare_policy(), clock); }
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  auto r = Ledger::open(path, bare_policy(), clock);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "LEDGER_SCHEMA_TOO_NEW");
}

TEST_CASE("each rolling window refuses, then rolls off at exactly created_at + window") {
  const std::pair<Window, const char*> windows[] = {
      {Window::hour, "hour"}, {Window::day, "day"}, {Window::week, "week"}, {Window::month, "month"}};
  for (auto [w, name] : windows) {
    INFO(name);
    TempDir dir;
    FakeClock clock;
    Policy p = bare_policy();
    p.global.window(w) = 10'000;  // 10 sats
    auto l = open_ledger(dir.ledger_at("l.db"), p, clock);
    const int64_t t0 = clock.now_unix();
    pay(*l, req(6'000, hash_of(1)));
    clock.advance(10);
    pay(*l, req(4'000, hash_of(2)));
    auto r = l->reserve(req(1, hash_of(3)));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "BUDGET_EXCEEDED");
    CHECK(r.error().details["scope"] == "global");
    CHECK(r.error().details["window"] == name);
    CHECK(r.error().details["limit_sats"] == 10);
    CHECK(r.error().details["spent_sats"] == 10);
    CHECK(r.error().details["remaining_sats"] == 0);
    CHECK(r.error().details["requested_sats"] == 1);  // 1 msat rounds up to 1 sat
    CHECK(r.error().details["next_rolloff"] == t0 + window_seconds(w));

    auto st = l->status();
    REQUIRE(st.ok());
    const WindowStatus* ws = nullptr;
    for (const auto& x : st->global.windows)
      if (x.window == name) ws = &x;
    REQUIRE(ws);
    CHECK(ws->limit_msat == 10'000u);
    CHECK(ws->spent_msat == 10'000u);
    CHECK(ws->remaining_msat == 0u);
    CHECK(ws->next_rolloff == t0 + window_seconds(w));

    // One second before the first row leaves the window: still full.
    clock.set(t0 + window_seconds(w) - 1);
    CHECK(l->reserve(req(1, hash_of(3))).error().code == "BUDGET_EXCEEDED");
    // At t0 + window the first row (created at t0) is out: created_at > now - window fails.
    clock.set(t0 + window_seconds(w));
    CHECK_FALSE(l->reserve(req(6'001, hash_of(3))).ok());
    auto ok = l->reserve(req(6'000, hash_of(4)));
    CHECK(ok.ok());
    // After the second row leaves too, everything is free again.
    clock.set(t0 + 10 + window_seconds(w));
    CHECK(l->reserve(req(4'000, hash_of(5))).ok());
  }
}

TEST_CASE("lifetime cap never rolls off") {
  TempDir dir;
  FakeClock clock;
  Policy p = bare_policy();
  p.global.lifetime_msat = 5'000;
  auto l = open_ledger(dir.ledger_at("l.db"), p, clock);
  pay(*l, req(5'000, hash_of(1)));
  clock.advance(400LL * 86400);
  auto r = l->reserve(req(1, hash_of(2)));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().details["window"] == "lifetime");
  CHECK_FALSE(r.error().details.contains("next_rolloff"));
}

TEST_CASE("per-call cap: global and per domain") {
  TempDir dir;
  FakeClock clock;
  Policy p = bare_policy();
  p.global.per_call_msat = 1'000'000;
  p.domains["api.example.com"].per_call_msat = 100'000;
  auto l = open_ledger(dir.ledger_at("l.db"), p, clock);
  CHECK(l->reserve(req(1'000'000, hash_of(1))).ok());
  auto r = l->reserve(req(1'000'001, hash_of(2)));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "BUDGET_EXCEEDED");
  CHECK(r.error().details["window"] == "per_call");
  CHECK(r.error().details["scope"] == "global");
  CHECK(r.error().details["limit_sats"] == 1000);
  CHECK(r.error().details["requested_sats"] == 1001);
  auto d = l->reserve(req(100'001, hash_of(3), "API.example.com"));
  REQUIRE_FALSE(d.ok());
  CHECK(d.error().details["scope"] == "domain:api.example.com");
  CHECK(d.error().details["window"] == "per_call");
  CHECK(l->reserve(req(100'000, hash_of(4), "api.example.com")).ok());
  CHECK(l->reserve(req(900'000, hash_of(5), "other.com")).ok());
}

TEST_CASE("domain caps and global caps must both pass, wildcard domain entries aggregate subdomains") {
  TempDir dir;
  FakeClock clock;
  Policy p = bare_policy();
  p.global.day_msat = 100'000;
  p.domains["shop.com"].day_msat = 30'000;
  p.domains["*.api.net"].hour_msat = 20'000;
  auto l = open_ledger(dir.ledger_at("l.db"), p, clock);

  pay(*l, req(30'000, hash_of(1), "shop.com"));
  auto r = l->reserve(req(1'000, hash_of(2), "shop.com"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().details["scope"] == "domain:shop.com");
  CHECK(r.error().details["window"] == "day");
  CHECK(r.error().details["spent_sats"] == 30);
  CHECK(l->reserve(req(1'000, hash_of(3), "www.shop.com")).ok());  // not covered by the exact entry

  pay(*l, req(15'000, hash_of(4), "a.api.net"));
  auto w = l->reserve(req(6'000, hash_of(5), "b.c.api.net"));
  REQUIRE_FALSE(w.ok());
  CHECK(w.error().details["scope"] == "domain:*.api.net");
  CHECK(w.error().details["window"] == "hour");
  CHECK(l->reserve(req(5'000, hash_of(6), "b.c.api.net")).ok());

  // Global: 30 + 1 + 15 + 5 = 51 sats used; a domain-less 50 sat payment would pass no domain cap but not global.
  auto g = l->reserve(req(50'000, hash_of(7)));
  REQUIRE_FALSE(g.ok());
  CHECK(g.error().details["scope"] == "global");
  CHECK(g.error().details["spent_sats"] == 51);
  CHECK(g.error().details["remaining_sats"] == 49);
  CHECK(l->reserve(req(49'000, hash_of(8))).ok());
}

TEST_CASE("allow and deny lists (deny wins, suffix match) and allowed protocols") {
  TempDir dir;
  FakeClock clock;
  Policy p = bare_policy();
  p.allow_domains = std::vector<std::string>{"*.example.com", "pay.org"};
  p.deny_domains = {"evil.example.com"};
  p.protocols = {"bolt11", "l402"};
  auto l = open_ledger(dir.ledger_at("l.db"), p, clock);
  CHECK(l->reserve(req(1, hash_of(1), "api.example.com")).ok());
  CHECK(l->reserve(req(1, hash_of(2), "pay.org.")).ok());
  auto d = l->reserve(req(1, hash_of(3), "evil.example.com"));
  REQUIRE_FALSE(d.ok());
  CHECK(d.error().code == "DOMAIN_NOT_ALLOWED");
  CHECK(d.error().details["reason"] == "denied");
  auto n = l->reserve(req(1, hash_of(4), "example.com"));
  REQUIRE_FALSE(n.ok());
  CHECK(n.error().code == "DOMAIN_NOT_ALLOWED");
  CHECK(n.error().details["reason"] == "not_allowed");
  CHECK(l->reserve(req(1, hash_of(5), "sub.pay.org")).error().code == "DOMAIN_NOT_ALLOWED");
  CHECK(l->reserve(req(1, hash_of(6))).ok());  // plain invoice: not domain-scoped
  auto pr = l->reserve(req(1, hash_of(7), "api.example.com", "mpp"));
  REQUIRE_FALSE(pr.ok());
  CHECK(pr.error().code == "PROTOCOL_NOT_ALLOWED");
  CHECK(l->reserve(req(1, hash_of(8), "", "lnurl")).error().code == "INVALID_ARGUMENT");
}

TEST_CASE("fee allowance is reserved, then replaced by the actual fee on settle") {
  TempDir dir;
  FakeClock clock;
  Policy p = bare_policy();
  p.fee = {2'000, 10'000};  // max(2 sat, 1 %)
  p.global.day_msat = 110'000;
  auto l = open_ledger(dir.ledger_at("l.db"), p, clock);
  auto r = l->reserve(req(100'000, hash_of(1)));
  REQUIRE(r.ok());
  CHECK(r->max_fee_msat == 1'000 * 2);  // 1 % of 100 sats = 1 sat < 2 sat base
  // 100 + 2 counted: 9 sats left (8 + its 2 sat allowance = 10 > 8): refused.
  auto full = l->reserve(req(8'000, hash_of(2)));
  REQUIRE_FALSE(full.ok());
  CHECK(full.error().details["spent_msat"] == 102'000);
  CHECK(full.error().details["requested_msat"] == 10'000);
  REQUIRE(l->mark_in_flight(r->id).ok());
  REQUIRE(l->settle(r->id, 500, std::string(64, 'a'), 40).ok());
  auto st = l->status();
  REQUIRE(st.ok());
  CHECK(st->global.windows[1].spent_msat == 100'500);
  CHECK(l->reserve(req(7'500, hash_of(3))).ok());  // 100.5 + 7.5 + 2 = 110
  auto pay_row = l->get_payment(hash_of(1));
  REQUIRE(pay_row.ok());
  CHECK(pay_row->fee_msat == 500u);
  CHECK(pay_row->max_fee_msat == 2'000u);
  CHECK(pay_row->counted_msat() == 100'500u);
  CHECK(pay_row->latency_ms == 40);
  CHECK(pay_row->settled_at == clock.now_unix());
}

TEST_CASE("failed and released rows stop counting, unknown keeps counting") {
  TempDir dir;
  FakeClock clock;
  Policy p = bare_policy();
  p.global.day_msat = 10'000;
  auto l = open_ledger(dir.ledger_at("l.db"), p, clock);
  auto a = l->reserve(req(10'000, hash_of(1)));
  REQUIRE(a.ok());
  CHECK(l->reserve(req(1, hash_of(2))).error().code == "BUDGET_EXCEEDED");
  REQUIRE(l->release(a->id).ok());
  auto b = l->reserve(req(10'000, hash_of(2)));
  REQUIRE(b.ok());
  REQUIRE(l->mark_in_flight(b->id).ok());
  REQUIRE(l->fail(b->id, "payment_failed").ok());
  CHECK(l->get_payment_by_id(b->id)->error_code == "PAYMENT_FAILED");
  auto c = l->reserve(req(10'000, hash_of(3)));
  REQUIRE(c.ok());
  REQUIRE(l->mark_in_flight(c->id).ok());
  REQUIRE(l->mark_unknown(c->id, "TIMEOUT").ok());
  CHECK(l->reserve(req(1, hash_of(4))).error().code == "BUDGET_EXCEEDED");
}

TEST_CASE("double-pay guard by payment hash, including across a restart") {
  TempDir dir;
  FakeClock clock;
  auto path = dir.ledger_at("l.db");
  std::string h_settled = hash_of(1), h_flight = hash_of(2), h_unknown = hash_of(3), h_failed = hash_of(4),
              h_reserved = hash_of(5);
  {
    auto l = open_ledger(path, bare_policy(), clock);
    pay(*l, req(1000, h_settled));
    auto f = l->reserve(req(1000, h_flight));
    REQUIRE(l->mark_in_flight(f->id).ok());
    auto u = l->reserve(req(1000, h_unknown));
    REQUIRE(l->mark_in_flight(u->id).ok());
    REQUIRE(l->mark_unknown(u->id, "TIMEOUT").ok());
    auto x = l->reserve(req(1000, h_failed));
    REQUIRE(l->mark_in_flight(x->id).ok());
    REQUIRE(l->fail(x->id, "NO_ROUTE").ok());
    REQUIRE(l->reserve(req(1000, h_reserved)).ok());
    // Same process: upper-case hex is the same hash.
    std::string upper = h_settled;
    for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    CHECK(l->reserve(req(1000, upper)).error().code == "ALREADY_PAID");
  }
  auto l = open_ledger(path, bare_policy(), clock);  // "restart"
  auto paid = l->reserve(req(1000, h_settled));
  REQUIRE_FALSE(paid.ok());
  CHECK(paid.error().code == "ALREADY_PAID");
  CHECK(paid.error().details["state"] == "settled");
  CHECK(l->reserve(req(1000, h_flight)).error().code == "PAYMENT_IN_PROGRESS");
  CHECK(l->reserve(req(1000, h_reserved)).error().code == "PAYMENT_IN_PROGRESS");
  CHECK(l->reserve(req(1000, h_unknown)).error().code == "PAYMENT_STATE_UNKNOWN");
  CHECK(l->reserve(req(1000, h_failed)).ok());  // a definite failure may be retried
  CHECK(l->reserve(req(1000, h_failed)).error().code == "PAYMENT_IN_PROGRESS");
}

TEST_CASE("illegal transitions are refused and leave the row unchanged") {
  TempDir dir;
  FakeClock clock;
  auto l = open_ledger(dir.ledger_at("l.db"), bare_policy(), clock);
  auto r = l->reserve(req(1000, hash_of(1)));
  REQUIRE(r.ok());
  auto s = l->settle(r->id, 0, "", 1);  // reserved → settled skips in_flight
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == "ILLEGAL_TRANSITION");
  CHECK(s.error().details["from"] == "reserved");
  CHECK(s.error().details["to"] == "settled");
  CHECK(l->mark_unknown(r->id, "X").error().code == "ILLEGAL_TRANSITION");
  REQUIRE(l->mark_in_flight(r->id).ok());
  CHECK(l->mark_in_flight(r->id).error().code == "ILLEGAL_TRANSITION");
  REQUIRE(l->settle(r->id, 1, std::string(64, 'b'), 1).ok());
  CHECK(l->settle(r->id, 1, std::string(64, 'b'), 1).error().code == "ILLEGAL_TRANSITION");
  CHECK(l->fail(r->id, "LATE").error().code == "ILLEGAL_TRANSITION");
  CHECK(l->release(r->id).error().code == "ILLEGAL_TRANSITION");
  CHECK(l->get_payment_by_id(r->id)->state == State::settled);
  CHECK(l->mark_in_flight(9999).error().code == "PAYMENT_NOT_FOUND");
  auto r2 = l->reserve(req(1000, hash_of(2)));
  REQUIRE(l->release(r2->id).ok());
  CHECK(l->mark_in_flight(r2->id).error().code == "ILLEGAL_TRANSITION");
  CHECK(l->settle(r->id, 1, "zz", 1).error().code == "INVALID_ARGUMENT");
}

TEST_CASE("request validation") {
  TempDir dir;
  FakeClock clock;
  auto l = open_ledger(dir.ledger_at("l.db"), bare_policy(), clock);
  CHECK(l->reserve(req(0, hash_of(1))).error().code == "INVALID_ARGUMENT");
  CHECK(l->reserve(req(kMaxMsat + 1, hash_of(1))).error().code == "INVALID_ARGUMENT");
  CHECK(l->reserve(req(1, "abc")).error().code == "INVALID_ARGUMENT");
  CHECK(l->reserve(req(1, std::string(64, 'g'))).error().code == "INVALID_ARGUMENT");
  CHECK(l->reserve(req(1, hash_of(1), "bad domain")).error().code == "INVALID_ARGUMENT");
}

TEST_CASE("tighten: accepted when stricter, refused naming the field, persisted across restart") {
  TempDir dir;
  FakeClock clock;
  auto path = dir.ledger_at("l.db");
  Policy cfg = bare_policy();
  cfg.global.day_msat = 100'000;
  {
    auto l = open_ledger(path, cfg, clock);
    Policy looser = l->policy();
    looser.global.day_msat = 200'000;
    auto s = l->tighten(looser);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == "POLICY_LOOSEN_REFUSED");
    CHECK(s.error().details["field"] == "global.day_msat");
    CHECK(l->policy().global.day_msat == 100'000u);

    Policy tighter = l->policy();
    tighter.global.day_msat = 50'000;
    tighter.deny_domains = {"evil.com"};
    REQUIRE(l->tighten(tighter).ok());
    CHECK(l->policy().global.day_msat == 50'000u);
    CHECK(l->reserve(req(50'001, hash_of(1))).error().code == "BUDGET_EXCEEDED");
    CHECK(l->reserve(req(1, hash_of(2), "evil.com")).error().code == "DOMAIN_NOT_ALLOWED");
    // Loosening back to the configured value is refused too.
    CHECK(l->tighten(cfg).error().code == "POLICY_LOOSEN_REFUSED");
  }
  {
    // Restart with the same (looser) configuration: the tightening survives.
    auto l = open_ledger(path, cfg, clock);
    CHECK(l->policy().global.day_msat == 50'000u);
    CHECK(l->policy().deny_domains == std::vector<std::string>{"evil.com"});
    CHECK(l->reserve(req(50'001, hash_of(1))).error().code == "BUDGET_EXCEEDED");
    // A stricter configuration wins over the persisted one where it is stricter.
    Policy stricter_cfg = cfg;
    stricter_cfg.global.day_msat = 10'000;
    stricter_cfg.global.hour_msat = 5'000;
    auto l2 = open_ledger(path, stricter_cfg, clock);
    CHECK(l2->policy().global.day_msat == 10'000u);
    CHECK(l2->policy().global.hour_msat == 5'000u);
    CHECK(l2->policy().deny_domains == std::vector<std::string>{"evil.com"});
    // The operator can clear the tightenings.
    REQUIRE(l->reset_policy_overrides().ok());
    CHECK(l->policy().global.day_msat == 100'000u);
  }
  auto l = open_ledger(path, cfg, clock);
  CHECK(l->policy().global.day_msat == 100'000u);
}

TEST_CASE("a tightening by one Ledger is seen by another on the same file") {
  TempDir dir;
  FakeClock clock;
  auto path = dir.ledger_at("l.db");
  auto a = open_ledger(path, bare_policy(), clock);
  auto b = open_ledger(path, bare_policy(), clock);
  Policy t = a->policy();
  t.global.per_call_msat = 10;
  REQUIRE(a->tighten(t).ok());
  CHECK(b->reserve(req(11, hash_of(1))).error().code == "BUDGET_EXCEEDED");
  CHECK(b->policy().global.per_call_msat == 10u);
}

TEST_CASE("reconciliation: unknown → settled / failed, pending stays, lookup errors counted") {
  TempDir dir;
  FakeClock clock;
  Policy p = bare_policy();
  p.fee.base_msat = 3'000;
  auto l = open_ledger(dir.ledger_at("l.db"), p, clock);
  std::vector<int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    auto r = l->reserve(req(10'000, hash_of(static_cast<uint64_t>(i))));
    REQUIRE(r.ok());
    REQUIRE(l->mark_in_flight(r->id).ok());
    REQUIRE(l->mark_unknown(r->id, "TIMEOUT").ok());
    ids.push_back(r->id);
  }
  std::vector<std::string> looked_up;
  auto lookup = [&](const std::string& h) -> Result<LookupOutcome> {
    looked_up.push_back(h);
    LookupOutcome o;
    if (h == hash_of(0)) {
      o.kind = LookupOutcome::Kind::settled;
      o.fee_msat = 7;
      o.preimage = std::string(64, 'c');
    } else if (h == hash_of(1)) {
      o.kind = LookupOutcome::Kind::failed;
      o.error_code = "EXPIRED";
    } else if (h == hash_of(2)) {
      o.kind = LookupOutcome::Kind::pending;
    } else if (h == hash_of(3)) {
      o.kind = LookupOutcome::Kind::settled;  // no fee reported: the allowance stays as the fee
      o.preimage = std::string(64, 'd');
    } else {
      return make_error("NOT_FOUND", "wallet does not know it");
    }
    return o;
  };
  auto s = l->reconcile(lookup);
  REQUIRE(s.ok());
  CHECK(s->examined == 5);
  CHECK(s->settled == 2);
  CHECK(s->failed == 1);
  CHECK(s->pending == 1);
  CHECK(s->lookup_errors == 1);
  CHECK(looked_up.size() == 5);
  auto p0 = l->get_payment(hash_of(0));
  CHECK(p0->state == State::settled);
  CHECK(p0->fee_msat == 7u);
  CHECK(p0->preimage == std::string(64, 'c'));
  CHECK(l->get_payment(hash_of(1))->state == State::failed);
  CHECK(l->get_payment(hash_of(1))->error_code == "EXPIRED");
  CHECK(l->get_payment(hash_of(2))->state == State::unknown);
  CHECK(l->get_payment(hash_of(3))->fee_msat == 3'000u);
  CHECK(l->get_payment(hash_of(4))->state == State::unknown);
  // A second pass only looks at what is still unknown.
  looked_up.clear();
  auto s2 = l->reconcile(lookup);
  REQUIRE(s2.ok());
  CHECK(s2->examined == 2);
  CHECK(looked_up.size() == 2);
}

TEST_CASE("crash leftovers at start-up: stale reserved → released, stale in_flight → unknown") {
  TempDir dir;
  FakeClock clock;
  auto path = dir.ledger_at("l.db");
  Policy p = bare_policy();
  p.global.day_msat = 30'000;
  int64_t reserved_id = 0, flight_id = 0, fresh_id = 0;
  {
    auto l = open_ledger(path, p, clock);
    reserved_id = l->reserve(req(10'000, hash_of(1)))->id;
    flight_id = l->reserve(req(10'000, hash_of(2)))->id;
    REQUIRE(l->mark_in_flight(flight_id).ok());
    clock.advance(100);
    fresh_id = l->reserve(req(10'000, hash_of(3)))->id;  // e.g. another live process's reservation
  }  // "crash"
  auto l = open_ledger(path, p, clock);
  auto rec = l->recover_after_crash(clock.now_unix(), 30);
  INFO((rec.ok() ? std::string() : rec.error().message));
  REQUIRE(rec.ok());
  CHECK(rec->released == 1);
  CHECK(rec->marked_unknown == 1);
  CHECK(l->get_payment_by_id(reserved_id)->state == State::released);
  CHECK(l->get_payment_by_id(reserved_id)->error_code == "CRASH_NEVER_SENT");
  CHECK(l->get_payment_by_id(flight_id)->state == State::unknown);
  CHECK(l->get_payment_by_id(fresh_id)->state == State::reserved);
  // The released one no longer counts; the unknown and the fresh one still do.
  auto st = l->status();
  CHECK(st->global.windows[1].spent_msat == 20'000u);
  CHECK(st->unknown_count == 1);
  CHECK(st->pending_count == 2);
  // The interrupted payment is then reconciled.
  auto s = l->reconcile([](const std::string&) -> Result<LookupOutcome> {
    LookupOutcome o;
    o.kind = LookupOutcome::Kind::settled;
    o.fee_msat = 0;
    o.preimage = std::string(64, 'f');
    return o;
  });
  REQUIRE(s.ok());
  CHECK(s->settled == 1);
  CHECK(l->get_payment_by_id(flight_id)->state == State::settled);
}

TEST_CASE("envelopes: cap, expiry, protocols, unknown name") {
  TempDir dir;
  FakeClock clock;
  auto l = open_ledger(dir.ledger_at("l.db"), bare_policy(), clock);
  Envelope a{"team-a", 20'000, clock.now_unix() + 3600, std::nullopt, std::nullopt};
  Envelope b{"l402-only", 1'000'000, std::nullopt, std::vector<std::string>{"l402"}, std::nullopt};
  REQUIRE(l->set_envelopes({a, b}).ok());
  auto rq = req(15'000, hash_of(1));
  rq.envelope = "team-a";
  REQUIRE(l->reserve(rq).ok());
  rq.payment_hash = hash_of(2);
  rq.amount_msat = 6'000;
  auto over = l->reserve(rq);
  REQUIRE_FALSE(over.ok());
  CHECK(over.error().code == "BUDGET_EXCEEDED");
  CHECK(over.error().details["scope"] == "envelope:team-a");
  CHECK(over.error().details["remaining_sats"] == 5);
  CHECK(l->reserve(req(6'000, hash_of(2))).ok());  // outside the envelope the global policy applies
  rq.payment_hash = hash_of(3);
  rq.amount_msat = 5'000;
  CHECK(l->reserve(rq).ok());
  auto st = l->status();
  REQUIRE(st.ok());
  REQUIRE(st->envelopes.size() == 2);
  CHECK(st->envelopes[0].windows[0].spent_msat == 20'000u);
  CHECK(st->envelopes[0].windows[0].remaining_msat == 0u);

  clock.advance(3600);
  rq.payment_hash = hash_of(4);
  rq.amount_msat = 1;
  CHECK(l->reserve(rq).error().code == "ENVELOPE_EXPIRED");

  auto rb = req(1, hash_of(5), "x.com", "bolt11");
  rb.envelope = "l402-only";
  auto pr = l->reserve(rb);
  REQUIRE_FALSE(pr.ok());
  CHECK(pr.error().code == "PROTOCOL_NOT_ALLOWED");
  CHECK(pr.error().details["scope"] == "envelope:l402-only");
  rb.protocol = "l402";
  CHECK(l->reserve(rb).ok());
  rb.envelope = "nope";
  rb.payment_hash = hash_of(6);
  CHECK(l->reserve(rb).error().code == "ENVELOPE_UNKNOWN");
  CHECK(l->set_envelopes({a, a}).error().code == "POLICY_INVALID");
}

TEST_CASE("status per domain, list_payments pagination and filters, report by domain and UTC day") {
  TempDir dir;
  FakeClock clock(1'700'000'000);  // 2023-11-14T22:13:20Z
  Policy p = bare_policy();
  p.domains["a.com"].day_msat = 50'000;
  auto l = open_ledger(dir.ledger_at("l.db"), p, clock);
  for (int i = 0; i < 7; ++i) pay(*l, req(1'000, hash_of(static_cast<uint64_t>(i)), i % 2 ? "a.com" : "b.com"), 10);
  clock.advance(7200);  // next UTC day
  auto f = l->reserve(req(2'000, hash_of(100), "a.com"));
  REQUIRE(l->mark_in_flight(f->id).ok());
  REQUIRE(l->fail(f->id, "NO_ROUTE").ok());
  REQUIRE(l->reserve(req(3'000, hash_of(101), "a.com")).ok());

  auto st = l->status();
  REQUIRE(st.ok());
  REQUIRE(st->domains.size() == 1);
  CHECK(st->domains[0].scope == "domain:a.com");
  CHECK(st->domains[0].windows[1].spent_msat == 3 * 1'010 + 3'000);
  CHECK(st->domains[0].windows[1].remaining_msat == 50'000 - 6'030);
  CHECK(st->domains[0].windows[1].next_rolloff == 1'700'000'000 + 86400);
  CHECK(st->global.windows[4].window == "lifetime");
  CHECK(st->global.windows[4].spent_msat == 7 * 1'010 + 3'000);
  auto sj = to_json(*st);
  CHECK(sj["global"]["windows"][1]["spent_sats"] == 11);

  // Pagination: 9 rows, pages of 4, newest first, no duplicates.
  std::vector<int64_t> seen;
  ListQuery q;
  q.limit = 4;
  for (int page = 0; page < 5; ++page) {
    auto pg = l->list_payments(q);
    INFO((pg.ok() ? std::string() : pg.error().message));
    REQUIRE(pg.ok());
    for (const auto& x : pg->items) seen.push_back(x.id);
    if (!pg->next_cursor) break;
    q.cursor = pg->next_cursor;
  }
  REQUIRE(seen.size() == 9);
  for (size_t i = 1; i < seen.size(); ++i) CHECK(seen[i] < seen[i - 1]);
  ListQuery qa;
  qa.domain = "a.com";
  qa.state = State::settled;
  auto pa = l->list_payments(qa);
  REQUIRE(pa.ok());
  CHECK(pa->items.size() == 3);
  CHECK_FALSE(pa->next_cursor);
  ListQuery qs;
  qs.since = 1'700'000'000 + 7200;
  CHECK(l->list_payments(qs)->items.size() == 2);
  ListQuery bad;
  bad.cursor = "garbage";
  CHECK(l->list_payments(bad).error().code == "INVALID_CURSOR");

  auto rep = l->report(0, clock.now_unix() + 1);
  REQUIRE(rep.ok());
  CHECK(rep->total.settled_count == 7);
  CHECK(rep->total.settled_amount_msat == 7'000);
  CHECK(rep->total.settled_fee_msat == 70);
  CHECK(rep->total.failed_count == 1);
  CHECK(rep->total.pending_count == 1);
  CHECK(rep->total.pending_msat == 3'000);
  CHECK(rep->by_domain["a.com"].settled_count == 3);
  CHECK(rep->by_domain["b.com"].settled_count == 4);
  CHECK(rep->by_day["2023-11-14"].settled_count == 7);
  CHECK(rep->by_day["2023-11-15"].failed_count == 1);
  auto rj = to_json(*rep);
  CHECK(rj["total"]["settled_total_sats"] == 8);
  auto narrow = l->report(1'700'000'000 + 7200, clock.now_unix() + 1);
  CHECK(narrow->total.settled_count == 0);

  auto got = l->get_payment(hash_of(3));
  REQUIRE(got.ok());
  CHECK(got->domain == "a.com");
  auto pj = to_json(*got);
  CHECK_FALSE(pj.contains("preimage"));
  CHECK(to_json(*got, true)["preimage"] == std::string(64, 'e'));
  CHECK(l->get_payment(hash_of(999)).error().code == "PAYMENT_NOT_FOUND");
}

TEST_CASE("window sums from hourly aggregates equal a brute-force sum over the rows at every second boundary") {
  TempDir dir;
  FakeClock clock(1'700'000'000);
  auto path = dir.ledger_at("l.db");
  Policy p = bare_policy();
  p.fee = {500, 20'000};
  p.domains["*.example.com"].day_msat = kMaxMsat;
  p.domains["a.example.com"].day_msat = kMaxMsat;
  auto l = open_ledger(path, p, clock);
  std::mt19937_64 rng(5);
  const char* domains[] = {"", "a.example.com", "b.example.com", "x.org"};
  // 300 payments spread over ~40 days, ending in every state.
  for (uint64_t i = 0; i < 300; ++i) {
    clock.advance(static_cast<int64_t>(rng() % 20'000));
    auto r = l->reserve(req(1 + rng() % 100'000, hash_of(i), domains[rng() % 4]));
    REQUIRE(r.ok());
    switch (rng() % 5) {
      case 0: break;  // stays reserved
      case 1: REQUIRE(l->release(r->id).ok()); break;
      case 2:
        REQUIRE(l->mark_in_flight(r->id).ok());
        REQUIRE(l->fail(r->id, "X").ok());
        break;
      case 3:
        REQUIRE(l->mark_in_flight(r->id).ok());
        REQUIRE(l->mark_unknown(r->id, "T").ok());
        break;
      default:
        REQUIRE(l->mark_in_flight(r->id).ok());
        REQUIRE(l->settle(r->id, rng() % (r->max_fee_msat + 1), "", 1).ok());
    }
  }
  std::vector<Payment> rows;
  ListQuery q;
  q.limit = 500;
  auto all = l->list_payments(q);
  REQUIRE(all.ok());
  rows = all->items;
  REQUIRE(rows.size() == 300);
  auto brute = [&](int64_t now, int64_t window, const std::function<bool(const Payment&)>& in_scope) {
    uint64_t s = 0;
    for (const auto& r : rows)
      if (in_scope(r) && (window < 0 || r.created_at > now - window)) s += r.counted_msat();
    return s;
  };
  auto any = [](const Payment&) { return true; };
  auto suffix = [](const Payment& r) { return domain_matches("*.example.com", r.domain); };
  auto exact = [](const Payment& r) { return r.domain == "a.example.com"; };
  auto check_all = [&](Ledger& led) {
    const int64_t end = clock.now_unix();
    // Probe around every row's roll-off instants plus random points.
    std::vector<int64_t> probes;
    for (size_t i = 0; i < rows.size(); i += 7)
      for (Window w : {Window::hour, Window::day, Window::week, Window::month})
        for (int64_t d : {-1, 0, 1}) probes.push_back(rows[i].created_at + window_seconds(w) + d);
    for (int i = 0; i < 30; ++i) probes.push_back(end - static_cast<int64_t>(rng() % (45LL * 86400)));
    for (int64_t now : probes) {
      auto st = led.status(now);
      REQUIRE(st.ok());
      const int64_t ws[] = {3600, 86400, 7 * 86400, 30 * 86400, -1};
      for (int i = 0; i < 5; ++i) {
        INFO("now " << now << " window " << i);
        CHECK(st->global.windows[static_cast<size_t>(i)].spent_msat == brute(now, ws[i], any));
        CHECK(st->domains[0].windows[static_cast<size_t>(i)].spent_msat == brute(now, ws[i], suffix));
        CHECK(st->domains[1].windows[static_cast<size_t>(i)].spent_msat == brute(now, ws[i], exact));
      }
      // next_rolloff = oldest counted row inside the day window + 1 day
      std::optional<int64_t> oldest;
      for (const auto& r : rows)
        if (r.counted_msat() && r.created_at > now - 86400 && (!oldest || r.created_at < *oldest)) oldest = r.created_at;
      CHECK(st->global.windows[1].next_rolloff == (oldest ? std::optional<int64_t>(*oldest + 86400) : std::nullopt));
    }
  };
  REQUIRE(l->policy().domains.begin()->first == "*.example.com");
  check_all(*l);
  l.reset();
  auto l2 = open_ledger(path, p, clock);  // aggregates rebuilt from the rows on open
  check_all(*l2);
}

TEST_CASE("a reservation records the MCP request that made it (schema v7)") {
  TempDir dir;
  FakeClock clock;
  auto l = open_ledger(dir.ledger_at("l.db"), bare_policy(), clock);
  {
    RequestScope scope("feedc0ffee123456");
    REQUIRE(l->reserve(req(1'000, hash_of(1))).ok());
  }
  auto explicit_id = req(1'000, hash_of(2));
  explicit_id.request_id = "given-by-caller";
  REQUIRE(l->reserve(explicit_id).ok());
  REQUIRE(l->reserve(req(1'000, hash_of(3))).ok());  // outside any request
  CHECK(l->get_payment(hash_of(1))->request_id == "feedc0ffee123456");
  CHECK(l->get_payment(hash_of(2))->request_id == "given-by-caller");
  CHECK(l->get_payment(hash_of(3))->request_id.empty());
  CHECK(to_json(*l->get_payment(hash_of(1)))["request_id"] == "feedc0ffee123456");
  CHECK_FALSE(to_json(*l->get_payment(hash_of(3))).contains("request_id"));
  CHECK(l->ping());
}
