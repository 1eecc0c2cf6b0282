// Policy values: normalization, tighten-only comparison, strict merge, JSON form. No I/O.
#include <algorithm>
#include <set>

#include "spend/fiat_internal.h"
#include "spend/spend.h"

namespace sw::spend {

namespace {

constexpr Window kWindows[] = {Window::hour, Window::day, Window::week, Window::month};

bool valid_host_chars(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' || c == ':' ||
              c == '[' || c == ']';
    if (!ok) return false;
  }
  return s.front() != '.' && s.back() != '.';
}

// "" when invalid. Lowercase, one trailing dot stripped, "*." only as a prefix.
std::string normalize_pattern(std::string_view raw) {
  std::string p = ascii_lower(trim(raw));
  if (!p.empty() && p.back() == '.') p.pop_back();
  std::string_view host = p;
  if (host.substr(0, 2) == "*.") host.remove_prefix(2);
  if (!valid_host_chars(host)) return "";
  return p;
}

// Does pattern `outer` match every domain pattern `inner` matches?
bool covers(const std::string& outer, const std::string& inner) {
  if (outer == inner) return true;
  if (outer.rfind("*.", 0) != 0) return false;      // a literal covers only itself
  std::string_view suffix = std::string_view(outer).substr(1);  // ".example.com"
  std::string_view in = inner;
  if (in.rfind("*.", 0) == 0) in.remove_prefix(1);  // "*.a.example.com" → ".a.example.com"
  return in.size() > suffix.size() && in.substr(in.size() - suffix.size()) == suffix;
}

bool covered_by_any(const std::vector<std::string>& outers, const std::string& inner) {
  return std::any_of(outers.begin(), outers.end(), [&](const std::string& o) { return covers(o, inner); });
}

void sort_unique(std::vector<std::string>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

std::optional<uint64_t> min_opt(const std::optional<uint64_t>& a, const std::optional<uint64_t>& b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

Caps min_caps(const Caps& a, const Caps& b) {
  Caps c;
  c.per_call_msat = min_opt(a.per_call_msat, b.per_call_msat);
  for (Window w : kWindows) c.window(w) = min_opt(a.window(w), b.window(w));
  c.lifetime_msat = min_opt(a.lifetime_msat, b.lifetime_msat);
  c.approve_above_msat = min_opt(a.approve_above_msat, b.approve_above_msat);
  c.fiat = detail::fiat::min_caps(a.fiat, b.fiat);
  return c;
}

void check_cap(const std::optional<uint64_t>& cur, const std::optional<uint64_t>& prop, const std::string& field,
               std::vector<std::string>& loosened) {
  if (cur && (!prop || *prop > *cur)) loosened.push_back(field);
}

void check_caps(const Caps& cur, const Caps& prop, const std::string& prefix, std::vector<std::string>& loosened) {
  check_cap(cur.per_call_msat, prop.per_call_msat, prefix + ".per_call_msat", loosened);
  for (Window w : kWindows)
    check_cap(cur.window(w), prop.window(w), prefix + "." + window_name(w) + "_msat", loosened);
  check_cap(cur.lifetime_msat, prop.lifetime_msat, prefix + ".lifetime_msat", loosened);
  check_cap(cur.approve_above_msat, prop.approve_above_msat, prefix + ".approve_above_msat", loosened);
  detail::fiat::check_caps(cur.fiat, prop.fiat, prefix, loosened);
}

Status validate_caps(Caps& c, const std::string& where) {
  if (auto s = detail::fiat::validate(c.fiat, where); !s) return s.error();
  auto bad = [&](const std::optional<uint64_t>& v) { return v && *v > kMaxMsat; };
  bool any = bad(c.per_call_msat) || bad(c.lifetime_msat) || bad(c.approve_above_msat);
  for (Window w : kWindows) any = any || bad(c.window(w));
  if (any) return make_error("POLICY_INVALID", "a cap in " + where + " is larger than 21 million BTC");
  return ok_status();
}

// ---- JSON helpers (nlohmann throws on type mismatches; everything here checks types first)
Result<std::optional<uint64_t>> read_amount(const json& obj, const std::string& stem, const std::string& where,
                                            std::optional<uint64_t> dflt, bool* present = nullptr) {
  bool has_sats = obj.contains(stem + "_sats"), has_msat = obj.contains(stem + "_msat");
  if (present) *present = has_sats || has_msat;
  if (has_sats && has_msat)
    return make_error("POLICY_INVALID", where + ": give " + stem + "_sats or " + stem + "_msat, not both");
  if (!has_sats && !has_msat) return dflt;
  const std::string key = stem + (has_sats ? "_sats" : "_msat");
  const json& v = obj.at(key);
  if (v.is_null()) return std::optional<uint64_t>{};
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
    return make_error("POLICY_INVALID", where + "." + key + " must be a non-negative integer or null");
  uint64_t n = v.get<uint64_t>();
  if (has_sats) {
    if (n > kMaxMsat / 1000) return make_error("POLICY_INVALID", where + "." + key + " is too large");
    n *= 1000;
  }
  if (n > kMaxMsat) return make_error("POLICY_INVALID", where + "." + key + " is too large");
  return std::optional<uint64_t>{n};
}

// approve_above_sats / approve_above_msat: an amount, or "none" / null for no threshold.
Result<std::optional<uint64_t>> read_threshold(const json& obj, const std::string& where,
                                               std::optional<uint64_t> dflt) {
  for (const char* k : {"approve_above_sats", "approve_above_msat"})
    if (obj.contains(k) && obj.at(k).is_string()) {
      if (ascii_lower(obj.at(k).get<std::string>()) != "none")
        return make_error("POLICY_INVALID", where + "." + k + " must be a non-negative integer or \"none\"");
      if (obj.contains("approve_above_sats") && obj.contains("approve_above_msat"))
        return make_error("POLICY_INVALID", where + ": give approve_above_sats or approve_above_msat, not both");
      return std::optional<uint64_t>{};
    }
  return read_amount(obj, "approve_above", where, dflt);
}

Result<Caps> caps_from_json(const json& obj, const std::string& where, Caps base) {
  if (!obj.is_object()) return make_error("POLICY_INVALID", where + " must be an object");
  Caps c = base;
  bool present = false;
  auto pc = read_amount(obj, "max", where, c.per_call_msat, &present);
  if (!pc) return pc.error();
  if (present) {
    if (obj.contains("per_call_sats") || obj.contains("per_call_msat"))
      return make_error("POLICY_INVALID", where + ": max_* and per_call_* are the same cap; give one");
    c.per_call_msat = *pc;
  } else {
    auto pc2 = read_amount(obj, "per_call", where, c.per_call_msat);
    if (!pc2) return pc2.error();
    c.per_call_msat = *pc2;
  }
  for (Window w : kWindows) {
    auto v = read_amount(obj, window_name(w), where, c.window(w));
    if (!v) return v.error();
    c.window(w) = *v;
  }
  auto lt = read_amount(obj, "lifetime", where, c.lifetime_msat);
  if (!lt) return lt.error();
  c.lifetime_msat = *lt;
  auto ap = read_threshold(obj, where, c.approve_above_msat);
  if (!ap) return ap.error();
  c.approve_above_msat = *ap;
  auto fiat = detail::fiat::caps_from_json(obj, where, c.fiat);
  if (!fiat) return fiat.error();
  c.fiat = *fiat;
  return c;
}

json caps_to_json(const Caps& c) {
  json j = json::object();
  auto put = [&](const char* k, const std::optional<uint64_t>& v) { j[k] = v ? json(*v) : json(nullptr); };
  put("per_call_msat", c.per_call_msat);
  for (Window w : kWindows) put((std::string(window_name(w)) + "_msat").c_str(), c.window(w));
  put("lifetime_msat", c.lifetime_msat);
  put("approve_above_msat", c.approve_above_msat);
  detail::fiat::caps_to_json(c.fiat, j);
  return j;
}

Result<std::vector<std::string>> string_list(const json& v, const std::string& where) {
  if (!v.is_array()) return make_error("POLICY_INVALID", where + " must be an array of strings");
  std::vector<std::string> out;
  for (const auto& e : v) {
    if (!e.is_string()) return make_error("POLICY_INVALID", where + " must be an array of strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------- vocabulary
const char* state_name(State s) {
  switch (s) {
    case State::reserved: return "reserved";
    case State::in_flight: return "in_flight";
    case State::settled: return "settled";
    case State::failed: return "failed";
    case State::released: return "released";
    case State::unknown: return "unknown";
  }
  return "unknown";
}

std::optional<State> parse_state(std::string_view s) {
  for (State st : {State::reserved, State::in_flight, State::settled, State::failed, State::released,
                   State::unknown})
    if (s == state_name(st)) return st;
  return std::nullopt;
}

bool transition_allowed(State from, State to) {
  switch (from) {
    case State::reserved: return to == State::in_flight || to == State::released || to == State::failed;
    case State::in_flight:
      return to == State::settled || to == State::failed || to == State::released || to == State::unknown;
    case State::unknown: return to == State::settled || to == State::failed;
    case State::settled:
    case State::failed:
    case State::released: return false;
  }
  return false;
}

bool counts_against_budget(State s) {
  return s == State::reserved || s == State::in_flight || s == State::unknown || s == State::settled;
}

const std::vector<std::string>& all_protocols() {
  static const std::vector<std::string> p = {"bolt11", "keysend", "l402", "mpp"};
  return p;
}

const char* window_name(Window w) {
  switch (w) {
    case Window::hour: return "hour";
    case Window::day: return "day";
    case Window::week: return "week";
    case Window::month: return "month";
  }
  return "?";
}

std::optional<uint64_t>& Caps::window(Window w) {
  switch (w) {
    case Window::hour: return hour_msat;
    case Window::day: return day_msat;
    case Window::week: return week_msat;
    case Window::month: return month_msat;
  }
  return month_msat;
}
const std::optional<uint64_t>& Caps::window(Window w) const { return const_cast<Caps*>(this)->window(w); }

uint64_t FeeAllowance::for_amount(uint64_t amount_msat) const {
  // ceil(amount * ppm / 1e6) without a 128-bit product: split amount into millions and a remainder.
  const uint64_t q = amount_msat / 1'000'000, r = amount_msat % 1'000'000;
  uint64_t pct = q * ppm + (r * ppm + 999'999) / 1'000'000;
  return std::max(base_msat, pct);
}

bool domain_matches(std::string_view pattern, std::string_view domain) {
  if (domain.empty()) return false;
  if (pattern.rfind("*.", 0) == 0) {
    std::string_view suffix = pattern.substr(1);
    return domain.size() > suffix.size() && domain.substr(domain.size() - suffix.size()) == suffix;
  }
  return pattern == domain;
}

// ---------------------------------------------------------------- policy operations
Result<Policy> normalize_policy(Policy p) {
  if (auto s = validate_caps(p.global, "global"); !s) return s.error();
  if (p.fee.ppm > 1'000'000) return make_error("POLICY_INVALID", "fee.ppm must be at most 1000000");
  if (p.fee.base_msat > kMaxMsat) return make_error("POLICY_INVALID", "fee.base_msat is too large");
  std::map<std::string, Caps> domains;
  for (auto [k, caps] : p.domains) {
    std::string n = normalize_pattern(k);
    if (n.empty()) return make_error("POLICY_INVALID", "domains: invalid domain pattern");
    if (auto s = validate_caps(caps, "domains." + n); !s) return s.error();
    auto it = domains.find(n);
    domains[n] = it == domains.end() ? caps : min_caps(it->second, caps);
  }
  p.domains = std::move(domains);
  auto norm_list = [](std::vector<std::string>& v, const char* what) -> Status {
    for (auto& d : v) {
      std::string n = normalize_pattern(d);
      if (n.empty()) return make_error("POLICY_INVALID", std::string(what) + ": invalid domain pattern");
      d = n;
    }
    sort_unique(v);
    return ok_status();
  };
  if (p.allow_domains)
    if (auto s = norm_list(*p.allow_domains, "allow_domains"); !s) return s.error();
  if (auto s = norm_list(p.deny_domains, "deny_domains"); !s) return s.error();
  for (auto& proto : p.protocols) {
    proto = ascii_lower(proto);
    if (std::find(all_protocols().begin(), all_protocols().end(), proto) == all_protocols().end())
      return make_error("POLICY_INVALID", "protocols: unknown protocol (expected bolt11, keysend, l402, mpp)");
  }
  sort_unique(p.protocols);
  return p;
}

Status check_tighter(const Policy& cur, const Policy& prop) {
  std::vector<std::string> loosened;
  check_caps(cur.global, prop.global, "global", loosened);
  for (const auto& [d, caps] : cur.domains) {
    auto it = prop.domains.find(d);
    if (it == prop.domains.end()) {
      // Dropping a domain entry is loosening unless it had no caps at all.
      if (!(caps == Caps{})) loosened.push_back("domains." + d);
      continue;
    }
    check_caps(caps, it->second, "domains." + d, loosened);
  }
  if (cur.approve_new_domains && !prop.approve_new_domains) loosened.push_back("approve_new_domains");
  if (prop.fee.base_msat < cur.fee.base_msat) loosened.push_back("fee.base_msat");
  if (prop.fee.ppm < cur.fee.ppm) loosened.push_back("fee.ppm");
  if (cur.allow_domains) {
    if (!prop.allow_domains) {
      loosened.push_back("allow_domains");
    } else {
      for (const auto& p : *prop.allow_domains)
        if (!covered_by_any(*cur.allow_domains, p)) {
          loosened.push_back("allow_domains");
          break;
        }
    }
  }
  for (const auto& d : cur.deny_domains)
    if (!covered_by_any(prop.deny_domains, d)) {
      loosened.push_back("deny_domains");
      break;
    }
  for (const auto& p : prop.protocols)
    if (std::find(cur.protocols.begin(), cur.protocols.end(), p) == cur.protocols.end()) {
      loosened.push_back("protocols");
      break;
    }
  if (loosened.empty()) return ok_status();
  std::string msg = "policy can only be tightened at run time; this would loosen ";
  for (size_t i = 0; i < loosened.size(); ++i) msg += (i ? ", " : "") + loosened[i];
  return make_error("POLICY_LOOSEN_REFUSED", msg, json{{"field", loosened.front()}, {"fields", loosened}});
}

Policy stricter_of(const Policy& a, const Policy& b) {
  Policy out;
  out.global = min_caps(a.global, b.global);
  out.domains = a.domains;
  for (const auto& [d, caps] : b.domains) {
    auto it = out.domains.find(d);
    if (it == out.domains.end())
      out.domains[d] = caps;
    else
      it->second = min_caps(it->second, caps);
  }
  out.approve_new_domains = a.approve_new_domains || b.approve_new_domains;
  out.fee.base_msat = std::max(a.fee.base_msat, b.fee.base_msat);
  out.fee.ppm = std::max(a.fee.ppm, b.fee.ppm);
  if (!a.allow_domains) {
    out.allow_domains = b.allow_domains;
  } else if (!b.allow_domains) {
    out.allow_domains = a.allow_domains;
  } else {
    // Intersection of two suffix-pattern sets: a domain matching both matches a pattern of one side that
    // the other side covers (of two matching suffix patterns, the longer is covered by the shorter).
    std::vector<std::string> both;
    for (const auto& p : *a.allow_domains)
      if (covered_by_any(*b.allow_domains, p)) both.push_back(p);
    for (const auto& p : *b.allow_domains)
      if (covered_by_any(*a.allow_domains, p)) both.push_back(p);
    sort_unique(both);
    out.allow_domains = std::move(both);
  }
  out.deny_domains = a.deny_domains;
  out.deny_domains.insert(out.deny_domains.end(), b.deny_domains.begin(), b.deny_domains.end());
  sort_unique(out.deny_domains);
  out.protocols.clear();
  for (const auto& p : a.protocols)
    if (std::find(b.protocols.begin(), b.protocols.end(), p) != b.protocols.end()) out.protocols.push_back(p);
  sort_unique(out.protocols);
  return out;
}

// ---------------------------------------------------------------- JSON
Result<Policy> policy_from_json(const json& j) {
  try {
    if (!j.is_object()) return make_error("POLICY_INVALID", "policy must be an object");
    static const std::set<std::string> known = {
        "max_sats",  "max_msat",   "per_call_sats", "per_call_msat", "hour_sats",     "hour_msat",
        "day_sats",  "day_msat",   "week_sats",     "week_msat",     "month_sats",    "month_msat",
        "lifetime_sats", "lifetime_msat", "fee",    "allow_domains", "deny_domains", "protocols", "domains",
        "approve_above_sats", "approve_above_msat", "approve_new_domains"};
    for (const auto& [k, v] : j.items())
      if (!known.count(k) && !detail::fiat::is_fiat_key(k))
        return make_error("POLICY_INVALID", "policy: unknown key '" + k + "'");
    Policy p;
    auto g = caps_from_json(j, "policy", p.global);
    if (!g) return g.error();
    p.global = *g;
    if (j.contains("fee")) {
      const json& f = j.at("fee");
      if (!f.is_object()) return make_error("POLICY_INVALID", "policy.fee must be an object");
      for (const auto& [k, v] : f.items()) {
        if (k != "base_msat" && k != "ppm") return make_error("POLICY_INVALID", "policy.fee: unknown key '" + k + "'");
        if (!v.is_number_integer() || (v.is_number_integer() && !v.is_number_unsigned() && v.get<int64_t>() < 0))
          return make_error("POLICY_INVALID", "policy.fee." + k + " must be a non-negative integer");
      }
      if (f.contains("base_msat")) p.fee.base_msat = f.at("base_msat").get<uint64_t>();
      if (f.contains("ppm")) {
        uint64_t ppm = f.at("ppm").get<uint64_t>();
        if (ppm > 1'000'000) return make_error("POLICY_INVALID", "policy.fee.ppm must be at most 1000000");
        p.fee.ppm = static_cast<uint32_t>(ppm);
      }
    }
    if (j.contains("allow_domains") && !j.at("allow_domains").is_null()) {
      auto l = string_list(j.at("allow_domains"), "policy.allow_domains");
      if (!l) return l.error();
      p.allow_domains = *l;
    }
    if (j.contains("deny_domains")) {
      auto l = string_list(j.at("deny_domains"), "policy.deny_domains");
      if (!l) return l.error();
      p.deny_domains = *l;
    }
    if (j.contains("approve_new_domains")) {
      if (!j.at("approve_new_domains").is_boolean())
        return make_error("POLICY_INVALID", "policy.approve_new_domains must be true or false");
      p.approve_new_domains = j.at("approve_new_domains").get<bool>();
    }
    if (j.contains("protocols")) {
      auto l = string_list(j.at("protocols"), "policy.protocols");
      if (!l) return l.error();
      p.protocols = *l;
    }
    if (j.contains("domains")) {
      const json& d = j.at("domains");
      if (!d.is_object()) return make_error("POLICY_INVALID", "policy.domains must be an object");
      for (const auto& [k, v] : d.items()) {
        if (v.is_object())
          for (const auto& [ck, cv] : v.items()) {
            (void)cv;
            static const std::set<std::string> caps_keys = {
                "max_sats", "max_msat", "per_call_sats", "per_call_msat", "hour_sats", "hour_msat", "day_sats",
                "day_msat", "week_sats", "week_msat", "month_sats", "month_msat", "lifetime_sats", "lifetime_msat",
                "approve_above_sats", "approve_above_msat"};
            if (!caps_keys.count(ck) && !detail::fiat::is_fiat_key(ck))
              return make_error("POLICY_INVALID", "policy.domains entry: unknown key '" + ck + "'");
          }
        auto c = caps_from_json(v, "policy.domains entry", Caps{});
        if (!c) return c.error();
        p.domains[k] = *c;
      }
    }
    return normalize_policy(std::move(p));
  } catch (const std::exception&) {
    return make_error("POLICY_INVALID", "policy has a value of the wrong type");
  }
}

json policy_to_json(const Policy& p) {
  json j = caps_to_json(p.global);
  j["fee"] = {{"base_msat", p.fee.base_msat}, {"ppm", p.fee.ppm}};
  j["allow_domains"] = p.allow_domains ? json(*p.allow_domains) : json(nullptr);
  j["deny_domains"] = p.deny_domains;
  j["protocols"] = p.protocols;
  j["approve_new_domains"] = p.approve_new_domains;
  json d = json::object();
  for (const auto& [k, c] : p.domains) d[k] = caps_to_json(c);
  j["domains"] = d;
  return j;
}

Result<std::vector<Envelope>> envelopes_from_json(const json& j, int64_t now) {
  try {
    if (!j.is_array()) return make_error("POLICY_INVALID", "envelopes must be an array");
    std::vector<Envelope> out;
    std::set<std::string> names;
    for (const auto& e : j) {
      if (!e.is_object()) return make_error("POLICY_INVALID", "each envelope must be an object");
      for (const auto& [k, v] : e.items()) {
        (void)v;
        const bool fiat_cap_key = k == "cap" || (k.size() == 7 && k.rfind("cap_", 0) == 0 &&
                                                  k != "cap_sat" && is_currency_code(k.substr(4)));
        if (k != "name" && k != "cap_sats" && k != "cap_msat" && k != "expires_at" && k != "ttl_seconds" &&
            k != "protocols" && k != "approve_above_sats" && k != "approve_above_msat" && !fiat_cap_key)
          return make_error("POLICY_INVALID", "envelope: unknown key '" + k + "'");
      }
      Envelope env;
      if (!e.contains("name") || !e.at("name").is_string() || e.at("name").get<std::string>().empty())
        return make_error("POLICY_INVALID", "envelope.name must be a non-empty string");
      env.name = e.at("name").get<std::string>();
      if (!names.insert(env.name).second)
        return make_error("POLICY_INVALID", "envelope names must be unique");
      auto cap = read_amount(e, "cap", "envelope '" + env.name + "'", std::nullopt);
      if (!cap) return cap.error();
      // A cap in a currency: "cap": {"amount": 10, "currency": "usd"} or "cap_usd": 10 (the "lifetime" window).
      json fiat_keys = json::object();
      for (const auto& [k, v] : e.items())
        if (k == "cap" || (k.size() == 7 && k.rfind("cap_", 0) == 0 && k != "cap_sat" && is_currency_code(k.substr(4))))
          fiat_keys[k == "cap" ? std::string("lifetime") : "lifetime_" + k.substr(4)] = v;
      if (fiat_keys.size() > 1)
        return make_error("POLICY_INVALID", "envelope '" + env.name + "': give one cap in a currency");
      auto fiat = detail::fiat::caps_from_json(fiat_keys, "envelope '" + env.name + "'", {});
      if (!fiat) return fiat.error();
      if (!fiat->empty()) env.fiat_cap = fiat->front();
      if (!*cap && !env.fiat_cap)
        return make_error("POLICY_INVALID", "envelope '" + env.name +
                                                "' needs a cap: cap_sats, cap_msat, or a currency cap such as "
                                                "\"cap\": {\"amount\": 10, \"currency\": \"usd\"}");
      env.cap_msat = *cap ? **cap : kMaxMsat;
      auto ap = read_threshold(e, "envelope '" + env.name + "'", std::nullopt);
      if (!ap) return ap.error();
      env.approve_above_msat = *ap;
      if (e.contains("expires_at") && e.contains("ttl_seconds"))
        return make_error("POLICY_INVALID", "envelope '" + env.name + "': give expires_at or ttl_seconds");
      if (e.contains("expires_at")) {
        if (!e.at("expires_at").is_number_integer())
          return make_error("POLICY_INVALID", "envelope.expires_at must be unix seconds");
        env.expires_at = e.at("expires_at").get<int64_t>();
      }
      if (e.contains("ttl_seconds")) {
        const json& t = e.at("ttl_seconds");
        if (!t.is_number_integer() || t.get<int64_t>() <= 0 || t.get<int64_t>() > (int64_t{1} << 40))
          return make_error("POLICY_INVALID", "envelope.ttl_seconds must be a positive integer");
        env.ttl_seconds = t.get<int64_t>();
        env.expires_at = now + *env.ttl_seconds;  // provisional: Ledger::set_envelopes() anchors it
      }
      if (e.contains("protocols")) {
        auto l = string_list(e.at("protocols"), "envelope.protocols");
        if (!l) return l.error();
        for (auto& p : *l) {
          p = ascii_lower(p);
          if (std::find(all_protocols().begin(), all_protocols().end(), p) == all_protocols().end())
            return make_error("POLICY_INVALID", "envelope.protocols: unknown protocol");
        }
        sort_unique(*l);
        env.protocols = *l;
      }
      out.push_back(std::move(env));
    }
    return out;
  } catch (const std::exception&) {
    return make_error("POLICY_INVALID", "envelopes have a value of the wrong type");
  }
}

}  // namespace sw::spend
