#!/bin/bash
# Ninety-second session, one device call: the decode bar rows against cuDNN
# with the build before the ninety-first session's merge beside them
# (fwd_decode.md "Where it stands"), then ncu of d128 causal at s8192 and
# s16384, ours and cuDNN (fwd_wgmma.md "Next steps" [d128-causal-16k]).
#   run(command="bash bench/s92_call.sh", carry=[".deb", ".ab/libs/old.so.gz", ".ab/libs/final2.so.gz"], timeout_s=520)
O=${OUT:-/tmp/fa_out}
mkdir -p "$O/dec" "$O/ncu"
OUT=$O/dec BUDGET=165 ORDER_NEW=.ab/libs/final2.so.gz ORDER_TESTS= ORDER_SECTIONS=decode ORDER_BATCHES=8=32768 \
  timeout 175 bash bench/decode_order_ab.sh >"$O/dec.out" 2>&1
OUT=$O/ncu BUDGET=300 NCU_ROWS="2:8192:128:causal:16 1:16384:128:causal:16" NCU_EXTRA_SECTIONS=MemoryWorkloadAnalysis \
  NCU_METRICS=dram__bytes_read.sum,lts__t_sectors_srcunit_tex_op_read.sum \
  timeout 310 bash bench/ncu_prefill.sh >"$O/ncu.out" 2>&1
echo "=== decode"; cat "$O/dec/summary.txt"; echo "=== ncu"; cat "$O/ncu/summary.txt"
