// Server→client requests (elicitation/create) through the transports: Streamable HTTP on 127.0.0.1 with an
// ephemeral port, over raw sockets (the JSON-mode POST becomes SSE when the tool asks; the client's response is a
// POST of its own, answered 202), and stdio (stdin closing ends a pending elicitation at once).
// Every read is bounded by a deadline.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "transport/transport.h"

// Defined in http.cpp; a strong reference pulls it out of the static archive (see test_http.cpp).
extern "C" sw::transport::HttpServer* sw_http_server_create(sw::mcp::Server* server, const sw::config::Config* config,
                                                            const sw::transport::HttpLimits* limits);

using namespace sw;
using namespace std::chrono_literals;

namespace {

__attribute__((used)) sw::transport::HttpServer* (*const kLinkHttpForElicit)(
    sw::mcp::Server*, const sw::config::Config*, const sw::transport::HttpLimits*) = &sw_http_server_create;

// One tool, `ask`: elicits a yes/no (timeout `timeout_ms`, default 5 s) and returns {answer} or the error.
std::shared_ptr<mcp::ToolRegistry> ask_registry() {
  auto reg = std::make_shared<mcp::ToolRegistry>();
  mcp::Tool t;
  t.name = "ask";
  t.title = "Ask";
  t.description = "test: elicits";
  t.input_schema = json::parse(R"({"type":"object","properties":{"timeout_ms":{"type":"integer","minimum":1}}})");
  t.output_schema = json::parse(R"({"type":"object"})");
  t.handler = [](const json& a, mcp::CallContext& ctx) {
    if (!ctx.elicit) return mcp::ToolOutcome::success(json{{"elicit", "absent"}});
    auto r = ctx.elicit(json{{"message", "Approve?"},
                             {"requestedSchema", {{"type", "object"}, {"properties", {{"ok", {{"type", "boolean"}}}}}}}},
                        std::chrono::milliseconds(a.value("timeout_ms", 5000)));
    if (!r) return mcp::ToolOutcome::failure(r.error());
    return mcp::ToolOutcome::success(json{{"answer", *r}});
  };
  REQUIRE(reg->add(t));
  return reg;
}

struct HttpWorld {
  config::Config cfg;
  mcp::Server server{mcp::ServerInfo{}, ask_registry()};
  std::unique_ptr<transport::HttpServer> http;
  HttpWorld() {
    cfg.transport = "http";
    cfg.port = 0;
    cfg.http_threads = 2;  // few workers: a tool waiting for the client must not hold one
    auto made = transport::make_http_server(server, cfg);
    REQUIRE(made);
    http = std::move(*made);
    REQUIRE(http->start());
  }
  ~HttpWorld() { http->stop(); }
};

// A client connection: sends one request, then reads what arrives, bounded.
struct Conn {
  int fd = -1;
  std::string in;
  explicit Conn(int port) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    timeval tv{0, 100000};  // 100 ms per recv: read_until loops against its own deadline
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~Conn() { ::close(fd); }
  void send(const std::string& head_lines, const std::string& body) {
    std::string out = head_lines + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    size_t sent = 0;
    while (sent < out.size()) {
      ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      REQUIRE(n > 0);
      sent += static_cast<size_t>(n);
    }
  }
  // Reads until `needle` is in what arrived (true) or `ms` pass / the server closes (false).
  bool read_until(const std::string& needle, int ms = 5000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    char buf[8192];
    while (in.find(needle) == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n == 0) return in.find(needle) != std::string::npos;
      if (n > 0) in.append(buf, static_cast<size_t>(n));
    }
    return true;
  }
  // The JSON of every SSE `data:` line received so far.
  std::vector<json> events() const {
    std::vector<json> out;
    for (size_t p = in.find("data: "); p != std::string::npos; p = in.find("data: ", p + 1)) {
      auto e = in.find('\n', p);
      if (e == std::string::npos) break;
      out.push_back(json::parse(in.substr(p + 6, e - p - 6), nullptr, false));
    }
    return out;
  }
  int status() const {
    auto sp = in.find(' ');
    return in.rfind("HTTP/1.", 0) == 0 && sp != std::string::npos ? std::atoi(in.c_str() + sp + 1) : 0;
  }
  std::string header(const std::string& name) const {
    auto p = in.find("\r\n" + name + ": ");
    if (p == std::string::npos) return "";
    p += name.size() + 4;
    return in.substr(p, in.find("\r\n", p) - p);
  }
};

std::string post_head(const std::string& accept, const std::string& session = "") {
  std::string h = "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: " + accept + "\r\n";
  if (!session.empty()) h += "Mcp-Session-Id: " + session + "\r\nMCP-Protocol-Version: 2025-11-25\r\n";
  return h;
}

const std::string kBoth = "application/json, text/event-stream";

// initialize (declaring form elicitation) + notifications/initialized; returns the session id.
std::string open_session(int port) {
  Conn c(port);
  c.send(post_head(kBoth), R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",)"
                           R"("capabilities":{"elicitation":{}},"clientInfo":{"name":"t","version":"1"}}})");
  REQUIRE(c.read_until("\"protocolVersion\""));
  std::string sid = c.header("Mcp-Session-Id");
  REQUIRE_FALSE(sid.empty());
  Conn n(port);
  n.send(post_head(kBoth, sid), R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  REQUIRE(n.read_until("\r\n\r\n"));
  CHECK(n.status() == 202);
  return sid;
}

}  // namespace

TEST_CASE("http: a tool's elicitation rides on its POST, which becomes SSE, the client's answer is a 202 POST") {
  HttpWorld w;
  const int port = w.http->port();
  std::string sid = open_session(port);
  // Two calls at once with only two HTTP workers: neither may hold a worker while it waits for the client.
  Conn call(port), call2(port);
  call.send(post_head(kBoth, sid), R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"ask"}})");
  call2.send(post_head(kBoth, sid), R"({"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"ask"}})");
  REQUIRE(call.read_until("elicitation/create"));
  REQUIRE(call2.read_until("elicitation/create"));
  CHECK(call.status() == 200);
  CHECK(call.header("Content-Type") == "text/event-stream");
  auto ev = call.events();
  REQUIRE(ev.size() == 1);
  CHECK(ev[0]["method"] == "elicitation/create");
  CHECK(ev[0]["params"]["mode"] == "form");
  json eid = ev[0]["id"];
  json eid2 = call2.events().at(0)["id"];
  CHECK(eid != eid2);

  for (auto [id, answer] : {std::pair{eid, "accept"}, std::pair{eid2, "decline"}}) {
    Conn reply(port);
    json body{{"jsonrpc", "2.0"}, {"id", id}, {"result", {{"action", answer}}}};
    if (std::string(answer) == "accept") body["result"]["content"] = {{"ok", true}};
    reply.send(post_head(kBoth, sid), body.dump());
    REQUIRE(reply.read_until("\r\n\r\n"));
    CHECK(reply.status() == 202);
  }
  REQUIRE(call.read_until("\"id\":7"));
  REQUIRE(call.read_until("0\r\n\r\n"));  // the stream ends after the response (chunked terminator)
  ev = call.events();
  REQUIRE(ev.size() == 2);
  CHECK(ev[1]["id"] == 7);
  CHECK(ev[1]["result"]["structuredContent"]["answer"] == json{{"action", "accept"}, {"content", {{"ok", true}}}});
  REQUIRE(call2.read_until("\"id\":8"));
  CHECK(call2.events().at(1)["result"]["structuredContent"]["answer"] == json{{"action", "decline"}});
}

TEST_CASE("http: a JSON-only POST cannot carry the request, the call answers as JSON when the wait times out") {
  HttpWorld w;
  const int port = w.http->port();
  std::string sid = open_session(port);
  Conn call(port);
  call.send(post_head("application/json", sid),
            R"({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"ask","arguments":{"timeout_ms":300}}})");
  REQUIRE(call.read_until("ELICITATION_TIMEOUT"));
  CHECK(call.status() == 200);
  CHECK(call.header("Content-Type") == "application/json");
}

TEST_CASE("http: deleting the session ends a pending elicitation") {
  HttpWorld w;
  const int port = w.http->port();
  std::string sid = open_session(port);
  Conn call(port);
  call.send(post_head(kBoth, sid),
            R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"ask","arguments":{"timeout_ms":20000}}})");
  REQUIRE(call.read_until("elicitation/create"));
  auto t0 = std::chrono::steady_clock::now();
  Conn del(port);
  del.send("DELETE /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nMcp-Session-Id: " + sid + "\r\n", "");
  REQUIRE(del.read_until("\r\n\r\n"));
  CHECK(del.status() == 200);
  REQUIRE(call.read_until("0\r\n\r\n", 3000));  // the POST stream ends (no response: the call was cancelled)
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);
  CHECK(w.http->session_count() == 0);
}

TEST_CASE("stdio: stdin closing ends a pending elicitation at once") {
  mcp::Server server(mcp::ServerInfo{}, ask_registry());
  std::string input =
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"elicitation":{}}}})"
      "\n"
      R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"ask","arguments":{"timeout_ms":20000}}})"
      "\n";
  char in_path[] = "/tmp/sw-elicit-in-XXXXXX";
  char out_path[] = "/tmp/sw-elicit-out-XXXXXX";
  int in_fd = ::mkstemp(in_path), out_fd = ::mkstemp(out_path);
  REQUIRE(in_fd >= 0);
  REQUIRE(out_fd >= 0);
  REQUIRE(::write(in_fd, input.data(), input.size()) == static_cast<ssize_t>(input.size()));
  ::lseek(in_fd, 0, SEEK_SET);
  std::fflush(stdout);
  int saved_in = ::dup(0), saved_out = ::dup(1);
  ::dup2(in_fd, 0);
  ::dup2(out_fd, 1);
  std::clearerr(stdin);
  auto t0 = std::chrono::steady_clock::now();
  int rc = transport::run_stdio(server);
  auto took = std::chrono::steady_clock::now() - t0;
  std::fflush(stdout);
  ::dup2(saved_in, 0);
  ::dup2(saved_out, 1);
  ::close(saved_in);
  ::close(saved_out);
  ::close(in_fd);
  ::close(out_fd);
  std::clearerr(stdin);
  CHECK(rc == 0);
  CHECK(took < 5s);  // not the 20 s the tool would wait, nor run_stdio's 20 s grace
  std::ifstream f(out_path);
  std::string line;
  json result;
  while (std::getline(f, line)) {
    json m = json::parse(line, nullptr, false);
    if (m.is_object() && m.value("id", json()) == 2) result = m;
  }
  ::unlink(in_path);
  ::unlink(out_path);
  REQUIRE(result.is_object());
  CHECK(result["result"]["isError"] == true);
  CHECK(result["result"]["content"][0]["text"].get<std::string>().find("CANCELLED") != std::string::npos);
}
