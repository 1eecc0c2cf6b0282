#!/usr/bin/env bash
# Installs every build and test dependency of satwarden from Debian packages.
# Idempotent: packages already present are left alone. Runs apt-get as root, via sudo otherwise.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config ninja-build
  nlohmann-json3-dev libcpp-httplib-dev libvalijson-dev
  libsecp256k1-dev libsodium-dev libwebsockets-dev libssl-dev libsqlite3-dev
  catch2
)
# Node.js + npm are only needed for the interop tests (tests/interop).
if [[ "${1:-}" == "--with-test-peers" ]]; then
  PKGS+=(nodejs npm)
fi

missing=()
for p in "${PKGS[@]}"; do
  if [[ "$p" == nodejs || "$p" == npm ]] && command -v "${p/nodejs/node}" >/dev/null 2>&1; then
    continue
  fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian dependencies present" >&2
fi
