#!/usr/bin/env bash
# Installs every build and test dependency of satwarden from Debian packages.
# Idempotent: packages already present are left alone. Runs apt-get as root, via sudo otherwise.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config ninja-build
  nlohmann-json3-dev libcpp-httplib-dev libvalijson-dev
  libsecp256k1-dev libsodium-dev libwebsockets-dev libssl-dev libsqlite3-dev libpq-dev
  libqrencode-dev  # the terminal QR code of `satwarden connect` (loaded only by that command)
  catch2
)
# Node.js + npm are only needed for the interop tests (tests/interop); clang + libFuzzer (and llvm-symbolizer for
# readable sanitizer reports) only for the fuzz targets (scripts/fuzz.sh, tests/fuzz). The sanitizer builds with
# GCC (scripts/test.sh --asan / --tsan) need nothing beyond build-essential.
for arg in "$@"; do
  case "$arg" in
    # postgresql-15: the server the tests start in a temporary directory (scripts/pg-server.sh) for the ledger
    # suite on PostgreSQL and the fleet tests (no system cluster is used); also for scripts/fleet-demo.sh.
    # chromium: the headless browser the console tests drive (tests/interop/console, puppeteer-core from npm).
    # ccache: CI builds the server's sources twice with the same flags (build/, then the release in build-release/).
    --with-test-peers) PKGS+=(nodejs npm postgresql-15 chromium ccache) ;;
    --with-postgres) PKGS+=(postgresql-15) ;;
    --with-fuzz) PKGS+=(clang-14 libclang-rt-14-dev llvm-14 lld-14) ;;
    *) echo "setup: unknown option $arg (expected --with-test-peers, --with-postgres, --with-fuzz)" >&2; exit 2 ;;
  esac
done

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
