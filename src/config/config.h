// sw::config — run-time configuration from defaults < config file (JSON) < environment < command-line flags.
// Contract: load() is pure apart from reading the environment, the config file and $HOME/$XDG_* paths; it never
// prints. Errors: Result with code CONFIG_INVALID and a message naming the flag/variable/key (never its value when
// the value is a secret such as a token or the NWC URL). The Config value is immutable after load and safe to share.
// Spend policy: the config file's "policy" section is the base; each policy setting given by the environment or a
// flag (max_sats, hour/day/week/month/lifetime_sats, fee_base_msat, fee_ppm, allow/deny_domains, protocols)
// replaces that one field (flag > env > file > default); the result is validated here (Config::policy).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/common.h"
#include "spend/spend.h"

namespace sw::config {

// A bearer token accepted by the HTTP transports. `label` identifies the client in the ledger and logs;
// `envelope` optionally names a hosted budget envelope the token is bound to.
// Labels are unique (the HTTP layer maps a label to its envelope); an envelope must exist in the config file.
struct Token {
  std::string token;
  std::string label;
  std::string envelope;
};

struct Config {
  std::string transport = "stdio";  // stdio | http
  std::string host = "127.0.0.1";
  uint16_t port = 8402;
  std::vector<Token> tokens;
  std::vector<std::string> allowed_origins;  // extra Origins beyond loopback ones
  std::vector<std::string> allowed_hosts;    // extra Host header values accepted (DNS-rebinding guard)
  LogLevel log_level = LogLevel::info;
  LogFormat log_format = LogFormat::text;  // text | json (one object per line, with the request id)
  std::string data_dir;  // resolved: flag/env/file, else $XDG_DATA_HOME/satwarden, else ~/.local/share/satwarden
  std::string config_file;  // which file was read ("" when none)
  size_t max_body_bytes = 1 << 20;     // HTTP request body cap (413 above)
  size_t max_sessions = 256;           // concurrent HTTP sessions (Streamable + legacy SSE)
  // Fair sharing between bearer tokens (hosted HTTP; the owner — stdio, tokenless loopback — is not limited):
  // sessions one token may hold open, its tool calls running at once, and tool calls it may start per minute.
  size_t max_sessions_per_token = 32;
  size_t token_calls_in_flight = 16;
  size_t token_calls_per_minute = 600;
  // SIGTERM/SIGINT on HTTP: how long running calls (a payment on its way) may take to reach their outcome before
  // the server records them `unknown` for reconciliation and exits.
  int shutdown_grace_seconds = 30;
  int session_idle_seconds = 1800;     // idle sessions expire
  size_t http_threads = 96;            // HTTP workers for complete requests (connections live on the event loop)
  size_t tools_page_size = 50;         // tools/list page size
  // Wallet (Nostr Wallet Connect). Secret material: never logged, never echoed in errors.
  std::string nwc_url;
  int nwc_pay_timeout_seconds = 60;   // reply timeout for pay_invoice
  int nwc_read_timeout_seconds = 10;  // reply timeout for every other wallet method
  std::string nwc_ca_file;            // extra CA bundle for wss:// relays (self-hosted relays, tests)
  // Outbound fetches (access_l402_resource).
  std::vector<std::string> fetch_allow;  // hosts/addresses/CIDRs exempt from the SSRF guard (local dev, tests)
  std::vector<std::string> fetch_methods{"GET", "HEAD", "POST"};
  std::string fetch_redirects = "none";   // none | same-origin
  size_t fetch_max_body_bytes = 256 * 1024;
  // L402 macaroons whose identifier satwarden cannot read (macaroon::l402_binding() answers
  // L402_IDENTIFIER_UNREADABLE), so the macaroon's binding to the invoice cannot be checked: "refuse" (default) or
  // "allow" (pay, and record the binding as unverified). Refuse is the default because an unchecked pairing of
  // macaroon and invoice can spend money on an invoice the credential is not bound to. A readable identifier that
  // does not match the invoice is refused whatever this says. File key l402_unbound, SATWARDEN_L402_UNBOUND,
  // --l402-unbound.
  std::string l402_unbound = "refuse";
  // Whether the wallet is known to honour NIP-47 `expiration` (never executes an expired request). Only then does a
  // lookup_invoice NOT_FOUND after the request's expiration release a payment's budget; otherwise silence never
  // concludes "failed". File key wallet_honours_expiration (true/false), SATWARDEN_WALLET_HONOURS_EXPIRATION,
  // --wallet-honours-expiration.
  bool wallet_honours_expiration = false;
  // A routing-fee allowance of 0 (fee base 0 and ppm 0) lets real fees push spending past every cap; start-up
  // refuses it unless this is set. File key allow_zero_fee_allowance, SATWARDEN_ALLOW_ZERO_FEE_ALLOWANCE.
  bool allow_zero_fee_allowance = false;
  // The owner's approvals (policy thresholds live in `policy`: approve_above_msat, approve_new_domains).
  int approval_timeout_seconds = 300;   // SATWARDEN_APPROVAL_TIMEOUT
  std::string approval_wait = "wait";   // default for the tools' approval_wait: wait | return
  std::string approval_elicitation = "auto";  // auto (stdio + tokenless loopback HTTP) | on | off
  std::string owner_npub;                     // NIP-17 (or NIP-04) messages to the owner; "" = no Nostr channel
  std::vector<std::string> owner_relays;      // besides the NWC relays
  std::string owner_dm = "nip17";             // nip17 | nip04
  std::string approval_webhook_url;           // "" = no webhook channel
  std::string approval_webhook_secret;        // secret: never logged or echoed
  // The operator's token for GET /metrics (Prometheus). Secret: never logged or echoed; env or file only.
  std::string metrics_token;
  // The ledger: "" = DATA_DIR/ledger.sqlite (embedded); a postgres:// URL = PostgreSQL shared by a fleet (secret:
  // may hold a password, never logged — spend::detail::redact_postgres_url). Pool size, isolation mode
  // (lock | serializable) and this instance's id (default random) apply to PostgreSQL / a fleet.
  std::string ledger_url;
  size_t ledger_pool_size = 8;
  std::string ledger_isolation = "lock";
  std::string instance_id;
  std::string public_url;                     // base of the webhook's approve/deny links ("" = http://host:port)
  // The owner's console (src/console): its own listener. console_port 0 = off in the MCP server (on for
  // `satwarden console`, which defaults to 8403); console_host must be loopback unless console_public_url names the
  // https:// address of a TLS reverse proxy in front of it (the session cookie is then Secure).
  int console_port = 0;
  std::string console_host = "127.0.0.1";
  std::string console_public_url;
  // The BTC price for fiat caps and amounts in the owner's currency (src/price): a preset (coinbase, coingecko,
  // bitstamp, mempool) or an https URL template with {currency}/{CURRENCY}, and price_path, the JSON pointer to the
  // price in its answer (presets bring their own). "" = no price source (then no fiat cap may be configured).
  // price_currencies: currencies shown and recorded with every payment besides those of the fiat caps.
  // The tools agents see (tools/list) and may call: presets ("pay": the few most agents need — the default;
  // "wallet": pay + wallet and ledger tools; "all") and tool names, combined. Others stay registered for the
  // owner's console but do not exist for MCP clients. Validated against the registry at start-up.
  std::vector<std::string> tools{"pay"};
  std::string price_source;
  std::string price_path;
  std::vector<std::string> price_currencies;
  int price_refresh_seconds = 300;
  int price_max_age_seconds = 900;
  // Where each setting of the configured policy came from: "per_call", "hour", "day", "week", "month", "lifetime",
  // "approve_above", "approve_new_domains", "fee_base", "fee_ppm", "allow_domains", "deny_domains", "protocols" →
  // "default" | "config file" | "environment SATWARDEN_…" | "flag --…" (the console's policy view).
  std::map<std::string, std::string> policy_sources;
  // Spend defaults (sats at the surface).
  uint64_t default_max_sats = 1000;  // max_sats a paying tool uses when the call gives none
  // The configured spend policy the ledger is opened with (normalized). Per-call cap: --max-sats /
  // SATWARDEN_MAX_SATS, else the file's policy.max_sats (or per_call_*), else the file's top-level max_sats, else
  // 1000 sats. Tightenings persisted in the ledger (configure_budget) still apply on top: the stricter wins.
  spend::Policy policy;
  json raw_file = json::object();  // the parsed config file, for sections owned by other layers (policy, wallet)

  bool loopback_bind() const;
};

// argv-style parsing; `env` lookup is injectable for tests (nullptr → getenv).
using EnvLookup = std::optional<std::string> (*)(const char* name);

enum class Action { run, help, version };
struct Loaded {
  Config config;
  Action action = Action::run;
};

Result<Loaded> load(int argc, const char* const* argv, EnvLookup env = nullptr);
std::string help_text();

// Creates the data directory (mode 0700) if missing. Error code DATA_DIR_UNUSABLE.
Status ensure_data_dir(const std::string& dir);

}  // namespace sw::config
