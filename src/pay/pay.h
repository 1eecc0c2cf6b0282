// sw::pay — the payment engine every paying tool goes through: check → reserve → pay → verify → settle.
// Checks (no side effects): the invoice decodes and its signature holds, it has an amount > 0, it has not expired,
// its network is the wallet's, its payment hash is the one the caller requires (macaroon binding), and its amount
// (msat rounded UP to sats) is within the caller's max_sats. Then the spend ledger reserves budget atomically
// (double-pay guard by payment hash, windows, domains, envelopes) — the seam where the spend policy lives — and
// the wallet pays. A definite failure releases the budget; an ambiguous one (timeout, wallet INTERNAL, invalid
// preimage) keeps it reserved as `unknown` and is reconciled with lookup_invoice later, never paid again.
// Thread-safety: Payer is thread-safe (the wallet and ledger are). Errors: Result values with stable codes; no
// message contains a preimage or secret.
#pragma once

#include <compare>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "approve/approve.h"
#include "bolt11/bolt11.h"
#include "common/common.h"
#include "spend/spend.h"
#include "wallet/wallet.h"

namespace sw::pay {

// How a paying call takes part in the owner's approval, when the policy asks for one (approve.h).
struct ApprovalArgs {
  // wait: the call stays open (progress "waiting for the owner's approval, id …, until …") until the owner
  // decides or the approval expires. return_now: the call ends at once with APPROVAL_REQUIRED (budget held) and
  // the agent calls again with the same arguments once the owner decided.
  enum class Wait { wait, return_now } wait = Wait::wait;
  std::optional<std::string> approval_id;  // a retry may name the approval it continues (checked)
  approve::AskClient ask_client;            // elicitation in the caller's MCP client, when allowed
  std::string purpose;                      // what the payment is for, shown to the owner
};

struct PayRequest {
  std::string invoice;
  uint64_t max_sats = 0;                     // per-call cap given by the caller (sats, compared with the ceil)
  std::string client, envelope, domain, tool;
  std::string protocol = "bolt11";           // bolt11 | l402 | mpp
  std::optional<std::string> required_payment_hash;  // e.g. from the L402 macaroon identifier
  std::function<void(double progress, const std::string& message)> progress;  // may be empty
  std::function<bool()> cancelled;                                             // may be empty
  // Recorded in the reservation's own transaction (spend::ReserveRequest): the purchase this payment makes,
  // and the caller's idempotency key.
  std::optional<spend::PurchaseDraft> purchase;
  std::optional<spend::IdempotencyRef> idempotency;
  // A replay of an idempotency key whose payment settled: the outcome is rebuilt from this row and nothing is
  // sent (REPLAY_MISMATCH if the invoice is not that row's).
  std::optional<spend::Payment> resume;
  ApprovalArgs approval;
};

// A keysend (spontaneous payment to a node id). satwarden draws the preimage itself, so the payment hash — the
// ledger's double-pay and reconciliation key — is known before anything is sent.
struct KeysendRequest {
  std::string destination;  // payee node id: 66 hex chars, compressed secp256k1 point
  uint64_t amount_sats = 0;  // > 0
  uint64_t max_sats = 0;     // per-call cap given by the caller
  std::vector<wallet::KeysendParams::Tlv> tlv_records;  // types >= 65536 (custom records), values hex
  std::string client, envelope, tool;
  std::function<void(double progress, const std::string& message)> progress;
  std::function<bool()> cancelled;
  std::optional<spend::IdempotencyRef> idempotency;
  std::optional<spend::Payment> resume;  // as PayRequest::resume (our own preimage is in the row)
  ApprovalArgs approval;
};

// How the engine treats the wallet's answers (from the configuration).
struct PayerOptions {
  // The NWC pay request's reply timeout; its `expiration` tag is about this far ahead (see wallet/nwc.cpp).
  int64_t pay_timeout_s = 60;
  // Seconds after the request's expiration (clock skew between satwarden and the wallet) during which a NOT_FOUND from lookup_invoice still means "not yet".
  int64_t not_found_grace_s = 5;
  // true: the wallet is known to honour NIP-47 `expiration` (it never executes an expired request), so after
  // expiration + grace a NOT_FOUND means "never paid" and releases the budget. false (default): a NOT_FOUND
  // never concludes anything; the row stays `unknown` (budget held) until the wallet reports an outcome, a
  // notification arrives, or the owner resolves it (`satwarden payments resolve`).
  bool wallet_honours_expiration = false;
};

struct PayOutcome {
  bolt11::Invoice invoice;
  std::string payment_hash;
  std::string preimage;  // verified: sha256(preimage) == payment_hash, lowercase hex
  uint64_t amount_msat = 0;
  uint64_t fee_msat = 0;
  bool fee_reported = false;  // false: the wallet did not say; the reserved allowance was booked
  bool wallet_preimage = false;  // keysend only: the wallet ignored our preimage and used its own
  int64_t latency_ms = 0;
  int64_t ledger_id = 0;
};

// Owner approval: with a Hub set (set_approvals), a payment the policy sends to the owner is reserved with an
// approval and nothing is sent before it is approved (the ledger enforces it in mark_in_flight). A call for the
// same invoice/keysend by the same caller while its approval is open continues it (waits, or goes on once
// approved). After an approval the invoice is checked again (it may have expired while the owner decided).
// Errors: APPROVAL_REQUIRED (return_now), APPROVAL_DENIED, APPROVAL_TIMEOUT, APPROVAL_MISMATCH (approval_id names
// another payment), APPROVAL_UNAVAILABLE (approval needed but no Hub) — each saying nothing was paid.
// Error codes produced here (besides the wallet's and the ledger's — PURCHASE_EXISTS, IDEMPOTENCY_KEY_REUSED):
//   REPLAY_MISMATCH, INVALID_INVOICE, INVOICE_NO_AMOUNT, INVOICE_EXPIRED, NETWORK_MISMATCH, AMOUNT_EXCEEDS_MAX,
//   MACAROON_NOT_BOUND, WALLET_NOT_CONFIGURED, CANCELLED, PAYMENT_OUTCOME_UNKNOWN, WALLET_INVALID_PREIMAGE,
//   INVALID_ARGUMENT (keysend), WALLET_NOT_IMPLEMENTED (the wallet does not list pay_keysend).
// Test builds (CMake SW_FAILPOINTS, on by default; off in the Docker image): when SATWARDEN_FAILPOINT names a step
// (after_reserve, after_in_flight, after_reply) the process SIGKILLs itself there — the crash tests' way to stop
// at a step that lasts microseconds.
class Payer {
 public:
  Payer(wallet::Wallet* wallet, spend::Ledger* ledger, const Clock& clock = Clock::system(), PayerOptions opts = {});
  const PayerOptions& options() const { return opts_; }
  // Enables owner approvals (the Hub must outlive the Payer). Without one, a payment that needs approval is
  // refused with APPROVAL_UNAVAILABLE.
  void set_approvals(approve::Hub* hub) { approvals_ = hub; }
  approve::Hub* approvals() const { return approvals_; }
  // BTC prices for fiat caps (price::Source through these functions; it must outlive the Payer): before each
  // reservation the Payer asks `quotes` for the currencies of the policy's fiat caps and `display`; the ledger
  // refuses a payment a fiat cap applies to when its currency has no fresh price (PRICE_UNAVAILABLE, with `why`).
  struct PriceFeed {
    // Fresh prices for the fiat caps' currencies: cached, else fetched now (bounded).
    std::function<spend::Prices(const std::vector<std::string>& currencies)> quotes;
    // Fresh cached prices only, never fetching: the display currencies recorded with every payment.
    std::function<spend::Prices(const std::vector<std::string>& currencies)> cached;
    std::function<std::string(const std::string& currency)> why;
    std::vector<std::string> display;  // currencies recorded with every payment even without a cap in them
  };
  void set_prices(PriceFeed feed) { prices_ = std::move(feed); }
  const PriceFeed& prices() const { return prices_; }

  // Every pre-payment check; nothing is reserved or sent.
  Result<bolt11::Invoice> check(const PayRequest& rq);
  Result<PayOutcome> pay(const PayRequest& rq);
  Result<PayOutcome> keysend(const KeysendRequest& rq);

  // A wallet notification (from a background thread, never the relay loop): `payment_sent` with a preimage that
  // hashes to the payment hash settles a ledger row whose outcome was unknown, without waiting for the next
  // reconciliation. Returns true when a row changed state.
  bool on_notification(const wallet::Notification& n);

  // Looks up every `unknown` ledger row in the wallet and settles/fails it (start-up, background, and before a
  // related payment). Returns how many rows changed state.
  Result<spend::ReconcileSummary> reconcile();
  // The wallet's verdict on one payment hash (used by reconcile). A NOT_FOUND is "pending" while the original
  // request may still execute (before its expiration + grace), and after that too unless the wallet is known
  // to honour expiration (PayerOptions) — silence never turns a payment into "failed".
  Result<spend::LookupOutcome> lookup(const std::string& payment_hash);
  // Reconciles one payment now (lookup + ledger update) and returns its row afterwards.
  Result<spend::Payment> refresh(const std::string& payment_hash);

  // Validates a preimage against a payment hash: 64 hex chars and sha256 matches. Error WALLET_INVALID_PREIMAGE
  // saying what is wrong (length, not hex, hash mismatch) — never echoing the preimage.
  static Status verify_preimage(const std::string& preimage, const std::string& payment_hash_hex);

 private:
  Result<wallet::Info> wallet_info();
  // reserve → in_flight → send → verify → settle; `send` runs with the budget reserved and the row in flight.
  Result<PayOutcome> execute(const spend::ReserveRequest& rr, const std::function<bool()>& cancelled,
                             const std::function<void(double, const std::string&)>& progress,
                             const std::function<Result<wallet::PayResult>()>& send, bool sender_chose_preimage,
                             const ApprovalArgs& approval, const std::string& payee,
                             const std::function<Status()>& recheck);
  // Reserves (or, for an open approval of the same caller, takes over the earlier reservation) and waits for
  // the owner when the policy asks. Returns the reservation to pay with; `approval` is set when one applies.
  Result<spend::Reservation> reserve_and_approve(const spend::ReserveRequest& rr, const ApprovalArgs& args,
                                                 const std::string& payee, const std::function<bool()>& cancelled,
                                                 const std::function<void(double, const std::string&)>& progress,
                                                 std::optional<spend::Approval>& approval);
  approve::Hub* approvals_ = nullptr;
  PriceFeed prices_;
  wallet::Wallet* wallet_;
  spend::Ledger* ledger_;
  const Clock& clock_;
  PayerOptions opts_;
  std::mutex mu_;
  std::optional<wallet::Info> info_;  // cached from get_info (network, methods)
  std::shared_future<Result<wallet::Info>> info_flight_;  // the one get_info in progress (single flight)
  // Keysends left waiting for the owner's approval (APPROVAL_REQUIRED, or a wait that was cancelled): what the
  // caller asked (client, envelope, destination, amount, TLV records) → the preimage drawn for it. A keysend
  // draws its own preimage, so without this a retry "with the same arguments" would be a new payment with a new
  // approval; with it the retry continues the same payment hash (and approval) while that approval is open.
  // In memory only: after a restart such a retry asks the owner anew (the old approval expires unused).
  std::mutex keysend_mu_;
  std::map<std::string, std::string> keysend_waiting_;
};

// Outcome rebuilt from a settled ledger row (idempotent replays): amount, fee, preimage, hash.
PayOutcome outcome_from_row(const spend::Payment& row);

// Reads a credential file written before purchases existed (l402-tokens.json, format 1 or 2) and imports each
// credential into the ledger as a usable purchase of its owner; the file is then renamed to *.imported.
// Returns how many were imported. A missing file is not an error; an unreadable one is left in place (warning).
Result<size_t> import_legacy_token_file(spend::Ledger& ledger, const std::string& path);

}  // namespace sw::pay
