#!/bin/bash
# Ninety-fifth session, fourth call: the fresh first P V (kFreshO, kOUnset)
# on the full build. test_fwd over every wgmma head dim at once (one
# process a head dim, plus the split-walk cases) and test_stress beside
# them, memcheck of a d96 kOUnset kernel, then the whole prefill grid with
# its extras (bench.py, cuDNN in both layouts and varlen_attn).
#   run(command="bash bench/s95_call4.sh", carry=[".deb"], timeout_s=600)
set -u
export OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
. bench/device_common.sh
setup_cmocka
bash bench/device_run.sh env build >"$OUT/run_build.txt" 2>&1 || { tail -30 "$OUT/run_build.txt"; exit 1; }
grep -E "build|spill" "$OUT/run_build.txt" | tail -3
t0=$SECONDS
for f in hdim32 hdim64 hdim80 hdim96 hdim128 hdim192 hdim256; do
  timeout 150 build/tests/test_fwd "wgmma_sm90a_$f" >"$OUT/test_fwd_$f.log" 2>&1 &
done
timeout 150 build/tests/test_fwd fwd_cuda_wgmma >"$OUT/test_fwd_cuda_wgmma.log" 2>&1 &
timeout 150 build/tests/test_stress >"$OUT/test_stress.log" 2>&1 &
wait
for f in "$OUT"/test_fwd_*.log "$OUT/test_stress.log"; do echo "$(basename "$f"): $(counts "$f")"; done
grep -h '^\[  FAILED  \] [a-z]' "$OUT"/test_*.log | head
echo "tests: $((SECONDS - t0)) s"
timeout 45 compute-sanitizer --tool memcheck --error-exitcode 99 build/tests/test_fwd wgmma_sm90a_hdim96_bf16_causal \
  >"$OUT/san_memcheck_d96.log" 2>&1
echo "memcheck hdim96_bf16_causal: exit $? ($(grep -h 'ERROR SUMMARY' "$OUT/san_memcheck_d96.log"))"
timeout 280 python3 bench/bench.py --md "$OUT/bench.md" >"$OUT/bench.log" 2>&1
echo "bench: exit $?"
tail -5 "$OUT/bench.log"
