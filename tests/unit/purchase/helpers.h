// Test doubles for the purchase engine: a BOLT 11 invoice minter (so a fake paywall can issue a fresh invoice for
// every 402, as real ones do), an in-process wallet whose pay timeouts and lookup answers are scripted, a fake paid
// API (L402 and MPP routes) that checks the credentials it receives, and a World wiring ledger + payer + paywall
// with a fixed clock. The first challenge the API issues is the tests/vectors/l402.json vector.
#pragma once

#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include <catch2/catch.hpp>

#include <condition_variable>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "challenge/challenge.h"
#include "crypto/crypto.h"
#include "macaroon/macaroon.h"
#include "pay/pay.h"
#include "purchase/purchase.h"
#include "spend/spend.h"
#include "../spend/helpers.h"  // FakeClock, TempDir

namespace purchase_test {

using namespace sw;

inline json load_vector(const char* name) {
  std::ifstream f(std::string(SW_VECTORS_DIR) + "/" + name);
  REQUIRE(f.good());
  return json::parse(f);
}

inline std::string hex(const crypto::Hash32& h) { return hex_encode(h.data(), h.size()); }

// ---------------------------------------------------------------- BOLT 11 minting (test side, from the spec text)
namespace detail {
constexpr const char* kCharset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

inline uint32_t polymod(const std::vector<uint8_t>& values) {
  static const uint32_t kGen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
  uint32_t chk = 1;
  for (uint8_t v : values) {
    const uint32_t top = chk >> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (int i = 0; i < 5; ++i)
      if ((top >> i) & 1) chk ^= kGen[i];
  }
  return chk;
}

inline std::string bech32(const std::string& hrp, const std::vector<uint8_t>& words) {
  std::vector<uint8_t> v;
  for (char c : hrp) v.push_back(static_cast<uint8_t>(c) >> 5);
  v.push_back(0);
  for (char c : hrp) v.push_back(static_cast<uint8_t>(c) & 31);
  v.insert(v.end(), words.begin(), words.end());
  v.insert(v.end(), 6, 0);
  const uint32_t mod = polymod(v) ^ 1;
  std::string out = hrp + "1";
  for (uint8_t w : words) out.push_back(kCharset[w]);
  for (int i = 0; i < 6; ++i) out.push_back(kCharset[(mod >> (5 * (5 - i))) & 31]);
  return out;
}

inline std::vector<uint8_t> to_words(const uint8_t* bytes, size_t n) {
  std::vector<uint8_t> out;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; ++i) {
    acc = (acc << 8) | bytes[i];
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push_back(static_cast<uint8_t>((acc >> bits) & 31));
    }
  }
  if (bits > 0) out.push_back(static_cast<uint8_t>((acc << (5 - bits)) & 31));
  return out;
}

inline void tagged(std::vector<uint8_t>& words, uint8_t type, const std::vector<uint8_t>& data) {
  words.push_back(type);
  words.push_back(static_cast<uint8_t>(data.size() >> 5));
  words.push_back(static_cast<uint8_t>(data.size() & 31));
  words.insert(words.end(), data.begin(), data.end());
}
}  // namespace detail

// A signed mainnet invoice for `amount_sats` paying to `payment_hash_hex`, created at `timestamp` (expiry 3600 s).
inline std::string mint_invoice(const std::string& payment_hash_hex, uint64_t amount_sats, int64_t timestamp,
                                const std::string& description = "satwarden purchase test") {
  const std::string hrp = "lnbc" + std::to_string(amount_sats * 10) + "n";  // 1 sat = 10 nano-BTC
  std::vector<uint8_t> words;
  for (int i = 6; i >= 0; --i) words.push_back(static_cast<uint8_t>((static_cast<uint64_t>(timestamp) >> (5 * i)) & 31));
  auto hash = hex_decode(payment_hash_hex);
  REQUIRE(hash);
  REQUIRE(hash->size() == 32);
  detail::tagged(words, 1, detail::to_words(hash->data(), hash->size()));  // p
  const Bytes secret(32, 0x42);
  detail::tagged(words, 16, detail::to_words(secret.data(), secret.size()));  // s
  detail::tagged(words, 13, detail::to_words(reinterpret_cast<const uint8_t*>(description.data()),
                                             description.size()));  // d
  // Signed message: hrp bytes || the data words regrouped into bytes, zero-padded.
  Bytes msg(hrp.begin(), hrp.end());
  uint32_t acc = 0;
  int bits = 0;
  for (uint8_t w : words) {
    acc = (acc << 5) | w;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      msg.push_back(static_cast<uint8_t>((acc >> bits) & 0xff));
    }
  }
  if (bits > 0) msg.push_back(static_cast<uint8_t>((acc << (8 - bits)) & 0xff));
  const auto digest = crypto::sha256(msg);
  static secp256k1_context* ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
  const auto key = crypto::sha256(std::string_view("satwarden purchase test signing key"));
  secp256k1_ecdsa_recoverable_signature rs;
  REQUIRE(secp256k1_ecdsa_sign_recoverable(ctx, &rs, digest.data(), key.data(), nullptr, nullptr) == 1);
  uint8_t sig[65];
  int recid = 0;
  secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx, sig, &recid, &rs);
  sig[64] = static_cast<uint8_t>(recid);
  auto sig_words = detail::to_words(sig, sizeof sig);
  REQUIRE(sig_words.size() == 104);
  words.insert(words.end(), sig_words.begin(), sig_words.end());
  return detail::bech32(hrp, words);
}

// ---------------------------------------------------------------- offers (what the paywall charges for)
struct Offer {
  std::string invoice, payment_hash, preimage;
  std::string macaroon;  // L402 macaroon bound to payment_hash (base64 std)
};

// The vector's offer first, then `extra` fresh ones: own preimage, own invoice, own macaroon with the same
// caveats (services=weather:0, weather_valid_until=1900000000) and root key as the vector's.
inline std::vector<Offer> make_offers(const json& l402, size_t extra) {
  std::vector<Offer> out;
  out.push_back(Offer{l402["invoice"], l402["payment_hash_hex"], l402["preimage_hex"], l402["macaroon_v2_base64_std"]});
  auto inv = bolt11::decode(out[0].invoice);
  REQUIRE(inv);
  const auto root = hex_decode(l402["root_key_hex"].get<std::string>());
  REQUIRE(root);
  for (size_t i = 1; i <= extra; ++i) {
    Offer o;
    const auto pre = crypto::sha256(std::string_view("purchase test preimage " + std::to_string(i)));
    o.preimage = hex(pre);
    o.payment_hash = hex(crypto::sha256(pre.data(), pre.size()));
    o.invoice = mint_invoice(o.payment_hash, 10, inv->timestamp);
    macaroon::L402Identifier id;
    std::copy_n(hex_decode(o.payment_hash)->begin(), 32, id.payment_hash.begin());
    const auto token = crypto::sha256(std::string_view("token " + std::to_string(i)));
    std::copy(token.begin(), token.end(), id.token_id.begin());
    auto m = macaroon::mint(*root, macaroon::encode_l402_identifier(id), std::string("lsat"),
                            {"services=weather:0", "weather_valid_until=1900000000"});
    o.macaroon = macaroon::encode_v2_base64(m);
    out.push_back(o);
  }
  return out;
}

// ---------------------------------------------------------------- the wallet
// Pays invoices whose preimage it knows. Scripted: a pay that times out (after paying, or without paying), and
// what lookup_invoice answers for a payment it executed ("settled", "pending", "failed", "NOT_FOUND").
struct FakeWallet : wallet::Wallet {
  std::mutex mu;
  std::map<std::string, std::string> preimages;  // payment hash → preimage
  std::set<std::string> executed;                // payment hashes it actually paid
  int pay_calls = 0, lookups = 0;
  bool timeout_after_paying = false;              // pays, then the reply is lost
  std::optional<Error> pay_error;                 // answers this without paying
  std::string lookup_answer = "settled";          // for executed payments; others are NOT_FOUND
  std::optional<Error> lookup_error;
  std::optional<uint64_t> fee_msat = 3;
  // When set, pay_invoice waits (without holding `mu`) until `gate_open` — a slow wallet, for concurrent calls.
  bool gated = false;
  std::mutex gate_mu;
  std::condition_variable gate_cv;
  bool gate_open = false;
  void open_gate() {
    {
      std::lock_guard lk(gate_mu);
      gate_open = true;
    }
    gate_cv.notify_all();
  }

  void know(const std::vector<Offer>& offers) {
    for (const auto& o : offers) preimages[o.payment_hash] = o.preimage;
  }
  int pays() {
    std::lock_guard lk(mu);
    return static_cast<int>(executed.size());
  }

  Result<wallet::Info> get_info() override {
    wallet::Info i;
    i.network = "mainnet";
    i.methods = {"pay_invoice", "lookup_invoice", "get_info"};
    return i;
  }
  Result<uint64_t> get_balance_msat() override { return uint64_t{100'000'000}; }
  Result<wallet::PayResult> pay_invoice(const std::string& invoice, std::optional<uint64_t>) override {
    if (gated) {
      std::unique_lock g(gate_mu);
      gate_cv.wait(g, [&] { return gate_open; });
    }
    std::lock_guard lk(mu);
    ++pay_calls;
    if (pay_error) return *pay_error;
    auto inv = bolt11::decode(invoice);
    if (!inv || !preimages.count(inv->payment_hash)) return make_error("PAYMENT_FAILED", "no route");
    executed.insert(inv->payment_hash);
    if (timeout_after_paying) return make_error("WALLET_TIMEOUT", "no reply from the wallet within 60 s");
    return wallet::PayResult{preimages[inv->payment_hash], fee_msat};
  }
  Result<json> make_invoice(const wallet::MakeInvoiceParams&) override {
    return make_error("WALLET_NOT_IMPLEMENTED", "not here");
  }
  Result<json> lookup_invoice(const std::string& hash, const std::string&) override {
    std::lock_guard lk(mu);
    ++lookups;
    if (lookup_error) return *lookup_error;
    if (!executed.count(hash) || lookup_answer == "NOT_FOUND") return make_error("NOT_FOUND", "transaction not found");
    json tx{{"type", "outgoing"}, {"state", lookup_answer}, {"payment_hash", hash}};
    if (lookup_answer == "settled") {
      tx["preimage"] = preimages[hash];
      if (fee_msat) tx["fees_paid"] = *fee_msat;
    }
    return tx;
  }
  Result<json> list_transactions(const wallet::ListParams&) override { return json{{"transactions", json::array()}}; }
  Result<json> get_budget() override { return json::object(); }
  Result<wallet::PayResult> pay_keysend(const wallet::KeysendParams&) override {
    return make_error("WALLET_NOT_IMPLEMENTED", "not here");
  }
  void set_notification_handler(wallet::NotificationHandler) override {}
};

// ---------------------------------------------------------------- the paid API
// https://api.example.com: L402 routes (service "weather") and MPP routes. Every 402 carries the next unused offer
// (a fresh invoice). An L402 credential is accepted when the macaroon's signature holds under the root key, its
// identifier's payment hash is sha256(preimage) and it was not revoked (revoked → 401). An MPP route answers a
// request carrying an L402 credential with a degraded Payment challenge (no invoice), as the issue describes, and
// accepts a Payment credential whose preimage pays the challenge it issued.
struct FakeApi {
  std::vector<Offer> offers;
  size_t next = 0;
  Bytes root_key;
  std::set<std::string> l402_paths = {"/weather", "/forecast"};
  std::set<std::string> mpp_paths = {"/mpp"};
  std::set<std::string> revoked;                    // payment hashes
  std::map<std::string, std::string> mpp_issued;   // challenge id → payment hash
  struct Seen {
    std::string path;
    std::string authorization;  // "" when none
    int status = 0;
  };
  std::vector<Seen> seen;
  int accepted = 0;

  static std::optional<std::string> header(const fetch::Request& r, const char* name) {
    for (const auto& [k, v] : r.headers)
      if (ascii_iequals(k, name)) return v;
    return std::nullopt;
  }

  fetch::Response respond(int status, const std::string& body,
                          std::vector<std::pair<std::string, std::string>> headers = {}) {
    fetch::Response r;
    r.status = status;
    r.body = body;
    r.content_type = "text/plain";
    r.headers = std::move(headers);
    return r;
  }

  Result<fetch::Response> challenge_l402() {
    if (next >= offers.size()) return respond(500, "out of invoices");
    const Offer& o = offers[next++];
    return respond(402, "payment required",
                   {{"www-authenticate", "L402 macaroon=\"" + o.macaroon + "\", invoice=\"" + o.invoice + "\""}});
  }

  Result<fetch::Response> challenge_mpp() {
    if (next >= offers.size()) return respond(500, "out of invoices");
    const Offer& o = offers[next++];
    challenge::MppChallenge c;
    c.realm = "api.example.com";
    c.method = "lightning";
    c.intent = "charge";
    auto request = challenge::jcs_serialize(json{{"amount", "10"},
                                                 {"currency", "sat"},
                                                 {"description", "mpp test resource"},
                                                 {"methodDetails", {{"invoice", o.invoice}, {"network", "mainnet"}}}});
    REQUIRE(request);
    c.request = challenge::base64url_encode(std::string_view(*request));
    c.id = challenge::mpp_challenge_id(to_bytes("mpp secret"), c);
    mpp_issued[c.id] = o.payment_hash;
    return respond(402, "payment required", {{"www-authenticate", challenge::serialize_mpp_challenge(c)}});
  }

  bool l402_valid(const std::string& auth) {
    const size_t sp = auth.find(' ');
    const size_t colon = auth.rfind(':');
    if (sp == std::string::npos || colon == std::string::npos || colon < sp) return false;
    if (auth.substr(0, sp) != "L402" && auth.substr(0, sp) != "LSAT") return false;
    auto m = macaroon::decode(auth.substr(sp + 1, colon - sp - 1));
    if (!m || !macaroon::signature_valid(*m, root_key)) return false;
    auto b = macaroon::l402_binding(*m);
    auto pre = hex_decode(auth.substr(colon + 1));
    if (!b || !pre) return false;
    return hex(crypto::sha256(*pre)) == b->payment_hash_hex && !revoked.count(b->payment_hash_hex);
  }

  bool mpp_valid(const std::string& auth) {
    auto cred = challenge::validate_credential(auth);
    if (!cred) return false;
    auto it = mpp_issued.find(cred->challenge.id);
    if (it == mpp_issued.end() || !cred->payload.contains("preimage")) return false;
    auto pre = hex_decode(cred->payload["preimage"].get<std::string>());
    return pre && hex(crypto::sha256(*pre)) == it->second;
  }

  std::mutex mu;  // calls may come from several threads
  size_t seen_count() {
    std::lock_guard lk(mu);
    return seen.size();
  }

  Result<fetch::Response> handle(const fetch::Request& rq) {
    std::lock_guard lk(mu);
    auto url = fetch::parse_url(rq.url);
    if (!url) return url.error();
    const std::string path = url->target.substr(0, url->target.find('?'));
    const std::string auth = header(rq, "authorization").value_or("");
    Result<fetch::Response> out = respond(404, "not found");
    if (l402_paths.count(path)) {
      if (auth.empty() || auth.rfind("Payment", 0) == 0) {
        out = challenge_l402();
      } else if (l402_valid(auth)) {
        ++accepted;
        out = respond(200, "data for " + path);
      } else {
        out = respond(401, "credential refused");
      }
    } else if (mpp_paths.count(path)) {
      if (auth.empty()) {
        out = challenge_mpp();
      } else if (auth.rfind("L402", 0) == 0 || auth.rfind("LSAT", 0) == 0) {
        out = respond(402, "payment required",
                      {{"www-authenticate", "Payment realm=\"api.example.com\", method=\"lightning\""}});
      } else if (mpp_valid(auth)) {
        ++accepted;
        out = respond(200, "data for " + path);
      } else {
        out = respond(401, "credential refused");
      }
    }
    seen.push_back(Seen{path, auth, out ? out->status : 0});
    return out;
  }

  size_t requests_to(const std::string& path) const {
    size_t n = 0;
    for (const auto& s : seen) n += s.path == path;
    return n;
  }
};

// ---------------------------------------------------------------- the world
struct World {
  spend_test::TempDir tmp;  // first: removed after the ledger is closed
  json l402 = load_vector("l402.json");
  std::vector<Offer> offers;
  std::unique_ptr<spend_test::FakeClock> clock;
  FakeWallet wallet;
  FakeApi api;
  pay::PayerOptions payer_options;
  std::unique_ptr<spend::Ledger> ledger;
  std::unique_ptr<pay::Payer> payer;
  std::unique_ptr<purchase::Paywall> paywall;
  spend::Owner owner{"agent", "", false};
  purchase::Options paywall_options;

  explicit World(pay::PayerOptions popts = {}, size_t extra_offers = 8) : payer_options(popts) {
    offers = make_offers(l402, extra_offers);
    auto inv = bolt11::decode(offers[0].invoice);
    REQUIRE(inv);
    clock = std::make_unique<spend_test::FakeClock>(inv->timestamp + 60);
    wallet.know(offers);
    api.offers = offers;
    api.root_key = *hex_decode(l402["root_key_hex"].get<std::string>());
    open();
  }
  void open() {
    auto l = spend::Ledger::open(tmp.file("ledger.sqlite"), spend::Policy{}, *clock);
    REQUIRE(l);
    ledger = std::move(*l);
    payer = std::make_unique<pay::Payer>(&wallet, ledger.get(), *clock, payer_options);
    paywall = std::make_unique<purchase::Paywall>(
        payer.get(), ledger.get(),
        [this](const fetch::Request& r, const fetch::Options&, std::function<bool()>) { return api.handle(r); },
        paywall_options, *clock);
  }
  void restart() {
    paywall.reset();
    payer.reset();
    ledger.reset();
    open();
  }

  Result<purchase::AccessResult> access(const std::string& path, bool never_pay = false) {
    purchase::AccessRequest rq;
    rq.url = "https://api.example.com" + path;
    rq.max_sats = 100;
    rq.owner = owner;
    rq.never_pay = never_pay;
    return paywall->access(rq);
  }

  spend::Payment payment(const std::string& hash) {
    auto p = ledger->get_payment(hash);
    REQUIRE(p);
    return *p;
  }
};

}  // namespace purchase_test
