// NIP-04 (legacy): AES-256-CBC with PKCS#7 padding, key = raw ECDH X. OpenSSL EVP does the cipher.
#include <openssl/evp.h>

#include <memory>

#include "crypto/crypto.h"
#include "crypto/internal.h"

namespace sw::crypto::nip04 {

namespace {

constexpr std::string_view kIvSep = "?iv=";

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

Error err(const char* code, const char* msg) { return make_error(code, msg); }

}  // namespace

Result<std::string> encrypt_with_shared(std::string_view plaintext, const Secret32& key,
                                        const std::optional<std::array<uint8_t, 16>>& fixed_iv) {
  if (!valid_utf8(plaintext)) return err("NIP04_INVALID_PLAINTEXT", "plaintext is not valid UTF-8");
  if (plaintext.size() > (size_t{1} << 30)) return err("NIP04_INVALID_PLAINTEXT", "plaintext too large");
  std::array<uint8_t, 16> iv;
  if (fixed_iv) iv = *fixed_iv;
  else random_bytes(iv.data(), iv.size());

  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return err("NIP04_ENCRYPT_FAILED", "cipher context allocation failed");
  Bytes ct(plaintext.size() + 16);
  int n1 = 0, n2 = 0;
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_cbc(), nullptr, key.data(), iv.data()) != 1 ||
      EVP_EncryptUpdate(ctx.get(), ct.data(), &n1, reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), ct.data() + n1, &n2) != 1)
    return err("NIP04_ENCRYPT_FAILED", "AES-256-CBC encryption failed");
  ct.resize(static_cast<size_t>(n1 + n2));
  return base64_encode(ct) + std::string(kIvSep) + base64_encode(iv.data(), iv.size());
}

Result<std::string> decrypt_with_shared(std::string_view payload, const Secret32& key, size_t max_payload_chars) {
  if (payload.size() > max_payload_chars) return err("NIP04_PAYLOAD_TOO_LARGE", "payload exceeds the local size limit");
  size_t sep = payload.find(kIvSep);
  if (sep == std::string_view::npos || payload.find(kIvSep, sep + 1) != std::string_view::npos)
    return err("NIP04_INVALID_PAYLOAD", "payload must be base64(ciphertext)?iv=base64(iv)");
  auto ct = detail::strict_base64_decode(payload.substr(0, sep));
  auto iv = detail::strict_base64_decode(payload.substr(sep + kIvSep.size()));
  if (!ct || !iv) return err("NIP04_INVALID_PAYLOAD", "payload is not valid base64");
  if (iv->size() != 16) return err("NIP04_INVALID_PAYLOAD", "IV must be 16 bytes");
  if (ct->empty() || ct->size() % 16 != 0)
    return err("NIP04_INVALID_PAYLOAD", "ciphertext must be a non-empty multiple of 16 bytes");
  if (ct->size() > (size_t{1} << 30)) return err("NIP04_PAYLOAD_TOO_LARGE", "payload too large");

  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return err("NIP04_DECRYPT_FAILED", "cipher context allocation failed");
  std::string out(ct->size() + 16, '\0');
  int n1 = 0, n2 = 0;
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_cbc(), nullptr, key.data(), iv->data()) != 1 ||
      EVP_DecryptUpdate(ctx.get(), o, &n1, ct->data(), static_cast<int>(ct->size())) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), o + n1, &n2) != 1) {
    wipe(out);
    return err("NIP04_DECRYPT_FAILED", "decryption failed (bad padding: wrong key or corrupted payload)");
  }
  out.resize(static_cast<size_t>(n1 + n2));
  if (!valid_utf8(out)) {
    wipe(out);
    return err("NIP04_DECRYPT_FAILED", "decrypted plaintext is not valid UTF-8 (wrong key?)");
  }
  return out;
}

Result<std::string> encrypt(std::string_view plaintext, const SecretKey& sk, const XOnlyPubKey& peer,
                            const std::optional<std::array<uint8_t, 16>>& iv) {
  auto shared = ecdh_x(sk, peer);
  if (!shared) return shared.error();
  return encrypt_with_shared(plaintext, *shared, iv);
}

Result<std::string> decrypt(std::string_view payload, const SecretKey& sk, const XOnlyPubKey& peer,
                            size_t max_payload_chars) {
  auto shared = ecdh_x(sk, peer);
  if (!shared) return shared.error();
  return decrypt_with_shared(payload, *shared, max_payload_chars);
}

}  // namespace sw::crypto::nip04
