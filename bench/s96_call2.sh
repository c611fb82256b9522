#!/bin/bash
# Ninety-sixth session, second call: the faster preamble (the varlen tables'
# rank and slots in one pass of 16-byte loads; the tensor maps prefetched at
# the kernel's entry) against main, 6 rounds of the quick grid (d64, d128,
# d256; s512, s2048, s8192; varlen calls as bench.py's varlen call), rows
# interleaved; then test_fwd wgmma on A (d64, d128, d256) and memcheck and
# racecheck of hdim64 bf16 causal (the tables are shared memory written and
# read across a barrier).
#   run(command="bash bench/s96_call2.sh", carry=[".deb", ".ab/old"], timeout_s=600)
export OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
AB_VARIANTS=none AB_OLD=.ab/old AB_ROUNDS=${AB_ROUNDS:-6} AB_TEST_SIDES=A \
  AB_WGMMA_DIMS=64,128,256 AB_TIME_DIMS=64,128,256 AB_GRID=quick \
  AB_SAN="wgmma_sm90a_hdim64_bf16_causal" AB_SAN_SIDE=A \
  AB_SAN_TOOLS="memcheck racecheck" BUDGET=${BUDGET:-520} \
  bash bench/wgmma_ab.sh >/dev/null 2>&1
echo "wgmma_ab exit $?"
cat "$OUT/summary.txt"
