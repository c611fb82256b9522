#!/bin/bash
# One short device call for the wgmma family (sm_90a): build a subset,
# run its probe and its test_fwd cases, memcheck a small subset, time it
# against the mma family. Every long command runs under `timeout` capped by
# what is left of BUDGET (170 s), so a hang costs at most its own limit.
#
#   run(command="bash bench/wgmma_check.sh", carry=[".deb"], timeout_s=200)
#
# Logs go to $OUT (default /tmp/fa_out); a summary is printed last.
# This edits gen/spec.py on the copy it runs on (sm_90 only, head dims 64
# and 128, mma in bf16 only), as bench/device_run.sh's build-small step
# does; never commit the result.
set -u
BUDGET=${BUDGET:-170}  # seconds for the whole script
. "$(dirname "$0")/device_common.sh"
setup_cmocka
timeout 10 nvidia-smi --query-gpu=name,driver_version --format=csv,noheader >"$OUT/env.txt" 2>&1
note "gpu: $(cat "$OUT/env.txt")"

# ---- build: sm_90 only, head dims 64 and 128 (the wgmma family keeps its
# own list, 256 included), the mma family in bf16 only (the timing
# baseline); only the targets this script runs.
timeout 10 python3 bench/small_spec.py gen/spec.py --mma-bf16
t=$SECONDS
if timeout "$(cap 100)" ninja -j16 build/tests/test_wgmma build/tests/test_fwd build/fa_demo >"$OUT/build.log" 2>&1; then
  note "build: ok in $((SECONDS - t)) s"
else
  note "build: FAILED or timed out after $((SECONDS - t)) s"; tail -30 "$OUT/build.log"; cat "$SUMMARY"; exit 1
fi
grep -E "wgmma.*(spill|Local memory)|C75[0-9][0-9]|Potential Performance Loss" "$OUT/build.log" | head -5 | tee -a "$SUMMARY"
o=build/obj/generated/cuda/fwd_wgmma_sm90a_hdim128_bf16_causal.cu.o
timeout 20 cuobjdump --dump-sass "$o" >"$OUT/sass_hdim128_bf16_causal.txt" 2>&1
note "sass $(basename "$o"): $(grep -oE 'HGMMA\.[0-9x]+\.F32\.BF16|UTMALDG\.[0-9]D|USETMAXREG\.[A-Z_.]+|\bHMMA\.[0-9A-Z.]+' "$OUT/sass_hdim128_bf16_causal.txt" | sort | uniq -c | tr '\n' ' ')"

# ---- correctness
timeout "$(cap 30)" build/tests/test_wgmma >"$OUT/test_wgmma.log" 2>&1
note "test_wgmma (layout probe): exit $?"
grep -E "wgmma probe|skipped|FAILED" "$OUT/test_wgmma.log" | tee -a "$SUMMARY"
timeout "$(cap 60)" build/tests/test_fwd wgmma >"$OUT/test_fwd_wgmma.log" 2>&1
note "test_fwd wgmma: exit $? (OK $(grep -c '^\[       OK \]' "$OUT/test_fwd_wgmma.log"), FAILED $(grep -c '^\[  FAILED  \] [a-z]' "$OUT/test_fwd_wgmma.log"))"
grep -E "worst error|skipped|error:|FAIL|Timeout" "$OUT/test_fwd_wgmma.log" | head -24 | tee -a "$SUMMARY"
# fa_fwd's own choice on offsets past 2^31 elements (mma while the wgmma
# family's priority is below mma's, gen/spec.py).
timeout "$(cap 20)" build/tests/test_fwd 64bit >"$OUT/test_fwd_64bit.log" 2>&1
note "test_fwd 64bit (dispatch's choice): exit $? ($(grep -E '^\[  (     OK|FAILED|SKIPPED) \]' "$OUT/test_fwd_64bit.log" | head -1))"

# ---- memcheck on a small subset (the sanitizer slows kernels 10-100x);
# what is left of the budget after 40 s kept for the timing.
left=$((BUDGET - (SECONDS - T0) - 40))
if [ "$left" -gt 10 ]; then
  timeout "$left" compute-sanitizer --tool memcheck --error-exitcode 99 build/tests/test_fwd wgmma_sm90a_hdim64_fp16_causal \
    >"$OUT/memcheck.log" 2>&1
  note "memcheck test_fwd wgmma_sm90a_hdim64_fp16_causal (limit $left s): exit $? ($(grep -E 'ERROR SUMMARY' "$OUT/memcheck.log" | tail -1))"
else
  note "memcheck: skipped (budget)"
fi

# ---- timing: wgmma vs mma on the same problems (fa_demo --kernel)
bench() {  # $1 = kernel suffix (hdim.._dtype_mask), rest = fa_demo arguments
  local suffix=$1; shift
  local fam
  for fam in wgmma_sm90a mma_sm90; do
    timeout "$(cap 10)" build/fa_demo --kernel "fwd_${fam}_${suffix}" --repeat 20 --check-rows 16 "$@" >"$OUT/demo.log" 2>&1
    note "  $(printf '%-38s' "fwd_${fam}_${suffix}") $* | $(grep -E '^time:' "$OUT/demo.log" | cut -c7-) | $(grep -oE '(PASS|FAIL)' "$OUT/demo.log" | tail -1)"
  done
}
note "timing (median of 20, H=16, bf16):"
bench hdim128_bf16_causal --head-dim 128 --heads-q 16 --heads-k 16 --causal --seqlens 4096,4096
bench hdim128_bf16_none --head-dim 128 --heads-q 16 --heads-k 16 --seqlens 4096,4096
bench hdim64_bf16_causal --head-dim 64 --heads-q 16 --heads-k 16 --causal --seqlens 4096,4096

note "total: $((SECONDS - T0)) s"
echo "==== summary"
cat "$SUMMARY"
