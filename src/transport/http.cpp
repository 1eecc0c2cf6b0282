// The MCP HTTP transport (Streamable HTTP + legacy HTTP+SSE) on the bounded HTTP/1.1 front (front.h).
// The front's loop thread runs precheck() on every complete header block (routing, Host, Origin, bearer token)
// before any body byte is read; handlers run on its workers. Answers that wait for a tool (a JSON-mode POST) or
// stream (SSE) are completed through a Stream bound to the connection, so no thread waits on a client.
#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "crypto/crypto.h"
#include "fetch/fetch.h"
#include "metrics/metrics.h"
#include "transport/front.h"
#include "transport/transport.h"

namespace sw::transport {

namespace {

using Clk = std::chrono::steady_clock;
using http1::ConnId;
using http1::Front;
using HReq = http1::Request;
using HRes = http1::Response;

std::string sse_event(const std::string& event, const std::string& data) {
  std::string out = "event: " + event + "\n";
  out += "data: " + data + "\n\n";  // our JSON is compact: no newlines inside
  return out;
}

// One answer towards the client, bound to the connection that asked: a POST answered as JSON (its response
// completes the HTTP response), a POST answered as SSE (ends after its response), or a GET /mcp or legacy /sse
// stream (until the session ends or the client leaves). Pushes after the end are dropped.
// A JSON-mode POST whose client also accepts SSE becomes SSE when the server sends a request related to it (a
// tool asking the client something mid-call, e.g. elicitation/create): the request and then the response ride
// on that stream, as MCP requires for requests related to a POST.
struct Stream {
  enum class Kind { post_json, post_sse, get };
  Stream(Front& f, ConnId c, Kind k, bool sse_ok = false) : front(f), conn(c), kind(k), can_upgrade(sse_ok) {}
  Front& front;
  const ConnId conn;
  Kind kind;              // guarded by mu (post_json may become post_sse)
  const bool can_upgrade;  // post_json only: the client's Accept includes text/event-stream
  std::mutex mu;
  HRes pending;       // post_json: status and headers of the answer-to-be
  bool ended = false;
  // Sends `text` on this stream. False when this stream cannot carry it (a notification, or a request the client
  // cannot receive here, on a JSON-mode POST; anything but a response after the end): the caller sends it on the
  // session's GET stream instead.
  bool push(const std::string& text, bool is_response, bool is_request) {
    std::lock_guard<std::mutex> lk(mu);
    if (ended) return is_response;  // a response to an ended exchange is dropped
    if (kind == Kind::post_json) {
      if (is_response) {
        HRes r = pending;
        r.set_content(text, "application/json");
        front.respond(conn, std::move(r));
        ended = true;
        return true;
      }
      if (!is_request || !can_upgrade) return false;
      HRes head;
      head.content_type = "text/event-stream";
      head.headers = pending.headers;
      head.set_header("Cache-Control", "no-cache");
      head.set_header("X-Accel-Buffering", "no");
      front.stream_begin(conn, std::move(head));
      kind = Kind::post_sse;
    }
    // Notifications may be dropped when the client does not read; a response or a request never is.
    front.stream_write(conn, sse_event("message", text), /*droppable=*/!is_response && !is_request);
    if (kind == Kind::post_sse && is_response) {
      front.stream_end(conn);
      ended = true;
    }
    return true;
  }
  // Session ended, request cancelled, or server stopping. A JSON-mode POST still waiting gets 202 (no response
  // will come: MCP cancellation); a stream finishes.
  void close() {
    std::lock_guard<std::mutex> lk(mu);
    if (ended) return;
    ended = true;
    if (kind == Kind::post_json) {
      HRes r = pending;
      r.status = 202;
      r.body.clear();
      r.content_type.clear();
      front.respond(conn, std::move(r));
    } else {
      front.stream_end(conn);
    }
  }
};

struct HttpSession {
  std::string id;
  std::string token_label;  // the bearer token that created it; later requests must use the same one
  bool legacy = false;
  std::shared_ptr<mcp::Session> mcp;
  std::mutex mu;
  std::map<std::string, std::shared_ptr<Stream>> request_streams;  // request id (dumped) → its POST stream
  std::shared_ptr<Stream> get_stream;                               // GET /mcp or legacy /sse stream
  Clk::time_point last_active = Clk::now();
  int open_requests = 0;
  void touch() {
    std::lock_guard<std::mutex> lk(mu);
    last_active = Clk::now();
  }
};

bool is_response_msg(const json& m) { return m.contains("id") && (m.contains("result") || m.contains("error")); }

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

bool is_digit(char c) { return c >= '0' && c <= '9'; }

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

json rpc_error_body(int code, const std::string& message) {
  return mcp::make_error_response(nullptr, code, message);
}


}  // namespace

struct Impl {
  mcp::Server& server;
  const config::Config& cfg;
  HttpLimits limits;
  HttpServe serve;
  // Side routes' rate limit: counts in the current one-minute window (loop thread only).
  Clk::time_point side_window = Clk::now();
  size_t side_total = 0;
  std::map<std::string, size_t> side_per_peer;
  std::unique_ptr<Front> front;
  // The 2026-07-28 era: stateless, one for the listener (destroyed before `front`, which its streams write to).
  std::unique_ptr<mcp::Stateless> modern;
  std::thread reaper;
  int bound_port = 0;
  std::atomic<bool> stopping{false};
  std::atomic<bool> draining{false};  // graceful shutdown begun: new requests 503, running calls finish

  mutable std::mutex mu;
  std::condition_variable reaper_cv;
  std::map<std::string, std::shared_ptr<HttpSession>> sessions;
  std::vector<std::array<uint8_t, 32>> token_hashes;
  std::array<uint8_t, 32> metrics_token_hash{};  // when cfg.metrics_token is set

  Impl(mcp::Server& s, const config::Config& c, const HttpLimits& l, const HttpServe& sv)
      : server(s), cfg(c), limits(l), serve(sv), modern(std::make_unique<mcp::Stateless>(s)) {
    for (const auto& t : cfg.tokens) token_hashes.push_back(crypto::sha256(t.token));
    if (!cfg.metrics_token.empty()) metrics_token_hash = crypto::sha256(cfg.metrics_token);
  }

  // The token of an `Authorization: Bearer …` header ("" when there is none).
  static std::string presented_bearer(const HReq& req) {
    std::string auth = req.get_header_value("Authorization");
    if (auth.size() > 7 && ascii_lower(auth.substr(0, 7)) == "bearer ") return std::string(trim(auth.substr(7)));
    return "";
  }

  // ------------------------------------------------------------------ security
  // Returns the token label ("http-anonymous" when no tokens are configured), or sets an error response.
  std::optional<std::string> authorize(const HReq& req, HRes& res) {
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

  std::string envelope_for(const std::string& label) const {
    for (const auto& t : cfg.tokens)
      if (t.label == label) return t.envelope;
    return "";
  }

  static void reply_status(HRes& res, int status, const std::string& message, int code = mcp::kInvalidRequest) {
    res.status = status;
    res.set_content(json_dump(rpc_error_body(code, message)), "application/json");
  }

  // On the front's loop thread, from the header block alone (no body byte has been read yet): Host rules (400),
  // routing (404/405), Host/Origin/token (403/401), /healthz. nullopt = read the body and run the handler.
  std::optional<HRes> precheck(HReq& req) {
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
  std::optional<HRes> metrics_precheck(HReq& req, HRes& res) {
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

  HRes readyz() {
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

  HRes metrics_page() {
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

  const SideRoutes* side_route(const std::string& path) const {
    for (const auto& s : serve.side)
      if (!s.prefix.empty() && path.compare(0, s.prefix.size(), s.prefix) == 0) return &s;
    return nullptr;
  }

  // A side route's checks, on the loop thread before its body is read: its own body cap and rate limit. Its
  // requests carry their own authority (see transport.h SideRoutes): no Host/Origin allow-list, no bearer token.
  std::optional<HRes> side_precheck(const SideRoutes& side, HReq& req) {
    HRes res;
    const std::string cl = req.get_header_value("Content-Length");
    if (!cl.empty() && (cl.size() > 12 || !std::all_of(cl.begin(), cl.end(), is_digit) ||
                        std::stoull(cl) > side.max_body_bytes)) {
      reply_status(res, 413, "Payload Too Large");
      return res;
    }
    auto now = Clk::now();
    if (now - side_window >= std::chrono::minutes(1)) {
      side_window = now;
      side_total = 0;
      side_per_peer.clear();
    }
    size_t& mine = side_per_peer[req.peer];
    if (side_total >= side.per_minute || mine >= side.per_client_per_minute || side_per_peer.size() > 4096) {
      if (mine == 0) side_per_peer.erase(req.peer);
      auto left = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::minutes(1) - (now - side_window));
      res.set_header("Retry-After", std::to_string(std::max<long long>(1, left.count())));
      reply_status(res, 429, "Too Many Requests");
      return res;
    }
    ++mine;
    ++side_total;
    req.label = "side";
    if (side.precheck) {
      std::optional<SideResponse> early;
      try {
        early = side.precheck(side_request(req));
      } catch (...) {
        early = SideResponse{500, "application/json",
                             "{\"error\":{\"code\":\"INTERNAL\",\"message\":\"the request could not be handled\"}}",
                             {}, {}};
      }
      if (early) {
        res.status = early->status;
        res.headers = std::move(early->headers);
        res.set_content(std::move(early->body), std::move(early->content_type));
        return res;
      }
    }
    return std::nullopt;
  }

  static SideRequest side_request(const HReq& req) {
    SideRequest sr;
    sr.method = req.method;
    sr.path = req.path;
    sr.query = req.query;
    sr.body = req.body;
    sr.peer = req.peer;
    sr.headers = req.headers;
    return sr;
  }

  // A side route's open stream: writes go to the front while the listener runs (stop() clears `front` under mu).
  struct SideSink {
    std::mutex mu;
    Front* front = nullptr;
  };
  std::shared_ptr<SideSink> side_sink = std::make_shared<SideSink>();
  class SideStreamImpl final : public SideStream {
   public:
    SideStreamImpl(std::shared_ptr<SideSink> sink, ConnId conn) : sink_(std::move(sink)), conn_(conn) {}
    bool write(std::string data) override {
      std::lock_guard<std::mutex> lk(sink_->mu);
      if (!sink_->front || !open_) return false;
      sink_->front->stream_write(conn_, std::move(data), /*droppable=*/true);
      return true;
    }
    void end() override {
      std::lock_guard<std::mutex> lk(sink_->mu);
      if (!sink_->front || !open_) return;
      open_ = false;
      sink_->front->stream_end(conn_);
    }
    bool open() const override {
      std::lock_guard<std::mutex> lk(sink_->mu);
      return sink_->front && open_;
    }
    void closed() {
      std::lock_guard<std::mutex> lk(sink_->mu);
      open_ = false;
    }

   private:
    std::shared_ptr<SideSink> sink_;
    ConnId conn_;
    bool open_ = true;  // guarded by sink_->mu
  };

  // nullopt when the route answered with a stream (the exchange stays open).
  std::optional<HRes> side_handle(const SideRoutes& side, const HReq& req, ConnId conn) {
    SideResponse out;
    try {
      out = side.handle(side_request(req));
    } catch (...) {
      out = SideResponse{};
      out.status = 500;
      out.content_type = "application/json";
      out.body = "{\"error\":{\"code\":\"INTERNAL\",\"message\":\"the request could not be handled\"}}";
    }
    HRes res;
    res.status = out.status;
    res.headers = std::move(out.headers);
    if (out.stream) {
      res.content_type = std::move(out.content_type);
      res.set_header("X-Accel-Buffering", "no");
      {
        std::lock_guard<std::mutex> lk(side_sink->mu);
        if (!side_sink->front) return std::nullopt;
        side_sink->front->stream_begin(conn, std::move(res));
      }
      auto st = std::make_shared<SideStreamImpl>(side_sink, conn);
      front->on_done(conn, [st] { st->closed(); });
      try {
        out.stream(st);
      } catch (...) {
        st->end();
      }
      return std::nullopt;
    }
    res.set_content(std::move(out.body), std::move(out.content_type));
    return res;
  }

  // On a worker: the route's handler. nullopt when a Stream took the exchange over.
  std::optional<HRes> handle(HReq& req, ConnId conn) {
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

  // The session a request names in Mcp-Session-Id: 400 without the header, 404 when unknown, legacy, or created by
  // another token (a session belongs to its token). Sets the response and returns null on failure.
  std::shared_ptr<HttpSession> streamable_session(const HReq& req, HRes& res, const std::string& label) {
    std::string sid = req.get_header_value("Mcp-Session-Id");
    if (sid.empty()) {
      reply_status(res, 400, "Bad Request: Mcp-Session-Id header is required");
      return nullptr;
    }
    auto hs = find_session(sid);
    if (!hs || hs->legacy || hs->token_label != label) {
      reply_status(res, 404, "Session not found; initialize again");
      return nullptr;
    }
    return hs;
  }

  // ------------------------------------------------------------------ sessions
  // nullptr when the server is full, or when this bearer token already holds max_sessions_per_token sessions
  // (*token_full = true): one token cannot take every session and lock the others out.
  std::shared_ptr<HttpSession> new_session(const std::string& label, bool legacy, bool* token_full = nullptr) {
    auto hs = std::make_shared<HttpSession>();
    hs->id = hex_encode(crypto::random_bytes(16));
    hs->token_label = label;
    hs->legacy = legacy;
    std::weak_ptr<HttpSession> weak = hs;
    hs->mcp = std::make_shared<mcp::Session>(server, label, envelope_for(label),
                                             [weak](const json& msg, const std::string& related) {
                                               auto s = weak.lock();
                                               if (!s) return;
                                               std::shared_ptr<Stream> st, get;
                                               bool response = is_response_msg(msg);
                                               bool request = !response && msg.contains("id");
                                               {
                                                 std::lock_guard<std::mutex> lk(s->mu);
                                                 if (!related.empty()) {
                                                   auto it = s->request_streams.find(related);
                                                   if (it != s->request_streams.end()) st = it->second;
                                                 }
                                                 get = s->get_stream;
                                               }
                                               std::string text = json_dump(msg);
                                               if (st && st->push(text, response, request)) return;
                                               if (get) get->push(text, response, request);
                                             });
    std::lock_guard<std::mutex> lk(mu);
    if (!cfg.tokens.empty()) {
      size_t mine = 0;
      for (const auto& [id, other] : sessions)
        if (other->token_label == label) ++mine;
      if (mine >= cfg.max_sessions_per_token) {
        if (token_full) *token_full = true;
        return nullptr;
      }
    }
    if (sessions.size() >= cfg.max_sessions) return nullptr;
    sessions[hs->id] = hs;
    return hs;
  }

  std::shared_ptr<HttpSession> find_session(const std::string& id) {
    std::lock_guard<std::mutex> lk(mu);
    auto it = sessions.find(id);
    return it == sessions.end() ? nullptr : it->second;
  }

  void end_session(const std::shared_ptr<HttpSession>& hs) {
    {
      std::lock_guard<std::mutex> lk(mu);
      sessions.erase(hs->id);
    }
    hs->mcp->cancel_all();
    std::vector<std::shared_ptr<Stream>> streams;
    {
      std::lock_guard<std::mutex> lk(hs->mu);
      if (hs->get_stream) streams.push_back(hs->get_stream);
      for (auto& [k, s] : hs->request_streams) streams.push_back(s);
    }
    for (auto& s : streams) s->close();
  }

  void reap_loop() {
    std::unique_lock<std::mutex> lk(mu);
    auto period = std::chrono::seconds(std::clamp(cfg.session_idle_seconds / 4, 1, 30));
    while (!stopping) {
      reaper_cv.wait_for(lk, period);
      if (stopping) break;
      std::vector<std::shared_ptr<HttpSession>> expired;
      auto now = Clk::now();
      for (auto& [id, hs] : sessions) {
        std::lock_guard<std::mutex> slk(hs->mu);
        bool busy = hs->open_requests > 0 || hs->get_stream;
        if (!busy && now - hs->last_active > std::chrono::seconds(cfg.session_idle_seconds)) expired.push_back(hs);
      }
      lk.unlock();
      for (auto& hs : expired) {
        log(LogLevel::info, "http", "session expired after idling");
        end_session(hs);
      }
      lk.lock();
    }
  }

  // ------------------------------------------------------------------ Streamable HTTP
  // A cancelled request never gets a response (MCP cancellation), so the POST waiting for it would otherwise
  // hang until the session ends. Closing its stream ends it now: JSON mode answers 202, an SSE stream finishes.
  // A response pushed before the cancel has already gone to the connection.
  static void end_cancelled_stream(HttpSession& hs, const json& msg) {
    auto p = msg.find("params");
    if (p == msg.end() || !p->is_object()) return;
    auto rid = p->find("requestId");
    if (rid == p->end() || !(rid->is_string() || rid->is_number_integer())) return;
    std::shared_ptr<Stream> st;
    {
      std::lock_guard<std::mutex> lk(hs.mu);
      auto it = hs.request_streams.find(rid->dump());
      if (it != hs.request_streams.end()) st = it->second;
    }
    if (st) st->close();
  }

  std::optional<HRes> handle_post(const HReq& req, HRes& res, ConnId conn) {
    const std::string& label = req.label;
    std::string ctype = ascii_lower(req.get_header_value("Content-Type"));
    if (ctype.rfind("application/json", 0) != 0) {
      reply_status(res, 415, "Content-Type must be application/json");
      return res;
    }
    std::string accept = ascii_lower(req.get_header_value("Accept"));
    bool accepts_sse = accept.find("text/event-stream") != std::string::npos;
    bool accepts_json = accept.empty() || accept.find("application/json") != std::string::npos ||
                        accept.find("*/*") != std::string::npos;
    if (!accepts_sse && !accepts_json) {
      reply_status(res, 406, "Accept must include application/json or text/event-stream");
      return res;
    }
    // Bounded nesting (mcp::parse_message): a body nesting ~90,000 arrays would otherwise overflow the stack when
    // the tree is copied. No session is needed to send one, so this comes before anything else looks at it.
    auto parsed = mcp::parse_message(req.body);
    if (!parsed) {
      res.status = 400;
      res.set_content(json_dump(mcp::parse_failure_response(parsed.error())), "application/json");
      return res;
    }
    const json& msg = *parsed;
    json err;
    auto kind = mcp::classify(msg, &err);
    if (kind == mcp::Kind::invalid) {
      res.status = 400;
      res.set_content(json_dump(err), "application/json");
      return res;
    }
    if (modern_request(req, msg)) return handle_modern_post(req, res, conn, msg, kind, accepts_sse, accepts_json);
    bool is_init = kind == mcp::Kind::request && msg["method"] == "initialize";
    std::shared_ptr<HttpSession> hs;
    if (is_init) {
      bool token_full = false;
      hs = new_session(label, false, &token_full);
      if (!hs && token_full) {
        res.status = 429;
        res.set_header("Retry-After", "5");
        res.set_content(json_dump(rpc_error_body(
                            mcp::kInvalidRequest,
                            "Too many sessions for this token (" + std::to_string(cfg.max_sessions_per_token) +
                                ", max_sessions_per_token): end one (DELETE with its Mcp-Session-Id) or wait until "
                                "an idle one expires")),
                        "application/json");
        return res;
      }
      if (!hs) {
        res.status = 503;
        res.set_header("Retry-After", "5");
        res.set_content(json_dump(rpc_error_body(mcp::kInternalError, "Too many sessions; try again later")),
                        "application/json");
        return res;
      }
      res.set_header("Mcp-Session-Id", hs->id);
    } else {
      hs = streamable_session(req, res, label);
      if (!hs) return res;
      if (req.has_header("MCP-Protocol-Version")) {
        std::string v = req.get_header_value("MCP-Protocol-Version");
        const auto& sv = mcp::supported_versions();
        if (std::find(sv.begin(), sv.end(), v) == sv.end()) {
          reply_status(res, 400, "Bad Request: unsupported MCP-Protocol-Version " + v);
          return res;
        }
      }
    }
    hs->touch();
    if (kind != mcp::Kind::request) {  // notification or response: accepted, nothing to return
      hs->mcp->handle(msg);
      if (kind == mcp::Kind::notification && msg["method"] == "notifications/cancelled")
        end_cancelled_stream(*hs, msg);
      res.status = 202;
      return res;
    }

    std::string key = msg["id"].dump();
    // A tools/call that asked for progress is answered as SSE (progress and log notifications ride on it);
    // everything else as one JSON body, which is cheaper for both sides.
    bool wants_progress = msg["method"] == "tools/call" && msg.contains("params") && msg["params"].is_object() &&
                          msg["params"].contains("_meta") && msg["params"]["_meta"].is_object() &&
                          msg["params"]["_meta"].contains("progressToken");
    bool use_sse = accepts_sse && (!accepts_json || wants_progress);
    auto st = std::make_shared<Stream>(*front, conn, use_sse ? Stream::Kind::post_sse : Stream::Kind::post_json,
                                       accepts_sse);
    {
      std::lock_guard<std::mutex> lk(hs->mu);
      if (hs->request_streams.count(key)) {
        res.status = 409;
        res.set_content(json_dump(mcp::make_error_response(msg["id"], mcp::kInvalidRequest,
                                                           "Invalid Request: request id is already in use")),
                        "application/json");
        return res;
      }
      hs->request_streams[key] = st;
      ++hs->open_requests;
    }
    // Registered before anything can answer: runs once the answer is written or the client is gone.
    front->on_done(conn, [hs, key, st] {
      std::lock_guard<std::mutex> lk(hs->mu);
      auto it = hs->request_streams.find(key);
      if (it != hs->request_streams.end() && it->second == st) hs->request_streams.erase(it);
      --hs->open_requests;
      hs->last_active = Clk::now();
    });
    if (use_sse) {
      HRes head;
      head.content_type = "text/event-stream";
      head.headers = res.headers;  // Mcp-Session-Id on initialize
      head.set_header("Cache-Control", "no-cache");
      head.set_header("X-Accel-Buffering", "no");
      front->stream_begin(conn, std::move(head));
    } else {
      st->pending.headers = res.headers;
    }
    // JSON mode runs the call on this worker (saves two thread switches); its response completes the answer.
    // Not when the client declared elicitation: a tool may then wait for the client's answer, which arrives as
    // another POST needing a worker of its own — waiting on the session's pool keeps the HTTP workers free.
    hs->mcp->handle(msg, /*run_inline=*/!use_sse && !hs->mcp->client_supports_elicitation_form());
    if (stopping) st->close();
    return std::nullopt;
  }

  // ------------------------------------------------------------------ Streamable HTTP, 2026-07-28 (stateless)
  // Dual era on /mcp: a message carrying the modern per-request _meta (or server/discover), or one that arrives
  // without a session naming a modern MCP-Protocol-Version, is served statelessly; `initialize` and everything
  // else keep the 2025 behaviour. The modern _meta wins over a stale Mcp-Session-Id (this era ignores it).
  static bool modern_version_header(const HReq& req) {
    if (!req.has_header("MCP-Protocol-Version")) return false;
    const auto& mv = mcp::modern_versions();
    return std::find(mv.begin(), mv.end(), req.get_header_value("MCP-Protocol-Version")) != mv.end();
  }
  static bool modern_request(const HReq& req, const json& msg) {
    if (mcp::is_modern(msg)) return true;
    if (msg.value("method", json()) == "initialize") return false;
    return !req.has_header("Mcp-Session-Id") && modern_version_header(req);
  }
  // GET and DELETE on /mcp belong to the 2025 era (the GET stream, ending a session); a modern client gets 405.
  static bool modern_get_or_delete(const HReq& req) { return !req.has_header("Mcp-Session-Id") && modern_version_header(req); }

  std::optional<HRes> handle_modern_post(const HReq& req, HRes& res, ConnId conn, const json& msg, mcp::Kind kind,
                                         bool accepts_sse, bool accepts_json) {
    if (kind == mcp::Kind::notification) {  // this era defines none over HTTP (cancellation = closing the stream)
      res.status = 202;
      return res;
    }
    if (kind != mcp::Kind::request) {  // a response: this era sends the client no requests to answer
      reply_status(res, 400, "Bad Request: the 2026-07-28 client sends requests and notifications only");
      return res;
    }
    mcp::ModernHeaders h;
    if (req.has_header("MCP-Protocol-Version")) h.protocol_version = req.get_header_value("MCP-Protocol-Version");
    if (req.has_header("Mcp-Method")) h.method = req.get_header_value("Mcp-Method");
    if (req.has_header("Mcp-Name")) h.name = req.get_header_value("Mcp-Name");
    if (auto rejected = modern->check(msg, &h)) {
      res.status = rejected->http_status;
      res.set_content(json_dump(rejected->response), "application/json");
      return res;
    }
    // Notifications (progress; log messages when the request named a logLevel) need a stream: a tools/call that
    // may send some answers as SSE when the client accepts it, everything else as one JSON body.
    const json& params = msg.contains("params") && msg["params"].is_object() ? msg["params"] : json::object();
    const json& meta = params.contains("_meta") ? params["_meta"] : json::object();
    bool notifies = msg["method"] == "tools/call" && (meta.contains("progressToken") || meta.contains(mcp::kMetaLogLevel));
    // subscriptions/listen is a stream by nature: its messages are notifications until the server ends it.
    const bool listen = msg["method"] == "subscriptions/listen";
    if (listen && !accepts_sse) {
      res.status = 406;
      res.set_content(json_dump(mcp::make_error_response(msg["id"], mcp::kInvalidRequest,
                                                         "Not Acceptable: subscriptions/listen answers with a stream; "
                                                         "send Accept: text/event-stream")),
                      "application/json");
      return res;
    }
    bool use_sse = accepts_sse && (!accepts_json || notifies || listen);
    auto st = std::make_shared<Stream>(*front, conn, use_sse ? Stream::Kind::post_sse : Stream::Kind::post_json);
    // Closing the response (stream) is this era's cancellation: the call stops and answers nothing. Also runs
    // once the answer is written, when it no longer matters.
    auto cancel = std::make_shared<std::atomic<bool>>(false);
    front->on_done(conn, [cancel] { cancel->store(true); });
    if (use_sse) {
      HRes head;
      head.content_type = "text/event-stream";
      head.set_header("Cache-Control", "no-cache");
      head.set_header("X-Accel-Buffering", "no");
      front->stream_begin(conn, std::move(head));
    }
    mcp::Sink sink = [st](const json& m, const std::string&) {
      st->push(json_dump(m), is_response_msg(m), /*is_request=*/false);
    };
    // JSON mode runs on this worker (nothing in this era waits for the client); SSE on the session pool.
    modern->serve(msg, req.label, envelope_for(req.label), std::move(sink), /*run_inline=*/!use_sse, cancel);
    if (stopping) st->close();
    return std::nullopt;
  }

  std::optional<HRes> handle_get(const HReq& req, HRes& res, ConnId conn) {
    std::string accept = ascii_lower(req.get_header_value("Accept"));
    if (accept.find("text/event-stream") == std::string::npos) {
      res.status = 405;
      res.set_header("Allow", "POST, DELETE");
      res.set_content(json_dump(rpc_error_body(mcp::kInvalidRequest, "GET needs Accept: text/event-stream")),
                      "application/json");
      return res;
    }
    auto hs = streamable_session(req, res, req.label);
    if (!hs) return res;
    auto st = std::make_shared<Stream>(*front, conn, Stream::Kind::get);
    {
      std::lock_guard<std::mutex> lk(hs->mu);
      if (hs->get_stream) {
        reply_status(res, 409, "This session already has a GET stream");
        return res;
      }
      hs->get_stream = st;
    }
    std::weak_ptr<HttpSession> weak = hs;
    front->on_done(conn, [weak, st] {
      if (auto s = weak.lock()) {
        std::lock_guard<std::mutex> lk(s->mu);
        if (s->get_stream == st) s->get_stream.reset();
        s->last_active = Clk::now();
      }
    });
    HRes head;
    head.content_type = "text/event-stream";
    head.set_header("Cache-Control", "no-cache");
    head.set_header("X-Accel-Buffering", "no");
    front->stream_begin(conn, std::move(head));
    if (stopping) st->close();
    return std::nullopt;
  }

  std::optional<HRes> handle_delete(const HReq& req, HRes& res) {
    auto hs = streamable_session(req, res, req.label);
    if (!hs) return res;
    end_session(hs);
    res.status = 200;
    return res;
  }

  // ------------------------------------------------------------------ legacy HTTP+SSE (2024-11-05)
  std::optional<HRes> handle_legacy_sse(const HReq& req, HRes& res, ConnId conn) {
    bool token_full = false;
    auto hs = new_session(req.label, true, &token_full);
    if (!hs && token_full) {
      res.status = 429;
      res.set_header("Retry-After", "5");
      res.set_content("too many sessions for this token (max_sessions_per_token)", "text/plain");
      return res;
    }
    if (!hs) {
      res.status = 503;
      res.set_header("Retry-After", "5");
      res.set_content("too many sessions", "text/plain");
      return res;
    }
    auto st = std::make_shared<Stream>(*front, conn, Stream::Kind::get);
    {
      std::lock_guard<std::mutex> lk(hs->mu);
      hs->get_stream = st;
    }
    front->on_done(conn, [this, hs] { end_session(hs); });  // the legacy session lives exactly as long as its stream
    HRes head;
    head.content_type = "text/event-stream";
    head.set_header("Cache-Control", "no-cache");
    head.set_header("X-Accel-Buffering", "no");
    front->stream_begin(conn, std::move(head));
    front->stream_write(conn, sse_event("endpoint", "/messages?sessionId=" + hs->id), false);
    if (stopping) st->close();
    return std::nullopt;
  }

  std::optional<HRes> handle_legacy_post(const HReq& req, HRes& res) {
    std::string sid = req.get_param_value("sessionId");
    auto hs = sid.empty() ? nullptr : find_session(sid);
    if (!hs || !hs->legacy || hs->token_label != req.label) {
      res.status = 404;
      res.set_content("Session not found", "text/plain");
      return res;
    }
    auto parsed = mcp::parse_message(req.body);  // bounded nesting, as for /mcp
    if (!parsed) {
      hs->mcp->handle_text(req.body);  // sends the -32700 / -32600 error on the stream, as the client expects
      res.status = 400;
      res.set_content(parsed.error().code == "JSON_TOO_DEEP" ? "Invalid message: nested too deeply"
                                                             : "Invalid message: not JSON",
                      "text/plain");
      return res;
    }
    hs->touch();
    hs->mcp->handle(*parsed);
    res.status = 202;
    res.set_content("Accepted", "text/plain");
    return res;
  }

  Status start() {
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

  void drain() {
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

  void stop() {
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
};

namespace {
// Every entry point the executable calls is caught here: the module and the executable may carry different
// copies of the C++ runtime (SW_STATIC_DEPS), so nothing but values crosses between them.
class HttpServerImpl final : public HttpServer {
 public:
  HttpServerImpl(mcp::Server& server, const config::Config& config, const HttpLimits& limits,
                 const HttpServe& serve)
      : impl_(std::make_unique<Impl>(server, config, limits, serve)) {}
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
  std::unique_ptr<Impl> impl_;
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
extern "C" sw::transport::FetchFn sw_fetch_entry() { return &module_fetch; }

// The module's entry points (see make_http_server): what to serve, or MCP only.
extern "C" sw::transport::HttpServer* sw_http_server_serve(sw::mcp::Server* server, const sw::config::Config* config,
                                                           const sw::transport::HttpLimits* limits,
                                                           const sw::transport::HttpServe* serve) {
  try {
    return new sw::transport::HttpServerImpl(*server, *config, limits ? *limits : sw::transport::HttpLimits{},
                                             serve ? *serve : sw::transport::HttpServe{});
  } catch (...) {
    return nullptr;  // the loader reports it
  }
}
extern "C" sw::transport::HttpServer* sw_http_server_create(sw::mcp::Server* server, const sw::config::Config* config,
                                                            const sw::transport::HttpLimits* limits) {
  return sw_http_server_serve(server, config, limits, nullptr);
}
