// NIP-47 client over the relay pool. See wallet.h for the contract.
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <sstream>

#include "crypto/crypto.h"
#include "nostr/nostr.h"
#include "relay/relay.h"
#include "wallet/nwc_wallet.h"

namespace sw::wallet {

namespace {

constexpr int kRequestKind = 23194;
constexpr int kResponseKind = 23195;
constexpr int kInfoKind = 13194;
constexpr int kNotificationNip04Kind = 23196;
constexpr int kNotificationNip44Kind = 23197;


// One request waiting for its reply.
struct Pending {
  std::string method;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  Result<json> outcome = make_error("WALLET_TIMEOUT", "no reply");
};

}  // namespace

struct NwcWallet::Impl {
  nostr::NwcUri uri;
  NwcOptions opt;
  std::unique_ptr<relay::Pool> pool;  // stopped first in ~Impl: its callbacks use the members below
  ~Impl() { pool.reset(); }
  std::atomic<uint64_t> sub_counter{0};

  // Shared secrets, computed once.
  crypto::Secret32 nip44_key;
  crypto::Secret32 nip04_shared;

  // Info event state.
  std::mutex info_mu;
  std::condition_variable info_cv;
  bool info_loaded = false;  // an info event arrived, or EOSE from every relay / timeout said there is none
  bool info_loading = false;  // one caller fetches the info event; concurrent callers wait for it
  bool info_done = false;     // `encryption` is chosen
  std::chrono::steady_clock::time_point info_started;     // when the info subscription was opened
  std::chrono::steady_clock::time_point info_first_eose;  // first relay's EOSE for it
  std::set<std::string> info_eose;                        // relays that said EOSE
  std::string info_sub;
  std::vector<std::string> info_caps;
  std::vector<std::string> info_notifications;
  std::optional<std::string> info_encryption_tag;  // nullopt: no tag (→ nip04)
  int64_t info_created_at = -1;
  std::string encryption;  // chosen scheme

  // Requests waiting for a reply, by request event id, and the one subscription their replies arrive on.
  std::mutex pend_mu;
  std::map<std::string, std::shared_ptr<Pending>> pending_by_id;
  std::once_flag reply_sub_once;

  // Notifications.
  std::mutex note_mu;
  NotificationHandler note_handler;
  std::deque<std::string> note_seen_order;  // bounded dedupe memory (FIFO)
  std::set<std::string> note_seen;
  std::atomic<uint64_t> notes_received{0};

  // ---------------------------------------------------------------- info event
  // Learns the wallet's encryption from its 13194 info event. Single flight: the first caller subscribes; the
  // subscription runs on its own while callers wait, each only until its own deadline (the pay or read timeout
  // of its request). It concludes when an info event arrives, every relay said EOSE, 300 ms after the first EOSE,
  // or info_timeout after it started (then: no event → NIP-04). False when `deadline` passed first.
  bool load_info(std::chrono::steady_clock::time_point deadline) {
    using SClk = std::chrono::steady_clock;
    std::unique_lock<std::mutex> lk(info_mu);
    if (info_done) return true;
    if (!info_loading) {
      info_loading = true;
      info_started = SClk::now();
      lk.unlock();
      std::string sub = "nwc-info-" + std::to_string(sub_counter++);
      size_t relay_count = uri.relays.size();
      json filter{{"kinds", {kInfoKind}}, {"authors", {uri.wallet_pubkey_hex}}, {"limit", 1}};
      pool->subscribe(
          sub, json::array({filter}),
          [this](const std::string&, const json& raw) {
            auto ev = nostr::event_from_json(raw);
            if (!ev || ev->kind != kInfoKind || ev->pubkey != uri.wallet_pubkey_hex || !nostr::verify_event(*ev))
              return;
            std::lock_guard<std::mutex> g(info_mu);
            if (ev->created_at <= info_created_at) return;  // keep the newest (replaceable event)
            info_created_at = ev->created_at;
            info_caps = split_capabilities(ev->content);
            auto enc = nostr::tag_value(*ev, "encryption");
            info_encryption_tag = enc;
            auto notes = nostr::tag_value(*ev, "notifications");
            info_notifications = notes ? split_capabilities(*notes) : std::vector<std::string>{};
            info_loaded = true;
            info_cv.notify_all();
          },
          [this, relay_count](const std::string& relay_url) {
            std::lock_guard<std::mutex> g(info_mu);
            if (info_eose.empty()) info_first_eose = SClk::now();
            info_eose.insert(relay_url);
            if (info_eose.size() >= relay_count) info_loaded = true;
            info_cv.notify_all();
          });
      lk.lock();
      info_sub = sub;
    }
    for (;;) {
      if (info_done) return true;
      auto now = SClk::now();
      // Done when an info event arrived or every relay said EOSE; once one relay has said EOSE, give the others a
      // short grace instead of the full timeout (a dead relay must not delay every first request).
      auto conclude_at = info_started + opt.info_timeout;
      if (!info_eose.empty()) conclude_at = std::min(conclude_at, info_first_eose + std::chrono::milliseconds(300));
      if (info_loaded || now >= conclude_at) {
        info_loaded = true;  // after the timeout: proceed with what we have (no event → NIP-04)
        // Choose: NIP-44 v2 whenever offered, else NIP-04 (no tag, or no info event at all, means NIP-04).
        encryption = "nip04";
        if (info_encryption_tag) {
          for (auto& sc : split_capabilities(*info_encryption_tag))
            if (sc == "nip44_v2") encryption = "nip44_v2";
        }
        info_done = true;
        std::string sub = info_sub;
        lk.unlock();
        info_cv.notify_all();
        if (!sub.empty()) pool->unsubscribe(sub);
        return true;
      }
      if (now >= deadline) return false;
      info_cv.wait_until(lk, std::min(deadline, conclude_at));
    }
  }

  // The scheme to use, or nullopt when it was not known by `deadline`.
  std::optional<std::string> scheme(std::chrono::steady_clock::time_point deadline) {
    if (!load_info(deadline)) return std::nullopt;
    std::lock_guard<std::mutex> g(info_mu);
    return encryption;
  }

  // ---------------------------------------------------------------- crypto helpers
  Result<std::string> encrypt(const std::string& scheme_name, const std::string& plaintext) {
    if (scheme_name == "nip44_v2") return crypto::nip44::encrypt(plaintext, nip44_key);
    return crypto::nip04::encrypt_with_shared(plaintext, nip04_shared);
  }

  // Replies come in the request's scheme; a wallet that cannot read our scheme answers in its own
  // (NIP-04 payloads carry "?iv="), so decide by the payload's shape.
  Result<std::string> decrypt(const std::string& content) {
    if (content.find("?iv=") != std::string::npos) return crypto::nip04::decrypt_with_shared(content, nip04_shared);
    return crypto::nip44::decrypt(content, nip44_key);
  }

  // ---------------------------------------------------------------- replies
  // ONE subscription for every reply (kind 23195 from the wallet, p-tagged to our key), kept open for the life of
  // the connection. Not one `#e` subscription per request: relays cap subscriptions per connection (20 on
  // @nostr-relay/core and strfry by default) and may silently evict the oldest, which loses replies as soon as
  // more than ~20 requests are in flight. Each reply is still matched to its request by the `e` tag and checked
  // (author, p tag, id, signature) before it is decrypted; replies to no pending request are dropped unread.
  void ensure_reply_subscription() {
    std::call_once(reply_sub_once, [this] {
      json filter{{"kinds", {kResponseKind}},
                  {"authors", {uri.wallet_pubkey_hex}},
                  {"#p", {uri.client_pubkey_hex}},
                  {"since", opt.clock->now_unix() - 60}};
      pool->subscribe("nwc-replies", json::array({filter}),
                      [this](const std::string&, const json& raw) { on_any_reply(raw); }, nullptr);
    });
  }

  void on_any_reply(const json& raw) {
    if (!raw.is_object() || !raw.contains("tags") || !raw["tags"].is_array()) return;
    std::string e;
    for (const auto& t : raw["tags"])
      if (t.is_array() && t.size() >= 2 && t[0] == "e" && t[1].is_string()) {
        e = t[1].get<std::string>();
        break;
      }
    std::shared_ptr<Pending> pending;
    {
      std::lock_guard<std::mutex> g(pend_mu);
      auto it = pending_by_id.find(e);
      if (it == pending_by_id.end()) return;  // not ours, late (after the timeout), or a replay
      pending = it->second;
    }
    on_reply(pending, e, pending->method, raw);
  }

  // ---------------------------------------------------------------- notifications
  // Runs on the relay loop thread. Checks before decrypting, as for replies; the scheme follows the kind.
  void on_notification(const json& raw) {
    auto ev = nostr::event_from_json(raw);
    if (!ev) return;
    if (ev->kind != kNotificationNip04Kind && ev->kind != kNotificationNip44Kind) return;
    if (ev->pubkey != uri.wallet_pubkey_hex) return;
    auto p = nostr::tag_value(*ev, "p");
    if (!p || *p != uri.client_pubkey_hex) return;
    if (!nostr::verify_event(*ev)) return;
    auto plain = ev->kind == kNotificationNip44Kind ? crypto::nip44::decrypt(ev->content, nip44_key)
                                                    : crypto::nip04::decrypt_with_shared(ev->content, nip04_shared);
    if (!plain) {
      log(LogLevel::warning, "nwc", "a wallet notification could not be decrypted (" + plain.error().code + ")");
      return;
    }
    auto decoded = decode_nwc_notification(*plain);
    if (!decoded) {
      log(LogLevel::warning, "nwc", "a wallet notification is malformed; ignored");
      return;
    }
    Notification n = std::move(*decoded);
    // The same notification arrives through every relay, and dual-mode wallets send it as 23196 and 23197:
    // dedupe by what it says, not by event id.
    std::string hash = n.transaction.contains("payment_hash") && n.transaction["payment_hash"].is_string()
                           ? n.transaction["payment_hash"].get<std::string>()
                           : ev->id;
    std::string key = n.type + ":" + hash;
    NotificationHandler h;
    {
      std::lock_guard<std::mutex> g(note_mu);
      if (!note_seen.insert(key).second) return;
      note_seen_order.push_back(key);
      if (note_seen_order.size() > 4096) {
        note_seen.erase(note_seen_order.front());
        note_seen_order.pop_front();
      }
      h = note_handler;
    }
    notes_received++;
    if (h) h(n);
  }

  // ---------------------------------------------------------------- one request
  // One NIP-47 request. `timeout` bounds the whole call: learning the wallet's encryption, the relays taking the
  // request, and the reply — never timeout + publish timeout.
  Result<json> request(const std::string& method, const json& params, std::chrono::milliseconds timeout) {
    using SClk = std::chrono::steady_clock;
    const auto started = SClk::now();
    const auto deadline = started + timeout;
    const int64_t started_unix = opt.clock->now_unix();
    auto enc_known = scheme(deadline);
    if (!enc_known) {
      std::string configured;
      for (auto& u : uri.relays) configured += (configured.empty() ? "" : ", ") + u;
      return make_error("RELAY_UNREACHABLE",
                        "the wallet's relays (" + configured + ") did not deliver its info event within " +
                            std::to_string(timeout.count()) + " ms, so the encryption is unknown. The " + method +
                            " request was not sent.",
                        json{{"relays", uri.relays}});
    }
    std::string enc = *enc_known;
    std::string plaintext = json_dump(json{{"method", method}, {"params", params}});
    auto content = encrypt(enc, plaintext);
    if (!content) return make_error("NWC_CLIENT_ERROR", "could not encrypt the request: " + content.error().message);

    nostr::Event ev;
    ev.kind = kRequestKind;
    ev.created_at = opt.clock->now_unix();
    // Anchored at the call's start: the wallet must not act on it later than our timeout (+5 s for clock skew).
    int64_t expiration = started_unix + std::max<int64_t>(1, (timeout.count() + 999) / 1000) + 5;
    ev.tags = {{"p", uri.wallet_pubkey_hex}, {"encryption", enc}, {"expiration", std::to_string(expiration)}};
    ev.content = std::move(*content);
    if (auto st = nostr::sign_event(ev, uri.secret); !st)
      return make_error("NWC_CLIENT_ERROR", "could not sign the request: " + st.error().message);

    auto pending = std::make_shared<Pending>();
    pending->method = method;
    std::string request_id = ev.id;
    // Subscribed BEFORE publishing (2319x events are ephemeral, never stored): the shared reply subscription is
    // open from the first request on, and this request is registered before its event leaves.
    ensure_reply_subscription();
    {
      std::lock_guard<std::mutex> g(pend_mu);
      pending_by_id[request_id] = pending;
    }
    struct Unregister {
      Impl* self;
      std::string id;
      ~Unregister() {
        std::lock_guard<std::mutex> g(self->pend_mu);
        self->pending_by_id.erase(id);
      }
    } unregister{this, request_id};

    // The relays get at most the publish timeout, and never more than what is left of the call's.
    auto left = [&] {
      return std::max(std::chrono::milliseconds(0), std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SClk::now()));
    };
    auto pub = pool->publish(nostr::event_to_json(ev), std::min(opt.publish_timeout, std::max(left(), std::chrono::milliseconds(1))));
    // pub: per-relay results. Accepted by at least one relay → the wallet can see it.
    bool accepted = false, sent_anywhere = false;
    std::vector<std::string> failed;
    for (const auto& r : pub.relays) {
      if (r.accepted) accepted = true;
      if (r.sent) sent_anywhere = true;
      if (!r.accepted) failed.push_back(r.url + (r.message.empty() ? "" : " (" + r.message + ")"));
    }
    if (!sent_anywhere) {
      std::string names;
      for (auto& f : failed) names += (names.empty() ? "" : ", ") + f;
      if (names.empty()) {  // the pool has no relay to try (e.g. libwebsockets could not be loaded)
        std::string configured;
        for (auto& u : uri.relays) configured += (configured.empty() ? "" : ", ") + u;
        names = configured + " (the relay connection could not be started; see the log)";
      }
      return make_error("RELAY_UNREACHABLE",
                        "could not reach any wallet relay within " +
                            std::to_string(std::min<int64_t>(opt.publish_timeout.count(), timeout.count())) + " ms: " +
                            names + ". The request was not sent.",
                        json{{"relays", failed}});
    }
    if (!accepted) {
      log(LogLevel::warning, "nwc", "no relay confirmed the " + method + " request; waiting for a reply anyway");
    }

    std::unique_lock<std::mutex> lk(pending->mu);
    bool done = pending->cv.wait_until(lk, deadline, [&] { return pending->done; });
    lk.unlock();
    if (!done) {
      std::string relays_failed;
      for (auto& f : failed) relays_failed += (relays_failed.empty() ? "" : ", ") + f;
      return make_error("WALLET_TIMEOUT",
                        "the wallet did not answer " + method + " within " + std::to_string(timeout.count() / 1000) +
                            " s (encryption " + enc + ")" +
                            (relays_failed.empty() ? "" : "; relays that did not take the request: " + relays_failed),
                        json{{"method", method}, {"encryption", enc}, {"relays_failed", failed}});
    }
    std::lock_guard<std::mutex> g(pending->mu);
    return pending->outcome;
  }

  // Runs on the relay loop thread: verify, decrypt, decode; first valid reply wins (dedupe across relays).
  void on_reply(const std::shared_ptr<Pending>& pending, const std::string& request_id, const std::string& method,
                const json& raw) {
    {
      std::lock_guard<std::mutex> g(pending->mu);
      if (pending->done) return;  // duplicate (same reply through another relay, or a replay)
    }
    auto ev = nostr::event_from_json(raw);
    if (!ev) return;
    // Check before decrypting: kind, author, our p tag, the e tag, then id and signature.
    if (ev->kind != kResponseKind || ev->pubkey != uri.wallet_pubkey_hex) return;
    auto e = nostr::tag_value(*ev, "e");
    if (!e || *e != request_id) return;
    auto p = nostr::tag_value(*ev, "p");
    if (p && *p != uri.client_pubkey_hex) return;
    if (!nostr::verify_event(*ev)) return;

    Result<json> outcome = make_error("INVALID_WALLET_RESPONSE", "unreadable reply");
    auto plain = decrypt(ev->content);
    if (!plain) {
      outcome = make_error("INVALID_WALLET_RESPONSE",
                           "the wallet's reply to " + method + " could not be decrypted: " + plain.error().code);
    } else {
      outcome = decode_nwc_reply(method, *plain);
    }
    {
      std::lock_guard<std::mutex> g(pending->mu);
      if (pending->done) return;
      pending->outcome = std::move(outcome);
      pending->done = true;
    }
    pending->cv.notify_all();
  }
};

// ---------------------------------------------------------------- decoding replies and notifications

Result<json> decode_nwc_reply(const std::string& method, std::string_view plaintext) {
  // Refused before parsing: a reply nesting deeper than any NIP-47 result would make the copy or dump of its
  // tree recurse once per level (a hostile wallet's 100,000 levels overflow the relay thread's stack). Like any
  // unreadable reply it is INVALID_WALLET_RESPONSE, which does not say the payment failed.
  if (json_nesting_exceeds(plaintext, kMaxWalletJsonDepth))
    return make_error("INVALID_WALLET_RESPONSE", "the wallet's reply to " + method + " nests JSON deeper than " +
                                                     std::to_string(kMaxWalletJsonDepth) + " levels");
  json body = json::parse(plaintext.begin(), plaintext.end(), nullptr, false);
  if (body.is_discarded() || !body.is_object())
    return make_error("INVALID_WALLET_RESPONSE", "the wallet's reply to " + method + " is not a JSON object");
  auto err = body.find("error");
  auto res = body.find("result");
  if (err != body.end() && !err->is_null()) {
    std::string code = err->is_object() && err->contains("code") && (*err)["code"].is_string()
                           ? (*err)["code"].get<std::string>()
                           : "OTHER";
    std::string msg = err->is_object() && err->contains("message") && (*err)["message"].is_string()
                          ? (*err)["message"].get<std::string>()
                          : "";
    if (msg.size() > 300) msg = msg.substr(0, 300) + "…";
    return make_error(map_nip47_code(code), "the wallet refused " + method + ": " + code + (msg.empty() ? "" : " — " + msg),
                      json{{"nip47_code", code}});
  }
  if (res == body.end() || !res->is_object())
    return make_error("INVALID_WALLET_RESPONSE", "the wallet's reply to " + method + " has no result");
  if (body.contains("result_type") && body["result_type"].is_string() && body["result_type"] != method)
    return make_error("INVALID_WALLET_RESPONSE",
                      "the wallet answered " + body["result_type"].get<std::string>() + " to a " + method + " request");
  return json(std::move(*res));
}

std::optional<Notification> decode_nwc_notification(std::string_view plaintext) {
  if (json_nesting_exceeds(plaintext, kMaxWalletJsonDepth)) return std::nullopt;  // see decode_nwc_reply
  json body = json::parse(plaintext.begin(), plaintext.end(), nullptr, false);
  if (body.is_discarded() || !body.is_object()) return std::nullopt;
  auto type = body.find("notification_type");
  auto note = body.find("notification");
  if (type == body.end() || !type->is_string() || note == body.end() || !note->is_object()) return std::nullopt;
  return Notification{type->get<std::string>(), std::move(*note)};
}

// ---------------------------------------------------------------- public API

Result<std::unique_ptr<NwcWallet>> NwcWallet::connect(const std::string& nwc_uri, NwcOptions options) {
  auto parsed = nostr::parse_nwc_uri(nwc_uri);
  if (!parsed) return parsed.error();
  auto impl = std::make_unique<Impl>();
  impl->uri = std::move(*parsed);
  impl->opt = options;
  auto ck = crypto::nip44::conversation_key(impl->uri.secret, impl->uri.wallet_pubkey);
  if (!ck) return make_error("INVALID_NWC_URL", "the wallet public key in NWC_URL is not usable: " + ck.error().code);
  impl->nip44_key = std::move(*ck);
  auto shared = crypto::ecdh_x(impl->uri.secret, impl->uri.wallet_pubkey);
  if (!shared) return make_error("INVALID_NWC_URL", "the wallet public key in NWC_URL is not usable");
  impl->nip04_shared = std::move(*shared);
  relay::PoolOptions po;
  po.ca_file = options.ca_file;
  // TLS only when some relay needs it (wss://); a local ws:// relay then costs no OpenSSL initialisation.
  po.tls = std::any_of(impl->uri.relays.begin(), impl->uri.relays.end(),
                       [](const std::string& r) { return r.rfind("wss://", 0) == 0; });
  // NIP-42: prove the connection key to relays that ask (kind 22242, relay + challenge tags).
  Impl* raw = impl.get();
  po.auth_signer = [raw](const std::string& relay_url, const std::string& challenge) -> std::optional<json> {
    nostr::Event ev;
    ev.kind = 22242;
    ev.created_at = raw->opt.clock->now_unix();
    ev.tags = {{"relay", relay_url}, {"challenge", challenge}};
    if (!nostr::sign_event(ev, raw->uri.secret)) return std::nullopt;
    return nostr::event_to_json(ev);
  };
  impl->pool = std::make_unique<relay::Pool>(po);
  impl->pool->add_relays(impl->uri.relays);
  return std::unique_ptr<NwcWallet>(new NwcWallet(std::move(impl)));
}

NwcWallet::NwcWallet(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NwcWallet::~NwcWallet() = default;

Result<json> NwcWallet::request(const std::string& method, const json& params, std::chrono::milliseconds timeout) {
  if (!impl_->opt.on_request) return impl_->request(method, params, timeout);
  const auto started = std::chrono::steady_clock::now();
  auto r = impl_->request(method, params, timeout);
  impl_->opt.on_request(method, std::chrono::steady_clock::now() - started, r ? std::string("ok") : r.error().code);
  return r;
}

bool NwcWallet::ensure_info(std::chrono::milliseconds wait) {
  return impl_->load_info(std::chrono::steady_clock::now() + wait);
}

bool NwcWallet::info_known() const {
  std::lock_guard<std::mutex> lk(impl_->info_mu);
  return impl_->info_done;
}

std::map<std::string, std::string> NwcWallet::relay_states() const { return impl_->pool->states(); }
std::string NwcWallet::client_pubkey() const { return impl_->uri.client_pubkey_hex; }
std::string NwcWallet::wallet_pubkey() const { return impl_->uri.wallet_pubkey_hex; }

Result<Info> NwcWallet::get_info() {
  auto r = request("get_info", json::object(), impl_->opt.read_timeout);
  if (!r) return r.error();
  Info info;
  const json& j = *r;
  info.raw = j;
  info.alias = j.value("alias", "");
  info.pubkey = j.value("pubkey", "");
  info.network = j.contains("network") && j["network"].is_string() ? j["network"].get<std::string>() : "";
  info.block_height = j.contains("block_height") && j["block_height"].is_number_integer() ? j["block_height"].get<int64_t>() : 0;
  if (j.contains("methods") && j["methods"].is_array())
    for (auto& m : j["methods"])
      if (m.is_string()) info.methods.push_back(m);
  if (j.contains("notifications") && j["notifications"].is_array())
    for (auto& m : j["notifications"])
      if (m.is_string()) info.notifications.push_back(m);
  {
    std::lock_guard<std::mutex> g(impl_->info_mu);
    if (info.methods.empty()) info.methods = impl_->info_caps;
    if (info.notifications.empty()) info.notifications = impl_->info_notifications;
    info.encryption = impl_->encryption;
  }
  return info;
}

Result<uint64_t> NwcWallet::get_balance_msat() {
  auto r = request("get_balance", json::object(), impl_->opt.read_timeout);
  if (!r) return r.error();
  if (!r->contains("balance") || !(*r)["balance"].is_number_integer() || (*r)["balance"].get<int64_t>() < 0)
    return make_error("INVALID_WALLET_RESPONSE", "get_balance reply has no whole, non-negative balance");
  return (*r)["balance"].get<uint64_t>();
}

namespace {
Result<PayResult> pay_result_of(const json& r) {
  PayResult out;
  if (!r.contains("preimage") || !r["preimage"].is_string())
    return make_error("INVALID_WALLET_RESPONSE", "the wallet reported success but sent no preimage");
  out.preimage = r["preimage"].get<std::string>();
  if (r.contains("fees_paid") && r["fees_paid"].is_number_integer() && r["fees_paid"].get<int64_t>() >= 0)
    out.fees_paid_msat = r["fees_paid"].get<uint64_t>();
  return out;
}
}  // namespace

Result<PayResult> NwcWallet::pay_invoice(const std::string& invoice, std::optional<uint64_t> amount_msat) {
  json params{{"invoice", invoice}};
  if (amount_msat) params["amount"] = *amount_msat;
  auto r = request("pay_invoice", params, impl_->opt.pay_timeout);
  if (!r) return r.error();
  return pay_result_of(*r);
}

Result<json> NwcWallet::make_invoice(const MakeInvoiceParams& p) {
  json params{{"amount", p.amount_msat}};
  if (!p.description.empty()) params["description"] = p.description;
  if (!p.description_hash.empty()) params["description_hash"] = p.description_hash;
  if (p.expiry_seconds) params["expiry"] = *p.expiry_seconds;
  return request("make_invoice", params, impl_->opt.read_timeout);
}

Result<json> NwcWallet::lookup_invoice(const std::string& payment_hash, const std::string& invoice) {
  json params = json::object();
  if (!payment_hash.empty()) params["payment_hash"] = payment_hash;
  if (!invoice.empty()) params["invoice"] = invoice;
  return request("lookup_invoice", params, impl_->opt.read_timeout);
}

Result<json> NwcWallet::list_transactions(const ListParams& p) {
  json params = json::object();
  if (p.from) params["from"] = *p.from;
  if (p.until) params["until"] = *p.until;
  if (p.limit) params["limit"] = *p.limit;
  if (p.offset) params["offset"] = *p.offset;
  if (p.unpaid) params["unpaid"] = true;
  if (!p.type.empty()) params["type"] = p.type;
  return request("list_transactions", params, impl_->opt.read_timeout);
}

Result<json> NwcWallet::get_budget() { return request("get_budget", json::object(), impl_->opt.read_timeout); }


Result<PayResult> NwcWallet::pay_keysend(const KeysendParams& p) {
  json params{{"amount", p.amount_msat}, {"pubkey", p.pubkey}, {"preimage", p.preimage}};
  if (!p.tlv_records.empty()) {
    json tlvs = json::array();
    for (const auto& t : p.tlv_records) tlvs.push_back(json{{"type", t.type}, {"value", t.value_hex}});
    params["tlv_records"] = std::move(tlvs);
  }
  auto r = request("pay_keysend", params, impl_->opt.pay_timeout);
  if (!r) return r.error();
  return pay_result_of(*r);
}

void NwcWallet::set_notification_handler(NotificationHandler h) {
  {
    std::lock_guard<std::mutex> g(impl_->note_mu);
    bool first = !impl_->note_handler;
    impl_->note_handler = std::move(h);
    if (!first) return;
  }
  // Notifications are ephemeral: only those published from now on (a little slack for clock skew) matter.
  json filter{{"kinds", {kNotificationNip04Kind, kNotificationNip44Kind}},
              {"authors", {impl_->uri.wallet_pubkey_hex}},
              {"#p", {impl_->uri.client_pubkey_hex}},
              {"since", impl_->opt.clock->now_unix() - 60}};
  Impl* raw = impl_.get();
  impl_->pool->subscribe("nwc-notifications", json::array({filter}),
                         [raw](const std::string&, const json& ev) { raw->on_notification(ev); }, nullptr);
}

uint64_t NwcWallet::notifications_received() const { return impl_->notes_received.load(); }

}  // namespace sw::wallet
