// Internal: the approval SQL that runs inside reserve()'s and mark_in_flight()'s transactions (ledger.cpp calls
// these; approvals.cpp implements them and the Ledger's approval methods).
#pragma once

#include <utility>

#include "spend/db.h"
#include "spend/spend.h"

namespace sw::spend::detail {

// Why a payment needs the owner's approval under `pol` (and the envelope `env`, with its run-time tightening),
// in words; empty when it does not. Thresholds: the lowest of the global one, every matching domain entry's and
// the envelope's; "above" compares the amount in msat with threshold * 1000 (so a threshold of 0 catches every
// payment). approve_new_domains: no settled payment for `domain` in the ledger yet.
Result<std::vector<std::string>> approval_reasons(Db& d, const Policy& pol, const std::optional<Envelope>& env,
                                                  const std::string& domain, uint64_t amount_msat);
// The envelope's approval threshold in force: the configured one lowered by a run-time tightening, if any.
Result<std::optional<uint64_t>> envelope_threshold(Db& d, const std::string& name,
                                                   std::optional<uint64_t> configured);
// Inserts a pending approval for payment `payment_id`; returns its row id and its secrets (plaintext).
Result<std::pair<int64_t, ApprovalSecrets>> insert_approval(Db& d, int64_t payment_id,
                                                            const std::vector<std::string>& reasons,
                                                            const ApprovalTerms& terms, int64_t now);
Result<Approval> read_approval(Db& d, int64_t id);
// Before a payment is sent: OK when it has no approval; approved (and not expired) → used; else the refusal.
Status consume_approval(Db& d, int64_t payment_id, int64_t now);

}  // namespace sw::spend::detail
