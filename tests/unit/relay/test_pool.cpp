// Relay pool behaviour that needs no relay: unreachable and silent peers on 127.0.0.1, queue bounds, argument
// checks, shutdown time. The real-relay scenarios live in tests/interop/relay/relay_it.cpp.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <thread>

#include "relay/relay.h"

using namespace sw;
using namespace sw::relay;
using namespace std::chrono_literals;

namespace {

// A TCP listener on 127.0.0.1 that accepts (via the kernel backlog) and never answers: a websocket handshake
// to it stays "connecting" until the connect timeout.
struct SilentPeer {
  int fd = -1;
  int port = 0;
  SilentPeer() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 16) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port = ntohs(a.sin_port);
  }
  ~SilentPeer() { ::close(fd); }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port); }
};

// A port with nothing listening (bound then closed).
int dead_port() {
  SilentPeer p;
  return p.port;
}

json fake_event(char c) {
  return json{{"id", std::string(64, c)}, {"pubkey", std::string(64, 'a')}, {"kind", 1}, {"created_at", 1},
              {"tags", json::array()}, {"content", "x"}, {"sig", std::string(128, 'b')}};
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

}  // namespace

TEST_CASE("add_relay validates URLs, add_relays keeps invalid ones visible as closed") {
  Pool pool;
  auto bad = pool.add_relay("http://example.com");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == "INVALID_RELAY_URL");
  CHECK(pool.states().empty());

  std::string dead = "ws://127.0.0.1:" + std::to_string(dead_port());
  pool.add_relays({dead, "nonsense", dead});  // duplicate ignored
  auto st = pool.states();
  REQUIRE(st.size() == 2);
  CHECK(st["nonsense"] == "closed");
  auto full = pool.status();
  REQUIRE(full.size() == 2);
  CHECK(full[1].last_error.find("INVALID_RELAY_URL") == std::string::npos);  // message, not code
  CHECK(full[1].last_error.find("scheme") != std::string::npos);
}

TEST_CASE("an unreachable relay goes to backoff and publish fails fast naming it") {
  Pool pool;
  std::string dead = "ws://127.0.0.1:" + std::to_string(dead_port());
  REQUIRE(pool.add_relay(dead).ok());
  REQUIRE(eventually([&] { return pool.states()[dead] == "backoff"; }, 3s));
  auto s = pool.status();
  REQUIRE(s.size() == 1);
  CHECK(s[0].failures >= 1);
  CHECK_FALSE(s[0].last_error.empty());
  CHECK(s[0].retry_in_ms <= 30000);

  auto t0 = std::chrono::steady_clock::now();
  auto r = pool.publish(fake_event('1'), 10s);
  auto took = std::chrono::steady_clock::now() - t0;
  CHECK(took < 4s);  // settled by the on-demand reconnect failing, not by the 5 s timeout
  REQUIRE(r.relays.size() == 1);
  CHECK(r.relays[0].url == dead);
  CHECK_FALSE(r.relays[0].sent);
  CHECK_FALSE(r.relays[0].accepted);
  CHECK(r.relays[0].code == "RELAY_UNREACHABLE");
  auto status = r.status();
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().code == "RELAY_UNREACHABLE");
  CHECK(status.error().message.find(dead) != std::string::npos);
}

TEST_CASE("a silent relay: publish times out as RELAY_UNREACHABLE and pending publishes are bounded") {
  SilentPeer peer;
  PoolOptions o;
  o.max_queue = 2;
  o.connect_timeout = 20s;
  Pool pool(o);
  REQUIRE(pool.add_relay(peer.url()).ok());
  REQUIRE(eventually([&] { return pool.states()[peer.url()] == "connecting"; }, 1s));

  std::promise<PublishResult> p1, p2, p3;
  pool.publish_async(fake_event('1'), 600ms, [&](PublishResult r) { p1.set_value(std::move(r)); });
  pool.publish_async(fake_event('2'), 600ms, [&](PublishResult r) { p2.set_value(std::move(r)); });
  pool.publish_async(fake_event('3'), 600ms, [&](PublishResult r) { p3.set_value(std::move(r)); });
  auto f3 = p3.get_future();
  REQUIRE(f3.wait_for(300ms) == std::future_status::ready);  // refused at once
  auto r3 = f3.get();
  REQUIRE(r3.relays.size() == 1);
  CHECK(r3.relays[0].code == "RELAY_QUEUE_FULL");
  CHECK(r3.status().error().code == "RELAY_QUEUE_FULL");

  auto r1 = p1.get_future().get();
  REQUIRE(r1.relays.size() == 1);
  CHECK(r1.relays[0].code == "RELAY_UNREACHABLE");  // never written: the handshake never finished
  CHECK_FALSE(r1.relays[0].sent);
  CHECK(p2.get_future().get().relays[0].code == "RELAY_UNREACHABLE");
  CHECK(pool.states()[peer.url()] == "connecting");
}

TEST_CASE("publish argument checks and a pool without relays") {
  Pool pool;
  auto r = pool.publish(json{{"id", "short"}}, 1s);
  CHECK(r.status().error().code == "INVALID_ARGUMENT");
  auto r2 = pool.publish(json::array(), 1s);
  CHECK(r2.status().error().code == "INVALID_ARGUMENT");
  auto r3 = pool.publish(json{{"id", 5}}, 1s);  // non-string id must not throw
  CHECK(r3.status().error().code == "INVALID_ARGUMENT");
  auto r4 = pool.publish(fake_event('4'), 1s);
  CHECK(r4.relays.empty());
  CHECK(r4.status().error().code == "RELAY_UNREACHABLE");
}

TEST_CASE("subscribe argument checks") {
  PoolOptions o;
  o.max_subscriptions = 2;
  Pool pool(o);
  json f = json::array({json{{"kinds", {1}}}});
  CHECK(pool.try_subscribe("", f, nullptr, nullptr).error().code == "INVALID_ARGUMENT");
  CHECK(pool.try_subscribe(std::string(65, 's'), f, nullptr, nullptr).error().code == "INVALID_ARGUMENT");
  CHECK(pool.try_subscribe("a", json::array(), nullptr, nullptr).error().code == "INVALID_ARGUMENT");
  CHECK(pool.try_subscribe("a", json::array({1}), nullptr, nullptr).error().code == "INVALID_ARGUMENT");
  CHECK(pool.try_subscribe("a", json{{"kinds", {1}}}, nullptr, nullptr).ok());  // a single object is fine
  CHECK(pool.try_subscribe("b", f, nullptr, nullptr).ok());
  CHECK(pool.try_subscribe("a", f, nullptr, nullptr).ok());  // replacing does not count twice
  CHECK(pool.try_subscribe("c", f, nullptr, nullptr).error().code == "INVALID_ARGUMENT");
  pool.unsubscribe("a");
  CHECK(pool.try_subscribe("c", f, nullptr, nullptr).ok());
}

TEST_CASE("publish() from a loop-thread callback fails fast with POOL_MISUSE") {
  Pool pool;
  std::promise<PublishResult> inner;
  pool.publish_async(json{{"id", std::string(64, 'c')}}, 200ms, [&](PublishResult) {
    inner.set_value(pool.publish(fake_event('5'), 5s));  // would deadlock if it blocked
  });
  auto f = inner.get_future();
  REQUIRE(f.wait_for(3s) == std::future_status::ready);
  CHECK(f.get().status().error().code == "POOL_MISUSE");
}

TEST_CASE("destruction is bounded and completes pending publishes with POOL_CLOSED") {
  SilentPeer peer;
  std::promise<PublishResult> done;
  auto fut = done.get_future();
  auto t0 = std::chrono::steady_clock::now();
  {
    PoolOptions o;
    o.connect_timeout = 30s;
    Pool pool(o);
    REQUIRE(pool.add_relay(peer.url()).ok());
    pool.publish_async(fake_event('6'), 30s, [&](PublishResult r) { done.set_value(std::move(r)); });
    std::this_thread::sleep_for(100ms);
  }
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  REQUIRE(fut.wait_for(0s) == std::future_status::ready);
  auto r = fut.get();
  REQUIRE(r.relays.size() == 1);
  CHECK(r.relays[0].code == "POOL_CLOSED");
}
