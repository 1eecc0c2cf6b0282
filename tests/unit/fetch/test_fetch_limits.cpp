// The fetcher bounds what a hostile server can make it hold in the response head: the status line and each header
// line, the number of header lines and their total size. A raw TCP server on 127.0.0.1 streams the hostile
// response; the fetch must fail with BAD_RESPONSE naming the limit long before the server is done.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "fetch/fetch.h"
#include "fetch/internal.h"

using namespace sw;
using namespace sw::fetch;
using namespace std::chrono_literals;

namespace {

// Accepts one connection, reads the request, then sends `head` followed by `piece(i)` for i = 0.. until `total`
// bytes were sent or the client went away. `sent` counts what the kernel accepted.
struct HostileServer {
  int lfd = -1;
  int port = 0;
  std::atomic<size_t> sent{0};
  std::thread th;
  HostileServer(std::string head, std::function<std::string(size_t)> piece, size_t total) {
    lfd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(lfd, 4) == 0);
    socklen_t len = sizeof a;
    ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    th = std::thread([this, head = std::move(head), piece = std::move(piece), total] {
      int c = ::accept(lfd, nullptr, nullptr);
      if (c < 0) return;
      timeval tv{5, 0};
      ::setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      char buf[4096];
      (void)::recv(c, buf, sizeof buf, 0);
      std::string out = head;
      size_t i = 0;
      while (!out.empty() || sent < total) {
        if (out.empty()) out = piece(i++);
        if (out.empty()) break;
        ssize_t n = ::send(c, out.data(), out.size(), MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<size_t>(n);
        out.erase(0, static_cast<size_t>(n));
      }
      ::close(c);
    });
  }
  ~HostileServer() {
    ::shutdown(lfd, SHUT_RDWR);
    if (th.joinable()) th.join();
    ::close(lfd);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/paid"; }
};

Options local() {
  Options o;
  o.allow = {"127.0.0.1"};
  o.total_timeout = 10s;
  return o;
}

Request get(const std::string& url) {
  Request r;
  r.url = url;
  return r;
}

}  // namespace

TEST_CASE("fetch: one endless response header line is refused at the line limit", "[fetch][live][limits]") {
  const std::string mb(1 << 20, 'a');
  HostileServer s("HTTP/1.1 402 Payment Required\r\nX-Huge: ", [&](size_t) { return mb; }, size_t(200) << 20);
  auto t0 = std::chrono::steady_clock::now();
  auto r = Fetcher{}.fetch(get(s.url()), local());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "BAD_RESPONSE");
  CHECK(r.error().message.find("header line longer than 32768 bytes") != std::string::npos);
  CHECK(r.error().message.find("127.0.0.1") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);
  CHECK(s.sent.load() < (size_t(32) << 20));  // the server could not push more than socket buffers' worth
}

TEST_CASE("fetch: an endless status line, too many header lines, too many header bytes", "[fetch][live][limits]") {
  {
    const std::string mb(1 << 20, 'b');
    HostileServer s("HTTP/1.1 200 ", [&](size_t) { return mb; }, size_t(64) << 20);
    auto r = Fetcher{}.fetch(get(s.url()), local());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "BAD_RESPONSE");
    CHECK(r.error().message.find("status line longer than") != std::string::npos);
  }
  {
    HostileServer s("HTTP/1.1 402 Payment Required\r\n",
                    [](size_t i) { return "X-" + std::to_string(i) + ": v\r\n"; }, size_t(8) << 20);
    auto r = Fetcher{}.fetch(get(s.url()), local());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "BAD_RESPONSE");
    CHECK(r.error().message.find("more than 128 header lines") != std::string::npos);
  }
  {
    const std::string line = "X-Big: " + std::string(30000, 'c') + "\r\n";
    HostileServer s("HTTP/1.1 402 Payment Required\r\n", [&](size_t) { return line; }, size_t(8) << 20);
    auto r = Fetcher{}.fetch(get(s.url()), local());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "BAD_RESPONSE");
    CHECK(r.error().message.find("header lines totalling more than 131072 bytes") != std::string::npos);
  }
  {  // Custom limits apply, and a head within them is fine.
    HostileServer s("HTTP/1.1 200 OK\r\nX-A: " + std::string(100, 'a') + "\r\nContent-Length: 2\r\n\r\nok",
                    [](size_t) { return std::string(); }, 0);
    Options o = local();
    o.max_header_line_bytes = 128;
    auto r = Fetcher{}.fetch(get(s.url()), o);
    REQUIRE(r.ok());
    CHECK(r->status == 200);
    CHECK(r->body == "ok");
    CHECK(r->header("x-a") == std::string(100, 'a'));
  }
  {
    HostileServer s("HTTP/1.1 200 OK\r\nX-A: " + std::string(200, 'a') + "\r\nContent-Length: 2\r\n\r\nok",
                    [](size_t) { return std::string(); }, 0);
    Options o = local();
    o.max_header_line_bytes = 128;
    auto r = Fetcher{}.fetch(get(s.url()), o);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "BAD_RESPONSE");
  }
}

TEST_CASE("fetch: the response-head parser, byte by byte and at its limits", "[fetch][limits]") {
  using P = detail::ResponseHeadParser;
  const std::string resp = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 402 Payment Required\r\nWWW-Authenticate:  L402 a=b \r\n"
                           "www-authenticate: Payment x\r\nContent-Length: 4\r\n\r\nbody";
  P p(64, 8, 256);
  P::State st = P::State::need_more;
  for (size_t i = 1; i <= resp.size() && st == P::State::need_more; ++i) st = p.feed(std::string_view(resp).substr(0, i));
  REQUIRE(st == P::State::done);
  CHECK(p.status() == 402);
  REQUIRE(p.headers().size() == 3);
  CHECK(p.headers()[0] == std::pair<std::string, std::string>{"www-authenticate", "L402 a=b"});
  CHECK(p.headers()[1].first == "www-authenticate");
  CHECK(resp.substr(p.consumed()) == "body");

  auto verdict = [](const std::string& text, size_t line = 64, size_t count = 8, size_t bytes = 256) {
    P q(line, count, bytes);
    auto s2 = q.feed(text);
    return s2 == P::State::error ? (q.limit_hit() ? "limit: " : "invalid: ") + q.message()
                                 : s2 == P::State::done ? std::string("done") : std::string("more");
  };
  CHECK(verdict("HTTP/1.1 200 " + std::string(100, 'r')) == "limit: a status line longer than 64 bytes");
  CHECK(verdict("HTTP/1.1 200 OK\r\nX: " + std::string(100, 'v')) == "limit: a header line longer than 64 bytes");
  std::string many = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 9; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  CHECK(verdict(many) == "limit: more than 8 header lines");
  std::string big = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 6; ++i) big += "X-" + std::to_string(i) + ": " + std::string(50, 'v') + "\r\n";
  CHECK(verdict(big) == "limit: header lines totalling more than 256 bytes");
  CHECK(verdict("SMTP ready\r\n") == "invalid: not an HTTP/1.x status line");
  CHECK(verdict("HTTP/1.1 200 OK\r\n folded\r\n\r\n") == "invalid: folded header line");
  CHECK(verdict("HTTP/1.1 200 OK\r\nBad Name: v\r\n\r\n") == "invalid: malformed header line");
  std::string interims;
  for (int i = 0; i < 11; ++i) interims += "HTTP/1.1 103 Early Hints\r\n\r\n";
  CHECK(verdict(interims, 64, 8, 4096) == "invalid: too many interim responses");
  CHECK(verdict("HTTP/1.0 204 No Content\r\n\r\n") == "done");
  CHECK(verdict("HTTP/1.1 200 OK\r\nX: v\r\n") == "more");
  // RFC 9110 §5.5: CR or NUL inside a value is refused (found by the fetch_head fuzz target); other controls stay.
  CHECK(verdict(std::string("HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n", 28)) ==
        "invalid: a header value with a CR or NUL character");
  CHECK(verdict("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n") == "invalid: a header value with a CR or NUL character");
  CHECK(verdict("HTTP/1.1 200 OK\r\nX: a\r\r\n\r\n") == "invalid: a header value with a CR or NUL character");
  CHECK(verdict("HTTP/1.1 200 OK\r\nX: a\x01b\r\n\r\n") == "done");
}
