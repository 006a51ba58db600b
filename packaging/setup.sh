#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine (as root, or with sudo available):
#   bash packaging/setup.sh run    install deps + the pinned claude, build ccmux only, install it
#                                  into /usr/local, start ccmuxd (built-in defaults)
#   bash packaging/setup.sh test   install deps + the pinned claude + the page-test tools, build
#                                  everything (warnings are errors), run every test (ctest)
#   bash packaging/setup.sh deps [test]   only the installs of `run` (or of `test`)
#
# Nothing here needs a Node from Debian (12 ships 18.20.4; claude declares >= 22 and
# playwright-core needs >= 20) and nothing touches a Node the user has: claude is a native
# executable taken from npm's registry, and the page test runs on a private Node 22 in
# .test-tools/ of this tree. See packaging/npm-tools.sh for the pins and why.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${CCMUX_BUILD_DIR:-$ROOT/build}"
TOOLS="$ROOT/.test-tools"
JOBS="$(nproc)"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
# shellcheck source=npm-tools.sh
source "$ROOT/packaging/npm-tools.sh"

# What building and running ccmux needs.
APT_PACKAGES=(
  build-essential cmake pkg-config git ca-certificates curl procps
  libyaml-cpp-dev liblua5.4-dev libsqlite3-dev libboost-dev libmbedtls-dev
  nlohmann-json3-dev libsimdjson-dev libcli11-dev libsystemd-dev libspdlog-dev systemd
  libwebsockets-dev libssl-dev libcurl4-openssl-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  libnats-dev
)
# Only for the tests: GoogleTest, python3 for the fake servers (Messages API, Telegram, MCP),
# Debian's chromium for the page test (driven by playwright-core; no browser download),
# python3-grpcio for the gRPC clients nobody on the C++ side wrote (tests/grpc), nats-server for
# the fleet's clusters and leaf nodes (tests/fleet; libnats-dev above is the fleet plugin's client).
TEST_APT_PACKAGES=(libgtest-dev python3 chromium python3-grpcio python3-protobuf nats-server)

install_apt() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "== apt: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# The pinned claude: kept when the one on PATH is that version, else installed into
# /usr/local/bin (or ~/.local/bin without root) by ccmux-install-claude.
install_claude() {
  if claude --version 2>/dev/null | grep -q "^$CLAUDE_VERSION "; then return; fi
  $SUDO bash "$ROOT/packaging/ccmux-install-claude"
  hash -r
  claude --version | grep -q "^$CLAUDE_VERSION " || {
    echo "claude on PATH is $(command -v claude): not $CLAUDE_VERSION; put /usr/local/bin first" >&2
    exit 1
  }
}

# The page test's Node and playwright-core, private to this tree (.test-tools/).
install_test_tools() {
  local arch sha_var
  arch="$(npm_arch)"
  [ -n "$arch" ] || { echo "no Node build on npm's registry for $(uname -m)" >&2; exit 1; }
  sha_var="TEST_NODE_SHA512_$arch"
  if ! "$TOOLS/node/bin/node" --version 2>/dev/null | grep -qx "v$TEST_NODE_VERSION"; then
    npm_fetch "node-linux-$arch" "$TEST_NODE_VERSION" "${!sha_var}" "$TOOLS/node"
  fi
  if ! grep -qs "\"version\": \"$PLAYWRIGHT_VERSION\"" "$TOOLS/node_modules/playwright-core/package.json"; then
    npm_fetch playwright-core "$PLAYWRIGHT_VERSION" "$PLAYWRIGHT_SHA512" "$TOOLS/node_modules/playwright-core"
  fi
}

install_deps() {
  if [ "${1:-}" = "test" ]; then
    install_apt "${APT_PACKAGES[@]}" "${TEST_APT_PACKAGES[@]}"
    install_test_tools
  else
    install_apt "${APT_PACKAGES[@]}"
  fi
  install_claude
  echo "== claude $(claude --version) at $(command -v claude)"
}

configure() {
  # The same build tree serves both commands. `run` leaves CCMUX_WERROR as the cache has it,
  # so `run` after `test` (what CI does) only links what it installs; nothing is recompiled.
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
}

case "${1:-}" in
  deps)
    install_deps "${2:-}"
    ;;
  run)
    install_deps
    configure -DCCMUX_BUILD_TESTS=OFF -DCCMUX_BUILD_BENCH=OFF
    cmake --build "$BUILD" -j"$JOBS"
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
    configure -DCCMUX_WERROR=ON -DCCMUX_BUILD_TESTS=ON -DCCMUX_BUILD_BENCH=ON -DCCMUX_WITH_FLEET=ON
    cmake --build "$BUILD" -j"$JOBS"
    cd "$BUILD"
    ctest --output-on-failure -j"$JOBS" --timeout 300
    ;;
  *)
    echo "usage: $0 run|test|deps [test]" >&2
    exit 64
    ;;
esac
