// sw::spend — spend policy and crash-safe payment ledger ("never overspend, never pay twice").
// Contract: a Ledger owns one SQLite file (WAL, synchronous=FULL, mode 0600, schema versioned by user_version).
//   reserve() checks the double-pay guard (by payment hash, survives restarts), envelope, protocols, allow/deny
//   lists, per-call caps, rolling windows and lifetime caps (global and every matching domain entry) and inserts
//   a `reserved` row, all in ONE `BEGIN IMMEDIATE` transaction. Rows in reserved/in_flight/unknown/settled count
//   against budgets (amount + fee allowance until settled, then amount + actual fee); failed/released do not.
//   The caller MUST call mark_in_flight() before a payment request leaves the process: a crash leftover in
//   `reserved` is treated as never sent and released by recover_after_crash(). Policy changes at run time go
//   through tighten() only; they persist in the file, so a restart never loosens.
// Thread-safety: a Ledger is safe to share between threads. Concurrent callers are group-committed (their
//   statements share one transaction and one fsync, each in its own savepoint; every call returns only after
//   its commit is durable). Several Ledger objects / processes on one file are safe (IMMEDIATE + busy_timeout).
//   WAL checkpoints run on a background thread with its own connection, not inside a caller's commit; a
//   caller checkpoints only if the WAL passes a hard bound (LedgerOptions::wal_max_frames), so WAL growth stays
//   bounded.
// Errors: values (never exceptions). Codes: BUDGET_EXCEEDED, DOMAIN_NOT_ALLOWED, PROTOCOL_NOT_ALLOWED,
//   ALREADY_PAID, PAYMENT_IN_PROGRESS, PAYMENT_STATE_UNKNOWN, ENVELOPE_UNKNOWN, ENVELOPE_EXPIRED,
//   ILLEGAL_TRANSITION, PAYMENT_NOT_FOUND, POLICY_LOOSEN_REFUSED, POLICY_INVALID, INVALID_ARGUMENT,
//   INVALID_CURSOR, LEDGER_BUSY, LEDGER_SCHEMA_TOO_NEW, LEDGER_ERROR. Preimages are stored in the ledger row
//   (the L402 token cache needs them) but never appear in logs, messages or error details.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/common.h"

namespace sw::spend {

// ---------------------------------------------------------------- vocabulary
enum class State { reserved, in_flight, settled, failed, released, unknown };
const char* state_name(State s);
std::optional<State> parse_state(std::string_view s);
// reserved → in_flight | released | failed;  in_flight → settled | failed | released | unknown;
// unknown → settled | failed;  settled, failed, released are final.
bool transition_allowed(State from, State to);
// reserved, in_flight, unknown, settled.
bool counts_against_budget(State s);

// "bolt11" | "l402" | "mpp" | "keysend"
const std::vector<std::string>& all_protocols();

// Rolling windows (seconds). A row is inside a window when created_at > now - seconds. month = 30 days.
enum class Window { hour, day, week, month };
constexpr int64_t window_seconds(Window w) {
  return w == Window::hour ? 3600 : w == Window::day ? 86400 : w == Window::week ? 7 * 86400 : 30 * 86400;
}
const char* window_name(Window w);

// Largest accepted amount or cap (21 million BTC in msat): keeps every sum inside int64.
constexpr uint64_t kMaxMsat = 2'100'000'000'000'000'000ULL;

// ---------------------------------------------------------------- policy
struct Caps {
  std::optional<uint64_t> per_call_msat;  // compared with the invoice amount (fees are budgeted by the windows)
  std::optional<uint64_t> hour_msat, day_msat, week_msat, month_msat;
  std::optional<uint64_t> lifetime_msat;
  std::optional<uint64_t>& window(Window w);
  const std::optional<uint64_t>& window(Window w) const;
  bool operator==(const Caps&) const = default;
};

inline Caps default_global_caps() {
  Caps c;
  c.per_call_msat = 1'000'000;
  return c;
}

// Fee allowance reserved with each payment: max(base_msat, ceil(amount * ppm / 1e6)).
struct FeeAllowance {
  uint64_t base_msat = 10'000;
  uint32_t ppm = 5'000;
  uint64_t for_amount(uint64_t amount_msat) const;
  bool operator==(const FeeAllowance&) const = default;
};

// Domain patterns: "api.example.com" matches exactly; "*.example.com" matches any subdomain (not the apex).
// Domains are compared lowercase without a trailing dot. Domain lists and domain caps apply to payments made
// for a domain (L402/MPP/URL flows); a payment with an empty domain (a plain invoice) is not domain-scoped —
// remove its protocol from `protocols` to forbid it.
struct Policy {
  Caps global = default_global_caps();     // max 1000 sats per call, no windows
  std::map<std::string, Caps> domains;      // pattern → caps; every matching entry AND the global caps must pass
  FeeAllowance fee;
  std::optional<std::vector<std::string>> allow_domains;  // nullopt: no allow list; [] allows no domain at all
  std::vector<std::string> deny_domains;                  // deny wins over allow
  std::vector<std::string> protocols = all_protocols();   // allowed protocols
  bool operator==(const Policy&) const = default;
};

bool domain_matches(std::string_view pattern, std::string_view domain);
// Lowercases, strips one trailing dot, sorts/dedupes lists; POLICY_INVALID on a bad pattern/protocol/cap.
Result<Policy> normalize_policy(Policy p);
// OK when `proposed` is at least as strict as `current` in every field; else POLICY_LOOSEN_REFUSED with
// details {field, fields:[...]} naming the loosened fields (e.g. "global.day_msat", "allow_domains").
// A higher fee allowance is stricter (it reserves more).
Status check_tighter(const Policy& current, const Policy& proposed);
// The strictest combination of both (min caps, intersection of allow lists and protocols, union of denials,
// larger fee allowance).
Policy stricter_of(const Policy& a, const Policy& b);

// JSON (config section "policy"). Amount keys take either *_sats or *_msat (not both):
//   {"max_sats":1000, "hour_sats":..,"day_sats":..,"week_sats":..,"month_sats":..,"lifetime_sats":..,
//    "fee":{"base_msat":10000,"ppm":5000}, "allow_domains":[..], "deny_domains":[..],
//    "protocols":["bolt11","l402","mpp","keysend"], "domains":{"*.example.com":{"day_sats":..}}}
// A missing key keeps the default; null removes a cap ("max_sats": null = no per-call cap).
Result<Policy> policy_from_json(const json& j);
json policy_to_json(const Policy& p);  // msat keys; round-trips through policy_from_json

// ---------------------------------------------------------------- envelopes (hosted budgets)
struct Envelope {
  std::string name;
  uint64_t cap_msat = 0;                                // over all counted rows reserved with this envelope
  std::optional<int64_t> expires_at;                    // unix seconds; reservations at/after it are refused
  std::optional<std::vector<std::string>> protocols;    // nullopt: whatever the policy allows
  // Relative lifetime. Ledger::set_envelopes() anchors it in the ledger file and replaces expires_at with
  // anchored_at + ttl_seconds, so a restart never extends it (see set_envelopes).
  std::optional<int64_t> ttl_seconds;
};
// [{"name":"team-a","cap_sats":5000,"expires_at":1767225600 | "ttl_seconds":86400,"protocols":[..]}]
// ttl_seconds is kept, with a provisional expires_at = now + ttl (final once set_envelopes() anchors it).
Result<std::vector<Envelope>> envelopes_from_json(const json& j, int64_t now);

// ---------------------------------------------------------------- ledger rows
struct ReserveRequest {
  std::string client;        // MCP client / token label
  std::string domain;        // may be empty
  std::string tool;
  std::string protocol;      // one of all_protocols()
  std::string invoice;
  std::string payment_hash;  // 64 hex chars (stored lowercase)
  uint64_t amount_msat = 0;  // > 0
  std::optional<std::string> envelope;
};

struct Reservation {
  int64_t id = 0;
  std::string payment_hash;
  uint64_t amount_msat = 0;
  uint64_t max_fee_msat = 0;  // fee allowance reserved; the wallet call should not exceed it
};

struct Payment {
  int64_t id = 0;
  std::string client, envelope, domain, tool, protocol, invoice, payment_hash;
  uint64_t amount_msat = 0, max_fee_msat = 0;
  std::optional<uint64_t> fee_msat;  // actual, set when settled
  State state = State::reserved;
  std::string error_code;
  std::string preimage;  // hex, "" until settled. Secret-ish: never log it.
  int64_t created_at = 0, updated_at = 0;
  std::optional<int64_t> settled_at, latency_ms;
  uint64_t counted_msat() const;  // what it counts against budgets now (0 for failed/released)
};
json to_json(const Payment& p, bool include_preimage = false);

// ---------------------------------------------------------------- queries
struct WindowStatus {
  std::string window;  // "hour"|"day"|"week"|"month"|"lifetime"
  std::optional<uint64_t> limit_msat;
  uint64_t spent_msat = 0;
  std::optional<uint64_t> remaining_msat;  // only with a limit
  std::optional<int64_t> next_rolloff;     // when the oldest counted row leaves the window (not for lifetime)
};
struct ScopeStatus {
  std::string scope;  // "global" | "domain:<pattern>" | "envelope:<name>"
  std::optional<uint64_t> per_call_msat;
  std::vector<WindowStatus> windows;  // for envelopes: one "lifetime" entry
  std::optional<int64_t> expires_at;  // envelopes
};
struct StatusReport {
  int64_t now = 0;
  ScopeStatus global;
  std::vector<ScopeStatus> domains;
  std::vector<ScopeStatus> envelopes;
  uint64_t pending_count = 0;  // reserved + in_flight + unknown rows
  uint64_t unknown_count = 0;
};
json to_json(const StatusReport& s);

struct ListQuery {
  std::optional<int64_t> since;  // created_at >= since
  std::optional<std::string> domain, client, envelope;
  std::optional<State> state;
  size_t limit = 50;             // 1..500
  std::optional<std::string> cursor;  // from Page::next_cursor
};
struct Page {
  std::vector<Payment> items;  // newest first
  std::optional<std::string> next_cursor;
};

struct ReportBucket {
  uint64_t settled_count = 0, settled_amount_msat = 0, settled_fee_msat = 0;
  uint64_t pending_count = 0, pending_msat = 0;  // reserved/in_flight/unknown, counted with fee allowance
  uint64_t unknown_count = 0, failed_count = 0, released_count = 0;
};
struct SpendReport {
  int64_t since = 0, until = 0;  // created_at in [since, until)
  ReportBucket total;
  std::map<std::string, ReportBucket> by_domain;  // "" = no domain
  std::map<std::string, ReportBucket> by_day;     // "YYYY-MM-DD" (UTC)
};
json to_json(const SpendReport& r);

// ---------------------------------------------------------------- reconciliation
struct LookupOutcome {
  enum class Kind { settled, failed, pending } kind = Kind::pending;
  std::optional<uint64_t> fee_msat;  // when settled; unknown → the reserved allowance is kept as the fee
  std::string preimage;              // when settled (hex)
  std::string error_code;            // when failed
};
using Lookup = std::function<Result<LookupOutcome>(const std::string& payment_hash)>;
struct ReconcileSummary {
  size_t examined = 0, settled = 0, failed = 0, pending = 0, lookup_errors = 0;
};
struct RecoverySummary {
  size_t released = 0;        // stale `reserved` (never sent)
  size_t marked_unknown = 0;  // stale `in_flight` (may have been sent)
};

// ---------------------------------------------------------------- the ledger
struct LedgerOptions {
  int busy_timeout_ms = 5000;
  // true: PRAGMA synchronous=FULL (default; the product always uses it). false: NORMAL — benchmarks only.
  bool synchronous_full = true;
  size_t max_batch = 64;  // group-commit batch size
  // WAL checkpoints run on a background thread from checkpoint_frames WAL frames on; a committing caller
  // checkpoints itself only when the WAL reaches wal_max_frames (the background one found no quiet moment to
  // finish), which bounds the WAL at about wal_max_frames pages. wal_max_frames >= checkpoint_frames >= 1.
  int checkpoint_frames = 1000;
  int wal_max_frames = 8000;
};

// Counters since open (this Ledger object only), for benchmarks and diagnostics.
struct LedgerStats {
  uint64_t commits = 0;                 // group-commit transactions that wrote (one fsync each)
  uint64_t jobs = 0;                    // ledger calls carried by those commits
  uint64_t max_batch = 0;               // most calls in one commit
  uint64_t background_checkpoints = 0;  // WAL checkpoints run by the background thread (off every caller's path)
  uint64_t inline_checkpoints = 0;      // run by a committing caller because the WAL passed its hard bound
  int64_t wal_frames = 0;               // WAL frames after the last commit
  bool checkpoint_pending = false;      // a background checkpoint is due or running (it waits for a quiet moment)
};

class Ledger {
 public:
  // Opens/creates the ledger at `path` (its directory must exist), applies migrations, loads persisted policy
  // tightenings and merges them with `configured` (the stricter wins). `clock` must outlive the Ledger.
  static Result<std::unique_ptr<Ledger>> open(const std::string& path, const Policy& configured,
                                              const Clock& clock = Clock::system(), LedgerOptions opts = {});
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // v2: a `counted` column conditions the partial indexes; no CHECK/index condition has a long IN list
  // (a payment's three calls write 14 pages instead of 19, with no temporary b-tree per write).
  // v3: envelope_anchors(name, ttl_seconds, anchored_at) — when each ttl_seconds envelope was first seen.
  static constexpr int kSchemaVersion = 3;

  // ---- policy
  Policy policy() const;             // effective (configured merged with persisted tightenings)
  Policy configured_policy() const;
  Status tighten(const Policy& proposed);  // persisted; POLICY_LOOSEN_REFUSED if anything loosens
  Status reset_policy_overrides();         // operator action only (never exposed to agents)
  // Replaces the in-memory envelope set (POLICY_INVALID on an empty/duplicate name, bad cap/protocol/ttl).
  // An envelope with ttl_seconds expires at anchored_at + ttl_seconds, its anchor persisted per name in the
  // ledger: created at clock now the first time the name is seen, kept across restarts (an expired envelope stays
  // expired). A changed ttl_seconds re-anchors at now (an operator action, logged at notice); a changed cap,
  // protocols, or removing the envelope do not touch the anchor (re-adding it later reuses it). Envelopes with
  // an absolute expires_at (no ttl_seconds) are taken as they are.
  Status set_envelopes(std::vector<Envelope> envelopes);
  std::vector<Envelope> envelopes() const;  // expires_at resolved from the anchors

  // ---- payment life cycle
  Result<Reservation> reserve(const ReserveRequest& rq);
  Status mark_in_flight(int64_t id);
  // The preimage is format-checked (64 hex or empty) but not hashed: the wallet layer verifies it. A fee above
  // the reserved allowance is recorded as it is (it was spent) and logged as a warning.
  Status settle(int64_t id, uint64_t fee_msat, const std::string& preimage_hex, int64_t latency_ms);
  Status fail(int64_t id, const std::string& error_code, std::optional<int64_t> latency_ms = std::nullopt);
  Status release(int64_t id);
  Status mark_unknown(int64_t id, const std::string& error_code);

  // ---- start-up / reconciliation
  // Stale (updated_at <= now - stale_after_s) `reserved` rows → released, `in_flight` → unknown.
  Result<RecoverySummary> recover_after_crash(int64_t now, int64_t stale_after_s = 30);
  // Looks up every `unknown` row (lookup runs without any lock held) and settles/fails it; pending stays.
  Result<ReconcileSummary> reconcile(const Lookup& lookup);

  // ---- queries
  Result<StatusReport> status(int64_t now);
  Result<StatusReport> status();  // now = clock
  Result<Page> list_payments(const ListQuery& q);
  Result<SpendReport> report(int64_t since, int64_t until);
  // Newest row with that hash (any state); PAYMENT_NOT_FOUND when none.
  Result<Payment> get_payment(const std::string& payment_hash);
  Result<Payment> get_payment_by_id(int64_t id);

  const std::string& path() const;
  LedgerStats stats() const;

  struct Impl;

 private:
  explicit Ledger(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sw::spend
