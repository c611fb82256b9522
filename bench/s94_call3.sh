#!/bin/bash
# Ninety-fourth session, third device call: bench/read_ceiling.cu with the
# guided modes (a static slice per warp, then claimed tail chunks with the
# ring kept full across chunks) at the bar rows' K/V sizes: 512 MiB (b1 x
# 128k), 1024 (b8 x 32k), 2048 (b32 x 16k). Prediction: the per-block
# traces put 24 SMs (32-43, 78-87, 126, 127) 30% faster than the rest on
# every one-wave launch, and an equal split 4-7% above bytes / DRAM peak;
# if the slow SMs are capped by their own path (not by DRAM), guided reads
# 3-6% more GB/s than static 2/SM; if DRAM is the cap, 0-1%.
#   run(command="bash bench/s94_call3.sh", timeout_s=240)
set -u
mkdir -p build
/usr/local/cuda/bin/nvcc -O3 -std=c++17 -Isrc -gencode arch=compute_90a,code=sm_90a bench/read_ceiling.cu \
  -o build/read_ceiling || exit 1
nvidia-smi --query-gpu=name,clocks.max.sm,clocks.max.mem --format=csv,noheader
for mib in 512 1024 2048; do
  timeout 60 build/read_ceiling $mib
done
