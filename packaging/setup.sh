#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine (as root, or with sudo available):
#   bash packaging/setup.sh run    install deps, build, install, start ccmuxd (built-in defaults)
#   bash packaging/setup.sh test   install deps, build (warnings are errors), run every test
set -euo pipefail

CLAUDE_VERSION=2.1.330   # the pinned @anthropic-ai/claude-code the tests are written against
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${CCMUX_BUILD_DIR:-$ROOT/build}"
JOBS="$(nproc)"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

APT_PACKAGES=(
  build-essential cmake pkg-config git ca-certificates python3 procps
  libyaml-cpp-dev liblua5.4-dev libsqlite3-dev libboost-dev libmbedtls-dev libgtest-dev
  nlohmann-json3-dev libsimdjson-dev libcli11-dev libsystemd-dev libspdlog-dev systemd
  libwebsockets-dev libssl-dev libcurl4-openssl-dev
)
# Only for the tests: the web page is driven in real headless Chromium by playwright-core.
TEST_APT_PACKAGES=(chromium)
PLAYWRIGHT_VERSION=1.65.1

install_deps() {
  local missing=() wanted=("${APT_PACKAGES[@]}")
  [ "${1:-}" = "test" ] && wanted+=("${TEST_APT_PACKAGES[@]}")
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  command -v npm >/dev/null || missing+=(nodejs npm)
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "== apt: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if ! claude --version 2>/dev/null | grep -q "^$CLAUDE_VERSION "; then
    echo "== npm: installing @anthropic-ai/claude-code@$CLAUDE_VERSION"
    $SUDO npm install -g --no-fund --no-audit "@anthropic-ai/claude-code@$CLAUDE_VERSION" >/dev/null
  fi
  if [ "${1:-}" = "test" ]; then
    local pw
    pw="$(npm root -g 2>/dev/null)/playwright-core/package.json"
    if ! grep -qs "\"version\": \"$PLAYWRIGHT_VERSION\"" "$pw"; then
      echo "== npm: installing playwright-core@$PLAYWRIGHT_VERSION (drives the system chromium; no browser download)"
      PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $SUDO npm install -g --no-fund --no-audit "playwright-core@$PLAYWRIGHT_VERSION" >/dev/null
    fi
  fi
  claude --version
}

build() {
  local werror=OFF
  [ "${1:-}" = "strict" ] && werror=ON
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCCMUX_WERROR=$werror >/dev/null
  cmake --build "$BUILD" -j"$JOBS"
}

case "${1:-}" in
  run)
    install_deps
    build
    $SUDO cmake --install "$BUILD" >/dev/null
    if ccmux status >/dev/null 2>&1; then
      echo "ccmuxd is already running: $(ccmux status | head -n 1)"
      exit 0
    fi
    state="${XDG_STATE_HOME:-$HOME/.local/state}/ccmux"
    mkdir -p "$state"
    nohup ccmuxd >>"$state/ccmuxd.log" 2>&1 &
    for _ in $(seq 50); do ccmux status >/dev/null 2>&1 && break; sleep 0.1; done
    ccmux status >/dev/null || { echo "ccmuxd did not start; see $state/ccmuxd.log"; tail -n 20 "$state/ccmuxd.log"; exit 1; }
    echo "ccmuxd is running (log: $state/ccmuxd.log). Try: ccmux run --cwd ~/proj \"add a test for parse()\""
    ;;
  test)
    install_deps test
    build strict
    cd "$BUILD"
    ctest --output-on-failure -j"$JOBS" --timeout 300
    ;;
  *)
    echo "usage: $0 run|test" >&2
    exit 64
    ;;
esac
