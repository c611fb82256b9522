#!/bin/bash
# Ninety-fourth session, first device call: where the split plan's 0.6-1%
# on equal caches goes (fwd_decode.md "Equal caches"; b8 x 32k with
# seqused_k reads 0.985 of cuDNN, the same cache as a dense call 0.995).
#  1. per-block traces (bench/trace_decode.sh) of b8 x 32k and b32 x 16k,
#     each with seqused_k (the warp's plan, Traits: 3 stages) and as a
#     dense call (no plan, NoneTraits: 2 stages, same pieces), and b1 x
#     128k (no plan, split);
#  2. the SASS of the two keys-as-M kernels (no softcap) from the small
#     build: the plan in a warp against no plan, in sass.tgz.
#   run(command="bash bench/s94_call.sh", timeout_s=420)
O=${OUT:-/tmp/fa_out}
mkdir -p "$O/trace"
OUT=$O/trace BUDGET=330 TRACE_ROWS="8x32768 8x32768+dense 32x16384 32x16384+dense 1x131072" \
  timeout 340 bash bench/trace_decode.sh >"$O/trace.out" 2>&1
obj=$(find /tmp/trace_decode_this/build -name '*fwd_decode_sm90_hdim128_bf16_local*.o' | head -1)
CUOBJDUMP=$(command -v cuobjdump || echo /usr/local/cuda/bin/cuobjdump)
if [ -n "$obj" ]; then
  mkdir -p /tmp/sass && "$CUOBJDUMP" -sass "$obj" >/tmp/sass/all.sass 2>&1
  # One file per kernel: keys-as-M, no softcap, plan none (0) and in warp (1).
  for plan in 0 1; do
    awk -v want="Lb0ELNS_10DecodePlanE${plan}ELb1E" '/Function :/ {on = index($0, want) > 0 && index($0, "fwd_decode_kernel") > 0} on' \
      /tmp/sass/all.sass >"/tmp/sass/plan$plan.sass"
    echo "plan $plan: $(wc -l <"/tmp/sass/plan$plan.sass") lines, $(grep -c HMMA "/tmp/sass/plan$plan.sass") HMMA"
  done
  (cd /tmp/sass && tar czf "$O/sass.tgz" plan0.sass plan1.sass)
else
  echo "no decode object under /tmp/trace_decode_this/build"
fi
echo "=== traces"
grep -E "^== |^blocks|^K/V|^entry -> piece|^piece -> Q|^Q -> first|^main loop|^warps' loop|^last loop|^merged ->|^cycles a step|^slot time|^exits|^SMs' last|^first wave" "$O/trace/summaries.txt"
echo "=== trace summary"; cat "$O/trace/summary.txt"
