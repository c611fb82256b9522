#!/bin/bash
# Ninety-fifth session, third call: d64 and d128 rows of the whole grid,
# 6 rounds, three sides:
#   A  this tree: the fresh first P V, O unset where kOUnset, and no O
#      cleared for tiles without keys where O is staged in Q (d128: the
#      epilogue stores zeros there; clearing it grew the epilogue by ~230
#      instructions)
#   O  main (.ab/old)
#   P  calls 1-2's A (.ab/fu: O cleared for keyless tiles everywhere)
# then test_fwd wgmma on A (d64, d128) and memcheck/racecheck of two kernels.
#   run(command="bash bench/s95_call3.sh", carry=[".deb", ".ab/old", ".ab/fu"], timeout_s=600)
export OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
AB_VARIANTS=none AB_OLD=.ab/old AB_OLD2=.ab/fu AB_ROUNDS=${AB_ROUNDS:-6} AB_TEST_SIDES=A \
  AB_WGMMA_DIMS=64,128 AB_TIME_DIMS=64,128 AB_GRID=full \
  AB_SAN="wgmma_sm90a_hdim64_bf16_causal wgmma_sm90a_hdim128_bf16_none" AB_SAN_SIDE=A \
  AB_SAN_TOOLS="memcheck racecheck" BUDGET=${BUDGET:-540} \
  bash bench/wgmma_ab.sh >/dev/null 2>&1
echo "wgmma_ab exit $?"
