// The modern era (MCP 2026-07-28) in the MCP layer: per-request _meta validation, version negotiation, the HTTP
// header rules as a pure function, server/discover, resultType / serverInfo / cache hints, and tools served by
// the same registry as the 2025 era.
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "capture.h"
#include "mcp/mcp.h"

using namespace sw;
using namespace sw::mcp;

namespace {

using mcp_test::Capture;

json modern_meta(json extra = json::object()) {
  json m{{kMetaProtocolVersion, kModernVersion},
         {kMetaClientCapabilities, json::object()},
         {kMetaClientInfo, {{"name", "unit"}, {"version", "1"}}}};
  for (auto it = extra.begin(); it != extra.end(); ++it) m[it.key()] = it.value();
  return m;
}

json mreq(json id, const std::string& method, json params = json::object()) {
  if (!params.contains("_meta")) params["_meta"] = modern_meta();
  return json{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}};
}

struct World {
  std::shared_ptr<ToolRegistry> reg = std::make_shared<ToolRegistry>();
  std::unique_ptr<Server> server;
  std::string seen_client, seen_envelope;
  std::mutex mu;
  explicit World(bool with_resources = true) {
    Tool echo;
    echo.name = "echo";
    echo.title = "Echo";
    echo.description = "echoes";
    echo.input_schema = json::parse(R"({"type":"object","properties":{"text":{"type":"string"}},"required":["text"]})");
    echo.output_schema = json::parse(R"({"type":"object","properties":{"text":{"type":"string"}},"required":["text"]})");
    echo.handler = [this](const json& a, CallContext& ctx) {
      {
        std::lock_guard<std::mutex> lk(mu);
        seen_client = ctx.client;
        seen_envelope = ctx.envelope;
      }
      ctx.log(LogLevel::info, "echo", json{{"said", a["text"]}});
      ctx.log(LogLevel::debug, "echo", "chatter");
      ctx.progress(1, 2, "half");
      if (a["text"] == "ask" && ctx.elicit) return ToolOutcome::failure(make_error("ELICIT_OFFERED", "must not be"));
      return ToolOutcome::success(json{{"text", a["text"]}});
    };
    REQUIRE(reg->add(echo));
    Tool slow = echo;
    slow.name = "slow";
    slow.handler = [](const json&, CallContext& ctx) {
      for (int i = 0; i < 300 && !ctx.cancelled(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      return ToolOutcome::success(json{{"text", ctx.cancelled() ? "cancelled" : "done"}});
    };
    REQUIRE(reg->add(slow));
    std::vector<Resource> resources;
    if (with_resources) {
      Resource r;
      r.uri = "satwarden://spending";
      r.name = "spending";
      r.title = "Spending";
      r.description = "what was spent";
      r.read = [](const std::string&, const CallContext& ctx) -> Result<std::string> {
        return std::string("{\"client\":\"") + ctx.client + "\"}";
      };
      resources.push_back(r);
    }
    ServerInfo info;
    info.version = "9.9.9";
    info.instructions = "pay carefully";
    server = std::make_unique<Server>(info, reg, resources);
  }
};

void check_complete(const json& result) {
  CHECK(result["resultType"] == "complete");
  CHECK(result["_meta"][kMetaServerInfo]["name"] == "satwarden");
  CHECK(result["_meta"][kMetaServerInfo]["version"] == "9.9.9");
}

}  // namespace

TEST_CASE("modern: is_modern looks at the per-request _meta and server/discover only") {
  CHECK(is_modern(mreq(1, "tools/list")));
  CHECK(is_modern(json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "server/discover"}}));
  json only_caps{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "tools/list"},
                 {"params", {{"_meta", {{kMetaClientCapabilities, json::object()}}}}}};
  CHECK(is_modern(only_caps));
  CHECK_FALSE(is_modern(json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"}, {"params", {{"protocolVersion", "2025-11-25"}}}}));
  CHECK_FALSE(is_modern(json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "tools/call"}, {"params", {{"_meta", {{"progressToken", 1}}}}}}));
  CHECK_FALSE(is_modern(json::array()));
}

TEST_CASE("modern: a missing required _meta key is -32602 / HTTP 400 with the request's id") {
  World w;
  Stateless s(*w.server);
  json no_meta{{"jsonrpc", "2.0"}, {"id", 101}, {"method", "server/discover"}, {"params", json::object()}};
  json no_version = mreq(102, "server/discover", {{"_meta", {{kMetaClientCapabilities, json::object()}}}});
  json no_caps = mreq(104, "server/discover", {{"_meta", {{kMetaProtocolVersion, kModernVersion}}}});
  json bad_level = mreq(105, "tools/list", {{"_meta", modern_meta({{kMetaLogLevel, "loud"}})}});
  for (const json& m : {no_meta, no_version, no_caps, bad_level}) {
    INFO(m.dump());
    auto r = s.check(m);
    REQUIRE(r);
    CHECK(r->http_status == 400);
    CHECK(r->response["error"]["code"] == kInvalidParams);
    CHECK(r->response["id"] == m["id"]);
  }
  // clientInfo is optional.
  json no_info = mreq(106, "server/discover", {{"_meta", {{kMetaProtocolVersion, kModernVersion}, {kMetaClientCapabilities, json::object()}}}});
  CHECK_FALSE(s.check(no_info));
  // serve() answers the same error on the sink.
  Capture c;
  s.serve(no_caps, "stdio", "", c.sink());
  auto resp = c.response(104);
  REQUIRE(resp);
  CHECK((*resp)["error"]["code"] == kInvalidParams);
}

TEST_CASE("modern: an unsupported version is -32022 with data.supported and data.requested") {
  World w;
  Stateless s(*w.server);
  for (const char* v : {"v999.0.0", "2025-11-25"}) {
    INFO(v);
    auto r = s.check(mreq(301, "server/discover", {{"_meta", modern_meta({{kMetaProtocolVersion, v}})}}));
    REQUIRE(r);
    CHECK(r->http_status == 400);
    CHECK(r->response["id"] == 301);
    CHECK(r->response["error"]["code"] == kUnsupportedVersion);
    CHECK(r->response["error"]["data"]["requested"] == v);
    CHECK(r->response["error"]["data"]["supported"] == json(all_versions()));
  }
  CHECK(all_versions().front() == kModernVersion);
  CHECK(std::find(all_versions().begin(), all_versions().end(), "2025-11-25") != all_versions().end());
}

TEST_CASE("modern: removed and unknown methods are -32601 / HTTP 404") {
  World w;
  Stateless s(*w.server);
  for (const char* m : {"initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe",
                        "prompts/list", "unknown/method"}) {
    INFO(m);
    auto r = s.check(mreq(500, m));
    REQUIRE(r);
    CHECK(r->http_status == 404);
    CHECK(r->response["error"]["code"] == kMethodNotFound);
    CHECK(r->response["id"] == 500);
  }
  World bare(false);
  Stateless s2(*bare.server);
  auto r = s2.check(mreq(1, "resources/list"));
  REQUIRE(r);  // no resources → the methods do not exist
  CHECK(r->http_status == 404);
}

TEST_CASE("modern: HTTP header rules — present, equal to the body, base64 sentinels decoded") {
  World w;
  Stateless s(*w.server);
  json call = mreq(7, "tools/call", {{"name", "echo"}, {"arguments", {{"text", "hi"}}}});
  ModernHeaders good{std::string(kModernVersion), std::string("tools/call"), std::string("echo")};
  CHECK_FALSE(s.check(call, &good));
  auto mismatch = [&](ModernHeaders h, const json& m) {
    auto r = s.check(m, &h);
    REQUIRE(r);
    CHECK(r->http_status == 400);
    CHECK(r->response["error"]["code"] == kHeaderMismatch);
    CHECK(r->response["id"] == m["id"]);
  };
  mismatch({std::nullopt, std::string("tools/call"), std::string("echo")}, call);
  mismatch({std::string("2025-11-25"), std::string("tools/call"), std::string("echo")}, call);
  mismatch({std::string(kModernVersion), std::nullopt, std::string("echo")}, call);
  mismatch({std::string(kModernVersion), std::string("tools/list"), std::string("echo")}, call);
  mismatch({std::string(kModernVersion), std::string("tools/call"), std::nullopt}, call);
  mismatch({std::string(kModernVersion), std::string("tools/call"), std::string("slow")}, call);
  mismatch({std::string(kModernVersion), std::string("tools/call"), std::string("=?base64?!!!?=")}, call);
  // Header says v999, body says 2026-07-28: a mismatch, not a version error.
  mismatch({std::string("v999"), std::string("server/discover"), std::nullopt}, mreq(302, "server/discover"));
  // A sentinel that decodes to the body's value, and surrounding whitespace, are fine.
  ModernHeaders b64{std::string(kModernVersion), std::string("tools/call"), "=?base64?" + base64_encode(to_bytes("echo")) + "?="};
  CHECK_FALSE(s.check(call, &b64));
  ModernHeaders spaced{std::string(kModernVersion), std::string("tools/call"), std::string("  echo\t")};
  CHECK_FALSE(s.check(call, &spaced));
  // resources/read mirrors params.uri, non-ASCII through the sentinel.
  json read = mreq(8, "resources/read", {{"uri", "satwarden://spending/é"}});
  ModernHeaders rh{std::string(kModernVersion), std::string("resources/read"),
                   "=?base64?" + base64_encode(to_bytes("satwarden://spending/é")) + "?="};
  CHECK_FALSE(s.check(read, &rh));
  // Methods without a name need no Mcp-Name.
  ModernHeaders list{std::string(kModernVersion), std::string("tools/list"), std::nullopt};
  CHECK_FALSE(s.check(mreq(9, "tools/list"), &list));
  // Missing _meta comes before the headers (-32602 even with no headers at all).
  ModernHeaders none{};
  json bare{{"jsonrpc", "2.0"}, {"id", 10}, {"method", "server/discover"}};
  auto r = s.check(bare, &none);
  REQUIRE(r);
  CHECK(r->response["error"]["code"] == kInvalidParams);
}

TEST_CASE("modern: decode_header_value") {
  CHECK(decode_header_value("plain") == std::string("plain"));
  CHECK(decode_header_value(" x ") == std::string("x"));
  CHECK(decode_header_value("=?base64?SGVsbG8sIOS4lueVjA==?=") == std::string("Hello, \xe4\xb8\x96\xe7\x95\x8c"));
  CHECK(decode_header_value("=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=") == std::string("=?base64?literal?="));
  CHECK_FALSE(decode_header_value("=?base64?***?="));
  CHECK(decode_header_value("=?BASE64?eA==?=") == std::string("=?BASE64?eA==?="));  // markers are case-sensitive
}

TEST_CASE("modern: server/discover, tools/list and resources carry resultType, serverInfo and cache hints") {
  World w;
  Stateless s(*w.server);
  Capture c;
  s.serve(mreq(1, "server/discover"), "stdio", "", c.sink());
  auto d = c.response(1);
  REQUIRE(d);
  const json& dr = (*d)["result"];
  check_complete(dr);
  CHECK(dr["supportedVersions"] == json(all_versions()));
  CHECK(dr["capabilities"].contains("tools"));
  CHECK(dr["capabilities"].contains("resources"));
  CHECK_FALSE(dr["capabilities"].contains("prompts"));
  CHECK(dr["instructions"] == "pay carefully");
  CHECK(dr["ttlMs"].is_number_integer());
  CHECK(dr["ttlMs"].get<int64_t>() >= 0);
  CHECK(dr["cacheScope"] == "public");

  s.serve(mreq(2, "tools/list"), "alice", "env-a", c.sink());
  s.serve(mreq(3, "tools/list"), "bob", "", c.sink());
  auto t1 = c.response(2), t2 = c.response(3);
  REQUIRE(t1);
  REQUIRE(t2);
  check_complete((*t1)["result"]);
  CHECK((*t1)["result"] == (*t2)["result"]);  // the same for every caller and connection
  CHECK((*t1)["result"]["cacheScope"] == "public");
  CHECK((*t1)["result"]["ttlMs"].get<int64_t>() >= 0);
  const json& tools = (*t1)["result"]["tools"];
  REQUIRE(tools.size() == 2);
  CHECK(tools[0]["name"] == "echo");  // registry order
  CHECK(tools[1]["name"] == "slow");
  CHECK(tools[0].contains("outputSchema"));
  CHECK(tools[0].contains("annotations"));

  s.serve(mreq(4, "resources/list"), "stdio", "", c.sink());
  s.serve(mreq(5, "resources/templates/list"), "stdio", "", c.sink());
  s.serve(mreq(6, "resources/read", {{"uri", "satwarden://spending"}}), "carol", "", c.sink());
  for (int id : {4, 5, 6}) {
    auto r = c.response(id);
    REQUIRE(r);
    INFO(r->dump());
    check_complete((*r)["result"]);
    CHECK((*r)["result"].contains("ttlMs"));
    CHECK((*r)["result"].contains("cacheScope"));
  }
  auto read = c.response(6);
  CHECK((*read)["result"]["cacheScope"] == "private");  // each caller sees its own view
  CHECK((*read)["result"]["contents"][0]["text"] == "{\"client\":\"carol\"}");
}

TEST_CASE("modern: an unknown resource is -32602 with the uri (SEP-2164), never -32002") {
  World w;
  Stateless s(*w.server);
  Capture c;
  s.serve(mreq(9, "resources/read", {{"uri", "test://nonexistent"}}), "stdio", "", c.sink());
  auto r = c.response(9);
  REQUIRE(r);
  CHECK((*r)["error"]["code"] == kInvalidParams);
  CHECK((*r)["error"]["data"]["uri"] == "test://nonexistent");
}

TEST_CASE("modern: tools/call runs the registry's handler with the transport's caller, logs only with logLevel") {
  World w;
  Stateless s(*w.server);
  Capture quiet;
  s.serve(mreq(1, "tools/call", {{"name", "echo"}, {"arguments", {{"text", "hi"}}}}), "alice", "env-a", quiet.sink());
  auto r = quiet.response(1);
  REQUIRE(r);
  check_complete((*r)["result"]);
  CHECK((*r)["result"]["structuredContent"]["text"] == "hi");
  CHECK(quiet.with_method("notifications/message").empty());
  CHECK(quiet.with_method("notifications/progress").empty());  // no progressToken either
  {
    std::lock_guard<std::mutex> lk(w.mu);
    CHECK(w.seen_client == "alice");
    CHECK(w.seen_envelope == "env-a");
  }
  Capture loud;
  s.serve(mreq(2, "tools/call", {{"name", "echo"}, {"arguments", {{"text", "hi"}}},
                                 {"_meta", modern_meta({{kMetaLogLevel, "info"}, {"progressToken", "p1"}})}}),
          "stdio", "", loud.sink());
  REQUIRE(loud.response(2));
  auto logs = loud.with_method("notifications/message");
  REQUIRE(logs.size() == 1);  // info passes, debug is below the request's level
  CHECK(logs[0]["params"]["level"] == "info");
  CHECK(loud.with_method("notifications/progress").size() == 1);
  // A tool is never offered elicit in this era (input-required results are not implemented yet).
  Capture ask;
  s.serve(mreq(3, "tools/call", {{"name", "echo"}, {"arguments", {{"text", "ask"}}},
                                 {"_meta", modern_meta({{kMetaClientCapabilities, {{"elicitation", json::object()}}}})}}),
          "stdio", "", ask.sink());
  auto a = ask.response(3);
  REQUIRE(a);
  CHECK_FALSE((*a)["result"].value("isError", false));
  // Invalid arguments are an isError result with the stable code, as in the 2025 era.
  Capture bad;
  s.serve(mreq(4, "tools/call", {{"name", "echo"}, {"arguments", json::object()}}), "stdio", "", bad.sink());
  auto b = bad.response(4);
  REQUIRE(b);
  CHECK((*b)["result"]["isError"] == true);
  CHECK((*b)["result"]["resultType"] == "complete");
  CHECK((*b)["result"]["content"][0]["text"].get<std::string>().find("INVALID_ARGUMENTS") != std::string::npos);
}

TEST_CASE("modern: a cancel flag stops the call without a response, notifications/cancelled only when enabled") {
  World w;
  {
    Stateless s(*w.server, /*cancel_by_notification=*/true);
    Capture c;
    s.serve(mreq(5, "tools/call", {{"name", "slow"}, {"arguments", {{"text", "x"}}}}), "stdio", "", c.sink());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(s.in_flight() == 1);
    s.serve(json{{"jsonrpc", "2.0"}, {"method", "notifications/cancelled"}, {"params", {{"requestId", 5}}}}, "stdio", "", c.sink());
    CHECK(s.wait_idle(std::chrono::seconds(3)));
    CHECK_FALSE(c.response(5, 200));
  }
  {
    Stateless s(*w.server, /*cancel_by_notification=*/false);
    Capture c;
    auto flag = std::make_shared<std::atomic<bool>>(false);
    s.serve(mreq(6, "tools/call", {{"name", "slow"}, {"arguments", {{"text", "x"}}}}), "http", "", c.sink(), false, flag);
    s.serve(json{{"jsonrpc", "2.0"}, {"method", "notifications/cancelled"}, {"params", {{"requestId", 6}}}}, "http", "", c.sink());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(s.in_flight() == 1);  // ignored here
    flag->store(true);          // the transport's own signal (HTTP: the stream closed)
    CHECK(s.wait_idle(std::chrono::seconds(3)));
    CHECK_FALSE(c.response(6, 200));
  }
}

TEST_CASE("modern: missing_capability builds -32021 with a ClientCapabilities object") {
  auto r = missing_capability(4, json{{"sampling", json::object()}});
  CHECK(r.http_status == 400);
  CHECK(r.response["id"] == 4);
  CHECK(r.response["error"]["code"] == kMissingClientCapability);
  CHECK(r.response["error"]["data"]["requiredCapabilities"]["sampling"].is_object());
}
