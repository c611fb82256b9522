#!/bin/bash
# d64 (128x128 tile, 255 registers) A/B of code-shape variants of the mma
# kernel, through bench/tile_sweep.cu, interleaved with the old tree
# (.ab/old). Also dumps the SASS of old and new to $OUT (instruction
# counts, LDL/STL). Earlier round (2026-11-29): prologue variants (no
# sequence filter, the 0.2 fa_locate_sequence) moved nothing.
set -u
OUT=${OUT:-/tmp/fa_out}
mkdir -p build/d64 "$OUT"
old=${1:-.ab/old}
flags="-O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -DSW_D=64 -DSW_BM=128 -DSW_BN=128 -DSW_W=4"
variant() {  # name, then a python snippet that edits build/d64/$name/src
  rm -rf "build/d64/$1" && mkdir -p "build/d64/$1" && cp -r src "build/d64/$1/"
  python3 - "build/d64/$1/src" <<PY
import sys, re
root = sys.argv[1]
def edit(path, old, new):
    p = root + "/" + path
    s = open(p).read()
    assert old in s, (path, old[:60])
    open(p, "w").write(s.replace(old, new))
$2
PY
}
# Where the next K tile's loads are issued: after the barrier (as now),
# after the softmax, or after P V.
KBLOCK='    if (nb + 1 < n_block_max) {
      if constexpr (PAGED)
        load_tile_paged<T>(sk, k, a.k_batch_stride, a.k_row_stride, a, b, n0 + T::kBlockN,
                           seq.len_k - n0 - T::kBlockN, a.k);
      else
        load_tile<T, T::kBlockN>(sk, k + (int64_t)(n0 + T::kBlockN) * a.k_row_stride, a.k_row_stride,
                                 seq.len_k - n0 - T::kBlockN, a.k);
      cp_async_commit();
    }
'
export KBLOCK
variant ksoftmax '
import os
kb = os.environ["KBLOCK"]
edit("cuda/fwd_mma.cuh", kb, "")
edit("cuda/fwd_mma.cuh", "    online_softmax<T>(s, o, row_max, row_sum, c, positive_scale);\n", "    online_softmax<T>(s, o, row_max, row_sum, c, positive_scale);\n" + kb)
'
variant kpv '
import os
kb = os.environ["KBLOCK"]
edit("cuda/fwd_mma.cuh", kb, "")
edit("cuda/fwd_mma.cuh", "    pv_gemm<T>(o, s, sv, lane);\n", "    pv_gemm<T>(o, s, sv, lane);\n" + kb)
'
(cd "$old" && nvcc $flags -Iinclude -Isrc bench/tile_sweep.cu -o ../../build/d64/old) &
nvcc $flags -Iinclude -Isrc bench/tile_sweep.cu -o build/d64/new &
for v in ksoftmax kpv; do nvcc $flags -Iinclude -Ibuild/d64/$v/src bench/tile_sweep.cu -o build/d64/$v.bin & done
wait
for v in ksoftmax kpv; do mv build/d64/$v.bin build/d64/run_$v; done
mv build/d64/old build/d64/run_old; mv build/d64/new build/d64/run_new
for r in 1 2 3; do
  for v in old new ksoftmax kpv; do build/d64/run_$v | sed "s/^cfg /$v r$r /"; done
done
# SASS of the no-mask kernels: instruction counts and local-memory traffic.
for v in old new; do
  cuobjdump --dump-sass build/d64/run_$v 2>/dev/null | awk '/Function :/{p = ($0 ~ /Li0EE/)} p' > "$OUT/sass_$v.txt"
  echo "$v: $(grep -cE '^\s+/\*[0-9a-f]{4}\*/' "$OUT/sass_$v.txt") instructions, LDL $(grep -c 'LDL' "$OUT/sass_$v.txt"), STL $(grep -c 'STL' "$OUT/sass_$v.txt"), HMMA $(grep -c 'HMMA' "$OUT/sass_$v.txt")"
done
