#!/usr/bin/env bash
# Configures and builds satwarden (Release) into build/. All output goes to stderr so that
# scripts/run.sh can be an MCP stdio server command (stdout must carry MCP messages only).
set -euo pipefail
cd "$(dirname "$0")/.."
GEN=()
command -v ninja >/dev/null 2>&1 && GEN=(-G Ninja)
if [[ ! -f build/CMakeCache.txt ]]; then
  cmake -S . -B build "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DSW_WERROR="${SW_WERROR:-OFF}" "$@" 1>&2
else
  cmake -S . -B build -DSW_WERROR="${SW_WERROR:-OFF}" "$@" 1>&2
fi
cmake --build build -j"$(nproc)" 1>&2
