// sw::common — small shared vocabulary: Result/Error values, hex and base64 codecs, a clock, stderr logging.
// Contract: no I/O except log() (stderr only, never stdout). Pure functions are thread-safe; log() is
// thread-safe (one line per call). Errors are values: Error{code, message}; codes are stable UPPER_SNAKE
// strings that tools surface to agents unchanged. Messages must never contain secrets.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace sw {

using json = nlohmann::json;
using Bytes = std::vector<uint8_t>;

// A failure that crosses a layer. `code` is stable (e.g. "INVALID_INVOICE"), `message` is for humans,
// `details` is optional structured context (never secrets).
struct Error {
  std::string code;
  std::string message;
  json details = json::object();
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T val) : v_(std::move(val)) {}                // NOLINT: implicit by design
  Result(Error err) : v_(std::move(err)) {}            // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success or an Error.
struct Ok {};
using Status = Result<Ok>;
inline Status ok_status() { return Ok{}; }

inline Error make_error(std::string code, std::string message, json details = json::object()) {
  return Error{std::move(code), std::move(message), std::move(details)};
}

// ---- codecs ----
std::string hex_encode(const uint8_t* data, size_t len);
inline std::string hex_encode(const Bytes& b) { return hex_encode(b.data(), b.size()); }
// Strict: even length, [0-9a-fA-F] only. nullopt otherwise.
std::optional<Bytes> hex_decode(std::string_view hex);
// Strict lowercase/uppercase hex of exactly `bytes` bytes.
std::optional<Bytes> hex_decode_fixed(std::string_view hex, size_t bytes);

// application/x-www-form-urlencoded (queries, form bodies, NWC URIs): '+' is a space, %XX a byte. Strict: a
// malformed escape makes it nullopt (and the partial output is wiped: these texts can carry secrets); lenient: it
// passes through as written, as browsers and URLSearchParams do.
std::optional<std::string> form_urldecode(std::string_view s, bool strict);
// The first value of `name` in such a text (pairs split on '&', names and values decoded leniently); "" if absent.
std::string form_param(std::string_view encoded, std::string_view name);

std::string base64_encode(const uint8_t* data, size_t len, bool url = false, bool pad = true);
inline std::string base64_encode(const Bytes& b, bool url = false, bool pad = true) {
  return base64_encode(b.data(), b.size(), url, pad);
}
// Accepts standard or URL alphabet, with or without padding; rejects anything else.
std::optional<Bytes> base64_decode(std::string_view text);

// True when `text` opens more than `max_depth` arrays/objects inside one another: one pass over the bytes counting
// brackets outside strings (exact for valid JSON; for invalid JSON only the verdict "not JSON" is at stake), stopping
// at the first level too many; no recursion, no allocation. Untrusted JSON is checked with it BEFORE parsing:
// nlohmann::json parses iteratively, but copying, comparing or dumping a tree recurses once per level, and
// ~100,000 levels overflow a thread's stack.
bool json_nesting_exceeds(std::string_view text, size_t max_depth);

// Compact JSON with invalid UTF-8 replaced (never throws): for every message that leaves the process.
inline std::string json_dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

inline Bytes to_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }
inline std::string to_string(const Bytes& b) { return std::string(b.begin(), b.end()); }

// RFC 9110 `tchar`: the characters of an HTTP token (method, header name, auth-scheme, auth-param name).
inline bool is_http_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-': case '.':
    case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

// Trim ASCII whitespace both ends.
std::string_view trim(std::string_view s);
// ASCII lowercase (hex, host names, header names); other bytes unchanged.
std::string ascii_lower(std::string_view s);
// RFC 3986 percent-encoding for a query value: unreserved characters (A-Z a-z 0-9 - . _ ~) kept, every other byte
// as %XX (uppercase hex).
std::string percent_encode(std::string_view s);
// ASCII case-insensitive equality (header names, schemes, hosts).
bool ascii_iequals(std::string_view a, std::string_view b);

// Money: msat internally; sats at the surface rounded UP so caps are never under-counted.
inline uint64_t msat_to_sat_ceil(uint64_t msat) { return msat / 1000 + (msat % 1000 ? 1 : 0); }

// ---- time ----
// Injectable wall clock (unix seconds) so windows/expiry can be tested.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t now_unix() const = 0;
  static const Clock& system();
};

// ISO 8601 UTC with a Z ("2026-01-01T00:00:00Z") for unix seconds.
std::string iso8601_utc(int64_t unix_s);

// ---- private files (secrets in the data directory) ----
// Files only this user may read: the saved wallet connection, the notification key, the console's owner token.
// Written 0600 under a temporary O_EXCL|O_NOFOLLOW name beside the path, fsynced, then published with link() (never
// replacing: two first starts agree on one file) or rename() (replacing), and the directory fsynced — a reader sees
// no file, the old one or the whole new one. Read only when nobody else could have read or swapped them: a regular
// file (not through a symlink) owned by the effective user with no group/other permission bits.
// Hand-written: a handful of POSIX calls no listed library wraps. Thread-safe; errors are values, never thrown.
struct PrivateFile {
  enum class Status { ok, absent, exists, insecure, failed };
  Status status = Status::failed;
  std::string content;  // read_private_file, Status::ok: the bytes (the caller wipes them when they are a secret)
  std::string why;      // insecure / failed: "is a symbolic link", "cannot write it: No space left on device", …
};
// ok; exists (replace == false and the path is there); failed (why names the step).
PrivateFile write_private_file(const std::string& path, std::string_view content, bool replace);
// ok (content); absent; insecure (symlink, another owner, group/other bits); failed (not a regular file, unreadable,
// larger than max_bytes).
PrivateFile read_private_file(const std::string& path, size_t max_bytes);
// Overwrites a string's bytes in a way the compiler keeps (explicit_bzero), then clears it.
void wipe_string(std::string& s);

// ---- logging (stderr only) ----
enum class LogLevel { debug = 0, info, notice, warning, error, critical, alert, emergency };
std::optional<LogLevel> parse_log_level(std::string_view s);
const char* log_level_name(LogLevel l);
void set_log_level(LogLevel l);
LogLevel log_level();
// text (default): "ts level [logger] message[ (request ID)]"; json: one object per line
// {"ts","level","logger","message","request_id"?} for log shippers.
enum class LogFormat { text, jsonl };  // jsonl: one JSON object per line
void set_log_format(LogFormat f);
// Writes a log line to stderr when level >= threshold, with the calling thread's request id when it has one.
// Never pass secrets.
void log(LogLevel level, std::string_view logger, std::string_view message);

// ---- request ids ----
// The request a thread is working for (an MCP tool call): set for the call's extent by a RequestScope (engine),
// carried into log lines and into the ledger rows the call writes ("" outside a call).
const std::string& current_request_id();
class RequestScope {
 public:
  explicit RequestScope(std::string id);
  ~RequestScope();
  RequestScope(const RequestScope&) = delete;
  RequestScope& operator=(const RequestScope&) = delete;

 private:
  std::string previous_;
};

}  // namespace sw
