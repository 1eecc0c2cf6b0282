// Input-required results (MRTR, MCP 2026-07-28) in the MCP layer: the requestState seal (integrity, binding to the
// tool, the arguments and the caller, expiry) and the tools/call round trip through Stateless — input_required
// only for a client that declared form elicitation in this request, a verified state handed to the retry, and a
// state that fails verification refused with -32602 before the tool runs.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "capture.h"
#include "mcp/mcp.h"

using namespace sw;
using namespace sw::mcp;

namespace {

Bytes key_of(uint8_t b) { return Bytes(32, b); }

using mcp_test::Capture;

json meta(bool elicitation) {
  json caps = json::object();
  if (elicitation) caps["elicitation"] = json::object();
  return json{{kMetaProtocolVersion, kModernVersion}, {kMetaClientCapabilities, caps}};
}

json call(json id, const json& args, bool elicitation, json extra = json::object()) {
  json params{{"name", "ask"}, {"arguments", args}, {"_meta", meta(elicitation)}};
  for (auto it = extra.begin(); it != extra.end(); ++it) params[it.key()] = it.value();
  return json{{"jsonrpc", "2.0"}, {"id", id}, {"method", "tools/call"}, {"params", params}};
}

// A tool that asks once (when it may) and then reports what the retry brought.
struct World {
  std::shared_ptr<ToolRegistry> reg = std::make_shared<ToolRegistry>();
  std::unique_ptr<Server> server;
  std::atomic<int> runs{0};
  World() {
    Tool t;
    t.name = "ask";
    t.description = "asks";
    t.input_schema = json::parse(R"({"type":"object","properties":{"n":{"type":"integer"}}})");
    t.output_schema = json::parse(R"({"type":"object"})");
    t.handler = [this](const json&, CallContext& ctx) -> ToolOutcome {
      ++runs;
      if (ctx.input_required_form && ctx.request_state.is_null()) {
        InputRequired in;
        in.input_requests = json{{"q", {{"method", "elicitation/create"},
                                        {"params", {{"mode", "form"}, {"message", "ok?"},
                                                    {"requestedSchema", {{"type", "object"}, {"properties", json::object()}}}}}}}};
        in.state = json{{"step", 1}};
        in.ttl_s = 60;
        return ToolOutcome::need_input(std::move(in));
      }
      return ToolOutcome::success(json{{"state", ctx.request_state}, {"responses", ctx.input_responses},
                                       {"could_ask", ctx.input_required_form}});
    };
    REQUIRE(reg->add(std::move(t)));
    server = std::make_unique<Server>(ServerInfo{}, reg);
  }
};

}  // namespace

TEST_CASE("mrtr: requestState opens only for the same tool, arguments and caller, before it expires") {
  const StateBinding b{"pay_invoice", json{{"invoice", "lnbc1"}, {"max_sats", 10}}, "stdio", ""};
  const json state{{"approval_id", "K7QF2M"}};
  const std::string token = seal_request_state(key_of(1), b, state, 1000);
  auto ok = open_request_state(key_of(1), token, b, 999);
  REQUIRE(ok);
  CHECK(*ok == state);
  // The same arguments in another key order are the same call.
  CHECK(open_request_state(key_of(1), token, StateBinding{"pay_invoice", json::parse(R"({"max_sats":10,"invoice":"lnbc1"})"), "stdio", ""}, 999));

  auto refused = [&](const Bytes& key, const std::string& t, const StateBinding& bb, int64_t now, const char* why) {
    auto r = open_request_state(key, t, bb, now);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "INVALID_REQUEST_STATE");
    INFO(r.error().message);
    CHECK(r.error().message.find(why) != std::string::npos);
  };
  refused(key_of(1), token, b, 1000, "expired");
  refused(key_of(1), token, b, 5000, "expired");
  refused(key_of(2), token, b, 999, "tampered");  // another process's key
  refused(key_of(1), token, StateBinding{"pay_keysend", b.args, "stdio", ""}, 999, "another tool");
  refused(key_of(1), token, StateBinding{"pay_invoice", json{{"invoice", "lnbc1"}, {"max_sats", 11}}, "stdio", ""}, 999,
          "other arguments");
  refused(key_of(1), token, StateBinding{"pay_invoice", b.args, "agent-a", "env-a"}, 999, "another caller");
  refused(key_of(1), token, StateBinding{"pay_invoice", b.args, "stdio", "env-a"}, 999, "another caller");

  // Any change to the payload or the MAC is caught; a payload re-sealed without the key is not accepted.
  const auto dot = token.find('.');
  REQUIRE(dot != std::string::npos);
  std::string flipped = token;
  flipped[dot / 2] = flipped[dot / 2] == 'A' ? 'B' : 'A';
  refused(key_of(1), flipped, b, 999, "");
  std::string mac_flipped = token;
  mac_flipped.back() = mac_flipped.back() == 'A' ? 'B' : 'A';
  refused(key_of(1), mac_flipped, b, 999, "tampered");
  auto raw = base64_decode(token.substr(0, dot));
  REQUIRE(raw);
  json p = json::parse(to_string(*raw));
  p["exp"] = 999999;
  p["s"]["approval_id"] = "OTHER1";
  const std::string forged_text = p.dump();
  const std::string forged = base64_encode(reinterpret_cast<const uint8_t*>(forged_text.data()), forged_text.size(), true, false) +
                             token.substr(dot);
  refused(key_of(1), forged, b, 999, "tampered");
  refused(key_of(1), "", b, 999, "malformed");
  refused(key_of(1), "no-dot-here", b, 999, "malformed");
  refused(key_of(1), "!!!." + token.substr(dot + 1), b, 999, "malformed");
}

TEST_CASE("mrtr: tools/call answers input_required, and the retry brings the verified state and the answers") {
  World w;
  Stateless st(*w.server);
  Capture c;
  const json args{{"n", 1}};
  st.serve(call(1, args, true), "stdio", "", c.sink(), true);
  auto r1 = c.response(1);
  REQUIRE(r1);
  REQUIRE(r1->contains("result"));
  const json& res = (*r1)["result"];
  CHECK(res["resultType"] == "input_required");
  CHECK(res["inputRequests"]["q"]["method"] == "elicitation/create");
  CHECK(res["inputRequests"]["q"]["params"]["mode"] == "form");
  REQUIRE(res["requestState"].is_string());
  CHECK(res["_meta"].contains(kMetaServerInfo));
  CHECK_FALSE(res.contains("content"));
  const std::string state = res["requestState"];
  // The state is opaque: the tool's payload is not readable as such from outside without the format, and it is
  // not a plain copy of the arguments.
  CHECK(state.find("step") == std::string::npos);

  const json answers{{"q", {{"action", "accept"}}}};
  st.serve(call(2, args, true, json{{"inputResponses", answers}, {"requestState", state}}), "stdio", "", c.sink(), true);
  auto r2 = c.response(2);
  REQUIRE(r2);
  REQUIRE(r2->contains("result"));
  CHECK((*r2)["result"]["resultType"] == "complete");
  CHECK((*r2)["result"]["structuredContent"]["state"] == json{{"step", 1}});
  CHECK((*r2)["result"]["structuredContent"]["responses"] == answers);
  CHECK(w.runs == 2);

  // Refused before the tool runs (-32602): another caller, other arguments, a tampered state, a wrong type.
  auto refused = [&](json id, const json& msg, const std::string& client) {
    const int before = w.runs;
    st.serve(msg, client, "", c.sink(), true);
    auto r = c.response(id);
    REQUIRE(r);
    REQUIRE(r->contains("error"));
    CHECK((*r)["error"]["code"] == kInvalidParams);
    CHECK(w.runs == before);
  };
  refused(3, call(3, args, true, json{{"inputResponses", answers}, {"requestState", state}}), "agent-a");
  refused(4, call(4, json{{"n", 2}}, true, json{{"inputResponses", answers}, {"requestState", state}}), "stdio");
  std::string bad = state;
  bad[3] = bad[3] == 'x' ? 'y' : 'x';
  refused(5, call(5, args, true, json{{"inputResponses", answers}, {"requestState", bad}}), "stdio");
  refused(6, call(6, args, true, json{{"requestState", 7}}), "stdio");
  refused(7, call(7, args, true, json{{"inputResponses", "accept"}, {"requestState", state}}), "stdio");
  // Another server process (another key) does not accept this one's state.
  Stateless other(*w.server);
  const int before = w.runs;
  other.serve(call(8, args, true, json{{"inputResponses", answers}, {"requestState", state}}), "stdio", "", c.sink(), true);
  auto r8 = c.response(8);
  REQUIRE(r8);
  REQUIRE(r8->contains("error"));
  CHECK((*r8)["error"]["code"] == kInvalidParams);
  CHECK((*r8)["error"]["message"].get<std::string>().find("tampered") != std::string::npos);
  CHECK(w.runs == before);
}

TEST_CASE("mrtr: no input_required for a client without form elicitation in this request") {
  World w;
  Stateless st(*w.server);
  Capture c;
  st.serve(call(1, json{{"n", 1}}, false), "stdio", "", c.sink(), true);
  auto r = c.response(1);
  REQUIRE(r);
  CHECK((*r)["result"]["resultType"] == "complete");
  CHECK((*r)["result"]["structuredContent"]["could_ask"] == false);
  // URL mode only is not form mode.
  json msg = call(2, json{{"n", 1}}, false);
  msg["params"]["_meta"][kMetaClientCapabilities]["elicitation"] = json{{"url", json::object()}};
  st.serve(msg, "stdio", "", c.sink(), true);
  auto r2 = c.response(2);
  REQUIRE(r2);
  CHECK((*r2)["result"]["structuredContent"]["could_ask"] == false);
}
