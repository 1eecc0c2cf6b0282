#include "approve/webhook.h"

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "crypto/crypto.h"

namespace sw::approve {

// ---------------------------------------------------------------- signatures, forms

std::string webhook_signature(std::string_view secret, int64_t timestamp, std::string_view body) {
  std::string msg = std::to_string(timestamp);
  msg.push_back('.');
  msg.append(body);
  auto mac = crypto::hmac_sha256(reinterpret_cast<const uint8_t*>(secret.data()), secret.size(),
                                 reinterpret_cast<const uint8_t*>(msg.data()), msg.size());
  return "v1=" + hex_encode(mac.data(), mac.size());
}

Status verify_webhook_signature(std::string_view secret, std::string_view timestamp, std::string_view signature,
                                std::string_view body, int64_t now, int64_t window_s) {
  timestamp = trim(timestamp);
  signature = trim(signature);
  if (timestamp.empty() || signature.empty())
    return make_error("SIGNATURE_MISSING", "X-Satwarden-Timestamp and X-Satwarden-Signature are both required");
  int64_t ts = 0;
  auto [p, ec] = std::from_chars(timestamp.data(), timestamp.data() + timestamp.size(), ts);
  if (ec != std::errc() || p != timestamp.data() + timestamp.size() || timestamp.size() > 12)
    return make_error("SIGNATURE_INVALID", "X-Satwarden-Timestamp must be unix seconds");
  if (ts < now - window_s || ts > now + window_s)
    return make_error("SIGNATURE_STALE", "the signed timestamp is outside the replay window (±" +
                                             std::to_string(window_s) + " s)");
  const std::string expected = webhook_signature(secret, ts, body);
  bool match = false;
  size_t pos = 0;
  for (int n = 0; n < 8 && pos <= signature.size(); ++n) {  // at most 8 values
    size_t comma = signature.find(',', pos);
    std::string_view one = trim(signature.substr(pos, comma == std::string_view::npos ? std::string_view::npos
                                                                                       : comma - pos));
    std::string lower = ascii_lower(one);
    if (crypto::ct_equal(lower, expected)) match = true;  // every value is compared: no early exit
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  if (!match) return make_error("SIGNATURE_INVALID", "the signature does not match");
  return ok_status();
}

std::string form_value(std::string_view encoded, std::string_view name) { return form_param(encoded, name); }

// ---------------------------------------------------------------- WebhookChannel

struct WebhookChannel::State {
  WebhookOptions opts;
  PostFn post;
  const Clock& clock;
  std::string host;  // the receiver's host: exempt from the SSRF guard
  mutable std::mutex mu;
  std::condition_variable cv;       // queue, stop
  std::condition_variable idle_cv;  // queue drained
  std::deque<std::string> queue;    // bodies to send
  bool busy = false, stop = false;
  std::atomic<bool> cancel{false};
  std::string base;
  Stats stats;
  std::thread worker;
  State(WebhookOptions o, PostFn p, const Clock& c) : opts(std::move(o)), post(std::move(p)), clock(c) {}

  // One message, with retries. True when the receiver answered 2xx.
  bool deliver(const std::string& body) {
    const int attempts = std::max(1, opts.attempts);
    for (int i = 0; i < attempts; ++i) {
      if (i > 0) {
        auto wait = opts.backoff.empty() ? std::chrono::milliseconds(1000)
                                         : opts.backoff[std::min<size_t>(i - 1, opts.backoff.size() - 1)];
        std::unique_lock lk(mu);
        if (cv.wait_for(lk, wait, [&] { return stop; })) return false;
      }
      const int64_t ts = clock.now_unix();
      fetch::Request rq;
      rq.method = "POST";
      rq.url = opts.url;
      rq.body = body;
      rq.headers = {{"Content-Type", "application/json"},
                    {"X-Satwarden-Timestamp", std::to_string(ts)},
                    {"X-Satwarden-Signature", webhook_signature(opts.secret, ts, body)}};
      fetch::Options fo;
      fo.allowed_methods = {"POST"};
      if (!host.empty()) fo.allow = {host};
      fo.connect_timeout = std::min(opts.attempt_timeout, std::chrono::milliseconds(5000));
      fo.read_timeout = opts.attempt_timeout;
      fo.total_timeout = opts.attempt_timeout;
      fo.max_body_bytes = 64 * 1024;
      fo.redirects = fetch::RedirectPolicy::none;
      fo.ca_file = opts.ca_file;
      auto r = post(rq, fo, [this] { return cancel.load(); });
      if (r && r->status >= 200 && r->status < 300) return true;
      const bool retry = !r || r->status == 408 || r->status == 429 || r->status >= 500;
      log(LogLevel::warning, "webhook",
          "approval webhook attempt " + std::to_string(i + 1) + "/" + std::to_string(attempts) + " failed: " +
              (r ? "HTTP " + std::to_string(r->status) : r.error().code + " " + r.error().message));
      if (!retry || cancel.load()) return false;
    }
    return false;
  }

  void run() {
    std::unique_lock lk(mu);
    for (;;) {
      cv.wait(lk, [&] { return stop || !queue.empty(); });
      if (stop) {
        queue.clear();
        busy = false;
        idle_cv.notify_all();
        return;
      }
      std::string body = std::move(queue.front());
      queue.pop_front();
      busy = true;
      lk.unlock();
      const bool ok = deliver(body);
      lk.lock();
      busy = false;
      (ok ? stats.delivered : stats.failed)++;
      if (queue.empty()) idle_cv.notify_all();
    }
  }

  void enqueue(std::string body) {
    {
      std::lock_guard lk(mu);
      if (stop) return;
      if (queue.size() >= std::max<size_t>(1, opts.max_queue)) {
        queue.pop_front();
        ++stats.dropped;
        log(LogLevel::warning, "webhook", "approval webhook queue full: the oldest message was dropped");
      }
      queue.push_back(std::move(body));
    }
    cv.notify_all();
  }
};

WebhookChannel::WebhookChannel(WebhookOptions opts, PostFn post, const Clock& clock)
    : st_(std::make_shared<State>(std::move(opts), std::move(post), clock)) {
  if (auto u = fetch::parse_url(st_->opts.url)) st_->host = u->host;
  auto st = st_;
  st_->worker = std::thread([st] { st->run(); });
}

WebhookChannel::~WebhookChannel() {
  {
    std::lock_guard lk(st_->mu);
    st_->stop = true;
  }
  st_->cancel = true;
  st_->cv.notify_all();
  if (st_->worker.joinable()) st_->worker.join();
}

void WebhookChannel::set_base_url(std::string base) {
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::lock_guard lk(st_->mu);
  st_->base = std::move(base);
}

std::string WebhookChannel::base_url() const {
  std::lock_guard lk(st_->mu);
  return st_->base;
}

json WebhookChannel::request_body(const spend::Approval& a, const spend::ApprovalSecrets& secrets) const {
  const std::string base = base_url();
  return json{{"type", "approval.requested"},
              {"approval", spend::to_json(a)},
              {"summary", describe(a)},
              {"approve_url", base + "/approvals/decide?token=" + secrets.approve_token},
              {"deny_url", base + "/approvals/decide?token=" + secrets.deny_token},
              {"decision_url", base + "/approvals/decision"},
              {"expires_at", a.expires_at}};
}

json WebhookChannel::outcome_body(const spend::Approval& a, const std::string& what) const {
  return json{{"type", "approval." + what}, {"approval", spend::to_json(a)}, {"summary", describe(a)}};
}

void WebhookChannel::request(const spend::Approval& a, const spend::ApprovalSecrets& secrets) {
  st_->enqueue(json_dump(request_body(a, secrets)));
}

void WebhookChannel::outcome(const spend::Approval& a, const std::string& what) {
  st_->enqueue(json_dump(outcome_body(a, what)));
}

WebhookChannel::Stats WebhookChannel::stats() const {
  std::lock_guard lk(st_->mu);
  return st_->stats;
}

bool WebhookChannel::drain(std::chrono::milliseconds timeout) {
  std::unique_lock lk(st_->mu);
  return st_->idle_cv.wait_for(lk, timeout, [&] { return st_->stop || (st_->queue.empty() && !st_->busy); });
}

// ---------------------------------------------------------------- Routes

namespace {

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

int status_for(const std::string& code) {
  if (code == "APPROVAL_NOT_FOUND") return 404;
  if (code == "APPROVAL_DECIDED") return 409;
  if (code == "APPROVAL_EXPIRED") return 410;
  if (code == "APPROVAL_MISMATCH") return 422;
  if (code == "INVALID_ARGUMENT") return 400;
  return 500;
}

void no_store(RouteAnswer& r) {
  r.headers.emplace_back("Cache-Control", "no-store");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
}

RouteAnswer html(int status, const std::string& title, const std::string& inner) {
  RouteAnswer r;
  r.status = status;
  r.content_type = "text/html; charset=utf-8";
  r.body = "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
           "content=\"width=device-width,initial-scale=1\"><meta name=\"robots\" content=\"noindex\"><title>" +
           html_escape(title) +
           "</title><style>body{font-family:system-ui,sans-serif;max-width:34em;margin:2em auto;padding:0 1em}"
           "table{border-collapse:collapse}td{padding:.2em .6em;vertical-align:top}button{font-size:1.1em;"
           "padding:.5em 1.4em}</style></head><body><h1>" +
           html_escape(title) + "</h1>" + inner + "</body></html>";
  no_store(r);
  r.headers.emplace_back("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                                                    "frame-ancestors 'none'");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  return r;
}

RouteAnswer json_answer(int status, const json& body) {
  RouteAnswer r;
  r.status = status;
  r.content_type = "application/json";
  r.body = json_dump(body);
  no_store(r);
  return r;
}

RouteAnswer json_error(int status, const std::string& code, const std::string& message) {
  return json_answer(status, json{{"error", {{"code", code}, {"message", message}}}});
}

std::string details_table(const spend::Approval& a, int64_t now) {
  auto row = [](const std::string& k, const std::string& v) {
    return "<tr><td>" + html_escape(k) + "</td><td>" + html_escape(v) + "</td></tr>";
  };
  std::string t = "<table>";
  t += row("Approval", a.public_id);
  t += row("Amount", std::to_string(msat_to_sat_ceil(a.amount_msat)) + " sats (" + std::to_string(a.amount_msat) +
                         " msat) + up to " + std::to_string(a.max_fee_msat) + " msat routing fee");
  if (!a.domain.empty()) t += row("To", a.domain);
  if (!a.payee.empty()) t += row("Payee node", a.payee);
  if (!a.purpose.empty()) t += row("For", a.purpose);
  t += row("Asked by", (a.client.empty() ? std::string("an agent") : a.client) +
                           (a.envelope.empty() ? std::string() : " (envelope " + a.envelope + ")") + " with " + a.tool);
  if (!a.reasons.empty()) {
    std::string why;
    for (size_t i = 0; i < a.reasons.size(); ++i) why += (i ? "; " : "") + a.reasons[i];
    t += row("Needs approval", why);
  }
  t += row("Payment hash", a.payment_hash);
  t += row("Open until", utc_time(a.expires_at, now));
  return t + "</table>";
}

std::string decided_words(const spend::Approval& a) {
  std::string s = std::string("already ") + spend::approval_state_name(a.state);
  if (!a.decided_by.empty()) s += " (" + a.decided_by + ")";
  return s;
}

}  // namespace

Routes::Routes(Hub& hub, spend::Ledger& ledger, std::string secret, const Clock& clock)
    : hub_(hub), ledger_(ledger), secret_(std::move(secret)), clock_(clock) {}

RouteAnswer Routes::handle(const RouteRequest& req) {
  try {
    if (req.path == "/approvals/decide") {
      if (req.method == "GET") return page(req);
      if (req.method == "POST") return decide_token(req);
      auto r = json_error(405, "METHOD_NOT_ALLOWED", "use GET (the confirmation page) or POST (the decision)");
      r.headers.emplace_back("Allow", "GET, POST");
      return r;
    }
    if (req.path == "/approvals/decision" && !secret_.empty()) {
      if (req.method == "POST") return decide_signed(req);
      auto r = json_error(405, "METHOD_NOT_ALLOWED", "POST a signed decision");
      r.headers.emplace_back("Allow", "POST");
      return r;
    }
    return json_error(404, "NOT_FOUND", "Not Found");
  } catch (const std::exception& e) {
    log(LogLevel::error, "webhook", std::string("approval route failed: ") + e.what());
    return json_error(500, "INTERNAL", "the request could not be handled; nothing was decided");
  }
}

RouteAnswer Routes::page(const RouteRequest& req) {
  const std::string token = form_value(req.query, "token");
  const int64_t now = clock_.now_unix();
  if (token.empty()) return html(400, "Missing link token", "<p>This address needs the token from the link.</p>");
  auto found = ledger_.approval_by_token(token);
  if (!found) {
    if (found.error().code == "APPROVAL_NOT_FOUND")
      return html(404, "Unknown link", "<p>No approval belongs to this link. Nothing was decided.</p>");
    return html(500, "Error", "<p>The approval could not be read. Nothing was decided.</p>");
  }
  const auto& [a, approve] = *found;
  const std::string verb = approve ? "Approve" : "Deny";
  if (a.state == spend::ApprovalState::expired || (a.state == spend::ApprovalState::pending && now >= a.expires_at))
    return html(410, "Approval expired", "<p>Approval " + html_escape(a.public_id) +
                                             " has expired; nothing was paid.</p>" + details_table(a, now));
  if (a.state != spend::ApprovalState::pending)
    return html(409, "Already decided", "<p>Approval " + html_escape(a.public_id) + " is " +
                                            html_escape(decided_words(a)) + ". This link changes nothing now.</p>" +
                                            details_table(a, now));
  // The decision is a POST: opening the link (a chat app's preview, a mail scanner) decides nothing.
  std::string inner = "<p>" + html_escape(describe(a)) + ".</p>" + details_table(a, now) +
                      "<form method=\"post\" action=\"decide\"><input type=\"hidden\" name=\"token\" value=\"" +
                      html_escape(token) + "\">" + (approve ? "" : "<p><label>Reason (optional) <input name=\"reason\" "
                                                                   "maxlength=\"300\"></label></p>") +
                      "<p><button type=\"submit\">" + verb + " this payment</button></p></form>"
                      "<p>This link works once. " +
                      (approve ? "Approving pays exactly this amount for this invoice."
                               : "Denying releases the held budget; nothing is paid.") +
                      "</p>";
  return html(200, verb + " payment " + a.public_id + "?", inner);
}

RouteAnswer Routes::decide_token(const RouteRequest& req) {
  const bool form = ascii_lower(req.content_type).rfind("application/x-www-form-urlencoded", 0) == 0;
  const bool want_html = form || ascii_lower(req.accept).find("text/html") != std::string::npos;
  std::string token = form_value(req.query, "token");
  std::string reason;
  if (form) {
    if (token.empty()) token = form_value(req.body, "token");
    reason = form_value(req.body, "reason").substr(0, 300);
  }
  const int64_t now = clock_.now_unix();
  if (token.empty()) {
    return want_html ? html(400, "Missing link token", "<p>Nothing was decided.</p>")
                     : json_error(400, "INVALID_ARGUMENT", "the link's token is missing; nothing was decided");
  }
  spend::ApprovalDecision d;
  d.token = token;
  d.channel = "webhook";
  d.reason = reason;
  auto r = hub_.decide(d);
  if (!r) {
    const int status = status_for(r.error().code);
    if (!want_html) {
      json body{{"error", {{"code", r.error().code}, {"message", r.error().message}}}};
      if (!r.error().details.empty()) body["error"]["details"] = r.error().details;
      return json_answer(status, body);
    }
    const char* title = status == 404 ? "Unknown link" : status == 409 ? "Already decided"
                        : status == 410 ? "Approval expired" : "Not decided";
    return html(status, title, "<p>" + html_escape(r.error().message) + "</p>");
  }
  const bool approved = r->state == spend::ApprovalState::approved;
  if (!want_html) return json_answer(200, json{{"decision", approved ? "approved" : "denied"}, {"approval", spend::to_json(*r)}});
  return html(200, approved ? "Approved" : "Denied",
              std::string("<p>") + (approved ? "Approved: satwarden pays this payment now." :
                                               "Denied: nothing is paid and the held budget is released.") +
                  "</p>" + details_table(*r, now));
}

RouteAnswer Routes::decide_signed(const RouteRequest& req) {
  const int64_t now = clock_.now_unix();
  if (auto v = verify_webhook_signature(secret_, req.timestamp, req.signature, req.body, now); !v) {
    auto r = json_error(401, v.error().code, v.error().message + "; nothing was decided");
    r.headers.emplace_back("WWW-Authenticate", "X-Satwarden-Signature");
    return r;
  }
  if (json_nesting_exceeds(req.body, 16)) return json_error(400, "INVALID_ARGUMENT", "the body is nested too deeply");
  json body = json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    return json_error(400, "INVALID_ARGUMENT", "the body must be a JSON object; nothing was decided");
  auto str = [&](const char* k) -> std::optional<std::string> {
    auto it = body.find(k);
    if (it == body.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  auto id = str("approval_id");
  auto decision = str("decision");
  auto hash = str("payment_hash");
  auto amount = body.find("amount_msat");
  if (!id || id->empty() || !decision || (*decision != "approve" && *decision != "deny") || !hash ||
      amount == body.end() || !amount->is_number_unsigned())
    return json_error(400, "INVALID_ARGUMENT",
                      "a signed decision is {approval_id, decision: \"approve\"|\"deny\", amount_msat, payment_hash, "
                      "reason?} with the amount and payment hash the approval was sent with; nothing was decided");
  spend::ApprovalDecision d;
  d.public_id = *id;
  d.approve = *decision == "approve";
  d.channel = "webhook";
  d.amount_msat = amount->get<uint64_t>();
  d.payment_hash = *hash;
  if (auto reason = str("reason")) d.reason = reason->substr(0, 300);
  auto r = hub_.decide(d);
  if (!r) {
    json err{{"error", {{"code", r.error().code}, {"message", r.error().message}}}};
    if (!r.error().details.empty()) err["error"]["details"] = r.error().details;
    return json_answer(status_for(r.error().code), err);
  }
  return json_answer(200, json{{"decision", r->state == spend::ApprovalState::approved ? "approved" : "denied"},
                               {"approval", spend::to_json(*r)}});
}

}  // namespace sw::approve
