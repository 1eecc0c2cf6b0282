#!/usr/bin/env bash
# A fleet you can run: PostgreSQL 15 from Debian's packages in a temporary directory, three satwarden HTTP
# instances sharing it as their ledger (one budget, one double-pay guard, one set of purchases and approvals),
# and how to point MCP clients and Prometheus at them. Ctrl-C stops everything and removes the directory.
#   scripts/fleet-demo.sh            builds if needed; instances on 127.0.0.1:8411, 8412, 8413
# Environment: NWC_URL (the wallet all three pay from; without it they start without a wallet),
# SATWARDEN_DAY_SATS (the shared day cap, default 1000), FLEET_BASE_PORT (default 8411).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
[[ -x build/src/app/satwarden ]] || { scripts/setup.sh --with-postgres && scripts/build.sh; }
scripts/setup.sh --with-postgres >/dev/null
BIN=$ROOT/build/src/app/satwarden
DIR=$(mktemp -d /tmp/satwarden-fleet-XXXXXX)
chmod 711 "$DIR"
BASE=${FLEET_BASE_PORT:-8411}
TOKEN=${SATWARDEN_TOKENS:-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}
METRICS=${SATWARDEN_METRICS_TOKEN:-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  scripts/pg-server.sh stop "$DIR/pg" || true
  rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

URL=$(scripts/pg-server.sh start "$DIR/pg")
echo "PostgreSQL: $URL (data in $DIR/pg, log $DIR/pg/server.log)"
for i in 1 2 3; do
  port=$((BASE + i - 1))
  mkdir -p "$DIR/i$i"
  SATWARDEN_LEDGER_URL=$URL SATWARDEN_INSTANCE_ID=instance-$i SATWARDEN_DATA_DIR=$DIR/i$i \
  SATWARDEN_TOKENS=$TOKEN SATWARDEN_METRICS_TOKEN=$METRICS SATWARDEN_DAY_SATS=${SATWARDEN_DAY_SATS:-1000} \
    "$BIN" --transport http --host 127.0.0.1 --port "$port" 2>"$DIR/i$i/log" &
  pids+=($!)
done
for i in 1 2 3; do
  port=$((BASE + i - 1))
  for _ in $(seq 1 100); do
    grep -q "serving MCP" "$DIR/i$i/log" 2>/dev/null && break
    sleep 0.1
  done
  grep -q "serving MCP" "$DIR/i$i/log" || { echo "instance $i did not start:"; cat "$DIR/i$i/log"; exit 1; }
done
cat <<MSG

Three satwarden instances share one ledger (one day cap of ${SATWARDEN_DAY_SATS:-1000} sats across all of them):
  http://127.0.0.1:$BASE/mcp  http://127.0.0.1:$((BASE + 1))/mcp  http://127.0.0.1:$((BASE + 2))/mcp
Agents (behind a load balancer, or any one of them) send:   Authorization: Bearer $TOKEN
Health:      curl http://127.0.0.1:$BASE/healthz   curl http://127.0.0.1:$BASE/readyz
Prometheus:  scrape each instance's /metrics with   authorization: { credentials: $METRICS }
  scrape_configs:
    - job_name: satwarden
      authorization: { type: Bearer, credentials: "$METRICS" }
      static_configs: [{ targets: ["127.0.0.1:$BASE", "127.0.0.1:$((BASE + 1))", "127.0.0.1:$((BASE + 2))"] }]
The ledger:  psql '$URL' -c 'SELECT instance, state, amount_msat FROM payments ORDER BY id DESC LIMIT 20'
Logs: $DIR/i1/log $DIR/i2/log $DIR/i3/log        Ctrl-C stops the fleet and PostgreSQL.
MSG
wait -n "${pids[@]}" || true
echo "an instance exited; stopping the fleet"
