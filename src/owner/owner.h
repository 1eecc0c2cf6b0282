// sw::owner — satwarden's private line to its owner's Nostr client: it sends the owner direct messages and hands
// the owner's replies to a handler as plain text. The Messenger parses nothing the owner says; ApprovalChannel (at
// the end of this header) is the approval channel built on it and reads approve/deny replies.
//
// What:
//   * Notification key: satwarden's own Nostr identity towards its owner (never the NWC client key): 32 random
//     bytes as 64 hex characters plus a newline in a file, by default <data_dir>/notification.key. Created on
//     first use with mode 0600 (written and fsynced under a temporary O_EXCL name, then link()ed into place: two
//     starting processes agree on one key and no reader sees half a key), reused afterwards. An existing file
//     that is a symlink, not a regular file, not owned by this user, or has ANY group/other permission bit is
//     REFUSED (OWNER_KEY_INSECURE), not repaired: whoever could read it may hold a copy and could then impersonate
//     satwarden to the owner and read the owner's replies, so the owner decides (`chmod 600 FILE` to keep the
//     identity, or delete the file for a new one).
//   * Sending, by mode: nip17 (default) publishes a NIP-17 kind-14 rumor sealed and gift-wrapped (NIP-59) to the
//     owner; nip04 publishes a legacy NIP-04 kind-4 DM. Every configured relay gets it (relay::Pool::publish);
//     send() returns when every relay has answered or failed, or when send_timeout passed, whichever is first, and
//     is Ok iff at least one relay accepted (OK true). (The pool has no "first OK" completion, so a relay that is
//     connected but slow to answer holds send() up to send_timeout even when another relay already accepted.)
//     Publishing to the owner's kind-10050 inbox relays (NIP-17's advice) is not done: only the configured relays.
//   * Receiving, both channels whatever the mode (the owner may answer from either kind of client; both are
//     signed by the owner's key): kind 1059 with #p = the notification key and since = start − 2 days − skew
//     (gift wraps carry timestamps randomized up to two days into the past), and kind 4 with #p = the notification
//     key, authors = [owner], since = start − skew. A message reaches the handler only if it opens (wrap and seal
//     signatures, decryption, seal signer == rumor author, kind 14 / p-tagged kind 4), its sender is the owner's
//     key, its real time (the rumor's created_at / the kind 4's) is >= start − skew, and its id (rumor id / kind-4
//     id) was not delivered before: the same wrap from several relays, a relay replaying it after a reconnect, or
//     the same rumor wrapped again are delivered once. (Within one process: after a restart, messages newer than
//     the new start − skew are new again; older ones are stale.)
//
// Threads: the Messenger owns a relay pool (its own loop thread) and one delivery thread. The pool's callbacks only
//   queue raw events (bounded: kMaxQueuedEvents / kMaxQueuedBytes; beyond that events are dropped and counted);
//   the delivery thread verifies, decrypts, filters, dedupes and calls the handler — one message at a time, in
//   arrival order, never on the relay loop. The handler may block (that only delays later messages) and may call
//   send(); it must not destroy the Messenger. send(), stats() and the accessors are thread-safe; send() blocks
//   its caller up to send_timeout. The destructor waits for a running handler call to return, then stops the pool.
// Errors (Result/Status values, never exceptions; messages never contain keys or message text):
//   OWNER_KEY_UNUSABLE (the key file cannot be created, read or written, or does not hold one valid key),
//   OWNER_KEY_INSECURE (see above), INVALID_PUBLIC_KEY (owner not an npub or 64 hex), INVALID_ARGUMENT (no relays,
//   owner == notification key, bad mode, no handler; text empty, over nostr::kMaxDmTextBytes or not UTF-8),
//   INVALID_RELAY_URL, POOL_CLOSED, and send()'s relay outcomes (relay::PublishResult::status(): RELAY_REJECTED,
//   RELAY_TIMEOUT, RELAY_UNREACHABLE, RELAY_QUEUE_FULL, … with details.relays).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "approve/approve.h"
#include "common/common.h"
#include "crypto/crypto.h"
#include "relay/relay.h"

namespace sw::owner {

enum class Channel { nip17, nip04 };
const char* channel_name(Channel c);                          // "nip17" | "nip04"
std::optional<Channel> parse_channel(std::string_view name);  // "nip17" | "nip04" (ASCII case-insensitive)

// ---- the notification key ----
constexpr const char* kNotificationKeyFile = "notification.key";
std::string notification_key_path(const std::string& data_dir);  // data_dir + "/notification.key"
// Loads the key in `path`, or creates it (0600) when the file does not exist. The directory must exist.
// Errors: OWNER_KEY_UNUSABLE, OWNER_KEY_INSECURE.
Result<crypto::SecretKey> load_or_create_notification_key(const std::string& path);

// ---- the messenger ----
struct OwnerMessage {
  std::string sender_pubkey;  // 64 lowercase hex: always the owner's key
  std::string text;           // exactly what the owner wrote (UTF-8), uninterpreted
  std::string event_id;       // NIP-17: the rumor id (stable across wraps and relays); NIP-04: the kind-4 id
  int64_t created_at = 0;     // the message's real time (rumor / kind 4 created_at), unix seconds
  Channel channel = Channel::nip17;
};
using MessageHandler = std::function<void(const OwnerMessage&)>;

struct MessengerOptions {
  std::string key_file;                // notification key file (notification_key_path(data_dir)); required
  std::string owner;                   // the owner's public key: npub1… or 64 hex
  std::vector<std::string> relays;     // ws:// or wss:// (>= 1); all used for sending and receiving
  Channel mode = Channel::nip17;       // how send() writes to the owner
  std::chrono::milliseconds send_timeout{10000};
  int64_t skew_s = 60;                 // messages older than start − skew_s are stale (ignored)
  relay::PoolOptions pool;             // TLS / extra CA / limits of the messenger's own relay pool
  const Clock* clock = nullptr;        // nullptr = Clock::system() (the start time and message times)
};

// What the delivery thread did with the events it got (diagnostics and tests).
struct MessengerStats {
  uint64_t events = 0;        // events handed over by the relays (before any deduplication)
  uint64_t delivered = 0;     // handler calls
  uint64_t duplicates = 0;    // an event or message id seen before (several relays, replays, re-wraps)
  uint64_t not_owner = 0;     // opened fine but from another key
  uint64_t stale = 0;         // from the owner but older than start − skew
  uint64_t invalid = 0;       // did not open (bad signature, not for us, impersonation, malformed, wrong kind)
  uint64_t dropped = 0;       // not queued: the delivery queue was full
};

class Messenger {
 public:
  // Loads or creates the notification key, validates everything, connects the relays and subscribes. Returns
  // before any relay is connected (relays connect and reconnect in the background).
  static Result<std::unique_ptr<Messenger>> start(MessengerOptions opts, MessageHandler handler);
  ~Messenger();
  Messenger(const Messenger&) = delete;
  Messenger& operator=(const Messenger&) = delete;

  // Sends `text` to the owner in the configured mode; blocks up to send_timeout (see above). Ok iff a relay accepted.
  Status send(std::string_view text);

  const std::string& notification_pubkey() const;  // 64 lowercase hex
  std::string notification_npub() const;           // what the owner adds as a contact
  const std::string& owner_pubkey() const;         // 64 lowercase hex
  Channel mode() const;
  int64_t started_at() const;                      // unix seconds
  MessengerStats stats() const;
  std::vector<relay::RelayStatus> relay_status() const;

  struct Impl;

 private:
  explicit Messenger(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Bounds of the delivery queue between the relay loop and the delivery thread.
constexpr size_t kMaxQueuedEvents = 1024;
constexpr size_t kMaxQueuedBytes = 8u << 20;  // sum of queued events' content sizes
// Ids remembered for deduplication: outer event ids (cheap drop before decryption; anyone can fill this set, so it
// is only an optimisation) and delivered message ids (only the owner's messages enter it). Oldest forgotten first.
constexpr size_t kMaxRememberedEventIds = 8192;
constexpr size_t kMaxRememberedMessageIds = 65536;

// ---- approvals over the messenger (approval_channel.cpp) ----
// The owner's Nostr client as an approval channel (approve::Channel "nostr"). request() sends the owner who wants
// to pay what to whom, for what and why (approve::describe), until when, and how to answer with the one-time code;
// outcome() sends one short line (approved / denied / expired / paid / failed / unknown). The owner's replies (the
// messenger hands over only the owner's, fresh and deduplicated) are parsed by parse_owner_reply and decided through
// the Hub by code, recorded as channel "nostr" (a NIP-17 reply) or "nip04" (a NIP-04 reply). A refused decision
// (already decided, expired, no such code) or an unreadable reply gets a short answer to the owner only. The code
// is never logged (only the approval's public id, after a decision).
namespace approval_text {
// Replies, ASCII case-insensitive, on the first line that is not empty and not a quote ("> …"); quotes, backticks,
// asterisks and punctuation around words are ignored:
//   approve CODE | yes CODE            → approve
//   deny CODE [reason…] | no CODE [reason…]  → deny (the rest of the line, trimmed, is the reason; at most 300 bytes)
// CODE may be typed with dashes or split in two groups ("K7QF 2M3A"). `approve:CODE` works too.
struct Reply {
  bool approve = false;
  std::string code;    // as typed, dashes/spaces removed, upper-case
  std::string reason;  // deny only
};
std::optional<Reply> parse_owner_reply(std::string_view text);
// The messages satwarden sends (pure; `now` picks the time format of approve::utc_time).
std::string request_message(const spend::Approval& a, const spend::ApprovalSecrets& secrets, int64_t now);
std::string outcome_message(const spend::Approval& a, const std::string& what);  // "" = nothing to say
}  // namespace approval_text

class ApprovalChannel : public approve::Channel {
 public:
  // Starts the messenger (options as for Messenger::start) with a handler that decides on `hub`. The hub must
  // outlive the channel's messenger: call stop() before destroying the hub (the hub keeps the channel alive).
  static Result<std::shared_ptr<ApprovalChannel>> start(MessengerOptions opts, approve::Hub& hub);
  ~ApprovalChannel() override;

  std::string name() const override { return "nostr"; }
  void request(const spend::Approval& a, const spend::ApprovalSecrets& secrets) override;
  void outcome(const spend::Approval& a, const std::string& what) override;

  // Stops the messenger (waits for a running reply handler); request()/outcome() do nothing afterwards.
  void stop();
  std::string notification_npub() const;
  const std::vector<std::string>& relays() const { return relays_; }
  owner::Channel mode() const { return mode_; }  // how messages are sent (replies are read both ways)

  struct Shared;

 private:
  ApprovalChannel() = default;
  std::shared_ptr<Shared> sh_;
  std::vector<std::string> relays_;
  owner::Channel mode_ = owner::Channel::nip17;
  std::string npub_;
};

}  // namespace sw::owner
