#!/bin/bash
# Ninety-ninth session, second call: the first tile's loads before the list
# (.ab/ft, P) again, now with fence.proxy.async.shared::cta after the
# barriers' init. Its first run (s99_call1.sh) hung in test_fwd of every
# head dim, in the dense timing and under racecheck, while memcheck and
# synccheck passed: the init thread issued TMA copies on barriers it had
# just initialized with no proxy fence and no barrier between (on main,
# list_block_tiles' proxy fence and the __syncthreads come first).
# Order: a hang check first (stops the call early if it still hangs), then
# the dense A/B (what the patch is for), then tests and racecheck.
#   A  main; P  .ab/ft
# Predicted (ninety-eighth session): dense s512 rows 0.8-1.5% less time,
# s2048 0.2-0.5%, s8192 level.
#   sh bench/ab_tree.sh .ab/ft bench/experiments/wgmma-first-tile-before-list.patch
#   run(command="bash bench/s99_call1b.sh", carry=[".deb", ".ab/ft"], timeout_s=600)
export OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
. bench/device_common.sh
AB_VARIANTS=none AB_OLD2=.ab/ft AB_ROUNDS=1 AB_TEST_SIDES="none" AB_EXTRA_TESTS=test_stream \
  AB_WGMMA_DIMS=64,128,256 AB_TIME_DIMS=64 AB_GRID=quick AB_SAN_TOOLS=none BUDGET=${BUDGET:-120} \
  bash bench/wgmma_ab.sh >/dev/null 2>&1
echo "wgmma_ab (varlen calls, 1 round) exit $?"
grep -E "build|spill|d64 b32|P d" "$OUT/summary.txt"
setup_cmocka
timeout 40 /tmp/wab/P/build/tests/test_fwd wgmma_sm90a_hdim64_bf16_none >"$OUT/hang_check.log" 2>&1
rc=$?
echo "hang check (P d64 bf16 none): exit $rc $(counts "$OUT/hang_check.log")"
[ $rc = 0 ] || { tail -5 "$OUT/hang_check.log"; exit 1; }
mkdir -p "$OUT/dense"
t=$SECONDS
timeout 150 python3 bench/ab_serve.py --out "$OUT/dense" --rounds ${DENSE_ROUNDS:-4} A=/tmp/wab/ab_A P=/tmp/wab/ab_P -- \
  --quick --dense --reps 200 --dims 64,128,256 >"$OUT/dense/serve.log" 2>&1
echo "dense ab_serve: exit $? ($((SECONDS - t)) s)"
timeout 20 python3 bench/ab_table.py --text "$OUT/dense" A P | tee "$OUT/dense_summary.txt"
(cd "$OUT/dense" && tar czf ../dense_logs.tgz .) && rm -rf "$OUT/dense"
t=$SECONDS
for f in wgmma_sm90a_hdim64 wgmma_sm90a_hdim128 wgmma_sm90a_hdim256 fwd_cuda_wgmma; do
  timeout 100 /tmp/wab/P/build/tests/test_fwd "$f" >"$OUT/test_P_$f.log" 2>&1 &
done
timeout 90 /tmp/wab/P/build/tests/test_stream >"$OUT/test_stream_P.log" 2>&1 &
for k in ${SAN_KERNELS:-hdim64_bf16_causal hdim128_bf16_none}; do
  timeout 100 compute-sanitizer --tool racecheck --error-exitcode 99 /tmp/wab/P/build/tests/test_fwd \
    wgmma_sm90a_$k >"$OUT/san_racecheck_$k.log" 2>&1 &
done
wait
mkdir -p "$OUT/t" && mv "$OUT"/test_*.log "$OUT"/san_*.log "$OUT"/hang_check.log "$OUT/t/"
for f in "$OUT"/t/*.log; do
  echo "$(basename "$f"): $(counts "$f") $(grep -hE 'ERROR SUMMARY|RACECHECK SUMMARY' "$f" | tail -1)"
done
grep -h '^\[  FAILED  \] [a-z]' "$OUT"/t/test_*.log | head
(cd "$OUT/t" && tar czf ../tests.tgz .) && rm -rf "$OUT/t"
echo "tests: $((SECONDS - t)) s"
