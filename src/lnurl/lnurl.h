// sw::lnurl — paying Lightning addresses (LUD-16 name@domain) and LNURL-pay links (LUD-01 bech32 "lnurl1…",
// LUD-17 "lnurlp://…") with every check a careful wallet makes, through the payment engine every payment uses.
// Flow: resolve (the target → its https URL; GET through the SSRF-guarded fetcher, no redirects; a payRequest:
//   callback, minSendable/maxSendable, metadata, commentAllowed — LUD-06/12) → quote (amount within the range,
//   comment length) → callback (GET callback?amount=<msat>[&comment=…]; {"pr":…} or {"status":"ERROR"}) → check
//   the invoice (exactly the amount asked; description_hash == SHA-256 of the metadata as received; otherwise
//   refused, nothing paid) → pay (pay::Payer: max_sats, budget and per-domain caps of the target's domain, allow/
//   deny lists, approvals, NWC, preimage check, ledger) → success action (LUD-09 message and url — the url is
//   shown, never fetched; LUD-10 aes decrypted with the preimage).
// http:// targets and callbacks are refused unless their host is in the fetch allow-list (local tests) or a
// .onion; the fetcher refuses private addresses unless allow-listed (a callback may be on another host, as LUD-06
// allows, but never plain http or private); redirects are not followed.
// Thread-safety: Payments is thread-safe; the parsing functions are pure. Errors: values with stable codes —
// LNURL_INVALID (the target), LNURL_UNREACHABLE, LNURL_BAD_RESPONSE, LNURL_ERROR (the service answered
// {"status":"ERROR"}), LNURL_NOT_PAY (another tag), AMOUNT_OUT_OF_RANGE, COMMENT_NOT_ALLOWED,
// LNURL_INVOICE_MISMATCH, URL_FORBIDDEN — each message says nothing was paid — besides the payment engine's.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bolt11/bolt11.h"
#include "common/common.h"
#include "fetch/fetch.h"
#include "pay/pay.h"

namespace sw::lnurl {

// What the agent named.
struct Target {
  std::string kind;     // "address" | "lnurl"
  std::string address;  // name@domain (addresses)
  std::string url;      // the first request's URL
  std::string domain;   // its host: the budget's domain for this payment
};
// "name@domain" (LUD-16; "lightning:" and "₿" prefixes allowed), "lnurl1…" (LUD-01, either case), "lnurlp://…"
// (LUD-17), or an https:// URL. `allow` is the fetch allow-list: only there may a URL be plain http.
Result<Target> parse_target(std::string_view text, const std::vector<std::string>& allow);

// A payRequest (LUD-06), checked.
struct PayRequest {
  std::string callback;      // absolute URL (https, or http on an allow-listed host)
  uint64_t min_msat = 0, max_msat = 0;
  std::string metadata;      // the raw metadata string; the invoice commits to its SHA-256
  std::string description;   // text/plain from the metadata
  std::string long_description;  // text/long-desc, if any
  std::string identifier;    // text/identifier or text/email, if any
  bool has_image = false;
  uint32_t comment_allowed = 0;  // LUD-12: longest comment accepted (0 = none)
  std::string domain;        // the target's domain
};
inline constexpr size_t kMaxMetadataBytes = 64 * 1024;
Result<PayRequest> parse_pay_request(const std::string& body, const Target& target,
                                     const std::vector<std::string>& allow);

// The invoice from the callback must be for exactly `amount_msat` and commit to the metadata (LUD-06).
Status check_invoice(const bolt11::Invoice& inv, uint64_t amount_msat, const PayRequest& pr);

// A success action (LUD-09/10), shown to the agent. aes: `text` is the decrypted plaintext (key = the preimage);
// a url is never fetched.
struct SuccessAction {
  std::string tag;  // "message" | "url" | "aes"
  std::string message, url, description, text;
  std::string problem;  // why it could not be shown (malformed; aes that does not decrypt) — the payment stands
};
std::optional<SuccessAction> parse_success_action(const json& sa, const std::string& preimage_hex);

using FetchFn = std::function<Result<fetch::Response>(const fetch::Request&, const fetch::Options&,
                                                      std::function<bool()> cancelled)>;

class Payments {
 public:
  // fetch_options: the fetcher's (allow-list, limits); redirects are never followed here.
  Payments(pay::Payer* payer, spend::Ledger* ledger, FetchFn fetch, fetch::Options fetch_options);

  Result<PayRequest> resolve(const Target& t, const std::function<bool()>& cancelled = {}) const;

  struct PayArgs {
    Target target;
    uint64_t amount_msat = 0;
    uint64_t max_sats = 0;
    std::string comment;
    std::string client, envelope, tool;
    std::function<void(double, const std::string&)> progress;
    std::function<bool()> cancelled;
    std::optional<spend::IdempotencyRef> idempotency;
    std::optional<spend::Payment> resume;  // an idempotent replay: no new invoice is asked for
    pay::ApprovalArgs approval;            // approval_id continues the payment (and invoice) it names
  };
  struct Paid {
    pay::PayOutcome outcome;
    std::optional<PayRequest> request;  // absent on a replay
    std::optional<SuccessAction> success;
  };
  Result<Paid> pay(const PayArgs& a) const;

 private:
  Result<json> get_json(const std::string& url, const std::function<bool()>& cancelled, const char* what) const;
  pay::Payer* payer_;
  spend::Ledger* ledger_;
  FetchFn fetch_;
  fetch::Options fopts_;
};

}  // namespace sw::lnurl
