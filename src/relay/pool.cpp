// Relay pool on libwebsockets 4.1 — see relay.h for the contract.
//
// Threading: ONE lws context, ONE loop thread. Every piece of relay/subscription/publish state in Impl is owned by
// the loop thread and touched only there (no locks). Other threads talk to the loop by posting closures into
// `cmds` under `mu` and waking it with lws_cancel_service() (→ LWS_CALLBACK_EVENT_WAIT_CANCELLED, where the queue
// is drained). `mu` also guards the diagnostic snapshot and the caller-side bookkeeping (relay URLs, sub ids).
// lws_cancel_service() is called while holding `mu`, and the destructor flips `closed` under `mu` before it
// destroys the context, so no caller can touch a dead context.
//
// Loading: libwebsockets is dlopen()ed by the first pool (see lws_api), not linked. A server without a wallet
// then never maps it, nor the libssl, libz and libcap it pulls in (~0.5 MB of RSS).
//
// This file: the public API, the command queue and the loop, and the lifecycle (lws loading, context, TLS).
// One relay's connection is in pool_conn.cpp; subscriptions, publishes and the timer in pool_publish.cpp.
#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>

#include "relay/pool_internal.h"

namespace sw::relay {

namespace detail {
const LwsApi* g_lws = nullptr;
}  // namespace detail

namespace {

#ifndef SW_LWS_SONAME
#error "SW_LWS_SONAME (the SONAME of the libwebsockets we compile against) is set by src/relay/CMakeLists.txt"
#endif

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

}  // namespace

// ================================================================ caller side
bool Pool::Impl::post(std::function<void()> fn) {
  std::lock_guard<std::mutex> g(mu);
  if (closed) return false;
  cmds.push_back(std::move(fn));
  lws().lws_cancel_service(ctx);
  return true;
}

// ================================================================ loop thread
void Pool::Impl::drain() {
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

void Pool::Impl::run() {
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

// ================================================================ lifecycle
bool Pool::Impl::start() {
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
SSL_CTX* Pool::Impl::make_client_tls() {
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
void Pool::Impl::free_client_tls() {
  if (client_tls) lws().SSL_CTX_free(client_tls);
  client_tls = nullptr;
}

// Trust store for wss:// (our SSL_CTX, so lws loads none): the system store, as the hashed certificate
// DIRECTORY when there is one: OpenSSL then loads the few CAs a handshake needs on demand instead of parsing
// the whole bundle file (~0.9 MB of RSS). SSL_CERT_DIR / SSL_CERT_FILE are honoured like OpenSSL's defaults.
// Plus the optional extra CA file (tests, private relays).
void Pool::Impl::load_client_certs(SSL_CTX* sctx) {
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
bool Pool::Impl::has_hashed_certs(const char* dir) {
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
