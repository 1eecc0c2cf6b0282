// The HTTP front's request-head parser (transport::http1::HeadParser; bytes from any client, before
// authentication). Each input runs twice: whole, under the default HttpLimits; and, when it is at least 8 bytes
// long, the bytes after the first 8 under small limits taken from those 8 (request line, header line, header
// count, header bytes; byte 7 the largest piece fed at once), so that every limit is reachable in a short input.
// Properties, beyond not crashing:
//   - split invariance: feeding the bytes in pieces (one byte at a time, and chunks of sizes derived from the
//     input, and each prefix fed twice), each feed() seeing all bytes so far as the front does, ends in the same
//     state, status, message, consumed() and request as one feed() of everything;
//   - limits honoured: a parsed head is at most max_header_bytes long, has no line over its limit and at most
//     max_headers headers; need_more never holds more than max_header_bytes, nor a partial line over its limit;
//     an error leaves at most max_headers headers stored;
//   - refusals are justified: 414/431 only when the limit it names is really exceeded by the input;
//   - what is stored is well-formed: method and header names are tokens, the target an origin-form path without
//     controls or spaces, header values without CR, LF, NUL or other controls (tab aside) and without
//     surrounding whitespace.
#include <algorithm>

#include "fuzz.h"
#include "transport/front.h"

using namespace sw;
using sw::transport::HttpLimits;
using sw::transport::http1::HeadParser;
using sw::transport::http1::Request;

namespace {

struct Outcome {
  HeadParser::State state = HeadParser::State::need_more;
  int status = 0;
  std::string message;
  size_t consumed = 0;
  bool started = false;
  Request req;
};

bool same(const Outcome& a, const Outcome& b) {
  return a.state == b.state && a.status == b.status && a.message == b.message && a.consumed == b.consumed &&
         a.started == b.started && a.req.method == b.req.method && a.req.target == b.req.target &&
         a.req.path == b.req.path && a.req.query == b.req.query && a.req.version == b.req.version &&
         a.req.headers == b.req.headers;
}

// Feeds the prefixes of `buf` ending at each of `ends` (increasing, the last = buf.size()) until the parser
// stops asking for more.
Outcome run(const HttpLimits& lim, std::string_view buf, const std::vector<size_t>& ends) {
  Outcome o;
  HeadParser p(lim);
  for (size_t e : ends) {
    o.state = p.feed(buf.substr(0, e), o.req);
    if (o.state != HeadParser::State::need_more) break;
  }
  o.status = p.status();
  o.message = p.message();
  o.consumed = p.consumed();
  o.started = p.started();
  return o;
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Chunk ends for `n` bytes with chunk sizes 1..max_chunk from a xorshift stream seeded by `seed`.
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

// The line starting at `from`: its length without the line end (one '\r' before '\n' stripped), and whether a
// '\n' ended it.
std::pair<size_t, bool> line_at(std::string_view buf, size_t from) {
  size_t nl = buf.find('\n', from);
  if (nl == std::string_view::npos) return {buf.size() - from, false};
  size_t len = nl - from;
  if (len > 0 && buf[nl - 1] == '\r') --len;
  return {len, true};
}

void check_request_fields(const Outcome& o) {
  const Request& r = o.req;
  if (o.started) {
    SW_FUZZ_CHECK(!r.method.empty());
    SW_FUZZ_CHECK(std::all_of(r.method.begin(), r.method.end(), [](char c) { return is_http_tchar(c); }));
    SW_FUZZ_CHECK(!r.target.empty() && r.target[0] == '/');
    for (unsigned char c : r.target) SW_FUZZ_CHECK(c > 0x20 && c < 0x7f);
    SW_FUZZ_CHECK(r.version == "HTTP/1.1" || r.version == "HTTP/1.0");
    SW_FUZZ_CHECK(r.path + (r.target.find('?') == std::string::npos ? "" : "?" + r.query) == r.target);
  } else {
    SW_FUZZ_CHECK(r.headers.empty());
  }
  for (const auto& [name, value] : r.headers) {
    SW_FUZZ_CHECK(!name.empty());
    SW_FUZZ_CHECK(std::all_of(name.begin(), name.end(), [](char c) { return is_http_tchar(c); }));
    for (unsigned char c : value) SW_FUZZ_CHECK(c >= 0x20 || c == '\t');
    for (unsigned char c : value) SW_FUZZ_CHECK(c != 0x7f);
    SW_FUZZ_CHECK(value.empty() || (!ows(value.front()) && !ows(value.back())));
  }
}

void check_limits(const HttpLimits& lim, std::string_view buf, const Outcome& o) {
  SW_FUZZ_CHECK(o.req.headers.size() <= lim.max_headers);
  switch (o.state) {
    case HeadParser::State::done: {
      SW_FUZZ_CHECK(o.started);
      SW_FUZZ_CHECK(o.consumed <= lim.max_header_bytes);
      SW_FUZZ_CHECK(o.consumed <= buf.size());
      // Every line of the head within its limit: leading empty lines, the request line, the header lines.
      size_t at = 0;
      bool request_line_seen = false;
      while (at < o.consumed) {
        auto [len, ended] = line_at(buf, at);
        SW_FUZZ_CHECK(ended);
        SW_FUZZ_CHECK(len <= (request_line_seen ? lim.max_header_line : lim.max_request_line));
        if (len > 0) request_line_seen = true;
        at = buf.find('\n', at) + 1;
      }
      SW_FUZZ_CHECK(at == o.consumed);
      break;
    }
    case HeadParser::State::need_more: {
      SW_FUZZ_CHECK(buf.size() <= lim.max_header_bytes);
      SW_FUZZ_CHECK(buf.size() - o.consumed <= (o.started ? lim.max_header_line : lim.max_request_line) + 1);
      SW_FUZZ_CHECK(buf.find('\n', o.consumed) == std::string_view::npos);
      break;
    }
    case HeadParser::State::error: {
      SW_FUZZ_CHECK(o.status == 400 || o.status == 414 || o.status == 431 || o.status == 505);
      SW_FUZZ_CHECK(!o.message.empty());
      if (o.status == 414) SW_FUZZ_CHECK(!o.started);
      if (o.status == 505) SW_FUZZ_CHECK(!o.started);
      // A limit refusal names a limit the input really exceeds.
      if (o.message.find("a header line is over") != std::string::npos ||
          o.message.find("the request line is over") != std::string::npos) {
        const size_t limit = o.started ? lim.max_header_line : lim.max_request_line;
        auto [len, ended] = line_at(buf, o.consumed);
        SW_FUZZ_CHECK(ended ? len > limit : len > limit + 1);
      } else if (o.message.find("the header block is over") != std::string::npos) {
        // consumed() is the start of the line that went past the limit.
        const size_t nl = buf.find('\n', o.consumed);
        SW_FUZZ_CHECK(nl == std::string_view::npos ? buf.size() > lim.max_header_bytes : nl >= lim.max_header_bytes);
      } else if (o.message.find("headers") != std::string::npos && o.status == 431) {
        SW_FUZZ_CHECK(o.req.headers.size() == lim.max_headers);
      }
      break;
    }
  }
}

void check(const HttpLimits& lim, std::string_view buf, size_t max_chunk) {
  const Outcome whole = run(lim, buf, {buf.size()});
  check_request_fields(whole);
  check_limits(lim, buf, whole);
  if (whole.state == HeadParser::State::done) {
    (void)whole.req.get_header_value("host");
    (void)whole.req.get_header_value_count("content-length");
    (void)whole.req.get_param_value("sessionId");
  }

  std::vector<size_t> bytewise(buf.size());
  for (size_t i = 0; i < buf.size(); ++i) bytewise[i] = i + 1;
  if (bytewise.empty()) bytewise.push_back(0);
  SW_FUZZ_CHECK(same(run(lim, buf, bytewise), whole));
  const uint64_t seed = fnv1a(buf);
  SW_FUZZ_CHECK(same(run(lim, buf, chunked_ends(buf.size(), seed, max_chunk)), whole));
  // The same bytes offered twice (a wake-up with nothing new) change nothing either.
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
  check(HttpLimits{}, fuzz::as_text(data, size), 7);
  if (size >= 8) {
    HttpLimits small;
    small.max_request_line = 1 + u16(data) % 512;
    small.max_header_line = 1 + u16(data + 2) % 512;
    small.max_headers = data[4] % 32;
    small.max_header_bytes = 1 + u16(data + 5) % 4096;
    check(small, fuzz::as_text(data + 8, size - 8), 1 + data[7]);  // byte 7: the largest piece fed at once
  }
  return 0;
}
