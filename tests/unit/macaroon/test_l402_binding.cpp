// l402_binding(): every identifier layout in tests/vectors/l402-identifiers.json (minted by lsat-js 2.0.6 and the
// `macaroon` package, plus Aperture's layout from l402.json), the unreadable cases, and the strictness rules the
// header documents (length decides the layout, version 0 only, hex of any case, nothing trimmed or guessed).
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "crypto/crypto.h"
#include "macaroon/macaroon.h"

using namespace sw;
using namespace sw::macaroon;

namespace {

json load_vectors() {
  std::ifstream f(std::string(SW_VECTORS_DIR) + "/l402-identifiers.json");
  REQUIRE(f.good());
  std::stringstream ss;
  ss << f.rdbuf();
  return json::parse(ss.str());
}

Bytes hexb(const std::string& h) {
  auto b = hex_decode(h);
  REQUIRE(b);
  return *b;
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

L402Identifier sample_id(uint8_t hash_byte, uint8_t token_byte) {
  L402Identifier id;
  id.payment_hash.fill(hash_byte);
  id.token_id.fill(token_byte);
  return id;
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

TEST_CASE("l402_binding: every vector minted by lsat-js, the macaroon package and Aperture's layout") {
  auto v = load_vectors();
  const auto& cases = v.at("cases");
  size_t hex = 0, binary = 0, unread = 0, cross_checked = 0;
  for (const auto& c : cases) {
    const std::string name = c.at("name").get<std::string>();
    INFO(name);
    auto m = decode(c.at("macaroon_base64").get<std::string>());
    REQUIRE(m.ok());
    CHECK(hex_encode(m->identifier) == c.at("identifier_hex").get<std::string>());
    auto b = l402_binding(*m);
    auto direct = l402_binding(m->identifier);
    REQUIRE(b.ok() == direct.ok());
    const auto& expect = c.at("expect");
    if (expect.at("binding") == "bound") {
      REQUIRE(b.ok());
      CHECK(b->payment_hash_hex == expect.at("payment_hash_hex").get<std::string>());
      CHECK(direct->payment_hash_hex == b->payment_hash_hex);
      CHECK(layout_name(b->layout) == expect.at("layout").get<std::string>());
      CHECK(b->identifier.version == 0);
      CHECK(hex_encode(b->identifier.payment_hash.data(), 32) == b->payment_hash_hex);
      (b->layout == IdentifierLayout::Hex ? hex : binary)++;
      // The payment hash is sha256(preimage) where the vector gives the preimage (a full, payable exchange).
      if (c.contains("preimage_hex")) {
        Bytes pre = hexb(c["preimage_hex"].get<std::string>());
        auto h = crypto::sha256(pre.data(), pre.size());
        CHECK(hex_encode(h.data(), h.size()) == b->payment_hash_hex);
      }
      // lsat-js reads the same hash from every layout it minted.
      if (c.contains("lsat_js_reads")) {
        CHECK(c["lsat_js_reads"].value("payment_hash_hex", std::string("<lsat-js error>")) == b->payment_hash_hex);
        ++cross_checked;
      }
    } else {
      REQUIRE(expect.at("binding") == "unreadable");
      REQUIRE_FALSE(b.ok());
      CHECK(b.error().code == kIdentifierUnreadable);
      CHECK(b.error().code == "L402_IDENTIFIER_UNREADABLE");
      CHECK(direct.error().message == b.error().message);
      CHECK(contains(b.error().message, expect.at("why").get<std::string>()));
      CHECK(contains(b.error().message, "not an L402 v0 identifier"));
      // Never the identifier's contents: not its hex, and not the text of a textual identifier.
      CHECK_FALSE(contains(b.error().message, c.at("identifier_hex").get<std::string>().substr(8, 40)));
      std::string text = to_string(m->identifier);
      if (text.size() > 20) CHECK_FALSE(contains(b.error().message, text.substr(10, 20)));
      ++unread;
    }
  }
  // The file holds each layout, each minted by lsat-js at least once, and the negative cases.
  CHECK(hex >= 4);
  CHECK(binary >= 3);
  CHECK(unread >= 14);
  CHECK(cross_checked >= 5);
  CHECK(hex + binary + unread == cases.size());
}

TEST_CASE("l402_binding: lsat-js's challenge carries a hex-identifier macaroon bound to its invoice's hash") {
  auto v = load_vectors();
  const json* withc = nullptr;
  for (const auto& c : v["cases"])
    if (c.contains("challenge")) withc = &c;
  REQUIRE(withc);
  const std::string challenge = (*withc)["challenge"].get<std::string>();
  const std::string mac = (*withc)["macaroon_base64"].get<std::string>();
  CHECK(challenge == "LSAT macaroon=\"" + mac + "\", invoice=\"" + (*withc)["invoice"].get<std::string>() + "\"");
  auto m = decode(mac);
  REQUIRE(m.ok());
  std::vector<std::string> cavs;
  for (const auto& c : m->caveats) cavs.push_back(to_string(c.identifier));
  CHECK(cavs == (*withc)["caveats"].get<std::vector<std::string>>());
  CHECK(signature_valid(*m, hexb(v["root_key_hex"].get<std::string>())));
  auto b = l402_binding(*m);
  REQUIRE(b.ok());
  CHECK(b->layout == IdentifierLayout::Hex);
  CHECK(b->payment_hash_hex == (*withc)["expect"]["payment_hash_hex"].get<std::string>());
}

TEST_CASE("l402_binding: the two layouts, any hex case, the decoded fields") {
  L402Identifier id = sample_id(0xab, 0xcd);
  Bytes bin = encode_l402_identifier(id);
  REQUIRE(bin.size() == 66);
  auto b = l402_binding(bin);
  REQUIRE(b.ok());
  CHECK(b->layout == IdentifierLayout::Binary);
  std::string ab;
  for (int i = 0; i < 32; ++i) ab += "ab";
  CHECK(b->payment_hash_hex == ab);
  CHECK(b->identifier.token_id == id.token_id);
  CHECK(std::string(layout_name(IdentifierLayout::Binary)) == "binary");
  CHECK(std::string(layout_name(IdentifierLayout::Hex)) == "hex");

  const std::string lower = hex_encode(bin);
  for (const std::string& text : {lower, upper(lower), lower.substr(0, 66) + upper(lower.substr(66))}) {
    INFO(text);
    auto h = l402_binding(to_bytes(text));
    REQUIRE(h.ok());
    CHECK(h->layout == IdentifierLayout::Hex);
    CHECK(h->payment_hash_hex == b->payment_hash_hex);  // always lower-case
    CHECK(h->identifier.token_id == id.token_id);
  }
}

TEST_CASE("l402_binding: strict — version 0 only, exact lengths, nothing trimmed") {
  const Bytes bin = encode_l402_identifier(sample_id(0x11, 0x22));
  const std::string hex = hex_encode(bin);
  auto unreadable = [](const Bytes& id) {
    auto r = l402_binding(id);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "L402_IDENTIFIER_UNREADABLE");
    return r.error().message;
  };
  // Every non-zero version, in both layouts, is unreadable and named.
  for (uint16_t version : {uint16_t(1), uint16_t(2), uint16_t(0x00ff), uint16_t(0x0100), uint16_t(0xffff)}) {
    INFO(version);
    Bytes v = bin;
    v[0] = static_cast<uint8_t>(version >> 8);
    v[1] = static_cast<uint8_t>(version & 0xff);
    auto m = unreadable(v);
    CHECK(contains(m, "66 bytes with version " + std::to_string(version)));
    auto mh = unreadable(to_bytes(hex_encode(v)));
    CHECK(contains(mh, "132 hex characters with version " + std::to_string(version)));
  }
  // Lengths around both layouts.
  for (size_t n : {size_t(0), size_t(1), size_t(2), size_t(34), size_t(65), size_t(67), size_t(98), size_t(131),
                   size_t(133), size_t(264)}) {
    INFO(n);
    Bytes id(n, '0');
    auto m = unreadable(id);
    CHECK(contains(m, n == 0 ? "it is empty" : std::to_string(n) + " bytes"));
  }
  // 132 bytes that are not all hex digits: every character class a sloppy server might produce.
  for (char bad : {'g', 'G', 'x', ' ', '\n', '\r', '\t', '\0', '-', '+', '/', '='}) {
    for (size_t at : {size_t(0), size_t(3), size_t(70), size_t(131)}) {
      INFO(int(bad) << " at " << at);
      Bytes t = to_bytes(hex);
      t[at] = static_cast<uint8_t>(bad);
      CHECK(contains(unreadable(t), "not all of them are hex digits"));
    }
  }
  Bytes high = to_bytes(hex);
  high[10] = 0xc3;  // a non-ASCII byte
  unreadable(high);
  // Whitespace around otherwise valid hex is not trimmed (no implementation mints it; see the header).
  CHECK(contains(unreadable(to_bytes(hex + "\n")), "133 bytes"));
  CHECK(contains(unreadable(to_bytes(" " + hex)), "133 bytes"));
  CHECK(contains(unreadable(to_bytes("0x" + hex)), "134 bytes"));
  // A 66-character hex string (33 bytes as text) lands on the binary length: its "version" is ASCII, so unreadable.
  CHECK(contains(unreadable(to_bytes(hex.substr(0, 66))), "66 bytes with version 12336"));
  // The valid ones still bind (the loop above only ever changed copies).
  CHECK(l402_binding(bin).ok());
  CHECK(l402_binding(to_bytes(hex)).ok());
}

TEST_CASE("l402_binding: any serialization of the same identifier binds the same") {
  Bytes key = to_bytes("root key for binding tests");
  const Bytes bin = encode_l402_identifier(sample_id(0x5a, 0x01));
  const std::string expect = hex_encode(bin.data() + 2, 32);
  for (const Bytes& ident : {bin, to_bytes(hex_encode(bin))}) {
    Macaroon m = mint(key, ident, std::string("https://x.example"), {"services=a:0"});
    for (const std::string& text : {encode_v2_base64(m), encode_v2_base64(m, true, false)}) {
      auto d = decode(text);
      REQUIRE(d.ok());
      auto b = l402_binding(*d);
      REQUIRE(b.ok());
      CHECK(b->payment_hash_hex == expect);
      CHECK(b->layout == (ident.size() == 66 ? IdentifierLayout::Binary : IdentifierLayout::Hex));
    }
  }
}
