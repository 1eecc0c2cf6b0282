// sw::nostr — Nostr events (NIP-01) and the NWC connection URI (NIP-47), no I/O.
// Events: canonical serialization [0,pubkey,created_at,kind,tags,content] with exactly NIP-01's escaping, id,
//   BIP-340 signing (fills pubkey/id/sig) and verification (id recomputed + signature), strict JSON parsing.
// NWC URI: nostr+walletconnect:// (or nostrwalletconnect://) parser; the secret lives in a crypto::SecretKey
//   (wiped on destruction) and never appears in any error message.
// Public keys: npub (NIP-19) or hex. Direct messages: NIP-17 private DMs in NIP-59 gift wraps, and legacy NIP-04
//   kind-4 DMs — building and opening (see the DM section below for its own error codes).
// Thread-safety: all functions are pure and thread-safe. Errors: Result/Status values, never exceptions; codes
//   INVALID_EVENT, EVENT_ID_MISMATCH, EVENT_BAD_SIGNATURE, INVALID_SECRET_KEY, SIGN_FAILED, INVALID_NWC_URL.
#pragma once

#include <cstdint>
#include <functional>
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

// ---- NIP-19 public keys ----
// Accepts "npub1…" (bech32 with the BIP-173 checksum, all lower- or all upper-case, 32-byte payload) or 64 hex
// characters (either case); surrounding ASCII whitespace is ignored. The key must be a point on the curve.
// Error: INVALID_PUBLIC_KEY (the message says which form failed and never echoes more than the prefix).
Result<crypto::XOnlyPubKey> parse_public_key(std::string_view npub_or_hex);
std::string npub_encode(const crypto::XOnlyPubKey& pk);

// ---- Direct messages: NIP-17 (kind 14 rumor → kind 13 seal → kind 1059 gift wrap, NIP-59) and NIP-04 (kind 4) ----
// Building: wrap_private_dm makes an unsigned kind-14 rumor {pubkey = sender, tags [["p", recipient]], created_at =
//   now, id computed, no sig}, seals it (kind 13, NIP-44 v2 from sender to recipient, empty tags, signed by the
//   sender) and gift-wraps the seal (kind 1059, NIP-44 v2 from a fresh ephemeral key, tags [["p", recipient]],
//   signed by the ephemeral key). Seal and wrap created_at = now − uniform[0, 2 days] (NIP-59: hides the time).
//   make_nip04_dm makes a signed kind 4 {tags [["p", recipient]], content = NIP-04 ciphertext}.
// Opening: open_gift_wrap verifies the wrap (id + signature), decrypts the seal with the recipient's key, verifies
//   the seal (kind 13, id + signature), decrypts the rumor, checks the rumor's id, that rumor.pubkey == seal.pubkey
//   (otherwise anyone could seal a rumor claiming another author) and that the rumor is kind 14. Decrypted JSON is
//   refused beyond kMaxDmJsonDepth levels before it is parsed. open_nip04_dm verifies the kind 4, checks that it is
//   p-tagged to the recipient and decrypts it. Neither interprets the text.
// Errors (stable codes): INVALID_ARGUMENT (text empty, > kMaxDmTextBytes or not UTF-8), INVALID_SECRET_KEY,
//   DM_RANDOM_FAILED (the random source gave no valid ephemeral key in 16 tries), SIGN_FAILED, DM_WRONG_KIND (outer
//   event, seal or rumor of the wrong kind), DM_INVALID_EVENT (the outer event fails NIP-01 verification;
//   details.cause), DM_DECRYPT_FAILED (NIP-44/NIP-04 failed; details.layer "wrap"|"seal"|"nip04", details.cause),
//   DM_INVALID_SEAL (not JSON, too deep, not an event, bad id/signature), DM_INVALID_RUMOR (not JSON, too deep,
//   malformed, id does not match), DM_SENDER_MISMATCH (rumor.pubkey != seal.pubkey), DM_NOT_ADDRESSED (kind 4 not
//   p-tagged to the recipient). Messages never contain plaintexts or keys.
constexpr int kKindNip04Dm = 4;
constexpr int kKindSeal = 13;
constexpr int kKindPrivateDm = 14;
constexpr int kKindGiftWrap = 1059;
constexpr int64_t kWrapMaxBackdateS = 2 * 24 * 60 * 60;     // seal/wrap created_at: up to this far in the past
constexpr size_t kMaxDmJsonDepth = 64;                       // decrypted seal/rumor JSON nesting limit
constexpr size_t kMaxDmTextBytes = 16 * 1024;                // text we send (a wrap is ~2.5x; relays cap ~100 KB)
constexpr size_t kDefaultMaxDmPayloadChars = 512 * 1024;     // ciphertext we accept to decrypt (each layer)

// Fills `len` bytes. Empty = crypto::random_bytes. Tests inject a deterministic source (never in production).
using RandomSource = std::function<void(uint8_t* out, size_t len)>;

struct DmBuildOptions {
  std::optional<int64_t> now;  // unix seconds (rumor / kind-4 created_at, base of the backdating); nullopt = clock
  // Used for everything random in a DM: ephemeral wrap key, NIP-44 nonces, NIP-04 IV, created_at offsets and the
  // BIP-340 aux randomness, so a fixed source makes the output reproducible. Empty = the system's CSPRNG.
  RandomSource random;
};

// The unsigned rumor (sig ""), id = compute_id. No checks: seal_rumor / open_gift_wrap do them.
Event make_rumor(std::string_view pubkey_hex, int kind, std::vector<Tag> tags, std::string content,
                 int64_t created_at);
// Seals `rumor` from `sender` to `recipient`. Does NOT check that rumor.pubkey is the sender's (tests build
// impersonation attempts with it; wrap_private_dm always matches them). Errors: INVALID_SECRET_KEY,
// INVALID_PUBLIC_KEY, NIP44_INVALID_PLAINTEXT, INVALID_EVENT, SIGN_FAILED.
Result<Event> seal_rumor(const Event& rumor, const crypto::SecretKey& sender, const crypto::XOnlyPubKey& recipient,
                         const DmBuildOptions& opts = {});
// Gift-wraps any signed event (normally a seal) to `recipient` with a fresh ephemeral key.
Result<Event> gift_wrap(const Event& seal, const crypto::XOnlyPubKey& recipient, const DmBuildOptions& opts = {});

struct WrappedDm {
  Event wrap;   // kind 1059: what is published
  Event rumor;  // kind 14 inside it (rumor.id names the message; NIP-17 replies reference it)
};
Result<WrappedDm> wrap_private_dm(const crypto::SecretKey& sender, const crypto::XOnlyPubKey& recipient,
                                  std::string_view text, const DmBuildOptions& opts = {});
Result<Event> make_nip04_dm(const crypto::SecretKey& sender, const crypto::XOnlyPubKey& recipient,
                            std::string_view text, const DmBuildOptions& opts = {});

struct ReceivedDm {
  int kind = 0;                // 14 (NIP-17) or 4 (NIP-04)
  std::string sender_pubkey;   // 64 lowercase hex: the seal's signer (== rumor.pubkey) / the kind 4's author
  std::string content;         // the plaintext, UTF-8, uninterpreted
  int64_t created_at = 0;      // the rumor's (the real time; seal and wrap times are randomized) / the kind 4's
  std::string id;              // the rumor's id / the kind 4's id
  std::vector<Tag> tags;       // the rumor's / the kind 4's
  std::string wrap_id;         // the gift wrap's id ("" for NIP-04)
};
Result<ReceivedDm> open_gift_wrap(const Event& wrap, const crypto::SecretKey& recipient,
                                  size_t max_payload_chars = kDefaultMaxDmPayloadChars);
Result<ReceivedDm> open_nip04_dm(const Event& dm, const crypto::SecretKey& recipient,
                                 size_t max_payload_chars = kDefaultMaxDmPayloadChars);

}  // namespace sw::nostr
