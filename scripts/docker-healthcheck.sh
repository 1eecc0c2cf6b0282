#!/usr/bin/env bash
# HEALTHCHECK of the Docker image. Over stdio (the image's default) there is nothing to probe from outside the
# MCP stream: the container is healthy while the server process (PID 1) runs. With HTTP (SATWARDEN_TRANSPORT=http,
# or --transport http / --http on the command line) GET /healthz on the loopback port must answer 200.
# SW_HEALTH_CMDLINE (for the test) replaces /proc/1/cmdline.
set -uo pipefail
cmdline=${SW_HEALTH_CMDLINE:-/proc/1/cmdline}
transport=${SATWARDEN_TRANSPORT:-stdio}
port=${SATWARDEN_PORT:-8402}
prev=""
while IFS= read -r -d '' arg || [[ -n "$arg" ]]; do
  case "$arg" in
    --http | --transport=http) transport=http ;;
    --stdio | --transport=stdio) transport=stdio ;;
    --port=*) port=${arg#--port=} ;;
  esac
  [[ "$prev" == --transport ]] && transport=$arg
  [[ "$prev" == --port ]] && port=$arg
  prev=$arg
done <"$cmdline"
if [[ "$transport" != http ]]; then
  [[ -z "${SW_HEALTH_CMDLINE:-}" ]] && { kill -0 1 2>/dev/null || exit 1; }
  exit 0
fi
exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
printf 'GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
IFS= read -r -t 3 status <&3 || exit 1
[[ "$status" == *" 200 "* ]]
