// BOLT 11 decoder tests: every official example (tests/vectors/bolt11.json), edge cases, to_json shape.
#include <catch2/catch.hpp>
#include <secp256k1.h>
#include <secp256k1_recovery.h>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

#include <cctype>
#include <cstdint>
#include <fstream>
#include <set>
#include <sstream>

#include "bolt11/bolt11.h"
#include "crypto/crypto.h"

using sw::json;
namespace b11 = sw::bolt11;

namespace {

const json& vectors() {
  static const json j = [] {
    std::ifstream f(std::string(SW_VECTORS_DIR) + "/bolt11.json");
    REQUIRE(f.good());
    std::stringstream ss;
    ss << f.rdbuf();
    return json::parse(ss.str());
  }();
  return j;
}

const json& valid_by_note(const std::string& needle) {
  for (const auto& v : vectors()["valid"]) {
    if (v.value("note", "").find(needle) != std::string::npos) return v;
  }
  FAIL("no valid vector with note containing " << needle);
  static json none;
  return none;
}

const json& invalid_by_title(const std::string& needle) {
  for (const auto& v : vectors()["invalid"]) {
    if (v.value("title", "").find(needle) != std::string::npos) return v;
  }
  FAIL("no invalid vector with title containing " << needle);
  static json none;
  return none;
}

bool is_stale(const json& v) { return v.contains("valid_under_current_normative_text") &&
                                      !v["valid_under_current_normative_text"].get<bool>(); }

std::string err_of(std::string_view text) {
  auto r = b11::decode(text);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "INVALID_INVOICE");
  return r.error().message;
}

// A well-formed invoice used as a base for edge cases ($3 coffee, 2500u, x=60).
std::string coffee() { return valid_by_note("cup of coffee")["invoice"].get<std::string>(); }

}  // namespace

TEST_CASE("bolt11: vector file has the expected shape") {
  REQUIRE(vectors()["valid"].size() == 16);
  REQUIRE(vectors()["invalid"].size() == 10);
}

TEST_CASE("bolt11: every valid example decodes with every field as expected") {
  int checked = 0;
  for (const auto& v : vectors()["valid"]) {
    if (is_stale(v)) continue;  // covered by its own test below
    const std::string text = v["invoice"];
    const json& e = v["expected"];
    INFO("note: " << v.value("note", ""));
    auto r = b11::decode(text);
    REQUIRE(r.ok());
    const b11::Invoice& inv = *r;

    CHECK(inv.network == e["network"].get<std::string>());
    CHECK(inv.hrp_prefix == e["currency_prefix"].get<std::string>());
    if (e["amount_msat"].is_null()) {
      CHECK_FALSE(inv.amount_msat.has_value());
    } else {
      REQUIRE(inv.amount_msat.has_value());
      CHECK(*inv.amount_msat == e["amount_msat"].get<uint64_t>());
    }
    CHECK(inv.timestamp == e["timestamp"].get<int64_t>());
    CHECK(inv.payment_hash == e["payment_hash"].get<std::string>());
    CHECK(inv.payment_secret == e["payment_secret"].get<std::string>());
    if (e["description"].is_null()) {
      CHECK_FALSE(inv.description.has_value());
    } else {
      REQUIRE(inv.description.has_value());
      CHECK(*inv.description == e["description"].get<std::string>());
    }
    if (e["description_hash"].is_null()) {
      CHECK_FALSE(inv.description_hash.has_value());
    } else {
      REQUIRE(inv.description_hash.has_value());
      CHECK(*inv.description_hash == e["description_hash"].get<std::string>());
    }
    CHECK(inv.expiry == e["expiry"].get<uint64_t>());
    CHECK(inv.expiry_explicit == e["expiry_explicit"].get<bool>());
    CHECK(inv.min_final_cltv_expiry_delta == e["min_final_cltv_expiry_delta"].get<uint64_t>());
    CHECK(inv.min_final_cltv_explicit == e["min_final_cltv_expiry_delta_explicit"].get<bool>());
    CHECK(inv.expires_at() == e["expires_at"].get<int64_t>());

    REQUIRE(inv.fallbacks.size() == e["fallback_addresses"].size());
    for (size_t i = 0; i < inv.fallbacks.size(); ++i) {
      const json& f = e["fallback_addresses"][i];
      CHECK(inv.fallbacks[i].version == f["version"].get<int>());
      CHECK(inv.fallbacks[i].address == f["address"].get<std::string>());
      CHECK(inv.fallbacks[i].hex == f.value("hash_hex", f.value("program_hex", std::string("?"))));
    }

    REQUIRE(inv.route_hints.size() == e["route_hints"].size());
    for (size_t i = 0; i < inv.route_hints.size(); ++i) {
      REQUIRE(inv.route_hints[i].size() == e["route_hints"][i].size());
      for (size_t k = 0; k < inv.route_hints[i].size(); ++k) {
        const auto& h = inv.route_hints[i][k];
        const json& eh = e["route_hints"][i][k];
        CHECK(h.pubkey == eh["pubkey"].get<std::string>());
        CHECK(h.short_channel_id_str == eh["short_channel_id"].get<std::string>());
        CHECK(h.short_channel_id == eh["short_channel_id_u64"].get<uint64_t>());
        CHECK(h.fee_base_msat == eh["fee_base_msat"].get<uint32_t>());
        CHECK(h.fee_proportional_millionths == eh["fee_proportional_millionths"].get<uint32_t>());
        CHECK(h.cltv_expiry_delta == eh["cltv_expiry_delta"].get<uint16_t>());
      }
    }

    CHECK(inv.feature_bits == e["features"]["bits"].get<std::vector<int>>());
    if (e["metadata"].is_null()) {
      CHECK_FALSE(inv.metadata.has_value());
    } else {
      REQUIRE(inv.metadata.has_value());
      CHECK(*inv.metadata == e["metadata"].get<std::string>());
    }
    CHECK(inv.payee == e["payee_pubkey"].get<std::string>());
    CHECK(inv.payee_from_n == e["payee_from_n_field"].get<bool>());
    CHECK(inv.recovery_id == e["recovery_id"].get<int>());
    CHECK(inv.signature == e["signature_rs_hex"].get<std::string>());
    CHECK(inv.high_s == e["high_s"].get<bool>());
    CHECK(inv.signing_hash == e["signing_hash_hex"].get<std::string>());
    CHECK(inv.skipped_fields.size() == e["unknown_fields_skipped"].size());
    ++checked;
  }
  CHECK(checked == 15);
}

TEST_CASE("bolt11: high-S example recovers 02d0139c..., not the usual node") {
  const json& v = valid_by_note("high-S");
  auto r = b11::decode(v["invoice"].get<std::string>());
  REQUIRE(r.ok());
  CHECK(r->high_s);
  CHECK_FALSE(r->payee_from_n);
  CHECK(r->payee == "02d0139ce7427d6dfffd26a326c18be754ef1e64672b42694ba5b23ef6e6e7803d");
  CHECK(r->payee != vectors()["signing_node_pubkey"].get<std::string>());
}

TEST_CASE("bolt11: examples recover the BOLT 11 example node id") {
  auto r = b11::decode(valid_by_note("donation")["invoice"].get<std::string>());
  REQUIRE(r.ok());
  CHECK(r->payee == vectors()["signing_node_pubkey"].get<std::string>());
  CHECK(r->payee == "03e7156ae33b0a208d0744199163177e909e80176e55d97a2f221ede0f934dd9ad");
  CHECK_FALSE(r->high_s);
}

TEST_CASE("bolt11: stale 'fields which must be ignored' example is rejected deliberately") {
  // Since lightning/bolts PR #1243 (2025-06-03) a reader MUST fail on p/h/s/n with a wrong data_length; this
  // 2020 example still sits among the valid ones. We follow the current normative text (see decode.cpp).
  const json& v = valid_by_note("fields which must be ignored");
  REQUIRE(is_stale(v));
  const std::string msg = err_of(v["invoice"].get<std::string>());
  CHECK(msg == "payment hash (p) has data_length 51, expected 52");
}

TEST_CASE("bolt11: every invalid example is rejected") {
  for (const auto& v : vectors()["invalid"]) {
    INFO("title: " << v["title"].get<std::string>());
    auto r = b11::decode(v["invoice"].get<std::string>());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "INVALID_INVOICE");
    CHECK_FALSE(r.error().message.empty());
  }
}

TEST_CASE("bolt11: invalid examples fail for the stated reason") {
  CHECK(err_of(invalid_by_title("unknown feature 100")["invoice"].get<std::string>()) ==
        "unknown required feature bit 100");
  CHECK(err_of(invalid_by_title("checksum is invalid")["invoice"].get<std::string>()) == "bad checksum");
  CHECK(err_of(invalid_by_title("(no 1)")["invoice"].get<std::string>()) == "no separator '1'");
  CHECK(err_of(invalid_by_title("mixed case")["invoice"].get<std::string>()) == "mixed case");
  CHECK(err_of(invalid_by_title("not recoverable")["invoice"].get<std::string>()) == "signature is not recoverable");
  CHECK(err_of(invalid_by_title("too short")["invoice"].get<std::string>()).find("too short") == 0);
  CHECK(err_of(invalid_by_title("Invalid multiplier")["invoice"].get<std::string>()) ==
        "invalid amount multiplier 'x'");
  CHECK(err_of(invalid_by_title("sub-millisatoshi")["invoice"].get<std::string>()).find("sub-millisatoshi") == 0);
  CHECK(err_of(invalid_by_title("Missing required `s`")["invoice"].get<std::string>()) ==
        "missing payment secret (s)");
  // This example repeats an identical `s` field; the identical repeat is tolerated, so the signature is reached.
  CHECK(err_of(invalid_by_title("high-S")["invoice"].get<std::string>()) == "high-S signature with n field");
}

TEST_CASE("bolt11: lightning: prefix, whitespace and upper case") {
  const std::string base = coffee();
  auto plain = b11::decode(base);
  REQUIRE(plain.ok());
  for (const std::string& variant : {"lightning:" + base, "LIGHTNING:" + base, "LightNing:" + base,
                                     "  \n" + base + " \t\r\n"}) {
    auto r = b11::decode(variant);
    REQUIRE(r.ok());
    CHECK(r->payment_hash == plain->payment_hash);
    CHECK(r->payee == plain->payee);
  }
  std::string upper = base;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto u = b11::decode("lightning:" + upper);
  REQUIRE(u.ok());
  CHECK(*u->amount_msat == 250000000);
  CHECK(u->signing_hash == plain->signing_hash);
  // "lightning://" is not the scheme; the leftover "//" is not bech32.
  CHECK_FALSE(b11::decode("lightning://" + base).ok());
}

TEST_CASE("bolt11: empty, garbage, truncated, overlong") {
  CHECK(err_of("") == "empty invoice");
  CHECK(err_of("   \n") == "empty invoice");
  CHECK(err_of("lightning:") == "empty invoice");
  CHECK(err_of("hello world").find("invalid character") == 0);
  CHECK(err_of("notaninvoice") == "no separator '1'");
  CHECK(err_of("1qqqqqqqqqq") == "empty human-readable part");
  CHECK(err_of("lnbc1qqq").find("too short") == 0);
  CHECK(err_of("lnbc1bbbbbbbbbb").find("invalid bech32 character 'b'") == 0);
  CHECK(err_of("lnbc1\xe2\x82\xac").find("invalid character") == 0);
  const std::string base = coffee();
  // Truncations: anything that cuts the string breaks the checksum (or leaves no room for it).
  for (size_t cut : {size_t(1), size_t(6), size_t(50), base.size() / 2, base.size() - 11}) {
    CHECK_FALSE(b11::decode(base.substr(0, base.size() - cut)).ok());
  }
  // Single-character corruption is caught by the checksum.
  std::string flipped = base;
  flipped[base.size() / 2] = flipped[base.size() / 2] == 'q' ? 'p' : 'q';
  CHECK(err_of(flipped) == "bad checksum");
  std::string huge = "lnbc1" + std::string(b11::kMaxInvoiceChars, 'q');
  CHECK(err_of(huge).find("invoice too long") == 0);
}

// ---- synthetic invoices (signed with the BOLT 11 example key) to reach HRP and field branches ----
namespace {

constexpr const char* kCharset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

uint32_t polymod(const std::vector<uint8_t>& v) {
  static constexpr uint32_t g[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
  uint32_t chk = 1;
  for (uint8_t x : v) {
    uint32_t top = chk >> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ x;
    for (int i = 0; i < 5; ++i) if ((top >> i) & 1) chk ^= g[i];
  }
  return chk;
}

// Re-checksums hrp + data words (independent small encoder in the test, to build malformed-but-well-checksummed
// inputs; the signature is left as is, so only errors raised before the signature check are reachable).
std::string with_checksum(const std::string& hrp, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> v;
  for (char c : hrp) v.push_back(static_cast<uint8_t>(c >> 5));
  v.push_back(0);
  for (char c : hrp) v.push_back(static_cast<uint8_t>(c & 31));
  v.insert(v.end(), data.begin(), data.end());
  for (int i = 0; i < 6; ++i) v.push_back(0);
  uint32_t m = polymod(v) ^ 1;
  std::string out = hrp + "1";
  for (uint8_t x : data) out.push_back(kCharset[x]);
  for (int i = 0; i < 6; ++i) out.push_back(kCharset[(m >> (5 * (5 - i))) & 31]);
  return out;
}

std::vector<uint8_t> data_words(const std::string& invoice) {
  const size_t sep = invoice.rfind('1');
  std::vector<uint8_t> w;
  for (size_t i = sep + 1; i + 6 < invoice.size(); ++i) {
    w.push_back(static_cast<uint8_t>(std::string(kCharset).find(invoice[i])));
  }
  return w;
}

std::string hrp_of(const std::string& invoice) { return invoice.substr(0, invoice.rfind('1')); }

// Inserts a tagged field right after the timestamp.
std::vector<uint8_t> with_field(std::vector<uint8_t> w, uint8_t type, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> f = {type, static_cast<uint8_t>(data.size() / 32), static_cast<uint8_t>(data.size() % 32)};
  f.insert(f.end(), data.begin(), data.end());
  w.insert(w.begin() + 7, f.begin(), f.end());
  return w;
}

}  // namespace

TEST_CASE("bolt11: the test's re-checksum helper reproduces a real invoice") {
  const std::string base = coffee();
  CHECK(with_checksum(hrp_of(base), data_words(base)) == base);
}

namespace {

// Test-side signer (independent of the decoder's packing code): signs hrp || words packed 5->8 with zero padding,
// using the BOLT 11 example key from the vector file, and appends signature + checksum.
std::string sign_invoice(const std::string& hrp, const std::vector<uint8_t>& words, bool high_s = false) {
  std::vector<uint8_t> msg(hrp.begin(), hrp.end());
  uint32_t acc = 0;
  int bits = 0;
  for (uint8_t x : words) {
    acc = (acc << 5) | x;
    bits += 5;
    if (bits >= 8) { bits -= 8; msg.push_back(static_cast<uint8_t>((acc >> bits) & 0xff)); }
  }
  if (bits > 0) msg.push_back(static_cast<uint8_t>((acc << (8 - bits)) & 0xff));
  const auto h = sw::crypto::sha256(msg);
  static secp256k1_context* ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
  const auto key = sw::hex_decode(vectors()["signing_private_key"].get<std::string>());
  REQUIRE(key.has_value());
  secp256k1_ecdsa_recoverable_signature rs;
  REQUIRE(secp256k1_ecdsa_sign_recoverable(ctx, &rs, h.data(), key->data(), nullptr, nullptr) == 1);
  uint8_t sig[65];
  int recid = 0;
  secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx, sig, &recid, &rs);
  if (high_s) {  // s -> n - s (and the recovery parity flips), still a valid signature for the same key
    static const uint8_t n[32] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48,
                                  0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41};
    int borrow = 0;
    for (int i = 31; i >= 0; --i) {
      int d = n[i] - sig[32 + i] - borrow;
      borrow = d < 0;
      sig[32 + i] = static_cast<uint8_t>(d + (borrow ? 256 : 0));
    }
    recid ^= 1;
  }
  sig[64] = static_cast<uint8_t>(recid);
  std::vector<uint8_t> all = words;
  acc = 0;
  bits = 0;
  for (uint8_t byte : sig) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) { bits -= 5; all.push_back(static_cast<uint8_t>((acc >> bits) & 31)); }
  }
  REQUIRE(bits == 0);  // 520 bits = 104 words exactly
  return with_checksum(hrp, all);
}

std::vector<uint8_t> hex_words(const std::string& hex) {
  const auto b = sw::hex_decode(hex);
  REQUIRE(b.has_value());
  std::vector<uint8_t> w;
  uint32_t acc = 0;
  int bits = 0;
  for (uint8_t byte : *b) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) { bits -= 5; w.push_back(static_cast<uint8_t>((acc >> bits) & 31)); }
  }
  if (bits > 0) w.push_back(static_cast<uint8_t>((acc << (5 - bits)) & 31));
  return w;
}

// timestamp | p | s | d="" (zero-length) | extra fields (type, data words)
std::vector<uint8_t> base_words(const std::vector<std::pair<uint8_t, std::vector<uint8_t>>>& extra = {}) {
  const auto w = data_words(coffee());
  std::vector<uint8_t> out(w.begin(), w.begin() + 7);
  auto add = [&](uint8_t t, const std::vector<uint8_t>& d) {
    out.push_back(t);
    out.push_back(static_cast<uint8_t>(d.size() / 32));
    out.push_back(static_cast<uint8_t>(d.size() % 32));
    out.insert(out.end(), d.begin(), d.end());
  };
  add(1, hex_words(std::string(64, 'a')));
  add(16, hex_words(std::string(64, '1')));
  add(13, {});
  for (const auto& [t, d] : extra) add(t, d);
  return out;
}

const std::string kNode = "03e7156ae33b0a208d0744199163177e909e80176e55d97a2f221ede0f934dd9ad";

}  // namespace

TEST_CASE("bolt11: test signer reproduces an official example") {
  // The spec examples use RFC 6979 deterministic nonces, as does libsecp256k1's default nonce function.
  const std::string base = coffee();
  const auto w = data_words(base);
  CHECK(sign_invoice(hrp_of(base), std::vector<uint8_t>(w.begin(), w.end() - 104)) == base);
}

TEST_CASE("bolt11: HRP network prefixes and amount multipliers (signed)") {
  struct Case { const char* hrp; std::optional<uint64_t> msat; const char* network; };
  const Case cases[] = {
      {"lnbc", std::nullopt, "mainnet"}, {"lnbc1", 100000000000ULL, "mainnet"},
      {"lnbc2500u", 250000000ULL, "mainnet"}, {"lnbc20m", 2000000000ULL, "mainnet"},
      {"lnbc10n", 1000ULL, "mainnet"}, {"lnbc1n", 100ULL, "mainnet"}, {"lnbc9678785340p", 967878534ULL, "mainnet"},
      {"lnbc10p", 1ULL, "mainnet"}, {"lntb20m", 2000000000ULL, "testnet"},
      {"lntbs5u", 500000ULL, "signet"}, {"lntbs", std::nullopt, "signet"}, {"lnbcrt", std::nullopt, "regtest"},
      {"lnbcrt1m", 100000000ULL, "regtest"}, {"lnbc21000000", 2100000000000000000ULL, "mainnet"},
      {"lnbc21000000000m", 2100000000000000000ULL, "mainnet"},
  };
  const auto w = base_words();
  for (const auto& c : cases) {
    INFO("hrp " << c.hrp);
    auto r = b11::decode(sign_invoice(c.hrp, w));
    REQUIRE(r.ok());
    CHECK(r->network == c.network);
    CHECK(r->amount_msat == c.msat);
    CHECK(r->hrp_prefix == std::string(c.hrp).substr(0, r->hrp_prefix.size()));
    CHECK(r->payee == kNode);
    CHECK(r->description == std::optional<std::string>(""));
  }
}

TEST_CASE("bolt11: n field — verified, wrong key, high-S") {
  const auto n = hex_words(kNode);
  REQUIRE(n.size() == 53);
  auto ok = b11::decode(sign_invoice("lnbc1m", base_words({{19, n}})));
  REQUIRE(ok.ok());
  CHECK(ok->payee_from_n);
  CHECK(ok->payee == kNode);
  CHECK_FALSE(ok->high_s);
  // A different (valid) node id: the signature does not verify against it.
  const auto other = hex_words("029e03a901b85534ff1e92c43c74431f7ce72046060fcf7a95c37e148f78c77255");
  CHECK(err_of(sign_invoice("lnbc1m", base_words({{19, other}}))) == "signature does not match payee node id (n)");
  // Same key, high-S: rejected with n, accepted (same payee recovered) without n.
  CHECK(err_of(sign_invoice("lnbc1m", base_words({{19, n}}), true)) == "high-S signature with n field");
  auto hs = b11::decode(sign_invoice("lnbc1m", base_words(), true));
  REQUIRE(hs.ok());
  CHECK(hs->high_s);
  CHECK(hs->payee == kNode);
}

TEST_CASE("bolt11: fallback addresses use the invoice's network") {
  auto fb = [&](const char* hrp, uint8_t version, const std::string& hex) {
    std::vector<uint8_t> d = {version};
    const auto p = hex_words(hex);
    d.insert(d.end(), p.begin(), p.end());
    auto r = b11::decode(sign_invoice(hrp, base_words({{9, d}})));
    REQUIRE(r.ok());
    REQUIRE(r->fallbacks.size() == 1);
    CHECK(r->fallbacks[0].hex == hex);
    return r->fallbacks[0].address;
  };
  const std::string pkh = "3172b5654f6683c8fb146959d347ce303cae4ca7";
  const std::string wsh = "1863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262";
  CHECK(fb("lntb", 17, pkh) == "mk2QpYatsKicvFVuTAQLBryyccRXMUaGHP");
  CHECK(fb("lnbcrt", 17, pkh) == "mk2QpYatsKicvFVuTAQLBryyccRXMUaGHP");
  CHECK(fb("lnbc", 17, "04b61f7dc1ea0dc99424464cc4064dc564d91e89") == "1RustyRX2oai4EYYDpQGWvEL62BBGqN9T");
  CHECK(fb("lnbc", 18, "8f55563b9a19f321c211e9b9f38cdf686ea07845") == "3EktnHQD7RiAE6uzMj2ZifT9YgRrkSgzQX");
  // BIP-173 / BIP-350 test vectors.
  CHECK(fb("lntb", 0, wsh) == "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7");
  CHECK(fb("lntbs", 0, wsh) == "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7");
  CHECK(fb("lntb", 1, "000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433") ==
        "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c");
  CHECK(fb("lnbcrt", 0, "751e76e8199196d454941c45d1b3a323f1433bd6").rfind("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7k", 0) == 0);
  // Unknown version 19..31 is skipped and recorded.
  auto r = b11::decode(sign_invoice("lnbc", base_words({{9, {19, 1, 2, 3}}})));
  REQUIRE(r.ok());
  CHECK(r->fallbacks.empty());
  REQUIRE(r->skipped_fields.size() == 1);
  CHECK(r->skipped_fields[0].tag == 'f');
}

TEST_CASE("bolt11: route hints, metadata, expiry and cltv in signed invoices") {
  // One hop: pubkey | scid 0x000001_000002_0003 | fee_base 5 | ppm 7 | cltv 144
  const std::string hop = kNode + "0000010000020003" + "00000005" + "00000007" + "0090";
  auto r = b11::decode(sign_invoice("lnbc", base_words({{3, hex_words(hop + hop)}, {3, hex_words(hop)},
                                                        {27, hex_words("deadbeef")}, {6, {1, 0}}, {24, {31}}})));
  REQUIRE(r.ok());
  REQUIRE(r->route_hints.size() == 2);
  REQUIRE(r->route_hints[0].size() == 2);
  REQUIRE(r->route_hints[1].size() == 1);
  const auto& h = r->route_hints[0][1];
  CHECK(h.pubkey == kNode);
  CHECK(h.short_channel_id_str == "1x2x3");
  CHECK(h.short_channel_id == ((1ULL << 40) | (2ULL << 16) | 3));
  CHECK(h.fee_base_msat == 5);
  CHECK(h.fee_proportional_millionths == 7);
  CHECK(h.cltv_expiry_delta == 144);
  CHECK(r->metadata == std::optional<std::string>("deadbeef"));
  CHECK(r->expiry == 32);
  CHECK(r->min_final_cltv_expiry_delta == 31);
  const json j = b11::to_json(*r, 0);
  CHECK(j["route_hints"][1][0]["short_channel_id"] == "1x2x3");
  CHECK(j["expiry_seconds"] == 32);
}

TEST_CASE("bolt11: bad HRPs") {
  const auto w = data_words(coffee());
  CHECK(err_of(with_checksum("lnxy2500u", w)) == "unknown network prefix 'xy'");
  CHECK(err_of(with_checksum("lnsb1m", w)) == "unknown network prefix 'sb'");
  CHECK(err_of(with_checksum("lnbcx", w)) == "unknown network prefix 'bcx'");
  CHECK(err_of(with_checksum("bc2500u", w)) == "human-readable part must start with 'ln'");
  CHECK(err_of(with_checksum("lnbc2500001p", w)).find("sub-millisatoshi amount") == 0);
  CHECK(err_of(with_checksum("lnbc25x", w)) == "invalid amount multiplier 'x'");
  CHECK(err_of(with_checksum("lnbc0u", w)) == "amount has a leading zero or is zero");
  CHECK(err_of(with_checksum("lnbc025u", w)) == "amount has a leading zero or is zero");
  CHECK(err_of(with_checksum("lnbc2u5m", w)).find("amount contains a non-digit") == 0);
  CHECK(err_of(with_checksum("lnbc21000001", w)) == "amount exceeds 21,000,000 BTC");
  CHECK(err_of(with_checksum("lnbc184467440737096", w)) == "amount overflows 64-bit millisatoshis");
  CHECK(err_of(with_checksum("lnbc99999999999999999999p", w)) == "amount overflows 64-bit millisatoshis");
  CHECK(err_of(with_checksum("lnbc21000000001m", w)) == "amount exceeds 21,000,000 BTC");
}

TEST_CASE("bolt11: malformed tagged fields are rejected before the signature check") {
  const std::string base = coffee();
  const std::string hrp = hrp_of(base);
  const auto w = data_words(base);
  auto bad = [&](const std::vector<uint8_t>& words) { return err_of(with_checksum(hrp, words)); };

  CHECK(bad(with_field(w, 1, std::vector<uint8_t>(52, 1))) == "conflicting duplicate 'p' fields");
  CHECK(bad(with_field(w, 6, {1})) == "conflicting duplicate 'x' fields");
  CHECK(bad(with_field(w, 13, {0, 0})) == "conflicting duplicate 'd' fields");
  // Base invoice has d; add h -> both present.
  CHECK(bad(with_field(w, 23, std::vector<uint8_t>(52, 3))) ==
        "both description (d) and description hash (h) present");
  CHECK(bad(with_field(w, 23, std::vector<uint8_t>(51, 3))) == "description hash (h) has data_length 51, expected 52");
  CHECK(bad(with_field(w, 19, std::vector<uint8_t>(52, 3))) == "payee node id (n) has data_length 52, expected 53");
  CHECK(bad(with_field(w, 19, std::vector<uint8_t>(53, 0))) == "payee node id (n) is not a valid public key");
  CHECK(bad(with_field(w, 24, {0, 5})) ==
        "min_final_cltv_expiry_delta (c) has leading zero words (non-minimal encoding)");
  CHECK(bad(with_field(w, 24, std::vector<uint8_t>(13, 31))) == "min_final_cltv_expiry_delta (c) overflows 64 bits");
  CHECK(bad(with_field(w, 9, {})) == "fallback address (f) is empty");
  CHECK(bad(with_field(w, 9, {17, 0, 0})) == "fallback address (f) version 17 must carry 20 bytes");
  CHECK(bad(with_field(w, 9, {17, 1, 2})) == "fallback address (f) has invalid padding");
  CHECK(bad(with_field(w, 9, std::vector<uint8_t>(1 + 33, 0))) == "fallback address (f) has invalid padding");
  CHECK(bad(with_field(w, 9, {0, 0, 0, 0, 0})) == "fallback address (f) version 0 must carry 20 or 32 bytes");
  CHECK(bad(with_field(w, 9, {1, 0, 0})) == "fallback address (f) witness program must be 2..40 bytes");
  CHECK(bad(with_field(w, 3, std::vector<uint8_t>(81, 0))) == "route hint (r) length is not a multiple of 51 bytes");
  CHECK(bad(with_field(w, 3, std::vector<uint8_t>(82, 0))) == "route hint (r) hop 1 has an invalid node id");
  // The base already has a 9 field.
  CHECK(bad(with_field(w, 5, {1, 0})) == "conflicting duplicate '9' fields");
  // Truncated field header and overrun: the last field claims more than remains before the signature.
  // (Built with push_back: GCC 12 reports a false -Warray-bounds on vector::insert of small initializer lists.)
  auto frame = [&](const std::vector<uint8_t>& middle) {
    std::vector<uint8_t> out;
    for (size_t i = 0; i < 7; ++i) out.push_back(w[i]);
    for (uint8_t x : middle) out.push_back(x);
    for (size_t i = w.size() - 104; i < w.size(); ++i) out.push_back(w[i]);
    return out;
  };
  CHECK(bad(frame({1, 31, 31})) == "tagged field 'p' overruns the data part");  // p with data_length 1023
  CHECK(bad(frame({1, 0})) == "truncated tagged field header");                 // a header needs 3 words
  CHECK(bad(frame({})) == "missing payment hash (p)");
  // Invalid recovery id: set the last signature byte (>3) — byte 64 spans words 102-103 (bits 510..519).
  std::vector<uint8_t> recid = w;
  recid[recid.size() - 2] = 31;  // bits 510..514 -> the recovery byte becomes >= 0x7c
  CHECK(bad(recid).find("invalid signature recovery id") == 0);
}

TEST_CASE("bolt11: features and fallbacks in synthetic fields") {
  // Build an invoice from scratch: timestamp | p | s | d | extra | signature(of the coffee invoice).
  const std::string base = coffee();
  const auto w = data_words(base);
  auto build = [&](const std::vector<std::vector<uint8_t>>& fields) {
    std::vector<uint8_t> out(w.begin(), w.begin() + 7);
    auto add = [&](uint8_t t, const std::vector<uint8_t>& d) {
      out.push_back(t);
      out.push_back(static_cast<uint8_t>(d.size() / 32));
      out.push_back(static_cast<uint8_t>(d.size() % 32));
      out.insert(out.end(), d.begin(), d.end());
    };
    add(1, std::vector<uint8_t>(52, 0));
    add(16, std::vector<uint8_t>(52, 2));
    for (const auto& f : fields) add(f[0], std::vector<uint8_t>(f.begin() + 1, f.end()));
    out.insert(out.end(), w.end() - 104, w.end());
    return with_checksum("lnbc", out);
  };
  auto msg = [&](const std::vector<std::vector<uint8_t>>& fields) {
    auto r = b11::decode(build(fields));
    return r.ok() ? std::string("OK") : r.error().message;
  };
  const std::vector<uint8_t> d = {13, 0, 0};  // d = 0x00 (2 words -> 1 byte)
  // Signature is not ours, so a well-formed invoice ends at recovery: a different payee or "not recoverable".
  auto reaches_signature = [&](const std::string& m) {
    return m == "OK" || m == "signature is not recoverable";
  };
  CHECK(msg({}) == "missing description (d) or description hash (h)");
  CHECK(reaches_signature(msg({d})));
  CHECK(msg({d, {13, 0, 1}}) == "conflicting duplicate 'd' fields");
  CHECK(reaches_signature(msg({d, {13, 0, 0}})));  // identical repeat: tolerated
  CHECK(msg({{13, 31, 31, 16}}) == "description (d) is not valid UTF-8");  // 0xff
  CHECK(msg({{13, 24, 20, 2, 2}}) == "description (d) is not valid UTF-8");  // 0xc5 0x01: bad continuation
  CHECK(reaches_signature(msg({{13, 24, 22, 0, 0}})));                    // 0xc5 0x80 = U+0140
  CHECK(msg({d, {5, 1, 0, 0, 0, 0, 0, 0}}) == "unknown required feature bit 30");
  CHECK(reaches_signature(msg({d, {5, 2, 0, 0, 0, 0, 0, 0}})));  // bit 31: unknown odd -> ignored
  // bit 16 alone (word value 2 in the 4th word from the end): basic_mpp without payment_secret.
  CHECK(msg({d, {5, 2, 0, 0, 0}}) == "feature basic_mpp set without its dependency payment_secret");
  CHECK(reaches_signature(msg({d, {5, 2, 16, 0, 0}})));  // bits 16 + 14
  CHECK(reaches_signature(msg({d, {5, 0, 0, 0, 1}})));   // leading zero word in 9: tolerated
  CHECK(msg({d, {6, 0, 1}}) == "expiry (x) has leading zero words (non-minimal encoding)");
  CHECK(reaches_signature(msg({d, {6}})));               // zero-length x = 0
  CHECK(reaches_signature(msg({d, {2, 1, 2, 3}})));      // unknown type 2: skipped
}

TEST_CASE("bolt11: feature names") {
  CHECK(b11::feature_name(8) == std::optional<std::string>("var_onion_optin"));
  CHECK(b11::feature_name(15) == std::optional<std::string>("payment_secret"));
  CHECK(b11::feature_name(17) == std::optional<std::string>("basic_mpp"));
  CHECK(b11::feature_name(48) == std::optional<std::string>("option_payment_metadata"));
  CHECK(b11::feature_name(25) == std::optional<std::string>("option_route_blinding"));
  CHECK_FALSE(b11::feature_name(99).has_value());
  CHECK_FALSE(b11::feature_name(100).has_value());
  CHECK_FALSE(b11::feature_name(-1).has_value());
}

TEST_CASE("bolt11: expiry with an injected clock") {
  auto r = b11::decode(coffee());  // timestamp 1496314658, x = 60
  REQUIRE(r.ok());
  CHECK(r->expires_at() == 1496314718);
  CHECK_FALSE(r->expired(1496314658));
  CHECK_FALSE(r->expired(1496314717));
  CHECK(r->expired(1496314718));
  CHECK(r->expired(1800000000));
  CHECK(b11::to_json(*r, 1496314700)["expired"] == false);
  CHECK(b11::to_json(*r, 1496314800)["expired"] == true);
  b11::Invoice huge = *r;
  huge.expiry = UINT64_MAX;
  CHECK(huge.expires_at() == INT64_MAX);
  CHECK_FALSE(huge.expired(INT64_MAX - 1));
}

TEST_CASE("bolt11: description hash check") {
  auto r = b11::decode(valid_by_note("hashed")["invoice"].get<std::string>());
  REQUIRE(r.ok());
  const std::string text =
      "One piece of chocolate cake, one icecream cone, one pickle, one slice of swiss cheese, one slice of salami, "
      "one lollypop, one piece of cherry pie, one sausage, one cupcake, and one slice of watermelon";
  CHECK(b11::description_hash_matches(*r, text));
  CHECK_FALSE(b11::description_hash_matches(*r, text + "."));
  auto d = b11::decode(coffee());
  REQUIRE(d.ok());
  CHECK_FALSE(b11::description_hash_matches(*d, "1 cup coffee"));
}

TEST_CASE("bolt11: to_json shape and sats rounding") {
  auto r = b11::decode(valid_by_note("pico-BTC")["invoice"].get<std::string>());
  REQUIRE(r.ok());
  const json j = b11::to_json(*r, 1573073502);
  for (const char* k : {"amount_msat", "amount_sats", "payment_hash", "description", "description_hash", "payee",
                        "created_at", "expires_at", "expired", "expiry_seconds", "network",
                        "min_final_cltv_expiry_delta", "route_hints", "features", "fallback_addresses",
                        "payment_secret", "metadata"}) {
    INFO(k);
    CHECK(j.contains(k));
  }
  CHECK(j.size() == 17);
  CHECK(j["amount_msat"] == 967878534);
  CHECK(j["amount_sats"] == 967879);  // ceil(967878.534)
  CHECK(j["created_at"] == 1572468703);
  CHECK(j["expires_at"] == 1573073503);
  CHECK(j["expired"] == false);
  CHECK(j["expiry_seconds"] == 604800);
  CHECK(j["min_final_cltv_expiry_delta"] == 10);
  CHECK(j["network"] == "mainnet");
  CHECK(j["description_hash"].is_null());
  CHECK(j["metadata"].is_null());
  REQUIRE(j["route_hints"].size() == 1);
  CHECK(j["route_hints"][0][0] == json{{"pubkey", "03d06758583bb5154774a6eb221b1276c9e82d65bbaceca806d90e20c108f4b1c7"},
                                       {"short_channel_id", "589390x3312x1"},
                                       {"fee_base_msat", 1000},
                                       {"fee_proportional_millionths", 2500},
                                       {"cltv_expiry_delta", 40}});
  CHECK(j["features"] == json::parse(R"([{"bit":8,"name":"var_onion_optin","required":true},
                                         {"bit":14,"name":"payment_secret","required":true}])"));

  auto none = b11::decode(valid_by_note("donation")["invoice"].get<std::string>());
  REQUIRE(none.ok());
  const json jn = b11::to_json(*none, 0);
  CHECK(jn["amount_msat"].is_null());
  CHECK(jn["amount_sats"].is_null());

  auto fb = b11::decode(valid_by_note("P2TR")["invoice"].get<std::string>());
  REQUIRE(fb.ok());
  CHECK(b11::to_json(*fb, 0)["fallback_addresses"] ==
        json::parse(R"([{"version":1,"address":"bc1pptdvg0d2nj99568qn6ssdy4cygnwuxgw2ukmnwgwz7jpqjz2kszse2s3lm"}])"));
  auto feat = b11::decode(valid_by_note("features 8, 14 and 99")["invoice"].get<std::string>());
  REQUIRE(feat.ok());
  CHECK(b11::to_json(*feat, 0)["features"][2] == json{{"bit", 99}, {"name", "unknown"}, {"required", false}});
  auto meta = b11::decode(valid_by_note("metadata")["invoice"].get<std::string>());
  REQUIRE(meta.ok());
  CHECK(b11::to_json(*meta, 0)["metadata"] == "01fafaf0");
}

TEST_CASE("bolt11: output schema lists exactly the to_json keys as required") {
  std::ifstream f(std::string(SW_SCHEMAS_DIR) + "/decode_invoice.output.json");
  REQUIRE(f.good());
  std::stringstream ss;
  ss << f.rdbuf();
  const json schema = json::parse(ss.str());
  auto r = b11::decode(coffee());
  REQUIRE(r.ok());
  const json j = b11::to_json(*r, 0);
  std::set<std::string> required(schema["required"].begin(), schema["required"].end());
  std::set<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.insert(it.key());
  CHECK(required == keys);
  for (const auto& k : keys) {
    INFO(k);
    CHECK(schema["properties"].contains(k));
    CHECK(schema["properties"][k].contains("description"));
  }
}

// ---- schemas, checked with valijson (the validator the MCP layer uses) ----

namespace {

json load_schema(const std::string& name) {
  std::ifstream f(std::string(SW_SCHEMAS_DIR) + "/" + name);
  REQUIRE(f.good());
  std::stringstream ss;
  ss << f.rdbuf();
  return json::parse(ss.str());
}

bool conforms(const json& schema_doc, const json& doc) {
  valijson::Schema schema;
  valijson::SchemaParser parser;
  valijson::adapters::NlohmannJsonAdapter schema_adapter(schema_doc);
  parser.populateSchema(schema_adapter, schema);
  valijson::Validator validator;
  valijson::adapters::NlohmannJsonAdapter target(doc);
  return validator.validate(schema, target, nullptr);
}

}  // namespace

TEST_CASE("bolt11: to_json of every valid example conforms to decode_invoice.output.json") {
  const json schema = load_schema("decode_invoice.output.json");
  int n = 0;
  for (const auto& v : vectors()["valid"]) {
    if (is_stale(v)) continue;
    auto r = b11::decode(v["invoice"].get<std::string>());
    REQUIRE(r.ok());
    const json j = b11::to_json(*r, 1700000000);
    INFO(j.dump());
    CHECK(conforms(schema, j));
    ++n;
  }
  CHECK(n == 15);
  // The schema is not vacuous: broken documents are refused.
  auto r = b11::decode(valid_by_note("On mainnet, with fallback address 1RustyRX")["invoice"].get<std::string>());
  REQUIRE(r.ok());
  const json good = b11::to_json(*r, 0);
  REQUIRE(conforms(schema, good));
  json missing = good;
  missing.erase("payee");
  CHECK_FALSE(conforms(schema, missing));
  json wrong_type = good;
  wrong_type["amount_msat"] = "2000000000";
  CHECK_FALSE(conforms(schema, wrong_type));
  json extra = good;
  extra["surprise"] = 1;
  CHECK_FALSE(conforms(schema, extra));
  json bad_hop = good;
  bad_hop["route_hints"][0][0].erase("cltv_expiry_delta");
  CHECK_FALSE(conforms(schema, bad_hop));
  json null_amount = good;
  null_amount["amount_msat"] = nullptr;
  null_amount["amount_sats"] = nullptr;
  CHECK(conforms(schema, null_amount));
}

TEST_CASE("bolt11: decode_invoice.input.json") {
  const json schema = load_schema("decode_invoice.input.json");
  CHECK(conforms(schema, json{{"invoice", coffee()}}));
  CHECK(conforms(schema, json{{"invoice", "lightning:" + coffee()}}));
  CHECK_FALSE(conforms(schema, json::object()));
  CHECK_FALSE(conforms(schema, json{{"invoice", ""}}));
  CHECK_FALSE(conforms(schema, json{{"invoice", 5}}));
  CHECK_FALSE(conforms(schema, json{{"invoice", std::string(8001, 'q')}}));
  CHECK_FALSE(conforms(schema, json{{"invoice", coffee()}, {"extra", true}}));
}
