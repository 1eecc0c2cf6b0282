// transaction_to_json (tools.h): a NIP-47 transaction object from the wallet in the tool surface's shape, for
// lookup_payment and list_transactions — every field type-checked (a wrong type or a negative number is null),
// sats rounded up beside the exact msat.
#include "tools.h"

namespace sw::tools {

json transaction_to_json(const json& tx) {
  auto str = [&](const char* k) -> json {
    auto it = tx.find(k);
    return it != tx.end() && it->is_string() ? *it : json(nullptr);
  };
  auto num = [&](const char* k) -> json {
    auto it = tx.find(k);
    return it != tx.end() && it->is_number_integer() && it->get<int64_t>() >= 0 ? *it : json(nullptr);
  };
  json amount = num("amount"), fees = num("fees_paid");
  return json{{"type", str("type")},
              {"state", str("state")},
              {"payment_hash", str("payment_hash")},
              {"invoice", str("invoice")},
              {"description", str("description")},
              {"preimage", str("preimage")},
              {"amount_msat", amount},
              {"amount_sats", amount.is_null() ? json(nullptr) : json(msat_to_sat_ceil(amount.get<uint64_t>()))},
              {"fees_paid_msat", fees},
              {"created_at", num("created_at")},
              {"settled_at", num("settled_at")},
              {"expires_at", num("expires_at")}};
}

}  // namespace sw::tools
