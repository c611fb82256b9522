#!/bin/bash
# Ninety-seventh session, second call: this tree (the dense call's walk tail
# chosen by the host, 219f8e7 and on) on the full build.
# test_fwd over every wgmma head dim at once (one process a head dim, plus
# the split-walk cases) and test_stress beside them; memcheck, racecheck
# and synccheck of hdim64 bf16 causal (the rank pass of eb27f42 was only
# racechecked); then the whole prefill grid with its extras (bench.py: our
# dense and varlen calls, cuDNN in both layouts and varlen_attn).
#   run(command="bash bench/s97_call2.sh", carry=[".deb"], timeout_s=420)
set -u
export OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
. bench/device_common.sh
full_build
timeout 100 build/tests/test_stress >"$OUT/test_stress.log" 2>&1 &
wgmma_tests_at_once build 100 wgmma_sm90a_hdim32 wgmma_sm90a_hdim64 wgmma_sm90a_hdim80 wgmma_sm90a_hdim96 \
  wgmma_sm90a_hdim128 wgmma_sm90a_hdim192 wgmma_sm90a_hdim256 fwd_cuda_wgmma
wait
echo "test_stress: $(counts "$OUT/test_stress.log")"
for run in memcheck:64 synccheck:64; do
  tool=${run%%:*} d=${run##*:}
  timeout 45 compute-sanitizer --tool $tool --error-exitcode 99 build/tests/test_fwd wgmma_sm90a_hdim${d}_bf16_causal \
    >"$OUT/san_${tool}_d$d.log" 2>&1
  echo "$tool hdim${d}_bf16_causal: exit $? ($(grep -cE '^\[       OK \]' "$OUT/san_${tool}_d$d.log") OK; $(grep -hE 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/san_${tool}_d$d.log" | tail -1))"
done
t0=$SECONDS
# The s512 rows, where the preamble counts (the device time left, ~500 s, holds no whole grid).
grid="--seqs 512 --no-extras"
timeout $((390 - SECONDS)) python3 bench/bench.py $grid --md "$OUT/bench.md" >"$OUT/bench.log" 2>&1
echo "bench: exit $? ($((SECONDS - t0)) s)"
tail -5 "$OUT/bench.log"
