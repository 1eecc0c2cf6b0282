// Policy authority for approval thresholds, per caller kind, through the tools: a bearer-token caller's
// configure_budget lowers only its own envelope's approval threshold (raising is POLICY_LOOSEN_REFUSED; a token
// without an envelope is refused with POLICY_AUTHORITY; approve_new_domains is the owner's); the owner (stdio)
// lowers the global threshold. What one token changes does not change what another token or the owner needs
// approval for. list_approvals shows a token only its own approvals and never a code or token.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <set>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "approve/approve.h"
#include "pay/pay.h"
#include "purchase/purchase.h"
#include "spend/spend.h"
#include "tools.h"
#include "../spend/helpers.h"  // FakeClock, TempDir

using namespace sw;

namespace {

struct NoWallet : wallet::Wallet {
  Result<wallet::Info> get_info() override {
    wallet::Info i;
    i.network = "regtest";
    i.methods = {"pay_invoice"};
    return i;
  }
  Result<uint64_t> get_balance_msat() override { return uint64_t{0}; }
  Result<wallet::PayResult> pay_invoice(const std::string&, std::optional<uint64_t>) override {
    return make_error("PAYMENT_FAILED", "not in this test");
  }
  Result<json> make_invoice(const wallet::MakeInvoiceParams&) override { return make_error("WALLET_NOT_IMPLEMENTED", ""); }
  Result<json> lookup_invoice(const std::string&, const std::string&) override { return make_error("NOT_FOUND", ""); }
  Result<json> list_transactions(const wallet::ListParams&) override { return json{{"transactions", json::array()}}; }
  Result<json> get_budget() override { return json::object(); }
  Result<wallet::PayResult> pay_keysend(const wallet::KeysendParams&) override {
    return make_error("WALLET_NOT_IMPLEMENTED", "");
  }
  void set_notification_handler(wallet::NotificationHandler) override {}
};

std::string code(const mcp::ToolOutcome& o) { return o.is_error ? o.error.code : std::string("OK"); }

struct World {
  spend_test::TempDir tmp;  // first member: removed after the ledger is closed
  config::Config cfg;
  spend_test::FakeClock clock{1'767'225'600};
  NoWallet wallet;
  std::unique_ptr<spend::Ledger> ledger;
  std::unique_ptr<approve::Hub> hub;
  std::unique_ptr<pay::Payer> payer;
  std::unique_ptr<purchase::Paywall> paywall;
  tools::Engine engine;
  mcp::ToolRegistry registry;
  int next_hash = 1;
  std::vector<spend::ApprovalSecrets> secrets;

  World() {
    spend::Policy p;
    p.global.per_call_msat.reset();
    p.global.approve_above_msat = 100'000;  // the owner's configuration: ask above 100 sats
    auto np = spend::normalize_policy(p);
    REQUIRE(np);
    auto l = spend::Ledger::open(tmp.file("ledger.sqlite"), *np, clock);
    REQUIRE(l);
    ledger = std::move(*l);
    std::vector<spend::Envelope> envs(2);
    envs[0].name = "env-a";
    envs[0].cap_msat = 10'000'000;
    envs[1].name = "env-b";
    envs[1].cap_msat = 10'000'000;
    REQUIRE(ledger->set_envelopes(envs));
    hub = std::make_unique<approve::Hub>(*ledger, approve::Options{}, clock);
    payer = std::make_unique<pay::Payer>(&wallet, ledger.get(), clock);
    payer->set_approvals(hub.get());
    paywall = std::make_unique<purchase::Paywall>(
        payer.get(), ledger.get(),
        [](const fetch::Request&, const fetch::Options&, std::function<bool()>) -> Result<fetch::Response> {
          return make_error("FETCH_FAILED", "no network in this test");
        },
        purchase::Options{}, clock);
    engine.config = &cfg;
    engine.clock = &clock;
    engine.wallet = &wallet;
    engine.ledger = ledger.get();
    engine.payer = payer.get();
    engine.paywall = paywall.get();
    engine.approvals = hub.get();
    REQUIRE(tools::register_all(registry, engine));
    cfg.tokens = {config::Token{std::string(32, 'a'), "agent-a", "env-a"},
                  config::Token{std::string(32, 'b'), "agent-b", "env-b"},
                  config::Token{std::string(32, 'n'), "agent-n", ""}};
  }

  // Bearer-token callers (hosted HTTP) or the owner on stdio.
  mcp::ToolOutcome token_call(const std::string& name, const json& args, const std::string& client,
                              const std::string& envelope) {
    cfg.transport = "http";
    return call(name, args, client, envelope);
  }
  mcp::ToolOutcome owner_call(const std::string& name, const json& args) {
    cfg.transport = "stdio";
    return call(name, args, "stdio", "");
  }
  mcp::ToolOutcome call(const std::string& name, const json& args, const std::string& client,
                        const std::string& envelope) {
    REQUIRE(registry.validate(name, args));
    mcp::CallContext ctx;
    ctx.client = client;
    ctx.envelope = envelope;
    auto out = registry.find(name)->handler(args, ctx);
    if (!out.is_error) check_output(name, out.structured);
    return out;
  }
  void check_output(const std::string& name, const json& structured) {
    valijson::Schema schema;
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter sa(registry.find(name)->output_schema);
    parser.populateSchema(sa, schema);
    valijson::Validator v;
    valijson::ValidationResults results;
    valijson::adapters::NlohmannJsonAdapter da(structured);
    INFO(name << " output: " << structured.dump());
    CHECK(v.validate(schema, da, &results));
  }

  // Whether a payment of `msat` by this caller would wait for the owner (reserved with an approval, or not).
  // Keeps it reserved when `keep` (its approval stays pending), else releases it.
  std::optional<spend::Approval> reserve(uint64_t msat, const std::string& client, const std::string& envelope,
                                         bool keep = false) {
    spend::ReserveRequest rq;
    rq.client = client;
    rq.tool = "pay_invoice";
    rq.protocol = "bolt11";
    rq.invoice = "lnbcrt-test";
    char buf[65];
    std::snprintf(buf, sizeof buf, "%064d", next_hash++);
    rq.payment_hash = buf;
    rq.amount_msat = msat;
    if (!envelope.empty()) rq.envelope = envelope;
    rq.approval = hub->terms("", "test");
    auto r = ledger->reserve(rq);
    INFO((r ? std::string() : r.error().code + ": " + r.error().message));
    REQUIRE(r);
    if (r->approval_secrets) secrets.push_back(*r->approval_secrets);
    if (!keep) REQUIRE(ledger->release(r->id));
    return r->approval;
  }
  bool needs(uint64_t msat, const std::string& client, const std::string& envelope) {
    return reserve(msat, client, envelope).has_value();
  }
};

}  // namespace

TEST_CASE("approval authority: a token lowers only its own envelope's threshold, never raises it") {
  World w;
  const spend::Policy before = w.ledger->policy();
  CHECK_FALSE(w.needs(50'000, "agent-a", "env-a"));
  auto own = w.token_call("configure_budget", json{{"approve_above_sats", 20}}, "agent-a", "env-a");
  INFO(own.error.code << ": " << own.error.message);
  REQUIRE(code(own) == "OK");
  CHECK(own.structured["message"].get<std::string>().find("env-a") != std::string::npos);
  // The global policy is not the token's: unchanged.
  CHECK(w.ledger->policy() == before);
  // Its own payments above 20 sats now wait; the other token's and the owner's do not (their threshold is 100).
  CHECK(w.needs(21'000, "agent-a", "env-a"));
  CHECK_FALSE(w.needs(20'000, "agent-a", "env-a"));
  CHECK_FALSE(w.needs(50'000, "agent-b", "env-b"));
  CHECK_FALSE(w.needs(50'000, "stdio", ""));
  CHECK(w.needs(100'001, "agent-b", "env-b"));
  // Raising it again, or above the owner's global threshold: refused.
  CHECK(code(w.token_call("configure_budget", json{{"approve_above_sats", 50}}, "agent-a", "env-a")) ==
        "POLICY_LOOSEN_REFUSED");
  CHECK(code(w.token_call("configure_budget", json{{"approve_above_sats", 200}}, "agent-b", "env-b")) ==
        "POLICY_LOOSEN_REFUSED");
  CHECK(w.needs(21'000, "agent-a", "env-a"));
  // Both settings a token may lower, at once.
  REQUIRE(code(w.token_call("configure_budget", json{{"approve_above_sats", 10}, {"lifetime_sats", 5'000}}, "agent-a",
                            "env-a")) == "OK");
  CHECK(w.needs(11'000, "agent-a", "env-a"));
  auto tight = w.ledger->envelope_tightenings();
  REQUIRE(tight);
  CHECK(tight->at("env-a") == 5'000'000);
  CHECK(tight->count("env-b") == 0);
  CHECK(w.ledger->policy() == before);
}

TEST_CASE("approval authority: a token without an envelope, or asking for a global setting, is refused") {
  World w;
  const spend::Policy before = w.ledger->policy();
  auto none = w.token_call("configure_budget", json{{"approve_above_sats", 10}}, "agent-n", "");
  CHECK(code(none) == "POLICY_AUTHORITY");
  CHECK(none.error.message.find("nothing was changed") != std::string::npos);
  CHECK(code(w.token_call("configure_budget", json{{"approve_new_domains", true}}, "agent-a", "env-a")) ==
        "POLICY_AUTHORITY");
  CHECK(code(w.token_call("configure_budget", json{{"approve_above_sats", 10}, {"day_sats", 1}}, "agent-a", "env-a")) ==
        "POLICY_AUTHORITY");
  CHECK(w.ledger->policy() == before);
  auto tight = w.ledger->envelope_tightenings();
  REQUIRE(tight);
  CHECK(tight->empty());
  CHECK_FALSE(w.needs(50'000, "agent-a", "env-a"));
  CHECK_FALSE(w.needs(50'000, "agent-n", ""));
}

TEST_CASE("approval authority: the owner (stdio) lowers the global threshold for everyone, never raises it") {
  World w;
  auto lowered = w.owner_call("configure_budget", json{{"approve_above_sats", 40}});
  INFO(lowered.error.code << ": " << lowered.error.message);
  REQUIRE(code(lowered) == "OK");
  CHECK(w.ledger->policy().global.approve_above_msat == std::optional<uint64_t>(40'000));
  CHECK(w.needs(41'000, "stdio", ""));
  CHECK(w.needs(41'000, "agent-a", "env-a"));
  CHECK(w.needs(41'000, "agent-b", "env-b"));
  CHECK_FALSE(w.needs(40'000, "agent-b", "env-b"));
  CHECK(code(w.owner_call("configure_budget", json{{"approve_above_sats", 60}})) == "POLICY_LOOSEN_REFUSED");
  CHECK(w.ledger->policy().global.approve_above_msat == std::optional<uint64_t>(40'000));
  REQUIRE(code(w.owner_call("configure_budget", json{{"approve_new_domains", true}})) == "OK");
  CHECK(w.ledger->policy().approve_new_domains);
  // A token's envelope threshold is now bounded by the lowered global one.
  CHECK(code(w.token_call("configure_budget", json{{"approve_above_sats", 50}}, "agent-a", "env-a")) ==
        "POLICY_LOOSEN_REFUSED");
}

TEST_CASE("approval authority: list_approvals shows a token only its own approvals, never a code") {
  World w;
  auto a = w.reserve(150'000, "agent-a", "env-a", true);
  auto b = w.reserve(150'000, "agent-b", "env-b", true);
  auto o = w.reserve(150'000, "stdio", "", true);
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(o);
  REQUIRE(w.secrets.size() == 3);
  auto ids = [](const mcp::ToolOutcome& out) {
    std::set<std::string> s;
    for (const auto& x : out.structured["approvals"]) s.insert(x["approval_id"].get<std::string>());
    return s;
  };
  auto as_a = w.token_call("list_approvals", json::object(), "agent-a", "env-a");
  REQUIRE(code(as_a) == "OK");
  CHECK(ids(as_a) == std::set<std::string>{a->public_id});
  auto as_b = w.token_call("list_approvals", json{{"state", "all"}}, "agent-b", "env-b");
  REQUIRE(code(as_b) == "OK");
  CHECK(ids(as_b) == std::set<std::string>{b->public_id});
  auto as_n = w.token_call("list_approvals", json::object(), "agent-n", "");
  REQUIRE(code(as_n) == "OK");
  CHECK(as_n.structured["approvals"].empty());
  auto as_owner = w.owner_call("list_approvals", json::object());
  REQUIRE(code(as_owner) == "OK");
  CHECK(ids(as_owner) == std::set<std::string>{a->public_id, b->public_id, o->public_id});
  for (const auto* out : {&as_a, &as_b, &as_n, &as_owner}) {
    const std::string text = json_dump(out->structured);
    for (const auto& s : w.secrets) {
      CHECK(text.find(s.code) == std::string::npos);
      CHECK(text.find(s.approve_token) == std::string::npos);
      CHECK(text.find(s.deny_token) == std::string::npos);
    }
  }
  // No tool decides: denying through the ledger (the owner's CLI) is what changes the list.
  spend::ApprovalDecision d;
  d.public_id = a->public_id;
  d.channel = "cli";
  REQUIRE(w.hub->decide(d));
  CHECK(w.token_call("list_approvals", json::object(), "agent-a", "env-a").structured["approvals"].empty());
  auto all = w.token_call("list_approvals", json{{"state", "all"}}, "agent-a", "env-a");
  REQUIRE(all.structured["approvals"].size() == 1);
  CHECK(all.structured["approvals"][0]["state"] == "denied");
  for (const auto& name : w.registry.names()) CHECK(name.find("approve") == std::string::npos);
}

TEST_CASE("approval args: approval_wait from the config or the call, approval_id, and who is asked in the client") {
  World w;
  std::atomic<int> elicited{0};
  json last_params;
  mcp::CallContext ctx;
  ctx.client = "stdio";
  ctx.elicit_until = [&](const json& params, std::chrono::milliseconds,
                         const std::shared_ptr<std::atomic<bool>>&) -> Result<json> {
    ++elicited;
    last_params = params;
    return json{{"action", "accept"}};
  };
  w.cfg.transport = "stdio";
  auto a = tools::approval_args(w.engine, json::object(), ctx);
  CHECK(a.wait == pay::ApprovalArgs::Wait::wait);
  CHECK_FALSE(a.approval_id);
  REQUIRE(a.ask_client);  // auto: the owner's own caller is asked
  w.cfg.approval_wait = "return";
  CHECK(tools::approval_args(w.engine, json::object(), ctx).wait == pay::ApprovalArgs::Wait::return_now);
  auto b = tools::approval_args(w.engine, json{{"approval_wait", "wait"}, {"approval_id", "K7QF2M"}}, ctx);
  CHECK(b.wait == pay::ApprovalArgs::Wait::wait);
  CHECK(b.approval_id == std::optional<std::string>("K7QF2M"));
  // The question shows what is paid and asks for nothing else; accept approves, anything else does not.
  auto r = w.reserve(150'000, "stdio", "", true);
  REQUIRE(r);
  auto answer = a.ask_client(*r, std::make_shared<std::atomic<bool>>(false));
  REQUIRE(answer);
  CHECK(answer->approve);
  CHECK(elicited == 1);
  CHECK(last_params["message"].get<std::string>().find("150 sats") != std::string::npos);
  CHECK(last_params["message"].get<std::string>().find(r->public_id) != std::string::npos);
  CHECK(last_params["requestedSchema"]["properties"].empty());
  for (const auto& s : w.secrets) CHECK(json_dump(last_params).find(s.code) == std::string::npos);
  for (const char* action : {"decline", "cancel"}) {
    ctx.elicit_until = [action](const json&, std::chrono::milliseconds,
                                const std::shared_ptr<std::atomic<bool>>&) -> Result<json> {
      return json{{"action", action}};
    };
    auto no = tools::approval_args(w.engine, json::object(), ctx).ask_client(*r, std::make_shared<std::atomic<bool>>(false));
    REQUIRE(no);
    CHECK_FALSE(no->approve);
  }
  // A bearer-token caller is not asked under auto; "on" asks everyone, "off" no one; no elicitation, no question.
  w.cfg.transport = "http";
  ctx.client = "agent-a";
  ctx.envelope = "env-a";
  CHECK_FALSE(tools::approval_args(w.engine, json::object(), ctx).ask_client);
  w.cfg.approval_elicitation = "on";
  CHECK(tools::approval_args(w.engine, json::object(), ctx).ask_client);
  w.cfg.approval_elicitation = "off";
  w.cfg.transport = "stdio";
  ctx.client = "stdio";
  ctx.envelope = "";
  CHECK_FALSE(tools::approval_args(w.engine, json::object(), ctx).ask_client);
  w.cfg.approval_elicitation = "auto";
  ctx.elicit_until = nullptr;
  CHECK_FALSE(tools::approval_args(w.engine, json::object(), ctx).ask_client);
}
