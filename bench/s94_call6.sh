#!/bin/bash
# Ninety-fourth session, sixth device call: where the warp's plan spends
# each block's ~1.4 us before its piece (fwd_decode.md item 2 (a)): the
# plan's phases (decode_trace.cuh DecodePlanMark: loads + sum, splits and
# keys, sort, scan, piece) on b8 x 16k/32k, b32 x 16k and 1 x 128k + 7 x 1k,
# beside the dense calls. Prediction (cycles, median): loads + sum
# 1,500-2,000 (one latency under the launch's load), splits/keys 300-500
# (a 64-bit division a lane), sort ~200 at b8, scan ~300, piece ~500.
#   run(command="bash bench/s94_call6.sh", carry=[".deb"], timeout_s=300)
O=${OUT:-/tmp/fa_out}
mkdir -p "$O/trace"
OUT=$O/trace BUDGET=270 TRACE_ROWS="8x32768 8x32768+dense 8x16384 32x16384 1x131072,7x1024" \
  timeout 280 bash bench/trace_decode.sh >"$O/trace.out" 2>&1
echo "=== traces"
grep -E "^== |^blocks|^entry -> piece|^cycles: entry -> piece|^cycles: warp plan" "$O/trace/summaries.txt"
echo "=== trace summary"; cat "$O/trace/summary.txt"
