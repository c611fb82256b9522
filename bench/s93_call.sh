#!/bin/bash
# Ninety-third session, one device call (fwd_decode.md item 1's lead: at
# b128 do_bench read ours 1.6% faster over a [b, h, s, d] cache, ncu with a
# clean L2 only 0.2%):
#  1. ncu right after do_bench's flush (dirty L2, boost clocks), b128 x 1k
#     and b32 x 8k, ours in both layouts with and without programmatic
#     launches, cuDNN in both (bench/ncu_decode_flush.sh, FLUSH_SIDES);
#  2. the same sides timed as do_bench does, after the flush and in a
#     steady loop (--flush none);
#  3. on an H200 only: bench.py's d128 bf16 grid rows (bench/s92_call2.sh).
# main's library prebuilt here (.ab/libs/final2.so.gz: decode + wgmma d128).
#   run(command="bash bench/s93_call.sh", carry=[".ab/libs/final2.so.gz"], timeout_s=590)
O=${OUT:-/tmp/fa_out}
mkdir -p "$O/flush"
gzip -dc .ab/libs/final2.so.gz >/tmp/libfa.so
export FLASHATTN_LIB=/tmp/libfa.so
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
echo "gpu: $gpu"
OUT=$O/flush BUDGET=300 FLUSH_ROWS=128:1024,32:8192 FLUSH_MODES=zero FLUSH_REPS=3 FLUSH_SIDES=bhsd,nopdl,bhsd_nopdl \
  timeout 310 bash bench/ncu_decode_flush.sh >"$O/flush.out" 2>&1
PYTHONPATH=python timeout 70 python3 bench/decode_flush_ncu.py --rows 128:1024,32:8192 --flush none \
  --sides bhsd,nopdl,bhsd_nopdl --time >"$O/time_none.out" 2>&1
case "$gpu" in
*H200*) OUT=$O/grid timeout 200 bash bench/s92_call2.sh >"$O/grid.out" 2>&1 ;;
*) echo "not an H200: the prefill grid rows skipped" >"$O/grid.out" ;;
esac
echo "=== flush (ncu + time after the flush)"; cat "$O/flush/summary.txt"; tail -3 "$O/flush.out"
echo "=== time, steady loop"; grep -E '^time|Error' "$O/time_none.out" || tail -5 "$O/time_none.out"
echo "=== grid"; cat "$O/grid.out"
