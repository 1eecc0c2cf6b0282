// The owner messenger: one relay pool, two subscriptions, a bounded queue and a delivery thread (see owner.h).
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "nostr/nostr.h"
#include "owner/internal.h"

namespace sw::owner {

struct Messenger::Impl {
  MessengerOptions opt;
  MessageHandler handler;
  const Clock* clock = nullptr;
  crypto::SecretKey key;
  std::string key_hex;
  crypto::XOnlyPubKey owner{};
  std::string owner_hex;
  int64_t started = 0;
  std::unique_ptr<detail::Inbox> inbox;  // delivery thread only
  std::unique_ptr<relay::Pool> pool;

  std::mutex mu;
  std::condition_variable cv;
  std::deque<json> queue;
  size_t queued_bytes = 0;
  bool stopping = false;
  std::thread worker;

  std::atomic<uint64_t> n_events{0}, n_delivered{0}, n_duplicates{0}, n_not_owner{0}, n_stale{0}, n_invalid{0},
      n_dropped{0};

  // Relay loop thread: queue and return.
  void on_event(const json& ev) {
    n_events.fetch_add(1);
    size_t bytes = 512;
    if (auto it = ev.find("content"); it != ev.end() && it->is_string()) bytes += it->get_ref<const std::string&>().size();
    {
      std::lock_guard<std::mutex> g(mu);
      if (stopping) return;
      if (queue.size() >= kMaxQueuedEvents || queued_bytes + bytes > kMaxQueuedBytes) {
        n_dropped.fetch_add(1);
        return;  // counted; logging per event here could flood the log
      }
      queue.push_back(ev);
      queued_bytes += bytes;
    }
    cv.notify_one();
  }

  void run() {
    for (;;) {
      json ev;
      {
        std::unique_lock<std::mutex> lk(mu);
        cv.wait(lk, [&] { return stopping || !queue.empty(); });
        if (stopping) return;
        ev = std::move(queue.front());
        queue.pop_front();
        size_t bytes = 512;
        if (auto it = ev.find("content"); it != ev.end() && it->is_string())
          bytes += it->get_ref<const std::string&>().size();
        queued_bytes -= std::min(queued_bytes, bytes);
      }
      OwnerMessage msg;
      std::string why;
      switch (inbox->accept(ev, &msg, &why)) {
        case detail::Verdict::deliver:
          n_delivered.fetch_add(1);
          log(LogLevel::info, "owner", std::string("message from the owner (") + channel_name(msg.channel) + ", " +
                                           msg.event_id + ")");
          try {
            handler(msg);
          } catch (const std::exception& e) {
            log(LogLevel::error, "owner", std::string("message handler threw: ") + e.what());
          } catch (...) {
            log(LogLevel::error, "owner", "message handler threw");
          }
          break;
        case detail::Verdict::duplicate: n_duplicates.fetch_add(1); break;
        case detail::Verdict::not_owner:
          n_not_owner.fetch_add(1);
          log(LogLevel::info, "owner", "ignored a direct message from a key that is not the owner's");
          break;
        case detail::Verdict::stale: n_stale.fetch_add(1); break;
        case detail::Verdict::invalid:
          n_invalid.fetch_add(1);
          log(LogLevel::debug, "owner", "ignored an event that did not open: " + why);
          break;
      }
    }
  }
};

Messenger::Messenger(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Messenger::~Messenger() {
  if (!impl_) return;
  {
    std::lock_guard<std::mutex> g(impl_->mu);
    impl_->stopping = true;
    impl_->queue.clear();
  }
  impl_->cv.notify_all();
  if (impl_->worker.joinable()) impl_->worker.join();  // a running handler (which may use the pool) returns first
  impl_->pool.reset();                                 // no callbacks after this
}

Result<std::unique_ptr<Messenger>> Messenger::start(MessengerOptions opts, MessageHandler handler) {
  if (!handler) return make_error("INVALID_ARGUMENT", "owner messenger needs a message handler");
  if (opts.relays.empty()) return make_error("INVALID_ARGUMENT", "owner messenger needs at least one relay");
  if (opts.mode != Channel::nip17 && opts.mode != Channel::nip04)
    return make_error("INVALID_ARGUMENT", "owner messenger mode must be nip17 or nip04");
  if (opts.send_timeout.count() <= 0) return make_error("INVALID_ARGUMENT", "send timeout must be positive");
  if (opts.skew_s < 0) return make_error("INVALID_ARGUMENT", "skew must be >= 0");
  auto owner = nostr::parse_public_key(opts.owner);
  if (!owner) return make_error("INVALID_PUBLIC_KEY", "owner public key: " + owner.error().message);
  for (const auto& url : opts.relays)
    if (auto u = relay::wire::parse_relay_url(url); !u) return u.error();
  auto key = load_or_create_notification_key(opts.key_file);
  if (!key) return key.error();
  if (key->public_key() == *owner)
    return make_error("INVALID_ARGUMENT", "the owner's key must not be satwarden's own notification key");

  auto impl = std::make_unique<Impl>();
  impl->clock = opts.clock ? opts.clock : &Clock::system();
  impl->started = impl->clock->now_unix();
  impl->key = std::move(*key);
  impl->key_hex = impl->key.public_key_hex();
  impl->owner = *owner;
  impl->owner_hex = hex_encode(owner->data(), owner->size());
  impl->inbox = std::make_unique<detail::Inbox>(impl->key, impl->owner_hex, impl->started - opts.skew_s);
  impl->handler = std::move(handler);
  impl->opt = std::move(opts);
  impl->pool = std::make_unique<relay::Pool>(impl->opt.pool);
  for (const auto& url : impl->opt.relays)
    if (auto s = impl->pool->add_relay(url); !s) return s.error();  // POOL_CLOSED (URLs were checked above)

  Impl* raw = impl.get();
  impl->worker = std::thread([raw] { raw->run(); });
  std::unique_ptr<Messenger> m(new Messenger(std::move(impl)));

  // Gift wraps are backdated by up to two days, so `since` reaches that far; the rumor's real time decides.
  json wraps{{"kinds", {nostr::kKindGiftWrap}},
             {"#p", {raw->key_hex}},
             {"since", std::max<int64_t>(0, raw->started - nostr::kWrapMaxBackdateS - raw->opt.skew_s)}};
  json dms{{"kinds", {nostr::kKindNip04Dm}},
           {"#p", {raw->key_hex}},
           {"authors", {raw->owner_hex}},
           {"since", std::max<int64_t>(0, raw->started - raw->opt.skew_s)}};
  auto cb = [raw](const std::string&, const json& ev) { raw->on_event(ev); };
  if (auto s = raw->pool->try_subscribe("owner-nip17", json::array({wraps}), cb, nullptr); !s) return s.error();
  if (auto s = raw->pool->try_subscribe("owner-nip04", json::array({dms}), cb, nullptr); !s) return s.error();
  log(LogLevel::info, "owner",
      "owner messenger started: notification key " + raw->key_hex + ", owner " + raw->owner_hex + ", mode " +
          channel_name(raw->opt.mode) + ", " + std::to_string(raw->opt.relays.size()) + " relay(s)");
  return m;
}

Status Messenger::send(std::string_view text) {
  Impl& d = *impl_;
  nostr::DmBuildOptions o;
  o.now = d.clock->now_unix();
  json ev;
  std::string id;
  if (d.opt.mode == Channel::nip17) {
    auto w = nostr::wrap_private_dm(d.key, d.owner, text, o);
    if (!w) return w.error();
    id = w->rumor.id;
    ev = nostr::event_to_json(w->wrap);
  } else {
    auto e = nostr::make_nip04_dm(d.key, d.owner, text, o);
    if (!e) return e.error();
    id = e->id;
    ev = nostr::event_to_json(*e);
  }
  auto res = d.pool->publish(ev, d.opt.send_timeout);
  auto st = res.status();
  if (st)
    log(LogLevel::info, "owner", std::string("message to the owner (") + channel_name(d.opt.mode) + ", " + id +
                                     ") accepted by " + std::to_string(res.accepted_count()) + " relay(s)");
  else
    log(LogLevel::warning, "owner", "message to the owner (" + id + ") not accepted: " + st.error().message);
  return st;
}

const std::string& Messenger::notification_pubkey() const { return impl_->key_hex; }
std::string Messenger::notification_npub() const { return nostr::npub_encode(impl_->key.public_key()); }
const std::string& Messenger::owner_pubkey() const { return impl_->owner_hex; }
Channel Messenger::mode() const { return impl_->opt.mode; }
int64_t Messenger::started_at() const { return impl_->started; }
std::vector<relay::RelayStatus> Messenger::relay_status() const { return impl_->pool->status(); }

MessengerStats Messenger::stats() const {
  MessengerStats s;
  s.events = impl_->n_events.load();
  s.delivered = impl_->n_delivered.load();
  s.duplicates = impl_->n_duplicates.load();
  s.not_owner = impl_->n_not_owner.load();
  s.stale = impl_->n_stale.load();
  s.invalid = impl_->n_invalid.load();
  s.dropped = impl_->n_dropped.load();
  return s;
}

}  // namespace sw::owner
