#!/usr/bin/env bash
# Installs the SDK from the build tree into a temp prefix, then builds
# sdk/examples/hello-plugin out of tree against that prefix only.
set -euo pipefail
src="$1"; build="$2"; work="$3"
rm -rf "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/include/ccmux/plugin_abi.h"
test -f "$work/prefix/lib/cmake/ccmuxSDK/ccmuxSDKConfig.cmake" || test -f "$work/prefix/lib/x86_64-linux-gnu/cmake/ccmuxSDK/ccmuxSDKConfig.cmake"
cmake -S "$src/sdk/examples/hello-plugin" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/build" >/dev/null
test -f "$work/build/libhello.so"
# Only the entry alias is exported (built with hidden visibility).
nm -D --defined-only "$work/build/libhello.so" | grep -q ccmux_plugin_entry_v1
if nm -D --defined-only -C "$work/build/libhello.so" | grep -q "Hello::start"; then
  echo "plugin exports C++ internals: visibility is not hidden" >&2; exit 1
fi
echo "out-of-tree hello plugin built: $work/build/libhello.so"
