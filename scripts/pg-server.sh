#!/usr/bin/env bash
# A throwaway PostgreSQL (Debian's postgresql-15) in a directory, on 127.0.0.1 only — for the tests, the benches
# and scripts/fleet-demo.sh. Never touches a system cluster.
#   scripts/pg-server.sh start DIR [PORT]   initdb DIR/data (first time), start on PORT (default: a free one),
#                                           write the ledger URL to DIR/url and print it
#   scripts/pg-server.sh stop DIR           fast shutdown (idempotent)
#   scripts/pg-server.sh url DIR            print the URL of a running one
# Authentication is `trust` for 127.0.0.1 and the socket in DIR (a test server: nothing else can reach it).
# As root, the server runs as the `postgres` user (PostgreSQL refuses to run as root).
# Environment: SW_PG_FSYNC=off for a faster, non-durable server (never for benchmarks), SW_PG_MAX_CONNECTIONS.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
[[ -n "$cmd" && -n "$dir" ]] || { echo "usage: $0 start|stop|url DIR [PORT]" >&2; exit 2; }
bin=""
for v in 17 16 15; do
  [[ -x /usr/lib/postgresql/$v/bin/pg_ctl ]] && { bin=/usr/lib/postgresql/$v/bin; break; }
done
[[ -n "$bin" ]] || { echo "pg-server: PostgreSQL server binaries not found (apt-get install postgresql-15)" >&2; exit 3; }

as_pg=()
if [[ $(id -u) -eq 0 ]]; then as_pg=(runuser -u postgres --); fi

# Where the cluster lives: DIR/data, or — as root, when the postgres user cannot reach DIR (a private parent such
# as /root) — a directory under /tmp named in DIR/datadir (removed by stop).
data_of() { if [[ -f "$dir/datadir" ]]; then cat "$dir/datadir"; else echo "$dir/data"; fi; }

case "$cmd" in
  url)
    cat "$dir/url"
    ;;
  stop)
    data=$(data_of)
    [[ -f "$data/postmaster.pid" ]] && "${as_pg[@]}" "$bin/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null || true
    if [[ -f "$dir/datadir" ]]; then rm -rf "$(dirname "$data")" "$dir/datadir"; fi
    ;;
  start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [[ $(id -u) -eq 0 && ! -f "$dir/datadir" ]]; then
      chown postgres "$dir"
      if ! runuser -u postgres -- test -w "$dir"; then
        alt=$(mktemp -d /tmp/sw-pg-XXXXXX)
        chmod 711 "$alt"
        chown postgres "$alt"
        echo "$alt/data" > "$dir/datadir"
      fi
    fi
    data=$(data_of)
    sock=$(dirname "$data")
    if [[ ! -f "$data/PG_VERSION" ]]; then
      "${as_pg[@]}" "$bin/initdb" -D "$data" -U satwarden --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    # A server left running by an interrupted run: stop it first (its data is throwaway).
    [[ -f "$data/postmaster.pid" ]] && { "${as_pg[@]}" "$bin/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true; }
    port=${3:-}
    for attempt in 1 2 3 4 5 6 7 8; do
      p=${port:-$((20000 + RANDOM % 20000))}
      if "${as_pg[@]}" "$bin/pg_ctl" -D "$data" -l "$sock/server.log" -w -t 30 \
          -o "-c listen_addresses=127.0.0.1 -p $p -c unix_socket_directories=$sock -c fsync=${SW_PG_FSYNC:-on} -c max_connections=${SW_PG_MAX_CONNECTIONS:-200}" \
          start >/dev/null 2>&1; then
        echo "postgresql://satwarden@127.0.0.1:$p/postgres" > "$dir/url"
        cat "$dir/url"
        exit 0
      fi
      [[ -n "$port" ]] && break  # a port was asked for: do not pick another
    done
    echo "pg-server: could not start PostgreSQL (see $sock/server.log)" >&2
    tail -5 "$sock/server.log" >&2 || true
    exit 1
    ;;
  *)
    echo "usage: $0 start|stop|url DIR [PORT]" >&2; exit 2
    ;;
esac
