#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <sys/stat.h>

#include "config/config.h"

using namespace sw;
using namespace sw::config;

namespace {
std::map<std::string, std::string> g_env;
std::optional<std::string> fake_env(const char* n) {
  auto it = g_env.find(n);
  if (it == g_env.end()) return std::nullopt;
  return it->second;
}
Result<Loaded> run(std::vector<const char*> args) {
  args.insert(args.begin(), "satwarden");
  return load(static_cast<int>(args.size()), args.data(), fake_env);
}
}  // namespace

TEST_CASE("defaults, env and flags with precedence") {
  g_env = {{"HOME", "/home/u"}};
  auto d = run({});
  REQUIRE(d);
  CHECK(d->config.transport == "stdio");
  CHECK(d->config.host == "127.0.0.1");
  CHECK(d->config.port == 8402);
  CHECK(d->config.data_dir == "/home/u/.local/share/satwarden");
  g_env = {{"XDG_DATA_HOME", "/x"}, {"SATWARDEN_PORT", "9000"}, {"SATWARDEN_LOG_LEVEL", "debug"}};
  auto e = run({"--port", "9100"});
  REQUIRE(e);
  CHECK(e->config.data_dir == "/x/satwarden");
  CHECK(e->config.port == 9100);  // flag beats env
  CHECK(e->config.log_level == LogLevel::debug);
  CHECK(run({"--port=81"})->config.port == 81);
}

TEST_CASE("bad settings give clear errors") {
  g_env = {{"HOME", "/h"}};
  CHECK(run({"--port", "70000"}).error().message.find("between") != std::string::npos);
  CHECK(run({"--port", "abc"}).error().code == "CONFIG_INVALID");
  CHECK(run({"--transport", "carrier-pigeon"}).error().message.find("stdio") != std::string::npos);
  CHECK(run({"--bogus"}).error().message.find("--bogus") != std::string::npos);
  CHECK(run({"--port"}).error().message.find("needs a value") != std::string::npos);
  // Non-loopback HTTP without tokens refuses to start.
  CHECK(run({"--transport", "http", "--host", "0.0.0.0"}).error().message.find("token") != std::string::npos);
  g_env["SATWARDEN_TOKENS"] = "zqxvw";
  auto s = run({});
  REQUIRE_FALSE(s);
  CHECK(s.error().message.find("zqxvw") == std::string::npos);  // never echoes the token
  g_env["SATWARDEN_TOKENS"] = "0123456789abcdef0123,fedcba98765432100123";
  auto ok = run({"--transport", "http", "--host", "0.0.0.0"});
  REQUIRE(ok);
  CHECK(ok->config.tokens.size() == 2);
  CHECK(ok->config.tokens[1].label == "token-2");
}

TEST_CASE("config file") {
  std::string path = "/tmp/sw_cfg_test_" + std::to_string(::getpid()) + ".json";
  {
    std::ofstream f(path);
    f << R"({"transport":"http","port":8500,"tokens":[{"token":"aaaaaaaaaaaaaaaaaaaa","label":"agent-a","envelope":"small"}],
            "envelopes":[{"name":"small","cap_sats":50}],
            "policy":{"day_sats":100}})";
  }
  g_env = {{"HOME", "/h"}, {"SATWARDEN_PORT", "8600"}};
  auto c = run({"--config", path.c_str()});
  REQUIRE(c);
  CHECK(c->config.transport == "http");
  CHECK(c->config.port == 8600);  // env beats file
  CHECK(c->config.tokens.at(0).label == "agent-a");
  CHECK(c->config.tokens.at(0).envelope == "small");
  CHECK(c->config.raw_file["policy"]["day_sats"] == 100);
  CHECK(c->config.policy.global.day_msat == 100'000u);
  {
    std::ofstream f(path);
    f << R"({"prot": 1})";
  }
  CHECK(run({"--config", path.c_str()}).error().message.find("unknown key 'prot'") != std::string::npos);
  {
    std::ofstream f(path);
    f << "{nope";
  }
  CHECK(run({"--config", path.c_str()}).error().message.find("not valid JSON") != std::string::npos);
  std::remove(path.c_str());
  CHECK(run({"--config", "/nonexistent/x.json"}).error().message.find("cannot read") != std::string::npos);
}

TEST_CASE("help and version actions, data dir creation") {
  CHECK(run({"--help"})->action == Action::help);
  CHECK(run({"--version"})->action == Action::version);
  auto h = help_text();
  for (const char* f : {"--transport", "--host", "--port", "--token", "--log-level", "--data-dir", "--config",
                        "NWC_URL", "--version"})
    CHECK(h.find(f) != std::string::npos);
  std::string dir = "/tmp/sw_dd_" + std::to_string(::getpid()) + "/a/b";
  REQUIRE(ensure_data_dir(dir));
  struct stat st {};
  REQUIRE(::stat(dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  std::system(("rm -rf /tmp/sw_dd_" + std::to_string(::getpid())).c_str());
}
