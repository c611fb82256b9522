#!/bin/bash
# Ninety-fifth session, first call: a work tile's first P V written by
# wgmma's scale-d 0 (pv_gemm_issue's `fresh`), so that O is not scaled by
# the first key tile's alpha (0) and, where ptxas keeps it cheap (kOUnset),
# not zeroed before the tile. Sides, rows interleaved (bench/wgmma_ab.sh):
#   A  this tree (fresh first P V; O unset in the overlapped loop with
#      softmax turns and one row block)
#   O  main (.ab/old)
#   P  fresh first P V with O still zeroed everywhere (.ab/fz)
# then test_fwd wgmma on A, memcheck/racecheck of two kernels on A, and the
# SASS of d128 none and d64 none on A and O (instruction counts, HGMMA).
#   run(command="bash bench/s95_call1.sh", carry=[".deb", ".ab/old", ".ab/fz"], timeout_s=600)
export OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
AB_VARIANTS=none AB_OLD=.ab/old AB_OLD2=.ab/fz AB_ROUNDS=${AB_ROUNDS:-4} AB_TEST_SIDES=A \
  AB_SAN="wgmma_sm90a_hdim128_bf16_causal wgmma_sm90a_hdim128_bf16_none" AB_SAN_SIDE=A \
  AB_SAN_TOOLS="memcheck racecheck" BUDGET=${BUDGET:-500} bash bench/wgmma_ab.sh >"$OUT/ab_summary.txt" 2>&1
for side in A O; do
  for k in hdim128_bf16_none hdim64_bf16_none hdim128_bf16_causal; do
    o=$(find /tmp/wab/$side/build -name "fwd_wgmma_sm90a_${k}.cu.o" | head -1)
    [ -n "$o" ] && cuobjdump --dump-sass "$o" >"$OUT/sass_${side}_${k}.txt" 2>/dev/null
    f="$OUT/sass_${side}_${k}.txt"
    [ -s "$f" ] && echo "sass $side $k: $(grep -cE '^\s+/\*[0-9a-f]{4}\*/' "$f") instr, HGMMA $(grep -c HGMMA "$f"), FMUL $(grep -c 'FMUL ' "$f"), MOV $(grep -cE ' MOV | CS2R ' "$f")"
  done
done
tail -60 "$OUT/ab_summary.txt"
