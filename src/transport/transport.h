// sw::transport — moves MCP messages between clients and an mcp::Server.
// stdio: newline-delimited JSON-RPC on stdin/stdout (stdout carries protocol messages only).
// HTTP (cpp-httplib): Streamable HTTP at /mcp (POST → JSON or SSE, GET stream, DELETE, Mcp-Session-Id,
// MCP-Protocol-Version checked, 202 for notifications, 404 for unknown sessions) and the legacy HTTP+SSE transport
// (GET /sse → `endpoint` event, POST /messages?sessionId=…). Security on every request: exactly one well-formed
// Host (RFC 9112: two, a malformed one, or none on HTTP/1.1 → 400); Host and Origin checked against loopback +
// allow-lists (403) — loopback means "localhost", 127.0.0.0/8 or [::1], parsed, and an Origin must be exactly
// scheme://host[:port] (userinfo, paths, "null" unless allow-listed, and anything malformed are foreign); bearer
// tokens (constant-time, 401 + WWW-Authenticate) whenever tokens are configured — always when bound beyond
// loopback; body cap (413); JSON nesting bounded (mcp::parse_message, 400); session cap (503); idle sessions expire.
// Over stdio, each line goes through mcp::Session::handle_text, with the same nesting bound.
// Thread-safety: HttpServer methods are thread-safe; stop() may be called from any thread (e.g. a signal watcher).
// Errors: start() returns Error{code: "HTTP_BIND_FAILED"}; per-request failures become HTTP statuses.
#pragma once

#include <memory>
#include <string>

#include "config/config.h"
#include "fetch/fetch.h"
#include "mcp/mcp.h"

namespace sw::transport {

// Serves one stdio session until stdin closes; then cancels what has not started paying and waits (bounded)
// for in-flight calls. Returns the process exit code.
int run_stdio(mcp::Server& server);

class HttpServer {
 public:
  virtual ~HttpServer() = default;
  // Binds host:port (port 0 = any free port) and starts serving on background threads.
  virtual Status start() = 0;
  virtual int port() const = 0;
  virtual void stop() = 0;
  virtual size_t session_count() const = 0;
};

// Creates the HTTP transport. In the satwarden binary it lives in a module (libsatwarden_http.so, next to the
// binary) that is loaded only when HTTP is asked for, so a stdio server never maps cpp-httplib and its OpenSSL
// initialisation (~4 MB of RSS). Binaries that link sw_transport_http statically use that copy instead.
// Error: HTTP_MODULE_MISSING naming the paths tried.
Result<std::unique_ptr<HttpServer>> make_http_server(mcp::Server& server, const config::Config& config);

// The outbound fetcher (sw::fetch::Fetcher::fetch), also living in the HTTP module for the same reason; loaded on
// first use and cached. Error HTTP_MODULE_MISSING.
using FetchFn = Result<fetch::Response> (*)(const fetch::Request&, const fetch::Options&, std::function<bool()>);
Result<FetchFn> load_fetch();

}  // namespace sw::transport
