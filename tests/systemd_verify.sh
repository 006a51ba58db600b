#!/usr/bin/env bash
# systemd-analyze verify on the packaged unit, with ExecStart pointed at the built binary.
set -euo pipefail
unit="$1"; bin="$2"
command -v systemd-analyze >/dev/null || { echo "systemd-analyze not available"; exit 77; }
dir="$(mktemp -d)"; trap 'rm -rf "$dir"' EXIT
sed "s#/usr/local/bin/ccmuxd#$bin#g" "$unit" > "$dir/ccmuxd.service"
out="$(systemd-analyze verify "$dir/ccmuxd.service" 2>&1)" || { echo "$out"; exit 1; }
# verify prints warnings without failing; any line about our unit is a problem.
if echo "$out" | grep -i "ccmuxd.service"; then exit 1; fi
echo "ccmuxd.service verified"
