#!/usr/bin/env bash
# The Docker image's runtime stage (Dockerfile, the second FROM debian:12-slim) must install every shared library the
# server needs — those it links (ldd of satwarden and libsatwarden_http.so) and those it dlopen()s by SONAME
# (libwebsockets, libpq, libqrencode) — since no Docker daemon is available to build the image here. Each library
# file is mapped to its Debian package (dpkg -S); that package must be in the stage's apt-get list, in a listed
# package's dependency closure (apt-cache depends --recurse), or in debian:12-slim itself (the essential base).
# Usage: docker_deps.sh DOCKERFILE SERVER_BIN HTTP_MODULE SONAME...
set -euo pipefail
dockerfile=$1 bin=$2 module=$3
shift 3
fail() { echo "docker_deps: $*" >&2; exit 1; }
trap 'echo "docker_deps: stopped at line $LINENO (exit $?)" >&2' ERR
command -v dpkg >/dev/null && command -v apt-cache >/dev/null || { echo "docker_deps: needs dpkg and apt-cache" >&2; exit 77; }

# The runtime stage's packages: the apt-get install line(s) after the last FROM.
listed=$(awk '/^FROM /{stage++} {print stage"\t"$0}' "$dockerfile" | awk -F'\t' -v last="$(grep -c '^FROM ' "$dockerfile")" '$1==last {print $2}' |
  tr '\\' '\n' | sed -n '/apt-get install/,/&&/p' | tr ' ' '\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' |
  grep -vxE 'apt-get|install|rm|update|&&' || true)
[[ -n "$listed" ]] || fail "no apt-get install list found in the runtime stage of $dockerfile"
# debian:12-slim's own libraries (Priority required/important and what apt needs) — present in every image.
base="libc6 libgcc-s1 libstdc++6 zlib1g libzstd1 liblzma5 libbz2-1.0 libcrypt1 libselinux1 libpcre2-8-0 libacl1
libattr1 libgmp10 libsystemd0 libcap2 libudev1 libgcrypt20 libgpg-error0 liblz4-1 libseccomp2 libtinfo6 libdb5.3
libaudit1 libcap-ng0 libpam0g libsemanage2 libsepol2 libbsd0 libmd0 libffi8 libp11-kit0 libtasn1-6 libunistring2
libidn2-0 libnettle8 libhogweed6 libgnutls30 libxxhash0 debconf"
depends=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
  --no-enhances $listed 2>&1) || fail "apt-cache depends failed (are the package lists there? apt-get update): $depends"
closure=$(grep -E '^[a-z0-9]' <<<"$depends" | sed 's/:.*//' | sort -u)
allowed=$(printf '%s\n' $listed $base $closure | sort -u)

libs=$( { ldd "$bin"; ldd "$module"; } | awk '/=> \//{print $3}' | sort -u)
# ldconfig's cache listing is read whole first: piped into an awk that exits at the first match, ldconfig dies of
# SIGPIPE once the listing outgrows the pipe's 64 KiB, and pipefail then ends this script without a word.
cache=$(ldconfig -p)
for so in "$@"; do
  p=$(awk -v s="$so" '$1==s {print $NF; exit}' <<<"$cache")
  [[ -n "$p" ]] || fail "$so (dlopen()ed by the server) is not installed on this machine"
  libs+=$'\n'"$p"
  libs+=$'\n'$(ldd "$p" | awk '/=> \//{print $3}')
done
missing=()
n=0
for l in $(printf '%s\n' $libs | sort -u); do
  real=$(readlink -f "$l")
  pkg=$(dpkg -S "$real" 2>/dev/null || dpkg -S "$l" 2>/dev/null || true)
  pkg=${pkg%%:*}
  [[ -n "$pkg" ]] || fail "no Debian package owns $l"
  n=$((n + 1))
  grep -qx "$pkg" <<<"$allowed" || missing+=("$pkg ($l)")
done
if ((${#missing[@]})); then
  printf 'docker_deps: the runtime stage does not install: %s\n' "${missing[@]}" >&2
  exit 1
fi
echo "docker_deps: $n libraries, all provided by the runtime stage's packages ($(echo $listed)) or the base image"
