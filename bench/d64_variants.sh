#!/bin/bash
# d64 (128x128 tile, 255 registers) A/B of code-shape variants of the mma
# kernel's prologue, through bench/tile_sweep.cu, interleaved with the old
# tree (.ab/old): which change moved the main loop's code. Also dumps the
# SASS of old and new to $OUT (main-loop instruction counts, LDL/STL).
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
NOFILTER='edit("cuda/fwd_mma.cuh", "if (m0 >= seq.len_q || !fa_seq_selected(&a, &seq)) return;", "if (m0 >= seq.len_q) return;")'
OLDLOCATE='
p = root + "/attn/sequence.h"
s = open(p).read()
a = s.index("FA_RULE fa_seq fa_locate_sequence"); b = s.index("/* Whether this launch computes")
s = s[:a] + """FA_RULE fa_seq fa_locate_sequence(const fa_fwd_args *a, int32_t b) {
  fa_seq s;
  if (a->cu_seqlens_q != NULL) {
    s.q_start = fa_clamp64(a->cu_seqlens_q[b], 0, a->total_q);
    s.k_start = fa_clamp64(a->cu_seqlens_k[b], 0, a->total_k);
    s.len_q = (int32_t)(fa_clamp64(a->cu_seqlens_q[b + 1], s.q_start, a->total_q) - s.q_start);
    s.len_k = (int32_t)(fa_clamp64(a->cu_seqlens_k[b + 1], s.k_start, a->total_k) - s.k_start);
  } else {
    s.q_start = 0;
    s.k_start = 0;
    s.len_q = a->seqlen_q;
    s.len_k = a->seqlen_k;
  }
  if (a->seqused_k != NULL) s.len_k = (int32_t)fa_clamp64(a->seqused_k[b], 0, s.len_k);
  return s;
}

""" + s[b:]
open(p, "w").write(s)
'
variant nofilter "$NOFILTER"
variant oldlocate "$OLDLOCATE"
variant both "$NOFILTER
$OLDLOCATE"
(cd "$old" && nvcc $flags -Iinclude -Isrc bench/tile_sweep.cu -o ../../build/d64/old) &
nvcc $flags -Iinclude -Isrc bench/tile_sweep.cu -o build/d64/new &
for v in nofilter oldlocate both; do nvcc $flags -Iinclude -Ibuild/d64/$v/src bench/tile_sweep.cu -o build/d64/$v.bin & done
wait
for v in nofilter oldlocate both; do mv build/d64/$v.bin build/d64/run_$v; done
mv build/d64/old build/d64/run_old; mv build/d64/new build/d64/run_new
for r in 1 2 3; do
  for v in old new nofilter oldlocate both; do build/d64/run_$v | grep full | sed "s/^cfg /$v r$r /"; done
done
# SASS of the no-mask kernels: instruction counts and local-memory traffic.
for v in old new both; do
  cuobjdump --dump-sass build/d64/run_$v 2>/dev/null | awk '/Function :/{p = ($0 ~ /Li0EE/)} p' > "$OUT/sass_$v.txt"
  echo "$v: $(grep -cE '^\s+/\*[0-9a-f]{4}\*/' "$OUT/sass_$v.txt") instructions, LDL $(grep -c 'LDL' "$OUT/sass_$v.txt"), STL $(grep -c 'STL' "$OUT/sass_$v.txt"), HMMA $(grep -c 'HMMA' "$OUT/sass_$v.txt")"
done
