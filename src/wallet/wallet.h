// sw::wallet — the user's Lightning wallet as seen by satwarden: an abstract Wallet (so the payment engine can be
// tested with an in-process wallet) and NwcWallet, its Nostr Wallet Connect (NIP-47) implementation over a relay pool.
// NwcWallet: reads the 13194 info event once (capabilities, encryption: nip44_v2 when offered, else nip04), sends
// kind-23194 requests (p / encryption / expiration tags) after subscribing for replies (one subscription per
// connection — kind 23195, authors = wallet, #p = our key — because relays cap per-connection subscriptions; each
// reply is matched to its request by its e tag), accepts only replies whose id, signature, author, p and e tags
// check out, dedupes replies that arrive through several relays, maps every NIP-47 error code to a stable code,
// times out per method, and passes on verified payment notifications (23196/23197).
// Thread-safety: every method may be called concurrently from tool threads. Errors: Result values with the codes
// below; messages never contain the NWC secret, and never a preimage.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/common.h"

namespace sw::wallet {

// Stable error codes (NIP-47 code → ours).
//   RATE_LIMITED→WALLET_RATE_LIMITED  NOT_IMPLEMENTED→WALLET_NOT_IMPLEMENTED  INSUFFICIENT_BALANCE→INSUFFICIENT_BALANCE
//   QUOTA_EXCEEDED→WALLET_QUOTA_EXCEEDED  RESTRICTED→WALLET_RESTRICTED  UNAUTHORIZED→WALLET_UNAUTHORIZED
//   INTERNAL→WALLET_INTERNAL  UNSUPPORTED_ENCRYPTION→WALLET_UNSUPPORTED_ENCRYPTION  PAYMENT_FAILED→PAYMENT_FAILED
//   NOT_FOUND→NOT_FOUND  OTHER and anything unknown→WALLET_OTHER
// Local: WALLET_NOT_CONFIGURED, INVALID_NWC_URL, WALLET_TIMEOUT (no reply in time), RELAY_UNREACHABLE (no relay
// took the request; names them), INVALID_WALLET_RESPONSE (undecryptable or malformed reply).
std::string map_nip47_code(const std::string& nip47_code);

// Whether a failed pay_* definitely did not pay (budget may be released) or the outcome is unknown
// (keep the reservation, reconcile with lookup_invoice). Timeouts, INTERNAL, OTHER and malformed replies are
// unknown; so is any error after the request reached a relay unless the wallet said it definitely failed.
bool is_definite_payment_failure(const Error& e);
// The capabilities/notification types of a 13194 info event's content or tag: space separated (early Alby used
// commas); lenient about commas, pipes, tabs and newlines, empty entries dropped.
std::vector<std::string> split_capabilities(std::string_view s);

struct Info {
  std::string alias;
  std::string pubkey;
  std::string network;  // mainnet | testnet | signet | regtest ("" when the wallet does not say)
  int64_t block_height = 0;
  std::vector<std::string> methods;        // from get_info, else from the info event
  std::vector<std::string> notifications;  // payment_received, payment_sent, …
  std::string encryption;                  // the scheme we use with this wallet: nip44_v2 | nip04
  json raw;                                // the wallet's get_info result as sent
};

struct PayResult {
  std::string preimage;  // as the wallet sent it (verified by the caller against the payment hash)
  std::optional<uint64_t> fees_paid_msat;
};

struct Transaction {
  json raw;  // NIP-47 transaction object (type, state, invoice, payment_hash, amount, fees_paid, …)
};

// pay_keysend: a spontaneous payment to a node. satwarden always supplies the preimage (random, 32 bytes) so the
// payment hash is known before sending: the ledger's double-pay guard and reconciliation key on it.
struct KeysendParams {
  std::string pubkey;        // payee node id, 33-byte compressed key, hex
  uint64_t amount_msat = 0;  // > 0
  std::string preimage;      // 64 hex
  struct Tlv {
    uint64_t type = 0;
    std::string value_hex;
  };
  std::vector<Tlv> tlv_records;
};

// A wallet notification (NIP-47 kinds 23196/23197), after its id, signature, author and p tag were checked.
struct Notification {
  std::string type;  // payment_received | payment_sent | … (as the wallet named it)
  json transaction;  // the NIP-47 transaction object
};
using NotificationHandler = std::function<void(const Notification&)>;

struct MakeInvoiceParams {
  uint64_t amount_msat = 0;
  std::string description;
  std::string description_hash;
  std::optional<uint64_t> expiry_seconds;
};

struct ListParams {
  std::optional<int64_t> from, until;
  std::optional<int> limit, offset;
  bool unpaid = false;
  std::string type;  // "" | incoming | outgoing
};

class Wallet {
 public:
  virtual ~Wallet() = default;
  virtual Result<Info> get_info() = 0;
  virtual Result<uint64_t> get_balance_msat() = 0;
  // amount_msat only for amountless invoices.
  virtual Result<PayResult> pay_invoice(const std::string& invoice, std::optional<uint64_t> amount_msat) = 0;
  virtual Result<json> make_invoice(const MakeInvoiceParams& p) = 0;
  // By payment hash (hex) or invoice; exactly one non-empty.
  virtual Result<json> lookup_invoice(const std::string& payment_hash, const std::string& invoice) = 0;
  virtual Result<json> list_transactions(const ListParams& p) = 0;
  virtual Result<json> get_budget() = 0;
  virtual Result<PayResult> pay_keysend(const KeysendParams& p) = 0;
  // Delivers wallet notifications (where the wallet offers them) to `h`, on a background thread. Set once,
  // before notifications are expected; wallets without notifications never call it.
  virtual void set_notification_handler(NotificationHandler h) = 0;
};

}  // namespace sw::wallet
