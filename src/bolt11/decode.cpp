// BOLT #11 decoding: container, HRP, tagged fields, signature. See bolt11.h for the contract.
#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include <algorithm>
#include <array>
#include <limits>

#include "bolt11/bolt11.h"
#include "bolt11/codec.h"
#include "crypto/crypto.h"

namespace sw::bolt11 {

using detail::Words;

namespace {

constexpr size_t kTimestampWords = 7;    // 35 bits
constexpr size_t kSignatureWords = 104;  // 520 bits = 64-byte r||s + recovery id
constexpr uint64_t kMsatPerBtc = 100'000'000'000ULL;
constexpr uint64_t kMaxMsat = 21'000'000ULL * kMsatPerBtc;  // 2.1e18, fits int64

// Tagged field types (the value of the bech32 character).
enum : uint8_t {
  kTagP = 1, kTagR = 3, kTag9 = 5, kTagX = 6, kTagF = 9, kTagD = 13, kTagS = 16, kTagN = 19, kTagH = 23,
  kTagC = 24, kTagM = 27,
};

Error bad(std::string message) { return make_error(kInvalidInvoice, std::move(message)); }

// Keeps attacker-controlled text in messages short.
std::string clip(std::string_view s, size_t max = 24) {
  if (s.size() <= max) return std::string(s);
  return std::string(s.substr(0, max)) + "...";
}

const secp256k1_context* secp() {
  // Created once (thread-safe static init); only read afterwards (verify/recover/parse), which is thread-safe.
  static const secp256k1_context* ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
  return ctx;
}

bool valid_pubkey(const Bytes& b) {
  if (b.size() != 33 || (b[0] != 0x02 && b[0] != 0x03)) return false;
  secp256k1_pubkey pk;
  return secp256k1_ec_pubkey_parse(secp(), &pk, b.data(), b.size()) == 1;
}

// Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool valid_utf8(const Bytes& b) {
  size_t i = 0;
  while (i < b.size()) {
    const uint8_t c = b[i];
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xe0) == 0xc0) { n = 1; cp = c & 0x1f; }
    else if ((c & 0xf0) == 0xe0) { n = 2; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { n = 3; cp = c & 0x07; }
    else return false;
    if (i + n >= b.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      if ((b[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (b[i + k] & 0x3f);
    }
    static constexpr uint32_t kMin[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

// Big-endian integer from 5-bit words (x and c fields).
// Decision: the spec says readers SHOULD treat leading zero words in x/c as invalid (writers SHOULD/MUST use the
// minimal data_length). We follow that: a non-minimal encoding is rejected rather than silently accepted, since
// these two values gate whether and how we pay. A zero-length field is the minimal encoding of 0.
Result<uint64_t> parse_uint(const uint8_t* d, size_t len, const char* what) {
  if (len > 0 && d[0] == 0) return bad(std::string(what) + " has leading zero words (non-minimal encoding)");
  uint64_t v = 0;
  for (size_t i = 0; i < len; ++i) {
    if (v >> 59) return bad(std::string(what) + " overflows 64 bits");
    v = (v << 5) | d[i];
  }
  return v;
}

struct NetworkInfo {
  const char* currency;  // after "ln"
  const char* name;
  uint8_t p2pkh;
  uint8_t p2sh;
  const char* segwit_hrp;
};

constexpr NetworkInfo kNetworks[] = {
    {"bc", "mainnet", 0x00, 0x05, "bc"},
    {"tb", "testnet", 0x6f, 0xc4, "tb"},
    {"tbs", "signet", 0x6f, 0xc4, "tb"},
    {"bcrt", "regtest", 0x6f, 0xc4, "bcrt"},
};

uint64_t be_uint(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

// HRP = "ln" + currency + optional amount. The currency is the run of letters before the first digit, matched
// exactly against the known prefixes (equivalent to longest-prefix-first: "lnbcrt" is regtest, never "bc"+"rt").
Result<const NetworkInfo*> parse_hrp(std::string_view hrp, std::optional<uint64_t>& amount_msat) {
  if (hrp.size() < 2 || hrp.substr(0, 2) != "ln") return bad("human-readable part must start with 'ln'");
  std::string_view rest = hrp.substr(2);
  size_t digit = 0;
  while (digit < rest.size() && !(rest[digit] >= '0' && rest[digit] <= '9')) ++digit;
  const std::string_view currency = rest.substr(0, digit);
  const NetworkInfo* net = nullptr;
  for (const auto& n : kNetworks) {
    if (currency == n.currency) net = &n;
  }
  if (!net) return bad("unknown network prefix '" + clip(currency) + "'");

  std::string_view amount = rest.substr(digit);
  amount_msat.reset();
  if (amount.empty()) return net;
  char mult = 0;
  const char last = amount.back();
  if (!(last >= '0' && last <= '9')) {
    if (last != 'm' && last != 'u' && last != 'n' && last != 'p') {
      return bad(std::string("invalid amount multiplier '") + last + "'");
    }
    mult = last;
    amount.remove_suffix(1);
  }
  if (amount.empty()) return bad("amount multiplier without digits");
  for (char c : amount) {
    if (!(c >= '0' && c <= '9')) return bad("amount contains a non-digit '" + clip(amount) + "'");
  }
  if (amount[0] == '0') return bad("amount has a leading zero or is zero");
  uint64_t v = 0;
  for (char c : amount) {
    if (__builtin_mul_overflow(v, uint64_t{10}, &v) || __builtin_add_overflow(v, uint64_t(c - '0'), &v)) {
      return bad("amount overflows 64-bit millisatoshis");
    }
  }
  uint64_t msat = 0;
  uint64_t unit = 0;
  switch (mult) {
    case 0: unit = kMsatPerBtc; break;
    case 'm': unit = 100'000'000ULL; break;
    case 'u': unit = 100'000ULL; break;
    case 'n': unit = 100ULL; break;
    default: unit = 0; break;  // 'p'
  }
  if (mult == 'p') {
    // 1 pico-BTC = 0.1 msat: the last digit must be 0 or the amount is not a whole number of msat.
    if (v % 10 != 0) return bad("sub-millisatoshi amount ('p' amount must end in 0)");
    msat = v / 10;
  } else if (__builtin_mul_overflow(v, unit, &msat)) {
    return bad("amount overflows 64-bit millisatoshis");
  }
  if (msat > kMaxMsat) return bad("amount exceeds 21,000,000 BTC");
  amount_msat = msat;
  return net;
}

}  // namespace

int64_t Invoice::expires_at() const {
  const uint64_t room = static_cast<uint64_t>(std::numeric_limits<int64_t>::max() - timestamp);
  if (timestamp < 0 || expiry >= room) return std::numeric_limits<int64_t>::max();
  return timestamp + static_cast<int64_t>(expiry);
}

bool Invoice::expired(int64_t now_unix) const { return now_unix >= expires_at(); }

bool Invoice::has_feature(int bit) const {
  return std::find(feature_bits.begin(), feature_bits.end(), bit) != feature_bits.end();
}

bool description_hash_matches(const Invoice& inv, std::string_view description) {
  if (!inv.description_hash) return false;
  const crypto::Hash32 h = crypto::sha256(description);
  return hex_encode(h.data(), h.size()) == *inv.description_hash;
}

Result<Invoice> decode(std::string_view text) {
  std::string_view s = trim(text);
  if (s.empty()) return bad("empty invoice");
  if (s.size() > kMaxInvoiceChars) {
    return bad("invoice too long: " + std::to_string(s.size()) + " characters (limit " +
               std::to_string(kMaxInvoiceChars) + ")");
  }
  constexpr std::string_view kScheme = "lightning:";
  if (s.size() >= kScheme.size()) {
    bool match = true;
    for (size_t i = 0; i < kScheme.size(); ++i) {
      char c = s[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != kScheme[i]) { match = false; break; }
    }
    if (match) s.remove_prefix(kScheme.size());
  }
  if (s.empty()) return bad("empty invoice");

  // ---- bech32 container (BIP-173, bech32 constant, no 90-character limit) ----
  bool has_lower = false, has_upper = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c < 33 || c > 126) return bad("invalid character at position " + std::to_string(i));
    if (c >= 'a' && c <= 'z') has_lower = true;
    if (c >= 'A' && c <= 'Z') has_upper = true;
  }
  if (has_lower && has_upper) return bad("mixed case");
  std::string str(s);
  for (char& c : str) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  const size_t sep = str.rfind('1');
  if (sep == std::string::npos) return bad("no separator '1'");
  if (sep == 0) return bad("empty human-readable part");
  const std::string hrp = str.substr(0, sep);
  const std::string_view data_chars = std::string_view(str).substr(sep + 1);
  if (data_chars.size() < 6) return bad("too short: no room for the checksum");
  Words words;
  words.reserve(data_chars.size());
  for (char c : data_chars) {
    const int v = detail::bech32_char_value(c);
    if (v < 0) return bad(std::string("invalid bech32 character '") + c + "' in data part");
    words.push_back(static_cast<uint8_t>(v));
  }
  const uint32_t chk = detail::bech32_polymod_verify(hrp, words);
  if (chk != detail::kBech32Const) {
    if (chk == detail::kBech32mConst) return bad("bad checksum (bech32m; BOLT 11 uses bech32)");
    return bad("bad checksum");
  }
  words.resize(words.size() - 6);
  if (words.size() < kTimestampWords + kSignatureWords) {
    return bad("too short: no room for timestamp and signature");
  }

  // ---- human-readable part ----
  Invoice inv;
  auto net = parse_hrp(hrp, inv.amount_msat);
  if (!net) return net.error();
  const NetworkInfo& ni = **net;
  inv.network = ni.name;
  inv.hrp_prefix = std::string("ln") + ni.currency;

  // ---- data part ----
  int64_t ts = 0;
  for (size_t i = 0; i < kTimestampWords; ++i) ts = (ts << 5) | words[i];
  inv.timestamp = ts;

  const size_t end = words.size() - kSignatureWords;
  size_t pos = kTimestampWords;
  // Single-valued fields (p s d h n x c 9 m) appearing twice: an identical repeat is redundant and tolerated
  // (the spec's own high-S example repeats `s`), a conflicting repeat is rejected — which p/s/x applies must
  // never be ambiguous for a payer.
  std::array<std::optional<Words>, 32> seen{};
  bool have_p = false, have_s = false, have_d = false, have_h = false, have_n = false;
  Bytes payee_n;
  while (pos < end) {
    if (end - pos < 3) return bad("truncated tagged field header");
    const uint8_t type = words[pos];
    const size_t len = static_cast<size_t>(words[pos + 1]) * 32 + words[pos + 2];
    pos += 3;
    const char tag = detail::bech32_char(type);
    const std::string tname = std::string("'") + tag + "'";
    if (len > end - pos) return bad("tagged field " + tname + " overruns the data part");
    const uint8_t* d = words.data() + pos;
    pos += len;

    // Fixed lengths: since lightning/bolts PR #1243 (2025-06-03) a reader MUST fail when p/h/s/n do not have
    // data_length 52/52/52/53. Earlier text said to skip such fields, and the 2020 example "Same, but including
    // fields which must be ignored" still relies on skipping. We deliberately follow the current normative text
    // and reject it (so does bitcoinjs bolt11); tests/unit/bolt11 asserts this.
    auto fixed = [&](size_t want, const char* what) -> std::optional<Error> {
      if (len != want) {
        return bad(std::string(what) + " has data_length " + std::to_string(len) + ", expected " +
                   std::to_string(want));
      }
      return std::nullopt;
    };

    if (type == kTagP || type == kTagS || type == kTagH) {
      if (auto e = fixed(52, type == kTagP ? "payment hash (p)"
                             : type == kTagS ? "payment secret (s)" : "description hash (h)")) {
        return *e;
      }
    }
    if (type == kTagN) {
      if (auto e = fixed(53, "payee node id (n)")) return *e;
    }
    const bool single = type == kTagP || type == kTagS || type == kTagD || type == kTagH || type == kTagN ||
                        type == kTagX || type == kTagC || type == kTag9 || type == kTagM;
    if (single) {
      Words content(d, d + len);
      if (seen[type]) {
        if (*seen[type] != content) return bad("conflicting duplicate " + tname + " fields");
        inv.skipped_fields.push_back({tag, type, len, "identical repeat"});
        continue;
      }
      seen[type] = std::move(content);
    }

    switch (type) {
      case kTagP: {
        inv.payment_hash = hex_encode(detail::words_to_bytes(d, len));
        have_p = true;
        break;
      }
      case kTagS: {
        inv.payment_secret = hex_encode(detail::words_to_bytes(d, len));
        have_s = true;
        break;
      }
      case kTagH: {
        inv.description_hash = hex_encode(detail::words_to_bytes(d, len));
        have_h = true;
        break;
      }
      case kTagN: {
        payee_n = detail::words_to_bytes(d, len);
        if (!valid_pubkey(payee_n)) return bad("payee node id (n) is not a valid public key");
        have_n = true;
        break;
      }
      case kTagD: {
        Bytes b = detail::words_to_bytes(d, len);
        if (!valid_utf8(b)) return bad("description (d) is not valid UTF-8");
        inv.description = to_string(b);
        have_d = true;
        break;
      }
      case kTagX: {
        auto v = parse_uint(d, len, "expiry (x)");
        if (!v) return v.error();
        inv.expiry = *v;
        inv.expiry_explicit = true;
        break;
      }
      case kTagC: {
        auto v = parse_uint(d, len, "min_final_cltv_expiry_delta (c)");
        if (!v) return v.error();
        inv.min_final_cltv_expiry_delta = *v;
        inv.min_final_cltv_explicit = true;
        break;
      }
      case kTagF: {
        if (len < 1) return bad("fallback address (f) is empty");
        const int version = d[0];
        if (version > 18) {  // 19..31: unknown version, MUST be skipped
          inv.skipped_fields.push_back({tag, type, len, "unknown fallback version " + std::to_string(version)});
          break;
        }
        Bytes prog = detail::words_to_bytes(d + 1, len - 1);
        // The program must re-encode to exactly the transmitted words (no extra words, zero padding).
        if (detail::bytes_to_words(prog.data(), prog.size()) != Words(d + 1, d + len)) {
          return bad("fallback address (f) has invalid padding");
        }
        // A known version with an impossible length is a malformed invoice, not an "unknown version": reject.
        Fallback fb;
        fb.version = version;
        fb.hex = hex_encode(prog);
        if (version == 17 || version == 18) {
          if (prog.size() != 20) return bad("fallback address (f) version " + std::to_string(version) +
                                            " must carry 20 bytes");
          fb.address = detail::base58check(version == 17 ? ni.p2pkh : ni.p2sh, prog);
        } else {
          if (version == 0 && prog.size() != 20 && prog.size() != 32) {
            return bad("fallback address (f) version 0 must carry 20 or 32 bytes");
          }
          if (prog.size() < 2 || prog.size() > 40) {
            return bad("fallback address (f) witness program must be 2..40 bytes");
          }
          fb.address = detail::segwit_address(ni.segwit_hrp, version, prog);
        }
        inv.fallbacks.push_back(std::move(fb));
        break;
      }
      case kTagR: {
        Bytes b = detail::words_to_bytes(d, len);
        if (b.empty() || b.size() % 51 != 0) return bad("route hint (r) length is not a multiple of 51 bytes");
        std::vector<RouteHop> hops;
        for (size_t off = 0; off < b.size(); off += 51) {
          const uint8_t* h = b.data() + off;
          Bytes pk(h, h + 33);
          if (!valid_pubkey(pk)) {
            return bad("route hint (r) hop " + std::to_string(hops.size() + 1) + " has an invalid node id");
          }
          RouteHop hop;
          hop.pubkey = hex_encode(pk);
          hop.short_channel_id = be_uint(h + 33, 8);
          hop.short_channel_id_str = std::to_string(hop.short_channel_id >> 40) + "x" +
                                     std::to_string((hop.short_channel_id >> 16) & 0xffffff) + "x" +
                                     std::to_string(hop.short_channel_id & 0xffff);
          hop.fee_base_msat = static_cast<uint32_t>(be_uint(h + 41, 4));
          hop.fee_proportional_millionths = static_cast<uint32_t>(be_uint(h + 45, 4));
          hop.cltv_expiry_delta = static_cast<uint16_t>(be_uint(h + 49, 2));
          hops.push_back(std::move(hop));
        }
        inv.route_hints.push_back(std::move(hops));
        break;
      }
      case kTag9: {
        // Bit 0 is the least significant bit of the last word. Leading zero words are tolerated here
        // (unlike x/c): they change no meaning and only a writer SHOULD minimise this field.
        for (size_t j = 0; j < len; ++j) {
          const uint8_t w = d[len - 1 - j];
          for (int b = 0; b < 5; ++b) {
            if ((w >> b) & 1) inv.feature_bits.push_back(static_cast<int>(j) * 5 + b);
          }
        }
        std::sort(inv.feature_bits.begin(), inv.feature_bits.end());
        for (int bit : inv.feature_bits) {
          if (bit % 2 == 0 && !feature_name(bit)) return bad("unknown required feature bit " + std::to_string(bit));
        }
        // BOLT 11: a feature vector missing known transitive dependencies MUST NOT be paid.
        const bool mpp = inv.has_feature(16) || inv.has_feature(17);
        if (mpp && !inv.has_feature(14) && !inv.has_feature(15)) {
          return bad("feature basic_mpp set without its dependency payment_secret");
        }
        break;
      }
      case kTagM: {
        inv.metadata = hex_encode(detail::words_to_bytes(d, len));
        break;
      }
      default:
        inv.skipped_fields.push_back({tag, type, len, "unknown field type"});
        break;
    }
  }

  if (!have_p) return bad("missing payment hash (p)");
  if (!have_s) return bad("missing payment secret (s)");
  if (have_d && have_h) return bad("both description (d) and description hash (h) present");
  if (!have_d && !have_h) return bad("missing description (d) or description hash (h)");

  // ---- signature ----
  const Bytes sig = detail::words_to_bytes(words.data() + end, kSignatureWords);  // exactly 65 bytes
  const int recid = sig[64];
  if (recid > 3) return bad("invalid signature recovery id " + std::to_string(recid));
  inv.signature = hex_encode(sig.data(), 64);
  inv.recovery_id = recid;

  Bytes signing = to_bytes(hrp);
  const Bytes packed = detail::words_to_bytes(words.data(), end, /*pad=*/true);
  signing.insert(signing.end(), packed.begin(), packed.end());
  const crypto::Hash32 msg = crypto::sha256(signing);
  inv.signing_hash = hex_encode(msg.data(), msg.size());

  secp256k1_ecdsa_signature plain;
  if (!secp256k1_ecdsa_signature_parse_compact(secp(), &plain, sig.data())) {
    return bad("invalid signature encoding (r or s out of range)");
  }
  secp256k1_ecdsa_signature normalized;
  inv.high_s = secp256k1_ecdsa_signature_normalize(secp(), &normalized, &plain) == 1;

  if (have_n) {
    // With n: verify against n; libsecp256k1 verification also refuses high-S, but say so precisely.
    if (inv.high_s) return bad("high-S signature with n field");
    secp256k1_pubkey pk;
    if (!secp256k1_ec_pubkey_parse(secp(), &pk, payee_n.data(), payee_n.size()) ||
        !secp256k1_ecdsa_verify(secp(), &plain, msg.data(), &pk)) {
      return bad("signature does not match payee node id (n)");
    }
    inv.payee = hex_encode(payee_n);
    inv.payee_from_n = true;
  } else {
    // Without n: public-key recovery with the transmitted recid. High-S MUST be accepted, and s must NOT be
    // normalised first (negating s yields a different key). libsecp256k1's recover does not require low-S.
    secp256k1_ecdsa_recoverable_signature rsig;
    if (!secp256k1_ecdsa_recoverable_signature_parse_compact(secp(), &rsig, sig.data(), recid)) {
      return bad("invalid signature encoding");
    }
    secp256k1_pubkey pk;
    if (!secp256k1_ecdsa_recover(secp(), &pk, &rsig, msg.data())) return bad("signature is not recoverable");
    std::array<uint8_t, 33> out{};
    size_t out_len = out.size();
    secp256k1_ec_pubkey_serialize(secp(), out.data(), &out_len, &pk, SECP256K1_EC_COMPRESSED);
    inv.payee = hex_encode(out.data(), out_len);
    inv.payee_from_n = false;
  }
  return inv;
}

}  // namespace sw::bolt11
