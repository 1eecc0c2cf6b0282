// Internal to sw_fetch: address parsing and allow-list matching shared by url.cpp, address.cpp and the fetcher's
// files; the fetcher's pieces shared between fetch.cpp (the flow), fetch_conn.cpp (resolve + SSRF guard, Wire) and
// fetch_exchange.cpp (one request/response exchange).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fetch/fetch.h"

// OpenSSL's SSL and SSL_CTX, declared by their struct tags: url.cpp and address.cpp (sw_fetch_core) include this
// header and are built without OpenSSL (fetch_conn.cpp checks that the tags match).
struct ssl_st;
struct ssl_ctx_st;

namespace sw::fetch::detail {

// A parsed numeric address. IPv4 is kept as 4 bytes (v6 == false).
struct Ip {
  bool v6 = false;
  std::array<uint8_t, 16> b{};
};

// Strict dotted-quad: exactly 4 decimal parts 0..255, no leading zeros, no other characters.
std::optional<Ip> parse_ipv4_strict(std::string_view s);
// IPv6 literal without brackets or zone id (inet_pton).
std::optional<Ip> parse_ipv6(std::string_view s);
std::optional<Ip> parse_ip(std::string_view s);
std::string ip_to_string(const Ip& ip);
AddressClass classify(const Ip& ip);

// OPTIONS_INVALID on malformed entries.
class AllowList {
 public:
  static Result<AllowList> parse(const std::vector<std::string>& entries);
  bool allows_host(std::string_view host) const;
  bool allows_address(const Ip& ip) const;

 private:
  struct Net {
    Ip base;
    int bits = 0;
  };
  std::vector<std::string> hosts_;
  std::vector<Net> nets_;
};

// The fetcher's response-head parser (pure; exposed for tests and fuzzing). feed() gets every byte received so
// far on the connection (from its first) and returns need_more, done (status, headers — names lower-cased —, and
// consumed() = where the body starts) or error (message() says what was wrong; limit_hit() when a bound was
// exceeded: a status or header line over max_line, more than max_headers lines, or more than max_bytes of header
// lines). A header value holding CR or NUL is an error (RFC 9110 §5.5). Interim 1xx responses (except 101) are
// skipped, at most 10. Each byte is examined once across calls.
class ResponseHeadParser {
 public:
  enum class State { need_more, done, error };
  ResponseHeadParser(size_t max_line, size_t max_headers, size_t max_bytes)
      : max_line_(max_line), max_headers_(max_headers), max_bytes_(max_bytes) {}
  State feed(std::string_view buf);
  int status() const { return status_; }
  const std::vector<std::pair<std::string, std::string>>& headers() const { return headers_; }
  size_t consumed() const { return pos_; }
  const std::string& message() const { return message_; }
  bool limit_hit() const { return limit_hit_; }

 private:
  State fail(std::string message, bool limit);
  size_t max_line_, max_headers_, max_bytes_;
  size_t pos_ = 0;   // start of the next unparsed line
  size_t scan_ = 0;  // no '\n' between pos_ and here
  bool in_headers_ = false;
  int interim_ = 0;
  size_t head_bytes_ = 0;
  int status_ = 0;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::string message_;
  bool limit_hit_ = false;
};

// A non-empty HTTP token (RFC 9110 tchar only): methods and header names, sent (fetch.cpp) or received
// (ResponseHeadParser, fetch_exchange.cpp).
bool is_token(std::string_view s);

// ---------- the fetcher's connection (fetch_conn.cpp) ----------

// The SSRF guard: resolves url.host once (unless it is an address) and returns its addresses, each public or
// allow-listed (unless the host itself is allow-listed); URL_FORBIDDEN names the first one that is not.
Result<std::vector<std::string>> checked_addresses(const Url& url, const Options& o, const AllowList& allow,
                                                   std::chrono::steady_clock::time_point deadline,
                                                   const std::function<bool()>& cancelled);

// One connection (plain or TLS) with every wait bounded by an operation timeout, the fetch's deadline and
// cancellation (polled every 20 ms).
class Wire {
 public:
  enum class Wait { ready, timeout, deadline, cancelled };
  Wire(std::chrono::steady_clock::time_point deadline, const std::function<bool()>& cancelled)
      : deadline_(deadline), cancelled_(cancelled) {}
  ~Wire();
  Wire(const Wire&) = delete;
  Wire& operator=(const Wire&) = delete;

  Wait wait(short events, std::chrono::milliseconds op_timeout);

  // Connects to ip:port. ready = connected; else why not (errno in err_).
  Wait connect(const std::string& ip, uint16_t port, std::chrono::milliseconds timeout);
  int error() const { return err_; }

  // TLS handshake with certificate and host-name verification. ready + ok=true on success.
  struct TlsOutcome {
    Wait wait = Wait::ready;
    bool ok = false;
    bool ca_failed = false;
    long verify = 0;  // X509_V_OK (fetch_conn.cpp asserts that it is 0)
  };
  TlsOutcome tls(const Url& url, const Options& o, std::chrono::milliseconds timeout);

  // Sends everything. ready on success; timeout/deadline/cancelled; or ready with error() set.
  Wait send_all(std::string_view data, std::chrono::milliseconds timeout);

  // Reads some bytes into buf (at most cap). ready with n > 0 = data; n == 0 = EOF; error() set on failure.
  Wait recv_some(char* buf, size_t cap, size_t& n, std::chrono::milliseconds timeout);

 private:
  std::chrono::steady_clock::time_point deadline_;
  const std::function<bool()>& cancelled_;
  int fd_ = -1;
  int err_ = 0;
  ::ssl_ctx_st* ctx_ = nullptr;  // SSL_CTX
  ::ssl_st* ssl_ = nullptr;      // SSL
};

// ---------- one exchange (fetch_exchange.cpp) ----------

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

// One request to in.ip and its response (connect, TLS, request, bounded head, capped body), within the deadline.
HopResult do_hop(const HopInput& in, const Options& o, std::chrono::steady_clock::time_point deadline,
                 const std::function<bool()>& cancelled);

}  // namespace sw::fetch::detail
