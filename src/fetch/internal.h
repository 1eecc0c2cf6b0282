// Internal to sw_fetch: address parsing and allow-list matching shared by url.cpp, address.cpp and fetch.cpp.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fetch/fetch.h"

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

}  // namespace sw::fetch::detail
