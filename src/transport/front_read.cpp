// The HTTP/1.1 front's input side (see front.h, front_internal.h): the request-head parser with its limits, and
// each connection's reading, from the first byte of a request through body framing and the precheck to the hand-off
// to a worker.
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "transport/front.h"
#include "transport/front_internal.h"

namespace sw::transport::http1 {

using namespace detail;

namespace {

bool tchar(unsigned char c) { return is_http_tchar(c); }

std::string_view trim_ows(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

}  // namespace

// ---------------------------------------------------------------- Request helpers
std::string Request::get_header_value(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (ascii_iequals(k, name)) return v;
  return "";
}

size_t Request::get_header_value_count(std::string_view name) const {
  size_t n = 0;
  for (const auto& [k, v] : headers)
    if (ascii_iequals(k, name)) ++n;
  return n;
}

std::string Request::get_param_value(std::string_view name) const { return form_param(query, name); }

// ---------------------------------------------------------------- HeadParser
HeadParser::State HeadParser::fail(int status, std::string message) {
  status_ = status;
  message_ = std::move(message);
  return State::error;
}

HeadParser::State HeadParser::feed(std::string_view buf, Request& req) {
  for (;;) {
    size_t from = std::max(pos_, scan_);
    size_t nl = buf.find('\n', from);
    const size_t line_limit = started_ ? lim_.max_header_line : lim_.max_request_line;
    // The two size limits, decided the same way whether the line is complete or still arriving, so the verdict
    // never depends on how the bytes were split across reads: a line is too long once byte pos_ + line_limit + 1
    // is part of it (a line may end in "\r\n"), the block once byte max_header_bytes is. When both are exceeded,
    // the one proven by the earlier byte is reported. consumed() stays at the start of the offending line.
    const size_t line_over_at = pos_ + line_limit + 1;
    const size_t block_over_at = lim_.max_header_bytes;
    bool line_over, block_over;
    std::string_view line;
    if (nl == std::string_view::npos) {
      scan_ = buf.size();
      line_over = buf.size() > line_over_at;
      block_over = buf.size() > block_over_at;
    } else {
      line = buf.substr(pos_, nl - pos_);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      line_over = line.size() > line_limit;  // then nl >= line_over_at
      block_over = nl >= block_over_at;
    }
    if (line_over && (!block_over || line_over_at <= block_over_at))
      return started_ ? fail(431, "Request Header Fields Too Large: a header line is over " +
                                      std::to_string(lim_.max_header_line) + " bytes")
                      : fail(414, "URI Too Long: the request line is over " + std::to_string(lim_.max_request_line) +
                                      " bytes");
    if (block_over)
      return fail(431, "Request Header Fields Too Large: the header block is over " +
                           std::to_string(lim_.max_header_bytes) + " bytes");
    if (nl == std::string_view::npos) return State::need_more;
    pos_ = nl + 1;
    scan_ = pos_;
    if (!started_) {
      if (line.empty()) continue;  // RFC 9112 §2.2: empty lines before the request line are ignored
      auto sp1 = line.find(' ');
      auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
      if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != line.npos)
        return fail(400, "Bad Request: malformed request line");
      std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
                       version = line.substr(sp2 + 1);
      if (method.empty() || !std::all_of(method.begin(), method.end(), [](char c) { return tchar(c); }))
        return fail(400, "Bad Request: malformed method");
      if (target.empty() || target[0] != '/')
        return fail(400, "Bad Request: the request target must be a path");
      for (unsigned char c : target)
        if (c <= 0x20 || c >= 0x7f) return fail(400, "Bad Request: invalid character in the request target");
      if (version != "HTTP/1.1" && version != "HTTP/1.0") {
        if (version.rfind("HTTP/", 0) == 0) return fail(505, "HTTP Version Not Supported");
        return fail(400, "Bad Request: malformed request line");
      }
      req.method = std::string(method);
      req.target = std::string(target);
      auto q = target.find('?');
      req.path = std::string(target.substr(0, q));
      req.query = q == std::string_view::npos ? "" : std::string(target.substr(q + 1));
      req.version = std::string(version);
      started_ = true;
      continue;
    }
    if (line.empty()) return State::done;
    if (line[0] == ' ' || line[0] == '\t') return fail(400, "Bad Request: obsolete line folding");
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return fail(400, "Bad Request: malformed header line");
    std::string_view name = line.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), [](char c) { return tchar(c); }))
      return fail(400, "Bad Request: malformed header name");
    std::string_view value = trim_ows(line.substr(colon + 1));
    for (unsigned char c : value)
      if ((c < 0x20 && c != '\t') || c == 0x7f) return fail(400, "Bad Request: control character in a header value");
    if (req.headers.size() >= lim_.max_headers)
      return fail(431, "Request Header Fields Too Large: more than " + std::to_string(lim_.max_headers) + " headers");
    req.headers.emplace_back(std::string(name), std::string(value));
  }
}

// ---------------------------------------------------------------- Front: reading
// Connections are registered once, edge-triggered, for input, output and hang-up: no epoll_ctl per request.
// Input is read until EAGAIN while the connection is reading; otherwise read_pending remembers to look later.
void Front::Impl::resume_reading(Conn& c) {
  c.reading = true;
  if (c.read_pending || !c.in.empty()) ready.push_back(c.id);
}

// Connections that may have a request buffered or unread input, processed iteratively (never recursively).
void Front::Impl::run_ready() {
  for (size_t guard = 0; !ready.empty() && guard < 100000; ++guard) {
    ConnId id = ready.front();
    ready.pop_front();
    Conn* c = find(id);
    if (!c || !c->reading) continue;
    if (c->phase == Phase::wait && !c->in.empty()) progress(*c);
    c = find(id);
    if (c && c->reading && c->read_pending && c->phase != Phase::busy && c->phase != Phase::stream)
      on_readable(*c, EPOLLIN);
  }
}

void Front::Impl::on_readable(Conn& c, uint32_t events) {
  ConnId id = c.id;
  if (c.phase == Phase::busy || c.phase == Phase::stream) {
    // Not reading a request now: only a hang-up matters (the client left; its stream or answer has no reader).
    if (events & (EPOLLRDHUP | EPOLLHUP)) close_conn(id);
    else c.read_pending = true;
    return;
  }
  if (!c.reading) {
    c.read_pending = true;
    return;
  }
  c.read_pending = false;
  char buf[16384];
  for (;;) {
    Conn* cp = find(id);
    if (!cp) return;
    if (!cp->reading || cp->phase == Phase::busy || cp->phase == Phase::stream) {
      cp->read_pending = true;  // stopped before EAGAIN
      return;
    }
    size_t want = sizeof buf;
    if (cp->phase == Phase::body) want = std::min(want, std::max<size_t>(1, cp->body_len - cp->req.body.size()));
    ssize_t n = ::recv(cp->fd, buf, want, 0);
    if (n == 0) {  // EOF: the client is done (a half-closed request is not served)
      close_conn(id);
      return;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      close_conn(id);
      return;
    }
    if (cp->phase == Phase::linger) {
      // Read and drop at most 1 MiB; then stop reading (TCP flow control holds the client) until the linger
      // deadline closes the connection — closing with unread input would reset it before the client read the
      // answer.
      cp->lingered += static_cast<size_t>(n);
      if (cp->lingered > (size_t(1) << 20)) {
        cp->reading = false;
        return;
      }
      continue;
    }
    if (cp->phase == Phase::body) {
      cp->req.body.append(buf, static_cast<size_t>(n));
    } else {
      cp->in.append(buf, static_cast<size_t>(n));
    }
    progress(*cp);
  }
}

// Moves the exchange on with what has been read: head → checks → body → dispatch.
void Front::Impl::progress(Conn& c) {
  ConnId id = c.id;
  if (c.phase == Phase::wait) {
    if (c.in.empty()) return;
    c.phase = Phase::head;
    c.phase_start = Clk::now();
    c.parser = std::make_unique<HeadParser>(lim);
    c.req = Request{};
    c.req.peer = c.peer;
    c.http10 = false;
  }
  if (c.phase == Phase::head) {
    auto state = c.parser->feed(c.in, c.req);
    if (state == HeadParser::State::need_more) return;
    if (state == HeadParser::State::error) {
      answer_error(c, c.parser->status(), c.parser->message());
      return;
    }
    c.in.erase(0, c.parser->consumed());
    c.parser.reset();
    on_head(c);
    if (!find(id)) return;
  }
  if (c.phase == Phase::body) {
    if (c.req.body.size() < c.body_len && !c.in.empty()) {
      size_t take = std::min(c.in.size(), c.body_len - c.req.body.size());
      c.req.body.append(c.in, 0, take);
      c.in.erase(0, take);
    }
    if (c.req.body.size() >= c.body_len) dispatch(c);
  }
}

void Front::Impl::on_head(Conn& c) {
  Request& r = c.req;
  const bool http10 = r.version == "HTTP/1.0";
  c.http10 = http10;
  std::string conn_hdr = ascii_lower(r.get_header_value("Connection"));
  c.keep_alive = http10 ? conn_hdr.find("keep-alive") != std::string::npos
                        : conn_hdr.find("close") == std::string::npos;
  // Body framing, before anything else may read it.
  bool has_body = false;
  if (r.has_header("Transfer-Encoding")) {
    answer_error(c, 411, "Length Required: send Content-Length (Transfer-Encoding is not accepted)");
    return;
  }
  size_t cl_count = r.get_header_value_count("Content-Length");
  size_t len = 0;
  if (cl_count > 0) {
    std::string first;
    for (const auto& [k, v] : r.headers) {
      if (!ascii_iequals(k, "Content-Length")) continue;
      if (v.empty() || v.size() > 18 || !std::all_of(v.begin(), v.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
        answer_error(c, v.size() > 18 ? 413 : 400, v.size() > 18 ? "Payload Too Large" : "Bad Request: invalid Content-Length");
        return;
      }
      if (first.empty()) first = v;
      else if (std::stoull(v) != std::stoull(first)) {
        answer_error(c, 400, "Bad Request: conflicting Content-Length headers");
        return;
      }
    }
    len = static_cast<size_t>(std::stoull(first));
    has_body = len > 0;
  }
  // Routing, Host/Origin and credentials: from the head alone, so nothing unauthenticated gets its body buffered.
  std::optional<Response> early;
  try {
    early = precheck(r);
  } catch (...) {
    early = Response{};
    early->status = 500;
    early->set_content(error_body("Internal Server Error"), "application/json");
  }
  if (early) {
    reply_now(c, std::move(*early), /*drain=*/has_body);
    return;
  }
  if (len > max_body) {
    answer_error(c, 413, "Payload Too Large");
    return;
  }
  if (len > 0 && body_bytes + len > lim.max_buffered_body_bytes) {
    Response res;
    res.status = 503;
    res.set_header("Retry-After", "1");
    res.set_content(error_body("Too many requests in flight; try again later"), "application/json");
    c.keep_alive = false;
    reply_now(c, std::move(res), true);
    return;
  }
  std::string expect = r.get_header_value("Expect");
  if (!expect.empty()) {
    if (!ascii_iequals(expect, "100-continue")) {
      answer_error(c, 417, "Expectation Failed");
      return;
    }
    if (len > 0 && c.in.empty()) c.out += "HTTP/1.1 100 Continue\r\n\r\n";
  }
  c.body_len = len;
  c.body_reserved = len;
  body_bytes += len;
  c.req.body.reserve(len);
  c.phase = Phase::body;
  c.phase_start = Clk::now();
  if (c.out.size() > c.out_off) flush(c);
}

void Front::Impl::dispatch(Conn& c) {
  c.phase = Phase::busy;
  c.phase_start = Clk::now();
  c.reading = false;
  if (c.out_off == c.out.size()) {  // nothing of ours still to write: the worker may answer on the socket
    auto d = std::make_shared<Direct>();
    d->fd = c.fd;
    d->keep_alive = c.keep_alive;
    d->http10 = c.http10;
    c.direct = d;
    std::lock_guard<std::mutex> lk(directs_mu);
    directs[c.id] = std::move(d);
  }
  auto req = std::make_shared<Request>(std::move(c.req));
  c.req = Request{};
  ConnId id = c.id;
  submit([this, req, id] {
    std::optional<Response> res;
    try {
      res = handler(*req, id);
    } catch (...) {
      res = Response{};
      res->status = 500;
      res->set_content(error_body("Internal Server Error"), "application/json");
    }
    if (res && !try_direct(id, *res)) post(Op{Op::respond, id, std::move(*res), {}, false, {}});
  });
}

}  // namespace sw::transport::http1
