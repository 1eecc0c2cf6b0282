// Relay pool on libwebsockets 4.1 — see relay.h for the contract.
//
// Threading: ONE lws context, ONE loop thread. Every piece of relay/subscription/publish state below is owned by
// the loop thread and touched only there (no locks). Other threads talk to the loop by posting closures into
// `cmds` under `mu` and waking it with lws_cancel_service() (→ LWS_CALLBACK_EVENT_WAIT_CANCELLED, where the queue
// is drained). `mu` also guards the diagnostic snapshot and the caller-side bookkeeping (relay URLs, sub ids).
// lws_cancel_service() is called while holding `mu`, and the destructor flips `closed` under `mu` before it
// destroys the context, so no caller can touch a dead context.
//
// Loading: libwebsockets is dlopen()ed by the first pool (see lws_api), not linked. A server without a wallet
// then never maps it, nor the libssl, libz and libcap it pulls in (~0.5 MB of RSS).
#include <dlfcn.h>
#include <libwebsockets.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <atomic>
#include <cstring>
#include <deque>
#include <future>
#include <list>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "relay/relay.h"

namespace sw::relay {

namespace {

using Steady = std::chrono::steady_clock;
using TimePoint = Steady::time_point;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr const char* kLog = "relay";

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

#ifndef SW_LWS_SONAME
#error "SW_LWS_SONAME (the SONAME of the libwebsockets we compile against) is set by src/relay/CMakeLists.txt"
#endif

// The loaded entry points: set once, by the first successful lws_api() (under its static-init guard), before
// any pool has a context; every user below runs only with a live context.
const LwsApi* g_lws = nullptr;
const LwsApi& lws() { return *g_lws; }

// Loads libwebsockets (by the SONAME of the library whose headers we were compiled against) on first use; it
// stays loaded for the life of the process. Null if it cannot be loaded; `why` then says why.
const LwsApi* lws_api(std::string& why) {
  static std::string error;
  static const LwsApi* api = []() -> const LwsApi* {
#ifdef SW_LWS_STATIC
    // Self-contained release (SW_PORTABLE): libwebsockets and OpenSSL are linked in; nothing to load.
    static LwsApi linked;
#define SW_LWS_DIRECT(f) linked.f = &::f;
    SW_LWS_FUNCTIONS(SW_LWS_DIRECT)
#undef SW_LWS_DIRECT
    g_lws = &linked;
    return g_lws;
#endif
    void* h = ::dlopen(SW_LWS_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* e = ::dlerror();
      error = e ? e : "dlopen failed";
      return nullptr;
    }
    static LwsApi a;
    bool ok = true;
#define SW_LWS_RESOLVE(f)                                                                         \
  a.f = reinterpret_cast<decltype(&::f)>(::dlsym(h, #f)); /* dependency order: lws, then libssl */ \
  if (!a.f) {                                                                                     \
    ok = false;                                                                                   \
    error = std::string(SW_LWS_SONAME) + " has no " #f;                                          \
  }
    SW_LWS_FUNCTIONS(SW_LWS_RESOLVE)
#undef SW_LWS_RESOLVE
    if (!ok) return nullptr;  // the handle is kept open: nothing else may use it
    g_lws = &a;
    return g_lws;
  }();
  if (!api) why = error;
  return api;
}

// Relay-provided text (NOTICE, CLOSED/OK reasons, lws errors) for one log line: bounded, control characters
// replaced so a relay cannot forge log lines.
std::string trunc(const std::string& s, size_t n = 200) {
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

}  // namespace

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

  static int callback(struct lws* wsi, enum lws_callback_reasons reason, void* user, void* in, size_t len);

  // ================================================================ caller side
  bool post(std::function<void()> fn) {
    std::lock_guard<std::mutex> g(mu);
    if (closed) return false;
    cmds.push_back(std::move(fn));
    lws().lws_cancel_service(ctx);
    return true;
  }

  void drain() {
    std::deque<std::function<void()>> todo;
    {
      std::lock_guard<std::mutex> g(mu);
      todo.swap(cmds);
    }
    for (auto& fn : todo) {
      if (stop) return;
      fn();
    }
  }

  // ================================================================ loop thread
  void run() {
    drain();
    while (!stop.load()) {
      if (lws().lws_service(ctx, 0) < 0) break;
    }
    // Shutdown: every pending publish completes now; later commands are refused by post().
    std::deque<std::function<void()>> dropped;
    {
      std::lock_guard<std::mutex> g(mu);
      closed = true;
      dropped.swap(cmds);
    }
    dropped.clear();  // outside the lock: dropped publishes report POOL_CLOSED through ~Pub
    auto pending = std::move(pubs);
    pubs.clear();
    for (auto& p : pending) {
      for (auto& pr : p->per)
        if (!pr.done) {
          pr.done = true;
          pr.code = "POOL_CLOSED";
          pr.message = "the relay pool is shutting down";
        }
      finish(*p);
    }
    subs.clear();
    lws().lws_sul_cancel(&tick.sul);
  }

  void update_snapshot(const Relay& r) {
    std::lock_guard<std::mutex> g(mu);
    if (r.idx >= snapshot.size()) return;
    auto& e = snapshot[r.idx];
    e.st.url = r.url;
    e.st.state = r.state;
    e.st.failures = r.failures;
    e.st.last_error = r.last_error;
    e.st.authenticated = r.authed;
    e.st.connects = r.connects;
    e.next_attempt = r.next_attempt;
  }

  void add_relay_loop(size_t idx, std::string url, std::optional<wire::RelayUrl> parsed, std::string error) {
    auto r = std::make_unique<Relay>();
    r->idx = idx;
    r->url = std::move(url);
    if (parsed) {
      r->u = std::move(*parsed);
    } else {
      r->valid = false;
      r->state = RelayState::closed;
      r->last_error = std::move(error);
    }
    Relay* raw = r.get();
    if (relays.size() <= idx) relays.resize(idx + 1);
    relays[idx] = std::move(r);
    if (raw->valid) connect(raw);
  }

  void connect(Relay* r) {
    if (!r->valid || stop) return;
    lws_client_connect_info ci;
    std::memset(&ci, 0, sizeof ci);
    ci.context = ctx;
    ci.address = r->u.host.c_str();
    ci.port = r->u.port;
    ci.path = r->u.path.c_str();
    ci.host = r->u.host_header.c_str();
    ci.origin = r->u.host_header.c_str();
    ci.ssl_connection = r->u.tls ? LCCSCF_USE_SSL : 0;  // full verification: no ALLOW_* flags
    ci.protocol = nullptr;  // Nostr relays speak plain websockets, no subprotocol
    ci.local_protocol_name = protocols[0].name;
    ci.retry_and_idle_policy = &policy;
    ci.opaque_user_data = r;
    r->state = RelayState::connecting;
    r->last_attempt = Steady::now();
    r->wsi = nullptr;
    update_snapshot(*r);
    r->in_connect = true;
    struct lws* w = lws().lws_client_connect_via_info(&ci);
    r->in_connect = false;
    if (r->state == RelayState::connecting && r->wsi == nullptr) {
      if (w) r->wsi = w;
      else on_down(r, "could not start a connection");
    }
  }

  bool is_current(const Relay* r, const struct lws* wsi) const {
    return r && (r->wsi == wsi || (r->wsi == nullptr && r->in_connect));
  }

  void on_down(Relay* r, const std::string& why) {
    if (r->state != RelayState::connecting && r->state != RelayState::connected) return;
    if (stop) {  // context teardown: no reconnect, no noise
      r->reset_connection();
      r->state = RelayState::closed;
      r->last_error = "pool closed";
      update_snapshot(*r);
      return;
    }
    bool was_connected = r->state == RelayState::connected;
    auto now = Steady::now();
    std::string reason = r->close_reason.empty() ? why : r->close_reason;
    r->reset_connection();
    if (was_connected && now - r->connected_at >= opt.stable_after) r->failures = 0;
    r->failures++;
    double jitter = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    auto delay = wire::backoff_delay(r->failures, opt.backoff_min, opt.backoff_max, jitter);
    r->state = RelayState::backoff;
    r->next_attempt = now + delay;
    r->last_error = reason;
    std::string msg = r->url + ": " + reason + "; reconnecting in " + std::to_string(delay.count()) + " ms";
    if (was_connected) log(LogLevel::warning, kLog, "lost " + msg);
    else if (r->failures == 1) log(LogLevel::warning, kLog, "cannot connect to " + msg);
    else log(LogLevel::debug, kLog, "cannot connect to " + msg + " (failure " + std::to_string(r->failures) + ")");
    for (auto& p : pubs)
      if (r->idx < p->per.size() && !p->per[r->idx].done) p->per[r->idx].went_down = true;
    update_snapshot(*r);
    check_pubs();
    schedule_tick();
  }

  void on_established(Relay* r) {
    r->state = RelayState::connected;
    r->connected_at = Steady::now();
    r->connects++;
    r->last_error.clear();
    log(LogLevel::info, kLog, "connected to " + r->url);
    // Subscriptions first (a reply to an EVENT may need them), then every unanswered publish.
    for (auto& [id, s] : subs) push(r, s.req_text, "");
    for (auto& p : pubs)
      if (r->idx < p->per.size() && !p->per[r->idx].done) push(r, p->text, p->id);
    update_snapshot(*r);
    if (r->wsi) lws().lws_callback_on_writable(r->wsi);
  }

  // Queues one message on a connected relay. Control messages (REQ/CLOSE/AUTH) that do not fit mean the
  // connection is stuck: drop it, the reconnect re-synchronises every subscription.
  bool push(Relay* r, const std::string& text, const std::string& event_id) {
    if (r->state != RelayState::connected || !r->wsi) return false;
    if (r->q.size() >= opt.max_queue) {
      if (event_id.empty()) request_close(r, "outbound queue full (" + std::to_string(opt.max_queue) + " messages)");
      return false;
    }
    r->q.push_back(Out{text, event_id});
    lws().lws_callback_on_writable(r->wsi);
    return true;
  }

  void request_close(Relay* r, const std::string& why) {
    if (!r->wsi || r->close_requested) return;
    r->close_requested = true;
    r->close_reason = why;
    lws().lws_callback_on_writable(r->wsi);
  }

  int on_writable(Relay* r, struct lws* wsi) {
    if (r->close_requested) return -1;
    if (r->q.empty()) return 0;
    Out m = std::move(r->q.front());
    r->q.pop_front();
    wbuf.resize(LWS_PRE + m.text.size());
    std::memcpy(wbuf.data() + LWS_PRE, m.text.data(), m.text.size());
    int n = lws().lws_write(wsi, wbuf.data() + LWS_PRE, m.text.size(), LWS_WRITE_TEXT);
    if (wbuf.capacity() > 64 * 1024) {
      wbuf.clear();
      wbuf.shrink_to_fit();
    }
    if (n < static_cast<int>(m.text.size())) {
      r->close_reason = "write failed";
      return -1;
    }
    if (!m.event_id.empty())
      for (auto& p : pubs)
        if (p->id == m.event_id && r->idx < p->per.size()) p->per[r->idx].sent = true;
    if (!r->q.empty()) lws().lws_callback_on_writable(wsi);
    return 0;
  }

  void on_receive(Relay* r, struct lws* wsi, const char* in, size_t len) {
    if (!r->rx_drop) {
      if (r->rx.size() + len > opt.max_message_bytes) {
        r->rx_drop = true;
        r->rx.clear();
        r->rx.shrink_to_fit();
      } else {
        r->rx.append(in, len);
      }
    }
    if (!lws().lws_is_final_fragment(wsi) || lws().lws_remaining_packet_payload(wsi) != 0) return;
    if (r->rx_drop) {
      log(LogLevel::warning, kLog,
          "dropped a message larger than " + std::to_string(opt.max_message_bytes) + " bytes from " + r->url);
    } else {
      std::string text;
      text.swap(r->rx);
      handle_message(r, text);
    }
    r->rx.clear();
    if (r->rx.capacity() > 64 * 1024) r->rx.shrink_to_fit();
    r->rx_drop = false;
  }

  void handle_message(Relay* r, const std::string& text) {
    auto parsed = wire::parse_relay_message(text);
    if (!parsed) {
      log(LogLevel::debug, kLog, "ignored a malformed message from " + r->url + ": " + parsed.error().message);
      return;
    }
    wire::RelayMessage& m = *parsed;
    switch (m.type) {
      case wire::MsgType::event: {
        auto it = subs.find(m.sub_id);
        if (it != subs.end()) safe_call("on_event", it->second.on_event, r->url, m.event);
        break;
      }
      case wire::MsgType::eose: {
        auto it = subs.find(m.sub_id);
        if (it != subs.end()) safe_call("on_eose", it->second.on_eose, r->url);
        break;
      }
      case wire::MsgType::closed: on_closed_msg(r, m.sub_id, m.message); break;
      case wire::MsgType::notice: log(LogLevel::notice, kLog, r->url + " NOTICE: " + trunc(m.message)); break;
      case wire::MsgType::ok: on_ok(r, m.event_id, m.ok, m.message); break;
      case wire::MsgType::auth: on_auth(r, m.message); break;
    }
  }

  bool may_auth(const Relay* r) const { return opt.auth_signer && !r->authed && !r->auth_failed; }

  void on_closed_msg(Relay* r, const std::string& sub_id, const std::string& reason) {
    auto it = subs.find(sub_id);
    if (it == subs.end()) return;
    if (wire::has_prefix(reason, "auth-required") && may_auth(r)) {
      r->subs_waiting_auth.insert(sub_id);  // re-sent after a successful AUTH
      return;
    }
    log(LogLevel::notice, kLog, r->url + " closed subscription " + trunc(sub_id, 64) + ": " + trunc(reason));
    safe_call("on_closed", it->second.on_closed, r->url, reason);
  }

  void on_ok(Relay* r, const std::string& id, bool ok, const std::string& message) {
    if (!r->auth_event_id.empty() && id == r->auth_event_id) {
      on_auth_result(r, ok, message);
      return;
    }
    bool changed = false;
    for (auto& p : pubs) {
      if (p->id != id || r->idx >= p->per.size() || p->per[r->idx].done) continue;
      auto& pr = p->per[r->idx];
      pr.sent = true;
      pr.message = message;
      if (!ok && wire::has_prefix(message, "auth-required") && may_auth(r)) {
        r->events_waiting_auth.insert(id);  // re-sent after a successful AUTH
        continue;
      }
      pr.done = true;
      pr.accepted = ok;
      pr.code = ok ? "" : "RELAY_REJECTED";
      changed = true;
    }
    if (changed) check_pubs();
  }

  void on_auth(Relay* r, const std::string& challenge) {
    if (!opt.auth_signer) return;  // no signer: challenges are ignored
    r->auth_failed = false;
    std::optional<json> ev;
    try {
      ev = opt.auth_signer(r->url, challenge);
    } catch (...) {
      ev.reset();
    }
    if (!ev || !ev->is_object() || !ev->contains("id") || !(*ev)["id"].is_string()) {
      log(LogLevel::warning, kLog, "no AUTH event for " + r->url + " (the signer declined)");
      fail_auth_waiters(r, "the AUTH signer declined");
      return;
    }
    r->auth_event_id = (*ev)["id"].get<std::string>();
    push(r, wire::make_auth(*ev), "");
  }

  void on_auth_result(Relay* r, bool ok, const std::string& message) {
    r->auth_event_id.clear();
    if (!ok) {
      log(LogLevel::warning, kLog, r->url + " refused our AUTH: " + trunc(message));
      update_snapshot(*r);
      fail_auth_waiters(r, "AUTH refused: " + message);
      return;
    }
    r->authed = true;
    log(LogLevel::info, kLog, "authenticated to " + r->url);
    for (const auto& id : r->subs_waiting_auth) {
      auto it = subs.find(id);
      if (it != subs.end()) push(r, it->second.req_text, "");
    }
    r->subs_waiting_auth.clear();
    for (const auto& id : r->events_waiting_auth)
      for (auto& p : pubs)
        if (p->id == id && r->idx < p->per.size() && !p->per[r->idx].done) {
          push(r, p->text, p->id);
          break;
        }
    r->events_waiting_auth.clear();
    update_snapshot(*r);
  }

  void fail_auth_waiters(Relay* r, const std::string& why) {
    r->auth_failed = true;
    for (const auto& id : r->events_waiting_auth)
      for (auto& p : pubs)
        if (p->id == id && r->idx < p->per.size() && !p->per[r->idx].done) {
          auto& pr = p->per[r->idx];
          pr.done = true;
          pr.code = "RELAY_REJECTED";
          pr.message = pr.message + " (" + why + ")";
        }
    r->events_waiting_auth.clear();
    auto waiting = std::move(r->subs_waiting_auth);
    r->subs_waiting_auth.clear();
    for (const auto& id : waiting) {
      auto it = subs.find(id);
      if (it != subs.end()) safe_call("on_closed", it->second.on_closed, r->url, "auth-required: " + why);
    }
    check_pubs();
  }

  // ---- subscriptions
  void subscribe_loop(const std::string& id, Sub s) {
    s.req_text = wire::make_req(id, s.filters);
    auto& slot = subs[id];
    slot = std::move(s);
    for (auto& r : relays) {
      if (!r || r->state != RelayState::connected) continue;
      r->subs_waiting_auth.erase(id);
      push(r.get(), slot.req_text, "");
    }
  }

  void unsubscribe_loop(const std::string& id) {
    if (!subs.erase(id)) return;
    std::string text = wire::make_close(id);
    for (auto& r : relays) {
      if (!r) continue;
      r->subs_waiting_auth.erase(id);
      if (r->state == RelayState::connected) push(r.get(), text, "");
    }
  }

  // ---- publishing
  void publish_loop(std::shared_ptr<Pub> p) {
    auto now = Steady::now();
    p->per.resize(relays.size());
    pubs.push_back(p);
    for (auto& rp : relays) {
      if (!rp) continue;
      Relay* r = rp.get();
      auto& pr = p->per[r->idx];
      if (!r->valid) {
        pr.done = true;
        pr.code = "RELAY_UNREACHABLE";
        pr.message = r->last_error;
        continue;
      }
      size_t waiting = 0;
      for (auto& other : pubs)
        if (other != p && r->idx < other->per.size() && !other->per[r->idx].done) waiting++;
      if (waiting >= opt.max_queue) {
        pr.done = true;
        pr.code = "RELAY_QUEUE_FULL";
        pr.message = "too many unanswered events for this relay (" + std::to_string(opt.max_queue) + ")";
        continue;
      }
      switch (r->state) {
        case RelayState::connected:
          if (!push(r, p->text, p->id)) {
            pr.done = true;
            pr.code = "RELAY_QUEUE_FULL";
            pr.message = "outbound queue full (" + std::to_string(opt.max_queue) + " messages)";
          }
          break;
        case RelayState::connecting: break;  // sent on connect
        case RelayState::backoff:
          // A relay that is down gets one immediate attempt on demand (rate-limited by backoff_min); if that
          // fails too, it counts as settled and the publish need not wait for it.
          if (now - r->last_attempt >= opt.backoff_min) {
            log(LogLevel::debug, kLog, "reconnecting to " + r->url + " now for a publish");
            connect(r);
          } else {
            pr.went_down = true;
          }
          break;
        case RelayState::closed: pr.went_down = true; break;
      }
    }
    p->setting_up = false;
    check_pubs();
    schedule_tick();
  }

  bool settled(const Pub& p, size_t idx) const {
    const auto& pr = p.per[idx];
    if (pr.done) return true;
    const Relay* r = idx < relays.size() ? relays[idx].get() : nullptr;
    if (!r) return true;
    return pr.went_down && (r->state == RelayState::backoff || r->state == RelayState::closed);
  }

  void check_pubs() {
    auto now = Steady::now();
    std::vector<std::shared_ptr<Pub>> finished;
    for (auto it = pubs.begin(); it != pubs.end();) {
      auto& p = *it;
      bool all = true;
      for (size_t i = 0; i < p->per.size() && all; i++) all = settled(*p, i);
      if (!p->setting_up && (all || now >= p->deadline)) {
        finished.push_back(p);
        it = pubs.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& p : finished) {
      for (size_t i = 0; i < p->per.size(); i++) {
        auto& pr = p->per[i];
        if (pr.done) continue;
        pr.done = true;
        if (!pr.message.empty() && wire::has_prefix(pr.message, "auth-required")) {
          pr.code = "RELAY_REJECTED";
        } else if (pr.sent) {
          pr.code = pr.went_down ? "RELAY_DISCONNECTED" : "RELAY_TIMEOUT";
          pr.message = pr.went_down ? "the connection was lost before the relay answered"
                                    : "no OK from the relay in time";
        } else {
          pr.code = "RELAY_UNREACHABLE";
          const Relay* r = i < relays.size() ? relays[i].get() : nullptr;
          pr.message = "not connected" + std::string(r && !r->last_error.empty() ? ": " + r->last_error : "");
        }
      }
      // Whatever was not written is withdrawn: a request the caller gave up on must never go out later.
      for (auto& r : relays) {
        if (!r) continue;
        r->events_waiting_auth.erase(p->id);
        bool still_wanted = std::any_of(pubs.begin(), pubs.end(), [&](const std::shared_ptr<Pub>& o) {
          return o->id == p->id && r->idx < o->per.size() && !o->per[r->idx].done;
        });
        if (!still_wanted)
          r->q.erase(std::remove_if(r->q.begin(), r->q.end(), [&](const Out& o) { return o.event_id == p->id; }),
                     r->q.end());
      }
      finish(*p);
    }
  }

  void finish(Pub& p) {
    PublishResult res;
    res.event_id = p.id;
    for (size_t i = 0; i < p.per.size(); i++) {
      RelayPublish rr;
      rr.url = i < relays.size() && relays[i] ? relays[i]->url : "";
      rr.sent = p.per[i].sent;
      rr.accepted = p.per[i].accepted;
      rr.code = p.per[i].code;
      rr.message = p.per[i].message;
      res.relays.push_back(std::move(rr));
    }
    auto cb = std::move(p.cb);
    safe_call("publish", cb, std::move(res));
  }

  // ---- one timer for reconnects and publish deadlines
  void schedule_tick() {
    if (stop) return;
    auto now = Steady::now();
    std::optional<TimePoint> next;
    auto consider = [&](TimePoint t) {
      if (!next || t < *next) next = t;
    };
    for (auto& r : relays)
      if (r && r->state == RelayState::backoff) consider(r->next_attempt);
    for (auto& p : pubs) consider(p->deadline);
    if (!next) {
      lws().lws_sul_cancel(&tick.sul);
      return;
    }
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(*next - now).count();
    lws().lws_sul_schedule(ctx, 0, &tick.sul, &Impl::on_tick_cb, std::max<int64_t>(us, 1000));
  }

  static void on_tick_cb(lws_sorted_usec_list_t* sul) { reinterpret_cast<TickTimer*>(sul)->impl->on_tick(); }

  void on_tick() {
    auto now = Steady::now();
    for (auto& r : relays)
      if (r && r->state == RelayState::backoff && r->next_attempt <= now) connect(r.get());
    check_pubs();
    schedule_tick();
  }

  bool start() {
    std::string why;
    if (!lws_api(why)) {
      log(LogLevel::error, kLog, "cannot load libwebsockets (" + trunc(why, 300) + "); the relay pool is disabled");
      return false;
    }
    static std::once_flag log_once;
    std::call_once(log_once, [] {
      // lws logs (errors and warnings only) go to our stderr log at debug level; our own lines say what matters.
      lws().lws_set_log_level(LLL_ERR | LLL_WARN, [](int, const char* line) {
        std::string l(line ? line : "");
        while (!l.empty() && (l.back() == '\n' || l.back() == '\r')) l.pop_back();
        log(LogLevel::debug, "lws", l);
      });
    });
    std::memset(protocols, 0, sizeof protocols);
    protocols[0].name = "sw-nostr-relay";
    protocols[0].callback = &Impl::callback;
    protocols[0].rx_buffer_size = 0;  // lws default (one small buffer per thread, not per connection)
    // Keep-alive: PING after ping_after seconds without proof the link works; hang up when nothing (no PONG)
    // proved it for dead_after seconds. The reconnect delays are ours (see wire::backoff_delay).
    auto ping = std::clamp<int64_t>(opt.ping_after.count(), 1, 65535);
    auto dead = std::clamp<int64_t>(opt.dead_after.count(), ping + 1, 65535);
    policy.secs_since_valid_ping = static_cast<uint16_t>(ping);
    policy.secs_since_valid_hangup = static_cast<uint16_t>(dead);

    lws_context_creation_info info;
    std::memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.user = this;
    info.options = opt.tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0;  // lws 4.1 needs it for any client TLS
    if (opt.tls) {
      client_tls = make_client_tls();
      if (!client_tls) {
        log(LogLevel::error, kLog, "could not create the TLS client context; the relay pool is disabled");
        return false;
      }
      info.provided_client_ssl_ctx = client_tls;
    }
    info.count_threads = 1;
    // lws sizes its per-thread fd tables by this (default: the process fd limit, which costs megabytes).
    info.fd_limit_per_thread = 128;
    info.timeout_secs = static_cast<unsigned>(std::max<int64_t>(1, opt.connect_timeout.count()));
    info.connect_timeout_secs = info.timeout_secs;
    ctx = lws().lws_create_context(&info);
    if (!ctx) {
      free_client_tls();
      log(LogLevel::error, kLog, "could not create the websocket context; the relay pool is disabled");
      return false;
    }
    tick.impl = this;
    {
      std::lock_guard<std::mutex> g(mu);
      closed = false;
    }
    loop = std::thread([this] { run(); });
    loop_id = loop.get_id();
    return true;
  }

  // The client SSL_CTX for wss://, created and freed by us, not by lws: libwebsockets 4.1 (Debian's 4.1.6)
  // frees its own client SSL_CTX only if it finds its bookkeeping in the SSL_CTX's ex_data under a
  // process-global index that EVERY context created with LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT allocates
  // anew. So when two pools coexist, the older context's lookup uses the newer index, finds nothing, and
  // its SSL_CTX (with its trust store) is never freed: LeakSanitizer reported one orphaned SSL_CTX per
  // pool outlived by a younger one (upstream lws issues #2044/#2178, fixed after 4.1 by allocating the
  // indexes once). A provided SSL_CTX is left alone by lws (user_supplied_ssl_ctx), so nothing depends on
  // that index. lws still sets verification (SSL_VERIFY_PEER, host/IP check), SNI and ALPN per connection.
  // Our own context also skips lws's SSL_CTX_set_default_verify_paths, which parses the whole CA bundle
  // file into every pool; load_client_certs reads the hashed directory on demand instead.
  SSL_CTX* make_client_tls() {
    const SSL_METHOD* method = lws().TLS_client_method();
    SSL_CTX* c = method ? lws().SSL_CTX_new(method) : nullptr;
    if (!c) return nullptr;
    // As lws configures its own: a write may be retried from a moved buffer; idle connections drop their
    // record buffers (SSL_CTX_set_mode). Compression is off by default in OpenSSL >= 1.1.
    lws().SSL_CTX_ctrl(c, SSL_CTRL_MODE, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS, nullptr);
    load_client_certs(c);
    return c;
  }

  // Only once no connection can use it any more (after lws_context_destroy, or when the context was not made).
  void free_client_tls() {
    if (client_tls) lws().SSL_CTX_free(client_tls);
    client_tls = nullptr;
  }

  // Trust store for wss:// (our SSL_CTX, so lws loads none): the system store, as the hashed certificate
  // DIRECTORY when there is one: OpenSSL then loads the few CAs a handshake needs on demand instead of parsing
  // the whole bundle file (~0.9 MB of RSS). SSL_CERT_DIR / SSL_CERT_FILE are honoured like OpenSSL's defaults.
  // Plus the optional extra CA file (tests, private relays).
  void load_client_certs(SSL_CTX* sctx) {
    if (!sctx) return;
    lws().SSL_CTX_ctrl(sctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, nullptr);  // SSL_CTX_set_min_proto_version
    bool ok = false;
    const char* env_dir = std::getenv(X509_get_default_cert_dir_env());
    const char* env_file = std::getenv(X509_get_default_cert_file_env());
    if (env_dir && *env_dir) {
      ok = lws().SSL_CTX_load_verify_locations(sctx, nullptr, env_dir) == 1;
      if (env_file && *env_file) ok = lws().SSL_CTX_load_verify_locations(sctx, env_file, nullptr) == 1 || ok;
    } else if (!(env_file && *env_file) && has_hashed_certs(X509_get_default_cert_dir())) {
      ok = lws().SSL_CTX_load_verify_locations(sctx, nullptr, X509_get_default_cert_dir()) == 1;
    }
    if (!ok) ok = lws().SSL_CTX_set_default_verify_paths(sctx) == 1;
    if (!ok) log(LogLevel::warning, kLog, "could not load the system CA store for wss:// relays");
    if (!opt.ca_file.empty() && lws().SSL_CTX_load_verify_locations(sctx, opt.ca_file.c_str(), nullptr) != 1)
      log(LogLevel::warning, kLog, "could not load the extra CA file " + opt.ca_file);
  }

  // True when `dir` holds OpenSSL hash links ("1a2b3c4d.0"); bounded scan.
  static bool has_hashed_certs(const char* dir) {
    std::error_code ec;
    std::filesystem::directory_iterator it(dir ? dir : "", ec), end;
    for (int n = 0; !ec && it != end && n < 10000; it.increment(ec), n++) {
      std::string name = it->path().filename().string();
      if (name.size() == 10 && name[8] == '.' && std::isdigit(static_cast<unsigned char>(name[9])) &&
          std::all_of(name.begin(), name.begin() + 8, [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); }))
        return true;
    }
    return false;
  }
};

int Pool::Impl::callback(struct lws* wsi, enum lws_callback_reasons reason, void* /*user*/, void* in, size_t len) {
  auto* self = static_cast<Impl*>(lws().lws_context_user(lws().lws_get_context(wsi)));
  if (!self) return 0;
  auto* r = static_cast<Relay*>(lws().lws_get_opaque_user_data(wsi));
  switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
      self->drain();
      break;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
      if (self->is_current(r, wsi)) {
        r->wsi = wsi;
        self->on_established(r);
      }
      break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
      if (!self->is_current(r, wsi)) return -1;
      return self->on_writable(r, wsi);
    case LWS_CALLBACK_CLIENT_RECEIVE:
      if (self->is_current(r, wsi) && r->state == RelayState::connected)
        self->on_receive(r, wsi, static_cast<const char*>(in), len);
      break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
      if (self->is_current(r, wsi)) {
        std::string why = in && len ? std::string(static_cast<const char*>(in), strnlen(static_cast<const char*>(in), len))
                          : in ? std::string(static_cast<const char*>(in)) : "";
        self->on_down(r, why.empty() ? "connection failed" : "connection failed: " + trunc(why));
      }
      break;
    case LWS_CALLBACK_CLIENT_CLOSED:
      if (self->is_current(r, wsi)) self->on_down(r, "connection closed");
      break;
    case LWS_CALLBACK_WSI_DESTROY:
      if (r && r->wsi == wsi) self->on_down(r, "connection closed");
      break;
    default:
      break;
  }
  return 0;
}

// ================================================================ public API

Pool::Pool(PoolOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->opt = std::move(options);
  if (impl_->opt.max_queue == 0) impl_->opt.max_queue = 1;
  impl_->start();
}

Pool::~Pool() {
  if (!impl_->ctx) return;
  {
    std::lock_guard<std::mutex> g(impl_->mu);
    impl_->closed = true;
    impl_->stop = true;
    lws().lws_cancel_service(impl_->ctx);
  }
  if (impl_->loop.joinable()) impl_->loop.join();
  lws().lws_context_destroy(impl_->ctx);
  impl_->ctx = nullptr;
  impl_->free_client_tls();  // every connection (SSL) that referenced it is gone with the context
}

Status Pool::add_relay(const std::string& url) {
  std::string u(trim(url));
  auto parsed = wire::parse_relay_url(u);
  if (!parsed) return parsed.error();
  if (parsed->tls && !impl_->opt.tls)
    return make_error("TLS_DISABLED", "this relay pool was created without TLS; cannot use " + u);
  std::lock_guard<std::mutex> g(impl_->mu);
  if (impl_->closed) return make_error("POOL_CLOSED", "the relay pool is closed");
  if (impl_->url_index.count(u)) return ok_status();
  size_t idx = impl_->snapshot.size();
  impl_->url_index[u] = idx;
  SnapshotEntry e;
  e.st.url = u;
  e.st.state = RelayState::connecting;
  impl_->snapshot.push_back(e);
  Impl* im = impl_.get();
  impl_->cmds.push_back([im, idx, u, p = std::move(*parsed)]() mutable { im->add_relay_loop(idx, u, std::move(p), ""); });
  lws().lws_cancel_service(impl_->ctx);
  return ok_status();
}

void Pool::add_relays(const std::vector<std::string>& urls) {
  for (const auto& url : urls) {
    auto st = add_relay(url);
    if (st) continue;
    log(LogLevel::warning, kLog, st.error().message);
    if (st.error().code != "INVALID_RELAY_URL") continue;
    // Keep the invalid relay visible (state "closed") so diagnostics and publish results name it.
    std::string u(trim(url));
    std::lock_guard<std::mutex> g(impl_->mu);
    if (impl_->closed || impl_->url_index.count(u)) continue;
    size_t idx = impl_->snapshot.size();
    impl_->url_index[u] = idx;
    SnapshotEntry e;
    e.st.url = u;
    e.st.state = RelayState::closed;
    e.st.last_error = st.error().message;
    impl_->snapshot.push_back(e);
    Impl* im = impl_.get();
    impl_->cmds.push_back([im, idx, u, err = st.error().message] { im->add_relay_loop(idx, u, std::nullopt, err); });
    lws().lws_cancel_service(impl_->ctx);
  }
}

Status Pool::try_subscribe(const std::string& sub_id, const json& filters, EventCallback on_event,
                           EoseCallback on_eose, ClosedCallback on_closed) {
  if (sub_id.empty() || sub_id.size() > 64)
    return make_error("INVALID_ARGUMENT", "a subscription id must be 1 to 64 characters");
  json fl = filters.is_object() ? json::array({filters}) : filters;
  if (!fl.is_array() || fl.empty() || !std::all_of(fl.begin(), fl.end(), [](const json& f) { return f.is_object(); }))
    return make_error("INVALID_ARGUMENT", "filters must be a non-empty array of filter objects");
  std::lock_guard<std::mutex> g(impl_->mu);
  if (impl_->closed) return make_error("POOL_CLOSED", "the relay pool is closed");
  if (!impl_->sub_ids.count(sub_id) && impl_->sub_ids.size() >= impl_->opt.max_subscriptions)
    return make_error("INVALID_ARGUMENT",
                      "too many subscriptions (" + std::to_string(impl_->opt.max_subscriptions) + ")");
  impl_->sub_ids.insert(sub_id);
  Sub s;
  s.filters = std::move(fl);
  s.on_event = std::move(on_event);
  s.on_eose = std::move(on_eose);
  s.on_closed = std::move(on_closed);
  Impl* im = impl_.get();
  impl_->cmds.push_back([im, sub_id, s = std::move(s)]() mutable { im->subscribe_loop(sub_id, std::move(s)); });
  lws().lws_cancel_service(impl_->ctx);
  return ok_status();
}

void Pool::subscribe(const std::string& sub_id, const json& filters, EventCallback on_event, EoseCallback on_eose,
                     ClosedCallback on_closed) {
  auto st = try_subscribe(sub_id, filters, std::move(on_event), std::move(on_eose), std::move(on_closed));
  if (!st) log(LogLevel::warning, kLog, "subscribe failed: " + st.error().message);
}

void Pool::unsubscribe(const std::string& sub_id) {
  {
    std::lock_guard<std::mutex> g(impl_->mu);
    if (!impl_->sub_ids.erase(sub_id)) return;
  }
  Impl* im = impl_.get();
  impl_->post([im, sub_id] { im->unsubscribe_loop(sub_id); });
}

namespace {
std::string event_id_of(const json& event) {
  if (event.is_object()) {
    auto it = event.find("id");
    if (it != event.end() && it->is_string()) return it->get<std::string>();
  }
  return "";
}

PublishResult failed_everywhere(const std::vector<std::string>& urls, const std::string& id, const std::string& code,
                                const std::string& message) {
  PublishResult r;
  r.event_id = id;
  for (const auto& u : urls) r.relays.push_back(RelayPublish{u, false, false, code, message});
  if (urls.empty()) r.relays.push_back(RelayPublish{"", false, false, code, message});
  return r;
}
}  // namespace

void Pool::publish_async(const json& event, std::chrono::milliseconds timeout, PublishCallback done) {
  std::vector<std::string> urls;
  {
    std::lock_guard<std::mutex> g(impl_->mu);
    for (const auto& e : impl_->snapshot) urls.push_back(e.st.url);
  }
  std::string id = event_id_of(event);
  if (id.size() != 64 || !hex_decode(id)) {
    safe_call("publish", done, failed_everywhere(urls, id, "INVALID_ARGUMENT", "the event has no 64-hex id"));
    return;
  }
  auto p = std::make_shared<Pub>();
  p->id = id;
  p->text = wire::make_event(event);
  p->deadline = Steady::now() + std::max(timeout, milliseconds(0));
  p->cb = std::move(done);
  p->urls = urls;
  Impl* im = impl_.get();
  impl_->post([im, p] { im->publish_loop(p); });  // if refused, ~Pub reports POOL_CLOSED
}

PublishResult Pool::publish(const json& event, std::chrono::milliseconds timeout) {
  if (std::this_thread::get_id() == impl_->loop_id) {
    std::vector<std::string> urls;
    {
      std::lock_guard<std::mutex> g(impl_->mu);
      for (const auto& e : impl_->snapshot) urls.push_back(e.st.url);
    }
    return failed_everywhere(urls, event_id_of(event), "POOL_MISUSE",
                             "publish() was called on the relay loop thread; use publish_async()");
  }
  auto prom = std::make_shared<std::promise<PublishResult>>();
  auto fut = prom->get_future();
  publish_async(event, timeout, [prom](PublishResult r) { prom->set_value(std::move(r)); });
  try {
    return fut.get();  // fulfilled by the loop, at shutdown (~Pub), or synchronously
  } catch (const std::future_error&) {
    return failed_everywhere({}, event_id_of(event), "POOL_CLOSED",
                             "the relay pool is closed");
  }
}

std::map<std::string, std::string> Pool::states() const {
  std::lock_guard<std::mutex> g(impl_->mu);
  std::map<std::string, std::string> out;
  for (const auto& e : impl_->snapshot) out[e.st.url] = relay_state_name(e.st.state);
  return out;
}

std::vector<RelayStatus> Pool::status() const {
  auto now = Steady::now();
  std::lock_guard<std::mutex> g(impl_->mu);
  std::vector<RelayStatus> out;
  for (const auto& e : impl_->snapshot) {
    RelayStatus s = e.st;
    if (s.state == RelayState::backoff)
      s.retry_in_ms = std::max<int64_t>(0, duration_cast<milliseconds>(e.next_attempt - now).count());
    out.push_back(std::move(s));
  }
  return out;
}

size_t Pool::connected_count() const {
  std::lock_guard<std::mutex> g(impl_->mu);
  return static_cast<size_t>(std::count_if(impl_->snapshot.begin(), impl_->snapshot.end(),
                                           [](const SnapshotEntry& e) { return e.st.state == RelayState::connected; }));
}

}  // namespace sw::relay
