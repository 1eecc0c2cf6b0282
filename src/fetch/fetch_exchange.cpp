// Fetcher, one exchange (hop) on one connection to a checked address: connect and TLS (Wire, fetch_conn.cpp) with
// their failures mapped to error codes, the request (framing headers are ours), the response head bounded by
// ResponseHeadParser (line length, header count, total header bytes), then the body, capped: Content-Length,
// chunked, or until the connection closes. Every wait is bounded by the operation's timeout, the fetch's deadline
// and cancellation.
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>

#include "fetch/internal.h"
#include "sw_version.h"

namespace sw::fetch {

using detail::Wire;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

milliseconds clamp_to(milliseconds want, SteadyClock::time_point deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - SteadyClock::now());
  if (left.count() < 1) left = milliseconds(1);
  return want < left ? want : left;
}

std::string host_label(const Url& u, const std::string& ip) {
  std::string h = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
  h += ":" + std::to_string(u.port);
  if (ip != u.host) h += " (" + ip + ")";
  return h;
}

// Reading a response: bytes arrive into `buf`; the head is parsed with bounded lines, count and size, then the
// body is framed (Content-Length, chunked, or until the connection closes) and capped.
struct ResponseReader {
  Wire& wire;
  milliseconds read_timeout;
  std::string buf;
  size_t pos = 0;
  bool eof = false;
  std::optional<Wire::Wait> stopped;  // timeout / deadline / cancelled
  int io_error = 0;

  // More bytes (at most 16 KiB per call). False at EOF, error or stop.
  bool more() {
    if (pos > 0 && pos == buf.size()) {
      buf.clear();
      pos = 0;
    }
    char tmp[16384];
    size_t n = 0;
    auto w = wire.recv_some(tmp, sizeof tmp, n, read_timeout);
    if (w != Wire::Wait::ready) {
      stopped = w;
      return false;
    }
    if (wire.error()) {
      io_error = wire.error();
      return false;
    }
    if (n == 0) {
      eof = true;
      return false;
    }
    buf.append(tmp, n);
    return true;
  }

  // One line (CRLF or LF stripped) of at most `limit` bytes. nullopt: EOF/error/stop, or `too_long` set.
  std::optional<std::string> line(size_t limit, bool& too_long) {
    size_t scanned = 0;  // relative to pos (more() may move the unconsumed bytes to the front)
    for (;;) {
      auto nl = buf.find('\n', pos + scanned);
      if (nl != std::string::npos) {
        if (nl - pos > limit + 1) {
          too_long = true;
          return std::nullopt;
        }
        std::string l = buf.substr(pos, nl - pos);
        pos = nl + 1;
        if (!l.empty() && l.back() == '\r') l.pop_back();
        return l;
      }
      if (buf.size() - pos > limit + 1) {
        too_long = true;
        return std::nullopt;
      }
      scanned = buf.size() - pos;
      if (!more()) return std::nullopt;
    }
  }
};

}  // namespace

namespace detail {

ResponseHeadParser::State ResponseHeadParser::fail(std::string message, bool limit) {
  message_ = std::move(message);
  limit_hit_ = limit;
  return State::error;
}

ResponseHeadParser::State ResponseHeadParser::feed(std::string_view buf) {
  for (;;) {
    size_t nl = buf.find('\n', std::max(pos_, scan_));
    if (nl == std::string_view::npos) {
      scan_ = buf.size();
      if (buf.size() - pos_ > max_line_ + 1)
        return fail(std::string(in_headers_ ? "a header line" : "a status line") + " longer than " +
                        std::to_string(max_line_) + " bytes", true);
      return State::need_more;
    }
    std::string_view line = buf.substr(pos_, nl - pos_);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > max_line_)
      return fail(std::string(in_headers_ ? "a header line" : "a status line") + " longer than " +
                      std::to_string(max_line_) + " bytes", true);
    pos_ = nl + 1;
    scan_ = pos_;
    if (!in_headers_) {
      // "HTTP/1.x SP 3DIGIT [SP reason]"
      auto digit = [&](size_t i) { return std::isdigit(static_cast<unsigned char>(line[i])) != 0; };
      if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[8] != ' ' || !digit(9) || !digit(10) ||
          !digit(11) || (line.size() > 12 && line[12] != ' '))
        return fail("not an HTTP/1.x status line", false);
      status_ = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
      headers_.clear();
      in_headers_ = true;
      continue;
    }
    if (line.empty()) {
      if (status_ >= 200 || status_ == 101) return State::done;
      if (++interim_ > 10) return fail("too many interim responses", false);
      in_headers_ = false;  // an interim 1xx: the real response follows
      continue;
    }
    head_bytes_ += line.size() + 2;
    if (head_bytes_ > max_bytes_)
      return fail("header lines totalling more than " + std::to_string(max_bytes_) + " bytes", true);
    if (headers_.size() >= max_headers_) return fail("more than " + std::to_string(max_headers_) + " header lines", true);
    if (line[0] == ' ' || line[0] == '\t') return fail("folded header line", false);
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0 || !is_token(line.substr(0, colon)))
      return fail("malformed header line", false);
    std::string_view v = line.substr(colon + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    // RFC 9110 §5.5: a value with CR or NUL (LF cannot occur here) is invalid; the recipient rejects or rewrites
    // it. Rejected: such a header never reaches the challenge parsers or the agent.
    if (v.find_first_of(std::string_view("\r\0", 2)) != std::string_view::npos)
      return fail("a header value with a CR or NUL character", false);
    headers_.emplace_back(ascii_lower(line.substr(0, colon)), std::string(v));
  }
}

HopResult do_hop(const HopInput& in, const Options& o, SteadyClock::time_point deadline,
                 const std::function<bool()>& cancelled) {
  HopResult out;
  const Url& url = *in.url;
  const bool https = url.scheme == "https";
  const std::string where = host_label(url, in.ip);
  json d{{"host", url.host}, {"address", in.ip}};
  Wire wire(deadline, cancelled);
  // A stop (timeout / deadline / cancel) as an error.
  auto stopped = [&](Wire::Wait w, const std::string& while_doing, const std::string& timeout_msg) {
    if (w == Wire::Wait::cancelled) return make_error("CANCELLED", "request to " + where + " cancelled");
    if (w == Wire::Wait::deadline)
      return make_error("TIMEOUT", "total timeout of " + std::to_string(o.total_timeout.count()) + " ms exceeded (" +
                                       where + ", " + while_doing + ")");
    return make_error("TIMEOUT", timeout_msg, d);
  };

  // 1. Connect (and TLS), within the connect timeout.
  const milliseconds connect_timeout = clamp_to(o.connect_timeout, deadline);
  auto w = wire.connect(in.ip, url.port, connect_timeout);
  if (w == Wire::Wait::timeout) {
    out.connect_failed = true;
    out.error = make_error("UNREACHABLE", "connecting to " + where + " timed out", d);
    return out;
  }
  if (w != Wire::Wait::ready) {
    out.error = stopped(w, "connecting", "");
    return out;
  }
  if (wire.error()) {
    out.connect_failed = true;
    d["errno"] = std::strerror(wire.error());
    out.error = make_error("UNREACHABLE", "could not connect to " + where + " (refused or unreachable)", d);
    return out;
  }
  if (https) {
    auto t = wire.tls(url, o, clamp_to(o.connect_timeout, deadline));
    if (t.wait == Wire::Wait::timeout) {
      out.error = make_error("TLS_FAILED", "TLS handshake with " + where + " timed out", d);
      return out;
    }
    if (t.wait != Wire::Wait::ready) {
      out.error = stopped(t.wait, "TLS handshake", "");
      return out;
    }
    if (t.ca_failed) {
      out.error = make_error("TLS_FAILED",
                             std::string("could not load CA certificates") +
                                 (o.ca_file.empty() ? " (system store)" : " from the configured ca_file") + " for " +
                                 where, d);
      return out;
    }
    if (!t.ok) {
      if (t.verify != X509_V_OK) {
        std::string why = (t.verify == X509_V_ERR_HOSTNAME_MISMATCH || t.verify == X509_V_ERR_IP_ADDRESS_MISMATCH)
                              ? "certificate does not match host name '" + url.host + "'"
                              : X509_verify_cert_error_string(t.verify);
        d["verify_result"] = t.verify;
        out.error = make_error("TLS_FAILED", "certificate verification failed for " + where + ": " + why, d);
      } else {
        out.error = make_error("TLS_FAILED", "TLS handshake with " + where + " failed", d);
      }
      return out;
    }
  }

  // 2. The request. Headers are sent as given (checked by check_headers); framing headers are ours.
  std::string req = in.method + " " + url.target + " HTTP/1.1\r\n";
  std::string host_hdr = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  if (!((url.scheme == "http" && url.port == 80) || (url.scheme == "https" && url.port == 443)))
    host_hdr += ":" + std::to_string(url.port);
  req += "Host: " + host_hdr + "\r\n";
  bool has_ua = false, has_accept = false;
  for (const auto& [k, v] : *in.headers) {
    has_ua = has_ua || ascii_iequals(k, "user-agent");
    has_accept = has_accept || ascii_iequals(k, "accept");
    req += k + ": " + v + "\r\n";
  }
  if (!has_ua) req += "User-Agent: " + (o.user_agent.empty() ? std::string("satwarden/" SW_VERSION) : o.user_agent) + "\r\n";
  if (!has_accept) req += "Accept: */*\r\n";
  const bool body_method = in.method == "POST" || in.method == "PUT" || in.method == "PATCH";
  if (!in.body->empty() || body_method) req += "Content-Length: " + std::to_string(in.body->size()) + "\r\n";
  req += "Connection: close\r\n\r\n";
  req += *in.body;
  const milliseconds read_timeout = clamp_to(o.read_timeout, deadline);
  w = wire.send_all(req, read_timeout);
  if (w != Wire::Wait::ready) {
    out.error = stopped(w, "sending the request", "sending the request to " + where + " timed out");
    return out;
  }
  if (wire.error()) {
    out.error = make_error("UNREACHABLE", "connection to " + where + " lost while sending the request", d);
    return out;
  }

  // 3. The response head, bounded: each line, the number of header lines and their total size.
  ResponseReader rd{wire, read_timeout, {}, 0, false, std::nullopt, 0};
  auto read_failed = [&](const std::string& doing) -> Error {
    if (rd.stopped)
      return stopped(*rd.stopped, doing,
                     "no response from " + where + " within the read timeout of " + std::to_string(o.read_timeout.count()) +
                         " ms");
    return make_error("BAD_RESPONSE", "connection closed or invalid HTTP response from " + where + " (" + doing + ")", d);
  };
  auto too_big = [&](const std::string& what) {
    d["limit"] = what;
    return make_error("BAD_RESPONSE", "the response from " + where + " has " + what +
                                          "; it was refused without reading further", d);
  };
  Response& r = out.response;
  detail::ResponseHeadParser head(o.max_header_line_bytes, o.max_headers, o.max_header_bytes);
  for (;;) {
    auto st = head.feed(rd.buf);
    if (st == detail::ResponseHeadParser::State::done) break;
    if (st == detail::ResponseHeadParser::State::error) {
      if (head.limit_hit()) {
        d["limit"] = head.message();
        out.error = make_error("BAD_RESPONSE", "the response from " + where + " has " + head.message() +
                                                   "; it was refused without reading further", d);
      } else {
        out.error = make_error("BAD_RESPONSE", "invalid HTTP response from " + where + " (" + head.message() + ")", d);
      }
      return out;
    }
    if (!rd.more()) {
      out.error = read_failed(head.consumed() == 0 ? "reading the status line" : "reading the headers");
      return out;
    }
  }
  rd.pos = head.consumed();
  r.status = head.status();
  r.headers = head.headers();

  // 4. The body, capped at max_body_bytes: Content-Length, chunked, or until the connection closes.
  std::string body;
  bool truncated = false;
  const size_t cap = o.max_body_bytes;
  auto take = [&](std::string_view data) {  // false once the cap is reached
    size_t room = cap - body.size();
    if (data.size() > room) {
      body.append(data.substr(0, room));
      truncated = true;
      return false;
    }
    body.append(data);
    return true;
  };
  const bool no_body = in.method == "HEAD" || r.status == 204 || r.status == 304 || r.status < 200;
  std::string te = ascii_lower(r.header("transfer-encoding").value_or(""));
  auto cls = r.header_values("content-length");
  if (!no_body && te.find("chunked") != std::string::npos) {
    for (bool go = true; go;) {
      bool too_long = false;
      auto size_line = rd.line(1024, too_long);
      if (!size_line) {
        out.error = too_long ? too_big("a chunk-size line longer than 1024 bytes") : read_failed("reading the body");
        return out;
      }
      std::string hex = size_line->substr(0, size_line->find(';'));
      while (!hex.empty() && (hex.back() == ' ' || hex.back() == '\t')) hex.pop_back();
      if (hex.empty() || hex.size() > 15 || !std::all_of(hex.begin(), hex.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); })) {
        out.error = make_error("BAD_RESPONSE", "invalid HTTP response from " + where + " (bad chunk size)", d);
        return out;
      }
      size_t left = std::stoull(hex, nullptr, 16);
      if (left == 0) break;  // trailers are not read: the connection closes anyway
      while (left > 0) {
        if (rd.pos == rd.buf.size() && !rd.more()) {
          out.error = read_failed("reading the body");
          return out;
        }
        size_t n = std::min(left, rd.buf.size() - rd.pos);
        go = take(std::string_view(rd.buf).substr(rd.pos, n));
        rd.pos += n;
        left -= n;
        if (!go) break;
      }
      if (!go) break;
      auto crlf = rd.line(2, too_long);
      if (!crlf || !crlf->empty()) {
        out.error = make_error("BAD_RESPONSE", "invalid HTTP response from " + where + " (bad chunk framing)", d);
        return out;
      }
    }
  } else if (!no_body && !cls.empty()) {
    const std::string& cl = cls.front();
    for (const auto& other : cls)
      if (other != cl) {
        out.error = make_error("BAD_RESPONSE", "invalid HTTP response from " + where + " (conflicting Content-Length)", d);
        return out;
      }
    if (cl.empty() || cl.size() > 18 || !std::all_of(cl.begin(), cl.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      out.error = make_error("BAD_RESPONSE", "invalid HTTP response from " + where + " (bad Content-Length)", d);
      return out;
    }
    size_t left = std::stoull(cl);
    while (left > 0) {
      if (rd.pos == rd.buf.size() && !rd.more()) {
        out.error = read_failed("reading the body");
        return out;
      }
      size_t n = std::min(left, rd.buf.size() - rd.pos);
      bool go = take(std::string_view(rd.buf).substr(rd.pos, n));
      rd.pos += n;
      left -= n;
      if (!go) break;
    }
  } else if (!no_body) {
    for (;;) {
      if (rd.pos < rd.buf.size()) {
        bool go = take(std::string_view(rd.buf).substr(rd.pos));
        rd.pos = rd.buf.size();
        if (!go) break;
      }
      if (!rd.more()) {
        if (rd.stopped || rd.io_error) {
          out.error = read_failed("reading the body");
          return out;
        }
        break;  // EOF ends the body
      }
    }
  }

  r.content_type = r.header("content-type").value_or("");
  r.body = std::move(body);
  r.truncated = truncated;
  r.remote_ip = in.ip;
  r.url = url.to_string();
  return out;
}

}  // namespace detail

}  // namespace sw::fetch
