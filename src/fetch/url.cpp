// URL parsing for outbound fetches.
// Hand-written: no URL library is in our allowed stack (cpp-httplib has only a redirect regex), and the guard
// needs an exact, deliberately narrow grammar (absolute http/https, ASCII host names, canonical IP literals).
#include <cstdio>

#include "fetch/internal.h"

namespace sw::fetch {

namespace {

Error invalid(const std::string& why) { return make_error("URL_INVALID", why); }

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

bool has_control(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7F) return true;
  return false;
}

// Percent-encodes bytes that may not appear raw in a request-target (space, non-ASCII, a few delimiters);
// existing %XX escapes and everything else are kept byte-for-byte so the server sees the query as given.
std::string encode_target(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    bool raw = c > 0x20 && c < 0x7F && c != '"' && c != '<' && c != '>' && c != '\\' && c != '^' && c != '`' &&
               c != '{' && c != '|' && c != '}';
    if (raw) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  return out;
}

// WHATWG "ends in a number": the last label is all digits or 0x-hex. Such hosts are IPv4 attempts.
bool ends_in_number(const std::vector<std::string_view>& labels) {
  if (labels.empty()) return false;
  std::string_view last = labels.back();
  if (last.empty()) return false;
  bool digits = true;
  for (char c : last) digits = digits && is_digit(c);
  if (digits) return true;
  if (last.size() >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X')) {
    for (size_t i = 2; i < last.size(); ++i)
      if (!is_hex(last[i])) return false;
    return true;
  }
  return false;
}

Status check_reg_name(std::string& host, bool& is_ip) {
  for (unsigned char c : host) {
    if (c >= 0x80)
      return invalid("internationalized (IDN) host names are not supported; use the ASCII 'xn--' form");
  }
  if (host.find('%') != std::string::npos) return invalid("percent-encoded host names are not allowed");
  host = ascii_lower(host);
  for (char c : host) {
    if (!(is_alpha(c) || is_digit(c) || c == '-' || c == '.'))
      return invalid(std::string("invalid character '") + c + "' in host name");
  }
  if (host.size() > 253) return invalid("host name too long");
  if (host.back() == '.') return invalid("host names with a trailing dot are not allowed");
  std::vector<std::string_view> labels;
  std::string_view hv(host);
  size_t pos = 0;
  while (true) {
    size_t dot = hv.find('.', pos);
    labels.push_back(hv.substr(pos, dot == std::string_view::npos ? std::string_view::npos : dot - pos));
    if (dot == std::string_view::npos) break;
    pos = dot + 1;
  }
  if (ends_in_number(labels)) {
    if (!detail::parse_ipv4_strict(host))
      return make_error("URL_FORBIDDEN", "non-canonical IPv4 literal '" + host +
                                             "' refused (write IPv4 addresses as four decimal parts a.b.c.d)",
                        json{{"host", host}});
    is_ip = true;
    return ok_status();
  }
  for (auto l : labels) {
    if (l.empty()) return invalid("empty label in host name");
    if (l.size() > 63) return invalid("host name label longer than 63 characters");
    if (l.front() == '-' || l.back() == '-') return invalid("host name label starts or ends with '-'");
  }
  return ok_status();
}

}  // namespace

std::string Url::origin() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return scheme + "://" + h + ":" + std::to_string(port);
}

std::string Url::to_string() const {
  bool default_port = (scheme == "http" && port == 80) || (scheme == "https" && port == 443);
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return scheme + "://" + h + (default_port ? "" : ":" + std::to_string(port)) + target;
}

Result<Url> parse_url(std::string_view input) {
  std::string_view s = sw::trim(input);
  if (s.empty()) return invalid("empty URL");
  if (s.size() > 8192) return invalid("URL longer than 8192 bytes");
  if (has_control(s)) return invalid("URL contains control characters (CR, LF, NUL, ...)");
  size_t sep = s.find("://");
  size_t colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0) return invalid("not an absolute http(s) URL");
  for (size_t i = 0; i < colon; ++i) {
    char c = s[i];
    if (!(is_alpha(c) || (i > 0 && (is_digit(c) || c == '+' || c == '-' || c == '.'))))
      return invalid("not an absolute http(s) URL");
  }
  Url u;
  u.scheme = ascii_lower(s.substr(0, colon));
  if (u.scheme != "http" && u.scheme != "https")
    return invalid("unsupported URL scheme '" + u.scheme + "' (only http and https)");
  if (sep != colon) return invalid("URL must start with " + u.scheme + "://");
  std::string_view rest = s.substr(sep + 3);
  size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view tail = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (authority.find('\\') != std::string_view::npos) return invalid("backslash in URL authority");
  if (authority.find('@') != std::string_view::npos)
    return invalid("credentials (user:password@) in URLs are not allowed");
  if (authority.empty()) return invalid("URL has no host");

  std::string_view host, port;
  if (authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return invalid("unterminated IPv6 literal");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return invalid("garbage after IPv6 literal");
      port = after.substr(1);
    }
    if (host.find('%') != std::string_view::npos) return invalid("IPv6 zone identifiers are not allowed");
    auto ip = detail::parse_ipv6(host);
    if (!ip) return invalid("invalid IPv6 literal");
    u.host = detail::ip_to_string(*ip);
    u.host_is_ip = true;
  } else {
    size_t c = authority.find(':');
    host = authority.substr(0, c);
    if (c != std::string_view::npos) {
      port = authority.substr(c + 1);
      if (port.find(':') != std::string_view::npos) return invalid("IPv6 literals must be in brackets");
    }
    if (host.empty()) return invalid("URL has no host");
    u.host = std::string(host);
    if (auto st = check_reg_name(u.host, u.host_is_ip); !st) return st.error();
  }

  if (port.empty()) {
    u.port = u.scheme == "https" ? 443 : 80;
  } else {
    if (port.size() > 5) return invalid("invalid port");
    unsigned v = 0;
    for (char c : port) {
      if (!is_digit(c)) return invalid("invalid port");
      v = v * 10 + unsigned(c - '0');
    }
    if (v == 0 || v > 65535) return invalid("port out of range");
    u.port = static_cast<uint16_t>(v);
  }

  std::string_view target = tail.substr(0, tail.find('#'));  // fragment is client-side only
  std::string t;
  if (target.empty() || target.front() == '?') t = "/";
  t += target;
  u.target = encode_target(t);
  // The limit holds for the URL as it will be sent, too: percent-encoding can make it longer than the input
  // (found by fuzzing: an 8,135-byte URL whose canonical form no longer parsed).
  if (u.to_string().size() > 8192) return invalid("URL longer than 8192 bytes once percent-encoded");
  return u;
}

namespace {

// RFC 3986 §5.2.4.
std::string remove_dot_segments(std::string_view in) {
  std::string input(in), out;
  while (!input.empty()) {
    if (input.rfind("../", 0) == 0) {
      input.erase(0, 3);
    } else if (input.rfind("./", 0) == 0) {
      input.erase(0, 2);
    } else if (input.rfind("/./", 0) == 0) {
      input.erase(0, 2);
    } else if (input == "/.") {
      input = "/";
    } else if (input.rfind("/../", 0) == 0 || input == "/..") {
      input = input.size() == 3 ? std::string("/") : input.substr(3);
      auto slash = out.rfind('/');
      out.erase(slash == std::string::npos ? 0 : slash);
    } else if (input == "." || input == "..") {
      input.clear();
    } else {
      size_t next = input.find('/', input[0] == '/' ? 1 : 0);
      out += input.substr(0, next);
      input.erase(0, next == std::string::npos ? input.size() : next);
    }
  }
  return out;
}

}  // namespace

Result<Url> resolve_url(const Url& base, std::string_view ref_in) {
  std::string_view ref = sw::trim(ref_in);
  if (has_control(ref)) return invalid("redirect location contains control characters");
  // Absolute reference: has a scheme.
  size_t colon = ref.find(':');
  size_t delim = ref.find_first_of("/?#");
  if (colon != std::string_view::npos && colon > 0 && (delim == std::string_view::npos || colon < delim) &&
      is_alpha(ref[0]))
    return parse_url(ref);
  if (ref.rfind("//", 0) == 0) return parse_url(base.scheme + ":" + std::string(ref));

  std::string_view no_frag = ref.substr(0, ref.find('#'));
  size_t q = no_frag.find('?');
  std::string_view rpath = no_frag.substr(0, q);
  std::string_view rquery = q == std::string_view::npos ? std::string_view() : no_frag.substr(q);
  const std::string_view btarget(base.target);
  const size_t bq = btarget.find('?');
  std::string_view bpath = btarget.substr(0, bq);
  std::string_view bquery = bq == std::string_view::npos ? std::string_view() : btarget.substr(bq);

  std::string path, query;
  if (rpath.empty()) {
    path = std::string(bpath);
    query = std::string(q == std::string_view::npos ? bquery : rquery);
  } else {
    if (rpath.front() == '/') {
      path = remove_dot_segments(rpath);
    } else {
      std::string merged(bpath.substr(0, bpath.rfind('/') + 1));
      merged += rpath;
      path = remove_dot_segments(merged);
    }
    query = std::string(rquery);
  }
  if (path.empty() || path.front() != '/') path.insert(path.begin(), '/');
  return parse_url(base.origin() + path + query);
}

// Header lookups live here (sw_fetch_core) rather than in fetch.cpp so that code outside the on-demand HTTP
// module, which calls the fetcher through a function pointer, can read responses too.
std::vector<std::string> Response::header_values(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : headers)
    if (ascii_iequals(k, name)) out.push_back(v);
  return out;
}

std::optional<std::string> Response::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (ascii_iequals(k, name)) return v;
  return std::nullopt;
}

}  // namespace sw::fetch
