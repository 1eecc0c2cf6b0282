// The approval routes (approve::Routes) over a real ledger and Hub with an injected clock, without HTTP: the page
// decides nothing and escapes what it shows; a token decides once (409 after, 410 once expired, 404 unknown); the
// deny form carries a reason; signed decisions need a valid, fresh signature and the approval's amount and hash.
#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "../spend/helpers.h"
#include "approve/webhook.h"

using namespace sw;
using namespace sw::approve;
using spend_test::FakeClock;
using spend_test::TempDir;

namespace {

const std::string kSecret = "0123456789abcdef";
const char* kPayee = "02aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

RouteRequest rq(const std::string& method, const std::string& path, const std::string& query) {
  RouteRequest r;
  r.method = method;
  r.path = path;
  r.query = query;
  return r;
}

struct Fixture {
  TempDir tmp;
  FakeClock clock;
  std::unique_ptr<spend::Ledger> ledger;
  std::unique_ptr<Hub> hub;
  std::unique_ptr<Routes> routes;
  spend::Approval approval;
  spend::ApprovalSecrets secrets;

  explicit Fixture(const std::string& purpose = "a test purchase", const std::string& secret = kSecret) {
    spend::Policy p = spend_test::bare_policy();
    p.global.approve_above_msat = 10'000;
    auto l = spend::Ledger::open(tmp.file("ledger.sqlite"), p, clock);
    REQUIRE(l);
    ledger = std::move(*l);
    hub = std::make_unique<Hub>(*ledger, Options{}, clock);
    routes = std::make_unique<Routes>(*hub, *ledger, secret, clock);
    spend::ReserveRequest rq = spend_test::req(50'000, spend_test::hash_of(1), "api.example.com");
    rq.approval = spend::ApprovalTerms{300, kPayee, purpose};
    auto res = ledger->reserve(rq);
    REQUIRE(res);
    REQUIRE(res->approval);
    approval = *res->approval;
    secrets = *res->approval_secrets;
  }
  RouteAnswer get(const std::string& token) { return routes->handle(rq("GET", "/approvals/decide", "token=" + token)); }
  RouteAnswer post(const std::string& token) {
    return routes->handle(rq("POST", "/approvals/decide", "token=" + token));
  }
  RouteAnswer signed_decision(const json& body, const std::string& secret = kSecret, int64_t skew = 0) {
    RouteRequest r;
    r.method = "POST";
    r.path = "/approvals/decision";
    r.content_type = "application/json";
    r.body = body.dump();
    const int64_t ts = clock.now_unix() + skew;
    r.timestamp = std::to_string(ts);
    r.signature = webhook_signature(secret, ts, r.body);
    return routes->handle(r);
  }
  std::string state() {
    auto a = ledger->get_approval(approval.public_id);
    REQUIRE(a);
    return spend::approval_state_name(a->state);
  }
};

std::string error_code(const RouteAnswer& a) {
  auto j = json::parse(a.body, nullptr, false);
  return j.is_object() && j.contains("error") ? j["error"].value("code", "") : "";
}

}  // namespace

TEST_CASE("approval page: shows what is asked, with a POST form, and decides nothing") {
  Fixture f;
  for (int i = 0; i < 3; ++i) {
    auto a = f.get(f.secrets.approve_token);
    CHECK(a.status == 200);
    CHECK(a.content_type.rfind("text/html", 0) == 0);
    CHECK(a.body.find("<form method=\"post\" action=\"decide\">") != std::string::npos);
    CHECK(a.body.find("Approve this payment") != std::string::npos);
    CHECK(a.body.find(f.approval.public_id) != std::string::npos);
    CHECK(a.body.find("50 sats") != std::string::npos);
    CHECK(a.body.find(f.secrets.code) == std::string::npos);
  }
  auto d = f.get(f.secrets.deny_token);
  CHECK(d.status == 200);
  CHECK(d.body.find("Deny this payment") != std::string::npos);
  CHECK(d.body.find("name=\"reason\"") != std::string::npos);
  CHECK(f.state() == "pending");
  CHECK(f.get("").status == 400);
  CHECK(f.get(std::string(43, 'Q')).status == 404);
  auto put = f.routes->handle(rq("PUT", "/approvals/decide", "token=" + f.secrets.approve_token));
  CHECK(put.status == 405);
  CHECK(f.routes->handle(rq("GET", "/approvals/other", "")).status == 404);
  CHECK(f.state() == "pending");
}

TEST_CASE("approval page: what the agent supplied is escaped") {
  Fixture f("<script>alert(1)</script> & \"more\"");
  auto a = f.get(f.secrets.approve_token);
  REQUIRE(a.status == 200);
  CHECK(a.body.find("<script>") == std::string::npos);
  CHECK(a.body.find("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;more&quot;") != std::string::npos);
  bool csp = false;
  for (const auto& [k, v] : a.headers) csp = csp || (k == "Content-Security-Policy" && v.find("default-src 'none'") == 0);
  CHECK(csp);
}

TEST_CASE("approval links: a token decides once, the other link is void after, unknown 404") {
  Fixture f;
  auto a = f.post(f.secrets.approve_token);
  REQUIRE(a.status == 200);
  auto j = json::parse(a.body);
  CHECK(j["decision"] == "approved");
  CHECK(j["approval"]["decided_by"] == "webhook");
  CHECK(f.state() == "approved");
  auto again = f.post(f.secrets.approve_token);
  CHECK(again.status == 409);
  CHECK(error_code(again) == "APPROVAL_DECIDED");
  CHECK(f.post(f.secrets.deny_token).status == 409);
  CHECK(f.get(f.secrets.approve_token).status == 409);
  CHECK(f.post(std::string(43, 'Q')).status == 404);
  CHECK(f.post("").status == 400);
  CHECK(f.state() == "approved");
}

TEST_CASE("approval links: the deny form (urlencoded body) denies with its reason, answered in HTML") {
  Fixture f;
  RouteRequest r = rq("POST", "/approvals/decide", "");
  r.content_type = "application/x-www-form-urlencoded";
  r.body = "token=" + f.secrets.deny_token + "&reason=not+today";
  auto a = f.routes->handle(r);
  CHECK(a.status == 200);
  CHECK(a.content_type.rfind("text/html", 0) == 0);
  CHECK(a.body.find("Denied") != std::string::npos);
  auto ap = f.ledger->get_approval(f.approval.public_id);
  REQUIRE(ap);
  CHECK(ap->state == spend::ApprovalState::denied);
  CHECK(ap->reason == "not today");
  CHECK(ap->decided_by == "webhook");
}

TEST_CASE("approval links: past the expiry, 410 on the page and on the decision, nothing approved") {
  Fixture f;
  f.clock.advance(301);
  CHECK(f.get(f.secrets.approve_token).status == 410);
  auto a = f.post(f.secrets.approve_token);
  CHECK(a.status == 410);
  CHECK(error_code(a) == "APPROVAL_EXPIRED");
  CHECK(f.state() == "expired");
}

TEST_CASE("signed decisions: signature first, then the binding to amount and hash") {
  Fixture f;
  json good{{"approval_id", f.approval.public_id},
            {"decision", "approve"},
            {"amount_msat", 50'000},
            {"payment_hash", f.approval.payment_hash}};
  auto forged = f.signed_decision(good, "another-secret-of-16");
  CHECK(forged.status == 401);
  CHECK(error_code(forged) == "SIGNATURE_INVALID");
  CHECK(f.signed_decision(good, kSecret, -301).status == 401);
  CHECK(f.signed_decision(good, kSecret, +301).status == 401);
  RouteRequest unsigned_rq = rq("POST", "/approvals/decision", "");
  unsigned_rq.body = good.dump();
  CHECK(f.routes->handle(unsigned_rq).status == 401);
  CHECK(f.state() == "pending");

  json wrong = good;
  wrong["amount_msat"] = 50'001;
  auto mm = f.signed_decision(wrong);
  CHECK(mm.status == 422);
  CHECK(error_code(mm) == "APPROVAL_MISMATCH");
  wrong = good;
  wrong["payment_hash"] = std::string(64, 'b');
  CHECK(error_code(f.signed_decision(wrong)) == "APPROVAL_MISMATCH");
  wrong = good;
  wrong.erase("amount_msat");
  CHECK(f.signed_decision(wrong).status == 400);
  wrong = good;
  wrong["decision"] = "maybe";
  CHECK(f.signed_decision(wrong).status == 400);
  CHECK(f.signed_decision(json::array({1, 2})).status == 400);
  CHECK(f.state() == "pending");

  auto ok = f.signed_decision(good, kSecret, -299);
  CHECK(ok.status == 200);
  CHECK(json::parse(ok.body)["decision"] == "approved");
  CHECK(f.state() == "approved");
  auto replay = f.signed_decision(good);
  CHECK(replay.status == 409);
}

TEST_CASE("signed decisions: without a secret the route is not served") {
  Fixture f("a test purchase", "");
  json good{{"approval_id", f.approval.public_id}, {"decision", "deny"}, {"amount_msat", 50'000},
            {"payment_hash", f.approval.payment_hash}};
  CHECK(f.signed_decision(good, "").status == 404);
  CHECK(f.state() == "pending");
}
