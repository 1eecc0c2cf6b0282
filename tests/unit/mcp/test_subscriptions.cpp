// subscriptions/listen (MCP 2026-07-28): the acknowledgement first with the honoured filter, resource updates
// as each subscriber sees them, the change hint and the periodic re-read, cancellation, the result at shutdown,
// the limits and the parameter errors.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "capture.h"
#include "mcp/mcp.h"

using namespace sw;
using namespace sw::mcp;

namespace {

using mcp_test::Capture;

json listen_req(json id, json notifications) {
  json meta{{kMetaProtocolVersion, kModernVersion}, {kMetaClientCapabilities, json::object()}};
  return json{{"jsonrpc", "2.0"},
              {"id", id},
              {"method", "subscriptions/listen"},
              {"params", {{"_meta", meta}, {"notifications", std::move(notifications)}}}};
}

// A server with two resources whose content the test changes: the spending view (per reader: each client has
// its own counter; the text also carries a "now" that changes on every read, which `version` leaves out) and a
// payments template (a payment exists once the test adds it).
struct World {
  std::mutex mu;
  std::map<std::string, int> spent;  // client → counter
  std::map<std::string, std::string> payments;  // hash → state
  std::atomic<uint64_t> hint{0};
  std::atomic<int> reads{0};
  std::unique_ptr<Server> server;
  explicit World(bool with_hint = true) {
    std::vector<Resource> resources;
    Resource s;
    s.uri = "satwarden://spending";
    s.name = "spending";
    s.read = [this](const std::string&, const CallContext& ctx) -> Result<std::string> {
      std::lock_guard<std::mutex> lk(mu);
      return json{{"spent", spent[ctx.client]}, {"now", ++reads}}.dump();
    };
    s.version = [this](const std::string&, const CallContext& ctx) -> Result<std::string> {
      std::lock_guard<std::mutex> lk(mu);
      ++reads;
      return std::to_string(spent[ctx.client]);
    };
    resources.push_back(s);
    Resource p;
    p.uri = "satwarden://payments/{payment_hash}";
    p.name = "payment";
    p.is_template = true;
    p.read = [this](const std::string& uri, const CallContext&) -> Result<std::string> {
      std::lock_guard<std::mutex> lk(mu);
      auto it = payments.find(uri.substr(std::string("satwarden://payments/").size()));
      if (it == payments.end()) return make_error("NOT_FOUND", "no such payment");
      return it->second;
    };
    resources.push_back(p);
    ServerInfo info;
    info.version = "9.9.9";
    server = std::make_unique<Server>(info, std::make_shared<ToolRegistry>(), resources);
    if (with_hint) server->set_change_hint([this] { return hint.load(); });
  }
  void spend(const std::string& client) {
    {
      std::lock_guard<std::mutex> lk(mu);
      ++spent[client];
    }
    ++hint;
  }
  void set_payment(const std::string& hash, const std::string& state) {
    {
      std::lock_guard<std::mutex> lk(mu);
      payments[hash] = state;
    }
    ++hint;
  }
};

// Waits (bounded) until `pred` holds over the captured messages.
template <class P>
bool wait_for(Capture& c, P pred, int ms = 3000) {
  std::unique_lock<std::mutex> lk(c.mu);
  return c.cv.wait_for(lk, std::chrono::milliseconds(ms), [&] { return pred(c.msgs); });
}

size_t updates_for(const std::vector<json>& msgs, const std::string& uri) {
  size_t n = 0;
  for (const auto& m : msgs)
    if (m.value("method", "") == "notifications/resources/updated" && m["params"]["uri"] == uri) ++n;
  return n;
}

}  // namespace

TEST_CASE("listen: the acknowledgement comes first and says what is honoured") {
  World w;
  Capture c;  // before the Stateless: its sinks must outlive it (shutdown answers on them)
  Stateless s(*w.server);
  s.serve(listen_req("L1", {{"resourceSubscriptions", {"satwarden://spending", "satwarden://nope", "satwarden://spending",
                                                        "satwarden://payments/ab12"}},
                            {"toolsListChanged", true},
                            {"promptsListChanged", true}}),
          "stdio", "", c.sink());
  REQUIRE(wait_for(c, [](const std::vector<json>& m) { return !m.empty(); }));
  json first;
  {
    std::lock_guard<std::mutex> lk(c.mu);
    first = c.msgs.front();
  }
  CHECK(first["method"] == "notifications/subscriptions/acknowledged");
  CHECK(first["params"]["_meta"][kMetaSubscriptionId] == "L1");
  // Unknown URIs and duplicates are left out; list-changed notifications are not offered (the lists never change).
  CHECK(first["params"]["notifications"] ==
        json{{"resourceSubscriptions", {"satwarden://spending", "satwarden://payments/ab12"}}});
  CHECK_FALSE(c.response("L1", 100));  // no response while the stream is open
  CHECK(s.listening() == 1);
  CHECK(s.in_flight() == 0);  // a listen stream is not a running request
}

TEST_CASE("listen: a change is notified once, with the subscription id, the reader's view only") {
  World w;
  Capture alice, bob;
  Stateless s(*w.server);
  s.serve(listen_req(7, {{"resourceSubscriptions", {"satwarden://spending"}}}), "alice", "", alice.sink());
  s.serve(listen_req(8, {{"resourceSubscriptions", {"satwarden://spending"}}}), "bob", "", bob.sink());
  REQUIRE(wait_for(alice, [](const auto& m) { return !m.empty(); }));
  REQUIRE(wait_for(bob, [](const auto& m) { return !m.empty(); }));
  // Nothing changed: the "now" in the text does not count (the version leaves it out).
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));
  CHECK(alice.count_method("notifications/resources/updated") == 0);
  w.spend("alice");
  REQUIRE(wait_for(alice, [](const auto& m) { return updates_for(m, "satwarden://spending") == 1; }, 1000));
  auto u = alice.with_method("notifications/resources/updated");
  REQUIRE(u.size() == 1);
  CHECK(u[0]["params"]["_meta"][kMetaSubscriptionId] == 7);
  // Bob's view did not change: Bob hears nothing of Alice's spending.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(bob.count_method("notifications/resources/updated") == 0);
  w.spend("bob");
  REQUIRE(wait_for(bob, [](const auto& m) { return updates_for(m, "satwarden://spending") == 1; }, 1000));
  CHECK(alice.count_method("notifications/resources/updated") == 1);
}

TEST_CASE("listen: a payment that appears and then changes state is notified each time") {
  World w;
  Capture c;  // before the Stateless: its sinks must outlive it (shutdown answers on them)
  Stateless s(*w.server);
  s.serve(listen_req(1, {{"resourceSubscriptions", {"satwarden://payments/ff00"}}}), "stdio", "", c.sink());
  REQUIRE(wait_for(c, [](const auto& m) { return !m.empty(); }));
  w.set_payment("ff00", "unknown");
  REQUIRE(wait_for(c, [](const auto& m) { return updates_for(m, "satwarden://payments/ff00") == 1; }, 1000));
  w.set_payment("ff00", "settled");
  REQUIRE(wait_for(c, [](const auto& m) { return updates_for(m, "satwarden://payments/ff00") == 2; }, 1000));
  w.set_payment("ee11", "settled");  // another payment: not subscribed
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(c.count_method("notifications/resources/updated") == 2);
}

TEST_CASE("listen: without a change hint, changes are found by the periodic re-read") {
  World w(/*with_hint=*/false);
  Capture c;
  Stateless s(*w.server);
  s.serve(listen_req(1, {{"resourceSubscriptions", {"satwarden://spending"}}}), "stdio", "", c.sink());
  REQUIRE(wait_for(c, [](const auto& m) { return !m.empty(); }));
  auto t0 = std::chrono::steady_clock::now();
  w.spend("stdio");
  REQUIRE(wait_for(c, [](const auto& m) { return updates_for(m, "satwarden://spending") == 1; }, 2500));
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(2500));
}

TEST_CASE("listen: cancellation ends the stream silently, shutdown ends it with its result") {
  World w;
  Capture a, b, h;
  Stateless s(*w.server, /*cancel_by_notification=*/true);
  s.serve(listen_req("a", {{"resourceSubscriptions", {"satwarden://spending"}}}), "stdio", "", a.sink());
  s.serve(listen_req("b", {{"resourceSubscriptions", {"satwarden://spending"}}}), "stdio", "", b.sink());
  REQUIRE(wait_for(a, [](const auto& m) { return !m.empty(); }));
  REQUIRE(wait_for(b, [](const auto& m) { return !m.empty(); }));
  CHECK(s.listening() == 2);
  // stdio: notifications/cancelled names the listen request.
  s.serve(json{{"jsonrpc", "2.0"}, {"method", "notifications/cancelled"}, {"params", {{"requestId", "a"}}}}, "stdio", "",
          a.sink());
  CHECK(s.listening() == 1);
  w.spend("stdio");
  REQUIRE(wait_for(b, [](const auto& m) { return updates_for(m, "satwarden://spending") == 1; }, 1000));
  CHECK(a.count_method("notifications/resources/updated") == 0);
  // A transport's own flag (HTTP: the stream closed) works the same way.
  auto flag = std::make_shared<std::atomic<bool>>(false);
  s.serve(listen_req("h", {{"resourceSubscriptions", {"satwarden://spending"}}}), "stdio", "", h.sink(), false, flag);
  REQUIRE(wait_for(h, [](const auto& m) { return !m.empty(); }));
  flag->store(true);
  CHECK(s.listening() == 1);
  s.cancel_all();  // shutdown
  auto rb = b.response("b", 1000);
  REQUIRE(rb);
  CHECK((*rb)["result"]["resultType"] == "complete");
  CHECK((*rb)["result"]["_meta"][kMetaSubscriptionId] == "b");
  CHECK((*rb)["result"]["_meta"][kMetaServerInfo]["version"] == "9.9.9");
  CHECK_FALSE(a.response("a", 50));  // cancelled streams get no result
  CHECK_FALSE(h.response("h", 50));
  CHECK(s.listening() == 0);
}

TEST_CASE("listen: bad notifications, too many URIs and too many streams are refused") {
  World w;
  Capture c;  // before the Stateless: its sinks must outlive it (shutdown answers on them)
  Stateless s(*w.server);
  auto code_of = [&](json id) {
    auto r = c.response(id, 1000);
    REQUIRE(r);
    REQUIRE(r->contains("error"));
    return (*r)["error"]["code"].get<int>();
  };
  json no_filter = listen_req(1, json::object());
  no_filter["params"].erase("notifications");
  s.serve(no_filter, "stdio", "", c.sink());
  CHECK(code_of(1) == kInvalidParams);
  s.serve(listen_req(2, {{"resourceSubscriptions", "satwarden://spending"}}), "stdio", "", c.sink());
  CHECK(code_of(2) == kInvalidParams);
  s.serve(listen_req(3, {{"resourceSubscriptions", {42}}}), "stdio", "", c.sink());
  CHECK(code_of(3) == kInvalidParams);
  s.serve(listen_req(4, {{"toolsListChanged", "yes"}}), "stdio", "", c.sink());
  CHECK(code_of(4) == kInvalidParams);
  json many = json::array();
  for (size_t i = 0; i <= ListenLimits{}.max_uris; ++i) many.push_back("satwarden://payments/" + std::to_string(i));
  s.serve(listen_req(5, {{"resourceSubscriptions", many}}), "stdio", "", c.sink());
  CHECK(code_of(5) == kInvalidParams);
  CHECK(s.listening() == 0);
  CHECK(c.count_method("notifications/subscriptions/acknowledged") == 0);

  // The stream cap, on the Subscriptions object itself.
  ListenLimits lim;
  lim.max_streams = 2;
  Capture d;
  Subscriptions subs(*w.server, lim);
  for (int i = 0; i < 2; ++i) {
    Subscriptions::Listen l;
    l.id = i;
    l.client = "stdio";
    l.sink = d.sink();
    l.cancel = std::make_shared<std::atomic<bool>>(false);
    REQUIRE(subs.open(std::move(l), json::object()));
  }
  Subscriptions::Listen third;
  third.id = 2;
  third.sink = d.sink();
  third.cancel = std::make_shared<std::atomic<bool>>(false);
  auto st = subs.open(std::move(third), json::object());
  REQUIRE_FALSE(st);
  CHECK(st.error().code == "RESOURCE_EXHAUSTED");
  CHECK(d.count_method("notifications/subscriptions/acknowledged") == 2);
}

TEST_CASE("listen: served only where resources exist, discover offers subscribe") {
  World w;
  Capture c;  // before the Stateless: its sinks must outlive it (shutdown answers on them)
  Stateless s(*w.server);
  json meta{{kMetaProtocolVersion, kModernVersion}, {kMetaClientCapabilities, json::object()}};
  s.serve(json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "server/discover"}, {"params", {{"_meta", meta}}}}, "stdio", "",
          c.sink());
  auto d = c.response(1);
  REQUIRE(d);
  CHECK((*d)["result"]["capabilities"]["resources"]["subscribe"] == true);
  Server bare(ServerInfo{}, std::make_shared<ToolRegistry>());
  Stateless s2(bare);
  auto r = s2.check(listen_req(2, json::object()));
  REQUIRE(r);
  CHECK(r->http_status == 404);
}
