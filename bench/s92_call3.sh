#!/bin/bash
# Ninety-second session, third call: why the decode kernel reads a
# heads-first cache 1.6% faster than [b, s, h, d] at b128 x 1k (the bar
# row; fwd_decode.md "Next steps" [wave-turnover]): ncu's DRAM / L2
# counters and PM timeline of ours and cuDNN in both layouts, ours diffed
# across layouts. On an H200, then bench/s92_call2.sh (the d128 grid rows).
#   run(command="bash bench/s92_call3.sh", carry=[".deb", ".ab/libs/final2.so.gz"], timeout_s=540)
O=${OUT:-/tmp/fa_out}
mkdir -p "$O/dram"
OUT=$O/dram BUDGET=300 NCU_DRAM_ROWS="128:1024 128:1024:bhsd" timeout 310 bash bench/ncu_dram.sh >"$O/dram.out" 2>&1
if nvidia-smi --query-gpu=name --format=csv,noheader | grep -q H200; then
  mkdir -p "$O/grid"
  OUT=$O/grid timeout 215 bash bench/s92_call2.sh >"$O/grid.out" 2>&1
fi
echo "=== dram"; cat "$O/dram/summary.txt"; [ -f "$O/grid.out" ] && { echo "=== grid"; tail -20 "$O/grid.out"; }
