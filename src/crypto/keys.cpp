// secp256k1 keys, BIP-340 Schnorr signatures and raw-x ECDH on libsecp256k1 0.2.
#include <secp256k1.h>
#include <secp256k1_ecdh.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>

#include <cstdlib>
#include <cstring>

#include "crypto/crypto.h"
#include "crypto/internal.h"

namespace sw::crypto {

using detail::secp_ctx;

namespace {

Error bad_secret() { return make_error("INVALID_SECRET_KEY", "secret key must be 32 bytes in [1, n-1]"); }
Error bad_pubkey() { return make_error("INVALID_PUBLIC_KEY", "public key is not a valid x-only secp256k1 key"); }

// RAII keypair: the keypair struct contains the secret scalar, so it is wiped when done.
struct Keypair {
  secp256k1_keypair kp;
  ~Keypair() { wipe(&kp, sizeof kp); }
};

// Lifts an x-only key to the full point with even Y (prefix 0x02), as NIP-04/NIP-44 require.
bool lift_even(const XOnlyPubKey& x, secp256k1_pubkey* out) {
  unsigned char ser[33];
  ser[0] = 0x02;
  std::memcpy(ser + 1, x.data(), 32);
  return secp256k1_ec_pubkey_parse(secp_ctx(), out, ser, sizeof ser) == 1;
}

// secp256k1_ecdh's default hash is SHA-256(compressed point); Nostr wants the bare X coordinate.
int copy_x(unsigned char* output, const unsigned char* x32, const unsigned char* /*y32*/, void* /*data*/) {
  std::memcpy(output, x32, 32);
  return 1;
}

}  // namespace

bool secret_key_valid(const uint8_t* sk32) { return secp256k1_ec_seckey_verify(secp_ctx(), sk32) == 1; }

bool xonly_pubkey_valid(const uint8_t* pk32) {
  secp256k1_xonly_pubkey pk;
  return secp256k1_xonly_pubkey_parse(secp_ctx(), &pk, pk32) == 1;
}

bool compressed_pubkey_valid(const uint8_t* pk33) {
  if (pk33[0] != 0x02 && pk33[0] != 0x03) return false;  // ec_pubkey_parse would also take 65-byte forms
  secp256k1_pubkey pk;
  return secp256k1_ec_pubkey_parse(secp_ctx(), &pk, pk33, 33) == 1;
}

std::optional<XOnlyPubKey> parse_xonly_pubkey_hex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  for (char c : hex)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  auto b = hex_decode(hex);
  if (!b) return std::nullopt;
  XOnlyPubKey pk;
  std::memcpy(pk.data(), b->data(), 32);
  if (!xonly_pubkey_valid(pk.data())) return std::nullopt;
  return pk;
}

Result<SecretKey> SecretKey::from_bytes(const uint8_t* data, size_t len) {
  if (!data || len != 32 || !secret_key_valid(data)) return bad_secret();
  SecretKey k;
  k.secret_ = Secret32(data);
  Keypair kp;
  secp256k1_xonly_pubkey xpk;
  if (!secp256k1_keypair_create(secp_ctx(), &kp.kp, data) ||
      !secp256k1_keypair_xonly_pub(secp_ctx(), &xpk, nullptr, &kp.kp) ||
      !secp256k1_xonly_pubkey_serialize(secp_ctx(), k.pub_.data(), &xpk))
    return bad_secret();
  k.valid_ = true;
  return k;
}

Result<SecretKey> SecretKey::from_hex(std::string_view hex) {
  if (hex.size() != 64) return bad_secret();
  auto b = hex_decode(hex);
  if (!b) return bad_secret();
  auto r = from_bytes(b->data(), b->size());
  wipe(b->data(), b->size());
  return r;
}

SecretKey SecretKey::generate() {
  // A uniformly random 256-bit value is >= n with probability ~2^-128; loop is bounded in practice.
  for (int attempt = 0; attempt < 64; ++attempt) {
    Secret32 s;
    random_bytes(s.data(), 32);
    auto r = from_bytes(s.data(), 32);
    if (r) return std::move(r).value();
  }
  std::abort();  // the CSPRNG is broken
}

Result<Signature64> schnorr_sign_with_aux(const SecretKey& sk, const uint8_t* msg, size_t msg_len,
                                          const uint8_t* aux32) {
  if (!sk.valid()) return bad_secret();
  Keypair kp;
  if (!secp256k1_keypair_create(secp_ctx(), &kp.kp, sk.data())) return bad_secret();
  unsigned char zeros[32] = {0};
  secp256k1_schnorrsig_extraparams extra = SECP256K1_SCHNORRSIG_EXTRAPARAMS_INIT;
  // BIP-340 nonce function with aux randomness (nullptr would be treated as zeros too; be explicit).
  extra.ndata = const_cast<uint8_t*>(aux32 ? aux32 : zeros);
  Signature64 sig;
  if (!secp256k1_schnorrsig_sign_custom(secp_ctx(), sig.data(), msg_len ? msg : nullptr, msg_len, &kp.kp, &extra))
    return make_error("SIGN_FAILED", "schnorr signing failed");
  // BIP-340 recommends verifying a fresh signature (guards against fault attacks / memory corruption).
  if (!schnorr_verify(sk.public_key(), msg, msg_len, sig))
    return make_error("SIGN_FAILED", "fresh schnorr signature did not verify");
  return sig;
}

Result<Signature64> schnorr_sign(const SecretKey& sk, const uint8_t* msg, size_t msg_len) {
  uint8_t aux[32];
  random_bytes(aux, sizeof aux);
  auto r = schnorr_sign_with_aux(sk, msg, msg_len, aux);
  wipe(aux, sizeof aux);
  return r;
}

bool schnorr_verify(const XOnlyPubKey& pub, const uint8_t* msg, size_t msg_len, const Signature64& sig) {
  secp256k1_xonly_pubkey pk;
  if (!secp256k1_xonly_pubkey_parse(secp_ctx(), &pk, pub.data())) return false;
  return secp256k1_schnorrsig_verify(secp_ctx(), sig.data(), msg_len ? msg : nullptr, msg_len, &pk) == 1;
}

Result<Secret32> ecdh_x(const SecretKey& sk, const XOnlyPubKey& peer) {
  if (!sk.valid()) return bad_secret();
  secp256k1_pubkey point;
  if (!lift_even(peer, &point)) return bad_pubkey();
  Secret32 out;
  if (!secp256k1_ecdh(secp_ctx(), out.data(), &point, sk.data(), copy_x, nullptr)) return bad_secret();
  return out;
}

}  // namespace sw::crypto
