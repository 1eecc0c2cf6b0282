// sw::approve webhook — the owner's signed webhook channel (approval_webhook_url / approval_webhook_secret) and
// the HTTP routes its links and signed decisions come back to (served by satwarden's own HTTP listener).
// What:
//  - WebhookChannel (a Channel): POSTs JSON to the owner's URL — {type:"approval.requested", approval, summary,
//    approve_url, deny_url, decision_url, expires_at} for a new approval, {type:"approval.<what>", approval, summary}
//    for its outcome — signed with two headers:
//      X-Satwarden-Timestamp: <unix seconds>
//      X-Satwarden-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
//    approve_url / deny_url are single-use links `<base>/approvals/decide?token=<token>`; decision_url is
//    `<base>/approvals/decision`. Delivery runs on the channel's own thread (the Hub's notifier thread only queues),
//    with a bounded queue, a bounded time per attempt and a few retries (network errors, 408, 429 and 5xx).
//  - Routes: the answers for GET/POST /approvals/decide and POST /approvals/decision, independent of the HTTP
//    server that carries them (see transport.h SideRoutes). GET shows a confirmation page and decides nothing
//    (link previews and prefetchers follow GETs); POST with the token decides (the token is the approve or the deny
//    link); a signed decision needs a valid signature within the replay window and names amount and payment hash.
// Thread-safety: WebhookChannel and Routes are thread-safe.
// Secrets: the webhook secret is never logged; tokens appear only in the links sent to the webhook.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "approve/approve.h"
#include "fetch/fetch.h"

namespace sw::approve {

// "v1=" + lowercase hex HMAC-SHA256(secret, timestamp + "." + body).
std::string webhook_signature(std::string_view secret, int64_t timestamp, std::string_view body);
// Checks a signed request: `timestamp` (decimal unix seconds) within ±window_s of now, and `signature` carrying a
// matching "v1=" value (several comma-separated values are allowed, as during a secret rotation; compared in
// constant time). Errors: SIGNATURE_MISSING, SIGNATURE_STALE, SIGNATURE_INVALID.
Status verify_webhook_signature(std::string_view secret, std::string_view timestamp, std::string_view signature,
                                std::string_view body, int64_t now, int64_t window_s = 300);

// The value of `name` in an application/x-www-form-urlencoded text (a query or a form body), decoded; "" if absent.
std::string form_value(std::string_view encoded, std::string_view name);

using PostFn = std::function<Result<fetch::Response>(const fetch::Request&, const fetch::Options&,
                                                     std::function<bool()> cancelled)>;

struct WebhookOptions {
  std::string url;     // http(s), the owner's receiver
  std::string secret;  // >= 16 characters (config checks)
  int attempts = 3;    // per message
  std::chrono::milliseconds attempt_timeout{10000};                    // connect + send + answer, per attempt
  std::vector<std::chrono::milliseconds> backoff{std::chrono::milliseconds(1000), std::chrono::milliseconds(3000)};
  size_t max_queue = 256;  // messages waiting; beyond, the oldest is dropped (logged)
  std::string ca_file;     // PEM bundle for an https receiver with a private CA ("" = system store)
};

class WebhookChannel final : public Channel {
 public:
  // `post` makes one HTTP request (the project's fetcher, sw::transport::load_fetch()). The receiver's host is
  // exempt from the fetcher's SSRF guard: the owner configured it (it is often on localhost or a private network).
  WebhookChannel(WebhookOptions opts, PostFn post, const Clock& clock = Clock::system());
  ~WebhookChannel() override;  // stops the delivery thread: a request in progress is cancelled, the queue dropped
  WebhookChannel(const WebhookChannel&) = delete;
  WebhookChannel& operator=(const WebhookChannel&) = delete;

  // The base of the links (public_url, or http://HOST:PORT once the listener is bound), without a trailing '/'.
  void set_base_url(std::string base);
  std::string base_url() const;

  std::string name() const override { return "webhook"; }
  void request(const spend::Approval& a, const spend::ApprovalSecrets& secrets) override;
  void outcome(const spend::Approval& a, const std::string& what) override;

  // The payloads (exposed for tests).
  json request_body(const spend::Approval& a, const spend::ApprovalSecrets& secrets) const;
  json outcome_body(const spend::Approval& a, const std::string& what) const;

  struct Stats {
    uint64_t delivered = 0, failed = 0, dropped = 0;
  };
  Stats stats() const;
  // Waits (bounded) until every queued message was delivered or given up. True when the queue is empty.
  bool drain(std::chrono::milliseconds timeout);

 private:
  struct State;
  std::shared_ptr<State> st_;
};

// An HTTP request to the approval routes, as the transport hands it over.
struct RouteRequest {
  std::string method, path, query, content_type, accept, body;
  std::string timestamp, signature;  // X-Satwarden-Timestamp / X-Satwarden-Signature
};
struct RouteAnswer {
  int status = 200;
  std::string content_type, body;
  std::vector<std::pair<std::string, std::string>> headers;
};

class Routes {
 public:
  // `secret` empty: POST /approvals/decision is not served (404); the links still work.
  Routes(Hub& hub, spend::Ledger& ledger, std::string secret, const Clock& clock = Clock::system());
  // GET /approvals/decide?token=…          → 200 confirmation page (HTML), 400/404/409/410
  // POST /approvals/decide (token in the query or an urlencoded form body) → decides: 200, 400/404/409/410
  //   (HTML when the client asked for HTML or posted the form, else JSON {decision, approval} or {error})
  // POST /approvals/decision (signed JSON {approval_id, decision: approve|deny, amount_msat, payment_hash,
  //   reason?}) → 200 {decision, approval}; 401 bad/missing/stale signature (nothing decided); 400 bad body;
  //   404/409/410; 422 APPROVAL_MISMATCH (another amount or invoice than the approval's)
  // Anything else under /approvals/ → 404 / 405.
  RouteAnswer handle(const RouteRequest& req);

 private:
  RouteAnswer page(const RouteRequest& req);
  RouteAnswer decide_token(const RouteRequest& req);
  RouteAnswer decide_signed(const RouteRequest& req);
  Hub& hub_;
  spend::Ledger& ledger_;
  std::string secret_;
  const Clock& clock_;
};

}  // namespace sw::approve
