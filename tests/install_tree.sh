#!/usr/bin/env bash
# tests/install_tree.sh BUILD_DIR: the `ccmux` install component, installed into a temp prefix
#  - names that prefix's ccmuxd in both systemd units (they are made at install time);
#  - still works once moved to another prefix (as the .deb installs under /usr a tree built for
#    /usr/local): ccmuxd loads plugins named without a path from <its prefix>/lib/ccmux/plugins,
#    and transport-ws serves the page from <its prefix>/share/ccmux/web (a marker added to the
#    moved copy tells it from the source tree's or the configured prefix's);
#  - `ccmux service install` from there uses the installed unit instead of writing one.
set -euo pipefail
build="$1"
work="$(mktemp -d)"
pid=""
cleanup() {
  [ -z "$pid" ] || { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAILED: $*" >&2
  [ -f "$work/ccmuxd.log" ] && tail -n 20 "$work/ccmuxd.log" >&2
  exit 1
}

cmake --install "$build" --prefix "$work/a" --component ccmux >/dev/null
for scope in system user; do
  grep -qx "ExecStart=$work/a/bin/ccmuxd" "$work/a/lib/systemd/$scope/ccmuxd.service" ||
    fail "the $scope unit does not start $work/a/bin/ccmuxd: $(grep ExecStart "$work/a/lib/systemd/$scope/ccmuxd.service")"
done
if [ ! -f "$work/a/share/ccmux/npm-tools.sh" ] || [ ! -x "$work/a/bin/ccmux-install-claude" ]; then
  fail "ccmux-install-claude and the npm-tools.sh it sources are not installed"
fi
"$work/a/bin/ccmux-install-claude" --help >/dev/null || fail "the installed ccmux-install-claude does not find npm-tools.sh"

mv "$work/a" "$work/b"
echo '<!-- served from the moved tree -->' >>"$work/b/share/ccmux/web/index.html"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
sock="$work/run/ccmuxd.sock"
cat >"$work/config.yaml" <<EOF
daemon:
  state_dir: $work/state
  socket: $sock
claude:
  warm_pool: 0
plugins:
  - name: approval
    required: true
  - name: transport-ws
    required: true
    port: $port
EOF
env -u CCMUX_DAEMON_SOCKET HOME="$work" "$work/b/bin/ccmuxd" --config "$work/config.yaml" >"$work/ccmuxd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  "$work/b/bin/ccmux" --socket "$sock" status >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || fail "ccmuxd exited (required plugins not found?)"
  sleep 0.1
done
plugins="$("$work/b/bin/ccmux" --socket "$sock" plugins)" || fail "ccmuxd did not answer within 10 s"
for p in approval transport-ws; do
  grep -Eq "^${p}[[:space:]]+running[[:space:]].*[[:space:]]$work/b/lib/ccmux/plugins/lib${p}\.so$" <<<"$plugins" ||
    fail "plugin $p is not loaded from the moved tree: $plugins"
done
python3 - "$port" <<'EOF' || fail "the page is not served from the moved tree's share/ccmux/web"
import sys, urllib.request
page = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/", timeout=10).read().decode()
sys.exit(0 if "served from the moved tree" in page else 1)
EOF

out="$(HOME="$work" "$work/b/bin/ccmux" service install --root "$work/svc")" || fail "ccmux service install: $out"
grep -q "using the installed unit $work/b/lib/systemd/user/ccmuxd.service" <<<"$out" || fail "installed unit not used: $out"
# Not on systemd's search path: enabled by its path (systemctl links it in).
grep -q "would run: systemctl --user enable --now $work/b/lib/systemd/user/ccmuxd.service" <<<"$out" || fail "$out"
[ -z "$(find "$work/svc" -type f 2>/dev/null)" ] || fail "a unit was written although one is installed"
echo "install tree: units name the prefix; moved tree finds its plugins and page; service uses the installed unit"
