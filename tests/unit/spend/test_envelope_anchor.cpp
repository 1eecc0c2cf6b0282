// ttl_seconds envelopes are anchored in the ledger file the first time the ledger sees them: a restart (with a
// later clock) does not give an expired envelope new time; changing the configured ttl re-anchors at now
// (logged at notice); cap/protocol changes and removal leave the anchor alone; absolute expiries are untouched.
#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>

#include "helpers.h"

using namespace sw;
using namespace sw::spend;
using namespace spend_test;

namespace {

constexpr int64_t T0 = 1'700'000'000;  // FakeClock's default

std::unique_ptr<Ledger> open_ledger(const std::string& path, const Clock& c) {
  auto r = Ledger::open(path, bare_policy(), c);
  if (!r.ok()) FAIL("open failed: " << r.error().code << " " << r.error().message);
  return std::move(r).value();
}

// What app.cpp does at start-up: parse the config's envelopes at the current time, hand them to the ledger.
std::unique_ptr<Ledger> start(const std::string& path, const FakeClock& clock, const std::string& envelopes_json) {
  auto l = open_ledger(path, clock);
  auto envs = envelopes_from_json(json::parse(envelopes_json), clock.now_unix());
  REQUIRE(envs.ok());
  auto st = l->set_envelopes(*envs);
  if (!st.ok()) FAIL("set_envelopes failed: " << st.error().code << " " << st.error().message);
  return l;
}

std::optional<int64_t> expiry_of(const Ledger& l, const std::string& name) {
  for (const auto& e : l.envelopes())
    if (e.name == name) return e.expires_at;
  FAIL("no envelope named " << name);
  return std::nullopt;
}

Result<Reservation> reserve_in(Ledger& l, const std::string& envelope, uint64_t amount, uint64_t n) {
  auto rq = req(amount, hash_of(n));
  rq.envelope = envelope;
  return l.reserve(rq);
}

// "ttl|anchored_at" of the persisted anchor, "" when there is none.
std::string anchor_row(const std::string& path, const std::string& name) {
  auto rows = raw_rows(path, "SELECT ttl_seconds, anchored_at FROM envelope_anchors WHERE name = '" + name + "'");
  return rows.empty() ? "" : rows[0][0] + "|" + rows[0][1];
}

// Captures what is written to stderr (where sw::log writes) while f runs.
template <class F>
std::string capture_stderr(const std::string& file, F&& f) {
  std::fflush(stderr);
  int saved = ::dup(2);
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  REQUIRE(saved >= 0);
  REQUIRE(fd >= 0);
  ::dup2(fd, 2);
  ::close(fd);
  f();
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("a ttl envelope keeps its first expiry across restarts, once expired it stays expired") {
  TempDir dir;
  FakeClock clock;
  const auto path = dir.ledger_at("ledger.db");
  const std::string cfg = R"([{"name":"hosted","cap_sats":100,"ttl_seconds":3600}])";
  {
    auto l = start(path, clock, cfg);
    CHECK(expiry_of(*l, "hosted") == T0 + 3600);
    CHECK(anchor_row(path, "hosted") == "3600|" + std::to_string(T0));
    REQUIRE(reserve_in(*l, "hosted", 1'000, 1).ok());
  }
  // Restart before the expiry: same expiry (not now + ttl), the envelope still works.
  clock.set(T0 + 1800);
  {
    auto l = start(path, clock, cfg);
    CHECK(expiry_of(*l, "hosted") == T0 + 3600);
    REQUIRE(reserve_in(*l, "hosted", 1'000, 2).ok());
  }
  // Restart after the expiry: still expired, the reservation is refused.
  clock.set(T0 + 7200);
  {
    auto l = start(path, clock, cfg);
    CHECK(expiry_of(*l, "hosted") == T0 + 3600);
    auto r = reserve_in(*l, "hosted", 1'000, 3);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "ENVELOPE_EXPIRED");
    CHECK(r.error().details["expired_at"] == T0 + 3600);
    auto st = l->status();
    REQUIRE(st.ok());
    REQUIRE(st->envelopes.size() == 1);
    CHECK(st->envelopes[0].expires_at == T0 + 3600);
    // Calling set_envelopes again in the same process does not re-anchor either.
    auto envs = envelopes_from_json(json::parse(cfg), clock.now_unix());
    REQUIRE(envs.ok());
    REQUIRE(l->set_envelopes(*envs).ok());
    CHECK(expiry_of(*l, "hosted") == T0 + 3600);
  }
  CHECK(anchor_row(path, "hosted") == "3600|" + std::to_string(T0));
}

TEST_CASE("changing an envelope's ttl_seconds re-anchors it at now, logged at notice") {
  TempDir dir;
  FakeClock clock;
  const auto path = dir.ledger_at("ledger.db");
  { auto l = start(path, clock, R"([{"name":"hosted","cap_sats":100,"ttl_seconds":3600}])"); }
  clock.set(T0 + 7200);  // expired under the old ttl
  const std::string longer = R"([{"name":"hosted","cap_sats":100,"ttl_seconds":86400}])";
  {
    auto l = open_ledger(path, clock);
    auto envs = envelopes_from_json(json::parse(longer), clock.now_unix());
    REQUIRE(envs.ok());
    Status st = ok_status();
    const auto prev = log_level();
    set_log_level(LogLevel::notice);
    auto logged = capture_stderr(dir.file("stderr.txt"), [&] { st = l->set_envelopes(*envs); });
    set_log_level(prev);
    REQUIRE(st.ok());
    CHECK(logged.find("notice") != std::string::npos);
    CHECK(logged.find("'hosted'") != std::string::npos);
    CHECK(logged.find("3600") != std::string::npos);
    CHECK(logged.find("86400") != std::string::npos);
    CHECK(expiry_of(*l, "hosted") == T0 + 7200 + 86400);
    CHECK(reserve_in(*l, "hosted", 1'000, 1).ok());
  }
  CHECK(anchor_row(path, "hosted") == "86400|" + std::to_string(T0 + 7200));
  // The new anchor holds across the next restart (same ttl): no second re-anchor.
  clock.set(T0 + 7200 + 86400 + 1);
  {
    auto l = start(path, clock, longer);
    CHECK(expiry_of(*l, "hosted") == T0 + 7200 + 86400);
    auto r = reserve_in(*l, "hosted", 1'000, 2);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "ENVELOPE_EXPIRED");
  }
  // A shorter ttl re-anchors too (an operator action either way).
  clock.set(T0 + 200'000);
  {
    auto l = start(path, clock, R"([{"name":"hosted","cap_sats":100,"ttl_seconds":60}])");
    CHECK(expiry_of(*l, "hosted") == T0 + 200'000 + 60);
  }
}

TEST_CASE("cap and protocol changes keep the anchor, a removed envelope keeps it and re-adding reuses it") {
  TempDir dir;
  FakeClock clock;
  const auto path = dir.ledger_at("ledger.db");
  {
    auto l = start(path, clock, R"([{"name":"hosted","cap_sats":1,"ttl_seconds":3600},
                                     {"name":"other","cap_sats":10,"ttl_seconds":100}])");
    auto r = reserve_in(*l, "hosted", 2'000, 1);  // cap 1 sat
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "BUDGET_EXCEEDED");
  }
  clock.set(T0 + 1000);
  {
    auto l = start(path, clock,
                   R"([{"name":"hosted","cap_sats":5,"ttl_seconds":3600,"protocols":["bolt11"]}])");
    CHECK(expiry_of(*l, "hosted") == T0 + 3600);  // not T0 + 1000 + 3600
    CHECK(l->envelopes()[0].cap_msat == 5'000u);  // the new cap applies
    CHECK(reserve_in(*l, "hosted", 2'000, 2).ok());
    REQUIRE(l->envelopes().size() == 1);  // "other" was removed from the config
  }
  CHECK(anchor_row(path, "hosted") == "3600|" + std::to_string(T0));
  CHECK(anchor_row(path, "other") == "100|" + std::to_string(T0));  // kept, harmless
  clock.set(T0 + 5000);
  {
    auto l = start(path, clock, R"([{"name":"other","cap_sats":10,"ttl_seconds":100}])");
    CHECK(expiry_of(*l, "other") == T0 + 100);  // re-adding does not bring it back to life
    auto r = reserve_in(*l, "other", 1'000, 3);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "ENVELOPE_EXPIRED");
    auto u = reserve_in(*l, "hosted", 1'000, 4);  // no longer configured
    REQUIRE_FALSE(u.ok());
    CHECK(u.error().code == "ENVELOPE_UNKNOWN");
  }
}

TEST_CASE("absolute expires_at envelopes are taken as they are and get no anchor") {
  TempDir dir;
  FakeClock clock;
  const auto path = dir.ledger_at("ledger.db");
  {
    auto l = start(path, clock, R"([{"name":"abs","cap_sats":10,"expires_at":1700000500}])");
    CHECK(expiry_of(*l, "abs") == T0 + 500);
    Envelope none{"forever", 10'000, std::nullopt, std::nullopt, std::nullopt};
    REQUIRE(l->set_envelopes({none}).ok());
    CHECK_FALSE(expiry_of(*l, "forever").has_value());
  }
  CHECK(anchor_row(path, "abs").empty());
  CHECK(anchor_row(path, "forever").empty());
  // An envelope switched from a ttl to an absolute expiry uses the absolute one; switched back with the same
  // ttl, it finds its old anchor.
  { auto l = start(path, clock, R"([{"name":"sw","cap_sats":10,"ttl_seconds":600}])"); }
  clock.set(T0 + 100);
  {
    auto l = start(path, clock, R"([{"name":"sw","cap_sats":10,"expires_at":1800000000}])");
    CHECK(expiry_of(*l, "sw") == 1'800'000'000);
  }
  clock.set(T0 + 700);
  {
    auto l = start(path, clock, R"([{"name":"sw","cap_sats":10,"ttl_seconds":600}])");
    CHECK(expiry_of(*l, "sw") == T0 + 600);
    CHECK(reserve_in(*l, "sw", 1'000, 1).error().code == "ENVELOPE_EXPIRED");
  }
}

TEST_CASE("invalid envelope sets are refused before any anchor is written, two ledgers share anchors") {
  TempDir dir;
  FakeClock clock;
  const auto path = dir.ledger_at("ledger.db");
  auto a = open_ledger(path, clock);
  Envelope bad{"x", 1'000, std::nullopt, std::nullopt, 0};
  CHECK(a->set_envelopes({bad}).error().code == "POLICY_INVALID");
  bad.ttl_seconds = -5;
  CHECK(a->set_envelopes({bad}).error().code == "POLICY_INVALID");
  Envelope ok{"dup", 1'000, std::nullopt, std::nullopt, 60};
  CHECK(a->set_envelopes({ok, ok}).error().code == "POLICY_INVALID");
  CHECK(anchor_row(path, "x").empty());
  CHECK(anchor_row(path, "dup").empty());
  CHECK(a->envelopes().empty());

  // A second Ledger on the same file (another process) sees the anchor the first one created.
  REQUIRE(a->set_envelopes({ok}).ok());
  CHECK(expiry_of(*a, "dup") == T0 + 60);
  clock.advance(30);
  auto b = open_ledger(path, clock);
  REQUIRE(b->set_envelopes({ok}).ok());
  CHECK(expiry_of(*b, "dup") == T0 + 60);
}
