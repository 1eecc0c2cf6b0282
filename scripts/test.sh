#!/usr/bin/env bash
# Sets up, builds and runs every test: Catch2 unit tests, interop tests against third-party npm peers
# (MCP SDK, conformance suite, relay, wallet service, bolt11, macaroon — all on 127.0.0.1), via ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --with-test-peers
(cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)
SW_WERROR="${SW_WERROR:-ON}" scripts/build.sh -DSW_BUILD_TESTS=ON
ctest --test-dir build --output-on-failure -j2 --timeout 600 "$@"
