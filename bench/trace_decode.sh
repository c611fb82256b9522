#!/bin/bash
# Per-block timelines of decode launches (src/cuda/decode_trace.cuh), one
# device call: for this tree, each tree of $TRACE_TREES (e.g. .ab/old,
# carried) and each patch of $TRACE_PATCHES (applied to its own copy of
# this tree), the small build's libflashattn.a, then bench/trace_decode.cu
# built around the decode kernel with the trace compiled in, run on each
# row, and read by bench/trace_decode.py. A mark is two counter reads and
# two stores on one thread: compare phases and block order, not totals
# against bench_decode.py.
#   run(command="bash bench/trace_decode.sh", carry=[".deb"], timeout_s=420)
#   TRACE_PATCHES="bench/experiments/decode-plan-kernels.patch" bash bench/trace_decode.sh
#   TRACE_TREES=.ab/old bash bench/trace_decode.sh   (on a branch: main, carried in .ab/old, beside it)
# TRACE_ROWS: rows as LENGTHS[:NUM_SPLITS] (trace_decode.cu: N or CxN,
# comma-separated; mixed48 is bench_decode.py's 48 decoding lengths of its
# mixed batch; 504x1024,8x16384 is the most sequences splits by length
# plan, for the plan's cost). TRACE_KERNEL: the generated decode kernel (default the
# sm_90 d128 bf16 one). Raw traces come back in traces.tgz.
# TRACE_HEADS=HQ:HK: the heads (default 32:8); a row's own as ROW@HQ:HK.
# ROW+dense (equal lengths, e.g. 8x32768+dense): the same cache as a dense
# call without cu_seqlens or seqused_k (no split plan: the kernel without
# a plan, bench_decode.py's " dense" rows; trace_decode.cu TRACE_DENSE).
set -u
BUDGET=${BUDGET:-400}
. "$(dirname "$0")/device_common.sh"
ROWS=${TRACE_ROWS:-1x131072 8x32768 32x8192 128x1024 1x131072,7x1024 60x512,4x32768 mixed48 504x1024,8x16384}
KERNEL=${TRACE_KERNEL:-fwd_decode_sm90_hdim128_bf16_local}
SRC=$(pwd)
mixed48=$(timeout 60 python3 -c 'import torch; g = torch.Generator().manual_seed(1); print(",".join(map(str, torch.randint(1, 16385, (48,), generator=g).tolist())))' 2>/dev/null)
note "gpu: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"

# trace_variant NAME TREE [PATCH]: a copy of TREE (with PATCH), its small
# build, the traced harness, every row.
trace_variant() {
  local name=$1 tree=$2 patch=${3:-} w=/tmp/trace_decode_$1 t
  copy_tree "$tree" "$w" "$patch" || return
  t=$SECONDS
  (cd "$w" && timeout 10 python3 bench/small_spec.py gen/spec.py --wgmma-dims 64 &&
    timeout "$(cap 200)" ninja -j16 build/libflashattn.a) >"$OUT/build_$name.log" 2>&1 ||
    { note "$name: build failed"; tail -20 "$OUT/build_$name.log"; return; }
  (cd "$w" && timeout "$(cap 90)" /usr/local/cuda/bin/nvcc -O3 -std=c++17 -lineinfo -Iinclude -Isrc -Igenerated \
    -gencode arch=compute_90,code=sm_90 -Xptxas -warn-spills -DFA_TRACE_KERNEL="\"cuda/$KERNEL.cu\"" \
    bench/trace_decode.cu build/libflashattn.a -L/usr/local/cuda/lib64 -lcudart_static -lpthread -ldl -lrt \
    -o build/trace_decode) >"$OUT/trace_build_$name.log" 2>&1 ||
    { note "$name: harness build failed: $(tail -3 "$OUT/trace_build_$name.log")"; return; }
  note "$name: built in $((SECONDS - t)) s ($tree${patch:+ with $patch})"
  local row lengths splits file heads dense
  for row in $ROWS; do
    heads=${TRACE_HEADS:-32:8}
    dense=0
    case "$row" in *+dense) dense=1 row=${row%+dense} ;; esac
    case "$row" in *@*) heads=${row#*@} row=${row%@*} ;; esac
    lengths=${row%%:*}
    splits=0
    [ "$row" != "$lengths" ] && splits=${row#*:}
    [ "$lengths" = mixed48 ] && lengths=$mixed48
    [ -z "$lengths" ] && { note "$name $row: no lengths (torch missing?)"; continue; }
    file="$OUT/trace_${name}_$(echo "$row" | tr ',:' '_-' | cut -c1-40)_h${heads%%:*}$([ $dense = 1 ] && echo _dense).txt"
    TRACE_DENSE=$dense TRACE_HEADS=$heads timeout "$(cap 60)" "$w/build/trace_decode" "$lengths" "$splits" >"$file" 2>&1
    local rc=$?
    note "$name $row$([ $dense = 1 ] && echo ' dense'): exit $rc"
    python3 "$SRC/bench/trace_decode.py" "$file" >"${file%.txt}.summary" 2>&1
  done
}

trace_variant this "$SRC"
i=0
for tree in ${TRACE_TREES:-}; do
  i=$((i + 1))
  trace_variant "tree$i" "$SRC/$tree"
done
i=0
for p in ${TRACE_PATCHES:-}; do
  i=$((i + 1))
  trace_variant "patch$i" "$SRC" "$p"
done
echo "==== summary"
cat "$SUMMARY"
# The device tool brings back at most 8 files: every row's summary in one
# file (printed last, so the tail shows what fits), the raw traces in one
# archive, the build logs in another.
for f in "$OUT"/trace_*.summary; do echo "== $(basename "$f" .summary)"; cat "$f"; done >"$OUT/summaries.txt"
(cd "$OUT" && tar czf traces.tgz trace_*.txt && tar czf build_logs.tgz *build_*.log &&
  rm -f trace_*.txt trace_*.summary *build_*.log)
cat "$OUT/summaries.txt"
