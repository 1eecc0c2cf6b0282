// The webhook channel's pieces without a network: the signature (a vector computed independently with Python's
// hmac module), its verification (replay window, forged, missing, rotation lists), form decoding, and delivery
// through an injected post function (headers, signed body, payloads without the code, retries on 5xx and network
// errors, none on 4xx, the receiver's host exempt from the SSRF guard, a bounded queue).
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "approve/webhook.h"

using namespace sw;
using namespace sw::approve;

namespace {

struct FixedClock : Clock {
  int64_t t = 1700000000;
  int64_t now_unix() const override { return t; }
};

spend::Approval sample() {
  spend::Approval a;
  a.public_id = "K7QF2M3A";
  a.amount_msat = 50'000;
  a.payment_hash = std::string(64, 'a');
  a.domain = "api.example.com";
  a.tool = "access_l402_resource";
  a.client = "stdio";
  a.created_at = 1700000000;
  a.expires_at = 1700000300;
  a.reasons = {"above 10 sats"};
  return a;
}

struct Recorder {
  std::mutex mu;
  std::vector<fetch::Request> requests;
  std::vector<fetch::Options> options;
  std::vector<int> script;  // status per attempt; 0 = network error; beyond the script: 200
  PostFn fn() {
    return [this](const fetch::Request& rq, const fetch::Options& o, std::function<bool()>) -> Result<fetch::Response> {
      std::lock_guard lk(mu);
      size_t i = requests.size();
      requests.push_back(rq);
      options.push_back(o);
      int status = i < script.size() ? script[i] : 200;
      if (status == 0) return make_error("UNREACHABLE", "connection refused");
      fetch::Response r;
      r.status = status;
      return r;
    };
  }
  size_t count() {
    std::lock_guard lk(mu);
    return requests.size();
  }
};

std::string header(const fetch::Request& rq, const std::string& name) {
  for (const auto& [k, v] : rq.headers)
    if (k == name) return v;
  return "";
}

WebhookOptions quick(const std::string& url = "https://hooks.example/satwarden") {
  WebhookOptions o;
  o.url = url;
  o.secret = "0123456789abcdef";
  o.backoff = {std::chrono::milliseconds(5), std::chrono::milliseconds(5)};
  return o;
}

}  // namespace

TEST_CASE("webhook signature: v1 = hex HMAC-SHA256(secret, timestamp.body), an independent vector") {
  CHECK(webhook_signature("0123456789abcdef", 1700000000, "{\"a\":1}") ==
        "v1=9eb18f493f8ec135d9eb2dad817c369bb4e9cbfa818657897a7437c1cd8c3a23");
}

TEST_CASE("webhook signature verification: window, forgery, missing headers, rotation lists") {
  const std::string secret = "0123456789abcdef", body = "{\"approval_id\":\"X\"}";
  const int64_t now = 1700000000;
  auto sig = webhook_signature(secret, now, body);
  CHECK(verify_webhook_signature(secret, "1700000000", sig, body, now));
  CHECK(verify_webhook_signature(secret, "1700000000", sig, body, now + 300));
  CHECK(verify_webhook_signature(secret, std::to_string(now - 299), webhook_signature(secret, now - 299, body), body, now));
  auto code = [](const Status& s) { return s ? std::string("OK") : s.error().code; };
  CHECK(code(verify_webhook_signature(secret, "1700000000", sig, body, now + 301)) == "SIGNATURE_STALE");
  CHECK(code(verify_webhook_signature(secret, "1700000000", sig, body, now - 301)) == "SIGNATURE_STALE");
  CHECK(code(verify_webhook_signature("another-secret-16", "1700000000", sig, body, now)) == "SIGNATURE_INVALID");
  CHECK(code(verify_webhook_signature(secret, "1700000000", sig, body + " ", now)) == "SIGNATURE_INVALID");
  CHECK(code(verify_webhook_signature(secret, "1700000001", sig, body, now)) == "SIGNATURE_INVALID");
  CHECK(code(verify_webhook_signature(secret, "", sig, body, now)) == "SIGNATURE_MISSING");
  CHECK(code(verify_webhook_signature(secret, "1700000000", "", body, now)) == "SIGNATURE_MISSING");
  CHECK(code(verify_webhook_signature(secret, "17e8", sig, body, now)) == "SIGNATURE_INVALID");
  CHECK(code(verify_webhook_signature(secret, "1700000000", sig.substr(3), body, now)) == "SIGNATURE_INVALID");
  // Several values (a receiver signing with the old and the new secret during a rotation): one must match.
  CHECK(verify_webhook_signature(secret, "1700000000", "v1=00, " + sig, body, now));
  CHECK(code(verify_webhook_signature(secret, "1700000000", "v1=00,v1=11", body, now)) == "SIGNATURE_INVALID");
}

TEST_CASE("form values: percent and plus decoding, first match, absent") {
  CHECK(form_value("token=a%2Bb_-c&reason=not+today", "token") == "a+b_-c");
  CHECK(form_value("token=a%2Bb_-c&reason=not+today", "reason") == "not today");
  CHECK(form_value("x=1&token=", "token").empty());
  CHECK(form_value("tokens=1", "token").empty());
  CHECK(form_value("", "token").empty());
  CHECK(form_value("token=1&token=2", "token") == "1");
  CHECK(form_value("token=%zz", "token") == "%zz");
}

TEST_CASE("webhook delivery: signed POST to the owner's URL, links from the base URL, never the code") {
  FixedClock clock;
  Recorder rec;
  {
    WebhookChannel ch(quick(), rec.fn(), clock);
    ch.set_base_url("https://sat.example.com/");
    spend::ApprovalSecrets sec{"K7QF2M3A", std::string(43, 'A'), std::string(43, 'D')};
    sec.code = "ZZCODE99";
    ch.request(sample(), sec);
    ch.outcome(sample(), "paid");
    REQUIRE(ch.drain(std::chrono::seconds(5)));
    CHECK(ch.stats().delivered == 2);
  }
  REQUIRE(rec.count() == 2);
  const auto& rq = rec.requests[0];
  CHECK(rq.method == "POST");
  CHECK(rq.url == "https://hooks.example/satwarden");
  CHECK(header(rq, "Content-Type") == "application/json");
  CHECK(header(rq, "X-Satwarden-Timestamp") == "1700000000");
  CHECK(verify_webhook_signature("0123456789abcdef", header(rq, "X-Satwarden-Timestamp"),
                                 header(rq, "X-Satwarden-Signature"), rq.body, clock.t));
  CHECK(rq.body.find("ZZCODE99") == std::string::npos);
  auto body = json::parse(rq.body);
  CHECK(body["type"] == "approval.requested");
  CHECK(body["approve_url"] == "https://sat.example.com/approvals/decide?token=" + std::string(43, 'A'));
  CHECK(body["deny_url"] == "https://sat.example.com/approvals/decide?token=" + std::string(43, 'D'));
  CHECK(body["decision_url"] == "https://sat.example.com/approvals/decision");
  CHECK(body["expires_at"] == 1700000300);
  CHECK(body["approval"]["approval_id"] == "K7QF2M3A");
  CHECK(body["approval"]["amount_msat"] == 50000);
  CHECK(!body["approval"].contains("code"));
  CHECK(json::parse(rec.requests[1].body)["type"] == "approval.paid");
  // The receiver's host, and only it, is exempt from the SSRF guard; POST only; no redirects; bounded.
  const auto& o = rec.options[0];
  CHECK(o.allow == std::vector<std::string>{"hooks.example"});
  CHECK(o.allowed_methods == std::vector<std::string>{"POST"});
  CHECK(o.redirects == fetch::RedirectPolicy::none);
  CHECK(o.total_timeout <= std::chrono::milliseconds(10000));
}

TEST_CASE("webhook delivery: retries on 5xx and network errors, not on 4xx, attempts bounded") {
  FixedClock clock;
  SECTION("503 then 200: delivered on the second attempt") {
    Recorder rec;
    rec.script = {503, 200};
    WebhookChannel ch(quick(), rec.fn(), clock);
    ch.outcome(sample(), "denied");
    REQUIRE(ch.drain(std::chrono::seconds(5)));
    CHECK(rec.count() == 2);
    CHECK(ch.stats().delivered == 1);
  }
  SECTION("network errors every time: three attempts, then given up") {
    Recorder rec;
    rec.script = {0, 0, 0, 0, 0};
    WebhookChannel ch(quick(), rec.fn(), clock);
    ch.outcome(sample(), "expired");
    REQUIRE(ch.drain(std::chrono::seconds(5)));
    CHECK(rec.count() == 3);
    CHECK(ch.stats().failed == 1);
  }
  SECTION("401 from the receiver: no retry") {
    Recorder rec;
    rec.script = {401};
    WebhookChannel ch(quick(), rec.fn(), clock);
    ch.outcome(sample(), "paid");
    REQUIRE(ch.drain(std::chrono::seconds(5)));
    CHECK(rec.count() == 1);
    CHECK(ch.stats().failed == 1);
  }
}

TEST_CASE("webhook delivery: the queue is bounded (oldest dropped) and the destructor does not wait it out") {
  FixedClock clock;
  std::mutex gate;
  gate.lock();  // the first delivery blocks until released
  std::atomic<int> posts{0};
  PostFn slow = [&](const fetch::Request&, const fetch::Options&, std::function<bool()>) -> Result<fetch::Response> {
    if (posts++ == 0) {
      std::lock_guard lk(gate);
    }
    fetch::Response r;
    r.status = 200;
    return r;
  };
  auto opts = quick();
  opts.max_queue = 4;
  {
    WebhookChannel ch(opts, slow, clock);
    for (int i = 0; i < 20; ++i) ch.outcome(sample(), "paid");
    // One is being delivered (blocked); of the 19 queued behind it, 15 were dropped.
    for (int i = 0; i < 200 && posts.load() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    CHECK(ch.stats().dropped >= 15);
    gate.unlock();
    REQUIRE(ch.drain(std::chrono::seconds(5)));
    CHECK(posts.load() <= 5);
  }
}
