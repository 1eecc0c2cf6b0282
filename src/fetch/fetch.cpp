// Fetcher, the flow: method/header/option checks, resolve-once + SSRF guard (fetch_conn.cpp), one exchange per
// hop (fetch_exchange.cpp: our own HTTP/1.1 client, plain or OpenSSL TLS, to the checked address, bounded response
// head, body cap) tried on each checked address while connecting fails, same-origin redirects. Timeouts and
// cancellation: every wait polls the deadline and `cancelled` every 20 ms. One request per connection
// (Connection: close); no compression is asked for.
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "fetch/internal.h"

namespace sw::fetch {

using detail::AllowList;
using detail::checked_addresses;
using detail::do_hop;
using detail::HopInput;
using detail::HopResult;
using SteadyClock = std::chrono::steady_clock;

namespace detail {

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (!is_http_tchar(c)) return false;
  return true;
}

}  // namespace detail

namespace {

using detail::is_token;

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
