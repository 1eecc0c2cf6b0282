// NIP-19 public keys: "npub1…" (bech32, BIP-173 checksum) and hex. Written from BIP-173 and NIP-19; sw_nostr does
// not depend on sw_bolt11 (whose bech32 is internal to it), so the few lines needed here are its own.
#include <array>

#include "nostr/nostr.h"

namespace sw::nostr {

namespace {

constexpr const char* kCharset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
constexpr std::string_view kHrp = "npub";

uint32_t polymod_step(uint32_t chk, uint8_t v) {
  static constexpr uint32_t kGen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
  const uint32_t top = chk >> 25;
  chk = ((chk & 0x1ffffff) << 5) ^ v;
  for (int i = 0; i < 5; ++i)
    if ((top >> i) & 1) chk ^= kGen[i];
  return chk;
}

uint32_t polymod_hrp(std::string_view hrp) {
  uint32_t chk = 1;
  for (char c : hrp) chk = polymod_step(chk, static_cast<uint8_t>(static_cast<unsigned char>(c) >> 5));
  chk = polymod_step(chk, 0);
  for (char c : hrp) chk = polymod_step(chk, static_cast<uint8_t>(static_cast<unsigned char>(c) & 31));
  return chk;
}

int char_value(char c) {
  for (int i = 0; i < 32; ++i)
    if (kCharset[i] == c) return i;
  return -1;
}

Error bad(const std::string& msg) { return make_error("INVALID_PUBLIC_KEY", msg); }

Result<crypto::XOnlyPubKey> on_curve(const Bytes& b, const char* form) {
  if (b.size() != 32 || !crypto::xonly_pubkey_valid(b.data()))
    return bad(std::string(form) + " does not name a secp256k1 x-only public key");
  crypto::XOnlyPubKey pk{};
  std::copy(b.begin(), b.end(), pk.begin());
  return pk;
}

}  // namespace

std::string npub_encode(const crypto::XOnlyPubKey& pk) {
  std::vector<uint8_t> words;
  uint32_t acc = 0;
  int bits = 0;
  for (uint8_t b : pk) {
    acc = ((acc << 8) | b) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      words.push_back(static_cast<uint8_t>((acc >> bits) & 31));
    }
  }
  if (bits > 0) words.push_back(static_cast<uint8_t>((acc << (5 - bits)) & 31));
  uint32_t chk = polymod_hrp(kHrp);
  for (uint8_t w : words) chk = polymod_step(chk, w);
  for (int i = 0; i < 6; ++i) chk = polymod_step(chk, 0);
  chk ^= 1;  // bech32 (not bech32m) constant
  std::string out(kHrp);
  out += '1';
  for (uint8_t w : words) out += kCharset[w];
  for (int i = 0; i < 6; ++i) out += kCharset[(chk >> (5 * (5 - i))) & 31];
  return out;
}

Result<crypto::XOnlyPubKey> parse_public_key(std::string_view input) {
  const std::string_view s = trim(input);
  if (s.size() == 64) {
    auto b = hex_decode(s);
    if (!b) return bad("64-character public key is not hex");
    return on_curve(*b, "hex public key");
  }
  // npub: 4 (hrp) + 1 ('1') + 52 data words (256 bits) + 6 checksum = 63 characters.
  if (s.size() != 63) return bad("public key must be an npub1… or 64 hex characters");
  bool has_lower = false, has_upper = false;
  for (char c : s) {
    if (c >= 'a' && c <= 'z') has_lower = true;
    if (c >= 'A' && c <= 'Z') has_upper = true;
  }
  if (has_lower && has_upper) return bad("npub mixes upper and lower case");
  const std::string lower = ascii_lower(s);
  if (lower.compare(0, 5, "npub1") != 0) return bad("public key must be an npub1… or 64 hex characters");
  std::vector<uint8_t> words;
  words.reserve(58);
  for (size_t i = 5; i < lower.size(); ++i) {
    const int v = char_value(lower[i]);
    if (v < 0) return bad("npub contains a character outside the bech32 alphabet");
    words.push_back(static_cast<uint8_t>(v));
  }
  uint32_t chk = polymod_hrp(kHrp);
  for (uint8_t w : words) chk = polymod_step(chk, w);
  if (chk != 1) return bad("npub checksum does not match");
  // 52 data words = 260 bits: 256 bits of key and 4 zero padding bits.
  Bytes key;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i + 6 < words.size(); ++i) {
    acc = ((acc << 5) | words[i]) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      key.push_back(static_cast<uint8_t>((acc >> bits) & 0xff));
    }
  }
  if (bits >= 5 || (acc & ((1u << bits) - 1)) != 0) return bad("npub has non-zero padding");
  return on_curve(key, "npub");
}

}  // namespace sw::nostr
