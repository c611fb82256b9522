#!/bin/bash
# Ninety-eighth session, second call: main with the varlen tail's rank
# counts (wgmma-varlen-tail-counts.patch, merged after the first call's
# A/B) on the full build. test_fwd over every wgmma head dim at once plus
# the walk cases, test_stress and test_dispatch beside them; memcheck,
# racecheck and synccheck of hdim64 bf16 causal at once; then the whole
# prefill grid with its extras (bench.py: our dense and varlen calls,
# cuDNN in both layouts, varlen_attn; the GEMM ceiling).
#   run(command="bash bench/s98_call1.sh", carry=[".deb"], timeout_s=600)
set -u
export OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
. bench/device_common.sh
full_build
for t in test_stress test_dispatch; do timeout 100 build/tests/$t >"$OUT/$t.log" 2>&1 & done
wgmma_tests_at_once build 110 wgmma_sm90a_hdim32 wgmma_sm90a_hdim64 wgmma_sm90a_hdim80 wgmma_sm90a_hdim96 \
  wgmma_sm90a_hdim128 wgmma_sm90a_hdim192 wgmma_sm90a_hdim256 fwd_cuda_wgmma
wait
for t in test_stress test_dispatch; do echo "$t: $(counts "$OUT/$t.log")"; done
t1=$SECONDS
for tool in memcheck racecheck synccheck; do
  timeout 90 compute-sanitizer --tool $tool --error-exitcode 99 build/tests/test_fwd wgmma_sm90a_hdim64_bf16_causal \
    >"$OUT/san_$tool.log" 2>&1 &
done
wait
for tool in memcheck racecheck synccheck; do
  echo "$tool hdim64_bf16_causal: $(counts "$OUT/san_$tool.log") $(grep -hE 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/san_$tool.log" | tail -1)"
done
echo "sanitizers: $((SECONDS - t1)) s"
t0=$SECONDS
left=$((585 - SECONDS))
timeout $left python3 bench/bench.py --md "$OUT/bench.md" >"$OUT/bench.log" 2>&1
echo "bench: exit $? ($((SECONDS - t0)) s, cap $left s)"
tail -6 "$OUT/bench.log"
