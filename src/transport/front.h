// sw::transport::http1 — the HTTP/1.1 server under the MCP HTTP transport (internal to src/transport).
// One event-loop thread (epoll, level-triggered) accepts, reads and parses every connection with each resource
// bounded by HttpLimits; a request that passed `precheck` (run on the loop from the header block alone: routing,
// Host/Origin/bearer checks) has its body read (Content-Length only, capped) and is then handed to a worker
// thread (`handler`). Answers go back through respond() / stream_*() from any thread; the loop writes them.
// A connection is in one phase at a time: waiting for a request, reading its head, reading its body, busy (a
// worker has it; reading paused), streaming a response, or lingering (an error answer was sent; input is read and
// discarded, bounded, then the connection closes). Each phase has a deadline (HttpLimits), swept every 250 ms.
// Thread-safety: respond/stream_*/on_done may be called from any thread, for connections that may already be
// gone (then they do nothing, and on_done's function runs at once). Callbacks run on the loop thread must not block.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/common.h"
#include "transport/transport.h"

namespace sw::transport::http1 {

using ConnId = uint64_t;

struct Request {
  std::string method;   // as sent (a token)
  std::string target;   // origin-form: path [ "?" query ]
  std::string path;
  std::string query;
  std::string version;  // "HTTP/1.1" | "HTTP/1.0"
  std::vector<std::pair<std::string, std::string>> headers;  // names as sent, values trimmed
  std::string body;
  std::string peer;     // client IP address
  std::string label;    // set by precheck (the authorized caller)
  std::string get_header_value(std::string_view name) const;  // first value, "" if absent
  size_t get_header_value_count(std::string_view name) const;
  bool has_header(std::string_view name) const { return get_header_value_count(name) > 0; }
  std::string get_param_value(std::string_view name) const;   // from the query, percent-decoded
};

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string content_type;
  void set_header(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
  void set_content(std::string b, std::string ctype) {
    body = std::move(b);
    content_type = std::move(ctype);
  }
};

// Incremental request-head parser (exposed for unit tests). feed() looks at `buf` (the bytes received so far for
// this request, starting at its first byte) and returns need_more, done (`consumed` = head length) or error
// (`status` 400 / 414 / 431 / 505 and a message). Each byte is examined once across calls.
class HeadParser {
 public:
  enum class State { need_more, done, error };
  explicit HeadParser(const HttpLimits& limits) : lim_(limits) {}
  State feed(std::string_view buf, Request& req);
  size_t consumed() const { return pos_; }
  int status() const { return status_; }
  const std::string& message() const { return message_; }
  bool started() const { return started_; }

 private:
  State fail(int status, std::string message);
  const HttpLimits& lim_;
  size_t pos_ = 0;    // start of the next unparsed line
  size_t scan_ = 0;   // no '\n' before this offset (from pos_)
  bool started_ = false;  // the request line was parsed
  int status_ = 0;
  std::string message_;
};

class Front {
 public:
  // On the loop thread, once the head is complete: an answer to send now (the connection closes after it when its
  // status is >= 400 and a body was announced), or nullopt to read the body and call `handler`.
  using Precheck = std::function<std::optional<Response>(Request& req)>;
  // On a worker thread: an answer, or nullopt when the handler took the exchange over (it will call respond() or
  // stream_begin()/stream_write()/stream_end() for `conn`).
  using Handler = std::function<std::optional<Response>(Request& req, ConnId conn)>;

  Front(HttpLimits limits, size_t max_body_bytes, size_t workers, Precheck precheck, Handler handler);
  ~Front();
  // Binds (port 0 = any), listens and starts the loop. HTTP_BIND_FAILED on failure.
  Status start(const std::string& host, int port);
  int port() const;
  void stop();  // closes every connection; runs pending on_done functions; joins the threads

  void respond(ConnId conn, Response res);
  void stream_begin(ConnId conn, Response head);                     // status + headers; body follows in chunks
  void stream_write(ConnId conn, std::string data, bool droppable);  // droppable: lost when the backlog is full
  void stream_end(ConnId conn);
  // `fn` runs once on the loop thread when the exchange now on `conn` ends: its answer fully written, or the
  // connection closed (client gone, timeout, stop). At once if the connection is already gone.
  void on_done(ConnId conn, std::function<void()> fn);

  struct Stats {
    size_t connections = 0;
    uint64_t accepted = 0, evicted = 0, refused = 0, timeouts = 0;
  };
  Stats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sw::transport::http1
