#!/usr/bin/env bash
# packaging/deb-test.sh DEBS_DIR SRC_DIR: the .deb install/remove test. Runs as root INSIDE a
# bare Debian 12 root (debootstrap --variant=minbase, Debian's and npm's registries reachable,
# the machine's resolv.conf, CA certificates and npmrc copied in; no systemd running):
#   1. apt-get install ./ccmux_*.deb pulls every dependency (no Recommends), and
#      ccmux-sdk-dev's dependencies resolve (simulated: its Boost and compiler are large; with
#      DEB_TEST_SDK=1 it is installed and the example plugin built and loaded, ~+2 min);
#   2. ccmux-install-claude installs the pinned claude;
#   3. ccmuxd (started by hand) loads its plugins from /usr/lib and serves its page from
#      /usr/share, and a session against the fake Messages API answers;
#   4. apt-get remove leaves none of the package's files (config and state stay), purge too.
# python3 is installed for the fake API only. Exits non-zero with the reason on any failure.
# Use a fresh root (not the one the README's commands ran in: its build dependencies would hide
# a missing Depends, and a ccmux in /usr/local/bin would shadow the package's).
set -euo pipefail
debs="$(cd "${1:?usage: deb-test.sh DEBS_DIR SRC_DIR}" && pwd)"
src="$(cd "${2:?usage: deb-test.sh DEBS_DIR SRC_DIR}" && pwd)"
export DEBIAN_FRONTEND=noninteractive
work="$(mktemp -d /tmp/deb-test.XXXXXX)"
daemon_pid="" api_pid=""
t0=$SECONDS

fail() {
  echo "deb-test: FAILED: $*" >&2
  for log in "$work/ccmuxd.log" "$work/api.log"; do
    [ -s "$log" ] && { echo "--- last lines of $log:" >&2; tail -n 30 "$log" >&2; }
  done
  exit 1
}
step() { echo "== [$((SECONDS - t0))s] $*"; }
cleanup() {
  for pid in $daemon_pid $api_pid; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
# wait_for SECONDS COMMAND...: polls until COMMAND succeeds; false after SECONDS.
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}

[ "$(id -u)" -eq 0 ] || fail "run me as root inside the bare root"
deb=("$debs"/ccmux_*.deb) sdk=("$debs"/ccmux-sdk-dev_*.deb)
[ -f "${deb[0]}" ] || fail "no ccmux_*.deb in $debs (packaging/make-debs.sh makes it)"
[ -f "${sdk[0]}" ] || fail "no ccmux-sdk-dev_*.deb in $debs"
! dpkg-query -W ccmux >/dev/null 2>&1 || [ "$(dpkg-query -W -f='${db:Status-Status}' ccmux)" = not-installed ] ||
  fail "ccmux is already installed here: this test wants a bare root"

step "apt-get install ${deb[0]##*/}"
apt-get update -qq || fail "apt-get update"
apt-get install -y -qq --no-install-recommends "${deb[0]}" >"$work/apt.log" 2>&1 ||
  { cat "$work/apt.log" >&2; fail "apt-get install ${deb[0]##*/} did not pull its dependencies"; }
for cmd in ccmuxd ccmux ccmux-hook ccmux-install-claude; do
  [ "$(command -v "$cmd")" = "/usr/bin/$cmd" ] || fail "$cmd is not installed as /usr/bin/$cmd"
done
for unit in system user; do
  grep -qx "ExecStart=/usr/bin/ccmuxd" "/usr/lib/systemd/$unit/ccmuxd.service" ||
    fail "the $unit unit does not start /usr/bin/ccmuxd"
done
ccmuxd --help >/dev/null || fail "ccmuxd --help"
ccmux --help >/dev/null || fail "ccmux --help"
apt-get install -s -qq --no-install-recommends "${sdk[0]}" >"$work/apt-sdk.log" 2>&1 ||
  { cat "$work/apt-sdk.log" >&2; fail "ccmux-sdk-dev's dependencies do not resolve"; }
if [ "${DEB_TEST_SDK:-0}" = 1 ]; then
  step "ccmux-sdk-dev: the example plugin builds against the installed SDK and loads"
  apt-get install -y -qq --no-install-recommends "${sdk[0]}" cmake g++ make >"$work/apt-sdk.log" 2>&1 ||
    { cat "$work/apt-sdk.log" >&2; fail "apt-get install ${sdk[0]##*/}"; }
  if ! { cmake -S /usr/share/doc/ccmux-sdk-dev/examples/hello-plugin -B "$work/hello" &&
    cmake --build "$work/hello"; } >"$work/hello.log" 2>&1; then
    cat "$work/hello.log" >&2
    fail "the example plugin does not build"
  fi
  printf 'plugins:\n  - name: hello\n    path: %s\n    required: true\n' "$work/hello/libhello.so" >"$work/hello.yaml"
  ccmuxd --check-config "$work/hello.yaml" >"$work/hello-check.log" 2>&1 ||
    { cat "$work/hello-check.log" >&2; fail "ccmuxd does not accept the example plugin"; }
  apt-get purge -y -qq ccmux-sdk-dev >/dev/null 2>&1 || fail "apt-get purge ccmux-sdk-dev"
fi

step "ccmux service install --user (the installed unit is used; nothing runs under --root)"
out="$(ccmux service install --user --root "$work/svc")" || fail "ccmux service install --root: $out"
grep -q "systemctl --user enable --now ccmuxd.service" <<<"$out" ||
  fail "ccmux service install did not enable the installed user unit: $out"

# ca-certificates (a dependency) took the machine's extra CAs from /usr/local/share/ca-certificates
# when it was installed; once more in case they were copied in later.
update-ca-certificates >/dev/null 2>&1 || true
step "ccmux-install-claude"
# npm's registry as this machine's npm is set up to reach it (ccmux-install-claude reads
# npm_config_registry, npm's own variable).
if [ -z "${npm_config_registry:-}" ] && [ -f /etc/npmrc ]; then
  reg="$(sed -n 's/^[[:space:]]*registry[[:space:]]*=[[:space:]]*//p' /etc/npmrc | tail -n 1)"
  [ -z "$reg" ] || export npm_config_registry="$reg"
fi
ccmux-install-claude >"$work/claude.log" 2>&1 || { cat "$work/claude.log" >&2; fail "ccmux-install-claude"; }
# shellcheck source=packaging/npm-tools.sh
pinned="$(. /usr/share/ccmux/npm-tools.sh && echo "$CLAUDE_VERSION")"
/usr/local/bin/claude --version | grep -q "^$pinned " || fail "claude --version is not the pinned $pinned"

step "python3 for the fake Messages API (test only)"
apt-get install -y -qq --no-install-recommends python3 >"$work/apt-py.log" 2>&1 ||
  { cat "$work/apt-py.log" >&2; fail "apt-get install python3"; }

step "ccmuxd with its plugins and a session against the fake Messages API"
python3 "$src/tests/fake_api/fake_messages_api.py" 0 >"$work/api.port" 2>"$work/api.log" &
api_pid=$!
wait_for 20 grep -q '^PORT ' "$work/api.port" || fail "the fake Messages API did not start"
api_port="$(sed -n 's/^PORT //p' "$work/api.port")"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ws_port="$(free_port)"
grpc_port="$(free_port)"
mkdir -p /root/.config/ccmux /root/proj
# Plugins by name only: ccmuxd must find them under /usr/lib (the tree was built for /usr/local).
cat >/root/.config/ccmux/config.yaml <<EOF
claude:
  warm_pool: 0
projects:
  roots: [/root/proj]
plugins:
  - name: approval
    required: true
  - name: transport-ws
    required: true
    port: $ws_port
  - name: transport-grpc         # gRPC's libraries come from the package's Depends
    required: true
    plaintext: true
    port: $grpc_port
EOF
ccmuxd --check-config /root/.config/ccmux/config.yaml >"$work/check.log" 2>&1 ||
  { cat "$work/check.log" >&2; fail "ccmuxd --check-config"; }
env ANTHROPIC_BASE_URL="http://127.0.0.1:$api_port" ANTHROPIC_API_KEY=dummy-test-key \
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1 ccmuxd >"$work/ccmuxd.log" 2>&1 &
daemon_pid=$!
wait_for 30 ccmux status || fail "ccmuxd did not answer 'ccmux status' within 30 s"
plugins="$(ccmux plugins)"
for p in approval transport-ws transport-grpc; do
  grep -Eq "^${p}[[:space:]]+running[[:space:]].*/usr/lib/ccmux/plugins/lib${p}\.so$" <<<"$plugins" ||
    fail "plugin $p is not loaded from /usr/lib/ccmux/plugins: $plugins"
done
curl -sSf -o "$work/page.html" "http://127.0.0.1:$ws_port/" || fail "transport-ws does not serve its page"
cmp -s "$work/page.html" /usr/share/ccmux/web/index.html || fail "the page served is not /usr/share/ccmux/web/index.html"
answer="$(cd /root/proj && timeout 180 ccmux run "echo: deb-test answer 42" 2>"$work/run.err")" ||
  { cat "$work/run.err" >&2; fail "ccmux run failed (exit $?)"; }
grep -q "deb-test answer 42" <<<"$answer" || fail "the answer did not arrive: $answer"
ccmux ls | grep -q . || fail "ccmux ls lists no session"

step "stop ccmuxd"
kill -TERM "$daemon_pid"
wait_for 30 bash -c "! kill -0 $daemon_pid" || fail "ccmuxd did not stop within 30 s of SIGTERM"
wait "$daemon_pid" || fail "ccmuxd exited with status $? on SIGTERM"
daemon_pid=""

step "apt-get remove ccmux: no file of the package may remain"
dpkg-query -L ccmux >"$work/files" || fail "dpkg-query -L ccmux"
apt-get remove -y -qq ccmux >"$work/apt-rm.log" 2>&1 || { cat "$work/apt-rm.log" >&2; fail "apt-get remove ccmux"; }
left=()
while IFS= read -r p; do
  [ -e "$p" ] || [ -L "$p" ] || continue
  if [ -d "$p" ] && [ ! -L "$p" ]; then
    # Shared folders (/usr/bin) stay; ccmux's own must go.
    case "$p" in *ccmux*) left+=("$p/") ;; esac
  else
    left+=("$p")
  fi
done <"$work/files"
[ ${#left[@]} -eq 0 ] || fail "files of the package left after apt-get remove: ${left[*]}"
# Config and state are the user's and stay.
[ -f /root/.config/ccmux/config.yaml ] || fail "apt-get remove deleted the config"
[ -f /root/.local/state/ccmux/ccmux.db ] || fail "the state (ccmux.db) is gone after apt-get remove"

step "apt-get purge ccmux"
apt-get purge -y -qq ccmux >"$work/apt-purge.log" 2>&1 || { cat "$work/apt-purge.log" >&2; fail "apt-get purge ccmux"; }
status="$(dpkg-query -W -f='${db:Status-Status}' ccmux 2>/dev/null || true)"
[ -z "$status" ] || [ "$status" = not-installed ] || fail "ccmux is still '$status' after purge"
echo "deb-test: PASSED in $((SECONDS - t0)) s"
