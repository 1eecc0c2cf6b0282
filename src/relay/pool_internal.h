// Internal to sw_relay: the relay pool's private types and Pool::Impl, shared by pool.cpp (public API, loop,
// lifecycle), pool_conn.cpp (one relay's connection) and pool_publish.cpp (subscriptions, publishes, the timer).
// Threading (the whole story at the top of pool.cpp): Impl's state "shared with callers" is guarded by `mu`;
// everything "loop thread only" (relays, subs, pubs, the timer) is touched only on the loop thread.
#pragma once

#include <libwebsockets.h>
#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "relay/relay.h"

namespace sw::relay {

namespace detail {

using Steady = std::chrono::steady_clock;
using TimePoint = Steady::time_point;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

inline constexpr const char* kLog = "relay";

// ---- the libwebsockets entry points we use (and the libssl ones, from the libssl lws loads)
#define SW_LWS_FUNCTIONS(X)                                                                                  \
  X(lws_callback_on_writable) X(lws_cancel_service) X(lws_client_connect_via_info) X(lws_context_destroy)   \
  X(lws_context_user) X(lws_create_context) X(lws_get_context) X(lws_get_opaque_user_data)                  \
  X(lws_is_final_fragment) X(lws_remaining_packet_payload) X(lws_service) X(lws_set_log_level)             \
  X(lws_sul_cancel) X(lws_sul_schedule) X(lws_write) X(SSL_CTX_ctrl) X(SSL_CTX_free)                       \
  X(SSL_CTX_load_verify_locations) X(SSL_CTX_new) X(SSL_CTX_set_default_verify_paths) X(TLS_client_method)

struct LwsApi {
#define SW_LWS_MEMBER(f) decltype(&::f) f = nullptr;
  SW_LWS_FUNCTIONS(SW_LWS_MEMBER)
#undef SW_LWS_MEMBER
};

// The loaded entry points: set once, by the first successful lws_api() (pool.cpp, under its static-init guard),
// before any pool has a context; every user runs only with a live context.
extern const LwsApi* g_lws;
inline const LwsApi& lws() { return *g_lws; }

// Relay-provided text (NOTICE, CLOSED/OK reasons, lws errors) for one log line: bounded, control characters
// replaced so a relay cannot forge log lines.
inline std::string trunc(const std::string& s, size_t n = 200) {
  std::string o = s.size() <= n ? s : s.substr(0, n) + "...";
  for (auto& c : o)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return o;
}

// Runs a user callback; an exception must never unwind into libwebsockets' C frames.
template <class F, class... A>
void safe_call(const char* what, const F& fn, A&&... args) {
  if (!fn) return;
  try {
    fn(std::forward<A>(args)...);
  } catch (const std::exception& e) {
    log(LogLevel::error, kLog, std::string(what) + " callback threw: " + e.what());
  } catch (...) {
    log(LogLevel::error, kLog, std::string(what) + " callback threw");
  }
}

struct Out {
  std::string text;
  std::string event_id;  // set for EVENT messages (marks the publish as sent once written)
};

struct Relay {
  size_t idx = 0;
  std::string url;
  wire::RelayUrl u;
  bool valid = true;
  RelayState state = RelayState::connecting;
  struct lws* wsi = nullptr;
  bool in_connect = false;  // inside lws_client_connect_via_info (callbacks may fire synchronously)
  uint32_t failures = 0;
  uint64_t connects = 0;
  std::string last_error;
  TimePoint next_attempt{};
  TimePoint last_attempt{};
  TimePoint connected_at{};
  std::deque<Out> q;
  bool close_requested = false;
  std::string close_reason;
  std::string rx;
  bool rx_drop = false;
  // NIP-42 state of the current connection.
  std::string auth_event_id;  // our AUTH event waiting for its OK
  bool authed = false;
  bool auth_failed = false;
  std::set<std::string> subs_waiting_auth;
  std::set<std::string> events_waiting_auth;

  void reset_connection() {
    wsi = nullptr;
    q.clear();
    q.shrink_to_fit();
    close_requested = false;
    close_reason.clear();
    rx.clear();
    rx.shrink_to_fit();
    rx_drop = false;
    auth_event_id.clear();
    authed = false;
    auth_failed = false;
    subs_waiting_auth.clear();
    events_waiting_auth.clear();
  }
};

struct Sub {
  json filters;
  std::string req_text;
  EventCallback on_event;
  EoseCallback on_eose;
  ClosedCallback on_closed;
};

struct PerRelay {
  bool done = false;       // final answer (or final failure) known
  bool sent = false;
  bool accepted = false;
  bool went_down = false;  // the relay failed/dropped while this publish was pending
  std::string code;
  std::string message;
};

struct Pub {
  std::string id;
  std::string text;
  TimePoint deadline;
  PublishCallback cb;
  std::vector<std::string> urls;  // relays known when publish was called (for a result if the loop never ran it)
  std::vector<PerRelay> per;      // indexed by relay index (relays added later are not part of this publish)
  bool setting_up = true;

  Pub() = default;
  Pub(const Pub&) = delete;
  Pub& operator=(const Pub&) = delete;
  // A publish dropped unprocessed at shutdown still reports, exactly once.
  ~Pub() {
    if (!cb) return;
    PublishResult r;
    r.event_id = id;
    for (const auto& u : urls) r.relays.push_back(RelayPublish{u, false, false, "POOL_CLOSED", "the relay pool is closed"});
    auto fn = std::move(cb);
    safe_call("publish", fn, std::move(r));
  }
};

struct SnapshotEntry {
  RelayStatus st;
  TimePoint next_attempt{};
};

}  // namespace detail

using namespace detail;  // this header is included only by the pool's own .cpp files

struct TickTimer {
  lws_sorted_usec_list_t sul;  // must stay the first member (the callback casts back)
  Pool::Impl* impl;
};

struct Pool::Impl {
  PoolOptions opt;
  struct lws_context* ctx = nullptr;
  SSL_CTX* client_tls = nullptr;  // ours, for wss:// (see make_client_tls); freed after the context
  lws_protocols protocols[2];
  lws_retry_bo_t policy{};
  std::thread loop;
  std::thread::id loop_id;
  std::atomic<bool> stop{false};

  // ---- shared with callers (under mu)
  mutable std::mutex mu;
  bool closed = true;  // set false once the loop runs; true again in the destructor
  std::deque<std::function<void()>> cmds;
  std::vector<SnapshotEntry> snapshot;       // index = relay index
  std::map<std::string, size_t> url_index;   // dedupe
  std::set<std::string> sub_ids;             // for the subscription cap

  // ---- loop thread only
  std::vector<std::unique_ptr<Relay>> relays;
  std::map<std::string, Sub> subs;
  std::list<std::shared_ptr<Pub>> pubs;
  TickTimer tick{};
  std::minstd_rand rng{std::random_device{}()};
  std::vector<unsigned char> wbuf;

  // ---- pool.cpp: the caller side, the loop, its lifecycle (lws context, TLS)
  bool post(std::function<void()> fn);  // any thread: queues fn for the loop; false once closed
  void drain();  // loop thread: runs the queued closures
  void run();    // the loop thread
  bool start();
  SSL_CTX* make_client_tls();
  void free_client_tls();
  void load_client_certs(SSL_CTX* sctx);
  static bool has_hashed_certs(const char* dir);

  // ---- pool_conn.cpp: one relay's connection (loop thread): connect/backoff, writes, reads, messages, NIP-42
  // The lws protocol callback (any lws event of any connection lands here, on the loop thread).
  static int callback(struct lws* wsi, enum lws_callback_reasons reason, void* user, void* in, size_t len);
  void update_snapshot(const Relay& r);
  void add_relay_loop(size_t idx, std::string url, std::optional<wire::RelayUrl> parsed, std::string error);
  void connect(Relay* r);
  bool is_current(const Relay* r, const struct lws* wsi) const;
  void on_down(Relay* r, const std::string& why);
  void on_established(Relay* r);
  bool push(Relay* r, const std::string& text, const std::string& event_id);
  void request_close(Relay* r, const std::string& why);
  int on_writable(Relay* r, struct lws* wsi);
  void on_receive(Relay* r, struct lws* wsi, const char* in, size_t len);
  void handle_message(Relay* r, const std::string& text);
  bool may_auth(const Relay* r) const;
  void on_closed_msg(Relay* r, const std::string& sub_id, const std::string& reason);
  void on_ok(Relay* r, const std::string& id, bool ok, const std::string& message);
  void on_auth(Relay* r, const std::string& challenge);
  void on_auth_result(Relay* r, bool ok, const std::string& message);
  void fail_auth_waiters(Relay* r, const std::string& why);

  // ---- pool_publish.cpp: subscriptions, publishes and one timer for reconnects and deadlines (loop thread)
  void subscribe_loop(const std::string& id, Sub s);
  void unsubscribe_loop(const std::string& id);
  void publish_loop(std::shared_ptr<Pub> p);
  bool settled(const Pub& p, size_t idx) const;
  void check_pubs();
  void finish(Pub& p);
  void schedule_tick();
  static void on_tick_cb(lws_sorted_usec_list_t* sul);
  void on_tick();
};

}  // namespace sw::relay
