// Internal: the ledger's schema, one migration list per backend. Entry i upgrades schema version i → i+1; both
// lists end at Ledger::kSchemaVersion and describe the same tables. PostgreSQL was first offered at v6: its first
// entry creates the v6 tables at once and entries 1..5 are empty; from v6 on both lists take the same steps.
#pragma once

#include <vector>

namespace sw::spend::detail {

const std::vector<const char*>& sqlite_migrations();  // applied under PRAGMA user_version
// Applied under satwarden_schema.version, in one transaction holding kPgMigrationLock (pg_advisory_xact_lock),
// so instances starting together migrate once.
const std::vector<const char*>& pg_migrations();
constexpr long long kPgMigrationLock = 0x5357'4c45'4447;  // "SWLEDG"

}  // namespace sw::spend::detail
