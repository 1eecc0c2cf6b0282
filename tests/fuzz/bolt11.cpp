// BOLT11 invoices (from agents, paid APIs and wallets): bolt11::decode on the input as given, then again with its
// bech32 checksum recomputed — random mutations almost never keep a valid checksum, so without the second pass
// the fuzzer would never get past the container into the HRP, tagged fields and signature. A decoded invoice is
// rendered as the decode_invoice tool does. Round trips: bytes → 5-bit words → bytes, and a computed bech32 /
// bech32m checksum verifies.
#include "bolt11/bolt11.h"
#include "bolt11/codec.h"
#include "fuzz.h"

using namespace sw;
namespace d = sw::bolt11::detail;

namespace {

void check_decoded(std::string_view text) {
  auto inv = bolt11::decode(text);
  if (!inv) {
    SW_FUZZ_CHECK(inv.error().code == bolt11::kInvalidInvoice);
    return;
  }
  const bolt11::Invoice& i = *inv;
  SW_FUZZ_CHECK(i.payment_hash.size() == 64);
  SW_FUZZ_CHECK(i.payee.size() == 66);
  SW_FUZZ_CHECK(i.signature.size() == 128);
  SW_FUZZ_CHECK(i.expires_at() >= i.timestamp);
  SW_FUZZ_CHECK(!i.amount_msat || *i.amount_msat > 0);
  for (size_t k = 1; k < i.feature_bits.size(); ++k) SW_FUZZ_CHECK(i.feature_bits[k - 1] < i.feature_bits[k]);
  (void)bolt11::features(i);
  (void)bolt11::description_hash_matches(i, "fuzz");
  (void)i.expired(1'700'000'000);
  const json out = bolt11::to_json(i, 1'700'000'000);
  (void)json_dump(out);
}

// The same text with the last six data characters replaced by the right bech32 checksum (lower-cased,
// "lightning:" prefix and surrounding whitespace dropped). Empty when there is no separator or no room.
std::string with_fixed_checksum(std::string_view text) {
  std::string s = ascii_lower(trim(text));
  if (s.rfind("lightning:", 0) == 0) s.erase(0, 10);
  const size_t sep = s.rfind('1');
  if (sep == std::string::npos || sep == 0 || s.size() - sep - 1 < 6) return "";
  const std::string_view hrp = std::string_view(s).substr(0, sep);
  d::Words words;
  for (size_t k = sep + 1; k < s.size() - 6; ++k) {
    const int v = d::bech32_char_value(s[k]);
    if (v < 0) return "";
    words.push_back(static_cast<uint8_t>(v));
  }
  const d::Words chk = d::bech32_checksum(hrp, words, d::kBech32Const);
  std::string out = s.substr(0, s.size() - 6);
  for (uint8_t w : chk) out.push_back(d::bech32_char(w));
  return out;
}

void codec_round_trips(const uint8_t* data, size_t size) {
  const d::Words words = d::bytes_to_words(data, size);
  SW_FUZZ_CHECK(words.size() == (size * 8 + 4) / 5);
  for (uint8_t w : words) SW_FUZZ_CHECK(w < 32);
  const Bytes back = d::words_to_bytes(words.data(), words.size(), false);
  SW_FUZZ_CHECK(back == Bytes(data, data + size));
  for (uint32_t constant : {d::kBech32Const, d::kBech32mConst}) {
    d::Words all = words;
    const d::Words chk = d::bech32_checksum("lnbc", all, constant);
    all.insert(all.end(), chk.begin(), chk.end());
    SW_FUZZ_CHECK(d::bech32_polymod_verify("lnbc", all) == constant);
  }
  for (uint8_t w : words) SW_FUZZ_CHECK(d::bech32_char_value(d::bech32_char(w)) == w);
  if (size >= 2 && size <= 40) (void)d::segwit_address("bc", data[0] % 17, Bytes(data + 1, data + size));
  if (size <= 64) (void)d::base58check(0x00, Bytes(data, data + size));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  check_decoded(text);
  const std::string fixed = with_fixed_checksum(text);
  if (!fixed.empty() && fixed != text) check_decoded(fixed);
  if (size <= 1024) codec_round_trips(data, size);
  return 0;
}
