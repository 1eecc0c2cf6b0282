// Server→client requests: elicitation/create (form mode) from a running tool, over a fake sink.
// Every wait is bounded.
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "mcp/mcp.h"

using namespace sw;
using namespace sw::mcp;
using namespace std::chrono_literals;

namespace {

struct Sent {
  json msg;
  std::string related;
};

// Collects everything a session sends, with the request it was related to.
struct Wire {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Sent> sent;
  Sink sink() {
    return [this](const json& m, const std::string& related) {
      {
        std::lock_guard<std::mutex> lk(mu);
        sent.push_back({m, related});
        // Notified under the lock: a test that saw the message may destroy this Capture at once, while a worker
        // would still be inside notify_all (ThreadSanitizer: data race on the condition variable).
        cv.notify_all();
      }
    };
  }
  // The first message matching `pred`, waiting at most `ms`.
  template <class Pred>
  std::optional<Sent> wait(Pred pred, int ms = 3000) {
    std::unique_lock<std::mutex> lk(mu);
    std::optional<Sent> out;
    cv.wait_for(lk, std::chrono::milliseconds(ms), [&] {
      for (auto& s : sent)
        if (pred(s.msg)) {
          out = s;
          return true;
        }
      return false;
    });
    return out;
  }
  std::optional<Sent> response(const json& id, int ms = 3000) {
    return wait([&](const json& m) { return m.contains("id") && m["id"] == id && !m.contains("method"); }, ms);
  }
  // The n-th (0-based) elicitation/create request.
  std::optional<Sent> elicitation(size_t n = 0, int ms = 3000) {
    std::unique_lock<std::mutex> lk(mu);
    std::optional<Sent> out;
    cv.wait_for(lk, std::chrono::milliseconds(ms), [&] {
      size_t seen = 0;
      for (auto& s : sent)
        if (s.msg.value("method", "") == "elicitation/create" && seen++ == n) {
          out = s;
          return true;
        }
      return false;
    });
    return out;
  }
  size_t count() {
    std::lock_guard<std::mutex> lk(mu);
    return sent.size();
  }
};

// What the test tool's last elicit returned (a cancelled call gets no response, so the tool reports here).
struct Recorder {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Result<json>> results;
  void add(Result<json> r) {
    {
      std::lock_guard<std::mutex> lk(mu);
      results.push_back(std::move(r));
      cv.notify_all();  // under the lock, as in Capture
    }
  }
  std::optional<Result<json>> wait(size_t n = 1, int ms = 3000) {
    std::unique_lock<std::mutex> lk(mu);
    if (!cv.wait_for(lk, std::chrono::milliseconds(ms), [&] { return results.size() >= n; })) return std::nullopt;
    return results[n - 1];
  }
};

const json kApproveSchema = json::parse(R"({"type":"object","properties":{
  "approve":{"type":"boolean","title":"Approve?"},
  "note":{"type":"string","maxLength":100},
  "tier":{"type":"string","enum":["low","high"]},
  "count":{"type":"integer","minimum":1}},
  "required":["approve"]})");

// A registry with one test tool: `ask` elicits with kApproveSchema (or the schema in `schema`) and returns
// {elicit: "absent"} without an elicit function, {answer} on success, or the elicit error.
std::shared_ptr<ToolRegistry> registry(std::shared_ptr<Recorder> rec) {
  auto reg = std::make_shared<ToolRegistry>();
  Tool t;
  t.name = "ask";
  t.title = "Ask";
  t.description = "test: elicits";
  t.input_schema = json::parse(R"({"type":"object","properties":{"timeout_ms":{"type":"integer","minimum":1},
    "schema":{"type":"object"},"message":{"type":"string"}},"additionalProperties":false})");
  t.output_schema = json::parse(R"({"type":"object"})");
  t.handler = [rec](const json& a, CallContext& ctx) {
    if (!ctx.elicit) return ToolOutcome::success(json{{"elicit", "absent"}});
    json params{{"message", a.value("message", "Approve paying 600 sats to example.com?")},
                {"requestedSchema", a.contains("schema") ? a["schema"] : kApproveSchema}};
    auto r = ctx.elicit(params, std::chrono::milliseconds(a.value("timeout_ms", 5000)));
    rec->add(r);
    if (!r) return ToolOutcome::failure(r.error());
    return ToolOutcome::success(json{{"answer", *r}});
  };
  REQUIRE(reg->add(t));
  return reg;
}

json req(const json& id, const std::string& method, json params = json::object()) {
  return json{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}};
}
json result_msg(const json& id, json result) { return json{{"jsonrpc", "2.0"}, {"id", id}, {"result", result}}; }

json initialize_params(const json& caps, const std::string& version = "2025-11-25") {
  return json{{"protocolVersion", version}, {"capabilities", caps}, {"clientInfo", {{"name", "t"}, {"version", "1"}}}};
}

const json kFormCaps = {{"elicitation", json::object()}};

struct Fixture {
  std::shared_ptr<Recorder> rec = std::make_shared<Recorder>();
  Server server{ServerInfo{}, registry(rec)};
  Wire wire;
  std::shared_ptr<Session> s = std::make_shared<Session>(server, "test", "", wire.sink());
  explicit Fixture(const json& caps = kFormCaps, const std::string& version = "2025-11-25") {
    s->handle(req(1, "initialize", initialize_params(caps, version)));
    REQUIRE(wire.response(1));
    s->handle(json{{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}});
  }
  ~Fixture() {
    s->cancel_all();
    s->wait_idle(5s);
  }
  void call(const json& id, json args = json::object()) {
    s->handle(req(id, "tools/call", {{"name", "ask"}, {"arguments", std::move(args)}}));
  }
  // The tool-call result (structuredContent or the error body) for call `id`.
  json outcome(const json& id) {
    auto r = wire.response(id);
    REQUIRE(r);
    const json& res = r->msg["result"];
    if (res.value("isError", false)) return json::parse(res["content"][0]["text"].get<std::string>());
    return res["structuredContent"];
  }
};

}  // namespace

TEST_CASE("elicitation capability: each declared form") {
  struct Case {
    json caps;
    bool form, url;
  };
  std::vector<Case> cases{
      {json::object(), false, false},
      {{{"elicitation", json::object()}}, true, false},
      {{{"elicitation", {{"form", json::object()}}}}, true, false},
      {{{"elicitation", {{"url", json::object()}}}}, false, true},
      {{{"elicitation", {{"form", json::object()}, {"url", json::object()}}}}, true, true},
      {{{"elicitation", true}}, false, false},  // not an object: not a declaration
      {{{"sampling", json::object()}, {"roots", {{"listChanged", true}}}}, false, false},
  };
  for (const auto& c : cases) {
    INFO(c.caps.dump());
    Server server(ServerInfo{}, std::make_shared<ToolRegistry>());
    Wire wire;
    auto s = std::make_shared<Session>(server, "test", "", wire.sink());
    CHECK_FALSE(s->client_supports_elicitation_form());
    s->handle(req(1, "initialize", initialize_params(c.caps)));
    REQUIRE(wire.response(1));
    CHECK(s->client_supports_elicitation_form() == c.form);
    CHECK(s->client_supports_elicitation_url() == c.url);
    // What the server declares does not change with what the client declares.
    CHECK_FALSE(wire.response(1)->msg["result"]["capabilities"].contains("elicitation"));
  }
  // Missing capabilities altogether, and a 2025-06-18 client's {}.
  Server server(ServerInfo{}, std::make_shared<ToolRegistry>());
  Wire wire;
  auto s = std::make_shared<Session>(server, "test", "", wire.sink());
  s->handle(req(1, "initialize", {{"protocolVersion", "2025-06-18"}}));
  CHECK_FALSE(s->client_supports_elicitation_form());
  s->handle(req(2, "initialize", initialize_params(kFormCaps, "2025-06-18")));
  CHECK(s->client_supports_elicitation_form());
}

TEST_CASE("no elicit function when the client did not declare form elicitation") {
  for (const json& caps : {json::object(), json{{"elicitation", {{"url", json::object()}}}}}) {
    INFO(caps.dump());
    Fixture f(caps);
    f.call(2);
    CHECK(f.outcome(2) == json{{"elicit", "absent"}});
    CHECK_FALSE(f.wire.elicitation(0, 50));
  }
}

TEST_CASE("elicit round trip: accept with content") {
  Fixture f;
  f.call(2, {{"message", "Approve paying 600 sats to example.com for X?"}});
  auto e = f.wire.elicitation();
  REQUIRE(e);
  const json& m = e->msg;
  CHECK(m["jsonrpc"] == "2.0");
  REQUIRE(m["id"].is_string());
  CHECK(m["id"].get<std::string>().rfind("sw-e-", 0) == 0);
  CHECK(e->related == "2");  // routed with the tools/call it belongs to
  CHECK(m["params"]["mode"] == "form");
  CHECK(m["params"]["message"] == "Approve paying 600 sats to example.com for X?");
  CHECK(m["params"]["requestedSchema"] == kApproveSchema);
  CHECK(f.s->pending_client_requests() == 1);

  f.s->handle(result_msg(m["id"], {{"action", "accept"}, {"content", {{"approve", true}, {"tier", "high"}, {"count", 2}}}}));
  auto out = f.outcome(2);
  CHECK(out["answer"] == json{{"action", "accept"}, {"content", {{"approve", true}, {"tier", "high"}, {"count", 2}}}});
  CHECK(f.s->pending_client_requests() == 0);

  // A second elicitation gets a fresh id.
  f.call(3);
  auto e2 = f.wire.elicitation(1);
  REQUIRE(e2);
  CHECK(e2->msg["id"] != m["id"]);
  CHECK(e2->related == "3");
  f.s->handle(result_msg(e2->msg["id"], {{"action", "accept"}, {"content", {{"approve", false}}}}));
  CHECK(f.outcome(3)["answer"]["content"] == json{{"approve", false}});
}

TEST_CASE("elicit: the request has no mode before 2025-11-25") {
  Fixture f(kFormCaps, "2025-06-18");
  f.call("c1");
  auto e = f.wire.elicitation();
  REQUIRE(e);
  CHECK_FALSE(e->msg["params"].contains("mode"));
  CHECK(e->related == "\"c1\"");
  f.s->handle(result_msg(e->msg["id"], {{"action", "decline"}}));
  CHECK(f.outcome("c1")["answer"] == json{{"action", "decline"}});
}

TEST_CASE("elicit: decline and cancel carry no content") {
  Fixture f;
  f.call(2);
  auto e = f.wire.elicitation();
  REQUIRE(e);
  f.s->handle(result_msg(e->msg["id"], {{"action", "decline"}, {"content", {{"approve", true}}}}));
  CHECK(f.outcome(2)["answer"] == json{{"action", "decline"}});

  f.call(3);
  auto e2 = f.wire.elicitation(1);
  REQUIRE(e2);
  f.s->handle(result_msg(e2->msg["id"], {{"action", "cancel"}}));
  CHECK(f.outcome(3)["answer"] == json{{"action", "cancel"}});
}

TEST_CASE("elicit: an error response is ELICITATION_FAILED with the client's message") {
  Fixture f;
  f.call(2);
  auto e = f.wire.elicitation();
  REQUIRE(e);
  f.s->handle(json{{"jsonrpc", "2.0"}, {"id", e->msg["id"]}, {"error", {{"code", -32602}, {"message", "no UI here"}}}});
  auto out = f.outcome(2);
  CHECK(out["error"]["code"] == "ELICITATION_FAILED");
  CHECK(out["error"]["message"].get<std::string>().find("no UI here") != std::string::npos);
  CHECK(out["error"]["details"]["rpc_code"] == -32602);
}

TEST_CASE("elicit: malformed results are ELICITATION_FAILED") {
  const std::vector<json> bad{
      {{"action", "approve"}},                                            // not an action
      {{"content", {{"approve", true}}}},                                  // no action
      {{"action", 1}},                                                     // not a string
      {{"action", "accept"}, {"content", "yes"}},                          // content not an object
      {{"action", "accept"}, {"content", {{"approve", "yes"}}}},           // wrong type
      {{"action", "accept"}, {"content", {{"note", "x"}}}},                // required approve missing
      {{"action", "accept"}},                                              // required approve missing (no content)
      {{"action", "accept"}, {"content", {{"approve", true}, {"extra", 1}}}},  // undeclared property
      {{"action", "accept"}, {"content", {{"approve", true}, {"tier", "mid"}}}},  // not in the enum
      {{"action", "accept"}, {"content", {{"approve", true}, {"count", 1.5}}}},   // not an integer
  };
  Fixture f;
  int id = 10;
  for (size_t i = 0; i < bad.size(); ++i, ++id) {
    INFO(bad[i].dump());
    f.call(id);
    auto e = f.wire.elicitation(i);
    REQUIRE(e);
    f.s->handle(result_msg(e->msg["id"], bad[i]));
    CHECK(f.outcome(id)["error"]["code"] == "ELICITATION_FAILED");
  }
  // A result that is not an object at all.
  f.call(99);
  auto e = f.wire.elicitation(bad.size());
  REQUIRE(e);
  f.s->handle(result_msg(e->msg["id"], "accept"));
  CHECK(f.outcome(99)["error"]["code"] == "ELICITATION_FAILED");
  // An integral float is an integer.
  f.call(100);
  e = f.wire.elicitation(bad.size() + 1);
  REQUIRE(e);
  f.s->handle(result_msg(e->msg["id"], {{"action", "accept"}, {"content", {{"approve", true}, {"count", 3.0}}}}));
  CHECK(f.outcome(100)["answer"]["action"] == "accept");
}

TEST_CASE("elicit: invalid requests are refused before anything is sent") {
  Fixture f;
  const std::vector<json> schemas{
      json::parse(R"({"type":"object","properties":{"who":{"type":"object","properties":{}}}})"),  // nested
      json::parse(R"({"type":"array","items":{"type":"string"}})"),
      json::parse(R"({"type":"object"})"),
      json::parse(R"({"type":"object","properties":{"a":{"type":"string"}},"required":["b"]})"),
      json::parse(R"({"type":"object","properties":{"a":{"type":"array","items":{"type":"integer"}}}})"),
      json::parse(R"({"type":"object","properties":{"a":{"type":"string","enum":[1,2]}}})"),
  };
  int id = 20;
  for (const auto& schema : schemas) {
    INFO(schema.dump());
    f.call(id, {{"schema", schema}});
    CHECK(f.outcome(id)["error"]["code"] == "ELICITATION_INVALID");
    ++id;
  }
  f.call(id, {{"message", ""}});
  CHECK(f.outcome(id)["error"]["code"] == "ELICITATION_INVALID");
  CHECK_FALSE(f.wire.elicitation(0, 50));
  // A multi-select enum and a titled single-select are fine.
  f.call(40, {{"schema", json::parse(R"({"type":"object","properties":{
      "colors":{"type":"array","items":{"type":"string","enum":["r","g"]}},
      "one":{"type":"string","oneOf":[{"const":"a","title":"A"}]}}})")}});
  auto e = f.wire.elicitation();
  REQUIRE(e);
  f.s->handle(result_msg(e->msg["id"], {{"action", "accept"}, {"content", {{"colors", {"g"}}, {"one", "a"}}}}));
  CHECK(f.outcome(40)["answer"]["content"]["colors"] == json{"g"});
}

TEST_CASE("elicit: timeout, then the client is told and a late answer is ignored") {
  Fixture f;
  auto t0 = std::chrono::steady_clock::now();
  f.call(2, {{"timeout_ms", 200}});
  auto e = f.wire.elicitation();
  REQUIRE(e);
  auto out = f.outcome(2);
  auto took = std::chrono::steady_clock::now() - t0;
  CHECK(out["error"]["code"] == "ELICITATION_TIMEOUT");
  CHECK(took >= 200ms);
  CHECK(took < 3s);
  auto cancelled = f.wire.wait([&](const json& m) {
    return m.value("method", "") == "notifications/cancelled" && m["params"]["requestId"] == e->msg["id"];
  });
  REQUIRE(cancelled);
  CHECK(cancelled->related == "2");
  CHECK(f.s->pending_client_requests() == 0);
  size_t before = f.wire.count();
  f.s->handle(result_msg(e->msg["id"], {{"action", "accept"}, {"content", {{"approve", true}}}}));  // too late
  f.s->handle(result_msg("sw-e-999", {{"action", "accept"}}));                                       // never sent
  f.s->handle(result_msg(12345, {{"action", "accept"}}));
  std::this_thread::sleep_for(50ms);
  CHECK(f.wire.count() == before);  // responses get no reply, not even an error
}

TEST_CASE("elicit: notifications/cancelled for the tool call ends the wait with CANCELLED") {
  Fixture f;
  auto t0 = std::chrono::steady_clock::now();
  f.call(2, {{"timeout_ms", 20000}});
  auto e = f.wire.elicitation();
  REQUIRE(e);
  f.s->handle(json{{"jsonrpc", "2.0"}, {"method", "notifications/cancelled"}, {"params", {{"requestId", 2}}}});
  auto r = f.rec->wait();
  REQUIRE(r);
  REQUIRE_FALSE(*r);
  CHECK(r->error().code == "CANCELLED");
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  // The client hears that the elicitation is void; the cancelled call itself gets no response.
  CHECK(f.wire.wait([&](const json& m) {
    return m.value("method", "") == "notifications/cancelled" && m["params"]["requestId"] == e->msg["id"];
  }));
  CHECK(f.s->wait_idle(3s));
  CHECK_FALSE(f.wire.response(2, 50));
}

TEST_CASE("elicit: session close and client gone end the wait with CANCELLED") {
  SECTION("cancel_all") {
    Fixture f;
    f.call(2, {{"timeout_ms", 20000}});
    REQUIRE(f.wire.elicitation());
    f.s->cancel_all();
    auto r = f.rec->wait();
    REQUIRE(r);
    REQUIRE_FALSE(*r);
    CHECK(r->error().code == "CANCELLED");
    CHECK(f.s->wait_idle(3s));
  }
  SECTION("client_gone: the call still answers") {
    Fixture f;
    f.call(2, {{"timeout_ms", 20000}});
    REQUIRE(f.wire.elicitation());
    f.s->client_gone();
    CHECK(f.outcome(2)["error"]["code"] == "CANCELLED");
    // Later elicitations fail at once, without sending anything.
    f.call(3, {{"timeout_ms", 20000}});
    CHECK(f.outcome(3)["error"]["code"] == "CANCELLED");
    CHECK_FALSE(f.wire.elicitation(1, 50));
  }
}

TEST_CASE("elicit: concurrent elicitations each get their own answer") {
  Fixture f;
  f.call(2);
  f.call(3);
  auto first = f.wire.elicitation(0);
  auto second = f.wire.elicitation(1);
  REQUIRE(first);
  REQUIRE(second);
  // Both calls run on the worker pool: either may ask first. a = call 2's question, b = call 3's.
  auto a = first->related == "2" ? first : second;
  auto b = first->related == "2" ? second : first;
  CHECK(a->msg["id"] != b->msg["id"]);
  // Answer in reverse order, with different answers.
  f.s->handle(result_msg(b->msg["id"], {{"action", "decline"}}));
  f.s->handle(result_msg(a->msg["id"], {{"action", "accept"}, {"content", {{"approve", true}}}}));
  for (int id : {2, 3}) {
    auto out = f.outcome(id);
    std::string related = id == 2 ? a->related : b->related;
    CHECK(related == std::to_string(id));
    CHECK(out["answer"]["action"] == (related == a->related ? "accept" : "decline"));
  }
}
