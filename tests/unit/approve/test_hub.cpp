// The approval Hub on its own (no payer): describe() and utc_time() as the owner reads them; decide() and
// sweep() tell every channel each outcome once; announce() hands the secrets to channels only; await() returns
// for a decision, an expiry, or a cancellation (leaving the approval open), and APPROVAL_NOT_FOUND for an
// unknown id.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "approve/approve.h"
#include "../spend/helpers.h"  // FakeClock, TempDir, hash_of

using namespace sw;
using namespace std::chrono_literals;

namespace {

struct Recorder : approve::Channel {
  std::string label;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> seen;  // "request <id> <code>" / "outcome <id> <what>"
  explicit Recorder(std::string l) : label(std::move(l)) {}
  std::string name() const override { return label; }
  void request(const spend::Approval& a, const spend::ApprovalSecrets& s) override {
    add("request " + a.public_id + " " + s.code);
  }
  void outcome(const spend::Approval& a, const std::string& what) override { add("outcome " + a.public_id + " " + what); }
  void add(const std::string& e) {
    {
      std::lock_guard lk(mu);
      seen.push_back(e);
    }
    cv.notify_all();
  }
  std::vector<std::string> wait_for(size_t n) {
    std::unique_lock lk(mu);
    cv.wait_for(lk, 5s, [&] { return seen.size() >= n; });
    return seen;
  }
};

struct HubWorld {
  spend_test::TempDir tmp;
  spend_test::FakeClock clock{1'767'225'600};  // 2026-01-01 00:00:00 UTC
  std::unique_ptr<spend::Ledger> ledger;
  std::unique_ptr<approve::Hub> hub;
  std::shared_ptr<Recorder> a = std::make_shared<Recorder>("a"), b = std::make_shared<Recorder>("b");
  uint64_t n = 1;

  HubWorld() {
    spend::Policy p = spend_test::bare_policy();
    p.global.approve_above_msat = 0;  // every payment
    auto l = spend::Ledger::open(tmp.file("ledger.sqlite"), p, clock);
    REQUIRE(l);
    ledger = std::move(*l);
    approve::Options o;
    o.timeout_s = 120;
    o.poll = 10ms;
    o.sweep = 3600s;  // the tests sweep by hand
    hub = std::make_unique<approve::Hub>(*ledger, o, clock);
    hub->add_channel(a);
    hub->add_channel(b);
    hub->start();
  }
  spend::Reservation reserve() {
    auto rq = spend_test::req(21'500, spend_test::hash_of(n++), "api.example.com");
    rq.approval = hub->terms("02" + std::string(64, 'b'), "GET https://api.example.com/weather");
    auto r = ledger->reserve(rq);
    REQUIRE(r);
    REQUIRE(r->approval);
    hub->announce(*r->approval, *r->approval_secrets);
    return *r;
  }
};

}  // namespace

TEST_CASE("hub: utc_time and describe, as the owner reads them") {
  CHECK(approve::utc_time(1'767'225'600 + 14 * 3600 + 5 * 60, 1'767'225'600) == "14:05 UTC");
  CHECK(approve::utc_time(1'767'225'600 + 86400 + 60, 1'767'225'600) == "2026-01-02 00:01 UTC");
  spend::Approval a;
  a.client = "agent-a";
  a.envelope = "team-a";
  a.amount_msat = 21'500;
  a.domain = "api.example.com";
  a.tool = "access_l402_resource";
  a.purpose = "GET https://api.example.com/weather";
  a.reasons = {"22 sats is above the approval threshold of 10 sats (the policy)", "first payment to api.example.com"};
  const std::string d = approve::describe(a);
  CHECK(d.find("agent 'agent-a' (envelope 'team-a')") != std::string::npos);
  CHECK(d.find("22 sats (21500 msat)") != std::string::npos);
  CHECK(d.find("to api.example.com with access_l402_resource") != std::string::npos);
  CHECK(d.find("for: GET https://api.example.com/weather") != std::string::npos);
  CHECK(d.find("above the approval threshold of 10 sats (the policy); first payment to api.example.com") !=
        std::string::npos);
  spend::Approval k;
  k.amount_msat = 5'000;
  k.payee = "02" + std::string(64, 'c');
  k.tool = "pay_keysend";
  const std::string dk = approve::describe(k);
  CHECK(dk.find("an agent wants to pay 5 sats to node 02cccccccccccccc") != std::string::npos);
  CHECK(dk.find("msat") == std::string::npos);
}

TEST_CASE("hub: every channel gets the request with its secrets, then each outcome once") {
  HubWorld w;
  auto r = w.reserve();
  const std::string id = r.approval->public_id;
  for (auto* ch : {w.a.get(), w.b.get()}) {
    auto seen = ch->wait_for(1);
    REQUIRE(seen.size() == 1);
    CHECK(seen[0] == "request " + id + " " + r.approval_secrets->code);
  }
  CHECK(w.hub->channel_names() == std::vector<std::string>{"a", "b"});
  spend::ApprovalDecision d;
  d.token = r.approval_secrets->approve_token;
  d.channel = "webhook";
  auto decided = w.hub->decide(d);
  REQUIRE(decided);
  CHECK(decided->decided_by == "webhook");
  // A second decision is refused and tells nobody anything.
  CHECK_FALSE(w.hub->decide(d));
  w.hub->tell_outcome(*decided, "paid");
  w.hub->tell_outcome(*decided, "paid");
  for (auto* ch : {w.a.get(), w.b.get()}) {
    auto seen = ch->wait_for(3);
    std::this_thread::sleep_for(30ms);
    std::lock_guard lk(ch->mu);
    CHECK(ch->seen == std::vector<std::string>{"request " + id + " " + r.approval_secrets->code,
                                              "outcome " + id + " approved", "outcome " + id + " paid"});
  }
}

TEST_CASE("hub: sweep expires overdue approvals, releases their budget and tells the channels once") {
  HubWorld w;
  auto r1 = w.reserve();
  w.clock.advance(60);
  auto r2 = w.reserve();
  CHECK(w.hub->sweep() == 0);
  w.clock.advance(61);  // r1 is past its 120 s, r2 is not
  CHECK(w.hub->sweep() == 1);
  CHECK(w.hub->sweep() == 0);
  CHECK(w.ledger->get_approval(r1.approval->public_id)->state == spend::ApprovalState::expired);
  CHECK(w.ledger->get_approval(r2.approval->public_id)->state == spend::ApprovalState::pending);
  CHECK(w.ledger->get_payment_by_id(r1.id)->state == spend::State::released);
  auto seen = w.a->wait_for(3);
  std::this_thread::sleep_for(30ms);
  std::lock_guard lk(w.a->mu);
  CHECK(std::count(w.a->seen.begin(), w.a->seen.end(), "outcome " + r1.approval->public_id + " expired") == 1);
  CHECK(std::count(w.a->seen.begin(), w.a->seen.end(), "outcome " + r2.approval->public_id + " expired") == 0);
}

TEST_CASE("hub: await returns on a decision, on expiry, on cancellation (approval left open), or NOT_FOUND") {
  HubWorld w;
  CHECK(w.hub->await("NOSUCH", nullptr, nullptr, nullptr).error().code == "APPROVAL_NOT_FOUND");

  auto r = w.reserve();
  auto waiting = std::async(std::launch::async, [&] {
    return w.hub->await(r.approval->public_id, nullptr, nullptr, nullptr);
  });
  std::this_thread::sleep_for(30ms);
  CHECK(waiting.wait_for(0s) == std::future_status::timeout);
  spend::ApprovalDecision d;
  d.public_id = r.approval->public_id;
  d.approve = false;
  d.channel = "cli";
  REQUIRE(w.hub->decide(d));
  REQUIRE(waiting.wait_for(5s) == std::future_status::ready);
  auto got = waiting.get();
  REQUIRE(got);
  CHECK(got->state == spend::ApprovalState::denied);

  auto e = w.reserve();
  auto expiring = std::async(std::launch::async, [&] {
    return w.hub->await(e.approval->public_id, nullptr, nullptr, nullptr);
  });
  std::this_thread::sleep_for(30ms);
  w.clock.advance(121);  // no sweeper: await expires it itself
  REQUIRE(expiring.wait_for(5s) == std::future_status::ready);
  auto ex = expiring.get();
  REQUIRE(ex);
  CHECK(ex->state == spend::ApprovalState::expired);
  CHECK(w.ledger->get_payment_by_id(e.id)->state == spend::State::released);

  auto c = w.reserve();
  std::atomic<bool> cancel{false};
  auto cancelled = std::async(std::launch::async, [&] {
    return w.hub->await(c.approval->public_id, [&] { return cancel.load(); }, nullptr, nullptr);
  });
  std::this_thread::sleep_for(30ms);
  cancel = true;
  REQUIRE(cancelled.wait_for(5s) == std::future_status::ready);
  auto cc = cancelled.get();
  REQUIRE_FALSE(cc);
  CHECK(cc.error().code == "CANCELLED");
  CHECK(w.ledger->get_approval(c.approval->public_id)->state == spend::ApprovalState::pending);
  CHECK(w.ledger->get_payment_by_id(c.id)->state == spend::State::reserved);
}
