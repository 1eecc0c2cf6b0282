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

}  // namespace sw::fetch::detail
