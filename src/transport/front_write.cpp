// The HTTP/1.1 front's output side (see front.h, front_internal.h): answers decided on the loop, a worker's
// direct write on a lent socket, streams (chunked, or raw until close for HTTP/1.0), the end of an exchange and
// flushing.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "transport/front.h"
#include "transport/front_internal.h"

namespace sw::transport::http1 {

using namespace detail;

namespace {

const char* reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Status";
  }
}

}  // namespace

std::string detail::error_body(const std::string& message) {
  std::string m;
  for (char c : message) {
    if (c == '"' || c == '\\') m += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) m += c;
  }
  return "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":\"" + m + "\"}}";
}

// An answer decided on the loop (errors, precheck). drain: a body may be on its way; read and drop it after.
void Front::Impl::reply_now(Conn& c, Response res, bool drain) {
  c.phase = Phase::busy;
  if (drain) c.keep_alive = false;
  queue_response(c, res, false);
}

void Front::Impl::answer_error(Conn& c, int status, const std::string& message) {
  {
    std::lock_guard<std::mutex> lk(stats_mu);
    if (status == 408) st.timeouts++;
  }
  Response res;
  res.status = status;
  res.set_content(error_body(message), "application/json");
  c.keep_alive = false;
  c.phase = Phase::busy;
  queue_response(c, res, false);
}

// A complete (non-streaming) answer as bytes.
std::string Front::Impl::serialize(const Response& res, bool keep_alive, bool http10) const {
  std::string o;
  o.reserve(160 + res.body.size());
  o += "HTTP/1.1 " + std::to_string(res.status) + " " + reason(res.status) + "\r\n";
  for (const auto& [k, v] : res.headers) o += k + ": " + v + "\r\n";
  if (!res.content_type.empty()) o += "Content-Type: " + res.content_type + "\r\n";
  o += "Content-Length: " + std::to_string(res.body.size()) + "\r\n";
  if (!keep_alive) o += "Connection: close\r\n";
  else o += keep_alive_hdr;
  if (http10 && keep_alive) o += "Connection: keep-alive\r\n";
  o += "\r\n";
  o += res.body;
  return o;
}

// Takes the socket back from workers: from now on only the loop writes to it.
void Front::Impl::revoke_direct(Conn& c) {
  if (!c.direct) return;
  {
    std::lock_guard<std::mutex> lk(directs_mu);
    directs.erase(c.id);
  }
  {
    std::lock_guard<std::mutex> lk(c.direct->mu);
    c.direct->open = false;
  }
  c.direct.reset();
}

// On a worker: writes the answer for `conn` itself when the loop lent it the socket. False: not lent (or taken
// back), the caller posts the answer to the loop instead.
bool Front::Impl::try_direct(ConnId conn, Response& res) {
  std::shared_ptr<Direct> d;
  {
    std::lock_guard<std::mutex> lk(directs_mu);
    auto it = directs.find(conn);
    if (it == directs.end()) return false;
    d = it->second;
  }
  std::string bytes;
  size_t off = 0;
  bool failed = false;
  {
    std::lock_guard<std::mutex> lk(d->mu);
    if (!d->open || d->used) return false;
    d->used = true;
    bytes = serialize(res, d->keep_alive, d->http10);
    while (off < bytes.size()) {
      ssize_t n = ::send(d->fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        off += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      failed = true;
      break;
    }
  }
  // The loop finishes the exchange (on_done functions, keep-alive or close) and writes what did not fit.
  Op op{Op::sent, conn, {}, failed ? std::string() : bytes.substr(off), failed, {}};
  post(std::move(op));
  return true;
}

void Front::Impl::queue_response(Conn& c, const Response& res, bool streaming) {
  revoke_direct(c);
  const bool http10 = c.http10;
  std::string& o = c.out;
  if (c.out_off > 0 && c.out_off == o.size()) {
    o.clear();
    c.out_off = 0;
  }
  if (!streaming) {
    o += serialize(res, c.keep_alive, http10);
    finish_exchange(c);
    return;
  }
  o += "HTTP/1.1 " + std::to_string(res.status) + " " + reason(res.status) + "\r\n";
  for (const auto& [k, v] : res.headers) o += k + ": " + v + "\r\n";
  if (!res.content_type.empty()) o += "Content-Type: " + res.content_type + "\r\n";
  c.chunked_out = !http10;
  if (c.chunked_out) o += "Transfer-Encoding: chunked\r\n";
  else c.keep_alive = false;
  if (!c.keep_alive) o += "Connection: close\r\n";
  else o += keep_alive_hdr;
  o += "\r\n";
  {
    c.phase = Phase::stream;
    c.phase_start = Clk::now();
    c.last_write = Clk::now();
    flush(c);
  }
}

void Front::Impl::append_chunk(Conn& c, const std::string& data) {
  if (data.empty()) return;
  if (c.out_off > 0 && c.out_off == c.out.size()) {
    c.out.clear();
    c.out_off = 0;
  }
  if (c.chunked_out) {
    char hex[20];
    std::snprintf(hex, sizeof hex, "%zx\r\n", data.size());
    c.out += hex;
    c.out += data;
    c.out += "\r\n";
  } else {
    c.out += data;
  }
}

// The answer is fully queued: run its on_done functions once written; then either close or wait for the next
// request.
void Front::Impl::finish_exchange(Conn& c) {
  if (c.body_reserved) {
    body_bytes -= c.body_reserved;
    c.body_reserved = 0;
  }
  auto done = std::move(c.done);
  c.done.clear();
  for (auto& fn : done)
    if (fn) fn();
  if (!c.keep_alive) {
    // Lingering close: stop writing after the answer, keep reading (and dropping) briefly so the client sees it.
    c.close_when_flushed = true;
    c.phase = Phase::linger;
    c.in.clear();
  } else {
    c.phase = Phase::wait;
  }
  c.phase_start = Clk::now();
  c.req = Request{};
  c.body_len = 0;
  if (!flush(c)) return;
  resume_reading(c);  // a pipelined request, or input that arrived meanwhile, is looked at by run_ready()
}

// Writes what it can. False when the connection was closed.
bool Front::Impl::flush(Conn& c) {
  while (c.out_off < c.out.size()) {
    ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      close_conn(c.id);
      return false;
    }
    c.out_off += static_cast<size_t>(n);
    c.last_write = Clk::now();
  }
  if (c.out_off == c.out.size()) {
    c.out.clear();
    c.out_off = 0;
    if (c.close_when_flushed) {
      if (c.phase == Phase::linger) {
        ::shutdown(c.fd, SHUT_WR);
      } else {
        close_conn(c.id);
        return false;
      }
    }
  }
  return true;
}

}  // namespace sw::transport::http1
