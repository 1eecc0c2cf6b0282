// sw::relay — a pool of Nostr relay connections (client side of NIP-01, plus NIP-42 AUTH) on libwebsockets.
// What: connects every relay (ws:// or wss://, TLS verified against the system CA store + an optional extra CA
//   file) in parallel, reconnects with exponential backoff + jitter and re-sends every active REQ after a
//   reconnect, keeps connections alive with websocket pings and hangs up dead ones. It moves NIP-01 JSON only:
//   it never signs, encrypts, verifies or dedupes events (callers do; each event comes with its relay URL).
// Threads: ONE libwebsockets context and ONE loop thread owned by the Pool. Every public method is thread-safe
//   (commands are queued to the loop and the loop is woken). All callbacks (events, EOSE, CLOSED, publish done,
//   AUTH signer) run ON THE LOOP THREAD: they must return quickly, must not block, and may call only the
//   non-blocking methods (subscribe, unsubscribe, publish_async, states, status). Calling publish() from a
//   callback fails fast (POOL_MISUSE); destroying the Pool from a callback is not allowed.
// Errors (values, never exceptions): INVALID_RELAY_URL, INVALID_ARGUMENT, POOL_CLOSED, POOL_MISUSE and, per relay
//   in PublishResult: RELAY_UNREACHABLE, RELAY_TIMEOUT, RELAY_REJECTED, RELAY_QUEUE_FULL, RELAY_DISCONNECTED.
//   Logs never contain event contents or filters (only URLs, ids, states and relay NOTICE/CLOSED reasons).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/common.h"

namespace sw::relay {

// NIP-42: given (relay URL, challenge) return a signed kind-22242 event (with "relay" and "challenge" tags), or
// nullopt to decline. Runs on the loop thread.
using AuthSigner = std::function<std::optional<json>(const std::string& relay_url, const std::string& challenge)>;
using EventCallback = std::function<void(const std::string& relay_url, const json& event)>;
using EoseCallback = std::function<void(const std::string& relay_url)>;
// The relay ended a subscription (["CLOSED", id, reason]); the pool re-sends the REQ after a reconnect or a
// successful AUTH, never on its own otherwise.
using ClosedCallback = std::function<void(const std::string& relay_url, const std::string& reason)>;

struct PoolOptions {
  std::string ca_file;                             // extra PEM CA bundle trusted IN ADDITION to the system store
  size_t max_queue = 1000;                         // per relay: outbound messages / pending publishes
  size_t max_message_bytes = 512 * 1024;           // larger inbound relay messages are dropped (and logged)
  size_t max_subscriptions = 256;                  // active subscriptions in the pool
  std::chrono::milliseconds backoff_min{250};      // first reconnect delay
  std::chrono::milliseconds backoff_max{30000};    // cap of the reconnect delay
  std::chrono::milliseconds stable_after{5000};    // a connection that lived this long resets the backoff
  std::chrono::seconds ping_after{30};             // websocket PING when nothing proved the link alive this long
  std::chrono::seconds dead_after{60};             // hang up when no PONG/validity for this long (> ping_after)
  std::chrono::seconds connect_timeout{10};        // TCP + TLS + websocket handshake
  AuthSigner auth_signer;                          // empty: AUTH challenges are ignored
  // Initialise TLS (OpenSSL) for wss:// relays. A pool that only ever talks ws:// (local relays, tests) can
  // skip it and save several MB of RSS; adding a wss:// relay to such a pool fails with TLS_DISABLED.
  bool tls = true;
};

enum class RelayState { connecting, connected, backoff, closed };
const char* relay_state_name(RelayState s);  // "connecting" | "connected" | "backoff" | "closed"

struct RelayStatus {
  std::string url;
  RelayState state = RelayState::connecting;
  uint32_t failures = 0;           // consecutive failed/short-lived connections
  std::string last_error;          // why the last connection failed or closed ("" if none)
  int64_t retry_in_ms = 0;         // backoff: time until the next attempt
  bool authenticated = false;      // NIP-42 AUTH accepted on the current connection
  uint64_t connects = 0;           // successful websocket handshakes so far
};

// Outcome of one publish on one relay.
struct RelayPublish {
  std::string url;
  bool sent = false;      // the EVENT was written to this relay's socket (the relay may have received it)
  bool accepted = false;  // the relay answered ["OK", id, true, …]
  // "" when accepted, else RELAY_UNREACHABLE (never written: not connected in time) | RELAY_TIMEOUT (written,
  // no OK in time) | RELAY_REJECTED (OK false) | RELAY_DISCONNECTED (written, connection lost before the OK) |
  // RELAY_QUEUE_FULL | POOL_CLOSED | POOL_MISUSE | INVALID_ARGUMENT.
  std::string code;
  std::string message;    // the relay's OK message (may be set when accepted, e.g. "duplicate: …") or our reason
};

struct PublishResult {
  std::string event_id;
  std::vector<RelayPublish> relays;  // one entry per relay, in the order the relays were added
  size_t accepted_count() const;
  bool any_accepted() const { return accepted_count() > 0; }
  // Ok iff at least one relay accepted. Otherwise: INVALID_ARGUMENT / POOL_CLOSED / POOL_MISUSE if that was the
  // cause, RELAY_REJECTED if a relay refused it, RELAY_QUEUE_FULL if every relay's queue was full, RELAY_TIMEOUT if
  // it was written somewhere without an answer, else RELAY_UNREACHABLE. The message names every failed relay;
  // details = {"relays": [{"url","code","message","sent"}]}.
  Status status() const;
};
using PublishCallback = std::function<void(PublishResult)>;

class Pool {
 public:
  using EventFn = EventCallback;
  using EoseFn = EoseCallback;

  // Creates the lws context and starts the loop thread (no relay yet). A failure to create the context leaves the
  // pool closed: every call then reports POOL_CLOSED (and the cause is logged).
  explicit Pool(PoolOptions options = {});
  // Stops the loop within a bounded time: pending publishes complete with POOL_CLOSED, connections are dropped.
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Adds one relay and starts connecting to it (a duplicate URL is a no-op). INVALID_RELAY_URL (naming the
  // URL; nothing added), POOL_CLOSED after shutdown or if the context could not be created.
  Status add_relay(const std::string& url);
  // Best effort for a list: every relay is connected in parallel; an invalid URL is logged and listed by
  // states()/status() as "closed" with its error (so publish results name it), the others are added.
  void add_relays(const std::vector<std::string>& urls);

  // ["REQ", sub_id, filters...] to every relay now and after every reconnect, until unsubscribe. Re-using an id
  // replaces that subscription. on_eose fires once per relay per REQ sent (so again after a reconnect); callbacks
  // may be empty. `filters` is an array of filter objects (a single object is accepted too).
  // INVALID_ARGUMENT: sub_id empty/longer than 64 chars, filters empty or not objects, too many subscriptions.
  // POOL_CLOSED after shutdown.
  Status try_subscribe(const std::string& sub_id, const json& filters, EventCallback on_event,
                       EoseCallback on_eose, ClosedCallback on_closed = nullptr);
  // Same, errors logged instead of returned (for callers whose arguments are fixed by construction).
  void subscribe(const std::string& sub_id, const json& filters, EventCallback on_event, EoseCallback on_eose,
                 ClosedCallback on_closed = nullptr);
  // ["CLOSE", sub_id] to connected relays; later events for it are ignored. Unknown ids are ignored.
  void unsubscribe(const std::string& sub_id);

  // ["EVENT", event] to every relay: sent at once on connected relays, held (bounded) for relays still
  // connecting, re-sent after a reconnect or a successful AUTH while unanswered. Completes when every relay
  // answered, failed (a relay that is down when asked gets one immediate reconnect attempt), or `timeout`
  // passed. Whatever was not written by then is dropped from the queues — it is never sent later.
  // The event must be an object with a 64-hex "id"; it is not verified here.
  // publish_async: `done` runs once, on the loop thread (or on the caller's thread if the pool is closed / the
  // argument is invalid). publish: blocks the caller; from a loop-thread callback it returns POOL_MISUSE at once.
  void publish_async(const json& event, std::chrono::milliseconds timeout, PublishCallback done);
  PublishResult publish(const json& event, std::chrono::milliseconds timeout);

  // Diagnostics: url → "connecting" | "connected" | "backoff" | "closed", and the full status per relay.
  std::map<std::string, std::string> states() const;
  std::vector<RelayStatus> status() const;
  size_t connected_count() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// ---- wire format and policies (pure functions; exposed for tests and diagnostics) ----
namespace wire {

struct RelayUrl {
  bool tls = false;
  std::string host;         // without brackets for IPv6 literals, lowercased
  int port = 0;             // explicit or 80/443
  std::string path;         // "/" + path + "?query" (never empty)
  std::string host_header;  // host[:port] as sent in the Host header (port only when not the default)
};
// ws://host[:port][/path][?query] or wss://…; scheme and host case-insensitive; no userinfo, no whitespace or
// control characters, port 1..65535, fragment dropped. Error: INVALID_RELAY_URL.
Result<RelayUrl> parse_relay_url(std::string_view url);

enum class MsgType { event, ok, eose, closed, notice, auth };
struct RelayMessage {
  MsgType type = MsgType::notice;
  std::string sub_id;    // event, eose, closed
  json event;            // event (an object)
  std::string event_id;  // ok
  bool ok = false;       // ok
  std::string message;   // ok, closed, notice; the challenge for auth
};
// Parses one relay → client message. Error INVALID_RELAY_MESSAGE for non-JSON, unknown types or wrong shapes
// (e.g. OK without a boolean, EVENT without an object), and for JSON nesting deeper than kMaxMessageDepth levels
// (refused before parsing: a NIP-01 message nests 4, and a deep tree handed to callbacks must never be copied or
// dumped by recursion). Extra trailing elements are tolerated. Never throws.
inline constexpr size_t kMaxMessageDepth = 64;
Result<RelayMessage> parse_relay_message(std::string_view text);

// Client → relay messages (compact JSON, invalid UTF-8 replaced).
std::string make_req(const std::string& sub_id, const json& filters);  // filters: array of filter objects
std::string make_close(const std::string& sub_id);
std::string make_event(const json& event);
std::string make_auth(const json& event);

// True when a relay's OK/CLOSED message carries the given machine-readable prefix ("auth-required", …).
bool has_prefix(std::string_view message, std::string_view prefix);

// Reconnect delay after `failures` (>= 1) consecutive failures: base = min * 2^(failures-1) capped at max, then
// scaled by a jitter factor in [0.8, 1.2) from jitter01 in [0, 1), and clamped to [min, max].
std::chrono::milliseconds backoff_delay(uint32_t failures, std::chrono::milliseconds min,
                                        std::chrono::milliseconds max, double jitter01);

}  // namespace wire
}  // namespace sw::relay
