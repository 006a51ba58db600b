#!/bin/sh
# Stands in for claude in fuzz runs: reads what ccmuxd writes and never answers, so its
# session stays "starting" (prompts queue, control requests wait) and no output races
# with the fuzzer's input.
exec cat >/dev/null
