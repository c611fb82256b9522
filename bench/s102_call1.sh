#!/bin/bash
# Prepared in the hundred-and-first session, widened in the hundred-and-
# second: varlen calls issue their first tile's loads while the list is
# built (P, .ab/ve = bench/experiments/wgmma-varlen-first-tile-early.patch),
# and on top of it their causal calls place entry 0 before the tail's
# choice (Q, .ab/vt = that patch and
# bench/experiments/wgmma-varlen-entry0-before-tail.patch), against main (A).
# P: the varlen tables move out of the K/V ring (into Q tile 1, or the O
# staging area where there is one Q tile; kTablesOffset), so that thread 0
# can issue entry 0's Q and first K/V tiles (issue_tile_start, as the dense
# call's issue_first_tile) as soon as it has placed that entry, before the
# entries are stored and the block barrier; the list's header tells the
# producer, which skips those issues and their empty waits as for dense.
# Q: where no candidate tail moves entry 0 (fa_tile_slot_before_tails),
# thread 0 places it right after the ranks' pass, before the tail's choice.
# The trace (bench/results-h100-2026-12-07-s101-place-table-ab.md): varlen
# calls reach the producer's first Q ~9,400 cycles after the entry, of
# which ~2,300-2,500 are the list's entries after thread 0 placed entry 0,
# ~1,100-1,600 the producer's start after the list and ~2,000 the tail's
# choice.
# Prediction (written before any run): P: varlen s512 rows 0.5-1.5% less
# time (the first loads ~3,000 cycles earlier, less the issue's own ~500
# on thread 0's path to its list entry), s2048 0-0.5%, s8192 level; dense
# calls level (unchanged code path; tables unused). Q over P: the d64 and
# d128 s512 causal rows another 0.3-1% (~2,000 cycles earlier), full rows
# and d256 level (no tail to choose, or a walk that is all tail).
# Order: build the three sides (small spec, head dims $DIMS, default
# 64,96,128,256: d96's tables go to the O staging area, not Q tile 1),
# hang checks (P d64 none, Q d64 causal: the varlen cases), 3 rounds of
# varlen calls (A P Q; DENSE=1: 2 rounds of dense calls, A Q, after),
# then Q's test_fwd of every built head dim, the walk and test_stream, with memcheck, racecheck and synccheck of Q's hdim64 bf16
# causal (tables in Q tile 1) and hdim96 bf16 none (O staging area)
# beside them. ROUNDS: a multiple of 3 (ab_serve.py rotates the three
# sides' order by round + row, so each side takes each place equally).
#   sh bench/ab_tree.sh .ab/ve bench/experiments/wgmma-varlen-first-tile-early.patch
#   sh bench/ab_tree.sh .ab/vt bench/experiments/wgmma-varlen-first-tile-early.patch \
#     bench/experiments/wgmma-varlen-entry0-before-tail.patch
#   run(command="bash bench/s102_call1.sh", carry=[".deb", ".ab/ve", ".ab/vt"], timeout_s=480)
export OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
. bench/device_common.sh
setup_cmocka
t=$SECONDS
AB_VARIANTS=none AB_OLD2=.ab/ve AB_OLD3=.ab/vt AB_ROUNDS=1 AB_TEST_SIDES="none" AB_EXTRA_TESTS=test_stream \
  AB_WGMMA_DIMS=${DIMS:-64,96,128,256} AB_TIME_DIMS=64 AB_GRID=quick AB_SAN_TOOLS=none BUDGET=${BUDGET:-220} \
  bash bench/wgmma_ab.sh >/dev/null 2>&1
echo "wgmma_ab (build, varlen calls 1 round) exit $? ($((SECONDS - t)) s)"
grep -E "build|spill|gpu|fa_demo" "$OUT/summary.txt" | head -14
mkdir -p "$OUT/t"
for check in P:none Q:causal; do
  side=${check%%:*} mask=${check#*:}
  timeout 40 /tmp/wab/$side/build/tests/test_fwd wgmma_sm90a_hdim64_bf16_$mask >"$OUT/t/hang_check_$side.log" 2>&1
  rc=$?
  echo "hang check ($side d64 bf16 $mask): exit $rc $(counts "$OUT/t/hang_check_$side.log")"
  [ $rc = 0 ] || { tail -5 "$OUT/t/hang_check_$side.log"; exit 1; }
done
calls_ab varlen 160 "${ROUNDS:-3}" A P Q
[ "${DENSE:-0}" = 1 ] && dense_ab 60 2 A Q
timeout 90 /tmp/wab/Q/build/tests/test_stream >"$OUT/test_Q_stream.log" 2>&1 &
sanitize_at_once /tmp/wab/Q/build 100 hdim64_bf16_causal hdim96_bf16_none >"$OUT/san_summary.txt" 2>&1 &
wgmma_tests_at_once /tmp/wab/Q/build 100 $(echo "${DIMS:-64,96,128,256}" | tr , '\n' | sed 's/^/wgmma_sm90a_hdim/') fwd_cuda_wgmma
wait
echo "test_stream (Q): $(counts "$OUT/test_Q_stream.log")"
cat "$OUT/san_summary.txt"
mv "$OUT"/test_fwd_*.log "$OUT"/test_Q_stream.log "$OUT"/san_*.log "$OUT/t/"
(cd "$OUT/t" && tar czf ../tests.tgz .) && rm -rf "$OUT/t"
