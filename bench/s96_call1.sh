#!/bin/bash
# Ninety-sixth session, first call: the preamble of the s512 rows' kernels
# (bench/trace_wgmma.sh with the block points of 7b4390d, warm and L2-cold),
# then on an H200 the whole prefill grid with the fresh first P V of the
# ninety-fifth session (never run there; the tests of that code passed on an
# H100 in s95_call4.sh), on an H100 the s512 rows only.
#   run(command="bash bench/s96_call1.sh", carry=[".deb"], timeout_s=600)
set -u
export OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
echo "gpu: $gpu"
TRACE_COLD=1 BUDGET=170 TRACE_ROWS="32:512:64:causal 32:512:128:full 32:512:128:causal 32:512:256:full" \
  bash bench/trace_wgmma.sh >"$OUT/run_trace.txt" 2>&1
grep -h -A6 '^preamble' "$OUT"/run_trace.txt | grep -v '^--' | head -80
grep -h '^== \|^block [0-9]: cycles from entry\|^grid end' "$OUT/run_trace.txt" | head -40
. bench/device_common.sh
echo "$gpu" | grep -q H200 || exit 0  # the H100's grid of this code: results-h100-2026-12-07-s95-grid.md
setup_cmocka
bash bench/device_run.sh env build >"$OUT/run_build.txt" 2>&1 || { tail -30 "$OUT/run_build.txt"; exit 1; }
grep -E "build|spill" "$OUT/run_build.txt" | tail -3
timeout 300 python3 bench/bench.py --md "$OUT/bench.md" >"$OUT/bench.log" 2>&1
echo "bench: exit $?"
tail -5 "$OUT/bench.log"
