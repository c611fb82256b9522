#!/bin/bash
# test_stress's grid_independence_cuda on main (A) and, with $CHECK_TILES,
# on main with those tile fields set (B; bench/small_spec.py --tile syntax,
# e.g. "256:list_max=56"), each in its own copy of the tree with the small
# build, one device call. The case prints each round's elapsed seconds and
# problem before running it, so a hang names its round and a slow round
# shows against A. Then the rest of test_stress on the last side.
#   run(command="CHECK_TILES='256:list_max=56' bash bench/stress_grid_check.sh", carry=[".deb"], timeout_s=500)
# (fwd_wgmma.md Next steps [d256-list56]). CHECK_TIMEOUT: seconds per side
# for the case (default 150). CHECK_FWD_FILTER: then test_fwd with that
# filter on the last side (e.g. wgmma_sm90a_hdim256: the kernels the tile
# fields change), built after the case.
set -u
BUDGET=${BUDGET:-480}
# The small build keeps d64 and d128 only; the case runs d256 too (without
# it every round from d256 on fails with "head_dim 256 is not generated",
# as the seventieth session's first call did). The rest of test_stress also
# runs d32 and d96, which no small build has: those cases fail here by
# design, and only grid_independence and test_fwd decide.
export SMALL_HEAD_DIMS=${SMALL_HEAD_DIMS:-64,128,256}
. "$(dirname "$0")/device_common.sh"
setup_cmocka
here=$(pwd)
sides=(A)
[ -n "${CHECK_TILES:-}" ] && sides+=(B)
note "gpu: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
t=$SECONDS
for side in "${sides[@]}"; do
  copy_tree "$here" "/tmp/stress_$side" || exit 1
  tiles=()
  if [ "$side" = B ]; then for f in $CHECK_TILES; do tiles+=(--tile "$f"); done; fi
  (cd "/tmp/stress_$side" && timeout 10 python3 bench/small_spec.py gen/spec.py ${tiles[@]+"${tiles[@]}"} &&
    timeout "$(cap 240)" ninja -j8 build/tests/test_stress >"$OUT/build_$side.log" 2>&1
   echo $? >"$OUT/build_$side.rc") &
done
wait
for side in "${sides[@]}"; do note "build $side: exit $(cat "$OUT/build_$side.rc")"; done
note "builds: $((SECONDS - t)) s"
for side in "${sides[@]}"; do
  t=$SECONDS
  (cd "/tmp/stress_$side" && timeout "$(cap "${CHECK_TIMEOUT:-150}")" build/tests/test_stress grid_independence_cuda) \
    >"$OUT/grid_$side.log" 2>&1
  rc=$?
  note "grid_independence_cuda ($side): exit $rc in $((SECONDS - t)) s ($(counts "$OUT/grid_$side.log")); last round: $(grep ' s: ' "$OUT/grid_$side.log" | tail -1)"
done
last=${sides[${#sides[@]}-1]}
(cd "/tmp/stress_$last" && timeout "$(cap 60)" build/tests/test_stress -grid_independence) >"$OUT/rest_$last.log" 2>&1
note "test_stress but grid_independence ($last): exit $? ($(counts "$OUT/rest_$last.log"))"
if [ -n "${CHECK_FWD_FILTER:-}" ]; then
  t=$SECONDS
  (cd "/tmp/stress_$last" && timeout "$(cap 150)" ninja -j16 build/tests/test_fwd >"$OUT/build_fwd_$last.log" 2>&1 &&
    timeout "$(cap 200)" build/tests/test_fwd "$CHECK_FWD_FILTER") >"$OUT/fwd_$last.log" 2>&1
  note "test_fwd $CHECK_FWD_FILTER ($last): exit $? in $((SECONDS - t)) s ($(counts "$OUT/fwd_$last.log"))"
fi
echo "==== rounds (elapsed s, problem)"
for side in "${sides[@]}"; do grep ' s: ' "$OUT/grid_$side.log" | sed "s/^/$side /"; done
echo "==== summary"
cat "$SUMMARY"
