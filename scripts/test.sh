#!/usr/bin/env bash
# Sets up, builds and runs every test: Catch2 unit tests, interop tests against third-party npm peers
# (MCP SDK, conformance suite, relay, wallet service, bolt11, macaroon — all on 127.0.0.1), and the replay of the
# fuzz seeds and regression inputs (tests/fuzz), via ctest.
#
#   scripts/test.sh [CTEST ARGS…]          the release suite in build/ (what CI runs; see "In CI" below)
#   scripts/test.sh --asan [CTEST ARGS…]   build-asan/: everything built with ASan+UBSan (GCC, SW_SANITIZE), then
#                                          the unit tests and fuzz replays there (interop: add --with-interop)
#   scripts/test.sh --tsan [CTEST ARGS…]   build-tsan/: ThreadSanitizer over the concurrency tests (ledger race,
#                                          group commit, relay pool, wallet, payer/tools, MCP sessions, HTTP)
#   scripts/test.sh --fuzz-smoke [SECONDS] every libFuzzer target for SECONDS (default 15) via scripts/fuzz.sh
#   scripts/test.sh --sanitizers [SECONDS] what CI adds (.ci/run): ONE clang build in build-fuzz/ with ASan+UBSan and
#                                          libFuzzer's instrumentation (SW_FUZZ=ON plus the unit tests), then the unit
#                                          tests under ASan+UBSan and every fuzz target for SECONDS (default 10) — one
#                                          compile of the sources for both, which keeps CI under 45 minutes
#
# CI (.ci/run) runs this script three ways: the release suite, then --sanitizers (ASan+UBSan unit tests and the fuzz
# smoke from one clang build). --asan with interop and --tsan are the longer local matrix (README "Fuzzing and
# sanitizers").
set -euo pipefail
cd "$(dirname "$0")/.."

mode=release
interop=OFF
fuzz_seconds=15
case "${1:-}" in
  --asan) mode=asan; shift ;;
  --tsan) mode=tsan; shift ;;
  --fuzz-smoke)
    mode=fuzz; shift
    if [[ "${1:-}" =~ ^[0-9]+$ ]]; then fuzz_seconds=$1; shift; fi
    ;;
  --sanitizers)
    mode=sanitizers; shift; fuzz_seconds=10
    if [[ "${1:-}" =~ ^[0-9]+$ ]]; then fuzz_seconds=$1; shift; fi
    ;;
esac
if [[ "$mode" == asan && "${1:-}" == "--with-interop" ]]; then
  interop=ON
  shift
fi

# Configures and builds a sanitizer build directory (GCC; Debug + -O1 -g, see SW_SANITIZE in CMakeLists.txt).
sanitizer_build() {
  local dir=$1 sanitize=$2
  local gen=()
  command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
  if [[ ! -f $dir/CMakeCache.txt ]]; then
    cmake -S . -B "$dir" "${gen[@]}" -DCMAKE_BUILD_TYPE=Debug -DSW_SANITIZE="$sanitize" -DSW_WERROR=OFF \
      -DSW_BUILD_TESTS=ON -DSW_INTEROP_TESTS="$interop" 1>&2
  else
    cmake -S . -B "$dir" -DSW_INTEROP_TESTS="$interop" 1>&2
  fi
  cmake --build "$dir" -j"${SW_JOBS:-$(nproc)}" 1>&2
}

run_asan() {
  scripts/setup.sh --with-postgres
  sanitizer_build build-asan address,undefined
  # Leaks are reported (detect_leaks=1) and fail the test; UBSan stops at the first report. Every process of this
  # build (the servers the interop tests spawn too) writes its reports to build-asan/sanitizer-logs/: the run fails
  # when any appears, even from a process whose exit status no test looked at.
  local logs=build-asan/sanitizer-logs status=0
  rm -rf "$logs" && mkdir -p "$logs"
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}" \
  UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
    ctest --test-dir build-asan --output-on-failure -j2 --timeout 900 "$@" || status=$?
  if compgen -G "$logs/*" >/dev/null; then
    echo "test: sanitizer reports in $logs:" >&2
    for f in "$logs"/*; do echo "--- $f" >&2; head -60 "$f" >&2; done
    status=1
  fi
  return $status
}

run_tsan() {
  scripts/setup.sh --with-postgres
  interop=OFF
  sanitizer_build build-tsan thread
  # The concurrency tests: ledger (race, group commit, crash) on SQLite and on PostgreSQL (spend.pg: the connection
  # pool and its waiters), relay pool, wallet, payer and tools, MCP sessions (worker pool, cancellation), HTTP and
  # stdio transports.
  TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}" \
    ctest --test-dir build-tsan --output-on-failure -j2 --timeout 1800 \
      -R '^(spend|spend\.pg|relay|wallet|tools|mcp|transport):' "$@"
}

run_fuzz_smoke() {
  local seconds=$1
  scripts/fuzz.sh all "$seconds"
}

# The unit tests under ASan+UBSan from the fuzz build (clang; every source also carries libFuzzer's coverage
# instrumentation, harmless outside a fuzzer), then the fuzz smoke from the same objects. Reports fail the run as in
# run_asan. Fixed seed: the smoke is the same inputs in every run of a commit, up to how many fit in SECONDS.
run_sanitizers() {
  local seconds=$1
  shift
  scripts/setup.sh --with-postgres --with-fuzz
  local gen=() dir=build-fuzz
  command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
  local cc cxx
  cc=$(command -v clang-14 || command -v clang)
  cxx=$(command -v clang++-14 || command -v clang++)
  CC=$cc CXX=$cxx cmake -S . -B "$dir" "${gen[@]}" -DCMAKE_BUILD_TYPE=Debug -DSW_FUZZ=ON -DSW_BUILD_TESTS=ON \
    -DSW_INTEROP_TESTS=OFF -DSW_WERROR=OFF 1>&2
  cmake --build "$dir" -j"${SW_JOBS:-$(nproc)}" 1>&2
  local logs=$dir/sanitizer-logs status=0
  rm -rf "$logs" && mkdir -p "$logs"
  local symbolizer
  symbolizer=$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)
  [[ -n "$symbolizer" ]] && export ASAN_SYMBOLIZER_PATH=$symbolizer
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}:log_path=$PWD/$logs/asan" \
  UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}:log_path=$PWD/$logs/ubsan" \
    ctest --test-dir "$dir" --output-on-failure -j2 --timeout 900 -E '^bench' "$@" || status=$?
  if compgen -G "$logs/*" >/dev/null; then
    echo "test: sanitizer reports in $logs:" >&2
    for f in "$logs"/*; do echo "--- $f" >&2; head -60 "$f" >&2; done
    status=1
  fi
  [[ $status == 0 ]] || return $status
  SW_FUZZ_NO_SETUP=1 SW_FUZZ_ARGS="-seed=1 ${SW_FUZZ_ARGS:-}" scripts/fuzz.sh all "$seconds"
}

case "$mode" in
  asan) run_asan "$@"; exit ;;
  sanitizers) run_sanitizers "$fuzz_seconds" "$@"; exit ;;
  tsan) run_tsan "$@"; exit ;;
  fuzz) run_fuzz_smoke "$fuzz_seconds"; exit ;;
esac

scripts/setup.sh --with-test-peers
(cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)
(cd tests/package && npm ci --no-audit --no-fund --loglevel=error)
SW_WERROR="${SW_WERROR:-ON}" scripts/build.sh -DSW_BUILD_TESTS=ON
ctest --test-dir build --output-on-failure -j2 --timeout 600 "$@"
