// Fetcher: method/header checks, resolve-once + SSRF guard, our own HTTP/1.1 client (plain or OpenSSL TLS) to the
// checked address, bounded response head (line length, header count, total header bytes), body cap,
// timeouts/cancellation (every wait polls the deadline and `cancelled` every 20 ms), same-origin redirects.
// TLS: certificate chain against the system store or Options::ca_file, host name (or IP) checked by OpenSSL
// (X509_VERIFY_PARAM), SNI = the URL's host; the TCP connection goes to the address the guard checked, so DNS
// rebinding has no window. One request per connection (Connection: close); no compression is asked for.
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
#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include "fetch/internal.h"
#include "sw_version.h"

namespace sw::fetch {

using detail::AllowList;
using detail::Ip;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {


bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (!is_http_tchar(c)) return false;
  return true;
}

// Headers whose framing/routing meaning the fetcher owns; a caller setting them could smuggle requests.
bool is_managed_header(std::string_view name) {
  static const char* managed[] = {"host", "content-length", "transfer-encoding", "connection", "keep-alive",
                                  "upgrade", "te", "trailer", "proxy-connection", "expect"};
  for (const char* m : managed)
    if (ascii_iequals(name, m)) return true;
  return false;
}

Result<std::string> check_method(const std::string& method, const Options& o) {
  if (method.size() > 32 || !is_token(method))
    return make_error("METHOD_NOT_ALLOWED", "HTTP method is not a valid token (CR/LF and spaces are refused)");
  std::string upper(method);
  for (auto& c : upper)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  std::string list;
  for (const auto& m : o.allowed_methods) {
    if (ascii_iequals(m, upper)) return upper;
    list += (list.empty() ? "" : ", ") + m;
  }
  return make_error("METHOD_NOT_ALLOWED", "method " + upper + " is not allowed (allowed: " + list + ")",
                    json{{"method", upper}});
}

// Only names appear in messages; values may be credentials.
Status check_headers(const std::vector<std::pair<std::string, std::string>>& headers) {
  for (size_t i = 0; i < headers.size(); ++i) {
    const auto& [name, value] = headers[i];
    std::string where = "header #" + std::to_string(i + 1);
    if (!is_token(name) || name.size() > 256)
      return make_error("HEADER_INVALID", where + ": name is not a valid token (CR/LF, spaces and ':' are refused)");
    if (is_managed_header(name))
      return make_error("HEADER_INVALID", where + " (" + name + ") is set by the fetcher and cannot be overridden");
    if (value.size() > 16384) return make_error("HEADER_INVALID", where + " (" + name + "): value too long");
    for (unsigned char c : value)
      if ((c < 0x20 && c != '\t') || c == 0x7F)
        return make_error("HEADER_INVALID",
                          where + " (" + name + "): value contains control characters (CR, LF, NUL, ...)");
  }
  return ok_status();
}

Status check_options(const Options& o) {
  auto bad = [](const std::string& m) { return make_error("OPTIONS_INVALID", m); };
  if (o.connect_timeout.count() <= 0 || o.read_timeout.count() <= 0 || o.total_timeout.count() <= 0)
    return bad("timeouts must be positive");
  if (o.max_redirects < 0 || o.max_redirects > 20) return bad("max_redirects must be 0..20");
  if (o.max_header_line_bytes < 64 || o.max_headers == 0 || o.max_header_bytes < o.max_header_line_bytes)
    return bad("header limits must allow at least one 64-byte line");
  for (const auto& m : o.allowed_methods)
    if (!is_token(m)) return bad("allowed_methods contains an invalid method");
  return ok_status();
}

double ms_since(SteadyClock::time_point t) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - t).count();
}

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

milliseconds clamp_to(milliseconds want, SteadyClock::time_point deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - SteadyClock::now());
  if (left.count() < 1) left = milliseconds(1);
  return want < left ? want : left;
}

struct HopInput {
  const Url* url;
  std::string ip;
  std::string method;
  const std::vector<std::pair<std::string, std::string>>* headers;
  const std::string* body;
};

struct HopResult {
  std::optional<Error> error;
  bool connect_failed = false;  // nothing was sent: another address may be tried
  Response response;
};

std::string host_label(const Url& u, const std::string& ip) {
  std::string h = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
  h += ":" + std::to_string(u.port);
  if (ip != u.host) h += " (" + ip + ")";
  return h;
}

// One connection (plain or TLS) with every wait bounded by an operation timeout, the fetch's deadline and
// cancellation (polled every 20 ms).
class Wire {
 public:
  enum class Wait { ready, timeout, deadline, cancelled };
  Wire(SteadyClock::time_point deadline, const std::function<bool()>& cancelled)
      : deadline_(deadline), cancelled_(cancelled) {}
  ~Wire() {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }
  Wire(const Wire&) = delete;
  Wire& operator=(const Wire&) = delete;

  Wait wait(short events, milliseconds op_timeout) {
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

  // Connects to ip:port. ready = connected; else why not (errno in err_).
  Wait connect(const std::string& ip, uint16_t port, milliseconds timeout) {
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
  int error() const { return err_; }

  // TLS handshake with certificate and host-name verification. ready + ok=true on success.
  struct TlsOutcome {
    Wait wait = Wait::ready;
    bool ok = false;
    bool ca_failed = false;
    long verify = X509_V_OK;
  };
  TlsOutcome tls(const Url& url, const Options& o, milliseconds timeout) {
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

  // Sends everything. ready on success; timeout/deadline/cancelled; or ready with error() set.
  Wait send_all(std::string_view data, milliseconds timeout) {
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

  // Reads some bytes into buf (at most cap). ready with n > 0 = data; n == 0 = EOF; error() set on failure.
  Wait recv_some(char* buf, size_t cap, size_t& n, milliseconds timeout) {
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

 private:
  SteadyClock::time_point deadline_;
  const std::function<bool()>& cancelled_;
  int fd_ = -1;
  int err_ = 0;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

// Reading a response: bytes arrive into `buf`; the head is parsed with bounded lines, count and size, then the
// body is framed (Content-Length, chunked, or until the connection closes) and capped.
struct ResponseReader {
  Wire& wire;
  milliseconds read_timeout;
  std::string buf;
  size_t pos = 0;
  bool eof = false;
  std::optional<Wire::Wait> stopped;  // timeout / deadline / cancelled
  int io_error = 0;

  // More bytes (at most 16 KiB per call). False at EOF, error or stop.
  bool more() {
    if (pos > 0 && pos == buf.size()) {
      buf.clear();
      pos = 0;
    }
    char tmp[16384];
    size_t n = 0;
    auto w = wire.recv_some(tmp, sizeof tmp, n, read_timeout);
    if (w != Wire::Wait::ready) {
      stopped = w;
      return false;
    }
    if (wire.error()) {
      io_error = wire.error();
      return false;
    }
    if (n == 0) {
      eof = true;
      return false;
    }
    buf.append(tmp, n);
    return true;
  }

  // One line (CRLF or LF stripped) of at most `limit` bytes. nullopt: EOF/error/stop, or `too_long` set.
  std::optional<std::string> line(size_t limit, bool& too_long) {
    size_t scanned = 0;  // relative to pos (more() may move the unconsumed bytes to the front)
    for (;;) {
      auto nl = buf.find('\n', pos + scanned);
      if (nl != std::string::npos) {
        if (nl - pos > limit + 1) {
          too_long = true;
          return std::nullopt;
        }
        std::string l = buf.substr(pos, nl - pos);
        pos = nl + 1;
        if (!l.empty() && l.back() == '\r') l.pop_back();
        return l;
      }
      if (buf.size() - pos > limit + 1) {
        too_long = true;
        return std::nullopt;
      }
      scanned = buf.size() - pos;
      if (!more()) return std::nullopt;
    }
  }
};

}  // namespace

namespace detail {

ResponseHeadParser::State ResponseHeadParser::fail(std::string message, bool limit) {
  message_ = std::move(message);
  limit_hit_ = limit;
  return State::error;
}

ResponseHeadParser::State ResponseHeadParser::feed(std::string_view buf) {
  for (;;) {
    size_t nl = buf.find('\n', std::max(pos_, scan_));
    if (nl == std::string_view::npos) {
      scan_ = buf.size();
      if (buf.size() - pos_ > max_line_ + 1)
        return fail(std::string(in_headers_ ? "a header line" : "a status line") + " longer than " +
                        std::to_string(max_line_) + " bytes", true);
      return State::need_more;
    }
    std::string_view line = buf.substr(pos_, nl - pos_);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > max_line_)
      return fail(std::string(in_headers_ ? "a header line" : "a status line") + " longer than " +
                      std::to_string(max_line_) + " bytes", true);
    pos_ = nl + 1;
    scan_ = pos_;
    if (!in_headers_) {
      // "HTTP/1.x SP 3DIGIT [SP reason]"
      auto digit = [&](size_t i) { return std::isdigit(static_cast<unsigned char>(line[i])) != 0; };
      if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[8] != ' ' || !digit(9) || !digit(10) ||
          !digit(11) || (line.size() > 12 && line[12] != ' '))
        return fail("not an HTTP/1.x status line", false);
      status_ = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
      headers_.clear();
      in_headers_ = true;
      continue;
    }
    if (line.empty()) {
      if (status_ >= 200 || status_ == 101) return State::done;
      if (++interim_ > 10) return fail("too many interim responses", false);
      in_headers_ = false;  // an interim 1xx: the real response follows
      continue;
    }
    head_bytes_ += line.size() + 2;
    if (head_bytes_ > max_bytes_)
      return fail("header lines totalling more than " + std::to_string(max_bytes_) + " bytes", true);
    if (headers_.size() >= max_headers_) return fail("more than " + std::to_string(max_headers_) + " header lines", true);
    if (line[0] == ' ' || line[0] == '\t') return fail("folded header line", false);
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0 || !is_token(line.substr(0, colon)))
      return fail("malformed header line", false);
    std::string_view v = line.substr(colon + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    // RFC 9110 §5.5: a value with CR or NUL (LF cannot occur here) is invalid; the recipient rejects or rewrites
    // it. Rejected: such a header never reaches the challenge parsers or the agent.
    if (v.find_first_of(std::string_view("\r\0", 2)) != std::string_view::npos)
      return fail("a header value with a CR or NUL character", false);
    headers_.emplace_back(ascii_lower(line.substr(0, colon)), std::string(v));
  }
}

}  // namespace detail

namespace {

HopResult do_hop(const HopInput& in, const Options& o, SteadyClock::time_point deadline,
                 const std::function<bool()>& cancelled) {
  HopResult out;
  const Url& url = *in.url;
  const bool https = url.scheme == "https";
  const std::string where = host_label(url, in.ip);
  json d{{"host", url.host}, {"address", in.ip}};
  Wire wire(deadline, cancelled);
  // A stop (timeout / deadline / cancel) as an error.
  auto stopped = [&](Wire::Wait w, const std::string& while_doing, const std::string& timeout_msg) {
    if (w == Wire::Wait::cancelled) return make_error("CANCELLED", "request to " + where + " cancelled");
    if (w == Wire::Wait::deadline)
      return make_error("TIMEOUT", "total timeout of " + std::to_string(o.total_timeout.count()) + " ms exceeded (" +
                                       where + ", " + while_doing + ")");
    return make_error("TIMEOUT", timeout_msg, d);
  };

  // 1. Connect (and TLS), within the connect timeout.
  const milliseconds connect_timeout = clamp_to(o.connect_timeout, deadline);
  auto w = wire.connect(in.ip, url.port, connect_timeout);
  if (w == Wire::Wait::timeout) {
    out.connect_failed = true;
    out.error = make_error("UNREACHABLE", "connecting to " + where + " timed out", d);
    return out;
  }
  if (w != Wire::Wait::ready) {
    out.error = stopped(w, "connecting", "");
    return out;
  }
  if (wire.error()) {
    out.connect_failed = true;
    d["errno"] = std::strerror(wire.error());
    out.error = make_error("UNREACHABLE", "could not connect to " + where + " (refused or unreachable)", d);
    return out;
  }
  if (https) {
    auto t = wire.tls(url, o, clamp_to(o.connect_timeout, deadline));
    if (t.wait == Wire::Wait::timeout) {
      out.error = make_error("TLS_FAILED", "TLS handshake with " + where + " timed out", d);
      return out;
    }
    if (t.wait != Wire::Wait::ready) {
      out.error = stopped(t.wait, "TLS handshake", "");
      return out;
    }
    if (t.ca_failed) {
      out.error = make_error("TLS_FAILED",
                             std::string("could not load CA certificates") +
                                 (o.ca_file.empty() ? " (system store)" : " from the configured ca_file") + " for " +
                                 where, d);
      return out;
    }
    if (!t.ok) {
      if (t.verify != X509_V_OK) {
        std::string why = (t.verify == X509_V_ERR_HOSTNAME_MISMATCH || t.verify == X509_V_ERR_IP_ADDRESS_MISMATCH)
                              ? "certificate does not match host name '" + url.host + "'"
                              : X509_verify_cert_error_string(t.verify);
        d["verify_result"] = t.verify;
        out.error = make_error("TLS_FAILED", "certificate verification failed for " + where + ": " + why, d);
      } else {
        out.error = make_error("TLS_FAILED", "TLS handshake with " + where + " failed", d);
      }
      return out;
    }
  }

  // 2. The request. Headers are sent as given (checked by check_headers); framing headers are ours.
  std::string req = in.method + " " + url.target + " HTTP/1.1\r\n";
  std::string host_hdr = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  if (!((url.scheme == "http" && url.port == 80) || (url.scheme == "https" && url.port == 443)))
    host_hdr += ":" + std::to_string(url.port);
  req += "Host: " + host_hdr + "\r\n";
  bool has_ua = false, has_accept = false;
  for (const auto& [k, v] : *in.headers) {
    has_ua = has_ua || ascii_iequals(k, "user-agent");
    has_accept = has_accept || ascii_iequals(k, "accept");
    req += k + ": " + v + "\r\n";
  }
  if (!has_ua) req += "User-Agent: " + (o.user_agent.empty() ? std::string("satwarden/" SW_VERSION) : o.user_agent) + "\r\n";
  if (!has_accept) req += "Accept: */*\r\n";
  const bool body_method = in.method == "POST" || in.method == "PUT" || in.method == "PATCH";
  if (!in.body->empty() || body_method) req += "Content-Length: " + std::to_string(in.body->size()) + "\r\n";
  req += "Connection: close\r\n\r\n";
  req += *in.body;
  const milliseconds read_timeout = clamp_to(o.read_timeout, deadline);
  w = wire.send_all(req, read_timeout);
  if (w != Wire::Wait::ready) {
    out.error = stopped(w, "sending the request", "sending the request to " + where + " timed out");
    return out;
  }
  if (wire.error()) {
    out.error = make_error("UNREACHABLE", "connection to " + where + " lost while sending the request", d);
    return out;
  }

  // 3. The response head, bounded: each line, the number of header lines and their total size.
  ResponseReader rd{wire, read_timeout, {}, 0, false, std::nullopt, 0};
  auto read_failed = [&](const std::string& doing) -> Error {
    if (rd.stopped)
      return stopped(*rd.stopped, doing,
                     "no response from " + where + " within the read timeout of " + std::to_string(o.read_timeout.count()) +
                         " ms");
    return make_error("BAD_RESPONSE", "connection closed or invalid HTTP response from " + where + " (" + doing + ")", d);
  };
  auto too_big = [&](const std::string& what) {
    d["limit"] = what;
    return make_error("BAD_RESPONSE", "the response from " + where + " has " + what +
                                          "; it was refused without reading further", d);
  };
  Response& r = out.response;
  detail::ResponseHeadParser head(o.max_header_line_bytes, o.max_headers, o.max_header_bytes);
  for (;;) {
    auto st = head.feed(rd.buf);
    if (st == detail::ResponseHeadParser::State::done) break;
    if (st == detail::ResponseHeadParser::State::error) {
      if (head.limit_hit()) {
        d["limit"] = head.message();
        out.error = make_error("BAD_RESPONSE", "the response from " + where + " has " + head.message() +
                                                   "; it was refused without reading further", d);
      } else {
        out.error = make_error("BAD_RESPONSE", "invalid HTTP response from " + where + " (" + head.message() + ")", d);
      }
      return out;
    }
    if (!rd.more()) {
      out.error = read_failed(head.consumed() == 0 ? "reading the status line" : "reading the headers");
      return out;
    }
  }
  rd.pos = head.consumed();
  r.status = head.status();
  r.headers = head.headers();

  // 4. The body, capped at max_body_bytes: Content-Length, chunked, or until the connection closes.
  std::string body;
  bool truncated = false;
  const size_t cap = o.max_body_bytes;
  auto take = [&](std::string_view data) {  // false once the cap is reached
    size_t room = cap - body.size();
    if (data.size() > room) {
      body.append(data.substr(0, room));
      truncated = true;
      return false;
    }
    body.append(data);
    return true;
  };
  const bool no_body = in.method == "HEAD" || r.status == 204 || r.status == 304 || r.status < 200;
  std::string te = ascii_lower(r.header("transfer-encoding").value_or(""));
  auto cls = r.header_values("content-length");
  if (!no_body && te.find("chunked") != std::string::npos) {
    for (bool go = true; go;) {
      bool too_long = false;
      auto size_line = rd.line(1024, too_long);
      if (!size_line) {
        out.error = too_long ? too_big("a chunk-size line longer than 1024 bytes") : read_failed("reading the body");
        return out;
      }
      std::string hex = size_line->substr(0, size_line->find(';'));
      while (!hex.empty() && (hex.back() == ' ' || hex.back() == '\t')) hex.pop_back();
      if (hex.empty() || hex.size() > 15 || !std::all_of(hex.begin(), hex.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); })) {
        out.error = make_error("BAD_RESPONSE", "invalid HTTP response from " + where + " (bad chunk size)", d);
        return out;
      }
      size_t left = std::stoull(hex, nullptr, 16);
      if (left == 0) break;  // trailers are not read: the connection closes anyway
      while (left > 0) {
        if (rd.pos == rd.buf.size() && !rd.more()) {
          out.error = read_failed("reading the body");
          return out;
        }
        size_t n = std::min(left, rd.buf.size() - rd.pos);
        go = take(std::string_view(rd.buf).substr(rd.pos, n));
        rd.pos += n;
        left -= n;
        if (!go) break;
      }
      if (!go) break;
      auto crlf = rd.line(2, too_long);
      if (!crlf || !crlf->empty()) {
        out.error = make_error("BAD_RESPONSE", "invalid HTTP response from " + where + " (bad chunk framing)", d);
        return out;
      }
    }
  } else if (!no_body && !cls.empty()) {
    const std::string& cl = cls.front();
    for (const auto& other : cls)
      if (other != cl) {
        out.error = make_error("BAD_RESPONSE", "invalid HTTP response from " + where + " (conflicting Content-Length)", d);
        return out;
      }
    if (cl.empty() || cl.size() > 18 || !std::all_of(cl.begin(), cl.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      out.error = make_error("BAD_RESPONSE", "invalid HTTP response from " + where + " (bad Content-Length)", d);
      return out;
    }
    size_t left = std::stoull(cl);
    while (left > 0) {
      if (rd.pos == rd.buf.size() && !rd.more()) {
        out.error = read_failed("reading the body");
        return out;
      }
      size_t n = std::min(left, rd.buf.size() - rd.pos);
      bool go = take(std::string_view(rd.buf).substr(rd.pos, n));
      rd.pos += n;
      left -= n;
      if (!go) break;
    }
  } else if (!no_body) {
    for (;;) {
      if (rd.pos < rd.buf.size()) {
        bool go = take(std::string_view(rd.buf).substr(rd.pos));
        rd.pos = rd.buf.size();
        if (!go) break;
      }
      if (!rd.more()) {
        if (rd.stopped || rd.io_error) {
          out.error = read_failed("reading the body");
          return out;
        }
        break;  // EOF ends the body
      }
    }
  }

  r.content_type = r.header("content-type").value_or("");
  r.body = std::move(body);
  r.truncated = truncated;
  r.remote_ip = in.ip;
  r.url = url.to_string();
  return out;
}

bool is_followable(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

}  // namespace

Result<Response> Fetcher::fetch(const Request& request, const Options& options,
                                std::function<bool()> cancelled) const {
  const auto start = SteadyClock::now();
  const auto deadline = start + options.total_timeout;
  if (cancelled && cancelled()) return make_error("CANCELLED", "cancelled before start");
  if (auto st = check_options(options); !st) return st.error();
  auto allow = AllowList::parse(options.allow);
  if (!allow) return allow.error();
  auto method = check_method(request.method, options);
  if (!method) return method.error();
  if (auto st = check_headers(request.headers); !st) return st.error();
  auto parsed = parse_url(request.url);
  if (!parsed) return parsed.error();
  Url url = std::move(*parsed);

  auto addrs = checked_addresses(url, options, *allow, deadline, cancelled);
  if (!addrs) return addrs.error();

  std::string cur_method = *method;
  std::vector<std::pair<std::string, std::string>> headers = request.headers;
  std::string body = request.body;
  int redirects = 0;
  while (true) {
    HopResult hop;
    for (size_t i = 0; i < addrs->size(); ++i) {
      HopInput in{&url, (*addrs)[i], cur_method, &headers, &body};
      hop = do_hop(in, options, deadline, cancelled);
      if (!hop.error || !hop.connect_failed || SteadyClock::now() >= deadline) break;
    }
    if (hop.error) {
      log(LogLevel::debug, "fetch", cur_method + " " + url.origin() + " failed: " + hop.error->code);
      return *hop.error;
    }
    Response& r = hop.response;
    log(LogLevel::debug, "fetch", cur_method + " " + url.origin() + " -> " + std::to_string(r.status));

    if (options.redirects == RedirectPolicy::same_origin && is_followable(r.status) &&
        redirects < options.max_redirects) {
      auto loc = r.header("location");
      if (loc) {
        auto next = resolve_url(url, *loc);
        if (next && next->scheme == url.scheme && next->host == url.host && next->port == url.port) {
          // 303 (and, as browsers do, 301/302 after POST) continue as GET without the body.
          bool to_get = cur_method != "HEAD" &&
                        (r.status == 303 || ((r.status == 301 || r.status == 302) && cur_method == "POST"));
          if (to_get) {
            cur_method = "GET";
            body.clear();
            std::vector<std::pair<std::string, std::string>> kept;
            for (auto& h : headers)
              if (!ascii_iequals(h.first, "content-type")) kept.push_back(h);
            headers = std::move(kept);
          }
          url = std::move(*next);
          ++redirects;
          if (cancelled && cancelled()) return make_error("CANCELLED", "cancelled while following a redirect");
          if (SteadyClock::now() >= deadline)
            return make_error("TIMEOUT", "total timeout of " + std::to_string(options.total_timeout.count()) +
                                             " ms exceeded while following redirects");
          continue;  // same host: keep using the addresses checked above (no new lookup)
        }
      }
    }
    r.redirects = redirects;
    r.elapsed_ms = ms_since(start);
    return std::move(r);
  }
}

}  // namespace sw::fetch
