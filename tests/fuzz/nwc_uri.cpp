// NIP-47 connection URIs (NWC_URL from the environment or the config file; pasted by users from wallets):
// nostr::parse_nwc_uri. Properties: a parsed URI has a valid wallet key, ≥ 1 ws(s) relay and a valid client key;
// its redacted form never contains the secret and parses to the same wallet and relays.
#include "fuzz.h"
#include "nostr/nostr.h"

using namespace sw;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto uri = nostr::parse_nwc_uri(fuzz::as_text(data, size));
  if (!uri) {
    SW_FUZZ_CHECK(uri.error().code == "INVALID_NWC_URL");
    return 0;
  }
  SW_FUZZ_CHECK(uri->secret.valid());
  SW_FUZZ_CHECK(uri->wallet_pubkey_hex.size() == 64 && uri->client_pubkey_hex.size() == 64);
  SW_FUZZ_CHECK(!uri->relays.empty());
  for (const auto& r : uri->relays) {
    const std::string l = ascii_lower(r);  // the scheme is case-insensitive; relays are kept as given
    SW_FUZZ_CHECK(l.rfind("ws://", 0) == 0 || l.rfind("wss://", 0) == 0);
  }
  const std::string secret_hex = hex_encode(uri->secret.data(), 32);
  const std::string redacted = nostr::redacted_nwc_uri(*uri);
  // The redacted form does not depend on the secret: the same URI with another secret redacts to the same text. So
  // the secret's hex can appear in it only where the author's relay URLs or lud16 spell it (as given, or across a
  // percent-escape: a relay "/'1a8c…" encodes as "%271a8c…"), and then the other key's redaction shows it too.
  nostr::NwcUri other;
  other.wallet_pubkey_hex = uri->wallet_pubkey_hex;
  other.relays = uri->relays;
  other.lud16 = uri->lud16;
  auto other_key = crypto::SecretKey::from_hex(secret_hex == std::string(63, '0') + "1" ? std::string(63, '0') + "2"
                                                                                         : std::string(63, '0') + "1");
  SW_FUZZ_CHECK(other_key.ok());
  other.secret = std::move(*other_key);
  other.client_pubkey_hex = other.secret.public_key_hex();
  const std::string redacted_other = nostr::redacted_nwc_uri(other);
  SW_FUZZ_CHECK(redacted == redacted_other);
  SW_FUZZ_CHECK(redacted.find(secret_hex) == std::string::npos ||
                redacted_other.find(secret_hex) != std::string::npos);
  // With the placeholder replaced by a known key, the redacted form is a URI for the same wallet and relays.
  std::string fixed = redacted;
  const size_t at = fixed.find("secret=REDACTED");
  SW_FUZZ_CHECK(at != std::string::npos);
  fixed.replace(at + 7, 8, "0000000000000000000000000000000000000000000000000000000000000001");
  auto again = nostr::parse_nwc_uri(fixed);
  SW_FUZZ_CHECK(again.ok());
  SW_FUZZ_CHECK(again->wallet_pubkey_hex == uri->wallet_pubkey_hex);
  SW_FUZZ_CHECK(again->relays == uri->relays);
  return 0;
}
