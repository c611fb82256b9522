#!/bin/bash
# Prepared in the ninety-seventh session for the next (not run: no device
# time left). The two preamble experiments left against main, three sides,
# rows interleaved, 6 rounds of the quick grid (d64, d128, d256; s512,
# s2048, s8192), varlen calls, then dense calls:
#   A  main
#   P  wgmma-varlen-tail-counts.patch (.ab/tc): the tail's rank counts from
#      the rank pass (varlen calls only)
#   Q  wgmma-init-off-warp0.patch (.ab/iw): the barriers' init off the warp
#      that lists the first tiles
# then test_fwd of P and Q (d64, d128, d256 and the walk cases, all at once),
# memcheck of P's and racecheck and synccheck of Q's hdim64 bf16 causal.
# Predicted (ninety-seventh session): P varlen s512 causal 0.2-0.4% less
# time, dense level; Q s512 rows 0.2-0.5% less (varlen and dense), longer
# rows level. 6 rounds: ~0.5% is the rounds' noise on most rows.
# Before the call:
#   sh bench/ab_tree.sh .ab/tc bench/experiments/wgmma-varlen-tail-counts.patch
#   sh bench/ab_tree.sh .ab/iw bench/experiments/wgmma-init-off-warp0.patch
#   run(command="bash bench/s97_call4.sh", carry=[".deb", ".ab/tc", ".ab/iw"], timeout_s=600)
export OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
. bench/device_common.sh
AB_VARIANTS=none AB_OLD2=.ab/tc AB_OLD3=.ab/iw AB_ROUNDS=${AB_ROUNDS:-6} AB_TEST_SIDES="none" \
  AB_WGMMA_DIMS=64,128,256 AB_TIME_DIMS=64,128,256 AB_GRID=quick AB_SAN_TOOLS=none BUDGET=${BUDGET:-300} \
  bash bench/wgmma_ab.sh >/dev/null 2>&1
echo "wgmma_ab exit $?"
cat "$OUT/summary.txt"
mkdir -p "$OUT/dense"
t=$SECONDS
timeout 150 python3 bench/ab_serve.py --out "$OUT/dense" --rounds 6 A=/tmp/wab/ab_A P=/tmp/wab/ab_P Q=/tmp/wab/ab_Q -- \
  --quick --dense --reps 200 --dims 64,128,256 >"$OUT/dense/serve.log" 2>&1
echo "dense ab_serve: exit $? ($((SECONDS - t)) s)"
timeout 20 python3 bench/ab_table.py --text "$OUT/dense" A P Q | tee "$OUT/dense_summary.txt"
(cd "$OUT/dense" && tar czf ../dense_logs.tgz .) && rm -rf "$OUT/dense"
setup_cmocka
t=$SECONDS
for side in P Q; do
  for f in wgmma_sm90a_hdim64 wgmma_sm90a_hdim128 wgmma_sm90a_hdim256 fwd_cuda_wgmma; do
    timeout 120 /tmp/wab/$side/build/tests/test_fwd "$f" >"$OUT/test_${side}_$f.log" 2>&1 &
  done
done
timeout 120 compute-sanitizer --tool memcheck --error-exitcode 99 /tmp/wab/P/build/tests/test_fwd \
  wgmma_sm90a_hdim64_bf16_causal >"$OUT/san_memcheck_P.log" 2>&1 &
for tool in racecheck synccheck; do
  timeout 120 compute-sanitizer --tool $tool --error-exitcode 99 /tmp/wab/Q/build/tests/test_fwd \
    wgmma_sm90a_hdim64_bf16_causal >"$OUT/san_${tool}_Q.log" 2>&1 &
done
wait
for f in "$OUT"/test_[PQ]_*.log "$OUT"/san_*.log; do
  echo "$(basename "$f"): $(counts "$f") $(grep -hE 'ERROR SUMMARY|RACECHECK SUMMARY' "$f" | tail -1)"
done
grep -h '^\[  FAILED  \] [a-z]' "$OUT"/test_*.log | head
echo "tests: $((SECONDS - t)) s"
