#!/bin/bash
# Does a kernel's second run on the same inputs write the same bits when
# other processes use the GPU? (The forty-sixth session's parallel suite
# saw fwd_mma_sm90_hdim192/256_bf16_local differ on their rerun check.)
#   run(command="bash tests/rerun_under_load.sh", carry=[".deb"], timeout_s=400)
# RERUN_FILTERS: test_fwd filters (default the two kernels); RERUN_N: runs
# each, alone and then beside $RERUN_LOAD (a test_fwd filter run in a loop
# by 3 background processes); then racecheck on the first filter.
set -u
. "$(dirname "$0")/../bench/device_common.sh"
FILTERS=${RERUN_FILTERS:-fwd_mma_sm90_hdim192_bf16_local fwd_mma_sm90_hdim256_bf16_local}
N=${RERUN_N:-3}
LOAD=${RERUN_LOAD:-fwd_wgmma_sm90a_hdim64}
setup_cmocka
t0=$SECONDS
timeout 200 ninja -j16 build/tests/test_fwd >"$OUT/build.log" 2>&1 || { note "build: FAILED"; tail -20 "$OUT/build.log"; exit 1; }
note "build: ok in $((SECONDS - t0)) s"
runs() {  # runs LABEL: each filter N times, one summary line each
  local f i
  for f in $FILTERS; do
    for i in $(seq "$N"); do
      timeout 60 build/tests/test_fwd "$f" >"$OUT/rerun_$1_${f}_$i.log" 2>&1
      note "$1 $f run $i: exit $? ($(counts "$OUT/rerun_$1_${f}_$i.log"))"
      grep -m2 "second run" "$OUT/rerun_$1_${f}_$i.log" | cut -c1-300 | tee -a "$SUMMARY"
    done
  done
}
runs alone
pids=()
for i in 1 2 3; do
  (while :; do build/tests/test_fwd "$LOAD" >/dev/null 2>&1; done) &
  pids+=($!)
done
runs loaded
kill "${pids[@]}" 2>/dev/null; pkill -f "test_fwd $LOAD" 2>/dev/null; wait 2>/dev/null
set -- $FILTERS
timeout "${RERUN_SAN_TIMEOUT:-120}" compute-sanitizer --tool racecheck --racecheck-report all --error-exitcode 99 \
  build/tests/test_fwd "$1" >"$OUT/racecheck.log" 2>&1
note "racecheck $1: exit $? ($(grep -E 'RACECHECK SUMMARY' "$OUT/racecheck.log" | tail -1))"
echo "==== summary"; cat "$SUMMARY"
