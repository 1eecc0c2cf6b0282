// sw::crypto — leaf cryptography, no I/O: hashes (OpenSSL), randomness (libsodium), constant-time compare.
// Later sections: BIP-340 Schnorr, secp256k1 ECDH (raw x), NIP-44 v2, NIP-04 (libsecp256k1/OpenSSL/libsodium).
// Thread-safety: every function is thread-safe (the secp256k1 context is created once, read-only after).
// Errors: functions that can fail on input return Result<> with codes listed next to them; they never throw.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "common/common.h"

namespace sw::crypto {

using Hash32 = std::array<uint8_t, 32>;

Hash32 sha256(const uint8_t* data, size_t len);
inline Hash32 sha256(const Bytes& b) { return sha256(b.data(), b.size()); }
inline Hash32 sha256(std::string_view s) { return sha256(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }

Hash32 hmac_sha256(const uint8_t* key, size_t key_len, const uint8_t* data, size_t len);

// RFC 5869 HKDF-SHA256.
Hash32 hkdf_extract(const uint8_t* salt, size_t salt_len, const uint8_t* ikm, size_t ikm_len);
Bytes hkdf_expand(const uint8_t* prk, size_t prk_len, const uint8_t* info, size_t info_len, size_t out_len);

// Cryptographically secure random bytes (libsodium randombytes_buf).
void random_bytes(uint8_t* out, size_t len);
Bytes random_bytes(size_t len);

// Constant-time equality for equal-length buffers (false when lengths differ; length is not secret).
bool ct_equal(const uint8_t* a, const uint8_t* b, size_t len);
bool ct_equal(std::string_view a, std::string_view b);

}  // namespace sw::crypto
