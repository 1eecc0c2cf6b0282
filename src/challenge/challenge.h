// sw::challenge — HTTP 402 payment challenge codecs, no I/O: RFC 9110 WWW-Authenticate parsing; L402/LSAT
// challenges and Authorization values; MPP "Payment" (draft-httpauth-payment-00) challenges, Lightning "charge"
// requests (draft-lightning-charge-00), credentials, receipts, challenge-id HMAC; RFC 8785 JCS; strict base64url;
// and select_challenge() which picks what a client should pay (L402 preferred, else MPP lightning charge).
// Thread-safety: all functions are pure and thread-safe. Never throws; errors are values with codes
// INVALID_CHALLENGE, NO_CHALLENGE, UNSUPPORTED_SCHEME, INVALID_CREDENTIAL, INVALID_RECEIPT, INVALID_JSON,
// INVALID_ARGUMENT. Messages never contain preimages.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/common.h"

namespace sw::challenge {

using ojson = nlohmann::ordered_json;  // key order preserved (credential payloads are echoed as given)

// The deepest JSON accepted inside an MPP request, credential or receipt (arrays/objects inside one another; real
// ones nest 3 levels). Deeper JSON is refused before it is parsed (sw::json_nesting_exceeds): a parsed tree is
// copied along the payment path, and copying recurses once per level.
inline constexpr size_t kMaxJsonDepth = 64;

// ============ RFC 9110 §11 auth challenges ============
struct AuthParam {
  std::string name;  // lower-cased (parameter names are case-insensitive)
  std::string value; // unescaped
  bool quoted = false;
};

struct AuthChallenge {
  std::string scheme;                  // as received (compare with scheme_is)
  std::optional<std::string> token68;  // the `Scheme token68` form
  std::vector<AuthParam> params;       // in order; duplicates and unknown params kept (the L402 and Payment
                                       // parsers below refuse a challenge with a repeated name)
  bool scheme_is(std::string_view s) const;              // ASCII case-insensitive
  const std::string* param(std::string_view name) const; // FIRST occurrence, case-insensitive; nullptr if absent
  // The name of the first parameter that occurs a second time (names compared case-insensitively; RFC 9110 §11.2
  // allows each once per challenge); nullptr when every name is unique. Values play no part: a repeat with the
  // same value is still a repeat.
  const std::string* repeated_param() const;
};

// One header field value may hold several comma-joined challenges. Tolerates empty list elements, OWS/BWS,
// token or quoted-string values (quoted-pairs unescaped; commas/'=' inside quotes are data), and — beyond the
// RFC, the one sloppy form servers send that has a single reading — an unquoted value in the token68 shape
// (standard or URL base64 with '/', '+' and trailing '=' padding) running up to ',' or the end. Any other
// unquoted value with a non-tchar character is refused. Error INVALID_CHALLENGE
// "malformed WWW-Authenticate header: <what> at offset <n>" (e.g. "unquoted value of parameter 'macaroon' is
// neither a token nor base64 (RFC 9110 requires a quoted-string)").
Result<std::vector<AuthChallenge>> parse_www_authenticate(std::string_view header_value);
// Several header lines: challenges concatenated in order. Fails if any line is malformed.
Result<std::vector<AuthChallenge>> parse_www_authenticate(const std::vector<std::string>& header_values);
// RFC 9110 quoted-string: wraps in '"' and backslash-escapes '"' and '\' (tab/obs-text verbatim).
std::string quote(std::string_view value);

// ============ L402 / LSAT ============
struct L402Challenge {
  std::string scheme;                  // "L402" or "LSAT" (normalised upper case)
  std::optional<std::string> version;  // `version=` as sent ("0" today; other values accepted and recorded)
  std::string macaroon_b64;            // `token=` (2026 spec) or `macaroon=`; not decoded here
  std::string invoice;                 // BOLT11, not decoded here
};
// Requires scheme L402/LSAT. Errors (INVALID_CHALLENGE): "L402 challenge has no macaroon",
// "L402 challenge has an empty macaroon", "L402 challenge has no invoice" (absent or empty),
// "not an L402 challenge" (other scheme), "<L402|LSAT> challenge repeats the parameter '<name>' …" (any name,
// any case, same value or not), "L402 challenge gives token= and macaroon= with different values; …" (both
// names with one value are accepted). The caller adds "nothing was paid" where it reports to the agent.
Result<L402Challenge> parse_l402(const AuthChallenge& c);
// Authorization value "<scheme> <macaroon_b64>:<preimage hex lower-case>". Error INVALID_ARGUMENT when the
// preimage is not 32 bytes of hex or the macaroon is empty / contains ':' or whitespace.
Result<std::string> build_l402_authorization(std::string_view scheme, std::string_view macaroon_b64,
                                             std::string_view preimage_hex);

// ============ base64url / JCS ============
// RFC 4648 §5 URL alphabet only; padding optional but if present must complete a quad; no whitespace;
// non-zero trailing bits rejected (one spelling per payload).
std::optional<Bytes> base64url_decode_strict(std::string_view text);
std::string base64url_encode(const Bytes& b);  // no padding
inline std::string base64url_encode(std::string_view s) { return base64url_encode(to_bytes(s)); }
// RFC 8785: members sorted by UTF-16 code units, ECMAScript number rendering, minimal string escaping.
// Error INVALID_JSON for unparsable input or non-finite numbers.
Result<std::string> jcs_canonicalize(std::string_view json_text);
Result<std::string> jcs_serialize(const json& value);

// ============ MPP "Payment" challenges ============
struct MppChallenge {
  std::string id, realm, method, intent;
  std::string request;                 // base64url exactly as received (echoed byte-for-byte)
  std::optional<std::string> expires, digest, description, opaque;
  std::optional<int64_t> expires_unix; // parsed `expires`
  std::optional<json> request_json;    // decoded when `request` is base64url of a JSON object nesting at most
                                       // kMaxJsonDepth levels
  // Simplified non-draft form `Payment realm=…, method="lightning", invoice=…, amount=…, currency=…`
  // (lightning-enable-mcp). Only id-less fields are meaningful; answered with the simplified credential.
  bool legacy = false;
  std::optional<std::string> legacy_invoice, legacy_amount, legacy_currency;
};
// Requires scheme Payment and non-empty id, realm, method, intent, request, each at most once.
// Errors (INVALID_CHALLENGE): "not a Payment challenge", "Payment challenge is missing <param>",
// "Payment challenge expires is not an RFC 3339 timestamp", "Payment challenge repeats the parameter '<name>' …"
// (deliberately unlike Aperture's first-occurrence-wins vector).
Result<MppChallenge> parse_mpp(const AuthChallenge& c);
// The legacy form above. Error INVALID_CHALLENGE "not a legacy lightning Payment challenge", or the repeated-
// parameter error of parse_mpp.
Result<MppChallenge> parse_mpp_legacy(const AuthChallenge& c);
// All complete Payment challenges from the header lines, incomplete offers and offers with a repeated parameter
// skipped. Errors: NO_CHALLENGE "no Payment challenge", INVALID_CHALLENGE — the repeated-parameter error when
// such an offer was the reason nothing was complete, else "no complete Payment challenge", else the syntax
// error.
Result<std::vector<MppChallenge>> parse_mpp_list(const std::vector<std::string>& header_values);
// `Payment id="…", realm="…", method="…", intent="…", request="…"[, expires, digest, description, opaque]`.
std::string serialize_mpp_challenge(const MppChallenge& c);
// realm|method|intent|request|expires|digest|opaque (absent = empty) and its HMAC-SHA256, base64url no pad.
std::string mpp_hmac_input(const MppChallenge& c);
std::string mpp_challenge_id(const Bytes& secret, const MppChallenge& c);

// draft-lightning-charge-00 request (or the legacy params).
struct LightningCharge {
  uint64_t amount_sat = 0;
  uint64_t amount_msat = 0;
  std::string currency;                      // always "sat"
  std::string invoice;                       // authoritative; the caller must decode and cross-check it
  std::optional<std::string> payment_hash;   // lower-case hex, must match the invoice
  std::string network = "mainnet";           // mainnet | regtest | signet
  std::optional<std::string> description, recipient, external_id;
};
// Errors (INVALID_CHALLENGE): "Payment challenge is not a lightning charge", "Payment request is not base64url
// JSON", "Payment request amount must be a positive integer string", "Payment request currency must be \"sat\"",
// "Payment request has no methodDetails.invoice", "Payment request paymentHash is not 32 bytes of hex",
// "Payment request network is not supported", "Payment request <field> must be a string".
Result<LightningCharge> parse_lightning_charge(const MppChallenge& c);

// ============ MPP credentials ============
// {"id","realm","method","intent","request"[,"expires"][,"description"][,"opaque"][,"digest"]} — the order
// Aperture's ChallengeEcho and mppx emit; only params that were present.
ojson mpp_challenge_echo(const MppChallenge& c);
// Authorization value "Payment <base64url_nopad({challenge, [source], payload})>" (compact JSON, key order as
// above, NOT JCS — matches Aperture and mppx byte for byte).
std::string encode_mpp_credential(const MppChallenge& c, const ojson& payload,
                                  const std::optional<std::string>& source = std::nullopt);
// Lightning charge: payload {"preimage": lower-case hex}. For a legacy challenge returns the simplified form.
// Error INVALID_ARGUMENT "preimage must be 32 bytes of hex".
Result<std::string> build_mpp_authorization(const MppChallenge& c, std::string_view preimage_hex,
                                            const std::optional<std::string>& source = std::nullopt);
// `Payment method="lightning", preimage="<hex>"` (non-draft; only for legacy servers).
Result<std::string> build_mpp_simple_authorization(std::string_view preimage_hex);

struct MppCredential {
  MppChallenge challenge;  // echoed fields (request_json/expires_unix left empty)
  std::optional<std::string> source;
  ojson payload;           // object, order preserved
};
// Parses an Authorization value (server view, also used to check our own output). Rejects (INVALID_CREDENTIAL):
// other scheme, empty token, non-strict base64url, non-JSON / non-object, missing or non-string challenge.id,
// missing challenge object, missing or non-object payload, decoded size > 64 KiB, nesting > kMaxJsonDepth.
Result<MppCredential> validate_credential(std::string_view authorization_value);

// ============ MPP receipts ============
struct MppReceipt {
  std::optional<std::string> status, method, timestamp, reference, challenge_id;
  json raw;  // full object (unknown fields tolerated)
};
// Payment-Receipt value = base64url JSON object nesting at most kMaxJsonDepth levels. Error INVALID_RECEIPT.
Result<MppReceipt> parse_receipt(std::string_view header_value);

// ============ choice ============
struct MppLightningCharge {
  MppChallenge challenge;
  LightningCharge request;
};
struct Selection {
  std::optional<L402Challenge> l402;                       // L402 preferred over LSAT for the same offer
  std::optional<MppLightningCharge> mpp_lightning_charge;  // draft form preferred over legacy
  bool prefer_l402() const { return l402.has_value(); }    // L402 is preferred whenever it is usable
};
// From all WWW-Authenticate values of a 402 (one value may hold several challenges; several values are
// concatenated). Malformed lines are skipped if another line yields an offer. Each challenge stands alone: a
// parameter repeated within one challenge makes that challenge unusable (its error is the one reported when
// nothing else is usable), while the same parameter in different challenges — e.g. Aperture's LSAT and L402
// pair — is normal.
// Errors: NO_CHALLENGE "no WWW-Authenticate challenge" (nothing parsable at all);
// INVALID_CHALLENGE with the first L402/Payment error (e.g. "L402 challenge has an empty macaroon") when such
// a challenge was offered but none was usable, or the header syntax error when nothing parsed;
// UNSUPPORTED_SCHEME "no supported payment challenge (offered: <schemes>)".
Result<Selection> select_challenge(const std::vector<std::string>& www_authenticate_values);

// RFC 3339 date-time → unix seconds (fractional seconds dropped). nullopt when malformed.
std::optional<int64_t> parse_rfc3339(std::string_view s);

}  // namespace sw::challenge
