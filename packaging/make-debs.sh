#!/usr/bin/env bash
# packaging/make-debs.sh [BUILD_DIR]: the Debian packages ccmux and ccmux-sdk-dev from an
# already built tree (default build/, configured with the default prefix /usr/local by the
# README's commands) into BUILD_DIR/debs/, installed under /usr. Recompiles nothing in a
# built tree: the packaged targets are only brought up to date (a no-op after the README's
# commands), and the rest (tests, benchmarks) is never built for packaging.
# Needs dpkg-dev (dpkg-shlibdeps computes the library Depends) and file.
set -euo pipefail
build="$(cd "${1:-build}" && pwd)"
[ -f "$build/CPackConfig.cmake" ] || { echo "make-debs: $build is not a configured ccmux build tree" >&2; exit 1; }
for tool in dpkg-shlibdeps dpkg-deb file; do
  command -v "$tool" >/dev/null || { echo "make-debs: $tool is needed (apt-get install dpkg-dev file)" >&2; exit 1; }
done
# `cpack` would first build the `preinstall` target, which depends on `all` (the whole test
# suite). The packages need only what they install.
targets=(ccmuxd ccmux ccmux-hook approval telegram gitlab transport-ws)
if grep -q '^CCMUX_WITH_FLEET:BOOL=ON' "$build/CMakeCache.txt"; then targets+=(fleet); fi
if ! out="$(cmake --build "$build" --target "${targets[@]}" 2>&1 </dev/null)"; then
  echo "$out" >&2
  echo "make-debs: building the packaged targets failed" >&2
  exit 1
fi
rm -rf "$build/debs"

# CPACK_CMAKE_GENERATOR=Ninja: a generator without a `preinstall` target, so cpack goes straight
# to the install scripts (it uses the generator for nothing else).
cpack --config "$build/CPackConfig.cmake" -B "$build/debs" -D CPACK_CMAKE_GENERATOR=Ninja >"$build/debs.log" 2>&1 || {
  cat "$build/debs.log" >&2
  echo "make-debs: cpack failed (log: $build/debs.log)" >&2
  exit 1
}
rm -rf "$build/debs/_CPack_Packages"
for deb in "$build"/debs/*.deb; do
  echo "$deb ($(du -k "$deb" | cut -f1) KiB)"
  dpkg-deb -f "$deb" Depends | sed 's/^/  Depends: /'
done
