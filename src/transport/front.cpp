// The HTTP/1.1 front: see front.h. Everything a client can make the server hold is bounded here, before any
// request reaches MCP code: bytes per line, lines, header bytes, body bytes (per request and in total), time per
// phase, unsent bytes, connections (total and per client address).
#include "transport/front.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace sw::transport::http1 {

namespace {

using Clk = std::chrono::steady_clock;

bool tchar(unsigned char c) { return is_http_tchar(c); }

std::string_view trim_ows(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

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

std::string error_body(const std::string& message) {
  // The JSON-RPC error shape the MCP transport uses for HTTP-level errors (no id).
  std::string m;
  for (char c : message) {
    if (c == '"' || c == '\\') m += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) m += c;
  }
  return "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":\"" + m + "\"}}";
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

// ---------------------------------------------------------------- Front
namespace {

constexpr uint64_t kWakeId = ~uint64_t(0);

enum class Phase { wait, head, body, busy, stream, linger };

// A busy connection's socket, lent to the worker that answers it: the worker writes its answer itself (no hop
// back to the loop on the client's path) unless the loop closed the connection or answers it otherwise. `mu`
// is held while writing, so the loop never closes the fd under a worker.
struct Direct {
  std::mutex mu;
  int fd = -1;
  bool open = true;
  bool used = false;
  bool keep_alive = true;
  bool http10 = false;
};

struct Conn {
  ConnId id = 0;
  int fd = -1;
  std::string peer;
  Phase phase = Phase::wait;
  Clk::time_point phase_start;
  Clk::time_point last_write;  // last write progress (or when output was queued into an empty buffer)
  std::string in;
  std::string out;
  size_t out_off = 0;
  std::unique_ptr<HeadParser> parser;
  Request req;
  size_t body_len = 0;
  size_t body_reserved = 0;  // counted in Impl::body_bytes
  bool keep_alive = true;
  bool http10 = false;
  bool close_when_flushed = false;
  bool chunked_out = false;  // streaming with chunked encoding (HTTP/1.1); raw until close for HTTP/1.0
  bool reading = true;       // false: input is left in the socket (busy, streaming, or lingered enough)
  bool read_pending = false;  // input may be waiting that was not read (edge-triggered: no new event will say so)
  size_t lingered = 0;
  std::vector<std::function<void()>> done;  // on_done functions for the current exchange
  std::shared_ptr<Direct> direct;             // while busy with nothing queued to write
};

struct Op {
  enum Kind { respond, begin, write, end, done, sent } kind;
  ConnId conn;
  Response res;
  std::string data;
  bool droppable = false;
  std::function<void()> fn;
};

}  // namespace

struct Front::Impl {
  HttpLimits lim;
  size_t max_body;
  size_t max_workers;
  Precheck precheck;
  Handler handler;

  int listen_fd = -1, ep = -1, evfd = -1;
  int bound_port = 0;
  size_t conn_cap = 0;
  std::thread loop;
  std::atomic<bool> stopping{false};

  // loop-thread state
  std::unordered_map<ConnId, std::unique_ptr<Conn>> conns;
  std::unordered_map<std::string, size_t> per_peer;
  std::deque<ConnId> ready;  // see run_ready()
  ConnId next_id = 1;
  size_t body_bytes = 0;
  Clk::time_point accept_paused_until{};
  bool accept_paused = false;

  // busy connections a worker may answer directly (see Direct)
  std::mutex directs_mu;
  std::unordered_map<ConnId, std::shared_ptr<Direct>> directs;

  // mailbox
  std::mutex mb_mu;
  std::vector<Op> mailbox;

  // workers
  std::mutex wq_mu;
  std::condition_variable wq_cv;
  std::deque<std::function<void()>> wq;
  std::vector<std::thread> workers;
  size_t idle_workers = 0;
  bool wq_stop = false;

  mutable std::mutex stats_mu;
  Stats st;
  std::string keep_alive_hdr;

  Impl(HttpLimits l, size_t mb, size_t w, Precheck p, Handler h)
      : lim(l), max_body(mb), max_workers(std::max<size_t>(1, w)), precheck(std::move(p)), handler(std::move(h)) {}

  // ------------------------------------------------------------ workers (grow on demand up to max_workers)
  void submit(std::function<void()> fn) {
    std::unique_lock<std::mutex> lk(wq_mu);
    wq.push_back(std::move(fn));
    if (idle_workers == 0 && workers.size() < max_workers) {
      try {
        workers.emplace_back([this] { worker_main(); });
        return;
      } catch (...) {  // no thread: an existing worker will take it
      }
    }
    lk.unlock();
    wq_cv.notify_one();
  }

  void worker_main() {
    std::unique_lock<std::mutex> lk(wq_mu);
    for (;;) {
      ++idle_workers;
      wq_cv.wait(lk, [&] { return wq_stop || !wq.empty(); });
      --idle_workers;
      if (wq.empty()) return;  // stopping and nothing left
      auto fn = std::move(wq.front());
      wq.pop_front();
      lk.unlock();
      fn();
      lk.lock();
    }
  }

  // ------------------------------------------------------------ mailbox
  void post(Op op) {
    bool wake;
    {
      std::lock_guard<std::mutex> lk(mb_mu);
      wake = mailbox.empty();
      mailbox.push_back(std::move(op));
    }
    if (wake) {
      uint64_t one = 1;
      ssize_t n = ::write(evfd, &one, sizeof one);
      (void)n;
    }
  }

  // ------------------------------------------------------------ start / stop
  Status start(const std::string& host, int port) {
    rlimit rl{};
    size_t fd_room = 1 << 20;
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
      fd_room = rl.rlim_cur > 256 ? static_cast<size_t>(rl.rlim_cur) - 128 : static_cast<size_t>(rl.rlim_cur) / 2;
    conn_cap = std::max<size_t>(1, std::min(lim.max_connections, fd_room));
    keep_alive_hdr = "Keep-Alive: timeout=" +
                     std::to_string(std::max<long long>(1, static_cast<long long>(lim.idle_timeout.count() / 1000))) +
                     "\r\n";

    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* res = nullptr;
    std::string port_s = std::to_string(port);
    int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port_s.c_str(), &hints, &res);
    if (rc != 0)
      return make_error("HTTP_BIND_FAILED", "cannot resolve bind address " + host + ": " + gai_strerror(rc));
    std::string why = "no address";
    for (auto* p = res; p; p = p->ai_next) {
      int fd = ::socket(p->ai_family, p->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, p->ai_protocol);
      if (fd < 0) continue;
      int one = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (::bind(fd, p->ai_addr, p->ai_addrlen) == 0 && ::listen(fd, lim.listen_backlog) == 0) {
        listen_fd = fd;
        break;
      }
      why = std::strerror(errno);
      ::close(fd);
    }
    ::freeaddrinfo(res);
    if (listen_fd < 0)
      return make_error("HTTP_BIND_FAILED", "cannot bind " + host + ":" + port_s + " (" + why +
                                                "; in use, or not an address of this machine)");
    sockaddr_storage ss{};
    socklen_t sl = sizeof ss;
    ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&ss), &sl);
    bound_port = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                          : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    ep = ::epoll_create1(EPOLL_CLOEXEC);
    evfd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ep < 0 || evfd < 0) return make_error("HTTP_BIND_FAILED", "cannot create the event loop");
    // Events carry the connection id, never the fd: an fd closed and reused within one batch of events cannot
    // receive the old connection's events. Ids start at 1; 0 is the listening socket, kWakeId the eventfd.
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.u64 = 0;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &e);
    e.data.u64 = kWakeId;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, evfd, &e);
    loop = std::thread([this] { run(); });
    return ok_status();
  }

  void stop() {
    if (stopping.exchange(true)) return;
    if (evfd >= 0) {
      uint64_t one = 1;
      ssize_t n = ::write(evfd, &one, sizeof one);
      (void)n;
    }
    if (loop.joinable()) loop.join();
    {
      std::lock_guard<std::mutex> lk(wq_mu);
      wq_stop = true;
    }
    wq_cv.notify_all();
    for (auto& t : workers)
      if (t.joinable()) t.join();
    // Anything the workers posted after the loop ended: exchanges that can no longer happen.
    std::vector<Op> ops;
    {
      std::lock_guard<std::mutex> lk(mb_mu);
      ops.swap(mailbox);
    }
    for (auto& op : ops)
      if (op.kind == Op::done && op.fn) op.fn();
    if (listen_fd >= 0) ::close(listen_fd);
    if (ep >= 0) ::close(ep);
    if (evfd >= 0) ::close(evfd);
    listen_fd = ep = evfd = -1;
  }

  // ------------------------------------------------------------ the loop
  void run() {
    std::vector<epoll_event> evs(256);
    auto last_sweep = Clk::now();
    while (!stopping) {
      int n = ::epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 250);
      if (n < 0 && errno != EINTR) break;
      for (int i = 0; i < n; ++i) {
        uint64_t id = evs[i].data.u64;
        if (id == 0) {
          accept_all();
        } else if (id == kWakeId) {
          uint64_t v;
          ssize_t r = ::read(evfd, &v, sizeof v);
          (void)r;
        } else {
          on_event(id, evs[i].events);
        }
      }
      run_ready();
      drain_mailbox();
      run_ready();
      auto now = Clk::now();
      if (accept_paused && now >= accept_paused_until) {
        accept_paused = false;
        epoll_event e{};
        e.events = EPOLLIN;
        e.data.u64 = 0;
        ::epoll_ctl(ep, EPOLL_CTL_MOD, listen_fd, &e);
      }
      if (now - last_sweep >= std::chrono::milliseconds(250)) {
        last_sweep = now;
        sweep(now);
      }
    }
    // Stopping: every connection goes; the exchanges' on_done functions run (sessions clean up).
    std::vector<ConnId> ids;
    for (auto& [id, c] : conns) ids.push_back(id);
    for (auto id : ids) close_conn(id);
  }

  void drain_mailbox() {
    for (int round = 0; round < 4; ++round) {
      std::vector<Op> ops;
      {
        std::lock_guard<std::mutex> lk(mb_mu);
        ops.swap(mailbox);
      }
      if (ops.empty()) return;
      for (auto& op : ops) apply(op);
    }
    // Still more (busy workers): come back after the next look at the sockets instead of starving them.
    std::lock_guard<std::mutex> lk(mb_mu);
    if (!mailbox.empty()) {
      uint64_t one = 1;
      ssize_t n = ::write(evfd, &one, sizeof one);
      (void)n;
    }
  }

  Conn* find(ConnId id) {
    auto it = conns.find(id);
    return it == conns.end() ? nullptr : it->second.get();
  }

  void apply(Op& op) {
    Conn* c = find(op.conn);
    if (!c) {
      if (op.kind == Op::done && op.fn) op.fn();
      return;
    }
    switch (op.kind) {
      case Op::done:
        c->done.push_back(std::move(op.fn));
        break;
      case Op::respond:
        if (c->phase != Phase::busy) return;  // already answered
        queue_response(*c, op.res, false);
        break;
      case Op::begin:
        if (c->phase != Phase::busy) return;
        queue_response(*c, op.res, true);
        break;
      case Op::write:
        if (c->phase != Phase::stream) return;
        if (op.droppable && c->out.size() - c->out_off > lim.max_stream_backlog) return;  // slow reader: drop it
        append_chunk(*c, op.data);
        flush(*c);
        break;
      case Op::sent:
        if (c->phase != Phase::busy) return;
        revoke_direct(*c);
        if (op.droppable) {  // the worker's write failed: the client is gone
          close_conn(c->id);
          return;
        }
        c->out += op.data;
        finish_exchange(*c);
        break;
      case Op::end:
        if (c->phase != Phase::stream) return;
        if (c->chunked_out) c->out += "0\r\n\r\n";
        else c->close_when_flushed = true;
        finish_exchange(*c);
        break;
    }
  }

  // ------------------------------------------------------------ accepting
  void accept_all() {
    for (int k = 0; k < 512; ++k) {
      sockaddr_storage ss{};
      socklen_t sl = sizeof ss;
      int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          // Out of descriptors: make room by evicting, and stop accepting for a moment (no busy loop).
          evict_one("");
          pause_accept();
        }
        return;
      }
      char ip[INET6_ADDRSTRLEN] = "?";
      if (ss.ss_family == AF_INET)
        ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, ip, sizeof ip);
      else if (ss.ss_family == AF_INET6)
        ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, ip, sizeof ip);
      std::string peer = ip;
      bool room = true;
      if (per_peer[peer] >= lim.max_connections_per_client) room = evict_one(peer);
      if (room && conns.size() >= conn_cap) room = evict_one("");
      if (!room) {
        refuse(fd);
        continue;
      }
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      auto c = std::make_unique<Conn>();
      c->id = next_id;
      c->fd = fd;
      c->peer = peer;
      c->phase = Phase::wait;
      c->phase_start = c->last_write = Clk::now();
      epoll_event e{};
      e.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
      e.data.u64 = next_id;
      if (::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) != 0) {
        ::close(fd);
        continue;
      }
      ++next_id;
      per_peer[peer]++;
      conns[c->id] = std::move(c);
      std::lock_guard<std::mutex> lk(stats_mu);
      st.accepted++;
      st.connections = conns.size();
    }
  }

  void pause_accept() {
    accept_paused = true;
    accept_paused_until = Clk::now() + std::chrono::milliseconds(100);
    epoll_event e{};
    e.events = 0;
    e.data.u64 = 0;
    ::epoll_ctl(ep, EPOLL_CTL_MOD, listen_fd, &e);
  }

  void refuse(int fd) {
    static const std::string r = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\n"
                                 "Content-Type: application/json\r\nContent-Length: " +
                                 std::to_string(error_body("Too many connections").size()) + "\r\n\r\n" +
                                 error_body("Too many connections");
    ssize_t n = ::send(fd, r.data(), r.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)n;
    ::close(fd);
    std::lock_guard<std::mutex> lk(stats_mu);
    st.refused++;
  }

  // Evicts the connection (of `peer`, or anyone's when empty) that has waited longest in a phase where the client
  // owes us bytes (waiting for a request, sending its head or body). False when there is none.
  bool evict_one(const std::string& peer) {
    Conn* victim = nullptr;
    for (auto& [id, c] : conns) {
      if (c->phase != Phase::wait && c->phase != Phase::head && c->phase != Phase::body) continue;
      if (!peer.empty() && c->peer != peer) continue;
      if (!victim || c->phase_start < victim->phase_start) victim = c.get();
    }
    if (!victim) return false;
    {
      std::lock_guard<std::mutex> lk(stats_mu);
      st.evicted++;
    }
    close_conn(victim->id);
    return true;
  }

  // ------------------------------------------------------------ per-connection I/O
  // Connections are registered once, edge-triggered, for input, output and hang-up: no epoll_ctl per request.
  // Input is read until EAGAIN while the connection is reading; otherwise read_pending remembers to look later.
  void resume_reading(Conn& c) {
    c.reading = true;
    if (c.read_pending || !c.in.empty()) ready.push_back(c.id);
  }

  void on_event(ConnId id, uint32_t events) {
    Conn* c = find(id);
    if (!c) return;
    if (events & EPOLLERR) {
      close_conn(id);
      return;
    }
    if (events & EPOLLOUT) {
      if (!flush(*c)) return;
      c = find(id);
      if (!c) return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) on_readable(*c, events);
  }

  // Connections that may have a request buffered or unread input, processed iteratively (never recursively).
  void run_ready() {
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

  void on_readable(Conn& c, uint32_t events) {
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
  void progress(Conn& c) {
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

  void on_head(Conn& c) {
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

  void dispatch(Conn& c) {
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

  // An answer decided on the loop (errors, precheck). drain: a body may be on its way; read and drop it after.
  void reply_now(Conn& c, Response res, bool drain) {
    c.phase = Phase::busy;
    if (drain) c.keep_alive = false;
    queue_response(c, res, false);
  }

  void answer_error(Conn& c, int status, const std::string& message) {
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
  std::string serialize(const Response& res, bool keep_alive, bool http10) const {
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
  void revoke_direct(Conn& c) {
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
  bool try_direct(ConnId conn, Response& res) {
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

  void queue_response(Conn& c, const Response& res, bool streaming) {
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

  void append_chunk(Conn& c, const std::string& data) {
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
  void finish_exchange(Conn& c) {
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
  bool flush(Conn& c) {
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

  void close_conn(ConnId id) {
    auto it = conns.find(id);
    if (it == conns.end()) return;
    std::unique_ptr<Conn> c = std::move(it->second);
    conns.erase(it);
    revoke_direct(*c);  // waits for a worker writing on it
    ::epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, nullptr);
    ::close(c->fd);
    auto pp = per_peer.find(c->peer);
    if (pp != per_peer.end() && --pp->second == 0) per_peer.erase(pp);
    if (c->body_reserved) body_bytes -= c->body_reserved;
    {
      std::lock_guard<std::mutex> lk(stats_mu);
      st.connections = conns.size();
    }
    for (auto& fn : c->done)
      if (fn) fn();
  }

  // ------------------------------------------------------------ deadlines
  void sweep(Clk::time_point now) {
    std::vector<std::pair<ConnId, int>> expired;  // 0 = close silently, 408 = answer then close
    for (auto& [id, cp] : conns) {
      Conn& c = *cp;
      bool writing = c.out.size() > c.out_off;
      if (writing && now - c.last_write > lim.write_timeout) {
        expired.emplace_back(id, 0);
        continue;
      }
      switch (c.phase) {
        case Phase::wait:
          if (!writing && now - c.phase_start > lim.idle_timeout) expired.emplace_back(id, 0);
          break;
        case Phase::head:
          if (now - c.phase_start > lim.header_timeout) expired.emplace_back(id, 408);
          break;
        case Phase::body:
          if (now - c.phase_start > lim.body_timeout) expired.emplace_back(id, 408);
          break;
        case Phase::linger:
          if (now - c.phase_start > lim.linger_timeout + (writing ? lim.write_timeout : std::chrono::milliseconds(0)))
            expired.emplace_back(id, 0);
          break;
        case Phase::stream:
          if (!writing && now - c.last_write > std::chrono::seconds(15)) {  // SSE comment: finds clients that left
            append_chunk(c, ": keep-alive\n\n");
            flush(c);
          }
          break;
        case Phase::busy: break;
      }
    }
    for (auto& [id, what] : expired) {
      Conn* c = find(id);
      if (!c) continue;
      if (what == 408) {
        answer_error(*c, 408, c->phase == Phase::head ? "Request Timeout: the header block took too long"
                                                      : "Request Timeout: the body took too long");
      } else {
        close_conn(id);
      }
    }
  }
};

Front::Front(HttpLimits limits, size_t max_body_bytes, size_t workers, Precheck precheck, Handler handler)
    : impl_(std::make_unique<Impl>(limits, max_body_bytes, workers, std::move(precheck), std::move(handler))) {}
Front::~Front() { stop(); }
Status Front::start(const std::string& host, int port) { return impl_->start(host, port); }
int Front::port() const { return impl_->bound_port; }
void Front::stop() { impl_->stop(); }
void Front::respond(ConnId conn, Response res) {
  if (impl_->try_direct(conn, res)) return;
  impl_->post(Op{Op::respond, conn, std::move(res), {}, false, {}});
}
void Front::stream_begin(ConnId conn, Response head) { impl_->post(Op{Op::begin, conn, std::move(head), {}, false, {}}); }
void Front::stream_write(ConnId conn, std::string data, bool droppable) {
  impl_->post(Op{Op::write, conn, {}, std::move(data), droppable, {}});
}
void Front::stream_end(ConnId conn) { impl_->post(Op{Op::end, conn, {}, {}, false, {}}); }
void Front::on_done(ConnId conn, std::function<void()> fn) {
  if (impl_->stopping) {  // the loop may be gone: nothing will end this exchange later
    if (fn) fn();
    return;
  }
  impl_->post(Op{Op::done, conn, {}, {}, false, std::move(fn)});
}
Front::Stats Front::stats() const {
  std::lock_guard<std::mutex> lk(impl_->stats_mu);
  return impl_->st;
}

}  // namespace sw::transport::http1
