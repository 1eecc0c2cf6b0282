// Internal: the purchase and idempotency-key SQL that runs inside the reservation's transaction (ledger.cpp
// calls these from reserve; purchases.cpp implements them and the Ledger's purchase/idempotency methods).
#pragma once

#include "spend/db.h"
#include "spend/spend.h"

namespace sw::spend::detail {

// PURCHASE_EXISTS when the owner holds a live purchase covering the draft's scope (after bringing stale ones up
// to date: a failed/released payment → failed, past valid_until → expired).
Status check_no_live_purchase(Db& d, const PurchaseDraft& draft, int64_t now);
Status insert_purchase(Db& d, const PurchaseDraft& draft, int64_t payment_id, int64_t now);
// Links a running idempotency key to the payment just reserved; IDEMPOTENCY_KEY_REUSED if the key already has one.
Status link_idempotency(Db& d, const IdempotencyRef& ref, int64_t payment_id, int64_t now);

}  // namespace sw::spend::detail
