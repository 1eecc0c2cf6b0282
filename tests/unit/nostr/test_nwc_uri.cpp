// NIP-47 connection URI parsing: accepted variants, every rejection path, and that no error leaks the secret.
#include <catch2/catch.hpp>

#include "nostr/nostr.h"

using namespace sw;
using namespace sw::nostr;

namespace {

const std::string kWallet = "b889ff5b1513b641e2a139f661a661364979c5beee91842f8f0ef42ab558e9d4";
const std::string kSecret = "71a8c14c1407c113601079c4302dab36460f0ccd0ad506f1f2dc73b5100e4f3c";
const std::string kClientPub = "3ba6db4896124383fdaa5f7d42c25f9df1b128a280928baeb3f3fa36d25506f9";
const std::string kNipExample =
    "nostr+walletconnect://b889ff5b1513b641e2a139f661a661364979c5beee91842f8f0ef42ab558e9d4?relay=wss%3A%2F%2F"
    "relay.damus.io&secret=71a8c14c1407c113601079c4302dab36460f0ccd0ad506f1f2dc73b5100e4f3c";

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// Asserts rejection with INVALID_NWC_URL and that neither the secret (any 8-char window, either case) nor the
// whole URI appears in the message or details.
void expect_reject(const std::string& uri, const std::string& secret_in_uri = kSecret) {
  INFO(uri);
  auto r = parse_nwc_uri(uri);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "INVALID_NWC_URL");
  std::string all = r.error().message + r.error().details.dump();
  if (!trim(uri).empty()) CHECK(all.find(std::string(trim(uri))) == std::string::npos);
  for (const std::string& s : {secret_in_uri, upper(secret_in_uri)}) {
    for (size_t i = 0; i + 8 <= s.size(); i += 4) {
      INFO(all);
      CHECK(all.find(s.substr(i, 8)) == std::string::npos);
    }
  }
}

std::string uri_with(const std::string& query, const std::string& host = kWallet,
                     const std::string& scheme = "nostr+walletconnect://") {
  return scheme + host + "?" + query;
}

}  // namespace

TEST_CASE("NWC URI: the NIP-47 example", "[nwc]") {
  auto r = parse_nwc_uri(kNipExample);
  REQUIRE(r);
  CHECK(r->wallet_pubkey_hex == kWallet);
  CHECK(hex_encode(r->wallet_pubkey.data(), 32) == kWallet);
  CHECK(r->relays == std::vector<std::string>{"wss://relay.damus.io"});
  CHECK(r->secret.valid());
  CHECK(hex_encode(r->secret.data(), 32) == kSecret);
  CHECK(r->client_pubkey_hex == kClientPub);
  CHECK_FALSE(r->lud16);
  std::string red = redacted_nwc_uri(*r);
  CHECK(red.find(kSecret) == std::string::npos);
  CHECK(red == "nostr+walletconnect://" + kWallet + "?relay=wss%3A%2F%2Frelay.damus.io&secret=REDACTED");
}

TEST_CASE("NWC URI: accepted variants", "[nwc]") {
  const std::string q = "relay=wss%3A%2F%2Frelay.damus.io&secret=" + kSecret;
  for (const std::string& u :
       {uri_with(q, kWallet, "nostrwalletconnect://"), uri_with(q, kWallet, "nostr+walletconnect:"),
        uri_with(q, kWallet, "nostrwalletconnect:"), uri_with(q, kWallet, "NOSTR+WalletConnect://"),
        uri_with(q, kWallet + "/"), uri_with(q + "#frag"), "  " + uri_with(q) + "\n",
        uri_with("secret=" + kSecret + "&relay=wss://relay.damus.io"),  // unencoded relay, other order
        uri_with("&&" + q + "&unknown=1&name=My+App&")}) {
    INFO(u);
    auto r = parse_nwc_uri(u);
    REQUIRE(r);
    CHECK(r->relays == std::vector<std::string>{"wss://relay.damus.io"});
    CHECK(r->client_pubkey_hex == kClientPub);
  }
  // Several relays, duplicates dropped, order kept; ws:// allowed; lud16 decoded.
  auto r = parse_nwc_uri(uri_with("relay=wss%3A%2F%2Fa.example&relay=ws%3A%2F%2F127.0.0.1%3A7777%2Fpath%3Fx%3D1"
                                  "&relay=wss%3A%2F%2Fa.example&secret=" + kSecret + "&lud16=agent%40example.com"));
  REQUIRE(r);
  CHECK(r->relays == std::vector<std::string>{"wss://a.example", "ws://127.0.0.1:7777/path?x=1"});
  REQUIRE(r->lud16);
  CHECK(*r->lud16 == "agent@example.com");
  // An unusable lud16 is dropped without failing the connection.
  auto r2 = parse_nwc_uri(uri_with(q + "&lud16=%0A"));
  REQUIRE(r2);
  CHECK_FALSE(r2->lud16);
}

TEST_CASE("NWC URI: rejections never echo the secret", "[nwc]") {
  const std::string relay = "relay=wss%3A%2F%2Frelay.damus.io";
  expect_reject("");
  expect_reject("   ");
  expect_reject(kSecret);  // no scheme at all
  expect_reject(uri_with(relay + "&secret=" + kSecret, kWallet, "https://"));
  expect_reject(uri_with(relay + "&secret=" + kSecret, kWallet, "nostr+walletconnect2://"));
  expect_reject(uri_with(relay + "&secret=" + kSecret, kWallet, "nostr+walletconnect//"));
  expect_reject("nostr+walletconnect://" + kWallet);  // no query
  // wallet pubkey
  expect_reject(uri_with(relay + "&secret=" + kSecret, upper(kWallet)));
  expect_reject(uri_with(relay + "&secret=" + kSecret, kWallet.substr(2)));
  expect_reject(uri_with(relay + "&secret=" + kSecret, kWallet + "00"));
  expect_reject(uri_with(relay + "&secret=" + kSecret, std::string(64, 'f')));  // not on the curve
  expect_reject(uri_with(relay + "&secret=" + kSecret, ""));
  expect_reject(uri_with(relay + "&secret=" + kSecret, "user@" + kWallet));
  // relays
  expect_reject(uri_with("secret=" + kSecret));
  expect_reject(uri_with("relay=&secret=" + kSecret));
  expect_reject(uri_with("relay=https%3A%2F%2Frelay.damus.io&secret=" + kSecret));
  expect_reject(uri_with("relay=relay.damus.io&secret=" + kSecret));
  expect_reject(uri_with("relay=wss%3A%2F%2F&secret=" + kSecret));
  expect_reject(uri_with("relay=wss%3A%2F%2Frelay+damus.io&secret=" + kSecret));  // '+' is a space
  expect_reject(uri_with("relay=wss%3A%2F%2Frelay%0A.io&secret=" + kSecret));
  expect_reject(uri_with("relay=wss%3A%2F%2Fuser%40host&secret=" + kSecret));
  expect_reject(uri_with(relay + "&relay=ftp%3A%2F%2Fx&secret=" + kSecret));
  // secret
  expect_reject(uri_with(relay));
  expect_reject(uri_with(relay + "&secret="));
  expect_reject(uri_with(relay + "&secret=" + kSecret.substr(1)), kSecret.substr(1));
  expect_reject(uri_with(relay + "&secret=" + kSecret + "0"), kSecret + "0");
  expect_reject(uri_with(relay + "&secret=" + upper(kSecret)));
  expect_reject(uri_with(relay + "&secret=" + kSecret.substr(0, 63) + "g"), kSecret.substr(0, 63) + "g");
  expect_reject(uri_with(relay + "&secret=" + std::string(64, '0')), std::string(64, '0'));
  const std::string n = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
  expect_reject(uri_with(relay + "&secret=" + n), n);
  expect_reject(uri_with(relay + "&secret=" + kSecret + "&secret=" + kSecret));
  // percent-encoding
  expect_reject(uri_with(relay + "&secret=" + kSecret + "%zz"));
  expect_reject(uri_with(relay + "&secret=" + kSecret + "%4"));
  expect_reject(uri_with("relay=wss%3A%2F%2Frelay.damus.io%&secret=" + kSecret));
  // length ceiling
  expect_reject(uri_with(relay + "&secret=" + kSecret + "&pad=" + std::string(kMaxNwcUriLength, 'x')));
}

TEST_CASE("NWC URI: percent-encoded secret is decoded before validation", "[nwc]") {
  std::string enc;
  for (char c : kSecret) {
    enc += '%';
    enc += "0123456789ABCDEF"[static_cast<unsigned char>(c) >> 4];
    enc += "0123456789ABCDEF"[static_cast<unsigned char>(c) & 0xf];
  }
  auto r = parse_nwc_uri(uri_with("relay=wss%3A%2F%2Frelay.damus.io&secret=" + enc));
  REQUIRE(r);
  CHECK(r->client_pubkey_hex == kClientPub);
}
