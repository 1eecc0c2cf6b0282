// sw::relay — a pool of Nostr relay connections (NIP-01 over websockets, libwebsockets 4.1).
// What: connects every relay in parallel (ws:// and wss://, certificates verified against the system store or a
// given CA file), publishes events to all of them and collects OK replies, keeps REQ subscriptions and re-sends them
// after every reconnect (exponential backoff 250 ms → 30 s with ±50 % jitter), answers NIP-42 AUTH through a
// signer callback, pings idle connections, and bounds every queue and message size. It moves JSON only: signing,
// encryption and deduplication belong to the caller (events carry the relay they came from).
// Thread-safety: one event-loop thread owned by the pool; every public method is thread-safe and may be called from
// any other thread. Callbacks (events, EOSE) run on the loop thread and must not block.
// Errors: publish() reports per relay; RELAY_QUEUE_FULL when a relay's outbound queue (1000) is full.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/common.h"

namespace sw::relay {

struct PoolOptions {
  std::string ca_file;                 // extra CA bundle for wss:// (tests); system store otherwise
  size_t max_queue = 1000;             // outbound messages per relay
  size_t max_message_bytes = 512 * 1024;  // inbound messages larger than this are dropped
  // NIP-42: returns a signed kind-22242 event for (relay url, challenge), or nullopt to ignore the challenge.
  std::function<std::optional<json>(const std::string& relay, const std::string& challenge)> auth_signer;
};

struct RelayPublish {
  std::string url;
  bool sent = false;      // written to the relay's socket
  bool accepted = false;  // the relay answered ["OK", id, true, …]
  std::string message;    // the relay's OK message, or why it was not sent ("not connected", "timeout", …)
};

struct PublishResult {
  std::vector<RelayPublish> relays;
  bool any_accepted() const;
};

// ws[s]://host[:port][/path] → parts. Error INVALID_RELAY_URL.
struct RelayUrl {
  bool tls = false;
  std::string host;
  int port = 0;
  std::string path = "/";
};
Result<RelayUrl> parse_relay_url(const std::string& url);

// Backoff before reconnect attempt `attempt` (0-based): 250 ms · 2^attempt capped at 30 s, times a jitter factor in
// [0.5, 1.5] (jitter01 in [0, 1) picks it). Exposed for tests.
std::chrono::milliseconds backoff_delay(int attempt, double jitter01);

class Pool {
 public:
  using EventFn = std::function<void(const std::string& relay, const json& event)>;
  using EoseFn = std::function<void(const std::string& relay)>;

  explicit Pool(PoolOptions options = {});
  ~Pool();  // stops the loop thread within a bounded time (closes sockets)
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Starts connecting to these relays (duplicates and unparsable URLs are skipped with a log line).
  void add_relays(const std::vector<std::string>& urls);
  // ["REQ", id, filters...] on every relay now and after every reconnect. `filters` is a JSON array.
  void subscribe(const std::string& id, const json& filters, EventFn on_event, EoseFn on_eose);
  // ["CLOSE", id] and forget the subscription.
  void unsubscribe(const std::string& id);
  // Sends ["EVENT", event] to every relay (queued for relays still connecting). Blocks until every relay
  // answered OK, or one accepted and the rest are not connected, or `timeout` passes. Unsent copies are then
  // withdrawn, so a relay that connects later will not send a request the caller already gave up on.
  PublishResult publish(const json& event, std::chrono::milliseconds timeout);
  // url → connecting | connected | backoff | failed (unparsable).
  std::map<std::string, std::string> states() const;
  size_t connected_count() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace sw::relay
