// Internal to the MCP HTTP transport (http*.cpp; the rest of the server sees transport.h): the listener's state
// (detail::Impl) and the session record its files share. http.cpp: entry points, routing, Host/Origin/token
// checks; http_session.cpp: sessions and their streams (Streamable HTTP, legacy SSE); http_side.cpp: side routes.
// Thread-safety: Impl::mu guards the session table, HttpSession::mu a session's streams; other members as noted.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "transport/front.h"
#include "transport/transport.h"

namespace sw::transport::detail {

using Clk = std::chrono::steady_clock;
using http1::ConnId;
using http1::Front;
using HReq = http1::Request;
using HRes = http1::Response;

struct Stream;  // one answer towards the client, bound to the connection that asked (http_session.cpp)

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

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

json rpc_error_body(int code, const std::string& message);  // http.cpp

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

  // A side route's open stream: writes go to the front while the listener runs (stop() clears `front` under mu).
  struct SideSink {
    std::mutex mu;
    Front* front = nullptr;
  };
  std::shared_ptr<SideSink> side_sink = std::make_shared<SideSink>();
  class SideStreamImpl;  // http_side.cpp

  Impl(mcp::Server& s, const config::Config& c, const HttpLimits& l, const HttpServe& sv);

  // http.cpp: checks, routing, the probes, start / drain / stop.
  static std::string presented_bearer(const HReq& req);
  std::optional<std::string> authorize(const HReq& req, HRes& res);
  std::string envelope_for(const std::string& label) const;
  static void reply_status(HRes& res, int status, const std::string& message, int code = mcp::kInvalidRequest);
  std::optional<HRes> precheck(HReq& req);
  std::optional<HRes> metrics_precheck(HReq& req, HRes& res);
  HRes readyz();
  HRes metrics_page();
  std::optional<HRes> handle(HReq& req, ConnId conn);
  Status start();
  void drain();
  void stop();

  // http_side.cpp: side routes (transport.h SideRoutes).
  const SideRoutes* side_route(const std::string& path) const;
  std::optional<HRes> side_precheck(const SideRoutes& side, HReq& req);
  static SideRequest side_request(const HReq& req);
  std::optional<HRes> side_handle(const SideRoutes& side, const HReq& req, ConnId conn);

  // http_session.cpp: sessions, Streamable HTTP (both eras) and legacy HTTP+SSE.
  std::shared_ptr<HttpSession> streamable_session(const HReq& req, HRes& res, const std::string& label);
  std::shared_ptr<HttpSession> new_session(const std::string& label, bool legacy, bool* token_full = nullptr);
  std::shared_ptr<HttpSession> find_session(const std::string& id);
  void end_session(const std::shared_ptr<HttpSession>& hs);
  void reap_loop();
  static void end_cancelled_stream(HttpSession& hs, const json& msg);
  std::optional<HRes> handle_post(const HReq& req, HRes& res, ConnId conn);
  static bool modern_version_header(const HReq& req);
  static bool modern_request(const HReq& req, const json& msg);
  static bool modern_get_or_delete(const HReq& req);
  std::optional<HRes> handle_modern_post(const HReq& req, HRes& res, ConnId conn, const json& msg, mcp::Kind kind,
                                         bool accepts_sse, bool accepts_json);
  std::optional<HRes> handle_get(const HReq& req, HRes& res, ConnId conn);
  std::optional<HRes> handle_delete(const HReq& req, HRes& res);
  std::optional<HRes> handle_legacy_sse(const HReq& req, HRes& res, ConnId conn);
  std::optional<HRes> handle_legacy_post(const HReq& req, HRes& res);
};

}  // namespace sw::transport::detail
