#!/bin/bash
# Ninety-eighth session, third call: the tile list before griddep_wait on
# calls without sequence tables (wgmma-dense-list-before-wait.patch, .ab/dl)
# against main, dense calls:
#   A  main (47f3dcd)
#   P  .ab/dl
# timed by ab_serve row by row, first with the flush before each call by
# cudaMemsetAsync (no kernel before ours: the patch can gain nothing; a
# control), then by a kernel (ab_prefill --flush-kernel, as do_bench's
# cache.zero_(): our programmatic launch may start under its last blocks).
# Then test_fwd of P (d64, d128, d256, the walk cases) and memcheck,
# racecheck and synccheck of P's hdim64 bf16 causal.
# Predicted: with the flush kernel, s512 dense rows 0.3-0.8% less time
# (the list's ~2,100 cycles under the flush's tail), longer rows level;
# with the memset, level.
#   sh bench/ab_tree.sh .ab/dl bench/experiments/wgmma-dense-list-before-wait.patch
#   run(command="bash bench/s98_call2.sh", carry=[".deb", ".ab/dl"], timeout_s=520)
export OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
. bench/device_common.sh
AB_VARIANTS=none AB_OLD2=.ab/dl AB_ROUNDS=1 AB_TEST_SIDES=none AB_WGMMA_DIMS=64,128,256 AB_TIME_DIMS=64,128,256 \
  AB_GRID=quick AB_SAN_TOOLS=none BUDGET=200 bash bench/wgmma_ab.sh >/dev/null 2>&1
echo "wgmma_ab exit $? (varlen calls, 1 round: a check only)"
grep -E "^P d|same error|compile" "$OUT/summary.txt"
for flush in memset kernel; do
  mkdir -p "$OUT/dense_$flush"
  t=$SECONDS
  opt=$([ $flush = kernel ] && echo --flush-kernel)
  timeout 110 python3 bench/ab_serve.py --out "$OUT/dense_$flush" --rounds ${ROUNDS:-5} A=/tmp/wab/ab_A P=/tmp/wab/ab_P -- \
    --quick --dense --reps 200 --dims 64,128,256 $opt >"$OUT/dense_$flush/serve.log" 2>&1
  echo "dense, flush by $flush: exit $? ($((SECONDS - t)) s)"
  timeout 20 python3 bench/ab_table.py --text "$OUT/dense_$flush" A P | tee "$OUT/dense_${flush}_summary.txt"
  (cd "$OUT/dense_$flush" && tar czf "../dense_${flush}_logs.tgz" .) && rm -rf "$OUT/dense_$flush"
done
setup_cmocka
t=$SECONDS
for f in wgmma_sm90a_hdim64 wgmma_sm90a_hdim128 wgmma_sm90a_hdim256 fwd_cuda_wgmma; do
  timeout 110 /tmp/wab/P/build/tests/test_fwd "$f" >"$OUT/test_P_$f.log" 2>&1 &
done
for tool in memcheck racecheck synccheck; do
  timeout 110 compute-sanitizer --tool $tool --error-exitcode 99 /tmp/wab/P/build/tests/test_fwd \
    wgmma_sm90a_hdim64_bf16_causal >"$OUT/san_${tool}_P.log" 2>&1 &
done
wait
for f in "$OUT"/test_P_*.log "$OUT"/san_*.log; do
  echo "$(basename "$f"): $(counts "$f") $(grep -hE 'ERROR SUMMARY|RACECHECK SUMMARY' "$f" | tail -1)"
done
grep -h '^\[  FAILED  \] [a-z]' "$OUT"/test_P_*.log | head
echo "tests: $((SECONDS - t)) s"
