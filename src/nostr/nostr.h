// sw::nostr — Nostr events (NIP-01) and the NWC connection URI (NIP-47), no I/O.
// Events: canonical serialization [0,pubkey,created_at,kind,tags,content] with exactly NIP-01's escaping, id,
//   BIP-340 signing (fills pubkey/id/sig) and verification (id recomputed + signature), strict JSON parsing.
// NWC URI: nostr+walletconnect:// (or nostrwalletconnect://) parser; the secret lives in a crypto::SecretKey
//   (wiped on destruction) and never appears in any error message.
// Thread-safety: all functions are pure and thread-safe. Errors: Result/Status values, never exceptions; codes
//   INVALID_EVENT, EVENT_ID_MISMATCH, EVENT_BAD_SIGNATURE, INVALID_SECRET_KEY, SIGN_FAILED, INVALID_NWC_URL.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/common.h"
#include "crypto/crypto.h"

namespace sw::nostr {

using Tag = std::vector<std::string>;

struct Event {
  std::string id;        // 64 lowercase hex = sha256(serialize_for_id(*this))
  std::string pubkey;    // 64 lowercase hex, BIP-340 x-only
  int64_t created_at = 0;  // unix seconds, >= 0
  int kind = 0;          // 0..65535
  std::vector<Tag> tags;
  std::string content;
  std::string sig;       // 128 lowercase hex, BIP-340 over the 32 id bytes
};

// A JSON string literal (with quotes) escaped exactly as NIP-01 requires: \" \\ \n \r \t \b \f, other C0
// controls as \u00xx (lowercase hex), everything else (incl. '/', DEL, non-ASCII UTF-8) verbatim.
std::string json_string(std::string_view s);
// The id preimage [0,"pubkey",created_at,kind,tags,"content"] (compact, NIP-01 escaping).
std::string serialize_for_id(const Event& ev);
// Lowercase hex sha256 of serialize_for_id(ev).
std::string compute_id(const Event& ev);

// Sets ev.pubkey from sk, then ev.id and ev.sig. Errors: INVALID_EVENT (kind/created_at out of range,
// strings not UTF-8), INVALID_SECRET_KEY, SIGN_FAILED. sign_event_with_aux fixes BIP-340 aux rand (tests).
Status sign_event(Event& ev, const crypto::SecretKey& sk);
Status sign_event_with_aux(Event& ev, const crypto::SecretKey& sk, const uint8_t* aux32);
// Ok iff the fields are well-formed, id == compute_id(ev) and sig is valid for (id, pubkey).
// Errors: INVALID_EVENT (malformed fields, pubkey not on the curve), EVENT_ID_MISMATCH, EVENT_BAD_SIGNATURE.
Status verify_event(const Event& ev);

// Strict parsing (does NOT verify; call verify_event): object with id/pubkey (64 lowercase hex), sig (128
// lowercase hex), integer created_at >= 0, integer kind 0..65535, tags = array of arrays of strings, string
// content. Unknown members are ignored. Error: INVALID_EVENT.
Result<Event> event_from_json(const json& j);
Result<Event> parse_event(std::string_view text);
json event_to_json(const Event& ev);
// Compact JSON object text {"id":…,"pubkey":…,"created_at":…,"kind":…,"tags":…,"content":…,"sig":…}
// with NIP-01 escaping (what we put inside ["EVENT", …] relay messages).
std::string serialize_event(const Event& ev);

// First tag named `name` that has a value (size >= 2), or nullptr / nullopt.
const Tag* find_tag(const Event& ev, std::string_view name);
std::optional<std::string> tag_value(const Event& ev, std::string_view name);

// ---- NIP-47 connection URI ----
// nostr+walletconnect://<wallet pubkey hex>?relay=<url-encoded>&relay=…&secret=<hex>&lud16=<address>
// Accepted: schemes nostr+walletconnect / nostrwalletconnect (case-insensitive), with or without "//",
// an optional '/' after the pubkey, any parameter order, unknown parameters ignored, a #fragment ignored.
// Values are percent-decoded ('+' = space, as URLSearchParams does). Required: the pubkey (64 LOWERCASE hex, on
// the curve), >= 1 relay (each ws:// or wss:// with a host, printable ASCII; duplicates dropped, order kept),
// exactly one secret (64 lowercase hex, valid key). lud16 is optional; an unusable lud16 is dropped, not fatal.
// Error: INVALID_NWC_URL; messages name the failing part but never echo the secret, any value or the URI.
struct NwcUri {
  crypto::XOnlyPubKey wallet_pubkey{};
  std::string wallet_pubkey_hex;
  std::vector<std::string> relays;
  crypto::SecretKey secret;        // client key; memory wiped on destruction
  std::string client_pubkey_hex;   // = secret.public_key_hex()
  std::optional<std::string> lud16;
};
constexpr size_t kMaxNwcUriLength = 8192;
Result<NwcUri> parse_nwc_uri(std::string_view uri);
// The URI with the secret replaced by "REDACTED" — safe for logs and status output.
std::string redacted_nwc_uri(const NwcUri& c);

}  // namespace sw::nostr
