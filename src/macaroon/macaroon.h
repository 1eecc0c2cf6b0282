// sw::macaroon — macaroon codec and HMAC chain (go-macaroon / libmacaroons construction), L402 identifiers and
// L402 first-party caveat helpers. No I/O.
// Decodes V2 binary, V1 text and V2 JSON (given as base64 std/url, padded or not, or as raw bytes); re-encodes
// V2 binary byte-exactly. Verification here is signature-only plus libmacaroons "exact caveat" matching; there
// is no predicate evaluator. Thread-safety: all functions are pure and thread-safe.
// Errors: Result<> with code INVALID_MACAROON and a precise message (never containing key material); never throws.
// The one exception is l402_binding(), whose only error code is L402_IDENTIFIER_UNREADABLE (see there).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/common.h"

namespace sw::macaroon {

using Sig = std::array<uint8_t, 32>;

struct Caveat {
  Bytes identifier;                    // cid (for first-party caveats: the UTF-8 condition, e.g. "services=x:0")
  std::optional<Bytes> vid;            // verification id; present only for third-party caveats
  std::optional<std::string> location; // cl; usually only on third-party caveats
  bool first_party() const { return !vid.has_value(); }
};

enum class Format { V1, V2, V2J };

struct Macaroon {
  Format format = Format::V2;          // the serialization it was decoded from
  std::optional<std::string> location; // absent in V2 when the field is omitted
  Bytes identifier;
  std::vector<Caveat> caveats;
  Sig signature{};
};

// ---- decoding / encoding ----
// Text form: base64 (standard or URL alphabet, padded or not; surrounding whitespace ignored) of V2 binary,
// V1 text packets or V2 JSON.
Result<Macaroon> decode(std::string_view base64_text);
// Raw form: V2 binary (first byte 0x02), V1 packets (4 hex digits first) or V2 JSON ('{' first). V2 JSON nesting
// deeper than kMaxJsonDepth levels is refused before it is parsed (a macaroon nests 3: object, caveats, caveat).
inline constexpr size_t kMaxJsonDepth = 64;
Result<Macaroon> decode_bytes(const Bytes& raw);
// V2 binary. First-party caveats carry no vid field; nothing follows the signature.
Bytes encode_v2(const Macaroon& m);
// base64 of encode_v2 (Aperture uses standard alphabet with padding: the defaults).
std::string encode_v2_base64(const Macaroon& m, bool url = false, bool pad = true);

// ---- HMAC chain ----
// K = HMAC-SHA256(key="macaroons-key-generator", msg=root_key)  (the step L402's macaroon-spec.md omits).
Sig derive_key(const Bytes& root_key);
// All signatures: [sig0 = HMAC(K, id), sig1, ..., sigN]; first-party sig_i = HMAC(sig_{i-1}, cid),
// third-party sig_i = HMAC(sig_{i-1}, HMAC(sig_{i-1}, vid) || HMAC(sig_{i-1}, cid)).
std::vector<Sig> signature_chain(const Bytes& root_key, const Bytes& identifier, const std::vector<Caveat>& caveats);
Sig compute_signature(const Bytes& root_key, const Bytes& identifier, const std::vector<Caveat>& caveats);
// Constant-time compare of m.signature against the recomputed chain.
bool signature_valid(const Macaroon& m, const Bytes& root_key);
// libmacaroons vtest semantics: signature valid AND every caveat is first-party and byte-equal to one of
// `exact_caveats`. Error INVALID_MACAROON "macaroon signature does not match" / "caveat not satisfied: ..."
// (the caveat text is not secret) / "third-party caveats are not supported".
Status verify_exact(const Macaroon& m, const Bytes& root_key, const std::vector<std::string>& exact_caveats);
// Holder-side attenuation: appends a first-party caveat and chains the signature (no root key needed).
Macaroon add_first_party_caveat(Macaroon m, std::string_view condition);
// A fresh macaroon (used by tests and fake servers): signature = chain over the given caveats.
Macaroon mint(const Bytes& root_key, const Bytes& identifier, std::optional<std::string> location,
              const std::vector<std::string>& first_party_caveats);

// ---- L402 identifier (Aperture l402/identifier.go) ----
// 66 bytes: uint16 BE version | payment_hash (32) | token_id (32). Only version 0 is known.
struct L402Identifier {
  uint16_t version = 0;
  Sig payment_hash{};
  Sig token_id{};
};
Result<L402Identifier> decode_l402_identifier(const Bytes& identifier);
Bytes encode_l402_identifier(const L402Identifier& id);

// ---- L402 binding: which payment hash a macaroon is bound to ----
// Identifier layouts minted in the wild, all the same v0 struct (uint16 BE version 0 | payment_hash | token_id):
//   Binary — the 66 raw bytes (Aperture, l402/identifier.go).
//   Hex    — those 66 bytes as exactly 132 hex characters, upper, lower or mixed case (lsat-js
//            `Identifier.toString()`, and servers built on it such as boltwall).
// The two are told apart by length alone (66 vs 132 bytes), so no identifier can be read both ways.
// Everything else is unreadable — a distinct outcome, never a guessed hash:
//   - 66 bytes or 132 hex characters whose version is not 0 (no other version is defined; reading one as v0
//     could take bytes that are not a payment hash for one);
//   - 131/133 characters, non-hex characters, a "0x" prefix, surrounding whitespace or a trailing newline (no
//     implementation mints those; trimming would accept identifiers no server verifies that way);
//   - base64 text of the 66 bytes (lsat-js falls back to reading it, but nothing mints it);
//   - JSON or any other server-specific identifier (a field named like a payment hash proves nothing: the layout
//     is not a standard one, so its meaning is the server's own);
//   - binary identifiers longer than 66 bytes (a future or private layout) and empty identifiers.
// The serialization the macaroon came in (V1, V2, V2 JSON with "i" or "i64") does not matter: the identifier
// bytes are the same.
enum class IdentifierLayout { Binary, Hex };
// "binary" | "hex" (stable: callers record it).
const char* layout_name(IdentifierLayout layout);

struct L402Binding {
  std::string payment_hash_hex;  // 64 lower-case hex characters
  IdentifierLayout layout = IdentifierLayout::Binary;
  L402Identifier identifier;     // the decoded v0 fields (version 0, payment_hash, token_id)
};

// Error code of an identifier that is not a readable L402 v0 identifier (the only error l402_binding returns).
// The caller applies its `l402_unbound` setting: refuse, or pay with the binding recorded as unverified.
inline constexpr const char* kIdentifierUnreadable = "L402_IDENTIFIER_UNREADABLE";

// The payment hash the macaroon's identifier binds it to, and the layout found. Error kIdentifierUnreadable with a
// message saying why (length, version or character class; never the identifier's contents). Comparing the hash
// with the invoice's is the caller's job: a readable identifier that does not match is MACAROON_NOT_BOUND there.
Result<L402Binding> l402_binding(const Macaroon& m);
Result<L402Binding> l402_binding(const Bytes& identifier);

// ---- L402 first-party caveats ("condition=value", split on the FIRST '='; both sides trimmed) ----
struct Condition {
  std::string name;
  std::string value;
};
// First-party caveats that contain '=', in order (third-party and '='-less caveats are skipped).
std::vector<Condition> conditions(const Macaroon& m);
// name -> value; a repeated condition keeps the LAST value (the one Aperture evaluates).
std::map<std::string, std::string> caveats_map(const Macaroon& m);
std::optional<std::string> caveat_value(const Macaroon& m, std::string_view name);  // last occurrence

// `<service>_valid_until=<unix seconds>`: the earliest value over all occurrences (a well-formed macaroon
// repeats it only to restrict it further). nullopt when absent; error if a value is not a non-negative integer.
Result<std::optional<int64_t>> valid_until(const Macaroon& m, std::string_view service);
// Earliest `*_valid_until` across every service (for expiring cached tokens). nullopt when there is none;
// malformed values are an error.
Result<std::optional<int64_t>> earliest_valid_until(const Macaroon& m);

struct ServiceTier {
  std::string name;
  uint32_t tier = 0;
};
// `services=<name>:<tier>[,...]` (last occurrence). Empty vector when absent; error when malformed.
Result<std::vector<ServiceTier>> services(const Macaroon& m);
// `<service>_capabilities=a,b` (last occurrence). nullopt = absent = all capabilities.
std::optional<std::vector<std::string>> capabilities(const Macaroon& m, std::string_view service);

}  // namespace sw::macaroon
