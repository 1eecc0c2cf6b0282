// Hand-written bech32/bech32m and base58check (see codec.h for why). Written from BIP-173, BIP-350 and the
// Bitcoin base58check definition.
#include "bolt11/codec.h"
#include "bolt11/bolt11.h"

#include <algorithm>
#include <array>

#include "crypto/crypto.h"

namespace sw::bolt11::detail {

namespace {

constexpr const char* kCharset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

// BIP-173's generator folded into one 32-entry table: the XOR of the generators selected by the five top bits.
constexpr std::array<uint32_t, 32> make_polymod_table() {
  constexpr uint32_t kGen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
  std::array<uint32_t, 32> t{};
  for (uint32_t top = 0; top < 32; ++top)
    for (int i = 0; i < 5; ++i)
      if ((top >> i) & 1) t[top] ^= kGen[i];
  return t;
}
constexpr std::array<uint32_t, 32> kPolymodTable = make_polymod_table();

inline uint32_t polymod_step(uint32_t chk, uint8_t value) {
  return (((chk & 0x1ffffff) << 5) ^ value) ^ kPolymodTable[chk >> 25];
}

// Character → 5-bit value, -1 for characters outside the bech32 alphabet (lowercase only; callers fold case).
constexpr std::array<int8_t, 256> make_char_table() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 32; ++i) t[static_cast<unsigned char>(kCharset[i])] = static_cast<int8_t>(i);
  return t;
}
constexpr std::array<int8_t, 256> kCharValue = make_char_table();

uint32_t polymod_hrp(std::string_view hrp) {
  uint32_t chk = 1;
  for (char c : hrp) chk = polymod_step(chk, static_cast<uint8_t>(static_cast<unsigned char>(c) >> 5));
  chk = polymod_step(chk, 0);
  for (char c : hrp) chk = polymod_step(chk, static_cast<uint8_t>(static_cast<unsigned char>(c) & 31));
  return chk;
}

}  // namespace

uint32_t bech32_polymod_verify(std::string_view hrp, const Words& data) {
  uint32_t chk = polymod_hrp(hrp);
  for (uint8_t w : data) chk = polymod_step(chk, w);
  return chk;
}

Words bech32_checksum(std::string_view hrp, const Words& data, uint32_t constant) {
  uint32_t chk = polymod_hrp(hrp);
  for (uint8_t w : data) chk = polymod_step(chk, w);
  for (int i = 0; i < 6; ++i) chk = polymod_step(chk, 0);
  chk ^= constant;
  Words out(6);
  for (int i = 0; i < 6; ++i) out[static_cast<size_t>(i)] = static_cast<uint8_t>((chk >> (5 * (5 - i))) & 31);
  return out;
}

int bech32_char_value(char c) { return kCharValue[static_cast<unsigned char>(c)]; }

char bech32_char(uint8_t word) { return kCharset[word & 31]; }

Bytes words_to_bytes(const uint8_t* words, size_t n, bool pad) {
  Bytes out;
  out.reserve(n * 5 / 8);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; ++i) {
    acc = ((acc << 5) | (words[i] & 31)) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>((acc >> bits) & 0xff));
    }
  }
  if (pad && bits > 0) out.push_back(static_cast<uint8_t>((acc << (8 - bits)) & 0xff));
  return out;  // without pad, leftover (< 8) bits are padding and are dropped
}

Words bytes_to_words(const uint8_t* bytes, size_t n) {
  Words out;
  out.reserve((n * 8 + 4) / 5);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; ++i) {
    acc = ((acc << 8) | bytes[i]) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push_back(static_cast<uint8_t>((acc >> bits) & 31));
    }
  }
  if (bits > 0) out.push_back(static_cast<uint8_t>((acc << (5 - bits)) & 31));
  return out;
}

std::string segwit_address(std::string_view hrp, int version, const Bytes& program) {
  Words data;
  data.push_back(static_cast<uint8_t>(version & 31));
  Words prog = bytes_to_words(program.data(), program.size());
  data.insert(data.end(), prog.begin(), prog.end());
  Words chk = bech32_checksum(hrp, data, version == 0 ? kBech32Const : kBech32mConst);
  std::string out(hrp);
  out.push_back('1');
  for (uint8_t w : data) out.push_back(bech32_char(w));
  for (uint8_t w : chk) out.push_back(bech32_char(w));
  return out;
}

std::string base58check(uint8_t version, const Bytes& payload) {
  static constexpr const char* kAlphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  Bytes buf;
  buf.reserve(payload.size() + 5);
  buf.push_back(version);
  buf.insert(buf.end(), payload.begin(), payload.end());
  const crypto::Hash32 h1 = crypto::sha256(buf);
  const crypto::Hash32 h2 = crypto::sha256(h1.data(), h1.size());
  buf.insert(buf.end(), h2.begin(), h2.begin() + 4);

  size_t zeros = 0;
  while (zeros < buf.size() && buf[zeros] == 0) ++zeros;
  // Big-number base conversion 256 -> 58 (inputs are ~25 bytes, so quadratic is fine).
  std::vector<uint8_t> digits;  // base-58 digits, least significant first
  for (size_t i = zeros; i < buf.size(); ++i) {
    uint32_t carry = buf[i];
    for (auto& d : digits) {
      carry += static_cast<uint32_t>(d) << 8;
      d = static_cast<uint8_t>(carry % 58);
      carry /= 58;
    }
    while (carry > 0) {
      digits.push_back(static_cast<uint8_t>(carry % 58));
      carry /= 58;
    }
  }
  std::string out(zeros, '1');
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) out.push_back(kAlphabet[*it]);
  return out;
}

}  // namespace sw::bolt11::detail

namespace sw::bolt11 {

Result<std::pair<std::string, Bytes>> decode_bech32_long(std::string_view text, size_t max_chars) {
  auto bad = [](const std::string& why) { return make_error("INVALID_BECH32", "not a bech32 string: " + why); };
  if (text.size() > max_chars) return bad("longer than " + std::to_string(max_chars) + " characters");
  bool lower = false, upper = false;
  std::string str(text);
  for (char& c : str) {
    if (c < 33 || c > 126) return bad("characters outside printable ASCII");
    if (c >= 'a' && c <= 'z') lower = true;
    if (c >= 'A' && c <= 'Z') {
      upper = true;
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  if (lower && upper) return bad("mixed upper and lower case");
  const size_t sep = str.rfind('1');
  if (sep == std::string::npos || sep == 0) return bad("no human-readable part before '1'");
  if (str.size() - sep - 1 < 6) return bad("too short for the checksum");
  detail::Words words;
  for (char c : std::string_view(str).substr(sep + 1)) {
    const int v = detail::bech32_char_value(c);
    if (v < 0) return bad(std::string("invalid character '") + c + "'");
    words.push_back(static_cast<uint8_t>(v));
  }
  const std::string hrp = str.substr(0, sep);
  if (detail::bech32_polymod_verify(hrp, words) != detail::kBech32Const) return bad("bad checksum");
  words.resize(words.size() - 6);
  // Padding: at most 4 leftover bits, all zero (BIP-173 regrouping rule).
  const size_t bits = words.size() * 5;
  if (bits % 8 >= 5) return bad("incomplete final group");
  if (!words.empty() && (words.back() & ((1u << (bits % 8)) - 1)) != 0) return bad("non-zero padding bits");
  return std::make_pair(hrp, detail::words_to_bytes(words.data(), words.size(), false));
}

}  // namespace sw::bolt11
