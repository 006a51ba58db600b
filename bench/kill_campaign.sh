#!/usr/bin/env bash
# The kill -9 campaign of issue 13 at full count: ccmuxd killed N times (default 30) at random
# moments of five situations (mid-stream, approval pending, question pending, prompt queued,
# parking), each followed by a restart and the checks of KillCampaign (tests/e2e/held_e2e_test.cpp):
# seq 1..head once, history unchanged, every claude line stored once, pending approvals effective.
#   bench/kill_campaign.sh [N]        (after `cmake --build build`; the real claude on PATH)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${CCMUX_BUILD_DIR:-$ROOT/build}"
CCMUX_KILL_CAMPAIGN="${1:-30}" "$BUILD/tests/e2e_tests" --gtest_filter='KillCampaign.*' 2>&1 |
  grep -E '^kill -9 campaign|^\[  (PASSED|FAILED) |Failure|Expected|Which is|after kill' || true
