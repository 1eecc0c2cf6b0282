#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>

#include "transport/transport.h"

namespace sw::transport {

int run_stdio(mcp::Server& server) {
  std::mutex out_mu;
  auto sink = [&out_mu](const json& msg, const std::string&) {
    std::string line = json_dump(msg);
    line.push_back('\n');
    std::lock_guard<std::mutex> lk(out_mu);
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
  };
  auto session = std::make_shared<mcp::Session>(server, "stdio", "", sink);
  // Dual era on one process: a line carrying the modern per-request _meta (or server/discover) is served
  // statelessly, even without initialize; everything else goes to the 2025-era session.
  mcp::Stateless modern(server, /*cancel_by_notification=*/true);

  // getline() grows its buffer to the longest line; lines are bounded only by memory, as MCP allows.
  char* buf = nullptr;
  size_t cap = 0;
  ssize_t n;
  while ((n = ::getline(&buf, &cap, stdin)) >= 0) {
    std::string_view line(buf, static_cast<size_t>(n));
    line = trim(line);
    if (line.empty()) continue;
    Result<json> msg = mcp::parse_message(line);
    if (!msg) {
      sink(mcp::parse_failure_response(msg.error()), "");
      continue;
    }
    if (mcp::is_modern(*msg)) {
      modern.serve(*msg, "stdio", "", sink);
      continue;
    }
    // notifications/cancelled carries no _meta: it may name a request of either era.
    if (msg->is_object() && msg->value("method", json()) == "notifications/cancelled" && !msg->contains("id"))
      modern.serve(*msg, "stdio", "", sink);
    session->handle(*msg);
  }
  std::free(buf);
  // Nothing more can come from the client: a tool waiting for its answer (elicitation) stops waiting now.
  session->client_gone();
  // stdin closed: the client is going away. Let in-flight calls finish and answer (a payment already sent must
  // be recorded), bounded; then cancel whatever has not reached its point of no return.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  bool idle = session->wait_idle(std::chrono::seconds(20));
  idle = modern.wait_idle(std::chrono::duration_cast<std::chrono::milliseconds>(
             std::max(deadline - std::chrono::steady_clock::now(), std::chrono::steady_clock::duration::zero()))) && idle;
  if (!idle) {
    session->cancel_all();
    modern.cancel_all();
    if (!session->wait_idle(std::chrono::seconds(5)) || !modern.wait_idle(std::chrono::seconds(5)))
      log(LogLevel::warning, "stdio", "exiting with calls still in flight");
  }
  return 0;
}

}  // namespace sw::transport
