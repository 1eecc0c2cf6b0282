// The MCP HTTP transport's sessions and streams: the session table (created on initialize or a legacy /sse,
// reaped when idle), Streamable HTTP POST / GET / DELETE on /mcp in both protocol eras, and legacy HTTP+SSE
// (/sse and /messages). Every answer that waits for a tool or streams goes through a Stream bound to its connection.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>

#include "crypto/crypto.h"
#include "transport/front.h"
#include "transport/http_internal.h"
#include "transport/transport.h"

namespace sw::transport::detail {

namespace {

std::string sse_event(const std::string& event, const std::string& data) {
  std::string out = "event: " + event + "\n";
  out += "data: " + data + "\n\n";  // our JSON is compact: no newlines inside
  return out;
}

bool is_response_msg(const json& m) { return m.contains("id") && (m.contains("result") || m.contains("error")); }

}  // namespace

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

// The session a request names in Mcp-Session-Id: 400 without the header, 404 when unknown, legacy, or created by
// another token (a session belongs to its token). Sets the response and returns null on failure.
std::shared_ptr<HttpSession> Impl::streamable_session(const HReq& req, HRes& res, const std::string& label) {
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
std::shared_ptr<HttpSession> Impl::new_session(const std::string& label, bool legacy, bool* token_full) {
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

std::shared_ptr<HttpSession> Impl::find_session(const std::string& id) {
  std::lock_guard<std::mutex> lk(mu);
  auto it = sessions.find(id);
  return it == sessions.end() ? nullptr : it->second;
}

void Impl::end_session(const std::shared_ptr<HttpSession>& hs) {
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

void Impl::reap_loop() {
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
void Impl::end_cancelled_stream(HttpSession& hs, const json& msg) {
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

std::optional<HRes> Impl::handle_post(const HReq& req, HRes& res, ConnId conn) {
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
bool Impl::modern_version_header(const HReq& req) {
  if (!req.has_header("MCP-Protocol-Version")) return false;
  const auto& mv = mcp::modern_versions();
  return std::find(mv.begin(), mv.end(), req.get_header_value("MCP-Protocol-Version")) != mv.end();
}

bool Impl::modern_request(const HReq& req, const json& msg) {
  if (mcp::is_modern(msg)) return true;
  if (msg.value("method", json()) == "initialize") return false;
  return !req.has_header("Mcp-Session-Id") && modern_version_header(req);
}

// GET and DELETE on /mcp belong to the 2025 era (the GET stream, ending a session); a modern client gets 405.
bool Impl::modern_get_or_delete(const HReq& req) { return !req.has_header("Mcp-Session-Id") && modern_version_header(req); }

std::optional<HRes> Impl::handle_modern_post(const HReq& req, HRes& res, ConnId conn, const json& msg, mcp::Kind kind,
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

std::optional<HRes> Impl::handle_get(const HReq& req, HRes& res, ConnId conn) {
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

std::optional<HRes> Impl::handle_delete(const HReq& req, HRes& res) {
  auto hs = streamable_session(req, res, req.label);
  if (!hs) return res;
  end_session(hs);
  res.status = 200;
  return res;
}

// ------------------------------------------------------------------ legacy HTTP+SSE (2024-11-05)
std::optional<HRes> Impl::handle_legacy_sse(const HReq& req, HRes& res, ConnId conn) {
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

std::optional<HRes> Impl::handle_legacy_post(const HReq& req, HRes& res) {
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

}  // namespace sw::transport::detail
