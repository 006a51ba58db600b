#!/usr/bin/env bash
# Runs the libFuzzer targets one after the other on the checked-in corpus.
#   fuzz/run.sh [SECONDS] [TARGET...]      default: 60 s each, every target
# Environment:
#   CCMUX_FUZZ_BUILD   build dir holding the targets (default: build-fuzz)
#   CCMUX_FUZZ_OUT     work dir: grown corpus, crashers, logs (default: $CCMUX_FUZZ_BUILD/fuzz-out)
#   CCMUX_FUZZ_FORK    N > 0: libFuzzer fork mode with N jobs that go on after a crash
#                      (a long run that collects several crashers instead of stopping at one)
#   CCMUX_FUZZ_SKIP_KNOWN=1  leave out the seeds named crash-* (issue 10's known crashers), to
#                      look for new defects on a tree where those are not fixed yet
# Exit status: 1 when any target crashed, leaked, hit a timeout or ran out of memory; its
# input is in $CCMUX_FUZZ_OUT/crashers/<target>/ (reproduce: <target binary> <that file>).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_EACH="${1:-60}"
shift || true
BUILD="${CCMUX_FUZZ_BUILD:-$ROOT/build-fuzz}"
OUT="${CCMUX_FUZZ_OUT:-$BUILD/fuzz-out}"
FORK="${CCMUX_FUZZ_FORK:-0}"
TARGETS=("$@")
[ "${#TARGETS[@]}" -gt 0 ] || TARGETS=(claude_lines protocol ws config hook_event lua_input lua_return hooks_settings holder_protocol fleet_wire)

dict_for() {
  case "$1" in
    config) echo yaml ;;
    lua_return) echo lua ;;
    ws) echo ws ;;
    *) echo json ;;
  esac
}
max_len_for() {
  case "$1" in
    claude_lines) echo 32768 ;;  # claude's initialize reply is ~17 kB
    ws | protocol) echo 16384 ;;
    *) echo 8192 ;;
  esac
}

mkdir -p "$OUT"
summary="$OUT/summary.txt"
: >"$summary"
failed=0
for t in "${TARGETS[@]}"; do
  bin="$BUILD/fuzz/fuzz_$t"
  [ -x "$bin" ] || { echo "fuzz: $bin is not built (cmake --build $BUILD --target fuzz_all)" >&2; exit 2; }
  seeds="$ROOT/fuzz/corpus/$t"
  work="$OUT/corpus/$t"
  crashers="$OUT/crashers/$t"
  log="$OUT/$t.log"
  mkdir -p "$work" "$crashers"
  # The seeds are read from a copy: a run never writes into the source tree.
  for f in "$seeds"/*; do
    name="$(basename "$f")"
    [ "${CCMUX_FUZZ_SKIP_KNOWN:-0}" = 1 ] && [[ "$name" == crash-* ]] && continue
    cp "$f" "$work/seed-$name"
  done
  args=(-max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=3072 -max_len="$(max_len_for "$t")"
        -dict="$ROOT/fuzz/dict/$(dict_for "$t").dict" -artifact_prefix="$crashers/" -print_final_stats=1)
  if [ "$FORK" -gt 0 ]; then
    args+=(-fork="$FORK" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  fi
  echo "== fuzz_$t: ${SECONDS_EACH} s (log: $log)"
  start=$SECONDS
  # UBSan findings abort like ASan ones (the targets are built with -fno-sanitize-recover).
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" "$bin" "${args[@]}" "$work" >"$log" 2>&1
  rc=$?
  took=$((SECONDS - start))
  execs="$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -n1 | awk '{print $2}')"
  cov="$(grep -oE '(#[0-9]+|INITED|DONE|pulse|NEW|REDUCE).*cov: [0-9]+ ft: [0-9]+' "$log" | tail -n1 | grep -oE 'cov: [0-9]+ ft: [0-9]+')"
  found="$(find "$crashers" -type f ! -name 'slow-unit-*' | wc -l)"  # slow units are not failures
  line="fuzz_$t: rc=$rc ${took}s execs=${execs:-?} execs/s=$(( ${execs:-0} / (took > 0 ? took : 1) )) ${cov:-cov: ?} crashers=$found"
  echo "$line" | tee -a "$summary"
  if [ "$rc" -ne 0 ] || [ "$found" -gt 0 ]; then
    failed=1
    # The first report, so CI output shows what broke without opening the log.
    grep -m1 -B2 -A40 -E '==[0-9]+==ERROR|runtime error|deadly signal|ALARM|out-of-memory|leak|terminate called|Abort' "$log" | head -n 60
    ls -1 "$crashers" | head -n 20 | sed "s|^|   crasher: $crashers/|"
  fi
done
echo "== summary ($summary)"
cat "$summary"
exit "$failed"
