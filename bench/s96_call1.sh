#!/bin/bash
# Ninety-sixth session, first call: the preamble of two s512 rows' kernels
# (bench/trace_wgmma.sh with the block points of 7b4390d, warm and L2-cold),
# then bench.py with our dense call timed beside the varlen call (ours_ms
# the faster, as cuDNN's layouts): on an H200 the whole grid and extras with
# the fresh first P V of the ninety-fifth session (never run there; its
# tests passed on an H100 in s95_call4.sh), on an H100 the s512 and s2048
# rows (its whole grid of this code: results-h100-2026-12-07-s95-grid.md).
#   run(command="bash bench/s96_call1.sh", carry=[".deb"], timeout_s=600)
set -u
export OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
echo "gpu: $gpu"
TRACE_COLD=1 BUDGET=130 TRACE_ROWS="32:512:64:causal 32:512:128:full" \
  bash bench/trace_wgmma.sh >"$OUT/run_trace.txt" 2>&1
grep -h -A6 '^preamble' "$OUT"/run_trace.txt | grep -v '^--' | head -40
grep -h '^== \|^block [0-9]: cycles from entry\|^grid end' "$OUT/run_trace.txt" | head -24
. bench/device_common.sh
setup_cmocka
bash bench/device_run.sh env build >"$OUT/run_build.txt" 2>&1 || { tail -30 "$OUT/run_build.txt"; exit 1; }
grep -E "build|spill" "$OUT/run_build.txt" | tail -2
if echo "$gpu" | grep -q H200; then
  timeout 330 python3 bench/bench.py --md "$OUT/bench.md" >"$OUT/bench.log" 2>&1
else
  timeout 200 python3 bench/bench.py --seqs 512,2048 --no-extras --md "$OUT/bench.md" >"$OUT/bench.log" 2>&1
fi
echo "bench: exit $?"
grep -E 'TF/s|worst|GEMM' "$OUT/bench.log" | sed 's/  */ /g' | cut -c1-170
python3 - "$OUT/bench.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
for r in rows:
    if isinstance(r.get("ours_dense_ms"), float) and isinstance(r.get("ours_varlen_ms"), float):
        print("%-40s dense/varlen time %.3f  equal bits %s  vs cuDNN: varlen call %.3f, ours %.3f" % (
            r["row"], r["ours_dense_ms"] / r["ours_varlen_ms"], r.get("dense_equals_varlen"),
            r["cudnn_ms"] / r["ours_varlen_ms"], r["cudnn_ms"] / r["ours_ms"]))
PY
