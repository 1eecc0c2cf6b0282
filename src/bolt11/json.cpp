// Feature names (BOLT 9 table) and the decode_invoice tool output.
#include "bolt11/bolt11.h"

namespace sw::bolt11 {

std::optional<std::string> feature_name(int bit) {
  // BOLT 9 assigned pairs (even = required, odd = optional). "Known" for the unknown-even-bit rule means listed
  // here; bits 0/1, 6/7, 8/9, 12/13 are ASSUMED features in current BOLT 9 but still known.
  struct Pair { int even; const char* name; };
  static constexpr Pair kPairs[] = {
      {0, "option_data_loss_protect"},   {4, "option_upfront_shutdown_script"}, {6, "gossip_queries"},
      {8, "var_onion_optin"},            {10, "gossip_queries_ex"},             {12, "option_static_remotekey"},
      {14, "payment_secret"},            {16, "basic_mpp"},                     {18, "option_support_large_channel"},
      {22, "option_anchors"},            {24, "option_route_blinding"},         {26, "option_shutdown_anysegwit"},
      {44, "option_channel_type"},       {46, "option_scid_alias"},             {48, "option_payment_metadata"},
      {50, "option_zeroconf"},
  };
  if (bit < 0) return std::nullopt;
  const int even = bit & ~1;
  for (const auto& p : kPairs) {
    if (p.even == even) return std::string(p.name);
  }
  return std::nullopt;
}

std::vector<Feature> features(const Invoice& inv) {
  std::vector<Feature> out;
  out.reserve(inv.feature_bits.size());
  for (int bit : inv.feature_bits) {
    out.push_back(Feature{bit, feature_name(bit).value_or("unknown"), bit % 2 == 0});
  }
  return out;
}

json to_json(const Invoice& inv, int64_t now_unix) {
  json j = json::object();
  if (inv.amount_msat) {
    j["amount_msat"] = *inv.amount_msat;
    j["amount_sats"] = msat_to_sat_ceil(*inv.amount_msat);
  } else {
    j["amount_msat"] = nullptr;
    j["amount_sats"] = nullptr;
  }
  j["payment_hash"] = inv.payment_hash;
  j["payment_secret"] = inv.payment_secret;
  j["description"] = inv.description ? json(*inv.description) : json(nullptr);
  j["description_hash"] = inv.description_hash ? json(*inv.description_hash) : json(nullptr);
  j["payee"] = inv.payee;
  j["created_at"] = inv.timestamp;
  j["expires_at"] = inv.expires_at();
  j["expired"] = inv.expired(now_unix);
  j["expiry_seconds"] = inv.expiry;
  j["network"] = inv.network;
  j["min_final_cltv_expiry_delta"] = inv.min_final_cltv_expiry_delta;
  json hints = json::array();
  for (const auto& route : inv.route_hints) {
    json r = json::array();
    for (const auto& h : route) {
      r.push_back({{"pubkey", h.pubkey},
                   {"short_channel_id", h.short_channel_id_str},
                   {"fee_base_msat", h.fee_base_msat},
                   {"fee_proportional_millionths", h.fee_proportional_millionths},
                   {"cltv_expiry_delta", h.cltv_expiry_delta}});
    }
    hints.push_back(std::move(r));
  }
  j["route_hints"] = std::move(hints);
  json feats = json::array();
  for (const auto& f : features(inv)) feats.push_back({{"bit", f.bit}, {"name", f.name}, {"required", f.required}});
  j["features"] = std::move(feats);
  json fbs = json::array();
  for (const auto& f : inv.fallbacks) fbs.push_back({{"version", f.version}, {"address", f.address}});
  j["fallback_addresses"] = std::move(fbs);
  j["metadata"] = inv.metadata ? json(*inv.metadata) : json(nullptr);
  return j;
}

}  // namespace sw::bolt11
