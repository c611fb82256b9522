#!/bin/bash
# Hundredth session, third call: main with the first tile's loads before
# the list (wgmma-first-tile-before-list.patch, merged after s100_call1.sh:
# no hang, dense s512 rows 0.2-1.4% less time on the H100) on the full build.
# test_fwd over every wgmma head dim at once plus the walk cases,
# test_stream (its dense programmatic-launch case is the one that hung in
# the ninety-ninth session), test_stress and test_dispatch beside them;
# memcheck, racecheck and synccheck of hdim64 bf16 causal and hdim256 bf16
# causal at once; then the whole prefill grid with its extras (bench.py).
#   run(command="bash bench/s100_call3.sh", carry=[".deb"], timeout_s=600)
set -u
export OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
. bench/device_common.sh
full_build
for t in test_stream test_stress test_dispatch; do timeout 100 build/tests/$t >"$OUT/$t.log" 2>&1 & done
wgmma_tests_at_once build 110 wgmma_sm90a_hdim32 wgmma_sm90a_hdim64 wgmma_sm90a_hdim80 wgmma_sm90a_hdim96 \
  wgmma_sm90a_hdim128 wgmma_sm90a_hdim192 wgmma_sm90a_hdim256 fwd_cuda_wgmma
wait
for t in test_stream test_stress test_dispatch; do echo "$t: $(counts "$OUT/$t.log")"; done
t1=$SECONDS
for k in hdim64_bf16_causal hdim256_bf16_causal; do
  for tool in memcheck racecheck synccheck; do
    timeout 100 compute-sanitizer --tool $tool --error-exitcode 99 build/tests/test_fwd wgmma_sm90a_$k \
      >"$OUT/san_${tool}_$k.log" 2>&1 &
  done
done
wait
for k in hdim64_bf16_causal hdim256_bf16_causal; do
  for tool in memcheck racecheck synccheck; do
    echo "$tool $k: $(counts "$OUT/san_${tool}_$k.log") $(grep -hE 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/san_${tool}_$k.log" | tail -1)"
  done
done
echo "sanitizers: $((SECONDS - t1)) s"
t0=$SECONDS
left=$((${TOTAL:-585} - SECONDS))  # TOTAL: the call's seconds, less a margin
# BENCH_ARGS: e.g. "--seqs 512,2048 --no-extras" where device time is short
# (the whole grid took 249 s on the H100 in the ninety-eighth session)
[ "$left" -ge 60 ] || { echo "bench: skipped ($left s left)"; exit 0; }
timeout $left python3 bench/bench.py --md "$OUT/bench.md" ${BENCH_ARGS:-} >"$OUT/bench.log" 2>&1
echo "bench: exit $? ($((SECONDS - t0)) s, cap $left s)"
tail -6 "$OUT/bench.log"
