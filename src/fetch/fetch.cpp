// Fetcher: method/header checks, resolve-once + SSRF guard, pinned connection via cpp-httplib, body cap,
// timeouts/cancellation, same-origin redirects.
//
// cpp-httplib 0.11.4 facts this relies on (checked against its source):
//  * ClientImpl::create_client_socket() looks host_ up in addr_map_ (set_hostname_addr_map) and, when present,
//    connects to that IP (getaddrinfo with AI_NUMERICHOST) — no name lookup; host_ is still used for the Host
//    header, SNI (SSL_set_tlsext_host_name) and certificate host verification.
//  * With a content_receiver set, the body goes only to the receiver; returning false aborts with Error::Canceled
//    after status and headers were stored in our Response.
//  * ClientImpl::stop() shuts the socket down from another thread (it waits for socket_mutex_, which send_ holds
//    during connect/TLS handshake, so it takes effect once those — bounded by the connect timeout — finish).
//  * Proxies are never configured here, so addr_map_ is never bypassed.
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include <httplib.h>

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

void split_ms(milliseconds d, time_t& sec, time_t& usec) {
  if (d.count() < 1) d = milliseconds(1);
  sec = static_cast<time_t>(d.count() / 1000);
  usec = static_cast<time_t>((d.count() % 1000) * 1000);
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

HopResult do_hop(const HopInput& in, const Options& o, SteadyClock::time_point deadline,
                 const std::function<bool()>& cancelled) {
  HopResult out;
  const Url& url = *in.url;
  const bool https = url.scheme == "https";
  std::unique_ptr<httplib::ClientImpl> cli;
  httplib::SSLClient* ssl = nullptr;
  if (https) {
    auto s = std::make_unique<httplib::SSLClient>(url.host, url.port);
    ssl = s.get();
    cli = std::move(s);
  } else {
    cli = std::make_unique<httplib::ClientImpl>(url.host, url.port);
  }
  cli->set_hostname_addr_map({{url.host, in.ip}});
  cli->set_keep_alive(false);
  cli->set_follow_location(false);  // redirects are decided (and re-checked) here, never inside httplib
  cli->set_url_encode(false);       // the target was encoded by parse_url; httplib would turn '+' into %2B
  cli->set_decompress(false);       // never inflate: the body cap must bound what we hold, not what we read
  cli->set_compress(false);
  time_t sec = 0, usec = 0;
  split_ms(clamp_to(o.connect_timeout, deadline), sec, usec);
  cli->set_connection_timeout(sec, usec);
  const milliseconds read_timeout = clamp_to(o.read_timeout, deadline);
  split_ms(read_timeout, sec, usec);
  cli->set_read_timeout(sec, usec);
  cli->set_write_timeout(sec, usec);
  if (https) {
    cli->enable_server_certificate_verification(true);
    if (!o.ca_file.empty()) cli->set_ca_cert_path(o.ca_file);
  }

  httplib::Request req;
  req.method = in.method;
  req.path = url.target;
  bool has_ua = false;
  for (const auto& [k, v] : *in.headers) {
    has_ua = has_ua || ascii_iequals(k, "user-agent");
    req.headers.emplace(k, v);
  }
  if (!has_ua) req.headers.emplace("User-Agent", o.user_agent.empty() ? "satwarden/" SW_VERSION : o.user_agent);
  req.body = *in.body;

  // State shared with the watchdog thread and httplib callbacks.
  enum : int { kRunning = 0, kCancelled = 1, kDeadline = 2 };
  std::atomic<int> stop_reason{kRunning};
  std::atomic<int64_t> last_activity{SteadyClock::now().time_since_epoch().count()};
  auto touch = [&] { last_activity.store(SteadyClock::now().time_since_epoch().count()); };
  std::string body;
  bool truncated = false;
  const size_t cap = o.max_body_bytes;

  req.response_handler = [&](const httplib::Response&) {
    touch();
    return stop_reason.load() == kRunning;
  };
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    touch();
    if (stop_reason.load() != kRunning) return false;
    size_t room = cap - body.size();
    if (n > room) {
      body.append(data, room);
      truncated = true;
      return false;  // stop reading: never hold more than the cap
    }
    body.append(data, n);
    return true;
  };

  std::mutex wm;
  std::condition_variable wcv;
  bool finished = false;
  std::thread watchdog;
  try {
    watchdog = std::thread([&] {
      std::unique_lock<std::mutex> lk(wm);
      while (!finished) {
        wcv.wait_for(lk, milliseconds(20));
        if (finished) break;
        int reason = kRunning;
        if (cancelled && cancelled())
          reason = kCancelled;
        else if (SteadyClock::now() >= deadline)
          reason = kDeadline;
        if (reason != kRunning) {
          int expected = kRunning;
          stop_reason.compare_exchange_strong(expected, reason);
          lk.unlock();
          cli->stop();  // repeated every tick: a stop() during connect has nothing to shut down yet
          lk.lock();
        }
      }
    });
  } catch (...) {
    // No watchdog: connect/read timeouts (clamped to the deadline) still bound the request.
  }
  auto join = [&] {
    {
      std::lock_guard<std::mutex> lk(wm);
      finished = true;
    }
    wcv.notify_all();
    if (watchdog.joinable()) watchdog.join();
  };

  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  bool ok = false;
  try {
    ok = cli->send(req, res, err);
  } catch (...) {
    join();
    out.error = make_error("BAD_RESPONSE", "invalid HTTP response from " + host_label(url, in.ip));
    return out;
  }
  join();

  const std::string where = host_label(url, in.ip);
  if (stop_reason.load() == kCancelled) {
    out.error = make_error("CANCELLED", "request to " + where + " cancelled");
    return out;
  }
  // httplib's own timeouts are clamped to the deadline, so they may fire just before the watchdog does.
  const bool past_deadline = SteadyClock::now() + milliseconds(5) >= deadline;
  const bool timeout_error = err == httplib::Error::Read || err == httplib::Error::Write ||
                             err == httplib::Error::ConnectionTimeout || err == httplib::Error::SSLConnection;
  if (stop_reason.load() == kDeadline || (!ok && !truncated && past_deadline && timeout_error)) {
    out.error = make_error("TIMEOUT", "total timeout of " + std::to_string(o.total_timeout.count()) +
                                          " ms exceeded (" + where + ")");
    return out;
  }
  if (!ok && !truncated) {
    using E = httplib::Error;
    auto silent_ms = std::chrono::duration_cast<milliseconds>(
        SteadyClock::now().time_since_epoch() - SteadyClock::duration(last_activity.load()));
    json d{{"host", url.host}, {"address", in.ip}, {"httplib_error", httplib::to_string(err)}};
    switch (err) {
      case E::Connection:
      case E::BindIPAddress:
        out.connect_failed = true;
        out.error = make_error("UNREACHABLE", "could not connect to " + where + " (refused or unreachable)", d);
        break;
      case E::ConnectionTimeout:
        out.connect_failed = true;
        out.error = make_error("UNREACHABLE", "connecting to " + where + " timed out", d);
        break;
      case E::Read:
        // httplib reports a read timeout, a closed connection and a malformed response all as Error::Read;
        // a silence at least (almost) as long as the read timeout can only be the timeout.
        if (silent_ms.count() * 10 >= read_timeout.count() * 9)
          out.error = make_error("TIMEOUT", "no response from " + where + " within the read timeout of " +
                                                std::to_string(o.read_timeout.count()) + " ms", d);
        else
          out.error = make_error("BAD_RESPONSE", "connection closed or invalid HTTP response from " + where, d);
        break;
      case E::Write:
        out.error = make_error("UNREACHABLE", "connection to " + where + " lost while sending the request", d);
        break;
      case E::Canceled:
        out.error = make_error("CANCELLED", "request to " + where + " cancelled", d);
        break;
      case E::SSLConnection:
        out.error = make_error("TLS_FAILED", "TLS handshake with " + where + " failed", d);
        break;
      case E::SSLLoadingCerts:
        out.error = make_error("TLS_FAILED",
                               std::string("could not load CA certificates") +
                                   (o.ca_file.empty() ? " (system store)" : " from the configured ca_file") +
                                   " for " + where, d);
        break;
      case E::SSLServerVerification: {
        long v = ssl ? ssl->get_openssl_verify_result() : 0;
        std::string why = v != X509_V_OK ? X509_verify_cert_error_string(v)
                                         : "certificate does not match host name '" + url.host + "'";
        d["verify_result"] = v;
        out.error = make_error("TLS_FAILED", "certificate verification failed for " + where + ": " + why, d);
        break;
      }
      case E::Compression:
        out.error = make_error("BAD_RESPONSE", "could not decode the response body from " + where, d);
        break;
      default:
        out.error = make_error("BAD_RESPONSE", "request to " + where + " failed (" + httplib::to_string(err) + ")", d);
        break;
    }
    return out;
  }

  Response& r = out.response;
  r.status = res.status;
  for (const auto& [k, v] : res.headers) r.headers.emplace_back(ascii_lower(k), v);
  r.content_type = res.get_header_value("Content-Type");
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
