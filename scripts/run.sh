#!/usr/bin/env bash
# Sets up, builds and starts satwarden on stdio with the embedded defaults (ledger under
# $XDG_DATA_HOME/satwarden; no wallet needed to start). Extra arguments go to satwarden (see --help).
# Everything but the server's MCP messages goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh 1>&2
SW_BUILD_TESTS=OFF scripts/build.sh -DSW_BUILD_TESTS=OFF 1>&2
exec build/src/app/satwarden "$@"
