// The HTTP/1.1 front: see front.h. Everything a client can make the server hold is bounded here, before any
// request reaches MCP code: bytes per line, lines, header bytes, body bytes (per request and in total), time per
// phase, unsent bytes, connections (total and per client address).
// This file: the listener, the event loop and its workers, connection caps and eviction, deadlines. Reading and
// parsing requests: front_read.cpp; writing answers: front_write.cpp; the shared state: front_internal.h.
#include "transport/front.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "transport/front_internal.h"

namespace sw::transport::http1 {

using namespace detail;

namespace {

constexpr uint64_t kWakeId = ~uint64_t(0);

}  // namespace

// ---------------------------------------------------------------- workers (grow on demand up to max_workers)
void Front::Impl::submit(std::function<void()> fn) {
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

void Front::Impl::worker_main() {
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

// ---------------------------------------------------------------- mailbox
void Front::Impl::post(Op op) {
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

// ---------------------------------------------------------------- start / stop
Status Front::Impl::start(const std::string& host, int port) {
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

void Front::Impl::stop() {
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

// ---------------------------------------------------------------- the loop
void Front::Impl::run() {
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

void Front::Impl::on_event(ConnId id, uint32_t events) {
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

void Front::Impl::drain_mailbox() {
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

Conn* Front::Impl::find(ConnId id) {
  auto it = conns.find(id);
  return it == conns.end() ? nullptr : it->second.get();
}

void Front::Impl::apply(Op& op) {
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

// ---------------------------------------------------------------- accepting
void Front::Impl::accept_all() {
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

void Front::Impl::pause_accept() {
  accept_paused = true;
  accept_paused_until = Clk::now() + std::chrono::milliseconds(100);
  epoll_event e{};
  e.events = 0;
  e.data.u64 = 0;
  ::epoll_ctl(ep, EPOLL_CTL_MOD, listen_fd, &e);
}

void Front::Impl::refuse(int fd) {
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
bool Front::Impl::evict_one(const std::string& peer) {
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

void Front::Impl::close_conn(ConnId id) {
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

// ---------------------------------------------------------------- deadlines
void Front::Impl::sweep(Clk::time_point now) {
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
