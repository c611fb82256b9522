#!/bin/bash
# Hundredth session, second call (prepared; the device was paused before
# the first call ran): the preamble traced with the points inside the
# list's build (wgmma_trace.cuh points 5-7, each read once its value is
# ready), then the whole grid.
# 1. d64 and d128 s512 causal as dense calls, after 256 MiB written (L2
#    cold) and after a flush kernel without and with an event between
#    (TRACE_FLUSH_KERNEL: does our programmatic launch start under the
#    kernel before? the summary's "flush kernel" lines, negative = under it).
# 2. The same rows as varlen calls, L2 cold: where the varlen list's
#    ~2,400 cycles go (fwd_wgmma.md "The preamble", Left item 2): the
#    steps "split->entry placed", "placed->place read", "read->stored,
#    fence", "fence->list seen".
# 3. With GRID=1 (TRACE=0 for the grid alone, a call of its own: the
#    traces take ~200 s, the full build ~150 s, the grid ~400): bench.py's
#    whole grid (an H200 is wanted, its last grid is the eighty-first
#    session's).
#   run(command="bash bench/s100_call2.sh", carry=[".deb"], timeout_s=600)
#   run(command="TRACE=0 GRID=1 bash bench/s100_call2.sh", carry=[".deb"], timeout_s=600)
#   (TESTS=1 with it: the d32/d80/d96/d192 wgmma tests first, ~90 s, after a merge)
export OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
O=$OUT
ROWS="32:512:64:causal 32:512:128:causal"
if [ "${TRACE:-1}" = 1 ]; then
BUDGET=260 TRACE_FLUSH_KERNEL=1 TRACE_COLD=1 TRACE_DENSE=1 TRACE_ROWS="$ROWS" OUT=$O/trace_dense \
  bash bench/trace_wgmma.sh >/dev/null 2>&1
echo "trace, dense calls: exit $?"
cat "$O/trace_dense/summary.txt"
grep -h -A12 "^preamble" "$O"/trace_dense/*.cold.steps.txt "$O"/trace_dense/*.flushk*.steps.txt 2>/dev/null | head -60
BUDGET=180 TRACE_COLD=1 TRACE_ROWS="$ROWS" OUT=$O/trace_varlen bash bench/trace_wgmma.sh >/dev/null 2>&1
echo "trace, varlen calls: exit $?"
grep -h -A12 "^preamble" "$O"/trace_varlen/*.cold.steps.txt 2>/dev/null | head -40
fi
[ "${GRID:-0}" = 1 ] || exit 0
export OUT=$O
. bench/device_common.sh
full_build
# TESTS=1: after a merge of the first-tile patch (s100_call1.sh tested its
# d64/d128/d256 kernels), the other wgmma head dims' tests on the full build.
if [ "${TESTS:-0}" = 1 ]; then
  wgmma_tests_at_once build 120 wgmma_sm90a_hdim32 wgmma_sm90a_hdim80 wgmma_sm90a_hdim96 wgmma_sm90a_hdim192
fi
t0=$SECONDS
timeout $((590 - SECONDS)) python3 bench/bench.py --md "$O/bench.md" >"$O/bench.log" 2>&1
echo "bench: exit $? ($((SECONDS - t0)) s)"
tail -4 "$O/bench.log"
