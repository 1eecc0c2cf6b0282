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
#
# After the release suite: the fuzz smoke (every target SW_FUZZ_SMOKE_SECONDS, default 10) when SW_FUZZ_SMOKE=1
# (about 8 minutes on 2 cores: the clang build, then ~2.5 minutes of fuzzing);
# the ASan+UBSan unit run when SW_ASAN_STAGE=1 (off by default: its full second build takes ~25 minutes on 2 cores,
# which would take CI past 45 minutes).
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
  # The concurrency tests: ledger (race, group commit, crash), relay pool, wallet, payer and tools, MCP sessions
  # (worker pool, cancellation), HTTP and stdio transports.
  TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}" \
    ctest --test-dir build-tsan --output-on-failure -j2 --timeout 1800 \
      -R '^(spend|relay|wallet|tools|mcp|transport):' "$@"
}

run_fuzz_smoke() {
  local seconds=$1
  scripts/fuzz.sh all "$seconds"
}

case "$mode" in
  asan) run_asan "$@"; exit ;;
  tsan) run_tsan "$@"; exit ;;
  fuzz) run_fuzz_smoke "$fuzz_seconds"; exit ;;
esac

scripts/setup.sh --with-test-peers
(cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)
(cd tests/package && npm ci --no-audit --no-fund --loglevel=error)
SW_WERROR="${SW_WERROR:-ON}" scripts/build.sh -DSW_BUILD_TESTS=ON
ctest --test-dir build --output-on-failure -j2 --timeout 600 "$@"

# The fuzz smoke is opt-in (SW_FUZZ_SMOKE=1): random inputs make it nondeterministic, and the deterministic replay of
# every seed and regression input (fuzz.replay.* above) already runs here.
smoke="${SW_FUZZ_SMOKE:-0}"

if [[ "${SW_ASAN_STAGE:-0}" == 1 ]]; then
  start=$SECONDS
  echo "test: ASan+UBSan unit tests (build-asan)" >&2
  run_asan
  echo "test: ASan+UBSan stage took $((SECONDS - start)) s" >&2
fi
if [[ "$smoke" == 1 ]]; then
  start=$SECONDS
  echo "test: fuzz smoke, ${SW_FUZZ_SMOKE_SECONDS:-10} s per target (build-fuzz)" >&2
  run_fuzz_smoke "${SW_FUZZ_SMOKE_SECONDS:-10}" >&2
  echo "test: fuzz smoke stage took $((SECONDS - start)) s" >&2
fi
