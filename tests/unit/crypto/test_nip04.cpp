// NIP-04 against nip04.json (real interop, generated fixed-IV, invalid) plus edge cases.
#include "test_helpers.h"

using namespace sw;
using namespace sw::test;
namespace nip04 = sw::crypto::nip04;

namespace {
const json& vec() {
  static const json j = load_json("nip04.json");
  return j;
}
std::string plaintext_of(const json& c) {
  if (c.contains("plaintext")) return c["plaintext"];
  return repeat(c["plaintext_pattern"], c["plaintext_repeat"].get<size_t>());
}
}  // namespace

TEST_CASE("NIP-04 valid_decrypt: real go-nostr / nostr-tools payloads, both key directions", "[nip04]") {
  REQUIRE(vec()["valid_decrypt"].size() == 3);
  for (const auto& c : vec()["valid_decrypt"]) {
    auto sender = sk_hex(c["sender_sec"]);
    auto recipient = sk_hex(c["recipient_sec"]);
    std::string expect = plaintext_of(c);
    auto r1 = nip04::decrypt(c["payload"].get<std::string>(), recipient, sender.public_key());
    auto r2 = nip04::decrypt(c["payload"].get<std::string>(), sender, recipient.public_key());
    REQUIRE(r1);
    REQUIRE(r2);
    CHECK(*r1 == expect);
    CHECK(*r2 == expect);
  }
}

TEST_CASE("NIP-04 generated_encrypt: fixed IV reproduces the payload byte for byte", "[nip04]") {
  REQUIRE(vec()["generated_encrypt"].size() == 4);
  for (const auto& c : vec()["generated_encrypt"]) {
    INFO(c["plaintext"].get<std::string>());
    auto sender = sk_hex(c["sender_sec"]);
    auto recipient = sk_hex(c["recipient_sec"]);
    auto enc = nip04::encrypt(c["plaintext"].get<std::string>(), sender, recipient.public_key(), hexa<16>(c["iv_hex"]));
    REQUIRE(enc);
    CHECK(*enc == c["payload"].get<std::string>());
    auto shared = secret_hex(c["shared_x"]);
    auto enc2 = nip04::encrypt_with_shared(c["plaintext"].get<std::string>(), shared, hexa<16>(c["iv_hex"]));
    REQUIRE(enc2);
    CHECK(*enc2 == *enc);
    auto dec = nip04::decrypt(*enc, recipient, sender.public_key());
    REQUIRE(dec);
    CHECK(*dec == c["plaintext"].get<std::string>());
  }
}

TEST_CASE("NIP-04 invalid_decrypt: every case fails with a specific code", "[nip04]") {
  const auto& cases = vec()["invalid_decrypt"];
  REQUIRE(cases.size() == 4);
  for (const auto& c : cases) {
    std::string note = c["note"];
    INFO(note);
    auto sk = sk_hex(c["recipient_sec"]);
    auto pub = hexa<32>(c["sender_pub"]);
    auto r = nip04::decrypt(c["payload"].get<std::string>(), sk, pub);
    REQUIRE_FALSE(r);
    if (note.rfind("wrong key", 0) == 0) CHECK(r.error().code == "NIP04_DECRYPT_FAILED");
    else CHECK(r.error().code == "NIP04_INVALID_PAYLOAD");
  }
}

TEST_CASE("NIP-04 edge cases", "[nip04]") {
  auto a = sk_hex("91ba716fa9e7ea2fcbad360cf4f8e0d312f73984da63d90f524ad61a6a1e7dbe");
  auto b = sk_hex("96f6fa197aa07477ab88f6981118466ae3a982faab8ad5db9d5426870c73d220");
  auto enc = nip04::encrypt("{\"method\":\"get_info\"}", a, b.public_key());
  REQUIRE(enc);
  CHECK(*nip04::decrypt(*enc, b, a.public_key()) == "{\"method\":\"get_info\"}");
  auto enc_again = nip04::encrypt("{\"method\":\"get_info\"}", a, b.public_key());
  REQUIRE(enc_again);
  CHECK(*enc != *enc_again);  // random IV

  size_t sep = enc->find("?iv=");
  REQUIRE(sep != std::string::npos);
  std::string ct = enc->substr(0, sep), iv = enc->substr(sep + 4);
  auto code = [&](const std::string& p) {
    auto r = nip04::decrypt(p, b, a.public_key());
    return r ? std::string("OK") : r.error().code;
  };
  CHECK(code(ct + "?iv=" + iv + "?iv=" + iv) == "NIP04_INVALID_PAYLOAD");  // two separators
  CHECK(code("?iv=" + iv) == "NIP04_INVALID_PAYLOAD");                     // empty ciphertext
  CHECK(code(ct + "?iv=") == "NIP04_INVALID_PAYLOAD");                     // empty IV
  CHECK(code(ct + "?iv=" + iv.substr(0, iv.size() - 2)) == "NIP04_INVALID_PAYLOAD");  // unpadded IV
  CHECK(code("!!!!" + ct + "?iv=" + iv) == "NIP04_INVALID_PAYLOAD");       // bad base64
  CHECK(code(ct + "?IV=" + iv) == "NIP04_INVALID_PAYLOAD");
  // Flip a bit in the last ciphertext block -> padding breaks (NIP-04 has no MAC; this is the best signal).
  auto raw = *base64_decode(ct);
  raw.back() ^= 0x80;
  CHECK(code(base64_encode(raw) + "?iv=" + iv) == "NIP04_DECRYPT_FAILED");
  // Size ceiling before decoding.
  auto big = nip04::decrypt(*enc, b, a.public_key(), enc->size() - 1);
  REQUIRE_FALSE(big);
  CHECK(big.error().code == "NIP04_PAYLOAD_TOO_LARGE");
  // Invalid UTF-8 is refused on encrypt.
  CHECK(nip04::encrypt("\xc3\x28", a, b.public_key()).error().code == "NIP04_INVALID_PLAINTEXT");
  // Empty plaintext is representable (one block of padding).
  auto empty = nip04::encrypt("", a, b.public_key());
  REQUIRE(empty);
  CHECK(*nip04::decrypt(*empty, b, a.public_key()) == "");
  // Bad peer key.
  crypto::XOnlyPubKey bad;
  bad.fill(0xff);
  CHECK(nip04::encrypt("x", a, bad).error().code == "INVALID_PUBLIC_KEY");
}
