// The MCP HTTP transport (Streamable HTTP + legacy HTTP+SSE) on the bounded HTTP/1.1 front (front.h).
// The front's loop thread runs precheck() on every complete header block (routing, Host, Origin, bearer token)
// before any body byte is read; handlers run on its workers. Answers that wait for a tool (a JSON-mode POST) or
// stream (SSE) are completed through a Stream bound to the connection, so no thread waits on a client.
// This file: the entry points, routing, and the Host/Origin/bearer checks; sessions and their streams are in
// http_session.cpp, side routes in http_side.cpp, the shared state in http_internal.h.
#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "crypto/crypto.h"
#include "fetch/fetch.h"
#include "metrics/metrics.h"
#include "transport/front.h"
#include "transport/http_internal.h"
#include "transport/transport.h"

namespace sw::transport::detail {

namespace {

// host[:port] → host (handles [v6]:port).
std::string host_only(const std::string& hostport) {
  if (!hostport.empty() && hostport[0] == '[') {
    auto e = hostport.find(']');
    return e == std::string::npos ? hostport : hostport.substr(0, e + 1);
  }
  auto c = hostport.rfind(':');
  return c == std::string::npos ? hostport : hostport.substr(0, c);
}

// A host (as it appears in Host or Origin, IPv6 in brackets) that names this machine's loopback: exactly
// "localhost" (any case), an IPv4 literal in 127.0.0.0/8, or [::1] (and [::ffff:127.x.y.z]). Decided by parsing:
// "127.0.0.1.nip.io" and "localhost.evil.com" are DNS names that can point anywhere. inet_pton accepts only the
// strict literal forms (no "127.1", no hex or octal parts).
bool loopback_name(const std::string& h) {
  if (ascii_iequals(h, "localhost")) return true;
  unsigned char a[16];
  if (::inet_pton(AF_INET, h.c_str(), a) == 1) return a[0] == 127;
  if (h.size() < 2 || h.front() != '[' || h.back() != ']') return false;
  if (::inet_pton(AF_INET6, h.substr(1, h.size() - 2).c_str(), a) != 1) return false;
  static const unsigned char kLoop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(a, kLoop, 16) == 0 || (std::memcmp(a, kMapped, 12) == 0 && a[12] == 127);
}

// RFC 3986 host [ ":" port ] as a Host header value must be (RFC 9112 §3.2): an IP-literal in brackets (hex, ':'
// and '.' inside), or a reg-name / IPv4 of unreserved, pct-encoded and sub-delims characters; a port of digits.
// Empty is allowed (a request target without authority). Anything else is a 400.
bool valid_host_value(std::string_view v) {
  size_t i = 0;
  if (!v.empty() && v[0] == '[') {
    auto close = v.find(']');
    if (close == std::string_view::npos || close < 3) return false;
    for (size_t k = 1; k < close; ++k) {
      char c = v[k];
      if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.')) return false;
    }
    i = close + 1;
  } else {
    while (i < v.size() && v[i] != ':') {
      unsigned char c = static_cast<unsigned char>(v[i]);
      bool unreserved = std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
      bool sub_delim = std::strchr("!$&'()*+,;=", c) != nullptr && c != 0;
      if (!unreserved && !sub_delim && c != '%') return false;
      ++i;
    }
  }
  if (i == v.size()) return true;
  if (v[i] != ':') return false;
  for (size_t k = i + 1; k < v.size(); ++k)
    if (!is_digit(v[k])) return false;
  return v.size() - (i + 1) <= 5;
}

// An Origin header (RFC 6454 §7): "null", or scheme "://" host [ ":" port ] and nothing else — no userinfo, no
// path, query or fragment. Returns the host (IPv6 in brackets, lowercased) for http/https origins; nullopt for
// "null", other schemes and anything malformed, all of which count as foreign.
std::optional<std::string> origin_host(std::string_view origin) {
  std::string l = ascii_lower(origin);
  std::string_view rest;
  for (std::string_view scheme : {std::string_view("http://"), std::string_view("https://")})
    if (l.size() > scheme.size() && l.compare(0, scheme.size(), scheme) == 0)
      rest = std::string_view(l).substr(scheme.size());
  if (rest.empty()) return std::nullopt;
  // host: [v6] or a reg-name / IPv4 of unreserved characters; then an optional port of 1..5 digits ≤ 65535.
  size_t i = 0;
  std::string host;
  if (rest[0] == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = std::string(rest.substr(0, close + 1));
    unsigned char a[16];
    if (::inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), a) != 1) return std::nullopt;
    i = close + 1;
  } else {
    while (i < rest.size() && rest[i] != ':') {
      unsigned char c = static_cast<unsigned char>(rest[i]);
      if (!(std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')) return std::nullopt;  // '@', '/', …
      ++i;
    }
    host = std::string(rest.substr(0, i));
    if (host.empty()) return std::nullopt;
  }
  if (i < rest.size()) {
    if (rest[i] != ':') return std::nullopt;
    std::string_view port = rest.substr(i + 1);
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), is_digit)) return std::nullopt;
    if (std::stoul(std::string(port)) > 65535) return std::nullopt;
  }
  return host;
}

}  // namespace

json rpc_error_body(int code, const std::string& message) {
  return mcp::make_error_response(nullptr, code, message);
}

Impl::Impl(mcp::Server& s, const config::Config& c, const HttpLimits& l, const HttpServe& sv)
    : server(s), cfg(c), limits(l), serve(sv), modern(std::make_unique<mcp::Stateless>(s)) {
  for (const auto& t : cfg.tokens) token_hashes.push_back(crypto::sha256(t.token));
  if (!cfg.metrics_token.empty()) metrics_token_hash = crypto::sha256(cfg.metrics_token);
}

// The token of an `Authorization: Bearer …` header ("" when there is none).
std::string Impl::presented_bearer(const HReq& req) {
  std::string auth = req.get_header_value("Authorization");
  if (auth.size() > 7 && ascii_lower(auth.substr(0, 7)) == "bearer ") return std::string(trim(auth.substr(7)));
  return "";
}

// ------------------------------------------------------------------ security
// Returns the token label ("http-anonymous" when no tokens are configured), or sets an error response.
std::optional<std::string> Impl::authorize(const HReq& req, HRes& res) {
  // DNS-rebinding guard: on loopback, the Host must be a loopback name or explicitly allowed.
  if (cfg.loopback_bind() || !cfg.allowed_hosts.empty()) {
    std::string host = host_only(req.get_header_value("Host"));
    bool okh = (cfg.loopback_bind() && loopback_name(host)) ||
               std::find(cfg.allowed_hosts.begin(), cfg.allowed_hosts.end(), host) != cfg.allowed_hosts.end();
    if (!okh) {
      reply_status(res, 403, "Forbidden: Host header not allowed");
      return std::nullopt;
    }
  }
  if (req.has_header("Origin")) {
    // One Origin, exactly allow-listed or a well-formed loopback origin (see origin_host); anything else is
    // foreign, "null" and malformed values included.
    std::string origin = req.get_header_value("Origin");
    bool oko = req.get_header_value_count("Origin") == 1 &&
               std::find(cfg.allowed_origins.begin(), cfg.allowed_origins.end(), origin) != cfg.allowed_origins.end();
    if (!oko && req.get_header_value_count("Origin") == 1) {
      auto host = origin_host(origin);
      oko = host && loopback_name(*host);
    }
    if (!oko) {
      reply_status(res, 403, "Forbidden: Origin not allowed");
      return std::nullopt;
    }
  }
  if (token_hashes.empty()) return std::string("http-anonymous");
  const std::string presented = presented_bearer(req);
  if (!presented.empty()) {
    auto h = crypto::sha256(presented);
    int match = -1;
    for (size_t i = 0; i < token_hashes.size(); ++i)
      if (crypto::ct_equal(h.data(), token_hashes[i].data(), 32)) match = static_cast<int>(i);
    if (match >= 0) return cfg.tokens[static_cast<size_t>(match)].label;
  }
  res.status = 401;
  res.set_header("WWW-Authenticate", presented.empty() ? "Bearer realm=\"satwarden\""
                                                       : "Bearer realm=\"satwarden\", error=\"invalid_token\"");
  res.set_content(json_dump(rpc_error_body(mcp::kInvalidRequest, "Unauthorized: a valid bearer token is required")),
                  "application/json");
  return std::nullopt;
}

std::string Impl::envelope_for(const std::string& label) const {
  for (const auto& t : cfg.tokens)
    if (t.label == label) return t.envelope;
  return "";
}

void Impl::reply_status(HRes& res, int status, const std::string& message, int code) {
  res.status = status;
  res.set_content(json_dump(rpc_error_body(code, message)), "application/json");
}

// On the front's loop thread, from the header block alone (no body byte has been read yet): Host rules (400),
// routing (404/405), Host/Origin/token (403/401), /healthz. nullopt = read the body and run the handler.
std::optional<HRes> Impl::precheck(HReq& req) {
  HRes res;
  // RFC 9112 §3.2: a request with more than one Host line, an invalid Host value, or (HTTP/1.1) none at all is a
  // 400 — before any route, /healthz included, and before the Host allow-list looks at it.
  size_t hosts = req.get_header_value_count("Host");
  if (hosts > 1 || (hosts == 0 && req.version == "HTTP/1.1") ||
      (hosts == 1 && !valid_host_value(req.get_header_value("Host")))) {
    reply_status(res, 400, hosts > 1 ? "Bad Request: more than one Host header" : "Bad Request: invalid Host header");
    return res;
  }
  const std::string& p = req.path;
  const std::string& m = req.method;
  if (const SideRoutes* side = side_route(p)) return side_precheck(*side, req);
  const char* allow = nullptr;
  if (!serve.mcp && p != "/healthz") {
    reply_status(res, 404, "Not Found (this listener serves the owner's approval links only; MCP is on stdio)");
    return res;
  }
  if (p == "/mcp") {
    if (m != "POST" && m != "GET" && m != "DELETE") allow = "GET, POST, DELETE";
  } else if (p == "/sse" || p == "/healthz" || (p == "/readyz" && serve.ready) || (p == "/metrics" && serve.metrics)) {
    if (m != "GET") allow = "GET";
  } else if (p == "/messages") {
    if (m != "POST") allow = "POST";
  } else {
    reply_status(res, 404, "Not Found");
    return res;
  }
  if (allow) {
    res.set_header("Allow", allow);
    reply_status(res, 405, "Method Not Allowed");
    return res;
  }
  if (p == "/healthz") {
    res.set_content("{\"status\":\"ok\"}", "application/json");
    return res;
  }
  if (p == "/readyz") {  // answered on a worker (it reads the ledger)
    req.label = "probe";
    return std::nullopt;
  }
  if (p == "/metrics") return metrics_precheck(req, res);
  auto label = authorize(req, res);
  if (!label) return res;
  req.label = *label;
  return std::nullopt;
}

// /metrics is the operator's: the metrics token when one is configured (compared in constant time), else only a
// listener without bearer tokens (the owner's loopback; Host/Origin checked as for /mcp).
std::optional<HRes> Impl::metrics_precheck(HReq& req, HRes& res) {
  if (!cfg.metrics_token.empty()) {
    const std::string presented = presented_bearer(req);
    const auto got = crypto::sha256(presented);
    bool agent = false;  // a valid agent token: known, but not allowed here (403, not 401)
    for (const auto& h : token_hashes) agent = agent || (!presented.empty() && crypto::ct_equal(h.data(), got.data(), 32));
    if (agent) {
      res.status = 403;
      res.set_content("/metrics is the operator's: an agent's token cannot read it; use the metrics token\n",
                      "text/plain");
      return res;
    }
    if (presented.empty() || !crypto::ct_equal(metrics_token_hash.data(), got.data(), 32)) {
      res.status = 401;
      res.set_header("WWW-Authenticate", "Bearer realm=\"satwarden-metrics\"");
      res.set_content("metrics need the metrics token (Authorization: Bearer <metrics_token>)\n", "text/plain");
      return res;
    }
    req.label = "metrics";
    return std::nullopt;
  }
  if (!token_hashes.empty()) {
    res.status = 403;
    res.set_content("/metrics is the operator's: set metrics_token (SATWARDEN_METRICS_TOKEN) and scrape with it\n",
                    "text/plain");
    return res;
  }
  auto label = authorize(req, res);
  if (!label) return res;
  req.label = "metrics";
  return std::nullopt;
}

HRes Impl::readyz() {
  HRes res;
  Readiness r;
  try {
    r = serve.ready();
  } catch (...) {
    r.ready = false;
    r.checks = json{{"probe", "failed"}};
  }
  res.status = r.ready ? 200 : 503;
  res.set_header("Cache-Control", "no-store");
  res.set_content(json_dump(json{{"ready", r.ready}, {"checks", r.checks}}), "application/json");
  return res;
}

HRes Impl::metrics_page() {
  HRes res;
  std::string text;
  try {
    text = serve.metrics();
  } catch (...) {
    res.status = 500;
    res.set_content("metrics unavailable\n", "text/plain");
    return res;
  }
  // The listener's own part: sessions per token.
  std::map<std::string, size_t> per_token;
  {
    std::lock_guard<std::mutex> lk(mu);
    for (const auto& [id, hs] : sessions) ++per_token[hs->token_label];
  }
  metrics::Text t;
  t.family("satwarden_http_sessions", "gauge", "Open MCP HTTP sessions (Streamable HTTP and legacy SSE) per token");
  for (const auto& [label, n] : per_token) t.sample("satwarden_http_sessions", {{"token", label}}, double(n));
  text += t.take();
  res.set_header("Cache-Control", "no-store");
  res.set_content(std::move(text), "text/plain; version=0.0.4; charset=utf-8");
  return res;
}

// On a worker: the route's handler. nullopt when a Stream took the exchange over.
std::optional<HRes> Impl::handle(HReq& req, ConnId conn) {
  HRes res;
  if (stopping) {
    res.status = 503;
    res.set_content(json_dump(rpc_error_body(mcp::kInternalError, "Server is stopping")), "application/json");
    return res;
  }
  const std::string& p = req.path;
  if (draining && p != "/metrics") {
    res.status = 503;
    res.set_header("Retry-After", "5");
    if (p == "/readyz") res.set_content("{\"ready\":false,\"checks\":{\"server\":\"shutting down\"}}", "application/json");
    else res.set_content(json_dump(rpc_error_body(mcp::kInternalError, "Server is shutting down; try another instance")),
                         "application/json");
    return res;
  }
  if (const SideRoutes* side = side_route(p)) return side_handle(*side, req, conn);
  if (p == "/readyz" && serve.ready) return readyz();
  if (p == "/metrics" && serve.metrics) return metrics_page();
  if (p == "/mcp") {
    if (req.method == "POST") return handle_post(req, res, conn);
    if (modern_get_or_delete(req)) {
      res.set_header("Allow", "POST");
      reply_status(res, 405, "Method Not Allowed: the 2026-07-28 transport is POST only");
      return res;
    }
    if (req.method == "GET") return handle_get(req, res, conn);
    return handle_delete(req, res);
  }
  if (p == "/sse") return handle_legacy_sse(req, res, conn);
  return handle_legacy_post(req, res);
}

Status Impl::start() {
  front = std::make_unique<Front>(
      limits, cfg.max_body_bytes, std::max<size_t>(1, cfg.http_threads),
      [this](HReq& req) { return precheck(req); },
      [this](HReq& req, ConnId conn) { return handle(req, conn); });
  if (auto st = front->start(cfg.host, cfg.port); !st) return st;
  {
    std::lock_guard<std::mutex> lk(side_sink->mu);
    side_sink->front = front.get();
  }
  bound_port = front->port();
  reaper = std::thread([this] { reap_loop(); });
  return ok_status();
}

void Impl::drain() {
  if (draining.exchange(true)) return;
  std::vector<std::shared_ptr<HttpSession>> all;
  {
    std::lock_guard<std::mutex> lk(mu);
    for (auto& [id, hs] : sessions) all.push_back(hs);
  }
  // Cancel flags only: a call past its point of no return runs on and answers on its still-open exchange.
  for (auto& hs : all) hs->mcp->drain();
  modern->drain();
}

void Impl::stop() {
  draining = true;
  if (stopping.exchange(true)) return;
  {
    std::lock_guard<std::mutex> lk(mu);
    reaper_cv.notify_all();
  }
  std::vector<std::shared_ptr<HttpSession>> all;
  {
    std::lock_guard<std::mutex> lk(mu);
    for (auto& [id, hs] : sessions) all.push_back(hs);
  }
  for (auto& hs : all) end_session(hs);
  modern->cancel_all();
  {
    std::lock_guard<std::mutex> lk(side_sink->mu);
    side_sink->front = nullptr;
  }
  if (front) front->stop();
  if (reaper.joinable()) reaper.join();
}

}  // namespace sw::transport::detail

namespace sw::transport {

namespace {
// Every entry point the executable calls is caught here: the module and the executable may carry different
// copies of the C++ runtime (SW_STATIC_DEPS), so nothing but values crosses between them.
class HttpServerImpl final : public HttpServer {
 public:
  HttpServerImpl(mcp::Server& server, const config::Config& config, const HttpLimits& limits,
                 const HttpServe& serve)
      : impl_(std::make_unique<detail::Impl>(server, config, limits, serve)) {}
  ~HttpServerImpl() override { stop(); }
  Status start() override {
    try {
      return impl_->start();
    } catch (const std::exception& e) {
      return make_error("HTTP_START_FAILED", std::string("the HTTP transport could not start: ") + e.what());
    } catch (...) {
      return make_error("HTTP_START_FAILED", "the HTTP transport could not start");
    }
  }
  int port() const override { return impl_->bound_port; }
  void drain() override {
    try {
      impl_->drain();
    } catch (...) {
    }
  }
  void stop() override {
    try {
      impl_->stop();
    } catch (...) {  // stopping is best effort: threads that cannot be joined end with the process
    }
  }
  size_t session_count() const override {
    std::lock_guard<std::mutex> lk(impl_->mu);
    return impl_->sessions.size();
  }

 private:
  std::unique_ptr<detail::Impl> impl_;
};
}  // namespace

}  // namespace sw::transport

// The fetcher's entry point (see load_fetch).
namespace {
sw::Result<sw::fetch::Response> module_fetch(const sw::fetch::Request& rq, const sw::fetch::Options& o,
                                             std::function<bool()> cancelled) {
  try {
    return sw::fetch::Fetcher{}.fetch(rq, o, std::move(cancelled));
  } catch (const std::exception& e) {
    return sw::make_error("FETCH_FAILED", std::string("the request could not be made: ") + e.what());
  } catch (...) {
    return sw::make_error("FETCH_FAILED", "the request could not be made");
  }
}
}  // namespace

// The module's entry points (see make_http_server): what to serve, or MCP only; and the fetcher. The module is
// built with hidden visibility (src/transport/CMakeLists.txt), so these three are all it exports.
#define SW_MODULE_ENTRY extern "C" __attribute__((visibility("default")))
SW_MODULE_ENTRY sw::transport::FetchFn sw_fetch_entry() { return &module_fetch; }

SW_MODULE_ENTRY sw::transport::HttpServer* sw_http_server_serve(sw::mcp::Server* server, const sw::config::Config* config,
                                                           const sw::transport::HttpLimits* limits,
                                                           const sw::transport::HttpServe* serve) {
  try {
    return new sw::transport::HttpServerImpl(*server, *config, limits ? *limits : sw::transport::HttpLimits{},
                                             serve ? *serve : sw::transport::HttpServe{});
  } catch (...) {
    return nullptr;  // the loader reports it
  }
}
SW_MODULE_ENTRY sw::transport::HttpServer* sw_http_server_create(sw::mcp::Server* server,
                                                                 const sw::config::Config* config,
                                                                 const sw::transport::HttpLimits* limits) {
  return sw_http_server_serve(server, config, limits, nullptr);
}
