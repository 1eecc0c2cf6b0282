// Fair sharing of tool calls between callers (Server::set_call_quota / admit_call, engine::run_tool): calls
// running at once and calls per sliding minute per limited caller, RATE_LIMITED before anything runs, other
// callers and the owner untouched; and where a call runs (runs_quickly: closed-world tools may run inline).
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "capture.h"
#include "mcp/engine.h"
#include "mcp/mcp.h"

using namespace sw;
using namespace sw::mcp;

namespace {

using mcp_test::Capture;

std::unique_ptr<Server> make_server(std::shared_ptr<ToolRegistry> reg = std::make_shared<ToolRegistry>()) {
  ServerInfo info;
  info.version = "1";
  return std::make_unique<Server>(info, reg);
}

}  // namespace

TEST_CASE("quota: calls running at once, per limited caller") {
  auto s = make_server();
  s->set_call_quota({2, 0}, {"tok-a", "tok-b"});
  auto a1 = s->admit_call("tok-a");
  auto a2 = s->admit_call("tok-a");
  REQUIRE(a1);
  REQUIRE(a2);
  auto a3 = s->admit_call("tok-a");
  REQUIRE_FALSE(a3);
  CHECK(a3.error().code == "RATE_LIMITED");
  CHECK(a3.error().message.find("nothing was paid") != std::string::npos);
  CHECK(a3.error().details["retry_after_s"] == 1);
  // Another token and the owner are not affected.
  auto b1 = s->admit_call("tok-b");
  CHECK(b1);
  for (int i = 0; i < 50; ++i) CHECK(s->admit_call("stdio"));
  // A finished call frees its slot.
  a1 = make_error("X", "released");
  CHECK(s->admit_call("tok-a"));
}

TEST_CASE("quota: calls started per sliding minute") {
  auto s = make_server();
  s->set_call_quota({0, 3}, {"tok"});
  for (int i = 0; i < 3; ++i) {
    auto slot = s->admit_call("tok");  // released at once: the per-minute count stays
    REQUIRE(slot);
  }
  auto over = s->admit_call("tok");
  REQUIRE_FALSE(over);
  CHECK(over.error().code == "RATE_LIMITED");
  const int64_t wait = over.error().details["retry_after_s"].get<int64_t>();
  CHECK(wait >= 1);
  CHECK(wait <= 61);
  CHECK(over.error().message.find("call again in") != std::string::npos);
  CHECK(s->admit_call("other"));  // not a limited caller
}

TEST_CASE("quota: no quota set, nobody is limited") {
  auto s = make_server();
  for (int i = 0; i < 100; ++i) CHECK(s->admit_call("tok"));
}

TEST_CASE("quota: a limited caller over its share gets an isError RATE_LIMITED result, in both eras") {
  auto reg = std::make_shared<ToolRegistry>();
  std::atomic<int> running{0};
  std::atomic<bool> release{false};
  Tool hold;
  hold.name = "hold";
  hold.description = "waits until released";
  hold.annotations = json{{"openWorldHint", true}};
  hold.input_schema = json::parse(R"({"type":"object"})");
  hold.output_schema = json::parse(R"({"type":"object"})");
  hold.handler = [&](const json&, CallContext&) {
    ++running;
    for (int i = 0; i < 500 && !release.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    --running;
    return ToolOutcome::success(json::object());
  };
  REQUIRE(reg->add(hold));
  auto server = make_server(reg);
  server->set_call_quota({1, 0}, {"tok"});
  Capture c;
  auto session = std::make_shared<Session>(*server, "tok", "", c.sink());
  session->handle(json{{"jsonrpc", "2.0"}, {"id", 0}, {"method", "initialize"},
                       {"params", {{"protocolVersion", "2025-11-25"}, {"capabilities", json::object()},
                                   {"clientInfo", {{"name", "t"}, {"version", "1"}}}}}});
  session->handle(json{{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}});
  auto call = [](int id) {
    return json{{"jsonrpc", "2.0"}, {"id", id}, {"method", "tools/call"}, {"params", {{"name", "hold"}, {"arguments", json::object()}}}};
  };
  session->handle(call(1));
  for (int i = 0; i < 200 && running.load() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  REQUIRE(running.load() == 1);
  session->handle(call(2));
  auto r2 = c.response(2);
  REQUIRE(r2);
  CHECK((*r2)["result"]["isError"] == true);
  CHECK((*r2)["result"]["content"][0]["text"].get<std::string>().find("RATE_LIMITED") != std::string::npos);
  // The modern era shares the same limits (engine::run_tool).
  Stateless modern(*server);
  json meta{{kMetaProtocolVersion, kModernVersion}, {kMetaClientCapabilities, json::object()}};
  json m = call(3);
  m["params"]["_meta"] = meta;
  modern.serve(m, "tok", "", c.sink());
  auto r3 = c.response(3);
  REQUIRE(r3);
  CHECK((*r3)["result"]["isError"] == true);
  CHECK((*r3)["result"]["content"][0]["text"].get<std::string>().find("RATE_LIMITED") != std::string::npos);
  release = true;
  auto r1 = c.response(1);
  REQUIRE(r1);
  CHECK_FALSE((*r1)["result"].contains("isError"));
  REQUIRE(session->wait_idle(std::chrono::seconds(5)));
}

TEST_CASE("quota: open-world tools never run on the caller's thread, closed-world ones may") {
  auto reg = std::make_shared<ToolRegistry>();
  std::thread::id seen;
  std::mutex mu;
  for (bool open : {true, false}) {
    Tool t;
    t.name = open ? "net" : "local";
    t.description = "records its thread";
    t.annotations = json{{"openWorldHint", open}};
    t.input_schema = json::parse(R"({"type":"object"})");
    t.output_schema = json::parse(R"({"type":"object"})");
    t.handler = [&](const json&, CallContext&) {
      std::lock_guard<std::mutex> lk(mu);
      seen = std::this_thread::get_id();
      return ToolOutcome::success(json::object());
    };
    REQUIRE(reg->add(t));
  }
  CHECK_FALSE(engine::runs_quickly(*reg->find("net")));
  CHECK(engine::runs_quickly(*reg->find("local")));
  Tool unannotated;
  CHECK_FALSE(engine::runs_quickly(unannotated));  // no hint: may touch the network
  auto server = make_server(reg);
  Capture c;
  Stateless modern(*server);
  json meta{{kMetaProtocolVersion, kModernVersion}, {kMetaClientCapabilities, json::object()}};
  auto call = [&](int id, const char* name) {
    return json{{"jsonrpc", "2.0"}, {"id", id}, {"method", "tools/call"},
                {"params", {{"name", name}, {"arguments", json::object()}, {"_meta", meta}}}};
  };
  modern.serve(call(1, "local"), "stdio", "", c.sink(), /*run_inline=*/true);
  REQUIRE(c.response(1));
  {
    std::lock_guard<std::mutex> lk(mu);
    CHECK(seen == std::this_thread::get_id());
  }
  modern.serve(call(2, "net"), "stdio", "", c.sink(), /*run_inline=*/true);
  REQUIRE(c.response(2));
  {
    std::lock_guard<std::mutex> lk(mu);
    CHECK(seen != std::this_thread::get_id());
  }
}
