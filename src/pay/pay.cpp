#include "pay/pay.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>

#include "crypto/crypto.h"

namespace sw::pay {

namespace {
// Crash-test hook (see pay.h). Compiled out unless SW_FAILPOINTS.
void failpoint([[maybe_unused]] const char* step) {
#ifdef SW_FAILPOINTS
  static const char* wanted = std::getenv("SATWARDEN_FAILPOINT");
  if (wanted && std::string_view(wanted) == step) {
    log(LogLevel::warning, "pay", std::string("failpoint ") + step + ": killing the process");
    std::raise(SIGKILL);
  }
#endif
}
int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Payer::Payer(wallet::Wallet* wallet, spend::Ledger* ledger, const Clock& clock, PayerOptions opts)
    : wallet_(wallet), ledger_(ledger), clock_(clock), opts_(opts) {}

PayOutcome outcome_from_row(const spend::Payment& row) {
  PayOutcome out;
  out.payment_hash = row.payment_hash;
  out.preimage = row.preimage;
  out.amount_msat = row.amount_msat;
  out.fee_reported = row.fee_msat.has_value();
  out.fee_msat = row.fee_msat.value_or(row.max_fee_msat);
  out.latency_ms = row.latency_ms.value_or(0);
  out.ledger_id = row.id;
  if (!row.invoice.empty())
    if (auto inv = bolt11::decode(row.invoice)) out.invoice = *inv;
  return out;
}

Status Payer::verify_preimage(const std::string& preimage, const std::string& payment_hash_hex) {
  if (preimage.size() != 64)
    return make_error("WALLET_INVALID_PREIMAGE", "the wallet returned an invalid preimage: " +
                                                     std::to_string(preimage.size()) + " characters instead of 64 hex");
  auto bytes = hex_decode(preimage);
  if (!bytes) return make_error("WALLET_INVALID_PREIMAGE", "the wallet returned an invalid preimage: not hex");
  auto h = crypto::sha256(*bytes);
  if (hex_encode(h.data(), h.size()) != ascii_lower(payment_hash_hex))
    return make_error("WALLET_INVALID_PREIMAGE",
                      "the wallet returned an invalid preimage: its SHA-256 is not the invoice's payment hash");
  return ok_status();
}

// Single flight: however many payments start at once, one get_info goes to the wallet and all of them share its
// answer (a failure too — the next payment after it asks again).
Result<wallet::Info> Payer::wallet_info() {
  std::shared_ptr<std::promise<Result<wallet::Info>>> lead;
  std::shared_future<Result<wallet::Info>> flight;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (info_) return *info_;
    if (!info_flight_.valid()) {
      lead = std::make_shared<std::promise<Result<wallet::Info>>>();
      info_flight_ = lead->get_future().share();
    }
    flight = info_flight_;
  }
  if (lead) {
    auto info = wallet_->get_info();
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (info) info_ = *info;
      info_flight_ = {};
    }
    lead->set_value(info);
  }
  return flight.get();
}

Result<bolt11::Invoice> Payer::check(const PayRequest& rq) {
  std::string text(trim(rq.invoice));
  auto inv = bolt11::decode(text);
  if (!inv) return inv.error();
  if (!inv->amount_msat || *inv->amount_msat == 0)
    return make_error("INVOICE_NO_AMOUNT",
                      "the invoice has no amount; satwarden pays only invoices that state what they cost");
  int64_t now = clock_.now_unix();
  if (inv->expired(now))
    return make_error("INVOICE_EXPIRED", "the invoice expired at " + std::to_string(inv->expires_at()) + " (" +
                                             std::to_string(now - inv->expires_at()) + " s ago); ask for a new one",
                      json{{"expires_at", inv->expires_at()}});
  if (rq.required_payment_hash && ascii_lower(*rq.required_payment_hash) != inv->payment_hash)
    return make_error("MACAROON_NOT_BOUND",
                      "macaroon is not bound to this invoice: its payment hash differs from the invoice's; "
                      "nothing was paid",
                      json{{"invoice_payment_hash", inv->payment_hash}});
  uint64_t sats = msat_to_sat_ceil(*inv->amount_msat);
  if (sats > rq.max_sats)
    return make_error("AMOUNT_EXCEEDS_MAX",
                      "the invoice asks for " + std::to_string(sats) + " sats, more than max_sats " +
                          std::to_string(rq.max_sats) + "; nothing was paid",
                      json{{"amount_sats", sats}, {"max_sats", rq.max_sats}});
  if (!wallet_)
    return make_error("WALLET_NOT_CONFIGURED",
                      "no wallet is configured: set NWC_URL to your wallet's nostr+walletconnect:// URI");
  auto info = wallet_info();
  if (!info) return info.error();
  const std::string& net = info->network;
  if (!net.empty() && net != inv->network)
    return make_error("NETWORK_MISMATCH",
                      "the invoice is for " + inv->network + " but the wallet is on " + net + "; nothing was paid",
                      json{{"invoice_network", inv->network}, {"wallet_network", net}});
  return inv;
}

Result<spend::LookupOutcome> Payer::lookup(const std::string& payment_hash) {
  if (!wallet_) return make_error("WALLET_NOT_CONFIGURED", "no wallet to look the payment up in");
  auto tx = wallet_->lookup_invoice(payment_hash, "");
  spend::LookupOutcome out;
  if (!tx) {
    if (tx.error().code == "NOT_FOUND") {
      // Silence is not failure. While the original request can still execute (a slow wallet, a relay that
      // delivers late), NOT_FOUND means "not yet". After its expiration + grace it means "never paid" only for a
      // wallet known to honour NIP-47 `expiration`; for any other wallet the budget stays held until the wallet
      // reports an outcome, a notification arrives, or the owner resolves the payment.
      out.kind = spend::LookupOutcome::Kind::pending;
      out.said = "NOT_FOUND";
      if (opts_.wallet_honours_expiration && ledger_) {
        auto row = ledger_->get_payment(payment_hash);
        const int64_t now = clock_.now_unix();
        // No recorded expiry (a row from before schema v4): its request is long past any expiration.
        const int64_t until = row && row->request_expires_at ? *row->request_expires_at + opts_.not_found_grace_s
                                                             : (row ? row->updated_at + opts_.pay_timeout_s + 15 +
                                                                          opts_.not_found_grace_s
                                                                    : now);
        if (row && now >= until) {
          out.kind = spend::LookupOutcome::Kind::failed;
          out.error_code = "NOT_FOUND_AFTER_EXPIRATION";
        }
      }
      return out;
    }
    return tx.error();
  }
  std::string state = tx->value("state", "");
  std::string pre = tx->contains("preimage") && (*tx)["preimage"].is_string() ? (*tx)["preimage"].get<std::string>() : "";
  bool pre_ok = !pre.empty() && verify_preimage(pre, payment_hash).ok();
  out.said = state.empty() ? "found" : state;
  if (state == "settled" || (state.empty() && pre_ok)) {
    out.kind = spend::LookupOutcome::Kind::settled;
    if (pre_ok) out.preimage = ascii_lower(pre);
    if (tx->contains("fees_paid") && (*tx)["fees_paid"].is_number_unsigned())
      out.fee_msat = (*tx)["fees_paid"].get<uint64_t>();
  } else if (state == "failed" || state == "expired") {
    out.kind = spend::LookupOutcome::Kind::failed;
    out.error_code = "PAYMENT_FAILED";
  }
  return out;
}

Result<spend::ReconcileSummary> Payer::reconcile() {
  if (!ledger_ || !wallet_) return spend::ReconcileSummary{};
  return ledger_->reconcile([this](const std::string& h) { return lookup(h); });
}

Result<spend::Payment> Payer::refresh(const std::string& payment_hash) {
  if (!ledger_) return make_error("PAYMENT_NOT_FOUND", "no ledger");
  auto row = ledger_->get_payment(payment_hash);
  if (!row) return row.error();
  if (row->state != spend::State::unknown || !wallet_) return row;
  (void)ledger_->record_lookup(row->id, lookup(row->payment_hash));
  return ledger_->get_payment(payment_hash);
}

Result<PayOutcome> Payer::pay(const PayRequest& rq) {
  if (rq.resume) {
    auto inv = bolt11::decode(std::string(trim(rq.invoice)));
    if (!inv || inv->payment_hash != rq.resume->payment_hash || rq.resume->state != spend::State::settled)
      return make_error("REPLAY_MISMATCH",
                        "this idempotency_key's payment is for another invoice; nothing was paid");
    return outcome_from_row(*rq.resume);
  }
  auto checked = check(rq);
  if (!checked) return checked.error();
  const bolt11::Invoice& inv = *checked;
  if (rq.progress) rq.progress(1, "invoice checked: " + std::to_string(msat_to_sat_ceil(*inv.amount_msat)) + " sats");
  spend::ReserveRequest rr;
  rr.client = rq.client;
  rr.domain = rq.domain;
  rr.tool = rq.tool;
  rr.protocol = rq.protocol;
  rr.invoice = std::string(trim(rq.invoice));
  rr.payment_hash = inv.payment_hash;
  rr.amount_msat = *inv.amount_msat;
  if (!rq.envelope.empty()) rr.envelope = rq.envelope;
  rr.purchase = rq.purchase;
  rr.idempotency = rq.idempotency;
  std::string invoice_text = rr.invoice;
  ApprovalArgs approval = rq.approval;
  if (approval.purpose.empty() && inv.description) approval.purpose = inv.description->substr(0, 300);
  // After waiting for the owner the invoice may have expired: never pay an expired invoice.
  auto recheck = [this, &inv]() -> Status {
    const int64_t now = clock_.now_unix();
    if (inv.expired(now))
      return make_error("INVOICE_EXPIRED",
                        "the invoice expired at " + std::to_string(inv.expires_at()) +
                            " while waiting for the owner's approval; nothing was paid. Ask for a new invoice",
                        json{{"expires_at", inv.expires_at()}});
    return ok_status();
  };
  auto out = execute(rr, rq.cancelled, rq.progress,
                     [this, &invoice_text] { return wallet_->pay_invoice(invoice_text, std::nullopt); }, false,
                     approval, inv.payee, recheck);
  if (out) out->invoice = inv;
  return out;
}

Result<PayOutcome> Payer::keysend(const KeysendRequest& rq) {
  if (rq.resume) {
    if (rq.resume->state != spend::State::settled || rq.resume->protocol != "keysend")
      return make_error("REPLAY_MISMATCH", "this idempotency_key's payment is not this keysend; nothing was paid");
    return outcome_from_row(*rq.resume);
  }
  std::string dest = ascii_lower(std::string(trim(rq.destination)));
  auto node = hex_decode(dest);
  if (dest.size() != 66 || !node || !crypto::compressed_pubkey_valid(node->data()))
    return make_error("INVALID_ARGUMENT",
                      "destination must be a node id: 66 hex characters, a compressed secp256k1 public key");
  if (rq.amount_sats == 0) return make_error("INVALID_ARGUMENT", "amount_sats must be at least 1");
  if (rq.amount_sats > spend::kMaxMsat / 1000) return make_error("INVALID_ARGUMENT", "amount_sats is too large");
  if (rq.amount_sats > rq.max_sats)
    return make_error("AMOUNT_EXCEEDS_MAX",
                      "the keysend is for " + std::to_string(rq.amount_sats) + " sats, more than max_sats " +
                          std::to_string(rq.max_sats) + "; nothing was paid",
                      json{{"amount_sats", rq.amount_sats}, {"max_sats", rq.max_sats}});
  for (const auto& t : rq.tlv_records) {
    // Types below 2^16 belong to the protocol (5482373484, the keysend preimage record, is the wallet's to add).
    if (t.type < 65536 || t.type == 5482373484ULL)
      return make_error("INVALID_ARGUMENT", "tlv_records: type " + std::to_string(t.type) +
                                                " is reserved; custom records use types >= 65536");
    if (t.value_hex.size() % 2 != 0 || !hex_decode(t.value_hex))
      return make_error("INVALID_ARGUMENT", "tlv_records: value of type " + std::to_string(t.type) +
                                                " is not an even-length hex string");
  }
  if (!wallet_)
    return make_error("WALLET_NOT_CONFIGURED",
                      "no wallet is configured: set NWC_URL to your wallet's nostr+walletconnect:// URI");
  auto info = wallet_info();
  if (!info) return info.error();
  if (!info->methods.empty() &&
      std::find(info->methods.begin(), info->methods.end(), "pay_keysend") == info->methods.end())
    return make_error("WALLET_NOT_IMPLEMENTED", "the wallet does not offer pay_keysend; nothing was paid");

  // Our own preimage: the payment hash is then known before sending (double-pay guard, reconciliation). A retry
  // of a keysend that is waiting for the owner's approval reuses that keysend's preimage (see keysend_waiting_).
  std::string waiting_key = rq.client + '\n' + rq.envelope + '\n' + dest + '\n' + std::to_string(rq.amount_sats);
  for (const auto& t : rq.tlv_records) waiting_key += '\n' + std::to_string(t.type) + '=' + ascii_lower(t.value_hex);
  std::optional<Bytes> pre;
  if (ledger_ && approvals_) {
    std::optional<std::string> kept;
    {
      std::lock_guard lk(keysend_mu_);
      if (auto it = keysend_waiting_.find(waiting_key); it != keysend_waiting_.end()) kept = it->second;
    }
    if (kept) {
      auto b = hex_decode(*kept);
      bool open = false;
      if (b && b->size() == 32) {
        const auto h = crypto::sha256(*b);
        auto row = ledger_->get_payment(hex_encode(h.data(), h.size()));
        if (row && row->state == spend::State::reserved) {
          auto ap = ledger_->approval_for_payment(row->id);
          open = ap && *ap &&
                 ((*ap)->state == spend::ApprovalState::pending || (*ap)->state == spend::ApprovalState::approved);
        }
      }
      if (open) {
        pre = *b;
      } else {
        std::lock_guard lk(keysend_mu_);
        keysend_waiting_.erase(waiting_key);
      }
    }
  }
  if (!pre) pre = crypto::random_bytes(32);
  auto hash = crypto::sha256(*pre);
  wallet::KeysendParams kp;
  kp.pubkey = dest;
  kp.amount_msat = rq.amount_sats * 1000;
  kp.preimage = hex_encode(pre->data(), pre->size());
  kp.tlv_records = rq.tlv_records;
  spend::ReserveRequest rr;
  rr.client = rq.client;
  rr.tool = rq.tool;
  rr.protocol = "keysend";
  rr.payment_hash = hex_encode(hash.data(), hash.size());
  rr.amount_msat = kp.amount_msat;
  if (!rq.envelope.empty()) rr.envelope = rq.envelope;
  rr.idempotency = rq.idempotency;
  if (rq.progress) rq.progress(1, "keysend checked: " + std::to_string(rq.amount_sats) + " sats");
  ApprovalArgs approval = rq.approval;
  if (approval.purpose.empty()) approval.purpose = "keysend to " + dest;
  auto out = execute(rr, rq.cancelled, rq.progress, [this, &kp] { return wallet_->pay_keysend(kp); }, true, approval,
                     dest, nullptr);
  if (ledger_ && approvals_) {
    // Left waiting for the owner: remember the preimage for the retry. Anything else ends this keysend.
    const bool waiting = !out && (out.error().code == "APPROVAL_REQUIRED" || out.error().code == "CANCELLED");
    std::lock_guard lk(keysend_mu_);
    if (waiting) {
      if (keysend_waiting_.size() >= 4096) keysend_waiting_.erase(keysend_waiting_.begin());  // bounded
      keysend_waiting_[waiting_key] = kp.preimage;
    } else if (auto it = keysend_waiting_.find(waiting_key); it != keysend_waiting_.end() && it->second == kp.preimage) {
      keysend_waiting_.erase(it);
    }
  }
  return out;
}

Result<spend::Reservation> Payer::reserve_and_approve(const spend::ReserveRequest& request, const ApprovalArgs& args,
                                                      const std::string& payee,
                                                      const std::function<bool()>& cancelled,
                                                      const std::function<void(double, const std::string&)>& progress,
                                                      std::optional<spend::Approval>& approval) {
  spend::ReserveRequest rr = request;
  if (approvals_) rr.approval = approvals_->terms(payee, args.purpose);
  if (prices_.quotes) {
    // A payment waits for a price fetch only when a fiat cap needs it; display currencies come from the cache.
    if (auto caps = ledger_->fiat_currencies(); !caps.empty()) rr.prices = prices_.quotes(caps);
    if (prices_.cached && !prices_.display.empty())
      for (auto& [cur, p] : prices_.cached(prices_.display)) rr.prices.emplace(cur, p);
  }
  if (args.approval_id && approvals_) {
    // A retry naming an approval of another payment is refused before anything is reserved: otherwise the fresh
    // reservation's own approval, never shown to the owner, would later reach the channels as "expired".
    auto named = ledger_->get_approval(*args.approval_id);
    if (named && named->payment_hash != ascii_lower(rr.payment_hash))
      return make_error("APPROVAL_MISMATCH",
                        "approval_id " + *args.approval_id + " is not this payment's approval; nothing was paid",
                        json{{"approval_id", named->public_id}});
  }
  spend::Reservation res;
  std::optional<spend::ApprovalSecrets> secrets;
  auto r = ledger_->reserve(rr);
  if (!r && r.error().code == "PAYMENT_STATE_UNKNOWN") {
    // An earlier attempt's outcome is unknown: ask the wallet first, then decide (never pay blindly).
    (void)reconcile();
    r = ledger_->reserve(rr);
  }
  if (!r && r.error().code == "PAYMENT_IN_PROGRESS" && approvals_ && r.error().details.contains("payment_id")) {
    // The same payment is reserved and waiting for the owner: a call by the same caller continues it.
    const int64_t pid = r.error().details["payment_id"].get<int64_t>();
    auto open = ledger_->approval_for_payment(pid);
    if (open && *open && (*open)->payment_state == spend::State::reserved && (*open)->client == rr.client &&
        (*open)->envelope == rr.envelope.value_or("") &&
        ((*open)->state == spend::ApprovalState::pending || (*open)->state == spend::ApprovalState::approved)) {
      approval = **open;
      res.id = pid;
      res.payment_hash = approval->payment_hash;
      res.amount_msat = approval->amount_msat;
      res.max_fee_msat = approval->max_fee_msat;
      r = res;
    }
  }
  if (!r && r.error().code == "PRICE_UNAVAILABLE" && prices_.why) {
    Error e = r.error();
    const std::string why = prices_.why(e.details.value("currency", ""));
    if (!why.empty()) e.message += " (" + why + ")";
    return e;
  }
  if (!r) return r.error();
  res = *r;
  if (r->approval) {
    approval = r->approval;
    secrets = r->approval_secrets;
  }
  if (progress) progress(2, "budget reserved");
  if (!approval) return res;  // no approval needed (an approval_id given by a retry is moot then)
  const bool fresh = secrets.has_value();
  if (args.approval_id && ascii_lower(*args.approval_id) != ascii_lower(approval->public_id)) {
    if (fresh) (void)ledger_->release_if_reserved(res.id, "APPROVAL_MISMATCH");
    return make_error("APPROVAL_MISMATCH",
                      "approval_id " + *args.approval_id + " is not this payment's approval (" + approval->public_id +
                          "); nothing was paid",
                      json{{"approval_id", approval->public_id}});
  }
  if (fresh) approvals_->announce(*approval, *secrets);
  const int64_t now = clock_.now_unix();
  const std::string until = approve::utc_time(approval->expires_at, now);
  auto details = [&](const spend::Approval& a) {
    json d = spend::to_json(a);
    d["channels"] = approvals_->channel_names();
    // The amount in the owner's currencies at the prices this reservation was checked with.
    for (const auto& [cur, price] : rr.prices)
      d["amount_fiat"][cur] = spend::fiat_amount_json(spend::msat_to_fiat_ceil(a.amount_msat, price.micros_per_btc));
    return d;
  };
  if (approval->state == spend::ApprovalState::pending) {
    if (args.wait == ApprovalArgs::Wait::return_now)
      return make_error("APPROVAL_REQUIRED",
                        "this payment needs the owner's approval (approval " + approval->public_id + ", until " +
                            until + "): " +
                            (approval->reasons.empty() ? std::string("policy") : approval->reasons[0]) +
                            ". Nothing was paid; the budget is held. Call again with the same arguments once the "
                            "owner has decided (list_approvals shows the state)",
                        details(*approval));
    if (progress) progress(2.1, "waiting for the owner's approval, id " + approval->public_id + ", until " + until);
    double p = 2.1;
    auto decided = approvals_->await(
        approval->public_id, cancelled,
        [&](const spend::Approval& a) {
          p = std::min(2.9, p + 0.01);
          if (progress)
            progress(p, "still waiting for the owner's approval, id " + a.public_id + ", until " +
                            approve::utc_time(a.expires_at, clock_.now_unix()));
        },
        args.ask_client);
    if (!decided) return decided.error();
    approval = *decided;
  }
  switch (approval->state) {
    case spend::ApprovalState::approved:
      if (progress) progress(2.95, "approved by the owner (" + approval->decided_by + ")");
      return res;
    case spend::ApprovalState::denied:
      return make_error("APPROVAL_DENIED",
                        "the owner denied this payment (approval " + approval->public_id + ", via " +
                            approval->decided_by + (approval->reason.empty() ? "" : ": " + approval->reason) +
                            "); nothing was paid and the budget was released. Do not retry without asking the user",
                        details(*approval));
    case spend::ApprovalState::expired:
      return make_error("APPROVAL_TIMEOUT",
                        "the owner did not decide on approval " + approval->public_id +
                            " in time; nothing was paid and the budget was released. Ask the user, then call again",
                        details(*approval));
    default:
      // Used while this call waited: another call of the same caller, waiting for the same approval, woke first
      // and is paying it (the same answer as when it wins the race in mark_in_flight, see execute()).
      return make_error("PAYMENT_IN_PROGRESS",
                        "another call is paying this approved payment right now (approval " + approval->public_id +
                            "); nothing was paid by this call",
                        json{{"payment_hash", approval->payment_hash}, {"approval_id", approval->public_id}});
  }
}

Result<PayOutcome> Payer::execute(const spend::ReserveRequest& rr, const std::function<bool()>& cancelled,
                                  const std::function<void(double, const std::string&)>& progress,
                                  const std::function<Result<wallet::PayResult>()>& send,
                                  bool sender_chose_preimage, const ApprovalArgs& approval_args,
                                  const std::string& payee, const std::function<Status()>& recheck) {
  spend::Reservation res;
  res.payment_hash = rr.payment_hash;
  std::optional<spend::Approval> approval;
  if (ledger_) {
    auto r = reserve_and_approve(rr, approval_args, payee, cancelled, progress, approval);
    if (!r) return r.error();
    res = *r;
    if (approval && recheck)
      if (auto st = recheck(); !st) {
        (void)ledger_->release_if_reserved(res.id, st.error().code);
        return st.error();
      }
  }
  auto tell = [&](const char* what) {
    if (approval && approvals_) approvals_->tell_outcome(*approval, what);
  };
  failpoint("after_reserve");
  if (cancelled && cancelled()) {  // last point of return
    if (ledger_) (void)ledger_->release_if_reserved(res.id, "CANCELLED");
    return make_error("CANCELLED", "cancelled before paying; nothing was paid");
  }
  if (ledger_) {
    // The NWC request will carry `expiration` ≈ send time + pay timeout + 5 s; the info event may take up to
    // ~5 s more before it leaves: expiration <= now + pay timeout + 10 s. Reconciliation never reads silence as failure
    // before that plus PayerOptions::not_found_grace_s.
    const int64_t request_expires_at = clock_.now_unix() + opts_.pay_timeout_s + 10;
    if (auto st = ledger_->mark_in_flight(res.id, request_expires_at); !st) {
      // An approval refusal leaves the row alone: denied/expired ones were released by the ledger, and a used one
      // belongs to the call that is paying it right now (two calls waited for the same approval).
      if (st.error().code == "APPROVAL_USED")
        return make_error("PAYMENT_IN_PROGRESS",
                          "another call is paying this approved payment right now; nothing was paid by this call",
                          json{{"payment_hash", rr.payment_hash}});
      if (st.error().code.rfind("APPROVAL_", 0) != 0) (void)ledger_->release_if_reserved(res.id, st.error().code);
      Error e = st.error();
      e.message += "; nothing was paid";
      return e;
    }
  }
  failpoint("after_in_flight");
  int64_t t0 = now_ms();
  auto paid = send();
  int64_t latency = now_ms() - t0;
  failpoint("after_reply");
  const std::string again = rr.protocol == "keysend" ? "Do not send this keysend again." : "Do not pay this invoice again.";
  if (!paid) {
    const Error& e = paid.error();
    if (wallet::is_definite_payment_failure(e)) {
      if (ledger_) (void)ledger_->fail(res.id, e.code, latency);
      tell("failed");
      Error out = e;
      out.message += "; nothing was paid";
      return out;
    }
    if (ledger_) (void)ledger_->mark_unknown(res.id, e.code);
    tell("unknown");
    return make_error("PAYMENT_OUTCOME_UNKNOWN",
                      e.message + ". The payment may or may not have gone through: the amount stays reserved and "
                                  "satwarden will check with the wallet (lookup_payment). " + again,
                      json{{"cause", e.code}, {"payment_hash", rr.payment_hash}});
  }
  PayOutcome out;
  if (auto v = verify_preimage(paid->preimage, rr.payment_hash); !v) {
    // A keysend's preimage is ours, so it proves nothing either way; a wallet that substituted its own (a
    // well-formed one) still says it paid: book it as spent rather than risk under-counting the budget.
    bool well_formed = paid->preimage.size() == 64 && hex_decode(paid->preimage).has_value();
    if (!sender_chose_preimage || !well_formed) {
      if (ledger_) (void)ledger_->mark_unknown(res.id, "WALLET_INVALID_PREIMAGE");
      return make_error("WALLET_INVALID_PREIMAGE",
                        v.error().message + ". The wallet says it paid, but without proof; the amount stays reserved "
                                            "until satwarden confirms with the wallet. " + again,
                        json{{"payment_hash", rr.payment_hash}});
    }
    out.wallet_preimage = true;
    log(LogLevel::warning, "pay", "the wallet paid the keysend with its own preimage, not the one satwarden sent");
  }
  out.payment_hash = rr.payment_hash;
  out.preimage = ascii_lower(paid->preimage);
  out.amount_msat = rr.amount_msat;
  out.fee_reported = paid->fees_paid_msat.has_value();
  out.fee_msat = paid->fees_paid_msat.value_or(res.max_fee_msat);
  out.latency_ms = latency;
  out.ledger_id = res.id;
  if (ledger_) {
    if (auto st = ledger_->settle(res.id, out.fee_msat, out.preimage, latency); !st)
      log(LogLevel::error, "pay", "paid, but the ledger could not record it: " + st.error().message);
  }
  tell("paid");
  if (progress) progress(3, "paid and verified");
  return out;
}

bool Payer::on_notification(const wallet::Notification& n) {
  if (!ledger_ || n.type != "payment_sent" || !n.transaction.is_object()) return false;
  const json& tx = n.transaction;
  if (!tx.contains("payment_hash") || !tx["payment_hash"].is_string()) return false;
  std::string hash = ascii_lower(tx["payment_hash"].get<std::string>());
  auto row = ledger_->get_payment(hash);
  if (!row || row->state != spend::State::unknown) return false;  // in-flight rows belong to their paying call
  std::string pre = tx.contains("preimage") && tx["preimage"].is_string() ? tx["preimage"].get<std::string>() : "";
  if (!verify_preimage(pre, hash).ok()) {
    log(LogLevel::warning, "pay", "a payment_sent notification without a valid preimage was ignored");
    return false;
  }
  uint64_t fee = row->max_fee_msat;  // unknown → the reserved allowance stays booked
  if (tx.contains("fees_paid") && tx["fees_paid"].is_number_integer() && tx["fees_paid"].get<int64_t>() >= 0)
    fee = tx["fees_paid"].get<uint64_t>();
  auto st = ledger_->settle(row->id, fee, ascii_lower(pre), (clock_.now_unix() - row->created_at) * 1000);
  if (!st) {
    // In a fleet every instance hears the notification; the first one's conditional transition wins and the
    // others find the row already settled (ILLEGAL_TRANSITION): handled once, nothing to report.
    if (st.error().code != "ILLEGAL_TRANSITION")
      log(LogLevel::warning, "pay", "could not settle from a notification: " + st.error().message);
    return false;
  }
  log(LogLevel::notice, "pay", "payment " + hash.substr(0, 16) + "… settled from the wallet's payment_sent notification");
  return true;
}

}  // namespace sw::pay
