// Fiat caps inside the spend library (fiat.cpp): their JSON forms, the policy operations on them, and applying
// them to a reservation at given prices. Pure functions; no I/O, no state.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "spend/spend.h"

namespace sw::spend {
// "5.00 USD", "0.125 EUR": at least two decimals, more only when the amount has them.
std::string fiat_amount_text(uint64_t micros, const std::string& currency);
}  // namespace sw::spend

namespace sw::spend::detail::fiat {

// Is `key` a fiat cap key of a caps object: "<stem>_<ccy>" or "<stem>" (stem: max, per_call, hour, day, week,
// month, lifetime; ccy: 3 letters)? The bare stems take {"amount": .., "currency": ".."}.
bool is_fiat_key(const std::string& key);
// Reads every fiat key of `obj` over `base` (null removes that cap). POLICY_INVALID on a bad value.
Result<std::vector<FiatCap>> caps_from_json(const json& obj, const std::string& where, std::vector<FiatCap> base);
// Adds "<window>_<ccy>": amount for each cap ("max_<ccy>" for per_call); round-trips through caps_from_json.
void caps_to_json(const std::vector<FiatCap>& caps, json& out);
// An amount: a non-negative number (at most 6 decimals) or a decimal string.
Result<uint64_t> amount_of(const json& v, const std::string& where);
std::vector<FiatCap> min_caps(const std::vector<FiatCap>& a, const std::vector<FiatCap>& b);
void check_caps(const std::vector<FiatCap>& cur, const std::vector<FiatCap>& prop, const std::string& prefix,
                std::vector<std::string>& loosened);
// Lowercases currencies, checks windows and sizes, sorts, keeps the lowest cap per (window, currency).
Status validate(std::vector<FiatCap>& caps, const std::string& where);

json prices_to_json(const Prices& prices);
Prices prices_from_text(const std::string& text);  // the payments.fiat_rates column; {} when empty or unreadable

// Caps with every fiat cap folded into its sat counterpart at `prices` (the lower wins), and for each window
// where a fiat cap is the binding one, that cap and its price. PRICE_UNAVAILABLE when a currency has no price.
struct Applied {
  Caps caps;
  std::map<std::string, std::pair<FiatCap, Price>> binding;  // window → cap, price
};
Result<Applied> apply(const Caps& caps, const Prices& prices, const std::string& scope);
// Adds the fiat side to a BUDGET_EXCEEDED error whose window was bound by a fiat cap.
void explain(Error& e, const Applied& a);

}  // namespace sw::spend::detail::fiat
