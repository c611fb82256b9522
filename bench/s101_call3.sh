#!/bin/bash
# Hundred-and-first session, third call (warm machine after s101_call2.sh,
# whose P tests found no libcmocka: the script ran them before
# setup_cmocka; and whose trace's steps went into traces.tgz, which did not
# come back with too many files). P's tests and sanitizers, then the
# preamble traces, varlen (main) and dense after a flush kernel (main),
# their steps printed here. Logs in one archive.
#   run(command="bash bench/s101_call3.sh", carry=[".deb", ".ab/pl"], timeout_s=450)
export OUT=${OUT:-/tmp/fa_out}
mkdir -p "$OUT"
O=$OUT
. bench/device_common.sh
setup_cmocka
if [ ! -x /tmp/wab/P/build/tests/test_fwd ]; then  # a fresh machine: build both sides again
  AB_VARIANTS=none AB_OLD2=.ab/pl AB_ROUNDS=1 AB_TEST_SIDES="none" AB_WGMMA_DIMS=64,128,256 AB_TIME_DIMS=64 \
    AB_GRID=quick AB_SAN_TOOLS=none BUDGET=170 bash bench/wgmma_ab.sh >/dev/null 2>&1
  echo "rebuilt: exit $?"
fi
t=$SECONDS
mkdir -p "$O/t"
for d in 64 128 256; do
  timeout 120 /tmp/wab/P/build/tests/test_fwd "wgmma_sm90a_hdim$d" >"$O/t/test_P_hdim$d.log" 2>&1 &
done
timeout 120 /tmp/wab/P/build/tests/test_fwd fwd_cuda_wgmma >"$O/t/test_P_walk.log" 2>&1 &
for tool in memcheck racecheck; do
  timeout 120 compute-sanitizer --tool $tool --error-exitcode 99 /tmp/wab/P/build/tests/test_fwd \
    wgmma_sm90a_hdim64_bf16_causal >"$O/t/san_${tool}_P.log" 2>&1 &
done
wait
for f in "$O"/t/*.log; do
  echo "$(basename "$f"): $(counts "$f") $(grep -hE 'ERROR SUMMARY|RACECHECK SUMMARY' "$f" | tail -1)"
done
grep -h '^\[  FAILED  \] [a-z]' "$O"/t/test_P_*.log | head
echo "tests: $((SECONDS - t)) s"
ROWS="32:512:64:causal 32:512:128:causal"
BUDGET=120 TRACE_COLD=1 TRACE_ROWS="$ROWS" OUT=$O/t/trace_varlen bash bench/trace_wgmma.sh >"$O/t/trace_varlen.out" 2>&1
echo "trace, varlen calls (main): exit $?"
grep -A16 "^preamble" "$O/t/trace_varlen.out" | head -40
BUDGET=150 TRACE_FLUSH_KERNEL=1 TRACE_DENSE=1 TRACE_ROWS="$ROWS" OUT=$O/t/trace_dense bash bench/trace_wgmma.sh \
  >"$O/t/trace_dense.out" 2>&1
echo "trace, dense calls (main): exit $?"
grep -h "flush kernel" "$O/t/trace_dense.out" | head -8
grep -A16 "^preamble" "$O/t/trace_dense.out" | head -60
(cd "$O/t" && tar czf ../logs.tgz .) && rm -rf "$O/t"
