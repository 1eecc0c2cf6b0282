// The HTTP transport on 127.0.0.1 with an ephemeral port, spoken to over raw sockets so a test can send what
// a well-behaved client library would not (two Host lines, odd Origins, a 200 KB body nesting 100,000 arrays).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>

#include "transport/transport.h"

// Defined in http.cpp. The loader only refers to it weakly, which would not pull http.cpp out of the static
// archive; this strong reference does, so make_http_server() finds the in-process copy.
extern "C" sw::transport::HttpServer* sw_http_server_create(sw::mcp::Server* server, const sw::config::Config* config,
                                                            const sw::transport::HttpLimits* limits);

using namespace sw;

namespace {

// `used`: kept (with its reference) although nothing reads it.
__attribute__((used)) sw::transport::HttpServer* (*const kLinkHttp)(sw::mcp::Server*, const sw::config::Config*,
                                                                    const sw::transport::HttpLimits*) = &sw_http_server_create;

struct HttpWorld {
  config::Config cfg;
  mcp::Server server{mcp::ServerInfo{}, std::make_shared<mcp::ToolRegistry>()};
  std::unique_ptr<transport::HttpServer> http;
  explicit HttpWorld(config::Config c = {}) : cfg(std::move(c)) {
    cfg.transport = "http";
    cfg.port = 0;
    cfg.http_threads = 4;
    auto made = transport::make_http_server(server, cfg);
    INFO((made ? std::string() : made.error().code + ": " + made.error().message));
    REQUIRE(made);
    http = std::move(*made);
    REQUIRE(http->start());
    REQUIRE(http->port() > 0);
  }
  ~HttpWorld() { http->stop(); }
};

struct Reply {
  int status = 0;
  std::string head;
  std::string body;
};

// Sends one raw request (the caller writes every header; "Connection: close" is added) and reads the answer until
// the server closes, for at most 5 s.
Reply raw_request(int port, const std::string& head_lines, const std::string& body = "") {
  Reply r;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  std::string out = head_lines + "Connection: close\r\n";
  if (!body.empty()) out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "\r\n" + body;
  size_t sent = 0;
  while (sent < out.size()) {
    ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string in;
  char buf[8192];
  for (;;) {  // ends at EOF, on error, or when the 5 s receive timeout passes
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  auto sp = in.find(' ');
  if (in.rfind("HTTP/1.", 0) == 0 && sp != std::string::npos) r.status = std::atoi(in.c_str() + sp + 1);
  auto end = in.find("\r\n\r\n");
  r.head = in.substr(0, end);
  if (end != std::string::npos) r.body = in.substr(end + 4);
  return r;
}

std::string post_mcp(const std::string& extra_headers = "Host: 127.0.0.1\r\n") {
  return "POST /mcp HTTP/1.1\r\n" + extra_headers +
         "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n";
}

const std::string kInit = R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25"}})";

int healthz(int port, const std::string& headers) {
  return raw_request(port, "GET /healthz HTTP/1.1\r\n" + headers).status;
}

}  // namespace

TEST_CASE("http: a 100,000-deep initialize body is answered 400 with a JSON-RPC error, and the server keeps serving") {
  HttpWorld w;
  const int port = w.http->port();
  std::string deep = R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","x":)" +
                     std::string(100000, '[') + std::string(100000, ']') + "}}";
  REQUIRE(deep.size() > 200000);
  auto r = raw_request(port, post_mcp(), deep);
  CHECK(r.status == 400);
  auto body = json::parse(r.body, nullptr, false);
  REQUIRE(body.is_object());
  CHECK(body["error"]["code"] == mcp::kInvalidRequest);
  CHECK(body["id"].is_null());
  CHECK(w.http->session_count() == 0);
  // The same depth inside arguments and _meta of a later request, and a body that is only brackets.
  for (const std::string& text :
       {std::string(R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x","arguments":{"a":)") +
            std::string(100000, '[') + std::string(100000, ']') + "}}}",
        std::string(R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"x","_meta":)") +
            std::string(100000, '{') + "}}",
        std::string(150000, '[')}) {
    auto d = raw_request(port, post_mcp(), text);
    CHECK(d.status == 400);
    CHECK(json::parse(d.body, nullptr, false)["error"]["code"] == mcp::kInvalidRequest);
  }
  auto ok = raw_request(port, post_mcp(), kInit);
  CHECK(ok.status == 200);
  CHECK(json::parse(ok.body, nullptr, false)["result"]["protocolVersion"] == "2025-11-25");
  CHECK(healthz(port, "Host: 127.0.0.1\r\n") == 200);
}

TEST_CASE("http: two Host headers, a malformed Host, or none on HTTP/1.1 are a 400 (RFC 9112)") {
  HttpWorld w;
  const int port = w.http->port();
  CHECK(healthz(port, "Host: 127.0.0.1\r\n") == 200);
  CHECK(healthz(port, "Host: 127.0.0.1\r\nHost: 127.0.0.1\r\n") == 400);
  CHECK(healthz(port, "Host: 127.0.0.1\r\nHost: evil.example\r\n") == 400);
  CHECK(healthz(port, "host: localhost\r\nHOST: localhost\r\n") == 400);  // field names are case-insensitive
  CHECK(healthz(port, "") == 400);
  CHECK(healthz(port, "Host: local host\r\n") == 400);
  CHECK(healthz(port, "Host: user@127.0.0.1\r\n") == 400);
  CHECK(healthz(port, "Host: 127.0.0.1:80:80\r\n") == 400);
  CHECK(healthz(port, "Host: [::1\r\n") == 400);
  CHECK(raw_request(port, post_mcp("Host: 127.0.0.1\r\nHost: 127.0.0.1\r\n"), kInit).status == 400);
  CHECK(w.http->session_count() == 0);
  // HTTP/1.0 may omit Host; it is then not loopback, so the DNS-rebinding guard refuses /mcp.
  CHECK(raw_request(port, "GET /healthz HTTP/1.0\r\n").status == 200);
  CHECK(raw_request(port, "POST /mcp HTTP/1.0\r\nContent-Type: application/json\r\n", kInit).status == 403);
}

TEST_CASE("http: only a well-formed loopback Origin counts as loopback") {
  HttpWorld w;
  const int port = w.http->port();
  auto with_origin = [&](const std::string& origin) {
    return raw_request(port, post_mcp("Host: 127.0.0.1\r\nOrigin: " + origin + "\r\n"), kInit).status;
  };
  for (const char* good : {"http://localhost", "http://localhost:3000", "https://127.0.0.1:8402", "http://[::1]:8080",
                           "http://LOCALHOST:1", "http://127.1.2.3"}) {
    INFO(good);
    CHECK(with_origin(good) == 200);
  }
  for (const char* bad : {"http://localhost:1@evil.com", "http://localhost@evil.com", "http://evil.com",
                          "http://127.0.0.1.nip.io", "http://localhost.evil.com", "http://localhost/path",
                          "http://localhost:3000/", "http://localhost:99999", "http://localhost:", "null",
                          "file://localhost", "localhost", "http://", "http://[::1", "http://[::2]", "http://127.1",
                          "http://localhost?x", "http://localhost#x", "http://0x7f.0.0.1"}) {
    INFO(bad);
    CHECK(with_origin(bad) == 403);
  }
  // Two Origin lines are never trusted, even when both are loopback.
  CHECK(raw_request(port, post_mcp("Host: 127.0.0.1\r\nOrigin: http://localhost\r\nOrigin: http://localhost\r\n"),
                    kInit)
            .status == 403);
}

TEST_CASE("http: an allow-listed Origin is accepted exactly as configured") {
  config::Config c;
  c.allowed_origins = {"https://app.example.com", "null"};
  HttpWorld w(c);
  auto status = [&](const std::string& origin) {
    return raw_request(w.http->port(), post_mcp("Host: 127.0.0.1\r\nOrigin: " + origin + "\r\n"), kInit).status;
  };
  CHECK(status("https://app.example.com") == 200);
  CHECK(status("null") == 200);  // only because it is listed
  CHECK(status("https://app.example.com.evil.com") == 403);
  CHECK(status("https://app.example.com@evil.com") == 403);
}

TEST_CASE("http: on loopback the Host must name loopback, parsed, not matched by prefix") {
  HttpWorld w;
  const int port = w.http->port();
  auto host_status = [&](const std::string& host) {
    return raw_request(port, post_mcp("Host: " + host + "\r\n"), kInit).status;
  };
  for (const char* good : {"127.0.0.1", "127.0.0.1:8402", "localhost:8402", "LocalHost", "[::1]:8402", "127.3.4.5"}) {
    INFO(good);
    CHECK(host_status(good) == 200);
  }
  for (const char* bad : {"127.0.0.1.nip.io", "127.0.0.1.nip.io:8402", "localhost.evil.com", "evil.com",
                          "127.1", "[::2]:8402", "0.0.0.0"}) {
    INFO(bad);
    CHECK(host_status(bad) == 403);
  }
}
