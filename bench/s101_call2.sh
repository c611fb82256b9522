#!/bin/bash
# Hundred-and-first session, second call: the varlen list reads each
# entry's sequence place from a shared table (P, .ab/pl =
# bench/experiments/wgmma-varlen-place-table.patch) against main (A).
# The ranks' first pass already locates every sequence (five cu_seqlens /
# seqused_k loads); it now also stores {q_start, k_start, len_q, len_k} in
# the K/V ring after the order's tables, and each list entry reads 16 bytes
# of shared memory instead of locating its sequence again from global
# memory. Varlen calls within the tables' cap only; dense calls unchanged.
# Prediction (written before the run): varlen s512 rows 0.2-0.6% less time
# (the place read is one dependent chain of L1/L2-hit global loads, ~600-900
# cycles of the ~2,400 the entries take, in a ~140 us row: ~0.3 us of ~100),
# s2048 and s8192 level; dense rows level.
# Order: both sides built (small spec) and a short varlen round, then 6
# rounds of varlen calls, rows interleaved (ab_serve.py --quick), then P's
# test_fwd of d64/d128/d256 and the walk, memcheck and racecheck of P's
# hdim64 bf16 causal, then main's varlen preamble traced with the list's
# inner points (TRACE=1, ~180 s; skipped when under 150 s are left).
#   sh bench/ab_tree.sh .ab/pl bench/experiments/wgmma-varlen-place-table.patch
#   run(command="bash bench/s101_call2.sh", carry=[".deb", ".ab/pl"], timeout_s=600)
export OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
O=$OUT
. bench/device_common.sh
t=$SECONDS
AB_VARIANTS=none AB_OLD2=.ab/pl AB_ROUNDS=1 AB_TEST_SIDES="none" \
  AB_WGMMA_DIMS=64,128,256 AB_TIME_DIMS=64 AB_GRID=quick AB_SAN_TOOLS=none BUDGET=${BUDGET:-170} \
  bash bench/wgmma_ab.sh >/dev/null 2>&1
echo "wgmma_ab (build, varlen calls 1 round) exit $? ($((SECONDS - t)) s)"
grep -E "build|spill|gpu" "$OUT/summary.txt" | head -8
calls_ab varlen 170 "${ROUNDS:-6}" A P
setup_cmocka  # (the run of this call had none here: its tests found no libcmocka; s101_call3.sh ran them)
wgmma_tests_at_once /tmp/wab/P/build 120 wgmma_sm90a_hdim64 wgmma_sm90a_hdim128 wgmma_sm90a_hdim256 fwd_cuda_wgmma
SAN_TOOLS="memcheck racecheck" sanitize_at_once /tmp/wab/P/build 120 hdim64_bf16_causal
[ "${TRACE:-1}" = 1 ] || exit 0
left=$((585 - SECONDS))
[ "$left" -ge 150 ] || { echo "trace: skipped ($left s left)"; exit 0; }
BUDGET=$((left - 10)) TRACE_COLD=1 TRACE_ROWS="32:512:64:causal 32:512:128:causal" OUT=$O/trace_varlen \
  bash bench/trace_wgmma.sh >/dev/null 2>&1
echo "trace, varlen calls (main): exit $?"
grep -h -A14 "^preamble" "$O"/trace_varlen/*.cold.steps.txt 2>/dev/null | head -40
