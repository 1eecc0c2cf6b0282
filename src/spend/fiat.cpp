// Fiat caps: integer conversions between msat and currency micros, amounts as text, the caps' JSON forms
// ("day_usd": 5, "day": {"amount": 5, "currency": "usd"}), and applying them to a reservation at given prices.
// No I/O: prices come from the caller (price::Source).
#include "spend/fiat_internal.h"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace sw::spend {

namespace {
__extension__ using u128 = unsigned __int128;  // 128-bit products: msat × price overflow 64 bits

std::string upper(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

uint64_t clamp64(u128 v, uint64_t max) { return v > u128(max) ? max : static_cast<uint64_t>(v); }
}  // namespace

uint64_t fiat_to_msat_floor(uint64_t micros, uint64_t micros_per_btc) {
  if (micros_per_btc == 0) return 0;
  return clamp64(u128(micros) * kMsatPerBtc / micros_per_btc, kMaxMsat);
}

uint64_t msat_to_fiat_ceil(uint64_t msat, uint64_t micros_per_btc) {
  const u128 p = u128(msat) * micros_per_btc;
  return clamp64((p + kMsatPerBtc - 1) / kMsatPerBtc, UINT64_MAX);
}

uint64_t msat_to_fiat_floor(uint64_t msat, uint64_t micros_per_btc) {
  return clamp64(u128(msat) * micros_per_btc / kMsatPerBtc, UINT64_MAX);
}

Result<uint64_t> parse_fiat_amount(std::string_view text) {
  auto bad = [&] {
    return make_error("INVALID_ARGUMENT",
                      "a currency amount must be a plain decimal number such as 5 or 12.50 (at most 6 decimals)");
  };
  if (text.empty() || text.size() > 24) return bad();
  uint64_t whole = 0, frac = 0;
  size_t i = 0, digits = 0, decimals = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, ++digits) {
    if (whole > 100'000'000'000ULL) return bad();  // 1e11 units: far beyond any cap
    whole = whole * 10 + uint64_t(text[i] - '0');
  }
  if (i < text.size()) {
    if (text[i] != '.') return bad();
    ++i;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, ++decimals) {
      if (decimals >= 6) return bad();
      frac = frac * 10 + uint64_t(text[i] - '0');
    }
    if (i != text.size() || decimals == 0) return bad();
  }
  if (digits == 0) return bad();
  for (size_t k = decimals; k < 6; ++k) frac *= 10;
  return whole * 1'000'000 + frac;
}

json fiat_amount_json(uint64_t micros) {
  if (micros % 1'000'000 == 0) return json(micros / 1'000'000);
  return json(static_cast<double>(micros) / 1e6);
}

std::string fiat_amount_text(uint64_t micros, const std::string& currency) {
  std::string s = std::to_string(micros / 1'000'000);
  uint64_t frac = micros % 1'000'000;
  // Two decimals at least (cents), more only when the amount has them.
  std::string f = std::to_string(1'000'000 + frac).substr(1);
  while (f.size() > 2 && f.back() == '0') f.pop_back();
  s += "." + f;
  return s + " " + upper(currency);
}

bool is_currency_code(std::string_view code) {
  return code.size() == 3 && std::all_of(code.begin(), code.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
         });
}

json price_json(const std::string& currency, const Price& p) {
  return {{"currency", currency},
          {"btc_price", fiat_amount_json(p.micros_per_btc)},
          {"at", p.fetched_at},
          {"source", p.source}};
}

namespace detail::fiat {

const std::vector<std::string>& stems() {
  static const std::vector<std::string> s = {"max", "per_call", "hour", "day", "week", "month", "lifetime"};
  return s;
}

std::string window_of_stem(const std::string& stem) { return stem == "max" ? "per_call" : stem; }

bool is_fiat_key(const std::string& key) {
  for (const auto& stem : stems()) {
    if (key == stem) return true;
    if (key.size() == stem.size() + 4 && key.compare(0, stem.size(), stem) == 0 && key[stem.size()] == '_') {
      std::string code = key.substr(stem.size() + 1);
      if (code != "sat" && is_currency_code(code)) return true;
    }
  }
  return false;
}

Result<uint64_t> amount_of(const json& v, const std::string& where) {
  if (v.is_string()) {
    auto a = parse_fiat_amount(v.get<std::string>());
    if (!a) return make_error("POLICY_INVALID", where + ": " + a.error().message);
    return *a;
  }
  if (v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0)) {
    uint64_t n = v.get<uint64_t>();
    if (n > 100'000'000'000ULL) return make_error("POLICY_INVALID", where + " is too large");
    return n * 1'000'000;
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!(d >= 0) || d > 1e11) return make_error("POLICY_INVALID", where + " must be a non-negative amount");
    const double scaled = d * 1e6;
    const double r = std::round(scaled);
    if (std::fabs(scaled - r) > 1e-3) return make_error("POLICY_INVALID", where + " has more than 6 decimals");
    return static_cast<uint64_t>(r);
  }
  return make_error("POLICY_INVALID", where + " must be an amount (a number or a decimal string)");
}

Result<std::vector<FiatCap>> caps_from_json(const json& obj, const std::string& where,
                                            std::vector<FiatCap> base) {
  for (const auto& [k, v] : obj.items()) {
    if (!is_fiat_key(k)) continue;
    std::string stem, currency;
    uint64_t micros = 0;
    bool remove = v.is_null();
    const size_t us = k.rfind('_');
    const bool suffixed = us != std::string::npos && k.size() - us == 4 && is_currency_code(k.substr(us + 1)) &&
                          std::find(stems().begin(), stems().end(), k.substr(0, us)) != stems().end();
    if (suffixed) {
      stem = k.substr(0, us);
      currency = ascii_lower(k.substr(us + 1));
      if (!remove) {
        auto a = amount_of(v, where + "." + k);
        if (!a) return a.error();
        micros = *a;
      }
    } else {
      stem = k;
      if (!v.is_object() || !v.contains("amount") || !v.contains("currency") || v.size() != 2 ||
          !v.at("currency").is_string() || !is_currency_code(v.at("currency").get<std::string>()))
        return make_error("POLICY_INVALID",
                          where + "." + k + " must be {\"amount\": <number>, \"currency\": \"<3-letter code>\"}");
      currency = ascii_lower(v.at("currency").get<std::string>());
      auto a = amount_of(v.at("amount"), where + "." + k + ".amount");
      if (!a) return a.error();
      micros = *a;
    }
    const std::string window = window_of_stem(stem);
    if (suffixed && (stem == "max" || stem == "per_call")) {
      // max_usd and per_call_usd are the same cap.
      const std::string other = (stem == "max" ? "per_call_" : "max_") + currency;
      if (obj.contains(other))
        return make_error("POLICY_INVALID", where + ": " + k + " and " + other + " are the same cap; give one");
    }
    base.erase(std::remove_if(base.begin(), base.end(),
                              [&](const FiatCap& c) { return c.window == window && c.currency == currency; }),
               base.end());
    if (!remove) base.push_back({window, currency, micros});
  }
  std::sort(base.begin(), base.end());
  return base;
}

void caps_to_json(const std::vector<FiatCap>& caps, json& out) {
  for (const auto& c : caps)
    out[(c.window == "per_call" ? std::string("max") : c.window) + "_" + c.currency] = fiat_amount_json(c.micros);
}

std::vector<FiatCap> min_caps(const std::vector<FiatCap>& a, const std::vector<FiatCap>& b) {
  std::vector<FiatCap> out = a;
  for (const auto& c : b) {
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const FiatCap& o) { return o.window == c.window && o.currency == c.currency; });
    if (it == out.end())
      out.push_back(c);
    else
      it->micros = std::min(it->micros, c.micros);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void check_caps(const std::vector<FiatCap>& cur, const std::vector<FiatCap>& prop, const std::string& prefix,
                std::vector<std::string>& loosened) {
  for (const auto& c : cur) {
    auto it = std::find_if(prop.begin(), prop.end(),
                           [&](const FiatCap& o) { return o.window == c.window && o.currency == c.currency; });
    if (it == prop.end() || it->micros > c.micros)
      loosened.push_back(prefix + "." + (c.window == "per_call" ? std::string("max") : c.window) + "_" + c.currency);
  }
}

Status validate(std::vector<FiatCap>& caps, const std::string& where) {
  for (auto& c : caps) {
    c.currency = ascii_lower(c.currency);
    if (!is_currency_code(c.currency))
      return make_error("POLICY_INVALID", where + ": a fiat cap needs a 3-letter currency code");
    if (std::find(stems().begin() + 1, stems().end(), c.window) == stems().end())
      return make_error("POLICY_INVALID", where + ": unknown fiat cap window '" + c.window + "'");
    if (c.micros > 100'000'000'000ULL * 1'000'000)
      return make_error("POLICY_INVALID", where + ": a fiat cap is too large");
  }
  std::sort(caps.begin(), caps.end());
  // One per (window, currency): the lowest.
  std::vector<FiatCap> out;
  for (const auto& c : caps)
    if (out.empty() || out.back().window != c.window || out.back().currency != c.currency) out.push_back(c);
  caps = std::move(out);
  return ok_status();
}

json prices_to_json(const Prices& prices) {
  json j = json::object();
  for (const auto& [cur, p] : prices)
    j[cur] = {{"micros_per_btc", p.micros_per_btc}, {"at", p.fetched_at}, {"source", p.source}};
  return j;
}

Prices prices_from_text(const std::string& text) {
  Prices out;
  if (text.empty()) return out;
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return out;
  for (const auto& [cur, v] : j.items()) {
    if (!v.is_object() || !v.contains("micros_per_btc") || !v.at("micros_per_btc").is_number_unsigned()) continue;
    Price p;
    p.micros_per_btc = v.at("micros_per_btc").get<uint64_t>();
    if (v.contains("at") && v.at("at").is_number_integer()) p.fetched_at = v.at("at").get<int64_t>();
    if (v.contains("source") && v.at("source").is_string()) p.source = v.at("source").get<std::string>();
    out[cur] = p;
  }
  return out;
}

Result<Applied> apply(const Caps& caps, const Prices& prices, const std::string& scope) {
  Applied out;
  out.caps = caps;
  for (const auto& c : caps.fiat) {
    auto it = prices.find(c.currency);
    if (it == prices.end() || it->second.micros_per_btc == 0)
      return make_error("PRICE_UNAVAILABLE",
                        "the " + scope + " " + c.window + " cap is " + fiat_amount_text(c.micros, c.currency) +
                            ", and no fresh BTC price in " + upper(c.currency) +
                            " is known, so this payment cannot be checked against it; nothing was paid",
                        json{{"scope", scope}, {"window", c.window}, {"currency", c.currency}});
    const uint64_t msat = fiat_to_msat_floor(c.micros, it->second.micros_per_btc);
    std::optional<uint64_t>* slot = nullptr;
    if (c.window == "per_call") slot = &out.caps.per_call_msat;
    else if (c.window == "lifetime") slot = &out.caps.lifetime_msat;
    else
      for (Window w : {Window::hour, Window::day, Window::week, Window::month})
        if (c.window == window_name(w)) slot = &out.caps.window(w);
    if (!slot)  // unreachable through the parsers (they check windows); never skip a cap silently
      return make_error("POLICY_INVALID", "the " + scope + " fiat cap has an unknown window '" + c.window + "'");
    if (!*slot || msat < **slot) {
      *slot = msat;
      out.binding[c.window] = {c, it->second};
    }
  }
  return out;
}

void explain(Error& e, const Applied& a) {
  if (e.code != "BUDGET_EXCEEDED" || !e.details.is_object()) return;
  const std::string window = e.details.value("window", "");
  auto it = a.binding.find(window);
  if (it == a.binding.end()) return;
  const auto& [cap, price] = it->second;
  e.details["limit_fiat"] = {{"amount", fiat_amount_json(cap.micros)}, {"currency", cap.currency}};
  e.details["price"] = price_json(cap.currency, price);
  const uint64_t spent = e.details.value("spent_msat", uint64_t{0});
  const uint64_t requested = e.details.value("requested_msat", uint64_t{0});
  e.details["spent_fiat"] = fiat_amount_json(msat_to_fiat_ceil(spent, price.micros_per_btc));
  e.details["requested_fiat"] = fiat_amount_json(msat_to_fiat_ceil(requested, price.micros_per_btc));
  e.message += " That cap is " + fiat_amount_text(cap.micros, cap.currency) + " (at 1 BTC = " +
               fiat_amount_text(price.micros_per_btc, cap.currency) + "); stricter than any sat cap there.";
}

}  // namespace detail::fiat

}  // namespace sw::spend
