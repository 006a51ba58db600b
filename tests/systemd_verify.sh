#!/usr/bin/env bash
# tests/systemd_verify.sh BUILD_DIR CCMUX: systemd-analyze verify on
#  - both units as installed (`cmake --install` of the ccmux component into a temp prefix:
#    ExecStart is that prefix's ccmuxd, which exists there), the user unit as a user unit;
#  - both units `ccmux service install --root` writes for a ccmux without installed units.
set -euo pipefail
build="$1"; ccmux="$2"
command -v systemd-analyze >/dev/null || { echo "systemd-analyze not available"; exit 77; }
dir="$(mktemp -d)"; trap 'rm -rf "$dir"' EXIT

# verify [--user] UNIT_FILE: verify prints warnings without failing; any line about the unit
# is a problem.
verify() {
  local scope=() out
  if [ "$1" = --user ]; then scope=(--user); shift; fi
  out="$(XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$dir/run}" systemd-analyze "${scope[@]}" verify "$1" 2>&1)" ||
    { echo "$1: $out"; return 1; }
  if grep -i "ccmuxd.service" <<<"$out"; then echo "in $1"; return 1; fi
  echo "verified: $1 ${scope[*]}"
}
mkdir -p "$dir/run"

cmake --install "$build" --prefix "$dir/prefix" --component ccmux >/dev/null
verify "$dir/prefix/lib/systemd/system/ccmuxd.service"
verify --user "$dir/prefix/lib/systemd/user/ccmuxd.service"

HOME="$dir/home" XDG_CONFIG_HOME="$dir/home/.config" "$ccmux" service install --user --root "$dir/w" >/dev/null
HOME="$dir/home" "$ccmux" service install --system --root "$dir/w" >/dev/null
verify --user "$dir/w$dir/home/.config/systemd/user/ccmuxd.service"
verify "$dir/w/etc/systemd/system/ccmuxd.service"
