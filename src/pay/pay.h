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

#include "bolt11/bolt11.h"
#include "common/common.h"
#include "spend/spend.h"
#include "wallet/wallet.h"

namespace sw::pay {

struct PayRequest {
  std::string invoice;
  uint64_t max_sats = 0;                     // per-call cap given by the caller (sats, compared with the ceil)
  std::string client, envelope, domain, tool;
  std::string protocol = "bolt11";           // bolt11 | l402 | mpp
  std::optional<std::string> required_payment_hash;  // e.g. from the L402 macaroon identifier
  std::function<void(double progress, const std::string& message)> progress;  // may be empty
  std::function<bool()> cancelled;                                             // may be empty
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

// Error codes produced here (besides the wallet's and the ledger's):
//   INVALID_INVOICE, INVOICE_NO_AMOUNT, INVOICE_EXPIRED, NETWORK_MISMATCH, AMOUNT_EXCEEDS_MAX,
//   MACAROON_NOT_BOUND, WALLET_NOT_CONFIGURED, CANCELLED, PAYMENT_OUTCOME_UNKNOWN, WALLET_INVALID_PREIMAGE,
//   INVALID_ARGUMENT (keysend), WALLET_NOT_IMPLEMENTED (the wallet does not list pay_keysend).
// Test builds (CMake SW_FAILPOINTS, on by default; off in the Docker image): when SATWARDEN_FAILPOINT names a step
// (after_reserve, after_in_flight, after_reply) the process SIGKILLs itself there — the crash tests' way to stop
// at a step that lasts microseconds.
class Payer {
 public:
  Payer(wallet::Wallet* wallet, spend::Ledger* ledger, const Clock& clock = Clock::system());

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
  // The wallet's verdict on one payment hash (used by reconcile).
  Result<spend::LookupOutcome> lookup(const std::string& payment_hash);

  // Validates a preimage against a payment hash: 64 hex chars and sha256 matches. Error WALLET_INVALID_PREIMAGE
  // saying what is wrong (length, not hex, hash mismatch) — never echoing the preimage.
  static Status verify_preimage(const std::string& preimage, const std::string& payment_hash_hex);

 private:
  Result<wallet::Info> wallet_info();
  // reserve → in_flight → send → verify → settle; `send` runs with the budget reserved and the row in flight.
  Result<PayOutcome> execute(const spend::ReserveRequest& rr, const std::function<bool()>& cancelled,
                             const std::function<void(double, const std::string&)>& progress,
                             const std::function<Result<wallet::PayResult>()>& send, bool sender_chose_preimage);
  wallet::Wallet* wallet_;
  spend::Ledger* ledger_;
  const Clock& clock_;
  std::mutex mu_;
  std::optional<wallet::Info> info_;  // cached from get_info (network, methods)
  std::shared_future<Result<wallet::Info>> info_flight_;  // the one get_info in progress (single flight)
};

// Whose budget paid for a cached credential: the caller's client label (bearer-token label, "stdio",
// "http-anonymous"), its budget envelope ("" = none) and whether it is a token-authenticated (hosted) caller.
// A credential is handed back only to exactly the same owner, so one token never uses what another token's
// budget paid for (nor a token what the owner paid for on stdio, even with a label spelled "stdio").
struct TokenOwner {
  std::string client;
  std::string envelope;
  bool hosted = false;
  auto operator<=>(const TokenOwner&) const = default;
};

// L402 credentials cached per owner and origin (scheme://host:port) so later calls reuse them instead of paying
// again. An origin may hold several credentials (e.g. Aperture services with a macaroon per path): each remembers
// the paths it was paid for or accepted at, and get() prefers one known at the requested path.
// Persisted as JSON in the data directory with mode 0600 (they are bearer credentials: macaroon + preimage),
// rewritten atomically (temp file + fsync + rename). Thread-safe. MPP charge credentials are single-use and never
// cached. One process per file: a second process sharing the data directory may overwrite this one's additions.
// File format 2: {"version":2,"credentials":[{"client","envelope","hosted","origin","authorization","paths":[..]}]}
// (oldest first). A format-1 file ({"version":1,"tokens":{origin: header}}, keyed by origin only, written before
// credentials had owners) is read as belonging to the stdio owner ({"stdio", "", hosted=false}) with no known
// path — never to a token-authenticated caller — and rewritten in format 2 on the next change. An unreadable
// file, or one of a newer format, is ignored (with a warning) and replaced on the next change.
class TokenCache {
 public:
  static constexpr size_t kMaxPerOrigin = 8;        // credentials per owner + origin (oldest evicted)
  static constexpr size_t kMaxPaths = 32;           // remembered paths per credential (oldest forgotten)
  static constexpr size_t kMaxCredentials = 4096;   // in the whole cache (oldest evicted)

  explicit TokenCache(std::string path);
  // The Authorization header to try for `path` (no query) on `origin`: a credential paid for or accepted at this
  // very path; else the one whose known paths share the most leading segments with it; else the newest.
  std::optional<std::string> get(const TokenOwner& owner, const std::string& origin, const std::string& path);
  // Stores a credential just paid for at `path` (as the newest for that owner and origin).
  Status put(const TokenOwner& owner, const std::string& origin, const std::string& path,
             const std::string& authorization_header);
  // The server accepted `authorization_header` at `path`: remembered so that get() picks it there.
  Status accepted(const TokenOwner& owner, const std::string& origin, const std::string& path,
                  const std::string& authorization_header);
  // The server refused `authorization_header` at `path` (401, or 402 with a fresh L402 challenge). The credential
  // is dropped when it was paid for or accepted at that path, or when no path is known for it (a format-1 entry):
  // it expired or was revoked. Otherwise it is kept — it belongs to another part of the origin (another
  // service's macaroon) and stays valid there. Returns whether it was dropped.
  Result<bool> rejected(const TokenOwner& owner, const std::string& origin, const std::string& path,
                        const std::string& authorization_header);
  // Forgets every credential of `owner` for `origin`.
  Status drop(const TokenOwner& owner, const std::string& origin);
  size_t size();  // credentials held (all owners)

 private:
  struct Entry {
    TokenOwner owner;
    std::string origin;
    std::string header;
    std::vector<std::string> paths;  // oldest first; empty: unknown (format-1 entry, treated as origin-wide)
  };
  void load_locked();
  Status save_locked();
  std::vector<Entry>::iterator find_locked(const TokenOwner& owner, const std::string& origin,
                                           const std::string& header);
  std::string path_;
  std::mutex mu_;
  bool loaded_ = false;
  std::vector<Entry> entries_;  // oldest first
};

}  // namespace sw::pay
