// Relay pool: subscriptions and publishes on the loop thread — fan-out to every relay, per-relay results and
// their settling, and one timer for reconnects and publish deadlines. Threading and the rest of the pool: pool.cpp.
#include <algorithm>

#include "relay/pool_internal.h"

namespace sw::relay {

// ---- subscriptions
void Pool::Impl::subscribe_loop(const std::string& id, Sub s) {
  s.req_text = wire::make_req(id, s.filters);
  auto& slot = subs[id];
  slot = std::move(s);
  for (auto& r : relays) {
    if (!r || r->state != RelayState::connected) continue;
    r->subs_waiting_auth.erase(id);
    push(r.get(), slot.req_text, "");
  }
}

void Pool::Impl::unsubscribe_loop(const std::string& id) {
  if (!subs.erase(id)) return;
  std::string text = wire::make_close(id);
  for (auto& r : relays) {
    if (!r) continue;
    r->subs_waiting_auth.erase(id);
    if (r->state == RelayState::connected) push(r.get(), text, "");
  }
}

// ---- publishing
void Pool::Impl::publish_loop(std::shared_ptr<Pub> p) {
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

bool Pool::Impl::settled(const Pub& p, size_t idx) const {
  const auto& pr = p.per[idx];
  if (pr.done) return true;
  const Relay* r = idx < relays.size() ? relays[idx].get() : nullptr;
  if (!r) return true;
  return pr.went_down && (r->state == RelayState::backoff || r->state == RelayState::closed);
}

void Pool::Impl::check_pubs() {
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

void Pool::Impl::finish(Pub& p) {
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
void Pool::Impl::schedule_tick() {
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

void Pool::Impl::on_tick_cb(lws_sorted_usec_list_t* sul) { reinterpret_cast<TickTimer*>(sul)->impl->on_tick(); }

void Pool::Impl::on_tick() {
  auto now = Steady::now();
  for (auto& r : relays)
    if (r && r->state == RelayState::backoff && r->next_attempt <= now) connect(r.get());
  check_pubs();
  schedule_tick();
}

}  // namespace sw::relay
