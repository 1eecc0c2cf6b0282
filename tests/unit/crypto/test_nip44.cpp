// NIP-44 v2 against nip44.vectors.json (every valid and invalid entry) and nip44-extended-length.json,
// plus hand-built payloads for the edge cases the vector file does not cover.
#include <sodium.h>

#include "test_helpers.h"

using namespace sw;
using namespace sw::test;
namespace nip44 = sw::crypto::nip44;

namespace {

const json& v2() {
  static const json j = load_json("nip44.vectors.json")["v2"];
  return j;
}

// Builds a payload around an arbitrary *plaintext-side* padded buffer (prefix + data + padding), with a correct
// MAC, so that decrypt's post-MAC checks can be exercised directly.
std::string forge(const crypto::Secret32& ck, const Bytes& padded, uint8_t version = 2) {
  std::array<uint8_t, 32> nonce;
  nonce.fill(0x5a);
  auto keys = nip44::message_keys(ck, nonce.data());
  Bytes ct = padded;
  crypto_stream_chacha20_ietf_xor(ct.data(), ct.data(), ct.size(), keys.chacha_nonce.data(), keys.chacha_key.data());
  Bytes aad(nonce.begin(), nonce.end());
  aad.insert(aad.end(), ct.begin(), ct.end());
  auto mac = crypto::hmac_sha256(keys.hmac_key.data(), 32, aad.data(), aad.size());
  Bytes out{version};
  out.insert(out.end(), aad.begin(), aad.end());
  out.insert(out.end(), mac.begin(), mac.end());
  return base64_encode(out);
}

Bytes padded_buffer(Bytes prefix, const std::string& text, size_t total) {
  Bytes b = std::move(prefix);
  b.insert(b.end(), text.begin(), text.end());
  b.resize(total, 0);
  return b;
}

const crypto::Secret32& test_ck() {
  static const crypto::Secret32 ck = secret_hex("c41c775356fd92eadc63ff5a0dc1da211b268cbea22316767095b2871ea1412d");
  return ck;
}

}  // namespace

TEST_CASE("NIP-44 vector file integrity", "[nip44]") {
  // The checksum printed in 44.md; guards against editing the vectors to make tests pass.
  CHECK(sha_hex(read_file("nip44.vectors.json")) == "269ed0f69e4c192512cc779e78c555090cebc7c785b609e338a62afc3ce25040");
}

TEST_CASE("NIP-44 valid.get_conversation_key (35)", "[nip44]") {
  const auto& cases = v2()["valid"]["get_conversation_key"];
  REQUIRE(cases.size() == 35);
  for (const auto& c : cases) {
    INFO(c.dump());
    auto sk = sk_hex(c["sec1"]);
    auto ck = nip44::conversation_key(sk, hexa<32>(c["pub2"]));
    REQUIRE(ck);
    CHECK(hex32(*ck) == c["conversation_key"].get<std::string>());
  }
}

TEST_CASE("NIP-44 invalid.get_conversation_key (8)", "[nip44]") {
  const auto& cases = v2()["invalid"]["get_conversation_key"];
  REQUIRE(cases.size() == 8);
  int bad_secret = 0, bad_public = 0;
  for (const auto& c : cases) {
    INFO(c["note"].get<std::string>());
    auto sk = crypto::SecretKey::from_hex(c["sec1"].get<std::string>());
    if (!sk) {
      CHECK(sk.error().code == "INVALID_SECRET_KEY");
      ++bad_secret;
      continue;
    }
    auto ck = nip44::conversation_key(*sk, hexa<32>(c["pub2"]));
    REQUIRE_FALSE(ck);
    CHECK(ck.error().code == "INVALID_PUBLIC_KEY");
    ++bad_public;
  }
  CHECK(bad_secret == 3);
  CHECK(bad_public == 5);
}

TEST_CASE("NIP-44 valid.get_message_keys", "[nip44]") {
  const auto& mk = v2()["valid"]["get_message_keys"];
  auto ck = secret_hex(mk["conversation_key"]);
  REQUIRE(mk["keys"].size() == 32);
  for (const auto& k : mk["keys"]) {
    auto nonce = hexa<32>(k["nonce"]);
    auto keys = nip44::message_keys(ck, nonce.data());
    CHECK(hex32(keys.chacha_key) == k["chacha_key"].get<std::string>());
    CHECK(hex_encode(keys.chacha_nonce.data(), 12) == k["chacha_nonce"].get<std::string>());
    CHECK(hex32(keys.hmac_key) == k["hmac_key"].get<std::string>());
  }
}

TEST_CASE("NIP-44 valid.calc_padded_len (24) and large lengths", "[nip44]") {
  const auto& cases = v2()["valid"]["calc_padded_len"];
  REQUIRE(cases.size() == 24);
  for (const auto& c : cases) CHECK(nip44::calc_padded_len(c[0].get<uint64_t>()) == c[1].get<uint64_t>());
  CHECK(nip44::calc_padded_len(1) == 32);
  CHECK(nip44::calc_padded_len(65537) == 81920);
  CHECK(nip44::calc_padded_len(0xFFFFFFFFull) == 0x100000000ull);  // needs 64-bit arithmetic
}

TEST_CASE("NIP-44 valid.encrypt_decrypt (10), both directions", "[nip44]") {
  const auto& cases = v2()["valid"]["encrypt_decrypt"];
  REQUIRE(cases.size() == 10);
  for (const auto& c : cases) {
    INFO(c["plaintext"].get<std::string>());
    auto s1 = sk_hex(c["sec1"]);
    auto s2 = sk_hex(c["sec2"]);
    auto ck1 = nip44::conversation_key(s1, s2.public_key());
    auto ck2 = nip44::conversation_key(s2, s1.public_key());
    REQUIRE(ck1);
    REQUIRE(ck2);
    CHECK(hex32(*ck1) == c["conversation_key"].get<std::string>());
    CHECK(hex32(*ck2) == c["conversation_key"].get<std::string>());
    auto enc = nip44::encrypt(c["plaintext"].get<std::string>(), *ck1, hexa<32>(c["nonce"]));
    REQUIRE(enc);
    CHECK(*enc == c["payload"].get<std::string>());
    auto dec = nip44::decrypt(c["payload"].get<std::string>(), *ck2);
    REQUIRE(dec);
    CHECK(*dec == c["plaintext"].get<std::string>());
  }
}

TEST_CASE("NIP-44 valid.encrypt_decrypt_long_msg (3)", "[nip44]") {
  const auto& cases = v2()["valid"]["encrypt_decrypt_long_msg"];
  REQUIRE(cases.size() == 3);
  for (const auto& c : cases) {
    std::string pt = repeat(c["pattern"].get<std::string>(), c["repeat"].get<size_t>());
    CHECK(sha_hex(pt) == c["plaintext_sha256"].get<std::string>());
    auto ck = secret_hex(c["conversation_key"]);
    auto enc = nip44::encrypt(pt, ck, hexa<32>(c["nonce"]));
    REQUIRE(enc);
    CHECK(sha_hex(*enc) == c["payload_sha256"].get<std::string>());
    auto dec = nip44::decrypt(*enc, ck);
    REQUIRE(dec);
    CHECK(*dec == pt);
  }
}

TEST_CASE("NIP-44 invalid.decrypt (12) with the expected error codes", "[nip44]") {
  const auto& cases = v2()["invalid"]["decrypt"];
  REQUIRE(cases.size() == 12);
  for (const auto& c : cases) {
    std::string note = c["note"];
    INFO(note);
    std::string expected = note.rfind("unknown encryption version", 0) == 0 ? "NIP44_UNKNOWN_VERSION"
                           : note == "invalid MAC"                        ? "NIP44_INVALID_MAC"
                           : note == "invalid padding"                    ? "NIP44_INVALID_PADDING"
                                                                          : "NIP44_INVALID_PAYLOAD";
    auto r = nip44::decrypt(c["payload"].get<std::string>(), secret_hex(c["conversation_key"]));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == expected);
  }
}

TEST_CASE("NIP-44 invalid.encrypt_msg_lengths under the 2026-06 text", "[nip44]") {
  // The 2023 file lists [0, 65536, 100000, 10000000] as invalid; since 44.md @ 733a0471 (2026-06) only 0 is
  // invalid and the others use the extended prefix. We implement the current text (see crypto.h).
  const auto& lens = v2()["invalid"]["encrypt_msg_lengths"];
  REQUIRE(lens.size() == 4);
  for (const auto& l : lens) {
    auto len = l.get<size_t>();
    INFO(len);
    std::string pt(len, 'a');
    auto enc = nip44::encrypt(pt, test_ck());
    if (len == 0) {
      REQUIRE_FALSE(enc);
      CHECK(enc.error().code == "NIP44_INVALID_PLAINTEXT");
      continue;
    }
    REQUIRE(enc);
    auto raw = base64_decode(*enc);
    REQUIRE(raw);
    CHECK(raw->size() == 1 + 32 + 6 + nip44::calc_padded_len(len) + 32);
    auto dec = nip44::decrypt(*enc, test_ck(), enc->size());
    REQUIRE(dec);
    CHECK(dec->size() == len);
    CHECK(*dec == pt);
  }
}

TEST_CASE("NIP-44 extended-length boundary vectors (44.md 2026-06)", "[nip44]") {
  auto v = load_json("nip44-extended-length.json");
  auto ck = secret_hex(v["conversation_key"]);
  auto nonce = hexa<32>(v["nonce"]);
  CHECK(hex32(ck) == v2()["valid"]["encrypt_decrypt"][0]["conversation_key"].get<std::string>());
  REQUIRE(v["vectors"].size() == 3);
  for (const auto& c : v["vectors"]) {
    auto len = c["plaintext_len"].get<size_t>();
    INFO(len);
    std::string pt(len, 'a');
    CHECK(sha_hex(pt) == c["plaintext_sha256"].get<std::string>());
    CHECK(nip44::calc_padded_len(len) == c["padded_len"].get<uint64_t>());
    auto enc = nip44::encrypt(pt, ck, nonce);
    REQUIRE(enc);
    CHECK(sha_hex(*enc) == c["payload_sha256"].get<std::string>());
    auto raw = base64_decode(*enc);
    REQUIRE(raw);
    CHECK(raw->size() == 1 + 32 + c["prefix_bytes"].get<size_t>() + c["padded_len"].get<size_t>() + 32);
    auto dec = nip44::decrypt(*enc, ck);
    REQUIRE(dec);
    CHECK(*dec == pt);
  }
}

TEST_CASE("NIP-44 tampering is caught by the MAC", "[nip44]") {
  auto enc = nip44::encrypt("hello NWC, this is a forty byte message.", test_ck());  // 40 bytes, padded 64
  REQUIRE(enc);
  auto raw = *base64_decode(*enc);
  for (size_t pos : {size_t{1}, size_t{20}, size_t{40}, raw.size() - 40, raw.size() - 1}) {
    INFO(pos);
    Bytes t = raw;
    t[pos] ^= 0x01;
    auto r = nip44::decrypt(base64_encode(t), test_ck());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "NIP44_INVALID_MAC");
  }
  // Wrong conversation key.
  auto other = secret_hex(std::string(64, '7'));
  auto r = nip44::decrypt(*enc, other);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "NIP44_INVALID_MAC");
  // Truncated by one block of base64 / one byte.
  Bytes shorter(raw.begin(), raw.end() - 1);
  CHECK(nip44::decrypt(base64_encode(shorter), test_ck()).error().code == "NIP44_INVALID_MAC");
}

TEST_CASE("NIP-44 version byte, base64 shape and size limits", "[nip44]") {
  auto enc = nip44::encrypt("hello", test_ck());
  REQUIRE(enc);
  auto raw = *base64_decode(*enc);
  for (uint8_t ver : {0, 1, 3, 0xff}) {
    Bytes t = raw;
    t[0] = ver;
    auto r = nip44::decrypt(base64_encode(t), test_ck());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "NIP44_UNKNOWN_VERSION");
  }
  CHECK(nip44::decrypt("", test_ck()).error().code == "NIP44_INVALID_PAYLOAD");
  CHECK(nip44::decrypt("#" + *enc, test_ck()).error().code == "NIP44_UNKNOWN_VERSION");
  // base64url alphabet and missing padding are not NIP-44 base64.
  std::string url = base64_encode(raw, /*url=*/true, /*pad=*/true);
  std::string std_b64 = base64_encode(raw);
  if (url != std_b64) CHECK(nip44::decrypt(url, test_ck()).error().code == "NIP44_INVALID_PAYLOAD");
  Bytes odd = raw;
  odd.push_back(0);  // 1+32+34+32+1 = 100 bytes -> base64 needs padding
  std::string unpadded = base64_encode(odd, false, false);
  REQUIRE(unpadded.back() != '=');
  CHECK(nip44::decrypt(unpadded, test_ck()).error().code == "NIP44_INVALID_PAYLOAD");
  CHECK(nip44::decrypt(std::string(132, '!'), test_ck()).error().code == "NIP44_INVALID_PAYLOAD");
  CHECK(nip44::decrypt(std::string(131, 'A'), test_ck()).error().code == "NIP44_INVALID_PAYLOAD");
  std::string with_space = *enc;
  with_space[10] = ' ';
  CHECK(nip44::decrypt(with_space, test_ck()).error().code == "NIP44_INVALID_PAYLOAD");
  // Local ceiling applies before decoding.
  auto big = nip44::decrypt(*enc, test_ck(), enc->size() - 1);
  REQUIRE_FALSE(big);
  CHECK(big.error().code == "NIP44_PAYLOAD_TOO_LARGE");
  CHECK(nip44::decrypt(*enc, test_ck(), enc->size()));
}

TEST_CASE("NIP-44 unpadding rules on correctly MACed buffers", "[nip44]") {
  const auto& ck = test_ck();
  // Control: a well-formed short buffer decrypts.
  auto good = nip44::decrypt(forge(ck, padded_buffer({0, 5}, "hello", 2 + 32)), ck);
  REQUIRE(good);
  CHECK(*good == "hello");
  auto code = [&](const Bytes& padded) { return nip44::decrypt(forge(ck, padded), ck).error().code; };
  CHECK(code(padded_buffer({0, 5}, "hello", 2 + 64)) == "NIP44_INVALID_PADDING");   // too much padding
  CHECK(code(padded_buffer({0, 40}, "hello", 2 + 32)) == "NIP44_INVALID_PADDING");  // prefix > data
  CHECK(code(padded_buffer({0, 0}, "", 2 + 32)) == "NIP44_INVALID_PADDING");        // zero length
  // Extended prefix must only be used for >= 65536 bytes.
  CHECK(code(padded_buffer({0, 0, 0, 0, 0, 5}, "hello", 6 + 32)) == "NIP44_INVALID_PADDING");
  CHECK(code(padded_buffer({0, 0, 0, 0, 0xff, 0xff}, "", 6 + 65536)) == "NIP44_INVALID_PADDING");
  // A hand-built extended buffer of exactly 65536 bytes decrypts.
  std::string pt(65536, 'z');
  auto ext = nip44::decrypt(forge(ck, padded_buffer({0, 0, 0, 1, 0, 0}, pt, 6 + 65536)), ck);
  REQUIRE(ext);
  CHECK(*ext == pt);
  // Same data with a u16 prefix form is inconsistent (65536 cannot be a u16).
  CHECK(code(padded_buffer({0xff, 0xff}, pt.substr(0, 65535), 2 + 65536 + 16)) == "NIP44_INVALID_PADDING");
  // Valid MAC and padding but not UTF-8.
  CHECK(code(padded_buffer({0, 2}, "\xc3\x28", 2 + 32)) == "NIP44_INVALID_PLAINTEXT");
}

TEST_CASE("NIP-44 encrypt input checks and nonce freshness", "[nip44]") {
  CHECK(nip44::encrypt("", test_ck()).error().code == "NIP44_INVALID_PLAINTEXT");
  CHECK(nip44::encrypt("\xff\xfe", test_ck()).error().code == "NIP44_INVALID_PLAINTEXT");
  auto a = nip44::encrypt("same", test_ck());
  auto b = nip44::encrypt("same", test_ck());
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*a != *b);
  CHECK(a->size() == 132);  // 1 + 32 + 34 + 32 = 99 bytes
  CHECK(*nip44::decrypt(*a, test_ck()) == "same");
  // Round trip across the padding boundaries.
  for (size_t len : {1, 31, 32, 33, 64, 65, 255, 256, 257, 1000, 65535}) {
    std::string pt(len, 'q');
    auto e = nip44::encrypt(pt, test_ck());
    REQUIRE(e);
    CHECK(base64_decode(*e)->size() == 1 + 32 + 2 + nip44::calc_padded_len(len) + 32);
    CHECK(*nip44::decrypt(*e, test_ck()) == pt);
  }
}
