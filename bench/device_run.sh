#!/bin/bash
# One call on the lent GPU machine: build, test, sanitize, benchmark.
#
#   bash bench/device_run.sh STEP...     steps: env build check tests sanitize bench bench-quick
#
# Logs go to $OUT (the device tool brings them back); a short summary is
# printed last. cmocka is not installed on the device image: its Debian
# packages travel in .deb/ (carried, git-ignored) and are unpacked here.
set -u
OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"

note() { echo "$*" | tee -a "$SUMMARY"; }

setup_cmocka() {
  if ! echo '#include <cmocka.h>' | cc -E -x c - >/dev/null 2>&1 && [ -d .deb ]; then
    mkdir -p /tmp/cm && for f in .deb/*.deb; do dpkg -x "$f" /tmp/cm; done
    export CPATH=/tmp/cm/usr/include LIBRARY_PATH=/tmp/cm/usr/lib/x86_64-linux-gnu
    export LD_LIBRARY_PATH=/tmp/cm/usr/lib/x86_64-linux-gnu
  fi
}

step_env() {
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total --format=csv | tee "$OUT/env.txt"
  { nvcc --version | tail -1; cc --version | head -1; ninja --version; python3 -c 'import torch, jinja2; print("torch", torch.__version__, "jinja2", jinja2.__version__)'; } 2>&1 | tee -a "$OUT/env.txt"
}

step_build() {
  local t0=$SECONDS
  if ninja -j16 all >"$OUT/build.log" 2>&1; then note "build: ok in $((SECONDS - t0)) s"; else
    note "build: FAILED (tail of build.log:)"; tail -30 "$OUT/build.log"; exit 1; fi
  grep -E "spill|Local memory" "$OUT/build.log" | sort | uniq -c | head -5 | tee -a "$SUMMARY"
}

step_check() {
  python3 bench/torch_check.py --filter sm90 2>&1 | tee "$OUT/torch_check.log" | grep -E "FAIL|torch_check" | head -40
  tail -1 "$OUT/torch_check.log" >>"$SUMMARY"
}

step_tests() {
  for t in build/tests/test_api build/tests/test_fwd build/tests/link_check; do
    [ -x "$t" ] || continue
    "$t" >"$OUT/$(basename "$t").log" 2>&1
    note "$(basename "$t"): exit $? $(grep -E '^\[  (PASSED|FAILED|SKIPPED) \]' "$OUT/$(basename "$t").log" | tr '\n' ' ')"
  done
}

step_sanitize() {
  # Representative GPU cases under memcheck and racecheck (every kernel family
  # and mask mode; the full suite would take too long under racecheck).
  local filter=${SANITIZE_FILTER:-fwd_cuda_sm90_hdim}
  for tool in memcheck racecheck; do
    compute-sanitizer --tool "$tool" --error-exitcode 99 build/tests/test_fwd "$filter" >"$OUT/sanitize_$tool.log" 2>&1
    note "compute-sanitizer $tool: exit $? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/sanitize_$tool.log" | tail -1)"
  done
}

step_bench() {
  python3 bench/bench.py "$@" --md "$OUT/bench.md" 2>&1 | tee "$OUT/bench.log" | tail -4 >>"$SUMMARY"
}

setup_cmocka
for s in "$@"; do
  case "$s" in
    env) step_env ;;
    build) step_build ;;
    check) step_check ;;
    tests) step_tests ;;
    sanitize) step_sanitize ;;
    bench) step_bench ;;
    bench-quick) step_bench --quick --no-extras ;;
    *) echo "unknown step $s"; exit 2 ;;
  esac
done
echo "==== summary"
cat "$SUMMARY"
