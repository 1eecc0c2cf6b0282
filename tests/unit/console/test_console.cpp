// The owner's console (src/console) without a browser: the owner token file, one-time login codes, who may reach
// the console (bearer tokens, Host, Origin, CSRF), and that its API shows what the tools return (the console is a
// client of the same engine). The browser side is tests/interop/console.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include "approve/approve.h"
#include "console/console.h"
#include "spend/spend.h"
#include "tools.h"
#include "../spend/helpers.h"  // FakeClock, TempDir

using namespace sw;

namespace {

struct World {
  spend_test::TempDir tmp;
  config::Config cfg;
  spend_test::FakeClock clock{1'767'225'600};
  std::unique_ptr<spend::Ledger> ledger;
  std::unique_ptr<approve::Hub> hub;
  tools::Engine engine;
  mcp::ToolRegistry registry;
  std::unique_ptr<console::Console> con;
  transport::SideRoutes routes;
  std::string cookie, csrf;

  explicit World(const std::string& public_url = "") {
    spend::Policy p;
    p.global.approve_above_msat = 100'000;
    auto np = spend::normalize_policy(p);
    REQUIRE(np);
    auto l = spend::Ledger::open(tmp.file("ledger.sqlite"), *np, clock);
    REQUIRE(l);
    ledger = std::move(*l);
    hub = std::make_unique<approve::Hub>(*ledger, approve::Options{}, clock);
    cfg.policy_sources["day"] = "environment SATWARDEN_DAY_SATS";
    engine.config = &cfg;
    engine.clock = &clock;
    engine.ledger = ledger.get();
    engine.approvals = hub.get();
    REQUIRE(tools::register_all(registry, engine));
    console::Options o;
    o.data_dir = tmp.path();
    o.port = 8403;
    o.public_url = public_url;
    con = std::make_unique<console::Console>(engine, registry, o);
    REQUIRE(con->init());
    routes = con->routes();
  }
  std::string token() { return *console::owner_token(tmp.path()); }

  transport::SideResponse request(const std::string& method, const std::string& target,
                                  std::vector<std::pair<std::string, std::string>> headers = {},
                                  const std::string& body = "") {
    transport::SideRequest rq;
    rq.method = method;
    auto q = target.find('?');
    rq.path = target.substr(0, q);
    rq.query = q == std::string::npos ? "" : target.substr(q + 1);
    rq.body = body;
    rq.peer = "127.0.0.1";
    bool host = false;
    for (auto& [k, v] : headers) host = host || k == "Host";
    if (!host) headers.emplace_back("Host", "127.0.0.1:8403");
    rq.headers = headers;
    if (routes.precheck)
      if (auto early = routes.precheck(rq)) return *early;
    return routes.handle(rq);
  }
  static std::string header(const transport::SideResponse& r, const std::string& name) {
    for (const auto& [k, v] : r.headers)
      if (ascii_iequals(k, name)) return v;
    return "";
  }
  static std::string code(const transport::SideResponse& r) {
    auto j = json::parse(r.body, nullptr, false);
    return j.is_object() && j.contains("error") ? j["error"]["code"].get<std::string>() : std::string("OK");
  }
  // Logs in with a fresh code; keeps the cookie and CSRF token.
  void login() {
    auto r = request("POST", "/api/login", {{"Origin", "http://127.0.0.1:8403"}},
                     json{{"token", console::login_code(token(), clock.now_unix())}}.dump());
    REQUIRE(r.status == 200);
    const std::string sc = header(r, "Set-Cookie");
    cookie = sc.substr(0, sc.find(';'));
    csrf = json::parse(r.body)["csrf"].get<std::string>();
  }
  transport::SideResponse api_get(const std::string& target) { return request("GET", target, {{"Cookie", cookie}}); }
  transport::SideResponse api_post(const std::string& target, const std::string& body = "{}") {
    return request("POST", target, {{"Cookie", cookie}, {"Origin", "http://127.0.0.1:8403"}, {"X-CSRF-Token", csrf}},
                   body);
  }
  json tool(const std::string& name, const json& args) {
    mcp::CallContext ctx;
    ctx.client = "stdio";
    auto out = registry.find(name)->handler(args, ctx);
    REQUIRE_FALSE(out.is_error);
    return out.structured;
  }
  int64_t pay(const std::string& client, uint64_t msat, const std::string& domain, bool settle) {
    static int n = 0;
    spend::ReserveRequest rq;
    rq.client = client;
    rq.domain = domain;
    rq.tool = "pay_invoice";
    rq.protocol = "bolt11";
    rq.invoice = "lnbcrt1test" + std::to_string(++n);
    char hash[65];
    std::snprintf(hash, sizeof hash, "%064d", n);
    rq.payment_hash = hash;
    rq.amount_msat = msat;
    auto r = ledger->reserve(rq);
    REQUIRE(r);
    if (settle) {
      REQUIRE(ledger->mark_in_flight(r->id));
      REQUIRE(ledger->settle(r->id, 1000, std::string(64, 'a'), 5));
    }
    return r->id;
  }
};

}  // namespace

TEST_CASE("console: the owner token is made once, 0600, and refused when others can read it") {
  spend_test::TempDir tmp;
  auto a = console::owner_token(tmp.path());
  REQUIRE(a);
  CHECK(a->size() == 43);
  struct stat sb {};
  REQUIRE(::stat((tmp.path() + "/console-token").c_str(), &sb) == 0);
  CHECK((sb.st_mode & 0777) == 0600);
  auto b = console::owner_token(tmp.path());
  REQUIRE(b);
  CHECK(*a == *b);
  REQUIRE(::chmod((tmp.path() + "/console-token").c_str(), 0644) == 0);
  auto c = console::owner_token(tmp.path());
  REQUIRE_FALSE(c);
  CHECK(c.error().code == "CONSOLE_TOKEN_INSECURE");
  CHECK(c.error().message.find(*a) == std::string::npos);  // never the secret
}

TEST_CASE("console: a login code logs in once, before it expires, and only with this console's token") {
  World w;
  const std::string origin = "http://127.0.0.1:8403";
  auto post = [&](const std::string& code) {
    return w.request("POST", "/api/login", {{"Origin", origin}}, json{{"token", code}}.dump());
  };
  const std::string good = console::login_code(w.token(), w.clock.now_unix());
  auto r = post(good);
  REQUIRE(r.status == 200);
  const std::string sc = World::header(r, "Set-Cookie");
  CHECK(sc.find("HttpOnly") != std::string::npos);
  CHECK(sc.find("SameSite=Strict") != std::string::npos);
  CHECK(sc.find("Secure") == std::string::npos);  // plain http on loopback
  // Once only.
  r = post(good);
  CHECK(r.status == 401);
  CHECK(r.body.find("already used") != std::string::npos);
  // Expired.
  r = post(console::login_code(w.token(), w.clock.now_unix() - 1000, 60));
  CHECK(r.status == 401);
  CHECK(r.body.find("expired") != std::string::npos);
  // Another console's token, a tampered code, the token itself, nothing.
  CHECK(post(console::login_code(std::string(43, 'x'), w.clock.now_unix())).status == 401);
  std::string tampered = console::login_code(w.token(), w.clock.now_unix());
  tampered[tampered.find('.') + 1] = tampered[tampered.find('.') + 1] == '9' ? '8' : '9';  // another expiry
  CHECK(post(tampered).status == 401);
  CHECK(post(w.token()).status == 401);
  CHECK(post("").status == 401);
  CHECK(World::code(post("garbage")) == "CONSOLE_LOGIN_INVALID");
  // The expiry is in the signed part: the clock moving past it refuses the code.
  const std::string later = console::login_code(w.token(), w.clock.now_unix(), 60);
  w.clock.advance(61);
  CHECK(post(later).status == 401);
}

TEST_CASE("console: bearer tokens, foreign hosts and origins, missing CSRF tokens are refused") {
  World w;
  w.login();
  // An agent's bearer token never opens it — with or without a session.
  auto r = w.request("GET", "/api/overview", {{"Authorization", "Bearer " + std::string(32, 'a')}});
  CHECK(r.status == 403);
  CHECK(World::code(r) == "CONSOLE_BEARER_REFUSED");
  r = w.request("GET", "/api/overview", {{"Authorization", "Bearer x"}, {"Cookie", w.cookie}});
  CHECK(World::code(r) == "CONSOLE_BEARER_REFUSED");
  // Host: only the console's own names (DNS rebinding).
  CHECK(World::code(w.request("GET", "/", {{"Host", "evil.example:8403"}})) == "CONSOLE_HOST_REFUSED");
  CHECK(World::code(w.request("GET", "/", {{"Host", "127.0.0.1:9999"}})) == "CONSOLE_HOST_REFUSED");
  CHECK(w.request("GET", "/", {{"Host", "localhost:8403"}}).status == 200);
  // Origin: the console's own, or refused even with the right token.
  r = w.request("POST", "/api/policy/reset",
                {{"Cookie", w.cookie}, {"Origin", "http://evil.example"}, {"X-CSRF-Token", w.csrf}});
  CHECK(World::code(r) == "CONSOLE_ORIGIN_REFUSED");
  r = w.request("POST", "/api/policy/reset", {{"Cookie", w.cookie}, {"X-CSRF-Token", w.csrf}});
  CHECK(World::code(r) == "CONSOLE_ORIGIN_REQUIRED");
  r = w.request("GET", "/api/overview", {{"Cookie", w.cookie}, {"Sec-Fetch-Site", "cross-site"}});
  CHECK(World::code(r) == "CONSOLE_ORIGIN_REFUSED");
  // CSRF token: missing or wrong.
  r = w.request("POST", "/api/policy/reset", {{"Cookie", w.cookie}, {"Origin", "http://127.0.0.1:8403"}});
  CHECK(World::code(r) == "CONSOLE_CSRF_REFUSED");
  r = w.request("POST", "/api/policy/reset",
                {{"Cookie", w.cookie}, {"Origin", "http://127.0.0.1:8403"}, {"X-CSRF-Token", "wrong"}});
  CHECK(World::code(r) == "CONSOLE_CSRF_REFUSED");
  // No session.
  CHECK(World::code(w.request("GET", "/api/overview")) == "CONSOLE_LOGIN_REQUIRED");
  CHECK(World::code(w.request("GET", "/api/overview", {{"Cookie", "sw_console=forged"}})) == "CONSOLE_LOGIN_REQUIRED");
  // And the real thing works.
  CHECK(w.api_post("/api/policy/reset").status == 200);
  // Logged out: the cookie is dead.
  CHECK(w.api_post("/api/logout").status == 200);
  CHECK(World::code(w.api_get("/api/overview")) == "CONSOLE_LOGIN_REQUIRED");
  // Sessions expire.
  w.login();
  w.clock.advance(13 * 3600);
  CHECK(World::code(w.api_get("/api/session")) == "CONSOLE_LOGIN_REQUIRED");
}

TEST_CASE("console: every answer carries the security headers, the page is embedded, unknown paths are 404") {
  World w;
  auto r = w.request("GET", "/");
  REQUIRE(r.status == 200);
  CHECK(r.content_type.find("text/html") == 0);
  CHECK(World::header(r, "Content-Security-Policy").find("default-src 'none'; script-src 'self'") == 0);
  CHECK(World::header(r, "X-Frame-Options") == "DENY");
  CHECK(World::header(r, "Cache-Control") == "no-store");
  CHECK(r.body.find("<script src=\"/app.js\"") != std::string::npos);
  CHECK(w.request("GET", "/app.js").content_type.find("text/javascript") == 0);
  CHECK(w.request("GET", "/login").body == r.body);
  CHECK(w.request("GET", "/nope").status == 404);
  CHECK(w.request("GET", "/apps/approval.html").status == 404);  // the MCP App resources are not pages here
  CHECK(w.request("POST", "/").status == 403);  // a change without Origin is refused before routing
  CHECK(w.request("POST", "/", {{"Origin", "http://127.0.0.1:8403"}}).status == 405);
  // What is not here is 404 whatever the method: a same-origin MCP request finds no MCP on the console.
  w.login();
  r = w.request("POST", "/mcp",
                {{"Cookie", w.cookie}, {"Origin", "http://127.0.0.1:8403"}, {"X-CSRF-Token", w.csrf},
                 {"Content-Type", "application/json"}, {"Accept", "application/json, text/event-stream"}},
                R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{}})");
  CHECK(r.status == 404);
  CHECK(World::code(r) == "NOT_FOUND");
  CHECK(w.request("GET", "/mcp", {{"Cookie", w.cookie}}).status == 404);
}

TEST_CASE("console: behind a TLS proxy the public origin is accepted and the cookie is Secure") {
  World w("https://console.example.com");
  CHECK(w.request("GET", "/", {{"Host", "console.example.com"}}).status == 200);
  auto r = w.request("POST", "/api/login", {{"Host", "console.example.com"}, {"Origin", "https://console.example.com"}},
                     json{{"token", console::login_code(w.token(), w.clock.now_unix())}}.dump());
  REQUIRE(r.status == 200);
  CHECK(World::header(r, "Set-Cookie").find("; Secure") != std::string::npos);
  CHECK(w.con->login_link().rfind("https://console.example.com/login#", 0) == 0);
}

TEST_CASE("console: the API shows what the tools return") {
  World w;
  w.login();
  w.pay("stdio", 21'000, "api.example.com", true);
  w.pay("agent-1", 5'000, "", true);
  w.pay("=HYPERLINK(\"http://x\")", 7'000, "other.example.org", false);  // reserved, not settled
  // Overview: the budget is get_budget_status's, the unknown list list_payments'.
  auto r = w.api_get("/api/overview");
  REQUIRE(r.status == 200);
  json ov = json::parse(r.body);
  json budget = w.tool("get_budget_status", json::object());
  ov["budget"].erase("now");
  budget.erase("now");
  ov["budget"].erase("caller");
  budget.erase("caller");
  CHECK(ov["budget"] == budget);
  CHECK(ov["wallet"]["connected"] == false);
  CHECK(ov["wallet"]["error"].get<std::string>().find("NWC_URL") != std::string::npos);
  // Payments: exactly list_payments, with the same filters.
  json listed = w.tool("list_payments", json{{"state", "settled"}});
  r = w.api_get("/api/payments?state=settled");
  REQUIRE(r.status == 200);
  CHECK(json::parse(r.body) == listed);
  CHECK(listed["payments"].size() == 2);
  r = w.api_get("/api/payments?protocol=keysend");
  CHECK(json::parse(r.body)["payments"].empty());
  CHECK(World::code(w.api_get("/api/payments?since=yesterday")) == "INVALID_ARGUMENTS");
  CHECK(World::code(w.api_get("/api/payments?state=bogus")) == "INVALID_ARGUMENTS");
  // One payment: its decoded-invoice slot, timeline and next step.
  const int64_t id = listed["payments"][0]["id"].get<int64_t>();
  r = w.api_get("/api/payments/" + std::to_string(id));
  REQUIRE(r.status == 200);
  json one = json::parse(r.body);
  CHECK(one["payment"]["state"] == "settled");
  CHECK(one["payment"]["preimage_verified"] == true);
  CHECK(one["payment"].contains("what_next"));
  CHECK(r.body.find(std::string(64, 'a')) == std::string::npos);  // never the preimage
  CHECK(one["timeline"].size() >= 2);
  CHECK(World::code(w.api_get("/api/payments/999999")) == "PAYMENT_NOT_FOUND");
  // The spend chart adds up settled payments with their fees, by domain.
  r = w.api_get("/api/spend?days=7");
  REQUIRE(r.status == 200);
  json sp = json::parse(r.body);
  uint64_t total = 0;
  for (const auto& b : sp["buckets"]) total += b["total_sats"].get<uint64_t>();
  CHECK(total == 22 + 6);  // (21,000 + 1,000) and (5,000 + 1,000) msat
  CHECK(sp["domains"][0] == "api.example.com");
  CHECK(World::code(w.api_get("/api/spend?days=0")) == "INVALID_ARGUMENTS");
  // Policy: effective, configured and where each came from; tightening through configure_budget.
  r = w.api_post("/api/policy/tighten", json{{"day_sats", 500}}.dump());
  REQUIRE(r.status == 200);
  json pol = json::parse(w.api_get("/api/policy").body);
  bool saw_day = false;
  for (const auto& row : pol["limits"])
    if (row["field"] == "day") {
      saw_day = true;
      CHECK(row["effective_sats"] == 500);
      CHECK(row["configured_sats"].is_null());
      CHECK(row["tightened"] == true);
      CHECK(row["source"].get<std::string>().find("run-time tightening") == 0);
    }
  CHECK(saw_day);
  r = w.api_post("/api/policy/tighten", json{{"day_sats", 5000}}.dump());  // looser: refused
  CHECK(r.status == 400);
  CHECK(World::code(r) == "POLICY_LOOSEN_REFUSED");
  CHECK(w.api_post("/api/policy/reset").status == 200);
  pol = json::parse(w.api_get("/api/policy").body);
  for (const auto& row : pol["limits"])
    if (row["field"] == "day") CHECK(row["source"] == "environment SATWARDEN_DAY_SATS");
  // CSV: every row; a text a spreadsheet would run is defused.
  r = w.api_get("/api/export.csv");
  REQUIRE(r.status == 200);
  CHECK(r.content_type.find("text/csv") == 0);
  CHECK(r.body.find("\"'=HYPERLINK(\"\"http://x\"\")\"") != std::string::npos);
  CHECK(std::count(r.body.begin(), r.body.end(), '\n') == 4);
}

TEST_CASE("console: the spend chart by hour: 48 hourly buckets, each settled payment in its own hour") {
  World w;
  const int64_t t0 = w.clock.now_unix();  // 2026-01-01T00:00:00Z, an hour boundary
  REQUIRE(t0 % 3600 == 0);
  w.clock.advance(600);
  w.pay("stdio", 30'000, "old.example.com", true);  // 50 h before "now": outside the 48 hours
  w.clock.advance(47 * 3600);
  w.pay("stdio", 21'000, "api.example.com", true);  // in the hour t0 + 47 h: 22 sats with its fee
  w.clock.advance(3 * 3600);
  w.pay("agent-1", 5'000, "other.example.org", true);  // in the current hour t0 + 50 h: 6 sats
  w.pay("agent-1", 9'000, "other.example.org", false);  // reserved, not settled: not in the chart
  w.clock.advance(1200);                                // now: t0 + 50 h 30 min
  w.login();
  auto r = w.api_get("/api/spend?days=2&bucket=hour");
  REQUIRE(r.status == 200);
  json sp = json::parse(r.body);
  CHECK(sp["bucket"] == "hour");
  CHECK(sp["until"] == t0 + 51 * 3600);  // the end of the current hour
  CHECK(sp["since"] == t0 + 3 * 3600);
  REQUIRE(sp["buckets"].size() == 48);
  uint64_t total = 0;
  for (size_t i = 0; i < 48; ++i) {
    const json& b = sp["buckets"][i];
    CHECK(b["start"] == t0 + 3 * 3600 + static_cast<int64_t>(i) * 3600);
    const int64_t start = b["start"].get<int64_t>();
    if (start == t0 + 47 * 3600) {
      CHECK(b["total_sats"] == 22);
      CHECK(b["by_domain"] == json{{"api.example.com", 22}});
    } else if (start == t0 + 50 * 3600) {
      CHECK(b["total_sats"] == 6);
      CHECK(b["by_domain"] == json{{"other.example.org", 6}});
    } else {
      CHECK(b["total_sats"] == 0);
      CHECK(b["by_domain"].empty());
    }
    total += b["total_sats"].get<uint64_t>();
  }
  CHECK(total == 28);
  CHECK(sp["domains"] == json::array({"api.example.com", "other.example.org"}));
  // Two days or less default to hours; more to days; hours cover at most 7 days; nothing but hour or day.
  CHECK(json::parse(w.api_get("/api/spend?days=2").body)["bucket"] == "hour");
  json daily = json::parse(w.api_get("/api/spend?days=3").body);
  CHECK(daily["bucket"] == "day");
  CHECK(daily["buckets"].size() == 3);
  CHECK(json::parse(w.api_get("/api/spend?days=7&bucket=hour").body)["buckets"].size() == 7 * 24);
  CHECK(World::code(w.api_get("/api/spend?days=8&bucket=hour")) == "INVALID_ARGUMENTS");
  CHECK(World::code(w.api_get("/api/spend?days=2&bucket=minute")) == "INVALID_ARGUMENTS");
}

TEST_CASE("console: approvals decided from the console reach the ledger as the console's decision") {
  World w;
  w.login();
  spend::ReserveRequest rq;
  rq.client = "stdio";
  rq.tool = "pay_invoice";
  rq.protocol = "bolt11";
  rq.invoice = "lnbcrt1approve";
  rq.payment_hash = std::string(64, 'c');
  rq.amount_msat = 500'000;  // above the 100-sat threshold
  rq.approval = w.hub->terms("", "a report");
  auto res = w.ledger->reserve(rq);
  REQUIRE(res);
  REQUIRE(res->approval);
  const std::string id = res->approval->public_id;
  json open = json::parse(w.api_get("/api/overview").body)["approvals"]["approvals"];
  REQUIRE(open.size() == 1);
  CHECK(open[0]["approval_id"] == id);
  CHECK(World::code(w.api_post("/api/approvals/nope/approve")) == "APPROVAL_NOT_FOUND");
  auto r = w.api_post("/api/approvals/" + id + "/approve");
  REQUIRE(r.status == 200);
  auto a = w.ledger->get_approval(id);
  REQUIRE(a);
  CHECK(a->state == spend::ApprovalState::approved);
  CHECK(a->decided_by == "console");
  r = w.api_post("/api/approvals/" + id + "/deny");
  CHECK(r.status == 409);
  CHECK(World::code(r) == "APPROVAL_DECIDED");
}
