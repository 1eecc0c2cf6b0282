// Small helpers shared by connect.cpp and doctor.cpp (not part of the public contract in setup.h).
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "common/common.h"
#include "config/config.h"

namespace sw::setup {

inline int usage_error(const char* usage, const std::string& why) {
  std::fprintf(stderr, "satwarden: %s\n%s", why.c_str(), usage);
  return 2;
}

// A whole decimal number (no sign, no spaces), nullopt otherwise or on overflow.
inline std::optional<uint64_t> parse_count(const std::string& s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

inline std::string join_words(const std::vector<std::string>& v, const char* sep = " ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

inline bool any_tls(const std::vector<std::string>& relays) {
  for (const auto& r : relays)
    if (r.rfind("wss://", 0) == 0) return true;
  return false;
}

// The commands print their own results: library log lines (relay reconnects, …) only when the owner asked for
// more than the default level.
inline void quiet_logs(const config::Config& cfg) {
  set_log_level(cfg.log_level == LogLevel::info ? LogLevel::error : cfg.log_level);
  set_log_format(cfg.log_format);
}

}  // namespace sw::setup
