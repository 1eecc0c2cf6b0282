// Interop: sw::relay::Pool against a REAL third-party relay engine (@nostr-relay/core 0.0.40 over ws 8, started
// by relay.mjs on 127.0.0.1). Events are signed with sw_nostr (the engine verifies ids and signatures).
// Scenarios: connect/subscribe/publish/EOSE/CLOSE, stored history, rejection, ephemeral kinds, one relay down,
// relay killed and restarted mid-subscription, a timed-out publish never sent later, NIP-42 AUTH (with and without
// a signer), dead-connection detection by ping, oversized inbound messages, wss:// with certificate checks.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sys/stat.h>
#include <ctime>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "nostr/nostr.h"
#include "relay/relay.h"

using namespace sw;
using namespace std::chrono_literals;

namespace {

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

// One node relay process. stdin stays open (closing it stops the relay); stdout gives READY/CLIENTS lines.
class NodeRelay {
 public:
  NodeRelay(int port, std::vector<std::string> extra = {}) {
    int in[2], out[2];
    REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    std::string node = env_or("SW_NODE", SW_NODE_BIN);
    std::string script = env_or("SW_RELAY_SCRIPT", SW_RELAY_SCRIPT_PATH);
    std::vector<std::string> args = {node, script, std::to_string(port)};
    for (auto& e : extra) args.push_back(e);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(node.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    in_ = in[1];
    out_ = out[0];
    std::string line = read_line(10s);
    INFO("relay said: " << line);
    REQUIRE(line.rfind("READY ", 0) == 0);
    port_ = std::stoi(line.substr(6));
  }
  ~NodeRelay() { stop(SIGTERM); }

  int port() const { return port_; }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_); }
  void command(const std::string& c) {
    std::string l = c + "\n";
    REQUIRE(::write(in_, l.data(), l.size()) == static_cast<ssize_t>(l.size()));
  }
  // SIGKILL: the relay vanishes without closing anything gracefully.
  void kill_hard() { stop(SIGKILL); }

  std::string read_line(std::chrono::milliseconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (true) {
      auto nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string l = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return l;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      if (left.count() <= 0) return "";
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return "";
      char tmp[512];
      ssize_t n = ::read(out_, tmp, sizeof tmp);
      if (n <= 0) return "";
      buf_.append(tmp, static_cast<size_t>(n));
    }
  }

 private:
  void stop(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    for (int i = 0; i < 300; i++) {  // ≤ 3 s, then force
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    if (in_ >= 0) ::close(in_);
    if (out_ >= 0) ::close(out_);
    in_ = out_ = -1;
  }

  pid_t pid_ = -1;
  int in_ = -1, out_ = -1, port_ = 0;
  std::string buf_;
};

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

template <class F>
bool eventually(F f, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return f();
}

json make_event(const crypto::SecretKey& sk, int kind, const std::string& content,
                std::vector<nostr::Tag> tags = {}) {
  nostr::Event ev;
  ev.kind = kind;
  ev.created_at = static_cast<int64_t>(std::time(nullptr));
  ev.tags = std::move(tags);
  ev.content = content;
  REQUIRE(nostr::sign_event(ev, sk).ok());
  return nostr::event_to_json(ev);
}

// Thread-safe record of what a subscription saw.
struct Seen {
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> events;  // (relay url, event id)
  std::map<std::string, int> eose;
  std::vector<std::string> closed;
  relay::EventCallback on_event() {
    return [this](const std::string& url, const json& ev) {
      std::lock_guard<std::mutex> g(mu);
      events.emplace_back(url, ev.value("id", ""));
    };
  }
  relay::EoseCallback on_eose() {
    return [this](const std::string& url) {
      std::lock_guard<std::mutex> g(mu);
      eose[url]++;
    };
  }
  relay::ClosedCallback on_closed() {
    return [this](const std::string&, const std::string& reason) {
      std::lock_guard<std::mutex> g(mu);
      closed.push_back(reason);
    };
  }
  bool has(const std::string& id, const std::string& url = "") {
    std::lock_guard<std::mutex> g(mu);
    for (auto& [u, i] : events)
      if (i == id && (url.empty() || u == url)) return true;
    return false;
  }
  int eose_count(const std::string& url) {
    std::lock_guard<std::mutex> g(mu);
    return eose[url];
  }
  size_t closed_count() {
    std::lock_guard<std::mutex> g(mu);
    return closed.size();
  }
};

json filter_author(const crypto::SecretKey& sk, std::vector<int> kinds) {
  return json::array({json{{"kinds", kinds}, {"authors", {sk.public_key_hex()}}}});
}

// VmRSS or RssAnon (private heap/stack pages, without shared library code) in kB.
long status_kb(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  size_t n = std::strlen(key);
  while (std::getline(f, line))
    if (line.compare(0, n, key) == 0) return std::stol(line.substr(n));
  return -1;
}

}  // namespace

TEST_CASE("connect, subscribe, publish, receive own event, EOSE, stored history, rejection, CLOSE") {
  NodeRelay a(0);
  auto sk = crypto::SecretKey::generate();
  long rss_before = status_kb("VmRSS:"), anon_before = status_kb("RssAnon:");
  relay::Pool pool;
  REQUIRE(pool.add_relay(a.url()).ok());

  Seen s1;
  REQUIRE(pool.try_subscribe("s1", filter_author(sk, {1}), s1.on_event(), s1.on_eose()).ok());
  REQUIRE(eventually([&] { return s1.eose_count(a.url()) == 1; }, 5s));
  CHECK(pool.states()[a.url()] == "connected");
  long rss_after = status_kb("VmRSS:"), anon_after = status_kb("RssAnon:");
  std::printf("relay_it: RSS %ld -> %ld kB (anonymous %ld -> %ld kB) for a pool with one live connection\n",
              rss_before, rss_after, anon_before, anon_after);
  // Private memory of the pool (OpenSSL/TLS init, lws context, loop thread, one connection) stays small; the rest
  // of the RSS growth is shared library code paged in.
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)  // sanitizers add shadow memory
  CHECK(anon_after - anon_before < 4096);
#endif

  json ev = make_event(sk, 1, "hello from satwarden");
  auto t0 = std::chrono::steady_clock::now();
  auto r = pool.publish(ev, 3s);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  REQUIRE(r.relays.size() == 1);
  CHECK(r.event_id == ev["id"]);
  CHECK(r.relays[0].url == a.url());
  CHECK(r.relays[0].sent);
  CHECK(r.relays[0].accepted);
  CHECK(r.relays[0].code.empty());
  CHECK(r.status().ok());
  CHECK(took < 2s);  // loopback: typically a few ms
  REQUIRE(eventually([&] { return s1.has(ev["id"], a.url()); }, 3s));

  // The same event again: accepted (the engine answers from its per-id result cache or with "duplicate:").
  auto dup = pool.publish(ev, 3s);
  CHECK(dup.relays[0].accepted);
  CHECK((dup.relays[0].message.empty() || dup.relays[0].message.rfind("duplicate:", 0) == 0));

  // History: a new subscription by id gets the stored event, then EOSE.
  Seen s2;
  pool.subscribe("s2", json::array({json{{"ids", {ev["id"]}}}}), s2.on_event(), s2.on_eose());
  REQUIRE(eventually([&] { return s2.eose_count(a.url()) == 1; }, 3s));
  CHECK(s2.has(ev["id"]));

  // A tampered event is refused by the relay's own verification.
  json bad = make_event(sk, 1, "original");
  bad["content"] = "tampered";
  auto rej = pool.publish(bad, 3s);
  CHECK(rej.relays[0].sent);
  CHECK_FALSE(rej.relays[0].accepted);
  CHECK(rej.relays[0].code == "RELAY_REJECTED");
  CHECK(rej.relays[0].message.rfind("invalid:", 0) == 0);
  CHECK(rej.status().error().code == "RELAY_REJECTED");

  // Ephemeral kind (NWC requests): relayed to live subscriptions, never stored.
  Seen s3;
  pool.subscribe("s3", filter_author(sk, {23194}), s3.on_event(), s3.on_eose());
  REQUIRE(eventually([&] { return s3.eose_count(a.url()) == 1; }, 3s));
  json eph = make_event(sk, 23194, "ephemeral", {{"p", sk.public_key_hex()}});
  CHECK(pool.publish(eph, 3s).status().ok());
  REQUIRE(eventually([&] { return s3.has(eph["id"]); }, 3s));

  // CLOSE: after unsubscribe s1 no longer sees new events while s4 (same filter) does.
  pool.unsubscribe("s1");
  Seen s4;
  pool.subscribe("s4", filter_author(sk, {1}), s4.on_event(), s4.on_eose());
  REQUIRE(eventually([&] { return s4.eose_count(a.url()) == 1; }, 3s));
  json later = make_event(sk, 1, "after close");
  CHECK(pool.publish(later, 3s).status().ok());
  REQUIRE(eventually([&] { return s4.has(later["id"]); }, 3s));
  std::this_thread::sleep_for(100ms);
  CHECK_FALSE(s1.has(later["id"]));
  CHECK(pool.status()[0].connects == 1);
}

TEST_CASE("two relays, one down: publish succeeds on the live one and names the dead one") {
  NodeRelay a(0);
  std::string dead = "ws://127.0.0.1:" + std::to_string(free_port());
  relay::Pool pool;
  pool.add_relays({a.url(), dead});
  REQUIRE(eventually([&] { return pool.states()[a.url()] == "connected"; }, 5s));
  auto sk = crypto::SecretKey::generate();
  auto t0 = std::chrono::steady_clock::now();
  auto r = pool.publish(make_event(sk, 1, "one of two"), 8s);
  CHECK(std::chrono::steady_clock::now() - t0 < 4s);  // the dead relay settles without waiting for the timeout
  REQUIRE(r.relays.size() == 2);
  CHECK(r.relays[0].url == a.url());
  CHECK(r.relays[0].accepted);
  CHECK(r.relays[1].url == dead);
  CHECK_FALSE(r.relays[1].sent);
  CHECK(r.relays[1].code == "RELAY_UNREACHABLE");
  CHECK(r.status().ok());
  CHECK(r.accepted_count() == 1);
  auto st = pool.states();
  CHECK((st[dead] == "backoff" || st[dead] == "connecting"));
}

TEST_CASE("relay killed and restarted mid-subscription: reconnect, re-subscribe, later event arrives") {
  auto relay_a = std::make_unique<NodeRelay>(0);
  int port = relay_a->port();
  std::string url = relay_a->url();
  relay::PoolOptions o;
  o.backoff_max = 2s;  // keep the test short; the schedule itself is unit-tested
  relay::Pool pool(o);
  REQUIRE(pool.add_relay(url).ok());
  auto sk = crypto::SecretKey::generate();
  Seen s;
  pool.subscribe("live", filter_author(sk, {1}), s.on_event(), s.on_eose());
  REQUIRE(eventually([&] { return s.eose_count(url) == 1; }, 5s));

  relay_a->kill_hard();
  REQUIRE(eventually([&] { return pool.states()[url] == "backoff"; }, 5s));
  auto st = pool.status();
  CHECK(st[0].failures >= 1);
  CHECK_FALSE(st[0].last_error.empty());
  std::this_thread::sleep_for(300ms);  // a failed attempt or two against the closed port

  relay_a = std::make_unique<NodeRelay>(port);  // a fresh relay process: it knows nothing of our REQ
  REQUIRE(eventually([&] { return s.eose_count(url) == 2; }, 6s));  // REQ re-sent → EOSE again
  CHECK(pool.states()[url] == "connected");
  CHECK(pool.status()[0].connects == 2);

  // A different client publishes; only the re-sent subscription can deliver it.
  relay::Pool publisher;
  REQUIRE(publisher.add_relay(url).ok());
  json ev = make_event(sk, 1, "after restart");
  CHECK(publisher.publish(ev, 3s).status().ok());
  REQUIRE(eventually([&] { return s.has(ev["id"], url); }, 3s));
}

TEST_CASE("a publish that timed out before the relay was reachable is never sent later") {
  int port = free_port();
  std::string url = "ws://127.0.0.1:" + std::to_string(port);
  relay::PoolOptions o;
  o.backoff_max = 1s;
  relay::Pool pool(o);
  REQUIRE(pool.add_relay(url).ok());
  REQUIRE(eventually([&] { return pool.states()[url] == "backoff"; }, 3s));
  auto sk = crypto::SecretKey::generate();
  json ev = make_event(sk, 1, "must never be delivered");
  auto r = pool.publish(ev, 300ms);
  CHECK_FALSE(r.relays[0].sent);
  CHECK(r.relays[0].code == "RELAY_UNREACHABLE");
  CHECK(r.status().error().code == "RELAY_UNREACHABLE");

  NodeRelay a(port);
  REQUIRE(eventually([&] { return pool.states()[url] == "connected"; }, 5s));
  Seen s;
  pool.subscribe("check", json::array({json{{"ids", {ev["id"]}}}}), s.on_event(), s.on_eose());
  REQUIRE(eventually([&] { return s.eose_count(url) == 1; }, 3s));
  CHECK_FALSE(s.has(ev["id"]));
}

TEST_CASE("NIP-42: with a signer the pool authenticates and re-sends what was refused") {
  NodeRelay a(0, {"--auth"});
  auto sk = crypto::SecretKey::generate();
  std::atomic<int> challenges{0};
  relay::PoolOptions o;
  o.auth_signer = [&](const std::string& relay_url, const std::string& challenge) -> std::optional<json> {
    challenges++;
    nostr::Event ev;
    ev.kind = 22242;
    ev.created_at = static_cast<int64_t>(std::time(nullptr));
    ev.tags = {{"relay", relay_url}, {"challenge", challenge}};
    if (!nostr::sign_event(ev, sk)) return std::nullopt;
    return nostr::event_to_json(ev);
  };
  relay::Pool pool(o);
  Seen s;
  pool.subscribe("authed", filter_author(sk, {1}), s.on_event(), s.on_eose(), s.on_closed());
  REQUIRE(pool.add_relay(a.url()).ok());
  REQUIRE(eventually([&] { return s.eose_count(a.url()) == 1; }, 5s));
  CHECK(challenges >= 1);
  CHECK(pool.status()[0].authenticated);
  json ev = make_event(sk, 1, "authenticated post");
  auto r = pool.publish(ev, 3s);
  CHECK(r.relays[0].accepted);
  REQUIRE(eventually([&] { return s.has(ev["id"]); }, 3s));
  CHECK(s.closed_count() == 0);  // the auth-required CLOSED was handled, not surfaced

  // An EVENT that reaches the relay before our AUTH is refused "auth-required:" and re-sent after the AUTH OK.
  relay::Pool fresh(o);
  REQUIRE(fresh.add_relay(a.url()).ok());
  json early = make_event(sk, 1, "sent before auth");
  auto r2 = fresh.publish(early, 3s);
  CHECK(r2.relays[0].accepted);
  CHECK(r2.status().ok());
  REQUIRE(eventually([&] { return s.has(early["id"]); }, 3s));
}

TEST_CASE("NIP-42: without a signer, auth-required is reported") {
  NodeRelay a(0, {"--auth"});
  relay::Pool pool;
  REQUIRE(pool.add_relay(a.url()).ok());
  REQUIRE(eventually([&] { return pool.connected_count() == 1; }, 5s));
  auto sk = crypto::SecretKey::generate();
  Seen s;
  pool.subscribe("noauth", filter_author(sk, {1}), s.on_event(), s.on_eose(), s.on_closed());
  REQUIRE(eventually([&] { return s.closed_count() == 1; }, 3s));
  {
    std::lock_guard<std::mutex> g(s.mu);
    CHECK(relay::wire::has_prefix(s.closed[0], "auth-required"));
  }
  auto r = pool.publish(make_event(sk, 1, "refused"), 3s);
  CHECK(r.relays[0].code == "RELAY_REJECTED");
  CHECK(relay::wire::has_prefix(r.relays[0].message, "auth-required"));
  CHECK_FALSE(pool.status()[0].authenticated);
}

TEST_CASE("a silent connection is detected by ping and replaced") {
  NodeRelay a(0);
  relay::PoolOptions o;
  o.ping_after = 1s;
  o.dead_after = 2s;
  o.backoff_max = 1s;
  relay::Pool pool(o);
  REQUIRE(pool.add_relay(a.url()).ok());
  auto sk = crypto::SecretKey::generate();
  Seen s;
  pool.subscribe("ka", filter_author(sk, {1}), s.on_event(), s.on_eose());
  REQUIRE(eventually([&] { return s.eose_count(a.url()) == 1; }, 5s));
  // Idle but healthy: pings are answered, the connection survives.
  std::this_thread::sleep_for(2500ms);
  CHECK(pool.status()[0].connects == 1);
  CHECK(pool.states()[a.url()] == "connected");

  a.command("PAUSE");  // the relay stops reading: no PONG, the TCP connection stays open
  REQUIRE(eventually([&] { return pool.status()[0].connects == 2 && s.eose_count(a.url()) == 2; }, 8s));
  relay::Pool publisher;
  REQUIRE(publisher.add_relay(a.url()).ok());
  json ev = make_event(sk, 1, "after the dead link");
  CHECK(publisher.publish(ev, 3s).status().ok());
  REQUIRE(eventually([&] { return s.has(ev["id"]); }, 3s));
}

TEST_CASE("oversized inbound messages are dropped, the connection keeps working") {
  NodeRelay a(0);
  relay::PoolOptions o;
  o.max_message_bytes = 4096;
  relay::Pool pool(o);
  REQUIRE(pool.add_relay(a.url()).ok());
  auto sk = crypto::SecretKey::generate();
  Seen s;
  pool.subscribe("big", filter_author(sk, {1}), s.on_event(), s.on_eose());
  REQUIRE(eventually([&] { return s.eose_count(a.url()) == 1; }, 5s));
  json big = make_event(sk, 1, std::string(8000, 'x'));
  json small = make_event(sk, 1, "small");
  CHECK(pool.publish(big, 3s).status().ok());  // outbound size is not limited
  CHECK(pool.publish(small, 3s).status().ok());
  REQUIRE(eventually([&] { return s.has(small["id"]); }, 3s));
  CHECK_FALSE(s.has(big["id"]));
  CHECK(pool.status()[0].connects == 1);
}

TEST_CASE("wss:// verifies certificates: trusted CA file works, unknown CA and wrong host fail") {
  char dir_tmpl[] = "/tmp/sw_relay_tls_XXXXXX";
  REQUIRE(::mkdtemp(dir_tmpl) != nullptr);
  std::string dir = dir_tmpl;
  std::string cert = dir + "/cert.pem", key = dir + "/key.pem";
  std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj "
                    "/CN=localhost -addext subjectAltName=DNS:localhost -keyout " + key + " -out " + cert +
                    " >/dev/null 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  NodeRelay a(0, {"--tls", cert, key});
  std::string good = "wss://localhost:" + std::to_string(a.port());
  std::string wrong_host = "wss://127.0.0.1:" + std::to_string(a.port());

  relay::PoolOptions o;
  o.ca_file = cert;
  relay::Pool trusting(o);
  trusting.add_relays({good, wrong_host});
  relay::Pool strict;  // system store only: the self-signed CA is unknown
  REQUIRE(strict.add_relay(good).ok());

  // The system store is read as a hashed directory; point it (SSL_CERT_DIR, as OpenSSL does) at one that holds
  // our CA: then a pool WITHOUT ca_file trusts the relay, proving that path loads certificates on demand.
  std::string store = dir + "/store";
  REQUIRE(::mkdir(store.c_str(), 0700) == 0);
  REQUIRE(std::system(("cp " + cert + " " + store + "/ca.pem && openssl rehash " + store + " >/dev/null 2>&1").c_str()) == 0);
  ::setenv("SSL_CERT_DIR", store.c_str(), 1);
  relay::Pool system_store;
  ::unsetenv("SSL_CERT_DIR");
  REQUIRE(system_store.add_relay(good).ok());

  REQUIRE(eventually([&] { return trusting.states()[good] == "connected"; }, 5s));
  REQUIRE(eventually([&] { return system_store.states()[good] == "connected"; }, 5s));
  auto sk = crypto::SecretKey::generate();
  auto r = trusting.publish(make_event(sk, 1, "over tls"), 3s);
  CHECK(r.relays[0].accepted);
  REQUIRE(eventually([&] { return trusting.states()[wrong_host] == "backoff"; }, 5s));
  CHECK(trusting.status()[1].connects == 0);
  REQUIRE(eventually([&] { return strict.states()[good] == "backoff"; }, 5s));
  CHECK(strict.status()[0].connects == 0);
  INFO("strict: " << strict.status()[0].last_error << " / wrong host: " << trusting.status()[1].last_error);
  CHECK_FALSE(strict.status()[0].last_error.empty());
  std::filesystem::remove_all(dir);
}
