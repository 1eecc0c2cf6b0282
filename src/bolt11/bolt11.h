// sw::bolt11 — BOLT #11 Lightning invoice decoder (lnbc / lntb / lntbs / lnbcrt), no I/O.
// decode() parses the bech32 container (no 90-char limit, optional "lightning:" prefix), the HRP amount, every
// tagged field (p s d h n x c f r 9 m; unknown ones are skipped and recorded), checks the required fields and the
// signature: verified against `n` (low-S required) or, without `n`, the payee is recovered (high-S accepted).
// Fields with a wrong fixed length (p/h/s/n) are rejected, following the current (2025-06) normative text.
// to_json() renders the `decode_invoice` MCP tool output (schemas/decode_invoice.output.json).
// Thread-safety: all functions are pure and thread-safe. Errors: Result<> with code INVALID_INVOICE and a precise
// message; never throws.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/common.h"

namespace sw::bolt11 {

inline constexpr const char* kInvalidInvoice = "INVALID_INVOICE";
// Longest accepted input (after trimming whitespace): the capacity of a version-40 QR code in numeric mode;
// real invoices are far shorter, this only bounds work on hostile input.
inline constexpr size_t kMaxInvoiceChars = 7089;

struct RouteHop {
  std::string pubkey;                    // hex, 33-byte compressed node id
  uint64_t short_channel_id = 0;         // raw u64
  std::string short_channel_id_str;      // "BLOCKxTXxOUT"
  uint32_t fee_base_msat = 0;
  uint32_t fee_proportional_millionths = 0;
  uint16_t cltv_expiry_delta = 0;
};

struct Fallback {
  int version = 0;        // 0..16 witness version, 17 P2PKH, 18 P2SH
  std::string address;    // rendered for the invoice's network
  std::string hex;        // witness program / hash160, hex
};

// A tagged field that was skipped: an unknown type, or an `f` with version 19..31.
struct SkippedField {
  char tag = '?';         // bech32 character of the type
  int type = 0;           // 0..31
  size_t length_words = 0;
  std::string reason;
};

struct Feature {
  int bit = 0;
  std::string name;       // BOLT 9 name, or "unknown"
  bool required = false;  // even bit
};

struct Invoice {
  std::string network;                   // "mainnet" | "testnet" | "signet" | "regtest"
  std::string hrp_prefix;                // "lnbc" | "lntb" | "lntbs" | "lnbcrt"
  std::optional<uint64_t> amount_msat;   // nullopt = any amount
  int64_t timestamp = 0;                 // unix seconds
  std::string payment_hash;              // hex 32 B
  std::string payment_secret;            // hex 32 B
  std::optional<std::string> description;       // UTF-8 (d)
  std::optional<std::string> description_hash;  // hex 32 B (h)
  std::string payee;                     // hex 33 B: from n, or recovered from the signature
  bool payee_from_n = false;
  uint64_t expiry = 3600;                // seconds (x), default 3600
  bool expiry_explicit = false;
  uint64_t min_final_cltv_expiry_delta = 18;  // (c), default 18
  bool min_final_cltv_explicit = false;
  std::vector<std::vector<RouteHop>> route_hints;  // one inner vector per r field
  std::vector<int> feature_bits;         // ascending
  std::vector<Fallback> fallbacks;       // in invoice order (writer's preference)
  std::optional<std::string> metadata;   // hex (m)
  std::vector<SkippedField> skipped_fields;
  std::string signature;                 // hex 64 B r||s as transmitted
  int recovery_id = 0;
  bool high_s = false;
  std::string signing_hash;              // hex SHA-256 of hrp || data (what was signed)

  // timestamp + expiry (saturating).
  int64_t expires_at() const;
  // True when now >= expires_at() (the payer SHOULD NOT pay after timestamp + expiry).
  bool expired(int64_t now_unix) const;
  bool has_feature(int bit) const;
};

// Decodes and fully validates an invoice (surrounding whitespace and a "lightning:" prefix are accepted).
Result<Invoice> decode(std::string_view text);

// BOLT 9 name for a feature bit ("var_onion_optin", "payment_secret", ...) or nullopt when unknown.
std::optional<std::string> feature_name(int bit);
std::vector<Feature> features(const Invoice& inv);

// A bech32 (BIP-173) string of any length — an LNURL (LUD-01) is longer than BIP-173's 90 characters: its HRP
// (lower case) and data regrouped to bytes. Mixed case, a bad checksum or padding bits that are not zero are refused
// (INVALID_BECH32). Shared with sw::lnurl so the codec lives in one place.
Result<std::pair<std::string, Bytes>> decode_bech32_long(std::string_view text, size_t max_chars = 4096);

// BOLT 11 reader rule for `h`: true when SHA-256(description) equals the invoice's description_hash.
bool description_hash_matches(const Invoice& inv, std::string_view description);

// The decode_invoice tool output (structuredContent); `now_unix` decides "expired".
json to_json(const Invoice& inv, int64_t now_unix);

}  // namespace sw::bolt11
