// Relay pool, pure parts: relay URLs, NIP-01 relay messages, backoff schedule, PublishResult::status().
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "relay/relay.h"

using namespace sw;
using namespace sw::relay;
using std::chrono::milliseconds;

TEST_CASE("parse_relay_url accepts ws and wss forms") {
  auto a = wire::parse_relay_url("wss://relay.example.com");
  REQUIRE(a.ok());
  CHECK(a->tls);
  CHECK(a->host == "relay.example.com");
  CHECK(a->port == 443);
  CHECK(a->path == "/");
  CHECK(a->host_header == "relay.example.com");

  auto b = wire::parse_relay_url("WS://127.0.0.1:7447/nostr?x=1#frag");
  REQUIRE(b.ok());
  CHECK_FALSE(b->tls);
  CHECK(b->host == "127.0.0.1");
  CHECK(b->port == 7447);
  CHECK(b->path == "/nostr?x=1");
  CHECK(b->host_header == "127.0.0.1:7447");

  auto c = wire::parse_relay_url("ws://[::1]:8080");
  REQUIRE(c.ok());
  CHECK(c->host == "::1");
  CHECK(c->port == 8080);
  CHECK(c->host_header == "[::1]:8080");

  auto d = wire::parse_relay_url("wss://Relay.Example.COM:443?q");
  REQUIRE(d.ok());
  CHECK(d->host == "relay.example.com");
  CHECK(d->path == "/?q");
  CHECK(d->host_header == "relay.example.com");
}

TEST_CASE("parse_relay_url rejects everything else with INVALID_RELAY_URL") {
  for (const char* bad : {"", "http://relay.example.com", "wss://", "wss://:443", "wss://user@host", "wss://host:0",
                          "wss://host:65536", "wss://host:12a", "wss://host:", "wss://ho st", "wss://[::1",
                          "wss://[zz]:1", "wss://host\n", "relay.example.com", "wss://h\xc3\xa9st"}) {
    INFO(bad);
    auto r = wire::parse_relay_url(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "INVALID_RELAY_URL");
  }
}

TEST_CASE("parse_relay_message reads every relay message type") {
  auto ev = wire::parse_relay_message(R"(["EVENT","sub1",{"id":"ab","kind":1}])");
  REQUIRE(ev.ok());
  CHECK(ev->type == wire::MsgType::event);
  CHECK(ev->sub_id == "sub1");
  CHECK(ev->event["kind"] == 1);

  auto ok = wire::parse_relay_message(R"(["OK","e1",false,"auth-required: please"])");
  REQUIRE(ok.ok());
  CHECK(ok->type == wire::MsgType::ok);
  CHECK(ok->event_id == "e1");
  CHECK_FALSE(ok->ok);
  CHECK(ok->message == "auth-required: please");

  auto ok2 = wire::parse_relay_message(R"(["OK","e2",true])");  // message omitted by some relays
  REQUIRE(ok2.ok());
  CHECK(ok2->ok);
  CHECK(ok2->message.empty());

  auto eose = wire::parse_relay_message(R"(["EOSE","s"])");
  REQUIRE(eose.ok());
  CHECK(eose->type == wire::MsgType::eose);
  CHECK(eose->sub_id == "s");

  auto closed = wire::parse_relay_message(R"(["CLOSED","s","auth-required: x"])");
  REQUIRE(closed.ok());
  CHECK(closed->type == wire::MsgType::closed);
  CHECK(closed->message == "auth-required: x");

  auto notice = wire::parse_relay_message(R"(["NOTICE","hello"])");
  REQUIRE(notice.ok());
  CHECK(notice->type == wire::MsgType::notice);
  CHECK(notice->message == "hello");

  auto auth = wire::parse_relay_message(R"(["AUTH","challenge-123"])");
  REQUIRE(auth.ok());
  CHECK(auth->type == wire::MsgType::auth);
  CHECK(auth->message == "challenge-123");

  auto extra = wire::parse_relay_message(R"(["EOSE","s","extra",1])");  // trailing elements tolerated
  CHECK(extra.ok());
}

TEST_CASE("parse_relay_message rejects malformed messages without throwing") {
  for (const char* bad : {"", "not json", "{}", "[]", "[1]", R"(["WHAT","x"])", R"(["EVENT","s"])",
                          R"(["EVENT","s","notobject"])", R"(["EVENT",1,{}])", R"(["OK","id","true","m"])",
                          R"(["OK","id"])", R"(["EOSE"])", R"(["NOTICE",5])", R"(["AUTH",{}])", R"(["CLOSED"])",
                          "[\"NOTICE\",\"\xff\"]"}) {
    INFO(bad);
    auto r = wire::parse_relay_message(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "INVALID_RELAY_MESSAGE");
  }
}

TEST_CASE("parse_relay_message refuses JSON nested deeper than kMaxMessageDepth before parsing it") {
  // An EVENT whose object carries an array nested `levels` deep (well-formed, balanced JSON).
  auto event_nesting = [](size_t levels) {
    return R"(["EVENT","s",{"kind":1,"x":)" + std::string(levels, '[') + std::string(levels, ']') + "}]";
  };
  // The message itself opens 2 levels (the array, the event object): 62 more fit in 64, 63 do not.
  auto at_limit = wire::parse_relay_message(event_nesting(wire::kMaxMessageDepth - 2));
  REQUIRE(at_limit.ok());
  CHECK(at_limit->type == wire::MsgType::event);

  for (size_t levels : {wire::kMaxMessageDepth - 1, size_t(100000)}) {
    INFO(levels);
    auto r = wire::parse_relay_message(event_nesting(levels));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "INVALID_RELAY_MESSAGE");
    CHECK(r.error().message.find("deeper than 64") != std::string::npos);
  }
  // Brackets inside strings do not count.
  auto in_string = wire::parse_relay_message(R"(["NOTICE",")" + std::string(1000, '[') + R"("])");
  REQUIRE(in_string.ok());
  CHECK(in_string->message.size() == 1000);
}

TEST_CASE("client messages serialise as compact NIP-01 arrays") {
  json filters = json::array({json{{"kinds", {23195}}, {"#e", {"ab"}}}, json{{"limit", 1}}});
  CHECK(wire::make_req("s1", filters) == R"(["REQ","s1",{"#e":["ab"],"kinds":[23195]},{"limit":1}])");
  CHECK(wire::make_req("s2", json{{"limit", 2}}) == R"(["REQ","s2",{"limit":2}])");
  CHECK(wire::make_close("s1") == R"(["CLOSE","s1"])");
  json ev{{"id", "x"}, {"content", "a\"b"}};
  CHECK(wire::make_event(ev) == R"(["EVENT",{"content":"a\"b","id":"x"}])");
  CHECK(wire::make_auth(ev) == R"(["AUTH",{"content":"a\"b","id":"x"}])");
  // Round trip through the parser of a relay-shaped EVENT.
  auto back = wire::parse_relay_message(R"(["EVENT","s1",)" + ev.dump() + "]");
  REQUIRE(back.ok());
  CHECK(back->event == ev);
}

TEST_CASE("has_prefix matches NIP-01 machine-readable prefixes only") {
  CHECK(wire::has_prefix("auth-required: we need you", "auth-required"));
  CHECK(wire::has_prefix("auth-required:", "auth-required"));
  CHECK_FALSE(wire::has_prefix("auth-required", "auth-required"));
  CHECK_FALSE(wire::has_prefix("restricted: no", "auth-required"));
  CHECK_FALSE(wire::has_prefix("xauth-required: no", "auth-required"));
  CHECK_FALSE(wire::has_prefix("", "auth-required"));
}

TEST_CASE("backoff grows exponentially within jitter bounds and is capped") {
  const milliseconds lo{250}, hi{30000};
  double prev_mid = 0;
  for (uint32_t n = 1; n <= 40; n++) {
    double base = std::min(250.0 * std::pow(2.0, std::min<uint32_t>(n - 1, 30)), 30000.0);
    auto a = wire::backoff_delay(n, lo, hi, 0.0);
    auto b = wire::backoff_delay(n, lo, hi, 0.999999);
    auto mid = wire::backoff_delay(n, lo, hi, 0.5);
    INFO("failures=" << n);
    CHECK(a >= lo);
    CHECK(b <= hi);
    CHECK(a.count() >= static_cast<int64_t>(std::max(250.0, base * 0.8)) - 1);
    CHECK(b.count() <= static_cast<int64_t>(std::min(30000.0, base * 1.2)) + 1);
    CHECK(a <= mid);
    CHECK(mid <= b);
    CHECK(static_cast<double>(mid.count()) >= prev_mid);  // non-decreasing schedule
    prev_mid = static_cast<double>(mid.count());
  }
  CHECK(wire::backoff_delay(1, lo, hi, 0.5) == milliseconds(250));
  CHECK(wire::backoff_delay(2, lo, hi, 0.5) == milliseconds(500));
  CHECK(wire::backoff_delay(3, lo, hi, 0.5) == milliseconds(1000));
  CHECK(wire::backoff_delay(100, lo, hi, 0.5) == milliseconds(30000));
  // At the cap the jitter still spreads clients over [24 s, 30 s].
  CHECK(wire::backoff_delay(100, lo, hi, 0.0) == milliseconds(24000));
  // Out-of-range jitter inputs are clamped, not trusted.
  CHECK(wire::backoff_delay(3, lo, hi, -5.0) == milliseconds(800));
  CHECK(wire::backoff_delay(3, lo, hi, 7.0) == milliseconds(1200));
  CHECK(wire::backoff_delay(3, lo, hi, std::nan("")) == milliseconds(1000));
  // Many random draws stay inside the bounds.
  std::minstd_rand rng(42);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int i = 0; i < 2000; i++) {
    auto d = wire::backoff_delay(static_cast<uint32_t>(1 + i % 12), lo, hi, u(rng));
    REQUIRE(d >= lo);
    REQUIRE(d <= hi);
  }
}

TEST_CASE("PublishResult::status picks the most telling error and names the relays") {
  PublishResult ok;
  ok.event_id = "e";
  ok.relays = {RelayPublish{"ws://a", true, true, "", ""}, RelayPublish{"ws://b", false, false, "RELAY_UNREACHABLE", "x"}};
  CHECK(ok.status().ok());
  CHECK(ok.accepted_count() == 1);
  CHECK(ok.any_accepted());

  PublishResult unreachable;
  unreachable.relays = {RelayPublish{"ws://a", false, false, "RELAY_UNREACHABLE", "not connected"},
                        RelayPublish{"ws://b", false, false, "RELAY_UNREACHABLE", "not connected"}};
  auto s1 = unreachable.status();
  REQUIRE_FALSE(s1.ok());
  CHECK(s1.error().code == "RELAY_UNREACHABLE");
  CHECK(s1.error().message.find("ws://a") != std::string::npos);
  CHECK(s1.error().message.find("ws://b") != std::string::npos);
  CHECK(s1.error().details["relays"].size() == 2);

  PublishResult timeout;
  timeout.relays = {RelayPublish{"ws://a", true, false, "RELAY_TIMEOUT", ""},
                    RelayPublish{"ws://b", false, false, "RELAY_UNREACHABLE", ""}};
  CHECK(timeout.status().error().code == "RELAY_TIMEOUT");

  PublishResult rejected;
  rejected.relays = {RelayPublish{"ws://a", true, false, "RELAY_REJECTED", "invalid: bad sig"},
                     RelayPublish{"ws://b", true, false, "RELAY_TIMEOUT", ""}};
  auto s3 = rejected.status();
  CHECK(s3.error().code == "RELAY_REJECTED");
  CHECK(s3.error().message.find("invalid: bad sig") != std::string::npos);

  PublishResult full;
  full.relays = {RelayPublish{"ws://a", false, false, "RELAY_QUEUE_FULL", ""}};
  CHECK(full.status().error().code == "RELAY_QUEUE_FULL");

  PublishResult none;
  CHECK(none.status().error().code == "RELAY_UNREACHABLE");

  PublishResult closed;
  closed.relays = {RelayPublish{"ws://a", false, false, "POOL_CLOSED", "closed"},
                   RelayPublish{"ws://b", false, false, "POOL_CLOSED", "closed"}};
  CHECK(closed.status().error().code == "POOL_CLOSED");
}

TEST_CASE("relay_state_name") {
  CHECK(std::string(relay_state_name(RelayState::connecting)) == "connecting");
  CHECK(std::string(relay_state_name(RelayState::connected)) == "connected");
  CHECK(std::string(relay_state_name(RelayState::backoff)) == "backoff");
  CHECK(std::string(relay_state_name(RelayState::closed)) == "closed");
}
