#!/bin/bash
# Ninety-sixth session, second call: the faster preamble against main,
# three sides, rows interleaved, 4 rounds of the quick grid (d64, d128,
# d256; s512, s2048, s8192; varlen calls, as bench.py's varlen call):
#   A  this tree (eb27f42): the varlen tables' rank and slots in one pass of
#      16-byte loads; the tensor maps prefetched at the kernel's entry
#   O  main at the session's start (.ab/old, 0ce819c: kernels of 4be5401)
#   P  A + the first two list entries' Q and first K/V tiles prefetched
#      into L2 while the list is built (.ab/pf, .ab/patches/first-tile-l2.patch)
# then test_fwd wgmma on A (d64, d128, d256), racecheck and memcheck of A's
# hdim64 bf16 causal (the tables are shared memory written and read across
# barriers). With the device budget left after refusals (~500 s), P only
# with AB_OLD2=.ab/pf (not in this session's call) and racecheck alone.
# To time P later: sh bench/ab_tree.sh .ab/old; sh bench/ab_tree.sh .ab/pf
# bench/experiments/wgmma-first-tile-l2.patch; AB_OLD2=.ab/pf and carry both.
# Predicted (before the call): A over O 1-2% less time on the s512 rows (the
# rank pass ~4,000 -> ~500 cycles, ~1.9 us of 110-140; the maps' fetch up to
# 0.5 us), 0.3-1% at s2048 (b8), s8192 level; P over A another 0.5-1.5% at
# s512 (DRAM busy ~2 us earlier), longer rows level.
#   run(command="bash bench/s96_call2.sh", carry=[".deb", ".ab/old"], timeout_s=600)
export OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
AB_VARIANTS=none AB_OLD=.ab/old AB_OLD2=${AB_OLD2:-} AB_ROUNDS=${AB_ROUNDS:-4} AB_TEST_SIDES="A" \
  AB_WGMMA_DIMS=64,128,256 AB_TIME_DIMS=64,128,256 AB_GRID=quick \
  AB_SAN="A:wgmma_sm90a_hdim64_bf16_causal" AB_SAN_TOOLS="racecheck" \
  AB_SAN_RESERVE=45 BUDGET=${BUDGET:-350} \
  bash bench/wgmma_ab.sh >/dev/null 2>&1
echo "wgmma_ab exit $?"
cat "$OUT/summary.txt"
