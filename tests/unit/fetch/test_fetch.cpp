// Fetcher: refusals without network, then live fetches against cpp-httplib servers on 127.0.0.1.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include <httplib.h>

#include "fetch/fetch.h"

using namespace sw;
using namespace sw::fetch;
using namespace std::chrono_literals;

namespace {

const bool kIgnoreSigpipe = [] {
  std::signal(SIGPIPE, SIG_IGN);  // a peer closing mid-write must not kill the test binary
  return true;
}();

// Runs an httplib server (plain or TLS) on 127.0.0.1:<any port> for the scope.
class TestServer {
 public:
  explicit TestServer(std::unique_ptr<httplib::Server> svr = std::make_unique<httplib::Server>())
      : svr_(std::move(svr)) {
    svr_->set_keep_alive_timeout(1);
    svr_->set_read_timeout(2, 0);
  }
  httplib::Server& s() { return *svr_; }
  int start() {
    port_ = svr_->bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    th_ = std::thread([this] { svr_->listen_after_bind(); });
    for (int i = 0; i < 200 && !svr_->is_running(); ++i) std::this_thread::sleep_for(5ms);
    REQUIRE(svr_->is_running());
    return port_;
  }
  int port() const { return port_; }
  std::string url(const std::string& path, const std::string& host = "127.0.0.1") const {
    return "http://" + host + ":" + std::to_string(port_) + path;
  }
  ~TestServer() {
    svr_->stop();
    if (th_.joinable()) th_.join();
  }

 private:
  std::unique_ptr<httplib::Server> svr_;
  std::thread th_;
  int port_ = -1;
};

Options local() {
  Options o;
  o.allow = {"127.0.0.1"};
  o.total_timeout = 5000ms;
  o.read_timeout = 3000ms;
  o.connect_timeout = 2000ms;
  return o;
}

Request get(const std::string& url) {
  Request r;
  r.url = url;
  return r;
}

// A port nobody listens on: bind, read the port, close.
int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Waits (bounded) for `flag`; used by handlers that must stall.
void stall(const std::atomic<bool>& flag, std::chrono::milliseconds max = 3000ms) {
  auto until = std::chrono::steady_clock::now() + max;
  while (!flag.load() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(5ms);
}

}  // namespace

// ---------------- refusals that never touch the network ----------------

TEST_CASE("fetch: method, header and option checks", "[fetch]") {
  Fetcher f;
  Options o;
  Request r = get("http://93.184.216.34/");

  r.method = "PUT";
  auto res = f.fetch(r, o);
  REQUIRE_FALSE(res.ok());
  CHECK(res.error().code == "METHOD_NOT_ALLOWED");
  CHECK(res.error().message.find("PUT") != std::string::npos);
  r.method = "DELETE";
  CHECK(f.fetch(r, o).error().code == "METHOD_NOT_ALLOWED");
  r.method = "GET\r\nX: y";
  CHECK(f.fetch(r, o).error().code == "METHOD_NOT_ALLOWED");
  r.method = "GET /evil HTTP/1.1";
  CHECK(f.fetch(r, o).error().code == "METHOD_NOT_ALLOWED");
  r.method = "";
  CHECK(f.fetch(r, o).error().code == "METHOD_NOT_ALLOWED");

  r.method = "GET";
  const std::string secret = "L402 c2VjcmV0LW1hY2Fyb29u:00112233";
  r.headers = {{"Authorization", secret + "\r\nX-Injected: 1"}};
  res = f.fetch(r, o);
  REQUIRE_FALSE(res.ok());
  CHECK(res.error().code == "HEADER_INVALID");
  CHECK(res.error().message.find("Authorization") != std::string::npos);
  CHECK(res.error().message.find("c2VjcmV0") == std::string::npos);  // never the value
  CHECK(res.error().details.dump().find("c2VjcmV0") == std::string::npos);
  r.headers = {{"X-A", "ok"}, {"X-B", std::string("a\0b", 3)}};
  CHECK(f.fetch(r, o).error().code == "HEADER_INVALID");
  r.headers = {{"X-A\r\nHost", "x"}};
  CHECK(f.fetch(r, o).error().code == "HEADER_INVALID");
  r.headers = {{"Bad Name", "x"}};
  CHECK(f.fetch(r, o).error().code == "HEADER_INVALID");
  r.headers = {{"X:Y", "x"}};
  CHECK(f.fetch(r, o).error().code == "HEADER_INVALID");
  r.headers = {{"", "x"}};
  CHECK(f.fetch(r, o).error().code == "HEADER_INVALID");
  for (const char* managed : {"Host", "content-length", "Transfer-Encoding", "Connection", "TE"}) {
    INFO(managed);
    r.headers = {{managed, "x"}};
    CHECK(f.fetch(r, o).error().code == "HEADER_INVALID");
  }

  r.headers = {};
  Options bad = o;
  bad.allow = {"10.0.0.0/33"};
  CHECK(f.fetch(r, bad).error().code == "OPTIONS_INVALID");
  bad.allow = {"not a host!"};
  CHECK(f.fetch(r, bad).error().code == "OPTIONS_INVALID");
  bad.allow = {"example.com/8"};
  CHECK(f.fetch(r, bad).error().code == "OPTIONS_INVALID");
  bad = o;
  bad.total_timeout = 0ms;
  CHECK(f.fetch(r, bad).error().code == "OPTIONS_INVALID");

  r.url = "http://user:pw@example.com/";
  CHECK(f.fetch(r, o).error().code == "URL_INVALID");
}

TEST_CASE("fetch: SSRF guard refuses literal and resolved internal addresses", "[fetch][ssrf]") {
  Fetcher f;
  Options o;
  o.total_timeout = 2000ms;
  struct C {
    const char* url;
    const char* msg_part;
  };
  const C cases[] = {
      {"http://169.254.169.254/latest/meta-data/", "169.254.169.254 is link-local / cloud metadata"},
      {"http://127.0.0.1:1/", "loopback"},
      {"http://10.1.2.3/", "private"},
      {"http://0.0.0.0/", "unspecified"},
      {"http://[::1]/", "loopback"},
      {"http://[::ffff:127.0.0.1]/", "IPv4-mapped"},
      {"http://[::ffff:a9fe:a9fe]/", "cloud metadata"},
      {"http://[64:ff9b::a00:1]/", "NAT64 of 10.0.0.1"},
      {"http://[2002:7f00:1::]/", "6to4"},
      {"http://[fd00:ec2::254]/", "cloud metadata"},
      {"http://[fe80::1]/", "link-local"},
      {"http://2130706433/", "non-canonical"},
      {"http://0177.0.0.1/", "non-canonical"},
      {"http://0x7f.1/", "non-canonical"},
      {"http://127.1/", "non-canonical"},
  };
  for (const auto& c : cases) {
    INFO(c.url);
    auto r = f.fetch(get(c.url), o);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "URL_FORBIDDEN");
    CHECK(r.error().message.find(c.msg_part) != std::string::npos);
  }

  // A name is refused if ANY of its addresses is internal (resolver seam: no real DNS involved).
  o.resolver = [](const std::string& host) -> Result<std::vector<std::string>> {
    if (host == "mixed.example") return std::vector<std::string>{"93.184.216.34", "10.0.0.7"};
    if (host == "meta.example") return std::vector<std::string>{"169.254.169.254"};
    if (host == "mapped.example") return std::vector<std::string>{"::ffff:192.168.0.1"};
    if (host == "garbage.example") return std::vector<std::string>{"0x7f.1"};
    return make_error("NXDOMAIN", "no such host");
  };
  auto r = f.fetch(get("https://mixed.example/x"), o);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "URL_FORBIDDEN");
  CHECK(r.error().message == "host 'mixed.example' resolves to 10.0.0.7 (private); refused (only public addresses "
                             "unless allow-listed)");
  CHECK(r.error().details["address"] == "10.0.0.7");
  r = f.fetch(get("http://meta.example/"), o);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("resolves to 169.254.169.254 (link-local / cloud metadata)") != std::string::npos);
  r = f.fetch(get("http://mapped.example/"), o);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("192.168.0.1 (private)") != std::string::npos);
  r = f.fetch(get("http://garbage.example/"), o);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "DNS_FAILED");
  r = f.fetch(get("http://nothing.example/"), o);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "DNS_FAILED");

  // Allow-listing a CIDR that covers only one of the internal addresses is not enough.
  o.allow = {"10.0.0.0/8"};
  r = f.fetch(get("http://meta.example/"), o);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "URL_FORBIDDEN");
}

TEST_CASE("fetch: cancelled before start", "[fetch]") {
  Fetcher f;
  auto r = f.fetch(get("http://93.184.216.34/"), Options{}, [] { return true; });
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "CANCELLED");
}

// ---------------- live, plain HTTP on 127.0.0.1 ----------------

TEST_CASE("fetch: loopback refused by default, allowed by the allow-list", "[fetch][live]") {
  std::atomic<int> hits{0};
  TestServer ts;
  std::string seen_ua, seen_custom, seen_host, seen_query;
  std::mutex m;
  ts.s().Get("/hello", [&](const httplib::Request& req, httplib::Response& res) {
    ++hits;
    std::lock_guard<std::mutex> lk(m);
    seen_ua = req.get_header_value("User-Agent");
    seen_custom = req.get_header_value("X-Custom");
    seen_host = req.get_header_value("Host");
    seen_query = req.get_param_value("a");
    res.set_content("hi there", "text/plain");
  });
  ts.start();
  Fetcher f;

  Options o;
  o.total_timeout = 3000ms;
  auto r = f.fetch(get(ts.url("/hello")), o);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "URL_FORBIDDEN");
  CHECK(r.error().message.find("127.0.0.1 is loopback") != std::string::npos);
  r = f.fetch(get(ts.url("/hello", "localhost")), o);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "URL_FORBIDDEN");
  CHECK(r.error().message.find("host 'localhost' resolves to 127.0.0.1 (loopback)") != std::string::npos);
  CHECK(hits == 0);

  Request req = get(ts.url("/hello?a=b+c%20d"));
  req.headers = {{"X-Custom", "v1"}};
  r = f.fetch(req, local());
  REQUIRE(r.ok());
  CHECK(r->status == 200);
  CHECK(r->body == "hi there");
  CHECK(r->content_type == "text/plain");
  CHECK_FALSE(r->truncated);
  CHECK(r->remote_ip == "127.0.0.1");
  CHECK(r->elapsed_ms > 0);
  CHECK(r->redirects == 0);
  CHECK(r->url == ts.url("/hello?a=b+c%20d"));
  CHECK(r->header("Content-Length") == std::optional<std::string>("8"));
  for (const auto& h : r->headers) {
    for (char c : h.first) CHECK_FALSE((c >= 'A' && c <= 'Z'));
  }
  {
    std::lock_guard<std::mutex> lk(m);
    CHECK(seen_ua.rfind("satwarden/", 0) == 0);
    CHECK(seen_custom == "v1");
    CHECK(seen_host == "127.0.0.1:" + std::to_string(ts.port()));
    CHECK(seen_query == "b c d");  // '+' reached the server unencoded
  }

  // Allow-listed by host name and by CIDR.
  Options by_name = local();
  by_name.allow = {"LOCALHOST"};
  r = f.fetch(get(ts.url("/hello", "localhost")), by_name);
  REQUIRE(r.ok());
  CHECK(r->status == 200);
  Options by_cidr = local();
  by_cidr.allow = {"127.0.0.0/8"};
  r = f.fetch(get(ts.url("/hello", "localhost")), by_cidr);
  REQUIRE(r.ok());
  // An IPv4 allow-list entry also covers the IPv4-mapped IPv6 form of that address (the connect itself may fail
  // where IPv6 is disabled; what matters is that the guard let it through).
  Options mapped = local();
  mapped.resolver = [](const std::string&) -> Result<std::vector<std::string>> {
    return std::vector<std::string>{"::ffff:127.0.0.1"};
  };
  r = f.fetch(get(ts.url("/hello", "mapped.test")), mapped);
  if (r.ok()) {
    CHECK(r->remote_ip == "::ffff:127.0.0.1");
    CHECK(r->body == "hi there");
  } else {
    CHECK(r.error().code == "UNREACHABLE");
  }
  mapped.allow = {};
  r = f.fetch(get(ts.url("/hello", "mapped.test")), mapped);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "URL_FORBIDDEN");
  int before = hits.load();
  // A caller-supplied User-Agent wins.
  req.headers = {{"user-agent", "agent/1"}};
  r = f.fetch(req, local());
  REQUIRE(r.ok());
  {
    std::lock_guard<std::mutex> lk(m);
    CHECK(seen_ua == "agent/1");
  }
  CHECK(hits == before + 1);
  CHECK(hits >= 4);
}

TEST_CASE("fetch: connects to the checked address without a second lookup", "[fetch][live]") {
  TestServer ts;
  std::string seen_host;
  std::mutex m;
  ts.s().Get("/p", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lk(m);
    seen_host = req.get_header_value("Host");
    res.set_content("pinned", "text/plain");
  });
  ts.start();
  Options o = local();
  int lookups = 0;
  // ".invalid" can never resolve (RFC 6761): success proves httplib used the pinned address.
  o.resolver = [&](const std::string& host) -> Result<std::vector<std::string>> {
    ++lookups;
    if (host == "pinned.invalid") return std::vector<std::string>{"127.0.0.1"};
    return make_error("NXDOMAIN", "no");
  };
  auto r = Fetcher{}.fetch(get(ts.url("/p", "pinned.invalid")), o);
  REQUIRE(r.ok());
  CHECK(r->body == "pinned");
  CHECK(r->remote_ip == "127.0.0.1");
  CHECK(lookups == 1);
  std::lock_guard<std::mutex> lk(m);
  CHECK(seen_host == "pinned.invalid:" + std::to_string(ts.port()));
}

TEST_CASE("fetch: 402 with several WWW-Authenticate lines is returned intact", "[fetch][live]") {
  TestServer ts;
  const std::string lsat = "LSAT macaroon=\"AgEEbHNhdA==\", invoice=\"lnbc10n1pexample\"";
  const std::string l402 = "L402 macaroon=\"AgEEbHNhdA==\", invoice=\"lnbc10n1pexample\"";
  const std::string mpp = "Payment id=\"abc\", realm=\"api\", method=\"lightning\", intent=\"charge\"";
  ts.s().Get("/paid", [&](const httplib::Request&, httplib::Response& res) {
    res.status = 402;
    res.headers.emplace("WWW-Authenticate", lsat);
    res.headers.emplace("WWW-Authenticate", l402);
    res.headers.emplace("www-authenticate", mpp);
    res.set_content("{\"error\":\"payment required\"}", "application/json");
  });
  ts.start();
  auto r = Fetcher{}.fetch(get(ts.url("/paid")), local());
  REQUIRE(r.ok());
  CHECK(r->status == 402);
  CHECK(r->content_type == "application/json");
  CHECK(r->body == "{\"error\":\"payment required\"}");
  auto v = r->header_values("WWW-Authenticate");
  REQUIRE(v.size() == 3);
  CHECK(v[0] == lsat);
  CHECK(v[1] == l402);
  CHECK(v[2] == mpp);
  int n = 0;
  for (const auto& h : r->headers) n += h.first == "www-authenticate";
  CHECK(n == 3);
}

TEST_CASE("fetch: HEAD, POST body, error statuses", "[fetch][live]") {
  TestServer ts;
  std::string posted_ct;
  std::mutex m;
  ts.s().Post("/echo", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lk(m);
    posted_ct = req.get_header_value("Content-Type");
    res.set_content("got:" + req.body, "text/plain");
  });
  ts.s().Get("/boom", [](const httplib::Request&, httplib::Response& res) {
    res.status = 503;
    res.set_content("down", "text/plain");
  });
  ts.s().Put("/echo", [](const httplib::Request& req, httplib::Response& res) { res.set_content(req.body, "x/y"); });
  ts.start();
  Fetcher f;
  Request post = get(ts.url("/echo"));
  post.method = "post";
  post.body = "{\"a\":1}";
  post.headers = {{"Content-Type", "application/json"}};
  auto r = f.fetch(post, local());
  REQUIRE(r.ok());
  CHECK(r->body == "got:{\"a\":1}");
  {
    std::lock_guard<std::mutex> lk(m);
    CHECK(posted_ct == "application/json");
  }
  Request head = get(ts.url("/boom"));
  head.method = "HEAD";
  r = f.fetch(head, local());
  REQUIRE(r.ok());
  CHECK(r->status == 503);
  CHECK(r->body.empty());
  r = f.fetch(get(ts.url("/boom")), local());
  REQUIRE(r.ok());
  CHECK(r->status == 503);
  CHECK(r->body == "down");
  r = f.fetch(get(ts.url("/missing")), local());
  REQUIRE(r.ok());
  CHECK(r->status == 404);

  // PUT is refused by default and allowed when configured.
  Request put = post;
  put.method = "PUT";
  auto refused = f.fetch(put, local());
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == "METHOD_NOT_ALLOWED");
  Options o = local();
  o.allowed_methods = {"PUT"};
  r = f.fetch(put, o);
  REQUIRE(r.ok());
  CHECK(r->body == "{\"a\":1}");
  CHECK(f.fetch(get(ts.url("/boom")), o).error().code == "METHOD_NOT_ALLOWED");
}

TEST_CASE("fetch: redirects", "[fetch][live]") {
  TestServer other;
  std::atomic<int> other_hits{0};
  other.s().Get("/final", [&](const httplib::Request&, httplib::Response& res) {
    ++other_hits;
    res.set_content("other", "text/plain");
  });
  other.start();

  std::atomic<int> final_hits{0}, loop_hits{0};
  TestServer ts;
  std::string final_method;
  std::mutex m;
  std::atomic<int> port{0};
  ts.s().Get("/r1", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/r2", 301); });
  ts.s().Get("/r2", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("final?x=1", 307); });
  ts.s().Get("/final", [&](const httplib::Request& req, httplib::Response& res) {
    ++final_hits;
    std::lock_guard<std::mutex> lk(m);
    final_method = req.method;
    res.set_content("final:" + req.get_param_value("x"), "text/plain");
  });
  ts.s().Post("/form", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/final?x=2", 303); });
  ts.s().Get("/loop", [&](const httplib::Request&, httplib::Response& res) {
    ++loop_hits;
    res.set_redirect("/loop", 302);
  });
  ts.s().Get("/to-localhost", [&port](const httplib::Request&, httplib::Response& res) {
    res.set_redirect("http://localhost:" + std::to_string(port.load()) + "/final", 302);
  });
  ts.s().Get("/to-other-port", [&](const httplib::Request&, httplib::Response& res) {
    res.set_redirect("http://127.0.0.1:" + std::to_string(other.port()) + "/final", 302);
  });
  ts.s().Get("/to-https", [&port](const httplib::Request&, httplib::Response& res) {
    res.set_redirect("https://127.0.0.1:" + std::to_string(port.load()) + "/final", 302);
  });
  ts.s().Get("/to-metadata", [](const httplib::Request&, httplib::Response& res) {
    res.set_redirect("http://169.254.169.254/latest/meta-data/", 302);
  });
  port = ts.start();
  Fetcher f;

  // Default: 3xx returned as-is.
  auto r = f.fetch(get(ts.url("/r1")), local());
  REQUIRE(r.ok());
  CHECK(r->status == 301);
  CHECK(r->header("location") == std::optional<std::string>("/r2"));
  CHECK(final_hits == 0);

  Options so = local();
  so.redirects = RedirectPolicy::same_origin;
  r = f.fetch(get(ts.url("/r1")), so);
  REQUIRE(r.ok());
  CHECK(r->status == 200);
  CHECK(r->body == "final:1");
  CHECK(r->redirects == 2);
  CHECK(r->url == ts.url("/final?x=1"));
  CHECK(final_hits == 1);

  Request form = get(ts.url("/form"));
  form.method = "POST";
  form.body = "a=1";
  form.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  r = f.fetch(form, so);
  REQUIRE(r.ok());
  CHECK(r->body == "final:2");
  {
    std::lock_guard<std::mutex> lk(m);
    CHECK(final_method == "GET");
  }

  // Cross-origin (other host name for the same address, other port, other scheme) is never followed.
  for (const char* path : {"/to-localhost", "/to-other-port", "/to-https", "/to-metadata"}) {
    INFO(path);
    r = f.fetch(get(ts.url(path)), so);
    REQUIRE(r.ok());
    CHECK(r->status == 302);
    CHECK(r->redirects == 0);
    CHECK(r->header("location").has_value());
  }
  CHECK(other_hits == 0);
  CHECK(final_hits == 2);

  // At most max_redirects (5) are followed; then the 3xx is returned.
  r = f.fetch(get(ts.url("/loop")), so);
  REQUIRE(r.ok());
  CHECK(r->status == 302);
  CHECK(r->redirects == 5);
  CHECK(loop_hits == 6);
}

TEST_CASE("fetch: body cap truncates and never buffers unboundedly", "[fetch][live]") {
  // Declared before the server: its handler threads read them until the server's destructor has joined them.
  const std::string big(100000, 'x');
  std::atomic<size_t> streamed{0};
  TestServer ts;
  ts.s().Get("/big", [&](const httplib::Request&, httplib::Response& res) { res.set_content(big, "text/plain"); });
  ts.s().Get("/exact", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(1000, 'e'), "text/plain");
  });
  // Endless chunked stream (bounded at 256 MiB so a broken client cannot hang the test forever).
  ts.s().Get("/endless", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("application/octet-stream", [&](size_t, httplib::DataSink& sink) {
      static const std::string chunk(16384, 'z');
      if (streamed.load() > (256u << 20)) {
        sink.done();
        return true;
      }
      streamed += chunk.size();
      return sink.write(chunk.data(), chunk.size());
    });
  });
  ts.start();
  Fetcher f;
  Options o = local();
  o.max_body_bytes = 1000;
  auto r = f.fetch(get(ts.url("/big")), o);
  REQUIRE(r.ok());
  CHECK(r->status == 200);
  CHECK(r->truncated);
  CHECK(r->body == std::string(1000, 'x'));

  r = f.fetch(get(ts.url("/exact")), o);
  REQUIRE(r.ok());
  CHECK_FALSE(r->truncated);
  CHECK(r->body.size() == 1000);

  o.max_body_bytes = 64 * 1024;
  r = f.fetch(get(ts.url("/endless")), o);
  REQUIRE(r.ok());
  CHECK(r->truncated);
  CHECK(r->body.size() == 64 * 1024);
  CHECK(r->body.find_first_not_of('z') == std::string::npos);
  CHECK(streamed.load() < (64u << 20));

  // Default cap is 1 MiB.
  CHECK(Options{}.max_body_bytes == 1u << 20);
}

TEST_CASE("fetch: timeouts, cancellation, refused connections, garbage responses", "[fetch][live]") {
  std::atomic<bool> release{false};  // before the server: a stalled handler reads it while the server stops
  TestServer ts;
  ts.s().Get("/slow", [&](const httplib::Request&, httplib::Response& res) {
    stall(release);
    res.set_content("late", "text/plain");
  });
  ts.start();
  Fetcher f;

  Options o = local();
  o.read_timeout = 300ms;
  auto t0 = std::chrono::steady_clock::now();
  auto r = f.fetch(get(ts.url("/slow")), o);
  auto took = std::chrono::steady_clock::now() - t0;
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "TIMEOUT");
  CHECK(r.error().message.find("read timeout") != std::string::npos);
  CHECK(took < 2000ms);

  o = local();
  o.total_timeout = 400ms;
  t0 = std::chrono::steady_clock::now();
  r = f.fetch(get(ts.url("/slow")), o);
  took = std::chrono::steady_clock::now() - t0;
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "TIMEOUT");
  CHECK(r.error().message.find("total timeout") != std::string::npos);
  CHECK(took < 2000ms);

  std::atomic<bool> cancel{false};
  std::thread canceller([&] {
    std::this_thread::sleep_for(200ms);
    cancel = true;
  });
  t0 = std::chrono::steady_clock::now();
  r = f.fetch(get(ts.url("/slow")), local(), [&] { return cancel.load(); });
  took = std::chrono::steady_clock::now() - t0;
  canceller.join();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "CANCELLED");
  CHECK(took < 2000ms);
  release = true;

  r = f.fetch(get("http://127.0.0.1:" + std::to_string(closed_port()) + "/"), local());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "UNREACHABLE");

  // A raw TCP server that answers with garbage and closes: BAD_RESPONSE, not a timeout.
  int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(lfd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(lfd, 1) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  std::thread raw([lfd] {
    int c = ::accept(lfd, nullptr, nullptr);
    if (c >= 0) {
      char buf[1024];
      (void)::recv(c, buf, sizeof buf, 0);
      const char junk[] = "SMTP ready\r\n\r\n";
      (void)::send(c, junk, sizeof junk - 1, MSG_NOSIGNAL);
      ::close(c);
    }
  });
  r = f.fetch(get("http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/"), local());
  raw.join();
  ::close(lfd);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "BAD_RESPONSE");
}

TEST_CASE("fetch: concurrent use of one Fetcher", "[fetch][live]") {
  TestServer ts;
  ts.s().Get(R"(/n/(\d+))", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content("n=" + req.matches[1].str(), "text/plain");
  });
  ts.start();
  const Fetcher f;
  std::atomic<int> good{0};
  std::vector<std::thread> th;
  for (int t = 0; t < 4; ++t) {
    th.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        int n = t * 10 + i;
        auto r = f.fetch(get(ts.url("/n/" + std::to_string(n))), local());
        if (r.ok() && r->body == "n=" + std::to_string(n)) ++good;
      }
    });
  }
  for (auto& x : th) x.join();
  CHECK(good == 20);
}

// ---------------- live HTTPS ----------------

namespace {

struct SelfSigned {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  std::string ca_path;
  std::filesystem::path dir;
  SelfSigned() {
    key = EVP_EC_gen("P-256");
    REQUIRE(key);
    cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 4242);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1,
                               -1, 0);
    X509_set_issuer_name(cert, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    // SAN is DNS:localhost only (no IP SAN): a successful fetch proves verification used the host name.
    for (auto [nid, value] : {std::pair<int, const char*>{NID_subject_alt_name, "DNS:localhost"},
                              std::pair<int, const char*>{NID_basic_constraints, "critical,CA:TRUE"}}) {
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
      REQUIRE(ext);
      X509_add_ext(cert, ext, -1);
      X509_EXTENSION_free(ext);
    }
    REQUIRE(X509_sign(cert, key, EVP_sha256()) > 0);
    char tmpl[] = "/tmp/sw_fetch_tls_XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    ca_path = (dir / "ca.pem").string();
    FILE* fp = std::fopen(ca_path.c_str(), "w");
    REQUIRE(fp);
    PEM_write_X509(fp, cert);
    std::fclose(fp);
  }
  ~SelfSigned() {
    X509_free(cert);
    EVP_PKEY_free(key);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

std::mutex g_sni_mutex;
std::string g_sni;

int record_sni(SSL* ssl, int*, void*) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  std::lock_guard<std::mutex> lk(g_sni_mutex);
  g_sni = name ? name : "";
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

TEST_CASE("fetch: HTTPS verifies certificates, CA file option, SNI uses the host name", "[fetch][live][tls]") {
  SelfSigned pki;
  auto svr = std::make_unique<httplib::SSLServer>([&](SSL_CTX& ctx) {
    if (SSL_CTX_use_certificate(&ctx, pki.cert) != 1) return false;
    if (SSL_CTX_use_PrivateKey(&ctx, pki.key) != 1) return false;
    SSL_CTX_set_tlsext_servername_callback(&ctx, record_sni);
    return true;
  });
  REQUIRE(svr->is_valid());
  TestServer ts(std::move(svr));
  ts.s().Get("/secure",
             [](const httplib::Request&, httplib::Response& res) { res.set_content("tls ok", "text/plain"); });
  std::atomic<bool> release{false};
  ts.s().Get("/slow", [&](const httplib::Request&, httplib::Response& res) {
    stall(release);
    res.set_content("late", "text/plain");
  });
  const int port = ts.start();
  const std::string url = "https://localhost:" + std::to_string(port) + "/secure";
  Fetcher f;
  Options o = local();
  o.allow = {"localhost"};

  // System store does not know our CA.
  auto r = f.fetch(get(url), o);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "TLS_FAILED");
  CHECK(r.error().message.find("localhost") != std::string::npos);
  CHECK(r.error().message.find("self-signed") != std::string::npos);

  o.ca_file = pki.ca_path;
  r = f.fetch(get(url), o);
  REQUIRE(r.ok());
  CHECK(r->status == 200);
  CHECK(r->body == "tls ok");
  CHECK(r->remote_ip == "127.0.0.1");
  {
    std::lock_guard<std::mutex> lk(g_sni_mutex);
    CHECK(g_sni == "localhost");
  }

  // Total timeout and cancellation also interrupt a TLS connection that waits for the response.
  Options tight = o;
  tight.total_timeout = 400ms;
  auto t0 = std::chrono::steady_clock::now();
  r = f.fetch(get("https://localhost:" + std::to_string(port) + "/slow"), tight);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "TIMEOUT");
  CHECK(std::chrono::steady_clock::now() - t0 < 2000ms);
  std::atomic<int> polls{0};
  t0 = std::chrono::steady_clock::now();
  r = f.fetch(get("https://localhost:" + std::to_string(port) + "/slow"), o, [&] { return ++polls > 10; });
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "CANCELLED");
  CHECK(std::chrono::steady_clock::now() - t0 < 2000ms);
  release = true;

  // Same server by address: the certificate does not cover 127.0.0.1.
  Options by_ip = o;
  by_ip.allow = {"127.0.0.1"};
  r = f.fetch(get("https://127.0.0.1:" + std::to_string(port) + "/secure"), by_ip);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "TLS_FAILED");
  CHECK(r.error().message.find("does not match") != std::string::npos);

  // A name pinned to the server's address but not in the certificate: verification still uses the name.
  Options other_name = o;
  other_name.allow = {"127.0.0.1"};
  other_name.resolver = [](const std::string&) -> Result<std::vector<std::string>> {
    return std::vector<std::string>{"127.0.0.1"};
  };
  r = f.fetch(get("https://api.example:" + std::to_string(port) + "/secure"), other_name);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "TLS_FAILED");
  CHECK(r.error().message.find("api.example") != std::string::npos);

  // Missing CA file.
  Options missing = o;
  missing.ca_file = pki.ca_path + ".nope";
  r = f.fetch(get(url), missing);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "TLS_FAILED");
}

TEST_CASE("fetch: HTTPS to a plain HTTP server fails the handshake", "[fetch][live][tls]") {
  TestServer ts;
  ts.s().Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_content("plain", "text/plain"); });
  const int port = ts.start();
  Options o = local();
  o.read_timeout = 1000ms;
  auto r = Fetcher{}.fetch(get("https://127.0.0.1:" + std::to_string(port) + "/"), o);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "TLS_FAILED");
  CHECK(r.error().message.find("127.0.0.1") != std::string::npos);
}
