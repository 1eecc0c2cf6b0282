// NwcWallet: the Wallet interface over Nostr Wallet Connect (NIP-47). Included via wallet.h's contract;
// this header adds the concrete type and its options. Thread-safe; see wallet.h.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>

#include "wallet/wallet.h"

namespace sw::wallet {

struct NwcOptions {
  // Per-method reply timeouts (Alby's defaults: 60 s to pay, 10 s to read).
  std::chrono::milliseconds pay_timeout{60000};
  std::chrono::milliseconds read_timeout{10000};
  std::chrono::milliseconds publish_timeout{5000};  // how long to wait for a relay to accept a request
  std::chrono::milliseconds info_timeout{5000};     // waiting for the 13194 info event
  std::string ca_file;                              // extra CA bundle for wss:// (tests)
  const Clock* clock = &Clock::system();
  // Called after every NIP-47 request with its method, how long it took and its outcome ("ok" or the error code),
  // on the requesting thread (metrics). Must not block.
  std::function<void(const std::string& method, std::chrono::nanoseconds took, const std::string& outcome)> on_request;
};

// The decrypted body of a NIP-47 reply / notification, decoded (pure; NwcWallet's, exposed for tests). JSON that
// nests deeper than kMaxWalletJsonDepth levels is refused before it is parsed (NIP-47 bodies nest a few), like
// any other unreadable body. decode_nwc_reply: `result`, or the wallet's error mapped (map_nip47_code), or
// INVALID_WALLET_RESPONSE (not an object, too deep, no result, a result_type other than `method`) — an outcome
// that does not say whether a payment happened. decode_nwc_notification: nullopt when malformed or too deep.
inline constexpr size_t kMaxWalletJsonDepth = 64;
Result<json> decode_nwc_reply(const std::string& method, std::string_view plaintext);
std::optional<Notification> decode_nwc_notification(std::string_view plaintext);

class NwcWallet final : public Wallet {
 public:
  // Parses the URI (error INVALID_NWC_URL, never echoing the secret) and starts connecting to its relays in the
  // background. Connecting does not block: the first request waits for relays up to the publish timeout.
  static Result<std::unique_ptr<NwcWallet>> connect(const std::string& nwc_uri, NwcOptions options = {});
  ~NwcWallet() override;

  Result<Info> get_info() override;
  Result<uint64_t> get_balance_msat() override;
  Result<PayResult> pay_invoice(const std::string& invoice, std::optional<uint64_t> amount_msat) override;
  Result<json> make_invoice(const MakeInvoiceParams& p) override;
  Result<json> lookup_invoice(const std::string& payment_hash, const std::string& invoice) override;
  Result<json> list_transactions(const ListParams& p) override;
  Result<json> get_budget() override;
  Result<PayResult> pay_keysend(const KeysendParams& p) override;
  // Subscribes (on every relay, resubscribed after reconnects) to kinds 23196 (NIP-04) and 23197 (NIP-44) from
  // the wallet tagged to our key; each notification is verified (id, signature, author, p tag) before it is
  // decrypted, deduplicated (several relays; dual-mode wallets send both kinds) and handed to `h` on the relay
  // thread — `h` must not block (queue the work).
  void set_notification_handler(NotificationHandler h) override;
  uint64_t notifications_received() const;

  // One raw NIP-47 request (method + params) with the given timeout. Returns `result` or a mapped Error.
  Result<json> request(const std::string& method, const json& params, std::chrono::milliseconds timeout);
  // Relays and their state, for diagnostics (url → "connected" | "connecting" | "backoff" | …).
  std::map<std::string, std::string> relay_states() const;
  // The wallet's info event (kind 13194) has been read, or every relay said there is none: requests can be
  // encrypted the way the wallet wants. False until the first request (or readiness probe) has looked.
  bool info_known() const;
  // Starts reading the info event if nothing has yet and waits for it at most `wait` (single flight with the
  // requests' own reads). True once known.
  bool ensure_info(std::chrono::milliseconds wait);
  std::string client_pubkey() const;
  std::string wallet_pubkey() const;

  struct Impl;

 private:
  explicit NwcWallet(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sw::wallet
