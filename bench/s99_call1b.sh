#!/bin/bash
# Ninety-ninth session, second call: the first tile's loads before the list
# (.ab/ft, P) again, now with fence.proxy.async.shared::cta after the
# barriers' init. Its first run (s99_call1.sh) hung in test_fwd of every
# head dim, in the dense timing and under racecheck, while memcheck and
# synccheck passed: the init thread issued TMA copies on barriers it had
# just initialized with no proxy fence and no barrier between (on main,
# list_block_tiles' proxy fence and the __syncthreads come first).
# Order: a hang check first (stops the call early if it still hangs), then
# the dense A/B (what the patch is for), then what a merge needs: test_fwd
# of every wgmma head dim and the walk cases, test_stream, and memcheck,
# racecheck and synccheck of hdim64 bf16 causal and hdim128 bf16 none
# (~450 s on a fresh machine by estimate; DIMS=64,128,256 and
# SAN_TOOLS=racecheck trim it where device time is short).
#   A  main; P  .ab/ft
# Predicted (ninety-eighth session): dense s512 rows 0.8-1.5% less time,
# s2048 0.2-0.5%, s8192 level.
#   sh bench/ab_tree.sh .ab/ft bench/experiments/wgmma-first-tile-before-list.patch
#   run(command="bash bench/s99_call1b.sh", carry=[".deb", ".ab/ft"], timeout_s=600)
export OUT=${OUT:-/tmp/fa_out}
DIMS=${DIMS:-32,64,80,96,128,192,256}
mkdir -p "$OUT"
. bench/device_common.sh
AB_VARIANTS=none AB_OLD2=.ab/ft AB_ROUNDS=1 AB_TEST_SIDES="none" AB_EXTRA_TESTS=test_stream \
  AB_WGMMA_DIMS=${DIMS:-32,64,80,96,128,192,256} AB_TIME_DIMS=64 AB_GRID=quick AB_SAN_TOOLS=none BUDGET=${BUDGET:-170} \
  bash bench/wgmma_ab.sh >/dev/null 2>&1
echo "wgmma_ab (varlen calls, 1 round) exit $?"
grep -E "build|spill|d64 b32|P d" "$OUT/summary.txt"
setup_cmocka
timeout 40 /tmp/wab/P/build/tests/test_fwd wgmma_sm90a_hdim64_bf16_none >"$OUT/hang_check.log" 2>&1
rc=$?
echo "hang check (P d64 bf16 none): exit $rc $(counts "$OUT/hang_check.log")"
[ $rc = 0 ] || { tail -5 "$OUT/hang_check.log"; exit 1; }
dense_ab 150 "${DENSE_ROUNDS:-6}" A P
t=$SECONDS
for d in ${DIMS//,/ }; do
  timeout 120 /tmp/wab/P/build/tests/test_fwd "wgmma_sm90a_hdim$d" >"$OUT/test_P_hdim$d.log" 2>&1 &
done
timeout 120 /tmp/wab/P/build/tests/test_fwd fwd_cuda_wgmma >"$OUT/test_P_walk.log" 2>&1 &
timeout 90 /tmp/wab/P/build/tests/test_stream >"$OUT/test_stream_P.log" 2>&1 &
wait
for k in ${SAN_KERNELS:-hdim64_bf16_causal hdim128_bf16_none}; do
  for tool in ${SAN_TOOLS:-memcheck racecheck synccheck}; do
    timeout 120 compute-sanitizer --tool $tool --error-exitcode 99 /tmp/wab/P/build/tests/test_fwd \
      wgmma_sm90a_$k >"$OUT/san_${tool}_$k.log" 2>&1 &
  done
done
wait
mkdir -p "$OUT/t" && mv "$OUT"/test_*.log "$OUT"/san_*.log "$OUT"/hang_check.log "$OUT/t/"
for f in "$OUT"/t/*.log; do
  echo "$(basename "$f"): $(counts "$f") $(grep -hE 'ERROR SUMMARY|RACECHECK SUMMARY' "$f" | tail -1)"
done
grep -h '^\[  FAILED  \] [a-z]' "$OUT"/t/test_*.log | head
(cd "$OUT/t" && tar czf ../tests.tgz .) && rm -rf "$OUT/t"
echo "tests: $((SECONDS - t)) s"
