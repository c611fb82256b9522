#!/bin/bash
# Ninety-third session, second device call: the block's plan with every
# round's sequence loads first (bench/experiments/decode-plan-loads-first.patch,
# applied to this tree for the call; not merged) against main (.ab/old,
# `sh bench/ab_tree.sh .ab/old` at 16003f1):
#  1. per-block traces of both (bench/trace_decode.sh, TRACE_TREES=.ab/old):
#     504 x 1k + 8 x 16k (four rounds), 200 x 2k + 8 x 16k (two), 60 x 512
#     + 4 x 32k (one round: unchanged code path, the control);
#  2. this tree's small build: test_decode on the sm90 d128 bf16 and d64
#     fp16 decode kernels against the double reference; memcheck and
#     racecheck of fa_demo --decode over 250 sequences (two rounds, 4 of
#     17000 keys: splits by length).
#   run(command="bash bench/s93_call2.sh", carry=[".deb", ".ab/old"], timeout_s=560)
O=${OUT:-/tmp/fa_out}
mkdir -p "$O/trace"
OUT=$O/trace BUDGET=270 TRACE_TREES=.ab/old TRACE_ROWS="504x1024,8x16384 200x2048,8x16384 60x512,4x32768" \
  timeout 280 bash bench/trace_decode.sh >"$O/trace.out" 2>&1
BUDGET=250
. "$(dirname "$0")/device_common.sh"   # OUT=$O: summary.txt, cap, decode_tests, sanitize_decode_demo
setup_cmocka
t=$SECONDS
(timeout 10 python3 bench/small_spec.py gen/spec.py && timeout "$(cap 150)" ninja -j16 build/tests/test_decode build/fa_demo) \
  >"$OUT/build.log" 2>&1 || { note "build FAILED"; tail -20 "$OUT/build.log"; }
note "build: $((SECONDS - t)) s"
decode_tests 90 decode_fwd_decode_sm90_hdim128_bf16 decode_fwd_decode_sm90_hdim64_fp16
lens=$( (printf '700,%.0s' $(seq 246); echo 17000,17000,17000,17000) )
sanitize_decode_demo "250 seqs (246 x 700 + 4 x 17000)" --seqlens-k "$lens" --check-rows 8
echo "=== traces: entry -> piece, span"
grep -E "^== |^blocks|^entry -> piece|^later waves: entry -> piece|^cycles: entry -> piece|^slots:" "$O/trace/summaries.txt"
echo "=== trace summary"; cat "$O/trace/summary.txt"
echo "=== tests"; cat "$OUT/summary.txt"
