#include "wallet/wallet.h"

namespace sw::wallet {

std::string map_nip47_code(const std::string& c) {
  static const std::pair<const char*, const char*> kMap[] = {
      {"RATE_LIMITED", "WALLET_RATE_LIMITED"},
      {"NOT_IMPLEMENTED", "WALLET_NOT_IMPLEMENTED"},
      {"INSUFFICIENT_BALANCE", "INSUFFICIENT_BALANCE"},
      {"QUOTA_EXCEEDED", "WALLET_QUOTA_EXCEEDED"},
      {"RESTRICTED", "WALLET_RESTRICTED"},
      {"UNAUTHORIZED", "WALLET_UNAUTHORIZED"},
      {"INTERNAL", "WALLET_INTERNAL"},
      {"UNSUPPORTED_ENCRYPTION", "WALLET_UNSUPPORTED_ENCRYPTION"},
      {"PAYMENT_FAILED", "PAYMENT_FAILED"},
      {"NOT_FOUND", "NOT_FOUND"},
      {"OTHER", "WALLET_OTHER"},
  };
  for (auto& [nip47, ours] : kMap)
    if (c == nip47) return ours;
  return "WALLET_OTHER";
}

std::vector<std::string> split_capabilities(std::string_view s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ' ' || c == ',' || c == '|' || c == '\n' || c == '\t') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

bool is_definite_payment_failure(const Error& e) {
  // The wallet said, in a verified reply, that it did not (and will not) pay.
  static const char* kDefinite[] = {"WALLET_RATE_LIMITED",   "WALLET_NOT_IMPLEMENTED", "INSUFFICIENT_BALANCE",
                                    "WALLET_QUOTA_EXCEEDED", "WALLET_RESTRICTED",      "WALLET_UNAUTHORIZED",
                                    "WALLET_UNSUPPORTED_ENCRYPTION", "PAYMENT_FAILED",
                                    // Never left this process / never accepted by any relay:
                                    "WALLET_NOT_CONFIGURED", "INVALID_NWC_URL", "RELAY_UNREACHABLE", "NWC_CLIENT_ERROR"};
  for (auto* d : kDefinite)
    if (e.code == d) return true;
  return false;  // WALLET_TIMEOUT, WALLET_INTERNAL, WALLET_OTHER, INVALID_WALLET_RESPONSE, … → unknown
}

}  // namespace sw::wallet
