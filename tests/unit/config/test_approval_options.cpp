// The owner-approval settings from flags, the environment and the config file: approve_above_sats (a number,
// 0, or "none"), approve_new_domains, approval_timeout_seconds (10..86400), approval_wait, approval_elicitation,
// owner_dm; precedence (flag > env > file > default) and a clear CONFIG_INVALID for each bad value.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>

#include "config/config.h"
#include "spend/spend.h"

using namespace sw;
using namespace sw::config;

namespace {

std::map<std::string, std::string> g_aenv;
std::optional<std::string> approval_env(const char* n) {
  auto it = g_aenv.find(n);
  if (it == g_aenv.end()) return std::nullopt;
  return it->second;
}
Result<Loaded> load_approval(std::map<std::string, std::string> env, std::vector<const char*> args = {}) {
  env["HOME"] = "/h";
  g_aenv = std::move(env);
  args.insert(args.begin(), "satwarden");
  return load(static_cast<int>(args.size()), args.data(), approval_env);
}
Config config_of(std::map<std::string, std::string> env, std::vector<const char*> args = {}) {
  auto r = load_approval(std::move(env), std::move(args));
  INFO((r ? std::string("ok") : r.error().message));
  REQUIRE(r);
  return r->config;
}
std::string error_of(std::map<std::string, std::string> env, std::vector<const char*> args = {}) {
  auto r = load_approval(std::move(env), std::move(args));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "CONFIG_INVALID");
  return r.error().message;
}
bool has(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

struct TempFile {
  std::string path;
  explicit TempFile(const std::string& text) {
    static int n = 0;
    path = "/tmp/sw_appr_cfg_" + std::to_string(::getpid()) + "_" + std::to_string(n++) + ".json";
    std::ofstream(path) << text;
  }
  ~TempFile() { std::remove(path.c_str()); }
};

using Opt = std::optional<uint64_t>;

}  // namespace

TEST_CASE("approval options: defaults") {
  auto c = config_of({});
  CHECK_FALSE(c.policy.global.approve_above_msat);  // never asks
  CHECK_FALSE(c.policy.approve_new_domains);
  CHECK(c.approval_timeout_seconds == 300);
  CHECK(c.approval_wait == "wait");
  CHECK(c.approval_elicitation == "auto");
  CHECK(c.owner_dm == "nip17");
  CHECK(c.owner_npub.empty());
}

TEST_CASE("approval options: from the environment") {
  auto c = config_of({{"SATWARDEN_APPROVE_ABOVE_SATS", "500"},
                      {"SATWARDEN_APPROVE_NEW_DOMAINS", "true"},
                      {"SATWARDEN_APPROVAL_TIMEOUT", "600"},
                      {"SATWARDEN_APPROVAL_WAIT", "return"},
                      {"SATWARDEN_APPROVAL_ELICITATION", "off"},
                      {"SATWARDEN_OWNER_DM", "nip04"},
                      {"SATWARDEN_OWNER_NPUB", "npub1example"}});
  CHECK(c.policy.global.approve_above_msat == Opt(500'000));
  CHECK(c.policy.approve_new_domains);
  CHECK(c.approval_timeout_seconds == 600);
  CHECK(c.approval_wait == "return");
  CHECK(c.approval_elicitation == "off");
  CHECK(c.owner_dm == "nip04");
  CHECK(c.owner_npub == "npub1example");
  CHECK(config_of({{"SATWARDEN_APPROVE_ABOVE_SATS", "0"}}).policy.global.approve_above_msat == Opt(0));
  CHECK_FALSE(config_of({{"SATWARDEN_APPROVE_ABOVE_SATS", "none"}}).policy.global.approve_above_msat);
  for (const char* yes : {"true", "yes", "1"})
    CHECK(config_of({{"SATWARDEN_APPROVE_NEW_DOMAINS", yes}}).policy.approve_new_domains);
  for (const char* no : {"false", "no", "0"})
    CHECK_FALSE(config_of({{"SATWARDEN_APPROVE_NEW_DOMAINS", no}}).policy.approve_new_domains);
  CHECK(config_of({{"SATWARDEN_APPROVAL_ELICITATION", "on"}}).approval_elicitation == "on");
  CHECK(config_of({{"SATWARDEN_APPROVAL_WAIT", "wait"}}).approval_wait == "wait");
}

TEST_CASE("approval options: flags beat the environment") {
  auto c = config_of({{"SATWARDEN_APPROVE_ABOVE_SATS", "500"}, {"SATWARDEN_APPROVE_NEW_DOMAINS", "true"},
                      {"SATWARDEN_APPROVAL_TIMEOUT", "600"}},
                     {"--approve-above-sats", "20", "--approve-new-domains", "false", "--approval-timeout-seconds",
                      "45", "--approval-wait", "return", "--approval-elicitation", "on", "--owner-dm=nip04"});
  CHECK(c.policy.global.approve_above_msat == Opt(20'000));
  CHECK_FALSE(c.policy.approve_new_domains);
  CHECK(c.approval_timeout_seconds == 45);
  CHECK(c.approval_wait == "return");
  CHECK(c.approval_elicitation == "on");
  CHECK(c.owner_dm == "nip04");
  CHECK_FALSE(config_of({{"SATWARDEN_APPROVE_ABOVE_SATS", "500"}}, {"--approve-above-sats", "none"})
                  .policy.global.approve_above_msat);
}

TEST_CASE("approval options: approval_timeout_seconds is between 10 seconds and a day") {
  CHECK(config_of({}, {"--approval-timeout-seconds", "10"}).approval_timeout_seconds == 10);
  CHECK(config_of({}, {"--approval-timeout-seconds", "86400"}).approval_timeout_seconds == 86400);
  for (const char* bad : {"9", "0", "86401"}) {
    INFO(bad);
    auto m = error_of({{"SATWARDEN_APPROVAL_TIMEOUT", bad}});
    CHECK(has(m, "between 10 and 86400"));
    CHECK(has(m, "SATWARDEN_APPROVAL_TIMEOUT"));
  }
  for (const char* bad : {"abc", "-5", "1.5", ""}) {
    INFO(bad);
    CHECK(has(error_of({}, {"--approval-timeout-seconds", bad}), "whole number"));
  }
}

TEST_CASE("approval options: bad values give clear errors") {
  auto m = error_of({{"SATWARDEN_APPROVE_ABOVE_SATS", "lots"}});
  CHECK(has(m, "SATWARDEN_APPROVE_ABOVE_SATS"));
  CHECK(has(m, "'none'"));
  CHECK(has(error_of({}, {"--approve-above-sats", "-1"}), "whole number"));
  CHECK(has(error_of({}, {"--approve-above-sats", "2100000000000001"}), "whole number"));
  CHECK(has(error_of({{"SATWARDEN_APPROVE_NEW_DOMAINS", "maybe"}}), "true or false"));
  CHECK(has(error_of({}, {"--approval-wait", "later"}), "'wait' or 'return'"));
  CHECK(has(error_of({{"SATWARDEN_APPROVAL_ELICITATION", "sometimes"}}), "auto, on or off"));
  CHECK(has(error_of({}, {"--owner-dm", "nip44"}), "nip17 or nip04"));
  // The webhook secret is never a flag (it would show in the process list).
  CHECK(has(error_of({}, {"--approval-webhook-secret", "0123456789abcdef"}), "--approval-webhook-secret"));
}

TEST_CASE("approval options: from the config file, under the environment and the flags") {
  TempFile f(R"({"policy":{"approve_above_sats":50,"approve_new_domains":true,
                          "domains":{"*.example.com":{"approve_above_sats":5}}},
                 "approval_timeout_seconds":120,"approval_wait":"return","approval_elicitation":"off",
                 "owner_dm":"nip04","owner_relays":["wss://relay.example"]})");
  auto c = config_of({}, {"--config", f.path.c_str()});
  CHECK(c.policy.global.approve_above_msat == Opt(50'000));
  CHECK(c.policy.approve_new_domains);
  CHECK(c.policy.domains.at("*.example.com").approve_above_msat == Opt(5'000));
  CHECK(c.approval_timeout_seconds == 120);
  CHECK(c.approval_wait == "return");
  CHECK(c.approval_elicitation == "off");
  CHECK(c.owner_dm == "nip04");
  CHECK(c.owner_relays == std::vector<std::string>{"wss://relay.example"});
  // The environment replaces the file's value per field ("none" removes the file's threshold), flags beat both.
  auto e = config_of({{"SATWARDEN_APPROVE_ABOVE_SATS", "none"}, {"SATWARDEN_APPROVAL_TIMEOUT", "200"}},
                     {"--config", f.path.c_str()});
  CHECK_FALSE(e.policy.global.approve_above_msat);
  CHECK(e.policy.approve_new_domains);  // untouched field kept from the file
  CHECK(e.approval_timeout_seconds == 200);
  auto g = config_of({{"SATWARDEN_APPROVE_ABOVE_SATS", "30"}},
                     {"--config", f.path.c_str(), "--approve-above-sats", "10", "--approval-timeout-seconds", "60"});
  CHECK(g.policy.global.approve_above_msat == Opt(10'000));
  CHECK(g.approval_timeout_seconds == 60);
  // "none" in the file.
  TempFile none(R"({"policy":{"approve_above_sats":"none"}})");
  CHECK_FALSE(config_of({}, {"--config", none.path.c_str()}).policy.global.approve_above_msat);
}

TEST_CASE("approval options: bad values in the config file") {
  auto bad = [](const std::string& text) {
    TempFile f(text);
    return error_of({}, {"--config", f.path.c_str()});
  };
  // The threshold belongs in the policy section; the error says where.
  CHECK(has(bad(R"({"approve_above_sats":50})"), "policy"));
  CHECK(has(bad(R"({"policy":{"approve_above_sats":"lots"}})"), "approve_above_sats"));
  CHECK(has(bad(R"({"policy":{"approve_above_sats":50,"approve_above_msat":50000}})"), "not both"));
  CHECK(has(bad(R"({"policy":{"approve_new_domains":"yes"}})"), "approve_new_domains"));
  CHECK(has(bad(R"({"approval_timeout_seconds":5})"), "between 10 and 86400"));
  CHECK(has(bad(R"({"approval_timeout_seconds":-5})"), "negative"));
  CHECK(has(bad(R"({"approval_wait":"never"})"), "'wait' or 'return'"));
  CHECK(has(bad(R"({"owner_dm":"email"})"), "nip17 or nip04"));
  CHECK(has(bad(R"({"envelopes":[{"name":"a","cap_sats":10,"approve_above_sats":"x"}]})"), "approve_above"));
}
