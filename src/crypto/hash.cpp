// OpenSSL's direct SHA-256 functions (SHA256_Init/Update/Final) are deprecated in 3.x but still built; we use them
// on purpose, see digest2 below. Builds without them (OPENSSL_NO_DEPRECATED_3_0, or a future OpenSSL that drops
// them) fall back to EVP.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sodium.h>

#include <cstring>
#include <stdexcept>

#include "crypto/crypto.h"

namespace sw::crypto {

namespace {
#if defined(OPENSSL_NO_DEPRECATED_3_0) || OPENSSL_VERSION_MAJOR >= 4
// EVP path. OpenSSL 3's one-shot SHA256()/HMAC() fetch the digest implementation on every call (~1.5 µs each,
// most of a short HMAC): we fetch SHA-256 once and reuse one digest context per thread.
const EVP_MD* sha256_md() {
  static const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md ? md : EVP_sha256();
}
struct DigestCtx {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~DigestCtx() { EVP_MD_CTX_free(ctx); }
};
EVP_MD_CTX* digest_ctx() {
  thread_local DigestCtx c;
  return c.ctx;
}
void digest2(const uint8_t* a, size_t alen, const uint8_t* b, size_t blen, uint8_t* out32) {
  EVP_MD_CTX* ctx = digest_ctx();
  unsigned int n = 32;
  if (EVP_DigestInit_ex(ctx, sha256_md(), nullptr) != 1 || EVP_DigestUpdate(ctx, a, alen) != 1 ||
      (blen && EVP_DigestUpdate(ctx, b, blen) != 1) || EVP_DigestFinal_ex(ctx, out32, &n) != 1)
    throw std::runtime_error("SHA-256 failed");  // allocation failure inside OpenSSL only
}
#else
// Direct path: the same assembly (SHA-NI / AVX2, picked from the CPU flags) as the EVP digest, without EVP's
// provider machinery. Any EVP fetch activates OpenSSL's default provider, which registers every algorithm it
// has and costs ~1 MB of RSS (libcrypto code and tables touched once, plus heap); SHA-256 is the only OpenSSL
// primitive on the NWC path, so this keeps the provider unloaded there. Also ~30% faster on short inputs.
void digest2(const uint8_t* a, size_t alen, const uint8_t* b, size_t blen, uint8_t* out32) {
  SHA256_CTX c;
  if (SHA256_Init(&c) != 1 || SHA256_Update(&c, a, alen) != 1 || (blen && SHA256_Update(&c, b, blen) != 1) ||
      SHA256_Final(out32, &c) != 1)
    throw std::runtime_error("SHA-256 failed");  // cannot happen: no allocation, no provider
  OPENSSL_cleanse(&c, sizeof c);  // the state can hold HMAC key material (inner/outer pads)
}
#endif
}  // namespace

Hash32 sha256(const uint8_t* data, size_t len) {
  Hash32 out;
  digest2(data, len, nullptr, 0, out.data());
  return out;
}

Hash32 hmac_sha256(const uint8_t* key, size_t key_len, const uint8_t* data, size_t len) {
  uint8_t k[64] = {0};
  if (key_len > 64) {
    digest2(key, key_len, nullptr, 0, k);
  } else if (key_len) {
    std::memcpy(k, key, key_len);
  }
  uint8_t pad[64];
  for (int i = 0; i < 64; ++i) pad[i] = k[i] ^ 0x36;
  uint8_t inner[32];
  digest2(pad, 64, data, len, inner);
  for (int i = 0; i < 64; ++i) pad[i] = k[i] ^ 0x5c;
  Hash32 out;
  digest2(pad, 64, inner, 32, out.data());
  OPENSSL_cleanse(k, sizeof k);
  OPENSSL_cleanse(pad, sizeof pad);
  OPENSSL_cleanse(inner, sizeof inner);
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
