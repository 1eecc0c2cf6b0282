// Spend-policy settings from the environment, flags and the config file's "policy" section: each option, its
// precedence (flag > env > file > default, per field), strict parsing, token/envelope binding checks, and the
// effective policy reaching a real Ledger.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>

#include "config/config.h"
#include "spend/spend.h"
#include "../spend/helpers.h"  // FakeClock

using namespace sw;
using namespace sw::config;

namespace {

std::map<std::string, std::string> g_penv;
std::optional<std::string> policy_env(const char* n) {
  auto it = g_penv.find(n);
  if (it == g_penv.end()) return std::nullopt;
  return it->second;
}
Result<Loaded> load_with(std::vector<const char*> args) {
  args.insert(args.begin(), "satwarden");
  return load(static_cast<int>(args.size()), args.data(), policy_env);
}
// Loads with the given env and args; REQUIREs success and returns the effective policy.
spend::Policy policy_of(std::map<std::string, std::string> env, std::vector<const char*> args = {}) {
  env["HOME"] = "/h";
  g_penv = std::move(env);
  auto r = load_with(std::move(args));
  INFO((r ? std::string("ok") : r.error().message));
  REQUIRE(r);
  return r->config.policy;
}
// Loads and REQUIREs a CONFIG_INVALID error; returns its message.
std::string error_of(std::map<std::string, std::string> env, std::vector<const char*> args = {}) {
  env["HOME"] = "/h";
  g_penv = std::move(env);
  auto r = load_with(std::move(args));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "CONFIG_INVALID");
  return r.error().message;
}
bool has(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

struct TempFile {
  std::string path;
  explicit TempFile(const std::string& text) {
    static int n = 0;
    path = "/tmp/sw_pol_cfg_" + std::to_string(::getpid()) + "_" + std::to_string(n++) + ".json";
    std::ofstream(path) << text;
  }
  ~TempFile() { std::remove(path.c_str()); }
};

using V = std::vector<std::string>;
constexpr uint64_t kMsat = 1000;

}  // namespace

TEST_CASE("policy options: defaults without any source") {
  auto p = policy_of({});
  CHECK(p == spend::Policy{});  // 1000 sats per call, no windows, fee 10000 msat / 5000 ppm, every protocol
  CHECK(p.global.per_call_msat == 1000 * kMsat);
  CHECK_FALSE(p.global.day_msat);
  CHECK_FALSE(p.allow_domains);
  CHECK(p.protocols == V{"bolt11", "keysend", "l402", "mpp"});
}

TEST_CASE("policy options: each environment variable sets its field") {
  auto p = policy_of({{"SATWARDEN_HOUR_SATS", "11"},
                      {"SATWARDEN_DAY_SATS", "22"},
                      {"SATWARDEN_WEEK_SATS", "33"},
                      {"SATWARDEN_MONTH_SATS", "44"},
                      {"SATWARDEN_LIFETIME_SATS", "55"},
                      {"SATWARDEN_FEE_BASE_MSAT", "1500"},
                      {"SATWARDEN_FEE_PPM", "2500"},
                      {"SATWARDEN_ALLOW_DOMAINS", "API.Example.com., *.paid.dev"},
                      {"SATWARDEN_DENY_DOMAINS", "evil.example,*.bad.example"},
                      {"SATWARDEN_PROTOCOLS", "L402,bolt11"},
                      {"SATWARDEN_MAX_SATS", "77"}});
  CHECK(p.global.hour_msat == 11 * kMsat);
  CHECK(p.global.day_msat == 22 * kMsat);
  CHECK(p.global.week_msat == 33 * kMsat);
  CHECK(p.global.month_msat == 44 * kMsat);
  CHECK(p.global.lifetime_msat == 55 * kMsat);
  CHECK(p.global.per_call_msat == 77 * kMsat);
  CHECK(p.fee.base_msat == 1500);
  CHECK(p.fee.ppm == 2500);
  REQUIRE(p.allow_domains);
  CHECK(*p.allow_domains == V{"*.paid.dev", "api.example.com"});  // normalized: lowercase, no trailing dot, sorted
  CHECK(p.deny_domains == V{"*.bad.example", "evil.example"});
  CHECK(p.protocols == V{"bolt11", "l402"});
}

TEST_CASE("policy options: each flag sets its field, both --flag VALUE and --flag=VALUE") {
  auto p = policy_of({}, {"--hour-sats", "1", "--day-sats=2", "--week-sats", "3", "--month-sats=4", "--lifetime-sats",
                          "5", "--fee-base-msat", "0", "--fee-ppm=1000000", "--allow-domains", "a.example",
                          "--deny-domains=b.example", "--protocols", "mpp", "--max-sats", "9"});
  CHECK(p.global.hour_msat == 1 * kMsat);
  CHECK(p.global.day_msat == 2 * kMsat);
  CHECK(p.global.week_msat == 3 * kMsat);
  CHECK(p.global.month_msat == 4 * kMsat);
  CHECK(p.global.lifetime_msat == 5 * kMsat);
  CHECK(p.global.per_call_msat == 9 * kMsat);
  CHECK(p.fee.base_msat == 0);
  CHECK(p.fee.ppm == 1000000);
  CHECK(p.allow_domains == std::optional<V>(V{"a.example"}));
  CHECK(p.deny_domains == V{"b.example"});
  CHECK(p.protocols == V{"mpp"});
  // A zero cap is a real cap (nothing may be spent in that window), not "unset".
  CHECK(policy_of({{"SATWARDEN_DAY_SATS", "0"}}).global.day_msat == 0u);
  // The largest cap: 21 million BTC.
  CHECK(policy_of({{"SATWARDEN_LIFETIME_SATS", "2100000000000000"}}).global.lifetime_msat == spend::kMaxMsat);
}

TEST_CASE("policy options: special words none / any") {
  TempFile f(R"({"policy":{"day_sats":100,"allow_domains":["a.example"],"deny_domains":["d.example"],
                "protocols":["bolt11"]}})");
  auto p = policy_of({{"SATWARDEN_DAY_SATS", "none"}, {"SATWARDEN_ALLOW_DOMAINS", "any"},
                      {"SATWARDEN_DENY_DOMAINS", "none"}},
                     {"--config", f.path.c_str()});
  CHECK_FALSE(p.global.day_msat);  // the file's cap removed
  CHECK_FALSE(p.allow_domains);    // no allow list: every domain not denied
  CHECK(p.deny_domains.empty());
  CHECK(p.protocols == V{"bolt11"});  // untouched field kept from the file
  auto q = policy_of({{"SATWARDEN_ALLOW_DOMAINS", "none"}, {"SATWARDEN_PROTOCOLS", "none"}});
  CHECK(q.allow_domains == std::optional<V>(V{}));  // an empty allow list: no domain may be paid
  CHECK(q.protocols.empty());
}

TEST_CASE("policy options: precedence flag > env > file policy section > default, per field") {
  TempFile f(R"({"max_sats":400,
                "policy":{"hour_sats":10,"day_sats":100,"week_sats":300,"month_sats":1000,"lifetime_sats":5000,
                          "fee":{"base_msat":3000,"ppm":100},"deny_domains":["file.example"],
                          "allow_domains":["*.file.example"],"protocols":["bolt11","l402"],
                          "domains":{"*.example.com":{"day_sats":7}}}})");
  const char* cfg = f.path.c_str();

  // File alone.
  auto file = policy_of({}, {"--config", cfg});
  CHECK(file.global.hour_msat == 10 * kMsat);
  CHECK(file.global.day_msat == 100 * kMsat);
  CHECK(file.global.per_call_msat == 400 * kMsat);  // no per-call key in the section: the top-level max_sats
  CHECK(file.fee.base_msat == 3000);
  CHECK(file.fee.ppm == 100);
  CHECK(file.domains.at("*.example.com").day_msat == 7 * kMsat);

  // Env replaces only its own fields; everything else stays from the file (including per-domain caps).
  auto env = policy_of({{"SATWARDEN_DAY_SATS", "50"}, {"SATWARDEN_FEE_PPM", "9"},
                        {"SATWARDEN_DENY_DOMAINS", "env.example"}, {"SATWARDEN_MAX_SATS", "30"}},
                       {"--config", cfg});
  CHECK(env.global.day_msat == 50 * kMsat);
  CHECK(env.global.hour_msat == 10 * kMsat);
  CHECK(env.global.week_msat == 300 * kMsat);
  CHECK(env.global.month_msat == 1000 * kMsat);
  CHECK(env.global.lifetime_msat == 5000 * kMsat);
  CHECK(env.global.per_call_msat == 30 * kMsat);
  CHECK(env.fee.ppm == 9);
  CHECK(env.fee.base_msat == 3000);
  CHECK(env.deny_domains == V{"env.example"});  // a list replaces the file's list, it is not merged
  CHECK(env.allow_domains == std::optional<V>(V{"*.file.example"}));
  CHECK(env.protocols == V{"bolt11", "l402"});
  CHECK(env.domains.at("*.example.com").day_msat == 7 * kMsat);

  // Env may also loosen what the file says (the operator's choice, like every other setting).
  CHECK(policy_of({{"SATWARDEN_DAY_SATS", "900"}}, {"--config", cfg}).global.day_msat == 900 * kMsat);

  // Flags beat env, field by field.
  auto flag = policy_of({{"SATWARDEN_DAY_SATS", "50"}, {"SATWARDEN_WEEK_SATS", "60"}, {"SATWARDEN_PROTOCOLS", "mpp"}},
                        {"--config", cfg, "--day-sats", "5", "--protocols", "keysend,bolt11"});
  CHECK(flag.global.day_msat == 5 * kMsat);
  CHECK(flag.global.week_msat == 60 * kMsat);
  CHECK(flag.protocols == V{"bolt11", "keysend"});
  CHECK(flag.global.hour_msat == 10 * kMsat);

  // The last of a repeated flag wins.
  CHECK(policy_of({}, {"--day-sats", "5", "--day-sats", "6"}).global.day_msat == 6 * kMsat);
}

TEST_CASE("policy options: the per-payment cap's sources") {
  // policy.max_sats beats the top-level max_sats, which still sets the tools' default max_sats.
  TempFile both(R"({"max_sats":400,"policy":{"max_sats":250}})");
  g_penv = {{"HOME", "/h"}};
  auto r = load_with({"--config", both.path.c_str()});
  REQUIRE(r);
  CHECK(r->config.policy.global.per_call_msat == 250 * kMsat);
  CHECK(r->config.default_max_sats == 400);
  // SATWARDEN_MAX_SATS beats the policy section (it was silently ignored when the file had a policy section).
  g_penv = {{"HOME", "/h"}, {"SATWARDEN_MAX_SATS", "120"}};
  r = load_with({"--config", both.path.c_str()});
  REQUIRE(r);
  CHECK(r->config.policy.global.per_call_msat == 120 * kMsat);
  CHECK(r->config.default_max_sats == 120);
  // --max-sats beats SATWARDEN_MAX_SATS.
  r = load_with({"--config", both.path.c_str(), "--max-sats", "90"});
  REQUIRE(r);
  CHECK(r->config.policy.global.per_call_msat == 90 * kMsat);
  // A policy section without a per-call key keeps the top-level max_sats as the cap.
  TempFile top(R"({"max_sats":333,"policy":{"day_sats":1000}})");
  CHECK(policy_of({}, {"--config", top.path.c_str()}).global.per_call_msat == 333 * kMsat);
  // "max_sats": null in the section removes the per-call cap; per_call_msat is honoured as well.
  TempFile none(R"({"max_sats":333,"policy":{"max_sats":null}})");
  CHECK_FALSE(policy_of({}, {"--config", none.path.c_str()}).global.per_call_msat);
  TempFile msat(R"({"policy":{"per_call_msat":1500}})");
  CHECK(policy_of({}, {"--config", msat.path.c_str()}).global.per_call_msat == 1500u);
}

TEST_CASE("policy options: bad values stop start-up naming the variable or flag") {
  const char* caps[] = {"SATWARDEN_HOUR_SATS", "SATWARDEN_DAY_SATS", "SATWARDEN_WEEK_SATS", "SATWARDEN_MONTH_SATS",
                        "SATWARDEN_LIFETIME_SATS"};
  for (const char* var : caps) {
    for (const char* bad : {"", "abc", "-1", "1.5", "10 sats", " 10", "0x10", "None", "2100000000000001",
                            "99999999999999999999"}) {
      INFO(var << "=" << bad);
      auto m = error_of({{var, bad}});
      CHECK(has(m, std::string("environment variable ") + var));
      CHECK(has(m, "whole number of sats"));
    }
  }
  for (const char* bad : {"", "x", "-5", "2100000000000000001"}) {
    INFO(bad);
    CHECK(has(error_of({{"SATWARDEN_FEE_BASE_MSAT", bad}}), "SATWARDEN_FEE_BASE_MSAT"));
  }
  for (const char* bad : {"", "1000001", "5%", "0.5"}) {
    INFO(bad);
    CHECK(has(error_of({{"SATWARDEN_FEE_PPM", bad}}), "SATWARDEN_FEE_PPM"));
  }
  CHECK(has(error_of({{"SATWARDEN_FEE_PPM", "1000001"}}), "between 0 and 1000000"));
  for (const char* var : {"SATWARDEN_ALLOW_DOMAINS", "SATWARDEN_DENY_DOMAINS"}) {
    for (const char* bad : {"", "a.example,,b.example", "a.example,", ",a.example", " "}) {
      INFO(var << "=" << bad);
      auto m = error_of({{var, bad}});
      CHECK(has(m, var));
      CHECK(has(m, "empty entry"));
    }
    for (const char* bad : {"https://a.example/", "a example", "*", "a.example,*.", "ex@mple.com"}) {
      INFO(var << "=" << bad);
      auto m = error_of({{var, bad}});
      CHECK(has(m, var));
      CHECK(has(m, "is not a domain pattern"));
    }
  }
  for (const char* bad : {"", "bolt12", "bolt11,,l402", "bolt11,lnurl"}) {
    INFO(bad);
    CHECK(has(error_of({{"SATWARDEN_PROTOCOLS", bad}}), "SATWARDEN_PROTOCOLS"));
  }
  CHECK(has(error_of({{"SATWARDEN_PROTOCOLS", "bolt11,lnurl"}}), "unknown protocol 'lnurl'"));
  // Flags are named as flags.
  CHECK(has(error_of({}, {"--day-sats", "lots"}), "option --day-sats"));
  CHECK(has(error_of({}, {"--fee-ppm=-1"}), "option --fee-ppm"));
  CHECK(has(error_of({}, {"--deny-domains="}), "option --deny-domains"));
  CHECK(has(error_of({}, {"--protocols", "carrier-pigeon"}), "option --protocols"));
  CHECK(has(error_of({}, {"--week-sats"}), "--week-sats needs a value"));
  // A bad environment value is an error even when a flag would have replaced it: never silently ignored.
  CHECK(has(error_of({{"SATWARDEN_DAY_SATS", "ten"}}, {"--day-sats", "10"}), "SATWARDEN_DAY_SATS"));
}

TEST_CASE("policy options: config file errors") {
  // Policy keys belong in the policy section; at the top level they are unknown, with a pointer to the right place.
  TempFile top(R"({"day_sats":100})");
  auto m = error_of({}, {"--config", top.path.c_str()});
  CHECK(has(m, "unknown key 'day_sats'"));
  CHECK(has(m, "policy.day_sats"));
  TempFile fee(R"({"fee_ppm":100})");
  CHECK(has(error_of({}, {"--config", fee.path.c_str()}), "policy.fee.ppm"));
  // A bad policy section is a start-up error naming the file and the key (it used to surface only later).
  TempFile bad(R"({"policy":{"day_sats":"lots"}})");
  m = error_of({}, {"--config", bad.path.c_str()});
  CHECK(has(m, bad.path));
  CHECK(has(m, "policy.day_sats"));
  TempFile unk(R"({"policy":{"daily_sats":1}})");
  CHECK(has(error_of({}, {"--config", unk.path.c_str()}), "unknown key 'daily_sats'"));
  TempFile proto(R"({"policy":{"protocols":["bolt11","smoke-signals"]}})");
  CHECK(has(error_of({}, {"--config", proto.path.c_str()}), "protocol"));
  // The environment cannot repair a broken file: the file is read (and refused) first.
  CHECK(has(error_of({{"SATWARDEN_DAY_SATS", "5"}}, {"--config", bad.path.c_str()}), "policy.day_sats"));
}

TEST_CASE("tokens: unique labels, distinct tokens, envelopes that exist") {
  TempFile good(R"({"envelopes":[{"name":"A","cap_sats":300,"protocols":["bolt11"]},{"name":"B","cap_sats":1000}],
                   "tokens":[{"token":"aaaaaaaaaaaaaaaaaaaa","label":"agent-a","envelope":"A"},
                             {"token":"bbbbbbbbbbbbbbbbbbbb","label":"agent-b","envelope":"B"},
                             {"token":"cccccccccccccccccccc"}]})");
  g_penv = {{"HOME", "/h"}};
  auto r = load_with({"--config", good.path.c_str()});
  REQUIRE(r);
  REQUIRE(r->config.tokens.size() == 3);
  CHECK(r->config.tokens[0].envelope == "A");
  CHECK(r->config.tokens[1].envelope == "B");
  CHECK(r->config.tokens[2].label == "token-3");
  CHECK(r->config.tokens[2].envelope.empty());

  // Two tokens with one label would share the first one's envelope in the HTTP layer (it maps label → envelope).
  TempFile dup(R"({"envelopes":[{"name":"A","cap_sats":1},{"name":"B","cap_sats":2}],
                  "tokens":[{"token":"aaaaaaaaaaaaaaaaaaaa","label":"same","envelope":"A"},
                            {"token":"bbbbbbbbbbbbbbbbbbbb","label":"same","envelope":"B"}]})");
  auto m = error_of({}, {"--config", dup.path.c_str()});
  CHECK(has(m, "label 'same'"));
  CHECK(has(m, "unique"));
  // An explicit label colliding with a default one.
  TempFile dflt(R"({"tokens":["aaaaaaaaaaaaaaaaaaaa",{"token":"bbbbbbbbbbbbbbbbbbbb","label":"token-1"}]})");
  CHECK(has(error_of({}, {"--config", dflt.path.c_str()}), "label 'token-1'"));
  // Labels the owner's own callers are recorded under are reserved.
  for (const char* reserved : {"stdio", "http-anonymous"}) {
    TempFile res(std::string(R"({"tokens":[{"token":"aaaaaaaaaaaaaaaaaaaa","label":")") + reserved + R"("}]})");
    m = error_of({}, {"--config", res.path.c_str()});
    CHECK(has(m, "reserved label"));
    CHECK_FALSE(has(m, "aaaaaaaaaaaaaaaaaaaa"));
  }
  // The same token twice; the message never contains the token.
  TempFile twice(R"({"tokens":["aaaaaaaaaaaaaaaaaaaa","aaaaaaaaaaaaaaaaaaaa"]})");
  m = error_of({}, {"--config", twice.path.c_str()});
  CHECK(has(m, "same token"));
  CHECK_FALSE(has(m, "aaaaaaaaaaaaaaaaaaaa"));
  // A token bound to an envelope that does not exist.
  TempFile missing(R"({"envelopes":[{"name":"A","cap_sats":1}],
                      "tokens":[{"token":"aaaaaaaaaaaaaaaaaaaa","label":"agent-x","envelope":"nope"}]})");
  m = error_of({}, {"--config", missing.path.c_str()});
  CHECK(has(m, "agent-x"));
  CHECK(has(m, "'nope'"));
  TempFile noenv(R"({"tokens":[{"token":"aaaaaaaaaaaaaaaaaaaa","envelope":"A"}]})");
  CHECK(has(error_of({}, {"--config", noenv.path.c_str()}), "envelope 'A'"));
  // A misspelt key in a token object would leave the token unbound from its envelope: refused.
  TempFile typo(R"({"envelopes":[{"name":"A","cap_sats":1}],
                   "tokens":[{"token":"aaaaaaaaaaaaaaaaaaaa","label":"agent-a","envelop":"A"}]})");
  CHECK(has(error_of({}, {"--config", typo.path.c_str()}), "unknown key 'envelop'"));
  TempFile numlabel(R"({"tokens":[{"token":"aaaaaaaaaaaaaaaaaaaa","label":7}]})");
  CHECK(has(error_of({}, {"--config", numlabel.path.c_str()}), "label must be a string"));
  // A malformed envelopes section is a start-up error too.
  TempFile badenv(R"({"envelopes":[{"name":"A"}]})");
  CHECK(has(error_of({}, {"--config", badenv.path.c_str()}), "cap_sats"));
}

TEST_CASE("policy options: --help lists each flag, variable and file key") {
  auto h = help_text();
  for (const char* s :
       {"--hour-sats", "SATWARDEN_HOUR_SATS", "policy.hour_sats", "--day-sats", "SATWARDEN_DAY_SATS", "policy.day_sats",
        "--week-sats", "SATWARDEN_WEEK_SATS", "policy.week_sats", "--month-sats", "SATWARDEN_MONTH_SATS",
        "policy.month_sats", "--lifetime-sats", "SATWARDEN_LIFETIME_SATS", "policy.lifetime_sats", "--fee-base-msat",
        "SATWARDEN_FEE_BASE_MSAT", "policy.fee.base_msat", "--fee-ppm", "SATWARDEN_FEE_PPM", "policy.fee.ppm",
        "--allow-domains", "SATWARDEN_ALLOW_DOMAINS", "policy.allow_domains", "--deny-domains",
        "SATWARDEN_DENY_DOMAINS", "policy.deny_domains", "--protocols", "SATWARDEN_PROTOCOLS", "policy.protocols",
        "--max-sats", "SATWARDEN_MAX_SATS", "flag > environment > file > default"}) {
    INFO(s);
    CHECK(has(h, s));
  }
  // Every "FLAG VALUE" is followed by at least one space, however long the flag name.
  for (size_t at = h.find(" VALUE"); at != std::string::npos; at = h.find(" VALUE", at + 1)) {
    INFO(h.substr(at > 30 ? at - 30 : 0, 60));
    CHECK(h.at(at + 6) == ' ');
  }
}

TEST_CASE("policy options: the effective policy is what a Ledger enforces and reports") {
  TempFile f(R"({"policy":{"day_sats":1000,"week_sats":4000}})");
  auto p = policy_of({{"SATWARDEN_DAY_SATS", "100"}, {"SATWARDEN_FEE_BASE_MSAT", "2000"}, {"SATWARDEN_FEE_PPM", "0"},
                      {"SATWARDEN_PROTOCOLS", "bolt11"}},
                     {"--config", f.path.c_str()});
  std::string path = "/tmp/sw_pol_ledger_" + std::to_string(::getpid()) + ".sqlite";
  for (const char* ext : {"", "-wal", "-shm"}) std::remove((path + ext).c_str());
  spend_test::FakeClock clock{1'800'000'000};
  {
    auto led = spend::Ledger::open(path, p, clock);
    REQUIRE(led);
    auto& l = **led;
    CHECK(l.policy() == p);
    auto st = l.status();
    REQUIRE(st);
    bool saw_day = false, saw_week = false;
    for (const auto& w : st->global.windows) {
      if (w.window == "day") saw_day = w.limit_msat == 100 * kMsat;
      if (w.window == "week") saw_week = w.limit_msat == 4000 * kMsat;
    }
    CHECK(saw_day);
    CHECK(saw_week);
    spend::ReserveRequest rq;
    rq.client = "unit";
    rq.tool = "pay_invoice";
    rq.protocol = "bolt11";
    rq.invoice = "lnbcrt-test";
    rq.payment_hash = std::string(64, 'a');
    rq.amount_msat = 90 * kMsat;
    auto r1 = l.reserve(rq);
    REQUIRE(r1);
    CHECK(r1->max_fee_msat == 2000);  // SATWARDEN_FEE_BASE_MSAT / _PPM reached the ledger
    rq.payment_hash = std::string(64, 'b');
    rq.amount_msat = 9 * kMsat;  // 90 + 2 + 9 + 2 = 103 sats > 100
    auto r2 = l.reserve(rq);
    REQUIRE_FALSE(r2);
    CHECK(r2.error().code == "BUDGET_EXCEEDED");
    CHECK(r2.error().details.value("window", "") == "day");
    CHECK(r2.error().details.value("limit_msat", uint64_t{0}) == 100 * kMsat);
    rq.payment_hash = std::string(64, 'c');
    rq.protocol = "l402";
    rq.amount_msat = 1 * kMsat;
    auto r3 = l.reserve(rq);
    REQUIRE_FALSE(r3);
    CHECK(r3.error().code == "PROTOCOL_NOT_ALLOWED");
  }
  for (const char* ext : {"", "-wal", "-shm"}) std::remove((path + ext).c_str());
}

TEST_CASE("policy options: a routing-fee allowance of 0 stops start-up unless explicitly accepted") {
  const std::string msg = error_of({{"SATWARDEN_FEE_BASE_MSAT", "0"}, {"SATWARDEN_FEE_PPM", "0"}});
  CHECK(has(msg, "routing-fee allowance is 0"));
  CHECK(has(msg, "SATWARDEN_ALLOW_ZERO_FEE_ALLOWANCE"));
  // From the config file's policy section too.
  TempFile f(R"({"policy":{"fee":{"base_msat":0,"ppm":0}}})");
  CHECK(has(error_of({}, {"--config", f.path.c_str()}), "routing-fee allowance is 0"));
  // Either part above 0 is an allowance.
  CHECK(policy_of({{"SATWARDEN_FEE_BASE_MSAT", "0"}, {"SATWARDEN_FEE_PPM", "1"}}).fee.ppm == 1);
  CHECK(policy_of({{"SATWARDEN_FEE_BASE_MSAT", "1"}, {"SATWARDEN_FEE_PPM", "0"}}).fee.base_msat == 1);
  // Forced: environment, flag, or the file's top-level key.
  auto p = policy_of({{"SATWARDEN_FEE_BASE_MSAT", "0"}, {"SATWARDEN_FEE_PPM", "0"},
                      {"SATWARDEN_ALLOW_ZERO_FEE_ALLOWANCE", "true"}});
  CHECK(p.fee.base_msat == 0);
  CHECK(p.fee.ppm == 0);
  CHECK(policy_of({{"SATWARDEN_FEE_BASE_MSAT", "0"}, {"SATWARDEN_FEE_PPM", "0"}},
                  {"--allow-zero-fee-allowance", "yes"})
            .fee.base_msat == 0);
  TempFile forced(R"({"allow_zero_fee_allowance":true,"policy":{"fee":{"base_msat":0,"ppm":0}}})");
  CHECK(policy_of({}, {"--config", forced.path.c_str()}).fee.base_msat == 0);
  CHECK(has(error_of({{"SATWARDEN_ALLOW_ZERO_FEE_ALLOWANCE", "maybe"}}), "SATWARDEN_ALLOW_ZERO_FEE_ALLOWANCE"));
}

TEST_CASE("config: wallet_honours_expiration from environment, flag and file, strict values") {
  auto cfg_of = [](std::map<std::string, std::string> env, std::vector<const char*> args) {
    env["HOME"] = "/h";
    g_penv = std::move(env);
    auto r = load_with(std::move(args));
    REQUIRE(r);
    return r->config;
  };
  CHECK_FALSE(cfg_of({}, {}).wallet_honours_expiration);  // default: silence never concludes "failed"
  CHECK(cfg_of({{"SATWARDEN_WALLET_HONOURS_EXPIRATION", "true"}}, {}).wallet_honours_expiration);
  CHECK(cfg_of({}, {"--wallet-honours-expiration", "1"}).wallet_honours_expiration);
  TempFile f(R"({"wallet_honours_expiration":true})");
  CHECK(cfg_of({}, {"--config", f.path.c_str()}).wallet_honours_expiration);
  CHECK(has(error_of({{"SATWARDEN_WALLET_HONOURS_EXPIRATION", "sometimes"}}), "SATWARDEN_WALLET_HONOURS_EXPIRATION"));
}

TEST_CASE("policy options: where each setting came from (the console's policy view)") {
  TempFile file(R"({"max_sats":400,"policy":{"day_sats":1000,"fee":{"ppm":100}}})");
  g_penv = {{"HOME", "/h"}, {"SATWARDEN_WEEK_SATS", "5000"}, {"SATWARDEN_DAY_SATS", "900"}};
  auto r = load_with({"--config", file.path.c_str(), "--hour-sats", "50"});
  REQUIRE(r);
  const auto& s = r->config.policy_sources;
  CHECK(s.at("per_call") == "config file");        // the file's top-level max_sats
  CHECK(s.at("day") == "environment SATWARDEN_DAY_SATS");  // env beats the policy section
  CHECK(s.at("week") == "environment SATWARDEN_WEEK_SATS");
  CHECK(s.at("hour") == "flag --hour-sats");
  CHECK(s.at("fee_ppm") == "config file");
  CHECK(s.at("month") == "default");
  CHECK(s.at("approve_above") == "default");
  g_penv = {{"HOME", "/h"}};
  r = load_with({});
  REQUIRE(r);
  CHECK(r->config.policy_sources.at("per_call") == "default");
}

TEST_CASE("console options: port, host and the proxy's https origin") {
  g_penv = {{"HOME", "/h"}, {"SATWARDEN_CONSOLE_PORT", "8403"}};
  auto r = load_with({});
  REQUIRE(r);
  CHECK(r->config.console_port == 8403);
  CHECK(r->config.console_host == "127.0.0.1");
  g_penv = {{"HOME", "/h"}};
  r = load_with({"--console-port", "0"});
  REQUIRE(r);
  CHECK(r->config.console_port == 0);
  CHECK_FALSE(load_with({"--console-port", "70000"}));
  r = load_with({"--console-public-url", "https://console.example.com"});
  REQUIRE(r);
  CHECK(r->config.console_public_url == "https://console.example.com");
  for (const char* bad : {"http://console.example.com", "https://", "https://x/path", "https://u@x", "console.example.com"}) {
    INFO(bad);
    auto b = load_with({"--console-public-url", bad});
    REQUIRE_FALSE(b);
    CHECK(b.error().message.find("--console-public-url must be the https:// origin") != std::string::npos);
  }
}
