// Relay pool: one relay's connection, on the loop thread — connect and backoff, the lws callback, writes and
// reads, the relay's messages and NIP-42 AUTH. Threading and the rest of the pool: pool.cpp.
#include <cstring>

#include "relay/pool_internal.h"

namespace sw::relay {

// ---- connecting, and the way down to backoff
void Pool::Impl::update_snapshot(const Relay& r) {
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

void Pool::Impl::add_relay_loop(size_t idx, std::string url, std::optional<wire::RelayUrl> parsed, std::string error) {
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

void Pool::Impl::connect(Relay* r) {
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

bool Pool::Impl::is_current(const Relay* r, const struct lws* wsi) const {
  return r && (r->wsi == wsi || (r->wsi == nullptr && r->in_connect));
}

void Pool::Impl::on_down(Relay* r, const std::string& why) {
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

void Pool::Impl::on_established(Relay* r) {
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

// ---- writes and reads
// Queues one message on a connected relay. Control messages (REQ/CLOSE/AUTH) that do not fit mean the
// connection is stuck: drop it, the reconnect re-synchronises every subscription.
bool Pool::Impl::push(Relay* r, const std::string& text, const std::string& event_id) {
  if (r->state != RelayState::connected || !r->wsi) return false;
  if (r->q.size() >= opt.max_queue) {
    if (event_id.empty()) request_close(r, "outbound queue full (" + std::to_string(opt.max_queue) + " messages)");
    return false;
  }
  r->q.push_back(Out{text, event_id});
  lws().lws_callback_on_writable(r->wsi);
  return true;
}

void Pool::Impl::request_close(Relay* r, const std::string& why) {
  if (!r->wsi || r->close_requested) return;
  r->close_requested = true;
  r->close_reason = why;
  lws().lws_callback_on_writable(r->wsi);
}

int Pool::Impl::on_writable(Relay* r, struct lws* wsi) {
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

void Pool::Impl::on_receive(Relay* r, struct lws* wsi, const char* in, size_t len) {
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

// ---- the relay's messages
void Pool::Impl::handle_message(Relay* r, const std::string& text) {
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

bool Pool::Impl::may_auth(const Relay* r) const { return opt.auth_signer && !r->authed && !r->auth_failed; }

void Pool::Impl::on_closed_msg(Relay* r, const std::string& sub_id, const std::string& reason) {
  auto it = subs.find(sub_id);
  if (it == subs.end()) return;
  if (wire::has_prefix(reason, "auth-required") && may_auth(r)) {
    r->subs_waiting_auth.insert(sub_id);  // re-sent after a successful AUTH
    return;
  }
  log(LogLevel::notice, kLog, r->url + " closed subscription " + trunc(sub_id, 64) + ": " + trunc(reason));
  safe_call("on_closed", it->second.on_closed, r->url, reason);
}

void Pool::Impl::on_ok(Relay* r, const std::string& id, bool ok, const std::string& message) {
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

// ---- NIP-42 AUTH
void Pool::Impl::on_auth(Relay* r, const std::string& challenge) {
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

void Pool::Impl::on_auth_result(Relay* r, bool ok, const std::string& message) {
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

void Pool::Impl::fail_auth_waiters(Relay* r, const std::string& why) {
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

// ---- the lws callback: every event of every connection, on the loop thread
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

}  // namespace sw::relay
