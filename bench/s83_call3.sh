#!/bin/bash
# Eighty-third session, one device call: the d64 plan kernel's equal-pieces
# cost traced (this tree and the no-spread patch, 32 and 16 caches of 16384
# keys, with the plan and with num_splits 1), then bench_decode.py's decode
# rows on a small build of this tree. Logs under $OUT.
#   run(command="bash bench/s83_call3.sh", carry=[".deb"])
cd "$(dirname "$0")/.." || exit 1
BUDGET=300 TRACE_KERNEL=fwd_decode_sm90_hdim64_bf16_local TRACE_ROWS="32x16384 32x16384:1 16x16384 16x16384:1" \
  TRACE_PATCHES="bench/experiments/decode-no-spread.patch" bash bench/trace_decode.sh >"$OUT/trace.txt" 2>&1
(timeout 10 python3 bench/small_spec.py gen/spec.py && timeout 150 ninja -j16 build/libflashattn.so) >"$OUT/build.log" 2>&1 ||
  { echo "build failed"; tail -5 "$OUT/build.log"; }
FLASHATTN_LIB=build/libflashattn.so PYTHONPATH=python timeout 150 python3 bench/bench_decode.py --sections decode \
  --pages 16 >"$OUT/bench_decode.log" 2>&1
echo "bench_decode exit $?"
grep -E '^\| decode' "$OUT/bench_decode.log" | grep -v 'in order' | cut -d'|' -f2,4,7,8
grep -E 'built|exit [0-9]' "$OUT/trace.txt"
