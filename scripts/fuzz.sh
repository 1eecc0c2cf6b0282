#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang, ASan and UBSan into build-fuzz/, and runs one or all of them.
#   scripts/fuzz.sh                 every target, 60 s each
#   scripts/fuzz.sh TARGET [SECONDS]    one target (name as in tests/fuzz/CMakeLists.txt, e.g. bolt11), or "all"
#   scripts/fuzz.sh --list          the target names
# Each run reads tests/fuzz/seeds/<t>/ and tests/fuzz/regressions/<t>/ (never written) and keeps what it finds in
# build-fuzz/corpus/<t>/; tests/fuzz/dicts/<t>.dict is used when present. A crash stops that target: the input is
# saved as build-fuzz/artifacts/<t>/crash-… (reproduce: build-fuzz/tests/fuzz/fuzz_<t> <file>); once fixed, copy it
# into tests/fuzz/regressions/<t>/ so ctest replays it in every build. Exit status 1 when any target crashed.
# Environment: SW_FUZZ_JOBS (build parallelism, default 2), SW_FUZZ_ARGS (extra libFuzzer flags; they come last and
# win, e.g. SW_FUZZ_ARGS=-max_len=300000),
# SW_FUZZ_NO_SETUP=1 (do not call scripts/setup.sh --with-fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=$ROOT/build-fuzz

TARGETS=$(sed -n 's/^sw_fuzz_target(\([a-z0-9_]*\) .*/\1/p' tests/fuzz/CMakeLists.txt)
if [[ "${1:-}" == "--list" ]]; then
  echo "$TARGETS"
  exit 0
fi
WHICH="${1:-all}"
SECONDS_EACH="${2:-60}"
if [[ "$WHICH" != all ]] && ! grep -qx "$WHICH" <<<"$TARGETS"; then
  echo "fuzz: unknown target '$WHICH' (one of: $(echo $TARGETS))" >&2
  exit 2
fi
[[ "$SECONDS_EACH" =~ ^[0-9]+$ ]] || { echo "fuzz: SECONDS must be a whole number" >&2; exit 2; }

[[ "${SW_FUZZ_NO_SETUP:-}" == 1 ]] || scripts/setup.sh --with-fuzz
CC_BIN=$(command -v clang-14 || command -v clang)
CXX_BIN=$(command -v clang++-14 || command -v clang++)
GEN=()
command -v ninja >/dev/null 2>&1 && GEN=(-G Ninja)
if [[ ! -f $BUILD/CMakeCache.txt ]]; then
  CC=$CC_BIN CXX=$CXX_BIN cmake -S . -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Debug -DSW_FUZZ=ON \
    -DSW_BUILD_TESTS=OFF -DSW_WERROR=OFF >&2
fi
build_targets=()
if [[ "$WHICH" == all ]]; then build_targets=(fuzz_all); else build_targets=("fuzz_$WHICH"); fi
cmake --build "$BUILD" -j"${SW_FUZZ_JOBS:-2}" --target "${build_targets[@]}" >&2

SYMBOLIZER=$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)
[[ -n "$SYMBOLIZER" ]] && export ASAN_SYMBOLIZER_PATH=$SYMBOLIZER
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

status=0
summary=()
for t in $TARGETS; do
  [[ "$WHICH" == all || "$WHICH" == "$t" ]] || continue
  corpus=$BUILD/corpus/$t
  artifacts=$BUILD/artifacts/$t
  log=$BUILD/logs/$t.log
  mkdir -p "$corpus" "$artifacts" "$BUILD/logs"
  # -max_len: mutate inputs up to 16 KiB (the regression inputs of 100k-deep JSON still run whole in ctest).
  args=(-max_total_time="$SECONDS_EACH" -print_final_stats=1 -artifact_prefix="$artifacts/" -timeout=25
        -rss_limit_mb=2048 -max_len=16384)
  [[ -f tests/fuzz/dicts/$t.dict ]] && args+=(-dict="tests/fuzz/dicts/$t.dict")
  dirs=("$corpus")
  for d in tests/fuzz/seeds/$t tests/fuzz/regressions/$t; do [[ -d $d ]] && dirs+=("$d"); done
  echo "fuzz: $t for ${SECONDS_EACH}s (log: ${log#$ROOT/})" >&2
  # shellcheck disable=SC2086
  if "$BUILD/tests/fuzz/fuzz_$t" "${args[@]}" ${SW_FUZZ_ARGS:-} "${dirs[@]}" >"$log" 2>&1; then
    result=ok
  else
    result=CRASH
    status=1
    grep -E "ERROR: |runtime error|fuzz property violated|Test unit written" "$log" | head -5 >&2 || true
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[^ ]+' "$log" | tail -1)
  summary+=("$(printf '%-12s %-5s %12s execs  %s' "$t" "$result" "${execs:-?}" "${cov:-}")")
done
printf '%s\n' "${summary[@]}"
exit $status
