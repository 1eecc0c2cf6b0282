// sw::approve — the owner in the loop: waits for the owner's decision on a payment the policy sends to them, and
// reaches the owner through channels (the owner's Nostr client, a signed webhook, …; the CLI and the console
// decide through the ledger directly, from any process on the same data directory).
// What: the approval itself lives in the ledger (spend.h "approvals": created with the reservation, bound to it,
//   single-use, expiring, surviving restarts). The Hub announces new approvals to every channel, applies
//   decisions (the first valid one wins; the ledger records which channel decided), wakes the calls waiting for
//   them, expires overdue approvals (releasing their budget) once a second, and tells channels the outcome.
//   A waiting call sees decisions made by other processes (the CLI) by re-reading the ledger every `poll`.
// Thread-safety: Hub is thread-safe. Channel methods run on the Hub's own notifier thread, one at a time, never
//   on a paying call's thread; they may block (bounded) but delay the channels after them.
// Errors: values. await: CANCELLED (the call was cancelled; the approval stays pending until it expires), the
//   ledger's errors. Secrets (code, tokens) reach channels only; the Hub never logs them.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/common.h"
#include "spend/spend.h"

namespace sw::approve {

struct Options {
  int64_t timeout_s = 300;                     // a pending approval expires this long after it was asked for
  std::chrono::milliseconds poll{250};         // how often a waiting call re-reads the ledger
  std::chrono::milliseconds sweep{1000};       // how often overdue approvals are expired
};

// A way to reach the owner.
class Channel {
 public:
  virtual ~Channel() = default;
  virtual std::string name() const = 0;
  // A new approval: tell the owner what is asked and how to answer (the secrets this channel needs).
  virtual void request(const spend::Approval& a, const spend::ApprovalSecrets& secrets) = 0;
  // What became of it: "approved", "denied", "expired", "paid", "failed", "unknown".
  virtual void outcome(const spend::Approval& a, const std::string& what) = 0;
};

// The person's answer at the MCP client: approve (accept) or not (decline, or dismissed: cancel), and the reason
// recorded with a denial ("declined in the MCP client", "dismissed in the MCP client").
struct ClientAnswer {
  bool approve = false;
  std::string reason;
};
// Asks the person at the MCP client (elicitation) about one approval, blocking; an Error = no answer from this
// channel (the wait goes on). It must return soon (within ~100 ms) once `stop` is set: the wait ended another way
// and the question is withdrawn.
using AskClient =
    std::function<Result<ClientAnswer>(const spend::Approval&, const std::shared_ptr<std::atomic<bool>>& stop)>;

// The owner-facing summary of an approval: who wants to pay what to whom, for what, and why it needs approval.
std::string describe(const spend::Approval& a);
// The question put to the person at the MCP client (elicitation/create params, or an input request of the 2026
// era): everything is in the message; accept/decline are the client's own buttons, so the form asks for nothing else
// (an empty object schema).
json client_question(const spend::Approval& a);
// The person's answer from an elicitation action: "accept" approves; "decline" is a no; "cancel" (dismissed) is not
// a yes either — each with the reason recorded.
ClientAnswer client_answer(const std::string& action);
// "14:05 UTC" (same day) or "2026-12-05 14:05 UTC".
std::string utc_time(int64_t unix_s, int64_t now_s);

class Hub {
 public:
  explicit Hub(spend::Ledger& ledger, Options opts = {}, const Clock& clock = Clock::system());
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  const Options& options() const { return opts_; }
  void add_channel(std::shared_ptr<Channel> c);  // before start()
  std::vector<std::string> channel_names() const;
  // Starts the sweeper and notifier threads.
  void start();

  // What a reservation needs to create an approval.
  spend::ApprovalTerms terms(const std::string& payee, const std::string& purpose) const;
  // Queues a new approval to every channel.
  void announce(const spend::Approval& a, const spend::ApprovalSecrets& secrets);
  // Applies a decision (Ledger::decide_approval), wakes waiting calls and tells the channels.
  Result<spend::Approval> decide(const spend::ApprovalDecision& d);
  // Blocks until approval `public_id` is decided or expires (returns it then), or `cancelled()` (CANCELLED).
  // `tick` is called about every 10 s while waiting (progress for the client). `ask`, when set, runs at once on
  // its own thread (joined before await returns: it is stopped when the wait ends another way); its answer is
  // a decision from channel "elicitation".
  Result<spend::Approval> await(const std::string& public_id, const std::function<bool()>& cancelled,
                                const std::function<void(const spend::Approval&)>& tick, AskClient ask);
  // The payment's outcome after an approval, for the channels ("paid", "failed", "unknown").
  void tell_outcome(const spend::Approval& a, const std::string& what);
  // Expires overdue approvals now (the sweeper does this every second). Returns how many.
  size_t sweep();
  // MCP Apps: the per-approval nonce that only the approval's UI resource carries (ui://satwarden/approval/<id>),
  // never a model-visible result — an HMAC of the public id under a key made when the Hub is. The app-only tool
  // that decides from the app must present it (decide_from_app).
  std::string app_nonce(const std::string& public_id) const;
  // decide() for the MCP App (channel "mcp-app") after checking the nonce in constant time. Error
  // APPROVAL_NONCE_INVALID (nothing decided) besides decide()'s own.
  Result<spend::Approval> decide_from_app(const std::string& public_id, const std::string& nonce, bool approve,
                                          const std::string& reason);

 private:
  struct State;
  void notify(std::function<void()> job);
  void outcome_once(const spend::Approval& a, const std::string& what);
  spend::Ledger& ledger_;
  Options opts_;
  const Clock& clock_;
  std::shared_ptr<State> st_;
  std::array<uint8_t, 32> app_key_{};
};

}  // namespace sw::approve
