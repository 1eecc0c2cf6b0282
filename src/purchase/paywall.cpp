// Paywall access as purchases (purchase.h): fetch → 402 → challenge → one purchase per scope → pay → retry.
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <thread>

#include "macaroon/macaroon.h"
#include "purchase/purchase.h"

namespace sw::purchase {

namespace {

std::string utc(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

bool is_refusal(int status) { return status == 401 || status == 402; }
bool is_success(int status) { return status >= 200 && status < 300; }

// A credential is presented with the scheme of the challenge it was bought on: servers built on lsat-js 2.x
// (boltwall) accept only "LSAT <macaroon>:<preimage>" and answer "L402 …" with a fresh 402 — paid for nothing.
// A purchase made on an LSAT challenge keeps its scheme in the challenge text as "LSAT <macaroon>" (a base64
// macaroon has no space); a bare macaroon is presented as L402 (as every purchase before this was).
std::string l402_challenge_text(const challenge::L402Challenge& l) {
  return l.scheme == "LSAT" ? "LSAT " + l.macaroon_b64 : l.macaroon_b64;
}

Result<std::string> l402_header(const std::string& challenge_text, const std::string& preimage) {
  const auto sp = challenge_text.find(' ');
  if (sp == std::string::npos) return challenge::build_l402_authorization("L402", challenge_text, preimage);
  return challenge::build_l402_authorization(challenge_text.substr(0, sp), challenge_text.substr(sp + 1), preimage);
}

}  // namespace

Result<L402Binding> l402_binding(const std::string& macaroon_b64, Unbound policy) {
  auto m = macaroon::decode(macaroon_b64);
  if (!m)
    return make_error("INVALID_CHALLENGE", "the L402 macaroon does not decode: " + m.error().message +
                                               "; nothing was paid");
  L402Binding b;
  auto id = macaroon::l402_binding(*m);
  if (id) {
    b.payment_hash = id->payment_hash_hex;
    b.binding = "verified";
    b.layout = macaroon::layout_name(id->layout);
    return b;
  }
  if (policy == Unbound::refuse)
    return make_error("MACAROON_UNBOUND",
                      "the L402 macaroon's identifier cannot be read (" + id.error().message +
                          "), so satwarden cannot check that the invoice belongs to it; nothing was paid. The owner "
                          "can allow such macaroons with l402_unbound=allow (SATWARDEN_L402_UNBOUND)");
  b.binding = "unverified";
  return b;
}

json mpp_to_json(const challenge::MppChallenge& c) {
  json j{{"id", c.id}, {"realm", c.realm}, {"method", c.method}, {"intent", c.intent}, {"request", c.request},
         {"legacy", c.legacy}};
  auto opt = [&](const char* k, const std::optional<std::string>& v) {
    if (v) j[k] = *v;
  };
  opt("expires", c.expires);
  opt("digest", c.digest);
  opt("description", c.description);
  opt("opaque", c.opaque);
  opt("legacy_invoice", c.legacy_invoice);
  opt("legacy_amount", c.legacy_amount);
  opt("legacy_currency", c.legacy_currency);
  if (c.expires_unix) j["expires_unix"] = *c.expires_unix;
  return j;
}

Result<challenge::MppChallenge> mpp_from_json(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return make_error("LEDGER_ERROR", "a stored MPP challenge is unreadable");
  challenge::MppChallenge c;
  auto str = [&](const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string(); };
  auto opt = [&](const char* k) {
    return j.contains(k) && j[k].is_string() ? std::optional<std::string>(j[k].get<std::string>()) : std::nullopt;
  };
  c.id = str("id");
  c.realm = str("realm");
  c.method = str("method");
  c.intent = str("intent");
  c.request = str("request");
  c.legacy = j.value("legacy", false);
  c.expires = opt("expires");
  c.digest = opt("digest");
  c.description = opt("description");
  c.opaque = opt("opaque");
  c.legacy_invoice = opt("legacy_invoice");
  c.legacy_amount = opt("legacy_amount");
  c.legacy_currency = opt("legacy_currency");
  if (j.contains("expires_unix") && j["expires_unix"].is_number_integer()) c.expires_unix = j["expires_unix"].get<int64_t>();
  if (!c.request.empty()) {
    if (auto raw = challenge::base64url_decode_strict(c.request)) {
      // Stored by us after the challenge was checked (which bounds its depth); bounded again rather than trusted.
      std::string request_text(raw->begin(), raw->end());
      if (!json_nesting_exceeds(request_text, 64)) {
        json r = json::parse(request_text, nullptr, false);
        if (r.is_object()) c.request_json = std::move(r);
      }
    }
  }
  return c;
}

Result<std::string> credential_header(const spend::Purchase& p) {
  if (p.binding == "imported") return p.challenge;  // a header kept whole from the old credential file
  if (p.state != spend::PurchaseState::usable || p.preimage.empty())
    return make_error("CREDENTIAL_NOT_USABLE", "this purchase has no usable credential");
  if (p.protocol == "l402") return l402_header(p.challenge, p.preimage);
  auto c = mpp_from_json(p.challenge);
  if (!c) return c.error();
  if (c->legacy) return challenge::build_mpp_simple_authorization(p.preimage);
  return challenge::build_mpp_authorization(*c, p.preimage);
}

Error payment_pending(const spend::Payment& row, int64_t now) {
  const int64_t next = now + 60;
  std::string said = row.wallet_said.empty()
                         ? std::string("the wallet has not been asked yet")
                         : "the wallet last said " + row.wallet_said +
                               (row.wallet_said_at ? " at " + utc(*row.wallet_said_at) : std::string());
  return make_error(
      "PAYMENT_PENDING",
      "an earlier payment for this (payment hash " + row.payment_hash.substr(0, 16) + "…, " +
          std::to_string(msat_to_sat_ceil(row.amount_msat)) + " sats, started " + utc(row.created_at) +
          ") has an outcome that is not known yet; " + said + ". Nothing new was paid. satwarden checks it with the "
          "wallet about every minute (next around " + utc(next) + ") and as soon as the wallet reports; call again "
          "then, or check lookup_payment with this payment hash. Do not pay it another way.",
      json{{"payment_hash", row.payment_hash},
           {"payment_id", row.id},
           {"state", spend::state_name(row.state)},
           {"since", row.created_at},
           {"next_check_at", next},
           {"wallet_said", row.wallet_said.empty() ? json(nullptr) : json(row.wallet_said)}});
}

// One access() call.
struct Paywall::Call {
  Paywall& pw;
  const AccessRequest& rq;
  fetch::Request base;
  std::string origin, path;
  std::function<bool()> cancelled;

  void progress(double step, const std::string& m) const {
    if (rq.progress) rq.progress(step, m);
  }

  Result<fetch::Response> get(const std::optional<std::string>& authorization) {
    fetch::Request r = base;
    if (authorization) r.headers.emplace_back("Authorization", *authorization);
    return pw.fetch_(r, pw.opts_.fetch, cancelled);
  }

  // Follows a pending purchase to a conclusion this call can act on: usable (its payment settled), failed
  // (nothing was paid: buy again), or PAYMENT_PENDING (unknown outcome) / still in flight after the wait.
  Result<spend::Purchase> settle_pending(spend::Purchase p) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(pw.opts_.wait_for_inflight_s);
    bool looked_up = false;
    for (;;) {
      if (p.state != spend::PurchaseState::pending) return p;
      if (p.payment_state == spend::State::unknown && !looked_up) {
        looked_up = true;
        (void)pw.payer_->refresh(p.payment_hash);  // ask the wallet now
        auto again = pw.ledger_->get_purchase(p.id);
        if (!again) return again.error();
        p = *again;
        continue;
      }
      if (p.payment_state == spend::State::unknown || std::chrono::steady_clock::now() >= deadline ||
          (cancelled && cancelled())) {
        auto row = pw.ledger_->get_payment(p.payment_hash);
        if (!row) return row.error();
        Error e = payment_pending(*row, pw.clock_.now_unix());
        e.details["purchase_id"] = p.id;
        return e;
      }
      // reserved / in_flight: another call is paying it right now; wait for its outcome (bounded).
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      auto again = pw.ledger_->get_purchase(p.id);
      if (!again) return again.error();
      p = *again;
    }
  }

  AccessResult served(fetch::Response r, const std::string& message) {
    AccessResult out;
    out.response = std::move(r);
    out.message = message;
    return out;
  }

  // Presents a usable purchase's credential. Returns the response, or nullopt when the credential was refused
  // (401/402) — the caller then goes on with `clean`, the answer without any credential.
  Result<std::optional<fetch::Response>> present(const spend::Purchase& p, std::string& note) {
    auto header = credential_header(p);
    if (!header) return header.error();
    auto r = get(*header);
    if (!r) return r.error();
    if (is_success(r->status)) {
      if (p.protocol == "mpp")
        (void)pw.ledger_->set_purchase_state(p.id, spend::PurchaseState::consumed);
      else
        (void)pw.ledger_->purchase_accepted_at(p.id, path);
      return std::optional<fetch::Response>(std::move(*r));
    }
    if (!is_refusal(r->status)) return std::optional<fetch::Response>(std::move(*r));
    // Refused where it was paid for or accepted (a 401, or a 402 asking for payment again in any protocol):
    // expired or revoked server-side, so it no longer stands for this scope. Elsewhere (a credential tried for
    // the same L402 service on another path) it is kept.
    if (p.covers(path, "")) {
      (void)pw.ledger_->set_purchase_state(p.id, spend::PurchaseState::refused);
      note += "; an earlier credential was refused and dropped (where it had worked)";
    }
    return std::optional<fetch::Response>{};
  }

  // Presents a usable purchase's credential: the served result, or nullopt when it was refused.
  Result<std::optional<AccessResult>> reuse(const spend::Purchase& p, std::string& note, const std::string& how) {
    auto r = present(p, note);
    if (!r) return r.error();
    if (!*r) return std::optional<AccessResult>{};
    AccessResult out = served(std::move(**r), "");
    out.used_credential = true;
    out.purchase_id = p.id;
    out.message = how + " (purchase " + std::to_string(p.id) + "); nothing was paid" + note;
    return std::optional<AccessResult>(std::move(out));
  }

  Result<AccessResult> run() {
    auto url = fetch::parse_url(rq.url);
    if (!url) return url.error();
    origin = url->origin();
    path = url->target.substr(0, url->target.find('?'));
    if (path.empty()) path = "/";
    base.method = rq.method;
    base.url = rq.url;
    for (const auto& [k, v] : rq.headers)
      if (!ascii_iequals(k, "authorization")) base.headers.emplace_back(k, v);
    base.body = rq.body;
    cancelled = rq.cancelled;
    std::string note;

    // 1. What this owner already bought here: a usable credential for this path is presented first.
    auto live = pw.ledger_->live_purchases(rq.owner, origin);
    if (!live) return live.error();
    std::optional<spend::Purchase> cred;
    for (const auto& p : *live)
      if (p.covers(path, "") && p.state == spend::PurchaseState::usable) {
        cred = p;
        break;
      }
    // (A pending purchase for this path is followed up in step 4, if the server still wants payment.)
    progress(1, "fetching " + origin);
    fetch::Response resp;
    bool used = false;
    if (cred) {
      auto r = present(*cred, note);
      if (!r) return r.error();
      if (*r) {
        AccessResult out = served(std::move(**r), "");
        out.used_credential = true;
        out.purchase_id = cred->id;
        out.message = is_success(out.response.status)
                          ? "served with the credential bought earlier (purchase " + std::to_string(cred->id) +
                                "); nothing was paid"
                          : "HTTP " + std::to_string(out.response.status) + " with the earlier credential; nothing was paid";
        return out;
      }
      used = true;
    }
    // 2. Without any credential (first try, or the retry after a refused one: the clean answer decides).
    auto clean = get(std::nullopt);
    if (!clean) return clean.error();
    resp = std::move(*clean);
    if (resp.status != 402)
      return served(std::move(resp), std::string("no payment needed") + (used ? " (an earlier credential was "
                                                                                "refused; the request without it "
                                                                                "succeeded)" : "") + note);

    // 3. 402: read the challenge.
    progress(2, "402 Payment Required: reading the challenge");
    auto sel = challenge::select_challenge(resp.header_values("www-authenticate"));
    if (!sel) {
      Error err = sel.error();
      err.message += " (HTTP 402 from " + origin + "); nothing was paid";
      return err;
    }
    spend::PurchaseDraft draft;
    draft.owner = rq.owner;
    draft.origin = origin;
    draft.path = path;
    pay::PayRequest prq;
    prq.max_sats = rq.max_sats;
    prq.client = rq.owner.client;
    prq.envelope = rq.owner.envelope;
    prq.domain = url->host;
    prq.tool = "access_l402_resource";
    prq.cancelled = rq.cancelled;
    prq.idempotency = rq.idempotency;
    prq.approval = rq.approval;
    if (prq.approval.purpose.empty()) prq.approval.purpose = rq.method + " " + rq.url.substr(0, rq.url.find_first_of("?#"));
    std::optional<challenge::MppChallenge> mpp;
    if (sel->l402) {
      const auto& l = *sel->l402;
      auto b = l402_binding(l.macaroon_b64, pw.opts_.unbound);
      if (!b) return b.error();
      auto m = macaroon::decode(l.macaroon_b64);
      if (m) {
        if (auto svc = macaroon::services(*m); svc && !svc->empty()) draft.service = svc->front().name;
        std::optional<int64_t> until;
        if (auto v = macaroon::earliest_valid_until(*m); v && *v) until = **v;
        // lsat-js (and boltwall) write the expiry as `expiration=<unix milliseconds>`; seconds are accepted too.
        if (auto e = macaroon::caveat_value(*m, "expiration")) {
          char* end = nullptr;
          const long long x = std::strtoll(e->c_str(), &end, 10);
          if (end && *end == '\0' && !e->empty() && x > 0) {
            const int64_t secs = x > 100'000'000'000LL ? x / 1000 : x;
            until = until ? std::min(*until, secs) : secs;
          }
        }
        if (until) {
          if (*until <= pw.clock_.now_unix())
            return make_error("CHALLENGE_EXPIRED", "the L402 macaroon offered by " + origin +
                                                       " has already expired (its expiry caveat); nothing was paid");
          draft.valid_until = *until;
        }
      }
      draft.protocol = "l402";
      draft.challenge = l402_challenge_text(l);
      draft.binding = b->binding;
      prq.protocol = "l402";
      prq.invoice = l.invoice;
      prq.required_payment_hash = b->payment_hash;
    } else if (sel->mpp_lightning_charge) {
      const auto& c = *sel->mpp_lightning_charge;
      if (c.challenge.expires_unix && *c.challenge.expires_unix <= pw.clock_.now_unix())
        return make_error("CHALLENGE_EXPIRED", "the Payment challenge from " + origin + " has expired; nothing was paid");
      auto inv = bolt11::decode(c.request.invoice);
      if (inv && inv->network != c.request.network)
        return make_error("INVALID_CHALLENGE", "the Payment challenge names network " + c.request.network +
                                                   " but its invoice is for " + inv->network + "; nothing was paid");
      mpp = c.challenge;
      draft.protocol = "mpp";
      draft.challenge = json_dump(mpp_to_json(*mpp));
      draft.valid_until = c.challenge.expires_unix;
      prq.protocol = "mpp";
      prq.invoice = c.request.invoice;
      if (c.request.payment_hash) prq.required_payment_hash = *c.request.payment_hash;
    } else {
      return make_error("UNSUPPORTED_CHALLENGE",
                        "HTTP 402 from " + origin + " without an L402 or Lightning Payment challenge; nothing was paid");
    }

    // 4. Already bought for this scope (the path, or the same L402 service)?
    std::optional<spend::Purchase> continuing;  // waiting for the owner's approval: pay that one once approved
    for (int round = 0; round < 3; ++round) {
      auto now_live = pw.ledger_->live_purchases(rq.owner, origin);
      if (!now_live) return now_live.error();
      std::optional<spend::Purchase> mine;
      for (const auto& p : *now_live)
        if (p.covers(path, draft.service) && (!cred || p.id != cred->id)) {
          mine = p;
          break;
        }
      if (!mine) break;
      if (mine->state == spend::PurchaseState::pending && mine->payment_state == spend::State::reserved &&
          pw.payer_ && pw.payer_->approvals()) {
        auto ap = pw.ledger_->approval_for_payment(mine->payment_id);
        if (!ap) return ap.error();
        if (*ap && ((*ap)->state == spend::ApprovalState::pending || (*ap)->state == spend::ApprovalState::approved)) {
          continuing = *mine;
          break;
        }
      }
      auto s = settle_pending(*mine);
      if (!s) return s.error();  // PAYMENT_PENDING: nothing new was paid
      if (s->state != spend::PurchaseState::usable) continue;  // failed meanwhile: look again, then buy
      auto r = reuse(*s, note, "served with the credential of an earlier purchase");
      if (!r) return r.error();
      if (*r) return std::move(**r);
      cred = *s;  // refused: not offered again in this call
      break;
    }
    if (rq.never_pay)
      return make_error("IDEMPOTENT_REPLAY_WOULD_PAY",
                        "this idempotency_key's purchase no longer gets access and a replay never pays again; "
                        "nothing was paid. Use a new idempotency_key to buy again");

    // 5. Buy: checks, the purchase row with the reservation, wallet, preimage.
    if (!pw.payer_) return make_error("WALLET_NOT_CONFIGURED", "no payment engine");
    // A credential for this L402 service was refused here, where it never worked: it is kept for where it did, so
    // this purchase covers this path only — scoped by the service, it would collide with that credential
    // (PURCHASE_EXISTS) and a cached credential would turn the purchase into an error.
    if (cred && !cred->covers(path, "")) draft.service.clear();
    prq.purchase = draft;
    if (continuing) {
      // The purchase reserved earlier and waiting for the owner: its own invoice and challenge, no new purchase.
      auto row = pw.ledger_->get_payment_by_id(continuing->payment_id);
      if (!row) return row.error();
      prq.invoice = row->invoice;
      prq.protocol = continuing->protocol;
      prq.required_payment_hash = continuing->payment_hash;
      prq.purchase.reset();
      draft.protocol = continuing->protocol;
      draft.challenge = continuing->challenge;
      draft.binding = continuing->binding;
      mpp.reset();
      if (continuing->protocol == "mpp") {
        auto c = mpp_from_json(continuing->challenge);
        if (!c) return c.error();
        mpp = *c;
      }
    }
    progress(3, "paying the invoice");
    Result<pay::PayOutcome> paid = make_error("LEDGER_ERROR", "not paid");
    for (int attempt = 0;; ++attempt) {
      paid = pw.payer_->pay(prq);
      if (!paid && paid.error().code == "PAYMENT_IN_PROGRESS") {
        // Another call waited for the same approval (this call asked it, or joined it) and is paying it now, or is
        // paying this very invoice: follow that purchase to its credential. Whichever call wakes first pays.
        std::optional<spend::Purchase> other;
        if (continuing) {
          auto again = pw.ledger_->get_purchase(continuing->id);
          if (!again) return again.error();
          other = *again;
        } else if (const json& d = paid.error().details; d.is_object() && d.contains("payment_hash") &&
                                                         d["payment_hash"].is_string()) {
          auto found = pw.ledger_->purchase_by_payment(d["payment_hash"].get<std::string>());
          if (!found) return found.error();
          if (*found) other = **found;
        }
        if (!other) break;
        auto s = settle_pending(*other);
        if (!s) return s.error();
        if (s->state == spend::PurchaseState::usable) {
          auto r = reuse(*s, note, "another call paid this purchase after the owner's approval; served with its "
                                   "credential");
          if (!r) return r.error();
          if (*r) return std::move(**r);
        }
        break;
      }
      if (paid || paid.error().code != "PURCHASE_EXISTS" || attempt >= 2) break;
      // Another call bought this scope between our check and our reservation: follow its purchase instead.
      auto id = paid.error().details.value("purchase_id", int64_t{0});
      auto other = pw.ledger_->get_purchase(id);
      if (!other) return other.error();
      auto s = settle_pending(*other);
      if (!s) return s.error();
      if (s->state == spend::PurchaseState::usable) {
        auto r = reuse(*s, note, "another call bought this at the same moment; served with its credential");
        if (!r) return r.error();
        if (*r) return std::move(**r);
      }
    }
    if (!paid) {
      Error err = paid.error();
      if (err.code == "PAYMENT_OUTCOME_UNKNOWN" || err.code == "WALLET_INVALID_PREIMAGE") {
        err.message += " The purchase stays pending: calling this URL again will not pay again — it answers "
                       "PAYMENT_PENDING until the outcome is known, then uses this payment's credential.";
        if (err.details.is_object() && err.details.contains("payment_hash") && err.details["payment_hash"].is_string())
          if (auto p = pw.ledger_->purchase_by_payment(err.details["payment_hash"].get<std::string>()); p && *p)
            err.details["purchase_id"] = (*p)->id;
      }
      return err;
    }
    auto pur = pw.ledger_->purchase_by_payment(paid->payment_hash);
    std::string header;
    if (mpp) {
      auto h = mpp->legacy ? challenge::build_mpp_simple_authorization(paid->preimage)
                           : challenge::build_mpp_authorization(*mpp, paid->preimage);
      if (!h) return h.error();
      header = *h;
    } else {
      auto h = l402_header(draft.challenge, paid->preimage);
      if (!h) return h.error();
      header = *h;
    }

    // 6. Retry with the credential.
    progress(4, "paid; retrying with the credential");
    AccessResult out;
    out.paid = true;
    out.protocol = mpp ? "MPP" : "L402";
    out.amount_msat = paid->amount_msat;
    out.fee_msat = paid->fee_msat;
    out.payment_hash = paid->payment_hash;
    out.preimage = paid->preimage;
    out.authorization = header;
    out.binding = draft.binding;
    out.purchase_id = pur && *pur ? (*pur)->id : 0;
    const uint64_t sats = msat_to_sat_ceil(paid->amount_msat);
    json pay_info{{"paid", true},
                  {"amount_sats", sats},
                  {"fee_msat", paid->fee_msat},
                  {"protocol", out.protocol},
                  {"payment_hash", paid->payment_hash},
                  {"purchase_id", out.purchase_id}};
    auto second = get(header);
    if (!second) {
      Error err = second.error();
      err.message += ". The payment of " + std::to_string(sats) + " sats succeeded and is recorded as purchase " +
                     std::to_string(out.purchase_id) + ": calling this URL again uses its credential and pays nothing";
      err.details = pay_info;
      return err;
    }
    if (is_refusal(second->status)) {
      if (out.purchase_id) (void)pw.ledger_->set_purchase_state(out.purchase_id, spend::PurchaseState::refused);
      return make_error("STILL_PAYMENT_REQUIRED",
                        "paid " + std::to_string(sats) + " sats (preimage verified) but " + origin + " still answers " +
                            std::to_string(second->status) + " to the credential; not paying again",
                        pay_info);
    }
    if (out.purchase_id && is_success(second->status)) {
      if (mpp)
        (void)pw.ledger_->set_purchase_state(out.purchase_id, spend::PurchaseState::consumed);
      else
        (void)pw.ledger_->purchase_accepted_at(out.purchase_id, path);
    }
    progress(5, "done");
    out.response = std::move(*second);
    out.message = "paid " + std::to_string(sats) + " sats over " + out.protocol + "; HTTP " +
                  std::to_string(out.response.status) +
                  (mpp ? std::string() : "; the credential is kept for " + origin + " (for this caller only)") +
                  (draft.binding == "unverified" ? "; the macaroon's binding to the invoice could not be verified"
                                                 : std::string()) +
                  note;
    return out;
  }
};

Paywall::Paywall(pay::Payer* payer, spend::Ledger* ledger, FetchFn fetch, Options opts, const Clock& clock)
    : payer_(payer), ledger_(ledger), fetch_(std::move(fetch)), opts_(std::move(opts)), clock_(clock) {
  if (opts_.wait_for_inflight_s <= 0)
    opts_.wait_for_inflight_s = (payer_ ? payer_->options().pay_timeout_s : 60) + 5;
}

Result<AccessResult> Paywall::access(const AccessRequest& rq) {
  if (!ledger_) return make_error("LEDGER_ERROR", "no ledger");
  Call c{*this, rq, {}, {}, {}, {}};
  return c.run();
}

}  // namespace sw::purchase
