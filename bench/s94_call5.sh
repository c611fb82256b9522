#!/bin/bash
# Ninety-fourth session, fifth device call: is d64's decode loop waiting on
# DRAM or on its own steps (fwd_decode.md item 3, [d64-32-key-step])?
# Per-block traces of the sm_90 d64 bf16 kernel: b8 x 32k with seqused_k
# (the warp's plan, 4 slots) and dense (no plan, 3 slots), b32 x 16k dense.
# Prediction: if the loop's share in ring waits is ~0.7 or more (d128's
# 0.76-0.78), a 32-key step has nothing to take (DRAM-bound); at 0.5 or
# less, the step's fixed work is on the path and the item stands.
#   run(command="bash bench/s94_call5.sh", carry=[".deb"], timeout_s=300)
O=${OUT:-/tmp/fa_out}
mkdir -p "$O/trace"
OUT=$O/trace BUDGET=270 TRACE_KERNEL=fwd_decode_sm90_hdim64_bf16_local \
  TRACE_ROWS="8x32768 8x32768+dense 32x16384+dense" timeout 280 bash bench/trace_decode.sh >"$O/trace.out" 2>&1
echo "=== traces"
grep -E "^== |^blocks|^K/V|^entry -> piece|^Q -> first|^main loop|^cycles a step|^steps a warp|^slot time|^exits" "$O/trace/summaries.txt"
echo "=== trace summary"; cat "$O/trace/summary.txt"
