#include "common/common.h"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>

namespace sw {

namespace {
constexpr char kHex[] = "0123456789abcdef";
int hex_val(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
}  // namespace

std::string hex_encode(const uint8_t* data, size_t len) {
  std::string out;
  out.resize(len * 2);
  for (size_t i = 0; i < len; ++i) {
    out[2 * i] = kHex[data[i] >> 4];
    out[2 * i + 1] = kHex[data[i] & 0xf];
  }
  return out;
}

namespace {
int hex_nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::optional<std::string> form_urldecode(std::string_view s, bool strict) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      const int hi = i + 2 < s.size() ? hex_nibble(s[i + 1]) : -1;
      const int lo = i + 2 < s.size() ? hex_nibble(s[i + 2]) : -1;
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi << 4 | lo);
        i += 2;
      } else if (strict) {
        explicit_bzero(out.data(), out.size());
        return std::nullopt;
      } else {
        out += c;
      }
    } else {
      out += c;
    }
  }
  return out;
}

std::string form_param(std::string_view encoded, std::string_view name) {
  while (!encoded.empty()) {
    const size_t amp = encoded.find('&');
    const std::string_view pair = encoded.substr(0, amp);
    const size_t eq = pair.find('=');
    if (*form_urldecode(pair.substr(0, eq), false) == name)
      return eq == std::string_view::npos ? std::string() : *form_urldecode(pair.substr(eq + 1), false);
    if (amp == std::string_view::npos) break;
    encoded.remove_prefix(amp + 1);
  }
  return "";
}

std::optional<Bytes> hex_decode(std::string_view hex) {
  if (hex.size() % 2) return std::nullopt;
  Bytes out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = hex_val(hex[2 * i]), lo = hex_val(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

std::optional<Bytes> hex_decode_fixed(std::string_view hex, size_t bytes) {
  if (hex.size() != bytes * 2) return std::nullopt;
  return hex_decode(hex);
}

std::string base64_encode(const uint8_t* data, size_t len, bool url, bool pad) {
  const char* alpha = url ? kB64Url : kB64;
  std::string out;
  out.reserve((len + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < len; i += 3) {
    uint32_t v = uint32_t(data[i]) << 16 | uint32_t(data[i + 1]) << 8 | data[i + 2];
    out += alpha[v >> 18 & 63];
    out += alpha[v >> 12 & 63];
    out += alpha[v >> 6 & 63];
    out += alpha[v & 63];
  }
  if (i < len) {
    uint32_t v = uint32_t(data[i]) << 16 | (i + 1 < len ? uint32_t(data[i + 1]) << 8 : 0);
    out += alpha[v >> 18 & 63];
    out += alpha[v >> 12 & 63];
    if (i + 1 < len) out += alpha[v >> 6 & 63];
    else if (pad) out += '=';
    if (pad) out += '=';
  }
  return out;
}

namespace {
// 256-entry decode table: 0..63 for both alphabets, 0xff for anything else (one load per character instead of
// a chain of range tests; NIP-44 decrypts spend a measurable share of their time here).
struct B64Table {
  uint8_t v[256];
  constexpr B64Table() : v() {
    for (auto& x : v) x = 0xff;
    for (int i = 0; i < 64; ++i) {
      v[static_cast<uint8_t>(kB64[i])] = static_cast<uint8_t>(i);
      v[static_cast<uint8_t>(kB64Url[i])] = static_cast<uint8_t>(i);
    }
  }
};
constexpr B64Table kB64Table;
}  // namespace

std::optional<Bytes> base64_decode(std::string_view text) {
  size_t n = text.size();
  while (n > 0 && text[n - 1] == '=') --n;
  if (text.size() - n > 2) return std::nullopt;
  if (n % 4 == 1) return std::nullopt;
  if (text.size() != n && text.size() % 4 != 0) return std::nullopt;  // padding only with full quads
  Bytes out(n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0));
  const auto* in = reinterpret_cast<const uint8_t*>(text.data());
  size_t o = 0, i = 0;
  for (; i + 4 <= n; i += 4) {
    uint32_t a = kB64Table.v[in[i]], b = kB64Table.v[in[i + 1]], c = kB64Table.v[in[i + 2]], d = kB64Table.v[in[i + 3]];
    if ((a | b | c | d) & 0x80) return std::nullopt;
    uint32_t x = a << 18 | b << 12 | c << 6 | d;
    out[o++] = static_cast<uint8_t>(x >> 16);
    out[o++] = static_cast<uint8_t>(x >> 8);
    out[o++] = static_cast<uint8_t>(x);
  }
  size_t rest = n - i;
  if (rest) {
    uint32_t x = 0;
    for (size_t k = 0; k < rest; ++k) {
      uint32_t v = kB64Table.v[in[i + k]];
      if (v & 0x80) return std::nullopt;
      x |= v << (18 - 6 * k);
    }
    out[o++] = static_cast<uint8_t>(x >> 16);
    if (rest == 3) out[o++] = static_cast<uint8_t>(x >> 8);
    // Non-zero leftover bits mean a non-canonical encoding.
    if ((rest == 2 && (x & 0xffff)) || (rest == 3 && (x & 0xff))) return std::nullopt;
  }
  return out;
}

std::string percent_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool ascii_iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

namespace {
class SystemClock final : public Clock {
 public:
  int64_t now_unix() const override {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};
std::atomic<int> g_level{static_cast<int>(LogLevel::info)};
std::atomic<int> g_format{static_cast<int>(LogFormat::text)};
std::mutex g_log_mu;
thread_local std::string t_request_id;
constexpr const char* kLevelNames[] = {"debug", "info", "notice", "warning",
                                       "error", "critical", "alert", "emergency"};
}  // namespace

const Clock& Clock::system() {
  static SystemClock c;
  return c;
}

std::optional<LogLevel> parse_log_level(std::string_view s) {
  for (int i = 0; i < 8; ++i)
    if (s == kLevelNames[i]) return static_cast<LogLevel>(i);
  return std::nullopt;
}
const char* log_level_name(LogLevel l) { return kLevelNames[static_cast<int>(l)]; }
void set_log_level(LogLevel l) { g_level.store(static_cast<int>(l)); }
LogLevel log_level() { return static_cast<LogLevel>(g_level.load()); }

std::string iso8601_utc(int64_t unix_s) {
  std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return ts;
}

void log(LogLevel level, std::string_view logger, std::string_view message) {
  if (static_cast<int>(level) < g_level.load()) return;
  const std::string ts = iso8601_utc(std::time(nullptr));
  const std::string& rid = t_request_id;
  if (g_format.load() == static_cast<int>(LogFormat::jsonl)) {
    json line{{"ts", ts}, {"level", log_level_name(level)}, {"logger", logger}, {"message", message}};
    if (!rid.empty()) line["request_id"] = rid;
    const std::string text = line.dump(-1, ' ', false, json::error_handler_t::replace);
    std::lock_guard<std::mutex> lk(g_log_mu);
    std::fprintf(stderr, "%s\n", text.c_str());
    return;
  }
  std::lock_guard<std::mutex> lk(g_log_mu);
  if (rid.empty())
    std::fprintf(stderr, "%s %s [%.*s] %.*s\n", ts.c_str(), log_level_name(level), int(logger.size()), logger.data(),
                 int(message.size()), message.data());
  else
    std::fprintf(stderr, "%s %s [%.*s] %.*s (request %s)\n", ts.c_str(), log_level_name(level), int(logger.size()),
                 logger.data(), int(message.size()), message.data(), rid.c_str());
}

void set_log_format(LogFormat f) { g_format.store(static_cast<int>(f)); }

const std::string& current_request_id() { return t_request_id; }
RequestScope::RequestScope(std::string id) : previous_(std::move(t_request_id)) { t_request_id = std::move(id); }
RequestScope::~RequestScope() { t_request_id = std::move(previous_); }

bool json_nesting_exceeds(std::string_view text, size_t max_depth) {
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;  // the escaped character cannot end the string
      else if (c == '"') in_string = false;
      continue;
    }
    switch (c) {
      case '"': in_string = true; break;
      case '[': case '{':
        if (++depth > max_depth) return true;
        break;
      case ']': case '}':
        if (depth > 0) --depth;  // unbalanced: not JSON, the parser says so
        break;
      default: break;
    }
  }
  return false;
}

}  // namespace sw

#ifdef SW_SANITIZER_LOG_DIR
// ASan+UBSan builds only (SW_SANITIZE): every process — unit tests and the servers the interop tests spawn with
// an environment of their own, where ASAN_OPTIONS would not reach — writes any report to a file in
// SW_SANITIZER_LOG_DIR (<dir>/asan.<pid>, <dir>/ubsan.<pid>); scripts/test.sh --asan fails the run when one
// appears. Options given in ASAN_OPTIONS/UBSAN_OPTIONS still override these.
extern "C" const char* __asan_default_options() { return "log_path=" SW_SANITIZER_LOG_DIR "/asan:detect_leaks=1"; }
extern "C" const char* __ubsan_default_options() {
  return "log_path=" SW_SANITIZER_LOG_DIR "/ubsan:print_stacktrace=1:halt_on_error=1";
}
#endif
