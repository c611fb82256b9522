#!/bin/bash
# Build one tile_sweep binary per configuration (in parallel) and run them.
#   bash bench/tile_sweep.sh [d,bm,bn,w[,-DEXTRA_FLAG] ...] "256,128,64,8" "256,64,64,4" ...   (head_dim,block_m,block_n,warps)
set -u
mkdir -p build/sweep
for c in "$@"; do
  IFS=, read -r d bm bn w x <<<"$c"
  echo "nvcc $x -O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -Iinclude -Isrc -Xptxas -v \
    -DSW_D=$d -DSW_BM=$bm -DSW_BN=$bn -DSW_W=$w bench/tile_sweep.cu -o build/sweep/t_${d}_${bm}_${bn}_${w}${x:+_x} \
    > build/sweep/t_${d}_${bm}_${bn}_${w}${x:+_x}.log 2>&1"
done | xargs -P 16 -I{} sh -c "{}"
for c in "$@"; do
  IFS=, read -r d bm bn w x <<<"$c"
  b=build/sweep/t_${d}_${bm}_${bn}_${w}${x:+_x}
  echo "== $c: $(grep -A3 "Compiling entry function '_ZN2fa14fwd" $b.log | grep -E 'spill|Used' | sed 's/^ *//; s/ptxas info *: //' | tr '\n' ' ')"
  "$b"
done
