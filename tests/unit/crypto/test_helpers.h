// Shared helpers for the unit_crypto test files.
#pragma once

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>

#include "crypto/crypto.h"

namespace sw::test {

inline std::string read_file(const std::string& name) {
  std::ifstream f(std::string(SW_VECTORS_DIR) + "/" + name, std::ios::binary);
  REQUIRE(f.good());
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline json load_json(const std::string& name) { return json::parse(read_file(name)); }

inline Bytes hexb(const std::string& h) {
  auto b = hex_decode(h);
  REQUIRE(b);
  return *b;
}

template <size_t N>
std::array<uint8_t, N> hexa(const std::string& h) {
  auto b = hex_decode_fixed(h, N);
  REQUIRE(b);
  std::array<uint8_t, N> a{};
  std::copy(b->begin(), b->end(), a.begin());
  return a;
}

inline crypto::SecretKey sk_hex(const std::string& h) {
  auto k = crypto::SecretKey::from_hex(h);
  REQUIRE(k);
  return std::move(k).value();
}

inline crypto::Secret32 secret_hex(const std::string& h) {
  auto a = hexa<32>(h);
  return crypto::Secret32(a.data());
}

inline std::string hex32(const crypto::Secret32& s) { return hex_encode(s.data(), 32); }

inline std::string sha_hex(std::string_view s) {
  auto h = crypto::sha256(s);
  return hex_encode(h.data(), h.size());
}

inline std::string repeat(const std::string& pattern, size_t n) {
  std::string s;
  s.reserve(pattern.size() * n);
  for (size_t i = 0; i < n; ++i) s += pattern;
  return s;
}

}  // namespace sw::test
