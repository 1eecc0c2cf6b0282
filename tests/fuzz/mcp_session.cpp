// MCP JSON-RPC from agents (stdio lines, HTTP bodies): each input line goes through mcp::parse_message (bounded
// nesting) and then, as the transports dispatch, mcp::Stateless::serve when it is a 2026-07-28 message (per-request
// _meta, server/discover, subscriptions/listen) or mcp::Session::handle otherwise — the whole request → response
// path of both eras and both transports, tools/call run inline as the HTTP transport does; open listen streams
// end with their result when the input ends. The server has the real tools registered over an Engine without wallet or
// ledger (decode_invoice, the wallet tools answering how to configure one), plus two resources like the server's
// (an exact URI and a template). Properties: every message sent is a JSON-RPC 2.0 object that serializes; every
// response answers a request id that was received; nothing is left in flight.
#include <set>

#include "config/config.h"
#include "fuzz.h"
#include "mcp/mcp.h"
#include "tools.h"

using namespace sw;

namespace {

struct FixedClock final : Clock {
  int64_t now_unix() const override { return 1'700'000'000; }
};

mcp::Server& server() {
  static config::Config cfg;
  static FixedClock clock;
  static tools::Engine engine;
  static mcp::Server* srv = [] {
    engine.config = &cfg;
    engine.clock = &clock;
    engine.wallet_problem = "no wallet in the fuzz target";
    auto registry = std::make_shared<mcp::ToolRegistry>();
    if (!tools::register_all(*registry, engine)) std::abort();
    std::vector<mcp::Resource> resources(2);
    resources[0].uri = "satwarden://spending";
    resources[0].name = "spending";
    resources[0].read = [](const std::string&, const mcp::CallContext& ctx) -> Result<std::string> {
      return json_dump(json{{"client", ctx.client}});
    };
    resources[1].uri = "satwarden://payments/{payment_hash}";
    resources[1].name = "payment";
    resources[1].is_template = true;
    resources[1].read = [](const std::string& uri, const mcp::CallContext&) -> Result<std::string> {
      const std::string hash = uri.substr(std::string("satwarden://payments/").size());
      if (!hex_decode_fixed(hash, 32)) return make_error("NOT_FOUND", "no payment with hash " + hash);
      return json_dump(json{{"payment_hash", hash}});
    };
    mcp::ServerInfo info;
    info.version = "fuzz";
    info.tools_page_size = 3;
    return new mcp::Server(info, registry, resources);
  }();
  return *srv;
}

struct Capture {
  std::mutex mu;
  std::vector<json> msgs;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  (void)server();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto cap = std::make_shared<Capture>();
  auto session = std::make_shared<mcp::Session>(server(), "stdio", "", [cap](const json& m, const std::string&) {
    std::lock_guard<std::mutex> lk(cap->mu);
    cap->msgs.push_back(m);
  });
  mcp::Stateless modern(server(), /*cancel_by_notification=*/true);
  auto sink = [cap](const json& m, const std::string&) {
    std::lock_guard<std::mutex> lk(cap->mu);
    cap->msgs.push_back(m);
  };
  std::set<std::string> ids;  // request ids received (dumped)
  for (auto line : fuzz::split(fuzz::as_text(data, size), "\n")) {
    line = trim(line);
    if (line.empty()) continue;
    auto msg = mcp::parse_message(line);
    if (!msg) {
      std::lock_guard<std::mutex> lk(cap->mu);
      cap->msgs.push_back(mcp::parse_failure_response(msg.error()));
      continue;
    }
    if (msg->is_object() && msg->contains("id")) ids.insert((*msg)["id"].dump());
    if (mcp::is_modern(*msg)) modern.serve(*msg, "stdio", "", sink, /*run_inline=*/true);
    else session->handle(*msg, /*run_inline=*/true);
  }
  SW_FUZZ_CHECK(session->wait_idle(std::chrono::seconds(30)));
  SW_FUZZ_CHECK(session->in_flight() == 0);
  modern.cancel_all();  // listen streams end with their result
  SW_FUZZ_CHECK(modern.wait_idle(std::chrono::seconds(30)));
  SW_FUZZ_CHECK(modern.in_flight() == 0 && modern.listening() == 0);
  std::lock_guard<std::mutex> lk(cap->mu);
  for (const auto& m : cap->msgs) {
    SW_FUZZ_CHECK(m.is_object());
    SW_FUZZ_CHECK(m.value("jsonrpc", "") == "2.0");
    (void)json_dump(m);
    const bool response = m.contains("result") || m.contains("error");
    SW_FUZZ_CHECK(response != m.contains("method"));
    if (response) {
      SW_FUZZ_CHECK(m.contains("id"));
      SW_FUZZ_CHECK(m["id"].is_null() || ids.count(m["id"].dump()) == 1);
    }
  }
  return 0;
}
