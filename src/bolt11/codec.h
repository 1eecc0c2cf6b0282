// Internal to sw_bolt11 (other code includes only bolt11/bolt11.h).
// Bech32 / bech32m (BIP-173 / BIP-350), 5<->8 bit regrouping and base58check, hand-written because Debian ships
// no C/C++ bech32 library and libsecp256k1/OpenSSL do not cover these text encodings. Written from the BIP texts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/common.h"

namespace sw::bolt11::detail {

using Words = std::vector<uint8_t>;  // 5-bit values 0..31

inline constexpr uint32_t kBech32Const = 1;            // BIP-173
inline constexpr uint32_t kBech32mConst = 0x2bc830a3;  // BIP-350

// Polymod checksum over hrp-expanded || data (data words including the 6 checksum words).
uint32_t bech32_polymod_verify(std::string_view hrp, const Words& data);
// The 6 checksum words for hrp + data (data without checksum) under `constant`.
Words bech32_checksum(std::string_view hrp, const Words& data, uint32_t constant);

// Alphabet index of c (lower-case "qpzry9x8gf2tvdw0s3jn54khce6mua7l"), or -1.
int bech32_char_value(char c);
char bech32_char(uint8_t word);

// Regroup 5-bit words into bytes. pad=false drops the incomplete trailing group (BOLT 11 rule for field data);
// pad=true appends zero bits up to the next byte boundary (BOLT 11 signing data).
Bytes words_to_bytes(const uint8_t* words, size_t n, bool pad = false);
// Regroup bytes into 5-bit words, zero-padding the last word.
Words bytes_to_words(const uint8_t* bytes, size_t n);

// Segwit address (BIP-173 for v0, BIP-350 bech32m for v1..16). No validity checks beyond the encoding.
std::string segwit_address(std::string_view hrp, int version, const Bytes& program);
// Base58check of version byte || payload (double SHA-256 checksum).
std::string base58check(uint8_t version, const Bytes& payload);

}  // namespace sw::bolt11::detail
