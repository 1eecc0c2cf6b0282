// The fetcher's response-head parser (fetch::detail::ResponseHeadParser; bytes from paid APIs, before anything
// is paid). Each input runs twice: whole, under the fetcher's default limits (fetch::Options); and, when it is at
// least 6 bytes long, the bytes after the first 6 under small limits taken from those 6 (line length, header
// count, header bytes; byte 5 the largest piece fed at once), so that every limit is reachable in a short input.
// Properties, beyond not crashing:
//   - split invariance: feeding the bytes in pieces (one byte at a time, chunks of sizes derived from the input,
//     each prefix fed twice), each feed() seeing all bytes so far as the fetcher does, ends in the same state,
//     status, headers, consumed(), message and limit_hit() as one feed() of everything;
//   - limits honoured: a parsed head has no line over max_line, at most max_headers headers in the final response
//     and at most max_bytes of header lines in all; need_more never holds a partial line over the limit; an error
//     leaves at most max_headers headers stored;
//   - refusals are justified: limit_hit() only when the limit it names is really exceeded by the input;
//   - what is stored is well-formed: a final status (>= 200, or 101), lower-case token names, values without
//     surrounding whitespace, CR, LF or NUL.
#include <algorithm>

#include "fetch/internal.h"
#include "fuzz.h"

using namespace sw;
using sw::fetch::detail::ResponseHeadParser;

namespace {

struct Limits {
  size_t max_line, max_headers, max_bytes;
};

struct Outcome {
  ResponseHeadParser::State state = ResponseHeadParser::State::need_more;
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  size_t consumed = 0;
  std::string message;
  bool limit_hit = false;
};

bool same(const Outcome& a, const Outcome& b) {
  return a.state == b.state && a.status == b.status && a.headers == b.headers && a.consumed == b.consumed &&
         a.message == b.message && a.limit_hit == b.limit_hit;
}

Outcome run(const Limits& lim, std::string_view buf, const std::vector<size_t>& ends) {
  Outcome o;
  ResponseHeadParser p(lim.max_line, lim.max_headers, lim.max_bytes);
  for (size_t e : ends) {
    o.state = p.feed(buf.substr(0, e));
    if (o.state != ResponseHeadParser::State::need_more) break;
  }
  o.status = p.status();
  o.headers = p.headers();
  o.consumed = p.consumed();
  o.message = p.message();
  o.limit_hit = p.limit_hit();
  return o;
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::vector<size_t> chunked_ends(size_t n, uint64_t seed, size_t max_chunk) {
  std::vector<size_t> ends;
  uint64_t x = seed | 1;
  size_t at = 0;
  while (at < n) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    at = std::min(n, at + 1 + static_cast<size_t>(x % max_chunk));
    ends.push_back(at);
  }
  if (ends.empty()) ends.push_back(0);
  return ends;
}

bool ows(char c) { return c == ' ' || c == '\t'; }

std::pair<size_t, bool> line_at(std::string_view buf, size_t from) {
  size_t nl = buf.find('\n', from);
  if (nl == std::string_view::npos) return {buf.size() - from, false};
  size_t len = nl - from;
  if (len > 0 && buf[nl - 1] == '\r') --len;
  return {len, true};
}

bool is_status_line(std::string_view line) {
  return line.size() >= 12 && line.substr(0, 7) == "HTTP/1.";
}

void check_headers(const Outcome& o) {
  for (const auto& [name, value] : o.headers) {
    SW_FUZZ_CHECK(!name.empty());
    SW_FUZZ_CHECK(std::all_of(name.begin(), name.end(), [](char c) { return is_http_tchar(c); }));
    SW_FUZZ_CHECK(name == ascii_lower(name));
    SW_FUZZ_CHECK(value.empty() || (!ows(value.front()) && !ows(value.back())));
    SW_FUZZ_CHECK(value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
  }
}

void check_limits(const Limits& lim, std::string_view buf, const Outcome& o) {
  SW_FUZZ_CHECK(o.headers.size() <= lim.max_headers);
  switch (o.state) {
    case ResponseHeadParser::State::done: {
      SW_FUZZ_CHECK(o.status >= 200 || o.status == 101);
      SW_FUZZ_CHECK(o.consumed <= buf.size());
      // Walk the head again: every line within max_line, header lines (neither status lines nor the empty lines
      // ending each response) adding up to at most max_bytes.
      size_t at = 0, header_bytes = 0;
      bool expect_status = true;
      while (at < o.consumed) {
        auto [len, ended] = line_at(buf, at);
        SW_FUZZ_CHECK(ended);
        SW_FUZZ_CHECK(len <= lim.max_line);
        std::string_view line = buf.substr(at, len);
        if (expect_status) {
          SW_FUZZ_CHECK(is_status_line(line));
          expect_status = false;
        } else if (line.empty()) {
          expect_status = true;
        } else {
          header_bytes += len + 2;
        }
        at = buf.find('\n', at) + 1;
      }
      SW_FUZZ_CHECK(at == o.consumed && expect_status);
      SW_FUZZ_CHECK(header_bytes <= lim.max_bytes);
      break;
    }
    case ResponseHeadParser::State::need_more:
      SW_FUZZ_CHECK(!o.limit_hit && o.message.empty());
      SW_FUZZ_CHECK(buf.size() - o.consumed <= lim.max_line + 1);
      SW_FUZZ_CHECK(buf.find('\n', o.consumed) == std::string_view::npos);
      break;
    case ResponseHeadParser::State::error:
      SW_FUZZ_CHECK(!o.message.empty());
      if (o.limit_hit) {
        // The limit named is one the input really exceeds.
        if (o.message.find("longer than") != std::string::npos) {
          auto [len, ended] = line_at(buf, o.consumed);
          SW_FUZZ_CHECK(ended ? len > lim.max_line : len > lim.max_line + 1);
        } else if (o.message.find("header lines totalling") != std::string::npos) {
          size_t at = 0, header_bytes = 0;
          bool expect_status = true;
          while (at < o.consumed) {  // consumed() is past the line that went over
            auto [len, ended] = line_at(buf, at);
            std::string_view line = buf.substr(at, len);
            if (expect_status) expect_status = false;
            else if (line.empty()) expect_status = true;
            else header_bytes += len + 2;
            at = buf.find('\n', at) + 1;
            (void)ended;
          }
          SW_FUZZ_CHECK(header_bytes > lim.max_bytes);
        } else {
          SW_FUZZ_CHECK(o.message.find("header lines") != std::string::npos);
          SW_FUZZ_CHECK(o.headers.size() == lim.max_headers);
        }
      }
      break;
  }
}

void check(const Limits& lim, std::string_view buf, size_t max_chunk) {
  const Outcome whole = run(lim, buf, {buf.size()});
  check_headers(whole);
  check_limits(lim, buf, whole);

  std::vector<size_t> bytewise(buf.size());
  for (size_t i = 0; i < buf.size(); ++i) bytewise[i] = i + 1;
  if (bytewise.empty()) bytewise.push_back(0);
  SW_FUZZ_CHECK(same(run(lim, buf, bytewise), whole));
  const uint64_t seed = fnv1a(buf);
  SW_FUZZ_CHECK(same(run(lim, buf, chunked_ends(buf.size(), seed, max_chunk)), whole));
  std::vector<size_t> twice;
  for (size_t e : chunked_ends(buf.size(), seed ^ 0x9e3779b97f4a7c15ull, 300)) {
    twice.push_back(e);
    twice.push_back(e);
  }
  SW_FUZZ_CHECK(same(run(lim, buf, twice), whole));
}

size_t u16(const uint8_t* p) { return (size_t(p[0]) << 8) | p[1]; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fetch::Options defaults;
  check({defaults.max_header_line_bytes, defaults.max_headers, defaults.max_header_bytes}, fuzz::as_text(data, size),
        7);
  if (size >= 6) {
    const Limits small{1 + u16(data) % 512, size_t(data[2] % 32), 1 + u16(data + 3) % 4096};
    check(small, fuzz::as_text(data + 6, size - 6), 1 + data[5]);
  }
  return 0;
}
