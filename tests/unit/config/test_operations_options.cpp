// Settings of issue 14 on one instance: fair sharing between tokens and the operator's metrics token.
#include <catch2/catch.hpp>

#include "config/config.h"
#include "helpers.h"

using namespace sw;
using namespace sw::config;
using config_test::run;

TEST_CASE("fair-sharing limits: defaults, env and flags, bounds") {
  config_test::env() = {{"HOME", "/h"}};
  auto d = run({});
  REQUIRE(d);
  CHECK(d->config.max_sessions_per_token == 32);
  CHECK(d->config.token_calls_in_flight == 16);
  CHECK(d->config.token_calls_per_minute == 600);
  config_test::env()["SATWARDEN_MAX_SESSIONS_PER_TOKEN"] = "4";
  config_test::env()["SATWARDEN_TOKEN_CALLS_IN_FLIGHT"] = "2";
  auto e = run({"--token-calls-per-minute", "30"});
  REQUIRE(e);
  CHECK(e->config.max_sessions_per_token == 4);
  CHECK(e->config.token_calls_in_flight == 2);
  CHECK(e->config.token_calls_per_minute == 30);
  config_test::env() = {{"HOME", "/h"}};
  CHECK_FALSE(run({"--token-calls-in-flight", "0"}));
  CHECK(run({"--max-sessions-per-token", "x"}).error().code == "CONFIG_INVALID");
}

TEST_CASE("metrics token: env or file only, at least 16 characters, never echoed") {
  config_test::env() = {{"HOME", "/h"}, {"SATWARDEN_METRICS_TOKEN", "short-secret"}};
  auto s = run({});
  REQUIRE_FALSE(s);
  CHECK(s.error().message.find("16") != std::string::npos);
  CHECK(s.error().message.find("short-secret") == std::string::npos);
  config_test::env()["SATWARDEN_METRICS_TOKEN"] = "a-long-enough-metrics-secret";
  auto ok = run({});
  REQUIRE(ok);
  CHECK(ok->config.metrics_token == "a-long-enough-metrics-secret");
  CHECK_FALSE(run({"--metrics-token", "a-long-enough-metrics-secret"}));  // never a flag (argv is visible)
}
