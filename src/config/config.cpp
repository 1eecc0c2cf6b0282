#include "config/config.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

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

// Applies one named setting coming from any source. `source` names where it came from (for messages).
Status apply(Config& c, const std::string& key, const std::string& value, const std::string& source) {
  auto what = source;
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
    auto n = parse_uint(what, value, 1, 2100000000000000ull);
    if (!n) return n.error();
    c.default_max_sats = *n;
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
};

// Order = order in --help.
const FlagSpec kFlags[] = {
    {"--transport", "transport", "SATWARDEN_TRANSPORT", "stdio (default) or http (Streamable HTTP at /mcp + legacy SSE at /sse)"},
    {"--host", "host", "SATWARDEN_HOST", "HTTP bind address (default 127.0.0.1; anything else requires bearer tokens)"},
    {"--port", "port", "SATWARDEN_PORT", "HTTP port (default 8402)"},
    {"--token", "tokens", "SATWARDEN_TOKENS", "HTTP bearer token(s), comma-separated; prefer the env var (argv is visible to other users)"},
    {"--allowed-origin", "allowed_origins", "SATWARDEN_ALLOWED_ORIGINS", "extra browser Origins accepted (comma-separated); loopback origins always are"},
    {"--allowed-host", "allowed_hosts", "SATWARDEN_ALLOWED_HOSTS", "extra Host header values accepted when bound to loopback (DNS-rebinding guard)"},
    {"--log-level", "log_level", "SATWARDEN_LOG_LEVEL", "stderr log threshold: debug info notice warning error critical alert emergency (default info)"},
    {"--data-dir", "data_dir", "SATWARDEN_DATA_DIR", "data directory for the ledger and token cache (default $XDG_DATA_HOME/satwarden)"},
    {"--max-sats", "max_sats", "SATWARDEN_MAX_SATS", "default per-call payment cap in sats when a tool call gives none (default 1000)"},
    {"--max-body-bytes", "max_body_bytes", "SATWARDEN_MAX_BODY_BYTES", "largest HTTP request body accepted, bytes (default 1048576; 413 above)"},
    {"--max-sessions", "max_sessions", "SATWARDEN_MAX_SESSIONS", "concurrent HTTP sessions (default 256)"},
    {"--session-idle-seconds", "session_idle_seconds", "SATWARDEN_SESSION_IDLE_SECONDS", "idle HTTP sessions expire after this (default 1800)"},
    {"--http-threads", "http_threads", "SATWARDEN_HTTP_THREADS", "HTTP worker threads; each keep-alive connection holds one (default 96)"},
    {"--tools-page-size", "tools_page_size", "SATWARDEN_TOOLS_PAGE_SIZE", "tools/list page size (default 50)"},
    {"--fetch-allow", "fetch_allow", "SATWARDEN_FETCH_ALLOW", "hosts/addresses/CIDRs that access_l402_resource may reach despite the SSRF guard (local development)"},
    {"--fetch-methods", "fetch_methods", "SATWARDEN_FETCH_METHODS", "HTTP methods access_l402_resource may use (default GET,HEAD,POST)"},
    {"--fetch-redirects", "fetch_redirects", "SATWARDEN_FETCH_REDIRECTS", "none (default: 3xx returned to the agent) or same-origin (followed)"},
    {"--fetch-max-body-bytes", "fetch_max_body_bytes", "SATWARDEN_FETCH_MAX_BODY_BYTES", "largest response body returned to the agent (default 262144)"},
    {nullptr, "nwc_url", "NWC_URL", "Nostr Wallet Connect URI (nostr+walletconnect://…); env or config file only, never a flag"},
    {"--nwc-pay-timeout-seconds", "nwc_pay_timeout_seconds", "SATWARDEN_NWC_PAY_TIMEOUT", "how long to wait for the wallet to answer pay_invoice (default 60)"},
    {"--nwc-read-timeout-seconds", "nwc_read_timeout_seconds", "SATWARDEN_NWC_READ_TIMEOUT", "how long to wait for other wallet answers (default 10)"},
    {"--nwc-ca-file", "nwc_ca_file", "SATWARDEN_NWC_CA_FILE", "extra CA bundle (PEM) for wss:// relays"},
};

const char* const kKnownFileKeys[] = {"transport", "host", "port", "tokens", "allowed_origins", "allowed_hosts",
                                      "log_level", "data_dir", "max_sats", "max_body_bytes", "max_sessions",
                                      "session_idle_seconds", "http_threads", "tools_page_size", "nwc_url",
                                      "nwc_pay_timeout_seconds", "nwc_read_timeout_seconds", "nwc_ca_file",
                                      "fetch_allow", "fetch_methods", "fetch_redirects", "fetch_max_body_bytes",
                                      // sections owned by other layers, validated there:
                                      "policy", "envelopes", "wallet", "l402"};

std::string json_scalar_to_string(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_unsigned() || v.is_number_integer()) return std::to_string(v.get<int64_t>());
  return "";
}

Status apply_file(Config& c, const std::string& path) {
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
    if (!known) return cfg_error("config file " + path + ": unknown key '" + k + "'");
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
          Token tok{t["token"].get<std::string>(), t.value("label", ""), t.value("envelope", "")};
          c.tokens.push_back(tok);
        } else {
          return cfg_error(where + ": each token must be a string or {token, label?, envelope?}");
        }
      }
      continue;
    }
    if ((k == "fetch_allow" || k == "fetch_methods") && v.is_array()) {
      std::string joined;
      for (auto& x : v) {
        if (!x.is_string()) return cfg_error(where + " must be an array of strings");
        joined += (joined.empty() ? "" : ",") + x.get<std::string>();
      }
      auto st = apply(c, k, joined, where);
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
    if (!v.is_string() && !v.is_number_integer()) return cfg_error(where + " must be a string or a whole number");
    if (v.is_number_integer() && v.get<int64_t>() < 0) return cfg_error(where + " must not be negative");
    auto st = apply(c, k, json_scalar_to_string(v), where);
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

}  // namespace

bool Config::loopback_bind() const {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

std::string help_text() {
  std::ostringstream o;
  o << "satwarden " << SW_VERSION << " — an MCP server that pays Lightning invoices for AI agents within a budget\n\n"
    << "Usage: satwarden [options]\n\n"
    << "Speaks MCP (2025-11-25, negotiating down to 2024-11-05) over stdio by default, or over HTTP.\n"
    << "Settings come from defaults < config file < environment < flags.\n\n"
    << "Options (environment variable in brackets):\n";
  for (auto& f : kFlags) {
    std::string left = f.flag ? std::string(f.flag) + " VALUE" : std::string("(no flag)");
    o << "  " << left;
    for (size_t i = left.size(); i < 28; ++i) o << ' ';
    o << f.help << " [" << f.env << "]\n";
  }
  o << "  --config FILE               JSON config file (default $XDG_CONFIG_HOME/satwarden/config.json if it exists)"
       " [SATWARDEN_CONFIG]\n"
    << "  --help                      print this help\n"
    << "  --version                   print the version\n\n"
    << "Config file keys: transport, host, port, tokens ([\"tok\"] or [{\"token\",\"label\",\"envelope\"}]),\n"
    << "allowed_origins, allowed_hosts, log_level, data_dir, max_sats, max_body_bytes, max_sessions,\n"
    << "session_idle_seconds, http_threads, tools_page_size, nwc_url, nwc_pay_timeout_seconds, nwc_read_timeout_seconds,\n"
    << "nwc_ca_file, and the sections policy, envelopes, wallet, l402.\n"
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
  if (!config_path.empty()) {
    auto st = apply_file(c, config_path);
    if (!st) return st.error();
  }

  // Environment.
  for (auto& f : kFlags) {
    if (auto v = env(f.env)) {
      auto st = apply(c, f.key, *v, std::string("environment variable ") + f.env);
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
    auto st = apply(c, spec->key, value, std::string("option ") + spec->flag);
    if (!st) return st.error();
  }

  // Token labels default to their position; tokens must be long enough to be worth anything.
  for (size_t i = 0; i < c.tokens.size(); ++i) {
    if (c.tokens[i].token.size() < 16)
      return cfg_error("bearer token #" + std::to_string(i + 1) + " is shorter than 16 characters");
    if (c.tokens[i].label.empty()) c.tokens[i].label = "token-" + std::to_string(i + 1);
  }

  if (c.data_dir.empty()) {
    if (auto x = env("XDG_DATA_HOME"); x && !x->empty()) c.data_dir = *x + "/satwarden";
    else if (auto h = env("HOME"); h && !h->empty()) c.data_dir = *h + "/.local/share/satwarden";
    else return cfg_error("cannot choose a data directory: set --data-dir, SATWARDEN_DATA_DIR, XDG_DATA_HOME or HOME");
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
