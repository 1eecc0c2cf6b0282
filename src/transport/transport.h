// sw::transport — moves MCP messages between clients and an mcp::Server.
// stdio: newline-delimited JSON-RPC on stdin/stdout (stdout carries protocol messages only).
// HTTP: Streamable HTTP at /mcp (POST → JSON or SSE, GET stream, DELETE, Mcp-Session-Id, MCP-Protocol-Version
// checked, 202 for notifications, 404 for unknown sessions) and the legacy HTTP+SSE transport (GET /sse →
// `endpoint` event, POST /messages?sessionId=…), plus GET /healthz and side routes (SideRoutes below: the owner's
// approval links, which carry their own authority). HttpServe::mcp = false serves only the latter two (a stdio
// server's "approvals only" listener).
// Dual era on /mcp and on stdio: a message carrying the 2026-07-28 per-request _meta (mcp::is_modern), or on HTTP
// one that arrives without Mcp-Session-Id naming a modern MCP-Protocol-Version, is served statelessly by
// mcp::Stateless — over HTTP POST only (GET/DELETE from a modern client → 405 Allow: POST), with the headers
// MCP-Protocol-Version, Mcp-Method and Mcp-Name checked against the body (400 -32020; -32602 / -32022 / 404 -32601
// as mcp::Stateless::check says), answered as JSON, or as SSE (X-Accel-Buffering: no, as on every SSE answer) when
// a tools/call may send progress or log notifications; closing that answer cancels the call. No session is made.
// `initialize` and everything else get the 2025 behaviour below, unchanged.
// Server→client requests (elicitation/create from a tool) go on the POST stream of the tools/call they belong to:
// a JSON-mode answer turns into SSE for it when the client's Accept allows; otherwise on the GET stream (legacy:
// the /sse stream). The client's response is a POST of its own (202), matched to the waiting tool by its id.
// The HTTP/1.1 front is our own (front*.cpp, front.h): ONE event-loop thread (epoll) owns every connection, reads and
// parses with every resource bounded (HttpLimits) BEFORE anything is authenticated, and hands only complete, checked
// requests to a worker pool (config http_threads); responses and SSE streams are written back by the loop. A slow or
// idle connection costs a file descriptor and a few KB, never a thread, and is evicted by deadline or, at the
// connection caps, oldest first.
// Security on every request: exactly one well-formed Host (RFC 9112: two, a malformed one, or none on HTTP/1.1 →
// 400); Host and Origin checked against loopback + allow-lists (403) — loopback means "localhost", 127.0.0.0/8 or
// [::1], parsed, and an Origin must be exactly scheme://host[:port] (userinfo, paths, "null" unless allow-listed,
// and anything malformed are foreign); bearer tokens (constant-time, 401 + WWW-Authenticate) whenever tokens are
// configured — always when bound beyond loopback; all of it decided from the header block, before a body byte is
// read. Bodies: Content-Length only (Transfer-Encoding → 411, any method), above max_body_bytes → 413 before
// reading; JSON nesting bounded (mcp::parse_message, 400); session cap (503); idle sessions expire.
// Over stdio, each line goes through mcp::Session::handle_text, with the same nesting bound.
// Thread-safety: HttpServer methods are thread-safe; stop() may be called from any thread (e.g. a signal watcher).
// Errors: start() returns Error{code: "HTTP_BIND_FAILED"}; per-request failures become HTTP statuses.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "fetch/fetch.h"
#include "mcp/mcp.h"

namespace sw::transport {

// Serves one stdio session until stdin closes; then cancels what has not started paying and waits (bounded)
// for in-flight calls. Returns the process exit code.
int run_stdio(mcp::Server& server);

// What one client can make the HTTP front hold. Every limit applies before authentication. Answers: request line
// too long → 414; a header line, too many headers or too large a header block → 431; header block not complete
// within header_timeout → 408; body not complete within body_timeout → 408; Transfer-Encoding → 411; body over
// config max_body_bytes → 413; all bodies in flight over max_buffered_body_bytes → 503. Each of these closes the
// connection (after reading and discarding what the client still sends, for at most linger_timeout / 1 MiB, so it
// sees the answer).
struct HttpLimits {
  size_t max_request_line = 8192;
  size_t max_header_line = 8192;
  size_t max_headers = 100;
  size_t max_header_bytes = 32768;                     // request line + all header lines
  std::chrono::milliseconds header_timeout{10000};     // whole header block, from its first byte
  std::chrono::milliseconds idle_timeout{5000};        // open connection with no request started (new or kept alive)
  std::chrono::milliseconds body_timeout{30000};       // whole body, from the end of the header block
  std::chrono::milliseconds write_timeout{30000};      // a response not making progress (client not reading)
  std::chrono::milliseconds linger_timeout{1000};      // draining after an error answer
  size_t max_connections = 1024;                       // open connections; also kept 128 under RLIMIT_NOFILE
  size_t max_connections_per_client = 512;             // per client IP address
  size_t max_buffered_body_bytes = size_t(64) << 20;   // request bodies being received, all connections together
  size_t max_stream_backlog = size_t(1) << 20;         // unsent SSE bytes per connection; notifications beyond are dropped
  int listen_backlog = 4096;                           // accept queue (the kernel caps it at net.core.somaxconn)
};

// Routes served beside MCP whose requests carry their own authority — the owner's approval links (a single-use
// token) and signed decisions (an HMAC signature): no bearer token, and no Host/Origin allow-list (the links are
// opened from the owner's phone, often through a reverse proxy at public_url; a token or signature, not the
// caller's address, is what authorizes them). Still bounded like the rest of the front, and more: a body above
// max_body_bytes → 413 before reading it; more than per_client_per_minute requests from one address, or
// per_minute from all, in the current minute → 429 (Retry-After), before anything is read or looked up.
struct SideRequest {
  std::string method, path, query, body, peer;
  std::vector<std::pair<std::string, std::string>> headers;  // names as sent
  std::string header(std::string_view name) const;           // first value (case-insensitive name), "" if absent
};
// An open response stream (Server-Sent Events) a side route keeps after answering with SideResponse::stream.
// Thread-safe; write/end after the client left or the listener stopped do nothing (write returns false).
class SideStream {
 public:
  virtual ~SideStream() = default;
  // Queues `data` (bytes of the stream, e.g. "event: x\ndata: {...}\n\n"); dropped when the client is not
  // reading and its backlog is full (HttpLimits::max_stream_backlog). False once the stream is gone.
  virtual bool write(std::string data) = 0;
  virtual void end() = 0;
  virtual bool open() const = 0;
};
struct SideResponse {
  int status = 200;
  std::string content_type, body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Set: the answer is a stream — status, content_type and headers are sent at once (body ignored), and `stream`
  // is called with it (on the worker thread; it must not block): the route writes to it until it ends it or the
  // client leaves.
  std::function<void(std::shared_ptr<SideStream>)> stream;
};
struct SideRoutes {
  std::string prefix;  // e.g. "/approvals/": every path starting with it goes to `handle` (on a worker thread)
  std::function<SideResponse(const SideRequest&)> handle;
  // Optional, on the listener's loop thread from the header block alone (SideRequest::body empty), before the
  // body is read: an answer to send now (a refusal), or nullopt to read the body and call `handle`. Must not block.
  std::function<std::optional<SideResponse>(const SideRequest&)> precheck;
  size_t max_body_bytes = 16 * 1024;
  size_t per_client_per_minute = 60;
  size_t per_minute = 600;
};
// What the HTTP listener serves. mcp = false is the "approvals only" listener of a stdio server: /healthz and the
// side routes; /mcp, /sse and /messages are 404 (MCP itself stays on stdio).
// Operations endpoints, provided by the executable (each optional). GET /readyz: 200 {"ready":true,"checks":{…}}
// or 503 with the checks that failed — no token (load balancers and orchestrators probe it), run on a worker.
// GET /metrics: the Prometheus text exposition (`metrics()` plus the listener's own sessions per token), for the
// operator only: `Authorization: Bearer <metrics_token>` when config metrics_token is set; without it, only a
// listener with no bearer tokens (the owner's loopback) serves it to anyone allowed there; an agent's token → 403.
struct Readiness {
  bool ready = false;
  json checks = json::object();  // name → "ok" or what is wrong
};
struct HttpServe {
  bool mcp = true;
  std::vector<SideRoutes> side;
  std::function<Readiness()> ready;
  std::function<std::string()> metrics;
};

class HttpServer {
 public:
  virtual ~HttpServer() = default;
  // Binds host:port (port 0 = any free port) and starts serving on background threads.
  virtual Status start() = 0;
  virtual int port() const = 0;
  virtual void stop() = 0;
  // The first step of a graceful shutdown: new requests are answered 503 (Connection: close; /healthz still 200,
  // /readyz 503), calls that have not reached their point of no return are cancelled (nothing new is paid), and
  // calls already paying keep their exchange open to answer. stop() ends the rest.
  virtual void drain() = 0;
  virtual size_t session_count() const = 0;
};

// Creates the HTTP transport. In the satwarden binary it lives in a module (libsatwarden_http.so, next to the
// binary) that is loaded only when HTTP is asked for, so a stdio server never maps it and libssl's
// initialisation. Binaries that link sw_transport_http statically use that copy instead.
// Error: HTTP_MODULE_MISSING naming the paths tried.
// At the connection caps, a new connection evicts the oldest connection of that client (per-client cap) or of
// anyone (total cap) that is idle or still sending its request; when none is, the new one is answered 503.
Result<std::unique_ptr<HttpServer>> make_http_server(mcp::Server& server, const config::Config& config,
                                                     const HttpLimits& limits = {}, const HttpServe& serve = {});

// The outbound fetcher (sw::fetch::Fetcher::fetch), also living in the HTTP module for the same reason; loaded on
// first use and cached. Error HTTP_MODULE_MISSING.
using FetchFn = Result<fetch::Response> (*)(const fetch::Request&, const fetch::Options&, std::function<bool()>);
Result<FetchFn> load_fetch();

}  // namespace sw::transport
