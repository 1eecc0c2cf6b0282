// Resource subscriptions of the modern era (subscriptions/listen): a watcher thread that re-reads what each
// stream subscribed to, as its subscriber sees it, and tells the stream when that changed. See mcp.h.
#include <thread>

#include "crypto/crypto.h"
#include "mcp/engine.h"
#include "mcp/mcp.h"

namespace sw::mcp {

namespace {
// The fingerprint of a resource's content for one reader: SHA-256 of its version text; a missing resource (not
// found, or not the reader's) has one of its own so that its appearance is a change. nullopt: could not be read
// this time (a ledger hiccup) — keep the previous fingerprint rather than report a change.
constexpr const char* kAbsent = "absent";
std::optional<std::string> fingerprint(const Server& server, const std::string& uri, const CallContext& ctx) {
  const Resource* r = engine::find_resource(server, uri);
  if (!r) return std::string(kAbsent);
  Result<std::string> text = make_error("INTERNAL", "not read");
  try {
    text = r->version ? r->version(uri, ctx) : r->read(uri, ctx);
  } catch (...) {
    return std::nullopt;
  }
  if (!text) {
    if (text.error().code == "NOT_FOUND") return std::string(kAbsent);
    return std::nullopt;
  }
  auto h = crypto::sha256(*text);
  return std::string(reinterpret_cast<const char*>(h.data()), h.size());
}
}  // namespace

struct Subscriptions::Impl {
  Server& server;
  ListenLimits limits;
  struct Stream {
    Listen l;
    std::vector<std::string> seen;  // fingerprint per uri (same order)
    std::mutex mu;                  // serializes sends on this stream with its end
    std::atomic<bool> ended{false};  // written under mu; read anywhere
    std::atomic<bool> ready{false};    // acknowledged, baseline taken: the watcher may look at it
  };
  mutable std::mutex mu;
  std::condition_variable cv;
  std::vector<std::shared_ptr<Stream>> streams;
  bool stop = false;
  bool fresh = false;  // a stream was opened: check once more, whatever the hint says (a change may have come
                       // between its baseline and the watcher's last look at the hint)
  std::thread watcher;

  Impl(Server& s, ListenLimits lim) : server(s), limits(lim) {}

  static CallContext reader(const Listen& l) {
    CallContext ctx;
    ctx.client = l.client;
    ctx.envelope = l.envelope;
    return ctx;
  }

  json server_info() const {
    const auto& info = server.info();
    json si{{"name", info.name}, {"version", info.version}};
    if (!info.title.empty()) si["title"] = info.title;
    return si;
  }

  // One pass: every open stream's resources re-read; the changed ones notified. Streams the client closed are
  // dropped. Runs on the watcher thread only.
  void check_all() {
    std::vector<std::shared_ptr<Stream>> now;
    {
      std::lock_guard<std::mutex> lk(mu);
      // (s->mu is not taken under mu: open() holds s->mu while it takes mu.)
      std::erase_if(streams, [](const std::shared_ptr<Stream>& s) {
        return s->ended.load() || (s->l.cancel && s->l.cancel->load());
      });
      now = streams;
    }
    for (auto& s : now) {
      if (!s->ready.load()) continue;
      const CallContext ctx = reader(s->l);
      for (size_t i = 0; i < s->l.uris.size(); ++i) {
        auto fp = fingerprint(server, s->l.uris[i], ctx);
        if (!fp || *fp == s->seen[i]) continue;
        s->seen[i] = std::move(*fp);
        std::lock_guard<std::mutex> sl(s->mu);
        if (s->ended || (s->l.cancel && s->l.cancel->load())) break;
        s->l.sink(json{{"jsonrpc", "2.0"},
                       {"method", "notifications/resources/updated"},
                       {"params", {{"uri", s->l.uris[i]}, {"_meta", {{kMetaSubscriptionId, s->l.id}}}}}},
                  s->l.id.dump());
      }
    }
  }

  void run() {
    const auto& hint = server.change_hint();
    uint64_t last_hint = hint ? hint() : 0;
    auto last_full = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> lk(mu);
    while (!stop) {
      cv.wait_for(lk, limits.hint_check, [&] { return stop; });
      if (stop) break;
      if (streams.empty()) {
        cv.wait(lk, [&] { return stop || !streams.empty(); });
        continue;
      }
      const bool forced = fresh;
      fresh = false;
      lk.unlock();
      const uint64_t h = hint ? hint() : 0;
      const auto t = std::chrono::steady_clock::now();
      if (forced || h != last_hint || t - last_full >= limits.full_check) {
        last_hint = h;
        last_full = t;
        try {
          check_all();
        } catch (const std::exception& e) {
          log(LogLevel::error, "mcp", std::string("resource subscriptions: ") + e.what());
        }
      }
      lk.lock();
    }
  }
};

Subscriptions::Subscriptions(Server& server, ListenLimits limits)
    : limits_(limits), impl_(std::make_shared<Impl>(server, limits)) {}

Subscriptions::~Subscriptions() {
  end_all();
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  if (impl_->watcher.joinable()) impl_->watcher.join();
}

Status Subscriptions::open(Listen l, const json& honoured) {
  auto s = std::make_shared<Impl::Stream>();
  s->l = std::move(l);
  // The stream holds its own lock until it is acknowledged: end_all() cannot answer it before the
  // acknowledgement, and the watcher skips it until its baseline is taken.
  std::lock_guard<std::mutex> sl(s->mu);
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    if (impl_->stop) return make_error("UNAVAILABLE", "the server is shutting down");
    size_t live = 0;
    for (const auto& o : impl_->streams)
      if (!(o->l.cancel && o->l.cancel->load())) ++live;
    if (live >= limits_.max_streams)
      return make_error("RESOURCE_EXHAUSTED", "too many open subscription streams (" +
                                                  std::to_string(limits_.max_streams) + "); close one and retry");
    impl_->streams.push_back(s);
    if (!impl_->watcher.joinable()) impl_->watcher = std::thread([im = impl_.get()] { im->run(); });
  }
  // The baseline before the acknowledgement: a change after the client saw the acknowledgement is reported.
  const CallContext ctx = Impl::reader(s->l);
  for (const auto& uri : s->l.uris) s->seen.push_back(fingerprint(impl_->server, uri, ctx).value_or(""));
  // Ready before the acknowledgement is sent (a change from now on is seen), but the watcher's first notification
  // waits for s->mu, which is held until the acknowledgement is out.
  s->ready.store(true);
  json ack_params{{"_meta", {{kMetaSubscriptionId, s->l.id}}}, {"notifications", honoured}};
  s->l.sink(json{{"jsonrpc", "2.0"}, {"method", "notifications/subscriptions/acknowledged"}, {"params", ack_params}},
            s->l.id.dump());
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->fresh = true;
  }
  impl_->cv.notify_all();
  return Ok{};
}

void Subscriptions::end_all() {
  std::vector<std::shared_ptr<Impl::Stream>> all;
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    all.swap(impl_->streams);
  }
  const json si = impl_->server_info();
  for (auto& s : all) {
    std::lock_guard<std::mutex> sl(s->mu);
    if (s->ended) continue;
    s->ended = true;
    if (s->l.cancel && s->l.cancel->load()) continue;  // the client already closed it
    json result{{"resultType", "complete"}, {"_meta", {{kMetaSubscriptionId, s->l.id}, {kMetaServerInfo, si}}}};
    s->l.sink(make_response(s->l.id, std::move(result)), s->l.id.dump());
  }
}

size_t Subscriptions::open_streams() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  size_t n = 0;
  for (const auto& s : impl_->streams)
    if (!(s->l.cancel && s->l.cancel->load())) ++n;
  return n;
}

}  // namespace sw::mcp
