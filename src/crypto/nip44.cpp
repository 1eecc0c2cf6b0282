// NIP-44 v2 encryption (nips 44.md @ db5fe3de, including the 2026-06 extended length prefix).
#include <sodium.h>

#include <bit>
#include <cstring>
#include <new>

#include "crypto/crypto.h"
#include "crypto/internal.h"

namespace sw::crypto::nip44 {

namespace {

constexpr char kSalt[] = "nip44-v2";
constexpr uint8_t kVersion = 2;
constexpr uint64_t kExtendedThreshold = 65536;  // lengths >= this use 00 00 || u32 BE

Error err(const char* code, const char* msg) { return make_error(code, msg); }

}  // namespace

Result<Secret32> conversation_key(const SecretKey& sk, const XOnlyPubKey& peer) {
  auto shared = ecdh_x(sk, peer);
  if (!shared) return shared.error();
  Hash32 prk = hkdf_extract(reinterpret_cast<const uint8_t*>(kSalt), sizeof kSalt - 1, shared->data(), 32);
  Secret32 out(prk.data());
  wipe(prk.data(), prk.size());
  return out;
}

MessageKeys message_keys(const Secret32& ck, const uint8_t* nonce32) {
  Bytes okm = hkdf_expand(ck.data(), 32, nonce32, 32, 76);
  MessageKeys k;
  std::memcpy(k.chacha_key.data(), okm.data(), 32);
  std::memcpy(k.chacha_nonce.data(), okm.data() + 32, 12);
  std::memcpy(k.hmac_key.data(), okm.data() + 44, 32);
  wipe(okm.data(), okm.size());
  return k;
}

uint64_t calc_padded_len(uint64_t len) {
  if (len <= 32) return 32;
  uint64_t next_power = uint64_t{1} << std::bit_width(len - 1);  // 2^(floor(log2(len-1)) + 1)
  uint64_t chunk = next_power <= 256 ? 32 : next_power / 8;
  return chunk * ((len - 1) / chunk + 1);
}

Result<std::string> encrypt(std::string_view plaintext, const Secret32& ck,
                            const std::optional<std::array<uint8_t, 32>>& fixed_nonce) {
  const uint64_t len = plaintext.size();
  if (len == 0 || len > kMaxPlaintext)
    return err("NIP44_INVALID_PLAINTEXT", "plaintext must be 1 to 4294967295 bytes");
  if (!valid_utf8(plaintext)) return err("NIP44_INVALID_PLAINTEXT", "plaintext is not valid UTF-8");
  detail::ensure_sodium();
  try {
    std::array<uint8_t, 32> nonce;
    if (fixed_nonce) nonce = *fixed_nonce;
    else random_bytes(nonce.data(), nonce.size());
    MessageKeys keys = message_keys(ck, nonce.data());

    const size_t prefix = len < kExtendedThreshold ? 2 : 6;
    const size_t padded = prefix + static_cast<size_t>(calc_padded_len(len));
    // Layout of the final payload buffer: version || nonce || ciphertext || mac.
    Bytes out(1 + 32 + padded + 32, 0);
    out[0] = kVersion;
    std::memcpy(out.data() + 1, nonce.data(), 32);
    uint8_t* ct = out.data() + 33;
    if (prefix == 2) {
      ct[0] = static_cast<uint8_t>(len >> 8);
      ct[1] = static_cast<uint8_t>(len);
    } else {
      ct[0] = ct[1] = 0;
      for (int i = 0; i < 4; ++i) ct[2 + i] = static_cast<uint8_t>(len >> (24 - 8 * i));
    }
    std::memcpy(ct + prefix, plaintext.data(), plaintext.size());  // rest stays zero = padding
    crypto_stream_chacha20_ietf_xor(ct, ct, padded, keys.chacha_nonce.data(), keys.chacha_key.data());
    // MAC over nonce || ciphertext (the nonce is the associated data).
    Hash32 mac = hmac_sha256(keys.hmac_key.data(), 32, out.data() + 1, 32 + padded);
    std::memcpy(out.data() + 33 + padded, mac.data(), 32);
    return base64_encode(out);
  } catch (const std::bad_alloc&) {
    return err("NIP44_INVALID_PLAINTEXT", "plaintext too large to encrypt in memory");
  }
}

Result<std::string> decrypt(std::string_view payload, const Secret32& ck, size_t max_payload_chars) {
  // 44.md's reference raises "unknown version" for an empty string too; the vector file files that case under
  // "invalid payload length: 0", which is the more useful answer, so empty -> NIP44_INVALID_PAYLOAD.
  if (payload.empty()) return err("NIP44_INVALID_PAYLOAD", "payload is empty");
  if (payload[0] == '#') return err("NIP44_UNKNOWN_VERSION", "unknown encryption version");
  if (payload.size() > max_payload_chars) return err("NIP44_PAYLOAD_TOO_LARGE", "payload exceeds the local size limit");
  if (payload.size() < kMinPayloadChars) return err("NIP44_INVALID_PAYLOAD", "payload too short");
  auto data = detail::strict_base64_decode(payload);
  if (!data) return err("NIP44_INVALID_PAYLOAD", "payload is not valid base64");
  if (data->size() < kMinDecodedBytes) return err("NIP44_INVALID_PAYLOAD", "decoded payload too short");
  if ((*data)[0] != kVersion) return err("NIP44_UNKNOWN_VERSION", "unknown encryption version");

  const uint8_t* nonce = data->data() + 1;
  const size_t ct_len = data->size() - 1 - 32 - 32;
  uint8_t* ct = data->data() + 33;
  const uint8_t* mac = ct + ct_len;

  MessageKeys keys = message_keys(ck, nonce);
  Hash32 expect = hmac_sha256(keys.hmac_key.data(), 32, nonce, 32 + ct_len);
  if (!ct_equal(expect.data(), mac, 32)) return err("NIP44_INVALID_MAC", "invalid MAC");

  detail::ensure_sodium();
  crypto_stream_chacha20_ietf_xor(ct, ct, ct_len, keys.chacha_nonce.data(), keys.chacha_key.data());

  uint64_t len = uint64_t{ct[0]} << 8 | ct[1];
  size_t prefix = 2;
  if (len == 0) {
    // Extended form (2026-06): u16 zero, then u32 BE; only legal for lengths that do not fit a u16.
    if (ct_len < 6) return err("NIP44_INVALID_PADDING", "invalid padding");
    len = uint64_t{ct[2]} << 24 | uint64_t{ct[3]} << 16 | uint64_t{ct[4]} << 8 | ct[5];
    if (len < kExtendedThreshold) {
      wipe(ct, ct_len);
      return err("NIP44_INVALID_PADDING", "invalid padding");
    }
    prefix = 6;
  }
  if (ct_len != prefix + calc_padded_len(len)) {
    wipe(ct, ct_len);
    return err("NIP44_INVALID_PADDING", "invalid padding");
  }
  std::string out(reinterpret_cast<const char*>(ct + prefix), static_cast<size_t>(len));
  wipe(ct, ct_len);
  if (!valid_utf8(out)) {
    wipe(out);
    return err("NIP44_INVALID_PLAINTEXT", "decrypted plaintext is not valid UTF-8");
  }
  return out;
}

}  // namespace sw::crypto::nip44
