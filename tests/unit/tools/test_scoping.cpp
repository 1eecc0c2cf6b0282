// Who sees what: a caller authenticated with a bearer token (hosted HTTP) sees only its own ledger rows and its own
// envelope in list_payments, spending_report, get_budget_status, lookup_payment and list_transactions; the owner (stdio, tokenless
// loopback HTTP) sees everything. get_budget_status also reports the effective policy. Every structured result is
// checked against the tool's output schema (what tools/list serves and MCP clients validate against).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <set>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "pay/pay.h"
#include "purchase/purchase.h"
#include "spend/spend.h"
#include "tools.h"
#include "../spend/helpers.h"  // FakeClock, TempDir

using namespace sw;

namespace {

// Answers lookup_invoice from a table; records what it was asked.
struct LookupWallet : wallet::Wallet {
  std::map<std::string, json> txs;  // payment hash → NIP-47 transaction
  std::vector<std::string> asked;
  Result<wallet::Info> get_info() override {
    wallet::Info i;
    i.network = "regtest";
    i.methods = {"lookup_invoice"};
    return i;
  }
  Result<uint64_t> get_balance_msat() override { return uint64_t{0}; }
  Result<wallet::PayResult> pay_invoice(const std::string&, std::optional<uint64_t>) override {
    return make_error("PAYMENT_FAILED", "not in this test");
  }
  Result<json> make_invoice(const wallet::MakeInvoiceParams&) override { return make_error("WALLET_NOT_IMPLEMENTED", ""); }
  Result<json> lookup_invoice(const std::string& hash, const std::string&) override {
    asked.push_back(hash);
    auto it = txs.find(hash);
    if (it == txs.end()) return make_error("NOT_FOUND", "the wallet does not know it");
    return it->second;
  }
  Result<json> list_transactions(const wallet::ListParams&) override {
    json list = json::array();
    for (const auto& [h, tx] : txs) list.push_back(tx);
    return json{{"transactions", list}};
  }
  Result<json> get_budget() override { return json::object(); }
  Result<wallet::PayResult> pay_keysend(const wallet::KeysendParams&) override {
    return make_error("WALLET_NOT_IMPLEMENTED", "");
  }
  void set_notification_handler(wallet::NotificationHandler) override {}
};

std::string hash_of(int n) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02x", n);
  std::string h;
  for (int i = 0; i < 32; ++i) h += buf;
  return h;
}

constexpr int64_t kDay0 = 1'767'225'600;  // 2026-01-01T00:00:00Z

struct Row {
  std::string client, envelope, domain, protocol;
  uint64_t amount_msat;
  spend::State state;
  int64_t at;
};

struct World {
  spend_test::TempDir tmp;  // first member: removed after the ledger is closed
  config::Config cfg;
  spend_test::FakeClock clock{kDay0 + 3 * 86400};
  LookupWallet wallet;
  std::unique_ptr<spend::Ledger> ledger;
  std::unique_ptr<pay::Payer> payer;
  std::unique_ptr<purchase::Paywall> paywall;
  tools::Engine engine;
  mcp::ToolRegistry registry;
  std::map<std::string, std::string> hashes;  // "client#n" → payment hash

  World() {
    spend::Policy p;
    p.global.day_msat = 5'000'000;
    p.domains["*.example.com"].day_msat = 700'000;
    p.deny_domains = {"evil.example"};
    p.fee = {4'000, 2'000};
    p.protocols = {"bolt11", "l402", "mpp"};
    auto np = spend::normalize_policy(p);
    REQUIRE(np);
    auto l = spend::Ledger::open(tmp.file("ledger.sqlite"), *np, clock);
    REQUIRE(l);
    ledger = std::move(*l);
    std::vector<spend::Envelope> envs(2);
    envs[0].name = "env-a";
    envs[0].cap_msat = 300'000;
    envs[0].protocols = std::vector<std::string>{"bolt11", "keysend"};
    envs[1].name = "env-b";
    envs[1].cap_msat = 1'000'000;
    REQUIRE(ledger->set_envelopes(envs));
    payer = std::make_unique<pay::Payer>(&wallet, ledger.get(), clock);
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
    REQUIRE(tools::register_all(registry, engine));
  }

  void hosted() {
    cfg.transport = "http";
    cfg.tokens = {config::Token{std::string(32, 'a'), "agent-a", "env-a"},
                  config::Token{std::string(32, 'b'), "agent-b", "env-b"}};
  }

  // A ledger row in a final (or unknown) state, created at `at`.
  void add(const Row& r) {
    const int n = static_cast<int>(hashes.size()) + 1;
    std::string hash = hash_of(n);
    hashes[r.client + "#" + std::to_string(n)] = hash;
    int64_t saved = clock.now_unix();
    clock.set(r.at);
    spend::ReserveRequest rq;
    rq.client = r.client;
    rq.domain = r.domain;
    rq.tool = "pay_invoice";
    rq.protocol = r.protocol;
    rq.invoice = "lnbcrt-test-" + std::to_string(n);
    rq.payment_hash = hash;
    rq.amount_msat = r.amount_msat;
    if (!r.envelope.empty()) rq.envelope = r.envelope;
    auto res = ledger->reserve(rq);
    REQUIRE(res);
    if (r.state != spend::State::reserved) REQUIRE(ledger->mark_in_flight(res->id));
    if (r.state == spend::State::settled) REQUIRE(ledger->settle(res->id, 1'000, std::string(64, 'c'), 5));
    if (r.state == spend::State::failed) REQUIRE(ledger->fail(res->id, "PAYMENT_FAILED"));
    if (r.state == spend::State::unknown) REQUIRE(ledger->mark_unknown(res->id, "WALLET_TIMEOUT"));
    clock.set(saved);
  }

  mcp::ToolOutcome call(const std::string& name, const json& args, const std::string& client,
                        const std::string& envelope = "") {
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
    bool valid = v.validate(schema, da, &results);
    std::string why;
    valijson::ValidationResults::Error err;
    while (results.popError(err)) {
      for (const auto& c : err.context) why += c;
      why += ": " + err.description + "\n";
    }
    INFO(name << " output: " << structured.dump() << "\n" << why);
    CHECK(valid);
  }

  // The usual population: A (env-a) two settled + one unknown, B (env-b) one settled, the stdio owner one settled.
  void populate() {
    add({"agent-a", "env-a", "api.example.com", "bolt11", 100'000, spend::State::settled, kDay0 + 100});
    add({"agent-a", "env-a", "", "bolt11", 50'000, spend::State::settled, kDay0 + 86400 + 5});
    add({"agent-a", "env-a", "api.example.com", "bolt11", 20'000, spend::State::unknown, kDay0 + 2 * 86400});
    add({"agent-b", "env-b", "b.example.com", "l402", 10'000, spend::State::settled, kDay0 + 200});
    add({"stdio", "", "", "bolt11", 7'000, spend::State::settled, kDay0 + 300});
  }
};

std::set<std::string> clients_of(const json& payments) {
  std::set<std::string> s;
  for (const auto& p : payments) s.insert(p["client"].get<std::string>());
  return s;
}

}  // namespace

TEST_CASE("list_payments: a token sees only its own payments, the owner sees everyone's") {
  World w;
  w.populate();
  SECTION("owner over stdio") {
    auto out = w.call("list_payments", json::object(), "stdio");
    REQUIRE_FALSE(out.is_error);
    CHECK(out.structured["payments"].size() == 5);
    CHECK(out.structured["scope"] == "all");
    CHECK(clients_of(out.structured["payments"]) == std::set<std::string>{"agent-a", "agent-b", "stdio"});
    // The owner can narrow by client and envelope.
    auto a = w.call("list_payments", json{{"client", "agent-a"}}, "stdio");
    CHECK(a.structured["payments"].size() == 3);
    auto eb = w.call("list_payments", json{{"envelope", "env-b"}}, "stdio");
    REQUIRE(eb.structured["payments"].size() == 1);
    CHECK(eb.structured["payments"][0]["client"] == "agent-b");
  }
  SECTION("owner over tokenless loopback HTTP") {
    w.cfg.transport = "http";
    auto out = w.call("list_payments", json::object(), "http-anonymous");
    CHECK(out.structured["payments"].size() == 5);
    CHECK(out.structured["scope"] == "all");
  }
  SECTION("hosted tokens") {
    w.hosted();
    auto a = w.call("list_payments", json::object(), "agent-a", "env-a");
    REQUIRE_FALSE(a.is_error);
    CHECK(a.structured["scope"] == "client:agent-a");
    CHECK(a.structured["payments"].size() == 3);
    CHECK(clients_of(a.structured["payments"]) == std::set<std::string>{"agent-a"});
    auto b = w.call("list_payments", json::object(), "agent-b", "env-b");
    CHECK(clients_of(b.structured["payments"]) == std::set<std::string>{"agent-b"});
    // Filters cannot widen the view: naming another client or envelope finds nothing.
    CHECK(w.call("list_payments", json{{"client", "agent-b"}}, "agent-a", "env-a").structured["payments"].empty());
    CHECK(w.call("list_payments", json{{"envelope", "env-b"}}, "agent-a", "env-a").structured["payments"].empty());
    CHECK(w.call("list_payments", json{{"client", "agent-a"}}, "agent-a", "env-a").structured["payments"].size() == 3);
    // Pagination stays within the caller's rows.
    auto p1 = w.call("list_payments", json{{"limit", 2}}, "agent-a", "env-a");
    REQUIRE(p1.structured["payments"].size() == 2);
    REQUIRE(p1.structured["next_cursor"].is_string());
    auto p2 = w.call("list_payments", json{{"limit", 2}, {"cursor", p1.structured["next_cursor"]}}, "agent-a", "env-a");
    REQUIRE(p2.structured["payments"].size() == 1);
    CHECK(p2.structured["payments"][0]["client"] == "agent-a");
    CHECK(p2.structured["next_cursor"].is_null());
    // A token labelled "stdio" is still a token: it does not get the owner's view.
    w.cfg.tokens.push_back(config::Token{std::string(32, 's'), "stdio", ""});
    auto fake = w.call("list_payments", json::object(), "stdio");
    CHECK(fake.structured["scope"] == "client:stdio");
    CHECK(clients_of(fake.structured["payments"]) == std::set<std::string>{"stdio"});
  }
}

TEST_CASE("spending_report: a token's report covers only its own payments, the owner's covers everyone") {
  World w;
  w.populate();
  const int64_t since = kDay0, until = kDay0 + 3 * 86400;
  auto owner = w.call("spending_report", json{{"since", since}, {"until", until}}, "stdio");
  REQUIRE_FALSE(owner.is_error);
  CHECK(owner.structured["scope"] == "all");
  CHECK(owner.structured["total"]["settled_count"] == 4);
  CHECK(owner.structured["total"]["settled_amount_msat"] == 167'000);
  CHECK(owner.structured["total"]["unknown_count"] == 1);

  // The owner can ask for one client: the same buckets as the ledger's own report, restricted.
  auto owner_a = w.call("spending_report", json{{"since", since}, {"until", until}, {"client", "agent-a"}}, "stdio");
  CHECK(owner_a.structured["scope"] == "client:agent-a");

  w.hosted();
  auto a = w.call("spending_report", json{{"since", since}, {"until", until}}, "agent-a", "env-a");
  REQUIRE_FALSE(a.is_error);
  CHECK(a.structured == owner_a.structured);
  const json& t = a.structured["total"];
  CHECK(a.structured["scope"] == "client:agent-a");
  CHECK(t["settled_count"] == 2);
  CHECK(t["settled_amount_msat"] == 150'000);
  CHECK(t["settled_fee_msat"] == 2'000);
  CHECK(t["settled_sats"] == 150);
  CHECK(t["pending_count"] == 1);
  CHECK(t["unknown_count"] == 1);
  // Pending counts amount + the reserved fee allowance: max(4000, 20000 * 2000 / 1e6) = 4000.
  CHECK(t["pending_msat"] == 24'000);
  std::map<std::string, json> by_domain, by_day;
  for (const auto& d : a.structured["by_domain"]) by_domain[d["domain"]] = d;
  for (const auto& d : a.structured["by_day"]) by_day[d["day"]] = d;
  CHECK(by_domain.size() == 2);
  CHECK(by_domain["api.example.com"]["settled_count"] == 1);
  CHECK(by_domain["api.example.com"]["unknown_count"] == 1);
  CHECK(by_domain[""]["settled_amount_msat"] == 50'000);
  CHECK(by_domain.count("b.example.com") == 0);
  CHECK(by_day.size() == 3);
  CHECK(by_day["2026-01-01"]["settled_amount_msat"] == 100'000);
  CHECK(by_day["2026-01-02"]["settled_amount_msat"] == 50'000);
  CHECK(by_day["2026-01-03"]["pending_count"] == 1);
  // The range is [since, until): a row at `until` is out, one at `since` is in.
  auto narrow = w.call("spending_report", json{{"since", kDay0 + 100}, {"until", kDay0 + 2 * 86400}}, "agent-a", "env-a");
  CHECK(narrow.structured["total"]["settled_count"] == 2);
  CHECK(narrow.structured["total"]["pending_count"] == 0);
  // Another client's report is not available to a token.
  auto other = w.call("spending_report", json{{"since", since}, {"until", until}, {"client", "agent-b"}}, "agent-a", "env-a");
  REQUIRE_FALSE(other.is_error);
  CHECK(other.structured["total"]["settled_count"] == 0);
  CHECK(other.structured["by_domain"].empty());
  auto b = w.call("spending_report", json{{"since", since}, {"until", until}}, "agent-b", "env-b");
  CHECK(b.structured["total"]["settled_amount_msat"] == 10'000);
}

TEST_CASE("get_budget_status: the effective policy, a token sees its own envelope and counts only") {
  World w;
  w.populate();
  auto owner = w.call("get_budget_status", json::object(), "stdio");
  REQUIRE_FALSE(owner.is_error);
  const json& pol = owner.structured["policy"];
  CHECK(pol["fee"]["base_msat"] == 4'000);
  CHECK(pol["fee"]["ppm"] == 2'000);
  CHECK(pol["day_msat"] == 5'000'000);
  CHECK(pol["per_call_msat"] == 1'000'000);
  CHECK(pol["hour_msat"].is_null());
  CHECK(pol["protocols"] == json::array({"bolt11", "l402", "mpp"}));
  CHECK(pol["deny_domains"] == json::array({"evil.example"}));
  CHECK(pol["allow_domains"].is_null());
  CHECK(pol["domains"]["*.example.com"]["day_msat"] == 700'000);
  CHECK(owner.structured["envelopes"].size() == 2);
  CHECK(owner.structured["unknown_count"] == 1);
  CHECK(owner.structured["pending_count"] == 1);
  CHECK(owner.structured["caller"]["scope"] == "all");
  CHECK(owner.structured["caller"]["envelope"].is_null());
  CHECK(owner.structured["caller"]["protocols"] == json::array({"bolt11", "l402", "mpp"}));
  // A tightening shows up in the policy.
  REQUIRE_FALSE(w.call("configure_budget", json{{"day_sats", 4000}}, "stdio").is_error);
  auto tightened = w.call("get_budget_status", json::object(), "stdio");
  CHECK(tightened.structured["policy"]["day_msat"] == 4'000'000);

  w.hosted();
  auto a = w.call("get_budget_status", json::object(), "agent-a", "env-a");
  REQUIRE_FALSE(a.is_error);
  REQUIRE(a.structured["envelopes"].size() == 1);
  CHECK(a.structured["envelopes"][0]["scope"] == "envelope:env-a");
  CHECK(a.structured["unknown_count"] == 1);  // A's own unknown payment
  CHECK(a.structured["caller"] == json{{"client", "agent-a"}, {"envelope", "env-a"}, {"scope", "client:agent-a"},
                                       {"protocols", json::array({"bolt11"})}});  // policy ∩ envelope
  CHECK(a.structured["policy"] == w.call("get_budget_status", json::object(), "agent-b", "env-b").structured["policy"]);
  // Shared limits stay visible: they count every client.
  CHECK(a.structured["global"] == tightened.structured["global"]);
  CHECK(a.structured["domains"] == tightened.structured["domains"]);
  auto b = w.call("get_budget_status", json::object(), "agent-b", "env-b");
  REQUIRE(b.structured["envelopes"].size() == 1);
  CHECK(b.structured["envelopes"][0]["scope"] == "envelope:env-b");
  CHECK(b.structured["unknown_count"] == 0);
  CHECK(b.structured["pending_count"] == 0);
  CHECK(b.structured["caller"]["protocols"] == json::array({"bolt11", "l402", "mpp"}));
  // A token without an envelope sees none.
  w.cfg.tokens.push_back(config::Token{std::string(32, 'd'), "agent-d", ""});
  auto d = w.call("get_budget_status", json::object(), "agent-d");
  CHECK(d.structured["envelopes"].empty());
  CHECK(d.structured["caller"]["envelope"].is_null());
}

TEST_CASE("lookup_payment: a token may look up its own payments and invoices, not another token's payments") {
  World w;
  w.populate();
  std::string a_hash = w.hashes.at("agent-a#1"), b_hash = w.hashes.at("agent-b#4"), own_hash = w.hashes.at("stdio#5");
  std::string invoice_hash = hash_of(0x70), outside_hash = hash_of(0x71);
  auto tx = [](const std::string& type, const std::string& hash) {
    return json{{"type", type}, {"state", "settled"}, {"payment_hash", hash}, {"amount", 1000}, {"preimage", std::string(64, 'e')}};
  };
  for (const auto& h : {a_hash, b_hash, own_hash}) w.wallet.txs[h] = tx("outgoing", h);
  w.wallet.txs[invoice_hash] = tx("incoming", invoice_hash);   // e.g. from make_invoice
  w.wallet.txs[outside_hash] = tx("outgoing", outside_hash);   // paid by the owner outside satwarden

  // The owner sees everything the wallet knows.
  for (const auto& h : {a_hash, b_hash, own_hash, invoice_hash, outside_hash}) {
    auto out = w.call("lookup_payment", json{{"payment_hash", h}}, "stdio");
    REQUIRE_FALSE(out.is_error);
    CHECK(out.structured["transaction"]["payment_hash"] == h);
  }

  w.hosted();
  auto mine = w.call("lookup_payment", json{{"payment_hash", a_hash}}, "agent-a", "env-a");
  REQUIRE_FALSE(mine.is_error);
  CHECK(mine.structured["transaction"]["payment_hash"] == a_hash);
  CHECK(w.call("lookup_payment", json{{"payment_hash", invoice_hash}}, "agent-a", "env-a").is_error == false);
  w.wallet.asked.clear();
  for (const auto& h : {b_hash, own_hash}) {
    auto out = w.call("lookup_payment", json{{"payment_hash", h}}, "agent-a", "env-a");
    REQUIRE(out.is_error);
    CHECK(out.error.code == "NOT_FOUND");
    CHECK(out.error.message.find("preimage") == std::string::npos);
  }
  CHECK(w.wallet.asked.empty());  // another token's payment: the wallet is not even asked
  auto outside = w.call("lookup_payment", json{{"payment_hash", outside_hash}}, "agent-a", "env-a");
  REQUIRE(outside.is_error);
  CHECK(outside.error.code == "NOT_FOUND");
  auto unknown = w.call("lookup_payment", json{{"payment_hash", hash_of(0x72)}}, "agent-a", "env-a");
  REQUIRE(unknown.is_error);
  CHECK(unknown.error.code == "NOT_FOUND");
  // B may see its own payment (upper-case hex is the same hash).
  std::string upper = b_hash;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  CHECK_FALSE(w.call("lookup_payment", json{{"payment_hash", upper}}, "agent-b", "env-b").is_error);
}

TEST_CASE("list_transactions: a token sees only the wallet payments satwarden made for it") {
  World w;
  w.populate();
  std::string a1 = w.hashes.at("agent-a#1"), a2 = w.hashes.at("agent-a#2"), b = w.hashes.at("agent-b#4");
  auto tx = [](const std::string& type, const std::string& hash) {
    return json{{"type", type}, {"state", "settled"}, {"payment_hash", hash}, {"amount", 1000}};
  };
  w.wallet.txs[a1] = tx("outgoing", a1);
  w.wallet.txs[a2] = tx("outgoing", a2);
  w.wallet.txs[b] = tx("outgoing", b);
  w.wallet.txs[hash_of(0x70)] = tx("incoming", hash_of(0x70));
  w.wallet.txs[hash_of(0x71)] = tx("outgoing", hash_of(0x71));  // outside satwarden
  auto hashes = [](const mcp::ToolOutcome& o) {
    std::set<std::string> s;
    for (const auto& t : o.structured["transactions"]) s.insert(t["payment_hash"].get<std::string>());
    return s;
  };
  auto owner = w.call("list_transactions", json::object(), "stdio");
  REQUIRE_FALSE(owner.is_error);
  CHECK(owner.structured["transactions"].size() == 5);
  w.hosted();
  auto a = w.call("list_transactions", json::object(), "agent-a", "env-a");
  REQUIRE_FALSE(a.is_error);
  CHECK(hashes(a) == std::set<std::string>{a1, a2});
  CHECK(hashes(w.call("list_transactions", json::object(), "agent-b", "env-b")) == std::set<std::string>{b});
  CHECK(w.call("list_transactions", json{{"type", "incoming"}}, "agent-a", "env-a").structured["transactions"].empty());
}

TEST_CASE("configure_budget: only the owner tightens the policy that binds everyone, a token only its own envelope") {
  World w;
  w.hosted();
  w.cfg.tokens.push_back(config::Token{std::string(32, 'n'), "agent-n", ""});
  const spend::Policy before = w.ledger->policy();
  auto code = [](const mcp::ToolOutcome& o) { return o.is_error ? o.error.code : std::string(); };
  // A token without an envelope: refused, nothing changes.
  CHECK(code(w.call("configure_budget", json{{"day_sats", 1}}, "agent-n")) == "POLICY_AUTHORITY");
  CHECK(code(w.call("configure_budget", json{{"lifetime_sats", 1}}, "agent-n")) == "POLICY_AUTHORITY");
  // A token with an envelope: the global policy is not its to change, not even by tightening.
  auto global = w.call("configure_budget", json{{"max_sats", 1}, {"deny_domains", {"x.example"}}}, "agent-a", "env-a");
  CHECK(code(global) == "POLICY_AUTHORITY");
  CHECK(global.error.message.find("nothing was changed") != std::string::npos);
  CHECK(w.ledger->policy() == before);
  // Its own envelope's cap: lowered (never raised), persisted, and binding only that envelope.
  auto own = w.call("configure_budget", json{{"lifetime_sats", 100}}, "agent-a", "env-a");
  REQUIRE_FALSE(own.is_error);
  CHECK(code(w.call("configure_budget", json{{"lifetime_sats", 200}}, "agent-a", "env-a")) == "POLICY_LOOSEN_REFUSED");
  CHECK(w.ledger->policy() == before);
  auto tight = w.ledger->envelope_tightenings();
  REQUIRE(tight);
  CHECK(tight->at("env-a") == 100'000);
  CHECK(tight->count("env-b") == 0);
  auto st = w.ledger->status();
  REQUIRE(st);
  for (const auto& e : st->envelopes) {
    if (e.scope == "envelope:env-a") CHECK(e.windows[0].limit_msat == std::optional<uint64_t>(100'000));
    if (e.scope == "envelope:env-b") CHECK(e.windows[0].limit_msat == std::optional<uint64_t>(1'000'000));
  }
  // A reservation in env-a above the lowered cap is refused; env-b and the owner are untouched.
  spend::ReserveRequest rq;
  rq.client = "agent-a";
  rq.tool = "pay_invoice";
  rq.protocol = "bolt11";
  rq.payment_hash = hash_of(0x90);
  rq.amount_msat = 150'000;
  rq.envelope = "env-a";
  auto refused = w.ledger->reserve(rq);
  REQUIRE_FALSE(refused);
  INFO(refused.error().message);
  CHECK(refused.error().code == "BUDGET_EXCEEDED");
  rq.envelope = "env-b";
  rq.client = "agent-b";
  CHECK(w.ledger->reserve(rq));
  // The owner resets run-time tightenings (CLI `satwarden policy reset-tightenings`).
  REQUIRE(w.ledger->reset_policy_overrides());
  tight = w.ledger->envelope_tightenings();
  REQUIRE(tight);
  CHECK(tight->empty());
}
