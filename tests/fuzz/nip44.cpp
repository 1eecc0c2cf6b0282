// NIP-44 v2 decryption (wallet responses from relays) with a fixed conversation key — the one of the NWC flow in
// tests/vectors/nostr-events.json, so its payloads decrypt. Each input is used three ways: as a payload text;
// as the plaintext area (length prefix + data + padding) of a payload this target encrypts and MACs itself, so
// the checks after the MAC (length prefix, padding, UTF-8) are reached; and as a plaintext for the round trip
// encrypt → decrypt (fixed nonce).
#include <sodium.h>

#include "crypto/crypto.h"
#include "fuzz.h"

using namespace sw;
namespace nip44 = sw::crypto::nip44;

namespace {

const crypto::Secret32& conversation_key() {
  static const crypto::Secret32 ck = [] {
    auto b = hex_decode("f67b3fa4e852ce4f1bc0be13f3eebfd6db4fe735ababd6c9c06f1ef45a5448e4");
    return crypto::Secret32(b->data());
  }();
  return ck;
}

// version || nonce || chacha20(area) || hmac(nonce || ciphertext), base64 — a payload whose MAC is right.
std::string forge(const uint8_t* area, size_t n, uint8_t version) {
  std::array<uint8_t, 32> nonce;
  nonce.fill(0x5a);
  const auto keys = nip44::message_keys(conversation_key(), nonce.data());
  Bytes out{version};
  out.insert(out.end(), nonce.begin(), nonce.end());
  const size_t at = out.size();
  out.insert(out.end(), area, area + n);
  crypto_stream_chacha20_ietf_xor(out.data() + at, out.data() + at, n, keys.chacha_nonce.data(),
                                  keys.chacha_key.data());
  const auto mac = crypto::hmac_sha256(keys.hmac_key.data(), 32, out.data() + 1, 32 + n);
  out.insert(out.end(), mac.begin(), mac.end());
  return base64_encode(out);
}

void check_error(const Error& e) {
  const std::string& c = e.code;
  SW_FUZZ_CHECK(c == "NIP44_INVALID_PAYLOAD" || c == "NIP44_UNKNOWN_VERSION" || c == "NIP44_PAYLOAD_TOO_LARGE" ||
                c == "NIP44_INVALID_MAC" || c == "NIP44_INVALID_PADDING" || c == "NIP44_INVALID_PLAINTEXT");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (sodium_init() < 0) std::abort();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  const auto& ck = conversation_key();

  auto plain = nip44::decrypt(text, ck, 1 << 20);
  if (!plain) check_error(plain.error());
  else SW_FUZZ_CHECK(crypto::valid_utf8(*plain) && !plain->empty());

  auto forged = nip44::decrypt(forge(data, size, 2), ck, 1 << 20);
  if (forged) {
    // Exactly the bytes after the length prefix, as many as it says.
    SW_FUZZ_CHECK(size >= 2);
    const size_t len = size_t{data[0]} << 8 | data[1];
    if (len != 0) {
      SW_FUZZ_CHECK(*forged == fuzz::as_text(data + 2, len));
      SW_FUZZ_CHECK(size == 2 + nip44::calc_padded_len(len));
    }
  } else {
    check_error(forged.error());
  }

  if (!text.empty() && crypto::valid_utf8(text)) {
    std::array<uint8_t, 32> nonce;
    nonce.fill(size & 0xff);
    auto enc = nip44::encrypt(text, ck, nonce);
    SW_FUZZ_CHECK(enc.ok());
    auto dec = nip44::decrypt(*enc, ck, size_t{16} << 20);
    SW_FUZZ_CHECK(dec.ok() && *dec == text);
    std::string tampered = *enc;
    tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
    SW_FUZZ_CHECK(!nip44::decrypt(tampered, ck).ok());
  }
  return 0;
}
