#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <sodium.h>

#include <stdexcept>

#include "crypto/crypto.h"

namespace sw::crypto {

Hash32 sha256(const uint8_t* data, size_t len) {
  Hash32 out;
  SHA256(data, len, out.data());
  return out;
}

Hash32 hmac_sha256(const uint8_t* key, size_t key_len, const uint8_t* data, size_t len) {
  Hash32 out;
  unsigned int out_len = 32;
  HMAC(EVP_sha256(), key, static_cast<int>(key_len), data, len, out.data(), &out_len);
  return out;
}

Hash32 hkdf_extract(const uint8_t* salt, size_t salt_len, const uint8_t* ikm, size_t ikm_len) {
  return hmac_sha256(salt, salt_len, ikm, ikm_len);
}

Bytes hkdf_expand(const uint8_t* prk, size_t prk_len, const uint8_t* info, size_t info_len, size_t out_len) {
  Bytes out;
  out.reserve(out_len);
  Bytes t;
  uint8_t counter = 1;
  while (out.size() < out_len) {
    Bytes block(t);
    block.insert(block.end(), info, info + info_len);
    block.push_back(counter++);
    Hash32 h = hmac_sha256(prk, prk_len, block.data(), block.size());
    t.assign(h.begin(), h.end());
    size_t take = std::min<size_t>(32, out_len - out.size());
    out.insert(out.end(), h.begin(), h.begin() + take);
    wipe(block.data(), block.size());
    wipe(h.data(), h.size());
  }
  wipe(t.data(), t.size());  // intermediate blocks are key material
  return out;
}

namespace {
struct SodiumInit {
  SodiumInit() {
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
  }
};
}  // namespace

void random_bytes(uint8_t* out, size_t len) {
  static SodiumInit init;
  randombytes_buf(out, len);
}

Bytes random_bytes(size_t len) {
  Bytes b(len);
  random_bytes(b.data(), len);
  return b;
}

bool ct_equal(const uint8_t* a, const uint8_t* b, size_t len) { return CRYPTO_memcmp(a, b, len) == 0; }

bool ct_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace sw::crypto
