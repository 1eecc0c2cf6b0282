// Secret buffers, wiping, UTF-8 validation, strict base64 and the shared library contexts.
#include <sodium.h>

#include <cstdlib>
#include <cstring>

#include "crypto/crypto.h"
#include "crypto/internal.h"

namespace sw::crypto {

void wipe(void* p, size_t len) {
  if (p && len) sodium_memzero(p, len);
}

void wipe(std::string& s) {
  if (!s.empty()) sodium_memzero(s.data(), s.size());
  s.clear();
}

Secret32::Secret32(const uint8_t* p32) { std::memcpy(bytes_.data(), p32, 32); }

Secret32& Secret32::operator=(const Secret32& o) {
  if (this != &o) bytes_ = o.bytes_;
  return *this;
}

Secret32& Secret32::operator=(Secret32&& o) noexcept {
  if (this != &o) {
    bytes_ = o.bytes_;
    o.clear();
  }
  return *this;
}

void Secret32::clear() { sodium_memzero(bytes_.data(), bytes_.size()); }

// Hand-written: neither OpenSSL nor libsodium exposes a UTF-8 validator, and the rules are short (RFC 3629).
bool valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t extra;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the first continuation byte
    if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      if (c == 0xE0) lo = 0xA0;        // no overlongs
      else if (c == 0xED) hi = 0x9F;  // no UTF-16 surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      if (c == 0xF0) lo = 0x90;        // no overlongs
      else if (c == 0xF4) hi = 0x8F;   // <= U+10FFFF
    } else {
      return false;  // 0x80..0xC1 (stray continuation / overlong lead) and 0xF5..0xFF
    }
    if (n - i <= extra) return false;
    if (p[i + 1] < lo || p[i + 1] > hi) return false;
    for (size_t k = 2; k <= extra; ++k)
      if ((p[i + k] & 0xC0) != 0x80) return false;
    i += extra + 1;
  }
  return true;
}

namespace detail {

void ensure_sodium() {
  static const bool ok = sodium_init() >= 0;
  if (!ok) std::abort();  // no usable CSPRNG/primitives: refusing to continue is the only safe option
}

const secp256k1_context* secp_ctx() {
  static const secp256k1_context* ctx = [] {
    secp256k1_context* c = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (!c) std::abort();
    unsigned char seed[32];
    random_bytes(seed, sizeof seed);
    // Randomization blinds the signing/ECDH scalar multiplications against side channels.
    if (!secp256k1_context_randomize(c, seed)) std::abort();
    wipe(seed, sizeof seed);
    return c;
  }();
  return ctx;
}

std::optional<Bytes> strict_base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  size_t pad = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (c == '=') {
      ++pad;
    } else if (!alpha || pad) {
      return std::nullopt;  // foreign character, or data after '='
    }
  }
  if (pad > 2) return std::nullopt;
  return base64_decode(text);
}

}  // namespace detail
}  // namespace sw::crypto
