#include "pay/pay.h"

#include <chrono>

#include "crypto/crypto.h"

namespace sw::pay {

namespace {
std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Payer::Payer(wallet::Wallet* wallet, spend::Ledger* ledger, const Clock& clock)
    : wallet_(wallet), ledger_(ledger), clock_(clock) {}

Status Payer::verify_preimage(const std::string& preimage, const std::string& payment_hash_hex) {
  if (preimage.size() != 64)
    return make_error("WALLET_INVALID_PREIMAGE", "the wallet returned an invalid preimage: " +
                                                     std::to_string(preimage.size()) + " characters instead of 64 hex");
  auto bytes = hex_decode(preimage);
  if (!bytes) return make_error("WALLET_INVALID_PREIMAGE", "the wallet returned an invalid preimage: not hex");
  auto h = crypto::sha256(*bytes);
  if (hex_encode(h.data(), h.size()) != lower(payment_hash_hex))
    return make_error("WALLET_INVALID_PREIMAGE",
                      "the wallet returned an invalid preimage: its SHA-256 is not the invoice's payment hash");
  return ok_status();
}

Result<std::string> Payer::wallet_network() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (network_) return *network_;
  }
  auto info = wallet_->get_info();
  if (!info) return info.error();
  std::lock_guard<std::mutex> lk(mu_);
  network_ = info->network;
  return *network_;
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
  if (rq.required_payment_hash && lower(*rq.required_payment_hash) != inv->payment_hash)
    return make_error("MACAROON_NOT_BOUND",
                      "macaroon is not bound to this invoice: its payment hash differs from the invoice's",
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
  auto net = wallet_network();
  if (!net) return net.error();
  if (!net->empty() && *net != inv->network)
    return make_error("NETWORK_MISMATCH",
                      "the invoice is for " + inv->network + " but the wallet is on " + *net + "; nothing was paid",
                      json{{"invoice_network", inv->network}, {"wallet_network", *net}});
  return inv;
}

Result<spend::LookupOutcome> Payer::lookup(const std::string& payment_hash) {
  if (!wallet_) return make_error("WALLET_NOT_CONFIGURED", "no wallet to look the payment up in");
  auto tx = wallet_->lookup_invoice(payment_hash, "");
  spend::LookupOutcome out;
  if (!tx) {
    if (tx.error().code == "NOT_FOUND") {  // the wallet never saw it: it was not paid
      out.kind = spend::LookupOutcome::Kind::failed;
      out.error_code = "NOT_FOUND";
      return out;
    }
    return tx.error();
  }
  std::string state = tx->value("state", "");
  std::string pre = tx->contains("preimage") && (*tx)["preimage"].is_string() ? (*tx)["preimage"].get<std::string>() : "";
  bool pre_ok = !pre.empty() && verify_preimage(pre, payment_hash).ok();
  if (state == "settled" || (state.empty() && pre_ok)) {
    out.kind = spend::LookupOutcome::Kind::settled;
    if (pre_ok) out.preimage = lower(pre);
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

Result<PayOutcome> Payer::pay(const PayRequest& rq) {
  auto progress = [&](double p, const std::string& m) {
    if (rq.progress) rq.progress(p, m);
  };
  auto checked = check(rq);
  if (!checked) return checked.error();
  const bolt11::Invoice& inv = *checked;
  progress(1, "invoice checked: " + std::to_string(msat_to_sat_ceil(*inv.amount_msat)) + " sats");

  spend::Reservation res;
  if (ledger_) {
    spend::ReserveRequest rr;
    rr.client = rq.client;
    rr.domain = rq.domain;
    rr.tool = rq.tool;
    rr.protocol = rq.protocol;
    rr.invoice = std::string(trim(rq.invoice));
    rr.payment_hash = inv.payment_hash;
    rr.amount_msat = *inv.amount_msat;
    if (!rq.envelope.empty()) rr.envelope = rq.envelope;
    auto r = ledger_->reserve(rr);
    if (!r && r.error().code == "PAYMENT_STATE_UNKNOWN") {
      // An earlier attempt's outcome is unknown: ask the wallet first, then decide (never pay blindly).
      (void)reconcile();
      r = ledger_->reserve(rr);
    }
    if (!r) return r.error();
    res = *r;
    progress(2, "budget reserved");
  }
  if (rq.cancelled && rq.cancelled()) {  // last point of return
    if (ledger_) (void)ledger_->release(res.id);
    return make_error("CANCELLED", "cancelled before paying; nothing was paid");
  }
  if (ledger_) {
    if (auto st = ledger_->mark_in_flight(res.id); !st) {
      (void)ledger_->release(res.id);
      return st.error();
    }
  }
  int64_t t0 = now_ms();
  auto paid = wallet_->pay_invoice(std::string(trim(rq.invoice)), std::nullopt);
  int64_t latency = now_ms() - t0;
  if (!paid) {
    const Error& e = paid.error();
    if (wallet::is_definite_payment_failure(e)) {
      if (ledger_) (void)ledger_->fail(res.id, e.code, latency);
      Error out = e;
      out.message += "; nothing was paid";
      return out;
    }
    if (ledger_) (void)ledger_->mark_unknown(res.id, e.code);
    return make_error("PAYMENT_OUTCOME_UNKNOWN",
                      e.message + ". The payment may or may not have gone through: the amount stays reserved and "
                                  "satwarden will check with the wallet (lookup_payment). Do not pay this invoice again.",
                      json{{"cause", e.code}, {"payment_hash", inv.payment_hash}});
  }
  if (auto v = verify_preimage(paid->preimage, inv.payment_hash); !v) {
    if (ledger_) (void)ledger_->mark_unknown(res.id, "WALLET_INVALID_PREIMAGE");
    return make_error("WALLET_INVALID_PREIMAGE",
                      v.error().message + ". The wallet says it paid, but without proof; the amount stays reserved "
                                          "until satwarden confirms with the wallet. Do not pay this invoice again.",
                      json{{"payment_hash", inv.payment_hash}});
  }
  PayOutcome out;
  out.invoice = inv;
  out.payment_hash = inv.payment_hash;
  out.preimage = lower(paid->preimage);
  out.amount_msat = *inv.amount_msat;
  out.fee_reported = paid->fees_paid_msat.has_value();
  out.fee_msat = paid->fees_paid_msat.value_or(res.max_fee_msat);
  out.latency_ms = latency;
  out.ledger_id = res.id;
  if (ledger_) {
    if (auto st = ledger_->settle(res.id, out.fee_msat, out.preimage, latency); !st)
      log(LogLevel::error, "pay", "paid, but the ledger could not record it: " + st.error().message);
  }
  progress(3, "paid and verified");
  return out;
}

}  // namespace sw::pay
