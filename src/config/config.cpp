// Where settings come from and in what order (config.h load): the flag table, environment variables, the config
// file, start-up checks and the effective spend policy; what each setting means is in settings.cpp.
#include "config/config.h"
#include "config/internal.h"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "sw_version.h"

namespace sw::config {

using namespace detail;

namespace {

struct FlagSpec {
  const char* flag;
  const char* key;
  const char* env;
  const char* help;
  const char* file = nullptr;  // where the config file holds it, when that is not the top-level `key`
};

// Order = order in --help.
const FlagSpec kFlags[] = {
    {"--transport", "transport", "SATWARDEN_TRANSPORT", "stdio (default) or http (Streamable HTTP at /mcp + legacy SSE at /sse)"},
    {"--host", "host", "SATWARDEN_HOST", "HTTP bind address (default 127.0.0.1; anything else requires bearer tokens for /mcp)"},
    {"--port", "port", "SATWARDEN_PORT", "HTTP port (default 8402); under stdio with approval_webhook_url, the port of the approvals-only listener that serves the webhook's links"},
    {"--token", "tokens", "SATWARDEN_TOKENS", "HTTP bearer token(s), comma-separated; prefer the env var (argv is visible to other users)"},
    {"--allowed-origin", "allowed_origins", "SATWARDEN_ALLOWED_ORIGINS", "extra browser Origins accepted (comma-separated); loopback origins always are"},
    {"--allowed-host", "allowed_hosts", "SATWARDEN_ALLOWED_HOSTS", "extra Host header values accepted when bound to loopback (DNS-rebinding guard)"},
    {"--log-level", "log_level", "SATWARDEN_LOG_LEVEL", "stderr log threshold: debug info notice warning error critical alert emergency (default info)"},
    {"--log-format", "log_format", "SATWARDEN_LOG_FORMAT", "text (default) or json: one JSON object per log line, with the request id of the tool call it belongs to"},
    {"--data-dir", "data_dir", "SATWARDEN_DATA_DIR", "data directory for the ledger and token cache (default $XDG_DATA_HOME/satwarden)"},
    {"--max-sats", "max_sats", "SATWARDEN_MAX_SATS", "per-payment cap in sats, also the max_sats of a tool call that gives none (default 1000)", "policy.max_sats, else top-level max_sats"},
    {"--hour-sats", "hour_sats", "SATWARDEN_HOUR_SATS", "cap on all payments in any rolling hour, sats, or 'none' (default none)", "policy.hour_sats"},
    {"--day-sats", "day_sats", "SATWARDEN_DAY_SATS", "cap per rolling 24 hours, sats, or 'none' (default none)", "policy.day_sats"},
    {"--week-sats", "week_sats", "SATWARDEN_WEEK_SATS", "cap per rolling 7 days, sats, or 'none' (default none)", "policy.week_sats"},
    {"--month-sats", "month_sats", "SATWARDEN_MONTH_SATS", "cap per rolling 30 days, sats, or 'none' (default none)", "policy.month_sats"},
    {"--lifetime-sats", "lifetime_sats", "SATWARDEN_LIFETIME_SATS", "cap on everything ever paid through this ledger, sats, or 'none' (default none)", "policy.lifetime_sats"},
    {"--fee-base-msat", "fee_base_msat", "SATWARDEN_FEE_BASE_MSAT", "routing-fee allowance reserved per payment: at least this many msat (default 10000)", "policy.fee.base_msat"},
    {"--fee-ppm", "fee_ppm", "SATWARDEN_FEE_PPM", "routing-fee allowance in parts per million of the amount, if larger (default 5000; max 1000000)", "policy.fee.ppm"},
    {"--allow-domains", "allow_domains", "SATWARDEN_ALLOW_DOMAINS", "only these domains may be paid (L402/MPP/URL payments; comma-separated, *.example.com for subdomains); 'any' (default) or 'none'", "policy.allow_domains"},
    {"--deny-domains", "deny_domains", "SATWARDEN_DENY_DOMAINS", "domains never paid, beats the allow list (comma-separated); 'none' (default) clears the file's list", "policy.deny_domains"},
    {"--protocols", "protocols", "SATWARDEN_PROTOCOLS", "payment protocols allowed: bolt11,keysend,l402,mpp (default all) or 'none'", "policy.protocols"},
    {"--max-fiat", "max_fiat", "SATWARDEN_MAX_FIAT", "per-payment cap in a currency, e.g. \"1 usd\" (needs a price source; the stricter of this and --max-sats wins), or 'none'", "policy.max_<currency>"},
    {"--hour-fiat", "hour_fiat", "SATWARDEN_HOUR_FIAT", "cap per rolling hour in a currency, e.g. \"2 usd\", or 'none'", "policy.hour_<currency>"},
    {"--day-fiat", "day_fiat", "SATWARDEN_DAY_FIAT", "cap per rolling 24 hours in a currency, e.g. \"5 usd\", or 'none'", "policy.day_<currency>"},
    {"--week-fiat", "week_fiat", "SATWARDEN_WEEK_FIAT", "cap per rolling 7 days in a currency, or 'none'", "policy.week_<currency>"},
    {"--month-fiat", "month_fiat", "SATWARDEN_MONTH_FIAT", "cap per rolling 30 days in a currency, or 'none'", "policy.month_<currency>"},
    {"--lifetime-fiat", "lifetime_fiat", "SATWARDEN_LIFETIME_FIAT", "cap on everything ever paid, in a currency, or 'none'", "policy.lifetime_<currency>"},
    {"--tools", "tools", "SATWARDEN_TOOLS", "the tools agents see: presets pay (default: pay_invoice, access_l402_resource, pay_lightning_address, get_budget_status, lookup_payment), wallet (pay + wallet and ledger tools), all — and/or tool names, comma-separated"},
    {"--price-source", "price_source", "SATWARDEN_PRICE_SOURCE", "BTC price for fiat caps: coinbase, coingecko, bitstamp, mempool, or an https URL with {currency} (then --price-path)"},
    {"--price-path", "price_path", "SATWARDEN_PRICE_PATH", "JSON pointer to the price of 1 BTC in the price source's answer, e.g. /data/amount"},
    {"--price-currencies", "price_currencies", "SATWARDEN_PRICE_CURRENCIES", "currencies shown next to sats and recorded with every payment (comma-separated; the fiat caps' currencies always are)"},
    {"--price-refresh-seconds", "price_refresh_seconds", "SATWARDEN_PRICE_REFRESH_SECONDS", "how often the price is fetched again (default 300)"},
    {"--price-max-age-seconds", "price_max_age_seconds", "SATWARDEN_PRICE_MAX_AGE_SECONDS", "an older price is not used: payments under a fiat cap are refused with PRICE_UNAVAILABLE (default 900)"},
    {"--approve-above-sats", "approve_above_sats", "SATWARDEN_APPROVE_ABOVE_SATS", "payments above this many sats wait for the owner's approval; 0 = every payment, 'none' (default) = never", "policy.approve_above_sats"},
    {"--approve-new-domains", "approve_new_domains", "SATWARDEN_APPROVE_NEW_DOMAINS", "true: the first payment to a domain waits for the owner's approval (default false)", "policy.approve_new_domains"},
    {"--approval-timeout-seconds", "approval_timeout_seconds", "SATWARDEN_APPROVAL_TIMEOUT", "how long a payment waits for the owner's decision before it is dropped (default 300)"},
    {"--approval-wait", "approval_wait", "SATWARDEN_APPROVAL_WAIT", "wait (default: the tool call stays open until the owner decides) or return (APPROVAL_REQUIRED at once; the agent calls again)"},
    {"--approval-elicitation", "approval_elicitation", "SATWARDEN_APPROVAL_ELICITATION", "ask in the MCP client (elicitation) when it supports it: auto (default: stdio and tokenless loopback HTTP), on (every caller), off"},
    {"--owner-npub", "owner_npub", "SATWARDEN_OWNER_NPUB", "the owner's Nostr public key (npub or hex): approvals are sent to it as private messages, and its replies decide"},
    {"--owner-relays", "owner_relays", "SATWARDEN_OWNER_RELAYS", "extra relays for messages to the owner (comma-separated; the NWC relays are always used)"},
    {"--owner-dm", "owner_dm", "SATWARDEN_OWNER_DM", "nip17 (default: gift-wrapped private messages) or nip04 (legacy DMs, for clients without NIP-17)"},
    {"--approval-webhook-url", "approval_webhook_url", "SATWARDEN_APPROVAL_WEBHOOK_URL", "POST each approval request (signed) to this URL"},
    {nullptr, "approval_webhook_secret", "SATWARDEN_APPROVAL_WEBHOOK_SECRET", "HMAC-SHA256 key for webhook signatures; env or config file only, never a flag"},
    {"--ledger-url", "ledger_url", "SATWARDEN_LEDGER_URL", "keep the ledger in PostgreSQL (postgres://user@host/db) shared by a fleet of instances instead of DATA_DIR/ledger.sqlite; put the password in PGPASSWORD or ~/.pgpass, not here"},
    {"--ledger-pool-size", "ledger_pool_size", "SATWARDEN_LEDGER_POOL_SIZE", "PostgreSQL connections per instance (default 8)"},
    {"--ledger-isolation", "ledger_isolation", "SATWARDEN_LEDGER_ISOLATION", "PostgreSQL: lock (default: writers take one lock row) or serializable (SERIALIZABLE transactions, retried on conflict)"},
    {"--instance-id", "instance_id", "SATWARDEN_INSTANCE_ID", "this instance's name in a fleet (ledger rows, leases, logs; default: random per start)"},
    {nullptr, "metrics_token", "SATWARDEN_METRICS_TOKEN", "bearer token for GET /metrics (Prometheus), at least 16 characters; env or config file only, never a flag"},
    {"--public-url", "public_url", "SATWARDEN_PUBLIC_URL", "the base URL where satwarden's HTTP listener is reached (webhook approve/deny links; default http://HOST:PORT)"},
    {"--console-port", "console_port", "SATWARDEN_CONSOLE_PORT", "serve the owner's console on this port (0 = off, the default; `satwarden console` uses 8403)"},
    {"--console-host", "console_host", "SATWARDEN_CONSOLE_HOST", "address the console listens on (default 127.0.0.1; anything else needs console_public_url)"},
    {"--console-public-url", "console_public_url", "SATWARDEN_CONSOLE_PUBLIC_URL", "https:// origin of a TLS reverse proxy in front of the console (allows binding beyond loopback)"},
    {"--max-body-bytes", "max_body_bytes", "SATWARDEN_MAX_BODY_BYTES", "largest HTTP request body accepted, bytes (default 1048576; 413 above)"},
    {"--max-sessions", "max_sessions", "SATWARDEN_MAX_SESSIONS", "concurrent HTTP sessions (default 256)"},
    {"--max-sessions-per-token", "max_sessions_per_token", "SATWARDEN_MAX_SESSIONS_PER_TOKEN", "HTTP sessions one bearer token may hold open (default 32; 429 beyond)"},
    {"--token-calls-in-flight", "token_calls_in_flight", "SATWARDEN_TOKEN_CALLS_IN_FLIGHT", "tool calls one bearer token may have running at once (default 16; RATE_LIMITED beyond)"},
    {"--token-calls-per-minute", "token_calls_per_minute", "SATWARDEN_TOKEN_CALLS_PER_MINUTE", "tool calls one bearer token may start per minute (default 600; RATE_LIMITED beyond)"},
    {"--shutdown-grace-seconds", "shutdown_grace_seconds", "SATWARDEN_SHUTDOWN_GRACE_SECONDS", "on SIGTERM (HTTP): how long running calls may take to reach their outcome before they are recorded unknown (default 30)"},
    {"--session-idle-seconds", "session_idle_seconds", "SATWARDEN_SESSION_IDLE_SECONDS", "idle HTTP sessions expire after this (default 1800)"},
    {"--http-threads", "http_threads", "SATWARDEN_HTTP_THREADS", "HTTP worker threads running complete requests; connections are held by one event loop, not by threads (default 96)"},
    {"--tools-page-size", "tools_page_size", "SATWARDEN_TOOLS_PAGE_SIZE", "tools/list page size (default 50)"},
    {"--fetch-allow", "fetch_allow", "SATWARDEN_FETCH_ALLOW", "hosts/addresses/CIDRs that access_l402_resource may reach despite the SSRF guard (local development)"},
    {"--fetch-methods", "fetch_methods", "SATWARDEN_FETCH_METHODS", "HTTP methods access_l402_resource may use (default GET,HEAD,POST)"},
    {"--fetch-redirects", "fetch_redirects", "SATWARDEN_FETCH_REDIRECTS", "none (default: 3xx returned to the agent) or same-origin (followed)"},
    {"--fetch-max-body-bytes", "fetch_max_body_bytes", "SATWARDEN_FETCH_MAX_BODY_BYTES", "largest response body returned to the agent (default 262144)"},
    {"--l402-unbound", "l402_unbound", "SATWARDEN_L402_UNBOUND", "an L402 macaroon whose identifier cannot be read cannot be checked against its invoice: refuse (default: the payment might buy nothing) or allow (pay; the result and ledger say binding unverified)"},
    {"--wallet-honours-expiration", "wallet_honours_expiration", "SATWARDEN_WALLET_HONOURS_EXPIRATION", "true if the wallet never executes an expired NIP-47 request: only then does a lookup NOT_FOUND after the request expired release the budget (default false: the payment stays unknown until the wallet or the owner says)"},
    {"--allow-zero-fee-allowance", "allow_zero_fee_allowance", "SATWARDEN_ALLOW_ZERO_FEE_ALLOWANCE", "true to accept a routing-fee allowance of 0 (fees then push spending past caps by each payment's fee); refused by default"},
    {nullptr, "nwc_url", "NWC_URL", "Nostr Wallet Connect URI (nostr+walletconnect://…); env or config file only, never a flag"},
    {"--nwc-pay-timeout-seconds", "nwc_pay_timeout_seconds", "SATWARDEN_NWC_PAY_TIMEOUT", "how long to wait for the wallet to answer pay_invoice (default 60)"},
    {"--nwc-read-timeout-seconds", "nwc_read_timeout_seconds", "SATWARDEN_NWC_READ_TIMEOUT", "how long to wait for other wallet answers (default 10)"},
    {"--nwc-ca-file", "nwc_ca_file", "SATWARDEN_NWC_CA_FILE", "extra CA bundle (PEM) for wss:// relays"},
};

const char* const kKnownFileKeys[] = {"transport", "host", "port", "tokens", "allowed_origins", "allowed_hosts",
                                      "log_level", "log_format", "data_dir", "max_sats", "max_body_bytes", "max_sessions",
                                      "max_sessions_per_token", "token_calls_in_flight", "token_calls_per_minute", "shutdown_grace_seconds",
                                      "session_idle_seconds", "http_threads", "tools_page_size", "nwc_url",
                                      "nwc_pay_timeout_seconds", "nwc_read_timeout_seconds", "nwc_ca_file",
                                      "fetch_allow", "fetch_methods", "fetch_redirects", "fetch_max_body_bytes",
                                      "l402_unbound", "wallet_honours_expiration", "allow_zero_fee_allowance",
                                      "approval_timeout_seconds", "approval_wait", "approval_elicitation",
                                      "owner_npub", "owner_relays", "owner_dm", "approval_webhook_url",
                                      "approval_webhook_secret", "public_url", "metrics_token", "ledger_url",
                                      "ledger_pool_size", "ledger_isolation", "instance_id", "console_port",
                                      "console_host", "console_public_url", "price_source", "price_path", "tools",
                                      "price_currencies", "price_refresh_seconds", "price_max_age_seconds",
                                      // sections owned by other layers, validated there:
                                      "policy", "envelopes", "wallet", "l402"};

std::string json_scalar_to_string(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_unsigned() || v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  return "";
}

Status apply_file(Config& c, PolicyOverrides& ov, const std::string& path) {
  std::ifstream in(path);
  if (!in) return cfg_error("cannot read config file " + path + ": " + std::strerror(errno));
  json doc;
  try {
    doc = json::parse(in);
  } catch (const json::exception& e) {
    return cfg_error("config file " + path + " is not valid JSON: " + e.what());
  }
  if (!doc.is_object()) return cfg_error("config file " + path + " must hold a JSON object");
  for (auto& [k, v] : doc.items()) {
    bool known = false;
    for (auto* kk : kKnownFileKeys) known = known || k == kk;
    if (known) continue;
    for (auto& f : kFlags)
      if (f.file && k == f.key)
        return cfg_error("config file " + path + ": unknown key '" + k + "' (this setting belongs in the policy "
                         "section: " + f.file + ")");
    return cfg_error("config file " + path + ": unknown key '" + k + "'");
  }
  for (auto& [k, v] : doc.items()) {
    if (k == "policy" || k == "envelopes" || k == "wallet" || k == "l402") continue;
    std::string where = "config key '" + k + "'";
    if (k == "tokens") {
      if (!v.is_array()) return cfg_error(where + " must be an array");
      c.tokens.clear();
      for (auto& t : v) {
        if (t.is_string()) {
          c.tokens.push_back(Token{t.get<std::string>(), "", ""});
        } else if (t.is_object() && t.contains("token") && t["token"].is_string()) {
          // Strict: a misspelt "envelope" key would otherwise leave the token silently unbound from its budget.
          for (auto& [tk, tv] : t.items()) {
            if (tk != "token" && tk != "label" && tk != "envelope")
              return cfg_error(where + ": unknown key '" + tk + "' in a token (expected token, label, envelope)");
            if (!tv.is_string()) return cfg_error(where + ": a token's " + tk + " must be a string");
          }
          Token tok{t["token"].get<std::string>(), t.value("label", ""), t.value("envelope", "")};
          c.tokens.push_back(tok);
        } else {
          return cfg_error(where + ": each token must be a string or {token, label?, envelope?}");
        }
      }
      continue;
    }
    if ((k == "fetch_allow" || k == "fetch_methods" || k == "owner_relays" || k == "price_currencies" || k == "tools") && v.is_array()) {
      std::string joined;
      for (auto& x : v) {
        if (!x.is_string()) return cfg_error(where + " must be an array of strings");
        joined += (joined.empty() ? "" : ",") + x.get<std::string>();
      }
      auto st = apply(c, ov, k, joined, where, true);
      if (!st) return st;
      continue;
    }
    if (k == "allowed_origins" || k == "allowed_hosts") {
      if (!v.is_array()) return cfg_error(where + " must be an array of strings");
      auto& dst = k == "allowed_origins" ? c.allowed_origins : c.allowed_hosts;
      for (auto& s : v) {
        if (!s.is_string()) return cfg_error(where + " must be an array of strings");
        dst.push_back(s.get<std::string>());
      }
      continue;
    }
    if (!v.is_string() && !v.is_number_integer() && !v.is_boolean())
      return cfg_error(where + " must be a string, a whole number or a boolean");
    if (v.is_number_integer() && v.get<int64_t>() < 0) return cfg_error(where + " must not be negative");
    auto st = apply(c, ov, k, json_scalar_to_string(v), where, true);
    if (!st) return st;
  }
  c.raw_file = std::move(doc);
  c.config_file = path;
  return ok_status();
}

bool file_exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// The label identifies a token in the ledger and selects its envelope, so labels must be unique; a token
// bound to an envelope the config file does not define would have every payment refused (ENVELOPE_UNKNOWN), so
// that is a start-up error instead. Messages name tokens by label or position, never by value.
Status check_tokens(const Config& c) {
  std::vector<std::string> envelope_names;
  bool have_envelopes = c.raw_file.is_object() && c.raw_file.contains("envelopes");
  if (have_envelopes) {
    auto envs = spend::envelopes_from_json(c.raw_file["envelopes"], 0);  // names only; expiry is the app's business
    if (!envs) return cfg_error("config file " + c.config_file + ": " + envs.error().message);
    for (const auto& e : *envs) envelope_names.push_back(e.name);
  }
  for (size_t i = 0; i < c.tokens.size(); ++i) {
    const Token& t = c.tokens[i];
    // The owner's own callers are recorded as "stdio" / "http-anonymous": a token with such a label would mix
    // its ledger rows with the owner's.
    if (t.label == "stdio" || t.label == "http-anonymous")
      return cfg_error("bearer token #" + std::to_string(i + 1) + " uses the reserved label '" + t.label +
                       "' (it names the owner's own stdio / tokenless callers); choose another label");
    for (size_t j = 0; j < i; ++j) {
      if (c.tokens[j].label == t.label)
        return cfg_error("bearer token label '" + t.label + "' is used by tokens #" + std::to_string(j + 1) +
                         " and #" + std::to_string(i + 1) + "; labels must be unique");
      if (c.tokens[j].token == t.token)
        return cfg_error("bearer tokens #" + std::to_string(j + 1) + " and #" + std::to_string(i + 1) +
                         " are the same token");
    }
    if (!t.envelope.empty() &&
        std::find(envelope_names.begin(), envelope_names.end(), t.envelope) == envelope_names.end())
      return cfg_error("bearer token '" + t.label + "' is bound to envelope '" + t.envelope +
                       "', which the config file's \"envelopes\" section does not define");
  }
  return ok_status();
}

// The configured spend policy: the config file's "policy" section (or the defaults), then every setting from the
// environment/flags replacing its field; normalized.
Result<spend::Policy> effective_policy(const Config& c, const PolicyOverrides& ov) {
  spend::Policy p;
  bool file_per_call = false;
  if (c.raw_file.is_object() && c.raw_file.contains("policy")) {
    const json& sec = c.raw_file["policy"];
    auto r = spend::policy_from_json(sec);
    if (!r) return cfg_error("config file " + c.config_file + ": " + r.error().message);
    p = std::move(*r);
    for (const char* k : {"max_sats", "max_msat", "per_call_sats", "per_call_msat"})
      file_per_call = file_per_call || sec.contains(k);
  }
  if (ov.per_call_msat)
    p.global.per_call_msat = *ov.per_call_msat;
  else if (!file_per_call && ov.file_max_sats_msat)
    p.global.per_call_msat = *ov.file_max_sats_msat;
  for (const auto& [name, cap] : ov.caps) {
    if (name == "lifetime") {
      p.global.lifetime_msat = cap;
      continue;
    }
    for (spend::Window w : {spend::Window::hour, spend::Window::day, spend::Window::week, spend::Window::month})
      if (name == spend::window_name(w)) p.global.window(w) = cap;
  }
  if (ov.fee_base_msat) p.fee.base_msat = *ov.fee_base_msat;
  if (ov.fee_ppm) p.fee.ppm = *ov.fee_ppm;
  if (ov.allow_domains) p.allow_domains = *ov.allow_domains;
  if (ov.deny_domains) p.deny_domains = *ov.deny_domains;
  if (ov.protocols) p.protocols = *ov.protocols;
  if (ov.approve_above_msat) p.global.approve_above_msat = *ov.approve_above_msat;
  if (ov.approve_new_domains) p.approve_new_domains = *ov.approve_new_domains;
  for (const auto& entry : ov.fiat) {
    // A flag or variable sets that window's fiat cap (replacing the file's, in any currency) or removes it.
    // (No structured binding here: clang 14, the fuzz and sanitizer compiler, cannot capture one in a lambda.)
    const auto& window = entry.first;
    auto& f = p.global.fiat;
    f.erase(std::remove_if(f.begin(), f.end(), [&](const spend::FiatCap& x) { return x.window == window; }), f.end());
    if (entry.second) f.push_back(*entry.second);
  }
  auto n = spend::normalize_policy(std::move(p));
  if (!n) return cfg_error("spend policy: " + n.error().message);
  return n;
}

}  // namespace

// Loopback is decided by parsing, never by prefix ("127.0.0.1.nip.io" is a DNS name that can point anywhere):
// exactly "localhost" (any case), an IPv4 literal in 127.0.0.0/8, or the IPv6 literal ::1 (bracketed or not;
// also ::ffff:127.x.y.z). inet_pton takes only the strict forms: four decimal parts, no "127.1", no hex or octal.
bool Config::loopback_bind() const {
  if (ascii_iequals(host, "localhost")) return true;
  unsigned char a[16];
  if (::inet_pton(AF_INET, host.c_str(), a) == 1) return a[0] == 127;
  std::string v6 = host.size() >= 2 && host.front() == '[' && host.back() == ']' ? host.substr(1, host.size() - 2) : host;
  if (::inet_pton(AF_INET6, v6.c_str(), a) != 1) return false;
  static const unsigned char kLoop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(a, kLoop, 16) == 0 || (std::memcmp(a, kMapped, 12) == 0 && a[12] == 127);
}

std::string help_text() {
  std::ostringstream o;
  o << "satwarden " << SW_VERSION << " — an MCP server that pays Lightning invoices for AI agents within a budget\n\n"
    << "Usage: satwarden [options]\n"
    << "       satwarden connect [--name N] [--relay URL] [--max-sats N --budget-renewal P]   connect a wallet by approval\n"
    << "       satwarden doctor [--pay-test] [--json]   check configuration, relays, wallet, budget\n"
    << "       satwarden console [--open] [--print-link]   the owner's console\n"
    << "       satwarden approvals | payments | credentials | policy …   owner commands on the data directory (README)\n\n"
    << "Speaks MCP (2025-11-25, negotiating down to 2024-11-05) over stdio by default, or over HTTP.\n"
    << "Settings come from defaults < config file < environment < flags.\n\n"
    << "Options (environment variable in brackets):\n";
  for (auto& f : kFlags) {
    std::string left = f.flag ? std::string(f.flag) + " VALUE" : std::string("(no flag)");
    o << "  " << left;
    for (size_t i = left.size(); i < 28; ++i) o << ' ';
    if (left.size() >= 28) o << ' ';  // long flag names: keep a space before the text
    o << f.help << " [" << f.env << (f.file ? std::string("; file ") + f.file : std::string()) << "]\n";
  }
  o << "  --config FILE               JSON config file (default $XDG_CONFIG_HOME/satwarden/config.json if it exists)"
       " [SATWARDEN_CONFIG]\n"
    << "  --help                      print this help\n"
    << "  --version                   print the version\n\n"
    << "Config file keys: transport, host, port, tokens ([\"tok\"] or [{\"token\",\"label\",\"envelope\"}]),\n"
    << "allowed_origins, allowed_hosts, log_level, log_format, data_dir, max_sats, max_body_bytes, max_sessions,\n"
    << "max_sessions_per_token, token_calls_in_flight, token_calls_per_minute, shutdown_grace_seconds,\n"
    << "session_idle_seconds, http_threads, ledger_url, ledger_pool_size, ledger_isolation, instance_id,\n"
    << "tools_page_size, nwc_url, nwc_pay_timeout_seconds, nwc_read_timeout_seconds,\n"
    << "nwc_ca_file, fetch_allow, fetch_methods, fetch_redirects, fetch_max_body_bytes, l402_unbound, and the\n"
    << "sections policy, envelopes, wallet, l402.\n\n"
    << "Spend policy: the config file's \"policy\" section is the base (keys as above, plus per-domain caps under\n"
    << "policy.domains). Each policy setting given by the environment or a flag replaces that one field and keeps\n"
    << "the rest of the section (flag > environment > file > default); lists replace, they are not merged. The\n"
    << "per-payment cap is --max-sats/SATWARDEN_MAX_SATS, else policy.max_sats, else the top-level max_sats, else\n"
    << "1000. Tightenings made at run time (configure_budget) are kept in the ledger and still apply: the stricter\n"
    << "wins. A bad value stops start-up with an error naming the setting.\n"
    << "stdout carries only MCP messages; logs go to stderr.\n";
  return o.str();
}

Result<Loaded> load(int argc, const char* const* argv, EnvLookup env) {
  if (!env) env = real_getenv;
  Loaded out;
  Config& c = out.config;

  // Pass 1: --help/--version/--config.
  std::string config_path;
  bool config_explicit = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      out.action = Action::help;
      return out;
    }
    if (a == "--version" || a == "-V") {
      out.action = Action::version;
      return out;
    }
    if (a == "--config" || a.rfind("--config=", 0) == 0) {
      if (a == "--config") {
        if (i + 1 >= argc) return cfg_error("--config needs a value");
        config_path = argv[++i];
      } else {
        config_path = a.substr(9);
      }
      config_explicit = true;
    }
  }
  if (!config_explicit) {
    if (auto e = env("SATWARDEN_CONFIG"); e && !e->empty()) {
      config_path = *e;
      config_explicit = true;
    }
  }
  if (!config_explicit) {
    std::string base;
    if (auto x = env("XDG_CONFIG_HOME"); x && !x->empty()) base = *x;
    else if (auto h = env("HOME"); h && !h->empty()) base = *h + "/.config";
    if (!base.empty() && file_exists(base + "/satwarden/config.json")) config_path = base + "/satwarden/config.json";
  }
  PolicyOverrides ov;
  if (!config_path.empty()) {
    auto st = apply_file(c, ov, config_path);
    if (!st) return st.error();
  }

  // Environment.
  for (auto& f : kFlags) {
    if (auto v = env(f.env)) {
      auto st = apply(c, ov, f.key, *v, std::string("environment variable ") + f.env, false);
      if (!st) return st.error();
    }
  }

  // Flags.
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config") {
      ++i;
      continue;
    }
    if (a.rfind("--config=", 0) == 0) continue;
    std::string name = a, value;
    bool has_value = false;
    if (auto eq = a.find('='); eq != std::string::npos && a.rfind("--", 0) == 0) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      has_value = true;
    }
    if (name == "--http") {  // shorthand
      c.transport = "http";
      continue;
    }
    if (name == "--stdio") {
      c.transport = "stdio";
      continue;
    }
    const FlagSpec* spec = nullptr;
    for (auto& f : kFlags)
      if (f.flag && name == f.flag) spec = &f;
    if (!spec) return cfg_error("unknown option " + name + " (see --help)");
    if (!has_value) {
      if (i + 1 >= argc) return cfg_error(std::string(spec->flag) + " needs a value");
      value = argv[++i];
    }
    auto st = apply(c, ov, spec->key, value, std::string("option ") + spec->flag, false);
    if (!st) return st.error();
  }

  // Token labels default to their position; tokens must be long enough to be worth anything.
  for (size_t i = 0; i < c.tokens.size(); ++i) {
    if (c.tokens[i].token.size() < 16)
      return cfg_error("bearer token #" + std::to_string(i + 1) + " is shorter than 16 characters");
    if (c.tokens[i].label.empty()) c.tokens[i].label = "token-" + std::to_string(i + 1);
  }
  if (auto st = check_tokens(c); !st) return st.error();

  auto pol = effective_policy(c, ov);
  if (!pol) return pol.error();
  {
    // A cap in a currency needs a price source (else every payment under it would be refused).
    std::vector<std::string> fiat;
    for (const auto& f : pol->global.fiat) fiat.push_back(f.currency);
    for (const auto& [pat, caps] : pol->domains)
      for (const auto& f : caps.fiat) fiat.push_back(f.currency);
    if (!fiat.empty() && c.price_source.empty())
      return cfg_error("the spend policy has a cap in " + fiat.front() +
                       ", which needs a BTC price: set price_source (SATWARDEN_PRICE_SOURCE), e.g. coinbase");
  }
  c.policy = std::move(*pol);
  // Where each policy setting came from: flag/env (recorded while applying), else the file's policy section (or its
  // top-level max_sats for the per-payment cap), else the default.
  for (const char* f : {"per_call", "hour", "day", "week", "month", "lifetime", "approve_above", "approve_new_domains",
                        "fee_base", "fee_ppm", "allow_domains", "deny_domains", "protocols"})
    c.policy_sources[f] = "default";
  if (c.raw_file.is_object() && c.raw_file.contains("policy") && c.raw_file["policy"].is_object()) {
    const json& sec = c.raw_file["policy"];
    auto in_file = [&](const std::vector<const char*>& keys) {
      for (const char* k : keys)
        if (sec.contains(k)) return true;
      return false;
    };
    const std::vector<std::pair<const char*, std::vector<const char*>>> file_keys = {
        {"per_call", {"max_sats", "max_msat", "per_call_sats", "per_call_msat"}},
        {"hour", {"hour_sats", "hour_msat"}},
        {"day", {"day_sats", "day_msat"}},
        {"week", {"week_sats", "week_msat"}},
        {"month", {"month_sats", "month_msat"}},
        {"lifetime", {"lifetime_sats", "lifetime_msat"}},
        {"approve_above", {"approve_above_sats", "approve_above_msat"}},
        {"approve_new_domains", {"approve_new_domains"}},
        {"fee_base", {"fee"}},
        {"fee_ppm", {"fee"}},
        {"allow_domains", {"allow_domains"}},
        {"deny_domains", {"deny_domains"}},
        {"protocols", {"protocols"}}};
    for (const auto& [field, keys] : file_keys)
      if (in_file(keys)) c.policy_sources[field] = "config file";
  }
  if (ov.file_max_sats_msat && c.policy_sources["per_call"] == "default") c.policy_sources["per_call"] = "config file";
  for (const auto& [field, src] : ov.sources) c.policy_sources[field] = src;
  if (c.policy.fee.base_msat == 0 && c.policy.fee.ppm == 0 && !c.allow_zero_fee_allowance)
    return cfg_error(
        "the routing-fee allowance is 0 (fee base_msat 0 and ppm 0): real routing fees would then push spending past "
        "every cap. Set SATWARDEN_FEE_BASE_MSAT / SATWARDEN_FEE_PPM above 0, or accept it explicitly with "
        "SATWARDEN_ALLOW_ZERO_FEE_ALLOWANCE=true");

  if (c.data_dir.empty()) {
    if (auto x = env("XDG_DATA_HOME"); x && !x->empty()) c.data_dir = *x + "/satwarden";
    else if (auto h = env("HOME"); h && !h->empty()) c.data_dir = *h + "/.local/share/satwarden";
    else return cfg_error("cannot choose a data directory: set --data-dir, SATWARDEN_DATA_DIR, XDG_DATA_HOME or HOME");
  }
  // The webhook channel: an http(s) URL and a secret worth the name (it signs every message and authorizes signed
  // decisions). The secret itself is never part of a message.
  auto http_url = [](const std::string& u) {
    std::string l = ascii_lower(u);
    return (l.rfind("http://", 0) == 0 && l.size() > 7) || (l.rfind("https://", 0) == 0 && l.size() > 8);
  };
  if (!c.approval_webhook_url.empty()) {
    if (!http_url(c.approval_webhook_url))
      return cfg_error("approval_webhook_url must be an http:// or https:// URL");
    if (c.approval_webhook_secret.size() < 16)
      return cfg_error("approval_webhook_url needs approval_webhook_secret (SATWARDEN_APPROVAL_WEBHOOK_SECRET or the "
                       "config file) of at least 16 characters: it signs every webhook message and authorizes "
                       "signed decisions");
  }
  if (!c.public_url.empty()) {
    if (!http_url(c.public_url)) return cfg_error("public_url must be an http:// or https:// URL");
    while (c.public_url.size() > 1 && c.public_url.back() == '/') c.public_url.pop_back();
  }
  if (c.transport == "http" && !c.loopback_bind() && c.tokens.empty())
    return cfg_error("serving HTTP on " + c.host +
                     " (not loopback) requires bearer tokens: set SATWARDEN_TOKENS or 'tokens' in the config file");
  return out;
}

Status ensure_data_dir(const std::string& dir) {
  // mkdir -p with 0700 for the components we create.
  std::string cur;
  for (size_t i = 0; i <= dir.size(); ++i) {
    if (i == dir.size() || dir[i] == '/') {
      if (!cur.empty() && cur != "/") {
        if (::mkdir(cur.c_str(), 0700) != 0 && errno != EEXIST)
          return make_error("DATA_DIR_UNUSABLE", "cannot create data directory " + cur + ": " + std::strerror(errno));
      }
    }
    if (i < dir.size()) cur += dir[i];
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return make_error("DATA_DIR_UNUSABLE", "data directory " + dir + " is not a directory");
  if (::access(dir.c_str(), W_OK) != 0)
    return make_error("DATA_DIR_UNUSABLE", "data directory " + dir + " is not writable");
  return ok_status();
}

}  // namespace sw::config
