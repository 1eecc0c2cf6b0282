// The 2026-07-28 rules of Streamable HTTP on satwarden's dual-era /mcp, over raw sockets on 127.0.0.1: the modern
// request headers checked against the body (400 -32020 / -32602 / -32022, 404 -32601), POST only for a modern
// client (GET/DELETE → 405), SSE with X-Accel-Buffering: no, the bearer token and Host/Origin checks as for the
// 2025 era, and the 2025 era unchanged beside it.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>

#include "transport/transport.h"

extern "C" sw::transport::HttpServer* sw_http_server_create(sw::mcp::Server* server, const sw::config::Config* config,
                                                            const sw::transport::HttpLimits* limits);

using namespace sw;

namespace {

__attribute__((used)) sw::transport::HttpServer* (*const kLinkHttpModern)(sw::mcp::Server*, const sw::config::Config*,
                                                                          const sw::transport::HttpLimits*) = &sw_http_server_create;

std::shared_ptr<mcp::ToolRegistry> registry() {
  auto reg = std::make_shared<mcp::ToolRegistry>();
  mcp::Tool echo;
  echo.name = "echo";
  echo.title = "Echo";
  echo.description = "echoes, and says who called";
  echo.input_schema = json::parse(R"({"type":"object","properties":{"text":{"type":"string"}},"required":["text"]})");
  echo.output_schema = json::parse(R"({"type":"object","properties":{"text":{"type":"string"},"client":{"type":"string"}}})");
  echo.handler = [](const json& a, mcp::CallContext& ctx) {
    ctx.log(LogLevel::info, "echo", "called");
    return mcp::ToolOutcome::success(json{{"text", a["text"]}, {"client", ctx.client}});
  };
  REQUIRE(reg->add(echo));
  return reg;
}

struct World {
  config::Config cfg;
  mcp::Server server{mcp::ServerInfo{}, registry()};
  std::unique_ptr<transport::HttpServer> http;
  explicit World(config::Config c = {}) : cfg(std::move(c)) {
    cfg.transport = "http";
    cfg.port = 0;
    cfg.http_threads = 4;
    auto made = transport::make_http_server(server, cfg);
    REQUIRE(made);
    http = std::move(*made);
    REQUIRE(http->start());
  }
  ~World() { http->stop(); }
};

struct Reply {
  int status = 0;
  std::string head;
  std::string body;
  json rpc() const {  // the JSON body, or the last `data:` line of an SSE body
    auto j = json::parse(body, nullptr, false);
    if (!j.is_discarded()) return j;
    json last;
    size_t pos = 0;
    while ((pos = body.find("data: ", pos)) != std::string::npos) {
      auto end = body.find('\n', pos);
      auto parsed = json::parse(body.substr(pos + 6, end - pos - 6), nullptr, false);
      if (!parsed.is_discarded()) last = parsed;
      pos = end;
    }
    return last;
  }
};

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
  for (;;) {  // ends at EOF, on error, or after the 5 s receive timeout
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

json meta(json extra = json::object()) {
  json m{{mcp::kMetaProtocolVersion, mcp::kModernVersion}, {mcp::kMetaClientCapabilities, json::object()}};
  for (auto it = extra.begin(); it != extra.end(); ++it) m[it.key()] = it.value();
  return m;
}

std::string body(int id, const std::string& method, json params = json::object()) {
  if (!params.contains("_meta")) params["_meta"] = meta();
  return json{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}}.dump();
}

// A modern POST: the standard headers for `method` (and Mcp-Name when given), plus `extra` lines.
std::string post(const std::string& method, const std::string& name = "", const std::string& extra = "",
                 const std::string& accept = "application/json, text/event-stream") {
  std::string h = "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: " + accept +
                  "\r\nMCP-Protocol-Version: " + mcp::kModernVersion + "\r\nMcp-Method: " + method + "\r\n";
  if (!name.empty()) h += "Mcp-Name: " + name + "\r\n";
  return h + extra;
}

std::string bare_post(const std::string& lines) {
  return "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, "
         "text/event-stream\r\n" + lines;
}

bool has_header(const Reply& r, const std::string& line) {
  std::string h = ascii_lower(r.head), l = ascii_lower(line);
  return h.find("\r\n" + l) != std::string::npos;
}

}  // namespace

TEST_CASE("http modern: server/discover, tools/list and tools/call without initialize or session") {
  World w;
  const int port = w.http->port();
  auto d = raw_request(port, post("server/discover"), body(1, "server/discover"));
  CHECK(d.status == 200);
  CHECK_FALSE(has_header(d, "mcp-session-id"));
  auto dj = d.rpc();
  CHECK(dj["id"] == 1);
  CHECK(dj["result"]["resultType"] == "complete");
  CHECK(dj["result"]["supportedVersions"][0] == mcp::kModernVersion);
  CHECK(dj["result"]["cacheScope"] == "public");
  CHECK(dj["result"]["_meta"][mcp::kMetaServerInfo]["name"] == "satwarden");

  auto l = raw_request(port, post("tools/list"), body(2, "tools/list"));
  CHECK(l.status == 200);
  CHECK(l.rpc()["result"]["tools"][0]["name"] == "echo");
  CHECK(l.rpc()["result"].contains("ttlMs"));

  auto c = raw_request(port, post("tools/call", "echo"), body(3, "tools/call", {{"name", "echo"}, {"arguments", {{"text", "hi"}}}}));
  CHECK(c.status == 200);
  CHECK(c.rpc()["result"]["structuredContent"]["text"] == "hi");
  CHECK(c.rpc()["result"]["structuredContent"]["client"] == "http-anonymous");
  CHECK(c.body.find("notifications/message") == std::string::npos);
  CHECK(w.http->session_count() == 0);
}

TEST_CASE("http modern: header rules — 400 -32020 on a missing or different header, base64 Mcp-Name decoded") {
  World w;
  const int port = w.http->port();
  const std::string call = body(4, "tools/call", {{"name", "echo"}, {"arguments", {{"text", "hi"}}}});
  auto expect = [&](const Reply& r, int status, int code) {
    INFO(r.head << "\n" << r.body);
    CHECK(r.status == status);
    CHECK(r.rpc()["error"]["code"] == code);
    CHECK(r.rpc()["id"] == 4);
  };
  expect(raw_request(port, post("tools/call"), call), 400, mcp::kHeaderMismatch);          // no Mcp-Name
  expect(raw_request(port, post("tools/call", "other"), call), 400, mcp::kHeaderMismatch); // different name
  expect(raw_request(port, post("tools/list", "echo"), call), 400, mcp::kHeaderMismatch);  // different method
  expect(raw_request(port, bare_post("MCP-Protocol-Version: 2026-07-28\r\nMcp-Name: echo\r\n"), call), 400,
         mcp::kHeaderMismatch);  // no Mcp-Method
  expect(raw_request(port, bare_post("Mcp-Method: tools/call\r\nMcp-Name: echo\r\n"), call), 400,
         mcp::kHeaderMismatch);  // no MCP-Protocol-Version
  auto b64 = raw_request(port, post("tools/call", "=?base64?" + base64_encode(to_bytes("echo")) + "?="), call);
  CHECK(b64.status == 200);
  CHECK(b64.rpc()["result"]["structuredContent"]["text"] == "hi");
  // Missing _meta keys: -32602 / 400 (before the headers); header version v999 with body 2026-07-28: -32020;
  // both v999: -32022 with data.supported; removed and unknown methods: 404 -32601.
  json no_caps = json::parse(call);
  no_caps["params"]["_meta"].erase(mcp::kMetaClientCapabilities);
  expect(raw_request(port, post("tools/call", "echo"), no_caps.dump()), 400, mcp::kInvalidParams);
  auto v999 = "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json\r\n"
              "MCP-Protocol-Version: v999\r\nMcp-Method: tools/call\r\nMcp-Name: echo\r\n";
  expect(raw_request(port, v999, call), 400, mcp::kHeaderMismatch);
  json both = json::parse(call);
  both["params"]["_meta"][mcp::kMetaProtocolVersion] = "v999";
  auto unsupported = raw_request(port, v999, both.dump());
  expect(unsupported, 400, mcp::kUnsupportedVersion);
  CHECK(unsupported.rpc()["error"]["data"]["requested"] == "v999");
  CHECK(unsupported.rpc()["error"]["data"]["supported"][0] == mcp::kModernVersion);
  for (const char* m : {"initialize", "ping", "logging/setLevel", "unknown/method"}) {
    INFO(m);
    auto r = raw_request(port, post(m), body(4, m));
    expect(r, 404, mcp::kMethodNotFound);
  }
}

TEST_CASE("http modern: GET and DELETE are 405 for a modern client, the 2025 era is unchanged beside it") {
  World w;
  const int port = w.http->port();
  for (const char* m : {"GET", "DELETE"}) {
    auto r = raw_request(port, std::string(m) + " /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                                                "MCP-Protocol-Version: 2026-07-28\r\n");
    CHECK(r.status == 405);
    CHECK(has_header(r, "allow: POST"));
  }
  // Legacy: initialize makes a session; without one a request is still 400 "Mcp-Session-Id header is required".
  auto init = raw_request(port, bare_post(""), R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25"}})");
  CHECK(init.status == 200);
  CHECK(has_header(init, "mcp-session-id"));
  CHECK(init.rpc()["result"]["protocolVersion"] == "2025-11-25");
  CHECK_FALSE(init.rpc()["result"].contains("resultType"));
  auto nosess = raw_request(port, bare_post("MCP-Protocol-Version: 2025-11-25\r\n"), R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})");
  CHECK(nosess.status == 400);
  CHECK(nosess.rpc()["error"]["code"] == mcp::kInvalidRequest);
  auto get = raw_request(port, "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n");
  CHECK(get.status == 400);  // a 2025 GET without a session
}

TEST_CASE("http modern: SSE answers carry X-Accel-Buffering: no, logs only with logLevel") {
  World w;
  const int port = w.http->port();
  auto r = raw_request(port, post("tools/call", "echo"),
                       body(5, "tools/call", {{"name", "echo"}, {"arguments", {{"text", "x"}}},
                                              {"_meta", meta({{mcp::kMetaLogLevel, "debug"}})}}));
  CHECK(r.status == 200);
  CHECK(has_header(r, "content-type: text/event-stream"));
  CHECK(has_header(r, "x-accel-buffering: no"));
  CHECK(r.body.find("notifications/message") != std::string::npos);
  CHECK(r.rpc()["result"]["structuredContent"]["text"] == "x");
  auto sse_only = raw_request(port, post("tools/call", "echo", "", "text/event-stream"),
                              body(6, "tools/call", {{"name", "echo"}, {"arguments", {{"text", "y"}}}}));
  CHECK(has_header(sse_only, "x-accel-buffering: no"));
  CHECK(sse_only.body.find("notifications/message") == std::string::npos);
  CHECK(sse_only.rpc()["result"]["structuredContent"]["text"] == "y");
}

TEST_CASE("http modern: bearer tokens and Host/Origin checks apply, the token's label is the caller") {
  config::Config c;
  config::Token t;
  t.token = "secret-token-1";
  t.label = "agent-a";
  c.tokens.push_back(t);
  World w(c);
  const int port = w.http->port();
  const std::string call = body(7, "tools/call", {{"name", "echo"}, {"arguments", {{"text", "hi"}}}});
  auto none = raw_request(port, post("tools/call", "echo"), call);
  CHECK(none.status == 401);
  auto wrong = raw_request(port, post("tools/call", "echo", "Authorization: Bearer nope\r\n"), call);
  CHECK(wrong.status == 401);
  auto ok = raw_request(port, post("tools/call", "echo", "Authorization: Bearer secret-token-1\r\n"), call);
  CHECK(ok.status == 200);
  CHECK(ok.rpc()["result"]["structuredContent"]["client"] == "agent-a");
  auto origin = raw_request(port, post("tools/call", "echo", "Authorization: Bearer secret-token-1\r\nOrigin: http://evil.example.com\r\n"), call);
  CHECK(origin.status == 403);
  auto host = raw_request(port, "POST /mcp HTTP/1.1\r\nHost: evil.example.com\r\nContent-Type: application/json\r\n"
                                "MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\nMcp-Name: echo\r\n"
                                "Authorization: Bearer secret-token-1\r\n", call);
  CHECK(host.status == 403);
}
