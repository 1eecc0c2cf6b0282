// Relay pool on libwebsockets 4.1: one lws context, one service thread. Other threads touch shared state under
// `mu` and wake the loop with lws_cancel_service(); only the loop thread calls into lws for connections/writes.
#include <libwebsockets.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "relay/relay.h"

namespace sw::relay {

bool PublishResult::any_accepted() const {
  return std::any_of(relays.begin(), relays.end(), [](const RelayPublish& r) { return r.accepted; });
}

Result<RelayUrl> parse_relay_url(const std::string& url) {
  RelayUrl u;
  std::string rest;
  if (url.rfind("wss://", 0) == 0) {
    u.tls = true;
    rest = url.substr(6);
  } else if (url.rfind("ws://", 0) == 0) {
    rest = url.substr(5);
  } else {
    return make_error("INVALID_RELAY_URL", "relay URL must start with ws:// or wss://: " + url);
  }
  auto slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  u.path = slash == std::string::npos ? "/" : rest.substr(slash);
  if (auto q = u.path.find('#'); q != std::string::npos) u.path.resize(q);
  if (hostport.empty() || hostport.find('@') != std::string::npos)
    return make_error("INVALID_RELAY_URL", "relay URL has no usable host: " + url);
  u.port = u.tls ? 443 : 80;
  if (hostport.front() == '[') {  // [v6]:port
    auto end = hostport.find(']');
    if (end == std::string::npos) return make_error("INVALID_RELAY_URL", "bad IPv6 host in relay URL: " + url);
    u.host = hostport.substr(1, end - 1);
    if (end + 1 < hostport.size()) {
      if (hostport[end + 1] != ':') return make_error("INVALID_RELAY_URL", "bad port in relay URL: " + url);
      hostport = hostport.substr(end + 2);
    } else {
      hostport.clear();
    }
  } else {
    auto colon = hostport.rfind(':');
    u.host = hostport.substr(0, colon);
    hostport = colon == std::string::npos ? "" : hostport.substr(colon + 1);
  }
  if (!hostport.empty()) {
    if (hostport.size() > 5 || !std::all_of(hostport.begin(), hostport.end(), ::isdigit))
      return make_error("INVALID_RELAY_URL", "bad port in relay URL: " + url);
    u.port = std::stoi(hostport);
    if (u.port < 1 || u.port > 65535) return make_error("INVALID_RELAY_URL", "bad port in relay URL: " + url);
  }
  if (u.host.empty()) return make_error("INVALID_RELAY_URL", "relay URL has no host: " + url);
  return u;
}

std::chrono::milliseconds backoff_delay(int attempt, double jitter01) {
  double base = 250.0 * static_cast<double>(1ull << std::clamp(attempt, 0, 20));
  base = std::min(base, 30000.0);
  double factor = 0.5 + std::clamp(jitter01, 0.0, 0.999999);
  return std::chrono::milliseconds(static_cast<int64_t>(base * factor));
}

namespace {

struct PubState {
  std::string event_id;
  std::map<std::string, RelayPublish> results;  // url → result
  bool withdrawn = false;
};

struct OutMsg {
  std::string text;
  std::shared_ptr<PubState> pub;  // set for EVENT messages
};

}  // namespace

struct Relay;

// Timer node; `sul` must stay the first member so the callback can recover the Relay.
struct RetryTimer {
  lws_sorted_usec_list_t sul;
  Relay* relay;
};

struct Relay {
  std::string url;
  RelayUrl parsed;
  std::string state = "connecting";
  struct lws* wsi = nullptr;
  int attempt = 0;
  RetryTimer timer{};
  std::deque<OutMsg> q;
  std::string rx;
  bool rx_too_big = false;
  Pool::Impl* impl = nullptr;
};

struct Sub {
  json filters;
  Pool::EventFn on_event;
  Pool::EoseFn on_eose;
};

struct Pool::Impl {
  PoolOptions opt;
  struct lws_context* ctx = nullptr;
  std::thread loop;
  std::atomic<bool> stopping{false};
  mutable std::mutex mu;
  std::condition_variable pub_cv;
  std::vector<std::unique_ptr<Relay>> relays;
  std::vector<Relay*> to_connect;  // picked up by the loop
  std::map<std::string, Sub> subs;
  std::map<std::string, std::shared_ptr<PubState>> pubs;  // event id → in-flight publish
  std::mt19937_64 rng{std::random_device{}()};
  lws_retry_bo_t idle_policy{};
  lws_protocols protocols[2]{};

  static int callback(struct lws* wsi, enum lws_callback_reasons reason, void* user, void* in, size_t len);

  // ---------------------------------------------------------------- loop thread only
  void connect(Relay* r) {
    lws_client_connect_info i;
    std::memset(&i, 0, sizeof i);
    i.context = ctx;
    i.address = r->parsed.host.c_str();
    i.port = r->parsed.port;
    i.path = r->parsed.path.c_str();
    i.host = r->parsed.host.c_str();
    i.origin = r->parsed.host.c_str();
    i.ssl_connection = r->parsed.tls ? LCCSCF_USE_SSL : 0;
    i.protocol = nullptr;  // Nostr relays speak plain websockets without a subprotocol
    i.local_protocol_name = protocols[0].name;
    i.retry_and_idle_policy = &idle_policy;
    i.opaque_user_data = r;
    i.pwsi = &r->wsi;
    {
      std::lock_guard<std::mutex> lk(mu);
      r->state = "connecting";
    }
    if (!lws_client_connect_via_info(&i)) schedule_retry(r, "connect failed");
  }

  void schedule_retry(Relay* r, const char* why) {
    int attempt;
    double jitter;
    {
      std::lock_guard<std::mutex> lk(mu);
      r->wsi = nullptr;
      if (stopping) return;
      r->state = "backoff";
      attempt = r->attempt++;
      jitter = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
      // Anything but EVENTs is re-created on connect (subscriptions) or obsolete (AUTH).
      std::deque<OutMsg> keep;
      for (auto& m : r->q)
        if (m.pub && !m.pub->withdrawn) keep.push_back(std::move(m));
      r->q.swap(keep);
    }
    auto delay = backoff_delay(attempt, jitter);
    log(LogLevel::info, "relay", r->url + " " + why + "; retrying in " + std::to_string(delay.count()) + " ms");
    r->timer.relay = r;
    lws_sul_schedule(ctx, 0, &r->timer.sul,
                     [](lws_sorted_usec_list_t* sul) {
                       auto* t = reinterpret_cast<RetryTimer*>(sul);
                       t->relay->impl->connect(t->relay);
                     },
                     static_cast<lws_usec_t>(delay.count()) * 1000);
  }

  void on_established(Relay* r) {
    std::lock_guard<std::mutex> lk(mu);
    r->state = "connected";
    r->attempt = 0;
    // Subscriptions first (they must precede any EVENT whose reply they wait for), then queued EVENTs.
    std::deque<OutMsg> q;
    for (auto& [id, s] : subs) {
      json req = json::array({"REQ", id});
      for (auto& f : s.filters) req.push_back(f);
      q.push_back(OutMsg{json_dump(req), nullptr});
    }
    for (auto& m : r->q)
      if (m.pub && !m.pub->withdrawn) q.push_back(std::move(m));
    r->q.swap(q);
    log(LogLevel::info, "relay", r->url + " connected");
  }

  // Writes one queued message; asks for another writable callback when more are queued.
  int on_writable(Relay* r, struct lws* wsi) {
    std::string text;
    std::shared_ptr<PubState> pub;
    bool more = false;
    {
      std::lock_guard<std::mutex> lk(mu);
      while (!r->q.empty() && r->q.front().pub && r->q.front().pub->withdrawn) r->q.pop_front();
      if (r->q.empty()) return 0;
      text = std::move(r->q.front().text);
      pub = std::move(r->q.front().pub);
      r->q.pop_front();
      more = !r->q.empty();
    }
    std::vector<unsigned char> buf(LWS_PRE + text.size());
    std::memcpy(buf.data() + LWS_PRE, text.data(), text.size());
    int n = lws_write(wsi, buf.data() + LWS_PRE, text.size(), LWS_WRITE_TEXT);
    if (n < static_cast<int>(text.size())) return -1;  // connection is broken; lws closes it
    if (pub) {
      std::lock_guard<std::mutex> lk(mu);
      auto& res = pub->results[r->url];
      res.sent = true;
    }
    if (more) lws_callback_on_writable(wsi);
    return 0;
  }

  void enqueue(Relay* r, OutMsg m) {  // mu held
    if (r->q.size() >= opt.max_queue) {
      if (m.pub) m.pub->results[r->url].message = "RELAY_QUEUE_FULL";
      log(LogLevel::warning, "relay", r->url + ": outbound queue full, message dropped");
      return;
    }
    r->q.push_back(std::move(m));
  }

  void on_message(Relay* r, const std::string& text) {
    json msg = json::parse(text, nullptr, false);
    if (msg.is_discarded() || !msg.is_array() || msg.empty() || !msg[0].is_string()) return;
    const std::string type = msg[0].get<std::string>();
    if (type == "EVENT" && msg.size() >= 3 && msg[1].is_string() && msg[2].is_object()) {
      EventFn fn;
      {
        std::lock_guard<std::mutex> lk(mu);
        auto it = subs.find(msg[1].get<std::string>());
        if (it == subs.end()) return;
        fn = it->second.on_event;
      }
      if (fn) fn(r->url, msg[2]);
    } else if (type == "EOSE" && msg.size() >= 2 && msg[1].is_string()) {
      EoseFn fn;
      {
        std::lock_guard<std::mutex> lk(mu);
        auto it = subs.find(msg[1].get<std::string>());
        if (it == subs.end()) return;
        fn = it->second.on_eose;
      }
      if (fn) fn(r->url);
    } else if (type == "OK" && msg.size() >= 3 && msg[1].is_string() && msg[2].is_boolean()) {
      std::string m = msg.size() >= 4 && msg[3].is_string() ? msg[3].get<std::string>() : "";
      std::lock_guard<std::mutex> lk(mu);
      auto it = pubs.find(msg[1].get<std::string>());
      if (it != pubs.end()) {
        auto& res = it->second->results[r->url];
        res.sent = true;
        res.accepted = msg[2].get<bool>();
        res.message = m.empty() ? (res.accepted ? "" : "rejected") : m;
        if (!res.accepted && m.rfind("auth-required:", 0) == 0) {
          res.message = m;  // will be re-sent after AUTH succeeds (see AUTH handling)
        }
        pub_cv.notify_all();
      }
      // An OK for our AUTH event: re-send subscriptions the relay closed for lack of auth.
      if (m.empty() || msg[2].get<bool>()) resend_after_auth(r, msg[1].get<std::string>());
    } else if (type == "CLOSED" && msg.size() >= 2 && msg[1].is_string()) {
      std::string reason = msg.size() >= 3 && msg[2].is_string() ? msg[2].get<std::string>() : "";
      log(LogLevel::notice, "relay", r->url + " closed a subscription: " + reason.substr(0, 200));
    } else if (type == "NOTICE" && msg.size() >= 2 && msg[1].is_string()) {
      log(LogLevel::notice, "relay", r->url + " notice: " + msg[1].get<std::string>().substr(0, 200));
    } else if (type == "AUTH" && msg.size() >= 2 && msg[1].is_string()) {
      if (!opt.auth_signer) return;
      auto ev = opt.auth_signer(r->url, msg[1].get<std::string>());
      if (!ev) return;
      std::lock_guard<std::mutex> lk(mu);
      auth_ids[r->url] = ev->value("id", "");
      enqueue(r, OutMsg{json_dump(json::array({"AUTH", *ev})), nullptr});
      if (r->wsi) lws_callback_on_writable(r->wsi);
    }
  }

  std::map<std::string, std::string> auth_ids;  // relay → id of the AUTH event we sent

  void resend_after_auth(Relay* r, const std::string& ok_id) {  // mu held
    auto it = auth_ids.find(r->url);
    if (it == auth_ids.end() || it->second != ok_id) return;
    auth_ids.erase(it);
    for (auto& [id, s] : subs) {
      json req = json::array({"REQ", id});
      for (auto& f : s.filters) req.push_back(f);
      enqueue(r, OutMsg{json_dump(req), nullptr});
    }
    for (auto& [eid, p] : pubs) {
      auto res = p->results.find(r->url);
      if (!p->withdrawn && res != p->results.end() && !res->second.accepted &&
          res->second.message.rfind("auth-required:", 0) == 0) {
        res->second.message.clear();
        enqueue(r, OutMsg{p->event_id.empty() ? "" : pending_texts[eid], p});
      }
    }
    if (r->wsi) lws_callback_on_writable(r->wsi);
  }
  std::map<std::string, std::string> pending_texts;  // event id → ["EVENT", …] text, while publishing

  void wake_writers() {  // loop thread: ask for writable callbacks where queues are non-empty
    std::vector<Relay*> todo;
    std::vector<Relay*> connects;
    {
      std::lock_guard<std::mutex> lk(mu);
      for (auto& r : relays)
        if (r->wsi && r->state == "connected" && !r->q.empty()) todo.push_back(r.get());
      connects.swap(to_connect);
    }
    for (auto* r : connects) connect(r);
    for (auto* r : todo) lws_callback_on_writable(r->wsi);
  }

  void start_context(bool need_tls) {
    protocols[0].name = "satwarden-nostr";
    protocols[0].callback = &Impl::callback;
    protocols[0].per_session_data_size = 0;
    protocols[0].rx_buffer_size = 0;
    idle_policy.secs_since_valid_ping = 30;   // ping after 30 s of silence
    idle_policy.secs_since_valid_hangup = 75;  // and give up on the connection after 75 s
    lws_context_creation_info info;
    std::memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.user = this;
    info.fd_limit_per_thread = 64;
    if (need_tls) {
      info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
      if (!opt.ca_file.empty()) info.client_ssl_ca_filepath = opt.ca_file.c_str();
    }
    lws_set_log_level(LLL_ERR, [](int, const char* line) {
      std::string l(line);
      while (!l.empty() && (l.back() == '\n' || l.back() == '\r')) l.pop_back();
      log(LogLevel::warning, "lws", l);
    });
    ctx = lws_create_context(&info);
    if (!ctx) {
      log(LogLevel::error, "relay", "could not create the websocket context");
      return;
    }
    loop = std::thread([this] {
      while (!stopping) {
        if (lws_service(ctx, 0) < 0) break;
      }
    });
  }
};

int Pool::Impl::callback(struct lws* wsi, enum lws_callback_reasons reason, void*, void* in, size_t len) {
  auto* self = static_cast<Impl*>(lws_context_user(lws_get_context(wsi)));
  auto* r = static_cast<Relay*>(lws_get_opaque_user_data(wsi));
  switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
      if (self) self->wake_writers();
      break;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
      if (r) {
        self->on_established(r);
        lws_callback_on_writable(wsi);
      }
      break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
      if (r) return self->on_writable(r, wsi);
      break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
      if (r) {
        if (!r->rx_too_big) {
          if (r->rx.size() + len > self->opt.max_message_bytes) {
            r->rx_too_big = true;
            r->rx.clear();
          } else {
            r->rx.append(static_cast<const char*>(in), len);
          }
        }
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
          if (r->rx_too_big) log(LogLevel::warning, "relay", r->url + ": oversized message dropped");
          else self->on_message(r, r->rx);
          r->rx.clear();
          r->rx_too_big = false;
        }
      }
      break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
      if (r) {
        std::string why = in ? std::string("connection error: ") + static_cast<const char*>(in) : "connection error";
        self->schedule_retry(r, why.c_str());
      }
      break;
    case LWS_CALLBACK_CLIENT_CLOSED:
      if (r) self->schedule_retry(r, "connection closed");
      break;
    default:
      break;
  }
  return 0;
}

Pool::Pool(PoolOptions options) : impl_(std::make_unique<Impl>()) { impl_->opt = std::move(options); }

Pool::~Pool() {
  impl_->stopping = true;
  if (impl_->ctx) {
    lws_cancel_service(impl_->ctx);
    if (impl_->loop.joinable()) impl_->loop.join();
    lws_context_destroy(impl_->ctx);
  }
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->pub_cv.notify_all();
}

void Pool::add_relays(const std::vector<std::string>& urls) {
  bool need_tls = false;
  std::vector<std::unique_ptr<Relay>> fresh;
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    for (const auto& u : urls) {
      bool dup = std::any_of(impl_->relays.begin(), impl_->relays.end(), [&](auto& r) { return r->url == u; }) ||
                 std::any_of(fresh.begin(), fresh.end(), [&](auto& r) { return r->url == u; });
      if (dup) continue;
      auto parsed = parse_relay_url(u);
      auto r = std::make_unique<Relay>();
      r->url = u;
      r->impl = impl_.get();
      if (!parsed) {
        r->state = "failed";
        log(LogLevel::warning, "relay", parsed.error().message);
      } else {
        r->parsed = *parsed;
        need_tls = need_tls || parsed->tls;
      }
      fresh.push_back(std::move(r));
    }
  }
  if (!impl_->ctx) impl_->start_context(need_tls);
  std::lock_guard<std::mutex> lk(impl_->mu);
  for (auto& r : fresh) {
    if (r->state != "failed") impl_->to_connect.push_back(r.get());
    impl_->relays.push_back(std::move(r));
  }
  if (impl_->ctx) lws_cancel_service(impl_->ctx);
}

void Pool::subscribe(const std::string& id, const json& filters, EventFn on_event, EoseFn on_eose) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  json fl = filters.is_array() ? filters : json::array({filters});
  impl_->subs[id] = Sub{fl, std::move(on_event), std::move(on_eose)};
  json req = json::array({"REQ", id});
  for (auto& f : fl) req.push_back(f);
  std::string text = json_dump(req);
  for (auto& r : impl_->relays)
    if (r->state == "connected") impl_->enqueue(r.get(), OutMsg{text, nullptr});
  if (impl_->ctx) lws_cancel_service(impl_->ctx);
}

void Pool::unsubscribe(const std::string& id) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  if (!impl_->subs.erase(id)) return;
  std::string text = json_dump(json::array({"CLOSE", id}));
  for (auto& r : impl_->relays)
    if (r->state == "connected") impl_->enqueue(r.get(), OutMsg{text, nullptr});
  if (impl_->ctx) lws_cancel_service(impl_->ctx);
}

PublishResult Pool::publish(const json& event, std::chrono::milliseconds timeout) {
  auto st = std::make_shared<PubState>();
  st->event_id = event.value("id", "");
  std::string text = json_dump(json::array({"EVENT", event}));
  std::unique_lock<std::mutex> lk(impl_->mu);
  for (auto& r : impl_->relays) {
    auto& res = st->results[r->url];
    res.url = r->url;
    if (r->state == "failed") {
      res.message = "invalid relay URL";
      continue;
    }
    impl_->enqueue(r.get(), OutMsg{text, st});
  }
  impl_->pubs[st->event_id] = st;
  impl_->pending_texts[st->event_id] = text;
  if (impl_->ctx) lws_cancel_service(impl_->ctx);
  auto done = [&] {
    if (impl_->stopping) return true;
    bool any_ok = false, all_answered = true, others_down = true;
    for (auto& r : impl_->relays) {
      auto& res = st->results[r->url];
      bool answered = res.accepted || (!res.message.empty() && res.message.rfind("auth-required:", 0) != 0);
      any_ok = any_ok || res.accepted;
      if (!answered) {
        all_answered = false;
        if (r->state == "connected") others_down = false;
      }
    }
    return all_answered || (any_ok && others_down);
  };
  impl_->pub_cv.wait_for(lk, timeout, done);
  st->withdrawn = true;  // copies not yet written are dropped by the writer
  impl_->pubs.erase(st->event_id);
  impl_->pending_texts.erase(st->event_id);
  PublishResult out;
  for (auto& r : impl_->relays) {
    auto res = st->results[r->url];
    res.url = r->url;
    if (!res.sent && res.message.empty()) res.message = r->state == "connected" ? "timeout" : "not connected (" + r->state + ")";
    else if (res.sent && !res.accepted && res.message.empty()) res.message = "no OK before the timeout";
    out.relays.push_back(std::move(res));
  }
  return out;
}

std::map<std::string, std::string> Pool::states() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  std::map<std::string, std::string> out;
  for (auto& r : impl_->relays) out[r->url] = r->state;
  return out;
}

size_t Pool::connected_count() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return static_cast<size_t>(
      std::count_if(impl_->relays.begin(), impl_->relays.end(), [](auto& r) { return r->state == "connected"; }));
}

}  // namespace sw::relay
