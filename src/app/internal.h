// Pieces of the server's start-up shared between src/app's files (not a public interface: app.h is).
#pragma once

#include <memory>

#include "config/config.h"
#include "spend/spend.h"

namespace sw::app {

// The spend ledger the configuration names: DATA_DIR/ledger.sqlite, or PostgreSQL at ledger_url (a fleet).
Result<std::unique_ptr<spend::Ledger>> open_ledger(const config::Config& cfg);

// `satwarden payments|credentials|policy|approvals …` (owner_commands.cpp): the owner's commands on the data
// directory, without starting a server; argv[1] is the group. Returns the process exit status.
int owner_command(int argc, char** argv);

}  // namespace sw::app
