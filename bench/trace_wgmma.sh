#!/bin/bash
# Event timeline of wgmma kernels (src/cuda/wgmma_trace.cuh), one device
# call: the small build's libflashattn.a, then for each row bench/trace_wgmma.cu
# built around that row's kernel with the trace compiled in, run, and read
# by bench/trace_wgmma.py (the steps of a work tile in SM cycles). The
# trace adds a clock read and a store per event on lane 0 of one warp per
# role, so its cycles are a little longer than an untraced run's: compare
# steps, not totals against bench.py.
#   run(command="bash bench/trace_wgmma.sh", carry=[".deb"], timeout_s=200)
# TRACE_ROWS: rows as "b:s:d:causal|full[:fp16][:kernel]" (default: d64 s512
# causal, d128 s512 full); the kernel defaults to
# fwd_wgmma_sm90a_hdim{d}_{dtype}_{causal|none}, the one dispatch picks for
# short keys; the named kernel runs whatever dispatch would pick (a
# _k4096 pair kernel on s512, for one). TRACE_REPEATS=n: n processes of
# each row (trace_<row>.r<i>.txt beside the first): whether the same
# blocks and SMs end first every launch (group them by list with
# trace_wgmma.py --lists and build/tile_balance --blocks). TRACE_COLD=1: each
# row also traced after 256 MiB written (L2 cold, as bench.py times it),
# trace_<row>.cold.steps.txt. TRACE_FLUSH_KERNEL=1: each row also traced
# after the flush written by a kernel (TRACE_L2_FLUSH=2), without and with
# an event recorded between (trace_<row>.flushk{0,1}.steps.txt): whether
# our programmatic launch starts under the kernel before, as do_bench
# orders them. TRACE_DENSE=1: the rows as dense calls (no
# cu_seqlens; the preamble without the varlen tables). TRACE_DEFINES: more
# nvcc flags for the traced kernel (e.g. -DFA_WGMMA_TRACE_PLACE_TWICE with
# bench/experiments/wgmma-trace-place-twice.patch).
set -u
BUDGET=${BUDGET:-180}
. "$(dirname "$0")/device_common.sh"
setup_cmocka
ROWS=${TRACE_ROWS:-32:512:64:causal 32:512:128:full}
dims=$(for row in $ROWS; do echo "$row" | cut -d: -f3; done | sort -un | paste -sd,)
# A copy of the tree with the small spec, built from scratch: building the
# small spec in this checkout left its build/ looking fresh to the next
# call's full build on a warm machine (the copied sources keep older times),
# which then linked the small library (twenty-fourth session, call 7).
W=/tmp/trace_tree
rm -rf "$W" && mkdir -p "$W"
timeout 30 tar --exclude=./build --exclude=./.git --exclude=./.deb --exclude=./.ab -cf - . | tar -xf - -C "$W"
cd "$W" || exit 1
# TRACE_TILES: tile fields of a spec variant, as wgmma_ab.sh's AB_VARIANTS
# (one side: "64:by_mask.none.stages=4 64:by_mask.none.list_max=32")
tiles=()
for f in ${TRACE_TILES:-}; do tiles+=(--tile "$f"); done
timeout 10 python3 bench/small_spec.py gen/spec.py --wgmma-dims "$dims" ${tiles[@]+"${tiles[@]}"}
t=$SECONDS
timeout "$(cap 150)" ninja -j16 build/libflashattn.a >"$OUT/build.log" 2>&1 || { note "build failed"; tail -20 "$OUT/build.log"; exit 1; }
note "build: $((SECONDS - t)) s; gpu: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
cuda=/usr/local/cuda
for row in $ROWS; do
  IFS=: read -r b s d mask dt kernel <<<"$row"
  dt=${dt:-bf16}
  kernel=${kernel:-fwd_wgmma_sm90a_hdim${d}_${dt}_$([ "$mask" = causal ] && echo causal || echo none)}
  name="$kernel-b${b}s${s}"
  timeout "$(cap 90)" "$cuda/bin/nvcc" -O3 -std=c++17 -lineinfo -Iinclude -Isrc -Igenerated \
    -gencode arch=compute_90a,code=sm_90a -Xptxas -warn-spills ${TRACE_DEFINES:-} \
    -DFA_TRACE_KERNEL="\"cuda/$kernel.cu\"" bench/trace_wgmma.cu build/libflashattn.a \
    -L$cuda/lib64 -lcudart_static -lpthread -ldl -lrt -o "build/trace_$kernel" >"$OUT/trace_build_$name.log" 2>&1 \
    || { note "$name: compile failed: $(tail -3 "$OUT/trace_build_$name.log")"; continue; }
  timeout "$(cap 30)" "build/trace_$kernel" "$b" "$s" "$d" "$mask" "$dt" >"$OUT/trace_$name.txt" 2>&1
  note "$name: exit $? ($(grep -c . "$OUT/trace_$name.txt") lines)"
  for ((i = 1; i < ${TRACE_REPEATS:-1}; ++i)); do
    timeout "$(cap 30)" "build/trace_$kernel" "$b" "$s" "$d" "$mask" "$dt" >"$OUT/trace_$name.r$i.txt" 2>&1
  done
  python3 bench/trace_wgmma.py "$OUT/trace_$name.txt" --turns >"$OUT/trace_$name.steps.txt" 2>&1
  if [ "${TRACE_COLD:-0}" = 1 ]; then  # the recorded call after 256 MiB written (L2 cold, as bench.py times)
    TRACE_L2_FLUSH=1 timeout "$(cap 30)" "build/trace_$kernel" "$b" "$s" "$d" "$mask" "$dt" >"$OUT/trace_$name.cold.txt" 2>&1
    python3 bench/trace_wgmma.py "$OUT/trace_$name.cold.txt" >"$OUT/trace_$name.cold.steps.txt" 2>&1
  fi
  if [ "${TRACE_FLUSH_KERNEL:-0}" = 1 ]; then  # the flush by a kernel, then with an event between (do_bench's order)
    for ev in 0 1; do
      TRACE_L2_FLUSH=2 TRACE_FLUSH_EVENT=$ev timeout "$(cap 30)" "build/trace_$kernel" "$b" "$s" "$d" "$mask" "$dt" \
        >"$OUT/trace_$name.flushk$ev.txt" 2>&1
      python3 bench/trace_wgmma.py "$OUT/trace_$name.flushk$ev.txt" >"$OUT/trace_$name.flushk$ev.steps.txt" 2>&1
      note "$name flush kernel, event between $ev: $(grep -h '^flush kernel' "$OUT/trace_$name.flushk$ev.steps.txt")"
    done
  fi
  python3 bench/trace_wgmma.py "$OUT/trace_$name.txt" --timeline 0 >"$OUT/trace_$name.timeline.txt" 2>&1
done
echo "==== summary"
cat "$SUMMARY"
for f in "$OUT"/trace_*.steps.txt; do echo "== $f"; cat "$f"; done
# one archive (the device tool brings back a limited number of files)
(cd "$OUT" && tar czf traces.tgz trace_* && rm -f trace_*)
