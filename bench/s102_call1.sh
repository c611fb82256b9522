#!/bin/bash
# Prepared in the hundred-and-first session for the next: varlen calls
# issue their first tile's loads while the list is built (P, .ab/ve =
# bench/experiments/wgmma-varlen-first-tile-early.patch) against main (A).
# The varlen tables move out of the K/V ring (into Q tile 1, or the O
# staging area where there is one Q tile; kTablesOffset), so that thread 0
# can issue entry 0's Q and first K/V tiles (issue_tile_start, as the dense
# call's issue_first_tile) as soon as it has placed that entry, before the
# entries are stored and the block barrier; the list's header tells the
# producer, which skips those issues and their empty waits as for dense.
# The trace (bench/results-h100-2026-12-07-s101-place-table-ab.md): varlen
# calls reach the producer's first Q ~9,400 cycles after the entry, of
# which ~2,300-2,500 are the list's entries after thread 0 placed entry 0
# and ~1,100-1,600 the producer's start after the list.
# Prediction (written before any run): varlen s512 rows 0.5-1.5% less time
# (the first loads ~3,000 cycles earlier, less the issue's own ~500 on
# thread 0's path to its list entry), s2048 0-0.5%, s8192 level; dense
# calls level (unchanged code path; tables unused).
# Order: build both sides (small spec with d96 and d192, whose tables go
# to the O staging area, not Q tile 1), a hang check on P (varlen and
# dense test cases), 6 rounds of varlen calls and 2 of dense, then P's
# test_fwd of every built head dim, the walk and test_stream, then
# memcheck, racecheck and synccheck of P's hdim64 bf16 causal (Q tile 1)
# and hdim96 bf16 none (O staging area).
#   sh bench/ab_tree.sh .ab/ve bench/experiments/wgmma-varlen-first-tile-early.patch
#   run(command="bash bench/s102_call1.sh", carry=[".deb", ".ab/ve"], timeout_s=600)
export OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
. bench/device_common.sh
setup_cmocka
t=$SECONDS
AB_VARIANTS=none AB_OLD2=.ab/ve AB_ROUNDS=1 AB_TEST_SIDES="none" AB_EXTRA_TESTS=test_stream \
  AB_WGMMA_DIMS=64,96,128,192,256 AB_TIME_DIMS=64 AB_GRID=quick AB_SAN_TOOLS=none BUDGET=${BUDGET:-200} \
  bash bench/wgmma_ab.sh >/dev/null 2>&1
echo "wgmma_ab (build, varlen calls 1 round) exit $? ($((SECONDS - t)) s)"
grep -E "build|spill|gpu|fa_demo" "$OUT/summary.txt" | head -12
mkdir -p "$OUT/t"
timeout 40 /tmp/wab/P/build/tests/test_fwd wgmma_sm90a_hdim64_bf16_none >"$OUT/t/hang_check.log" 2>&1
rc=$?
echo "hang check (P d64 bf16 none): exit $rc $(counts "$OUT/t/hang_check.log")"
[ $rc = 0 ] || { tail -5 "$OUT/t/hang_check.log"; exit 1; }
calls_ab varlen 170 "${ROUNDS:-6}" A P
dense_ab 80 2 A P
timeout 90 /tmp/wab/P/build/tests/test_stream >"$OUT/test_P_stream.log" 2>&1 &
wgmma_tests_at_once /tmp/wab/P/build 120 wgmma_sm90a_hdim64 wgmma_sm90a_hdim96 wgmma_sm90a_hdim128 \
  wgmma_sm90a_hdim192 wgmma_sm90a_hdim256 fwd_cuda_wgmma
echo "test_stream (P): $(counts "$OUT/test_P_stream.log")"
sanitize_at_once /tmp/wab/P/build 120 hdim64_bf16_causal hdim96_bf16_none
mv "$OUT"/test_fwd_*.log "$OUT"/test_P_stream.log "$OUT"/san_*.log "$OUT/t/"
(cd "$OUT/t" && tar czf ../tests.tgz .) && rm -rf "$OUT/t"
