#!/bin/bash
# Ninety-seventh session, first call: the two preamble experiments against
# main, three sides, rows interleaved, 4 rounds of the quick grid (d64,
# d128, d256; s512, s2048, s8192), first with varlen calls, then dense (four sides):
#   A  main (46fb5a7)
#   O  A + the first two list entries' Q and first K/V tiles prefetched into
#      L2 while the list is built (.ab/pf, wgmma-first-tile-l2.patch)
#   P  A + the dense call's walk tail chosen by the host (.ab/dt,
#      wgmma-dense-host-tail.patch; varlen calls unchanged)
#   Q  both (.ab/pd): on a dense call the list, and so the L2 prefetch of
#      the first tiles, then comes ~3,000 cycles earlier
# (The sanitizers moved to the second call: refused starts left ~1,100 s.)
# Predicted (before the call): O over A 0.5-1.5% less time at s512 (varlen
# and dense), longer rows level; P over A level on varlen calls (same
# code), dense s512 causal 0.3-0.8% less time, full rows level; Q as O on
# varlen calls, dense s512 causal 0.3% more than O and P's gains together.
#   run(command="bash bench/s97_call1.sh", carry=[".deb", ".ab/pf", ".ab/dt", ".ab/pd"], timeout_s=600)
export OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
# First, what cold code costs an SM (bench/icache_probe.cu; predicted: looped
# ~1 cycle a warp instruction a sub-partition's warp; straight on its first
# launch 2-25x that, the preamble's gap between instruction count and cycles)
timeout 60 /usr/local/cuda/bin/nvcc -O3 -gencode arch=compute_90a,code=sm_90a -o /tmp/icache_probe bench/icache_probe.cu &&
  timeout 30 /tmp/icache_probe | tee "$OUT/icache_probe.txt"
AB_VARIANTS=none AB_OLD=.ab/pf AB_OLD2=.ab/dt AB_OLD3=.ab/pd AB_ROUNDS=${AB_ROUNDS:-4} AB_TEST_SIDES="none" \
  AB_WGMMA_DIMS=64,128,256 AB_TIME_DIMS=64,128,256 AB_GRID=quick \
  AB_SAN_TOOLS=none BUDGET=${BUDGET:-330} \
  bash bench/wgmma_ab.sh >/dev/null 2>&1
echo "wgmma_ab exit $?"
cat "$OUT/summary.txt"
# The dense calls: the same builds, a second interleaved run.
mkdir -p "$OUT/dense"
t=$SECONDS
timeout 170 python3 bench/ab_serve.py --out "$OUT/dense" --rounds 4 A=/tmp/wab/ab_A O=/tmp/wab/ab_O P=/tmp/wab/ab_P Q=/tmp/wab/ab_Q -- \
  --quick --dense --reps 200 --dims 64,128,256 >"$OUT/dense/serve.log" 2>&1
echo "dense ab_serve: exit $? ($((SECONDS - t)) s)"
timeout 20 python3 bench/ab_table.py --text "$OUT/dense" A O P Q | tee "$OUT/dense_summary.txt"
(cd "$OUT/dense" && tar czf ../dense_logs.tgz . ) && rm -rf "$OUT/dense"
