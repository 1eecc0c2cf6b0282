// Fetcher, the connection: resolve-once (getaddrinfo on a helper thread, bounded by the deadline and cancellation)
// and the SSRF guard on every resolved address; Wire, one non-blocking TCP connection to the checked address, plain
// or OpenSSL TLS, every wait polling the deadline and `cancelled` every 20 ms. TLS: certificate chain against the
// system store or Options::ca_file, host name (or IP) checked by OpenSSL (X509_VERIFY_PARAM), SNI = the URL's
// host; the TCP connection goes to the address the guard checked, so DNS rebinding has no window.
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>

#include "fetch/internal.h"

namespace sw::fetch {

using detail::AllowList;
using detail::Ip;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// internal.h declares Wire without OpenSSL's headers: its struct tags stand for SSL/SSL_CTX, and 0 for X509_V_OK.
static_assert(std::is_same_v<SSL, ::ssl_st> && std::is_same_v<SSL_CTX, ::ssl_ctx_st> && X509_V_OK == 0);

namespace {

// ---------- DNS ----------

struct DnsJob {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  int rc = 0;
  std::vector<std::string> addrs;
};

void run_getaddrinfo(const std::string& host, DnsJob& job) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;  // no AI_ADDRCONFIG: it hides ::1/127.0.0.1 on hosts with only loopback
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  std::vector<std::string> out;
  if (rc == 0) {
    for (auto* p = res; p; p = p->ai_next) {
      Ip ip;
      if (p->ai_family == AF_INET) {
        const auto* sa = reinterpret_cast<const sockaddr_in*>(p->ai_addr);
        std::memcpy(ip.b.data(), &sa->sin_addr, 4);
      } else if (p->ai_family == AF_INET6) {
        const auto* sa = reinterpret_cast<const sockaddr_in6*>(p->ai_addr);
        ip.v6 = true;
        std::memcpy(ip.b.data(), &sa->sin6_addr, 16);
      } else {
        continue;
      }
      out.push_back(detail::ip_to_string(ip));
    }
    freeaddrinfo(res);
  }
  std::lock_guard<std::mutex> lk(job.m);
  job.rc = rc;
  job.addrs = std::move(out);
  job.done = true;
  job.cv.notify_all();
}

// getaddrinfo cannot be interrupted, so it runs on a detached thread while we wait for it, the deadline or
// cancellation (the thread finishes on its own and only touches the shared job).
Result<std::vector<std::string>> resolve(const std::string& host, const Options& o, SteadyClock::time_point deadline,
                                         const std::function<bool()>& cancelled) {
  std::vector<std::string> addrs;
  if (o.resolver) {
    auto r = o.resolver(host);
    if (!r) return make_error("DNS_FAILED", "could not resolve host '" + host + "': " + r.error().message);
    addrs = *r;
  } else {
    auto job = std::make_shared<DnsJob>();
    try {
      std::thread([job, host] { run_getaddrinfo(host, *job); }).detach();
    } catch (...) {
      run_getaddrinfo(host, *job);  // no thread available: resolve inline
    }
    std::unique_lock<std::mutex> lk(job->m);
    while (!job->done) {
      job->cv.wait_for(lk, milliseconds(20));
      if (job->done) break;
      if (cancelled && cancelled()) return make_error("CANCELLED", "cancelled while resolving host '" + host + "'");
      if (SteadyClock::now() >= deadline)
        return make_error("TIMEOUT", "timed out resolving host '" + host + "'", json{{"host", host}});
    }
    if (job->rc != 0)
      return make_error("DNS_FAILED", "could not resolve host '" + host + "': " + gai_strerror(job->rc),
                        json{{"host", host}});
    addrs = job->addrs;
  }
  std::vector<std::string> uniq;
  for (auto& a : addrs) {
    auto ip = detail::parse_ip(a);
    if (!ip) return make_error("DNS_FAILED", "resolver returned a non-address for host '" + host + "'");
    std::string canon = detail::ip_to_string(*ip);
    bool seen = false;
    for (const auto& u : uniq) seen = seen || u == canon;
    if (!seen) uniq.push_back(canon);
  }
  if (uniq.empty()) return make_error("DNS_FAILED", "host '" + host + "' has no addresses", json{{"host", host}});
  return uniq;
}

}  // namespace

namespace detail {

// The SSRF guard: every address must be public or allow-listed (unless the host itself is allow-listed).
Result<std::vector<std::string>> checked_addresses(const Url& url, const Options& o, const AllowList& allow,
                                                   SteadyClock::time_point deadline,
                                                   const std::function<bool()>& cancelled) {
  std::vector<std::string> addrs;
  if (url.host_is_ip) {
    addrs.push_back(url.host);
  } else {
    auto r = resolve(url.host, o, deadline, cancelled);
    if (!r) return r.error();
    addrs = std::move(*r);
  }
  if (allow.allows_host(url.host)) return addrs;
  for (const auto& a : addrs) {
    Ip ip = *detail::parse_ip(a);
    if (allow.allows_address(ip)) continue;
    AddressClass c = detail::classify(ip);
    if (!c.forbidden) continue;
    std::string msg = url.host_is_ip ? "address " + a + " is " + c.name + "; refused"
                                     : "host '" + url.host + "' resolves to " + a + " (" + c.name + "); refused";
    return make_error("URL_FORBIDDEN", msg + " (only public addresses unless allow-listed)",
                      json{{"host", url.host}, {"address", a}, {"class", c.name}});
  }
  return addrs;
}

Wire::~Wire() {
  if (ssl_) SSL_free(ssl_);
  if (ctx_) SSL_CTX_free(ctx_);
  if (fd_ >= 0) ::close(fd_);
}

Wire::Wait Wire::wait(short events, milliseconds op_timeout) {
  const auto op_end = SteadyClock::now() + op_timeout;
  for (;;) {
    if (cancelled_ && cancelled_()) return Wait::cancelled;
    auto now = SteadyClock::now();
    if (now >= deadline_) return Wait::deadline;
    // An operation timeout clamped to the deadline is the deadline.
    if (now >= op_end) return deadline_ - now <= milliseconds(5) ? Wait::deadline : Wait::timeout;
    auto slice = std::min({milliseconds(20), std::chrono::duration_cast<milliseconds>(op_end - now) + milliseconds(1),
                           std::chrono::duration_cast<milliseconds>(deadline_ - now) + milliseconds(1)});
    pollfd p{fd_, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(slice.count()));
    if (n > 0) return Wait::ready;
    if (n < 0 && errno != EINTR) return Wait::ready;  // let the next I/O call report the error
  }
}

Wire::Wait Wire::connect(const std::string& ip, uint16_t port, milliseconds timeout) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto parsed = detail::parse_ip(ip);
  if (parsed && !parsed->v6) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    std::memcpy(&a->sin_addr, parsed->b.data(), 4);
    len = sizeof(sockaddr_in);
  } else if (parsed) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    std::memcpy(&a->sin6_addr, parsed->b.data(), 16);
    len = sizeof(sockaddr_in6);
  } else {
    err_ = EINVAL;
    return Wait::ready;
  }
  fd_ = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    err_ = errno;
    return Wait::ready;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&ss), len) == 0) return Wait::ready;
  if (errno != EINPROGRESS) {
    err_ = errno;
    return Wait::ready;
  }
  auto w = wait(POLLOUT, timeout);
  if (w != Wait::ready) return w;
  int so = 0;
  socklen_t sl = sizeof so;
  ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &so, &sl);
  err_ = so;
  return Wait::ready;
}

Wire::TlsOutcome Wire::tls(const Url& url, const Options& o, milliseconds timeout) {
  TlsOutcome out;
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (!ctx_) return out;
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  int loaded = o.ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx_)
                                 : SSL_CTX_load_verify_locations(ctx_, o.ca_file.c_str(), nullptr);
  if (loaded != 1) {
    out.ca_failed = true;
    return out;
  }
  ssl_ = SSL_new(ctx_);
  if (!ssl_) return out;
  SSL_set_fd(ssl_, fd_);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
  if (url.host_is_ip) {
    X509_VERIFY_PARAM_set1_ip_asc(param, url.host.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl_, url.host.c_str());
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    X509_VERIFY_PARAM_set1_host(param, url.host.c_str(), 0);
  }
  const auto end = SteadyClock::now() + timeout;
  for (;;) {
    ERR_clear_error();
    int rc = SSL_connect(ssl_);
    if (rc == 1) {
      out.ok = true;
      return out;
    }
    int e = SSL_get_error(ssl_, rc);
    short ev = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    if (!ev) {
      out.verify = SSL_get_verify_result(ssl_);
      return out;
    }
    auto left = std::chrono::duration_cast<milliseconds>(end - SteadyClock::now());
    auto w = wait(ev, std::max(left, milliseconds(0)));
    if (w != Wait::ready) {
      out.wait = w;
      return out;
    }
  }
}

Wire::Wait Wire::send_all(std::string_view data, milliseconds timeout) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n;
    short ev = POLLOUT;
    if (ssl_) {
      ERR_clear_error();
      int rc = SSL_write(ssl_, data.data() + off, static_cast<int>(std::min<size_t>(data.size() - off, 1 << 20)));
      if (rc > 0) {
        off += static_cast<size_t>(rc);
        continue;
      }
      int e = SSL_get_error(ssl_, rc);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        err_ = EPIPE;
        return Wait::ready;
      }
      ev = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
      n = -1;
    } else {
      n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n > 0) {
        off += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        err_ = errno;
        return Wait::ready;
      }
    }
    auto w = wait(ev, timeout);
    if (w != Wait::ready) return w;
  }
  return Wait::ready;
}

Wire::Wait Wire::recv_some(char* buf, size_t cap, size_t& n, milliseconds timeout) {
  n = 0;
  for (;;) {
    short ev = POLLIN;
    if (ssl_) {
      ERR_clear_error();
      int rc = SSL_read(ssl_, buf, static_cast<int>(cap));
      if (rc > 0) {
        n = static_cast<size_t>(rc);
        return Wait::ready;
      }
      int e = SSL_get_error(ssl_, rc);
      if (e == SSL_ERROR_ZERO_RETURN) return Wait::ready;
      if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) return Wait::ready;  // closed without close_notify
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        err_ = EPROTO;
        return Wait::ready;
      }
      ev = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
    } else {
      ssize_t r = ::recv(fd_, buf, cap, 0);
      if (r >= 0) {
        n = static_cast<size_t>(r);
        return Wait::ready;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        err_ = errno;
        return Wait::ready;
      }
    }
    auto w = wait(ev, timeout);
    if (w != Wait::ready) return w;
  }
}

}  // namespace detail

}  // namespace sw::fetch
