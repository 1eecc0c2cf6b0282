#include "config/config.h"

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

namespace {

std::optional<std::string> real_getenv(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return std::nullopt;
  return std::string(v);
}

Error cfg_error(std::string msg) { return make_error("CONFIG_INVALID", std::move(msg)); }

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, ',')) {
    auto t = std::string(trim(cur));
    if (!t.empty()) out.push_back(t);
  }
  return out;
}

Result<uint64_t> parse_uint(const std::string& what, const std::string& v, uint64_t min, uint64_t max) {
  if (v.empty() || v.size() > 19) return cfg_error(what + " must be a whole number");
  uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return cfg_error(what + " must be a whole number");
    n = n * 10 + uint64_t(c - '0');
  }
  if (n < min || n > max)
    return cfg_error(what + " must be between " + std::to_string(min) + " and " + std::to_string(max));
  return n;
}

// Spend-policy settings from the environment and flags (and the file's top-level max_sats), collected while
// loading. Each later source replaces the earlier value of the same field; effective_policy() lays them over the
// config file's "policy" section. For caps, a present outer optional with an empty inner one means "no cap".
struct PolicyOverrides {
  std::optional<uint64_t> per_call_msat;       // --max-sats / SATWARDEN_MAX_SATS
  std::optional<uint64_t> file_max_sats_msat;  // the config file's top-level "max_sats"
  std::map<std::string, std::optional<uint64_t>> caps;  // "hour" | "day" | "week" | "month" | "lifetime"
  std::optional<uint64_t> fee_base_msat;
  std::optional<uint32_t> fee_ppm;
  std::optional<std::optional<std::vector<std::string>>> allow_domains;  // inner nullopt: no allow list
  std::optional<std::vector<std::string>> deny_domains;
  std::optional<std::vector<std::string>> protocols;
  std::optional<std::optional<uint64_t>> approve_above_msat;  // inner nullopt: "none"
  std::optional<bool> approve_new_domains;
  // --day-fiat "5 usd" and the like: window → cap in a currency (nullopt: "none", no fiat cap on that window).
  std::map<std::string, std::optional<spend::FiatCap>> fiat;
  std::map<std::string, std::string> sources;  // policy field (Config::policy_sources) → where it was last set
};

// The Config::policy_sources name of a policy setting's key ("" for keys that are not policy settings).
std::string policy_field(const std::string& key) {
  static const std::map<std::string, std::string> m{
      {"max_sats", "per_call"},           {"hour_sats", "hour"},          {"day_sats", "day"},
      {"week_sats", "week"},              {"month_sats", "month"},        {"lifetime_sats", "lifetime"},
      {"approve_above_sats", "approve_above"}, {"approve_new_domains", "approve_new_domains"},
      {"fee_base_msat", "fee_base"},      {"fee_ppm", "fee_ppm"},         {"allow_domains", "allow_domains"},
      {"deny_domains", "deny_domains"},   {"protocols", "protocols"}};
  auto it = m.find(key);
  return it == m.end() ? std::string() : it->second;
}

Result<bool> parse_bool(const std::string& what, const std::string& value) {
  if (value == "true" || value == "yes" || value == "1") return true;
  if (value == "false" || value == "no" || value == "0") return false;
  return make_error("CONFIG_INVALID", what + " must be true or false");
}

constexpr uint64_t kMaxSats = spend::kMaxMsat / 1000;  // 21 million BTC

// A cap in sats: a whole number (0 = nothing may be spent) or "none" (no cap). Returned in msat.
Result<std::optional<uint64_t>> parse_cap_sats(const std::string& what, const std::string& v) {
  if (v == "none") return std::optional<uint64_t>{};
  bool digits = !v.empty() && v.size() <= 19 && v.find_first_not_of("0123456789") == std::string::npos;
  if (!digits || std::stoull(v) > kMaxSats)
    return cfg_error(what + " must be a whole number of sats from 0 to " + std::to_string(kMaxSats) +
                     ", or 'none' for no cap");
  return std::optional<uint64_t>{std::stoull(v) * 1000};
}

// A comma-separated list where every entry is non-empty after trimming ("a,,b", "a," and "" are errors).
Result<std::vector<std::string>> parse_strict_list(const std::string& what, const std::string& v) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t comma = v.find(',', start);
    std::string item(trim(std::string_view(v).substr(start, comma == std::string::npos ? std::string::npos
                                                                                         : comma - start)));
    if (item.empty()) return cfg_error(what + " has an empty entry (a comma-separated list is expected)");
    out.push_back(std::move(item));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// Domain patterns as the spend policy accepts them: "api.example.com" or "*.example.com".
Result<std::vector<std::string>> parse_domain_list(const std::string& what, const std::string& v) {
  auto l = parse_strict_list(what, v);
  if (!l) return l.error();
  for (const auto& d : *l) {
    spend::Policy probe;
    probe.deny_domains = {d};
    if (!spend::normalize_policy(probe))
      return cfg_error(what + ": '" + d + "' is not a domain pattern (expected a host such as api.example.com, or "
                       "*.example.com for its subdomains)");
  }
  return l;
}

Result<std::vector<std::string>> parse_protocols(const std::string& what, const std::string& v) {
  if (v == "none") return std::vector<std::string>{};
  auto l = parse_strict_list(what, v);
  if (!l) return l.error();
  const auto& known = spend::all_protocols();
  for (auto& p : *l) {
    p = ascii_lower(p);
    if (std::find(known.begin(), known.end(), p) == known.end())
      return cfg_error(what + ": unknown protocol '" + p + "' (expected bolt11, keysend, l402, mpp, or 'none')");
  }
  return l;
}

// Applies one named setting coming from any source. `source` names where it came from (for messages);
// `from_file` is true for the config file's top-level keys.
Status apply(Config& c, PolicyOverrides& ov, const std::string& key, const std::string& value,
             const std::string& source, bool from_file) {
  auto what = source;
  if (const std::string field = policy_field(key); !field.empty() && !from_file) {
    // "environment variable SATWARDEN_X" → "environment SATWARDEN_X"; "option --x" → "flag --x".
    if (source.rfind("environment variable ", 0) == 0) ov.sources[field] = "environment " + source.substr(21);
    else if (source.rfind("option ", 0) == 0) ov.sources[field] = "flag " + source.substr(7);
    else ov.sources[field] = source;
  }
  if (key == "transport") {
    if (value != "stdio" && value != "http") return cfg_error(what + " must be 'stdio' or 'http'");
    c.transport = value;
  } else if (key == "host") {
    if (value.empty()) return cfg_error(what + " must not be empty");
    c.host = value;
  } else if (key == "port") {
    auto n = parse_uint(what, value, 0, 65535);  // 0 = any free port (tests)
    if (!n) return n.error();
    c.port = static_cast<uint16_t>(*n);
  } else if (key == "log_level") {
    auto l = parse_log_level(value);
    if (!l) return cfg_error(what + " must be one of debug, info, notice, warning, error, critical, alert, emergency");
    c.log_level = *l;
  } else if (key == "log_format") {
    if (value == "text") c.log_format = LogFormat::text;
    else if (value == "json") c.log_format = LogFormat::jsonl;
    else return cfg_error(what + " must be text or json");
  } else if (key == "data_dir") {
    if (value.empty()) return cfg_error(what + " must not be empty");
    c.data_dir = value;
  } else if (key == "max_body_bytes") {
    auto n = parse_uint(what, value, 1024, 64ull << 20);
    if (!n) return n.error();
    c.max_body_bytes = *n;
  } else if (key == "max_sessions") {
    auto n = parse_uint(what, value, 1, 100000);
    if (!n) return n.error();
    c.max_sessions = *n;
  } else if (key == "max_sessions_per_token") {
    auto n = parse_uint(what, value, 1, 100000);
    if (!n) return n.error();
    c.max_sessions_per_token = *n;
  } else if (key == "token_calls_in_flight") {
    auto n = parse_uint(what, value, 1, 100000);
    if (!n) return n.error();
    c.token_calls_in_flight = *n;
  } else if (key == "token_calls_per_minute") {
    auto n = parse_uint(what, value, 1, 1000000);
    if (!n) return n.error();
    c.token_calls_per_minute = *n;
  } else if (key == "shutdown_grace_seconds") {
    auto n = parse_uint(what, value, 0, 3600);
    if (!n) return n.error();
    c.shutdown_grace_seconds = static_cast<int>(*n);
  } else if (key == "session_idle_seconds") {
    auto n = parse_uint(what, value, 1, 7 * 86400);
    if (!n) return n.error();
    c.session_idle_seconds = static_cast<int>(*n);
  } else if (key == "http_threads") {
    auto n = parse_uint(what, value, 4, 4096);
    if (!n) return n.error();
    c.http_threads = *n;
  } else if (key == "tools_page_size") {
    auto n = parse_uint(what, value, 1, 1000);
    if (!n) return n.error();
    c.tools_page_size = *n;
  } else if (key == "max_sats") {
    auto n = parse_uint(what, value, 1, kMaxSats);
    if (!n) return n.error();
    c.default_max_sats = *n;
    (from_file ? ov.file_max_sats_msat : ov.per_call_msat) = *n * 1000;
  } else if (key == "hour_sats" || key == "day_sats" || key == "week_sats" || key == "month_sats" ||
             key == "lifetime_sats") {
    auto cap = parse_cap_sats(what, value);
    if (!cap) return cap.error();
    ov.caps[key.substr(0, key.size() - 5)] = *cap;
  } else if (key == "max_fiat" || key == "hour_fiat" || key == "day_fiat" || key == "week_fiat" ||
             key == "month_fiat" || key == "lifetime_fiat") {
    // "5 usd", "5usd", "12.50 EUR", or "none".
    std::string window = key.substr(0, key.size() - 5);
    if (window == "max") window = "per_call";
    if (value == "none") {
      ov.fiat[window] = std::nullopt;
    } else {
      std::string v;
      for (char ch : value)
        if (ch != ' ') v += ch;
      size_t cut = v.find_first_not_of("0123456789.");
      auto amount = cut == std::string::npos ? sw::Result<uint64_t>(make_error("X", "")) : spend::parse_fiat_amount(v.substr(0, cut));
      const std::string currency = cut == std::string::npos ? std::string() : ascii_lower(v.substr(cut));
      if (!amount || !spend::is_currency_code(currency))
        return cfg_error(what + " must be an amount and a currency code, such as \"5 usd\" or \"12.50 eur\", or 'none'");
      ov.fiat[window] = spend::FiatCap{window, currency, *amount};
    }
  } else if (key == "tools") {
    auto l = parse_strict_list(what, value);
    if (!l) return l.error();
    c.tools.clear();
    for (auto& t : *l) c.tools.push_back(ascii_lower(t));
  } else if (key == "price_source") {
    c.price_source = value;
  } else if (key == "price_path") {
    c.price_path = value;
  } else if (key == "price_currencies") {
    c.price_currencies.clear();
    if (value != "none")
      for (const auto& cur : split_list(value)) {
        if (!spend::is_currency_code(cur)) return cfg_error(what + " must list 3-letter currency codes, such as usd,eur");
        c.price_currencies.push_back(ascii_lower(cur));
      }
  } else if (key == "price_refresh_seconds") {
    auto n = parse_uint(what, value, 10, 86400);
    if (!n) return n.error();
    c.price_refresh_seconds = static_cast<int>(*n);
  } else if (key == "price_max_age_seconds") {
    auto n = parse_uint(what, value, 1, 7 * 86400);
    if (!n) return n.error();
    c.price_max_age_seconds = static_cast<int>(*n);
  } else if (key == "fee_base_msat") {
    auto n = parse_uint(what, value, 0, spend::kMaxMsat);
    if (!n) return n.error();
    ov.fee_base_msat = *n;
  } else if (key == "fee_ppm") {
    auto n = parse_uint(what, value, 0, 1000000);
    if (!n) return n.error();
    ov.fee_ppm = static_cast<uint32_t>(*n);
  } else if (key == "allow_domains") {
    if (value == "any") {
      ov.allow_domains = std::optional<std::vector<std::string>>{};
    } else if (value == "none") {
      ov.allow_domains = std::optional<std::vector<std::string>>{std::vector<std::string>{}};
    } else {
      auto l = parse_domain_list(what, value);
      if (!l) return l.error();
      ov.allow_domains = std::optional<std::vector<std::string>>{*l};
    }
  } else if (key == "deny_domains") {
    if (value == "none") {
      ov.deny_domains = std::vector<std::string>{};
    } else {
      auto l = parse_domain_list(what, value);
      if (!l) return l.error();
      ov.deny_domains = *l;
    }
  } else if (key == "protocols") {
    auto l = parse_protocols(what, value);
    if (!l) return l.error();
    ov.protocols = *l;
  } else if (key == "nwc_pay_timeout_seconds" || key == "nwc_read_timeout_seconds") {
    auto n = parse_uint(what, value, 1, 600);
    if (!n) return n.error();
    (key == "nwc_pay_timeout_seconds" ? c.nwc_pay_timeout_seconds : c.nwc_read_timeout_seconds) = static_cast<int>(*n);
  } else if (key == "fetch_allow") {
    c.fetch_allow = split_list(value);
  } else if (key == "fetch_methods") {
    c.fetch_methods.clear();
    for (auto m : split_list(value)) {
      for (auto& ch : m) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      if (m != "GET" && m != "HEAD" && m != "POST" && m != "PUT" && m != "PATCH" && m != "DELETE" && m != "OPTIONS")
        return cfg_error(what + ": unknown HTTP method " + m);
      c.fetch_methods.push_back(m);
    }
  } else if (key == "fetch_redirects") {
    if (value != "none" && value != "same-origin") return cfg_error(what + " must be 'none' or 'same-origin'");
    c.fetch_redirects = value;
  } else if (key == "fetch_max_body_bytes") {
    auto n = parse_uint(what, value, 1024, 64ull << 20);
    if (!n) return n.error();
    c.fetch_max_body_bytes = *n;
  } else if (key == "l402_unbound") {
    if (value != "allow" && value != "refuse") return cfg_error(what + " must be 'allow' or 'refuse'");
    c.l402_unbound = value;
  } else if (key == "approve_above_sats") {
    auto cap = parse_cap_sats(what, value);
    if (!cap) return cap.error();
    ov.approve_above_msat = *cap;
  } else if (key == "approve_new_domains") {
    auto b = parse_bool(what, value);
    if (!b) return b.error();
    ov.approve_new_domains = *b;
  } else if (key == "approval_timeout_seconds") {
    auto n = parse_uint(what, value, 10, 86400);
    if (!n) return n.error();
    c.approval_timeout_seconds = static_cast<int>(*n);
  } else if (key == "approval_wait") {
    if (value != "wait" && value != "return") return cfg_error(what + " must be 'wait' or 'return'");
    c.approval_wait = value;
  } else if (key == "approval_elicitation") {
    if (value != "auto" && value != "on" && value != "off") return cfg_error(what + " must be auto, on or off");
    c.approval_elicitation = value;
  } else if (key == "owner_npub") {
    c.owner_npub = value;  // checked by the owner messenger at start-up
  } else if (key == "owner_relays") {
    c.owner_relays = split_list(value);
  } else if (key == "owner_dm") {
    if (value != "nip17" && value != "nip04") return cfg_error(what + " must be nip17 or nip04");
    c.owner_dm = value;
  } else if (key == "approval_webhook_url") {
    c.approval_webhook_url = value;
  } else if (key == "ledger_url") {
    if (!spend::is_postgres_url(value))
      return cfg_error(what + " must be a postgres:// or postgresql:// URL (the embedded SQLite ledger needs none)");
    c.ledger_url = value;  // may hold a password: never echoed (prefer PGPASSWORD or ~/.pgpass)
  } else if (key == "ledger_pool_size") {
    auto n = parse_uint(what, value, 1, 1000);
    if (!n) return n.error();
    c.ledger_pool_size = *n;
  } else if (key == "ledger_isolation") {
    if (value != "lock" && value != "serializable") return cfg_error(what + " must be lock or serializable");
    c.ledger_isolation = value;
  } else if (key == "instance_id") {
    if (value.empty() || value.size() > 64) return cfg_error(what + " must be 1 to 64 characters");
    c.instance_id = value;
  } else if (key == "metrics_token") {
    if (value.size() < 16) return cfg_error(what + " must be at least 16 characters");
    c.metrics_token = value;  // secret: never echoed
  } else if (key == "approval_webhook_secret") {
    c.approval_webhook_secret = value;  // secret: never echoed
  } else if (key == "public_url") {
    c.public_url = value;
  } else if (key == "console_port") {
    auto n = parse_uint(what, value, 0, 65535);
    if (!n) return n.error();
    c.console_port = static_cast<int>(*n);
  } else if (key == "console_host") {
    if (value.empty()) return cfg_error(what + " must not be empty");
    c.console_host = value;
  } else if (key == "console_public_url") {
    std::string_view rest = std::string_view(value).substr(std::min<size_t>(value.size(), 8));
    if (value.rfind("https://", 0) != 0 || rest.empty() || rest.find_first_of("/?#@ ") != std::string_view::npos)
      return cfg_error(what + " must be the https:// origin of the TLS reverse proxy in front of the console "
                              "(e.g. https://console.example.com)");
    c.console_public_url = value;
  } else if (key == "wallet_honours_expiration" || key == "allow_zero_fee_allowance") {
    bool v;
    if (value == "true" || value == "yes" || value == "1")
      v = true;
    else if (value == "false" || value == "no" || value == "0")
      v = false;
    else
      return cfg_error(what + " must be true or false");
    (key == "wallet_honours_expiration" ? c.wallet_honours_expiration : c.allow_zero_fee_allowance) = v;
  } else if (key == "nwc_ca_file") {
    c.nwc_ca_file = value;
  } else if (key == "nwc_url") {
    c.nwc_url = value;  // validated by the wallet layer; never echoed
  } else if (key == "allowed_origins") {
    for (auto& o : split_list(value)) c.allowed_origins.push_back(o);
  } else if (key == "allowed_hosts") {
    for (auto& h : split_list(value)) c.allowed_hosts.push_back(h);
  } else if (key == "tokens") {
    c.tokens.clear();
    for (auto& t : split_list(value)) c.tokens.push_back(Token{t, "", ""});
  } else {
    return cfg_error("unknown setting " + what);
  }
  return ok_status();
}

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
