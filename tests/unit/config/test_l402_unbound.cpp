// The l402_unbound setting (what to do with an L402 macaroon whose identifier cannot be read): default, each
// source (file key, SATWARDEN_L402_UNBOUND, --l402-unbound), precedence, strict values, --help.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>

#include "config/config.h"

using namespace sw;
using namespace sw::config;

namespace {

std::map<std::string, std::string> g_uenv;
std::optional<std::string> unbound_env(const char* n) {
  auto it = g_uenv.find(n);
  if (it == g_uenv.end()) return std::nullopt;
  return it->second;
}

Result<Loaded> load_u(std::map<std::string, std::string> env, std::vector<const char*> args) {
  env["HOME"] = "/h";
  g_uenv = std::move(env);
  args.insert(args.begin(), "satwarden");
  return load(static_cast<int>(args.size()), args.data(), unbound_env);
}

std::string unbound_of(std::map<std::string, std::string> env, std::vector<const char*> args = {}) {
  auto r = load_u(std::move(env), std::move(args));
  INFO((r ? std::string("ok") : r.error().message));
  REQUIRE(r);
  return r->config.l402_unbound;
}

std::string error_u(std::map<std::string, std::string> env, std::vector<const char*> args = {}) {
  auto r = load_u(std::move(env), std::move(args));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "CONFIG_INVALID");
  return r.error().message;
}

bool has(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

struct ConfigFile {
  std::string path;
  explicit ConfigFile(const std::string& text) {
    static int n = 0;
    path = "/tmp/sw_unbound_cfg_" + std::to_string(::getpid()) + "_" + std::to_string(n++) + ".json";
    std::ofstream(path) << text;
  }
  ~ConfigFile() { std::remove(path.c_str()); }
};

}  // namespace

TEST_CASE("l402_unbound: refuse by default") {
  CHECK(unbound_of({}) == "refuse");
  CHECK(Config{}.l402_unbound == "refuse");
}

TEST_CASE("l402_unbound: each source sets it") {
  CHECK(unbound_of({{"SATWARDEN_L402_UNBOUND", "allow"}}) == "allow");
  CHECK(unbound_of({{"SATWARDEN_L402_UNBOUND", "refuse"}}) == "refuse");
  CHECK(unbound_of({}, {"--l402-unbound", "allow"}) == "allow");
  CHECK(unbound_of({}, {"--l402-unbound=allow"}) == "allow");
  ConfigFile allow(R"({"l402_unbound":"allow"})");
  CHECK(unbound_of({}, {"--config", allow.path.c_str()}) == "allow");
  ConfigFile refuse(R"({"l402_unbound":"refuse"})");
  CHECK(unbound_of({}, {"--config", refuse.path.c_str()}) == "refuse");
}

TEST_CASE("l402_unbound: flag > environment > file > default") {
  ConfigFile allow(R"({"l402_unbound":"allow"})");
  CHECK(unbound_of({{"SATWARDEN_L402_UNBOUND", "refuse"}}, {"--config", allow.path.c_str()}) == "refuse");
  CHECK(unbound_of({{"SATWARDEN_L402_UNBOUND", "allow"}}, {"--l402-unbound", "refuse"}) == "refuse");
  CHECK(unbound_of({{"SATWARDEN_L402_UNBOUND", "refuse"}}, {"--config", allow.path.c_str(), "--l402-unbound", "allow"}) ==
        "allow");
  ConfigFile refuse(R"({"l402_unbound":"refuse"})");
  CHECK(unbound_of({{"SATWARDEN_L402_UNBOUND", "allow"}}, {"--config", refuse.path.c_str()}) == "allow");
}

TEST_CASE("l402_unbound: a bad value stops start-up naming the variable, flag or key") {
  for (const char* bad : {"", "Allow", "REFUSE", "yes", "no", "true", "1", "refuse ", " allow", "warn", "allow,refuse"}) {
    INFO("'" << bad << "'");
    auto m = error_u({{"SATWARDEN_L402_UNBOUND", bad}});
    CHECK(has(m, "environment variable SATWARDEN_L402_UNBOUND"));
    CHECK(has(m, "must be 'allow' or 'refuse'"));
    auto f = error_u({}, {"--l402-unbound", bad});
    CHECK(has(f, "option --l402-unbound"));
    CHECK(has(f, "must be 'allow' or 'refuse'"));
  }
  CHECK(has(error_u({}, {"--l402-unbound"}), "--l402-unbound needs a value"));
  // A bad environment value is an error even when a flag would have replaced it.
  CHECK(has(error_u({{"SATWARDEN_L402_UNBOUND", "maybe"}}, {"--l402-unbound", "refuse"}), "SATWARDEN_L402_UNBOUND"));
  ConfigFile word(R"({"l402_unbound":"sometimes"})");
  auto m = error_u({}, {"--config", word.path.c_str()});
  CHECK(has(m, "config key 'l402_unbound'"));
  CHECK(has(m, "must be 'allow' or 'refuse'"));
  ConfigFile boolean(R"({"l402_unbound":true})");
  CHECK(has(error_u({}, {"--config", boolean.path.c_str()}), "config key 'l402_unbound'"));
  ConfigFile number(R"({"l402_unbound":1})");
  CHECK(has(error_u({}, {"--config", number.path.c_str()}), "must be 'allow' or 'refuse'"));
  ConfigFile typo(R"({"l402_unbond":"allow"})");
  CHECK(has(error_u({}, {"--config", typo.path.c_str()}), "unknown key 'l402_unbond'"));
}

TEST_CASE("l402_unbound: --help lists the flag, the variable, the file key, the default and why") {
  auto h = help_text();
  for (const char* s : {"--l402-unbound VALUE", "SATWARDEN_L402_UNBOUND", "l402_unbound", "refuse (default",
                        "might buy nothing", "allow (pay", "unverified"}) {
    INFO(s);
    CHECK(has(h, s));
  }
}
