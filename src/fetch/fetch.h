// sw::fetch — outbound HTTP(S) for paid APIs, behind an SSRF guard. The URL's host is resolved ONCE; every
// resolved address must be publicly routable (or allow-listed), and the connection goes to that checked address,
// so DNS rebinding has no window while TLS SNI and certificate checks still use the host name. HTTPS verifies
// certificates (system store, or Options::ca_file). Everything a server sends is bounded: the status line and each
// header line (max_header_line_bytes), the number of header lines and their total size (BAD_RESPONSE naming the
// limit, without reading further), and the body (truncated=true beyond the cap). 3xx are returned as-is unless
// same-origin following is enabled.
// Thread-safety: Fetcher is stateless; fetch() may run concurrently from many threads. `cancelled` is polled from
// the calling thread AND a helper thread, so it must be thread-safe (e.g. reads an atomic).
// Errors (never exceptions): URL_INVALID, URL_FORBIDDEN, METHOD_NOT_ALLOWED, HEADER_INVALID, OPTIONS_INVALID,
// DNS_FAILED, UNREACHABLE, TLS_FAILED, TIMEOUT, BAD_RESPONSE, CANCELLED. Messages and details never contain
// request header values or bodies (they may carry credentials); the URL's path/query is not logged.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/common.h"

namespace sw::fetch {

// ---------- URL ----------
struct Url {
  std::string scheme;   // "http" | "https" (lower case)
  std::string host;     // lower case; IPv6 literal without brackets, in canonical (inet_ntop) form
  bool host_is_ip = false;
  uint16_t port = 0;    // explicit or default (80/443)
  std::string target;   // path + optional "?query", starts with '/'; fragment dropped; unsafe bytes %-encoded
  std::string origin() const;     // "https://host:port" (brackets for IPv6)
  std::string to_string() const;  // origin() + target
};
// http/https only. Refused (URL_INVALID): other schemes, missing "//", userinfo ('@'), empty/odd hosts
// (non-ASCII/IDN, '%', '_', '\', empty labels, trailing dot), IPv6 zone ids, bad ports, control characters.
// Non-canonical IPv4 literals ("2130706433", "0177.0.0.1", "0x7f.1", "127.1", any host whose last label is
// numeric) are refused with URL_FORBIDDEN: only dotted-quad decimal a.b.c.d is accepted as an IPv4 host.
Result<Url> parse_url(std::string_view url);
// Resolves `ref` (a Location value: absolute, "//host…", "/path", "?q" or relative path) against `base`.
Result<Url> resolve_url(const Url& base, std::string_view ref);

// ---------- address classification (the SSRF guard's core) ----------
struct AddressClass {
  bool forbidden = false;
  std::string name;  // "public", or e.g. "loopback", "private", "link-local / cloud metadata",
                     // "IPv4-mapped IPv6 of 127.0.0.1 (loopback)", "Teredo tunnel"
};
// `ip` must be a numeric IPv4 (dotted quad) or IPv6 literal (no brackets); nullopt otherwise.
std::optional<AddressClass> classify_address(std::string_view ip);

// ---------- request / response ----------
struct Request {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // sent in order; repeated names allowed
  std::string body;
};

struct Response {
  int status = 0;
  std::string content_type;                                  // value of content-type ("" if absent)
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased; repeated lines stay separate
  std::string body;
  bool truncated = false;      // body hit Options::max_body_bytes and the rest was not read
  std::string remote_ip;       // the checked address that was actually connected to
  double elapsed_ms = 0;       // whole fetch incl. DNS and followed redirects
  std::string url;             // final URL (differs from the request after followed redirects)
  int redirects = 0;           // redirects followed
  // Header lookups; `name` is matched case-insensitively.
  std::vector<std::string> header_values(std::string_view name) const;
  std::optional<std::string> header(std::string_view name) const;  // first value
};

enum class RedirectPolicy {
  none,         // 3xx returned to the caller as-is (Location included)
  same_origin,  // follow 301/302/303/307/308 only while scheme+host+port stay the same, at most max_redirects
};

struct Options {
  std::vector<std::string> allowed_methods{"GET", "HEAD", "POST"};
  // Hosts (exact, case-insensitive, e.g. "localhost"), addresses ("127.0.0.1", "::1") or CIDRs ("10.0.0.0/8",
  // "fd00::/8") that bypass the SSRF guard. An allow-listed host accepts whatever it resolves to.
  std::vector<std::string> allow;
  std::chrono::milliseconds connect_timeout{5000};  // per TCP connect (and TLS handshake)
  std::chrono::milliseconds read_timeout{15000};    // max silence while waiting for/reading the response
  std::chrono::milliseconds total_timeout{30000};   // whole fetch incl. DNS and redirects
  std::size_t max_body_bytes = 1 << 20;
  std::size_t max_header_line_bytes = 32 * 1024;  // status line and each header line
  std::size_t max_headers = 128;                  // header lines
  std::size_t max_header_bytes = 128 * 1024;      // all header lines together
  RedirectPolicy redirects = RedirectPolicy::none;
  int max_redirects = 5;
  std::string ca_file;     // PEM bundle replacing the system CA store (tests, private CAs)
  std::string user_agent;  // empty → "satwarden/<version>"; a caller's User-Agent header wins
  // Test seam: replaces getaddrinfo. Its answers still go through the guard.
  std::function<Result<std::vector<std::string>>(const std::string& host)> resolver;
};

class Fetcher {
 public:
  // One request, plus same-origin redirects if enabled. Returns any HTTP status as a Response (4xx/5xx/402 are
  // not errors). `cancelled` returning true aborts with CANCELLED as soon as possible.
  Result<Response> fetch(const Request& request, const Options& options,
                         std::function<bool()> cancelled = {}) const;
};

}  // namespace sw::fetch
