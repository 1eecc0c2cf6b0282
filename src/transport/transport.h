// sw::transport — moves MCP messages between clients and an mcp::Server.
// stdio: newline-delimited JSON-RPC on stdin/stdout (stdout carries protocol messages only).
// HTTP (cpp-httplib): Streamable HTTP at /mcp (POST → JSON or SSE, GET stream, DELETE, Mcp-Session-Id,
// MCP-Protocol-Version checked, 202 for notifications, 404 for unknown sessions) and the legacy HTTP+SSE transport
// (GET /sse → `endpoint` event, POST /messages?sessionId=…). Security on every request: Host and Origin checked
// against loopback + allow-lists (403), bearer tokens (constant-time, 401 + WWW-Authenticate) whenever tokens are
// configured — always when bound beyond loopback; body cap (413); session cap (503); idle sessions expire.
// Thread-safety: HttpServer methods are thread-safe; stop() may be called from any thread (e.g. a signal watcher).
// Errors: start() returns Error{code: "HTTP_BIND_FAILED"}; per-request failures become HTTP statuses.
#pragma once

#include <memory>
#include <string>

#include "config/config.h"
#include "mcp/mcp.h"

namespace sw::transport {

// Serves one stdio session until stdin closes; then cancels what has not started paying and waits (bounded)
// for in-flight calls. Returns the process exit code.
int run_stdio(mcp::Server& server);

class HttpServer {
 public:
  HttpServer(mcp::Server& server, const config::Config& config);
  ~HttpServer();
  // Binds host:port (port 0 = any free port) and starts serving on background threads.
  Status start();
  int port() const;
  void stop();
  size_t session_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sw::transport
