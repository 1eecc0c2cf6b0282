// sw::spend — spend policy and crash-safe payment ledger ("never overspend, never pay twice").
// Backends: a SQLite file (the embedded default: WAL, synchronous=FULL, mode 0600, schema versioned by
//   user_version) or a PostgreSQL database shared by a fleet of instances (Ledger::open with a postgres:// URL:
//   the same schema and semantics; writers serialized fleet-wide by a lock row or SERIALIZABLE retries;
//   migrations under an advisory lock; a bounded connection pool; LEDGER_UNAVAILABLE while it cannot be reached —
//   nothing is ever paid without a durable reservation).
// Contract:
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
//   ALREADY_PAID, PAYMENT_IN_PROGRESS, PAYMENT_STATE_UNKNOWN, ENVELOPE_UNKNOWN, ENVELOPE_EXPIRED, PRICE_UNAVAILABLE,
//   ILLEGAL_TRANSITION, PAYMENT_NOT_FOUND, POLICY_LOOSEN_REFUSED, POLICY_INVALID, INVALID_ARGUMENT,
//   INVALID_CURSOR, LEDGER_BUSY, LEDGER_UNAVAILABLE, LEDGER_SCHEMA_TOO_NEW, LEDGER_ERROR. Preimages are stored in the ledger row
//   (the L402 token cache needs them) but never appear in logs, messages or error details.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/common.h"

namespace sw::spend {
namespace detail {
class Db;
}

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

// ---------------------------------------------------------------- fiat
// Fiat amounts are integers too: micros, millionths of the currency's unit (USD 5 = 5,000,000 micros). A currency
// is its ISO 4217 code, lowercase ("usd", "eur"). A BTC price is micros of the currency per 1 BTC (1e11 msat).
constexpr uint64_t kMsatPerBtc = 100'000'000'000ULL;
// A cap in a currency on one window: "per_call" | "hour" | "day" | "week" | "month" | "lifetime".
struct FiatCap {
  std::string window;
  std::string currency;
  uint64_t micros = 0;
  auto operator<=>(const FiatCap&) const = default;
};
struct Price {
  uint64_t micros_per_btc = 0;  // > 0
  int64_t fetched_at = 0;       // unix seconds
  std::string source;           // where it came from (host of the price source), for the record
  bool operator==(const Price&) const = default;
};
using Prices = std::map<std::string, Price>;  // currency → price
// Conversions (128-bit intermediates, saturating at kMaxMsat / UINT64_MAX). A fiat cap becomes msat rounded down
// and a payment becomes fiat rounded up: both round toward refusing.
uint64_t fiat_to_msat_floor(uint64_t micros, uint64_t micros_per_btc);
uint64_t msat_to_fiat_ceil(uint64_t msat, uint64_t micros_per_btc);
uint64_t msat_to_fiat_floor(uint64_t msat, uint64_t micros_per_btc);
// "5", "5.25", "0.000001" (at most 6 decimals) → micros; INVALID_ARGUMENT otherwise.
Result<uint64_t> parse_fiat_amount(std::string_view text);
json fiat_amount_json(uint64_t micros);  // a JSON number with the same value (5.25), exact for <= 6 decimals
// {"currency","btc_price","at","source"}: how a price is shown wherever an amount in a currency is.
json price_json(const std::string& currency, const Price& p);
bool is_currency_code(std::string_view code);  // three ASCII letters

// ---------------------------------------------------------------- policy
struct Caps {
  std::optional<uint64_t> per_call_msat;  // compared with the invoice amount (fees are budgeted by the windows)
  std::optional<uint64_t> hour_msat, day_msat, week_msat, month_msat;
  std::optional<uint64_t> lifetime_msat;
  // Payments above this amount wait for the owner's approval (0 = every payment; nullopt = never). Lower is
  // stricter, like every cap: run-time tightening may lower it, never raise or remove it.
  std::optional<uint64_t> approve_above_msat = std::nullopt;
  // Caps in a currency, on top of the sat caps: both apply, the stricter wins. Each is converted to msat at the
  // price current when a payment is reserved (floor); a payment they apply to is refused (PRICE_UNAVAILABLE)
  // when no fresh price is known. Sorted, one per (window, currency).
  std::vector<FiatCap> fiat;
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
  // The first payment for a domain (no settled payment for it in the ledger yet) waits for the owner's approval.
  bool approve_new_domains = false;
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
//    "protocols":["bolt11","l402","mpp","keysend"], "domains":{"*.example.com":{"day_sats":..}},
//    "approve_above_sats": 500 | "none", "approve_new_domains": true}
// A missing key keeps the default; null removes a cap ("max_sats": null = no per-call cap); "none" (or null)
// for approve_above_* means no approval threshold.
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
  // Payments in this envelope above this amount wait for the owner's approval (0 = all; nullopt = the policy's).
  std::optional<uint64_t> approve_above_msat = std::nullopt;
  // A lifetime cap in a currency (window "lifetime"), besides cap_msat (kMaxMsat when only this one is given).
  std::optional<FiatCap> fiat_cap = std::nullopt;
};
// [{"name":"team-a","cap_sats":5000 | "cap":{"amount":10,"currency":"usd"} | "cap_usd":10,"approve_above_sats":100,"expires_at":1767225600 | "ttl_seconds":86400,"protocols":[..]}]
// ttl_seconds is kept, with a provisional expires_at = now + ttl (final once set_envelopes() anchors it).
Result<std::vector<Envelope>> envelopes_from_json(const json& j, int64_t now);

// ---------------------------------------------------------------- purchases and idempotency keys (schema v4)
// Who bought: the caller's label (bearer-token label, "stdio", "http-anonymous"), its envelope ("" = none) and
// whether it is a token-authenticated (hosted) caller. Purchases, credentials and idempotency keys belong to
// exactly one owner: a token never sees or uses what another token (or the owner on stdio) bought.
struct Owner {
  std::string client;
  std::string envelope;
  bool hosted = false;
  auto operator<=>(const Owner&) const = default;
};

// What an agent bought from a paywall: one scope of one origin. Scope = origin + path (no query), or the L402
// service named by the macaroon's `services` caveat when there is one (a credential for a service covers
// every path of it). States:
//   pending  — written in the reservation's transaction, before anything is sent; its payment may be in
//              flight or unknown. Blocks a second purchase of the same scope.
//   usable   — the payment settled: the credential (challenge + preimage) can be presented. Blocks too.
//   refused  — the server refused the credential where it had worked (expired or revoked server-side).
//   expired  — past the macaroon's `*_valid_until` / MPP `expires`.
//   failed   — the payment definitely failed or was released: nothing was paid.
//   consumed — a single-use credential (MPP) was presented and accepted.
//   forgotten— dropped by the agent (forget_credentials) or the owner (CLI).
// Only pending and usable are live. A pending purchase whose payment settled reads as usable; one whose
// payment failed/was released reads as failed (the row is brought up to date when read).
enum class PurchaseState { pending, usable, refused, expired, failed, consumed, forgotten };
const char* purchase_state_name(PurchaseState s);
std::optional<PurchaseState> parse_purchase_state(std::string_view s);

struct PurchaseDraft {
  Owner owner;
  std::string origin;      // scheme://host[:port], lowercase
  std::string path;        // path without query
  std::string service;     // L402 service from the macaroon caveats, "" when none
  std::string protocol;    // "l402" | "mpp"
  std::string challenge;   // the macaroon (base64) or the MPP challenge (JSON) — what the credential is built from
  std::string binding;     // "verified" | "unverified" (L402 identifier could not be read) | "" (MPP)
  std::optional<int64_t> valid_until;  // credential expiry (caveat / MPP expires), unix seconds
};

struct Purchase {
  int64_t id = 0;
  Owner owner;
  std::string origin, path, service, protocol, challenge, binding;
  std::vector<std::string> paths;  // where the credential was paid for or accepted (oldest first, at most 32)
  PurchaseState state = PurchaseState::pending;
  std::optional<int64_t> valid_until;
  int64_t created_at = 0, updated_at = 0;
  // The payment behind it (joined): id, hash, amount, state, preimage (secret: never log), when it was reserved.
  int64_t payment_id = 0;
  std::string payment_hash;
  uint64_t amount_msat = 0;
  State payment_state = State::reserved;
  std::string preimage;
  // A purchase covers `path` when it was paid for or accepted at that path, or (service non-empty) when a
  // challenge there names the same service. An imported credential with no known path has path "*" (the whole
  // origin, as it was used before purchases existed).
  bool covers(const std::string& path, const std::string& service) const;
};
json to_json(const Purchase& p);  // without challenge material or preimage

struct IdempotencyRef {
  Owner owner;
  std::string key;
};
// One idempotency key of one owner (Stripe's model): the first call with a key runs; a later call with the same
// key and the same parameters gets the first call's outcome and never pays again; the same key with other
// parameters is IDEMPOTENCY_KEY_REUSED. A key is kept at least 24 hours (prune_idempotency). A first call that
// ended before anything was reserved (validation, policy refusal) leaves no record: the key may be used again.
struct IdempotencyRecord {
  IdempotencyRef ref;
  std::string tool, params_sha256;
  bool finished = false;       // false: the first call is running (or died before finishing)
  json outcome;                // when finished: {"isError":bool, "structured":…} or {"isError":true,"error":{…}}
  int64_t payment_id = 0;      // 0 until the payment is reserved
  std::string payment_hash;
  int64_t created_at = 0, updated_at = 0;
};
struct IdempotencyBegin {
  enum class Kind { fresh, existing } kind = Kind::fresh;
  IdempotencyRecord record;  // existing: the stored record
};

// ---------------------------------------------------------------- approvals (schema v6)
// A payment the policy sends to the owner (approve_above_*, approve_new_domains) is reserved as usual — the
// budget is held — and gets an approval in the same transaction. Nothing may be sent until it is approved:
// mark_in_flight() consumes an approved approval (approved → used) and refuses a payment whose approval is not
// approved. Denied or expired approvals release the payment (error_code APPROVAL_DENIED / APPROVAL_TIMEOUT).
//   pending → approved | denied | expired;  approved → used | expired.  denied, expired, used are final.
// An approval is bound to its payment row (amount, payment hash, domain, tool, caller) and its payee; a
// decision that names another amount, hash or payee is refused (APPROVAL_MISMATCH). It has a public id (shown
// to the agent and the owner) and secrets shown only to the owner's channels: a one-time code (for replies
// such as "approve K7QF2M3A") and two URL tokens (webhook approve/deny links). The ledger keeps only their
// SHA-256; the plaintext leaves reserve() once, in Reservation::approval_secrets.
enum class ApprovalState { pending, approved, denied, expired, used };
const char* approval_state_name(ApprovalState s);
std::optional<ApprovalState> parse_approval_state(std::string_view s);

struct Approval {
  int64_t id = 0;
  std::string public_id;
  int64_t payment_id = 0;
  ApprovalState state = ApprovalState::pending;
  std::vector<std::string> reasons;  // why it needs approval, in words
  std::string payee;                 // node id (invoice payee / keysend destination), "" if unknown
  std::string purpose;               // what the payment is for (URL, invoice description), for the owner
  std::string decided_by;            // channel: cli | nostr | nip04 | webhook | elicitation | console | timeout
  std::string reason;                // the owner's reason for a denial, if given
  int64_t created_at = 0, expires_at = 0;
  std::optional<int64_t> decided_at;
  // From the payment row.
  std::string payment_hash, client, envelope, domain, tool, protocol;
  uint64_t amount_msat = 0, max_fee_msat = 0;
  State payment_state = State::reserved;
};
json to_json(const Approval& a);  // never the code or tokens

struct ApprovalSecrets {
  std::string code;           // 8 characters of an unambiguous alphabet (case-insensitive)
  std::string approve_token;  // 43 base64url characters each
  std::string deny_token;
};

// What the reservation needs to create an approval (from the approval engine's options).
struct ApprovalTerms {
  int64_t ttl_s = 300;        // pending approvals expire this long after creation
  std::string payee, purpose;
};

// A decision. Exactly one of public_id, code, token names the approval. A token decides by itself (it is the
// approve or the deny link); with public_id or code, `approve` says which. The optional fields bind the decision
// to what the decider was shown: when set they must equal the approval's (else APPROVAL_MISMATCH).
struct ApprovalDecision {
  std::string public_id, code, token;
  bool approve = false;
  std::string channel;  // recorded as decided_by
  std::string reason;
  std::optional<uint64_t> amount_msat;
  std::optional<std::string> payment_hash, payee;
};

struct ApprovalQuery {
  bool pending_only = true;                    // pending + approved-not-yet-used
  std::optional<std::string> client, envelope;  // a caller's own approvals only
  size_t limit = 100;
};

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
  // A purchase recorded in the same transaction as the reservation (see "purchases" below): refused with
  // PURCHASE_EXISTS when the owner already holds a pending or usable purchase for the same scope.
  std::optional<PurchaseDraft> purchase;
  // An idempotency key (begin_idempotent'd by the caller) linked to this payment in the same transaction.
  std::optional<IdempotencyRef> idempotency;
  // Set when approvals are enabled: when the policy asks for the owner's approval, the reservation creates one
  // (Reservation::approval). Without it, a payment that needs approval is refused (APPROVAL_UNAVAILABLE).
  std::optional<ApprovalTerms> approval;
  // The MCP request that reserves it; "" = the calling thread's current_request_id().
  std::string request_id;
  // Fresh BTC prices the caller knows (see price::Source). Fiat caps that apply to this payment need their
  // currency here (else PRICE_UNAVAILABLE, nothing reserved); every price given is recorded with the payment.
  Prices prices;
};

struct Reservation {
  int64_t id = 0;
  std::string payment_hash;
  uint64_t amount_msat = 0;
  uint64_t max_fee_msat = 0;  // fee allowance reserved; the wallet call should not exceed it
  std::optional<Approval> approval;                // created with the reservation: wait for the owner
  std::optional<ApprovalSecrets> approval_secrets;  // its secrets, for the owner's channels only
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
  // v4: until when the wallet may still execute the request that carried it (NIP-47 `expiration` + margin);
  // what the wallet last said about it (lookup_invoice: "NOT_FOUND", "pending", "settled", "failed", or a
  // notification) and when; who decided a final state that was not the paying call's own ("wallet",
  // "notification", "owner").
  std::optional<int64_t> request_expires_at;
  std::string wallet_said;
  std::optional<int64_t> wallet_said_at;
  std::string resolved_by;
  std::string request_id;  // v7: the MCP request (tool call) that reserved it, as log lines name it; "" before v7
  Prices fiat_rates;       // v9: the BTC prices known when it was reserved (what its fiat value is computed with)
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
  // Caps in a currency on this window, and (with a price) what they amount to in msat now and what was spent
  // valued at that price. limit_msat/remaining_msat above are then the stricter of the sat and fiat caps.
  struct Fiat {
    FiatCap cap;
    std::optional<Price> price;          // none: no fresh price (payments this cap applies to are refused)
    std::optional<uint64_t> limit_msat;  // cap at the price (floor)
    std::optional<uint64_t> spent_micros;
  };
  std::vector<Fiat> fiat = {};
};
struct ScopeStatus {
  std::string scope;  // "global" | "domain:<pattern>" | "envelope:<name>"
  std::optional<uint64_t> per_call_msat;
  std::vector<WindowStatus> windows;  // for envelopes: one "lifetime" entry
  std::optional<int64_t> expires_at;  // envelopes
  std::vector<WindowStatus::Fiat> per_call_fiat = {};  // per-payment caps in a currency (per_call_msat: the stricter)
};
struct StatusReport {
  int64_t now = 0;
  ScopeStatus global;
  std::vector<ScopeStatus> domains;
  std::vector<ScopeStatus> envelopes;
  uint64_t pending_count = 0;  // reserved + in_flight + unknown rows
  uint64_t unknown_count = 0;
  // Routing fees the wallet reported above the allowance reserved for them, over the last 30 days. They are
  // booked as spent (so a window can end above its cap by that excess, and refuses payments until it has room).
  uint64_t fee_excess_count = 0, fee_excess_msat = 0;
  std::optional<int64_t> fee_excess_last_at;
};
// The JSON of a status report, in one of two forms that differ only where noted:
//   ledger         msat-exact: per_call_msat; limit_sats rounded up; expires_at on envelopes only.
//   budget_status  get_budget_status and satwarden://spending (schemas/get_budget_status.output.json): per_call_sats
//                  and limit_sats rounded down (what can really be paid, like remaining_sats); expires_at on every
//                  scope (null but on envelopes); fee_excess.note says what a fee excess does to a window.
// Both: windows with limit/spent/remaining in msat and sats (spent rounded up, remaining down), next_rolloff, fiat.
enum class StatusFormat { ledger, budget_status };
json to_json(const StatusReport& s, StatusFormat format = StatusFormat::ledger);
// {"amount", "currency", "price": {currency, btc_price, at, source}, "limit_sats", "spent", "remaining"}, or
// {"amount", "currency", "price_unavailable": true}.
json to_json(const WindowStatus::Fiat& f);

struct ListQuery {
  std::optional<int64_t> since;  // created_at >= since
  std::optional<int64_t> until;  // created_at < until
  std::optional<std::string> domain, client, envelope, protocol;
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
  // Settled amount + fee in each currency at the price recorded with each payment; per currency, how many
  // settled payments had no price recorded for it (not included).
  std::map<std::string, uint64_t> settled_fiat_micros, settled_without_rate;
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
// The fiat side of a report: adds a settled payment's amount + fee, valued at the prices recorded with it, to the
// bucket for each of `currencies` (or counts it as without a price for that currency).
void add_settled_fiat(ReportBucket& b, const Payment& p, const std::vector<std::string>& currencies);
// {"usd": {"settled_total": 2.5, "settled_without_price": n}, ...} or null when the bucket has no fiat side.
json fiat_json(const ReportBucket& b);
// [{"currency", "btc_price", "at", "source", "amount"}] for the prices recorded with a payment, or null.
json fiat_json(const Payment& p);

// ---------------------------------------------------------------- reconciliation
struct LookupOutcome {
  enum class Kind { settled, failed, pending } kind = Kind::pending;
  std::string said;                  // what the wallet answered, recorded on the row (e.g. "NOT_FOUND", "pending")
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
  // PostgreSQL: at most this many connections per Ledger (calls beyond it wait up to pg_acquire_timeout_ms, then
  // LEDGER_BUSY); SERIALIZABLE transactions retried on conflict instead of the ledger_lock row (see run_pg).
  size_t pg_max_connections = 8;
  int pg_acquire_timeout_ms = 15000;
  bool pg_serializable = false;
  // This process's id in a fleet (payments.instance, lease holder); "" = a random one per open.
  std::string instance;
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

struct LedgerMetrics {
  struct Payments {
    std::string protocol, state;
    uint64_t count = 0;
    uint64_t amount_msat = 0;  // sum of amounts
    uint64_t fee_msat = 0;     // sum of the fees actually paid (settled rows)
  };
  std::vector<Payments> payments;
  uint64_t purchases_pending = 0;  // paid or being paid, credential not yet usable
  uint64_t purchases_usable = 0;
  uint64_t approvals_waiting = 0;  // pending the owner's decision
};

// True for a postgres:// or postgresql:// URL: Ledger::open then uses PostgreSQL instead of a SQLite file.
bool is_postgres_url(std::string_view location);

class Ledger {
 public:
  // Opens/creates the ledger at `path` (a SQLite file whose directory must exist, or a postgres:// URL), applies migrations, loads persisted policy
  // tightenings and merges them with `configured` (the stricter wins). `clock` must outlive the Ledger.
  static Result<std::unique_ptr<Ledger>> open(const std::string& path, const Policy& configured,
                                              const Clock& clock = Clock::system(), LedgerOptions opts = {});
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // v2: a `counted` column conditions the partial indexes; no CHECK/index condition has a long IN list
  // (a payment's three calls write 14 pages instead of 19, with no temporary b-tree per write).
  // v3: envelope_anchors(name, ttl_seconds, anchored_at) — when each ttl_seconds envelope was first seen.
  // v4: purchases, idempotency_keys; payments gain request_expires_at, wallet_said(_at), resolved_by.
  // v5: envelope_tightenings(name, cap_msat) — caps lowered at run time by a token for its own envelope.
  // v6: approvals; envelope_tightenings gains approve_above_msat.
  // v7: payments.request_id.  v8: payments.instance (who reserved it), leases (one instance at a time does
  // recovery and reconciliation).  v9: payments.fiat_rates (JSON: currency → {micros_per_btc, at, source}).
  static constexpr int kSchemaVersion = 9;

  // ---- policy
  Policy policy() const;             // effective (configured merged with persisted tightenings)
  Policy configured_policy() const;
  Status tighten(const Policy& proposed);  // persisted; POLICY_LOOSEN_REFUSED if anything loosens
  // Operator action only (never exposed to agents): clears the persisted tightenings of the policy and of
  // envelopes.
  Status reset_policy_overrides();
  // A bearer-token caller's own tightening: lowers envelope `name`'s cap (persisted; the lower of the configured
  // cap and every tightening applies). ENVELOPE_UNKNOWN; POLICY_LOOSEN_REFUSED when it would raise it.
  // approve_above_msat likewise lowers the envelope's approval threshold (never raises or removes it).
  Status tighten_envelope(const std::string& name, std::optional<uint64_t> cap_msat,
                          std::optional<uint64_t> approve_above_msat = std::nullopt);
  Result<std::map<std::string, uint64_t>> envelope_tightenings();  // name → cap_msat set at run time
  Result<std::map<std::string, uint64_t>> envelope_threshold_tightenings();  // name → approve_above_msat set at run time
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
  // request_expires_at: when the wallet can no longer execute the request (recorded for reconciliation).
  // A payment with an approval must have it approved (it becomes used, in the same transaction); else
  // APPROVAL_REQUIRED (pending), APPROVAL_DENIED, APPROVAL_TIMEOUT (expired) or APPROVAL_USED.
  Status mark_in_flight(int64_t id, std::optional<int64_t> request_expires_at = std::nullopt);
  // The preimage is format-checked (64 hex or empty) but not hashed: the wallet layer verifies it. A fee above
  // the reserved allowance is recorded as it is (it was spent) and logged as a warning.
  Status settle(int64_t id, uint64_t fee_msat, const std::string& preimage_hex, int64_t latency_ms);
  Status fail(int64_t id, const std::string& error_code, std::optional<int64_t> latency_ms = std::nullopt);
  Status release(int64_t id);
  // Releases the row only while it is still `reserved` (ILLEGAL_TRANSITION otherwise): for a caller that may share
  // the reservation with another call (an approval two calls wait for) and must never release a payment in flight.
  Status release_if_reserved(int64_t id, const std::string& error_code);
  Status mark_unknown(int64_t id, const std::string& error_code);

  // The owner's decision on a payment whose outcome is unknown (CLI `satwarden payments resolve`): paid →
  // settled (fee = the reserved allowance unless given), failed → failed ("OWNER_RESOLVED"); recorded with
  // resolved_by = "owner". ILLEGAL_TRANSITION unless the row is `unknown`.
  Status resolve_by_owner(int64_t id, bool paid, std::optional<uint64_t> fee_msat = std::nullopt);

  // ---- start-up / reconciliation
  // Stale (updated_at <= now - stale_after_s) `reserved` rows → released, `in_flight` → unknown, with error codes
  // <cause>_NEVER_SENT / <cause>_INTERRUPTED ("CRASH" at start-up; "SHUTDOWN" when a draining shutdown gives up
  // on calls still running). A reservation waiting for the owner's approval is left alone.
  // this_instance_only: only rows this Ledger's instance reserved (a fleet member shutting down must not touch
  // the others' payments).
  Result<RecoverySummary> recover_after_crash(int64_t now, int64_t stale_after_s = 30,
                                              const std::string& cause = "CRASH", bool this_instance_only = false);
  // A named lease held by this instance until now + ttl_s: true when it was free, expired, or already ours (then
  // renewed). Fleet members run recovery and reconciliation only while holding the "maintenance" lease.
  Result<bool> try_lease(const std::string& name, int64_t ttl_s);
  const std::string& instance() const;
  // Looks up every `unknown` row (lookup runs without any lock held) and settles/fails it; pending stays.
  Result<ReconcileSummary> reconcile(const Lookup& lookup);
  // Applies one wallet verdict to one `unknown` row (what reconcile does per row): settled/failed transition it
  // (resolved_by "wallet"); pending or a lookup error only records what the wallet said and when.
  // ILLEGAL_TRANSITION when the row is no longer `unknown`.
  Status record_lookup(int64_t id, const Result<LookupOutcome>& verdict);

  // ---- purchases (schema v4)
  // The owner's live (pending/usable) purchases on `origin`, newest first, brought up to date with their
  // payments' states (and valid_until: past it → expired).
  Result<std::vector<Purchase>> live_purchases(const Owner& owner, const std::string& origin);
  Result<Purchase> get_purchase(int64_t id);
  Result<std::optional<Purchase>> purchase_by_payment(const std::string& payment_hash);
  // usable → refused | consumed | forgotten;  pending (payment failed) → failed. ILLEGAL_TRANSITION otherwise.
  Status set_purchase_state(int64_t id, PurchaseState to);
  // Remembers that the credential was accepted at `path` (kept: the newest 32 paths).
  Status purchase_accepted_at(int64_t id, const std::string& path);
  // Forgets the owner's usable credentials (all origins, or one). Pending purchases are kept: forgetting them
  // would allow buying the same scope twice while a payment may still go through. Returns how many.
  Result<size_t> forget_purchases(const Owner& owner, const std::optional<std::string>& origin);
  // The owner's CLI: every owner's usable credentials (optionally one origin).
  Result<size_t> forget_all_purchases(const std::optional<std::string>& origin);
  // Imports a credential bought before purchases existed (the old l402-tokens.json) as a usable purchase with
  // no payment row. Skipped (false) when the owner already holds the same credential.
  Result<bool> import_credential(const Owner& owner, const std::string& origin, const std::vector<std::string>& paths,
                                 const std::string& authorization_header);

  // ---- idempotency keys (schema v4)
  // Records the key as running (fresh) or returns the existing record; IDEMPOTENCY_KEY_REUSED when it exists
  // with another tool or other parameters.
  Result<IdempotencyBegin> begin_idempotent(const IdempotencyRef& ref, const std::string& tool,
                                            const std::string& params_sha256);
  Status finish_idempotent(const IdempotencyRef& ref, const json& outcome);
  // Drops a running key that has no payment linked (its call ended before reserving anything).
  Status abandon_idempotent(const IdempotencyRef& ref);
  Result<std::optional<IdempotencyRecord>> get_idempotent(const IdempotencyRef& ref);
  // Deletes keys created before `before` (unix seconds). Returns how many.
  Result<size_t> prune_idempotency(int64_t before);
  int64_t now_unix() const { return now(); }  // the ledger's clock

  // ---- approvals (schema v6)
  Result<Approval> get_approval(const std::string& public_id);  // APPROVAL_NOT_FOUND
  Result<std::optional<Approval>> approval_for_payment(int64_t payment_id);
  Result<std::vector<Approval>> list_approvals(const ApprovalQuery& q);  // newest first
  // Applies a decision (see ApprovalDecision). Deny releases the payment. Errors: APPROVAL_NOT_FOUND,
  // APPROVAL_DECIDED (details: state, decided_by), APPROVAL_EXPIRED, APPROVAL_MISMATCH, INVALID_ARGUMENT.
  // An approval past its expiry is expired (and its payment released) by the same call.
  Result<Approval> decide_approval(const ApprovalDecision& d);
  // The approval a URL token belongs to, without deciding anything (the webhook link's confirmation page), and
  // whether it is the approve (true) or the deny (false) token. APPROVAL_NOT_FOUND when it is neither.
  Result<std::pair<Approval, bool>> approval_by_token(const std::string& token);
  // Expires every pending/approved approval past expires_at (releasing its payment); returns them.
  Result<std::vector<Approval>> expire_approvals();

  // ---- queries
  // With prices, fiat caps are shown converted (see WindowStatus::Fiat).
  Result<StatusReport> status(int64_t now, const Prices& prices = {});
  Result<StatusReport> status();  // now = clock
  // The currencies of every fiat cap in the effective policy and the envelopes (what a price source must quote).
  std::vector<std::string> fiat_currencies() const;
  // Totals for monitoring (/metrics): payments by protocol and state with their amounts and fees, live purchases,
  // approvals waiting for the owner. One read transaction.
  Result<LedgerMetrics> metrics();
  // A trivial read through the ledger's transaction path: is the database there and answering (readiness).
  Status ping();
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
  static Result<std::unique_ptr<Ledger>> open_postgres(const std::string& url, const Policy& configured,
                                                       const Clock& clock, LedgerOptions opts);
  static Result<std::unique_ptr<Ledger>> finish_open(std::unique_ptr<Impl> impl, const Policy& configured);
  // For the parts of the ledger implemented in other files (purchases.cpp): runs f in a group-committed
  // transaction (an error rolls f's work back) and returns after the commit; now() is the ledger's clock.
  Status txn(const std::function<Status(detail::Db&)>& f);
  // The same for a read-only f (PostgreSQL: a READ ONLY snapshot, without the writers' lock).
  Status read_txn(const std::function<Status(detail::Db&)>& f);
  // Inside txn: releases a reserved payment (budget totals follow) with an error code (approvals.cpp).
  Status release_in_txn(detail::Db& d, int64_t id, const std::string& error_code, int64_t now);
  int64_t now() const;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sw::spend
