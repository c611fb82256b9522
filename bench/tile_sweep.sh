#!/bin/bash
# Build one tile_sweep binary per configuration (in parallel) and run them.
#   bash bench/tile_sweep.sh [d,bm,bn,w[,-DEXTRA_FLAG] ...] "256,128,64,8" "256,64,64,4" ...   (head_dim,block_m,block_n,warps)
#   e.g. "128,128,64,4" "128,128,64,4,-DSW_KAS=true": the d128 row with and without k_after_softmax
# SWEEP_ROUNDS=N: run the configurations in turn N times (A B A B ..: an
# A/B in one call); ptxas' registers and spills are printed in the first.
set -u
mkdir -p build/sweep
bin() {  # the binary of configuration $1 (its extra flag in the name)
  local d bm bn w x
  IFS=, read -r d bm bn w x <<<"$1"
  echo "build/sweep/t_${d}_${bm}_${bn}_${w}${x:+_${x//[^A-Za-z0-9]/}}"
}
for c in "$@"; do
  IFS=, read -r d bm bn w x <<<"$c"
  b=$(bin "$c")
  echo "nvcc $x -O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -Iinclude -Isrc -Xptxas -v \
    -DSW_D=$d -DSW_BM=$bm -DSW_BN=$bn -DSW_W=$w bench/tile_sweep.cu -o $b > $b.log 2>&1"
done | xargs -P 16 -I{} sh -c "{}"
for r in $(seq "${SWEEP_ROUNDS:-1}"); do
  for c in "$@"; do
    b=$(bin "$c")
    if [ "$r" = 1 ]; then
      echo "== $c: $(grep -A3 "Compiling entry function '_ZN2fa14fwd" "$b.log" | grep -E 'spill|Used' | sed 's/^ *//; s/ptxas info *: //' | tr '\n' ' ')"
    else
      echo "== $c (round $r)"
    fi
    "$b"
  done
done
