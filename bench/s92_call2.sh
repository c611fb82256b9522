#!/bin/bash
# Ninety-second session, second call: bench.py's d128 bf16 grid rows with
# main's library built here (.ab/libs/final2.so.gz: the small spec, wgmma
# and decode at d128), to see whether the H200 grid's dip at d128 s16384
# causal (1.056 of cuDNN against 1.139 at s8192; fwd_wgmma.md "Next steps"
# [d128-causal-16k]) shows on this device.
#   run(command="bash bench/s92_call2.sh", carry=[".ab/libs/final2.so.gz"], timeout_s=300)
export OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
gzip -dc .ab/libs/final2.so.gz >/tmp/libfa.so
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
PYTHONPATH=python FLASHATTN_LIB=/tmp/libfa.so timeout 200 python3 bench/bench.py --dims 128 --dtypes bf16 --no-extras \
  --md "$OUT/bench.md" 2>&1 | grep -v -i warn | tail -20
