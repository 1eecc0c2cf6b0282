#include <catch2/catch.hpp>

#include "wallet/nwc_wallet.h"

using namespace sw;
using namespace sw::wallet;

TEST_CASE("every NIP-47 code maps to a stable code, unknown ones to WALLET_OTHER") {
  CHECK(map_nip47_code("RATE_LIMITED") == "WALLET_RATE_LIMITED");
  CHECK(map_nip47_code("NOT_IMPLEMENTED") == "WALLET_NOT_IMPLEMENTED");
  CHECK(map_nip47_code("INSUFFICIENT_BALANCE") == "INSUFFICIENT_BALANCE");
  CHECK(map_nip47_code("QUOTA_EXCEEDED") == "WALLET_QUOTA_EXCEEDED");
  CHECK(map_nip47_code("RESTRICTED") == "WALLET_RESTRICTED");
  CHECK(map_nip47_code("UNAUTHORIZED") == "WALLET_UNAUTHORIZED");
  CHECK(map_nip47_code("INTERNAL") == "WALLET_INTERNAL");
  CHECK(map_nip47_code("UNSUPPORTED_ENCRYPTION") == "WALLET_UNSUPPORTED_ENCRYPTION");
  CHECK(map_nip47_code("PAYMENT_FAILED") == "PAYMENT_FAILED");
  CHECK(map_nip47_code("NOT_FOUND") == "NOT_FOUND");
  CHECK(map_nip47_code("OTHER") == "WALLET_OTHER");
  CHECK(map_nip47_code("BRAND_NEW") == "WALLET_OTHER");
  CHECK(map_nip47_code("") == "WALLET_OTHER");
}

TEST_CASE("which payment failures are definite") {
  for (const char* c : {"PAYMENT_FAILED", "INSUFFICIENT_BALANCE", "WALLET_QUOTA_EXCEEDED", "WALLET_RESTRICTED",
                        "RELAY_UNREACHABLE", "WALLET_RATE_LIMITED"})
    CHECK(is_definite_payment_failure(make_error(c, "")));
  for (const char* c : {"WALLET_TIMEOUT", "WALLET_INTERNAL", "WALLET_OTHER", "INVALID_WALLET_RESPONSE"})
    CHECK_FALSE(is_definite_payment_failure(make_error(c, "")));
}

TEST_CASE("connect refuses a bad URI without echoing its secret") {
  std::string secret = "71a8c14c1407c113601079c4302dab36460f0ccd0ad506f1f2dc73b5100e4f3c";
  auto w = NwcWallet::connect("nostr+walletconnect://nothex?relay=wss%3A%2F%2Fr.example&secret=" + secret);
  REQUIRE_FALSE(w);
  CHECK(w.error().code == "INVALID_NWC_URL");
  CHECK(w.error().message.find(secret.substr(0, 12)) == std::string::npos);
}

TEST_CASE("a wallet whose relays are unreachable fails fast with RELAY_UNREACHABLE naming them") {
  NwcOptions o;
  o.publish_timeout = std::chrono::milliseconds(500);
  o.info_timeout = std::chrono::milliseconds(300);
  o.read_timeout = std::chrono::milliseconds(500);
  auto w = NwcWallet::connect(
      "nostr+walletconnect://b889ff5b1513b641e2a139f661a661364979c5beee91842f8f0ef42ab558e9d4?relay=ws%3A%2F%2F127.0.0.1%3A9"
      "&secret=71a8c14c1407c113601079c4302dab36460f0ccd0ad506f1f2dc73b5100e4f3c",
      o);
  REQUIRE(w);
  auto b = (*w)->get_balance_msat();
  REQUIRE_FALSE(b);
  CHECK(b.error().code == "RELAY_UNREACHABLE");
  CHECK(b.error().message.find("ws://127.0.0.1:9") != std::string::npos);
  CHECK(is_definite_payment_failure(b.error()));
}
