// What each setting means (config/internal.h apply): one named setting from any source — flag, environment
// variable or config file key — checked and stored into the Config or, for the spend policy, the overrides.
#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <sstream>

#include "config/config.h"
#include "config/internal.h"

namespace sw::config::detail {

std::optional<std::string> real_getenv(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return std::nullopt;
  return std::string(v);
}

Error cfg_error(std::string msg) { return make_error("CONFIG_INVALID", std::move(msg)); }

namespace {

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

}  // namespace

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

}  // namespace sw::config::detail
