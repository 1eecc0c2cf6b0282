#!/usr/bin/env bash
# Builds the self-contained Linux x86-64 release of satwarden into dist/:
#   dist/satwarden-<version>-linux-x86_64.tar.gz (+ .sha256)   the server binary, README, LICENSE, SECURITY.md
#   dist/satwarden-<version>.mcpb (+ .sha256)                  MCP Bundle: manifest 0.3, binary server
#   dist/server.json                                           MCP Registry entry (OCI image, the bundle, HTTP remote)
#
#   scripts/package.sh                 configure + build build-release/ (Release, no tests, no failpoints,
#                                      SW_PORTABLE: everything but glibc linked in), then package
#   scripts/package.sh --render DIR    only write the rendered manifest.json and server.json into DIR (for the tests;
#                                      the .mcpb hash is then the one of dist/'s bundle if present, else zeros)
#
# Where the release is published is not decided by the source tree: set SW_PUBLISH_NAME (registry name, default
# io.github.satwarden/satwarden), SW_OCI_IMAGE (default ghcr.io/satwarden/satwarden) and SW_RELEASE_URL (the
# directory the .mcpb is downloaded from) before publishing. Build output goes to stderr; the summary to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${SW_RELEASE_DIR:-$root/build-release}
dist=${SW_DIST_DIR:-$root/dist}
version=$(sed -n 's/^project(satwarden VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
[[ -n "$version" ]] || { echo "package: cannot read the version from CMakeLists.txt" >&2; exit 1; }
publish_name=${SW_PUBLISH_NAME:-io.github.satwarden/satwarden}
oci_image=${SW_OCI_IMAGE:-ghcr.io/satwarden/satwarden}
release_url=${SW_RELEASE_URL:-https://github.com/satwarden/satwarden/releases/download/v$version}

# Renders scripts/release/<name>.in into $2 (@VERSION@, @PUBLISH_NAME@, @OCI_IMAGE@, @MCPB_URL@, @MCPB_SHA256@).
render() {
  local name=$1 out=$2 mcpb_sha=$3
  sed -e "s|@VERSION@|$version|g" -e "s|@PUBLISH_NAME@|$publish_name|g" -e "s|@OCI_IMAGE@|$oci_image|g" \
      -e "s|@MCPB_URL@|$release_url/satwarden-$version.mcpb|g" -e "s|@MCPB_SHA256@|$mcpb_sha|g" \
      "scripts/release/$name.in" >"$out"
}

if [[ "${1:-}" == --render ]]; then
  out=${2:?usage: scripts/package.sh --render DIR}
  mkdir -p "$out"
  sha=0000000000000000000000000000000000000000000000000000000000000000
  [[ -f "$dist/satwarden-$version.mcpb.sha256" ]] && sha=$(cut -d' ' -f1 "$dist/satwarden-$version.mcpb.sha256")
  render manifest.json "$out/manifest.json" "$sha"
  render server.json "$out/server.json" "$sha"
  exit 0
fi

if [[ $(uname -s) != Linux || $(uname -m) != x86_64 ]]; then
  echo "package: builds the linux-x86_64 release; this machine is $(uname -s) $(uname -m)" >&2
  exit 1
fi
start=$SECONDS
gen=()
command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
[[ -f "$build/CMakeCache.txt" ]] && gen=()
# OpenSSL is looked up afresh (-U): the directory may last have been configured with shared libraries (.ci/run
# relinks it with SW_STATIC_DEPS=OFF), and FindOpenSSL keeps whatever it found first.
cmake -S . -B "$build" "${gen[@]}" -U 'OPENSSL_*' -DCMAKE_BUILD_TYPE=Release -DSW_BUILD_TESTS=OFF -DSW_FAILPOINTS=OFF \
  -DSW_STATIC_DEPS=ON -DSW_PORTABLE=ON -DSW_WERROR="${SW_WERROR:-OFF}" 1>&2
nice -n "${SW_NICE:-10}" cmake --build "$build" -j"${SW_JOBS:-$(nproc)}" --target satwarden 1>&2
bin=$build/src/app/satwarden
built_version=$("$bin" --version | awk '{print $NF}')
[[ "$built_version" == "$version" ]] || { echo "package: binary says $built_version, CMakeLists.txt $version" >&2; exit 1; }

# Only glibc may remain: every NEEDED entry must be one of glibc's own libraries.
needed=$(objdump -p "$bin" | awk '$1 == "NEEDED" {print $2}')
for lib in $needed; do
  case "$lib" in
    libc.so.6 | libm.so.6 | libdl.so.2 | libpthread.so.0 | librt.so.1 | ld-linux-x86-64.so.2) ;;
    *) echo "package: $bin needs $lib, which is not part of glibc (SW_PORTABLE should have linked it in)" >&2; exit 1 ;;
  esac
done
glibc_min=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
name=satwarden-$version-linux-x86_64
mkdir -p "$stage/$name/bin"
strip -o "$stage/$name/bin/satwarden" "$bin"
cp README.md LICENSE SECURITY.md "$stage/$name/"
mkdir -p "$dist"
# Reproducible archive: fixed owner, order and timestamps (the commit's time when in git).
epoch=$(git log -1 --format=%ct 2>/dev/null || echo 0)
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" -C "$stage" -czf "$dist/$name.tar.gz" "$name"
(cd "$dist" && sha256sum "$name.tar.gz" >"$name.tar.gz.sha256")

# MCP Bundle: a zip of manifest.json and the binary under server/.
mkdir -p "$stage/mcpb/server"
cp "$stage/$name/bin/satwarden" "$stage/mcpb/server/satwarden"
cp LICENSE "$stage/mcpb/"
render manifest.json "$stage/mcpb/manifest.json" unused
rm -f "$dist/satwarden-$version.mcpb"
(cd "$stage/mcpb" && find . -exec touch -h -d "@$epoch" {} + && zip -q -X -r "$dist/satwarden-$version.mcpb" manifest.json LICENSE server)
(cd "$dist" && sha256sum "satwarden-$version.mcpb" >"satwarden-$version.mcpb.sha256")
render server.json "$dist/server.json" "$(cut -d' ' -f1 "$dist/satwarden-$version.mcpb.sha256")"

echo "package: $dist/$name.tar.gz ($(stat -c %s "$dist/$name.tar.gz") bytes) sha256 $(cut -d' ' -f1 "$dist/$name.tar.gz.sha256")"
echo "package: $dist/satwarden-$version.mcpb ($(stat -c %s "$dist/satwarden-$version.mcpb") bytes)"
echo "package: $dist/server.json"
echo "package: needs only glibc (newest symbol version $glibc_min); ldd $stage/$name/bin/satwarden:"
ldd "$stage/$name/bin/satwarden" | sed 's/ (0x[0-9a-f]*)//; s/^/  /'
echo "package: took $((SECONDS - start)) s"
