#!/bin/bash
# Prepared in the ninety-eighth session for the next: the first tile's
# loads before the list (bench/experiments/wgmma-first-tile-before-list.patch,
# .ab/ft) against main, rows interleaved, 4 rounds of the quick grid on
# varlen calls, then 6 on dense calls; then test_fwd of P over every wgmma
# head dim and the walk cases (the patch changes every dense persistent
# call), test_stream of A and P (its programmatic-launch case runs a
# dense wgmma call after a kernel that writes the inputs late), and
# memcheck, racecheck and synccheck of P's hdim64 bf16 causal and hdim128
# bf16 none.
#   A  main
#   P  .ab/ft: dense persistent calls (no cu_seqlens_q, no paged cache, no
#      key split) issue their first tile's Q and first K/V tiles (up to
#      the ring's stages) from the last warp right after griddep_wait,
#      before the list (~2,100 cycles) and the producer's setup (~1,200);
#      the barriers' init moves to that warp
# Predicted (ninety-eighth session): dense s512 rows 0.8-1.5% less time
# (d64 causal's first S ~2,500 cycles earlier of a ~133 us row), s2048
# 0.2-0.5%, s8192 level; varlen calls level (the init's move alone
# measured level, wgmma-init-off-warp0.patch).
#   Q  .ab/pf (ninety-ninth session): varlen calls prefetch the lines of
#      cu_seqlens_q/k and seqused_k into L2 from warp 1 at the kernel's
#      entry, before griddep_wait and the barriers' init
#      (wgmma-seq-tables-l2-before-wait.patch)
# Predicted for Q: varlen s512 rows 0.2-0.5% less time (the tables' loads,
# 1,150-1,530 cycles after the wait, mostly hidden under the entry's
# ~800-1,400 cycles), longer rows and dense calls level.
# The ninety-ninth session cut the built head dims to 64, 128 and 256
# (three sides' builds in one call); P's other head dims are tested on the
# full build of the grid call.
# Before the call:
#   sh bench/ab_tree.sh .ab/ft bench/experiments/wgmma-first-tile-before-list.patch
#   sh bench/ab_tree.sh .ab/pf bench/experiments/wgmma-seq-tables-l2-before-wait.patch
#   run(command="bash bench/s99_call1.sh", carry=[".deb", ".ab/ft", ".ab/pf"], timeout_s=600)
export OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
. bench/device_common.sh
AB_VARIANTS=none AB_OLD2=.ab/ft AB_OLD3=.ab/pf AB_ROUNDS=${AB_ROUNDS:-4} AB_TEST_SIDES="none" AB_EXTRA_TESTS=test_stream \
  AB_WGMMA_DIMS=64,128,256 AB_TIME_DIMS=64,128,256 AB_GRID=quick AB_SAN_TOOLS=none BUDGET=${BUDGET:-280} \
  bash bench/wgmma_ab.sh >/dev/null 2>&1
echo "wgmma_ab exit $?"
cat "$OUT/summary.txt"
mkdir -p "$OUT/dense"
t=$SECONDS
timeout 120 python3 bench/ab_serve.py --out "$OUT/dense" --rounds ${DENSE_ROUNDS:-6} A=/tmp/wab/ab_A P=/tmp/wab/ab_P -- \
  --quick --dense --reps 200 --dims 64,128,256 >"$OUT/dense/serve.log" 2>&1
echo "dense ab_serve: exit $? ($((SECONDS - t)) s)"
timeout 20 python3 bench/ab_table.py --text "$OUT/dense" A P | tee "$OUT/dense_summary.txt"
(cd "$OUT/dense" && tar czf ../dense_logs.tgz .) && rm -rf "$OUT/dense"
setup_cmocka
t=$SECONDS
for side in P Q; do
  for f in wgmma_sm90a_hdim64 wgmma_sm90a_hdim128 wgmma_sm90a_hdim256 fwd_cuda_wgmma; do
    timeout 120 /tmp/wab/$side/build/tests/test_fwd "$f" >"$OUT/test_${side}_$f.log" 2>&1 &
  done
done
for side in A P Q; do  # the programmatic-launch case: varlen and dense wgmma calls after a late writer
  timeout 60 /tmp/wab/$side/build/tests/test_stream >"$OUT/test_stream_$side.log" 2>&1 &
done
wait
for k in hdim64_bf16_causal hdim128_bf16_none; do
  for tool in memcheck racecheck synccheck; do
    timeout 100 compute-sanitizer --tool $tool --error-exitcode 99 /tmp/wab/P/build/tests/test_fwd \
      wgmma_sm90a_$k >"$OUT/san_${tool}_$k.log" 2>&1 &
  done
done
timeout 100 compute-sanitizer --tool memcheck --error-exitcode 99 /tmp/wab/Q/build/tests/test_fwd \
  wgmma_sm90a_hdim64_bf16_causal >"$OUT/san_memcheck_Q_hdim64_bf16_causal.log" 2>&1 &
wait
for f in "$OUT"/test_[PQ]_*.log "$OUT"/test_stream_*.log "$OUT"/san_*.log; do
  echo "$(basename "$f"): $(counts "$f") $(grep -hE 'ERROR SUMMARY|RACECHECK SUMMARY' "$f" | tail -1)"
done
grep -h '^\[  FAILED  \] [a-z]' "$OUT"/test_[PQ]_*.log | head
echo "tests: $((SECONDS - t)) s"
