// sw::crypto — leaf cryptography, no I/O: hashes (OpenSSL), randomness (libsodium), constant-time compare,
// secrets wiped on destruction, BIP-340 Schnorr keys/signatures and raw-x ECDH (libsecp256k1), NIP-44 v2
// (ChaCha20 from libsodium, HMAC/HKDF) and legacy NIP-04 (AES-256-CBC from OpenSSL).
// Thread-safety: every function is thread-safe (one secp256k1 context, created and randomized once on first use,
//   read-only afterwards). Objects are values; share a const object freely, mutate from one thread.
// Errors: functions that can fail on input return Result<> with the UPPER_SNAKE codes listed next to them; they
//   never throw and messages never contain key material, plaintexts or payloads.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
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

// Strict UTF-8 check (no overlongs, no surrogates, <= U+10FFFF). Used on plaintexts and Nostr strings.
bool valid_utf8(std::string_view s);

// Overwrites a buffer in a way the compiler may not elide (sodium_memzero).
void wipe(void* p, size_t len);
void wipe(std::string& s);  // wipes the characters, then clears

// ---------------------------------------------------------------------------------------------------------
// Secrets. Secret32 holds 32 secret bytes and wipes them on destruction, on overwrite and when moved from.
class Secret32 {
 public:
  Secret32() { bytes_.fill(0); }
  explicit Secret32(const uint8_t* p32);
  Secret32(const Secret32& o) : bytes_(o.bytes_) {}
  Secret32(Secret32&& o) noexcept : bytes_(o.bytes_) { o.clear(); }
  Secret32& operator=(const Secret32& o);
  Secret32& operator=(Secret32&& o) noexcept;
  ~Secret32() { clear(); }
  const uint8_t* data() const { return bytes_.data(); }
  uint8_t* data() { return bytes_.data(); }
  static constexpr size_t size() { return 32; }
  void clear();

 private:
  std::array<uint8_t, 32> bytes_;
};

using XOnlyPubKey = std::array<uint8_t, 32>;  // BIP-340 x-only public key (the Nostr "pubkey")
using Signature64 = std::array<uint8_t, 64>;  // BIP-340 signature r||s

// A validated secp256k1 secret key (scalar in [1, n-1]) with its x-only public key computed once.
// A default-constructed SecretKey is empty (valid() == false); operations on it fail with INVALID_SECRET_KEY.
class SecretKey {
 public:
  SecretKey() = default;
  // Error: INVALID_SECRET_KEY (wrong length, zero, >= curve order, not hex).
  static Result<SecretKey> from_bytes(const uint8_t* data, size_t len);
  static Result<SecretKey> from_hex(std::string_view hex);  // 64 hex chars (either case)
  static SecretKey generate();                              // fresh random key
  bool valid() const { return valid_; }
  const uint8_t* data() const { return secret_.data(); }  // 32 bytes
  const XOnlyPubKey& public_key() const { return pub_; }
  std::string public_key_hex() const { return hex_encode(pub_.data(), pub_.size()); }

 private:
  Secret32 secret_;
  XOnlyPubKey pub_{};
  bool valid_ = false;
};

// True iff sk32 is a scalar in [1, n-1].
bool secret_key_valid(const uint8_t* sk32);
// True iff pk32 is the x coordinate of a point on secp256k1 (lifts with even Y).
bool xonly_pubkey_valid(const uint8_t* pk32);
// True iff pk33 is a SEC1 compressed point (02/03 prefix) on secp256k1 — a Lightning node id.
bool compressed_pubkey_valid(const uint8_t* pk33);
// Parses 64 LOWERCASE hex characters that name a point on the curve (Nostr's format). nullopt otherwise.
std::optional<XOnlyPubKey> parse_xonly_pubkey_hex(std::string_view hex);

// BIP-340 Schnorr over a message of any length (Nostr signs the 32-byte event id).
// schnorr_sign draws 32 bytes of aux randomness; schnorr_sign_with_aux takes it explicitly (tests; nullptr = zeros).
// Each signature is verified before it is returned. Errors: INVALID_SECRET_KEY, SIGN_FAILED.
Result<Signature64> schnorr_sign(const SecretKey& sk, const uint8_t* msg, size_t msg_len);
Result<Signature64> schnorr_sign_with_aux(const SecretKey& sk, const uint8_t* msg, size_t msg_len,
                                          const uint8_t* aux32);
// False for a bad signature and for a pubkey that is not on the curve.
bool schnorr_verify(const XOnlyPubKey& pub, const uint8_t* msg, size_t msg_len, const Signature64& sig);

// ECDH returning the raw 32-byte X coordinate of sk·P (P = the even-Y lift of the x-only key), NOT hashed —
// the shared secret of both NIP-04 and NIP-44. Errors: INVALID_SECRET_KEY, INVALID_PUBLIC_KEY.
Result<Secret32> ecdh_x(const SecretKey& sk, const XOnlyPubKey& peer);

// ---------------------------------------------------------------------------------------------------------
// NIP-44 v2 (nips 44.md @ db5fe3de, 2026-06 revision). Payload = base64(0x02 || nonce32 || ciphertext || mac32).
//
// Length decision (deliberate): we implement the CURRENT text — plaintexts of 1 .. 2^32-1 bytes; lengths
// < 65536 use the 2-byte big-endian prefix, lengths >= 65536 the extended prefix 00 00 || u32 BE. So the
// 2023 vector file's invalid.encrypt_msg_lengths 65536/100000/10000000 are VALID here (tested as such), and
// the three boundary vectors of 44.md (nip44-extended-length.json) are reproduced byte-for-byte. As 44.md
// advises, decrypt() imposes its own ceiling on the base64 length BEFORE decoding (max_payload_chars).
// Note: nostr-tools 2.25.2 uses a different, non-standard prefix above 65535 bytes; NWC messages are tiny.
namespace nip44 {

constexpr uint64_t kMaxPlaintext = 0xFFFFFFFFull;          // 2^32 - 1 (spec maximum)
constexpr size_t kDefaultMaxPayloadChars = 4u << 20;       // 4 MiB of base64 (~3 MiB plaintext)
constexpr size_t kMinPayloadChars = 132;
constexpr size_t kMinDecodedBytes = 99;

struct MessageKeys {
  Secret32 chacha_key;
  std::array<uint8_t, 12> chacha_nonce{};
  Secret32 hmac_key;
};

// conversation_key = HKDF-Extract(salt "nip44-v2", shared_x). Symmetric. Errors: INVALID_SECRET_KEY,
// INVALID_PUBLIC_KEY.
Result<Secret32> conversation_key(const SecretKey& sk, const XOnlyPubKey& peer);
// HKDF-Expand(conversation_key, nonce, 76) split 32/12/32.
MessageKeys message_keys(const Secret32& conversation_key, const uint8_t* nonce32);
// Padded length of the plaintext area (prefix excluded); 64-bit because it reaches 2^32. len must be >= 1.
uint64_t calc_padded_len(uint64_t len);

// nonce: fixed 32-byte nonce for TESTS ONLY (never reuse one in production); nullopt = fresh random nonce.
// Errors: NIP44_INVALID_PLAINTEXT (empty, > kMaxPlaintext, or not valid UTF-8).
Result<std::string> encrypt(std::string_view plaintext, const Secret32& conversation_key,
                            const std::optional<std::array<uint8_t, 32>>& nonce = std::nullopt);
// Checks, in this order: NIP44_INVALID_PAYLOAD (empty), NIP44_UNKNOWN_VERSION ('#' first),
// NIP44_PAYLOAD_TOO_LARGE (> max_payload_chars), NIP44_INVALID_PAYLOAD (too short, not standard padded base64,
// too few bytes), NIP44_UNKNOWN_VERSION (byte != 2), NIP44_INVALID_MAC (constant-time, before decrypting),
// NIP44_INVALID_PADDING (length prefix/padding inconsistent), NIP44_INVALID_PLAINTEXT (not UTF-8).
Result<std::string> decrypt(std::string_view payload, const Secret32& conversation_key,
                            size_t max_payload_chars = kDefaultMaxPayloadChars);

}  // namespace nip44

// ---------------------------------------------------------------------------------------------------------
// NIP-04 (legacy NWC fallback; unauthenticated): AES-256-CBC/PKCS#7, key = ecdh_x(sk, peer),
// payload = base64(ciphertext) + "?iv=" + base64(iv16) (standard alphabet, padded).
namespace nip04 {

constexpr size_t kDefaultMaxPayloadChars = 4u << 20;

// iv: fixed IV for TESTS ONLY; nullopt = random. Errors: INVALID_SECRET_KEY, INVALID_PUBLIC_KEY,
// NIP04_INVALID_PLAINTEXT (not valid UTF-8), NIP04_ENCRYPT_FAILED.
Result<std::string> encrypt(std::string_view plaintext, const SecretKey& sk, const XOnlyPubKey& peer,
                            const std::optional<std::array<uint8_t, 16>>& iv = std::nullopt);
// Errors: INVALID_SECRET_KEY, INVALID_PUBLIC_KEY, NIP04_PAYLOAD_TOO_LARGE, NIP04_INVALID_PAYLOAD (format,
// base64, IV size, ciphertext not whole blocks), NIP04_DECRYPT_FAILED (bad padding or non-UTF-8 result — the
// usual symptom of a wrong key, though NIP-04 cannot always detect one).
Result<std::string> decrypt(std::string_view payload, const SecretKey& sk, const XOnlyPubKey& peer,
                            size_t max_payload_chars = kDefaultMaxPayloadChars);

// Same with an already computed shared X (32 bytes).
Result<std::string> encrypt_with_shared(std::string_view plaintext, const Secret32& shared_x,
                                        const std::optional<std::array<uint8_t, 16>>& iv = std::nullopt);
Result<std::string> decrypt_with_shared(std::string_view payload, const Secret32& shared_x,
                                        size_t max_payload_chars = kDefaultMaxPayloadChars);

}  // namespace nip04

}  // namespace sw::crypto
