#!/bin/bash
# Hundredth session, first call: the first tile's loads before the list,
# two ways, against main (A):
#   P  .ab/ft   wgmma-first-tile-before-list.patch (the init thread's proxy
#               fence after the barriers' init; its first run, without the
#               fence, hung in the ninety-ninth session)
#   Q  .ab/ft2  the same + wgmma-first-tile-sync-after-init.patch (a
#               __syncthreads after the init, before griddep_wait: the CUDA
#               guide's TMA order, in case the fence alone does not do it)
# Order: hang checks of P and Q at once (40 s each), then the dense A/B of
# A and the sides that ended (6 rounds), then on the first side that
# ended: test_fwd of head dims $DIMS and the walk cases, test_stream, and
# memcheck, racecheck and synccheck of hdim64 bf16 causal and hdim128 bf16
# none. The other head dims' tests come with the merge's full run.
# Predicted (ninety-eighth session): dense s512 rows 0.8-1.5% less time,
# s2048 0.2-0.5%, s8192 level; Q within 0.3% of P.
#   sh bench/ab_tree.sh .ab/ft bench/experiments/wgmma-first-tile-before-list.patch
#   sh bench/ab_tree.sh .ab/ft2 bench/experiments/wgmma-first-tile-before-list.patch \
#     bench/experiments/wgmma-first-tile-sync-after-init.patch
#   run(command="bash bench/s100_call1.sh", carry=[".deb", ".ab/ft", ".ab/ft2"], timeout_s=600)
export OUT=${OUT:-/tmp/fa_out}
DIMS=${DIMS:-64,128,256}
mkdir -p "$OUT"
. bench/device_common.sh
t=$SECONDS
AB_VARIANTS=none AB_OLD2=.ab/ft AB_OLD3=.ab/ft2 AB_ROUNDS=1 AB_TEST_SIDES="none" \
  AB_WGMMA_DIMS=$DIMS AB_TIME_DIMS=64 AB_GRID=quick AB_SAN_TOOLS=none BUDGET=${BUDGET:-200} \
  bash bench/wgmma_ab.sh >/dev/null 2>&1
echo "wgmma_ab (build, varlen calls 1 round) exit $? ($((SECONDS - t)) s)"
grep -E "build|spill|d64 b32|[PQ] d" "$OUT/summary.txt" | head -20
setup_cmocka
for side in P Q; do
  timeout 40 /tmp/wab/$side/build/tests/test_fwd wgmma_sm90a_hdim64_bf16_none >"$OUT/hang_check_$side.log" 2>&1 &
done
wait
ok=()
for side in P Q; do
  rc=$(grep -c '^\[  PASSED  \]' "$OUT/hang_check_$side.log")
  echo "hang check $side (d64 bf16 none): $(counts "$OUT/hang_check_$side.log") $(tail -1 "$OUT/hang_check_$side.log")"
  [ "$rc" -gt 0 ] && ! grep -q '^\[  FAILED  \] [a-z]' "$OUT/hang_check_$side.log" && ok+=("$side")
done
[ ${#ok[@]} -gt 0 ] || { echo "both hang (or fail): stop"; exit 1; }
dense_ab 170 "${DENSE_ROUNDS:-6}" A "${ok[@]}"
S=${ok[0]}
echo "tests on $S"
t=$SECONDS
for d in ${DIMS//,/ }; do
  timeout 120 /tmp/wab/$S/build/tests/test_fwd "wgmma_sm90a_hdim$d" >"$OUT/test_${S}_hdim$d.log" 2>&1 &
done
timeout 120 /tmp/wab/$S/build/tests/test_fwd fwd_cuda_wgmma >"$OUT/test_${S}_walk.log" 2>&1 &
timeout 90 /tmp/wab/$S/build/tests/test_stream >"$OUT/test_stream_$S.log" 2>&1 &
wait
for k in hdim64_bf16_causal hdim128_bf16_none; do
  for tool in ${SAN_TOOLS:-memcheck racecheck synccheck}; do
    timeout 120 compute-sanitizer --tool $tool --error-exitcode 99 /tmp/wab/$S/build/tests/test_fwd \
      wgmma_sm90a_$k >"$OUT/san_${tool}_$k.log" 2>&1 &
  done
done
wait
mkdir -p "$OUT/t" && mv "$OUT"/test_*.log "$OUT"/san_*.log "$OUT"/hang_check_*.log "$OUT/t/"
for f in "$OUT"/t/*.log; do
  echo "$(basename "$f"): $(counts "$f") $(grep -hE 'ERROR SUMMARY|RACECHECK SUMMARY' "$f" | tail -1)"
done
grep -h '^\[  FAILED  \] [a-z]' "$OUT"/t/test_*.log | head
(cd "$OUT/t" && tar czf ../tests.tgz .) && rm -rf "$OUT/t"
echo "tests: $((SECONDS - t)) s"
