#!/bin/bash
# d64 (128x128 tile, 255 registers) A/B of code-shape variants of fwd_mma.cuh,
# through bench/tile_sweep.cu, interleaved: old tree (.ab/old), current, and
# the current source with softcap as a run-time branch instead of a
# compile-time variant. Prints TF/s per round.
set -u
mkdir -p build/d64
old=${1:-.ab/old}
flags="-O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -DSW_D=64 -DSW_BM=128 -DSW_BN=128 -DSW_W=4"
rm -rf build/d64/var && mkdir -p build/d64/var && cp -r src build/d64/var/
sed -i 's/    if (SOFTCAP) apply_softcap<T>(s, a.softcap, a.softcap_inner_scale);/    if (a.softcap > 0.f) apply_softcap<T>(s, a.softcap, a.softcap_inner_scale);/' build/d64/var/src/cuda/fwd_mma.cuh
grep -c "a.softcap > 0.f) apply_softcap" build/d64/var/src/cuda/fwd_mma.cuh
(cd "$old" && nvcc $flags -Iinclude -Isrc bench/tile_sweep.cu -o ../../build/d64/old) &
nvcc $flags -Iinclude -Isrc bench/tile_sweep.cu -o build/d64/new &
nvcc $flags -Iinclude -Ibuild/d64/var/src bench/tile_sweep.cu -o build/d64/var_runtime_softcap &
wait
for r in 1 2 3; do
  for v in old new var_runtime_softcap; do build/d64/$v | sed "s/^cfg /$v r$r /"; done
done
