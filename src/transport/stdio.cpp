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

  // getline() grows its buffer to the longest line; lines are bounded only by memory, as MCP allows.
  char* buf = nullptr;
  size_t cap = 0;
  ssize_t n;
  while ((n = ::getline(&buf, &cap, stdin)) >= 0) {
    std::string_view line(buf, static_cast<size_t>(n));
    line = trim(line);
    if (line.empty()) continue;
    session->handle_text(line);
  }
  std::free(buf);
  // Nothing more can come from the client: a tool waiting for its answer (elicitation) stops waiting now.
  session->client_gone();
  // stdin closed: the client is going away. Let in-flight calls finish and answer (a payment already sent must
  // be recorded), bounded; then cancel whatever has not reached its point of no return.
  if (!session->wait_idle(std::chrono::seconds(20))) {
    session->cancel_all();
    if (!session->wait_idle(std::chrono::seconds(5)))
      log(LogLevel::warning, "stdio", "exiting with calls still in flight");
  }
  return 0;
}

}  // namespace sw::transport
