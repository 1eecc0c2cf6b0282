// sw::purchase — buying access to paid HTTP resources (L402 / MPP paywalls) as purchases, not invoices.
// A paywall issues a fresh invoice for every 402, so the payment hash alone cannot stop a second purchase of the
// same thing. Paywall::access() fetches a URL and, on 402, buys at most one credential per owner and scope
// (origin + path, or the L402 service named by the macaroon): the purchase row is written in the reservation's
// transaction; while it is pending or usable, a 402 for that scope reuses its credential (settled), waits for
// it (in flight), or refuses with PAYMENT_PENDING (outcome unknown) — it never pays again. Credentials are sent
// only where they were paid for or accepted (or for the same service); one refused with 401/402 is retried once
// without, and the clean answer decides. MPP credentials are single-use (consumed when accepted).
// Thread-safety: Paywall is thread-safe (the payer, ledger and fetcher are). Errors: Result values with stable
// codes (INVALID_CHALLENGE, UNSUPPORTED_CHALLENGE, MACAROON_NOT_BOUND, MACAROON_UNBOUND, CHALLENGE_EXPIRED,
// PAYMENT_PENDING, STILL_PAYMENT_REQUIRED, IDEMPOTENT_REPLAY_WOULD_PAY, and the payer's); each says whether
// anything was paid. No message carries a preimage or credential.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "challenge/challenge.h"
#include "common/common.h"
#include "fetch/fetch.h"
#include "pay/pay.h"
#include "spend/spend.h"

namespace sw::purchase {

// What to do with an L402 macaroon whose identifier cannot be read (no payment hash to check the invoice
// against): refuse (MACAROON_UNBOUND, nothing paid) or allow (pay; the result and the purchase say
// binding "unverified"). A readable identifier that does not match the invoice is always MACAROON_NOT_BOUND.
enum class Unbound { refuse, allow };

struct L402Binding {
  std::optional<std::string> payment_hash;  // lowercase hex; nullopt when the identifier could not be read
  std::string binding;                      // "verified" | "unverified"
  std::string layout;                       // how the identifier was read ("binary", "hex", "" when unreadable)
};
// Decodes the macaroon (INVALID_CHALLENGE if it does not decode) and reads its L402 identifier under `policy`.
Result<L402Binding> l402_binding(const std::string& macaroon_b64, Unbound policy);

// The fetcher (lives in the on-demand HTTP module; injected so this engine does not load it).
using FetchFn = std::function<Result<fetch::Response>(const fetch::Request&, const fetch::Options&,
                                                      std::function<bool()>)>;

struct Options {
  fetch::Options fetch;
  Unbound unbound = Unbound::refuse;
  // How long a call waits for another call's in-flight purchase of the same scope before answering
  // PAYMENT_PENDING (bounded; defaults to the pay timeout + 5 s at construction when 0).
  int64_t wait_for_inflight_s = 0;
};

struct AccessRequest {
  std::string url;
  std::string method = "GET";
  std::vector<std::pair<std::string, std::string>> headers;  // Authorization is dropped (satwarden supplies it)
  std::string body;
  uint64_t max_sats = 0;
  spend::Owner owner;  // whose purchases (client label + envelope + hosted)
  std::optional<spend::IdempotencyRef> idempotency;
  bool never_pay = false;  // an idempotent replay: use what was bought, never buy
  std::function<void(double step, const std::string& message)> progress;  // steps 1..5; may be empty
  std::function<bool()> cancelled;                                       // may be empty
  // The owner's approval (pay.h ApprovalArgs). A call while this scope's purchase waits for the owner continues
  // that purchase (its original invoice and challenge) instead of buying again.
  pay::ApprovalArgs approval;
};

struct AccessResult {
  fetch::Response response;
  bool paid = false;             // this call paid
  bool used_credential = false;  // served with a credential bought earlier (nothing paid now)
  std::string protocol;          // "L402" | "MPP" when paid
  uint64_t amount_msat = 0, fee_msat = 0;
  std::string payment_hash, preimage;  // when paid (preimage: secret — never log)
  std::string authorization;           // the credential this call paid for ("" when none)
  std::string binding;                 // "verified" | "unverified" | "" (MPP / not paid)
  int64_t purchase_id = 0;
  std::string message;                 // what happened, for the agent
};

class Paywall {
 public:
  Paywall(pay::Payer* payer, spend::Ledger* ledger, FetchFn fetch, Options opts, const Clock& clock = Clock::system());
  Result<AccessResult> access(const AccessRequest& rq);

 private:
  struct Call;
  pay::Payer* payer_;
  spend::Ledger* ledger_;
  FetchFn fetch_;
  Options opts_;
  const Clock& clock_;
};

// ---- idempotency keys (Stripe's model; see spend::IdempotencyRecord)
// A paying call's outcome, as the tools return it (mirrors mcp::ToolOutcome without depending on MCP).
struct CallOutcome {
  bool is_error = false;
  json structured;
  Error error;
};
struct IdempotentContext {
  std::optional<spend::IdempotencyRef> ref;  // pass on to the payer (links the key to the reservation)
  std::optional<spend::Payment> resume;      // replay of a key whose payment settled: rebuild, never send
  bool replay = false;                       // any replay: never pay
};
// Runs `body` at most once per (owner, key) with these arguments (`args` without idempotency_key, hashed):
//   no key → body runs as usual;
//   first use → body runs; its outcome is stored once a payment was reserved (an outcome reached before any
//     reservation — validation, policy refusal — is not stored, so the key stays free, as in Stripe);
//   same key, same arguments → the stored outcome; when that outcome was "unknown", the payment is looked up
//     again: settled → body replays with `resume` (nothing sent), failed → PAYMENT_FAILED (nothing was paid),
//     still unknown → PAYMENT_PENDING; a call still running in this process is waited for (bounded); one left
//     by a crash follows its payment the same way;
//   same key, other tool or arguments → IDEMPOTENCY_KEY_REUSED.
CallOutcome run_idempotent(spend::Ledger& ledger, pay::Payer* payer, const spend::Owner& owner,
                           const std::optional<std::string>& key, const std::string& tool, const json& args,
                           const std::function<CallOutcome(const IdempotentContext&)>& body);

// The Authorization header a purchase's credential makes (L402 macaroon + preimage, MPP challenge echo +
// preimage, or the imported header). Error when the purchase is not usable. An L402 purchase's challenge text is
// its macaroon (presented as "L402 …"), or "LSAT <macaroon>" when it was bought on an LSAT challenge (presented
// as "LSAT …": lsat-js/boltwall servers accept no other scheme).
Result<std::string> credential_header(const spend::Purchase& p);

// MPP challenge <-> the JSON stored in a purchase row.
json mpp_to_json(const challenge::MppChallenge& c);
Result<challenge::MppChallenge> mpp_from_json(const std::string& text);

// PAYMENT_PENDING for a payment whose outcome is not known yet (names it, since when, when it is checked next,
// and says nothing new was paid).
Error payment_pending(const spend::Payment& row, int64_t now);

}  // namespace sw::purchase
