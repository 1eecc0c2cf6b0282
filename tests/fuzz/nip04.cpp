// NIP-04 decryption (legacy wallets' responses from relays) with a fixed shared key — the one of the legacy NWC
// request in tests/vectors/nostr-events.json, so its payload decrypts. Each input is used as a payload text; as
// data this target encrypts itself (AES-256-CBC/PKCS#7, so decryption reaches the UTF-8 check, and once more
// without padding, so it reaches the padding check); and as a plaintext for the round trip encrypt → decrypt.
#include <openssl/evp.h>

#include "crypto/crypto.h"
#include "fuzz.h"

using namespace sw;
namespace nip04 = sw::crypto::nip04;

namespace {

const crypto::SecretKey& client_key() {
  static const crypto::SecretKey sk =
      crypto::SecretKey::from_hex("71a8c14c1407c113601079c4302dab36460f0ccd0ad506f1f2dc73b5100e4f3c").value();
  return sk;
}

const crypto::Secret32& shared_key() {
  static const crypto::Secret32 k = [] {
    auto peer = crypto::parse_xonly_pubkey_hex("4069227f5c91153f5987b4ee515bf898b05380882354dae2092785a5aa05ab7b");
    auto s = crypto::ecdh_x(client_key(), *peer);
    return s.value();
  }();
  return k;
}

// base64(AES-256-CBC(data)) + "?iv=" + base64(iv), with or without PKCS#7 padding (without: data is cut to whole
// blocks). Empty when there is nothing to encrypt.
std::string seal(const uint8_t* data, size_t n, bool pad) {
  if (!pad) n -= n % 16;
  if (n == 0 && !pad) return "";
  const uint8_t iv[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  Bytes ct(n + 16);
  int n1 = 0, n2 = 0;
  bool ok = EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), nullptr, shared_key().data(), iv) == 1 &&
            EVP_CIPHER_CTX_set_padding(ctx, pad ? 1 : 0) == 1 &&
            EVP_EncryptUpdate(ctx, ct.data(), &n1, data, static_cast<int>(n)) == 1 &&
            EVP_EncryptFinal_ex(ctx, ct.data() + n1, &n2) == 1;
  EVP_CIPHER_CTX_free(ctx);
  SW_FUZZ_CHECK(ok);
  ct.resize(static_cast<size_t>(n1 + n2));
  return base64_encode(ct) + "?iv=" + base64_encode(iv, sizeof iv);
}

void check_error(const Error& e) {
  const std::string& c = e.code;
  SW_FUZZ_CHECK(c == "NIP04_INVALID_PAYLOAD" || c == "NIP04_PAYLOAD_TOO_LARGE" || c == "NIP04_DECRYPT_FAILED");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  const auto& key = shared_key();

  auto plain = nip04::decrypt_with_shared(text, key, 1 << 20);
  if (!plain) check_error(plain.error());
  else SW_FUZZ_CHECK(crypto::valid_utf8(*plain));

  auto padded = nip04::decrypt_with_shared(seal(data, size, true), key);
  if (padded) SW_FUZZ_CHECK(*padded == text);
  else SW_FUZZ_CHECK(!crypto::valid_utf8(text) && padded.error().code == "NIP04_DECRYPT_FAILED");

  const std::string raw = seal(data, size, false);
  if (!raw.empty()) {
    auto r = nip04::decrypt_with_shared(raw, key);
    if (!r) check_error(r.error());
  }

  if (crypto::valid_utf8(text)) {
    std::array<uint8_t, 16> iv;
    iv.fill(static_cast<uint8_t>(size));
    auto enc = nip04::encrypt_with_shared(text, key, iv);
    SW_FUZZ_CHECK(enc.ok());
    auto dec = nip04::decrypt_with_shared(*enc, key);
    SW_FUZZ_CHECK(dec.ok() && *dec == text);
    if (size % 7 == 0) {  // now and then through the key-pair API (an ECDH per call)
      auto peer = crypto::parse_xonly_pubkey_hex("4069227f5c91153f5987b4ee515bf898b05380882354dae2092785a5aa05ab7b");
      auto dec2 = nip04::decrypt(*enc, client_key(), *peer);
      SW_FUZZ_CHECK(dec2.ok() && *dec2 == text);
    }
  }
  return 0;
}
