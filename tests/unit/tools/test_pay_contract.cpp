// The contract of the paying tools, end to end through the real payment engine and ledger, with an in-process
// wallet and a fixed clock. Vectors: l402.json and mpp-generated.json (the same invoice and preimage).
#include <catch2/catch.hpp>

#include <fstream>
#include <set>
#include <unistd.h>

#include "crypto/crypto.h"
#include "macaroon/macaroon.h"
#include "pay/pay.h"
#include "purchase/purchase.h"
#include "spend/spend.h"
#include "tools.h"
#include "../spend/helpers.h"  // FakeClock, TempDir

using namespace sw;

namespace {

json load(const char* name) {
  std::ifstream f(std::string(SW_VECTORS_DIR) + "/" + name);
  return json::parse(f);
}

// Pays only the invoices it knows the preimage of. Knobs: network, forced error, bad preimage.
struct FakeWallet : wallet::Wallet {
  std::map<std::string, std::string> preimages;  // payment hash → preimage
  std::string network = "mainnet";
  std::optional<Error> pay_error;
  std::string preimage_override;
  int pays = 0;
  std::set<std::string> paid;
  Result<wallet::Info> get_info() override {
    wallet::Info i;
    i.network = network;
    i.encryption = "nip44_v2";
    i.methods = methods;
    return i;
  }
  Result<uint64_t> get_balance_msat() override { return uint64_t{1'000'000}; }
  Result<wallet::PayResult> pay_invoice(const std::string& invoice, std::optional<uint64_t>) override {
    if (pay_error) return *pay_error;
    auto inv = bolt11::decode(invoice);
    if (!inv || !preimages.count(inv->payment_hash)) return make_error("PAYMENT_FAILED", "unknown invoice");
    ++pays;
    paid.insert(inv->payment_hash);
    return wallet::PayResult{preimage_override.empty() ? preimages[inv->payment_hash] : preimage_override, 12};
  }
  Result<json> make_invoice(const wallet::MakeInvoiceParams&) override { return make_error("WALLET_NOT_IMPLEMENTED", ""); }
  Result<json> lookup_invoice(const std::string& hash, const std::string&) override {
    if (!paid.count(hash)) return make_error("NOT_FOUND", "");
    return json{{"state", "settled"}, {"payment_hash", hash}, {"preimage", preimages[hash]}, {"fees_paid", 12}};
  }
  Result<json> list_transactions(const wallet::ListParams&) override { return json{{"transactions", json::array()}}; }
  Result<json> get_budget() override { return json::object(); }
  // Keysend: records each request; answers with the request's preimage unless told otherwise.
  std::vector<wallet::KeysendParams> keysends;
  std::vector<std::string> methods = {"pay_invoice", "pay_keysend", "lookup_invoice", "get_info"};
  std::string keysend_preimage_override;
  std::optional<Error> keysend_error;
  Result<wallet::PayResult> pay_keysend(const wallet::KeysendParams& p) override {
    keysends.push_back(p);
    if (keysend_error) return *keysend_error;
    auto pre = hex_decode(p.preimage);
    auto h = crypto::sha256(*pre);
    std::string hash = hex_encode(h.data(), h.size());
    preimages[hash] = p.preimage;
    paid.insert(hash);
    return wallet::PayResult{keysend_preimage_override.empty() ? p.preimage : keysend_preimage_override, 3};
  }
  void set_notification_handler(wallet::NotificationHandler) override {}
};

struct World {
  json l402 = load("l402.json");
  json mpp = load("mpp-generated.json");
  spend_test::TempDir tmp;  // first member: removed after the ledger is closed
  config::Config cfg;
  std::unique_ptr<spend_test::FakeClock> clock;
  FakeWallet wallet;
  std::unique_ptr<spend::Ledger> ledger;
  std::unique_ptr<pay::Payer> payer;
  std::unique_ptr<purchase::Paywall> paywall;
  tools::Engine engine;
  mcp::ToolRegistry registry;

  explicit World(spend::Policy policy = {}) {
    auto inv = bolt11::decode(l402["invoice"].get<std::string>());
    REQUIRE(inv);
    clock = std::make_unique<spend_test::FakeClock>(inv->timestamp + 60);
    auto l = spend::Ledger::open(tmp.file("ledger.sqlite"), policy, *clock);
    REQUIRE(l);
    ledger = std::move(*l);
    wallet.preimages[l402["payment_hash_hex"].get<std::string>()] = l402["preimage_hex"].get<std::string>();
    payer = std::make_unique<pay::Payer>(&wallet, ledger.get(), *clock);
    paywall = std::make_unique<purchase::Paywall>(
        payer.get(), ledger.get(),
        [](const fetch::Request&, const fetch::Options&, std::function<bool()>) -> Result<fetch::Response> {
          return make_error("FETCH_FAILED", "no network in this test");
        },
        purchase::Options{}, *clock);
    engine.config = &cfg;
    engine.clock = clock.get();
    engine.wallet = &wallet;
    engine.ledger = ledger.get();
    engine.payer = payer.get();
    engine.paywall = paywall.get();
    REQUIRE(tools::register_all(registry, engine));
  }

  mcp::ToolOutcome call(const std::string& name, const json& args) {
    REQUIRE(registry.validate(name, args));
    mcp::CallContext ctx;
    ctx.client = "test";
    return registry.find(name)->handler(args, ctx);
  }
};

}  // namespace

TEST_CASE("pay_l402_challenge: L402 success returns every field of the contract") {
  World w;
  std::string mac = w.l402["macaroon_v2_base64_std"];
  std::string pre = w.l402["preimage_hex"];
  auto out = w.call("pay_l402_challenge",
                    json{{"invoice", "  " + w.l402["invoice"].get<std::string>() + "\n"}, {"macaroon", " " + mac + " "}});
  REQUIRE_FALSE(out.is_error);
  const json& s = out.structured;
  CHECK(s["success"] == true);
  CHECK(s["preimage"] == pre);
  CHECK(s["payment_hash"] == w.l402["payment_hash_hex"]);
  CHECK(s["amount_sats"] == 10);
  CHECK(s["protocol"] == "L402");
  CHECK(s["token"] == mac);
  CHECK(s["authorization_header"] == "L402 " + mac + ":" + pre);
  CHECK(s["usage"]["headerName"] == "Authorization");
  CHECK(s["usage"]["headerValue"] == s["authorization_header"]);
  CHECK(s["usage"]["protocol"] == "L402");
  CHECK(s["message"].get<std::string>().find("10 sats") != std::string::npos);
  // The vector's own Authorization header is exactly what we produced.
  CHECK(w.l402["authorization_headers"]["l402"] == s["authorization_header"]);
  // Never twice.
  auto again = w.call("pay_l402_challenge", json{{"invoice", w.l402["invoice"]}, {"macaroon", mac}});
  REQUIRE(again.is_error);
  CHECK(again.error.code == "ALREADY_PAID");
  CHECK(w.wallet.pays == 1);
}

TEST_CASE("pay_l402_challenge: MPP with the full challenge reproduces the spec credential byte for byte") {
  World w;
  auto out = w.call("pay_l402_challenge", json{{"invoice", w.mpp["invoice"]},
                                               {"macaroon", ""},
                                               {"challenge_header", w.mpp["www_authenticate"]}});
  REQUIRE_FALSE(out.is_error);
  CHECK(out.structured["protocol"] == "MPP");
  CHECK(out.structured["authorization_header"] == w.mpp["authorization"]);
}

TEST_CASE("pay_l402_challenge: MPP without a challenge uses the simplified form") {
  World w;
  auto out = w.call("pay_l402_challenge", json{{"invoice", w.mpp["invoice"]}});
  REQUIRE_FALSE(out.is_error);
  CHECK(out.structured["authorization_header"] ==
        "Payment method=\"lightning\", preimage=\"" + w.mpp["preimage_hex"].get<std::string>() + "\"");
  CHECK(out.structured["token"] == w.mpp["preimage_hex"]);
}

TEST_CASE("pay_l402_challenge: each refusal, and nothing reaches the wallet") {
  World w;
  std::string inv = w.l402["invoice"], mac = w.l402["macaroon_v2_base64_std"];
  auto refuse = [&](const json& args, const char* code) {
    auto out = w.call("pay_l402_challenge", args);
    INFO(args.dump());
    REQUIRE(out.is_error);
    CHECK(out.error.code == code);
    return out.error.message;
  };
  CHECK(refuse(json{{"invoice", inv}, {"macaroon", mac}, {"max_sats", 9}}, "AMOUNT_EXCEEDS_MAX").find("10 sats") !=
        std::string::npos);
  // No amount: the BOLT 11 donation example.
  auto donation = load("bolt11.json")["valid"][0]["invoice"].get<std::string>();
  refuse(json{{"invoice", donation}}, "INVOICE_NO_AMOUNT");
  // Unbound: the minimal macaroon's identifier is not an L402 identifier, so mint one bound to another hash.
  {
    macaroon::L402Identifier id;
    id.payment_hash.fill(7);
    auto other = macaroon::mint(to_bytes("root"), macaroon::encode_l402_identifier(id), std::string("lsat"), {});
    CHECK(refuse(json{{"invoice", inv}, {"macaroon", macaroon::encode_v2_base64(other)}}, "MACAROON_NOT_BOUND")
              .find("not bound") != std::string::npos);
  }
  refuse(json{{"invoice", inv}, {"macaroon", "not a macaroon!"}}, "INVALID_MACAROON");
  refuse(json{{"invoice", "lnbc1garbage"}, {"macaroon", mac}}, "INVALID_INVOICE");
  w.wallet.network = "testnet";
  refuse(json{{"invoice", inv}, {"macaroon", mac}}, "NETWORK_MISMATCH");
  w.wallet.network = "mainnet";
  CHECK(w.wallet.pays == 0);
  // Expired: move the clock past the invoice's expiry.
  auto decoded = bolt11::decode(inv);
  w.clock->set(decoded->expires_at() + 1);
  refuse(json{{"invoice", inv}, {"macaroon", mac}}, "INVOICE_EXPIRED");
  CHECK(w.wallet.pays == 0);
}

TEST_CASE("pay_l402_challenge: wallet failures — definite releases the budget, bad preimage stays reserved") {
  World w;
  std::string inv = w.l402["invoice"], mac = w.l402["macaroon_v2_base64_std"];
  w.wallet.pay_error = make_error("INSUFFICIENT_BALANCE", "no funds");
  auto out = w.call("pay_l402_challenge", json{{"invoice", inv}, {"macaroon", mac}});
  REQUIRE(out.is_error);
  CHECK(out.error.code == "INSUFFICIENT_BALANCE");
  auto p = w.ledger->get_payment(w.l402["payment_hash_hex"].get<std::string>());
  REQUIRE(p);
  CHECK(p->state == spend::State::failed);
  w.wallet.pay_error.reset();
  w.wallet.preimage_override = std::string(64, 'a');
  out = w.call("pay_l402_challenge", json{{"invoice", inv}, {"macaroon", mac}});
  REQUIRE(out.is_error);
  CHECK(out.error.code == "WALLET_INVALID_PREIMAGE");
  CHECK(out.error.message.find(std::string(64, 'a')) == std::string::npos);
  p = w.ledger->get_payment(w.l402["payment_hash_hex"].get<std::string>());
  CHECK(p->state == spend::State::unknown);
  // Timeout: the outcome is unknown and the invoice is never paid again.
  w.wallet.preimage_override.clear();
  out = w.call("pay_l402_challenge", json{{"invoice", inv}, {"macaroon", mac}});
  REQUIRE(out.is_error);
  // The retry first asks the wallet (reconciliation), learns it was paid, and refuses to pay again.
  CHECK(out.error.code == "ALREADY_PAID");
  CHECK(w.wallet.pays == 1);
  p = w.ledger->get_payment(w.l402["payment_hash_hex"].get<std::string>());
  CHECK(p->state == spend::State::settled);
}

TEST_CASE("the budget refuses with BUDGET_EXCEEDED naming the window and what remains") {
  spend::Policy p;
  p.global.day_msat = 5'000;  // 5 sats a day
  World w(p);
  auto out = w.call("pay_l402_challenge", json{{"invoice", w.l402["invoice"]}, {"macaroon", w.l402["macaroon_v2_base64_std"]}});
  REQUIRE(out.is_error);
  CHECK(out.error.code == "BUDGET_EXCEEDED");
  CHECK(out.error.details.dump().find("day") != std::string::npos);
  CHECK(w.wallet.pays == 0);
  auto status = w.call("get_budget_status", json::object());
  REQUIRE_FALSE(status.is_error);
  bool found = false;
  for (auto& win : status.structured["global"]["windows"])
    if (win["window"] == "day") found = win["limit_sats"] == 5;
  CHECK(found);
}

TEST_CASE("configure_budget only tightens") {
  World w;
  auto t = w.call("configure_budget", json{{"day_sats", 100}});
  REQUIRE_FALSE(t.is_error);
  auto loosen = w.call("configure_budget", json{{"day_sats", 1000}});
  REQUIRE(loosen.is_error);
  CHECK(loosen.error.code == "POLICY_LOOSEN_REFUSED");
  auto tighter = w.call("configure_budget", json{{"day_sats", 50}, {"deny_domains", {"evil.example"}}});
  CHECK_FALSE(tighter.is_error);
}

// ---------------------------------------------------------------- pay_keysend

namespace {
const char* kNode = "03864ef025fde8fb587d989186ce6a4a186895ee44a926bfc370e2c366597a3f8f";
}

TEST_CASE("pay_keysend: satwarden's own preimage, hash recorded, budget booked, never reused") {
  World w;
  auto out = w.call("pay_keysend", json{{"destination", kNode}, {"amount_sats", 21},
                                        {"tlv_records", json::array({json{{"type", 7629169}, {"value", "AbCd"}}})}});
  REQUIRE_FALSE(out.is_error);
  REQUIRE(w.wallet.keysends.size() == 1);
  const wallet::KeysendParams sent = w.wallet.keysends[0];  // a copy: the next keysend reallocates the vector
  CHECK(sent.pubkey == kNode);
  CHECK(sent.amount_msat == 21000);
  REQUIRE(sent.tlv_records.size() == 1);
  CHECK(sent.tlv_records[0].type == 7629169);
  CHECK(sent.tlv_records[0].value_hex == "abcd");
  auto pre = hex_decode(sent.preimage);
  REQUIRE(pre);
  auto h = crypto::sha256(*pre);
  std::string hash = hex_encode(h.data(), h.size());
  CHECK(out.structured["payment_hash"] == hash);
  CHECK(out.structured["preimage"] == sent.preimage);
  CHECK(out.structured["preimage_from_wallet"] == false);
  CHECK(out.structured["amount_sats"] == 21);
  CHECK(out.structured["fee_msat"] == 3);
  auto row = w.ledger->get_payment(hash);
  REQUIRE(row);
  CHECK(row->state == spend::State::settled);
  CHECK(row->protocol == "keysend");
  CHECK(row->amount_msat == 21000);
  CHECK(row->fee_msat == 3);
  // A second keysend is a new payment with a fresh preimage.
  auto again = w.call("pay_keysend", json{{"destination", kNode}, {"amount_sats", 21}});
  REQUIRE_FALSE(again.is_error);
  REQUIRE(w.wallet.keysends.size() == 2);
  CHECK(w.wallet.keysends[1].preimage != sent.preimage);
}

TEST_CASE("pay_keysend: refusals before anything is sent") {
  World w;
  auto code = [](const mcp::ToolOutcome& o) { return o.error.code; };
  auto over = w.call("pay_keysend", json{{"destination", kNode}, {"amount_sats", 50}, {"max_sats", 49}});
  REQUIRE(over.is_error);
  CHECK(code(over) == "AMOUNT_EXCEEDS_MAX");
  // The default cap (1000 sats per call, policy) applies without max_sats.
  auto policy = w.call("pay_keysend", json{{"destination", kNode}, {"amount_sats", 1001}, {"max_sats", 5000}});
  REQUIRE(policy.is_error);
  CHECK(code(policy) == "BUDGET_EXCEEDED");
  // Not a point on the curve (valid shape: passes the schema, caught by the engine).
  std::string off_curve = "02" + std::string(64, 'f');
  auto bad = w.call("pay_keysend", json{{"destination", off_curve}, {"amount_sats", 1}});
  REQUIRE(bad.is_error);
  CHECK(code(bad) == "INVALID_ARGUMENT");
  auto reserved_tlv = w.call("pay_keysend", json{{"destination", kNode}, {"amount_sats", 1},
                                                 {"tlv_records", json::array({json{{"type", 5482373484}, {"value", "00"}}})}});
  REQUIRE(reserved_tlv.is_error);
  CHECK(code(reserved_tlv) == "INVALID_ARGUMENT");
  CHECK(w.wallet.keysends.empty());
  // Schema-level refusals: no registry.validate pass.
  CHECK_FALSE(w.registry.validate("pay_keysend", json{{"destination", kNode}, {"amount_sats", 0}}));
  CHECK_FALSE(w.registry.validate("pay_keysend", json{{"destination", "04" + std::string(64, 'a')}, {"amount_sats", 1}}));
  CHECK_FALSE(w.registry.validate("pay_keysend", json{{"destination", kNode}, {"amount_sats", 1},
                                                     {"tlv_records", json::array({json{{"type", 70000}, {"value", "abc"}}})}}));
}

TEST_CASE("pay_keysend: a wallet without pay_keysend is refused before reserving") {
  World w;
  w.wallet.methods = {"pay_invoice", "get_info"};
  auto out = w.call("pay_keysend", json{{"destination", kNode}, {"amount_sats", 5}});
  REQUIRE(out.is_error);
  CHECK(out.error.code == "WALLET_NOT_IMPLEMENTED");
  CHECK(w.wallet.keysends.empty());
  auto st = w.ledger->status();
  REQUIRE(st);
  CHECK(st->pending_count == 0);
}

TEST_CASE("pay_keysend: definite failure releases, timeout stays unknown, a substituted preimage is still booked") {
  {
    World w;
    w.wallet.keysend_error = Error{"PAYMENT_FAILED", "no route", {}};
    auto out = w.call("pay_keysend", json{{"destination", kNode}, {"amount_sats", 5}});
    REQUIRE(out.is_error);
    CHECK(out.error.code == "PAYMENT_FAILED");
    auto st = w.ledger->status();
    REQUIRE(st);
    CHECK(st->pending_count == 0);
    auto page = w.ledger->list_payments({});
    REQUIRE(page);
    REQUIRE(page->items.size() == 1);
    CHECK(page->items[0].state == spend::State::failed);
  }
  {
    World w;
    w.wallet.keysend_error = Error{"WALLET_TIMEOUT", "no reply", {}};
    auto out = w.call("pay_keysend", json{{"destination", kNode}, {"amount_sats", 5}});
    REQUIRE(out.is_error);
    CHECK(out.error.code == "PAYMENT_OUTCOME_UNKNOWN");
    auto st = w.ledger->status();
    REQUIRE(st);
    CHECK(st->unknown_count == 1);
  }
  {
    World w;
    w.wallet.keysend_preimage_override = std::string(64, 'b');
    auto out = w.call("pay_keysend", json{{"destination", kNode}, {"amount_sats", 5}});
    REQUIRE_FALSE(out.is_error);
    CHECK(out.structured["preimage_from_wallet"] == true);
    auto row = w.ledger->get_payment(out.structured["payment_hash"].get<std::string>());
    REQUIRE(row);
    CHECK(row->state == spend::State::settled);
  }
  {
    World w;
    w.wallet.keysend_preimage_override = "abc";  // malformed: no claim we can book
    auto out = w.call("pay_keysend", json{{"destination", kNode}, {"amount_sats", 5}});
    REQUIRE(out.is_error);
    CHECK(out.error.code == "WALLET_INVALID_PREIMAGE");
  }
}

TEST_CASE("payment_sent notification settles an unknown row, forged or unrelated ones change nothing") {
  World w;
  w.wallet.pay_error = Error{"WALLET_TIMEOUT", "no reply", {}};
  std::string hash = w.l402["payment_hash_hex"];
  std::string pre = w.l402["preimage_hex"];
  auto out = w.call("pay_invoice", json{{"invoice", w.l402["invoice"]}});
  REQUIRE(out.is_error);
  REQUIRE(w.ledger->get_payment(hash)->state == spend::State::unknown);
  CHECK_FALSE(w.payer->on_notification({"payment_received", json{{"payment_hash", hash}, {"preimage", pre}}}));
  CHECK_FALSE(w.payer->on_notification({"payment_sent", json{{"payment_hash", hash}, {"preimage", std::string(64, 'a')}}}));
  CHECK(w.ledger->get_payment(hash)->state == spend::State::unknown);
  CHECK(w.payer->on_notification({"payment_sent", json{{"payment_hash", hash}, {"preimage", pre}, {"fees_paid", 7}}}));
  auto row = w.ledger->get_payment(hash);
  CHECK(row->state == spend::State::settled);
  CHECK(row->fee_msat == std::optional<uint64_t>(7));
  CHECK(row->preimage == pre);
  CHECK_FALSE(w.payer->on_notification({"payment_sent", json{{"payment_hash", hash}, {"preimage", pre}}}));
}
