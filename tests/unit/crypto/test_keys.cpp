// BIP-340 keys/signatures (all 19 rows of bip340-test-vectors.csv), ECDH raw x, secrets, UTF-8, hashes.
#include <atomic>
#include <cstring>
#include <thread>

#include "test_helpers.h"

using namespace sw;
using namespace sw::test;

namespace {

struct Bip340Row {
  int index;
  std::string sk, pk, aux, msg, sig;
  bool valid;
  std::string comment;
};

std::vector<Bip340Row> load_bip340() {
  std::istringstream in(read_file("bip340-test-vectors.csv"));
  std::string line;
  std::getline(in, line);  // header
  std::vector<Bip340Row> rows;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> f;
    std::string cur;
    for (char c : line) {
      if (c == ',') {
        f.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    f.push_back(cur);
    REQUIRE(f.size() == 8);
    REQUIRE((f[6] == "TRUE" || f[6] == "FALSE"));
    rows.push_back({std::stoi(f[0]), f[1], f[2], f[3], f[4], f[5], f[6] == "TRUE", f[7]});
  }
  return rows;
}

}  // namespace

TEST_CASE("BIP-340: every row of bip340-test-vectors.csv", "[bip340]") {
  auto rows = load_bip340();
  REQUIRE(rows.size() == 19);
  int signed_rows = 0, failing_rows = 0;
  for (const auto& r : rows) {
    INFO("row " << r.index << " " << r.comment);
    auto pk_bytes = hexb(r.pk);
    REQUIRE(pk_bytes.size() == 32);
    crypto::XOnlyPubKey pk;
    std::copy(pk_bytes.begin(), pk_bytes.end(), pk.begin());
    auto msg = hexb(r.msg);
    auto sig = hexa<64>(r.sig);

    CHECK(crypto::schnorr_verify(pk, msg.data(), msg.size(), sig) == r.valid);
    if (!r.valid) ++failing_rows;

    if (!r.sk.empty()) {
      auto sk = sk_hex(r.sk);
      CHECK(sk.public_key() == pk);  // derivation
      auto aux = hexa<32>(r.aux);
      auto made = crypto::schnorr_sign_with_aux(sk, msg.data(), msg.size(), aux.data());
      REQUIRE(made);
      CHECK(hex_encode(made->data(), 64) == hex_encode(sig.data(), 64));
      ++signed_rows;
    }
  }
  CHECK(signed_rows == 8);   // rows 0-3 and 15-18 carry a secret key
  CHECK(failing_rows == 10);  // rows 5-14
}

TEST_CASE("BIP-340: message lengths 0/1/17/100 are signed as given, not hashed or truncated", "[bip340]") {
  auto rows = load_bip340();
  for (int idx : {15, 16, 17, 18}) {
    const auto& r = rows[static_cast<size_t>(idx)];
    auto msg = hexb(r.msg);
    auto pk = hexa<32>(r.pk);
    auto sig = hexa<64>(r.sig);
    REQUIRE(crypto::schnorr_verify(pk, msg.data(), msg.size(), sig));
    Bytes longer = msg;
    longer.push_back(0);
    CHECK_FALSE(crypto::schnorr_verify(pk, longer.data(), longer.size(), sig));
  }
}

TEST_CASE("BIP-340: random-aux signing verifies, differs per call, tampering fails", "[bip340]") {
  auto sk = crypto::SecretKey::generate();
  REQUIRE(sk.valid());
  Bytes msg = to_bytes("satwarden");
  auto s1 = crypto::schnorr_sign(sk, msg.data(), msg.size());
  auto s2 = crypto::schnorr_sign(sk, msg.data(), msg.size());
  REQUIRE(s1);
  REQUIRE(s2);
  CHECK(*s1 != *s2);  // fresh aux randomness
  CHECK(crypto::schnorr_verify(sk.public_key(), msg.data(), msg.size(), *s1));
  CHECK(crypto::schnorr_verify(sk.public_key(), msg.data(), msg.size(), *s2));
  auto bad = *s1;
  bad[63] ^= 1;
  CHECK_FALSE(crypto::schnorr_verify(sk.public_key(), msg.data(), msg.size(), bad));
  msg[0] ^= 1;
  CHECK_FALSE(crypto::schnorr_verify(sk.public_key(), msg.data(), msg.size(), *s1));
  // Aux = nullptr means zeros: deterministic.
  auto d1 = crypto::schnorr_sign_with_aux(sk, msg.data(), msg.size(), nullptr);
  auto d2 = crypto::schnorr_sign_with_aux(sk, msg.data(), msg.size(), nullptr);
  REQUIRE(d1);
  REQUIRE(d2);
  CHECK(*d1 == *d2);
}

TEST_CASE("Secret keys: range validation and hex parsing", "[keys]") {
  CHECK_FALSE(crypto::SecretKey::from_hex(std::string(64, '0')));
  CHECK(crypto::SecretKey::from_hex(std::string(63, '0') + "1"));
  CHECK_FALSE(crypto::SecretKey::from_hex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"));  // n
  CHECK(crypto::SecretKey::from_hex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140"));        // n-1
  CHECK_FALSE(crypto::SecretKey::from_hex(std::string(64, 'f')));
  CHECK_FALSE(crypto::SecretKey::from_hex(std::string(62, '1')));
  CHECK_FALSE(crypto::SecretKey::from_hex(std::string(66, '1')));
  CHECK_FALSE(crypto::SecretKey::from_hex(std::string(63, '1') + "g"));
  auto e = crypto::SecretKey::from_hex(std::string(64, 'f'));
  REQUIRE_FALSE(e);
  CHECK(e.error().code == "INVALID_SECRET_KEY");
  CHECK(e.error().message.find("ffff") == std::string::npos);

  // sk = 3 -> the BIP-340 row 0 public key.
  auto k3 = sk_hex("0000000000000000000000000000000000000000000000000000000000000003");
  CHECK(k3.public_key_hex() == "f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9");
  // Upper case hex is fine for the secret key (the BIP-340 CSV is upper case).
  CHECK(sk_hex("B7E151628AED2A6ABF7158809CF4F3C762E7160F38B4DA56A784D9045190CFEF").public_key_hex() ==
        "dff1d77f2a671c5f36183726db2341be58feae1da2deced843240f7b502ba659");

  crypto::SecretKey empty;
  CHECK_FALSE(empty.valid());
  Bytes m(32, 1);
  auto r = crypto::schnorr_sign(empty, m.data(), m.size());
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "INVALID_SECRET_KEY");
}

TEST_CASE("Public keys: x-only validation and strict lowercase hex", "[keys]") {
  const std::string g = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
  CHECK(crypto::parse_xonly_pubkey_hex(g));
  std::string upper = g;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  CHECK_FALSE(crypto::parse_xonly_pubkey_hex(upper));
  CHECK_FALSE(crypto::parse_xonly_pubkey_hex(g.substr(2)));
  CHECK_FALSE(crypto::parse_xonly_pubkey_hex(g + "00"));
  CHECK_FALSE(crypto::parse_xonly_pubkey_hex(std::string(64, 'f')));  // >= p
  CHECK_FALSE(crypto::parse_xonly_pubkey_hex(std::string(64, '0')));  // x=0 does not lift
  CHECK_FALSE(crypto::parse_xonly_pubkey_hex("eefdea4cdb677750a420fee807eacf21eb9898ae79b9768766e4faa04a2d4a34"));  // CSV row 5
}

TEST_CASE("ECDH: raw x coordinate, symmetric, matches NIP-04 shared_x", "[ecdh]") {
  auto v = load_json("nip04.json");
  int n = 0;
  for (const auto& c : v["valid_decrypt"]) {
    auto a = sk_hex(c["sender_sec"]);
    auto b = sk_hex(c["recipient_sec"]);
    CHECK(a.public_key_hex() == c["sender_pub"].get<std::string>());
    CHECK(b.public_key_hex() == c["recipient_pub"].get<std::string>());
    auto ab = crypto::ecdh_x(a, b.public_key());
    auto ba = crypto::ecdh_x(b, a.public_key());
    REQUIRE(ab);
    REQUIRE(ba);
    CHECK(hex32(*ab) == c["shared_x"].get<std::string>());
    CHECK(hex32(*ba) == c["shared_x"].get<std::string>());
    ++n;
  }
  CHECK(n == 3);
  auto a = sk_hex(std::string(63, '0') + "1");
  crypto::XOnlyPubKey bad;
  bad.fill(0xff);
  auto r = crypto::ecdh_x(a, bad);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "INVALID_PUBLIC_KEY");
}

TEST_CASE("Secret32 wipes on move and clear", "[secret]") {
  uint8_t raw[32];
  for (int i = 0; i < 32; ++i) raw[i] = static_cast<uint8_t>(i + 1);
  crypto::Secret32 a(raw);
  crypto::Secret32 b(std::move(a));
  CHECK(b.data()[31] == 32);
  uint8_t zeros[32] = {0};
  CHECK(std::memcmp(a.data(), zeros, 32) == 0);  // NOLINT: moved-from is defined as wiped
  b.clear();
  CHECK(std::memcmp(b.data(), zeros, 32) == 0);
  std::string s = "secret";
  crypto::wipe(s);
  CHECK(s.empty());
}

TEST_CASE("UTF-8 validation", "[utf8]") {
  CHECK(crypto::valid_utf8(""));
  CHECK(crypto::valid_utf8("plain ascii \x7f"));
  CHECK(crypto::valid_utf8("\xc2\xa0 \xe2\x80\xa8 \xf0\x9f\xa6\x84"));  // NBSP, U+2028, unicorn
  CHECK(crypto::valid_utf8("\xf4\x8f\xbf\xbf"));                        // U+10FFFF
  CHECK_FALSE(crypto::valid_utf8("\x80"));
  CHECK_FALSE(crypto::valid_utf8("\xc0\xaf"));          // overlong '/'
  CHECK_FALSE(crypto::valid_utf8("\xe0\x80\xaf"));      // overlong
  CHECK_FALSE(crypto::valid_utf8("\xed\xa0\x80"));      // surrogate D800
  CHECK_FALSE(crypto::valid_utf8("\xf4\x90\x80\x80"));  // > U+10FFFF
  CHECK_FALSE(crypto::valid_utf8("\xf0\x9f\xa6"));      // truncated
  CHECK_FALSE(crypto::valid_utf8("\xff"));
}

TEST_CASE("Hashes: SHA-256 / HMAC / HKDF known answers", "[hash]") {
  CHECK(sha_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2.
  std::string key = "Jefe", data = "what do ya want for nothing?";
  auto h = crypto::hmac_sha256(reinterpret_cast<const uint8_t*>(key.data()), key.size(),
                               reinterpret_cast<const uint8_t*>(data.data()), data.size());
  CHECK(hex_encode(h.data(), 32) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // RFC 5869 test case 1.
  auto ikm = hexb("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
  auto salt = hexb("000102030405060708090a0b0c");
  auto info = hexb("f0f1f2f3f4f5f6f7f8f9");
  auto prk = crypto::hkdf_extract(salt.data(), salt.size(), ikm.data(), ikm.size());
  CHECK(hex_encode(prk.data(), 32) == "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
  auto okm = crypto::hkdf_expand(prk.data(), 32, info.data(), info.size(), 42);
  CHECK(hex_encode(okm) ==
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST_CASE("Shared secp256k1 context is safe to use from several threads", "[keys][threads]") {
  std::vector<crypto::SecretKey> keys;
  for (int i = 0; i < 4; ++i) keys.push_back(crypto::SecretKey::generate());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        uint8_t msg[32];
        crypto::random_bytes(msg, sizeof msg);
        const auto& k = keys[static_cast<size_t>(t)];
        auto sig = crypto::schnorr_sign(k, msg, sizeof msg);
        if (!sig || !crypto::schnorr_verify(k.public_key(), msg, sizeof msg, *sig)) ++failures;
        auto ab = crypto::ecdh_x(k, keys[static_cast<size_t>((t + 1) % 4)].public_key());
        auto ba = crypto::ecdh_x(keys[static_cast<size_t>((t + 1) % 4)], k.public_key());
        if (!ab || !ba || !crypto::ct_equal(ab->data(), ba->data(), 32)) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures.load() == 0);
}
