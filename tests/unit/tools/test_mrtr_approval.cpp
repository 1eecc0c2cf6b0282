// The owner's approval asked through an input-required result (MCP 2026-07-28, MRTR), end to end through the
// modern-era MCP layer (Stateless), the real tool registry, the Payer, the Hub and a ledger, with a fake wallet:
// a paying tools/call that needs approval answers input_required (approval open, budget held); the retry's accept
// decides through channel "elicitation" and the same call pays once; decline/cancel deny; a replayed state after
// the decision decides nothing and pays nothing more; a caller the config does not let be asked gets no question.
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "approve/approve.h"
#include "pay/pay.h"
#include "purchase/purchase.h"
#include "spend/spend.h"
#include "tools.h"
#include "../mcp/capture.h"
#include "../purchase/helpers.h"  // mint_invoice, FakeWallet, FakeClock, TempDir

using namespace sw;

namespace {

using mcp_test::Capture;  // notifies under its lock (ThreadSanitizer found the race in a copy of it here)

struct World {
  spend_test::TempDir tmp;  // first member: removed after the ledger is closed
  config::Config cfg;
  spend_test::FakeClock clock{1'767'225'600};
  purchase_test::FakeWallet wallet;
  std::unique_ptr<spend::Ledger> ledger;
  std::unique_ptr<approve::Hub> hub;
  std::unique_ptr<pay::Payer> payer;
  std::unique_ptr<purchase::Paywall> paywall;
  tools::Engine engine;
  std::shared_ptr<mcp::ToolRegistry> registry = std::make_shared<mcp::ToolRegistry>();
  std::unique_ptr<mcp::Server> server;
  std::unique_ptr<mcp::Stateless> modern;
  Capture cap;
  int next_id = 1;
  int next_hash = 1;

  World() {
    spend::Policy p;
    p.global.per_call_msat.reset();
    p.global.approve_above_msat = 100'000;  // ask the owner above 100 sats
    auto np = spend::normalize_policy(p);
    REQUIRE(np);
    auto l = spend::Ledger::open(tmp.file("ledger.sqlite"), *np, clock);
    REQUIRE(l);
    ledger = std::move(*l);
    hub = std::make_unique<approve::Hub>(*ledger, approve::Options{}, clock);
    payer = std::make_unique<pay::Payer>(&wallet, ledger.get(), clock);
    payer->set_approvals(hub.get());
    paywall = std::make_unique<purchase::Paywall>(
        payer.get(), ledger.get(),
        [](const fetch::Request&, const fetch::Options&, std::function<bool()>) -> Result<fetch::Response> {
          return make_error("FETCH_FAILED", "no network in this test");
        },
        purchase::Options{}, clock);
    cfg.transport = "stdio";
    // Without a question in the client a call ends at once (APPROVAL_REQUIRED) instead of waiting for the owner:
    // a regression fails these tests rather than hanging them (the fake clock never lets an approval expire).
    cfg.approval_wait = "return";
    engine.config = &cfg;
    engine.clock = &clock;
    engine.wallet = &wallet;
    engine.ledger = ledger.get();
    engine.payer = payer.get();
    engine.paywall = paywall.get();
    engine.approvals = hub.get();
    REQUIRE(tools::register_all(*registry, engine));
    server = std::make_unique<mcp::Server>(mcp::ServerInfo{}, registry);
    modern = std::make_unique<mcp::Stateless>(*server);
  }

  // A fresh 150-sat invoice the fake wallet can pay.
  std::string invoice() {
    char pre[65];
    std::snprintf(pre, sizeof pre, "%064x", next_hash++);
    auto h = crypto::sha256(*hex_decode(pre));
    const std::string hash = hex_encode(h.data(), h.size());
    {
      std::lock_guard<std::mutex> lk(wallet.mu);
      wallet.preimages[hash] = pre;
    }
    return purchase_test::mint_invoice(hash, 150, clock.now_unix());
  }

  // A modern-era tools/call pay_invoice; `extra` adds inputResponses / requestState. Returns the JSON-RPC response.
  json pay(const std::string& inv, bool elicitation, json extra = json::object(), const std::string& client = "stdio",
           const std::string& envelope = "") {
    json caps = json::object();
    if (elicitation) caps["elicitation"] = json{{"form", json::object()}};
    json params{{"name", "pay_invoice"},
                {"arguments", {{"invoice", inv}}},
                {"_meta", {{mcp::kMetaProtocolVersion, mcp::kModernVersion}, {mcp::kMetaClientCapabilities, caps}}}};
    for (auto it = extra.begin(); it != extra.end(); ++it) params[it.key()] = it.value();
    const int id = next_id++;
    modern->serve(json{{"jsonrpc", "2.0"}, {"id", id}, {"method", "tools/call"}, {"params", params}}, client, envelope,
                  cap.sink(), true);
    auto r = cap.response(id, 5000);
    REQUIRE(r);
    return *r;
  }
  int pays() {
    std::lock_guard<std::mutex> lk(wallet.mu);
    return wallet.pay_calls;
  }
};

std::string error_code(const json& response) {
  const json& r = response["result"];
  if (!r.value("isError", false)) return "OK";
  return json::parse(r["content"][0]["text"].get<std::string>())["error"]["code"];
}

}  // namespace

TEST_CASE("mrtr approval: input_required with the approval's question, then accept pays the same reservation once") {
  World w;
  const std::string inv = w.invoice();
  json first = w.pay(inv, true);
  INFO(first.dump());
  REQUIRE(first.contains("result"));
  const json& r = first["result"];
  REQUIRE(r["resultType"] == "input_required");
  const json& q = r["inputRequests"]["approval"];
  CHECK(q["method"] == "elicitation/create");
  CHECK(q["params"]["mode"] == "form");
  CHECK(q["params"]["requestedSchema"]["type"] == "object");
  const std::string message = q["params"]["message"];
  CHECK(message.find("150 sats") != std::string::npos);
  REQUIRE(r["requestState"].is_string());
  const std::string state = r["requestState"];
  // The approval is open and its budget held; nothing was paid.
  auto open = w.ledger->approval_for_payment(w.ledger->get_payment(bolt11::decode(inv)->payment_hash)->id);
  REQUIRE(open);
  REQUIRE(*open);
  const spend::Approval ap = **open;
  CHECK(ap.state == spend::ApprovalState::pending);
  CHECK(ap.payment_state == spend::State::reserved);
  CHECK(message.find(ap.public_id) != std::string::npos);
  CHECK(w.pays() == 0);

  // Retry without an answer: asked again (same approval), nothing decided.
  json again = w.pay(inv, true, json{{"requestState", state}});
  REQUIRE(again["result"]["resultType"] == "input_required");
  CHECK(again["result"]["inputRequests"]["approval"]["params"]["message"] == message);
  CHECK(w.ledger->get_approval(ap.public_id)->state == spend::ApprovalState::pending);

  // A state presented by another caller or with other arguments is refused (-32602), nothing decided.
  json other_caller = w.pay(inv, true, json{{"requestState", state}, {"inputResponses", {{"approval", {{"action", "accept"}}}}}},
                            "agent-x", "");
  REQUIRE(other_caller.contains("error"));
  CHECK(other_caller["error"]["code"] == mcp::kInvalidParams);
  CHECK(w.ledger->get_approval(ap.public_id)->state == spend::ApprovalState::pending);

  // Accept: approved through channel "elicitation", paid once, by this call.
  json paid = w.pay(inv, true, json{{"requestState", state}, {"inputResponses", {{"approval", {{"action", "accept"}}}}}});
  INFO(paid.dump());
  REQUIRE(paid.contains("result"));
  CHECK(paid["result"]["resultType"] == "complete");
  CHECK(error_code(paid) == "OK");
  CHECK(paid["result"]["structuredContent"]["payment_hash"] == ap.payment_hash);
  CHECK(w.pays() == 1);
  auto decided = w.ledger->get_approval(ap.public_id);
  REQUIRE(decided);
  CHECK(decided->decided_by == "elicitation");
  CHECK(w.ledger->get_payment(ap.payment_hash)->state == spend::State::settled);

  // Replaying the state (with accept or decline) after the decision decides nothing and pays nothing more.
  for (const char* action : {"accept", "decline"}) {
    json replay = w.pay(inv, true, json{{"requestState", state}, {"inputResponses", {{"approval", {{"action", action}}}}}});
    INFO(replay.dump());
    CHECK(w.pays() == 1);
    auto after = w.ledger->get_approval(ap.public_id);
    REQUIRE(after);
    CHECK(after->decided_by == "elicitation");
    CHECK(after->reason.empty());
    CHECK(after->decided_at == decided->decided_at);
  }
}

TEST_CASE("mrtr approval: decline and cancel deny, saying so, the budget is released and nothing is paid") {
  World w;
  for (const char* action : {"decline", "cancel"}) {
    const std::string inv = w.invoice();
    json first = w.pay(inv, true);
    REQUIRE(first["result"]["resultType"] == "input_required");
    const std::string state = first["result"]["requestState"];
    json denied = w.pay(inv, true, json{{"requestState", state}, {"inputResponses", {{"approval", {{"action", action}}}}}});
    INFO(denied.dump());
    CHECK(error_code(denied) == "APPROVAL_DENIED");
    auto row = w.ledger->get_payment(bolt11::decode(inv)->payment_hash);
    REQUIRE(row);
    auto ap = w.ledger->approval_for_payment(row->id);
    REQUIRE(ap);
    REQUIRE(*ap);
    CHECK((*ap)->state == spend::ApprovalState::denied);
    CHECK((*ap)->decided_by == "elicitation");
    CHECK((*ap)->reason == (std::string(action) == "decline" ? "declined in the MCP client" : "dismissed in the MCP client"));
    CHECK(row->state != spend::State::reserved);
    // A replayed accept does not turn the denial into a payment.
    json replay = w.pay(inv, true, json{{"requestState", state}, {"inputResponses", {{"approval", {{"action", "accept"}}}}}});
    INFO(replay.dump());
    CHECK(w.ledger->get_approval((*ap)->public_id)->state == spend::ApprovalState::denied);
  }
  CHECK(w.pays() == 0);
}

TEST_CASE("mrtr approval: no question for a client without elicitation, or a caller the config does not let be asked") {
  World w;
  json plain = w.pay(w.invoice(), false);
  CHECK(plain["result"]["resultType"] == "complete");
  CHECK(error_code(plain) == "APPROVAL_REQUIRED");
  w.cfg.approval_elicitation = "off";
  json off = w.pay(w.invoice(), true);
  CHECK(off["result"]["resultType"] == "complete");
  CHECK(error_code(off) == "APPROVAL_REQUIRED");
  // Hosted (bearer tokens over HTTP) under auto: a token's caller is not the owner.
  w.cfg.approval_elicitation = "auto";
  w.cfg.transport = "http";
  w.cfg.tokens = {config::Token{std::string(32, 'a'), "agent-a", ""}};
  json hosted = w.pay(w.invoice(), true, json::object(), "agent-a", "");
  CHECK(hosted["result"]["resultType"] == "complete");
  CHECK(error_code(hosted) == "APPROVAL_REQUIRED");
  // "on" asks everyone, in this era too.
  w.cfg.approval_elicitation = "on";
  json asked = w.pay(w.invoice(), true, json::object(), "agent-a", "");
  CHECK(asked["result"]["resultType"] == "input_required");
  CHECK(w.pays() == 0);
}
