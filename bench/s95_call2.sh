#!/bin/bash
# Ninety-fifth session, second call: the d128 rows of the whole grid
# (s512..s16384, both dtypes, full and causal), 6 rounds, sides as in
# s95_call1.sh (A this tree: fresh first P V, O unset; O main; P fresh
# first P V with O zeroed). No tests (call 1 ran them on A).
#   run(command="bash bench/s95_call2.sh", carry=[".deb", ".ab/old", ".ab/fz"], timeout_s=400)
export OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
AB_VARIANTS=none AB_OLD=.ab/old AB_OLD2=.ab/fz AB_ROUNDS=${AB_ROUNDS:-6} AB_TEST_SIDES=none \
  AB_WGMMA_DIMS=128 AB_TIME_DIMS=128 AB_GRID=full AB_SAN_TOOLS=none BUDGET=${BUDGET:-360} \
  bash bench/wgmma_ab.sh >/dev/null 2>&1
echo "wgmma_ab exit $?"
