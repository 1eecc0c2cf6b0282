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

// Collects everything a session sends.
using mcp_test::Capture;

json req(int id, const std::string& method, json params = json::object()) {
  return json{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}};
}

std::shared_ptr<ToolRegistry> test_registry() {
  auto reg = std::make_shared<ToolRegistry>();
  Tool echo;
  echo.name = "echo";
  echo.title = "Echo";
  echo.description = "echoes";
  echo.input_schema = json::parse(R"({"type":"object","properties":{"text":{"type":"string","minLength":1},
    "n":{"type":"integer","minimum":1,"maximum":5},"opts":{"type":"object","properties":{"deep":{"type":"boolean"}},
    "additionalProperties":false}},"required":["text"],"additionalProperties":false})");
  echo.output_schema = json::parse(R"({"type":"object","properties":{"text":{"type":"string"}},"required":["text"]})");
  echo.handler = [](const json& a, CallContext&) {
    if (a["text"] == "fail") return ToolOutcome::failure(make_error("SOMETHING_BAD", "it failed"));
    if (a["text"] == "throw") throw std::runtime_error("boom");
    return ToolOutcome::success(json{{"text", a["text"]}});
  };
  REQUIRE(reg->add(echo));
  Tool slow = echo;
  slow.name = "slow";
  slow.handler = [](const json& a, CallContext& ctx) {
    for (int i = 0; i < 200 && !ctx.cancelled(); ++i) {
      ctx.progress(i + 1, 200, "step");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return ToolOutcome::success(json{{"text", ctx.cancelled() ? "cancelled" : "done"}});
  };
  REQUIRE(reg->add(slow));
  for (int i = 0; i < 3; ++i) {
    Tool t = echo;
    t.name = "extra" + std::to_string(i);
    REQUIRE(reg->add(t));
  }
  return reg;
}

}  // namespace

TEST_CASE("JSON-RPC classification") {
  json err;
  CHECK(classify(json::parse(R"({"jsonrpc":"2.0","id":1,"method":"ping"})"), &err) == Kind::request);
  CHECK(classify(json::parse(R"({"jsonrpc":"2.0","id":"a","method":"ping"})"), &err) == Kind::request);
  CHECK(classify(json::parse(R"({"jsonrpc":"2.0","method":"notifications/initialized"})"), &err) == Kind::notification);
  CHECK(classify(json::parse(R"({"jsonrpc":"2.0","id":1,"result":{}})"), &err) == Kind::response);
  for (const char* bad : {R"({"id":1,"method":"ping"})", R"({"jsonrpc":"1.0","id":1,"method":"ping"})",
                          R"({"jsonrpc":"2.0","id":null,"method":"ping"})", R"({"jsonrpc":"2.0","id":1.5,"method":"x"})",
                          R"({"jsonrpc":"2.0","id":true,"method":"x"})", R"({"jsonrpc":"2.0","id":1,"method":7})",
                          R"({"jsonrpc":"2.0","id":1,"method":"x","params":[1]})", R"([{"jsonrpc":"2.0"}])",
                          R"("text")", R"({"jsonrpc":"2.0","id":1})"}) {
    INFO(bad);
    CHECK(classify(json::parse(bad), &err) == Kind::invalid);
    CHECK(err["error"]["code"] == kInvalidRequest);
  }
}

TEST_CASE("version negotiation") {
  CHECK(negotiate_version("2025-11-25") == "2025-11-25");
  CHECK(negotiate_version("2025-06-18") == "2025-06-18");
  CHECK(negotiate_version("2025-03-26") == "2025-03-26");
  CHECK(negotiate_version("2024-11-05") == "2024-11-05");
  CHECK(negotiate_version("2026-07-28") == "2025-11-25");
  CHECK(negotiate_version("garbage") == "2025-11-25");
  CHECK(negotiate_version("") == "2025-11-25");
  CHECK(version_at_least("2025-11-25", "2025-06-18"));
  CHECK_FALSE(version_at_least("2025-03-26", "2025-06-18"));
}

TEST_CASE("schema validation names the field") {
  auto reg = test_registry();
  CHECK(reg->validate("echo", json{{"text", "hi"}}));
  auto missing = reg->validate("echo", json::object());
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == "INVALID_ARGUMENTS");
  CHECK(missing.error().message.find("text") != std::string::npos);
  auto type = reg->validate("echo", json{{"text", 5}});
  REQUIRE_FALSE(type);
  CHECK(type.error().details["field"] == "text");
  auto extra = reg->validate("echo", json{{"text", "a"}, {"bogus", 1}});
  REQUIRE_FALSE(extra);
  CHECK(extra.error().message.find("bogus") != std::string::npos);
  auto range = reg->validate("echo", json{{"text", "a"}, {"n", 9}});
  REQUIRE_FALSE(range);
  CHECK(range.error().details["field"] == "n");
  auto deep = reg->validate("echo", json{{"text", "a"}, {"opts", {{"deep", "yes"}}}});
  REQUIRE_FALSE(deep);
  CHECK(deep.error().details["field"] == "opts.deep");
  CHECK(reg->validate("echo", json{{"text", "a"}, {"n", 2.0}}).ok() == false);  // strong types: 2.0 is not an integer
}

TEST_CASE("registry refuses bad tools") {
  ToolRegistry reg;
  Tool t;
  t.name = "bad name!";
  t.input_schema = json{{"type", "object"}};
  t.output_schema = json{{"type", "object"}};
  t.handler = [](const json&, CallContext&) { return ToolOutcome::success(json::object()); };
  CHECK_FALSE(reg.add(t));
  t.name = "ok";
  t.input_schema = json{{"type", "array"}};
  CHECK_FALSE(reg.add(t));
  t.input_schema = json{{"type", "object"}};
  CHECK(reg.add(t));
  CHECK_FALSE(reg.add(t));  // duplicate
}

TEST_CASE("session lifecycle, listing, calls and errors") {
  ServerInfo info;
  info.version = "9.9.9";
  info.instructions = "be careful";
  info.tools_page_size = 2;
  Server server(info, test_registry());
  Capture cap;
  auto s = std::make_shared<Session>(server, "test", "", cap.sink());

  s->handle(req(1, "initialize", {{"protocolVersion", "2025-11-25"}, {"capabilities", json::object()},
                                  {"clientInfo", {{"name", "t"}, {"version", "1"}}}}));
  auto init = cap.response(1);
  REQUIRE(init);
  CHECK((*init)["result"]["protocolVersion"] == "2025-11-25");
  CHECK((*init)["result"]["serverInfo"]["version"] == "9.9.9");
  CHECK((*init)["result"]["serverInfo"]["title"].is_string());
  CHECK((*init)["result"]["instructions"] == "be careful");
  CHECK((*init)["result"]["capabilities"].contains("tools"));
  CHECK((*init)["result"]["capabilities"].contains("logging"));

  s->handle(req(2, "ping"));
  CHECK((*cap.response(2))["result"] == json::object());

  // pagination: 5 tools, page size 2 → 3 pages
  std::vector<std::string> names;
  json cursor;
  for (int page = 0; page < 5; ++page) {
    json p = json::object();
    if (!cursor.is_null()) p["cursor"] = cursor;
    s->handle(req(100 + page, "tools/list", p));
    auto r = cap.response(100 + page);
    REQUIRE(r);
    for (auto& t : (*r)["result"]["tools"]) {
      names.push_back(t["name"]);
      CHECK(t.contains("outputSchema"));
      CHECK(t.contains("annotations"));
    }
    if (!(*r)["result"].contains("nextCursor")) break;
    cursor = (*r)["result"]["nextCursor"];
  }
  CHECK(names.size() == 5);
  s->handle(req(110, "tools/list", {{"cursor", "bm90LWEtY3Vyc29y"}}));
  CHECK((*cap.response(110))["error"]["code"] == kInvalidParams);

  s->handle(req(3, "tools/call", {{"name", "echo"}, {"arguments", {{"text", "hi"}}}}));
  auto ok = cap.response(3);
  REQUIRE(ok);
  CHECK((*ok)["result"]["structuredContent"]["text"] == "hi");
  CHECK(json::parse((*ok)["result"]["content"][0]["text"].get<std::string>()) == (*ok)["result"]["structuredContent"]);
  CHECK_FALSE((*ok)["result"].contains("isError"));

  s->handle(req(4, "tools/call", {{"name", "echo"}, {"arguments", {{"text", 3}}}}));
  auto bad = cap.response(4);
  REQUIRE(bad);
  CHECK((*bad)["result"]["isError"] == true);
  auto body = json::parse((*bad)["result"]["content"][0]["text"].get<std::string>());
  CHECK(body["error"]["code"] == "INVALID_ARGUMENTS");

  s->handle(req(5, "tools/call", {{"name", "echo"}, {"arguments", {{"text", "fail"}}}}));
  auto failed = json::parse((*cap.response(5))["result"]["content"][0]["text"].get<std::string>());
  CHECK(failed["error"]["code"] == "SOMETHING_BAD");

  s->handle(req(6, "tools/call", {{"name", "echo"}, {"arguments", {{"text", "throw"}}}}));
  auto thrown = json::parse((*cap.response(6))["result"]["content"][0]["text"].get<std::string>());
  CHECK(thrown["error"]["code"] == "INTERNAL");

  s->handle(req(7, "tools/call", {{"name", "nope"}}));
  CHECK((*cap.response(7))["error"]["code"] == kInvalidParams);
  s->handle(req(8, "tools/call", {{"name", "echo"}, {"arguments", json::array()}}));
  CHECK((*cap.response(8))["error"]["code"] == kInvalidParams);
  s->handle(req(9, "no/such/method"));
  CHECK((*cap.response(9))["error"]["code"] == kMethodNotFound);
  s->handle(req(10, "logging/setLevel", {{"level", "loud"}}));
  CHECK((*cap.response(10))["error"]["code"] == kInvalidParams);
  s->handle(req(11, "logging/setLevel", {{"level", "debug"}}));
  CHECK((*cap.response(11))["result"] == json::object());
  s->handle_text("{not json");
  CHECK(cap.response(nullptr, 100).has_value());
}

TEST_CASE("older protocol versions get no structuredContent or outputSchema") {
  Server server(ServerInfo{}, test_registry());
  Capture cap;
  auto s = std::make_shared<Session>(server, "test", "", cap.sink());
  s->handle(req(1, "initialize", {{"protocolVersion", "2024-11-05"}}));
  CHECK((*cap.response(1))["result"]["protocolVersion"] == "2024-11-05");
  CHECK_FALSE((*cap.response(1))["result"]["serverInfo"].contains("title"));
  s->handle(req(2, "tools/list"));
  auto tl = cap.response(2);
  CHECK_FALSE((*tl)["result"]["tools"][0].contains("outputSchema"));
  CHECK_FALSE((*tl)["result"]["tools"][0].contains("annotations"));
  s->handle(req(3, "tools/call", {{"name", "echo"}, {"arguments", {{"text", "x"}}}}));
  CHECK_FALSE((*cap.response(3))["result"].contains("structuredContent"));
}

TEST_CASE("slow calls do not block, progress flows, cancellation stops the call without a response") {
  Server server(ServerInfo{}, test_registry());
  Capture cap;
  auto s = std::make_shared<Session>(server, "test", "", cap.sink());
  s->handle(req(1, "initialize", {{"protocolVersion", "2025-11-25"}}));
  auto t0 = std::chrono::steady_clock::now();
  s->handle(req(2, "tools/call", {{"name", "slow"}, {"arguments", {{"text", "x"}}}, {"_meta", {{"progressToken", "p1"}}}}));
  s->handle(req(3, "ping"));
  REQUIRE(cap.response(3, 500));
  s->handle(req(4, "tools/call", {{"name", "echo"}, {"arguments", {{"text", "fast"}}}}));
  REQUIRE(cap.response(4, 1000));
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(1000));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(cap.count_method("notifications/progress") >= 2);
  s->handle(json{{"jsonrpc", "2.0"}, {"method", "notifications/cancelled"}, {"params", {{"requestId", 2}}}});
  CHECK(s->wait_idle(std::chrono::seconds(3)));
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(1800));  // the call stopped early
  CHECK_FALSE(cap.response(2, 200).has_value());  // cancelled requests get no response
  // Progress values strictly increase.
  std::lock_guard<std::mutex> lk(cap.mu);
  double last = -1;
  for (auto& m : cap.msgs)
    if (m.value("method", "") == "notifications/progress") {
      CHECK(m["params"]["progressToken"] == "p1");
      CHECK(m["params"]["progress"].get<double>() > last);
      last = m["params"]["progress"].get<double>();
    }
}

// ---------------------------------------------------------------- strict-mode nulls and validation messages

namespace {

// A tool whose handler answers with the arguments it was given, so a test sees exactly what a tool sees.
Tool mirror_tool(const std::string& name, json input_schema) {
  Tool t;
  t.name = name;
  t.title = name;
  t.description = "answers with its arguments";
  t.input_schema = std::move(input_schema);
  t.output_schema = json{{"type", "object"}};
  t.handler = [](const json& a, CallContext&) { return ToolOutcome::success(json{{"seen", a}}); };
  return t;
}

// The shapes schemas/ uses, nested: optional scalars, a required one, an optional object with optional and
// required members, an array of objects, a map (additionalProperties), and one property that admits null.
json strict_schema() {
  return json::parse(R"({"type":"object","properties":{
    "invoice":{"type":"string","minLength":1},
    "max_sats":{"type":"integer","minimum":1},
    "memo":{"type":"string"},
    "opts":{"type":"object","properties":{"deep":{"type":"boolean"},"level":{"type":"integer"},
            "must":{"type":"string"}},"required":["must"],"additionalProperties":false},
    "records":{"type":"array","items":{"type":"object","properties":{"type":{"type":"integer"},
               "note":{"type":"string"}},"required":["type"],"additionalProperties":false}},
    "headers":{"type":"object","additionalProperties":{"type":"string"}},
    "nullable":{"type":["string","null"]}},
    "required":["invoice"],"additionalProperties":false})");
}

struct StrictWorld {
  Server server;
  Capture cap;
  std::shared_ptr<Session> s;
  int next_id = 1000;
  explicit StrictWorld(std::shared_ptr<ToolRegistry> reg) : server(ServerInfo{}, std::move(reg)) {
    s = std::make_shared<Session>(server, "test", "", cap.sink());
    s->handle(req(1, "initialize", {{"protocolVersion", "2025-11-25"}}));
    REQUIRE(cap.response(1));
  }
  // tools/call through the session; returns the result object.
  json call(const std::string& tool, const json& args) {
    int id = next_id++;
    s->handle(req(id, "tools/call", {{"name", tool}, {"arguments", args}}));
    auto r = cap.response(id);
    REQUIRE(r);
    REQUIRE((*r).contains("result"));
    return (*r)["result"];
  }
  static json error_of(const json& result) {
    REQUIRE(result.value("isError", false));
    return json::parse(result["content"][0]["text"].get<std::string>())["error"];
  }
};

std::shared_ptr<ToolRegistry> strict_registry() {
  auto reg = std::make_shared<ToolRegistry>();
  REQUIRE(reg->add(mirror_tool("strict", strict_schema())));
  return reg;
}

}  // namespace

TEST_CASE("strict mode: null for an optional top-level argument means absent") {
  StrictWorld w(strict_registry());
  auto r = w.call("strict", {{"invoice", "lnbc1"}, {"max_sats", nullptr}, {"memo", nullptr}, {"opts", nullptr},
                             {"records", nullptr}, {"headers", nullptr}});
  REQUIRE_FALSE(r.value("isError", false));
  CHECK(r["structuredContent"]["seen"] == json{{"invoice", "lnbc1"}});  // the tool never sees the nulls
  // The same call without the nulls is answered identically.
  auto plain = w.call("strict", {{"invoice", "lnbc1"}});
  CHECK(plain["structuredContent"] == r["structuredContent"]);
  // A property whose schema admits null keeps it: there null is a value.
  auto kept = w.call("strict", {{"invoice", "lnbc1"}, {"nullable", nullptr}});
  REQUIRE_FALSE(kept.value("isError", false));
  CHECK(kept["structuredContent"]["seen"].contains("nullable"));
  CHECK(kept["structuredContent"]["seen"]["nullable"].is_null());
}

TEST_CASE("strict mode: null for an optional nested argument means absent") {
  StrictWorld w(strict_registry());
  auto r = w.call("strict", {{"invoice", "x"},
                             {"opts", {{"deep", nullptr}, {"level", nullptr}, {"must", "m"}}},
                             {"records", json::array({{{"type", 1}, {"note", nullptr}}, {{"type", 2}, {"note", "n"}}})}});
  REQUIRE_FALSE(r.value("isError", false));
  const json& seen = r["structuredContent"]["seen"];
  CHECK(seen["opts"] == json{{"must", "m"}});
  CHECK(seen["records"][0] == json{{"type", 1}});
  CHECK(seen["records"][1] == json{{"type", 2}, {"note", "n"}});
  // A map's values are not declared properties: a null there is a wrong value, named with its type.
  auto map = StrictWorld::error_of(w.call("strict", {{"invoice", "x"}, {"headers", {{"X-A", nullptr}}}}));
  CHECK(map["code"] == "INVALID_ARGUMENTS");
  CHECK(map["message"].get<std::string>().find("headers.X-A: expected string, got null") != std::string::npos);
}

TEST_CASE("strict mode: null for a required argument is an error naming the field and the expected type") {
  StrictWorld w(strict_registry());
  auto top = StrictWorld::error_of(w.call("strict", {{"invoice", nullptr}, {"max_sats", nullptr}}));
  CHECK(top["code"] == "INVALID_ARGUMENTS");
  CHECK(top["message"] == "invalid arguments: invoice: expected string, got null");
  CHECK(top["details"]["field"] == "invoice");
  CHECK(top["details"]["pointer"] == "/invoice");
  CHECK(top["details"]["expected"] == json::array({"string"}));
  CHECK(top["details"]["got"] == "null");

  auto nested = StrictWorld::error_of(w.call("strict", {{"invoice", "x"}, {"opts", {{"must", nullptr}}}}));
  CHECK(nested["message"] == "invalid arguments: opts.must: expected string, got null");
  CHECK(nested["details"]["pointer"] == "/opts/must");

  auto in_array = StrictWorld::error_of(
      w.call("strict", {{"invoice", "x"}, {"records", json::array({{{"type", 1}}, {{"type", nullptr}}})}}));
  CHECK(in_array["message"] == "invalid arguments: records[1].type: expected integer, got null");
  CHECK(in_array["details"]["pointer"] == "/records/1/type");
}

TEST_CASE("validation messages name the field and the expected type") {
  StrictWorld w(strict_registry());
  auto wrong = StrictWorld::error_of(w.call("strict", {{"invoice", "x"}, {"max_sats", "100"}}));
  CHECK(wrong["message"] == "invalid arguments: max_sats: expected integer, got string");
  CHECK(wrong["details"]["expected"] == json::array({"integer"}));
  CHECK(wrong["details"]["got"] == "string");
  // Strong types: 2.5 and 2.0 are numbers, not integers.
  auto fractional = StrictWorld::error_of(w.call("strict", {{"invoice", "x"}, {"max_sats", 2.5}}));
  CHECK(fractional["message"] == "invalid arguments: max_sats: expected integer, got number");
  auto union_type = StrictWorld::error_of(w.call("strict", {{"invoice", "x"}, {"nullable", 5}}));
  CHECK(union_type["message"] == "invalid arguments: nullable: expected string or null, got integer");
  auto missing = StrictWorld::error_of(w.call("strict", {{"max_sats", 5}}));
  CHECK(missing["message"] == "invalid arguments: invoice: missing required property (expected string)");
  CHECK(missing["details"]["pointer"] == "/invoice");
  auto missing_nested = StrictWorld::error_of(w.call("strict", {{"invoice", "x"}, {"opts", json::object()}}));
  CHECK(missing_nested["message"] == "invalid arguments: opts.must: missing required property (expected string)");
  // Not a type problem: valijson's words, still prefixed by the field, with the schema's type alongside.
  auto range = StrictWorld::error_of(w.call("strict", {{"invoice", "x"}, {"max_sats", 0}}));
  CHECK(range["message"].get<std::string>().rfind("invalid arguments: max_sats: ", 0) == 0);
  CHECK(range["details"]["expected"] == json::array({"integer"}));
  auto extra = StrictWorld::error_of(w.call("strict", {{"invoice", "x"}, {"bogus", nullptr}}));
  CHECK(extra["message"].get<std::string>().find("bogus") != std::string::npos);  // an undeclared null is not dropped
  // A property named like an index is still a property.
  auto reg = std::make_shared<ToolRegistry>();
  REQUIRE(reg->add(mirror_tool("odd", json::parse(
      R"({"type":"object","properties":{"0":{"type":"object","properties":{"1":{"type":"integer"}}}}})"))));
  auto odd = reg->validate("odd", json{{"0", {{"1", "a"}}}});
  REQUIRE_FALSE(odd);
  CHECK(odd.error().details["pointer"] == "/0/1");
  CHECK(odd.error().message == "invalid arguments: 0.1: expected integer, got string");
}

TEST_CASE("strict mode: every tool in schemas/ accepts null for each optional argument, and sees it absent") {
  // Values for the required properties of today's tools; a new required property needs a sample here.
  const json samples{{"url", "https://example.com/paid"},
                     {"invoice", "lnbc1invoice"},
                     {"destination", "02" + std::string(64, 'a')},
                     {"amount_sats", 21},
                     {"approval_id", "ab12cd"},
                     {"nonce", "n0nce"},
                     {"decision", "approve"},
                     {"address", "alice@example.com"},
                     {"lnurl", "lnurlp://example.com/pay"},
                     {"target", "alice@example.com"}};
  auto reg = std::make_shared<ToolRegistry>();
  std::vector<std::string> tools;
  for (const auto& [text_name, text] : embedded_schema_texts()) {
    std::string name(text_name);
    auto dot = name.rfind(".input");
    if (dot == std::string::npos || dot + 6 != name.size()) continue;
    std::string tool = name.substr(0, dot);
    REQUIRE(reg->add(mirror_tool(tool, *embedded_schema(name))));
    tools.push_back(tool);
  }
  REQUIRE(tools.size() >= 10);
  StrictWorld w(reg);
  for (const auto& tool : tools) {
    INFO(tool);
    const json schema = *embedded_schema(tool + ".input");
    json required = schema.value("required", json::array());
    json with_nulls = json::object();
    json expected = json::object();
    for (const auto& [prop, sub] : schema["properties"].items()) {
      if (std::find(required.begin(), required.end(), prop) != required.end()) {
        INFO("no sample for required property " << prop);
        REQUIRE(samples.contains(prop));
        with_nulls[prop] = samples[prop];
        expected[prop] = samples[prop];
      } else {
        with_nulls[prop] = nullptr;
      }
    }
    auto r = w.call(tool, with_nulls);
    INFO(r.dump());
    REQUIRE_FALSE(r.value("isError", false));
    CHECK(r["structuredContent"]["seen"] == expected);
    // And a null for each required property is refused, naming it and its type.
    for (const auto& prop : required) {
      json bad = with_nulls;
      bad[prop.get<std::string>()] = nullptr;
      auto e = StrictWorld::error_of(w.call(tool, bad));
      CHECK(e["code"] == "INVALID_ARGUMENTS");
      CHECK(e["details"]["field"] == prop);
      CHECK(e["message"].get<std::string>().find(prop.get<std::string>() + ": expected ") != std::string::npos);
    }
  }
}

// ---------------------------------------------------------------- nesting depth

namespace {
std::string nested_arrays(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }
}  // namespace

TEST_CASE("json_nesting_exceeds counts containers outside strings") {
  CHECK_FALSE(json_nesting_exceeds("{}", 1));
  CHECK(json_nesting_exceeds("{\"a\":[]}", 1));
  CHECK_FALSE(json_nesting_exceeds("{\"a\":[]}", 2));
  CHECK_FALSE(json_nesting_exceeds(nested_arrays(64), 64));
  CHECK(json_nesting_exceeds(nested_arrays(65), 64));
  CHECK_FALSE(json_nesting_exceeds("[[],[],[[]],{\"x\":{}}]", 3));   // siblings do not add up
  CHECK_FALSE(json_nesting_exceeds("[\"[[[[{{{{\"]", 1));            // brackets inside a string are text
  CHECK_FALSE(json_nesting_exceeds("[\"\\\"[[[[\"]", 1));            // an escaped quote does not end the string
  CHECK(json_nesting_exceeds("[\"\\\\\",[[]]]", 2));                 // an escaped backslash does
  CHECK(json_nesting_exceeds(std::string(100000, '['), 64));          // unbalanced and deep: refused early
  auto parsed = parse_message(nested_arrays(64));
  CHECK(parsed.ok());
  auto deep = parse_message(nested_arrays(65));
  REQUIRE_FALSE(deep);
  CHECK(deep.error().code == "JSON_TOO_DEEP");
  auto garbage = parse_message("{\"a\":");
  REQUIRE_FALSE(garbage);
  CHECK(garbage.error().code == "JSON_INVALID");
  CHECK(parse_failure_response(deep.error())["error"]["code"] == kInvalidRequest);
  CHECK(parse_failure_response(garbage.error())["error"]["code"] == kParseError);
}

TEST_CASE("a 100,000-deep message is refused with an error and the session keeps serving") {
  Server server(ServerInfo{}, test_registry());
  Capture cap;
  auto s = std::make_shared<Session>(server, "test", "", cap.sink());
  const std::string deep = nested_arrays(100000);
  const std::vector<std::string> attacks = {
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","x":)" + deep + "}}",
      R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":)" + deep + "}}}",
      R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"a"},"_meta":)" +
          deep + "}}",
      R"({"jsonrpc":"2.0","method":"notifications/initialized","params":)" + deep + "}",
      std::string(100000, '{'),  // not JSON either
  };
  for (const auto& text : attacks) {
    {
      std::lock_guard<std::mutex> lk(cap.mu);
      cap.msgs.clear();
    }
    auto t0 = std::chrono::steady_clock::now();
    s->handle_text(text);
    auto r = cap.response(nullptr, 1000);
    REQUIRE(r);
    CHECK((*r)["error"]["code"] == kInvalidRequest);
    CHECK((*r)["error"]["message"].get<std::string>().find("64") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(500));
    CHECK(s->in_flight() == 0);
  }
  // 64 levels in all are fine: the message is level 1, params 2, arguments 3; a 61-deep value inside arguments.
  std::string deepest_ok = R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"ok","opts":{"deep":)" +
                           nested_arrays(60) + "}}}}";
  s->handle_text(deepest_ok);
  auto r = cap.response(7);
  REQUIRE(r);
  CHECK((*r)["result"]["isError"] == true);  // validated (opts.deep must be a boolean), not refused
  CHECK(json::parse((*r)["result"]["content"][0]["text"].get<std::string>())["error"]["code"] == "INVALID_ARGUMENTS");
  // One level more is refused.
  {
    std::lock_guard<std::mutex> lk(cap.mu);
    cap.msgs.clear();
  }
  std::string one_too_deep = R"({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{"text":"ok","opts":{"deep":)" +
                             nested_arrays(61) + "}}}}";
  s->handle_text(one_too_deep);
  auto refused = cap.response(nullptr, 1000);
  REQUIRE(refused);
  CHECK((*refused)["error"]["code"] == kInvalidRequest);
  CHECK_FALSE(cap.response(9, 100).has_value());
  s->handle_text(R"({"jsonrpc":"2.0","id":8,"method":"ping"})");
  REQUIRE(cap.response(8));
}

// MCP Apps (SEP-1865): _meta.ui on tools and app-only tools exist only for a client whose initialize declared
// capabilities.extensions["io.modelcontextprotocol/ui"] with the mcp-app MIME type; results carry their _meta.
TEST_CASE("MCP Apps: _meta.ui and app-only tools only for clients that declared the extension") {
  CHECK(declares_ui_apps(json{{"extensions", {{"io.modelcontextprotocol/ui", {{"mimeTypes", {"text/html;profile=mcp-app"}}}}}}}));
  CHECK_FALSE(declares_ui_apps(json{{"extensions", {{"io.modelcontextprotocol/ui", json::object()}}}}));
  CHECK_FALSE(declares_ui_apps(json{{"extensions", {{"io.modelcontextprotocol/ui", {{"mimeTypes", {"text/html"}}}}}}}));
  CHECK_FALSE(declares_ui_apps(json{{"experimental", json::object()}}));
  CHECK_FALSE(declares_ui_apps(json::array()));

  auto reg = std::make_shared<ToolRegistry>();
  Tool shown = mirror_tool("shown", json{{"type", "object"}});
  shown.ui = json{{"resourceUri", "ui://x/card"}};
  Tool app = mirror_tool("app_button", json{{"type", "object"}});
  app.ui = json{{"resourceUri", "ui://x/card"}, {"visibility", {"app"}}};
  app.handler = [](const json&, CallContext& ctx) {
    ToolOutcome o = ToolOutcome::success(json{{"ui_apps", ctx.ui_apps}});
    o.meta = json{{"ui", {{"resourceUri", "ui://x/card/1"}}}};
    return o;
  };
  REQUIRE(reg->add(shown));
  REQUIRE(reg->add(app));
  Server server(ServerInfo{}, reg);
  auto session = [&](bool ui) {
    auto cap = std::make_shared<Capture>();
    auto s = std::make_shared<Session>(server, "test", "", cap->sink());
    json caps = ui ? json{{"extensions", {{"io.modelcontextprotocol/ui", {{"mimeTypes", {"text/html;profile=mcp-app"}}}}}}}
                   : json::object();
    s->handle(req(1, "initialize", {{"protocolVersion", "2025-11-25"}, {"capabilities", caps}}));
    REQUIRE(cap->response(1));
    s->handle(req(2, "tools/list", json::object()));
    auto list = cap->response(2);
    REQUIRE(list);
    s->handle(req(3, "tools/call", {{"name", "app_button"}, {"arguments", json::object()}}));
    auto called = cap->response(3);
    REQUIRE(called);
    return std::make_pair((*list)["result"]["tools"], *called);
  };
  auto [plain_tools, plain_call] = session(false);
  REQUIRE(plain_tools.size() == 1);
  CHECK(plain_tools[0]["name"] == "shown");
  CHECK_FALSE(plain_tools[0].contains("_meta"));
  REQUIRE(plain_call.contains("error"));  // the app-only tool does not exist for this client
  CHECK(plain_call["error"]["message"].get<std::string>().find("Unknown tool") == 0);

  auto [ui_tools, ui_call] = session(true);
  REQUIRE(ui_tools.size() == 2);
  CHECK(ui_tools[0]["_meta"]["ui"]["resourceUri"] == "ui://x/card");
  CHECK(ui_tools[0]["_meta"]["ui/resourceUri"] == "ui://x/card");
  CHECK(ui_tools[1]["_meta"]["ui"]["visibility"] == json::array({"app"}));
  REQUIRE(ui_call.contains("result"));
  CHECK(ui_call["result"]["structuredContent"]["ui_apps"] == true);
  CHECK(ui_call["result"]["_meta"]["ui"]["resourceUri"] == "ui://x/card/1");
}
